"""Background job runner: runs queued jobs and reports failures."""
import logging
import sys
import traceback

log = logging.getLogger("jobs")


class JobRunner:
    def __init__(self, queue, notifier):
        self.queue = queue
        self.notifier = notifier
        self.failed = 0

    def run_forever(self):
        while True:
            job = self.queue.get()
            if job is None:
                break
            self.run_one(job)

    def run_one(self, job):
        dataset = job.load_inputs()
        try:
            job.execute(dataset)
        except Exception:
            self.failed += 1
            etype, value, tb = sys.exc_info()
            try:
                text = "".join(traceback.format_exception(etype, value, tb))
                log.error("job %s failed:\n%s", job.id, text)
                self.notifier.send(job.owner, f"Job {job.id} failed: {value}")
            finally:
                del value, tb
        else:
            job.mark_done()

    def run_with_context(self, job):
        try:
            job.execute(job.load_inputs())
        except Exception:
            info = sys.exc_info()
            try:
                if job.retryable:
                    self.queue.put(job)
                    return
                log.error("job %s failed", job.id, exc_info=info)
            finally:
                del info
