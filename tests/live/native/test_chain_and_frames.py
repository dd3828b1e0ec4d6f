"""Root chains (a 9-step chain built by construction, compared step by step) and locals of
frames: a suspended generator's frame and a running frame in another thread."""

import os
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _support import describe, facts, load_native, module_roots, own_frames, run  # noqa: E402

_native = load_native()


class Node:
    def __init__(self):
        self.child = None


class Slotted:
    __slots__ = ("item",)


def make_closure(payload):
    def inner():
        return payload

    return inner


def build():
    """module __main__ -> global root -> key 'a' -> item [0] (Node, has a __dict__) ->
    attribute child (Slotted, __slots__) -> attribute item (tuple) -> item [1] (function) ->
    closure cell -> cell contents (dict) -> key 'z' (the target list). Nothing else refers
    to any of these objects."""
    node = Node()
    slotted = Slotted()
    payload = {"z": ["the target"]}
    slotted.item = ("first", make_closure(payload))
    node.child = slotted
    return {"a": [node]}


root = build()
EXPECTED_CHAIN = [
    ("global", "module __main__", "builtins.module"),
    ("global", "global root", "builtins.dict"),
    ("dictValue", "key 'a'", "builtins.list"),
    ("listItem", "item [0]", "__main__.Node"),
    ("attribute", "attribute child", "__main__.Slotted"),
    ("attribute", "attribute item", "builtins.tuple"),
    ("tupleItem", "item [1]", "builtins.function"),
    ("closureCell", "closure of make_closure.<locals>.inner()", "builtins.cell"),
    ("closureCell", "cell contents", "builtins.dict"),
    ("dictValue", "key 'z'", "builtins.list"),
]
TARGET_STEPS = [
    {"kind": "key", "key": "a"},
    {"kind": "index", "index": 0},
    {"kind": "attribute", "name": "child"},
    {"kind": "attribute", "name": "item"},
    {"kind": "index", "index": 1},
]


def chain_of(f):
    return [(s["kind"], s["description"], s["type"]) for s in f["chain"]]


def test_nine_step_chain():
    assert len(EXPECTED_CHAIN) == 10  # the root and 9 hops
    h = _native.Heap(module_roots(), own_frames())
    try:
        # The closure's contents cannot be reached by an expression; inspect the function's
        # dict through the payload chain's last step instead: the target is payload["z"].
        inner = root["a"][0].child.item[1]
        payload = inner.__closure__[0].cell_contents
        container = {"target": payload["z"]}
        f = facts(h, container, "target")
        assert chain_of(f) == EXPECTED_CHAIN, describe(f["chain"])
        # The same chain, one hop shorter, through an evaluated expression.
        f = facts(h, globals(), "root", TARGET_STEPS)
        assert chain_of(f) == EXPECTED_CHAIN[:7], describe(f["chain"])
        assert f["type"] == "builtins.function"
        # Referrers name their container by its path from a root.
        f = facts(h, globals(), "root", TARGET_STEPS[:3])
        descriptions = [r["description"] for r in f["referrers"]]
        assert "attribute child of Node instance root['a'][0]" in descriptions, descriptions
        f = facts(h, globals(), "root", TARGET_STEPS[:4])
        descriptions = [r["description"] for r in f["referrers"]]
        assert "attribute item of Slotted instance root['a'][0].child" in descriptions, descriptions
        f = facts(h, container, "target")
        descriptions = [r["description"] for r in f["referrers"]]
        assert any(d.startswith("value for key 'z' of dict") for d in descriptions), descriptions
        cell_facts = facts(h, {"payload": payload}, "payload")
        descriptions = [r["description"] for r in cell_facts["referrers"]]
        assert "closure cell of make_closure.<locals>.inner()" in descriptions, descriptions
        del inner, payload, container
    finally:
        h.close()


def test_naming_attributes_does_not_change_refcounts():
    # Naming `attribute child` reads the Node's __dict__, which 3.11-3.13 create on demand
    # from inline values: the refcounts reported before and after must not change.
    for _ in range(3):
        h = _native.Heap(module_roots(), own_frames())
        try:
            f = facts(h, globals(), "root", TARGET_STEPS[:3])
            assert f["refcount"] == 1, describe(f)
            assert [r["kind"] for r in f["referrers"]] == ["attribute"], describe(f["referrers"])
            f = facts(h, globals(), "root", TARGET_STEPS[:2])
            assert f["refcount"] == 1, describe(f)
        finally:
            h.close()


def gen():
    local_thing = [1, 2, 3]
    yield 1
    return local_thing


suspended = gen()
next(suspended)


def test_local_of_a_suspended_generator():
    frame = suspended.gi_frame
    container = frame.f_locals  # a snapshot dict up to 3.12 (the agent's: excluded), else a proxy
    exclude = own_frames() + ([container] if isinstance(container, dict) else [])
    h = _native.Heap(module_roots(), exclude)
    try:
        f = facts(h, container, "local_thing", scope="local of gen()")
        assert f["refcount"] == 1, describe(f)
        locals_ = [r for r in f["referrers"] if r["kind"] == "local"]
        assert len(locals_) == 1, describe(f["referrers"])
        assert locals_[0]["description"].startswith("local local_thing of gen() at "), describe(locals_)
        assert locals_[0]["type"] == "builtins.frame"
        assert f["chain"][-1]["description"] == "local local_thing", describe(f["chain"])
        assert f["chain"][0]["description"] == "module __main__", describe(f["chain"])
    finally:
        h.close()
    del frame, container, exclude


def worker(ready, done):
    only_here = ["referenced by this frame only"]
    ready.set()
    done.wait()
    return only_here


def test_local_of_a_running_frame_in_another_thread():
    ready, done = threading.Event(), threading.Event()
    thread = threading.Thread(target=worker, args=(ready, done), name="Worker-1")
    thread.start()
    try:
        ready.wait()
        frame = sys._current_frames()[thread.ident]
        frames = []
        while frame is not None:
            frames.append(frame)
            frame = frame.f_back
        worker_frame = next(f for f in frames if f.f_code.co_name == "worker")
        container = worker_frame.f_locals
        roots = module_roots()
        roots += [(f"frame of {f.f_code.co_name}() at {f.f_lineno}", f) for f in frames]
        roots.append(("thread Worker-1", thread))
        exclude = own_frames() + ([container] if isinstance(container, dict) else [])
        h = _native.Heap(roots, exclude)
        try:
            f = facts(h, container, "only_here", scope="local of worker()")
            assert f["refcount"] == 1, describe(f)
            assert len(f["referrers"]) == 1, describe(f["referrers"])
            r = f["referrers"][0]
            assert r["kind"] == "local" and r["description"].startswith("local only_here of worker() at "), describe(r)
            assert [(s["kind"], s["description"]) for s in f["chain"]] == [
                ("frame", f"frame of worker() at {worker_frame.f_lineno}"),
                ("local", "local only_here"),
            ], describe(f["chain"])
        finally:
            h.close()
        del frames, worker_frame, container, roots, exclude
    finally:
        done.set()
        thread.join()


run([test_nine_step_chain, test_naming_attributes_does_not_change_refcounts, test_local_of_a_suspended_generator, test_local_of_a_running_frame_in_another_thread])
