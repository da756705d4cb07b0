"""JPEG -> ResNet-50 tensors: fastload vs its peers, same run, same files, same threads.

Rows (kinds as in :mod:`fastload.bench`: a peer's ``ratio`` = fastload rate / peer rate, both
measured in this run; rates are medians
of repeats over the whole file set, contenders interleaved every 8 files (A B C A B C ...)
so load from other processes hits all alike):

- train: ``resnet50_train(preset="nvidia", dtype="float32", layout="CHW")`` writing into a
  reused batch slot, vs (a) ``torchvision.io.decode_jpeg`` + ``transforms.v2``
  RandomResizedCrop(antialias) / RandomHorizontalFlip / ToDtype / Normalize,
  (b) torchvision with PIL (the classic ImageNet recipe: RandomResizedCrop,
  RandomHorizontalFlip, ToTensor, Normalize), (c) the full-frame decode rate at 1/8 scale
  with libjpeg-turbo's own Huffman decoder (the entropy-decoding floor the target is set
  against), with fastload's Huffman decoder, and with PIL ``draft``, and (d) Pillow +
  numpy (decode, crop, resize(BILINEAR), flip, normalize).
- eval: ``resnet50_eval(preset="nvidia")`` vs torchvision.io + v2 (Resize(256),
  CenterCrop(224), ToDtype, Normalize) and torchvision + PIL.
- decode: full-frame :func:`fastload.image.decode` vs Pillow ``Image.open().load()``.
- Loader: ``resnet50_train`` through :class:`fastload.loader.Loader` with 2 threads vs 1
  (only when the process may use 2 cores).
- full mode only: train / eval rows again after raising glibc's mmap and trim thresholds
  (``mallopt``), the tuned-malloc peers of NOTES-kernels.

Peers that are not installed (or fail to import) are reported as missing (broken) rows.
Files: photo-like RGB q90 4:2:0
JPEGs around 500x375 (+-30 % per side, some portrait), about 90 KB each, generated
in-process. Pin to one core for one-thread figures:
``OMP_NUM_THREADS=1 taskset -c 0 python benchmarks/compare.py image``.
"""

from __future__ import annotations

import gc
import io
import os
import statistics
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from fastload.bench import baseline, optional_import, peer, reference, skipped, variant

__all__ = ["make_files", "REQUIRES", "rows", "run"]

# {module: (required for the whole concern, the rows that need it)}
REQUIRES = {
    "PIL": (True, "all (the bench data is written with Pillow)"),
    "simplejpeg": (False, "the 1/8-scale decode floor row"),
    "torch": (False, "torchvision rows, torch DataLoader rows"),
    "torchvision": (False, "torchvision.io + v2 and torchvision + PIL rows"),
    "nvidia.dali": (False, "DALI CPU pipeline rows"),
}


def make_files(n, seed=0):
    """``n`` photo-like q90 JPEGs around 500x375 (list of bytes)."""
    from fastload.testing.data.imagenet import encode_jpeg, photo_like_image

    rng = np.random.default_rng(seed)
    files = []
    for _ in range(n):
        h, w = int(375 * rng.uniform(0.7, 1.3)), int(500 * rng.uniform(0.7, 1.3))
        if rng.random() < 0.25:
            h, w = w, h
        files.append(encode_jpeg(photo_like_image(h, w, rng), 90))
    return files


def _race(fns, repeats, warmup=1):
    """Median seconds per repeat of each contender.

    ``fns[c]`` is a callable or a list of callables (chunks of the file set); chunk j of
    every contender runs before chunk j + 1 of any, so contenders alternate every few
    milliseconds and load from other processes hits all of them alike. A repeat's time
    is the sum over its chunks.
    """
    fns = [f if isinstance(f, list) else [f] for f in fns]
    nchunks = max(len(f) for f in fns)
    for _ in range(warmup):
        for f in fns:
            for chunk in f:
                chunk()
    times = [[] for _ in fns]
    for _ in range(repeats):
        gc.collect()
        total = [0.0] * len(fns)
        for j in range(nchunks):
            for c, f in enumerate(fns):
                if j < len(f):
                    t = time.perf_counter()
                    f[j]()
                    total[c] += time.perf_counter() - t
        for c, ts in enumerate(times):
            ts.append(total[c])
    return [statistics.median(ts) for ts in times]


