"""Tails a service log and hands out new lines to the dashboard poller."""
import os
import time


class LogTailer:
    def __init__(self, path, poll=0.5):
        self.path = path
        self.poll = poll
        self._lines = self._follow()

    def _follow(self):
        with open(self.path, encoding="utf-8", errors="replace") as fh:
            fh.seek(0, os.SEEK_END)
            while True:
                line = fh.readline()
                if not line:
                    time.sleep(self.poll)
                    continue
                yield line.rstrip("\n")

    def next_line(self):
        return next(self._lines)

    def batch(self, size):
        return [self.next_line() for _ in range(size)]

    def close(self):
        # Runs the generator's `with` block exit: the file is closed now.
        self._lines.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def make_tailers(paths):
    return {os.path.basename(path): LogTailer(path) for path in paths}
