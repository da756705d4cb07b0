"""The SIMD C nearest gather (1-byte voxels) against torch ``interpolate(mode="nearest")``,
the MLPerf reference's label resampler, on every dispatch path. Tolerance: exact."""

import numpy as np
import pytest

from fastload.volume import _resample_cy, resample, resample_to_spacing

try:
    import torch
    import torch.nn.functional as F
except ImportError:  # its group is skipped without it (tests/conftest.py)
    torch = F = None

pytestmark = pytest.mark.torch


def torch_nearest(a, shape):
    a = np.ascontiguousarray(a)
    t = torch.from_numpy(a.view(np.uint8))[None, None]  # torch has no int8 nearest: same bytes
    return F.interpolate(t, size=shape, mode="nearest")[0, 0].numpy().view(a.dtype)


@pytest.mark.parametrize("flags", [0, _resample_cy.NO_AVX512, _resample_cy.FORCE_SCALAR])
@pytest.mark.parametrize("dtype", [np.uint8, np.int8])
@pytest.mark.parametrize(
    "shape, spacing",
    [
        ((40, 256, 256), (0.8, 0.78, 0.78)),  # KiTS19-like: z / 2, x, y * 0.65
        ((12, 100, 90), (3.0, 0.6, 0.7)),  # z upsampling: plane copies
        ((30, 40, 300), (0.8, 2.4, 0.4)),  # y upsampling, x / 3 (scalar blocks)
        ((8, 16, 130), (1.6, 1.2, 1.0)),  # identity along z, y
    ],
)
def test_nearest_c_vs_torch_exact(monkeypatch, flags, dtype, shape, spacing):
    monkeypatch.setattr(resample, "_nearest_flags", flags)
    rng = np.random.default_rng(1)
    a = rng.integers(-100 if dtype == np.int8 else 0, 100, shape).astype(dtype)
    got = resample_to_spacing(a, spacing, (1.6, 1.2, 1.2), order=0)
    np.testing.assert_array_equal(got, torch_nearest(a, got.shape))  # exact
    got2 = resample_to_spacing(a, spacing, (1.6, 1.2, 1.2), order=0, threads=2)
    np.testing.assert_array_equal(got2, got)  # exact
