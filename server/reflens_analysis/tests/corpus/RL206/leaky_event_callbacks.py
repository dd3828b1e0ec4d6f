"""Connects model signals to view callbacks without keeping the views alive."""

import weakref
from weakref import WeakMethod


class Signal:
    def __init__(self):
        self._slot = None

    def connect(self, method):
        self._slot = WeakMethod(method)

    def emit(self, value):
        if self._slot is not None:
            self._slot()(value)  # expect: RL206


def bind_label(model, label):
    ref = weakref.ref(label)

    def on_change(value):
        view = ref()  # expect: RL206
        view.set_text(str(value))

    model.changed.connect_function(on_change)
    return on_change


class Label:
    def __init__(self):
        self.text = ""

    def set_text(self, text):
        self.text = text

    def on_value(self, value):
        self.set_text(f"value: {value}")
