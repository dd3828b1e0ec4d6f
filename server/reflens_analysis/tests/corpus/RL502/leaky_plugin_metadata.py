"""Per-plugin metadata for a plugin host: plugins are loaded and unloaded at run time."""

import importlib
import weakref

_metadata = weakref.WeakKeyDictionary()


class Plugin:
    def __init__(self, module):
        self.module = module
        self.name = getattr(module, "PLUGIN_NAME", module.__name__)
        self.enabled = True

    def describe(self):
        return f"{self.name} ({'on' if self.enabled else 'off'})"

    def unload(self):
        self.enabled = False


def load(module_name):
    plugin = Plugin(importlib.import_module(module_name))
    _metadata[plugin] = {"module": module_name, "describe": plugin.describe}  # expect: RL502
    _metadata[plugin] = (plugin, module_name)  # expect: RL502
    return plugin


def describe_all():
    return [entry[0].describe() for entry in _metadata.values()]


def track_lifetime(plugin):
    return weakref.finalize(plugin, plugin.unload)  # expect: RL502
