"""Settings shared by every open project window; windows react to changes and detach."""

import json


class Settings:
    def __init__(self, path):
        self.path = path
        self._values = {}
        self._listeners = []

    def load(self):
        with open(self.path, encoding="utf-8") as handle:
            self._values = json.load(handle)

    def get(self, key, default=None):
        return self._values.get(key, default)

    def set(self, key, value):
        old = self._values.get(key)
        self._values[key] = value
        if old != value:
            for listener in self._listeners:
                listener(key, old, value)

    def add_listener(self, listener):
        self._listeners.append(listener)

    def remove_listener(self, listener):
        self._listeners.remove(listener)


class ProjectWindow:
    def __init__(self, settings, project):
        self.project = project
        self.font_size = settings.get("font_size", 12)
        self.theme = settings.get("theme", "light")
        self.layout_cache = {}
        settings.add_listener(self.on_setting_changed)

    def close(self, settings):
        settings.remove_listener(self.on_setting_changed)
        self.layout_cache.clear()

    def on_setting_changed(self, key, old, new):
        if key == "font_size":
            self.font_size = new
            self.layout_cache.clear()
        elif key == "theme":
            self.theme = new


def open_project(settings, project):
    window = ProjectWindow(settings, project)
    return window
