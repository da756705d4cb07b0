"""fastload.builders.merge.merge_parts: joining per-worker parts into one dataset."""

import os

import numpy as np
import pytest

from fastload.builders.merge import merge_parts
from fastload.dataset import ShardWriter, open_dataset, verify
from fastload.dataset.manifest import load_manifest, manifest_checksum
from fastload.errors import SchemaError, ShardError


def _part(path, rows, start=0, shape=(2,), shard_size=2_000):
    with ShardWriter(path, shard_size_bytes=shard_size) as w:
        for i in range(start, start + rows):
            w.write({"x": np.full(shape, i, np.int32), "i": i, "b": bytes(300)})
    return path


def test_merge_parts_in_order(tmp_path):
    parts = [
        _part(tmp_path / ".parts" / "p0", 7, 0),
        _part(tmp_path / ".parts" / "p1", 0),
        _part(tmp_path / ".parts" / "p2", 5, 7, shape=(3,)),
    ]
    m = merge_parts(tmp_path / "out", parts, metadata={"splits": {"a": [1, 2]}})
    assert m["num_rows"] == 12 and m["metadata"] == {"splits": {"a": [1, 2]}}
    assert m["columns"]["x"]["shape"] is None  # (2,) in one part, (3,) in another
    assert m["params"]["merged_parts"] == 3
    assert m["manifest_checksum"] == manifest_checksum(m)
    ds = open_dataset(tmp_path / "out")
    assert ds.read_column("i").tolist() == list(range(12))
    assert ds[8]["x"].tolist() == [8, 8, 8]
    assert [s["file"] for s in m["shards"]] == [
        f"shard-{k:05d}.arrow" for k in range(len(m["shards"]))
    ]
    assert verify(tmp_path / "out").ok
    with pytest.raises(ShardError, match="already holds a dataset"):
        merge_parts(tmp_path / "out", parts)


def test_merge_parts_resumes_after_a_crash_mid_move(tmp_path):
    parts = [_part(tmp_path / "p0", 6, 0), _part(tmp_path / "p1", 6, 6)]
    first = load_manifest(parts[0])["shards"][0]["file"]
    (tmp_path / "out").mkdir()
    os.replace(parts[0] / first, tmp_path / "out" / "shard-00000.arrow")  # moved, then "crash"
    (tmp_path / "out" / "shard-00099.arrow").write_bytes(b"stale")  # from an older attempt
    m = merge_parts(tmp_path / "out", parts)
    assert m["num_rows"] == 12
    assert not (tmp_path / "out" / "shard-00099.arrow").exists()
    assert verify(tmp_path / "out").ok


def test_merge_parts_refuses_mismatched_columns(tmp_path):
    a = _part(tmp_path / "a", 2)
    with ShardWriter(tmp_path / "b") as w:
        w.write({"x": np.zeros(2, np.float32), "i": 1, "b": b""})
    with pytest.raises(SchemaError, match=r"column 'x'"):
        merge_parts(tmp_path / "out", [a, tmp_path / "b"])
    with ShardWriter(tmp_path / "c") as w:
        w.write({"y": 1})
    with pytest.raises(SchemaError, match="columns"):
        merge_parts(tmp_path / "out2", [a, tmp_path / "c"])


def test_merge_parts_needs_complete_parts(tmp_path):
    a = _part(tmp_path / "a", 2)
    (tmp_path / "b").mkdir()
    with pytest.raises(ShardError, match="no manifest"):
        merge_parts(tmp_path / "out", [a, tmp_path / "b"])
