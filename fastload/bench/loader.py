"""Loader overhead, thread scaling, memory, and torch DataLoader side by side.

Same data (in-memory arrays), same GIL-free ~1 ms/sample numba transform
(:class:`fastload.testing.loader.BusyTransform`), same thread count, measured in one run;
medians of repeats. Run pinned for the 1-thread figures::

    OMP_NUM_THREADS=1 taskset -c 0 python benchmarks/compare.py loader --threads 1
    OMP_NUM_THREADS=1 python benchmarks/compare.py loader --threads 2     # scaling

(or ``fastload bench loader [--threads N] [--quick]``).

Rows (kinds as in :mod:`fastload.bench`):

* ``fastload Loader`` (reference): one epoch through the Loader (batch 32, prefetch 2).
* ``tight loop`` (baseline, the ceiling): ``transform(dataset[i], sample_rng(seed, 0, i),
  out=...)`` split over ``threads`` plain threads; ratio = Loader / tight loop (goal >= 0.90).
* ``torch DataLoader`` (peers): map-style Dataset with the same transform, batch 32, default
  collate, ``num_workers=0`` (interleaved with the above) and ``num_workers=threads``
  (processes, not quick); ratio = fastload Loader / peer.
* ``fastload Loader, N threads`` vs 1 thread (when threads > 1): scaling (goal >= 1.8 at 2).
* ``Loader, resnet50_train`` (not quick): Loader / tight loop with the real ResNet-50
  training transform on JPEG shards.
* ``Loader workers='process'`` (threads > 1, not quick): a pure-Python (GIL-bound)
  transform, process workers vs thread workers.
* ``peak RSS`` (memory, MiB): extra resident memory during a Loader epoch over the
  dataset-open baseline (goal: within prefetch x batch bytes + 100 MB), ImageNet-sized
  float32 samples.

Wall-clock ratios are medians of per-repeat ratios of interleaved runs; on a machine shared
with other jobs also look at the CPU-time ratio in the notes, which contention barely
moves.
"""

import statistics
import threading
import time

import numpy as np

