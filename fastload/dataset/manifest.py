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

import datetime
import json
import os
import re
from pathlib import Path

import xxhash

from fastload.dataset.schema import columns_from_json, columns_to_json, dumps_compact
from fastload.errors import ShardError

__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
    "MANIFEST_NAME",
    "SHARD_PATTERN",
    "TMP_PATTERN",
    "build_manifest",
    "file_checksum",
    "load_manifest",
    "manifest_checksum",
    "parse_manifest",
    "shard_batch_problem",
    "shard_batches_problem",
    "shard_file_problem",
    "shard_name",
    "shard_number",
    "shard_schema_problem",
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

#: The one shard naming rule: ``shard-00000.arrow`` ... (at least five digits, the index).
SHARD_PATTERN = re.compile(r"^shard-(\d{5,})\.arrow$")
#: A shard being written (``.shard-00000.arrow.tmp``), renamed when complete.
SHARD_TMP_PATTERN = re.compile(r"^\.shard-\d{5,}\.arrow\.tmp$")
#: Every temporary file of an unfinished write (shards and the manifest).
TMP_PATTERN = re.compile(SHARD_TMP_PATTERN.pattern + r"|^\.manifest\.json\.tmp$")


def shard_name(k):
    """File name of shard ``k``: ``shard-00000.arrow`` (matches :data:`SHARD_PATTERN`)."""
    return f"shard-{int(k):05d}.arrow"


def shard_number(name):
    """The index ``k`` of a shard file name, or None when ``name`` is not one."""
    m = SHARD_PATTERN.match(name)
    return None if m is None else int(m.group(1))


def build_manifest(*, num_rows, columns, shards, metadata, params, interrupted, created_at="now"):
    """The manifest dict of a finished dataset (format version 1), checksummed.

    Parameters
    ----------
    num_rows : int
    columns : list of Column
    shards : list of dict
        Shard entries (``file``, ``num_rows``, ``num_bytes``, ``checksum``, ``batch_rows``).
    metadata, params : dict
    interrupted : str or None
    created_at : "now" or None
        None writes ``"created_at": null`` (byte-identical manifests for the same input).
    """
    import fastload

    stamp = None
    if created_at is not None:
        now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
        stamp = now.isoformat().replace("+00:00", "Z")
    manifest = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "created_by": f"fastload {fastload.__version__}",
        "created_at": stamp,
        "num_rows": num_rows,
        "columns": columns_to_json(columns),
        "shards": shards,
        "checksum_algorithm": CHECKSUM_ALGORITHM,
        "metadata": metadata,
        "params": params,
        "interrupted": interrupted,
    }
    manifest["manifest_checksum"] = manifest_checksum(manifest)
    return manifest


# ------------------------------------------------------------ a shard against its entry
# The checks shared by the reader (raising on the first problem, when a shard is opened
# and mapped) and verify (collecting every problem). ``label`` names the shard.


def shard_file_problem(path, entry, label):
    """What is wrong with the shard file before it is read (missing, size), or None."""
    try:
        size = os.stat(path).st_size
    except FileNotFoundError:
        return f"{label}: shard listed in the manifest is missing"
    except OSError as exc:
        return f"{label}: cannot stat shard: {exc}"
    if size != entry["num_bytes"]:
        return (
            f"{label}: shard is {size} bytes but the manifest says {entry['num_bytes']} "
            "(truncated or replaced)"
        )
    return None


def shard_schema_problem(reader, arrow_schema, label):
    """The schema of an opened shard (``pyarrow.ipc.open_file``) against the manifest's
    columns, or None."""
    if reader.schema.equals(arrow_schema, check_metadata=True):
        return None
    return (
        f"{label}: shard schema does not match the manifest (its Arrow schema differs "
        "from the manifest's columns)"
    )


def shard_batches_problem(reader, entry, label):
    """The record-batch count of an opened shard against its entry, or None."""
    if reader.num_record_batches == len(entry["batch_rows"]):
        return None
    return (
        f"{label}: shard holds {reader.num_record_batches} record batches, manifest says "
        f"{len(entry['batch_rows'])}"
    )


def shard_batch_problem(rb, j, entry, label):
    """Rows of record batch ``j`` against the entry's ``batch_rows``, or None."""
    if j < len(entry["batch_rows"]) and rb.num_rows != entry["batch_rows"][j]:
        return (
            f"{label}: record batch {j} holds {rb.num_rows} rows, manifest says "
            f"{entry['batch_rows'][j]}"
        )
    return None


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
            problems.append(f"manifest.json: {label}: {rows} rows cannot fit in {nbytes} bytes")
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
            p.name
            for p in folder.iterdir()
            if SHARD_PATTERN.match(p.name) or SHARD_TMP_PATTERN.match(p.name)
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
