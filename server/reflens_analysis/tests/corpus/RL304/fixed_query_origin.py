"""Query builder that records where each query was built, for the slow-query log."""
import sys
import time


class Query:
    def __init__(self, table):
        self.table = table
        self.filters = []
        caller = sys._getframe(2)
        self.origin = f"{caller.f_code.co_filename}:{caller.f_lineno}"

    def where(self, **conditions):
        self.filters.extend(conditions.items())
        return self

    def sql(self):
        clause = " AND ".join(f"{name} = ?" for name, _ in self.filters)
        return f"SELECT * FROM {self.table}" + (f" WHERE {clause}" if clause else "")


class SlowQueryLog:
    def __init__(self, threshold):
        self.threshold = threshold
        self.entries = []

    def run(self, connection, query):
        started = time.perf_counter()
        rows = connection.execute(query.sql(), [v for _, v in query.filters]).fetchall()
        elapsed = time.perf_counter() - started
        if elapsed > self.threshold:
            self.entries.append((elapsed, query.origin))
        return rows

    def report(self):
        return [f"{elapsed:.3f}s at {origin}" for elapsed, origin in self.entries]
