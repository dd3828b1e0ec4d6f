"""Per-endpoint metrics for a small HTTP API."""

import time

_ENDPOINTS = ("login", "logout", "search")

_samples = []  # expect: RL102
_status_by_endpoint = {}
_inflight = {}  # expect: RL102

for _name in _ENDPOINTS:
    _status_by_endpoint[_name] = {"ok": 0, "error": 0}


def observe(endpoint, started, ok):
    elapsed = time.monotonic() - started
    _samples.append((endpoint, elapsed))
    bucket = _status_by_endpoint.get(endpoint)
    if bucket is not None:
        bucket["ok" if ok else "error"] += 1


def start_request(request):
    # Kept so that a debug endpoint can list requests in flight.
    _inflight[id(request)] = request
    return time.monotonic()


def snapshot():
    return {
        "samples": len(_samples),
        "inflight": len(_inflight),
        "status": dict(_status_by_endpoint),
    }
