import threading

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fastload.errors import LimitError
from fastload.testing.reference import volume as ref
from fastload.volume import resample_to_spacing, resampled_shape
from fastload.volume.resample import linear_indices, nearest_indices


def rand(shape, dtype, seed=0):
    rng = np.random.default_rng(seed)
    if np.dtype(dtype).kind == "f":
        return (rng.standard_normal(shape) * 100).astype(dtype)
    info = np.iinfo(dtype)
    return rng.integers(max(info.min, -1000), min(info.max, 1000), shape).astype(dtype)


def rel_err(a, b):
    return float(np.abs(a.astype(np.float64) - b).max() / max(np.abs(b).max(), 1e-30))


@pytest.mark.parametrize(
    "shape, spacing, target, expected",
    [
        ((600, 512, 512), (0.8, 0.78, 0.78), (1.6, 1.2, 1.2), (300, 332, 332)),
        ((60, 128, 128), (3.0, 0.78, 0.78), (1.6, 1.2, 1.2), (112, 83, 83)),
        ((10, 10, 10), (1.6, 1.2, 1.2), (1.6, 1.2, 1.2), (10, 10, 10)),
    ],
)
def test_shape_rule(shape, spacing, target, expected):
    assert resampled_shape(shape, spacing, target) == expected
    # the reference's own formula (float64, astype(int))
    want = (np.array(spacing) / np.array(target) * np.array(shape)).astype(int)
    assert resampled_shape(shape, spacing, target) == tuple(want)


def test_shape_rule_float32_spacing():
    # nibabel's pixdim is float32; the reference widens it with tolist() -> float64
    sp = np.array([3.0, 0.7813, 0.7813], np.float32)
    assert resampled_shape((61, 512, 512), sp, (1.6, 1.2, 1.2)) == tuple(
        (np.array(sp.tolist()) / np.array([1.6, 1.2, 1.2]) * np.array([61, 512, 512])).astype(int)
    )


@pytest.mark.parametrize(
    "n_in, n_out", [(10, 10), (10, 5), (5, 13), (7, 1), (1, 4), (100, 67), (13, 26)]
)
def test_axis_indices_match_twin(n_in, n_out):
    i0, i1, w0, w1 = linear_indices(n_in, n_out)
    r0, r1, v0, v1 = ref.linear_axis(n_in, n_out)
    np.testing.assert_array_equal(i0, r0)
    np.testing.assert_array_equal(i1, r1)
    np.testing.assert_array_equal(w0, v0)
    np.testing.assert_array_equal(w1, v1)
    np.testing.assert_array_equal(nearest_indices(n_in, n_out), ref.nearest_axis(n_in, n_out))


@pytest.mark.parametrize("dtype", [np.int16, np.uint8, np.float32, np.float64, np.int32, np.uint16])
@pytest.mark.parametrize(
    "shape, spacing",
    [
        ((9, 20, 24), (3.0, 0.8, 0.8)),  # z up, y/x down
        ((17, 11, 13), (0.9, 1.5, 2.0)),  # z down, y/x up
        ((1, 5, 7), (1.6, 1.2, 2.0)),  # a single plane
    ],
)
def test_trilinear_matches_twin(dtype, shape, spacing):
    a = rand(shape, dtype)
    got = resample_to_spacing(a, spacing, (1.6, 1.2, 1.2))
    want = ref.trilinear_align_corners(a, resampled_shape(shape, spacing, (1.6, 1.2, 1.2)))
    assert got.dtype == np.float32 and got.shape == want.shape
    assert rel_err(got, want) <= 1e-6  # same float32 weights; only the blend order differs


@pytest.mark.parametrize("dtype", [np.uint8, np.int16, np.float32])
def test_nearest_matches_twin(dtype):
    a = rand((15, 22, 31), dtype)
    for spacing in [(3.0, 0.8, 0.8), (0.8, 2.4, 0.6), (1.6, 1.2, 1.2)]:
        got = resample_to_spacing(a, spacing, (1.6, 1.2, 1.2), order=0)
        want = ref.nearest_legacy(a, resampled_shape(a.shape, spacing, (1.6, 1.2, 1.2)))
        assert got.dtype == dtype
        np.testing.assert_array_equal(got, want)


def test_channel_axis_and_out_views():
    a = rand((2, 9, 20, 24), np.int16)
    got = resample_to_spacing(a, (3.0, 0.8, 0.8), (1.6, 1.2, 1.2))
    for c in range(2):
        np.testing.assert_array_equal(
            got[c], resample_to_spacing(a[c], (3.0, 0.8, 0.8), (1.6, 1.2, 1.2))
        )
    # write into the interior of a larger buffer (strided out)
    big = np.full((20, 20, 20), -7.0, np.float32)
    shp = resampled_shape(a.shape[1:], (3.0, 0.8, 0.8), (1.6, 1.2, 1.2))
    view = big[1 : 1 + shp[0], 2 : 2 + shp[1], 3 : 3 + shp[2]]
    r = resample_to_spacing(a[0], (3.0, 0.8, 0.8), (1.6, 1.2, 1.2), out=view)
    assert r is view
    np.testing.assert_array_equal(view, got[0])
    assert big[0].max() == -7.0
    # strided (non-contiguous) input
    np.testing.assert_array_equal(
        resample_to_spacing(a[0][:, ::2], (3.0, 1.6, 0.8), (1.6, 1.2, 1.2)),
        resample_to_spacing(np.ascontiguousarray(a[0][:, ::2]), (3.0, 1.6, 0.8), (1.6, 1.2, 1.2)),
    )


