"""Sharded Arrow datasets: ``ShardWriter`` writes, ``open_dataset`` reads, ``verify`` checks.

A dataset is a folder with ``manifest.json`` plus shard files ``shard-00000.arrow`` ... in
the Arrow IPC *file* format (random access, memory-mappable, readable by plain pyarrow:
``pyarrow.ipc.open_file(pyarrow.memory_map(path))``). See :mod:`fastload.dataset.manifest`
for the manifest layout and :mod:`fastload.dataset.schema` for the column kinds.

>>> import os, tempfile, numpy as np, fastload
>>> path = os.path.join(tempfile.mkdtemp(), "ds")
>>> with fastload.ShardWriter(path, metadata={"dataset": "demo"}) as w:
...     for i in range(4):
...         w.write({"image": b"encoded bytes", "label": i, "mask": np.zeros((4, 4), bool)})
>>> ds = fastload.open_dataset(path)
>>> row = ds[0]          # {"image": memoryview, "label": 0, "mask": ndarray (4, 4) bool}
>>> bytes(row["image"]), row["label"], row["mask"].shape
(b'encoded bytes', 0, (4, 4))
>>> ds.read_column("label")                           # int64 ndarray, all rows
array([0, 1, 2, 3])
>>> train = ds.subset(ds.metadata.get("train", range(len(ds))))
>>> fastload.verify(path).ok
True

Guarantees
----------
- Zero-copy reads: ``bytes`` columns give read-only ``memoryview`` slices and ``array``
  columns read-only ndarrays, both inside the memory-mapped shard; arrays start 8-byte
  aligned (Arrow IPC aligns buffers to 8 bytes, payloads are padded to 8).
- ``ds[i]`` is thread-safe (shards are mapped lazily under a lock, then read lock-free)
  and costs about 2 us for a 6-column row; a ``Dataset`` pickles as (path, selection).
- Shards roll over at ``shard_size_bytes``; 64-bit offsets (``large_binary``) allow
  shards past 2 GiB and single records past 1 GiB (tested: a 2.4 GiB shard holding a
  1 GiB record). Records at least ``batch_size_bytes`` big are written straight from
  the caller's memory, without a copy.
- Crash safety: shards are written as ``.shard-NNNNN.arrow.tmp`` and renamed when
  complete, ``manifest.json`` last and atomically; without a manifest ``open_dataset``
  refuses the folder.
- ``open_dataset`` checks shard presence and sizes; a shard is fully validated by Arrow
  (offsets, UTF-8) and against the manifest (schema, row counts, array shapes) when first
  mapped, so damaged bytes raise :class:`~fastload.errors.ShardError` instead of crashing.
  ``verify`` also recomputes the xxh3_128 checksums of every shard and of the manifest.
- ``ShardWriter`` is not thread-safe: one writer per thread or process (build in parallel
  into separate folders and join them with :func:`fastload.builders.merge.merge_parts`).
"""

from fastload.dataset.reader import Dataset, open_dataset
from fastload.dataset.schema import Column
from fastload.dataset.verify import VerifyReport, verify
from fastload.dataset.writer import ShardWriter

__all__ = ["Column", "Dataset", "ShardWriter", "VerifyReport", "open_dataset", "verify"]
