"""Loader overhead, thread scaling, memory, and torch DataLoader side by side.

Same data, same transform, same thread count, measured in one run by
:func:`fastload.bench.harness.race` (contenders interleaved epoch by epoch); medians of
repeats, ``ratio_range`` the per-repeat ratios' min-max. Run pinned for the 1-thread
figures: ``taskset -c 0 python -m fastload bench loader`` (``--threads 2`` for scaling).

Rows (kinds as in :mod:`fastload.bench`):

* ``fastload Loader`` (reference): one epoch through the Loader (batch 32, prefetch 2)
  with a GIL-free ~1 ms/sample numba transform (:class:`fastload.testing.loader.BusyTransform`)
  on in-memory arrays.
* ``tight loop`` (baseline, the ceiling): the transform alone on the same threads;
  ratio = Loader / tight loop (goal >= 0.90).
* ``torch DataLoader`` (peers): map-style Dataset, same transform, batch 32,
  ``num_workers=0`` and (not quick) ``num_workers=threads`` worker processes with
  ``persistent_workers=True``, interleaved with the rest; worker start-up (spawn to the
  first batch) is not in the rate and has its own row.
* ``fastload Loader, N threads`` vs 1 thread (when threads > 1): scaling (goal >= 1.8).
* ``Loader resnet50_train vs torch DataLoader + torchvision`` (not quick): the real
  ImageNet training transform on the bench's ImageNet-like JPEGs through the Loader vs a
  torch DataLoader (persistent workers, ``max(1, threads)`` processes) running the
  torchvision recipe with torchvision.io + v2 and with PIL, in the peer venv when
  torchvision is pinned to another torch; start-up rows apart.
* ``Loader, resnet50_train`` (not quick): Loader / tight loop on JPEG shards.
* ``Loader workers='process'`` (threads > 1, not quick): a pure-Python (GIL-bound)
  transform, process workers vs thread workers.
* ``peak RSS`` (memory, MiB): extra resident memory during a Loader epoch over the
  dataset-open baseline (goal: within prefetch x batch bytes + 100 MB).
"""

import threading
import time

import numpy as np

from fastload._rng import sample_rng
from fastload.bench import (
    baseline,
    memory,
    optional_import,
    peer,
    reference,
    seconds,
    skipped,
    variant,
)
from fastload.loader import Loader
from fastload.testing.loader import ArrayDataset, BusyTransform, PythonBusyTransform

__all__ = ["REQUIRES", "rows", "run"]

# {module: (required for the whole concern, the rows that need it)}
REQUIRES = {
    "torch": (False, "torch DataLoader rows"),
    "psutil": (False, "peak RSS row"),
}

BATCH = 32
SIZE = 1024