def _over(files, fn, threads, pool, chunk=8):
    """Callables running ``fn(i, data)`` over all files, ``chunk`` files (per thread) each
    (on ``threads`` threads)."""
    size = chunk * threads
    spans = [range(k, min(k + size, len(files))) for k in range(0, len(files), size)]
    if threads <= 1:
        def serial(span):
            def go():
                for i in span:
                    fn(i, files[i])
            return go
        return [serial(span) for span in spans]

    def parallel(span):
        parts = [list(span)[k::threads] for k in range(threads)]

        def work(idx):
            for i in idx:
                fn(i, files[i])

        def go():
            list(pool.map(work, parts))
        return go
    return [parallel(span) for span in spans]


def _peers_torchvision(mean, std):
    """(train_io, train_pil, eval_io, eval_pil, version) callables, or a missing/broken row
    when torchvision cannot be imported (for any reason: built for another torch ...)."""
    for name in ("torch", "torchvision", "torchvision.io", "torchvision.transforms.v2"):
        _, failed = optional_import(name)
        if failed is not None:
            return failed
    import torch
    import torchvision
    from torchvision import transforms as T
    from torchvision.io import decode_jpeg
    from torchvision.transforms import v2
    from PIL import Image

    torch.set_num_threads(1)
    m, s = [v / 255 for v in mean], [v / 255 for v in std]
    v2_train = v2.Compose([v2.RandomResizedCrop(224, antialias=True), v2.RandomHorizontalFlip(),
                           v2.ToDtype(torch.float32, scale=True), v2.Normalize(m, s)])
    v2_eval = v2.Compose([v2.Resize(256, antialias=True), v2.CenterCrop(224),
                          v2.ToDtype(torch.float32, scale=True), v2.Normalize(m, s)])
    pil_train = T.Compose([T.RandomResizedCrop(224), T.RandomHorizontalFlip(), T.ToTensor(),
                           T.Normalize(m, s)])
    pil_eval = T.Compose([T.Resize(256), T.CenterCrop(224), T.ToTensor(), T.Normalize(m, s)])

    tensors = {}

    def io_dec(data):  # the encoded file as a tensor, made once (like torchvision.io.read_file)
        t = tensors.get(id(data))
        if t is None:
            t = tensors[id(data)] = torch.frombuffer(bytearray(data), dtype=torch.uint8)
        return decode_jpeg(t)

    def pil_open(data):
        return Image.open(io.BytesIO(data)).convert("RGB")

    return (lambda i, d: v2_train(io_dec(d)), lambda i, d: pil_train(pil_open(d)),
            lambda i, d: v2_eval(io_dec(d)), lambda i, d: pil_eval(pil_open(d)),
            f"torchvision {torchvision.__version__}, torch {torch.__version__}")


