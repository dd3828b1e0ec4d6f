"""A long-running job runner; pipelines hook into job events and unhook when done."""

import collections
import logging

log = logging.getLogger(__name__)


class JobRunner:
    def __init__(self, workers=4):
        self.workers = workers
        self.queue = collections.deque()
        self._hooks = collections.defaultdict(list)

    def on(self, event, hook):
        self._hooks[event].append(hook)

    def off(self, event, hook):
        self._hooks[event].remove(hook)

    def _fire(self, event, job):
        for hook in self._hooks[event]:
            try:
                hook(job)
            except Exception:
                log.exception("hook for %s failed", event)

    def submit(self, job):
        self.queue.append(job)
        self._fire("queued", job)

    def run_pending(self):
        while self.queue:
            job = self.queue.popleft()
            self._fire("started", job)
            job.run()
            self._fire("finished", job)


class Pipeline:
    def __init__(self, runner, name, frames):
        self.name = name
        self.frames = frames
        self.finished = []
        runner.on("finished", self.record)

    def close(self, runner):
        runner.off("finished", self.record)

    def record(self, job):
        if job.pipeline == self.name:
            self.finished.append(job.result)
