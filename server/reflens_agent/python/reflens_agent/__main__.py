"""``python -m reflens_agent --fd N``: the process the reflens server spawns for a session.

The server passes one end of a socket pair as file descriptor N. Nothing of the user's code
runs until the server sends `run`.
"""

import argparse
import os
import socket
import sys
import threading


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m reflens_agent")
    parser.add_argument("--fd", type=int, required=True, help="the connected socket to the server")
    options = parser.parse_args(argv)

    # Imported here so that `python -m reflens_agent --help` works without the native module.
    from ._agent import Agent
    from ._channel import Channel

    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM, fileno=options.fd)
    os.set_inheritable(sock.fileno(), False)
    agent = Agent(Channel(sock), spawned=True)
    # A forked child must not talk on the parent's connection.
    os.register_at_fork(after_in_child=agent.detach_in_child)
    thread = threading.Thread(target=agent.serve, name="reflens-agent", daemon=True)
    thread.start()
    agent.main()


if __name__ == "__main__":
    sys.exit(main())
