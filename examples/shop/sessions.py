"""User sessions, their carts, and what each user looked at recently."""

import itertools
import secrets
import time
import weakref

# Every session, for the admin page's "who is online" list.
_OPEN_SESSIONS = []

# Token lookup for the API: holds sessions weakly, a token dies with its session.
_BY_TOKEN = weakref.WeakValueDictionary()

_session_ids = itertools.count(1)


class Cart:
    def __init__(self):
        self.lines = {}

    def add(self, sku, quantity=1):
        self.lines[sku] = self.lines.get(sku, 0) + quantity

    def clear(self):
        self.lines.clear()


class Session:
    def __init__(self, user):
        self.id = next(_session_ids)
        self.user = user
        self.token = secrets.token_hex(16)
        self.started = time.monotonic()
        self.closed = False
        self.cart = Cart()
        self.buffer = bytearray(32 * 1024)  # scratch space for request bodies
        _OPEN_SESSIONS.append(self)
        _BY_TOKEN[self.token] = self

    def close(self):
        self.closed = True


def session_for_token(token):
    return _BY_TOKEN.get(token)


def online_users():
    return sorted({session.user for session in _OPEN_SESSIONS if not session.closed})


def recently_viewed(user, sku, _history={}):
    """Remember that `user` looked at `sku`; returns the last five products they viewed."""
    views = _history.setdefault(user, [])
    views.append(sku)
    return views[-5:]
