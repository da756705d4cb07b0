"""ShardWriter: rollover, batching, schema inference and enforcement, overwrite, closing."""

import json

import numpy as np
import pytest

from fastload.dataset import ShardWriter, open_dataset, verify
from fastload.dataset.manifest import file_checksum, manifest_checksum
from fastload.errors import SchemaError, ShardError


def _row(i, size=1000):
    return {"payload": bytes([i % 256]) * size, "label": i, "vec": np.full(4, i, np.float32)}


def test_rollover_respects_shard_size(tmp_path):
    limit = 20_000
    with ShardWriter(tmp_path / "d", shard_size_bytes=limit, batch_size_bytes=4000) as w:
        for i in range(100):
            w.write(_row(i))
        manifest = w.close()
    assert manifest["num_rows"] == 100
    shards = manifest["shards"]
    assert len(shards) >= 5
    for s in shards:
        assert s["num_bytes"] <= limit, s
        assert (tmp_path / "d" / s["file"]).stat().st_size == s["num_bytes"]
        assert s["checksum"] == file_checksum(tmp_path / "d" / s["file"])
        assert sum(s["batch_rows"]) == s["num_rows"]
    assert all(len(s["batch_rows"]) >= 2 for s in shards[:-1])
    assert [s["file"] for s in shards] == [f"shard-{k:05d}.arrow" for k in range(len(shards))]
    ds = open_dataset(tmp_path / "d")
    assert ds.read_column("label").tolist() == list(range(100))
    assert bytes(ds[57]["payload"]) == bytes([57]) * 1000


def test_oversized_record_gets_its_own_shard(tmp_path):
    with ShardWriter(tmp_path / "d", shard_size_bytes=10_000) as w:
        w.write(_row(0, 100))
        w.write(_row(1, 50_000))  # larger than a shard
        w.write(_row(2, 100))
        manifest = w.close()
    assert [s["num_rows"] for s in manifest["shards"]] == [1, 1, 1]
    ds = open_dataset(tmp_path / "d")
    assert len(ds[1]["payload"]) == 50_000 and ds[2]["label"] == 2


def test_manifest_contents(tmp_path):
    with ShardWriter(tmp_path / "d", metadata={"dataset": "x", "n": [1, 2]}) as w:
        w.write({"a": 1, "img": np.zeros((2, 3), np.uint8)})
        w.write({"a": 2, "img": np.zeros((2, 3), np.uint8)})
    m = json.loads((tmp_path / "d" / "manifest.json").read_text())
    assert m["format"] == "fastload-arrow-shards" and m["format_version"] == 1
    assert m["num_rows"] == 2 and m["metadata"] == {"dataset": "x", "n": [1, 2]}
    assert m["columns"]["a"] == {"kind": "int", "dtype": "<i8", "ndim": None, "shape": None}
    assert m["columns"]["img"] == {"kind": "array", "dtype": "|u1", "ndim": 2, "shape": [2, 3]}
    assert m["checksum_algorithm"] == "xxh3_128"
    assert m["params"]["shard_size_bytes"] == 256 * 2**20
    assert m["interrupted"] is None
    assert m["manifest_checksum"] == manifest_checksum(m)
    assert not list((tmp_path / "d").glob(".*")), "no temporary files left behind"


