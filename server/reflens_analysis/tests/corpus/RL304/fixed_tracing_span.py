"""Minimal tracing: spans remember where they were opened."""
import sys
import time


class Span:
    def __init__(self, tracer, name):
        self.tracer = tracer
        self.name = name
        self.started = time.perf_counter()
        self.ended = None
        caller = sys._getframe(2)
        self.filename = caller.f_code.co_filename
        self.lineno = caller.f_lineno

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.ended = time.perf_counter()
        self.tracer.finished(self)
        return False

    def describe(self):
        return f"{self.name} ({self.filename}:{self.lineno})"


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
