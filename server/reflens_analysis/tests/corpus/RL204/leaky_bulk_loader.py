"""Bulk loader for a data pipeline: builds millions of small objects at once."""

import gc
import json
import logging

log = logging.getLogger(__name__)


class Record:
    def __init__(self, payload):
        self.id = payload["id"]
        self.fields = payload.get("fields", {})


def parse_lines(lines):
    return [Record(json.loads(line)) for line in lines]


def load_batch(lines):
    # Allocation-heavy: the collector would run hundreds of times for nothing.
    gc.disable()  # expect: RL204
    records = parse_lines(lines)
    log.info("parsed %d records", len(records))
    gc.enable()
    return records


def load_many(batches, limit):
    gc.disable()  # expect: RL204
    loaded = []
    for batch in batches:
        if len(loaded) > limit:
            return loaded
        loaded.extend(parse_lines(batch))
    gc.enable()
    return loaded


def summarize(records):
    by_id = {}
    for record in records:
        by_id[record.id] = record.fields
    return by_id
