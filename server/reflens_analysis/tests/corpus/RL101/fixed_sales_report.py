"""Sales dashboard: aggregates order rows for the reporting endpoints."""

import functools
import statistics


class SalesReport:
    """One report per request, built from the rows the query returned."""

    def __init__(self, region, rows):
        # Per-instance caches: they die with the report instead of pinning it.
        self.total = functools.lru_cache(maxsize=256)(self.total)
        self.median = functools.lru_cache(maxsize=256)(self.median)
        self.region = region
        self.rows = rows

    def total(self, column):
        return sum(row[column] for row in self.rows)

    def median(self, column):
        values = [row[column] for row in self.rows]
        return statistics.median(values) if values else 0

    @functools.cached_property
    def by_product(self):
        grouped = {}
        for row in self.rows:
            grouped.setdefault(row["product"], []).append(row)
        return grouped

    def top_products(self, limit=5):
        grouped = self.by_product
        ranked = sorted(
            grouped.items(),
            key=lambda item: sum(row["amount"] for row in item[1]),
            reverse=True,
        )
        return [name for name, _ in ranked[:limit]]

    def summary(self):
        return {
            "region": self.region,
            "orders": len(self.rows),
            "revenue": self.total("amount"),
            "median_order": self.median("amount"),
            "top": self.top_products(),
        }


def sales_summary_view(request, db):
    region = request.args.get("region", "emea")
    rows = db.query("SELECT * FROM orders WHERE region = %s", region)
    report = SalesReport(region, rows)
    return report.summary()
