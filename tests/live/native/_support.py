"""Shared by the native-module test scripts (files starting with `_` are not run as tests).

Loads `_native` from REFLENS_AGENT_NATIVE_DIR, builds roots the way the agent does (modules,
plus whatever frames a test adds), and runs test functions in order, stopping at the first
failure with a clear message and a non-zero exit status.
"""

import json
import os
import sys
import traceback


def load_native():
    directory = os.environ.get("REFLENS_AGENT_NATIVE_DIR")
    if not directory:
        sys.exit("REFLENS_AGENT_NATIVE_DIR is not set: it must name a directory holding _native.abi3.so")
    sys.path.insert(0, directory)
    import _native

    return _native


def module_roots():
    """The modules of sys.modules, named as the agent names them."""
    return [("module " + name, module) for name, module in list(sys.modules.items()) if module is not None]


def own_frames():
    """The frames of the running test (the harness and the test function): the agent excludes
    its own frames the same way."""
    frames = []
    frame = sys._getframe(1)
    while frame is not None:
        frames.append(frame)
        frame = frame.f_back
    return frames


def facts(heap, container, name, steps=(), scope="global"):
    return json.loads(heap.inspect(container, name, list(steps), name, scope))


def describe(facts_or_list):
    return json.dumps(facts_or_list, indent=1)


def run(tests):
    print(f"python {sys.version.split()[0]} ({sys.executable})")
    passed = 0
    for test in tests:
        print(f"test {test.__name__} ...", flush=True)
        try:
            test()
        except Exception:
            traceback.print_exc()
            print(f"FAILED: {test.__name__}", flush=True)
            print(f"{passed} passed, 1 failed")
            sys.exit(1)
        passed += 1
        print("  ok", flush=True)
    print(f"{passed} passed, 0 failed")
