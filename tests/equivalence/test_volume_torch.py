"""fastload.volume against the peers it replaces: torch interpolate (the MLPerf reference's
resampler), scipy.ndimage.zoom, nibabel (the reference's reader) and SimpleITK."""

import nibabel
import numpy as np
import pytest
import scipy.ndimage

from fastload.pipelines import unet3d_preprocess
from fastload.testing.data.kits19 import make_kits19, phantom_case
from fastload.volume import gaussian_importance, read, resample_to_spacing, resampled_shape

try:
    import torch
    import torch.nn.functional as F
except ImportError:  # its group is skipped without it (tests/conftest.py)
    torch = F = None

TARGET = (1.6, 1.2, 1.2)


def torch_linear(a, shape):
    t = torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32))[None, None]
    return F.interpolate(t, size=shape, mode="trilinear", align_corners=True)[0, 0].numpy()


def torch_nearest(a, shape):
    return F.interpolate(
        torch.from_numpy(np.ascontiguousarray(a))[None, None], size=shape, mode="nearest"
    )[0, 0].numpy()


def rel(a, b):
    return float(np.abs(a.astype(np.float64) - b).max() / np.abs(b).max())


@pytest.mark.torch
@pytest.mark.parametrize("dtype", [np.int16, np.uint8, np.float32, np.float64])
@pytest.mark.parametrize(
    "shape, spacing",
    [
        ((20, 64, 64), (3.0, 0.78, 0.78)),
        ((33, 47, 29), (0.8, 0.7, 2.5)),
        ((5, 9, 70), (0.5, 0.5, 0.5)),
        ((64, 32, 32), (0.8, 2.4, 0.6)),  # exactly x2 along y
    ],
)
def test_trilinear_vs_torch(dtype, shape, spacing):
    rng = np.random.default_rng(0)
    a = (
        rng.integers(0, 250, shape).astype(dtype)
        if dtype == np.uint8
        else (rng.standard_normal(shape) * 300).astype(dtype)
    )
    got = resample_to_spacing(a, spacing, TARGET)
    want = torch_linear(a.astype(np.float32), got.shape)  # the reference casts to float32 first
    assert got.shape == want.shape
    assert rel(got, want) <= 1e-5  # issue tolerance: 1e-5 relative (max |diff| / max |torch|)


@pytest.mark.torch
@pytest.mark.parametrize(
    "shape, spacing",
    [
        ((20, 64, 64), (3.0, 0.78, 0.78)),
        ((33, 47, 29), (0.8, 0.7, 2.5)),
        ((16, 30, 30), (3.2, 2.4, 1.2)),  # exact x2, x2, x1
        ((7, 300, 301), (2.9, 0.71, 0.69)),
    ],
)
def test_nearest_vs_torch_exact(shape, spacing):
    lab = np.random.default_rng(1).integers(0, 3, shape).astype(np.uint8)
    got = resample_to_spacing(lab, spacing, TARGET, order=0)
    np.testing.assert_array_equal(got, torch_nearest(lab, got.shape))  # exact
    got2 = resample_to_spacing(lab, spacing, TARGET, order=0, threads=2)
    np.testing.assert_array_equal(got2, got)


def test_trilinear_vs_scipy_zoom():
    # scipy's zoom (grid_mode=False) also maps corner to corner; its coordinates are float64
    a = (np.random.default_rng(2).standard_normal((20, 40, 40)) * 100).astype(np.float32)
    got = resample_to_spacing(a, (3.0, 0.78, 0.78), TARGET)
    zoom = [n / o for n, o in zip(got.shape, a.shape, strict=False)]
    want = scipy.ndimage.zoom(a, zoom, order=1, prefilter=False)
    assert want.shape == got.shape
    assert rel(got, want) <= 1e-4  # float32 vs float64 source positions


def torch_reference_preprocess(image, label, spacing):
    """The reference preprocess_dataset.py steps, written against torch and numpy."""
    image = image.astype(np.float32)[None]
    label = label.astype(np.uint8)[None]
    shape = (
        (np.array(spacing, np.float64) / np.array(TARGET) * np.array(image.shape[1:]))
        .astype(int)
        .tolist()
    )
    image = F.interpolate(
        torch.from_numpy(image[None]), size=shape, mode="trilinear", align_corners=True
    )[0].numpy()
    label = F.interpolate(torch.from_numpy(label[None]), size=shape, mode="nearest")[0].numpy()
    image = (np.clip(image, -79.0, 304.0) - 101.0) / 76.9
    bounds = [max(0, 128 - s) for s in image.shape[1:]]
    pads = [(0, 0)] + [(b // 2, b - b // 2) for b in bounds]
    return np.pad(image, pads, mode="edge"), np.pad(label, pads, mode="edge")


@pytest.mark.torch
def test_preprocess_vs_torch_reference():
    img, lab = phantom_case((50, 170, 170), (2.8, 0.75, 0.75), np.random.default_rng(5))
    gi, gl = unet3d_preprocess(img, lab, (2.8, 0.75, 0.75))
    wi, wl = torch_reference_preprocess(img, lab, (2.8, 0.75, 0.75))
    assert gi.shape == wi.shape
    np.testing.assert_allclose(gi, wi, rtol=0, atol=2e-5)  # ~1e-7 relative in HU, then /76.9
    np.testing.assert_array_equal(gl, wl)  # labels exact


def test_read_vs_nibabel_reference_loader(tmp_path):
    # The reference: nibabel get_fdata() -> float32, pixdim[1:4]; ours: layout="nifti"
    root = make_kits19(tmp_path, cases=1, seed=1)
    for fname in ("imaging.nii.gz", "segmentation.nii.gz"):
        p = root / "case_00000" / fname
        nb = nibabel.load(str(p))
        v = read(p, layout="nifti")
        np.testing.assert_array_equal(v.array.astype(np.float32), nb.get_fdata().astype(np.float32))
        assert list(v.spacing) == nb.header["pixdim"][1:4].tolist()  # exact float32 values
        # nibabel's affine (RAS) equals our geometry turned back to RAS
        ras = np.diag([-1.0, -1.0, 1.0])
        np.testing.assert_allclose(
            nb.affine[:3, :3], ras @ v.direction * np.array(v.spacing), atol=1e-5
        )
        np.testing.assert_allclose(nb.affine[:3, 3], ras @ np.array(v.origin), atol=1e-4)
    # the shape rule on the reference's float32 pixdim
    sp = nb.header["pixdim"][1:4].tolist()
    assert resampled_shape(v.array.shape, v.spacing, TARGET) == tuple(
        (np.array(sp) / np.array(TARGET) * np.array(v.array.shape)).astype(int)
    )


def test_importance_vs_reference_formula():
    # reference: gaussian_kernel(128, 0.125 * 128), float64, then .type(float32)
    import scipy.signal

    g = scipy.signal.windows.gaussian(128, 16.0)
    g3 = np.outer(np.outer(g, g), g).reshape(128, 128, 128)
    g3 = np.cbrt(g3)
    g3 /= g3.max()
    np.testing.assert_array_equal(gaussian_importance(128), torch.from_numpy(g3).float().numpy())
