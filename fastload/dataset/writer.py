"""``ShardWriter``: records in, Arrow IPC shard files plus ``manifest.json`` out."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pyarrow as pa

from fastload.dataset.manifest import (
    MANIFEST_NAME,
    SHARD_PATTERN,
    TMP_PATTERN,
    build_manifest,
    file_checksum,
    fsync_dir,
    shard_name,
    write_manifest,
)
from fastload.dataset.schema import arrow_schema, infer_column
from fastload.errors import SchemaError, ShardError

__all__ = ["ShardWriter"]

_ALIGN = 8  # array payloads are padded to this many bytes (Arrow IPC aligns buffers to 8)


def _round_up(n, a):
    return (n + a - 1) // a * a


def _binary_array(values, align):
    """A ``large_binary`` Arrow array over ``values`` (bytes-likes), each padded to ``align``.

    A single value is wrapped without a copy (big records are written straight from the
    caller's memory); several are concatenated once.
    """
    n = len(values)
    lengths = [v.nbytes if isinstance(v, (memoryview, np.ndarray)) else len(v) for v in values]
    offsets = np.zeros(n + 1, dtype=np.int64)
    if n == 1:
        offsets[1] = lengths[0]
        data = values[0]
        if isinstance(data, np.ndarray):
            data = data.reshape(-1).view(np.uint8) if data.size else b""
        return pa.LargeBinaryArray.from_buffers(
            pa.large_binary(), 1, [None, pa.py_buffer(offsets), pa.py_buffer(data)]
        )
    parts = []
    pos = 0
    for i, (v, ln) in enumerate(zip(values, lengths, strict=True)):
        if isinstance(v, np.ndarray):
            v = v.reshape(-1).view(np.uint8) if v.size else b""
        parts.append(v)
        pos += ln
        if align > 1 and i + 1 < n:
            pad = _round_up(pos, align) - pos
            if pad:
                parts.append(b"\0" * pad)
                pos += pad
        offsets[i + 1] = pos
    data = b"".join(parts)
    return pa.LargeBinaryArray.from_buffers(
        pa.large_binary(), n, [None, pa.py_buffer(offsets), pa.py_buffer(data)]
    )


class ShardWriter:
    """Write records (dicts of column -> value) into a sharded Arrow dataset.

    Parameters
    ----------
    path : str or os.PathLike
        Dataset folder (created if missing).
    shard_size_bytes : int
        A new shard is started before a record would push the current one past this size
        (a single larger record gets a shard of its own). Default 256 MiB.
    overwrite : bool
        Replace an existing dataset (or leftovers of an unfinished write) in ``path``.
        When False such a folder raises :class:`~fastload.errors.ShardError`. Only
        ``manifest.json`` and shard files are removed; other files are left alone.
    metadata : dict or None
        JSON-serialisable user metadata stored in the manifest (``Dataset.metadata``).
    batch_size_bytes : int
        Rows are buffered and written as one Arrow record batch per about this many
        bytes. A record at least this big is written at once, from the caller's memory.
    fsync : bool
        ``fsync`` every shard before its rename and the manifest before its replace.

    Notes
    -----
    The schema is inferred from the first record and enforced after: a record with a
    missing or extra column, or a value of another kind, dtype or ``ndim`` raises
    :class:`~fastload.errors.SchemaError` naming the column and the record number; the
    writer is left unchanged and stays usable. Array shapes may vary between rows; the
    manifest records the shape only when every row had the same one.

    Each shard is written as ``.shard-NNNNN.arrow.tmp`` and renamed when complete; the
    manifest is written last, atomically. A writer killed mid-way therefore leaves no
    manifest, and :func:`~fastload.open_dataset` refuses the folder.

    Leaving a ``with`` block through an exception still finishes the dataset with the
    rows written so far and records the exception under ``"interrupted"`` in the
    manifest (reported by ``fastload inspect`` / ``verify``).

    Examples
    --------
    >>> import os, tempfile, fastload
    >>> path = os.path.join(tempfile.mkdtemp(), "ds")
    >>> with fastload.ShardWriter(path, metadata={"name": "demo"}) as w:
    ...     w.write({"image": b"encoded bytes", "label": 3})
    >>> len(fastload.open_dataset(path))
    1
    """

    def __init__(
        self,
        path,
        *,
        shard_size_bytes=256 * 2**20,
        overwrite=False,
        metadata=None,
        batch_size_bytes=16 * 2**20,
        fsync=True,
    ):
        self.path = Path(path)
        shard_size_bytes = int(shard_size_bytes)
        batch_size_bytes = int(batch_size_bytes)
        if shard_size_bytes <= 0 or batch_size_bytes <= 0:
            raise ValueError("shard_size_bytes and batch_size_bytes must be positive")
        self.shard_size_bytes = shard_size_bytes
        self.batch_size_bytes = min(batch_size_bytes, shard_size_bytes)
        self.metadata = dict(metadata or {})
        try:
            json.dumps(self.metadata)
        except (TypeError, ValueError) as exc:
            raise TypeError(f"ShardWriter metadata must be JSON-serialisable: {exc}") from None
        self._fsync = bool(fsync)
        self._prepare_folder(overwrite)

        self._columns = None  # list[Column] after the first record
        self._names = None
        self._shapes = None  # per array column: first shape, or None once it varied
        self._rows = 0
        self._shards = []  # finished shard entries
        self._pending = []  # normalised rows not yet in a record batch
        self._pending_bytes = 0
        self._shard_index = 0
        self._sink = None  # open shard
        self._ipc = None
        self._tmp_path = None
        self._shard_rows = 0
        self._shard_batches = []
        self._manifest = None
        self._closed = False

    # -- folder handling ---------------------------------------------------------------

    def _prepare_folder(self, overwrite):
        p = self.path
        if p.exists() and not p.is_dir():
            raise ShardError(f"{p}: exists and is not a folder")
        p.mkdir(parents=True, exist_ok=True)
        ours = [
            c
            for c in p.iterdir()
            if c.name == MANIFEST_NAME or SHARD_PATTERN.match(c.name) or TMP_PATTERN.match(c.name)
        ]
        if not ours:
            return
        if not overwrite:
            what = (
                "a dataset already exists there"
                if (p / MANIFEST_NAME).exists()
                else "it holds shard files of an unfinished write"
            )
            raise ShardError(f"{p}: {what}; pass overwrite=True to replace it")
        # Remove the manifest first so the old dataset stops being 'complete' at once.
        manifest = p / MANIFEST_NAME
        if manifest.exists():
            manifest.unlink()
        for c in ours:
            if c.name != MANIFEST_NAME:
                c.unlink(missing_ok=True)

    # -- public API --------------------------------------------------------------------

    @property
    def num_rows(self):
        """Rows accepted so far."""
        return self._rows

    def write(self, record):
        """Append one record.

        Parameters
        ----------
        record : Mapping[str, object]
            Column name -> value (see :mod:`fastload.dataset.schema` for the kinds).

        Raises
        ------
        SchemaError
            The record does not match the schema (nothing is written, the writer stays
            usable).
        ShardError
            The writer is closed, or writing the shard failed.
        """
        if self._closed:
            raise ShardError(f"{self.path}: ShardWriter is closed")
        record_no = self._rows
        if not hasattr(record, "keys"):
            raise SchemaError(f"record {record_no}: expected a dict, got {type(record).__name__}")
        if self._columns is None:
            self._start_schema(record, record_no)
            try:
                values, nbytes = self._normalize(record, record_no)
            except BaseException:
                self._columns = None  # the schema comes from the first *accepted* record
                raise
        else:
            values, nbytes = self._normalize(record, record_no)
        if (self._shard_rows or self._pending) and (
            self._shard_bytes() + nbytes > self.shard_size_bytes
        ):
            self._finish_shard()
        if nbytes >= self.batch_size_bytes:
            self._flush()
            self._write_batch([values])
        else:
            self._pending.append(values)
            self._pending_bytes += nbytes
            if self._pending_bytes >= self.batch_size_bytes:
                self._flush()
        self._rows += 1

    def close(self):
        """Finish the last shard and write ``manifest.json``; returns the manifest dict.

        Calling it again returns the same manifest.
        """
        return self._close(None)

    def abort(self):
        """Stop without writing a manifest; removes the temporary shard being written.

        Finished shards stay on disk but the folder is not a dataset until rewritten.
        """
        if self._closed:
            return
        self._closed = True
        self._pending = []
        if self._ipc is not None:
            try:
                self._ipc.close()
            except Exception:  # noqa: BLE001 - best effort on the way out
                pass
            self._sink.close()
            Path(self._tmp_path).unlink(missing_ok=True)
            self._ipc = self._sink = None

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if self._closed:
            return False
        note = None if exc_type is None else f"{exc_type.__name__}: {exc}"
        self._close(note)
        return False

    def __repr__(self):
        state = "closed" if self._closed else "open"
        return (
            f"ShardWriter({str(self.path)!r}, rows={self._rows}, "
            f"shards={len(self._shards)}, {state})"
        )

    # -- internals ---------------------------------------------------------------------

    def _start_schema(self, record, record_no):
        if not record:
            raise SchemaError(f"record {record_no}: a record needs at least one column")
        columns = [infer_column(name, record[name], record_no) for name in record.keys()]
        self._columns = columns
        self._names = [c.name for c in columns]
        self._name_set = set(self._names)
        self._shapes = {c.name: c.shape for c in columns if c.kind == "array"}
        self._arrow_schema = arrow_schema(columns)
        self._schema_bytes = self._arrow_schema.serialize().size + 64

    def _normalize(self, record, record_no):
        keys = record.keys()
        if not isinstance(record, dict):
            keys = set(keys)
        if keys != self._name_set:
            keys = set(keys)
            missing = [n for n in self._names if n not in keys]
            extra = sorted(map(str, keys - self._name_set))
            parts = []
            if missing:
                parts.append(f"missing column(s) {', '.join(map(repr, missing))}")
            if extra:
                parts.append(f"unexpected column(s) {', '.join(map(repr, extra))}")
            raise SchemaError(
                f"record {record_no}: {'; '.join(parts)} (schema: {', '.join(self._names)})"
            )
        values = []
        nbytes = 0
        for col in self._columns:
            v = col.normalize(record[col.name], record_no)
            kind = col.kind
            if kind == "array":
                nbytes += _round_up(v[0].nbytes, _ALIGN) + 8 + 8 * col.ndim
            elif kind == "bytes":
                nbytes += len(v) if isinstance(v, bytes) else v.nbytes
                nbytes += 8
            elif kind == "str":
                nbytes += len(v) + 8
            else:
                nbytes += 8
            values.append(v)
        # Small payloads are kept until the batch is written: copy mutable ones now so a
        # caller reusing its buffer cannot change rows already accepted.
        if nbytes < self.batch_size_bytes:
            for j, col in enumerate(self._columns):
                v = values[j]
                if col.kind == "bytes" and not isinstance(v, bytes):
                    values[j] = v.tobytes()
                elif col.kind == "array":
                    arr, shape = v
                    values[j] = (arr.tobytes(), shape)
        for j, col in enumerate(self._columns):
            if col.kind == "array":
                shape = values[j][1]
                first = self._shapes[col.name]
                if first is not None and shape != first:
                    self._shapes[col.name] = None
        return values, nbytes

    def _shard_bytes(self):
        # Bytes written so far plus pending payloads plus an allowance for the Arrow
        # metadata still to come (one record batch header and the footer).
        pos = self._sink.tell() if self._sink is not None else self._schema_bytes
        return pos + self._pending_bytes + self._schema_bytes + 64 * len(self._shard_batches)

    def _flush(self):
        if self._pending:
            rows = self._pending
            self._pending = []
            self._pending_bytes = 0
            self._write_batch(rows)

    def _write_batch(self, rows):
        arrays = []
        for j, col in enumerate(self._columns):
            vals = [r[j] for r in rows]
            kind = col.kind
            if kind == "int":
                arrays.append(pa.array(vals, pa.int64()))
            elif kind == "float":
                arrays.append(pa.array(vals, pa.float64()))
            elif kind == "bool":
                arrays.append(pa.array(vals, pa.bool_()))
            elif kind == "str":
                arrays.append(pa.array(vals, pa.large_string()))
            elif kind == "bytes":
                arrays.append(_binary_array(vals, 1))
            else:
                arrays.append(_binary_array([v[0] for v in vals], _ALIGN))
                if col.ndim > 0:
                    flat = pa.array(
                        np.array([v[1] for v in vals], dtype=np.int64).reshape(-1), pa.int64()
                    )
                    arrays.append(pa.FixedSizeListArray.from_arrays(flat, col.ndim))
        batch = pa.RecordBatch.from_arrays(arrays, schema=self._arrow_schema)
        if self._ipc is None:
            self._open_shard()
        try:
            self._ipc.write_batch(batch)
        except (OSError, pa.ArrowException) as exc:
            raise ShardError(f"{self._tmp_path}: writing a record batch failed: {exc}") from exc
        self._shard_rows += len(rows)
        self._shard_batches.append(len(rows))

    def _open_shard(self):
        name = shard_name(self._shard_index)
        self._tmp_path = str(self.path / f".{name}.tmp")
        self._sink = pa.OSFile(self._tmp_path, "wb")
        self._ipc = pa.ipc.new_file(self._sink, self._arrow_schema)

    def _finish_shard(self):
        self._flush()
        if self._ipc is None:
            return
        name = shard_name(self._shard_index)
        try:
            self._ipc.close()
            self._sink.close()
        except (OSError, pa.ArrowException) as exc:
            raise ShardError(f"{self._tmp_path}: closing the shard failed: {exc}") from exc
        tmp = self._tmp_path
        if self._fsync:
            fd = os.open(tmp, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        entry = {
            "file": name,
            "num_rows": self._shard_rows,
            "num_bytes": os.path.getsize(tmp),
            "checksum": file_checksum(tmp),
            "batch_rows": list(self._shard_batches),
        }
        os.replace(tmp, self.path / name)
        self._shards.append(entry)
        self._ipc = self._sink = self._tmp_path = None
        self._shard_rows = 0
        self._shard_batches = []
        self._shard_index += 1

    def _close(self, interrupted):
        if self._manifest is not None:
            return self._manifest
        if self._closed:
            raise ShardError(f"{self.path}: ShardWriter was aborted; there is no manifest")
        try:
            self._finish_shard()
        except BaseException:
            self.abort()
            raise
        self._closed = True
        if self._fsync:
            fsync_dir(self.path)
        columns = []
        for col in self._columns or []:
            if col.kind == "array":
                shape = self._shapes[col.name]
                col = col.__class__(col.name, col.kind, col.dtype, col.ndim, shape)
            columns.append(col)
        manifest = build_manifest(
            num_rows=self._rows,
            columns=columns,
            shards=self._shards,
            metadata=self.metadata,
            params={
                "shard_size_bytes": self.shard_size_bytes,
                "batch_size_bytes": self.batch_size_bytes,
                "array_alignment": _ALIGN,
                "pyarrow": pa.__version__,
            },
            interrupted=interrupted,
        )
        write_manifest(self.path, manifest, fsync=self._fsync)
        self._manifest = manifest
        return manifest
