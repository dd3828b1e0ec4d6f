"""A small connection pool for the reporting service's SQLite replicas."""

import queue
import sqlite3
import threading
import weakref


class ConnectionPool:
    def __init__(self, database, size=4):
        self.database = database
        self.size = size
        self.idle = queue.LifoQueue()
        self.lock = threading.Lock()
        self.connections = [
            sqlite3.connect(database, check_same_thread=False) for _ in range(size)
        ]
        for conn in self.connections:
            self.idle.put(conn)
        # The callback holds the list of connections, never the pool itself.
        self._finalizer = weakref.finalize(self, ConnectionPool._finalize, self.connections)

    @staticmethod
    def _finalize(connections):
        for conn in connections:
            conn.close()

    def acquire(self, timeout=5.0):
        return self.idle.get(timeout=timeout)

    def release(self, conn):
        conn.rollback()
        self.idle.put(conn)

    def query(self, sql, params=()):
        conn = self.acquire()
        try:
            return conn.execute(sql, params).fetchall()
        finally:
            self.release(conn)

    def close(self):
        with self.lock:
            self._finalizer()


def monthly_totals(pool, year):
    return pool.query(
        "SELECT strftime('%m', created), SUM(amount) FROM orders "
        "WHERE strftime('%Y', created) = ? GROUP BY 1",
        (str(year),),
    )
