"""Configuration access that records which module asked for a setting."""
import inspect
import os


class Settings:
    def __init__(self, values):
        self._values = dict(values)
        self._readers = {}

    def get(self, key, default=None):
        stack = inspect.stack()  # expect: RL302
        caller = stack[1]
        module = caller.frame.f_globals.get("__name__", "?")
        self._readers.setdefault(key, set()).add(module)
        return self._values.get(key, default)

    def require(self, key):
        if key in self._values:
            return self._values[key]
        env = os.environ.get(key.upper())
        if env is not None:
            return env
        records = inspect.stack(0)  # expect: RL302
        where = f"{records[1].filename}:{records[1].lineno}"
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
