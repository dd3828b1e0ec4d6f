"""A small scene graph for a 2D editor: nodes own their children."""

import math


class SceneNode:
    def __init__(self, name, x=0.0, y=0.0, angle=0.0):
        self.name = name
        self.x = x
        self.y = y
        self.angle = angle
        self.parent = None
        self.children = []
        self.mesh = None

    def add_child(self, child):
        if child.parent is not None:
            raise ValueError(f"{child.name} already has a parent")
        self.children.append(child)
        child.parent = self  # expect: RL202
        return child

    def world_position(self):
        x, y = self.x, self.y
        node = self.parent
        while node is not None:
            cos, sin = math.cos(node.angle), math.sin(node.angle)
            x, y = node.x + x * cos - y * sin, node.y + x * sin + y * cos
            node = node.parent
        return x, y

    def find(self, name):
        if self.name == name:
            return self
        for child in self.children:
            found = child.find(name)
            if found is not None:
                return found
        return None

    def walk(self):
        yield self
        for child in self.children:
            yield from child.walk()


def load_level(spec):
    root = SceneNode(spec["name"])
    for entry in spec.get("children", []):
        node = root.add_child(SceneNode(entry["name"], entry["x"], entry["y"]))
        node.mesh = entry.get("mesh")
    return root