@pytest.mark.parametrize(
    ("bad", "match"),
    [
        ({"label": 1, "payload": b"x"}, r"record 2: missing column\(s\) 'vec'"),
        ({**_row(0), "extra": 1}, r"record 2: unexpected column\(s\) 'extra'"),
        ({**_row(0), "label": "3"}, r"record 2, column 'label' \(int\): expected an int, got str"),
        ({**_row(0), "label": True}, r"column 'label' \(int\): expected an int, got bool"),
        (
            {**_row(0), "label": 2**63},
            r"column 'label' \(int\): int 9223372036854775808 does not fit",
        ),
        ({**_row(0), "label": None}, r"column 'label'.*got NoneType"),
        ({**_row(0), "payload": "text"}, r"column 'payload' \(bytes\): expected bytes"),
        (
            {**_row(0), "vec": np.zeros(4, np.float64)},
            r"column 'vec' \(array\): expected dtype <f4, got <f8",
        ),
        (
            {**_row(0), "vec": np.zeros((2, 2), np.float32)},
            r"column 'vec' \(array\): expected 1-d array, got 2-d",
        ),
        (
            {**_row(0), "vec": [1.0, 2.0]},
            r"column 'vec' \(array\): expected a numpy array, got list",
        ),
        (
            {**_row(0), "vec": np.zeros(4, np.float32)[::2].astype(np.float32).reshape(1, 2)},
            r"expected 1-d",
        ),
    ],
)
def test_schema_mismatch_names_column_and_keeps_writer_usable(tmp_path, bad, match):
    with ShardWriter(tmp_path / "d", batch_size_bytes=1500) as w:
        w.write(_row(0))
        w.write(_row(1))
        with pytest.raises(SchemaError, match=match):
            w.write(bad)
        w.write(_row(2))
    ds = open_dataset(tmp_path / "d")
    assert ds.read_column("label").tolist() == [0, 1, 2]
    assert verify(tmp_path / "d").ok


def test_schema_error_is_a_value_error(tmp_path):
    with ShardWriter(tmp_path / "d") as w:
        w.write({"x": 1})
        with pytest.raises(ValueError):
            w.write({"x": "no"})


@pytest.mark.parametrize(
    ("first", "match"),
    [
        ({"x": None}, r"record 0, column 'x': unsupported value type NoneType"),
        ({"x": [1, 2]}, r"unsupported value type list"),
        ({"x": np.array([object()])}, r"unsupported array dtype"),
        ({"__x": 1}, r"reserved"),
        ({}, r"at least one column"),
        ({"x": 2**64}, r"does not fit in int64"),
        ({"x": "\ud800"}, r"not encodable as UTF-8"),
    ],
)
def test_inference_rejects_unsupported_first_values(tmp_path, first, match):
    with ShardWriter(tmp_path / "d") as w:
        with pytest.raises(SchemaError, match=match):
            w.write(first)
        w.write({"x": 1})  # the schema is inferred from the first *accepted* record
    assert open_dataset(tmp_path / "d")[0] == {"x": 1}


def test_numeric_leniency(tmp_path):
    with ShardWriter(tmp_path / "d") as w:
        w.write({"f": 1.5, "i": np.int32(4), "b": np.bool_(True)})
        w.write({"f": 2, "i": 5, "b": False})  # an int into a float column is fine
        with pytest.raises(SchemaError, match="column 'i'"):
            w.write({"f": 1.0, "i": 1.0, "b": False})
    ds = open_dataset(tmp_path / "d")
    assert ds[0] == {"f": 1.5, "i": 4, "b": True}
    assert ds[1] == {"f": 2.0, "i": 5, "b": False} and type(ds[1]["f"]) is float


def test_varying_shapes_clear_the_fixed_shape(tmp_path):
    with ShardWriter(tmp_path / "d") as w:
        w.write({"a": np.zeros((2, 3), np.int16)})
        w.write({"a": np.ones((4, 1), np.int16)})
    ds = open_dataset(tmp_path / "d")
    assert ds.schema["a"].shape is None
    assert ds[0]["a"].shape == (2, 3) and ds[1]["a"].shape == (4, 1)
    assert ds[1]["a"].sum() == 4


def test_caller_buffers_may_be_reused_after_write(tmp_path):
    buf = bytearray(b"abcd")
    arr = np.arange(6, dtype=np.int64)
    with ShardWriter(tmp_path / "d") as w:
        w.write({"b": buf, "a": arr, "m": memoryview(buf)})
        buf[:] = b"zzzz"
        arr[:] = -1
        w.write({"b": buf, "a": arr, "m": memoryview(buf)})
    ds = open_dataset(tmp_path / "d")
    assert bytes(ds[0]["b"]) == b"abcd" and bytes(ds[0]["m"]) == b"abcd"
    assert ds[0]["a"].tolist() == list(range(6))
    assert bytes(ds[1]["b"]) == b"zzzz" and ds[1]["a"].tolist() == [-1] * 6


