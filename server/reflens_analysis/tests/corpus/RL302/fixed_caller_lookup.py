"""Configuration access that records which module asked for a setting."""
import os
import sys


class Settings:
    def __init__(self, values):
        self._values = dict(values)
        self._readers = {}

    def get(self, key, default=None):
        module = sys._getframe(1).f_globals.get("__name__", "?")
        self._readers.setdefault(key, set()).add(module)
        return self._values.get(key, default)

    def require(self, key):
        if key in self._values:
            return self._values[key]
        env = os.environ.get(key.upper())
        if env is not None:
            return env
        caller = sys._getframe(1)
        try:
            where = f"{caller.f_code.co_filename}:{caller.f_lineno}"
        finally:
            del caller
        raise KeyError(f"missing setting {key!r} (asked at {where})")

    def readers(self, key):
        return sorted(self._readers.get(key, ()))


def load_settings(path):
    values = {}
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            name, _, value = line.partition("=")
            values[name.strip()] = value.strip()
    return Settings(values)
