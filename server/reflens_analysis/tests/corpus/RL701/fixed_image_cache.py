"""Preprocesses scanned pages before OCR."""

import gc
from collections import OrderedDict

import numpy as np

MAX_PAGES = 32


class PageCache:
    def __init__(self):
        self._pages = OrderedDict()

    def put(self, key, page):
        self._pages[key] = page
        while len(self._pages) > MAX_PAGES:
            self._pages.popitem(last=False)


def binarize(page, threshold=128):
    return (page > threshold).astype(np.uint8)


def preprocess(paths, cache):
    results = []
    for path in paths:
        page = np.fromfile(path, dtype=np.uint8).reshape(-1, 2480)
        results.append(binarize(page))
        del page
        gc.collect()
    return results


def preprocess_all(paths):
    cache = PageCache()
    pages = np.load(paths[0])
    keep = {"first": pages.shape, "count": len(paths)}
    out = preprocess(paths[1:], cache)
    del pages
    gc.collect()
    return keep, out
