"""HTTP client with retries for the billing service."""
import logging
import time

import requests

log = logging.getLogger(__name__)

RETRYABLE = (requests.ConnectionError, requests.Timeout)


class BillingClient:
    def __init__(self, base_url, attempts=3, backoff=0.5):
        self.base_url = base_url.rstrip("/")
        self.attempts = attempts
        self.backoff = backoff
        self.session = requests.Session()

    def close(self):
        self.session.close()

    def get_invoice(self, invoice_id):
        url = f"{self.base_url}/invoices/{invoice_id}"
        payload = {"expand": ["lines", "customer"]}
        last_error = None
        try:
            for attempt in range(self.attempts):
                try:
                    response = self.session.get(url, params=payload, timeout=5)
                    response.raise_for_status()
                    return response.json()
                except RETRYABLE as exc:
                    last_error = exc
                    log.warning("attempt %d for %s failed: %s", attempt + 1, url, exc)
                    time.sleep(self.backoff * (2**attempt))
            raise RuntimeError(f"invoice {invoice_id} unavailable") from last_error
        finally:
            # Break the cycle frame -> last_error -> traceback -> frame.
            last_error = None

    def post_usage(self, records):
        body = [record.as_dict() for record in records]
        try:
            response = self.session.post(f"{self.base_url}/usage", json=body, timeout=10)
            response.raise_for_status()
        except requests.HTTPError as exc:
            log.error("usage upload failed (%d records): %s", len(body), exc)
            return False
        return True
