"""Money: display formatting, VAT and cart totals."""

_SYMBOLS = {"EUR": "\u20ac", "USD": "$", "GBP": "\u00a3"}


def format_price(cents, currency, _cache={}):
    """Format an amount for display ("EUR 24.50" becomes "\u20ac24.50").

    Every page formats dozens of prices, so the results are memoised.
    """
    key = (cents, currency)
    if key not in _cache:
        symbol = _SYMBOLS.get(currency, currency + " ")
        _cache[key] = f"{symbol}{cents // 100:,}.{cents % 100:02d}"
    return _cache[key]


def vat_rate(country, rates={"DE": 19, "FR": 20, "NL": 21, "AT": 20, "CH": 8.1}):
    """VAT in percent; tests pass their own table."""
    return rates.get(country, 0)


def cart_total(lines, unit_price, discounts=None):
    """Total of `{sku: quantity}` lines in cents, with per-SKU discounts in percent."""
    if discounts is None:
        discounts = {}
    total = 0
    for sku, quantity in lines.items():
        total += unit_price(sku) * quantity * (100 - discounts.get(sku, 0)) // 100
    return total
