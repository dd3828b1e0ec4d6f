"""Background job runner: jobs are grouped by kind for the admin dashboard."""

import collections
import threading
import time
import traceback

_JOBS_BY_KIND = collections.defaultdict(list)
_RUNNING = set()
_lock = threading.Lock()


class Job:
    def __init__(self, kind, payload):
        self.kind = kind
        self.payload = payload
        self.created = time.time()
        self.status = "queued"
        self.result = None
        self.error = None
        with _lock:
            _JOBS_BY_KIND[kind].append(self)

    def run(self, handler):
        with _lock:
            _RUNNING.add(self)
        self.status = "running"
        try:
            self.result = handler(self.payload)
            self.status = "done"
        except Exception:
            self.error = traceback.format_exc()
            self.status = "failed"
        finally:
            # Registered only while they matter: finished jobs leave both registries.
            with _lock:
                _RUNNING.discard(self)
                _JOBS_BY_KIND[self.kind].remove(self)


def dashboard():
    with _lock:
        return {
            kind: collections.Counter(job.status for job in jobs)
            for kind, jobs in _JOBS_BY_KIND.items()
        }


def running_jobs():
    with _lock:
        return sorted(_RUNNING, key=lambda job: job.created)


def worker(queue, handlers):
    while True:
        kind, payload = queue.get()
        job = Job(kind, payload)
        job.run(handlers[kind])
        queue.task_done()
