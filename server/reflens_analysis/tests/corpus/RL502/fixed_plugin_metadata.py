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


def _log_unloaded(name):
    print(f"plugin {name} unloaded")


def load(module_name):
    plugin = Plugin(importlib.import_module(module_name))
    _metadata[plugin] = module_name
    return plugin


def describe_all():
    return [plugin.describe() for plugin in list(_metadata.keys())]


def track_lifetime(plugin):
    return weakref.finalize(plugin, _log_unloaded, plugin.name)
