"""Hierarchical configuration sections parsed from a large YAML document."""

import weakref


class Section:
    def __init__(self, name, values=None):
        self.name = name
        self.values = dict(values or {})
        self.sections = []
        self._parent = None

    @property
    def parent(self):
        return self._parent() if self._parent is not None else None

    def join(self, parent):
        self._parent = weakref.ref(parent)
        parent.sections.append(self)
        return self

    def get(self, key, default=None):
        section = self
        while section is not None:
            if key in section.values:
                return section.values[key]
            section = section.parent
        return default

    def path(self):
        names = []
        section = self
        while section is not None:
            names.append(section.name)
            section = section.parent
        return ".".join(reversed(names))


def build(document, name="root", parent=None):
    scalars = {k: v for k, v in document.items() if not isinstance(v, dict)}
    section = Section(name, scalars)
    if parent is not None:
        section.join(parent)
    for key, value in document.items():
        if isinstance(value, dict):
            build(value, key, section)
    return section


def effective_settings(document, keys):
    root = build(document)
    return {key: root.get(key) for key in keys}
