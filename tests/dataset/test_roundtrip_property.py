"""Property test: whatever records are written come back identical (vs the plain twin too)."""

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from fastload.dataset import ShardWriter, open_dataset
from fastload.testing.reference.dataset import read_rows

DTYPES = ["<i1", "<u2", ">i4", "<i8", ">u8", "<f2", ">f4", "<f8", "|b1", "<c8", "|u1"]


@st.composite
def datasets(draw):
    kinds = draw(
        st.lists(
            st.sampled_from(["int", "float", "bool", "str", "bytes", "array"]),
            min_size=1,
            max_size=5,
        )
    )
    dtypes = [draw(st.sampled_from(DTYPES)) for _ in kinds]
    ndims = [draw(st.integers(0, 3)) for _ in kinds]
    n = draw(st.integers(1, 12))
    rows = []
    for _ in range(n):
        row = {}
        for j, (kind, dt, nd) in enumerate(zip(kinds, dtypes, ndims, strict=True)):
            name = f"c{j}"
            if kind == "int":
                row[name] = draw(st.integers(-(2**63), 2**63 - 1))
            elif kind == "float":
                row[name] = draw(st.floats(allow_nan=False))
            elif kind == "bool":
                row[name] = draw(st.booleans())
            elif kind == "str":
                row[name] = draw(st.text(max_size=20))
            elif kind == "bytes":
                row[name] = draw(st.binary(max_size=300))
            else:
                shape = (
                    draw(hnp.array_shapes(min_dims=nd, max_dims=nd, min_side=0, max_side=4))
                    if nd
                    else ()
                )
                arr = draw(hnp.arrays(np.dtype(dt), shape))
                if draw(st.booleans()) and arr.ndim:
                    arr = np.asfortranarray(arr)
                row[name] = arr
        rows.append(row)
    shard_size = draw(st.sampled_from([300, 2000, 2**20]))
    return rows, shard_size


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=datasets())
def test_round_trip_property(tmp_path, data):
    rows, shard_size = data
    path = tmp_path / "p"
    with ShardWriter(
        path, shard_size_bytes=shard_size, batch_size_bytes=500, overwrite=True, fsync=False
    ) as w:
        for r in rows:
            w.write(r)
    ds = open_dataset(path)
    ref = read_rows(path)
    assert len(ds) == len(rows) == len(ref)
    for i, (want, twin) in enumerate(zip(rows, ref, strict=True)):
        got = ds[i]
        for name, value in want.items():
            if isinstance(value, np.ndarray):
                assert got[name].shape == value.shape and got[
                    name
                ].dtype == value.dtype.newbyteorder("<")
                np.testing.assert_array_equal(got[name], value)
                np.testing.assert_array_equal(twin[name], value)
            elif isinstance(value, bytes):
                assert bytes(got[name]) == value == twin[name]
            else:
                assert got[name] == value == twin[name] and type(got[name]) is type(value)


@st.composite
def huge_and_empty_specs(draw):
    """Specs (size, fill, int, float) of rows mixing empty values with huge ones (larger
    than a shard and a record batch); the values are built in the test, so hypothesis
    never has to print them."""
    return [
        (
            draw(st.sampled_from([0, 0, 3 * 2**20, 9 * 2**20 + 13])),
            draw(st.integers(0, 255)),
            draw(st.sampled_from([0, -(2**63), 2**63 - 1])),
            draw(st.sampled_from([0.0, -0.0, float("inf"), -float("inf"), 1e308, 5e-324])),
        )
        for _ in range(draw(st.integers(1, 4)))
    ]


def _huge_row(size, fill, i, f):
    return {
        "blob": bytes([fill]) * size,
        "text": "\u00e9" * (size // 8),
        "arr": np.full(size // 16, fill, dtype="<f8"),
        "i": i,
        "f": f,
    }


@settings(
    max_examples=6,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(specs=huge_and_empty_specs())
def test_round_trip_empty_and_huge_values(tmp_path, specs):
    """Empty values and values of several MiB (bigger than ``shard_size_bytes`` and the
    record-batch size) round-trip exactly."""
    rows = [_huge_row(*spec) for spec in specs]
    path = tmp_path / "h"
    with ShardWriter(
        path, shard_size_bytes=2**20, batch_size_bytes=2**19, overwrite=True, fsync=False
    ) as w:
        for r in rows:
            w.write(r)
    ds = open_dataset(path)
    assert len(ds) == len(rows)
    for i, want in enumerate(rows):
        got = ds[i]
        assert bytes(got["blob"]) == want["blob"]
        assert got["text"] == want["text"]
        assert got["arr"].shape == want["arr"].shape and got["arr"].dtype == want["arr"].dtype
        np.testing.assert_array_equal(got["arr"], want["arr"])
        assert got["i"] == want["i"]
        assert got["f"] == want["f"] and np.signbit(got["f"]) == np.signbit(want["f"])
