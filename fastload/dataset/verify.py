"""``verify(path)``: a full integrity check of a sharded dataset."""

from __future__ import annotations

import dataclasses
import json
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pyarrow as pa

from fastload.dataset.manifest import (
    MANIFEST_NAME,
    MAX_MANIFEST_BYTES,
    SHARD_PATTERN,
    file_checksum,
    manifest_checksum,
    shard_batch_problem,
    shard_batches_problem,
    shard_file_problem,
    shard_schema_problem,
    validate_manifest,
)
from fastload.dataset.schema import SHAPE_PREFIX, arrow_schema, columns_from_json

__all__ = ["VerifyReport", "verify"]


@dataclasses.dataclass
class VerifyReport:
    """Outcome of :func:`verify`; attributes, or keys like a dict (``report["ok"]``).

    Attributes
    ----------
    path : str
    ok : bool
        True when no problem was found (warnings do not count).
    problems : list of str
        Each names the shard (or ``manifest.json``) and what is wrong.
    warnings : list of str
        Stray temporary files, unlisted shard files, an interrupted write.
    num_rows : int
        Rows the manifest lists.
    num_shards : int
    bytes_checked : int
        Shard bytes read and checksummed.
    bad_samples : int
        Raw samples a ``fastload build`` left out as bad (``metadata["build"]``, listed in
        ``bad_samples.json``); 0 for datasets not made by a builder. Not a problem: the
        dataset is complete without them.
    """

    path: str
    ok: bool = True
    problems: list = dataclasses.field(default_factory=list)
    warnings: list = dataclasses.field(default_factory=list)
    num_rows: int = 0
    num_shards: int = 0
    bytes_checked: int = 0
    bad_samples: int = 0

    def __bool__(self):
        return self.ok

    # Read-only mapping access too: ``report["ok"]``, ``report["problems"]``, ``dict(report)``.
    def __getitem__(self, key):
        if key not in self.keys():
            raise KeyError(key)
        return getattr(self, key)

    def __contains__(self, key):
        return key in self.keys()

    def keys(self):
        return [f.name for f in dataclasses.fields(self)]

    def get(self, key, default=None):
        return self[key] if key in self.keys() else default

    def to_dict(self):
        return dataclasses.asdict(self)

    def _problem(self, text):
        self.problems.append(text)
        self.ok = False


def verify(path, *, progress=False, workers=None):
    """Recompute every checksum and re-read every shard of the dataset at ``path``.

    Parameters
    ----------
    path : str or os.PathLike
        Dataset folder (or its ``manifest.json``).
    progress : bool
        Show a tqdm progress bar (bytes checked) on stderr.
    workers : int, optional
        Shards checked at once (threads; hashing and Arrow validation release the GIL).
        Default ``min(4, os.cpu_count())``. The report does not depend on it.

    Returns
    -------
    VerifyReport
        ``ok`` is False when anything is wrong: missing/unparsable/edited manifest, missing
        or truncated shard, checksum mismatch (a flipped byte), an Arrow file that does not
        parse or validate, row counts or schema differing from the manifest, array rows
        shorter than their shape says. Every problem names the shard. Never raises for a
        damaged dataset.
    """
    path = Path(path)
    if path.name == MANIFEST_NAME and path.is_file():
        path = path.parent
    report = VerifyReport(str(path))
    if not path.is_dir():
        report._problem(f"{path}: no such dataset folder")
        return report
    mpath = path / MANIFEST_NAME
    try:
        if mpath.stat().st_size > MAX_MANIFEST_BYTES:
            report._problem(f"{MANIFEST_NAME}: larger than {MAX_MANIFEST_BYTES} bytes")
            return report
        manifest = json.loads(mpath.read_bytes())
    except FileNotFoundError:
        report._problem(f"{MANIFEST_NAME}: missing (unfinished write, or not a fastload dataset)")
        _stray_files(path, set(), report)
        return report
    except (OSError, ValueError, RecursionError) as exc:  # JSON, UTF-8, int digits, nesting
        report._problem(f"{MANIFEST_NAME}: cannot be read or parsed: {exc}")
        return report
    structural = validate_manifest(manifest)
    for text in structural:
        report._problem(text)
    if not isinstance(manifest, dict):
        return report
    stored = manifest.get("manifest_checksum")
    if stored != manifest_checksum(manifest):
        report._problem(
            f"{MANIFEST_NAME}: contents do not match its manifest_checksum (edited or damaged)"
        )
    if manifest.get("interrupted"):
        report.warnings.append(
            f"{MANIFEST_NAME}: the writer was interrupted ({manifest['interrupted']}); "
            "rows written before that are complete"
        )
    if structural:
        return report
    report.num_rows = manifest["num_rows"]
    report.num_shards = len(manifest["shards"])
    build = manifest.get("metadata", {}).get("build")
    if isinstance(build, dict) and isinstance(build.get("bad_samples"), int):
        report.bad_samples = build["bad_samples"]
    columns = columns_from_json(manifest["columns"])
    schema = arrow_schema(columns)
    listed = set()
    bar = None
    if progress:
        from tqdm import tqdm

        total = sum(e["num_bytes"] for e in manifest["shards"])
        bar = tqdm(total=total, unit="B", unit_scale=True, desc="verify", leave=False)

    def check(entry):
        sub = VerifyReport(entry["file"])
        _verify_shard(path, entry, columns, schema, sub)
        if bar is not None:
            bar.update(entry["num_bytes"])
        return sub

    workers = workers or min(4, os.cpu_count() or 1)
    try:
        if workers > 1 and len(manifest["shards"]) > 1:
            with ThreadPoolExecutor(workers) as pool:
                subs = list(pool.map(check, manifest["shards"]))
        else:
            subs = [check(e) for e in manifest["shards"]]
    finally:
        if bar is not None:
            bar.close()
    for entry, sub in zip(manifest["shards"], subs, strict=True):
        listed.add(entry["file"])
        for text in sub.problems:
            report._problem(text)
        report.bytes_checked += sub.bytes_checked
    _stray_files(path, listed, report)
    return report


