"""The shop's SQLite database: products with their stock, and orders."""

import contextlib
import sqlite3

from .errors import OutOfStock

SCHEMA = """
CREATE TABLE IF NOT EXISTS products (
    sku TEXT PRIMARY KEY, name TEXT NOT NULL, price_cents INTEGER NOT NULL, stock INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS orders (
    id INTEGER PRIMARY KEY AUTOINCREMENT, user TEXT NOT NULL, sku TEXT NOT NULL,
    quantity INTEGER NOT NULL, total_cents INTEGER NOT NULL
);
"""

DEMO_PRODUCTS = [
    ("SKU-1", "Espresso beans 1kg", 2450, 40),
    ("SKU-2", "Hand grinder", 8900, 12),
    ("SKU-3", "Moka pot 6 cups", 3490, 5),
    ("SKU-4", "Milk jug", 1290, 30),
    ("SKU-5", "Paper filters (100)", 390, 200),
]


def init_db(path):
    """Create the tables and load the demo products."""
    with contextlib.closing(sqlite3.connect(path)) as conn:
        with conn:
            conn.executescript(SCHEMA)
            conn.executemany("INSERT OR REPLACE INTO products VALUES (?, ?, ?, ?)", DEMO_PRODUCTS)


def connect(path):
    """A connection for a component that keeps one open; the caller closes it."""
    conn = sqlite3.connect(path)
    conn.row_factory = sqlite3.Row
    return conn


def fetch_products(path):
    conn = sqlite3.connect(path)
    try:
        return conn.execute("SELECT sku, name, price_cents, stock FROM products ORDER BY sku").fetchall()
    finally:
        conn.close()


def fetch_orders(path):
    conn = connect(path)
    try:
        rows = conn.execute("SELECT id, user, sku, quantity, total_cents FROM orders ORDER BY id")
        return [tuple(row) for row in rows]
    finally:
        conn.close()


def record_order(path, user, sku, quantity, total_cents):
    """Take `quantity` out of stock and store the order, in one transaction."""
    with sqlite3.connect(path) as conn:
        taken = conn.execute(
            "UPDATE products SET stock = stock - ? WHERE sku = ? AND stock >= ?",
            (quantity, sku, quantity),
        )
        if taken.rowcount != 1:
            raise OutOfStock(sku, quantity)
        cursor = conn.execute(
            "INSERT INTO orders (user, sku, quantity, total_cents) VALUES (?, ?, ?, ?)",
            (user, sku, quantity, total_cents),
        )
    return cursor.lastrowid
