"""Heap.inspect on module globals: refcounts, referrers, untracked objects, retained sizes,
cycles, weak-referenceability, excluded objects and evaluation errors."""

import collections
import gc
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _support import describe, facts, load_native, module_roots, own_frames, run  # noqa: E402

_native = load_native()

# Ground truth: `a` is referenced by the module dict, twice by `b` and once by `c`.
a = object()
b = [a, a]
c = {"k": a}
A_REFCOUNT_AS_THE_PROGRAM_SEES_IT = sys.getrefcount(a) - 1

# Untracked objects: a tuple of ints and a str made at run time, held only by a list.
holder = [tuple(range(1000, 1003)), "".join(["untracked-", "string"]) * 2]

# Retained size: 1000 unique bytes objects only `blob` refers to.
blob = [b"%d-" % i + bytes(100) for i in range(1000)]
shared = b"shared by two holders" * 10
owner = [shared, bytes(2000)]
elsewhere = {"s": shared}

# A two-node cycle.
node1 = {}
node2 = {"node1": node1}
node1["node2"] = node2


class Plain:
    pass


plain = Plain()
bare = object()


class WithProperty:
    calls = 0

    @property
    def value(self):
        WithProperty.calls += 1
        return 1


class WithGetattr:
    def __getattr__(self, name):
        raise AssertionError("__getattr__ ran")


with_property = WithProperty()
with_getattr = WithGetattr()
defaults = collections.defaultdict(list)

ex_target = object()
ex_holder = [ex_target]
ex_other = [ex_target]


def heap(extra_exclude=()):
    return _native.Heap(module_roots(), own_frames() + list(extra_exclude))


def find(referrers, kind, text):
    hits = [r for r in referrers if r["kind"] == kind and text in r["description"]]
    assert hits, f"no {kind} referrer mentioning {text!r} in {describe(referrers)}"
    return hits[0]


def test_refcount_and_referrers_of_a_global():
    assert A_REFCOUNT_AS_THE_PROGRAM_SEES_IT == 4
    h = heap()
    try:
        f = facts(h, globals(), "a")
        assert f["refcount"] == 4, describe(f)
        assert f["immortal"] is False
        assert f["type"] == "builtins.object"
        referrers = f["referrers"]
        g = find(referrers, "global", "global a in module __main__")
        assert g["count"] == 1
        lst = find(referrers, "listItem", "of list b")
        assert lst["count"] == 2 and "[0], [1]" in lst["description"], describe(lst)
        d = find(referrers, "dictValue", "key 'k' of dict c")
        assert d["count"] == 1
        assert sum(r["count"] for r in referrers) == 4, describe(referrers)
        assert len(referrers) == 3, describe(referrers)
        assert [step["description"] for step in f["chain"]] == ["module __main__", "global a"], describe(f["chain"])
        assert f["heap"]["objects"] > 1000 and f["heap"]["edges"] > f["heap"]["objects"] / 2
        stats = h.stats
        assert stats["objects"] == f["heap"]["objects"] and stats["index_ms"] > 0
    finally:
        h.close()
    h.close()  # idempotent


def test_refcounts_of_module_names():
    import json

    h = heap()
    try:
        counts = {r["name"]: r for r in json.loads(h.refcounts(globals(), ["a", "b", "missing"]))}
        assert set(counts) == {"a", "b"}, counts
        assert counts["a"]["refcount"] == 4 and counts["a"]["type"] == "builtins.object"
        assert counts["b"]["refcount"] == 1 and counts["b"]["type"] == "builtins.list"
    finally:
        h.close()


def test_untracked_objects_are_indexed():
    gc.collect()
    assert not gc.is_tracked(holder[0]) and not gc.is_tracked(holder[1])
    h = heap()
    try:
        for index, type_name in [(0, "builtins.tuple"), (1, "builtins.str")]:
            f = facts(h, globals(), "holder", [{"kind": "index", "index": index}])
            assert f["type"] == type_name, describe(f)
            assert f["refcount"] == 1, describe(f)
            assert len(f["referrers"]) == 1, describe(f)
            r = f["referrers"][0]
            assert r["kind"] == "listItem" and r["description"] == f"item [{index}] of list holder", describe(r)
            assert [s["description"] for s in f["chain"]] == ["module __main__", "global holder", f"item [{index}]"]
        f = facts(h, globals(), "holder", [{"kind": "index", "index": -2}])
        assert f["type"] == "builtins.tuple"
    finally:
        h.close()


