"""Temporary files: uploads coming in, exports going out."""

import os
import tempfile
import weakref

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
JPEG_MAGIC = b"\xff\xd8\xff"


class UploadBuffer:
    """An uploaded request body spooled to disk while the handler works on it."""

    def __init__(self, spool_dir, request):
        fd, self.path = tempfile.mkstemp(prefix="upload-", suffix=".part", dir=spool_dir)
        self.file = os.fdopen(fd, "w+b")
        self.size = 0
        # The handler finds its uploads on the request, and an upload reports the request
        # it belongs to.
        self.request = request
        request.uploads.append(self)

    def write(self, data):
        self.file.write(data)
        self.size += len(data)

    def head(self, n):
        self.file.seek(0)
        return self.file.read(n)

    def __del__(self):
        self.file.close()
        if os.path.exists(self.path):
            os.remove(self.path)


def sniff_image(upload):
    head = upload.head(8)
    if head.startswith(PNG_MAGIC):
        return "png"
    if head.startswith(JPEG_MAGIC):
        return "jpeg"
    raise ValueError(f"unsupported image type in {upload.path}")


class ExportFile:
    """A generated export kept on disk until it has been sent, then removed."""

    def __init__(self, spool_dir, suffix=".csv"):
        fd, self.path = tempfile.mkstemp(prefix="export-", suffix=suffix, dir=spool_dir)
        os.close(fd)
        self._remove = weakref.finalize(self, os.remove, self.path)

    def remove(self):
        self._remove()
