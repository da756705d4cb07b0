"""JPEG -> ResNet-50 tensors: fastload vs its peers, same run, same files, same threads.

Data: :func:`fastload.bench.data.imagenet_like` (240 files, 40 with ``quick``): mixed like
ImageNet (about 85 % near 500x375, 15 % large; q75-95; 4:2:0 and 4:2:2; some progressive,
grayscale and CMYK), cached on disk. Rates are medians of repeats over the whole set,
contenders interleaved every 8 files (A B C A B C ...) by :func:`fastload.bench.harness.race`
so load from other processes hits all alike; ``ratio_range`` is the per-repeat ratios'
min-max. Kinds as in :mod:`fastload.bench`: a peer's ``ratio`` = fastload rate / peer rate.

Groups (each one race; a group that fails is a broken row, the others are kept):

- transforms: ``resnet50_train(preset="nvidia", dtype="float32", layout="CHW")`` writing
  into a reused slot, vs torchvision.io ``decode_jpeg`` + ``transforms.v2``
  (RandomResizedCrop(antialias), RandomHorizontalFlip, ToDtype, Normalize), torchvision +
  PIL (the classic recipe), NVIDIA DALI's CPU pipeline (``device_id=None``:
  ``decoders.image_random_crop`` + ``resize`` + ``crop_mirror_normalize``), and the
  full-frame 1/8-scale decode floor measured independently: simplejpeg (libjpeg-turbo's
  TurboJPEG) and Pillow ``draft``; then ``resnet50_eval`` vs the same peers' eval
  recipes. torchvision pins its own torch: when it does not import here, it runs in a
  peer venv (``--peer-python`` / ``$FASTLOAD_BENCH_PEER_PYTHON``) through
  :class:`fastload.bench.harness.RemoteContenders`, interleaved all the same.
- decode: full-frame :func:`fastload.image.decode` vs Pillow ``Image.open().load()``.
- Loader: ``resnet50_train`` through :class:`fastload.loader.Loader` with 2 threads vs 1
  (only when the process may use 2 cores).
- full mode only: train again after raising glibc's mmap and trim thresholds
  (``mallopt``) against Pillow + numpy, the tuned-malloc peer of NOTES-kernels.

Pin to one core for one-thread figures:
``taskset -c 0 python -m fastload bench image``.
"""

from __future__ import annotations

import io
import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from fastload.bench import baseline, broken, optional_import, peer, reference, skipped, variant

__all__ = ["REQUIRES", "make_files", "rows", "run"]

# {module: (required for the whole concern, the rows that need it)}
REQUIRES = {
    "PIL": (True, "all (the bench data is written with Pillow)"),
    "simplejpeg": (False, "the 1/8-scale decode floor row (Pillow draft row stays)"),
    "torch": (False, "torchvision rows (here or in the peer venv)"),
    "torchvision": (False, "torchvision.io + v2 and torchvision + PIL rows"),
    "nvidia.dali": (False, "DALI CPU pipeline rows"),
    "spdl": (False, "SPDL rows (here or in the peer venv; needs FFmpeg's shared libraries)"),
}


def make_files(n, seed=0):
    """``n`` ImageNet-like JPEGs (list of bytes): the first ``n`` of the cached bench set
    (:func:`fastload.bench.data.imagenet_like`)."""
    from fastload.bench.data import imagenet_like, read_all

    return read_all(imagenet_like(max(n, 40), seed))[1][:n]


def run(threads=1, quick=False, peer_python=None):
    """Every row, as a list (see :func:`rows`)."""
    return list(rows(threads=threads, quick=quick, peer_python=peer_python))


def rows(threads=1, quick=False, peer_python=None):
    """Rows as they are measured (see :mod:`fastload.bench.runner`)."""
    from fastload.bench.runner import guarded

    threads = max(1, int(threads))
    yield from guarded("image transforms", _transform_rows, threads, quick, peer_python)
    yield from guarded("image decode", _decode_rows, threads, quick)
    yield from guarded("image Loader", _loader_rows, quick)
    if not quick:
        yield from guarded("image tuned malloc", _tuned_rows)


