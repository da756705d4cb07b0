"""A tiny ImageNet in its real on-disk layout, plus in-memory JPEG helpers for tests.

``make_imagenet(root)`` writes ``train/<wnid>/<wnid>_<n>.JPEG`` (and ``val/<wnid>/...``
when ``val_per_class > 0``) with photo-like content: smooth gradients, multi-scale noise
and hard edges, so quality-90 JPEGs come out around 0.5-1 byte per pixel like real
photos. Like the real dataset it contains a few grayscale, CMYK and progressive JPEGs
and one PNG file named ``.JPEG``. Everything is deterministic for a given ``seed``.
"""

import io
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from fastload._rng import as_generator

__all__ = ["encode_jpeg", "encode_png", "make_imagenet", "photo_like_image", "wnids"]


def wnids(classes):
    """Synthetic WordNet ids in sorted order: ``['n01440764', 'n01441764', ...]``."""
    return [f"n{1440764 + 1000 * i:08d}" for i in range(classes)]


def _upsampled_noise(h, w, cell, rng):
    """Noise with a feature size of about ``cell`` pixels, (h, w, 3) float32 in [-1, 1]."""
    gh, gw = max(2, h // cell + 2), max(2, w // cell + 2)
    small = rng.uniform(-1.0, 1.0, size=(gh, gw, 3)).astype(np.float32)
    if cell == 1:
        return small[:h, :w]
    chans = [
        np.asarray(Image.fromarray(small[:, :, c], mode="F").resize((w, h), Image.BICUBIC))
        for c in range(3)
    ]
    return np.stack(chans, axis=-1)


def photo_like_image(h, w, rng=None):
    """A deterministic photo-like RGB image.

    Parameters
    ----------
    h, w : int
        Size in pixels (>= 1).
    rng : int | numpy.random.Generator | None
        Source of randomness.

    Returns
    -------
    image : ndarray, shape (h, w, 3), uint8
        Gradients + noise at feature sizes 48, 12, 3 and 1 px + a few filled shapes with
        hard edges; about 0.5-0.6 byte/pixel as a quality-90 4:2:0 JPEG.
    """
    rng = as_generator(rng)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    img = np.empty((h, w, 3), np.float32)
    for c in range(3):
        a, b = rng.uniform(-1, 1, size=2)
        img[:, :, c] = rng.uniform(60, 190) + 60 * (a * yy / max(h, 1) + b * xx / max(w, 1))
    # coarse colour blotches, then mostly-luminance fine texture (chroma is subsampled)
    for cell, amp, luma in ((48, 40.0, False), (12, 25.0, False), (3, 34.0, True), (1, 36.0, True)):
        noise = _upsampled_noise(h, w, cell, rng)
        if luma:
            noise = 0.8 * noise[:, :, :1] + 0.2 * noise
        img += amp * noise
    canvas = Image.fromarray(np.clip(img, 0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(canvas)
    for _ in range(int(rng.integers(3, 8))):
        x0, x1 = sorted(rng.integers(0, max(w, 2), size=2).tolist())
        y0, y1 = sorted(rng.integers(0, max(h, 2), size=2).tolist())
        colour = tuple(int(v) for v in rng.integers(0, 256, size=3))
        if rng.random() < 0.5:
            draw.rectangle([x0, y0, x1, y1], fill=colour)
        else:
            draw.ellipse([x0, y0, x1, y1], fill=colour)
    out = np.asarray(canvas).astype(np.float32)
    out += 24.0 * _upsampled_noise(h, w, 2, rng)[:, :, :1]  # texture on the shapes too
    return np.clip(out, 0, 255).astype(np.uint8)


_SUBSAMPLING = {"4:4:4": 0, "4:2:2": 1, "4:2:0": 2}


def encode_jpeg(
    image,
    quality=90,
    subsampling="4:2:0",
    progressive=False,
    mode="RGB",
    restart_interval=0,
    exif=None,
):
    """Encode an RGB image as JPEG bytes with Pillow.

    Parameters
    ----------
    image : ndarray, shape (H, W, 3) or (H, W), uint8
    quality : int
    subsampling : {"4:4:4", "4:2:2", "4:2:0", "4:4:0"}
        Chroma subsampling (4:4:0 is vertical-only, written via libjpeg sampling factors).
    progressive : bool
    mode : {"RGB", "L", "CMYK", "YCCK"}
        Colour space of the JPEG (CMYK / YCCK files carry an Adobe marker with inverted
        values, as Photoshop writes them).
    restart_interval : int
        Restart marker every N MCUs (0 = none).
    exif : bytes | None
        Raw EXIF payload to embed.

    Returns
    -------
    data : bytes
    """
    if mode == "YCCK":  # Pillow writes CMYK as-is; libjpeg (simplejpeg) transforms to YCCK
        import simplejpeg

        cmyk = np.asarray(Image.fromarray(np.asarray(image)).convert("CMYK"))
        return simplejpeg.encode_jpeg(np.ascontiguousarray(cmyk), quality, "CMYK")
    if subsampling == "4:4:0" and mode == "RGB":
        import simplejpeg  # Pillow cannot write vertical-only subsampling

        if progressive or restart_interval or exif is not None:
            raise ValueError("4:4:0 is written by simplejpeg: baseline, no restarts, no EXIF")
        arr = np.ascontiguousarray(np.asarray(image, dtype=np.uint8))
        return simplejpeg.encode_jpeg(arr, quality, "RGB", "440")
    img = Image.fromarray(np.asarray(image))
    if mode != img.mode:
        img = img.convert(mode)
    kwargs = {"quality": quality, "progressive": progressive}
    if mode != "L":
        kwargs["subsampling"] = _SUBSAMPLING[subsampling]
    if restart_interval:
        kwargs["restart_marker_blocks"] = restart_interval
    if exif is not None:
        kwargs["exif"] = exif
    buf = io.BytesIO()
    img.save(buf, format="JPEG", **kwargs)
    return buf.getvalue()


def encode_png(image):
    """PNG bytes of an (H, W, 3) or (H, W) uint8 image."""
    buf = io.BytesIO()
    Image.fromarray(np.asarray(image)).save(buf, format="PNG")
    return buf.getvalue()


def _special(n, total):
    """Which special kind file ``n`` (of ``total``) is, spread over the set."""
    kinds = {1: "gray", 3: "cmyk", 5: "progressive", 7: "png", 9: "gray", 11: "progressive"}
    return kinds.get(n) if n < total else None


def make_imagenet(
    root, *, classes=4, per_class=8, val_per_class=0, seed=0, quality=90, size=(375, 500)
):
    """Write a tiny ImageNet (train and optionally val) under ``root``.

    Parameters
    ----------
    root : str | Path
        Created if missing.
    classes, per_class, val_per_class : int
        Number of synsets and files per synset.
    seed : int
    quality : int
        JPEG quality of the regular files.
    size : (int, int)
        Typical (height, width); each file's size varies around it (x0.7-1.3 per side,
        portrait or landscape).

    Returns
    -------
    root : Path
    """
    root = Path(root)
    rng = np.random.default_rng(seed)
    n_global = 0
    total = classes * (per_class + val_per_class)
    for split, count in (("train", per_class), ("val", val_per_class)):
        for wnid in wnids(classes):
            if count == 0:
                continue
            folder = root / split / wnid
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(count):
                h = int(size[0] * rng.uniform(0.7, 1.3))
                w = int(size[1] * rng.uniform(0.7, 1.3))
                if rng.random() < 0.25:
                    h, w = w, h
                img = photo_like_image(h, w, rng)
                kind = _special(n_global, total)
                if kind == "png":
                    data = encode_png(img)
                elif kind == "gray":
                    data = encode_jpeg(img, quality, mode="L")
                elif kind == "cmyk":
                    data = encode_jpeg(img, quality, mode="CMYK")
                else:
                    data = encode_jpeg(img, quality, progressive=kind == "progressive")
                (folder / f"{wnid}_{i + 1}.JPEG").write_bytes(data)
                n_global += 1
    return root
