"""Per-thread database routing for a multi-tenant service."""

import sqlite3
import threading

DATABASE = "tenants.db"

_db = threading.local()
_tenant = threading.local()


def connection():
    # A connection per thread, created once: reused by every task of the thread.
    if not hasattr(_db, "conn"):
        _db.conn = sqlite3.connect(DATABASE, check_same_thread=False)
    return _db.conn


def activate_tenant(tenant_id, settings):
    _tenant.id = tenant_id
    _tenant.config = {"timeout": 30, **settings}


def deactivate_tenant():
    _tenant.__dict__.clear()


def tenant_query(sql, params=()):
    cursor = connection().execute(f"/* tenant {_tenant.id} */ {sql}", params)
    return cursor.fetchall()


def handle_message(message):
    activate_tenant(message["tenant"], message.get("settings", {}))
    try:
        rows = tenant_query("SELECT * FROM orders WHERE id = ?", (message["order"],))
        return {"tenant": _tenant.id, "rows": rows}
    finally:
        deactivate_tenant()
