"""Connections tracked by a pool that must not keep them alive."""

import weakref
from weakref import WeakSet


class PooledConnection:
    __slots__ = ["host", "port", "in_use", "created", "__weakref__"]

    def __init__(self, host, port, created):
        self.host = host
        self.port = port
        self.in_use = False
        self.created = created

    def acquire(self):
        self.in_use = True
        return self

    def release(self):
        self.in_use = False


class Pool:
    def __init__(self, host, port):
        self.host = host
        self.port = port
        self._live = WeakSet()
        self._finalizers = []

    def connect(self, now):
        conn = PooledConnection(self.host, self.port, now)
        self._live.add(conn)
        return conn.acquire()

    def watch(self, conn: PooledConnection):
        self._finalizers.append(weakref.finalize(conn, self._forget, conn.host))

    def _forget(self, host):
        return host

    def busy(self):
        return sum(1 for conn in self._live if conn.in_use)

    def idle(self):
        return [conn for conn in self._live if not conn.in_use]

    def stats(self):
        return {"live": len(self._live), "busy": self.busy()}