def test_retained_size():
    h = heap()
    try:
        f = facts(h, globals(), "blob")
        expected = sys.getsizeof(blob) + sum(sys.getsizeof(item) for item in blob)
        assert f["retained_size"] >= expected, (f["retained_size"], expected)
        assert f["deep_size"] >= expected
        assert f["size"] == sys.getsizeof(blob)
        f = facts(h, globals(), "owner")
        own = sys.getsizeof(owner) + sys.getsizeof(owner[1])
        assert f["retained_size"] == own, (f["retained_size"], own)
        assert f["deep_size"] == own + sys.getsizeof(shared)
        f = facts(h, globals(), "shared")
        assert f["retained_size"] == sys.getsizeof(shared)
    finally:
        h.close()


def test_cycles_and_weakrefs():
    h = heap()
    try:
        assert facts(h, globals(), "node1")["in_cycle"] is True
        assert facts(h, globals(), "node2")["in_cycle"] is True
        assert facts(h, globals(), "a")["in_cycle"] is False
        assert facts(h, globals(), "bare")["weakrefable"] is False
        assert facts(h, globals(), "plain")["weakrefable"] is True
        assert facts(h, globals(), "a")["uncollectable"] is False
    finally:
        h.close()


def test_excluded_container_is_neither_referrer_nor_counted():
    assert sys.getrefcount(ex_target) - 1 == 3 + 0  # global, ex_holder, ex_other (+1 arg above)
    h = heap([ex_holder])
    try:
        f = facts(h, globals(), "ex_target")
        assert f["refcount"] == 2, describe(f)
        descriptions = [r["description"] for r in f["referrers"]]
        assert not any("ex_holder" in d for d in descriptions), descriptions
        find(f["referrers"], "listItem", "of list ex_other")
        find(f["referrers"], "global", "global ex_target")
        assert sum(r["count"] for r in f["referrers"]) == 2, describe(f["referrers"])
    finally:
        h.close()


def test_evaluation_errors():
    h = heap()
    try:
        for container, name, steps, error in [
            (globals(), "no_such_name", [], LookupError),
            (globals(), "with_property", [{"kind": "attribute", "name": "value"}], TypeError),
            (globals(), "with_getattr", [{"kind": "attribute", "name": "anything"}], TypeError),
            (globals(), "plain", [{"kind": "attribute", "name": "missing"}], LookupError),
            (globals(), "b", [{"kind": "index", "index": 5}], LookupError),
            (globals(), "c", [{"kind": "key", "key": "nope"}], LookupError),
            (globals(), "defaults", [{"kind": "key", "key": "nope"}], LookupError),
            (globals(), "plain", [{"kind": "key", "key": "x"}], TypeError),
            (globals(), "c", [{"kind": "index", "index": 0}], TypeError),
        ]:
            try:
                h.inspect(container, name, steps, name, "global")
            except error:
                pass
            else:
                raise AssertionError(f"{name} {steps}: no {error.__name__}")
        assert WithProperty.calls == 0, "the property's getter ran"
        assert "nope" not in defaults, "the defaultdict got a key"
        # What can be read without user code is read: a class attribute, a key, a module attribute.
        assert facts(h, globals(), "WithProperty", [{"kind": "attribute", "name": "calls"}])["repr"] == "0"
        assert facts(h, globals(), "c", [{"kind": "key", "key": "k"}])["type"] == "builtins.object"
        assert facts(h, globals(), "gc", [{"kind": "attribute", "name": "collect"}])["type"] == "builtins.builtin_function_or_method"
    finally:
        h.close()


def test_bounded_repr():
    h = heap()
    try:
        r = facts(h, globals(), "blob")["repr"]
        assert len(r) <= 300 and r.startswith("[b'0-") and "1000 items" in r, r
        assert facts(h, globals(), "c")["repr"].startswith("{'k': <object at 0x"), facts(h, globals(), "c")["repr"]
    finally:
        h.close()


run(
    [
        test_refcount_and_referrers_of_a_global,
        test_refcounts_of_module_names,
        test_untracked_objects_are_indexed,
        test_retained_size,
        test_cycles_and_weakrefs,
        test_excluded_container_is_neither_referrer_nor_counted,
        test_evaluation_errors,
        test_bounded_repr,
    ]
)
