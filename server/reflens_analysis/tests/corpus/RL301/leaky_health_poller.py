"""Polls upstream services and serves their state on /healthz."""

import json
import time
import urllib.error
import urllib.request

SERVICES = {
    "billing": "http://billing.internal/ping",
    "search": "http://search.internal/ping",
}

_LAST_ERROR = None
_STATUS = {name: "unknown" for name in SERVICES}


def ping(url, timeout=2.0):
    with urllib.request.urlopen(url, timeout=timeout) as response:
        body = response.read()
    return json.loads(body or b"{}")


def poll_once():
    global _LAST_ERROR
    for name, url in SERVICES.items():
        try:
            ping(url)
            _STATUS[name] = "up"
        except (urllib.error.URLError, OSError, ValueError) as exc:
            _STATUS[name] = "down"
            _LAST_ERROR = exc  # expect: RL301


def healthz():
    body = {"status": dict(_STATUS), "checked_at": time.time()}
    if _LAST_ERROR is not None:
        body["last_error"] = str(_LAST_ERROR)
    return json.dumps(body)


def poll_forever(interval=15.0):
    while True:
        poll_once()
        time.sleep(interval)