def _on_threads(work, threads):
    """Run ``work(t)`` for t in range(threads), on the calling thread when threads == 1."""
    if threads == 1:
        work(0)
        return
    ts = [threading.Thread(target=work, args=(t,)) for t in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()


def tight_loop(ds, transform, n, threads):
    """Call the transform directly over ``n`` samples, split over ``threads`` threads."""
    bufs = [np.empty((BATCH, SIZE), np.float32) for _ in range(threads)]

    def work(t):
        buf = bufs[t]
        for i in range(t, n, threads):
            transform(ds[i], sample_rng(0, 0, i), out={"y": buf[i % BATCH]})

    _on_threads(work, threads)
    return n


def loader_epoch(ds, transform, threads, prefetch=2):
    loader = Loader(
        ds,
        transform=transform,
        batch_size=BATCH,
        num_threads=threads,
        prefetch=prefetch,
        epoch_end="drop",
    )
    n = 0
    for batch in loader:
        n += len(batch["y"])
    return n


def resnet50_rows(threads, repeats):
    """Loader vs tight loop with the real ResNet-50 training transform on JPEG shards."""
    import shutil
    import tempfile

    import fastload
    from fastload.bench.harness import per_repeat, race
    from fastload.bench.image import make_files
    from fastload.pipelines.resnet50 import resnet50_train

    root = tempfile.mkdtemp(prefix="fastload-bench-loader-")
    try:
        imgs = make_files(16)
        with fastload.ShardWriter(f"{root}/ds", shard_size_bytes=1 << 20) as w:
            for i in range(8 * BATCH):
                w.write({"image": imgs[i % len(imgs)], "label": i % 10})
        ds = fastload.open_dataset(f"{root}/ds")
        tf = resnet50_train()
        ((shape, dtype),) = tf.output_spec().values()

        def tight():
            bufs = np.empty((threads, *shape), dtype)

            def work(t):
                for i in range(t, len(ds), threads):
                    tf(ds[i], sample_rng(0, 0, i), out={"image": bufs[t]})

            _on_threads(work, threads)

        # one Loader for all epochs, as in training (its batch buffers are reused)
        loader = Loader(ds, transform=tf, batch_size=BATCH, num_threads=threads)

        def epoch():
            for _ in loader:
                pass

        t = race({"tight": tight, "loader": epoch}, repeats)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    n = len(ds)
    return [
        reference(
            "Loader, resnet50_train on JPEG shards",
            n / t["loader"].wall,
            f"{threads} thread(s), ImageNet-like JPEGs -> 3x224x224 float32, batch {BATCH}",
        ),
        baseline(
            "tight loop, resnet50_train",
            n / t["tight"].wall,
            "the transform alone (ceiling); ratio = Loader / this",
            ratio=t["tight"].wall / t["loader"].wall,
            ratio_range=per_repeat(t["tight"], t["loader"]),
        ),
    ]


def peak_rss(threads, n, prefetch=2):
    """Extra peak RSS of a Loader epoch over the open-dataset baseline, and the bound.

    ImageNet-sized samples: ``x`` and ``y`` are float32 (3*224*224,) each, batch 32, so one
    batch is ~38.5 MB. Returns ``(extra_bytes, bound_bytes)`` with bound = prefetch x batch
    bytes + 100 MB.
    """
    import gc

    import psutil

    size = 3 * 224 * 224
    ds = ArrayDataset(n, shape=(size,))
    transform = BusyTransform(size=size, iters=2)
    loader_epoch(ArrayDataset(2 * BATCH, shape=(size,)), transform, threads, prefetch)  # warm-up
    gc.collect()
    proc = psutil.Process()
    base = proc.memory_info().rss
    peak = [base]
    stop = threading.Event()

    def poll():
        while not stop.is_set():
            peak[0] = max(peak[0], proc.memory_info().rss)
            time.sleep(0.001)

    t = threading.Thread(target=poll, daemon=True)
    t.start()
    loader_epoch(ds, transform, threads, prefetch)
    stop.set()
    t.join()
    batch_bytes = BATCH * size * 4 * 2
    return peak[0] - base, prefetch * batch_bytes + 100 * 2**20


def run(threads=1, quick=False, peer_python=None):
    """Every row, as a list (see :func:`rows`)."""
    return list(rows(threads=threads, quick=quick, peer_python=peer_python))


def _busy_rows(threads, quick):
    """Loader vs tight loop vs torch DataLoader, BusyTransform, interleaved epochs."""
    from fastload.bench.harness import per_repeat, race

    n = 320 if quick else 960
    repeats = 3 if quick else 5
    transform = BusyTransform.calibrated(1e-3, size=SIZE)
    ds = ArrayDataset(n, shape=(SIZE,))
    # warm up: numba cache, thread start, first-touch
    loader_epoch(ArrayDataset(4 * BATCH, shape=(SIZE,)), transform, threads)
    contenders = {
        "tight": lambda: tight_loop(ds, transform, n, threads),
        "fast": lambda: loader_epoch(ds, transform, threads),
    }
    if threads > 1:
        contenders["one"] = lambda: loader_epoch(ds, transform, 1)
    torch, failed_torch = optional_import("torch.utils.data")
    startup = {}
    loaders = []
    if torch is not None:
        for workers in (0,) if quick else (0, threads):
            dl, startup[workers] = torch_loader(ds, transform, workers)
            loaders.append(dl)
            contenders[f"torch{workers}"] = lambda dl=dl: sum(len(b["y"]) for b in dl)
    t = race(contenders, repeats)
    rate = {k: n / v.wall for k, v in t.items()}
    cpu_ratio = t["tight"].cpu / t["fast"].cpu
    cond = (
        f"{threads} thread(s), batch {BATCH}, {n} samples, ~1 ms/sample GIL-free numba "
        f"transform, median of {repeats}"
    )
    fast = rate["fast"]
    yield reference("fastload Loader", fast, cond)
    yield baseline(
        "tight loop (transform only)",
        rate["tight"],
        "the transform alone on the same threads (ceiling); ratio = Loader / this; "
        f"CPU-time ratio (tight CPU / Loader CPU) {cpu_ratio:.3f}",
        ratio=fast / rate["tight"],
        goal=">= 0.90",
        ratio_range=per_repeat(t["tight"], t["fast"]),
    )
    if torch is None:
        yield failed_torch
    for workers in sorted(startup):
        name = f"torch{workers}"
        how = (
            "in-process"
            if workers == 0
            else (f"{workers} worker processes, persistent_workers=True")
        )
        yield peer(
            f"torch DataLoader num_workers={workers}",
            rate[name],
            fast,
            f"{how}; start-up not in the rate",
            ratio_range=per_repeat(t[name], t["fast"]),
        )
        if workers:
            yield seconds(
                f"start-up: torch DataLoader num_workers={workers}",
                startup[workers],
                "iter() to the first batch (worker spawn), once per DataLoader",
            )
    if threads > 1:
        one = rate["one"]
        yield reference("fastload Loader, 1 thread", one)
        yield variant(
            f"fastload Loader, {threads} threads",
            fast,
            one,
            f"ratio = {threads}-thread / 1-thread Loader",
            goal=">= 1.8",
            ratio_range=per_repeat(t["one"], t["fast"]),
        )


def torch_loader(ds, transform, workers):
    """A torch DataLoader over ``ds`` (persistent workers) after one untimed epoch, and its
    start-up seconds (``iter()`` to the first batch)."""
    import torch

    torch.set_num_threads(1)

    class TorchDataset(torch.utils.data.Dataset):
        def __len__(self):
            return len(ds)

        def __getitem__(self, i):
            return transform(ds[i], sample_rng(0, 0, i))

    dl = torch.utils.data.DataLoader(
        TorchDataset(),
        batch_size=BATCH,
        shuffle=True,
        num_workers=workers,
        drop_last=True,
        persistent_workers=workers > 0,
    )
    t0 = time.perf_counter()
    it = iter(dl)
    next(it)
    startup = time.perf_counter() - t0
    for _ in it:
        pass
    return dl, startup


def _torchvision_rows(threads, peer_python):
    """resnet50_train through the Loader vs torch DataLoader + the torchvision recipe."""
    from fastload.bench.data import describe_images, imagenet_like, read_all
    from fastload.bench.harness import peer_contenders, per_repeat, race
    from fastload.pipelines.resnet50 import resnet50_train

    folder = imagenet_like(240)
    paths, files = read_all(folder)
    n = len(files)
    workers = max(1, threads)
    dl, info, close, failed = peer_contenders(
        "fastload.bench.peers:torch_dataloader_image",
        {"paths": paths, "workers": workers, "batch": BATCH},
        modules=["torch", "torchvision"],
        peer_python=peer_python,
        threads=1,
    )
    if failed is not None:
        yield failed
        return
    try:
        ds = [{"image": f, "label": 0} for f in files]
        loader = Loader(
            ds,
            transform=resnet50_train(preset="nvidia", dtype="float32", layout="CHW"),
            batch_size=BATCH,
            num_threads=workers,
            epoch_end="partial",
        )
        t0 = time.perf_counter()
        it = iter(loader)
        next(it)
        fl_startup = time.perf_counter() - t0
        for _ in it:
            pass

        def epoch():
            for _ in loader:
                pass

        t = race({"fast": epoch, **dl}, 5, warmup=0)
    finally:
        close()
    fast = n / t["fast"].wall
    yield reference(
        f"Loader resnet50_train, {workers} thread(s)",
        fast,
        f"{describe_images(folder)}; batch {BATCH}, epochs interleaved, wall time",
    )
    for name, label in (("dl_tv_io", "torchvision.io + v2"), ("dl_tv_pil", "torchvision + PIL")):
        yield peer(
            f"torch DataLoader + {label}, {workers} worker(s)",
            n / t[name].wall,
            fast,
            f"persistent workers; start-up not in the rate; {info['version']}",
            ratio_range=per_repeat(t[name], t["fast"]),
        )
    yield seconds("start-up: fastload Loader", fl_startup, "iter() to the first batch")
    for name, label in (("dl_tv_io", "torchvision.io + v2"), ("dl_tv_pil", "torchvision + PIL")):
        yield seconds(
            f"start-up: torch DataLoader + {label}",
            info["startup_s"][name],
            "iter() to the first batch (worker spawn)",
        )


def _process_rows(threads):
    """Process workers vs thread workers on a GIL-bound transform; the worker start-up is in
    the untimed warm-up epoch."""
    from fastload.bench.harness import per_repeat, race

    slow = PythonBusyTransform(iters=20_000)
    gds = ArrayDataset(20 * BATCH, shape=(4,))
    with (
        Loader(
            gds, transform=slow, batch_size=BATCH, num_threads=threads, workers="thread"
        ) as by_thread,
        Loader(
            gds, transform=slow, batch_size=BATCH, num_threads=threads, workers="process"
        ) as by_proc,
    ):
        t = race({"thread": lambda: list(by_thread), "process": lambda: list(by_proc)}, 3)
    n = len(gds) // BATCH * BATCH
    yield reference(
        f"Loader workers='thread' ({threads}), GIL-bound transform",
        n / t["thread"].wall,
        "pure-Python ~1 ms/sample",
    )
    yield variant(
        f"Loader workers='process' ({threads}), GIL-bound transform",
        n / t["process"].wall,
        n / t["thread"].wall,
        "worker start-up in the untimed warm-up epoch",
        ratio_range=per_repeat(t["thread"], t["process"]),
    )


def _memory_rows(threads, quick):
    try:
        extra, bound = peak_rss(threads, 6 * BATCH if quick else 32 * BATCH)
    except ImportError as exc:  # psutil is optional (the bench extra)
        yield skipped("peak RSS during an epoch", f"needs psutil ({exc})")
        return
    yield memory(
        "peak RSS during an epoch, over the open dataset",
        extra / 2**20,
        f"3x224x224 float32 x and y, batch {BATCH}; goal = prefetch x batch bytes + 100 MB",
        goal=f"<= {bound / 2**20:.1f}",
    )


def rows(threads=1, quick=False, peer_python=None):
    """Rows as they are measured (see :mod:`fastload.bench.runner`); a group that fails
    is one broken row."""
    from fastload.bench.runner import guarded

    threads = max(1, int(threads))
    yield from guarded("loader busy transform", _busy_rows, threads, quick)
    if not quick:
        yield from guarded(
            "Loader vs torch DataLoader + torchvision", _torchvision_rows, threads, peer_python
        )
        yield from guarded("Loader, resnet50_train", resnet50_rows, threads, 5)
        if threads > 1:
            yield from guarded("Loader workers='process'", _process_rows, threads)
    yield from guarded("peak RSS", _memory_rows, threads, quick)
