"""Debug probes that record a few weights from every checkpoint of a run."""

import glob
import os

import numpy as np
import torch

PROBES = {}
FIRST_ROWS = []
BASELINE = np.load(os.environ.get("BASELINE", "baseline.npy"))[:32].copy()


def probe_checkpoint(path, layer="encoder.embed.weight"):
    state = torch.load(path, map_location="cpu")
    weights = state[layer]
    PROBES[os.path.basename(path)] = weights[:8].clone()
    return float(weights.norm())


def probe_numpy_dump(path):
    dump = np.fromfile(path, dtype=np.float32)
    grid = dump.reshape(-1, 512)
    FIRST_ROWS.append(grid[0].copy())
    return grid.shape


def drift(name):
    probe = PROBES.get(name)
    if probe is None:
        return None
    return float((probe.numpy()[:, :32] - BASELINE[:8]).std())


def probe_run(directory):
    norms = {}
    for path in sorted(glob.glob(os.path.join(directory, "*.pt"))):
        norms[path] = probe_checkpoint(path)
    for path in sorted(glob.glob(os.path.join(directory, "*.bin"))):
        probe_numpy_dump(path)
    return norms
