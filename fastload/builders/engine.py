"""The build engine shared by every dataset builder.

A build is a sorted list of *items* (one per raw sample: a file path, a case folder ...)
and a picklable *encode* function turning one item into one record (a dict of column
values) or raising. The engine:

1. cuts the item list into fixed-size *parts* (a function of the item list only, never of
   the worker count, so output is byte-identical whatever ``workers`` is);
2. builds each part as a complete mini-dataset in ``OUT/.parts/part-NNNNN/`` with a
   :class:`fastload.ShardWriter` (its manifest, written last and atomically, marks the part
   complete, so an interrupted build resumes by skipping complete parts and redoing the
   others);
3. runs parts on a local process pool (``engine="local"``) or as Ray tasks
   (``engine="ray"``);
4. moves the parts' shard files into ``OUT`` in part order, writes ``bad_samples.json``
   and finally the merged ``manifest.json``.

Bad samples (``encode`` raised) are listed with the item and error; with
``on_error="skip"`` they are left out, with ``on_error="fail"`` the build stops with a
:class:`fastload.errors.DecodeError` naming the item. ``encode`` may return None to drop an
item on purpose (a filter, e.g. LibriSpeech's duration limit); those are counted.

``index_by="split"`` records, for each value of that column, the global row indices that
hold it (``metadata["splits"]``), so a loader can select e.g. KiTS19's train or eval cases
with ``ds.subset(ds.metadata["splits"]["train"])``.
"""

import json
import os
import shutil
import sys
import time
from concurrent.futures import FIRST_EXCEPTION, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path

from fastload.dataset import ShardWriter
from fastload.dataset.manifest import merge_parts
from fastload.errors import DecodeError, FastloadError

__all__ = ["BuildResult", "run_build"]

PARTS_DIR = ".parts"
BAD_SAMPLES = "bad_samples.json"
PART_SUMMARY = "part-summary.json"


@dataclass
class BuildResult:
    """What a build produced."""

    path: Path
    rows: int
    bad_samples: list = field(default_factory=list)
    filtered: int = 0
    parts_reused: int = 0
    parts_built: int = 0
    seconds: float = 0.0
    manifest: dict = field(default_factory=dict)

    @property
    def samples_per_second(self):
        return (self.rows + len(self.bad_samples)) / self.seconds if self.seconds else 0.0


def _part_dir(out, k):
    return Path(out) / PARTS_DIR / f"part-{k:05d}"


def _build_part(out, k, items, encode, on_error, shard_size_bytes, index_by):
    """Build part ``k`` from ``items``; returns its summary dict (rows, bad, filtered, keys)."""
    part = _part_dir(out, k)
    bad, keys = [], []
    rows = filtered = 0
    if part.exists():
        shutil.rmtree(part)
    part.parent.mkdir(parents=True, exist_ok=True)
    with ShardWriter(part, shard_size_bytes=shard_size_bytes, overwrite=True) as writer:
        for item in items:
            try:
                record = encode(item)
            except Exception as exc:  # noqa: BLE001 - every failure is reported by item
                message = f"{type(exc).__name__}: {exc}"
                if on_error == "fail":
                    raise DecodeError(f"{item}: {message}") from exc
                bad.append({"item": str(item), "error": message})
                continue
            if record is None:  # the encoder filtered it out on purpose (e.g. too long)
                filtered += 1
                continue
            writer.write(record)
            rows += 1
            if index_by is not None:
                keys.append(record[index_by])
    summary = {"rows": rows, "bad": bad, "filtered": filtered, "keys": keys}
    tmp = part / (PART_SUMMARY + ".tmp")
    tmp.write_text(json.dumps(summary))
    os.replace(tmp, part / PART_SUMMARY)  # written last: marks the part complete
    return summary


def _read_summary(out, k):
    return json.loads((_part_dir(out, k) / PART_SUMMARY).read_text())


def _part_done(out, k):
    part = _part_dir(out, k)
    return (part / "manifest.json").exists() and (part / PART_SUMMARY).exists()


def _progress(total, enabled):
    if not enabled:
        return None
    from tqdm import tqdm

    return tqdm(total=total, unit="sample", dynamic_ncols=True, file=sys.stderr)


