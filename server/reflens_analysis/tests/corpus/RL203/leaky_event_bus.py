"""An application-wide event bus for a desktop app: views observe document changes."""


class DocumentEvent:
    def __init__(self, kind, path, payload=None):
        self.kind = kind
        self.path = path
        self.payload = payload


class DocumentBus:
    def __init__(self):
        self._observers = set()
        self.history = []

    def subscribe(self, observer):
        self._observers.add(observer)  # expect: RL203

    def publish(self, kind, path, payload=None):
        event = DocumentEvent(kind, path, payload)
        self.history = self.history[-99:] + [event]
        for observer in list(self._observers):
            observer.on_document_event(event)


class EditorView:
    def __init__(self, bus, path, text):
        self.path = path
        self.buffer = list(text)
        self.dirty = False
        bus.subscribe(self)

    def on_document_event(self, event):
        if event.path == self.path and event.kind == "saved":
            self.dirty = False


class OutlineView:
    def __init__(self, bus):
        self.symbols = {}
        bus.subscribe(self)

    def on_document_event(self, event):
        if event.kind == "parsed":
            self.symbols[event.path] = event.payload


def open_editor(bus, path):
    with open(path, encoding="utf-8") as handle:
        text = handle.read()
    return EditorView(bus, path, text)
