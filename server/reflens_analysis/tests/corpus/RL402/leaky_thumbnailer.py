"""Generates thumbnails for uploaded images in the background."""

import subprocess
from concurrent.futures import ThreadPoolExecutor

import requests


class Thumbnailer:
    def __init__(self, storage_url, workers=4):
        self.storage_url = storage_url
        self._executor = ThreadPoolExecutor(max_workers=workers)  # expect: RL402
        self._http = requests.Session()
        self._http.headers["User-Agent"] = "thumbnailer/1.0"

    def _fetch(self, key):
        resp = self._http.get(f"{self.storage_url}/{key}", timeout=10)
        resp.raise_for_status()
        return resp.content

    def _resize(self, key, size):
        data = self._fetch(key)
        return len(data) // size

    def submit(self, key, sizes=(64, 256)):
        return [self._executor.submit(self._resize, key, size) for size in sizes]


class Transcoder:
    def __init__(self, source):
        self.proc = subprocess.Popen(  # expect: RL402
            ["ffmpeg", "-i", source, "-f", "mp4", "pipe:1"],
            stdout=subprocess.PIPE,
        )

    def chunks(self, size=65536):
        while True:
            chunk = self.proc.stdout.read(size)
            if not chunk:
                break
            yield chunk


def handle_upload(storage_url, key):
    thumbnailer = Thumbnailer(storage_url)
    return thumbnailer.submit(key)
