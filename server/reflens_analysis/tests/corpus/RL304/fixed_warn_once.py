"""Deprecation helper that warns once per call site."""
import sys
import warnings


class DeprecationRegistry:
    def __init__(self):
        self.warned = {}

    def warn_once(self, message):
        caller = sys._getframe(2)
        site = (caller.f_code.co_filename, caller.f_lineno)
        if site in self.warned:
            return
        self.warned[site] = message
        warnings.warn(message, DeprecationWarning, stacklevel=3)

    def call_sites(self):
        return [f"{filename}:{lineno}" for filename, lineno in self.warned]


registry = DeprecationRegistry()


def old_api(value):
    registry.warn_once("old_api() is deprecated, use new_api()")
    return new_api(value)


def new_api(value):
    return {"value": value}