def _stray_files(path, listed, report):
    for p in sorted(path.iterdir()):
        if p.name.endswith(".tmp"):
            report.warnings.append(f"{p.name}: leftover temporary file of an unfinished write")
        elif SHARD_PATTERN.match(p.name) and p.name not in listed:
            report.warnings.append(f"{p.name}: shard file not listed in the manifest")


def _verify_shard(folder, entry, columns, schema, report):
    name = entry["file"]
    p = folder / name
    problem = shard_file_problem(p, entry, name)
    if problem is not None:
        report._problem(problem)  # a wrong size is checked further: checksum, Arrow
    try:
        size = os.stat(p).st_size
    except OSError:
        return  # missing or unreadable: reported above
    try:
        digest = file_checksum(p)
    except OSError as exc:
        report._problem(f"{name}: cannot read: {exc}")
        return
    report.bytes_checked += size
    if digest != entry["checksum"]:
        report._problem(f"{name}: checksum mismatch (file {digest}, manifest {entry['checksum']})")
    try:
        with pa.memory_map(str(p), "r") as mm:
            reader = pa.ipc.open_file(mm)
            problem = shard_schema_problem(reader, schema, name)
            if problem is not None:
                report._problem(problem)
                return
            problem = shard_batches_problem(reader, entry, name)
            if problem is not None:
                report._problem(problem)
            rows = 0
            for j in range(reader.num_record_batches):
                rb = reader.get_batch(j)
                rb.validate(full=True)
                problem = shard_batch_problem(rb, j, entry, name)
                if problem is not None:
                    report._problem(problem)
                _check_arrays(name, j, rb, columns, report)
                rows += rb.num_rows
            if rows != entry["num_rows"]:
                report._problem(f"{name}: {rows} rows, manifest says {entry['num_rows']}")
    except (OSError, pa.ArrowException, ValueError) as exc:
        report._problem(f"{name}: not a readable Arrow IPC file: {exc}")


def _check_arrays(name, j, rb, columns, report):
    for col in columns:
        arr = rb.column(col.name)
        if arr.null_count:
            report._problem(f"{name}: batch {j}: column {col.name!r} holds nulls")
            continue
        if col.kind != "array":
            continue
        n = len(arr)
        offs = np.asarray(arr.buffers()[1]).view(np.int64)[arr.offset : arr.offset + n + 1]
        lengths = np.diff(offs)
        itemsize = col.dtype.itemsize
        if col.ndim:
            sarr = rb.column(SHAPE_PREFIX + col.name)
            shapes = sarr.values.to_numpy().reshape(n, col.ndim)
            if (shapes < 0).any():
                report._problem(f"{name}: batch {j}: negative shape in column {col.name!r}")
                continue
            if col.shape is not None and (shapes != np.asarray(col.shape)).any():
                report._problem(
                    f"{name}: batch {j}: column {col.name!r} rows differ from the fixed shape "
                    f"{col.shape}"
                )
            need = shapes.astype(np.float64).prod(axis=1) * itemsize  # no int64 overflow
        else:
            need = np.full(n, itemsize, dtype=np.float64)
        short = np.flatnonzero(lengths < need)
        if short.size:
            report._problem(
                f"{name}: batch {j}: column {col.name!r} row {int(short[0])} holds "
                f"{int(lengths[short[0]])} bytes, its shape needs {int(need[short[0]])}"
            )
