"""Nightly maintenance tasks: runs each task and keeps a status page of the results."""

import logging
import time
import traceback

log = logging.getLogger(__name__)


class TaskResult:
    def __init__(self, name):
        self.name = name
        self.started = time.time()
        self.finished = None
        self.ok = None
        self.error = None
        self.trace = None


class TaskRunner:
    def __init__(self, tasks):
        self.tasks = tasks
        self.results = {}
        self.failures = []

    def run_one(self, name, func):
        result = self.results.setdefault(name, TaskResult(name))
        batch = func.load_batch()
        try:
            func(batch)
            result.ok = True
        except Exception as exc:
            log.error("task %s failed: %s", name, exc)
            result.ok = False
            # Keep the text of the traceback, not the frames (and `batch`) behind it.
            result.trace = traceback.format_exc()
            result.error = exc.with_traceback(None)
            self.failures.append((name, repr(exc)))
        finally:
            result.finished = time.time()

    def run_all(self):
        for name, func in self.tasks.items():
            self.run_one(name, func)
        return not self.failures

    def status_page(self):
        return [
            {"task": r.name, "ok": r.ok, "error": repr(r.error) if r.error else None}
            for r in self.results.values()
        ]
