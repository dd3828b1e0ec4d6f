"""A scene graph whose nodes point back at their parents weakly."""

import weakref


class SceneNode:
    __slots__ = ("name", "children", "_parent", "transform")  # expect: RL205

    def __init__(self, name, transform=None):
        self.name = name
        self.children = []
        self._parent = None
        self.transform = transform or (1.0, 0.0, 0.0, 1.0)

    @property
    def parent(self):
        return self._parent() if self._parent is not None else None

    def add_child(self, child):
        child._parent = weakref.ref(self)
        self.children.append(child)
        return child

    def remove_child(self, child):
        self.children.remove(child)
        child._parent = None

    def path(self):
        parts = []
        node = self
        while node is not None:
            parts.append(node.name)
            node = node.parent
        return "/".join(reversed(parts))

    def walk(self):
        yield self
        for child in self.children:
            yield from child.walk()


def build_scene():
    root = SceneNode("root")
    camera = root.add_child(SceneNode("camera"))
    world = root.add_child(SceneNode("world"))
    for index in range(3):
        world.add_child(SceneNode(f"mesh{index}"))
    return root, camera
