"""Random-access reads of encoded-image-sized rows: memory-mapped shards vs one file each.

Same run, same payloads, same random order, warm page cache on both sides, contenders
interleaved (:func:`fastload.bench.harness.race`), medians of repeats.

The headline group is like for like: every contender touches every payload byte once (an
xxh3 checksum, standing in for a decoder that reads all its input):

- ``fastload ds[i] + xxh3`` (reference): ``open_dataset(path)[i]["image"]``, a zero-copy
  read-only ``memoryview`` into the memory-mapped shard, hashed.
- ``files read + xxh3``: ``open(path, "rb").read()`` per payload, ImageNet-style (one
  file per image), hashed; ``files os.readv reuse + xxh3``: ``os.open`` + ``readv`` into
  a reused buffer, the fastest plain-file read we know in Python; ``pyarrow
  column[i].as_py() + xxh3``: plain pyarrow on the same memory-mapped shards (copies).

Then the rows that do not touch the payload, labelled so: ``fastload ds[i]`` (the row
dict only), ``fastload ds[i] + bytes()`` (a copy), ``files open+read`` (bytes read, not
touched). Kinds as in :mod:`fastload.bench`: a peer's ``ratio`` is the group's fastload
rate over the peer's.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from fastload.bench import peer, reference, variant
from fastload.bench.harness import per_repeat, race

__all__ = ["make_payload_data", "REQUIRES", "rows", "run"]

# {module: (required for the whole concern, the rows that need it)}
REQUIRES = {"pyarrow": (True, "all"), "xxhash": (True, "all")}

MEAN_BYTES = 110_000


def make_payload_data(root, n, *, seed=0, mean_bytes=MEAN_BYTES):
    """Write ``n`` random payloads both as a dataset (``root/ds``) and as files (``root/files``).

    Payload sizes are uniform in ``mean_bytes`` +- 30 %. Returns ``(dataset_path,
    file_paths)``.
    """
    from fastload.dataset import ShardWriter

    root = Path(root)
    rng = np.random.default_rng(seed)
    sizes = rng.integers(int(mean_bytes * 0.7), int(mean_bytes * 1.3), size=n)
    files_dir = root / "files"
    files = []
    with ShardWriter(root / "ds", overwrite=True, fsync=False) as w:
        for i, size in enumerate(sizes):
            payload = rng.bytes(int(size))
            sub = files_dir / f"n{i % 16:08d}"
            if i < 16:
                sub.mkdir(parents=True, exist_ok=True)
            p = sub / f"img_{i:08d}.JPEG"
            p.write_bytes(payload)
            files.append(str(p))
            w.write({"image": payload, "label": i % 1000, "file": p.name})
    return root / "ds", files


@contextlib.contextmanager
def _pinned(threads):
    """Pin this process to the first ``threads`` CPUs it may use (like ``taskset``)."""
    get = getattr(os, "sched_getaffinity", None)
    if get is None:
        yield
        return
    before = get(0)
    cpus = sorted(before)[: max(1, threads)]
    try:
        os.sched_setaffinity(0, cpus)
        yield
    finally:
        os.sched_setaffinity(0, before)


def run(threads=1, quick=False, *, n=None, repeats=None, root=None):
    """Measure every contender; returns row dicts (kinds as in :mod:`fastload.bench`).

    Parameters
    ----------
    threads : int
        Reader threads for every contender (the process is pinned to that many CPUs).
    quick : bool
        1,000 rows and 3 repeats (about 10 s) instead of 3,000 rows and 7 repeats.
    n, repeats : int, optional
        Override the row count / repeat count.
    root : path, optional
        Scratch folder (default: a temporary folder, removed afterwards).
    """
    import pyarrow as pa
    import xxhash

    from fastload.dataset import open_dataset

    n = n or (1000 if quick else 3000)
    repeats = repeats or (3 if quick else 7)
    own = root is None
    root = Path(tempfile.mkdtemp(prefix="fastload-bench-dataset-")) if own else Path(root)
    try:
        ds_path, files = make_payload_data(root, n)
        ds = open_dataset(ds_path)
        tables = [
            pa.ipc.open_file(pa.memory_map(str(ds_path / f))).read_all().column("image")
            for f in ds.shard_files
        ]
        starts = np.cumsum([0] + [len(t) for t in tables])
        order = np.random.default_rng(1).permutation(n)

        def fl_view(idx):
            for i in idx:
                ds[i]["image"]

        def fl_copy(idx):
            for i in idx:
                bytes(ds[i]["image"])

        def fl_hash(idx):
            h = xxhash.xxh3_64_intdigest
            for i in idx:
                h(ds[i]["image"])

        def pa_take(idx):
            for i in idx:
                k = int(np.searchsorted(starts, i, side="right")) - 1
                tables[k][int(i - starts[k])].as_py()

        def files_read(idx):
            for i in idx:
                with open(files[i], "rb") as f:
                    f.read()

        def files_hash(idx):
            h = xxhash.xxh3_64_intdigest
            for i in idx:
                with open(files[i], "rb") as f:
                    h(f.read())

        def files_tuned_hash(idx):
            h = xxhash.xxh3_64_intdigest
            buf = bytearray(2 * MEAN_BYTES)
            for i in idx:
                fd = os.open(files[i], os.O_RDONLY)
                try:
                    k = os.readv(fd, [buf])
                finally:
                    os.close(fd)
                h(memoryview(buf)[:k])

        def pa_hash(idx):
            h = xxhash.xxh3_64_intdigest
            for i in idx:
                k = int(np.searchsorted(starts, i, side="right")) - 1
                h(tables[k][int(i - starts[k])].as_py())

        # the headline like-for-like rows touch every payload byte on both sides (an xxh3
        # checksum standing in for a decoder); the rows without it say so
        contenders = [
            ("fastload ds[i] + xxh3", fl_hash, "ds[i]['image'] (zero-copy memoryview) hashed"),
            ("files read + xxh3", files_hash, "open(path,'rb').read() per payload, hashed"),
            (
                "files os.readv reuse + xxh3",
                files_tuned_hash,
                "os.open + readv into a reused buffer "
                "(the fastest plain-file read we know), hashed",
            ),
            (
                "pyarrow column[i].as_py() + xxh3",
                pa_hash,
                "plain pyarrow on the same mmap, copies, hashed",
            ),
            ("fastload ds[i]", fl_view, "the row dict only: payload bytes never touched"),
            ("fastload ds[i] + bytes()", fl_copy, "plus a copy of the payload"),
            ("files open+read", files_read, "open(path,'rb').read(): bytes read, not touched"),
        ]
        rows = []
        chunks = [c.tolist() for c in np.array_split(order, threads)]
        pool = ThreadPoolExecutor(threads) if threads > 1 else None

        def over(fn):
            if pool is None:
                return lambda: fn(chunks[0])
            return lambda: list(pool.map(fn, chunks))

        try:
            with _pinned(threads):
                for _, fn, _ in contenders:  # warm the page cache, maps and code paths
                    fn(order.tolist())
                t = race({name: over(fn) for name, fn, _ in contenders}, repeats, warmup=0)
        finally:
            if pool is not None:
                pool.shutdown()
        rate = {name: n / t[name].wall for name, _, _ in contenders}
        notes = {name: note for name, _, note in contenders}
        mb = sum(os.path.getsize(f) for f in files) / n / 1e3
        cond = (
            f"{n} rows of {mb:.0f} kB mean, random order, warm cache, {threads} thread(s), "
            f"median of {repeats}"
        )
        ref = rate["fastload ds[i] + xxh3"]
        rows.append(
            reference("fastload ds[i] + xxh3", ref, f"{notes['fastload ds[i] + xxh3']}; {cond}")
        )
        for name in (
            "files read + xxh3",
            "files os.readv reuse + xxh3",
            "pyarrow column[i].as_py() + xxh3",
        ):
            rows.append(
                peer(
                    name,
                    rate[name],
                    ref,
                    notes[name],
                    ratio_range=per_repeat(t[name], t["fastload ds[i] + xxh3"]),
                )
            )
        view = rate["fastload ds[i]"]
        rows.append(reference("fastload ds[i]", view, notes["fastload ds[i]"]))
        rows.append(
            variant(
                "fastload ds[i] + bytes()",
                rate["fastload ds[i] + bytes()"],
                view,
                f"{notes['fastload ds[i] + bytes()']}; ratio = this / ds[i]",
            )
        )
        rows.append(
            peer(
                "files open+read",
                rate["files open+read"],
                view,
                f"{notes['files open+read']}; not like for like: neither side touches the payload",
                ratio_range=per_repeat(t["files open+read"], t["fastload ds[i]"]),
            )
        )
        return rows
    finally:
        if own:
            shutil.rmtree(root, ignore_errors=True)


def rows(threads=1, quick=False, peer_python=None):
    """Rows as they are measured (see :mod:`fastload.bench.runner`)."""
    from fastload.bench.runner import guarded

    yield from guarded("dataset", run, threads, quick)
