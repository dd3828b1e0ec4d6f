"""Run the Corner Shop on a scripted stream of requests and watch what it keeps alive.

    cd examples && python3 -m shop [--rounds N]

Each round sends the same kinds of requests (a report, product pages, a 404, a checkout
that eventually runs out of stock, a good and a bad upload). Nothing a round creates is
needed by the next one, yet the counts below grow round after round.
"""

import argparse
import gc
import os
import re
import sys
import tempfile
import time
import tracemalloc
import warnings

from . import app, catalogue, pricing, sessions, spool

PNG_IMAGE = spool.PNG_MAGIC + bytes(4096)
GIF_IMAGE = b"GIF89a" + bytes(4096)


def scripted_requests(round_no):
    user = ("alice", "bob", "carol")[round_no % 3]
    currency = ("EUR", "USD", "GBP")[round_no % 3]
    Request = app.Request
    return [
        Request("GET", "/admin/report", "admin"),
        Request("GET", "/products", user, {"currency": currency}),
        Request("GET", "/product", user, {"sku": f"SKU-{round_no % 5 + 1}"}),
        Request("GET", "/product", user, {"sku": f"SKU-{90 + round_no}"}),
        Request("POST", "/cart", user, {"sku": "SKU-1", "quantity": 1}),
        Request("POST", "/checkout", user, {"currency": currency, "lines": {"SKU-3": 2}}),
        Request("POST", "/upload", user, body=PNG_IMAGE),
        Request("POST", "/upload", user, body=GIF_IMAGE),
    ]


class ResourceWarnings:
    """Counts the ResourceWarnings Python emits for resources freed while still open."""

    def __init__(self, tmp):
        self.tmp = tmp
        self.count = 0
        self.kinds = {}

    def show(self, message, category, filename, lineno, file=None, line=None):
        if not issubclass(category, ResourceWarning):
            return
        self.count += 1
        text = str(message).replace(self.tmp, "$TMP")
        text = re.sub(r"(?<=subprocess )\d+|(?<=name=)\d+|(?<=export-)\w+|(?<=at )0x[0-9a-f]+", "N", text)
        self.kinds[text] = self.kinds.get(text, 0) + 1


def live(cls):
    return sum(1 for obj in gc.get_objects() if type(obj) is cls)


def open_handles(path):
    """File descriptors of this process open on `path` (Linux only)."""
    fd_dir = f"/proc/{os.getpid()}/fd"
    if not os.path.isdir(fd_dir):
        return "n/a"
    count = 0
    for name in os.listdir(fd_dir):
        try:
            count += os.readlink(os.path.join(fd_dir, name)) == path
        except OSError:
            pass
    return count


def price_cache_size():
    info = getattr(catalogue.Catalogue.price, "cache_info", None)  # gone once the cache is per instance
    return info().currsize if info else "-"


def price_memo_size():
    memo = pricing.format_price.__defaults__[-1]  # None once the default is fixed
    return len(memo) if isinstance(memo, dict) else "-"


def spooled(spool_dir):
    return sum(1 for name in os.listdir(spool_dir) if name.startswith("upload-"))


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python3 -m shop", description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5, help="rounds of requests (default 5)")
    args = parser.parse_args(argv)

    # A throughput-tuned service: the cyclic garbage collector runs rarely.
    thresholds = gc.get_threshold()
    gc.set_threshold(100_000, 50, 50)
    tracemalloc.start()
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="corner-shop-") as tmp, warnings.catch_warnings():
        leaks = ResourceWarnings(tmp)
        warnings.simplefilter("always", ResourceWarning)
        warnings.showwarning = leaks.show
        data_dir = os.path.join(tmp, "data")
        spool_dir = os.path.join(tmp, "spool")
        os.makedirs(spool_dir)
        shop = app.create_app(data_dir, spool_dir, reload_templates=True)
        print(f"Corner Shop: data in {tmp}")
        print("round  statuses                        sessions  catalogues  price-cache  "
              "price-memo  failures  uploads-on-disk  db-handles  resource-warnings  traced-KiB")
        for round_no in range(1, args.rounds + 1):
            statuses = [shop.handle(request).status for request in scripted_requests(round_no)]
            print(
                f"{round_no:>5}  {' '.join(map(str, statuses)):<30}  "
                f"{len(sessions._OPEN_SESSIONS):>8}  {live(catalogue.Catalogue):>10}  "
                f"{price_cache_size():>11}  {price_memo_size():>10}  {len(app._FAILED_REQUESTS):>8}  "
                f"{spooled(spool_dir):>15}  {open_handles(shop.db_path):>10}  "
                f"{leaks.count:>17}  {tracemalloc.get_traced_memory()[0] // 1024:>10}"
            )

        freed = gc.collect()
        print(f"\ngc.collect() freed {freed} objects; still alive:")
        print(f"  {live(sessions.Session)} sessions (kept by sessions._OPEN_SESSIONS)")
        print(f"  {live(catalogue.Catalogue)} catalogues (kept by the cache of Catalogue.price)")
        print(f"  {spooled(spool_dir)} upload files on disk (kept by the frames of the "
              f"{len(app._FAILED_REQUESTS)} tracebacks in app._FAILED_REQUESTS)")
        print(f"  {open_handles(shop.db_path)} handle(s) on shop.sqlite3 (kept by the frames of "
              f"shop.last_error = {repr(shop.last_error)[:60]})")
        print("ResourceWarnings (resources freed while still open):")
        for text, count in leaks.kinds.items():
            print(f"  {count:>3} x {text}")
    gc.set_threshold(*thresholds)
    print(f"{args.rounds} rounds in {time.perf_counter() - started:.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
