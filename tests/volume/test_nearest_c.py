"""The C nearest gather (csrc/volume/nearest.c): 1-byte voxels on every SIMD path, and the
2-, 4- and 8-byte gather of every other dtype.

Each 1-byte test runs the AVX-512 VBMI path (where the CPU has it), the SSSE3 path and the
portable scalar path, forced through ``resample._nearest_flags``, against the numpy twin
:func:`fastload.testing.reference.volume.nearest_legacy` (exact equality).
"""

import threading

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fastload.testing.reference import volume as ref
from fastload.volume import _resample_cy, resample, resample_to_spacing
from fastload.volume.resample import nearest_indices

FLAGS = {
    "auto": 0,
    "ssse3": _resample_cy.NO_AVX512,
    "scalar": _resample_cy.FORCE_SCALAR,
}


@pytest.fixture(params=list(FLAGS))
def path(request, monkeypatch):
    monkeypatch.setattr(resample, "_nearest_flags", FLAGS[request.param])
    return request.param


def labels(shape, dtype=np.uint8, seed=0):
    rng = np.random.default_rng(seed)
    info = np.iinfo(dtype)
    return rng.integers(info.min, int(info.max) + 1, shape, dtype=dtype)


def gather(a, new_shape, **kw):
    """resample_to_spacing with spacings chosen so the output has exactly ``new_shape``."""
    spacing = tuple(n * (1 + 1e-9) for n in new_shape)  # trunc() lands on n, not n - 1
    target = tuple(float(s) for s in a.shape[-3:])
    got = resample_to_spacing(a, spacing, target, order=0, **kw)
    assert got.shape[-3:] == tuple(new_shape)
    return got


def test_path_names():
    assert _resample_cy.path(0) in ("avx512vbmi", "ssse3", "scalar")
    assert _resample_cy.path(_resample_cy.NO_AVX512) in ("ssse3", "scalar")
    assert _resample_cy.path(_resample_cy.FORCE_SCALAR) == "scalar"


# widths exercise: < 16, not a multiple of 16/64, spans < 64, 64..128 (vpermi2b), > 128
# (strong downsampling: scalar blocks), upsampling (row/plane copies), identity, 2x.
@pytest.mark.parametrize(
    "shape, new",
    [
        ((7, 9, 11), (7, 9, 11)),
        ((6, 10, 13), (12, 20, 26)),
        ((5, 8, 200), (3, 5, 131)),
        ((4, 6, 300), (2, 3, 100)),
        ((4, 6, 517), (3, 4, 77)),
        ((4, 5, 70), (9, 17, 333)),
        ((3, 4, 1), (5, 6, 64)),
        ((3, 4, 64), (2, 3, 1)),
        ((3, 4, 129), (2, 3, 128)),
    ],
)
@pytest.mark.parametrize("dtype", [np.uint8, np.int8])
def test_matches_twin(path, shape, new, dtype):
    a = labels(shape, dtype)
    got = gather(a, new)
    assert got.dtype == dtype
    np.testing.assert_array_equal(got, ref.nearest_legacy(a, new))


def test_kits19_shape(path):
    a = labels((20, 512, 512))
    new = (10, 332, 332)  # the x/y rule of 0.78 -> 1.2 mm
    np.testing.assert_array_equal(gather(a, new), ref.nearest_legacy(a, new))


@pytest.mark.parametrize(
    "view",
    [
        lambda b: b[:, ::2, ::3],
        lambda b: b[::-1, :, ::-1],
        lambda b: b.transpose(2, 0, 1),
        lambda b: b[1:-1, 2:-3, 5:],
        lambda b: b[::-2, ::-1, 3:],
    ],
)
def test_strided_inputs(path, view):
    a = view(labels((12, 40, 90)))
    new = tuple(max(1, int(s * f)) for s, f in zip(a.shape, (1.5, 0.7, 0.65), strict=True))
    np.testing.assert_array_equal(gather(a, new), ref.nearest_legacy(a, new))


def test_read_only_input_and_strided_out(path):
    a = labels((10, 30, 70))
    a.flags.writeable = False
    new = (7, 21, 45)
    want = ref.nearest_legacy(a, new)
    padded = np.zeros((9, 25, 50), np.uint8)
    interior = padded[1:8, 2:23, 3:48]
    got = gather(a, new, out=interior)
    assert got is interior
    np.testing.assert_array_equal(interior, want)
    assert not padded[0].any() and not padded[:, :, :3].any()  # nothing outside written
    wide = np.zeros(new + (2,), np.uint8)  # x stride 2: scalar strided path
    gather(a, new, out=wide[..., 1])
    np.testing.assert_array_equal(wide[..., 1], want)
    assert not wide[..., 0].any()


def test_channels_and_threads(path):
    a = labels((2, 9, 30, 80))
    new = (14, 19, 53)
    want = np.stack([ref.nearest_legacy(c, new) for c in a])
    np.testing.assert_array_equal(gather(a, new), want)
    np.testing.assert_array_equal(gather(a, new, threads=2), want)
    np.testing.assert_array_equal(gather(a, new, threads=3), want)


WIDE = [np.uint16, np.int16, np.float16, np.int32, np.uint32, np.float32, np.int64, np.float64]


@pytest.mark.parametrize("dtype", WIDE)
@pytest.mark.parametrize("shape, new", [((6, 20, 40), (4, 13, 27)), ((5, 7, 9), (11, 15, 21))])
def test_wide_dtypes_match_twin(dtype, shape, new):
    a = labels(shape, np.int16).astype(dtype)
    want = ref.nearest_legacy(a, new)
    got = gather(a, new)
    assert got.dtype == dtype
    np.testing.assert_array_equal(got, want)
    for threads in (2, 3):
        np.testing.assert_array_equal(gather(a, new, threads=threads), want)


