"""A small widget tree for a terminal UI: children point back at their parent weakly."""

import weakref


class Widget:
    def __init__(self, name, parent=None):
        self.name = name
        self.children = []
        self._parent = None
        if parent is not None:
            self._parent = weakref.ref(parent)

    def path(self):
        parts = [self.name]
        node = self
        while node._parent is not None:
            node = node._parent()
            if node is None:
                break
            parts.append(node.name)
        return "/".join(reversed(parts))

    def theme(self):
        parent = self._parent()
        if parent is None:
            return {}
        return parent.theme()

    def request_redraw(self):
        parent = self._parent()
        if parent is None:
            return
        parent.invalidate(self)


class Screen(Widget):
    def __init__(self):
        super().__init__("screen")
        self.dirty = []

    def theme(self):
        return {"fg": "white", "bg": "black"}

    def invalidate(self, widget):
        self.dirty.append(widget.name)
