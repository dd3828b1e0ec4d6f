"""Scratch directories for a document-conversion service, one per request."""

import os
import shutil
import subprocess
import tempfile
import weakref


class ScratchDir:
    def __init__(self, prefix="convert-"):
        self.path = tempfile.mkdtemp(prefix=prefix)
        self.outputs = []
        # Runs when the object dies or at exit, whichever comes first; holds only the path.
        self._finalizer = weakref.finalize(self, shutil.rmtree, self.path, ignore_errors=True)

    def file(self, name):
        return os.path.join(self.path, name)

    def cleanup(self):
        self._finalizer()


def convert(document_bytes, target="pdf"):
    scratch = ScratchDir()
    source = scratch.file("input.docx")
    with open(source, "wb") as handle:
        handle.write(document_bytes)
    subprocess.run(
        ["soffice", "--headless", "--convert-to", target, "--outdir", scratch.path, source],
        check=True,
        timeout=120,
    )
    with open(scratch.file(f"input.{target}"), "rb") as handle:
        result = handle.read()
    scratch.cleanup()
    return result
