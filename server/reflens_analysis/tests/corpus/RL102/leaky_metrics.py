"""Per-endpoint metrics for a small HTTP API."""

import time

_ENDPOINTS = ("login", "logout", "search")

_latencies = {}  # expect: RL102
_status_by_endpoint = {}
_visitors = set()  # expect: RL102

for _name in _ENDPOINTS:
    _status_by_endpoint[_name] = {"ok": 0, "error": 0}


def observe(endpoint, started, ok):
    elapsed = time.monotonic() - started
    _latencies.setdefault(endpoint, []).append(elapsed)
    bucket = _status_by_endpoint.get(endpoint)
    if bucket is not None:
        bucket["ok" if ok else "error"] += 1


def track_visitor(request):
    _visitors.add(request.remote_addr)


def snapshot():
    return {
        "endpoints": sorted(_latencies),
        "visitors": len(_visitors),
        "status": dict(_status_by_endpoint),
    }