def test_large_record_written_from_caller_memory(tmp_path):
    big = np.arange(300_000, dtype=np.float64)[::3]  # non-contiguous, > batch size
    with ShardWriter(tmp_path / "d", batch_size_bytes=50_000) as w:
        w.write({"x": np.zeros(3), "b": b"small"})
        w.write({"x": big, "b": memoryview(bytes(200_000))})
        w.write({"x": np.ones(2), "b": b""})
        m = w.close()
    assert m["shards"][0]["batch_rows"] == [1, 1, 1]
    ds = open_dataset(tmp_path / "d")
    np.testing.assert_array_equal(ds[1]["x"], big)
    assert len(ds[1]["b"]) == 200_000 and bytes(ds[2]["b"]) == b""


def test_overwrite(tmp_path):
    path = tmp_path / "d"
    with ShardWriter(path) as w:
        w.write({"x": 1})
    with pytest.raises(ShardError, match="already exists.*overwrite=True"):
        ShardWriter(path)
    (path / "notes.txt").write_text("mine")
    with ShardWriter(path, overwrite=True) as w:
        w.write({"y": "new"})
    ds = open_dataset(path)
    assert ds.columns == ["y"] and len(ds) == 1
    assert (path / "notes.txt").read_text() == "mine", "unrelated files are left alone"


def test_path_is_a_file(tmp_path):
    (tmp_path / "f").write_text("x")
    with pytest.raises(ShardError, match="not a folder"):
        ShardWriter(tmp_path / "f")


def test_exception_in_with_block_keeps_written_rows(tmp_path):
    with pytest.raises(RuntimeError, match="boom"):
        with ShardWriter(tmp_path / "d") as w:
            for i in range(5):
                w.write({"i": i})
            raise RuntimeError("boom")
    ds = open_dataset(tmp_path / "d")
    assert ds.read_column("i").tolist() == list(range(5))
    assert ds.manifest["interrupted"] == "RuntimeError: boom"
    report = verify(tmp_path / "d")
    assert report.ok and any("interrupted" in w for w in report.warnings)


def test_close_is_idempotent_and_final(tmp_path):
    w = ShardWriter(tmp_path / "d")
    w.write({"i": 1})
    m1 = w.close()
    assert w.close() is m1
    with pytest.raises(ShardError, match="closed"):
        w.write({"i": 2})
    assert w.num_rows == 1


def test_abort_leaves_no_dataset(tmp_path):
    w = ShardWriter(tmp_path / "d")
    w.write({"i": 1})
    w.abort()
    assert not list((tmp_path / "d").iterdir())
    with pytest.raises(ShardError, match="no manifest"):
        open_dataset(tmp_path / "d")


def test_bad_arguments(tmp_path):
    with pytest.raises(TypeError, match="JSON"):
        ShardWriter(tmp_path / "a", metadata={"x": object()})
    with pytest.raises(ValueError):
        ShardWriter(tmp_path / "b", shard_size_bytes=0)
    w = ShardWriter(tmp_path / "c")
    with pytest.raises(SchemaError, match="expected a dict"):
        w.write([1, 2])
    w.close()


def test_non_dict_mappings(tmp_path):
    import types

    with ShardWriter(tmp_path / "d") as w:
        w.write(types.MappingProxyType({"a": 1, "b": "x"}))
        w.write({"b": "y", "a": 2})  # column order may differ between records
        with pytest.raises(SchemaError, match="missing column"):
            w.write(types.MappingProxyType({"a": 3}))
    assert open_dataset(tmp_path / "d")[1] == {"a": 2, "b": "y"}
