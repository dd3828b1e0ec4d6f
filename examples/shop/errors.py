"""Errors a handler raises to answer with a 4xx status instead of a 500."""


class ShopError(Exception):
    status = 400


class NotFound(ShopError):
    status = 404

    def __init__(self, sku):
        super().__init__(f"no product {sku!r}")
        self.sku = sku


class OutOfStock(ShopError):
    status = 409

    def __init__(self, sku, wanted):
        super().__init__(f"only a few {sku!r} left, not {wanted}")
        self.sku = sku
        self.wanted = wanted


class BadRequest(ShopError):
    status = 400
