"""``open_dataset`` / ``Dataset``: random access into memory-mapped Arrow shards.

Reads are zero-copy: ``bytes`` columns come back as read-only ``memoryview`` slices and
``array`` columns as read-only ndarrays, both pointing into the memory-mapped shard.
Shards are mapped lazily, once, on the first access to one of their rows (under a lock);
after that ``ds[i]`` takes no lock and is safe from any number of threads.
"""

from __future__ import annotations

import math
import operator
import threading
from bisect import bisect_right
from pathlib import Path

import numpy as np
import pyarrow as pa

from fastload.dataset.manifest import (
    load_manifest,
    shard_batch_problem,
    shard_batches_problem,
    shard_file_problem,
    shard_schema_problem,
)
from fastload.dataset.schema import SHAPE_PREFIX, arrow_schema, columns_from_json
from fastload.errors import ShardError

__all__ = ["Dataset", "open_dataset"]


def open_dataset(url, *, cache_dir=None, cache_limit=None, filesystem=None, storage_options=None):
    """Open a sharded dataset written by :class:`~fastload.ShardWriter`, local or remote.

    Parameters
    ----------
    url : str or os.PathLike
        A local folder (or its ``manifest.json``), a ``file://`` URL, or an object-storage
        URL: ``s3://bucket/prefix``, ``gs://...``, ``az://container/prefix`` (through
        ``pyarrow.fs``) or any scheme fsspec knows (when installed).
    cache_dir : str or os.PathLike, optional
        Remote datasets only: where whole shards are cached (default
        ``$FASTLOAD_CACHE_DIR``, else ``~/.cache/fastload``). Entries live under a folder
        named after the manifest checksum, so two datasets never share entries. Processes
        of one node may share it (see :mod:`fastload.dataset.cache`).
    cache_limit : int or str, optional
        Remote datasets only: bound on the cache's bytes (``50_000_000_000`` or ``"50GB"``);
        least-recently-used shards no reader holds open are evicted. None: no bound.
    filesystem : pyarrow.fs.FileSystem or fsspec filesystem, optional
        Use this filesystem instead of resolving one from the URL's scheme.
    storage_options : dict, optional
        Keyword arguments of the filesystem class (for ``s3://``:
        ``pyarrow.fs.S3FileSystem(**storage_options)``, e.g. ``endpoint_override``,
        ``region``). Credentials otherwise come from each library's usual configuration.

    Returns
    -------
    Dataset

    Raises
    ------
    ShardError
        No or invalid manifest (for example an unfinished write), a manifest whose
        checksum does not match, or a local shard file that is missing or whose size
        differs from the manifest (names the shard). Shard contents are not read here;
        use :func:`~fastload.verify` for a full check of a local dataset.
    StorageError
        Remote only: unsupported URL, no such bucket, access denied, or transient errors
        past the retry budget. Messages never contain credentials.

    Notes
    -----
    Local datasets are memory-mapped in place (zero-copy). Remote datasets fetch and
    verify the manifest first; each shard is downloaded whole into the cache on first use
    (or ahead of use, see ``Dataset.prefetch``), checked against the manifest's size and
    xxh3_128 checksum (a mismatch is fetched once more, then raises ShardError), then
    memory-mapped like a local shard.
    """
    from fastload.dataset.filesystem import is_local, local_path

    if is_local(url, filesystem):
        path = local_path(url)
        if filesystem is not None and "://" in str(path):
            path = str(path).split("://", 1)[1]
        return Dataset(ShardStore(path), None)
    from fastload.dataset.remote import RemoteStore

    store = RemoteStore(
        url,
        cache_dir=cache_dir,
        cache_limit=cache_limit,
        filesystem=filesystem,
        storage_options=storage_options,
    )
    return Dataset(store, None)


