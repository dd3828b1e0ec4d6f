"""Counts warnings per logger for the metrics endpoint."""
import logging
import threading


class WarningAudit(logging.Filter):
    """Lets every record through and remembers the warnings for the audit report."""

    def __init__(self):
        super().__init__()
        self._lock = threading.Lock()
        self.warnings = {}

    def filter(self, record):
        if record.levelno >= logging.WARNING:
            with self._lock:
                self.warnings.setdefault(record.name, []).append(record)  # expect: RL303
        return True

    def report(self):
        with self._lock:
            return {name: len(items) for name, items in self.warnings.items()}


class SlowRequestLog(logging.Handler):
    def __init__(self, threshold_ms):
        super().__init__()
        self.threshold_ms = threshold_ms
        self.slow = []

    def emit(self, record):
        duration = getattr(record, "duration_ms", 0)
        if duration > self.threshold_ms:
            self.slow.append((duration, record))  # expect: RL303


audit = WarningAudit()
slow_requests = SlowRequestLog(threshold_ms=500)


def setup():
    root = logging.getLogger()
    root.addFilter(audit)
    logging.getLogger("web.requests").addHandler(slow_requests)
