"""Per-endpoint metrics for a small HTTP API."""

import time

_ENDPOINTS = ("login", "logout", "search")

_latencies = {}
_status_by_endpoint = {}
_visitors = set()
_MAX_SAMPLES = 1000

for _name in _ENDPOINTS:
    _status_by_endpoint[_name] = {"ok": 0, "error": 0}


def observe(endpoint, started, ok):
    elapsed = time.monotonic() - started
    samples = _latencies.setdefault(endpoint, [])
    samples.append(elapsed)
    if len(samples) > _MAX_SAMPLES:
        del samples[0]
    bucket = _status_by_endpoint.get(endpoint)
    if bucket is not None:
        bucket["ok" if ok else "error"] += 1


def track_visitor(request):
    if len(_visitors) < 100_000:
        _visitors.add(request.remote_addr)


def snapshot():
    result = {
        "endpoints": sorted(_latencies),
        "visitors": len(_visitors),
        "status": dict(_status_by_endpoint),
    }
    _visitors.clear()
    _latencies.clear()
    return result
