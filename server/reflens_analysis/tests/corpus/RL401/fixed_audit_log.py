"""Audit-log export for the compliance API: filters JSON-lines logs by user."""

import csv
import gzip
import io
import json
import os

LOG_DIR = "/var/log/app/audit"


def read_entries(day):
    path = os.path.join(LOG_DIR, f"{day}.jsonl.gz")
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        first = handle.readline()
        if not first:
            return []
        entries = [json.loads(first)]
        entries.extend(json.loads(line) for line in handle)
    return entries


def load_redactions(path):
    with open(path, encoding="utf-8") as f:
        rules = json.load(f)
    return {rule["field"]: rule["mask"] for rule in rules}


def export_user_activity(user_id, days, redactions_path):
    redactions = load_redactions(redactions_path)
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["day", "time", "action", "target"])
    for day in days:
        for entry in read_entries(day):
            if entry.get("user") != user_id:
                continue
            target = redactions.get(entry["target_type"], entry["target"])
            writer.writerow([day, entry["time"], entry["action"], target])
    return buffer.getvalue()


def audit_export_view(request):
    days = request.args.getlist("day")
    body = export_user_activity(request.args["user"], days, "/etc/app/redactions.json")
    return 200, {"Content-Type": "text/csv"}, body
