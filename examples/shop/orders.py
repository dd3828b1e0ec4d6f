"""Checkout: turns a session's cart into orders, one transaction per cart line."""

from . import db, pricing

# Checkouts running right now, so that a graceful shutdown can wait for them.
_IN_PROGRESS = set()


def checkouts_in_progress():
    return len(_IN_PROGRESS)


class Checkout:
    def __init__(self, session, db_path):
        self.session = session
        self.db_path = db_path
        self.order_ids = []

    def __enter__(self):
        _IN_PROGRESS.add(self)
        return self

    def __exit__(self, exc_type, exc, tb):
        _IN_PROGRESS.discard(self)
        return False

    def place(self, catalogue, currency="EUR"):
        """Store one order per cart line; returns the order ids and the total in cents."""
        lines = dict(self.session.cart.lines)
        for sku, quantity in sorted(lines.items()):
            unit = catalogue.price(sku, currency)
            order_id = db.record_order(self.db_path, self.session.user, sku, quantity, unit * quantity)
            self.order_ids.append(order_id)
        self.session.cart.clear()
        total = pricing.cart_total(lines, lambda sku: catalogue.price(sku, currency))
        return self.order_ids, total
