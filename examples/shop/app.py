"""The request dispatcher: routes requests to handlers and turns errors into responses."""

import os
import sys
import time
import traceback
from dataclasses import dataclass, field

from . import db, orders, pricing, reports, sessions, spool, templates
from .catalogue import Catalogue
from .errors import BadRequest, ShopError

# Requests that crashed, with their exception, for the /admin/errors page.
_FAILED_REQUESTS = []


@dataclass
class Request:
    method: str
    path: str
    user: str = "guest"
    params: dict = field(default_factory=dict)
    body: bytes = b""
    uploads: list = field(default_factory=list)


@dataclass
class Response:
    status: int
    body: str


class ShopApp:
    def __init__(self, data_dir, spool_dir, reload_templates=False):
        self.data_dir = data_dir
        self.spool_dir = spool_dir
        self.db_path = os.path.join(data_dir, "shop.sqlite3")
        self.reload_templates = reload_templates
        self.pages = templates.load_templates(data_dir)
        self.header = templates.load_partial(data_dir, "header")
        self.last_error = None
        self.error_log = []
        self.routes = {
            ("GET", "/products"): self.list_products,
            ("GET", "/product"): self.show_product,
            ("POST", "/cart"): self.add_to_cart,
            ("POST", "/checkout"): self.checkout,
            ("POST", "/upload"): self.upload_image,
            ("GET", "/admin/report"): self.sales_report,
        }

    def handle(self, request):
        started = time.perf_counter()
        response = self.dispatch(request)
        reports.emit_metric(f"http.{response.status}", 1)
        reports.emit_metric("http.latency_ms", round((time.perf_counter() - started) * 1000), "ms")
        return response

    def dispatch(self, request):
        handler = self.routes.get((request.method, request.path))
        if handler is None:
            return Response(404, f"no route for {request.method} {request.path}")
        session = sessions.Session(request.user)
        try:
            return handler(request, session)
        except ShopError as exc:
            # Shown on the /admin/debug page.
            self.last_error = exc
            return Response(exc.status, str(exc))
        except Exception:
            _FAILED_REQUESTS.append((request.method, request.path, sys.exc_info()))
            self.error_log.append(traceback.format_exc(limit=5))
            del self.error_log[:-100]
            return Response(500, "internal server error")
        finally:
            session.close()

    def render(self, page, **values):
        if self.reload_templates:
            self.pages = templates.load_templates(self.data_dir)
        return self.header.safe_substitute(title="Corner Shop") + templates.render(self.pages, page, **values)

    # Handlers: each takes the request and its session and returns a Response.

    def list_products(self, request, session):
        catalogue = Catalogue(self.db_path)
        currency = request.params.get("currency", "EUR")
        rows = "".join(
            f"<li>{product.name}: {pricing.format_price(catalogue.price(sku, currency), currency)}</li>"
            for sku, product in catalogue.products.items()
        )
        return Response(200, self.render("products", currency=currency, rows=rows))

    def show_product(self, request, session):
        catalogue = Catalogue(self.db_path)
        product = catalogue.get(request.params["sku"])
        recent = sessions.recently_viewed(session.user, product.sku)
        price = pricing.format_price(catalogue.price(product.sku), "EUR")
        page = self.render("product", name=product.name, price=price, stock=product.stock, recent=", ".join(recent))
        return Response(200, page)

    def add_to_cart(self, request, session):
        quantity = int(request.params.get("quantity", 1))
        if quantity < 1:
            raise BadRequest(f"quantity must be positive, not {quantity}")
        session.cart.add(request.params["sku"], quantity)
        return Response(200, f"{sum(session.cart.lines.values())} items in the cart")

    def checkout(self, request, session):
        for sku, quantity in request.params.get("lines", {}).items():
            session.cart.add(sku, quantity)
        catalogue = Catalogue(self.db_path)
        currency = request.params.get("currency", "EUR")
        with orders.Checkout(session, self.db_path) as checkout:
            order_ids, total = checkout.place(catalogue, currency)
        rate = pricing.vat_rate(request.params.get("country", "DE"))
        vat = round(total * rate / (100 + rate))  # prices include VAT
        page = self.render(
            "receipt",
            user=session.user,
            orders=", ".join(map(str, order_ids)),
            total=pricing.format_price(total, currency),
            vat=pricing.format_price(vat, currency),
        )
        return Response(201, page)

    def upload_image(self, request, session):
        upload = spool.UploadBuffer(self.spool_dir, request)
        upload.write(request.body)
        kind = spool.sniff_image(upload)
        return Response(201, f"stored a {kind} image of {upload.size} bytes")

    def sales_report(self, request, session):
        export = spool.ExportFile(self.spool_dir)
        count = reports.export_sales_csv(self.db_path, export.path)
        digest = reports.checksum(export.path)
        lines = reports.line_count(export.path)
        with reports.open_export(export.path) as f:
            preview = f.read(200).decode("utf-8", "replace")
        export.remove()
        return Response(200, self.render("report", count=count, lines=lines, digest=digest[:12]) + preview)


def create_app(data_dir, spool_dir, reload_templates=False):
    """Install the templates and the database in `data_dir` and return the app."""
    templates.install_default_templates(data_dir)
    db.init_db(os.path.join(data_dir, "shop.sqlite3"))
    return ShopApp(data_dir, spool_dir, reload_templates)
