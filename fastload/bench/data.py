"""Bench data that looks like the real sets, generated deterministically and cached on disk.

:func:`imagenet_like` writes JPEGs mixed like ImageNet's training set: about 85 % near
500x375 (each side x0.8-1.2, a quarter portrait), 15 % large (long side 900-2000 px),
quality 75-95, 4:2:0 and 4:2:2 chroma, some progressive, some grayscale, a few CMYK
(Adobe-inverted, as Photoshop writes them). :func:`speech_clips` writes 16 kHz FLAC clips.
Files are on disk so a peer running in its own virtual environment reads the same bytes.

The cache folder is ``$FASTLOAD_BENCH_CACHE`` or ``~/.cache/fastload-bench``; each set is
written to a temporary folder and renamed into place, so a half-written set is never used.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np

__all__ = ["cache_dir", "imagenet_like", "read_all", "speech_clips"]

IMAGE_SET_VERSION = 1
AUDIO_SET_VERSION = 1


def cache_dir():
    root = os.environ.get("FASTLOAD_BENCH_CACHE") or os.path.join(
        os.path.expanduser("~"), ".cache", "fastload-bench"
    )
    Path(root).mkdir(parents=True, exist_ok=True)
    return Path(root)


def _cached(name, write):
    """Folder ``name`` in the cache, made by ``write(tmp_folder)`` when missing."""
    final = cache_dir() / name
    if (final / "manifest.json").exists():
        return final
    tmp = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=cache_dir()))
    try:
        write(tmp)
        try:
            tmp.rename(final)
        except OSError:  # another process won the race: use its copy
            if not (final / "manifest.json").exists():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return final


def _image_plan(n, rng):
    """Per-file parameters: (h, w, quality, subsampling, progressive, mode)."""
    plan = []
    n_large = max(1, round(0.15 * n))
    large = set(rng.choice(n, n_large, replace=False).tolist())
    special = rng.permutation(n).tolist()
    n_gray, n_cmyk, n_prog = (
        max(2, round(0.03 * n)),
        max(2, round(0.01 * n)),
        max(2, round(0.06 * n)),
    )
    gray = set(special[:n_gray])
    cmyk = set(special[n_gray : n_gray + n_cmyk])
    prog = set(special[n_gray + n_cmyk : n_gray + n_cmyk + n_prog])
    for i in range(n):
        if i in large:
            long = int(rng.uniform(900, 2000))
            short = int(long * rng.choice([0.75, 2 / 3, 0.8, 0.5625]))
            h, w = short, long
        else:
            h, w = int(375 * rng.uniform(0.8, 1.2)), int(500 * rng.uniform(0.8, 1.2))
        if rng.random() < 0.25:
            h, w = w, h
        quality = int(rng.integers(75, 96))
        subsampling = "4:2:2" if rng.random() < 0.3 else "4:2:0"
        mode = "L" if i in gray else "CMYK" if i in cmyk else "RGB"
        plan.append((h, w, quality, subsampling, i in prog, mode))
    return plan


def imagenet_like(n=240, seed=0):
    """Folder of ``n`` ImageNet-like JPEGs (``%05d.jpg``) and ``manifest.json`` describing
    each file; made once per (n, seed) and cached."""
    from fastload.testing.data.imagenet import encode_jpeg, photo_like_image

    def write(folder):
        rng = np.random.default_rng(seed)
        plan = _image_plan(n, rng)
        files = []
        for i, (h, w, q, sub, prog, mode) in enumerate(plan):
            data = encode_jpeg(
                photo_like_image(h, w, rng), q, subsampling=sub, progressive=prog, mode=mode
            )
            name = f"{i:05d}.jpg"
            (folder / name).write_bytes(data)
            files.append(
                {
                    "file": name,
                    "h": h,
                    "w": w,
                    "quality": q,
                    "subsampling": sub,
                    "progressive": prog,
                    "mode": mode,
                    "bytes": len(data),
                }
            )
        (folder / "manifest.json").write_text(json.dumps({"files": files}, indent=0))

    return _cached(f"imagenet-like-v{IMAGE_SET_VERSION}-n{n}-s{seed}", write)


def describe_images(folder):
    """One line: what the set holds (for the rows' notes)."""
    files = json.loads((Path(folder) / "manifest.json").read_text())["files"]
    n = len(files)
    large = sum(max(f["h"], f["w"]) >= 900 for f in files)
    return (
        f"{n} ImageNet-like JPEGs ({n - large} near 500x375, {large} large up to 2000 px; "
        f"q{min(f['quality'] for f in files)}-{max(f['quality'] for f in files)}; "
        f"{sum(f['subsampling'] == '4:2:2' for f in files)} 4:2:2; "
        f"{sum(f['progressive'] for f in files)} progressive, "
        f"{sum(f['mode'] == 'L' for f in files)} grayscale, "
        f"{sum(f['mode'] == 'CMYK' for f in files)} CMYK; "
        f"{np.mean([f['bytes'] for f in files]) / 1024:.0f} KB avg)"
    )


def speech_clips(n=12, seed=1234):
    """Folder of ``n`` speech-like 16 kHz mono FLAC clips of 2-16.5 s (``%03d.flac``)."""
    from fastload.testing.data.librispeech import encode_audio, speech_like

    def write(folder):
        rng = np.random.default_rng(seed)
        durations = np.linspace(2.0, 16.5, n)  # within the 16.7 s training filter
        rng.shuffle(durations)
        files = []
        for i, d in enumerate(durations):
            data = encode_audio(speech_like(float(d), rng), 16000)
            name = f"{i:03d}.flac"
            (folder / name).write_bytes(data)
            files.append({"file": name, "seconds": float(d)})
        (folder / "manifest.json").write_text(json.dumps({"files": files}, indent=0))

    return _cached(f"speech-v{AUDIO_SET_VERSION}-n{n}-s{seed}", write)


def read_all(folder):
    """(paths, bytes) of the set's files in manifest order."""
    folder = Path(folder)
    names = [f["file"] for f in json.loads((folder / "manifest.json").read_text())["files"]]
    paths = [str(folder / x) for x in names]
    return paths, [Path(p).read_bytes() for p in paths]
