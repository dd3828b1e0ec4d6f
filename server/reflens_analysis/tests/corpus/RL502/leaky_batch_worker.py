"""A batch worker that processes one shard per instance and stops cleanly on SIGTERM."""

import signal
import sys
import time


class ShardWorker:
    def __init__(self, shard, rows):
        self.shard = shard
        self.rows = rows
        self.results = []
        self.stopping = False

    def start(self):
        signal.signal(signal.SIGTERM, self.request_stop)  # expect: RL502
        sys.excepthook = self.report_crash  # expect: RL502
        for row in self.rows:
            if self.stopping:
                break
            self.results.append(self.process(row))
        return self.results

    def request_stop(self, signum, frame):
        self.stopping = True

    def report_crash(self, exc_type, exc, tb):
        sys.stderr.write(f"shard {self.shard} crashed: {exc!r}\n")

    def process(self, row):
        time.sleep(0)
        return {key: str(value).strip() for key, value in row.items()}


def run_all(shards):
    totals = {}
    for shard, rows in shards.items():
        totals[shard] = len(ShardWorker(shard, rows).start())
    return totals
