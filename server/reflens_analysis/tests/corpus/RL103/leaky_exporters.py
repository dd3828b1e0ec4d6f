"""Metrics exporters: every exporter the app creates is flushed on shutdown."""

import atexit
import socket
from typing import ClassVar, List


class Exporter:
    """Base class: subclasses push a batch of samples somewhere."""

    instances: ClassVar[List["Exporter"]] = []

    def __init__(self, name, batch_size=500):
        self.name = name
        self.batch_size = batch_size
        self.pending = []
        type(self).instances.append(self)  # expect: RL103

    def record(self, metric, value, tags=None):
        self.pending.append((metric, value, tags or {}))
        if len(self.pending) >= self.batch_size:
            self.flush()

    def flush(self):
        batch, self.pending = self.pending, []
        if batch:
            self.push(batch)

    def push(self, batch):
        raise NotImplementedError


class StatsdExporter(Exporter):
    def __init__(self, name, host, port=8125):
        super().__init__(name)
        self.address = (host, port)

    def push(self, batch):
        lines = [f"{metric}:{value}|g" for metric, value, _ in batch]
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.sendto("\n".join(lines).encode(), self.address)


class LogExporter(Exporter):
    def push(self, batch):
        for metric, value, tags in batch:
            print(f"[{self.name}] {metric}={value} {tags}")


@atexit.register
def _flush_all():
    for exporter in Exporter.instances:
        exporter.flush()


def exporter_for_request(request):
    return StatsdExporter(f"req-{request.id}", request.app.config["STATSD_HOST"])
