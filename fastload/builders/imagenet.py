"""ImageNet (ILSVRC-2012) JPEG folders -> shards.

Layouts accepted under ``src``:

* ``train/<wnid>/*.JPEG`` (and ``val/<wnid>/*.JPEG``): class folders;
* ``val/*.JPEG`` flat plus a label file: lines ``<file name> <wnid or index>``, or one
  wnid/index per line in sorted file-name order (the devkit's ground-truth file).

Labels are 0..N-1 by sorted wnid (what MXNet im2rec and torchvision's ImageFolder do).
Columns: ``image`` (JPEG bytes), ``height``, ``width``, ``label``, ``wnid``, ``file``.
As the MLPerf reference does, PNG and CMYK files are re-encoded to RGB JPEG at quality 100;
everything else keeps its original bytes. ``max_side`` re-encodes larger images
(FFCV-style smaller storage, a user's choice).
"""

import io
from dataclasses import dataclass
from pathlib import Path

from fastload.builders.engine import check_source, run_build
from fastload.errors import SourceError

__all__ = ["build_imagenet", "list_imagenet"]

IMAGE_SUFFIXES = {".jpeg", ".jpg", ".png"}


@dataclass(frozen=True)
class ImageItem:
    path: str
    label: int
    wnid: str

    def __str__(self):
        return self.path


def _images(folder):
    return sorted(
        p for p in Path(folder).iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
    )


def _read_label_file(path, files, wnids):
    lines = [ln.split() for ln in Path(path).read_text().splitlines() if ln.strip()]
    by_name = {}
    if all(len(ln) >= 2 for ln in lines):
        by_name = {ln[0]: ln[1] for ln in lines}
        values = []
        for f in files:
            if f.name not in by_name:
                raise SourceError(f"{path}: no label for {f.name}")
            values.append(by_name[f.name])
    else:
        if len(lines) != len(files):
            raise SourceError(f"{path}: {len(lines)} labels for {len(files)} images")
        values = [ln[0] for ln in lines]
    index = {w: i for i, w in enumerate(wnids)}
    labels = []
    for f, v in zip(files, values, strict=False):
        if v in index:
            labels.append((index[v], v))
        elif v.isdigit() and 0 <= int(v) < len(wnids):
            labels.append((int(v), wnids[int(v)]))
        else:
            raise SourceError(
                f"{path}: label {v!r} of {f.name} is neither a known wnid nor an index"
            )
    return labels


def list_imagenet(src, *, split="train", labels=None):
    """Sorted items (path, label, wnid) of one split; labels by sorted wnid of ``train/``."""
    src = Path(src)
    if (src / split).is_dir():
        split_dir = src / split
    elif any((src / s).is_dir() for s in ("train", "val")):
        found = ", ".join(sorted(p.name for p in src.iterdir() if p.is_dir()))
        raise SourceError(f"{src}: no split folder {split!r} (found: {found})")
    else:
        split_dir = src  # src is the split folder itself
    class_root = src / "train" if (src / "train").is_dir() else split_dir
    wnids = sorted(p.name for p in class_root.iterdir() if p.is_dir())
    subdirs = sorted(p for p in split_dir.iterdir() if p.is_dir())
    if subdirs:
        index = {w: i for i, w in enumerate(wnids)}
        items = []
        for d in subdirs:
            if d.name not in index:
                raise SourceError(f"{d}: class folder {d.name!r} is not among the train classes")
            items += [ImageItem(str(f), index[d.name], d.name) for f in _images(d)]
        return items, wnids
    files = _images(split_dir)
    if labels is None:
        raise SourceError(f"{split_dir}: flat image folder needs a label file (--labels)")
    return [
        ImageItem(str(f), lab, w)
        for f, (lab, w) in zip(files, _read_label_file(labels, files, wnids), strict=False)
    ], wnids


@dataclass(frozen=True)
class ImageEncoder:
    """Turns one ImageItem into a record; validates by decoding the image once."""

    max_side: int | None = None
    quality: int = 100
    root: str = ""

    def __call__(self, item):
        from fastload import image

        data = Path(item.path).read_bytes()
        info = image.read_header(data)
        needs_rgb_jpeg = info.format != "JPEG" or info.channels == 4
        too_big = self.max_side is not None and max(info.height, info.width) > self.max_side
        pixels = image.decode(data)  # validation: every sample is decoded once
        if needs_rgb_jpeg or too_big:
            data, pixels = _reencode(pixels, self.max_side if too_big else None, self.quality)
        return {
            "image": data,
            "height": int(pixels.shape[0]),
            "width": int(pixels.shape[1]),
            "label": item.label,
            "wnid": item.wnid,
            "file": str(Path(item.path).relative_to(self.root))
            if self.root
            else Path(item.path).name,
        }


def _reencode(pixels, max_side, quality):
    import numpy as np
    from PIL import Image

    img = Image.fromarray(pixels, "RGB")
    if max_side is not None:
        scale = max_side / max(img.size)
        img = img.resize(
            (max(1, round(img.width * scale)), max(1, round(img.height * scale))), Image.BICUBIC
        )
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=quality)
    return buf.getvalue(), np.asarray(img)


def build_imagenet(
    src,
    out,
    *,
    split="train",
    labels=None,
    max_side=None,
    quality=100,
    samples_per_shard=2048,
    workers=None,
    engine="local",
    address=None,
    on_error="skip",
    progress=None,
):
    """Build ImageNet shards; returns a :class:`fastload.builders.engine.BuildResult`."""
    check_source(src, out, samples_per_shard=samples_per_shard)
    if labels is not None and not Path(labels).is_file():
        raise SourceError(f"{labels}: label file not found")
    items, wnids = list_imagenet(src, split=split, labels=labels)
    if not items:
        raise SourceError(f"{src}: no images found for split {split!r}")
    metadata = {
        "dataset": "imagenet",
        "split": split,
        "num_classes": len(wnids),
        "wnids": wnids,
        "label_rule": "0..N-1 by sorted wnid",
        "reencoded": {"max_side": max_side, "quality": quality},
    }
    encoder = ImageEncoder(max_side=max_side, quality=quality, root=str(Path(src)))
    return run_build(
        items,
        encoder,
        out,
        samples_per_part=samples_per_shard,
        workers=workers,
        engine=engine,
        address=address,
        on_error=on_error,
        metadata=metadata,
        progress=progress,
    )
