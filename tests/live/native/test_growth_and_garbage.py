"""growth(): types and allocation sites that grow on every call, untracked objects included,
and what retains them; garbage(): cycles in gc.garbage and their finalizers."""

import gc
import json
import os
import sys
import tracemalloc

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _support import describe, load_native, own_frames, run  # noqa: E402

_native = load_native()

PER_CALL = 7
LOG = []


def grow():
    for i in range(PER_CALL):
        LOG.append((i, i + 1))  # the tuple line
        LOG.append(str(i) * 3)  # the str line


def line_of(marker):
    with open(__file__) as source:
        for number, line in enumerate(source, 1):
            if line.rstrip().endswith(marker) and "LOG.append" in line:
                return number
    raise AssertionError(f"no line ends with {marker!r}")


def test_growth_reports_types_sites_and_retainer():
    tracemalloc.start(25)
    try:
        report = json.loads(_native.growth(grow, 4, "__main__:grow", own_frames(), [os.path.dirname(tracemalloc.__file__)]))
    finally:
        tracemalloc.stop()
    assert report["target"] == "__main__:grow" and report["iterations"] == 4
    types = {t["type"]: t for t in report["types"]}
    for name in ["builtins.tuple", "builtins.str"]:
        assert name in types, describe(report["types"])
        assert types[name]["per_call"] == PER_CALL, describe(types[name])
        assert len(types[name]["counts"]) == 5, describe(types[name])
    assert types["builtins.str"]["gc_tracked"] is False
    sites = {(s["file"], s["line"], s["type"]): s["per_call"] for s in report["sites"]}
    here = os.path.abspath(__file__)
    tuple_site = (here, line_of("# the tuple line"), "builtins.tuple")
    str_site = (here, line_of("# the str line"), "builtins.str")
    assert sites.get(tuple_site) == PER_CALL, describe(report["sites"])
    assert sites.get(str_site) == PER_CALL, describe(report["sites"])
    assert report["retainers"], describe(report)
    top = report["retainers"][0]
    assert top["description"] == "global LOG in module __main__", describe(report["retainers"])
    assert top["new_objects"] == 2 * PER_CALL, describe(top)
    assert [s["description"] for s in top["chain"]] == ["module __main__", "global LOG"], describe(top["chain"])


def fails():
    raise ValueError("from the user's function")


def test_growth_propagates_exceptions():
    try:
        _native.growth(fails, 2, "__main__:fails", own_frames(), [])
    except ValueError as error:
        assert "user's function" in str(error)
    else:
        raise AssertionError("no exception")


class WithDel:
    def __del__(self):
        pass


class NoDel:
    pass


def make_garbage():
    with_del = WithDel()
    holder = {"with_del": with_del}
    with_del.holder = holder
    plain = NoDel()
    plain.me = plain


def test_garbage_report():
    gc.collect()
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        make_garbage()
        gc.collect()
        objects = list(gc.garbage)
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
    report = json.loads(_native.garbage(objects, []))
    assert report["unreachable"] == len(objects) and report["unreachable"] >= 3, describe(report)
    by_type = dict((name, count) for name, count in report["by_type"])
    assert by_type.get("__main__.WithDel") == 1 and by_type.get("__main__.NoDel") == 1, describe(report["by_type"])
    with_del = [c for c in report["cycles"] if any(m.startswith("__main__.WithDel: ") for m in c["members"])]
    assert len(with_del) == 1 and with_del[0]["has_finalizer"] is True and with_del[0]["size"] >= 2, describe(report["cycles"])
    assert any(m.startswith("builtins.dict: {'with_del': <WithDel at 0x") for m in with_del[0]["members"]), describe(with_del)
    no_del = [c for c in report["cycles"] if any(m.startswith("__main__.NoDel: ") for m in c["members"])]
    assert len(no_del) == 1 and no_del[0]["has_finalizer"] is False, describe(report["cycles"])
    assert any(f.startswith("__main__.WithDel: <WithDel at 0x") for f in report["with_finalizers"]), describe(report)
    del objects


run([test_growth_reports_types_sites_and_retainer, test_growth_propagates_exceptions, test_garbage_report])
