"""One JSON message per line over a connected stream socket."""

import threading


class Channel:
    """Reads request lines and sends response and event lines; sending is thread-safe."""

    def __init__(self, sock):
        self._sock = sock
        self._reader = sock.makefile("rb")
        self._lock = threading.Lock()
        self._closed = False

    def lines(self):
        """Yields each line received, until the other side closes the connection."""
        while True:
            try:
                raw = self._reader.readline()
            except (OSError, ValueError):
                return
            if not raw:
                return
            yield raw.decode("utf-8", "replace").rstrip("\r\n")

    def send(self, line):
        """Sends one encoded message; quietly gives up if the other side has gone."""
        data = line.encode("utf-8") + b"\n"
        with self._lock:
            if self._closed:
                return
            try:
                self._sock.sendall(data)
            except OSError:
                self._closed = True

    def close(self):
        with self._lock:
            self._closed = True
        for closable in (self._reader, self._sock):
            try:
                closable.close()
            except OSError:
                pass
