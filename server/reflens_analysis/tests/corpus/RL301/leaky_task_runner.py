"""Nightly maintenance tasks: runs each task and keeps a status page of the results."""

import logging
import time

log = logging.getLogger(__name__)


class TaskResult:
    def __init__(self, name):
        self.name = name
        self.started = time.time()
        self.finished = None
        self.ok = None
        self.error = None


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
            result.error = exc  # expect: RL301
            self.failures.append((name, exc))  # expect: RL301
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
