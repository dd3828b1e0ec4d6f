"""Currency conversion for the checkout service."""

import decimal
import logging

log = logging.getLogger(__name__)

TWO_PLACES = decimal.Decimal("0.01")


def fetch_rate(client, base, quote):
    response = client.get("/rates", params={"base": base, "quote": quote})
    response.raise_for_status()
    return decimal.Decimal(str(response.json()["rate"]))


def convert(client, amount, base, quote, _rates={}):  # expect: RL104
    """Convert `amount`; remembers every exchange rate it has fetched."""
    if base == quote:
        return amount
    key = (base, quote, str(amount))
    if key not in _rates:
        _rates[key] = fetch_rate(client, base, quote)
    return (amount * _rates[key]).quantize(TWO_PLACES)


def price_cart(client, cart, currency, warnings=[]):  # expect: RL104
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