def test_wide_dtypes_keep_every_bit():
    # a gather by width: NaN payloads, -0.0, inf and extreme integers come back unchanged
    bits = np.random.default_rng(3).integers(0, 2**63, (4, 6, 10), dtype=np.uint64)
    a = bits.view(np.float64)
    a[0, 0, :4] = [np.nan, -0.0, np.inf, -np.inf]
    got = gather(a, (3, 5, 7))
    np.testing.assert_array_equal(got.view(np.uint64), ref.nearest_legacy(bits, (3, 5, 7)))


@pytest.mark.parametrize("dtype", [np.int16, np.float32, np.float64])
@pytest.mark.parametrize(
    "view",
    [
        lambda b: b[::-1],
        lambda b: b[:, ::-1, ::-2],
        lambda b: b.transpose(2, 0, 1),
        lambda b: b[1:-1, 2:-3, 5:],
    ],
)
def test_wide_strided_src_and_out(dtype, view):
    a = view(labels((12, 30, 50), np.int16).astype(dtype))
    new = tuple(max(1, int(s * f)) for s, f in zip(a.shape, (1.4, 0.7, 0.9), strict=True))
    want = ref.nearest_legacy(a, new)
    padded = np.zeros((new[0] + 2, new[1] + 4, new[2] + 6), dtype)
    interior = padded[1:-1, 2:-2, 3:-3]
    assert gather(a, new, out=interior) is interior
    np.testing.assert_array_equal(interior, want)
    interior[...] = 0
    assert not padded.any()  # nothing outside the interior was written
    flipped = np.zeros(new, dtype)[::-1, :, ::-1]  # negative strides on out
    gather(a, new, out=flipped, threads=2)
    np.testing.assert_array_equal(flipped, want)
    wide = np.zeros(new + (2,), dtype)  # x stride of two elements: the strided loop
    gather(a, new, out=wide[..., 1])
    np.testing.assert_array_equal(wide[..., 1], want)
    assert not wide[..., 0].any()


def test_unaligned_input_and_out():
    a = labels((5, 9, 13), np.int16).astype(np.float64)
    raw = np.zeros(a.nbytes + 1, np.uint8)
    src = raw[1:].view(np.float64).reshape(a.shape)
    src[...] = a
    assert not src.flags.aligned
    new = (4, 7, 10)
    want = ref.nearest_legacy(a, new)
    np.testing.assert_array_equal(gather(src, new), want)
    raw_out = np.zeros(8 * 4 * 7 * 10 + 1, np.uint8)
    out = raw_out[1:].view(np.float64).reshape(new)
    assert not out.flags.aligned
    gather(a, new, out=out)
    np.testing.assert_array_equal(out, want)


def test_concurrent_calls_identical():
    a = labels((16, 64, 150))
    new = (9, 41, 97)
    want = ref.nearest_legacy(a, new)
    results = [None] * 6

    def work(i):
        results[i] = gather(a, new)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(results))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for r in results:
        np.testing.assert_array_equal(r, want)


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.uint32, np.uint64])
def test_kernel_rejects_bad_arguments(dtype):
    src = labels((3, 4, 5), dtype)
    out = np.empty((2, 2, 2), dtype)
    zi, yi, xi = nearest_indices(3, 2), nearest_indices(4, 2), nearest_indices(5, 2)
    with pytest.raises(ValueError, match="index is out of range"):
        _resample_cy.nearest(src, out, zi, yi, np.array([0, 5], np.int64), 0, 2)
    with pytest.raises(ValueError, match="index is out of range"):
        _resample_cy.nearest(src, out, zi, yi, np.array([-1, 0], np.int64), 0, 2)
    with pytest.raises(ValueError, match="index is out of range"):
        _resample_cy.nearest(src, out, np.array([0, 3], np.int64), yi, xi, 0, 2)
    with pytest.raises(ValueError, match="lengths"):
        _resample_cy.nearest(src, out, zi, yi, nearest_indices(5, 3), 0, 2)
    with pytest.raises(ValueError, match="z range"):
        _resample_cy.nearest(src, out, zi, yi, xi, 0, 3)  # z_stop past the output
    with pytest.raises(ValueError, match="z range"):
        _resample_cy.nearest(src, out, zi, yi, xi, 2, 1)
    with pytest.raises(ValueError, match="read-only"):
        _resample_cy.nearest(src, _readonly(out), zi, yi, xi, 0, 2)
    other = np.uint16 if dtype == np.uint8 else np.uint8
    with pytest.raises((ValueError, TypeError)):  # src and out of different widths
        _resample_cy.nearest(src, np.empty((2, 2, 2), other), zi, yi, xi, 0, 2)
    _resample_cy.nearest(src, out, zi, yi, xi, 0, 2)
    np.testing.assert_array_equal(out, ref.nearest_legacy(src, (2, 2, 2)))


def _readonly(a):
    a = a.view()
    a.flags.writeable = False
    return a


@settings(max_examples=60, deadline=None)
@given(
    shape=st.tuples(*(st.integers(1, 12),) * 2, st.integers(1, 300)),
    new=st.tuples(*(st.integers(1, 12),) * 2, st.integers(1, 300)),
    flags=st.sampled_from(list(FLAGS.values())),
    seed=st.integers(0, 2**16),
)
def test_property_all_paths(shape, new, flags, seed):
    a = labels(shape, seed=seed)
    out = np.empty(new, np.uint8)
    idx = [nearest_indices(s, n) for s, n in zip(shape, new, strict=True)]
    _resample_cy.nearest(a, out, *idx, 0, new[0], flags)
    np.testing.assert_array_equal(out, ref.nearest_legacy(a, new))
