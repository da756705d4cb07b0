"""Round trips through ShardWriter -> open_dataset for every column kind, and the reader API."""

import pickle
import threading

import numpy as np
import pyarrow as pa
import pytest

import fastload
from fastload.dataset import Dataset, ShardWriter, open_dataset
from fastload.testing.reference.dataset import read_rows


def _records():
    """Rows exercising every kind and the awkward corners of each."""
    rng = np.random.default_rng(7)
    base = rng.standard_normal((6, 8)).astype(np.float32)
    rows = []
    strings = ["", "ascii", "naïve café", "日本語テキスト", "emoji 🐍🚀", "a\x00b", "x" * 1000]
    for i in range(23):
        rows.append(
            {
                "image": [b"", b"\x00", bytes(range(256)), rng.bytes(1500)][i % 4],
                "label": [0, -1, 2**63 - 1, -(2**63), 7][i % 5],
                "duration": [0.0, -2.5, 1e300, float("inf"), 3.25][i % 5],
                "flag": bool(i % 3),
                "text": strings[i % len(strings)],
                "fixed": base[:, ::2] * i,  # non-contiguous, same shape every row
                "big_endian": np.arange(i, i + 5, dtype=">i4").reshape(5) * 3,
                "half": np.full((2, 3), i / 8, dtype=np.float16),
                "u64": np.array([2**64 - 1 - i, i], dtype=np.uint64),
                "mask": (np.arange(i % 6) % 2).astype(bool),  # varying length, may be empty
                "scalar0d": np.asarray(i * 1.5, dtype=np.float64),  # 0-d
                "empty": np.zeros((0, 3), dtype=np.int16),
                "volume": rng.integers(-1000, 1000, size=(i % 3 + 1, 2, i % 4), dtype=np.int16),
                "when": np.array(["2020-01-01", "1999-12-31"], dtype="datetime64[D]"),
                "cplx": np.array([1 + 2j, -3j], dtype=np.complex64) * i,
            }
        )
    return rows


def _equal(a, b):
    if isinstance(a, np.ndarray):
        assert isinstance(b, np.ndarray)
        assert b.shape == a.shape
        assert b.dtype == a.dtype.newbyteorder("<") or b.dtype == a.dtype
        np.testing.assert_array_equal(b, a)
    elif isinstance(a, (bytes, bytearray, memoryview)):
        assert bytes(b) == bytes(a)
    elif isinstance(a, float) and np.isnan(a):
        assert np.isnan(b)
    else:
        assert type(b) is type(a)
        assert b == a


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    path = tmp_path_factory.mktemp("ds") / "all_kinds"
    records = _records()
    with ShardWriter(
        path, shard_size_bytes=6000, batch_size_bytes=2500, metadata={"k": [1, 2]}
    ) as w:
        for r in records:
            w.write(r)
    return path, records


def test_round_trip_every_kind(written):
    path, records = written
    ds = open_dataset(path)
    assert len(ds) == len(records)
    assert ds.num_shards > 2, "small shard size must roll over"
    assert ds.metadata == {"k": [1, 2]}
    for i, rec in enumerate(records):
        row = ds[i]
        assert list(row) == list(rec)
        for name, value in rec.items():
            _equal(value, row[name])


def test_matches_plain_pyarrow_reference(written):
    path, _ = written
    ds = open_dataset(path)
    ref = read_rows(path)  # reads with pa.ipc.open_file + to_pylist, copying everything
    assert len(ref) == len(ds)
    for i, expected in enumerate(ref):
        row = ds[i]
        for name, value in expected.items():
            _equal(value, row[name])  # exact: same bytes on disk, no tolerance


def test_shards_readable_by_plain_pyarrow(written):
    path, records = written
    ds = open_dataset(path)
    total = 0
    for name in ds.shard_files:
        reader = pa.ipc.open_file(pa.memory_map(str(path / name)))
        table = reader.read_all()
        assert "label" in table.column_names
        assert table.schema.field("fixed").metadata[b"fastload.dtype"] == b"<f4"
        total += table.num_rows
    assert total == len(records)


def test_schema_and_shapes(written):
    ds = open_dataset(written[0])
    s = ds.schema
    assert [c for c in s] == ds.columns
    assert s["label"].kind == "int" and s["duration"].kind == "float"
    assert s["flag"].kind == "bool" and s["text"].kind == "str" and s["image"].kind == "bytes"
    assert s["fixed"].kind == "array" and s["fixed"].shape == (6, 4)
    assert s["fixed"].dtype == np.dtype("<f4")
    assert s["big_endian"].dtype == np.dtype("<i4") and s["big_endian"].shape == (5,)
    assert s["mask"].shape is None and s["mask"].ndim == 1
    assert s["scalar0d"].shape == () and s["scalar0d"].ndim == 0
    assert s["volume"].shape is None and s["volume"].ndim == 3
    assert s["half"].dtype == np.float16


def test_zero_copy_and_read_only(written):
    ds = open_dataset(written[0])
    row = ds[3]
    img = row["image"]
    assert isinstance(img, memoryview) and img.readonly and img.format == "B"
    for name in ("fixed", "half", "u64", "volume", "mask"):
        arr = row[name]
        assert not arr.flags.writeable, name
        with pytest.raises(ValueError):
            arr[...] = 0
        assert arr.ctypes.data % 8 == 0, f"{name} not 8-byte aligned"
    # Same row twice: same memory (a view into the map, not a fresh copy).
    again = ds[3]
    assert again["volume"].ctypes.data == row["volume"].ctypes.data
    assert again["fixed"].ctypes.data == row["fixed"].ctypes.data
    # ... and that memory lies inside the Arrow buffer of the memory-mapped shard.
    store = ds._store
    b = [k for k, start in enumerate(store.batch_starts) if start <= 3][-1]
    buf = store.batch(b).record_batch.column("volume").buffers()[2]
    assert buf.address <= row["volume"].ctypes.data < buf.address + buf.size


