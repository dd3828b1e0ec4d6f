"""A tiny StatsD-style metrics client used by the workers."""

import socket
import sqlite3
import threading


class MetricsClient:
    def __init__(self, host="127.0.0.1", port=8125, prefix="app"):
        self.address = (host, port)
        self.prefix = prefix
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)  # expect: RL402
        self._lock = threading.Lock()

    def _send(self, payload):
        with self._lock:
            self.sock.sendto(payload.encode("ascii"), self.address)

    def incr(self, name, value=1):
        self._send(f"{self.prefix}.{name}:{value}|c")

    def timing(self, name, millis):
        self._send(f"{self.prefix}.{name}:{millis}|ms")


class LocalBuffer:
    """Keeps metrics on disk while the collector is down."""

    def __init__(self, path):
        self.db = sqlite3.connect(path, check_same_thread=False)  # expect: RL402
        self.db.execute("CREATE TABLE IF NOT EXISTS pending (line TEXT)")

    def push(self, line):
        with self.db:
            self.db.execute("INSERT INTO pending VALUES (?)", (line,))

    def drain(self):
        rows = self.db.execute("SELECT line FROM pending").fetchall()
        with self.db:
            self.db.execute("DELETE FROM pending")
        return [row[0] for row in rows]


def report_job(job_name, seconds, buffer_path):
    client = MetricsClient(prefix=job_name)
    client.timing("duration", int(seconds * 1000))
    LocalBuffer(buffer_path).push(f"{job_name}:{seconds}")
