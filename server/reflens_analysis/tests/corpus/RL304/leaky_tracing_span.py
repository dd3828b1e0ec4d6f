"""Minimal tracing: spans remember where they were opened."""
import sys
import time


class Span:
    def __init__(self, tracer, name):
        self.tracer = tracer
        self.name = name
        self.started = time.perf_counter()
        self.ended = None
        self.opened_at = sys._getframe(2)  # expect: RL304

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.ended = time.perf_counter()
        self.tracer.finished(self)
        return False

    def describe(self):
        code = self.opened_at.f_code
        return f"{self.name} ({code.co_filename}:{self.opened_at.f_lineno})"


class Tracer:
    def __init__(self, exporter):
        self.exporter = exporter
        self.done = []

    def span(self, name):
        return Span(self, name)

    def finished(self, span):
        self.done.append(span)
        if len(self.done) >= 100:
            self.exporter.export([s.describe() for s in self.done])
            self.done = []