def test_indexing_like_a_sequence(written):
    ds = open_dataset(written[0])
    n = len(ds)
    assert ds[-1]["label"] == ds[n - 1]["label"]
    assert ds[np.int64(2)]["text"] == ds[2]["text"]
    with pytest.raises(IndexError):
        ds[n]
    with pytest.raises(IndexError):
        ds[-n - 1]
    with pytest.raises(TypeError):
        ds["label"]
    with pytest.raises(TypeError):
        ds[1.0]
    assert [r["label"] for r in ds] == [r["label"] for r in written[1]]
    sl = ds[2:9:3]
    assert isinstance(sl, Dataset) and len(sl) == 3
    assert sl[1]["text"] == ds[5]["text"]


def test_locate(written):
    ds = open_dataset(written[0])
    seen = {}
    for i in range(len(ds)):
        shard, row = ds.locate(i)
        assert shard in ds.shard_files
        seen.setdefault(shard, []).append(row)
    for rows in seen.values():
        assert rows == list(range(len(rows)))
    assert ds.locate(-1) == ds.locate(len(ds) - 1)
    with pytest.raises(IndexError):
        ds.locate(len(ds))


def test_read_column(written):
    path, records = written
    ds = open_dataset(path)
    labels = ds.read_column("label")
    assert labels.dtype == np.int64
    np.testing.assert_array_equal(labels, [r["label"] for r in records])
    np.testing.assert_array_equal(ds.read_column("flag"), [r["flag"] for r in records])
    assert ds.read_column("flag").dtype == bool
    assert ds.read_column("duration").dtype == np.float64
    idx = [5, -1, 0, 5, 17]
    np.testing.assert_array_equal(ds.read_column("label", idx), [records[i]["label"] for i in idx])
    texts = ds.read_column("text", idx)
    assert texts == [records[i]["text"] for i in idx]
    vols = ds.read_column("volume", np.array(idx))
    for v, i in zip(vols, idx, strict=True):
        np.testing.assert_array_equal(v, records[i]["volume"])
    assert [bytes(m) for m in ds.read_column("image")] == [r["image"] for r in records]
    assert ds.read_column("label", []).shape == (0,)
    with pytest.raises(KeyError, match="nope"):
        ds.read_column("nope")
    with pytest.raises(IndexError):
        ds.read_column("label", [len(ds)])


def test_subset(written):
    path, records = written
    ds = open_dataset(path)
    sub = ds.subset([10, 3, -1, 3])
    assert len(sub) == 4
    assert [r["label"] for r in sub] == [records[i]["label"] for i in (10, 3, 22, 3)]
    np.testing.assert_array_equal(
        sub.read_column("label"), [records[i]["label"] for i in (10, 3, 22, 3)]
    )
    np.testing.assert_array_equal(
        sub.read_column("label", [-1, 0]), [records[3]["label"], records[10]["label"]]
    )
    subsub = sub.subset(range(1, 3))
    assert [r["text"] for r in subsub] == [records[3]["text"], records[22]["text"]]
    assert subsub.locate(0) == ds.locate(3)
    assert subsub.columns == ds.columns and subsub.metadata == ds.metadata
    assert len(ds.subset([])) == 0
    mask = np.zeros(len(ds), bool)
    mask[[2, 5]] = True
    assert [r["label"] for r in ds.subset(mask)] == [records[2]["label"], records[5]["label"]]
    np.testing.assert_array_equal(
        ds.read_column("label", mask), [records[2]["label"], records[5]["label"]]
    )
    with pytest.raises(IndexError, match="mask"):
        ds.subset(mask[:-1])
    with pytest.raises(TypeError):
        ds.subset([1.5])
    assert ds.nbytes == sum(s["num_bytes"] for s in ds.manifest["shards"])
    with pytest.raises(IndexError):
        ds.subset([len(ds)])
    with pytest.raises(IndexError):
        sub[4]


def test_pickle_reopens(written):
    ds = open_dataset(written[0]).subset([4, 1])
    ds2 = pickle.loads(pickle.dumps(ds))
    assert len(ds2) == 2
    assert ds2[0]["text"] == ds[0]["text"]
    np.testing.assert_array_equal(ds2[1]["volume"], ds[1]["volume"])


def test_top_level_exports():
    assert fastload.open_dataset is open_dataset
    assert fastload.ShardWriter is ShardWriter
    assert fastload.Dataset is Dataset
    assert callable(fastload.verify)


def test_concurrent_reads_with_lazy_open(written):
    path, records = written
    ds = open_dataset(path)  # fresh: no shard mapped yet, threads race to open them
    errors = []
    barrier = threading.Barrier(8)

    def work(seed):
        try:
            rng = np.random.default_rng(seed)
            barrier.wait()
            for i in rng.integers(0, len(ds), 300):
                row = ds[int(i)]
                assert row["label"] == records[i]["label"]
                assert bytes(row["image"]) == records[i]["image"]
                np.testing.assert_array_equal(row["volume"], records[i]["volume"])
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(s,)) for s in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors[0]


def test_empty_dataset(tmp_path):
    with ShardWriter(tmp_path / "e"):
        pass
    ds = open_dataset(tmp_path / "e")
    assert len(ds) == 0 and ds.num_shards == 0 and ds.columns == []
    assert list(ds) == []
    with pytest.raises(IndexError):
        ds[0]
    assert fastload.verify(tmp_path / "e").ok


def test_open_via_manifest_path(written):
    ds = open_dataset(written[0] / "manifest.json")
    assert len(ds) == len(written[1])
