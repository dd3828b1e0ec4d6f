"""Accepting a session in a running program: ``reflens_agent.listen()``.

The endpoint is a Unix socket that only this user can open (mode 0600, in a 0700 directory
under $XDG_RUNTIME_DIR), and a random token written to an endpoint file next to it (also
0600): a client must send the token in its first message. TCP is used only when asked, on
127.0.0.1, with the same token.
"""

import atexit
import json
import os
import secrets
import socket
import stat
import sys
import tempfile
import threading


def endpoint_directory():
    """Where endpoints are published: $XDG_RUNTIME_DIR/reflens, else a per-user directory in
    the temporary directory. Created 0700; refused if another user owns it."""
    base = os.environ.get("XDG_RUNTIME_DIR")
    if base and os.path.isdir(base):
        directory = os.path.join(base, "reflens")
    else:
        directory = os.path.join(tempfile.gettempdir(), "reflens-%d" % os.getuid())
    try:
        os.mkdir(directory, 0o700)
    except FileExistsError:
        pass
    info = os.lstat(directory)
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid():
        raise PermissionError("%s is not a directory of this user's" % directory)
    if stat.S_IMODE(info.st_mode) & 0o077:
        os.chmod(directory, 0o700)
    return directory


def _write_private(path, text):
    """Writes a file only its owner can read, atomically."""
    temporary = path + ".tmp"
    try:
        os.unlink(temporary)
    except FileNotFoundError:
        pass
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    os.replace(temporary, path)


def listen(path=None, *, tcp_port=None):
    """Accepts reflens sessions (one at a time) on a private endpoint, in background threads.
    Returns the endpoint's description: {"pid", "socket", "token", "endpoint_file", "tcp"}."""
    directory = endpoint_directory()
    pid = os.getpid()
    socket_path = path or os.path.join(directory, "%d.sock" % pid)
    endpoint_file = os.path.join(directory, "%d.json" % pid)
    token = secrets.token_urlsafe(32)

    try:
        os.unlink(socket_path)
    except FileNotFoundError:
        pass
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    old_umask = os.umask(0o177)
    try:
        server.bind(socket_path)
    finally:
        os.umask(old_umask)
    os.chmod(socket_path, 0o600)
    server.listen(1)

    servers = [server]
    tcp = None
    if tcp_port is not None:
        tcp_server = socket.create_server(("127.0.0.1", int(tcp_port)))
        servers.append(tcp_server)
        tcp = ["127.0.0.1", tcp_server.getsockname()[1]]

    endpoint = {
        "pid": pid,
        "socket": socket_path,
        "token": token,
        "endpoint_file": endpoint_file,
        "tcp": tcp,
        "python": sys.version,
        "argv": list(sys.argv),
    }
    _write_private(endpoint_file, json.dumps(endpoint))

    for listener in servers:
        thread = threading.Thread(
            target=_accept_forever, args=(listener, token), name="reflens-listen", daemon=True
        )
        thread.start()

    def _remove():
        for leftover in (socket_path, endpoint_file):
            try:
                os.unlink(leftover)
            except OSError:
                pass

    atexit.register(_remove)
    return endpoint


def _accept_forever(listener, token):
    from ._agent import Agent
    from ._channel import Channel

    while True:
        try:
            connection, _ = listener.accept()
        except OSError:
            return
        agent = Agent(Channel(connection), spawned=False, token=token)
        try:
            agent.serve()
        finally:
            try:
                connection.close()
            except OSError:
                pass
