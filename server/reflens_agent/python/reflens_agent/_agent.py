"""The agent: runs the program, pauses it at probes, and answers the server's requests.

Requests are read on the agent's own thread, so the program keeps its main thread (and the
agent can answer while the program runs, waits or is paused). Every message is decoded and
encoded by ``_native``, with the protocol types the server uses.
"""

import dis
import gc
import hmac
import importlib
import importlib.util
import os
import sys
import threading
import traceback
import types

from . import _native
from ._probes import Probes, normalize

AGENT_DIR = os.path.dirname(os.path.abspath(__file__))
_STDLIB_DIRS = tuple(
    normalize(os.path.dirname(module.__file__)) + os.sep for module in (os, threading) if getattr(module, "__file__", None)
)


class AgentError(Exception):
    """A request that cannot be answered, with the protocol's error code."""

    def __init__(self, code, message):
        super().__init__(message)
        self.code = code
        self.message = message


def _camel_to_snake(name):
    return "".join("_" + c.lower() if c.isupper() else c for c in name)


class Agent:
    def __init__(self, channel, *, spawned, token=None):
        self.channel = channel
        self.spawned = spawned
        self.token = token
        self.greeted = False
        self.state = "ready" if spawned else "running"
        self.lock = threading.RLock()
        self.probes = Probes(self._hit_probe)
        self.pause_lock = threading.Lock()
        self.paused = None  # (frame, thread ident) while a thread waits at a probe
        self.continue_event = threading.Event()
        self.run_request = None
        self.run_ready = threading.Event()
        self.main_globals = None
        self.main_file = None
        # The heap index lives on the agent's thread only (the native object must be used and
        # dropped there); other threads just bump the generation to make it stale.
        self.heap = None
        self.heap_generation = 0
        self.heap_built_at = -1
        self.agent_threads = set()
        self.detached = False

    # ---- the message loop ----------------------------------------------------------------

    def serve(self):
        """Reads requests until the connection closes (runs on the agent's thread)."""
        self.agent_threads.add(threading.get_ident())
        for line in self.channel.lines():
            if self.detached:
                return
            self.handle(line)
        self.disconnected()

    def handle(self, line):
        try:
            request = _native.decode_request(line)
        except ValueError as error:
            self.channel.send(_native.encode_error(0, "badRequest", str(error)))
            return
        request_id = request["id"]
        method = request["method"]
        params = request.get("params") or {}
        if not self.greeted and method != "hello":
            self.channel.send(_native.encode_error(request_id, "wrongState", "the first request must be `hello`"))
            return
        handler = getattr(self, "on_" + _camel_to_snake(method), None)
        try:
            if handler is None:
                raise AgentError("badRequest", "unknown method `%s`" % method)
            result = handler(**params)
        except AgentError as error:
            self.channel.send(_native.encode_error(request_id, error.code, error.message))
            if error.code == "unauthorized":
                self.channel.close()
            return
        except BaseException as error:  # a bug here must not end the session
            detail = "".join(traceback.format_exception_only(type(error), error)).strip()
            self.channel.send(_native.encode_error(request_id, "internal", detail))
            return
        if isinstance(result, RawJson):
            self.channel.send(_native.encode_response_json(request_id, result.text))
        else:
            self.channel.send(_native.encode_response(request_id, result))
        if method == "stop":
            self.stop_now()

    def disconnected(self):
        if self.spawned:
            # The server has gone: so does the session.
            self.exit(0)
        self._drop_heap()
        self.probes.uninstall()
        self._release_pause()

    def send_state(self, state, location=None, detail=None):
        with self.lock:
            self.state = state
        event = {"event": "state", "state": state}
        if location is not None:
            event["location"] = location
        if detail is not None:
            event["detail"] = detail
        self.channel.send(_native.encode_event(event))

    # ---- requests ------------------------------------------------------------------------

    def on_hello(self, protocol, token=None):
        if protocol != _native.PROTOCOL_VERSION:
            raise AgentError(
                "badRequest",
                "the server speaks protocol %s, this agent %s: use the agent that comes with the server"
                % (protocol, _native.PROTOCOL_VERSION),
            )
        if self.token is not None and not hmac.compare_digest(str(token or ""), self.token):
            raise AgentError("unauthorized", "wrong token")
        self.greeted = True
        if not self.spawned:
            self.probes.install_everywhere()
        return {
            "protocol": _native.PROTOCOL_VERSION,
            "pid": os.getpid(),
            "python": sys.version,
            "python_version": [sys.version_info[0], sys.version_info[1]],
            "executable": sys.executable,
        }

    def on_run(self, target, args=None, cwd=None, probes=None):
        with self.lock:
            if not self.spawned:
                raise AgentError("wrongState", "an attached program is already running")
            if self.state != "ready" or self.run_request is not None:
                raise AgentError("wrongState", "the program has already been started")
            self.probes.set([(p["file"], p["line"]) for p in probes or []])
            self.run_request = (target, list(args or []), cwd)
        self.run_ready.set()
        return {}

    def on_set_probes(self, probes):
        self.probes.set([(p["file"], p["line"]) for p in probes])
        self.probes.watch_running_frames()
        return {}

    def on_continue(self):
        with self.lock:
            if self.paused is None:
                raise AgentError("wrongState", "the program is not paused")
        self._release_pause()
        return {}

    def on_inspect(self, location):
        expression = location["expression"]
        container, scope = self._scope_of(location["file"], location["line"], expression["name"])
        heap = self._heap()
        try:
            text = heap.inspect(container, expression["name"], expression.get("steps") or [],
                                _source(expression), scope)
        except LookupError as error:
            raise AgentError("notFound", str(error))
        except TypeError as error:
            raise AgentError("notEvaluable", str(error))
        finally:
            self._done_with(heap)
        return RawJson(text)

    def on_refcounts(self, file, names):
        module_globals = self._module_globals(normalize(file))
        if module_globals is None:
            return []
        heap = self._heap()
        try:
            return RawJson(heap.refcounts(module_globals, list(names)))
        finally:
            self._done_with(heap)

    def on_growth(self, target, iterations):
        with self.lock:
            if self.state == "running" and self.spawned:
                raise AgentError("wrongState", "the program is running: let it finish or pause it first")
        function = self._callable(target)
        import tracemalloc

        started = not tracemalloc.is_tracing()
        if started:
            tracemalloc.start(25)
        self._drop_heap()
        excluded = self._exclusions()
        try:
            text = _native.growth(function, int(iterations), target, excluded, [AGENT_DIR + os.sep])
        finally:
            excluded.clear()
            if started:
                tracemalloc.stop()
        return RawJson(text)

    def on_garbage(self):
        self._drop_heap()
        old = gc.get_debug()
        gc.set_debug(old | gc.DEBUG_SAVEALL)
        excluded = []
        try:
            gc.collect()
            objects = list(gc.garbage)
            excluded = self._exclusions()
            excluded.append(objects)
            text = _native.garbage(objects, excluded)
        finally:
            excluded.clear()
            del gc.garbage[:]
            objects = None
            gc.set_debug(old)
            gc.collect()
        return RawJson(text)

    def on_stop(self):
        return {}

    def stop_now(self):
        if self.spawned:
            self.exit(0)
        self.channel.close()
        self.probes.uninstall()
        self._release_pause()

    # ---- running the program (spawned sessions; on the main thread) ---------------------

    def main(self):
        self.run_ready.wait()
        target, args, cwd = self.run_request
        if cwd:
            try:
                os.chdir(cwd)
            except OSError as error:
                self.send_state("finished", detail="cannot change to %s: %s" % (cwd, error))
                self.wait_for_stop()
        self.send_state("running")
        detail = None
        try:
            self.probes.install_for_current_thread()
            self._run(target, args)
        except SystemExit as error:
            detail = "SystemExit(%r)" % (error.code,)
        except BaseException:
            detail = self._traceback_of_program()
        finally:
            self.probes.uninstall()
        sys.stdout.flush()
        sys.stderr.flush()
        self._heap_changed()
        self.send_state("finished", detail=detail)
        self.wait_for_stop()

    def wait_for_stop(self):
        # The program's globals stay inspectable until the server stops the session.
        threading.Event().wait()

    def _run(self, target, args):
        kind = target["kind"]
        if kind == "script":
            path = os.path.abspath(target["path"])
            sys.argv = [path] + args
            sys.path.insert(0, os.path.dirname(path))
            self._exec_as_main(path, self._read_code(path))
        elif kind == "module":
            sys.path.insert(0, os.getcwd())
            module_name, function = target["module"], target.get("function")
            if function:
                sys.argv = [module_name] + args
                module = importlib.import_module(module_name)
                self.main_globals, self.main_file = module.__dict__, normalize(getattr(module, "__file__", "") or "")
                getattr(module, function)()
            else:
                spec = importlib.util.find_spec(module_name)
                if spec is None:
                    raise ModuleNotFoundError("no module named %r" % module_name)
                if spec.submodule_search_locations is not None:
                    spec = importlib.util.find_spec(module_name + ".__main__")
                sys.argv = [spec.origin] + args
                self._exec_as_main(spec.origin, spec.loader.get_code(spec.name))
        elif kind == "pytest":
            sys.path.insert(0, os.getcwd())
            import pytest

            sys.argv = ["pytest"] + args
            code = pytest.main([target["node_id"], "-p", "no:cacheprovider"] + args)
            if code:
                raise SystemExit(int(code))
        else:
            raise AgentError("badTarget", "unknown target kind %r" % kind)

    @staticmethod
    def _read_code(path):
        with open(path, "rb") as source:
            return compile(source.read(), path, "exec")

    def _exec_as_main(self, path, code):
        """Runs code as __main__ in a module whose globals survive an exception (runpy's do
        not), so that they can be inspected after the program ends either way."""
        module = types.ModuleType("__main__")
        module.__file__ = path
        module.__builtins__ = __builtins__
        module.__loader__ = None
        self.main_globals = module.__dict__
        self.main_file = normalize(path)
        sys.modules["__main__"] = module
        exec(code, module.__dict__)

    def _traceback_of_program(self):
        kind, value, tb = sys.exc_info()
        # Drop the agent's own frames from the top of the traceback.
        while tb is not None and normalize(tb.tb_frame.f_code.co_filename).startswith(AGENT_DIR):
            tb = tb.tb_next
        return "".join(traceback.format_exception(kind, value, tb, limit=30)).strip()

    # ---- probes --------------------------------------------------------------------------

    def _hit_probe(self, frame, line):
        """On the program's thread: report the pause and wait for `continue`."""
        if self.detached:
            return
        with self.pause_lock:
            with self.lock:
                self.paused = (frame, threading.get_ident())
                self.continue_event.clear()
            self._heap_changed()
            self.send_state(
                "paused",
                location={"file": normalize(frame.f_code.co_filename), "line": line, "function": frame.f_code.co_name},
            )
            self.continue_event.wait()
            with self.lock:
                self.paused = None
            self._heap_changed()
            if not self.detached:
                self.send_state("running")

    def _release_pause(self):
        self.continue_event.set()

    # ---- finding objects -----------------------------------------------------------------

    def _scope_of(self, file, line, name):
        """(container, description): where `name` lives for an expression at file:line."""
        file = normalize(file)
        with self.lock:
            paused = self.paused
        if paused is not None:
            frame = paused[0]
            while frame is not None:
                code = frame.f_code
                if normalize(code.co_filename) == file and _code_contains_line(code, line):
                    locals_ = frame.f_locals
                    if name in locals_:
                        return locals_, "local of %s() at %s:%d" % (code.co_name, os.path.basename(file), frame.f_lineno)
                    if name in frame.f_globals:
                        return frame.f_globals, "global in module %s" % frame.f_globals.get("__name__", "?")
                    break
                frame = frame.f_back
        module_globals = self._module_globals(file)
        if module_globals is not None and name in module_globals:
            return module_globals, "global in module %s" % module_globals.get("__name__", "?")
        raise AgentError(
            "notFound",
            "`%s` is not defined in %s now (the program has not run that code yet, or it is a local "
            "of a function that is not paused)" % (name, os.path.basename(file)),
        )

    def _module_globals(self, file):
        if self.main_file is not None and file == self.main_file and self.main_globals is not None:
            return self.main_globals
        for module in list(sys.modules.values()):
            path = getattr(module, "__file__", None)
            if path and normalize(path) == file:
                return module.__dict__
        return None

    def _callable(self, target):
        module_part, _, function_name = target.rpartition(":")
        if not module_part or not function_name:
            raise AgentError("badTarget", "expected `module:function` or `path/to/file.py:function`, got %r" % target)
        if module_part.endswith(".py") or os.sep in module_part:
            path = normalize(os.path.abspath(module_part))
            module_globals = self._module_globals(path)
            if module_globals is None:
                spec = importlib.util.spec_from_file_location("__reflens_growth_target__", path)
                if spec is None:
                    raise AgentError("badTarget", "cannot load %s" % path)
                module = importlib.util.module_from_spec(spec)
                sys.modules[spec.name] = module
                spec.loader.exec_module(module)
                module_globals = module.__dict__
        else:
            if os.getcwd() not in sys.path:
                sys.path.insert(0, os.getcwd())
            try:
                module_globals = importlib.import_module(module_part).__dict__
            except ImportError as error:
                raise AgentError("badTarget", "cannot import %s: %s" % (module_part, error))
        function = module_globals.get(function_name)
        if not callable(function):
            raise AgentError("badTarget", "%s has no function %s" % (module_part, function_name))
        return function

    # ---- the heap ------------------------------------------------------------------------

    def _heap(self):
        """The index of the heap (on the agent's thread): kept while the program stands still,
        fresh while it runs."""
        with self.lock:
            generation = self.heap_generation
            current = self.heap if self.heap_built_at == generation else None
        if current is not None:
            return current
        self._drop_heap()
        roots, excluded = self._roots(), self._exclusions()
        try:
            heap = _native.Heap(roots, excluded)
        finally:
            # Both lists hold frames, and `excluded` holds the frame that built it: emptied,
            # no cycle keeps a paused program's frames alive after it moves on.
            roots.clear()
            excluded.clear()
        with self.lock:
            # Cached only while nothing changes the heap (a paused program's other threads may
            # still run; the index keeps what it saw alive, so it stays safe, if a little old).
            if self.state in ("paused", "finished", "ready") and generation == self.heap_generation:
                self.heap = heap
                self.heap_built_at = generation
        return heap

    def _heap_changed(self):
        """Any thread: the program moved on, so the cached index is stale."""
        with self.lock:
            self.heap_generation += 1

    def _done_with(self, heap):
        with self.lock:
            cached = heap is self.heap
        if not cached:
            heap.close()

    def _drop_heap(self):
        """On the agent's thread only."""
        with self.lock:
            heap, self.heap = self.heap, None
            self.heap_built_at = -1
        if heap is not None:
            heap.close()

    def _agent_frame(self, frame):
        return normalize(frame.f_code.co_filename).startswith(AGENT_DIR)

    def _roots(self):
        roots = []
        seen_main = False
        for name, module in list(sys.modules.items()):
            if module is None or name == "reflens_agent" or name.startswith("reflens_agent."):
                continue
            if getattr(module, "__dict__", None) is self.main_globals:
                seen_main = True
            roots.append(("module %s" % name, module))
        if self.main_globals is not None and not seen_main:
            roots.append(("module __main__", self.main_globals))
        for ident, frame in sys._current_frames().items():
            if ident in self.agent_threads:
                continue
            while frame is not None:
                if not self._agent_frame(frame):
                    code = frame.f_code
                    roots.append(
                        ("frame of %s() at %s:%d" % (code.co_name, os.path.basename(code.co_filename), frame.f_lineno), frame)
                    )
                frame = frame.f_back
        for thread in threading.enumerate():
            if thread.ident not in self.agent_threads:
                roots.append(("thread %s" % thread.name, thread))
        return roots

    def _exclusions(self):
        """Objects of the agent's: never referrers, never chain steps."""
        excluded = [self, self.channel, self.probes]
        frames = sys._current_frames()
        for ident, frame in frames.items():
            while frame is not None:
                if ident in self.agent_threads or self._agent_frame(frame):
                    excluded.append(frame)
                frame = frame.f_back
        # This frame is in `frames` and in `excluded`: break both cycles through our locals.
        # (The caller empties `excluded` when done with it.)
        frames.clear()
        frames = None
        with self.lock:
            paused = self.paused
        if paused is not None and sys.version_info < (3, 13):
            # Reading a frame's locals before 3.13 leaves a snapshot dict on the frame: ours.
            frame = paused[0]
            while frame is not None:
                excluded.append(frame.f_locals)
                frame = frame.f_back
        paused = None
        # (The native side also excludes this list itself; it must not contain itself, or the
        # cycle would keep the frames in it alive until the next collection.)
        return excluded

    # ---- process life --------------------------------------------------------------------

    def exit(self, status):
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(status)

    def detach_in_child(self):
        """After fork(), in the child: the session belongs to the parent."""
        self.detached = True
        self.probes.uninstall()
        self.continue_event.set()


class RawJson:
    """A result that `_native` has already encoded."""

    __slots__ = ("text",)

    def __init__(self, text):
        self.text = text


def _source(expression):
    text = expression["name"]
    for step in expression.get("steps") or []:
        kind = step["kind"]
        if kind == "attribute":
            text += "." + step["name"]
        elif kind == "index":
            text += "[%d]" % step["index"]
        else:
            text += "[%r]" % (step["key"],)
    return text


def _code_contains_line(code, line):
    lines = [number for _, number in dis.findlinestarts(code) if number is not None]
    if not lines:
        return False
    last = max(lines)
    # Lines of nested functions belong to those, but a nested def's own line is in ours.
    return code.co_firstlineno <= line <= last
