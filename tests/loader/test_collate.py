"""Default collate (fastload.loader.collate)."""

import numpy as np
import pytest

from fastload.errors import SampleError
from fastload.loader.collate import Collate, default_collate


def test_stack_scalars_strings_objects():
    samples = [
        {
            "a": np.arange(3, dtype=np.int16) + i,
            "f": 0.5 * i,
            "i": i,
            "b": i % 2 == 0,
            "s": f"s{i}",
            "raw": b"x" * i,
        }
        for i in range(4)
    ]
    batch = default_collate(samples)
    assert (
        batch["a"].shape == (4, 3)
        and batch["a"].dtype == np.int16
        and batch["a"].flags.c_contiguous
    )
    assert np.array_equal(batch["a"], np.stack([s["a"] for s in samples]))
    assert (
        batch["f"].dtype == np.float64 and batch["i"].dtype == np.int64 and batch["b"].dtype == bool
    )
    assert batch["s"].tolist() == ["s0", "s1", "s2", "s3"]
    assert batch["raw"].dtype == object and batch["raw"][2] == b"xx"
    assert "a_length" not in batch


def test_ragged_1d_padded_with_length():
    samples = [{"x": np.arange(n, dtype=np.float32)} for n in (3, 1, 5)]
    batch = default_collate(samples)
    assert batch["x"].shape == (3, 5)
    assert batch["x_length"].tolist() == [3, 1, 5]
    assert np.array_equal(batch["x"][0], [0, 1, 2, 0, 0])


def test_ragged_2d_lengths_are_shapes():
    samples = [{"m": np.ones((80, t), np.float32)} for t in (4, 7)]
    batch = default_collate(samples)
    assert batch["m"].shape == (2, 80, 7)
    assert batch["m_length"].tolist() == [[80, 4], [80, 7]]
    assert batch["m"][0, :, 4:].sum() == 0


def test_declared_pad_axis_always_emits_length():
    c = Collate(pad={"m": -1}, pad_value={"m": -1.0})
    same = c([{"m": np.zeros((2, 3))}, {"m": np.zeros((2, 3))}])
    assert same["m_length"].tolist() == [3, 3]
    ragged = c([{"m": np.zeros((2, 3))}, {"m": np.zeros((2, 1))}])
    assert ragged["m"][1, :, 1:].tolist() == [[-1, -1], [-1, -1]]
    with pytest.raises(SampleError, match="outside the padded axis"):
        c([{"m": np.zeros((2, 3))}, {"m": np.zeros((3, 3))}])


def test_as_list():
    batch = Collate(as_list=("tokens",))([{"tokens": [1, 2]}, {"tokens": [3]}])
    assert batch["tokens"] == [[1, 2], [3]]


def test_out_buffers_passed_through():
    buf = np.arange(6.0).reshape(2, 3)
    batch = default_collate([{"y": buf[0]}, {"y": buf[1]}], out={"y": buf})
    assert batch["y"] is buf


@pytest.mark.parametrize(
    "samples,match",
    [
        ([{"a": 1}, {"b": 1}], "different keys"),
        ([{"a": np.zeros(2)}, {"a": np.zeros((2, 2))}], "dimensions"),
        ([{"a": np.zeros(2)}, {"a": 3}], "numpy array"),
        ([], "empty"),
    ],
)
def test_errors_name_the_problem(samples, match):
    with pytest.raises(SampleError, match=match):
        default_collate(samples)


def test_sample_provided_length_wins():
    samples = [{"features_length": t, "features": np.ones((t, 3), np.float32)} for t in (2, 5)]
    for order in (samples, [dict(reversed(list(s.items()))) for s in samples]):
        batch = default_collate(order)
        assert batch["features"].shape == (2, 5, 3)
        assert batch["features_length"].tolist() == [2, 5]
