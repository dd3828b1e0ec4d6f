"""Append-only audit log for the billing service."""

import json
import os
import time


class AuditLog:
    """Writes one JSON line per billing event."""

    def __init__(self, directory, name="audit"):
        os.makedirs(directory, exist_ok=True)
        self.path = os.path.join(directory, f"{name}.jsonl")
        self._stream = open(self.path, "a", encoding="utf-8")
        self.count = 0

    def record(self, event, **fields):
        entry = {"ts": time.time(), "event": event, **fields}
        self._stream.write(json.dumps(entry, sort_keys=True) + "\n")
        self._stream.flush()
        self.count += 1

    def record_charge(self, customer_id, amount_cents):
        self.record("charge", customer=customer_id, amount=amount_cents)

    def record_refund(self, customer_id, amount_cents, reason):
        self.record("refund", customer=customer_id, amount=amount_cents, reason=reason)

    def close(self):
        self._stream.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()


def log_for_tenant(base_dir, tenant):
    """A log per tenant; created for every request that bills a tenant."""
    return AuditLog(os.path.join(base_dir, tenant))


def bill(base_dir, tenant, customer_id, amount_cents):
    with log_for_tenant(base_dir, tenant) as log:
        log.record_charge(customer_id, amount_cents)
        return log.count
