"""The C trilinear kernel (csrc/volume/trilinear.c) and the C clip + normalise.

Each kernel test runs the AVX2 path (where the CPU has it) and the portable path, forced
through ``resample._linear_flags``, compared bit for bit with a numpy twin written here
that does the kernel's float32 operations in the kernel's order (blend two source planes,
then two rows, then two taps along x; each product and sum rounded to float32). The
looser comparisons with the reference twin and torch are in test_resample.py and
tests/equivalence.
"""

import threading

import numpy as np
import pytest

from fastload.testing.reference import volume as ref
from fastload.volume import (
    _resample_cy,
    clip_normalize,
    resample,
    resample_to_spacing,
    resampled_shape,
)
from fastload.volume.resample import linear_indices

FLAGS = {"auto": 0, "portable": _resample_cy.FORCE_SCALAR}


@pytest.fixture(params=list(FLAGS))
def path(request, monkeypatch):
    monkeypatch.setattr(resample, "_linear_flags", FLAGS[request.param])
    return request.param


def test_path_names():
    assert _resample_cy.trilinear_path(0) in ("avx2", "portable")
    assert _resample_cy.trilinear_path(_resample_cy.FORCE_SCALAR) == "portable"


DTYPES = [np.uint8, np.int8, np.int16, np.uint16, np.int32, np.float32, np.float64]
SPACING, TARGET = (3.0, 0.8, 0.7), (1.6, 1.2, 1.2)  # z up, y/x down


def rand(shape, dtype, seed=0):
    rng = np.random.default_rng(seed)
    if np.dtype(dtype).kind == "f":
        return (rng.standard_normal(shape) * 300).astype(dtype)
    info = np.iinfo(dtype)
    return rng.integers(info.min, int(info.max) + 1, shape, dtype=dtype)


def blend_twin(a, new, norm=None):
    """The kernel's float32 arithmetic in numpy, operation for operation."""
    (zi0, zi1, zw0, zw1), (yi0, yi1, yw0, yw1), (xi0, xi1, xw0, xw1) = (
        linear_indices(n, m) for n, m in zip(a.shape, new, strict=True)
    )
    a = a.astype(np.float32)
    plane = zw0[:, None, None] * a[zi0]
    two = zw1 != 0  # a zero weight skips the second plane (as the kernel does)
    plane[two] = plane[two] + zw1[two, None, None] * a[zi1[two]]
    row = yw0[None, :, None] * plane[:, yi0] + yw1[None, :, None] * plane[:, yi1]
    out = xw0 * row[:, :, xi0] + xw1 * row[:, :, xi1]
    if norm is not None:
        lo, hi, mean, std = (np.float32(v) for v in norm)
        out = (np.clip(out, lo, hi) - mean) / std
    return out


def run(a, **kw):
    return resample_to_spacing(a, SPACING, TARGET, **kw)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(7, 30, 41), (1, 5, 9), (9, 3, 2)])
@pytest.mark.parametrize("norm", [None, (-79.0, 304.0, 101.0, 76.9)])
def test_every_dtype_bit_identical_to_twin(path, dtype, shape, norm):
    a = rand(shape, dtype)
    kw = {} if norm is None else {"clip": norm[:2], "normalize": norm[2:]}
    got = run(a, **kw)
    new = resampled_shape(shape, SPACING, TARGET)
    assert got.dtype == np.float32 and got.shape == new
    np.testing.assert_array_equal(got, blend_twin(a, new, norm))
    # the loose reference (float64 blend) agrees too
    assert np.abs(run(a) - ref.trilinear_align_corners(a, new)).max() <= 1e-6 * max(
        1.0, float(np.abs(a).max())
    )


@pytest.mark.parametrize("dtype", [np.int16, np.float32, np.float64, np.uint8])
@pytest.mark.parametrize(
    "view",
    [
        lambda b: b[::-1],
        lambda b: b[:, ::-1, ::-2],
        lambda b: b.transpose(2, 0, 1),
        lambda b: b[1:-1, 2:-3, 5:],
    ],
)
def test_strided_src_and_out(path, dtype, view):
    a = view(rand((10, 24, 40), dtype))
    new = resampled_shape(a.shape, SPACING, TARGET)
    want = blend_twin(np.ascontiguousarray(a), new)
    np.testing.assert_array_equal(run(a), want)
    padded = np.full((new[0] + 2, new[1] + 4, new[2] + 6), -7.0, np.float32)
    interior = padded[1:-1, 2:-2, 3:-3]
    assert run(a, out=interior) is interior
    np.testing.assert_array_equal(interior, want)
    interior[...] = -7.0
    assert (padded == -7.0).all()  # nothing outside the interior was written
    flipped = np.zeros(new, np.float32)[::-1, ::-1, ::-1]
    run(a, out=flipped, threads=2)
    np.testing.assert_array_equal(flipped, want)
    wide = np.zeros(new + (2,), np.float32)  # x stride of 8 bytes: the strided output loop
    run(a, out=wide[..., 1], clip=(-50, 50))
    np.testing.assert_array_equal(wide[..., 1], np.clip(want, -50, 50))
    assert not wide[..., 0].any()


def test_unaligned_src_and_out():
    a = rand((6, 11, 13), np.float64)
    raw = np.zeros(a.nbytes + 1, np.uint8)
    src = raw[1:].view(np.float64).reshape(a.shape)
    src[...] = a
    assert not src.flags.aligned
    new = resampled_shape(a.shape, SPACING, TARGET)
    want = blend_twin(a, new)
    np.testing.assert_array_equal(run(src), want)
    raw_out = np.zeros(4 * int(np.prod(new)) + 1, np.uint8)
    out = raw_out[1:].view(np.float32).reshape(new)
    assert not out.flags.aligned
    run(a, out=out)
    np.testing.assert_array_equal(out, want)


