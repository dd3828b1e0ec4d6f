"""Nightly export of the sales report."""

import gc
import json

import pandas as pd

REPORT_COLUMNS = ["region", "product", "units", "revenue"]


def load_sales(paths):
    frames = [pd.read_csv(path, usecols=REPORT_COLUMNS) for path in paths]
    sales = pd.concat(frames, ignore_index=True)
    del frames
    gc.collect()
    return sales


def summarize(sales):
    return sales.groupby(["region", "product"]).agg({"units": "sum", "revenue": "sum"})


def export(paths, out_path, audit):
    sales = load_sales(paths)
    audit["rows"] = len(sales)
    summary = summarize(sales)
    del sales
    gc.collect()
    summary.to_csv(out_path)
    return summary


def load_overrides(path):
    with open(path) as f:
        raw = json.load(f)
    overrides = {item["product"]: item for item in raw}
    del raw
    return overrides
