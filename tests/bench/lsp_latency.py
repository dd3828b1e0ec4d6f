"""Edit-to-diagnostics latency of a language server on a 10,000-line file.

Starts the server over stdio, opens a generated 10,000-line Python module (about 220
classes and functions, one class in ten with an unclosed file), then sends N edits
(default 200) one at a time as incremental `didChange` notifications and measures, for each,
the time until `publishDiagnostics` for that version arrives. Prints median, p90, p99 and max.

    python3 lsp_latency.py --server "reflens server" [--server "ruff server"] [--edits 200]

Every server named gets the same file and the same edits, in the same run.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from queue import Empty, Queue

BLOCK = '''

class Store{n}:
    """A store of records, with a cache."""

    def __init__(self, path):
        self.path = path
        self.items = []
        self._index = {{}}

    def load(self):
        with open(self.path) as f:
            for line in f:
                self.items.append(line.strip())
        return len(self.items)

    def peek(self):
        {peek}

    def find(self, key, default=None):
        if key in self._index:
            return self._index[key]
        for position, item in enumerate(self.items):
            if item.startswith(key):
                self._index[key] = position
                return position
        return default

    def summary(self):
        total = sum(len(item) for item in self.items)
        return {{"count": len(self.items), "total": total, "path": self.path}}


def process{n}(values, limit=10):
    result = []
    for value in values:
        if value > limit:
            result.append(value * 2)
        else:
            result.append(value)
    return result
'''


def make_module(lines: int) -> str:
    parts = ["import json\nimport os\n"]
    n = 0
    while sum(p.count("\n") for p in parts) < lines:
        # One class in ten has a leak (a file never closed), as real code has a few findings.
        peek = "f = open(self.path)\n        return f.readline()" if n % 10 == 0 else "return self.items[:1]"
        parts.append(BLOCK.format(n=n, peek=peek))
        n += 1
    text = "".join(parts)
    return "\n".join(text.split("\n")[:lines]) + "\n"


class Client:
    def __init__(self, command: list[str], root: Path):
        self.proc = subprocess.Popen(
            command,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            cwd=root,
        )
        self.messages: Queue = Queue()
        self.next_id = 0
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        out = self.proc.stdout
        while True:
            length = None
            while True:
                line = out.readline()
                if not line:
                    return
                line = line.strip()
                if not line:
                    break
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
            body = json.loads(out.read(length))
            if "id" in body and "method" in body:  # a request from the server
                self.send({"jsonrpc": "2.0", "id": body["id"], "result": None})
                continue
            self.messages.put((time.perf_counter(), body))

    def send(self, message: dict) -> None:
        data = json.dumps(message).encode()
        self.proc.stdin.write(b"Content-Length: %d\r\n\r\n" % len(data) + data)
        self.proc.stdin.flush()

    def request(self, method: str, params: dict) -> dict:
        self.next_id += 1
        self.send({"jsonrpc": "2.0", "id": self.next_id, "method": method, "params": params})
        return self.wait(lambda m: m.get("id") == self.next_id)[1]

    def notify(self, method: str, params: dict) -> None:
        self.send({"jsonrpc": "2.0", "method": method, "params": params})

    def wait(self, accept, timeout: float = 30.0):
        deadline = time.monotonic() + timeout
        while True:
            try:
                stamp, message = self.messages.get(timeout=max(0.0, deadline - time.monotonic()))
            except Empty:
                raise SystemExit("timed out waiting for the server") from None
            if accept(message):
                return stamp, message

    def close(self) -> None:
        try:
            self.request("shutdown", {})
            self.notify("exit", {})
            self.proc.wait(timeout=10)
        except Exception:
            self.proc.kill()


def measure(command: list[str], edits: int, lines: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        path = root / "big.py"
        text = make_module(lines)
        path.write_text(text)
        uri = path.as_uri()
        client = Client(command, root)
        client.request(
            "initialize",
            {
                "processId": os.getpid(),
                "rootUri": root.as_uri(),
                "workspaceFolders": [{"uri": root.as_uri(), "name": "bench"}],
                "capabilities": {
                    "textDocument": {"publishDiagnostics": {"versionSupport": True}},
                    "window": {"workDoneProgress": False},
                },
            },
        )
        client.notify("initialized", {})
        client.notify(
            "textDocument/didOpen",
            {"textDocument": {"uri": uri, "languageId": "python", "version": 1, "text": text}},
        )
        client.wait(
            lambda m: m.get("method") == "textDocument/publishDiagnostics"
            and m["params"]["uri"] == uri
        )
        samples = []
        source_lines = text.split("\n")
        for i in range(edits):
            version = i + 2
            # Type one character at the end of a line in the middle of the file, alternating
            # between adding and removing it, so that the file stays valid Python.
            line = lines // 2 + (i % 50)
            while not source_lines[line].strip():
                line += 1
            end = len(source_lines[line])
            if i % 2 == 0:
                change = {"range": {"start": {"line": line, "character": end}, "end": {"line": line, "character": end}}, "text": " "}
                source_lines[line] += " "
            else:
                change = {"range": {"start": {"line": line, "character": end - 1}, "end": {"line": line, "character": end}}, "text": ""}
                source_lines[line] = source_lines[line][:-1]
            sent = time.perf_counter()
            client.notify(
                "textDocument/didChange",
                {"textDocument": {"uri": uri, "version": version}, "contentChanges": [change]},
            )
            received, _ = client.wait(
                lambda m: m.get("method") == "textDocument/publishDiagnostics"
                and m["params"]["uri"] == uri
                and m["params"].get("version") in (version, None)
            )
            samples.append((received - sent) * 1000)
        client.close()
    samples.sort()

    def pct(p: float) -> float:
        return samples[min(len(samples) - 1, round(p / 100 * (len(samples) - 1)))]

    return {
        "median": statistics.median(samples),
        "p90": pct(90),
        "p99": pct(99),
        "max": samples[-1],
        "edits": len(samples),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--server", action="append", required=True, help="a server command line")
    parser.add_argument("--edits", type=int, default=200)
    parser.add_argument("--lines", type=int, default=10_000)
    args = parser.parse_args()
    print(f"edit-to-diagnostics latency, {args.lines:,}-line file, {args.edits} edits, one at a time\n")
    print("| server | median | p90 | p99 | max |")
    print("|---|---:|---:|---:|---:|")
    for server in args.server:
        command = shlex.split(server)
        # The server runs in a temporary directory: resolve a relative program path first.
        if "/" in command[0]:
            command[0] = str(Path(command[0]).resolve())
        result = measure(command, args.edits, args.lines)
        print(
            f"| `{server}` | {result['median']:.1f} ms | {result['p90']:.1f} ms | "
            f"{result['p99']:.1f} ms | {result['max']:.1f} ms |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
