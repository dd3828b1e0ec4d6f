"""Benchmark of the live agent's native heap index against objgraph and gc.get_referrers.

Builds a heap of about a million objects (dicts, lists, class instances, strings, some
cycles, a target 9 steps from a module global), then times in one run:

- `_native.Heap(...)`: the walk and the index;
- `inspect` of the target (chain, referrers, retained size): first (builds the BFS tree and
  the dominator tree) and second (cached);
- `_native.growth` on a function that allocates a few objects;
- objgraph's `find_backref_chain` and `show_growth`, and `gc.get_referrers`;

and the same chain/referrers queries again with 1,000 dicts also referring to the target.
Peak extra memory is `ru_maxrss` after minus before each step.

    python tests/bench/live_heap.py --native-dir DIR   # DIR holds _native.abi3.so
    tests/bench/run.sh --live                           # builds it (release) and runs this

Not a test: nothing asserts on the figures.
"""

import argparse
import gc
import io
import json
import os
import resource
import sys
import time
import tracemalloc
from contextlib import redirect_stdout


def max_rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class Record:
    """A class instance with a __dict__: a name, a list, a back reference."""

    def __init__(self, index, parent):
        self.name = "record-%d" % index
        self.values = [index, index * 2]
        self.parent = parent


class Slotted:
    __slots__ = ("item",)


class Node:
    def __init__(self):
        self.child = None


def make_closure(payload):
    def inner():
        return payload

    return inner


def build_target():
    """The target 9 steps from the global ROOT: ROOT -> key 'a' -> item [0] -> attribute child
    -> attribute item -> item [1] -> closure cell -> cell contents -> key 'z'."""
    node = Node()
    slotted = Slotted()
    target = ["the target"]
    payload = {"z": target}
    slotted.item = ("first", make_closure(payload))
    node.child = slotted
    return {"a": [node]}, target


