"""User lookups for a web service: avoids hitting the database for every request."""

import logging

log = logging.getLogger(__name__)


class UserProfile:
    def __init__(self, row):
        self.id = row["id"]
        self.name = row["name"]
        self.preferences = row.get("preferences", {})


_profiles = {}  # expect: RL102
_slow_queries = []  # expect: RL102


def load_profile(db, user_id):
    if user_id in _profiles:
        return _profiles[user_id]
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