class _Batch:
    """Accessors for one record batch: a getter per column (``column_getter``)."""

    __slots__ = ("getters", "record_batch", "n")

    def __init__(self, rb, columns, shard_name):
        rb.validate(full=True)  # offsets, UTF-8, buffer sizes: ~1 ms per 100 MB of images
        self.record_batch = rb
        self.n = rb.num_rows
        self.getters = [(c.name, _getter(c, rb, shard_name)) for c in columns]

    def column_getter(self, name):
        for n, get in self.getters:
            if n == name:
                return get
        raise KeyError(name)


def _int_view(buf, start, count, fmt="q"):
    """``memoryview`` of ``count`` 8-byte items of ``buf`` from item ``start`` (zero-copy)."""
    mv = memoryview(buf).cast("B")
    return mv[start * 8 : (start + count) * 8].cast(fmt)


def _shape_table(rb, col, n):
    """The per-row shapes of array column ``col``: int64 ndarray of shape (n, ndim)."""
    sarr = rb.column(SHAPE_PREFIX + col.name)
    values = sarr.values
    return np.frombuffer(
        _int_view(values.buffers()[1], values.offset + sarr.offset * col.ndim, n * col.ndim),
        dtype=np.int64,
    ).reshape(n, col.ndim)


def _getter(col, rb, shard_name):
    arr = rb.column(col.name)
    n = len(arr)
    off = arr.offset
    kind = col.kind
    if arr.null_count:
        raise ShardError(f"{shard_name}: column {col.name!r} holds nulls")
    if kind == "int":
        return _int_view(arr.buffers()[1], off, n, "q").__getitem__
    if kind == "float":
        return _int_view(arr.buffers()[1], off, n, "d").__getitem__
    if kind == "bool":
        return arr.to_pylist().__getitem__
    bufs = arr.buffers()
    offs = _int_view(bufs[1], off, n + 1, "q")
    data = memoryview(bufs[2]).cast("B") if bufs[2] is not None else memoryview(b"")
    if kind == "str":

        def get_str(r):
            return str(data[offs[r] : offs[r + 1]], "utf-8")

        return get_str
    if kind == "bytes":

        def get_bytes(r):
            return data[offs[r] : offs[r + 1]]

        return get_bytes
    # array: Arrow's full validation (at shard open) guarantees monotonic offsets inside
    # the data buffer; here every row is checked to hold the bytes its shape needs, so the
    # per-row views below can never reach outside the mapped shard.
    dtype = col.dtype
    itemsize = dtype.itemsize
    o = np.frombuffer(offs, dtype=np.int64)
    lengths = np.diff(o)

    def check(need):
        bad = np.flatnonzero(need > lengths)
        if bad.size:
            r = int(bad[0])
            raise ShardError(
                f"{shard_name}: column {col.name!r}: row {r} of a record batch holds "
                f"{int(lengths[r])} bytes but its shape needs {int(need[r])}"
            )

    if col.shape is not None:
        shape = col.shape
        nbytes = math.prod(shape) * itemsize
        check(np.full(n, nbytes, dtype=np.float64))
        if shape and n:
            stored = _shape_table(rb, col, n)
            if (stored != np.asarray(shape, dtype=np.int64)).any():
                raise ShardError(
                    f"{shard_name}: column {col.name!r}: stored row shapes differ from the "
                    f"manifest's fixed shape {shape}"
                )
        if n and (n == 1 or (lengths[:-1] == lengths[0]).all()):
            # Constant stride (the last row may lack its padding): one strided view of the
            # whole batch; row r is a view of it.
            stride = int(lengths[0]) if n > 1 else max(nbytes, 1)
            inner = [itemsize] * len(shape)
            for k in range(len(shape) - 2, -1, -1):
                inner[k] = inner[k + 1] * shape[k + 1]
            whole = np.ndarray(
                (n, *shape),
                dtype=dtype,
                buffer=data,
                offset=int(o[0]),
                strides=(stride, *inner),
            )
            if not shape:
                return lambda r: whole[r, ...]  # a 0-d array, not a numpy scalar
            return whole.__getitem__

        def get_fixed(r):
            return np.ndarray(shape, dtype, data, offs[r])

        return get_fixed
    if col.ndim == 0:
        shapes = [()] * n
        check(np.full(n, itemsize, dtype=np.float64))
    else:
        flat = _shape_table(rb, col, n)
        if (flat < 0).any():
            raise ShardError(f"{shard_name}: negative array shape in column {col.name!r}")
        # float64 product: no int64 overflow on absurd shapes
        check(flat.astype(np.float64).prod(axis=1) * itemsize)
        shapes = list(map(tuple, flat.tolist()))

    def get_varying(r):
        try:
            return np.ndarray(shapes[r], dtype, data, offs[r])
        except (ValueError, TypeError) as exc:  # e.g. shape (0, 2**62) from a damaged shard
            raise ShardError(f"{shard_name}: column {col.name!r}, batch row {r}: {exc}") from None

    return get_varying