def _data(quick):
    from fastload.bench.data import describe_images, imagenet_like, read_all

    folder = imagenet_like(40 if quick else 240)
    paths, files = read_all(folder)
    return paths, files, describe_images(folder)


def _over(files, fn, threads, pool, chunk=8):
    """Chunks running ``fn(i, data)`` over all files, ``chunk`` files per thread each (the
    split of :func:`fastload.bench.peers.over`, which the peers use too)."""
    from fastload.bench.peers import over

    return over(len(files), lambda i: fn(i, files[i]), threads, chunk, pool)


def _slots():
    """A callable giving each calling thread its own reused (3, 224, 224) float32 slot."""
    import threading

    store = threading.local()

    def get():
        buf = getattr(store, "buf", None)
        if buf is None:
            buf = store.buf = np.empty((3, 224, 224), np.float32)
        return buf

    return get


def _dali(files, threads, preset, chunk=8):
    """DALI CPU pipelines (``device_id=None``, every operator on the CPU): train as NVIDIA's
    submission (``decoders.image_random_crop`` with the preset's area, aspect and attempts,
    ``resize`` 224 antialiased, ``crop_mirror_normalize`` float32 CHW with a coin flip) and
    eval (``decoders.image``, ``resize(resize_shorter=256)``, 224 centre crop); one batch
    of ``chunk * threads`` files per chunk. Returns ({name: chunks}, version)."""
    from nvidia import dali
    from nvidia.dali import fn, pipeline_def, types

    batch = chunk * max(1, threads)
    kw = dict(
        batch_size=batch,
        num_threads=max(1, threads),
        device_id=None,
        seed=0,
        exec_async=False,
        exec_pipelined=False,
        prefetch_queue_depth=1,
    )
    mean, std = list(preset.mean), list(preset.std)

    @pipeline_def(**kw)
    def train():
        jpegs = fn.external_source(name="jpegs", dtype=types.UINT8, ndim=1)
        images = fn.decoders.image_random_crop(
            jpegs,
            device="cpu",
            output_type=types.RGB,
            random_area=[0.05, 1.0],
            random_aspect_ratio=list(preset.ratio),
            num_attempts=preset.attempts,
        )
        images = fn.resize(images, resize_x=224, resize_y=224, antialias=True)
        return fn.crop_mirror_normalize(
            images,
            dtype=types.FLOAT,
            output_layout="CHW",
            mean=mean,
            std=std,
            mirror=fn.random.coin_flip(),
        )

    @pipeline_def(**kw)
    def evaluate():
        jpegs = fn.external_source(name="jpegs", dtype=types.UINT8, ndim=1)
        images = fn.decoders.image(jpegs, device="cpu", output_type=types.RGB)
        images = fn.resize(images, resize_shorter=256, antialias=True)
        return fn.crop_mirror_normalize(
            images, dtype=types.FLOAT, output_layout="CHW", crop=(224, 224), mean=mean, std=std
        )

    arrays = [np.frombuffer(f, np.uint8) for f in files]
    batches = [arrays[k : k + batch] for k in range(0, len(arrays), batch)]
    out = {}
    for name, make in (("dali_train", train), ("dali_eval", evaluate)):
        pipe = make()
        pipe.build()

        def go(b, pipe=pipe):
            def run_batch():
                pipe.feed_input("jpegs", b)
                pipe.run()

            return run_batch

        out[name] = [go(b) for b in batches]
    return out, f"DALI {dali.__version__} CPU (device_id=None), batch {batch}"