def run(threads=1, quick=False):
    """Measure every row; returns a list of dicts (name, items_per_s, ratio, notes)."""
    from PIL import Image

    from fastload.image import backend, codec, decode
    from fastload.image.transforms import IMAGENET_MEAN, IMAGENET_STD, sample_crop_nvidia
    from fastload.pipelines.resnet50 import resnet50_eval, resnet50_train

    threads = max(1, int(threads))
    n = 10 if quick else 48
    repeats = 3 if quick else 7
    files = make_files(n)
    kb = np.mean([len(f) for f in files]) / 1024
    pool = ThreadPoolExecutor(threads) if threads > 1 else None
    where = f"{n} files ~500x375 q90, {kb:.0f} KB avg, {threads} thread(s)"

    train = resnet50_train(preset="nvidia", dtype="float32", layout="CHW")
    evalt = resnet50_eval(preset="nvidia", dtype="float32", layout="CHW")
    slots = [np.empty((3, 224, 224), np.float32) for _ in range(threads)]
    rngs = [np.random.default_rng(k) for k in range(n)]

    def fl_train(i, d):
        train({"image": d}, rngs[i], out={"image": slots[i % threads]})

    def fl_eval(i, d):
        evalt({"image": d}, None, out={"image": slots[i % threads]})

    def fl_decode(i, d):
        decode(d)

    def fl_decode8(i, d):
        decode(d, min_size=(1, 1))

    def libjpeg_huffman(chunks):
        # fastload's decoder with libjpeg-turbo's own Huffman decoding, switched per chunk
        # (the switch is process-wide; contenders never overlap)
        def wrap(chunk):
            def go():
                jpeg.set_fast_huffman(False)
                try:
                    chunk()
                finally:
                    jpeg.set_fast_huffman(True)
            return go
        return [wrap(c) for c in chunks]

    def pil_decode(i, d):
        im = Image.open(io.BytesIO(d))
        im.load()
        return np.asarray(im)

    def pil_decode8(i, d):
        im = Image.open(io.BytesIO(d))
        im.draft("RGB", (max(1, im.width // 8), max(1, im.height // 8)))
        im.load()
        return np.asarray(im)

    mean = np.asarray(IMAGENET_MEAN, np.float32)
    inv_std = 1 / np.asarray(IMAGENET_STD, np.float32)

    def pil_numpy_train(i, d):
        im = Image.open(io.BytesIO(d)).convert("RGB")
        top, left, h, w = sample_crop_nvidia(rngs[i], im.height, im.width)
        im = im.resize((224, 224), Image.BILINEAR, box=(left, top, left + w, top + h))
        if rngs[i].random() < 0.5:
            im = im.transpose(Image.FLIP_LEFT_RIGHT)
        x = (np.asarray(im, np.float32) - mean) * inv_std
        return np.ascontiguousarray(x.transpose(2, 0, 1))

    names = ["train", "eval", "decode", "decode8", "pil_decode", "pil_decode8", "pil_train"]
    fns = [fl_train, fl_eval, fl_decode, fl_decode8, pil_decode, pil_decode8, pil_numpy_train]
    tv = _peers_torchvision(IMAGENET_MEAN, IMAGENET_STD)
    if isinstance(tv, tuple):
        names += ["tv_io_train", "tv_pil_train", "tv_io_eval", "tv_pil_eval"]
        fns += list(tv[:4])
    contenders = [_over(files, f, threads, pool) for f in fns]
    jpeg = codec._jpeg_cy
    if jpeg is not None and backend() == "libjpeg-turbo":
        names.append("decode8_libjpeg")
        contenders.append(libjpeg_huffman(_over(files, fl_decode8, threads, pool)))
    times = _race(contenders, repeats)
    rate = {k: n / t for k, t in zip(names, times, strict=True)}
    if pool is not None:
        pool.shutdown()

    rows = []
    r = rate["train"]
    rows.append(reference("resnet50_train fastload", r,
                          f"preset nvidia, float32 CHW into a reused slot, {backend()}; {where}"))
    if isinstance(tv, tuple):
        rows.append(peer("train torchvision.io + v2", rate["tv_io_train"], r, tv[4],
                         goal=">= 1.6"))
        rows.append(peer("train torchvision + PIL", rate["tv_pil_train"], r, goal=">= 3"))
    else:
        rows.append(tv)
    rows.append(peer("train Pillow + numpy", rate["pil_train"], r,
                     "decode, resize(box, BILINEAR), flip, normalize"))
    if "decode8_libjpeg" in rate:
        rows.append(baseline("full decode 1/8 libjpeg-turbo (floor)", rate["decode8_libjpeg"],
                             "libjpeg-turbo's own Huffman decoder, full frame at 1/8 scale; "
                             "ratio = resnet50_train / this floor",
                             ratio=r / rate["decode8_libjpeg"], goal=">= 0.9"))
    rows.append(baseline("full decode 1/8 fastload", rate["decode8"],
                         "fastload's Huffman decoder; ratio = resnet50_train / this decode",
                         ratio=r / rate["decode8"]))
    rows.append(baseline("full decode 1/8 PIL draft", rate["pil_decode8"],
                         "ratio = resnet50_train / this decode", ratio=r / rate["pil_decode8"]))
    e = rate["eval"]
    rows.append(reference("resnet50_eval fastload", e,
                          "preset nvidia, float32 CHW, resize 256 + crop 224 fused"))
    if isinstance(tv, tuple):
        rows.append(peer("eval torchvision.io + v2", rate["tv_io_eval"], e, goal=">= 1.3"))
        rows.append(peer("eval torchvision + PIL", rate["tv_pil_eval"], e, goal=">= 1.8"))
    dec = rate["decode"]
    rows.append(reference("decode full fastload", dec,
                          f"RGB uint8, new array per image, {backend()}"))
    rows.append(peer("decode full Pillow", rate["pil_decode"], dec,
                     "Image.open().load() + asarray", goal=">= 1"))
    rows += _loader_rows(files, repeats)
    if not quick and _tune_malloc():
        # NOTES-kernels: glibc returns large freed blocks to the OS and page-faults them
        # back on every image; peers allocate per image, so also report them with the
        # mmap / trim thresholds raised (fastload writes into reused buffers either way)
        keys = ["train", "eval", "pil_train"] + (["tv_io_train", "tv_pil_train", "tv_io_eval",
                                                  "tv_pil_eval"] if isinstance(tv, tuple) else [])
        pool = ThreadPoolExecutor(threads) if threads > 1 else None
        times = _race([_over(files, fns[names.index(k)], threads, pool) for k in keys], repeats)
        if pool is not None:
            pool.shutdown()
        tuned = {k: n / t for k, t in zip(keys, times, strict=True)}
        r, e = tuned["train"], tuned["eval"]
        note = "same run, M_MMAP_THRESHOLD / M_TRIM_THRESHOLD = 1 GiB"
        rows.append(reference("resnet50_train fastload (tuned malloc)", r, note))
        for k, label in (("pil_train", "train Pillow + numpy"),
                         ("tv_io_train", "train torchvision.io + v2"),
                         ("tv_pil_train", "train torchvision + PIL")):
            if k in tuned:
                rows.append(peer(label + " (tuned malloc)", tuned[k], r, note))
        rows.append(reference("resnet50_eval fastload (tuned malloc)", e, note))
        for k, label in (("tv_io_eval", "eval torchvision.io + v2"),
                         ("tv_pil_eval", "eval torchvision + PIL")):
            if k in tuned:
                rows.append(peer(label + " (tuned malloc)", tuned[k], e, note))
    return rows


def _tune_malloc():
    """Raise glibc's mmap and trim thresholds (what MALLOC_MMAP_THRESHOLD_ does); False if
    this is not glibc."""
    import ctypes
    import ctypes.util

    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        m_trim_threshold, m_mmap_threshold = -1, -3
        return bool(libc.mallopt(m_mmap_threshold, 1 << 30)) and bool(
            libc.mallopt(m_trim_threshold, 1 << 30))
    except (OSError, AttributeError):
        return False


def _loader_rows(files, repeats):
    """resnet50_train through the Loader with 2 threads vs 1 (needs 2 free cores)."""
    from fastload.loader import Loader
    from fastload.pipelines.resnet50 import resnet50_train

    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        cores = os.cpu_count() or 1
    if cores < 2:
        return [skipped("Loader resnet50_train 2 threads",
                        "process pinned to 1 core; run without taskset for this row")]
    ds = [{"image": f, "label": 0} for f in files]
    t = resnet50_train(preset="nvidia", dtype="float32", layout="CHW")
    loaders = [Loader(ds, transform=t, batch_size=8, shuffle=False, num_threads=k,
                      epoch_end="partial") for k in (1, 2)]

    def epoch(loader):
        def go():
            for _ in loader:
                pass
        return go

    t1, t2 = _race([epoch(ld) for ld in loaders], repeats)
    n = len(files)
    return [reference("Loader resnet50_train 1 thread", n / t1, "batch 8, in-memory records"),
            variant("Loader resnet50_train 2 threads", n / t2, n / t1,
                    "ratio = 2-thread / 1-thread rate (needs 2 idle cores)", goal=">= 1.8")]


def rows(threads=1, quick=False, peer_python=None):
    """Rows as they are measured (see :mod:`fastload.bench.runner`)."""
    from fastload.bench.runner import guarded

    yield from guarded("image", run, threads, quick)


if __name__ == "__main__":  # pragma: no cover
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    for row in run(quick=True):
        print(row)