def _ensure_fd_limit(num_shards):
    """Each mapped shard keeps a file descriptor; raise the soft limit if it is too low."""
    try:
        import resource
    except ImportError:  # pragma: no cover - not on POSIX
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = num_shards + 1024
    if soft != resource.RLIM_INFINITY and soft < want:
        new = want if hard == resource.RLIM_INFINITY else min(want, hard)
        if new > soft:
            try:
                resource.setrlimit(resource.RLIMIT_NOFILE, (new, hard))
            except (ValueError, OSError):
                pass


class ShardStore:
    """What every view of one dataset shares: manifest, row index, opened shards.

    Internal API (not exported): the local store, and the base class of
    :class:`fastload.dataset.remote.RemoteStore`. A subclass overrides
    :meth:`check_shard_file` (run for each manifest entry when the store opens),
    :meth:`open_shard` (where a shard's file comes from) and :meth:`reopen_spec`, and maps
    a shard with :meth:`map_shard`, which validates it against the manifest.
    """

    remote = False

    def __init__(self, path, manifest=None):
        if manifest is None:
            path = Path(path)
            if path.name == "manifest.json" and path.is_file():
                path = path.parent
            manifest = load_manifest(path)
        self.path = path
        self.manifest = manifest
        self.columns = columns_from_json(self.manifest["columns"])
        self.arrow_schema = arrow_schema(self.columns)
        self.shard_files = [s["file"] for s in self.manifest["shards"]]
        batch_starts = []
        batch_shard = []
        shard_starts = []
        shard_first_batch = []
        pos = 0
        for k, entry in enumerate(self.manifest["shards"]):
            shard_starts.append(pos)
            shard_first_batch.append(len(batch_starts))
            for rows in entry["batch_rows"]:
                batch_starts.append(pos)
                batch_shard.append(k)
                pos += rows
            self.check_shard_file(entry)
        self.num_rows = pos
        self.batch_starts = batch_starts
        self.batch_shard = batch_shard
        self.shard_starts = shard_starts
        self.shard_starts_np = np.asarray(shard_starts + [pos], dtype=np.int64)
        self.shard_first_batch = shard_first_batch
        self.batches = [None] * len(batch_starts)
        self.batch_starts_np = np.asarray(batch_starts + [pos], dtype=np.int64)
        self._mmaps = [None] * len(self.shard_files)
        self._opened = [None] * len(self.shard_files)
        self._lock = threading.Lock()
        _ensure_fd_limit(len(self.shard_files))

    def reopen_spec(self):
        """What a pickled view needs to reopen this dataset."""
        return str(self.path)

    def check_shard_file(self, entry):
        """Refuse a listed shard that is missing or whose size differs from the manifest."""
        p = self.path / entry["file"]
        problem = shard_file_problem(p, entry, p)
        if problem is not None:
            raise ShardError(problem)

    def batch(self, b):
        got = self.batches[b]
        if got is None:
            k = self.batch_shard[b]
            got = self.open_shard(k)[b - self.shard_first_batch[k]]
        return got

    def open_shard(self, k):
        """Map shard ``k`` (once) and return its list of ``_Batch``."""
        opened = self._opened[k]
        if opened is not None:
            return opened
        with self._lock:
            if self._opened[k] is not None:
                return self._opened[k]
            p = self.path / self.manifest["shards"][k]["file"]
            opened, mm = self.map_shard(k, p, str(p))
            first = self.shard_first_batch[k]
            self.batches[first : first + len(opened)] = opened
            self._mmaps[k] = mm
            self._opened[k] = opened
        return opened

    def map_shard(self, k, p, label):
        """Memory-map the shard file ``p`` and validate it against manifest entry ``k``."""
        entry = self.manifest["shards"][k]
        try:
            mm = pa.memory_map(str(p), "r")
            reader = pa.ipc.open_file(mm)
            problem = shard_schema_problem(reader, self.arrow_schema, label) or (
                shard_batches_problem(reader, entry, label)
            )
            if problem is not None:
                raise ShardError(problem)
            opened = []
            for j in range(len(entry["batch_rows"])):
                rb = reader.get_batch(j)
                problem = shard_batch_problem(rb, j, entry, label)
                if problem is not None:
                    raise ShardError(problem)
                opened.append(_Batch(rb, self.columns, label))
        except ShardError:
            raise
        except (OSError, pa.ArrowException, ValueError, TypeError) as exc:
            raise ShardError(f"{label}: cannot read shard: {exc}") from exc
        return opened, mm