@pytest.mark.parametrize("dtype", [np.int16, np.float64])
@pytest.mark.parametrize("threads", [2, 3, 5, 64])
def test_threads_equal_one_thread(path, dtype, threads):
    a = rand((2, 11, 30, 40), dtype)
    kw = {"clip": (-100, 200), "normalize": (10.0, 50.0)}
    np.testing.assert_array_equal(run(a, threads=threads, **kw), run(a, **kw))


def test_nan_and_inf_pass_like_the_twin(path):
    a = rand((5, 12, 14), np.float32)
    a[2, 3, 4], a[1, 0, 0], a[4, 11, 13] = np.nan, np.inf, -np.inf
    new = resampled_shape(a.shape, SPACING, TARGET)
    for norm in (None, (-1.0, 1.0, 0.0, 2.0)):
        kw = {} if norm is None else {"clip": norm[:2], "normalize": norm[2:]}
        with np.errstate(invalid="ignore"):  # 0 * inf in the twin, as in the kernel
            want = blend_twin(a, new, norm)
        assert np.isnan(want).any()  # the NaN reaches the output (and the clip keeps it)
        np.testing.assert_array_equal(run(a, **kw), want)


def test_concurrent_calls_identical():
    a = rand((12, 40, 60), np.int16)
    want = run(a)
    results = [None] * 6

    def work(i):
        results[i] = run(a, threads=1 + i % 2)

    ts = [threading.Thread(target=work, args=(i,)) for i in range(len(results))]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    for r in results:
        np.testing.assert_array_equal(r, want)


def _call(src, out, axes, plane=None, row=None, z=None, norm=None):
    plane = np.empty(src.shape[1:], np.float32) if plane is None else plane
    row = np.empty(src.shape[2], np.float32) if row is None else row
    z0, z1 = (0, out.shape[0]) if z is None else z
    _resample_cy.trilinear(src, out, *axes, plane, row, z0, z1, norm)


def test_kernel_rejects_bad_arguments():
    src = rand((3, 4, 5), np.int16)
    out = np.zeros((2, 3, 4), np.float32)
    axes = [linear_indices(n, m) for n, m in zip(src.shape, out.shape, strict=True)]
    _call(src, out, axes)
    np.testing.assert_array_equal(out, blend_twin(src, out.shape))

    def bad_axis(k, which, value):
        arrays = [list(a) for a in axes]
        arrays[k][which] = np.array(value, arrays[k][which].dtype)
        return [tuple(a) for a in arrays]

    for k, value in [(2, [0, 1, 2, 5]), (1, [-1, 0, 1]), (0, [0, 3])]:
        with pytest.raises(ValueError, match="trilinear: a source index is out of range"):
            _call(src, out, bad_axis(k, 1, value))
    with pytest.raises(ValueError, match="lengths"):
        _call(src, out, bad_axis(2, 3, [0.5] * 3))
    with pytest.raises(ValueError, match="z range"):
        _call(src, out, axes, z=(0, 3))
    with pytest.raises(ValueError, match="z range"):
        _call(src, out, axes, z=(2, 1))
    with pytest.raises(ValueError, match="scratch"):
        _call(src, out, axes, plane=np.empty((4, 4), np.float32))
    with pytest.raises(ValueError, match="scratch"):
        _call(src, out, axes, row=np.empty(3, np.float32))
    ro = out.copy()
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="read-only"):
        _call(src, ro, axes)
    with pytest.raises((ValueError, TypeError)):  # float64 out
        _call(src, out.astype(np.float64), axes)
    with pytest.raises((ValueError, TypeError)):  # a source dtype without a kernel
        _call(src.astype(np.int64), out, axes)
    with pytest.raises(ValueError, match="empty"):
        _call(np.zeros((0, 4, 5), np.int16), out, axes)


@pytest.mark.parametrize("dtype", [*DTYPES, np.int64, np.uint32, np.float16])
def test_clip_normalize_every_dtype(dtype):
    a = rand((3, 17, 19), dtype)
    want = ref.clip_normalize(a)
    np.testing.assert_array_equal(clip_normalize(a), want)
    out = np.empty(a.shape, np.float32)
    assert clip_normalize(a, out=out) is out
    np.testing.assert_array_equal(out, want)
    np.testing.assert_array_equal(clip_normalize(a[:, ::2]), ref.clip_normalize(a[:, ::2]))


@pytest.mark.parametrize("flags", list(FLAGS.values()))
@pytest.mark.parametrize("dtype", DTYPES)
def test_clip_normalize_kernel_paths(flags, dtype):
    a = rand(1000 + 7, dtype)  # not a multiple of any vector width
    a[:2] = [0, 1]
    if np.dtype(dtype).kind == "f":
        a[2:5] = [np.nan, np.inf, -np.inf]
    out = np.empty(a.shape, np.float32)
    _resample_cy.clip_normalize(a, out, -79.0, 304.0, 101.0, 76.9, flags)
    with np.errstate(invalid="ignore"):
        np.testing.assert_array_equal(out, ref.clip_normalize(a))


def test_clip_normalize_in_place_and_bad_arguments():
    a = rand((4, 9, 11), np.float32)
    want = ref.clip_normalize(a)
    assert clip_normalize(a, out=a) is a
    np.testing.assert_array_equal(a, want)
    with pytest.raises(ValueError, match="out has 3 elements"):
        _resample_cy.clip_normalize(np.zeros(4, np.int16), np.zeros(3, np.float32), 0, 1, 0, 1)
