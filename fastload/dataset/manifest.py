"""``manifest.json``: the one file that says a dataset is complete.

A dataset folder holds ``manifest.json`` plus shard files ``shard-00000.arrow`` ... in the
Arrow IPC file format. The manifest is written last and atomically (temporary file,
``fsync``, ``os.replace``), so a folder without one is an unfinished write.

Layout (format version 1)::

    {
      "format": "fastload-arrow-shards",
      "format_version": 1,
      "created_by": "fastload 0.1.0",
      "created_at": "2026-01-01T12:00:00Z",
      "num_rows": 1234,
      "columns": {"image": {"kind": "bytes", "dtype": null, "ndim": null, "shape": null},
                  "label": {"kind": "int", "dtype": "<i8", "ndim": null, "shape": null}, ...},
      "shards": [{"file": "shard-00000.arrow", "num_rows": 1000, "num_bytes": 123456789,
                  "checksum": "<32 hex digits>", "batch_rows": [150, 150, ...]}, ...],
      "checksum_algorithm": "xxh3_128",
      "metadata": {...user metadata...},
      "params": {"shard_size_bytes": ..., "batch_size_bytes": ..., ...},
      "interrupted": null,
      "manifest_checksum": "<xxh3_128 of the canonical JSON of everything else>"
    }

``interrupted`` holds the exception text when the writer's ``with`` block was left by an
exception: the rows written before it are complete and readable.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import xxhash

from fastload.dataset.schema import columns_from_json, dumps_compact
from fastload.errors import ShardError

__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
    "MANIFEST_NAME",
    "file_checksum",
    "load_manifest",
    "manifest_checksum",
    "merge_parts",
    "parse_manifest",
    "validate_manifest",
    "write_manifest",
]

FORMAT = "fastload-arrow-shards"
FORMAT_VERSION = 1
MANIFEST_NAME = "manifest.json"
CHECKSUM_ALGORITHM = "xxh3_128"
#: A manifest.json larger than this is rejected before it is parsed (about 1e6 shards).
MAX_MANIFEST_BYTES = 256 * 2**20
_CHUNK = 16 * 2**20


def file_checksum(path, *, chunk_size=_CHUNK):
    """xxh3_128 hex digest of a file's bytes, read in chunks (bounded memory)."""
    h = xxhash.xxh3_128()
    buf = bytearray(chunk_size)
    view = memoryview(buf)
    with open(path, "rb", buffering=0) as f:
        while True:
            n = f.readinto(buf)
            if not n:
                break
            h.update(view[:n])
    return h.hexdigest()


def manifest_checksum(manifest):
    """xxh3_128 of the canonical JSON of ``manifest`` without its ``manifest_checksum``."""
    body = {k: v for k, v in manifest.items() if k != "manifest_checksum"}
    return xxhash.xxh3_128_hexdigest(dumps_compact(body).encode())


def write_manifest(folder, manifest, *, fsync=True):
    """Write ``manifest`` to ``folder/manifest.json`` atomically; returns the path."""
    folder = Path(folder)
    final = folder / MANIFEST_NAME
    tmp = folder / f".{MANIFEST_NAME}.tmp"
    data = json.dumps(manifest, indent=1).encode()
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        if fsync:
            os.fsync(f.fileno())
    os.replace(tmp, final)
    if fsync:
        fsync_dir(folder)
    return final


