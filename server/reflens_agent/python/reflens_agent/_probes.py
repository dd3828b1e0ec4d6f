"""Probes: pause a thread before a given line runs.

Python 3.12+ has ``sys.monitoring``: line events are enabled for every thread
at once and disabled again, location by location, where there is no probe, so
a running program pays almost nothing. Older versions use ``sys.settrace``,
which is per thread: the spawned agent installs it in the main thread before
the program starts (and ``threading.settrace`` for the threads it starts); its
global trace function only asks for line events in files that have probes.
"""

import os
import sys
import threading

_MONITORING = sys.version_info >= (3, 12)


def normalize(path):
    """The form file names are compared in: absolute, symlinks resolved."""
    try:
        return os.path.realpath(path)
    except (OSError, ValueError):
        return path


class Probes:
    """The set of (file, line) to pause at, and the machinery that watches for them."""

    def __init__(self, on_hit):
        # on_hit(frame, line) is called on the thread that reached the line; it returns when
        # that thread may go on.
        self._on_hit = on_hit
        self._lines = frozenset()
        self._files = frozenset()
        self._file_cache = {}
        self._installed = False
        self._tool = None

    def set(self, probes):
        self._lines = frozenset((normalize(file), int(line)) for file, line in probes)
        self._files = frozenset(file for file, _ in self._lines)
        if _MONITORING and self._tool is not None:
            # Locations disabled while they had no probe must be looked at again.
            sys.monitoring.restart_events()

    def _real(self, filename):
        real = self._file_cache.get(filename)
        if real is None:
            real = self._file_cache[filename] = normalize(filename)
        return real

    # ---- installation --------------------------------------------------------------------

    def install_for_current_thread(self):
        """Called on the program's main thread before it starts (spawned sessions)."""
        if _MONITORING:
            self._install_monitoring()
            return
        sys.settrace(self._global_trace)
        threading.settrace(self._global_trace)
        self._installed = True

    def install_everywhere(self):
        """Called from the agent's thread (attached sessions): every thread, where possible."""
        if _MONITORING:
            self._install_monitoring()
            return
        # Before 3.12 a trace function can only be set by the thread itself: new threads get
        # it; threads already running do not (a documented limitation of attached sessions).
        threading.settrace(self._global_trace)
        self._installed = True

    def uninstall(self):
        if _MONITORING and self._tool is not None:
            sys.monitoring.set_events(self._tool, 0)
            sys.monitoring.register_callback(self._tool, sys.monitoring.events.LINE, None)
            sys.monitoring.free_tool_id(self._tool)
            self._tool = None
        elif self._installed:
            sys.settrace(None)
            threading.settrace(None)
            self._installed = False

    # ---- sys.monitoring (3.12+) ----------------------------------------------------------

    def _install_monitoring(self):
        if self._tool is not None:
            return
        monitoring = sys.monitoring
        for tool in (monitoring.DEBUGGER_ID, 2, 3, 4):
            try:
                monitoring.use_tool_id(tool, "reflens")
            except ValueError:
                continue
            self._tool = tool
            break
        if self._tool is None:
            return
        monitoring.register_callback(self._tool, monitoring.events.LINE, self._on_line)
        monitoring.set_events(self._tool, monitoring.events.LINE)

    def _on_line(self, code, line):
        if (self._real(code.co_filename), line) in self._lines:
            frame = sys._getframe(1)
            self._on_hit(frame, line)
            return None
        if self._real(code.co_filename) in self._files:
            # A file with probes: keep watching it (its probes may change without a restart).
            return None
        return sys.monitoring.DISABLE

    # ---- sys.settrace (3.9 to 3.11) -------------------------------------------------------

    def _global_trace(self, frame, event, arg):
        if event == "call" and self._real(frame.f_code.co_filename) in self._files:
            return self._local_trace
        return None

    def _local_trace(self, frame, event, arg):
        if event == "line" and (self._real(frame.f_code.co_filename), frame.f_lineno) in self._lines:
            self._on_hit(frame, frame.f_lineno)
        return self._local_trace

    def watch_running_frames(self):
        """Before 3.12: make frames already running in probe files stop at new probes (only
        effective on threads whose trace function is ours)."""
        if _MONITORING:
            return
        for frame in sys._current_frames().values():
            while frame is not None:
                if self._real(frame.f_code.co_filename) in self._files and frame.f_trace is None:
                    frame.f_trace = self._local_trace
                frame = frame.f_back
