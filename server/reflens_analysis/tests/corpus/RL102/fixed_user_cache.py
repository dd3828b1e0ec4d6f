"""User lookups for a web service: avoids hitting the database for every request."""

import collections
import logging
import weakref

log = logging.getLogger(__name__)


class UserProfile:
    def __init__(self, row):
        self.id = row["id"]
        self.name = row["name"]
        self.preferences = row.get("preferences", {})


_profiles = weakref.WeakValueDictionary()
_slow_queries = collections.deque(maxlen=200)


def load_profile(db, user_id):
    profile = _profiles.get(user_id)
    if profile is not None:
        return profile
    row = db.fetch_one("SELECT * FROM users WHERE id = %s", user_id)
    profile = UserProfile(row)
    _profiles[user_id] = profile
    return profile


def timed_query(db, sql, *params):
    elapsed, rows = db.timed(sql, *params)
    if elapsed > 0.5:
        _slow_queries.append((sql, params, elapsed))
        log.warning("slow query (%.2fs): %s", elapsed, sql)
    return rows


def handle_request(db, request):
    profile = load_profile(db, request.user_id)
    return {"id": profile.id, "name": profile.name}
