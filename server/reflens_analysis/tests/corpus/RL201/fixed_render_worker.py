"""Thumbnail rendering: a long-running helper process fed over a pipe."""

import json
import logging
import subprocess
import weakref

log = logging.getLogger(__name__)


class RenderWorker:
    """Wraps one `thumbnailer --serve` process; requests are JSON lines."""

    def __init__(self, binary="thumbnailer", quality=85):
        self.quality = quality
        self.process = subprocess.Popen(
            [binary, "--serve", f"--quality={quality}"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self.rendered = 0
        self._finalizer = weakref.finalize(self, RenderWorker._finalize, self.process)

    @staticmethod
    def _finalize(process):
        process.stdin.close()
        process.terminate()
        process.wait(timeout=5)

    def close(self):
        log.debug("stopping renderer after %d thumbnails", self.rendered)
        self._finalizer()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()

    def render(self, source, width, height):
        request = {"src": source, "w": width, "h": height}
        self.process.stdin.write(json.dumps(request) + "\n")
        self.process.stdin.flush()
        reply = json.loads(self.process.stdout.readline())
        self.rendered += 1
        return reply["path"]


def thumbnails_for_album(album):
    with RenderWorker(quality=album.quality) as worker:
        return [worker.render(photo.path, 320, 240) for photo in album.photos]
