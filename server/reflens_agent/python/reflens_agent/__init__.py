"""reflens live-session agent.

The reflens language server starts this package in a separate Python process
(``python -m reflens_agent --fd N``) to run the user's program and answer
questions about its objects. A long-running program can also accept a session
itself::

    import reflens_agent
    reflens_agent.listen()

which opens a local endpoint (a Unix socket readable only by this user, with a
random token written to an endpoint file) that the editor's "reflens: attach"
command connects to. Nothing listens on TCP unless ``listen(tcp_port=...)`` is
called, and then only on 127.0.0.1, still with the token.

The graph work (heap walk, referrers, chains, sizes) is in the ``_native``
extension module, written in Rust.
"""

from ._endpoint import listen, endpoint_directory

__all__ = ["listen", "endpoint_directory"]
