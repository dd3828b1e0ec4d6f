"""Currency conversion for the checkout service."""

import decimal
import functools
import logging

log = logging.getLogger(__name__)

TWO_PLACES = decimal.Decimal("0.01")


def fetch_rate(client, base, quote):
    response = client.get("/rates", params={"base": base, "quote": quote})
    response.raise_for_status()
    return decimal.Decimal(str(response.json()["rate"]))


@functools.lru_cache(maxsize=512)
def cached_rate(client, base, quote):
    """Explicit, bounded memo keyed on the currency pair (not on every amount)."""
    return fetch_rate(client, base, quote)


def convert(client, amount, base, quote):
    """Convert `amount` at the (cached) exchange rate."""
    if base == quote:
        return amount
    return (amount * cached_rate(client, base, quote)).quantize(TWO_PLACES)


def price_cart(client, cart, currency, warnings=None):
    if warnings is None:
        warnings = []
    total = decimal.Decimal(0)
    for line in cart.lines:
        try:
            total += convert(client, line.price * line.quantity, line.currency, currency)
        except KeyError:
            warnings.append(f"no rate for {line.currency}->{currency}")
            log.warning("skipping line %s", line.sku)
    return total, warnings


def checkout_view(request, client):
    cart = request.session["cart"]
    total, warnings = price_cart(client, cart, request.user.currency)
    return {"total": str(total), "warnings": warnings}