def fsync_dir(folder):
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def validate_manifest(manifest):
    """Structural problems of a parsed manifest, as a list of strings (empty when valid).

    Checks types, the format name and version, column specs, shard entries (file names,
    counts, sizes, checksums, batch row counts) and that the row counts add up. Does not
    touch the shard files.
    """
    problems = []
    if not isinstance(manifest, dict):
        return ["manifest.json: top level is not a JSON object"]
    if manifest.get("format") != FORMAT:
        problems.append(f"manifest.json: format is {manifest.get('format')!r}, expected {FORMAT!r}")
    version = manifest.get("format_version")
    if not isinstance(version, int) or not 1 <= version <= FORMAT_VERSION:
        problems.append(
            f"manifest.json: format_version {version!r} is not supported (this fastload reads "
            f"1..{FORMAT_VERSION})"
        )
    try:
        columns_from_json(manifest.get("columns"))
    except (KeyError, TypeError, ValueError) as exc:
        problems.append(f"manifest.json: bad 'columns': {exc!r}")
    if not isinstance(manifest.get("metadata", {}), dict):
        problems.append("manifest.json: 'metadata' is not an object")
    shards = manifest.get("shards")
    num_rows = manifest.get("num_rows")
    if not isinstance(num_rows, int) or num_rows < 0:
        problems.append(f"manifest.json: bad num_rows {num_rows!r}")
    if not isinstance(shards, list):
        problems.append("manifest.json: 'shards' is not a list")
        return problems
    total = 0
    seen = set()
    for k, entry in enumerate(shards):
        if not isinstance(entry, dict):
            problems.append(f"manifest.json: shard entry {k} is not an object")
            continue
        name = entry.get("file")
        label = f"shard {name!r}" if isinstance(name, str) else f"shard entry {k}"
        if (
            not isinstance(name, str)
            or not name
            or name != os.path.basename(name)
            or name.startswith(".")
        ):
            problems.append(f"manifest.json: {label}: bad file name")
            continue
        if name in seen:
            problems.append(f"manifest.json: {label} listed twice")
        seen.add(name)
        rows = entry.get("num_rows")
        nbytes = entry.get("num_bytes")
        batch_rows = entry.get("batch_rows")
        checksum = entry.get("checksum")
        if not isinstance(rows, int) or rows < 0:
            problems.append(f"manifest.json: {label}: bad num_rows {rows!r}")
            continue
        if not isinstance(nbytes, int) or nbytes <= 0:
            problems.append(f"manifest.json: {label}: bad num_bytes {nbytes!r}")
        elif rows > 8 * nbytes:  # a row takes at least one bit: absurd counts stop here
            problems.append(
                f"manifest.json: {label}: {rows} rows cannot fit in {nbytes} bytes"
            )
        if not isinstance(checksum, str) or len(checksum) != 32:
            problems.append(f"manifest.json: {label}: bad checksum {checksum!r}")
        if (
            not isinstance(batch_rows, list)
            or not all(isinstance(b, int) and b > 0 for b in batch_rows)
            or sum(batch_rows) != rows
        ):
            problems.append(f"manifest.json: {label}: batch_rows do not add up to num_rows {rows}")
        total += rows
    if isinstance(num_rows, int) and total != num_rows:
        problems.append(f"manifest.json: shards hold {total} rows but num_rows says {num_rows}")
    return problems


