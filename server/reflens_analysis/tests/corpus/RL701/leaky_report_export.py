"""Nightly export of the sales report."""

import gc
import json

import pandas as pd

REPORT_COLUMNS = ["region", "product", "units", "revenue"]


def load_sales(paths):
    frames = []
    for path in paths:
        frame = pd.read_csv(path, usecols=REPORT_COLUMNS)
        frames.append(frame)
        del frame  # expect: RL701
    sales = pd.concat(frames, ignore_index=True)
    gc.collect()
    return sales


def summarize(sales):
    return sales.groupby(["region", "product"]).agg({"units": "sum", "revenue": "sum"})


def export(paths, out_path, audit):
    sales = load_sales(paths)
    audit["rows"] = sales
    summary = summarize(sales)
    del sales  # expect: RL701
    gc.collect()
    summary.to_csv(out_path)
    return summary


def load_overrides(path):
    with open(path) as f:
        raw = json.load(f)
    overrides = {item["product"]: item for item in raw}
    del raw
    return overrides