def run_build(
    items,
    encode,
    out,
    *,
    samples_per_part,
    workers=None,
    engine="local",
    address=None,
    on_error="skip",
    metadata=None,
    index_by=None,
    shard_size_bytes=2**40,
    progress=None,
):
    """Build a sharded dataset at ``out`` from ``items`` with ``encode``.

    Parameters
    ----------
    items : sequence
        Picklable descriptors, already in their final (sorted) order.
    encode : callable
        Picklable ``encode(item) -> dict | None``; None drops the item on purpose.
    samples_per_part : int
        Items per part (and per shard, unless a part exceeds ``shard_size_bytes``).
    workers : int, optional
        Local processes; defaults to ``os.cpu_count()``. Output does not depend on it.
    engine : {"local", "ray"}
    on_error : {"skip", "fail"}
    progress : bool, optional
        Progress bar; defaults to on when stderr is a terminal and CI is unset.
    """
    if on_error not in ("skip", "fail"):
        raise ValueError(f"on_error must be 'skip' or 'fail', not {on_error!r}")
    if engine not in ("local", "ray"):
        raise ValueError(f"engine must be 'local' or 'ray', not {engine!r}")
    if samples_per_part < 1:
        raise ValueError("samples_per_part must be >= 1")
    items = list(items)
    out = Path(out)
    if (out / "manifest.json").exists():
        raise FastloadError(f"{out}: a complete dataset is already there; remove it to rebuild")
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    parts = [items[i : i + samples_per_part] for i in range(0, len(items), samples_per_part)]
    todo = [k for k in range(len(parts)) if not _part_done(out, k)]
    if progress is None:
        progress = sys.stderr.isatty() and not os.environ.get("CI")
    bar = _progress(sum(len(parts[k]) for k in todo), progress)
    args = [(str(out), k, parts[k], encode, on_error, shard_size_bytes, index_by) for k in todo]
    try:
        if engine == "ray":
            _run_ray(args, address, bar)
        else:
            _run_local(args, workers, bar)
    finally:
        if bar is not None:
            bar.close()

    summaries = [_read_summary(out, k) for k in range(len(parts))]
    bad = [b for s in summaries for b in s["bad"]]
    filtered = sum(s["filtered"] for s in summaries)
    (out / BAD_SAMPLES).write_text(json.dumps(bad, indent=1))
    user_metadata = dict(metadata or {})
    user_metadata["build"] = {
        "items": len(items),
        "bad_samples": len(bad),
        "filtered": filtered,
        "bad_samples_file": BAD_SAMPLES,
        "samples_per_part": samples_per_part,
        "on_error": on_error,
    }
    if index_by is not None:
        keys = [key for s in summaries for key in s["keys"]]
        splits = {}
        for row, key in enumerate(keys):
            splits.setdefault(str(key), []).append(row)
        user_metadata["splits"] = dict(sorted(splits.items()))
    manifest = merge_parts(
        out, [_part_dir(out, k) for k in range(len(parts))], metadata=user_metadata, created_at=None
    )
    shutil.rmtree(out / PARTS_DIR, ignore_errors=True)
    return BuildResult(
        path=out,
        rows=manifest["num_rows"],
        bad_samples=bad,
        filtered=filtered,
        parts_reused=len(parts) - len(todo),
        parts_built=len(todo),
        seconds=time.perf_counter() - started,
        manifest=manifest,
    )


def _tick(bar, summary):
    if bar is not None:
        bar.update(summary["rows"] + len(summary["bad"]) + summary["filtered"])


def _run_local(args, workers, bar):
    workers = workers or os.cpu_count() or 1
    if workers == 1 or len(args) <= 1:
        for a in args:
            _tick(bar, _build_part(*a))
        return
    import multiprocessing

    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=min(workers, len(args)), mp_context=ctx) as pool:
        pending = {pool.submit(_build_part, *a) for a in args}
        while pending:
            done, pending = wait(pending, return_when=FIRST_EXCEPTION)
            for fut in done:
                _tick(bar, fut.result())  # re-raises a failed part (on_error="fail")


def _run_ray(args, address, bar):
    try:
        import ray
    except ImportError as exc:  # pragma: no cover - depends on the extra
        raise FastloadError("engine='ray' needs Ray: pip install 'fastload[ray]'") from exc
    started_here = not ray.is_initialized()
    if started_here:
        ray.init(address=address, include_dashboard=False, log_to_driver=False)
    try:
        task = ray.remote(_build_part)
        pending = [task.remote(*a) for a in args]
        while pending:
            done, pending = ray.wait(pending, num_returns=1)
            _tick(bar, ray.get(done[0]))
    finally:
        if started_here:
            ray.shutdown()
