"""A shard past 2 GiB and a single 1 GiB record (Arrow 32-bit offsets would overflow).

The payloads are ``numpy.zeros`` (lazily zero-filled pages, so resident memory stays small)
with a few marker bytes; the writer passes them to Arrow without copying them.
"""

import shutil

import numpy as np
import pytest

from fastload.dataset import ShardWriter, open_dataset, verify

GIB = 2**30


@pytest.fixture
def big_path(tmp_path):
    path = tmp_path / "big"
    yield path
    shutil.rmtree(path, ignore_errors=True)  # pytest keeps old tmp folders: free 2.4 GB now


@pytest.mark.slow
def test_shard_over_2gib_with_1gib_record(big_path):
    path = big_path
    sizes = [GIB, 700 * 2**20, 700 * 2**20]  # 2.37 GiB in one shard
    with ShardWriter(path, shard_size_bytes=4 * GIB, fsync=False) as w:
        for k, n in enumerate(sizes):
            x = np.zeros(n, dtype=np.uint8)
            x[0], x[n // 2], x[-1] = k + 1, k + 11, k + 21
            blob = np.zeros(n // 7, dtype=np.uint8)
            blob[-1] = k + 31
            w.write({"x": x, "blob": memoryview(blob), "k": k})
            del x, blob
        manifest = w.close()
    assert len(manifest["shards"]) == 1
    assert manifest["shards"][0]["num_bytes"] > 2**31 + 2**28

    ds = open_dataset(path)
    assert len(ds) == 3
    for k, n in enumerate(sizes):
        row = ds[k]
        x = row["x"]
        assert x.shape == (n,) and x.dtype == np.uint8 and not x.flags.writeable
        assert (int(x[0]), int(x[n // 2]), int(x[-1])) == (k + 1, k + 11, k + 21)
        assert row["blob"].nbytes == n // 7 and row["blob"][-1] == k + 31
        assert row["k"] == k
    report = verify(path)
    assert report.ok, report.problems
    assert report.bytes_checked > 2**31
