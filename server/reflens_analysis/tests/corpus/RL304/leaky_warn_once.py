"""Deprecation helper that warns once per call site."""
import inspect
import warnings


class DeprecationRegistry:
    def __init__(self):
        self.warned = {}

    def warn_once(self, message):
        caller = inspect.currentframe().f_back.f_back
        if caller in self.warned:
            return
        self.warned[caller] = message  # expect: RL304
        warnings.warn(message, DeprecationWarning, stacklevel=3)

    def call_sites(self):
        return [
            f"{frame.f_code.co_filename}:{frame.f_lineno}" for frame in self.warned
        ]


registry = DeprecationRegistry()


def old_api(value):
    registry.warn_once("old_api() is deprecated, use new_api()")
    return new_api(value)


def new_api(value):
    return {"value": value}
