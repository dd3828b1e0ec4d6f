"""A small leaky module: the editor tests open it, fix it and run it."""
import functools

_registry = []


class Widget:
    def __init__(self, name):
        self.name = name
        _registry.append(self)

    @functools.lru_cache(maxsize=None)
    def area(self, scale):
        return len(self.name) * scale


def read_config(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


def make_widget(name="w"):
    widget = Widget(name)
    sizes = [widget.area(n) for n in range(3)]
    return widget, sizes


if __name__ == "__main__":
    for i in range(3):
        make_widget(f"w{i}")
    print("made", len(_registry), "widgets")