def test_fused_clip_normalize_equals_two_passes():
    a = rand((9, 20, 24), np.int16)
    fused = resample_to_spacing(
        a, (3.0, 0.8, 0.8), (1.6, 1.2, 1.2), clip=(-79, 304), normalize=(101.0, 76.9)
    )
    two = ref.clip_normalize(resample_to_spacing(a, (3.0, 0.8, 0.8), (1.6, 1.2, 1.2)))
    np.testing.assert_array_equal(fused, two)


@pytest.mark.parametrize("order", [0, 1])
def test_threads_identical(order):
    a = rand((30, 40, 50), np.uint8 if order == 0 else np.int16)
    one = resample_to_spacing(a, (3.0, 0.8, 0.8), (1.6, 1.2, 1.2), order=order)
    two = resample_to_spacing(a, (3.0, 0.8, 0.8), (1.6, 1.2, 1.2), order=order, threads=2)
    np.testing.assert_array_equal(one, two)


def test_kernel_from_several_threads_at_once():
    a = rand((30, 40, 50), np.int16)
    want = resample_to_spacing(a, (3.0, 0.8, 0.8), (1.6, 1.2, 1.2))
    got = [None] * 4

    def work(i):
        for _ in range(3):
            got[i] = resample_to_spacing(a, (3.0, 0.8, 0.8), (1.6, 1.2, 1.2))

    ts = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    for g in got:
        np.testing.assert_array_equal(g, want)


@pytest.mark.parametrize(
    "kwargs, exc",
    [
        ({"array": np.zeros((4, 4)), "spacing": (1, 1, 1)}, ValueError),
        ({"array": np.zeros((1, 1, 4, 4, 4)), "spacing": (1, 1, 1)}, ValueError),
        ({"array": np.zeros((4, 4, 4)), "spacing": (0, 1, 1)}, ValueError),
        ({"array": np.zeros((4, 4, 4)), "spacing": (-1, 1, 1)}, ValueError),
        ({"array": np.zeros((4, 4, 4)), "spacing": (np.nan, 1, 1)}, ValueError),
        ({"array": np.zeros((4, 4, 4)), "spacing": (1, 1)}, ValueError),
        ({"array": np.zeros((4, 4, 4)), "spacing": (1, 1, 1), "order": 3}, ValueError),
        ({"array": np.zeros((4, 4, 4), np.complex64), "spacing": (1, 1, 1)}, ValueError),
        ({"array": np.zeros((0, 4, 4)), "spacing": (1, 1, 1)}, ValueError),
        ({"array": np.zeros((4, 4, 4)), "spacing": (0.1, 1, 1)}, ValueError),  # empty output
        ({"array": np.zeros((4, 4, 4)), "spacing": (1e6, 1e6, 1e6)}, LimitError),
        (
            {"array": np.zeros((4, 4, 4)), "spacing": (1, 1, 1), "order": 0, "clip": (0, 1)},
            ValueError,
        ),
    ],
)
def test_bad_inputs(kwargs, exc):
    kwargs = dict(kwargs)
    with pytest.raises(exc):
        resample_to_spacing(kwargs.pop("array"), kwargs.pop("spacing"), (1.6, 1.2, 1.2), **kwargs)


def test_bad_out():
    a = np.zeros((4, 4, 4), np.int16)
    with pytest.raises(ValueError, match="shape"):
        resample_to_spacing(a, (1, 1, 1), (1, 1, 1), out=np.empty((4, 4, 3), np.float32))
    with pytest.raises(ValueError, match="dtype"):
        resample_to_spacing(a, (1, 1, 1), (1, 1, 1), out=np.empty((4, 4, 4), np.float64))


def test_read_only_input():
    a = rand((9, 20, 24), np.int16)
    ro = a.copy()
    ro.setflags(write=False)
    for order in (0, 1):
        np.testing.assert_array_equal(
            resample_to_spacing(ro, (3.0, 0.8, 0.8), (1.6, 1.2, 1.2), order=order),
            resample_to_spacing(a, (3.0, 0.8, 0.8), (1.6, 1.2, 1.2), order=order),
        )


@settings(max_examples=30, deadline=None)
@given(
    shape=st.tuples(*[st.integers(1, 12)] * 3),
    spacing=st.tuples(*[st.floats(0.3, 4.0)] * 3),
)
def test_property_matches_twins(shape, spacing):
    a = rand(shape, np.int16, seed=sum(shape))
    target = (1.6, 1.2, 1.2)
    new = resampled_shape(shape, spacing, target)
    if min(new) < 1:
        with pytest.raises(ValueError):
            resample_to_spacing(a, spacing, target)
        return
    got = resample_to_spacing(a, spacing, target)
    assert rel_err(got, ref.trilinear_align_corners(a, new)) <= 1e-6
    np.testing.assert_array_equal(
        resample_to_spacing(a, spacing, target, order=0), ref.nearest_legacy(a, new)
    )
