"""A database connection wrapper that refers back to its pool weakly."""

import threading
import weakref

_default_pool = None


class Pool:
    def __init__(self, size):
        self.size = size
        self.lock = threading.Lock()
        self.idle = []

    def release(self, conn):
        with self.lock:
            self.idle.append(conn)


class PooledConnection:
    def __init__(self, pool, raw):
        self._pool = weakref.ref(pool)
        self.raw = raw

    def release(self):
        self._pool().release(self)  # expect: RL206

    def pool_size(self):
        pool = self._pool()  # expect: RL206
        return pool.size


def set_default(pool):
    global _default_pool
    _default_pool = weakref.ref(pool)


def default_size():
    return _default_pool().size  # expect: RL206
