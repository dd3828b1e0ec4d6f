"""Inventory helpers for the warehouse service (SQLite on each site's edge box)."""

import contextlib
import sqlite3

DB_PATH = "/var/lib/warehouse/inventory.db"


def stock_level(sku, db_path=DB_PATH):
    with contextlib.closing(sqlite3.connect(db_path)) as conn:
        row = conn.execute("SELECT quantity FROM stock WHERE sku = ?", (sku,)).fetchone()
    if row is None:
        raise KeyError(sku)
    return row[0]


def reserve(sku, quantity, order_id, db_path=DB_PATH):
    with contextlib.closing(sqlite3.connect(db_path)) as conn:
        with conn:
            cursor = conn.execute(
                "UPDATE stock SET quantity = quantity - ? WHERE sku = ? AND quantity >= ?",
                (quantity, sku, quantity),
            )
            if cursor.rowcount != 1:
                return False
            conn.execute(
                "INSERT INTO reservations (order_id, sku, quantity) VALUES (?, ?, ?)",
                (order_id, sku, quantity),
            )
    return True


def low_stock_report(threshold, db_path=DB_PATH):
    with contextlib.closing(sqlite3.connect(db_path)) as conn:
        conn.row_factory = sqlite3.Row
        rows = conn.execute(
            "SELECT sku, quantity FROM stock WHERE quantity < ? ORDER BY quantity", (threshold,)
        ).fetchall()
    return [dict(row) for row in rows]


def reserve_view(request):
    ok = reserve(request.json["sku"], int(request.json["quantity"]), request.json["order"])
    return (200, {"reserved": True}) if ok else (409, {"reserved": False})
