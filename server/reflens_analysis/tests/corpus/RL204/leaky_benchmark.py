"""Micro-benchmark helpers used by the test suite and the CI perf job."""

import contextlib
import gc
import time
from gc import disable as gc_off, enable as gc_on


class Timer:
    def __init__(self, label):
        self.label = label
        self.elapsed = 0.0

    def run(self, func, repeat):
        gc_off()  # expect: RL204
        start = time.perf_counter()
        for _ in range(repeat):
            func()
        self.elapsed = time.perf_counter() - start
        gc_on()
        return self.elapsed


@contextlib.contextmanager
def no_gc():
    gc.disable()  # expect: RL204
    yield
    gc.enable()


def best_of(func, rounds=5):
    timings = []
    for _ in range(rounds):
        with no_gc():
            start = time.perf_counter()
            func()
            timings.append(time.perf_counter() - start)
    return min(timings)


def report(results):
    width = max(len(name) for name in results)
    lines = []
    for name, seconds in sorted(results.items()):
        lines.append(f"{name:<{width}}  {seconds * 1000:8.3f} ms")
    return "\n".join(lines)