def _floor_decoders(files):
    """Independent full-frame 1/8-scale decoders: simplejpeg (libjpeg-turbo's TurboJPEG:
    its own Huffman decoder and scaled IDCT) and Pillow ``draft``. simplejpeg cannot read
    Pillow's CMYK files: those few go through Pillow draft in the simplejpeg row too.
    Returns (simplejpeg or None, pillow, number of CMYK files)."""
    from PIL import Image

    def pil8(i, d):
        im = Image.open(io.BytesIO(d))
        im.draft("RGB", (max(1, im.width // 8), max(1, im.height // 8)))
        im.load()
        return np.asarray(im)

    sj, _ = optional_import("simplejpeg")
    if sj is None:
        return None, pil8, 0
    cmyk = set()
    for i, d in enumerate(files):
        try:
            sj.decode_jpeg_header(d)
        except ValueError:
            cmyk.add(i)

    def sj8(i, d):
        if i in cmyk:
            return pil8(i, d)
        return sj.decode_jpeg(d, colorspace="RGB", min_height=1, min_width=1)

    return sj8, pil8, len(cmyk)


def _transform_rows(threads, quick, peer_python):
    from fastload.bench.harness import peer_contenders, per_repeat, race
    from fastload.image import backend, decode
    from fastload.image.transforms import get_preset
    from fastload.pipelines.resnet50 import resnet50_eval, resnet50_train

    paths, files, where = _data(quick)
    n = len(files)
    repeats = 3 if quick else 5
    pool = ThreadPoolExecutor(threads) if threads > 1 else None
    preset = get_preset("nvidia")
    train = resnet50_train(preset="nvidia", dtype="float32", layout="CHW")
    evalt = resnet50_eval(preset="nvidia", dtype="float32", layout="CHW")
    slot = _slots()
    rngs = [np.random.default_rng(k) for k in range(n)]

    def fl_train(i, d):
        train({"image": d}, rngs[i], out={"image": slot()})

    def fl_eval(i, d):
        evalt({"image": d}, None, out={"image": slot()})

    sj8, pil8, n_cmyk = _floor_decoders(files)
    contenders = {
        "train": _over(files, fl_train, threads, pool),
        "eval": _over(files, fl_eval, threads, pool),
        "decode8": _over(files, lambda i, d: decode(d, min_size=(1, 1)), threads, pool),
        "pil_decode8": _over(files, pil8, threads, pool),
    }
    if sj8 is not None:
        contenders["sj_decode8"] = _over(files, sj8, threads, pool)
    failed = []
    dali_version = None
    mod, row = optional_import("nvidia.dali")
    if mod is None:
        failed.append(row)
    else:
        try:
            dali, dali_version = _dali(files, threads, preset)
            contenders.update(dali)
        except Exception as exc:  # noqa: BLE001 - the peer is broken here: a row says so
            failed.append(broken("DALI CPU", f"{type(exc).__name__}: {exc}"[:200]))
    tv, info, close, row = peer_contenders(
        "fastload.bench.peers:torchvision_image",
        {"paths": paths, "threads": threads},
        modules=["torch", "torchvision"],
        peer_python=peer_python,
        threads=threads,
    )
    if row is not None:
        failed.append(row)
    else:
        contenders.update(tv)
    sp, sp_info, sp_close, row = peer_contenders(
        "fastload.bench.peers:spdl_image",
        {"paths": paths, "threads": threads},
        modules=["spdl"],
        peer_python=peer_python,
        threads=threads,
    )
    if row is not None:
        failed.append(row)
    else:
        contenders.update(sp)
    try:
        t = race(contenders, repeats)
    finally:
        for c in (close, sp_close):
            if c is not None:
                c()
        if pool is not None:
            pool.shutdown()
    rate = {k: n / v.wall for k, v in t.items()}

    def vs(name, ref):
        return per_repeat(t[name], t[ref])

    def cpu(name, ref, note=""):  # CPU seconds (of the process that ran each) agree?
        text = f"CPU-time ratio {t[name].cpu / t[ref].cpu:.2f}"
        return f"{note}; {text}" if note else text

    r = rate["train"]
    yield reference(
        "resnet50_train fastload",
        r,
        f"preset nvidia, float32 CHW into a reused slot, {backend()}; {where}; "
        f"{threads} thread(s), median of {repeats}",
    )
    if tv is not None:
        yield peer(
            "train torchvision.io + v2",
            rate["tv_io_train"],
            r,
            cpu("tv_io_train", "train", info["version"]),
            goal=">= 2.3",
            ratio_range=vs("tv_io_train", "train"),
        )
        yield peer(
            "train torchvision + PIL",
            rate["tv_pil_train"],
            r,
            cpu("tv_pil_train", "train"),
            goal=">= 3",
            ratio_range=vs("tv_pil_train", "train"),
        )
    if dali_version is not None:
        yield peer(
            "train DALI CPU pipeline",
            rate["dali_train"],
            r,
            cpu("dali_train", "train", dali_version),
            goal=">= 2.5",
            ratio_range=vs("dali_train", "train"),
        )
    if sp is not None:
        yield peer(
            "train SPDL",
            rate["spdl_train"],
            r,
            cpu("spdl_train", "train", sp_info["version"]),
            ratio_range=vs("spdl_train", "train"),
        )
    if sj8 is not None:
        note = "simplejpeg (libjpeg-turbo) full frame at 1/8 scale; ratio = resnet50_train / this"
        if n_cmyk:
            note += f" ({n_cmyk} CMYK files simplejpeg cannot read: Pillow draft)"
        yield baseline(
            "full decode 1/8 simplejpeg (floor)",
            rate["sj_decode8"],
            cpu("sj_decode8", "train", note),
            ratio=r / rate["sj_decode8"],
            goal=">= 0.9",
            ratio_range=vs("sj_decode8", "train"),
        )
    yield baseline(
        "full decode 1/8 PIL draft",
        rate["pil_decode8"],
        "ratio = resnet50_train / this decode",
        ratio=r / rate["pil_decode8"],
        ratio_range=vs("pil_decode8", "train"),
    )
    yield baseline(
        "full decode 1/8 fastload",
        rate["decode8"],
        "fastload's own decoder (not the floor); ratio = resnet50_train / this",
        ratio=r / rate["decode8"],
        ratio_range=vs("decode8", "train"),
    )
    e = rate["eval"]
    yield reference(
        "resnet50_eval fastload", e, "preset nvidia, float32 CHW, resize 256 + crop 224 fused"
    )
    if tv is not None:
        yield peer(
            "eval torchvision.io + v2",
            rate["tv_io_eval"],
            e,
            cpu("tv_io_eval", "eval"),
            goal=">= 2.0",
            ratio_range=vs("tv_io_eval", "eval"),
        )
        yield peer(
            "eval torchvision + PIL",
            rate["tv_pil_eval"],
            e,
            cpu("tv_pil_eval", "eval"),
            ratio_range=vs("tv_pil_eval", "eval"),
        )
    if sp is not None:
        yield peer(
            "eval SPDL",
            rate["spdl_eval"],
            e,
            cpu("spdl_eval", "eval"),
            ratio_range=vs("spdl_eval", "eval"),
        )
    if dali_version is not None:
        yield peer(
            "eval DALI CPU pipeline",
            rate["dali_eval"],
            e,
            cpu("dali_eval", "eval"),
            ratio_range=vs("dali_eval", "eval"),
        )
    yield from failed


def _decode_rows(threads, quick):
    from PIL import Image

    from fastload.bench.harness import per_repeat, race
    from fastload.image import backend, decode

    _, files, _ = _data(quick)
    n = len(files)
    pool = ThreadPoolExecutor(threads) if threads > 1 else None

    def pil_decode(i, d):
        im = Image.open(io.BytesIO(d))
        im.load()
        return np.asarray(im)

    contenders = {
        "decode": _over(files, lambda i, d: decode(d), threads, pool),
        "pil": _over(files, pil_decode, threads, pool),
    }
    try:
        t = race(contenders, 3 if quick else 5)
    finally:
        if pool is not None:
            pool.shutdown()
    dec = n / t["decode"].wall
    yield reference("decode full fastload", dec, f"RGB uint8, new array per image, {backend()}")
    yield peer(
        "decode full Pillow",
        n / t["pil"].wall,
        dec,
        "Image.open().load() + asarray",
        goal=">= 1",
        ratio_range=per_repeat(t["pil"], t["decode"]),
    )


def _tune_malloc():
    """Raise glibc's mmap and trim thresholds (what MALLOC_MMAP_THRESHOLD_ does); False if
    this is not glibc."""
    import ctypes
    import ctypes.util

    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        m_trim_threshold, m_mmap_threshold = -1, -3
        return bool(libc.mallopt(m_mmap_threshold, 1 << 30)) and bool(
            libc.mallopt(m_trim_threshold, 1 << 30)
        )
    except (OSError, AttributeError):
        return False


def _tuned_rows():
    """NOTES-kernels: glibc returns large freed blocks to the OS and page-faults them back
    on every image; a peer allocating per image pays that, so fastload and Pillow + numpy
    again with glibc's mmap / trim thresholds raised (the last group: it changes the
    process's malloc)."""
    from PIL import Image

    from fastload.bench.harness import per_repeat, race
    from fastload.image.transforms import IMAGENET_MEAN, IMAGENET_STD, sample_crop_nvidia
    from fastload.pipelines.resnet50 import resnet50_train

    if not _tune_malloc():
        return
    _, files, _ = _data(False)
    n = len(files)
    train = resnet50_train(preset="nvidia", dtype="float32", layout="CHW")
    out = np.empty((3, 224, 224), np.float32)
    rngs = [np.random.default_rng(k) for k in range(n)]
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

    t = race(
        {
            "train": _over(
                files, lambda i, d: train({"image": d}, rngs[i], out={"image": out}), 1, None
            ),
            "pil": _over(files, pil_numpy_train, 1, None),
        },
        5,
    )
    note = "M_MMAP_THRESHOLD / M_TRIM_THRESHOLD = 1 GiB, 1 thread"
    r = n / t["train"].wall
    yield reference("resnet50_train fastload (tuned malloc)", r, note)
    yield peer(
        "train Pillow + numpy (tuned malloc)",
        n / t["pil"].wall,
        r,
        "decode, resize(box, BILINEAR), flip, normalize",
        ratio_range=per_repeat(t["pil"], t["train"]),
    )


def _loader_rows(quick):
    """resnet50_train through the Loader with 2 threads vs 1 (needs 2 free cores)."""
    from fastload.bench.harness import per_repeat, race
    from fastload.loader import Loader
    from fastload.pipelines.resnet50 import resnet50_train

    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        cores = os.cpu_count() or 1
    if cores < 2:
        yield skipped(
            "Loader resnet50_train 2 threads",
            "process pinned to 1 core; run without taskset for this row",
        )
        return
    _, files, _ = _data(quick)
    ds = [{"image": f, "label": 0} for f in files]
    t = resnet50_train(preset="nvidia", dtype="float32", layout="CHW")
    loaders = {
        k: Loader(ds, transform=t, batch_size=8, shuffle=False, num_threads=k, epoch_end="partial")
        for k in (1, 2)
    }

    def epoch(loader):
        def go():
            for _ in loader:
                pass

        return go

    res = race({k: epoch(ld) for k, ld in loaders.items()}, 3 if quick else 5)
    n = len(files)
    yield reference("Loader resnet50_train 1 thread", n / res[1].wall, "batch 8, in-memory records")
    yield variant(
        "Loader resnet50_train 2 threads",
        n / res[2].wall,
        n / res[1].wall,
        "ratio = 2-thread / 1-thread rate (needs 2 idle cores)",
        goal=">= 1.8",
        ratio_range=per_repeat(res[1], res[2]),
    )


if __name__ == "__main__":  # pragma: no cover
    for row in run(quick=True):
        print(row)
