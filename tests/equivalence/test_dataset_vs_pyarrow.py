"""fastload's reader against the peer it replaces: plain pyarrow reading the same shards.

Tolerance: none. Both read the same bytes from the same files, so every value must be
identical (arrays compared bit for bit, NaNs included).
"""

import numpy as np
import pyarrow as pa

from fastload.dataset import ShardWriter, open_dataset


def test_reader_equals_pyarrow(tmp_path):
    rng = np.random.default_rng(3)
    with ShardWriter(tmp_path / "d", shard_size_bytes=40_000, batch_size_bytes=9_000) as w:
        for i in range(150):
            w.write(
                {
                    "jpeg": rng.bytes(int(rng.integers(0, 900))),
                    "label": int(rng.integers(-5, 1000)),
                    "score": float(rng.standard_normal()) if i % 7 else float("nan"),
                    "keep": bool(i % 2),
                    "path": f"train/n{i:08d}/ü_{i}.JPEG",
                    "mel": rng.standard_normal((80, i % 9)).astype(np.float32),
                }
            )
    ds = open_dataset(tmp_path / "d")
    tables = [
        pa.ipc.open_file(pa.memory_map(str(tmp_path / "d" / f))).read_all() for f in ds.shard_files
    ]
    table = pa.concat_tables(tables)
    assert table.num_rows == len(ds)
    for name in ("label", "score", "keep"):
        ours = ds.read_column(name)
        theirs = table.column(name).to_numpy()
        np.testing.assert_array_equal(ours, theirs)  # exact, NaN == NaN
        rows = [ds[i][name] for i in range(len(ds))]
        np.testing.assert_array_equal(rows, table.column(name).to_pylist())
    assert ds.read_column("path") == table.column("path").to_pylist()
    assert [bytes(m) for m in ds.read_column("jpeg")] == table.column("jpeg").to_pylist()
    shapes = table.column("__shape__:mel").to_pylist()
    for i, (blob, shape) in enumerate(zip(table.column("mel").to_pylist(), shapes, strict=True)):
        expected = np.frombuffer(blob[: int(np.prod(shape)) * 4], dtype="<f4").reshape(shape)
        got = ds[i]["mel"]
        assert got.shape == tuple(shape)
        assert got.tobytes() == expected.tobytes()  # bit-identical
