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
        pool = self._pool()
        if pool is None:
            return
        pool.release(self)

    def pool_size(self):
        pool = self._pool()
        return pool.size if pool is not None else 0


def set_default(pool):
    global _default_pool
    _default_pool = weakref.ref(pool)


def default_size():
    pool = _default_pool() if _default_pool is not None else None
    if pool is None:
        return 0
    return pool.size
