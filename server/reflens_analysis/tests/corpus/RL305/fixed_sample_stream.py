"""Serves labelled samples to annotators, one at a time."""
import json
import threading

from flask import Flask, jsonify

app = Flask(__name__)


def _load(path):
    with open(path, encoding="utf-8") as fh:
        dataset = json.load(fh)
    return [
        {"id": sample["id"], "text": sample["text"]}
        for sample in dataset["samples"]
        if not sample.get("skip")
    ]


class Cursor:
    def __init__(self, items):
        self.items = items
        self.position = 0
        self.lock = threading.Lock()

    def take(self):
        with self.lock:
            if self.position >= len(self.items):
                return None
            item = self.items[self.position]
            self.position += 1
            return item


cursor = Cursor(_load("data/unlabelled.json"))


@app.route("/next")
def next_sample():
    sample = cursor.take()
    if sample is None:
        return jsonify({"done": True})
    return jsonify(sample)


@app.route("/health")
def health():
    return jsonify({"ok": True})
