"""Thumbnail rendering: a long-running helper process fed over a pipe."""

import json
import logging
import subprocess

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

    def render(self, source, width, height):
        request = {"src": source, "w": width, "h": height}
        self.process.stdin.write(json.dumps(request) + "\n")
        self.process.stdin.flush()
        reply = json.loads(self.process.stdout.readline())
        self.rendered += 1
        return reply["path"]

    def __del__(self):  # expect: RL201
        log.debug("stopping renderer after %d thumbnails", self.rendered)
        self.process.stdin.close()
        self.process.terminate()
        self.process.wait(timeout=5)


def thumbnails_for_album(album):
    worker = RenderWorker(quality=album.quality)
    return [worker.render(photo.path, 320, 240) for photo in album.photos]