def build_heap(scale):
    """About `scale` objects with what the interpreter has already: records (instance, name
    str, list of 2 ints), dicts with a string and an int, lists of an int and a string, and
    2-dict cycles."""
    records = []
    parent = None
    for index in range(scale // 12):
        parent = Record(index, parent if index % 100 else None)
        records.append(parent)
    dicts = [{"key": "value-%d" % index, "n": index + 1000} for index in range(scale // 12)]
    lists = [[index + 1000, str(index)] for index in range(scale // 12)]
    cycles = []
    for _ in range(scale // 24):
        first, second = {}, {}
        first["other"] = second
        second["other"] = first
        cycles.append(first)
    return {"records": records, "dicts": dicts, "lists": lists, "cycles": cycles}


DATA = None
ROOT = None
FAN_IN = []
GROWTH_LOG = []


def allocate_a_few():
    for index in range(10):
        GROWTH_LOG.append((index, "grown-%d" % index))


def roots():
    return [("module " + name, module) for name, module in list(sys.modules.items()) if module is not None]


def own_frames():
    frames = []
    frame = sys._getframe(1)
    while frame is not None:
        frames.append(frame)
        frame = frame.f_back
    return frames


def timed(function):
    rss = max_rss_mb()
    started = time.perf_counter()
    result = function()
    return result, time.perf_counter() - started, max_rss_mb() - rss


def measure(native, objgraph, label, target, rows):
    gc.collect()
    exclude = own_frames()
    heap, seconds, extra = timed(lambda: native.Heap(roots(), exclude))
    stats = heap.stats
    rows.append((label, "reflens Heap(): walk + index", seconds, extra, f"{stats['objects']:,} objects, {stats['edges']:,} edges"))
    container = {"target": target}
    facts, seconds, extra = timed(lambda: json.loads(heap.inspect(container, "target", [], "target", "bench")))
    rows.append(
        (
            label,
            "reflens inspect (chain + referrers + retained), first",
            seconds,
            extra,
            f"chain {len(facts['chain']) - 1} steps, {len(facts['referrers'])} referrers, retained {facts['retained_size']} B",
        )
    )
    facts, seconds, extra = timed(lambda: json.loads(heap.inspect(container, "target", [], "target", "bench")))
    rows.append((label, "reflens inspect, second (cached index)", seconds, extra, f"query_ms {facts['heap']['query_ms']:.2f}"))
    heap.close()
    del heap, container

    referrers, seconds, extra = timed(lambda: gc.get_referrers(target))
    rows.append((label, "gc.get_referrers(target)", seconds, extra, f"{len(referrers)} referrers"))
    del referrers
    if objgraph is not None:
        chain, seconds, extra = timed(lambda: objgraph.find_backref_chain(target, objgraph.is_proper_module))
        rows.append((label, "objgraph.find_backref_chain", seconds, extra, f"chain of {len(chain)} objects"))
        del chain
    else:
        rows.append((label, "objgraph.find_backref_chain", None, None, "objgraph not installed"))


def main():
    global DATA, ROOT
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--native-dir", default=os.environ.get("REFLENS_AGENT_NATIVE_DIR"))
    parser.add_argument("--objects", type=int, default=1_000_000, help="size of the built heap (about)")
    parser.add_argument("--fan-in", type=int, default=1000)
    parser.add_argument("--growth-iterations", type=int, default=3)
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args()
    if not args.native_dir:
        sys.exit("give --native-dir (a directory holding _native.abi3.so) or REFLENS_AGENT_NATIVE_DIR")
    sys.path.insert(0, args.native_dir)
    import _native

    try:
        import objgraph
    except ImportError:
        objgraph = None
        print("objgraph not installed")

    rows = []
    (DATA, (ROOT, target)), seconds, extra = timed(lambda: (build_heap(args.objects), build_target()))
    gc.collect()
    started = time.perf_counter()
    tracked = len(gc.get_objects())
    reference = time.perf_counter() - started
    rows.append(("setup", "build the heap", seconds, extra, f"{tracked:,} gc-tracked objects"))
    rows.append(("setup", "gc.get_objects() (reference: one C pass)", reference, 0.0, ""))

    measure(_native, objgraph, "fan-in 1", target, rows)
    FAN_IN.extend({"ref": target, "n": index} for index in range(args.fan_in))
    measure(_native, objgraph, f"fan-in {args.fan_in}", target, rows)

    tracemalloc.start(25)
    report, seconds, extra = timed(
        lambda: json.loads(_native.growth(allocate_a_few, args.growth_iterations, "live_heap:allocate_a_few", own_frames(), []))
    )
    tracemalloc.stop()
    grown = ", ".join(f"{t['type']} +{t['per_call']}" for t in report["types"][:3])
    rows.append(("growth", f"reflens growth ({args.growth_iterations} calls + warm-up)", seconds, extra, grown))
    if objgraph is not None:
        with redirect_stdout(io.StringIO()):
            objgraph.show_growth(limit=5)
        allocate_a_few()
        output = io.StringIO()
        _, seconds, extra = timed(lambda: objgraph.show_growth(limit=5, file=output))
        shown = "; ".join(line.split()[0] + " " + line.split()[-1] for line in output.getvalue().splitlines())
        rows.append(("growth", "objgraph.show_growth (one call)", seconds, extra, shown or "(nothing)"))
    else:
        rows.append(("growth", "objgraph.show_growth", None, None, "objgraph not installed"))

    print(f"python {sys.version.split()[0]}, heap of about {args.objects:,} objects built here\n")
    print(f"| heap | query | time | peak extra memory | notes |")
    print(f"|---|---|---:|---:|---|")
    for label, query, seconds, extra, notes in rows:
        time_text = "-" if seconds is None else (f"{seconds * 1000:.1f} ms" if seconds < 1 else f"{seconds:.2f} s")
        memory_text = "-" if extra is None else f"{extra:.0f} MB"
        print(f"| {label} | {query} | {time_text} | {memory_text} | {notes} |")
    if args.json:
        with open(args.json, "w") as out:
            json.dump([dict(zip(["heap", "query", "seconds", "extra_mb", "notes"], row)) for row in rows], out, indent=1)


if __name__ == "__main__":
    main()