def load_manifest(folder):
    """Read and validate ``folder/manifest.json``.

    Raises
    ------
    ShardError
        When the folder or manifest is missing, unparsable or structurally invalid. A
        missing manifest next to shard files means the writer never finished.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise ShardError(f"{folder}: no such dataset folder")
    path = folder / MANIFEST_NAME
    try:
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            raw = f.read(size + 1) if size <= MAX_MANIFEST_BYTES else b""
    except FileNotFoundError:
        leftovers = sorted(
            p.name for p in folder.iterdir() if p.name.startswith(("shard-", ".shard-"))
        )
        hint = (
            f"; found {len(leftovers)} shard file(s) ({', '.join(leftovers[:3])}"
            f"{' ...' if len(leftovers) > 3 else ''}): the writer did not finish (killed or "
            "crashed before close()), rewrite the dataset"
            if leftovers
            else ": not a fastload dataset"
        )
        raise ShardError(f"{path}: no manifest{hint}") from None
    except OSError as exc:
        raise ShardError(f"{path}: cannot read manifest: {exc}") from exc
    if size > MAX_MANIFEST_BYTES:
        raise ShardError(
            f"{path}: manifest is {size} bytes, more than {MAX_MANIFEST_BYTES} "
            "(fastload.dataset.manifest.MAX_MANIFEST_BYTES): not a fastload manifest"
        )
    return parse_manifest(raw, path)


def parse_manifest(raw, path):
    """Parse and validate the bytes of a ``manifest.json``; ``path`` names it in errors."""
    if len(raw) > MAX_MANIFEST_BYTES:
        raise ShardError(
            f"{path}: manifest is more than {MAX_MANIFEST_BYTES} bytes "
            "(fastload.dataset.manifest.MAX_MANIFEST_BYTES): not a fastload manifest"
        )
    try:
        manifest = json.loads(raw)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError, UnicodeDecodeError, int digits
        raise ShardError(f"{path}: manifest is not valid JSON: {exc}") from None
    problems = validate_manifest(manifest)
    if problems:
        raise ShardError(f"{path}: invalid manifest: " + "; ".join(problems[:5]))
    return manifest


def merge_parts(out, parts, *, metadata=None, created_at="now", fsync=True):
    """Join complete datasets ``parts`` (folders, in order) into one dataset at ``out``.

    Shard files are moved (renamed, no copy) from the parts into ``out`` as
    ``shard-00000.arrow`` ... in part order, then ``out/manifest.json`` is written last,
    atomically. Parts with zero rows are skipped. Re-running after a crash mid-merge is
    safe: a shard already moved (missing in its part, present in ``out`` with the size and
    checksum the part's manifest lists) is accepted.

    Parameters
    ----------
    out : str or os.PathLike
        Destination folder (must hold no ``manifest.json``).
    parts : sequence of str or os.PathLike
        Part folders, each with its own valid ``manifest.json`` (from ShardWriter).
    metadata : dict, optional
        User metadata of the merged dataset (default: the first part's).
    created_at : "now" or None
        None writes ``"created_at": null`` so that the same parts always give a
        byte-identical manifest (what deterministic builds need).

    Returns
    -------
    dict
        The merged manifest.

    Raises
    ------
    ShardError
        A part is incomplete or a shard is missing; ``out`` already holds a dataset.
    SchemaError
        The parts' columns differ (names the part and the column).
    """
    import datetime
    import re

    import fastload
    from fastload.dataset.schema import Column, columns_to_json
    from fastload.errors import SchemaError

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    if (out / MANIFEST_NAME).exists():
        raise ShardError(f"{out}: already holds a dataset (manifest.json); remove it first")
    manifests = [(Path(p), load_manifest(p)) for p in parts]
    columns = None
    first_cols_part = None
    for part, m in manifests:
        if m["num_rows"] == 0:
            continue
        cols = columns_from_json(m["columns"])
        if columns is None:
            columns, first_cols_part = cols, part
            continue
        if [c.name for c in cols] != [c.name for c in columns]:
            raise SchemaError(
                f"{part}: columns {[c.name for c in cols]} differ from "
                f"{[c.name for c in columns]} of {first_cols_part}"
            )
        merged = []
        for a, b in zip(columns, cols, strict=True):
            if (a.kind, a.dtype, a.ndim) != (b.kind, b.dtype, b.ndim):
                raise SchemaError(
                    f"{part}: column {b.name!r} is {b.kind} {b.dtype} ndim={b.ndim}, but "
                    f"{a.kind} {a.dtype} ndim={a.ndim} in {first_cols_part}"
                )
            shape = a.shape if a.shape == b.shape else None
            merged.append(Column(a.name, a.kind, a.dtype, a.ndim, shape))
        columns = merged
    shards = []
    interrupted = [f"{p.name}: {m['interrupted']}" for p, m in manifests if m.get("interrupted")]
    for part, m in manifests:
        for entry in m["shards"]:
            name = f"shard-{len(shards):05d}.arrow"
            src, dst = part / entry["file"], out / name
            if src.exists():
                os.replace(src, dst)
            elif not (
                dst.exists()
                and dst.stat().st_size == entry["num_bytes"]
                and file_checksum(dst) == entry["checksum"]
            ):
                raise ShardError(f"{src}: shard listed in the part's manifest is missing")
            shards.append(dict(entry, file=name))
    # shard files left in ``out`` by an earlier, bigger attempt would confuse verify
    pattern = re.compile(r"^shard-(\d{5,})\.arrow$")
    for p in out.iterdir():
        m = pattern.match(p.name)
        if m and int(m.group(1)) >= len(shards):
            p.unlink()
    first = manifests[0][1] if manifests else {}
    manifest = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "created_by": f"fastload {fastload.__version__}",
        "created_at": None
        if created_at is None
        else datetime.datetime.now(datetime.timezone.utc)
        .replace(microsecond=0)
        .isoformat()
        .replace("+00:00", "Z"),
        "num_rows": sum(m["num_rows"] for _, m in manifests),
        "columns": columns_to_json(columns or []),
        "shards": shards,
        "checksum_algorithm": CHECKSUM_ALGORITHM,
        "metadata": dict(first.get("metadata", {})) if metadata is None else dict(metadata),
        "params": dict(first.get("params", {}), merged_parts=len(manifests)),
        "interrupted": "; ".join(interrupted) or None,
    }
    manifest["manifest_checksum"] = manifest_checksum(manifest)
    if fsync:
        fsync_dir(out)
    write_manifest(out, manifest, fsync=fsync)
    return manifest
