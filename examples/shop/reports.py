"""Back-office reports and StatsD metrics."""

import csv
import socket
import subprocess
import sys

from . import db

STATSD_ADDRESS = ("127.0.0.1", 8125)

# What the ops team runs by hand to check an export: `sha256sum`, as a portable script.
SHA256_SCRIPT = "import hashlib, sys; print(hashlib.sha256(sys.stdin.buffer.read()).hexdigest())"


def export_sales_csv(db_path, out_path):
    """Write every order to `out_path` as CSV; returns the number of orders."""
    rows = db.fetch_orders(db_path)
    out = open(out_path, "w", newline="", encoding="utf-8")
    if not rows:
        return 0
    writer = csv.writer(out)
    writer.writerow(["order", "user", "sku", "quantity", "total_cents"])
    writer.writerows(rows)
    out.close()
    return len(rows)


def checksum(path):
    """SHA-256 of a file, computed by a child process the way the ops team checks exports."""
    proc = subprocess.Popen(
        [sys.executable, "-c", SHA256_SCRIPT], stdin=subprocess.PIPE, stdout=subprocess.PIPE
    )
    with open(path, "rb") as f:
        proc.stdin.write(f.read())
    proc.stdin.close()
    return proc.stdout.read().decode().strip()


def line_count(path):
    """Lines of a file, counted by a child process (`wc -l`, portably)."""
    script = "import sys; print(sum(1 for _ in open(sys.argv[1], 'rb')))"
    with subprocess.Popen([sys.executable, "-c", script, path], stdout=subprocess.PIPE) as proc:
        out, _ = proc.communicate()
    return int(out)


def emit_metric(name, value, kind="c"):
    """Send one StatsD metric over UDP. Metrics are best effort: errors are ignored."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        sock.sendto(f"shop.{name}:{value}|{kind}".encode(), STATSD_ADDRESS)
    except OSError:
        return False
    sock.close()
    return True


def open_export(path):
    """Open an export for streaming to the client; the response closes it when sent."""
    return open(path, "rb")
