"""An event bus whose subscribers are held weakly, keyed by id."""

import weakref


class Subscription:
    __slots__ = ("topic", "callback_name", "active")


class Listener:
    __slots__ = ("name", "received")  # expect: RL205

    def __init__(self, name):
        self.name = name
        self.received = []

    def on_event(self, topic, payload):
        self.received.append((topic, payload))


class EventBus:
    def __init__(self):
        self._listeners = weakref.WeakValueDictionary()

    def subscribe(self, key, listener):
        self._listeners[key] = listener

    def publish(self, topic, payload):
        delivered = 0
        for listener in list(self._listeners.values()):
            listener.on_event(topic, payload)
            delivered += 1
        return delivered


def register(bus: EventBus, name: str) -> Listener:
    listener = Listener(name)
    ref = weakref.ref(listener)
    bus.subscribe(name, listener)
    if ref() is None:
        raise RuntimeError("listener vanished")
    return listener


def demo():
    bus = EventBus()
    first = register(bus, "first")
    second = register(bus, "second")
    bus.publish("tick", 1)
    return first.received, second.received