def _reopen(spec, index):
    if isinstance(spec, dict):
        ds = open_dataset(spec["url"], **{k: v for k, v in spec.items() if k != "url"})
    else:
        ds = open_dataset(spec)
    return ds if index is None else ds.subset(index)


class Dataset:
    """Random access to the rows of a sharded Arrow dataset (from :func:`open_dataset`).

    ``ds[i]`` returns ``dict[str, value]``: ``int``/``float``/``bool``/``str`` for scalar
    columns, a read-only ``memoryview`` for ``bytes`` columns and a read-only ndarray of
    the written dtype (little-endian) and shape for ``array`` columns, both zero-copy from
    the memory-mapped shard. Indices are global across shards; negative indices count from
    the end; out-of-range ones raise ``IndexError``; a slice gives a :meth:`subset`.
    Thread-safe. Pickles as (path, row selection), reopening on load.

    Attributes
    ----------
    path : pathlib.Path or str
        The folder of a local dataset; the URL (without credentials) of a remote one.
    columns : list of str
    schema : dict[str, Column]
        Column specs in column order (kind, dtype, ndim, shape).
    num_shards : int
    manifest : dict
        The parsed ``manifest.json`` (treat as read-only).
    metadata : dict
        The user metadata given to the writer.
    """

    __slots__ = ("_store", "_index", "_len", "_starts", "_batches")

    def __init__(self, store, index):
        self._store = store
        self._index = index
        self._len = store.num_rows if index is None else len(index)
        self._starts = store.batch_starts
        self._batches = store.batches

    # -- metadata ----------------------------------------------------------------------

    @property
    def path(self):
        return self._store.path

    @property
    def columns(self):
        return [c.name for c in self._store.columns]

    @property
    def schema(self):
        return {c.name: c for c in self._store.columns}

    @property
    def arrow_schema(self):
        """The ``pyarrow.Schema`` of the shard files."""
        return self._store.arrow_schema

    @property
    def num_shards(self):
        return len(self._store.shard_files)

    @property
    def shard_files(self):
        """Shard file names in order."""
        return list(self._store.shard_files)

    @property
    def nbytes(self):
        """Total bytes of the shard files."""
        return sum(s["num_bytes"] for s in self._store.manifest["shards"])

    @property
    def manifest(self):
        return self._store.manifest

    @property
    def metadata(self):
        return self._store.manifest.get("metadata", {})

    @property
    def indices(self):
        """Global row numbers of this view (``None`` for the whole dataset)."""
        return self._index

    def __len__(self):
        return self._len

    def __repr__(self):
        sel = "" if self._index is None else f", subset of {self._store.num_rows}"
        return (
            f"Dataset({str(self._store.path)!r}, rows={self._len}{sel}, "
            f"shards={self.num_shards}, columns={self.columns})"
        )

    def __reduce__(self):
        return (_reopen, (self._store.reopen_spec(), self._index))

    # -- rows --------------------------------------------------------------------------

    def _global(self, i):
        try:
            i = operator.index(i)
        except TypeError:
            raise TypeError(
                f"dataset indices must be integers or slices, not {type(i).__name__}"
            ) from None
        n = self._len
        if i < 0:
            i += n
            if i < 0:
                raise IndexError(f"index {i - n} out of range for dataset of {n} rows")
        elif i >= n:
            raise IndexError(f"index {i} out of range for dataset of {n} rows")
        if self._index is not None:
            i = int(self._index[i])
        return i

    def __getitem__(self, i):
        if type(i) is not int:
            if isinstance(i, slice):
                return self.subset(range(*i.indices(self._len)))
            i = self._global(i)
        elif self._index is not None or not 0 <= i < self._len:
            i = self._global(i)
        starts = self._starts
        b = bisect_right(starts, i) - 1
        batch = self._batches[b]
        if batch is None:
            batch = self._store.batch(b)
        r = i - starts[b]
        return {name: get(r) for name, get in batch.getters}

    def __iter__(self):
        for i in range(self._len):
            yield self[i]

    def locate(self, i):
        """``(shard_file_name, row_in_shard)`` of row ``i`` (for error messages)."""
        g = self._global(i)
        st = self._store
        k = bisect_right(st.shard_starts, g) - 1
        return st.shard_files[k], g - st.shard_starts[k]

    def shard_index(self):
        """Shard number of every row of this view: int64 ndarray of ``len(self)``.

        What shard-aware loader orders (``Loader(order="shard_blocks")``) group by.
        """
        st = self._store
        g = np.arange(st.num_rows, dtype=np.int64) if self._index is None else self._index
        return np.searchsorted(st.shard_starts_np, g, side="right").astype(np.int64) - 1

    def shard_nbytes(self):
        """Bytes of every shard file (int64 ndarray, manifest order)."""
        return np.asarray([s["num_bytes"] for s in self._store.manifest["shards"]], np.int64)

    @property
    def is_remote(self):
        """True when shards come from object storage through the local cache."""
        return self._store.remote

    def prefetch(self, shards):
        """Start downloading ``shards`` (shard numbers) into the cache on background
        threads; returns at once. A no-op for local datasets and for shards already
        cached or open."""
        if self._store.remote:
            self._store.prefetch(shards)

    def release_shards(self, shards):
        """Remote datasets: unmap ``shards`` in this process and unpin their cache entries
        (a hint that they are not needed soon; rows already read stay valid, and a later
        read maps them again). A no-op for local datasets."""
        if self._store.remote:
            for k in shards:
                self._store.release_shard(int(k))

    def shards_of(self, indices):
        """Shard numbers of rows ``indices`` of this view (int64 ndarray)."""
        g = np.asarray(indices, dtype=np.int64)
        if self._index is not None:
            g = self._index[g]
        st = self._store
        return np.searchsorted(st.shard_starts_np, g, side="right").astype(np.int64) - 1

    def release_shards_except(self, keep):
        """Remote datasets: :meth:`release_shards` every mapped shard not in ``keep``."""
        if self._store.remote:
            keep = {int(k) for k in keep}
            for k in self._store.open_shards():
                if k not in keep:
                    self._store.release_shard(k)

    def storage_stats(self):
        """Remote datasets: counters of this process's downloads and cache use
        (``bytes_downloaded``, ``download_wait_s``, ``cache_hits``, ``cache_misses``,
        ``downloads``, ``retries``); all zero for local datasets."""
        if self._store.remote:
            return self._store.stats()
        return {
            "bytes_downloaded": 0,
            "download_wait_s": 0.0,
            "cache_hits": 0,
            "cache_misses": 0,
            "downloads": 0,
            "retries": 0,
        }

    def subset(self, indices):
        """A view over some rows of this dataset, with the same API.

        Parameters
        ----------
        indices : sequence of int, ndarray of int, range, or boolean mask
            Row numbers of *this* view (negative ones count from the end; repeats
            allowed), or a boolean array of ``len(self)`` selecting rows.

        Returns
        -------
        Dataset
        """
        idx = self._normalize_indices(indices)
        if self._index is not None:
            idx = self._index[idx]
        idx = np.ascontiguousarray(idx)
        idx.flags.writeable = False
        return Dataset(self._store, idx)

    def _normalize_indices(self, indices):
        n = self._len
        if isinstance(indices, range):
            indices = np.arange(indices.start, indices.stop, indices.step, dtype=np.int64)
        idx = np.asarray(indices)
        if idx.dtype == bool:
            if idx.shape != (n,):
                raise IndexError(f"boolean mask of shape {idx.shape} for a dataset of {n} rows")
            return np.flatnonzero(idx).astype(np.int64)
        if idx.size == 0:
            return np.zeros(0, dtype=np.int64)
        if idx.dtype.kind not in "iu":
            raise TypeError(f"dataset indices must be integers, not {idx.dtype}")
        idx = idx.astype(np.int64, copy=False).reshape(-1)
        if idx.size:
            fixed = np.where(idx < 0, idx + n, idx)
            bad = (fixed < 0) | (fixed >= n)
            if bad.any():
                first = int(idx[np.flatnonzero(bad)[0]])
                raise IndexError(f"index {first} out of range for dataset of {n} rows")
            idx = fixed
        return idx

    def read_column(self, name, indices=None):
        """One column for many rows at once.

        Parameters
        ----------
        name : str
        indices : sequence of int or ndarray, optional
            Rows of this view; all rows when None.

        Returns
        -------
        ndarray or list
            An ndarray (``int64``, ``float64`` or ``bool``) for numeric scalar columns,
            a list otherwise (``str``, ``memoryview`` or ndarray items).
        """
        st = self._store
        col = self.schema.get(name)
        if col is None:
            raise KeyError(f"{st.path}: no column {name!r} (columns: {', '.join(self.columns)})")
        if indices is None:
            g = self._index if self._index is not None else None
        else:
            idx = self._normalize_indices(indices)
            g = idx if self._index is None else self._index[idx]
        if g is None:
            # every row, batch by batch
            parts = []
            for b in range(len(st.batches)):
                parts.append(self._batch_column(st.batch(b), col, None))
            if col.is_numeric_scalar:
                return np.concatenate(parts) if parts else np.empty(0, col.dtype)
            return [v for p in parts for v in p]
        bidx = np.searchsorted(st.batch_starts_np, g, side="right") - 1
        if col.is_numeric_scalar:
            out = np.empty(len(g), dtype=col.dtype)
        else:
            out = [None] * len(g)
        order = np.argsort(bidx, kind="stable")
        sorted_b = bidx[order]
        cuts = np.flatnonzero(np.diff(sorted_b)) + 1
        for grp in np.split(order, cuts) if len(order) else []:
            b = int(bidx[grp[0]])
            local = g[grp] - st.batch_starts[b]
            vals = self._batch_column(st.batch(b), col, local)
            if col.is_numeric_scalar:
                out[grp] = vals
            else:
                for pos, v in zip(grp.tolist(), vals, strict=True):
                    out[pos] = v
        return out

    @staticmethod
    def _batch_column(batch, col, local):
        if col.is_numeric_scalar:
            arr = batch.record_batch.column(col.name)
            if col.kind == "bool":
                values = arr.to_numpy(zero_copy_only=False)
            else:
                values = arr.to_numpy()
            return values if local is None else values[local]
        get = batch.column_getter(col.name)
        rows = range(batch.n) if local is None else local.tolist()
        return [get(r) for r in rows]
