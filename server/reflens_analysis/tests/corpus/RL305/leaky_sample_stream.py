"""Serves labelled samples to annotators, one at a time."""
import json

from flask import Flask, jsonify

app = Flask(__name__)


def _samples(path):
    with open(path, encoding="utf-8") as fh:
        dataset = json.load(fh)
    for sample in dataset["samples"]:
        if sample.get("skip"):
            continue
        yield {"id": sample["id"], "text": sample["text"]}


SAMPLES = _samples("data/unlabelled.json")  # expect: RL305


@app.route("/next")
def next_sample():
    sample = next(SAMPLES, None)
    if sample is None:
        return jsonify({"done": True})
    return jsonify(sample)


@app.route("/health")
def health():
    return jsonify({"ok": True})
