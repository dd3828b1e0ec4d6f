"""The product catalogue: the products table as it was when a request started."""

import functools
from dataclasses import dataclass

from . import db
from .errors import NotFound

# Exchange rates against the euro, as the payment provider quoted them this morning.
_RATES = {"EUR": 1.0, "USD": 1.08, "GBP": 0.86, "CHF": 0.95}


@dataclass(frozen=True)
class Product:
    sku: str
    name: str
    price_cents: int
    stock: int


@functools.lru_cache(maxsize=16)
def exchange_rate(currency):
    return _RATES[currency]


class Catalogue:
    """A consistent snapshot of the products for one request, with a search index."""

    def __init__(self, db_path):
        self.db_path = db_path
        self.products = {row[0]: Product(*row) for row in db.fetch_products(db_path)}
        self.index = {}
        for product in self.products.values():
            for word in product.name.lower().split():
                self.index.setdefault(word, []).append(product.sku)

    def get(self, sku):
        try:
            return self.products[sku]
        except KeyError:
            raise NotFound(sku) from None

    def search(self, word):
        return [self.products[sku] for sku in self.index.get(word.lower(), [])]

    @functools.lru_cache(maxsize=None)
    def price(self, sku, currency="EUR"):
        """Unit price of `sku` in `currency`, in cents."""
        return round(self.get(sku).price_cents * exchange_rate(currency))

    @functools.cached_property
    def in_stock(self):
        return sorted(sku for sku, product in self.products.items() if product.stock > 0)