from fastload._rng import sample_rng
from fastload.bench import (
    baseline,
    broken,
    memory,
    optional_import,
    peer,
    reference,
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


def _median(fn, repeats):
    return statistics.median(fn() for _ in range(repeats))


def measure(fn, *args):
    """Run ``fn(*args) -> items``; return (items per wall second, CPU us per item).

    CPU time is the whole process's (all threads): on a machine shared with other jobs it
    is much steadier than wall time, and the ratio of CPU per item is the loader's overhead.
    """
    c0, t0 = time.process_time(), time.perf_counter()
    n = fn(*args)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    return n / wall, 1e6 * cpu / n


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
    from fastload.pipelines.resnet50 import resnet50_train
    from fastload.testing.data.imagenet import encode_jpeg, photo_like_image

    rng = np.random.default_rng(0)
    root = tempfile.mkdtemp(prefix="fastload-bench-loader-")
    try:
        imgs = [encode_jpeg(photo_like_image(375, 500, rng)) for _ in range(16)]
        with fastload.ShardWriter(f"{root}/ds", shard_size_bytes=1 << 20) as w:
            for i in range(8 * BATCH):
                w.write({"image": imgs[i % len(imgs)], "label": i % 10})
        ds = fastload.open_dataset(f"{root}/ds")
        tf = resnet50_train()
        ((shape, dtype),) = tf.output_spec().values()

        def tight(ds, n, threads):
            bufs = np.empty((threads, *shape), dtype)

            def work(t):
                for i in range(t, n, threads):
                    tf(ds[i], sample_rng(0, 0, i), out={"image": bufs[t]})

            _on_threads(work, threads)
            return n

        # one Loader for all epochs, as in training (its batch buffers are reused)
        loader = Loader(ds, transform=tf, batch_size=BATCH, num_threads=threads)

        def epoch(ds, threads):
            return sum(len(b["image"]) for b in loader)

        epoch(ds, threads)  # warm-up
        runs = [
            (measure(tight, ds, len(ds), threads)[0], measure(epoch, ds, threads)[0])
            for _ in range(repeats)
        ]
    finally:
        shutil.rmtree(root, ignore_errors=True)
    rate = statistics.median(r[1] for r in runs)
    return [
        reference(
            "Loader, resnet50_train on JPEG shards",
            rate,
            f"{threads} thread(s), 500x375 q90 JPEGs -> 3x224x224 float32, batch {BATCH}",
        ),
        baseline(
            "tight loop, resnet50_train",
            statistics.median(r[0] for r in runs),
            "the transform alone (ceiling); ratio = Loader / this",
            ratio=statistics.median(r[1] / r[0] for r in runs),
        ),
    ]


def workers_epoch(ds, transform, threads, workers):
    with Loader(
        ds, transform=transform, batch_size=BATCH, num_threads=threads, workers=workers
    ) as loader:
        next(iter(loader))  # start-up (process spawn) is not what we measure
        t0 = time.perf_counter()
        n = sum(len(b["u"]) for b in loader)
        return n / (time.perf_counter() - t0)


def torch_epoch(ds, transform, workers):
    import torch

    torch.set_num_threads(1)

    class TorchDataset(torch.utils.data.Dataset):
        def __init__(self, ds, transform):
            self.ds = ds
            self.transform = transform

        def __len__(self):
            return len(self.ds)

        def __getitem__(self, i):
            return self.transform(self.ds[i], sample_rng(0, 0, i))

    dl = torch.utils.data.DataLoader(
        TorchDataset(ds, transform),
        batch_size=BATCH,
        shuffle=True,
        num_workers=workers,
        drop_last=True,
        persistent_workers=False,
    )
    n = 0
    for batch in dl:
        n += len(batch["y"])
    return n


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


def run(threads=1, quick=False):
    """Measure; returns row dicts (kinds as in :mod:`fastload.bench`)."""
    n = 320 if quick else 1600
    repeats = 3 if quick else 9
    transform = BusyTransform.calibrated(1e-3, size=SIZE)
    ds = ArrayDataset(n, shape=(SIZE,))
    # warm up: numba cache, thread start, first-touch
    loader_epoch(ArrayDataset(4 * BATCH, shape=(SIZE,)), transform, threads)
    # interleaved repeats: a noisy shared machine slows neighbours alike; ratios are the
    # medians of per-repeat ratios
    torch, failed_torch = optional_import("torch.utils.data")
    if torch is not None:
        torch_epoch(ArrayDataset(2 * BATCH, shape=(SIZE,)), transform, 0)  # import untimed
    runs = []
    for _ in range(repeats):
        tight_r = measure(tight_loop, ds, transform, n, threads)
        fast_r = measure(loader_epoch, ds, transform, threads)
        one_r = measure(loader_epoch, ds, transform, 1) if threads > 1 else fast_r
        # in-process peer, interleaved too
        peer_r = measure(torch_epoch, ds, transform, 0) if torch is not None else (1.0, 1.0)
        runs.append((tight_r, fast_r, one_r, peer_r))
    tight, fast, one, peer0 = (statistics.median(r[i][0] for r in runs) for i in range(4))
    cpu_ratio = statistics.median(r[0][1] / r[1][1] for r in runs)
    cond = (
        f"{threads} thread(s), batch {BATCH}, {n} samples, ~1 ms/sample GIL-free numba "
        f"transform, median of {repeats}"
    )
    rows = [
        reference("fastload Loader", fast, cond),
        baseline(
            "tight loop (transform only)",
            tight,
            "the transform alone on the same threads (ceiling); ratio = Loader / this; "
            f"CPU-time ratio (tight CPU/item over Loader CPU/item) {cpu_ratio:.3f}",
            ratio=statistics.median(r[1][0] / r[0][0] for r in runs),
            goal=">= 0.90",
        ),
    ]
    if torch is None:
        rows.append(failed_torch)
    else:
        row = peer("torch DataLoader num_workers=0", peer0, fast, "same data, transform, batch")
        row["ratio"] = statistics.median(r[1][0] / r[3][0] for r in runs)  # per-repeat ratios
        rows.append(row)
    # worker-process start-up alone takes seconds
    if torch is not None and threads > 0 and not quick:
        peer_n = _median(lambda: measure(torch_epoch, ds, transform, threads)[0], 3)
        rows.append(
            peer(
                f"torch DataLoader num_workers={threads}",
                peer_n,
                fast,
                "worker processes, start-up included",
            )
        )
    if threads > 1:
        rows.append(reference("fastload Loader, 1 thread", one))
        row = variant(
            f"fastload Loader, {threads} threads",
            fast,
            one,
            f"ratio = {threads}-thread / 1-thread Loader",
            goal=">= 1.8",
        )
        row["ratio"] = statistics.median(r[1][0] / r[2][0] for r in runs)
        row["met"] = row["ratio"] >= 1.8
        rows.append(row)
    if not quick:
        try:
            rows += resnet50_rows(threads, 5)
        except Exception as exc:  # noqa: BLE001 - another concern's code; report, go on
            rows.append(broken("Loader, resnet50_train", repr(exc)))
    if threads > 1 and not quick:
        slow = PythonBusyTransform(iters=20_000)
        gds = ArrayDataset(20 * BATCH, shape=(4,))
        by_thread = statistics.median(workers_epoch(gds, slow, threads, "thread") for _ in range(3))
        by_proc = statistics.median(workers_epoch(gds, slow, threads, "process") for _ in range(3))
        rows.append(
            reference(
                f"Loader workers='thread' ({threads}), GIL-bound transform",
                by_thread,
                "pure-Python ~1 ms/sample",
            )
        )
        rows.append(
            variant(f"Loader workers='process' ({threads}), GIL-bound transform", by_proc,
                    by_thread)  # fmt: skip
        )
    try:
        extra, bound = peak_rss(threads, 6 * BATCH if quick else 32 * BATCH)
    except ImportError as exc:  # psutil is optional (the bench extra)
        rows.append(skipped("peak RSS during an epoch", f"needs psutil ({exc})"))
        return rows
    rows.append(
        memory(
            "peak RSS during an epoch, over the open dataset",
            extra / 2**20,
            f"3x224x224 float32 x and y, batch {BATCH}; goal = prefetch x batch bytes + 100 MB",
            goal=f"<= {bound / 2**20:.1f}",
        )
    )
    return rows


def rows(threads=1, quick=False, peer_python=None):
    """Rows as they are measured (see :mod:`fastload.bench.runner`)."""
    from fastload.bench.runner import guarded

    yield from guarded("loader", run, threads, quick)
