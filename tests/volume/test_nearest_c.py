"""The C/SIMD nearest gather for 1-byte voxels (csrc/volume/nearest.c) on every path.

Each test runs the AVX-512 VBMI path (where the CPU has it), the SSSE3 path and the
portable scalar path, forced through ``resample._nearest_flags``, against the numpy twin
:func:`fastload.testing.reference.volume.nearest_legacy` (exact equality).
"""

import threading

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fastload.testing.reference import volume as ref
from fastload.volume import _nearest_cy, resample, resample_to_spacing
from fastload.volume.resample import nearest_indices

FLAGS = {
    "auto": 0,
    "ssse3": _nearest_cy.NO_AVX512,
    "scalar": _nearest_cy.FORCE_SCALAR,
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
    assert _nearest_cy.path(0) in ("avx512vbmi", "ssse3", "scalar")
    assert _nearest_cy.path(_nearest_cy.NO_AVX512) in ("ssse3", "scalar")
    assert _nearest_cy.path(_nearest_cy.FORCE_SCALAR) == "scalar"


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


@pytest.mark.parametrize("dtype", [np.uint16, np.int16, np.int32, np.float32, np.float64])
def test_other_dtypes_keep_numba_path(dtype):
    a = labels((6, 20, 40), np.int16).astype(dtype)
    new = (4, 13, 27)
    np.testing.assert_array_equal(gather(a, new), ref.nearest_legacy(a, new))
    np.testing.assert_array_equal(gather(a, new, threads=2), ref.nearest_legacy(a, new))


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


def test_kernel_rejects_bad_arguments():
    src = labels((3, 4, 5))
    out = np.empty((2, 2, 2), np.uint8)
    zi, yi, xi = nearest_indices(3, 2), nearest_indices(4, 2), nearest_indices(5, 2)
    with pytest.raises(ValueError, match="index"):
        _nearest_cy.nearest_u8(src, out, zi, yi, np.array([0, 5], np.int64), 0, 2)
    with pytest.raises(ValueError, match="index"):
        _nearest_cy.nearest_u8(src, out, zi, yi, np.array([-1, 0], np.int64), 0, 2)
    with pytest.raises(ValueError, match="lengths"):
        _nearest_cy.nearest_u8(src, out, zi, yi, nearest_indices(5, 3), 0, 2)
    with pytest.raises(ValueError):
        _nearest_cy.nearest_u8(src, out, zi, yi, xi, 0, 3)  # z_stop past the output
    _nearest_cy.nearest_u8(src, out, zi, yi, xi, 0, 2)
    np.testing.assert_array_equal(out, ref.nearest_legacy(src, (2, 2, 2)))


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
    _nearest_cy.nearest_u8(a, out, *idx, 0, new[0], flags)
    np.testing.assert_array_equal(out, ref.nearest_legacy(a, new))
