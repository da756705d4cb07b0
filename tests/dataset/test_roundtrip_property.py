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
