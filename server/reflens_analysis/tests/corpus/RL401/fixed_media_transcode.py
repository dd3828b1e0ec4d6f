"""Media pipeline worker: probes uploads and transcodes them with ffmpeg."""

import json
import shutil
import subprocess
import tempfile
import zipfile
from pathlib import Path


def probe_duration(path):
    proc = subprocess.Popen(
        ["ffprobe", "-v", "quiet", "-print_format", "json", "-show_format", str(path)],
        stdout=subprocess.PIPE,
    )
    out, _ = proc.communicate()
    info = json.loads(out)
    return float(info["format"]["duration"])


def transcode(source, target, bitrate="2M"):
    with tempfile.NamedTemporaryFile(suffix=".mp4", delete=False) as scratch:
        result = subprocess.run(
            ["ffmpeg", "-y", "-i", str(source), "-b:v", bitrate, scratch.name],
            capture_output=True,
        )
    if result.returncode != 0:
        raise RuntimeError(result.stderr.decode(errors="replace")[-500:])
    shutil.move(scratch.name, target)
    return target


def bundle_renditions(paths, archive_path):
    with zipfile.ZipFile(archive_path, "w") as archive:
        for path in paths:
            archive.write(path, arcname=Path(path).name)
    return archive_path


def handle_upload(job):
    if probe_duration(job.source) > job.max_seconds:
        return job.reject("too long")
    renditions = [transcode(job.source, job.target(rate), rate) for rate in ("1M", "4M")]
    return job.complete(bundle_renditions(renditions, job.target("zip")))
