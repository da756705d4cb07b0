"""Small synthetic KiTS19-like cases in the real on-disk layout.

``root/case_00000/imaging.nii.gz`` (int16 HU) and ``segmentation.nii.gz`` (uint8: 0
background, 1 kidney, 2 tumour), written with SimpleITK.

Like the original KiTS19 files, the slice axis is stored as the first NIfTI axis (i) with
spacing ``(slice_thickness, pixel, pixel)`` in ``pixdim[1:4]``, so nibabel (and the MLPerf
reference) see arrays ``(slices, H, W)``. Read them with
``fastload.volume.read(path, layout="nifti")`` to get the reference's axes and spacing;
the default ``layout="zyx"`` gives the transposed ``(W, H, slices)``.
"""

from pathlib import Path

import numpy as np

from fastload._rng import as_generator

__all__ = ["make_kits19", "phantom_case", "write_case"]

# LPS direction (columns for NIfTI i, j, k) of the original KiTS19 affines: the slice axis
# i runs towards inferior, j towards anterior... (a proper rotation, det +1).
_KITS_DIRECTION = np.array([[0.0, 0.0, 1.0], [0.0, 1.0, 0.0], [-1.0, 0.0, 0.0]])


def _ellipsoid(shape, spacing, centre_mm, radii_mm):
    grids = np.ogrid[tuple(slice(0, n) for n in shape)]
    r = 0.0
    for g, s, c, rad in zip(grids, spacing, centre_mm, radii_mm, strict=False):
        r = r + ((g * s - c) / rad) ** 2
    return r <= 1.0


def phantom_case(shape=(60, 128, 128), spacing=(3.0, 0.78, 0.78), rng=None):
    """One synthetic abdomen: (image int16 HU, label uint8), both of ``shape`` (slices, H, W).

    Air -1000 outside an elliptic body (~0-60 HU with noise), two kidneys (~150-250 HU,
    label 1) and a tumour blob (~80-120 HU, label 2) in one of them.
    """
    rng = as_generator(rng)
    shape = tuple(int(s) for s in shape)
    spacing = tuple(float(s) for s in spacing)
    ext = [n * s for n, s in zip(shape, spacing, strict=False)]
    image = np.full(shape, -1000.0, np.float32)
    body = _ellipsoid(
        shape, spacing, [e / 2 for e in ext], [ext[0] * 0.9, ext[1] * 0.42, ext[2] * 0.46]
    )
    image[body] = rng.uniform(20, 40) + rng.normal(0, 12, size=int(body.sum()))
    label = np.zeros(shape, np.uint8)
    for side in (-1, 1):
        c = [
            ext[0] * rng.uniform(0.4, 0.6),
            ext[1] * rng.uniform(0.5, 0.6),
            ext[2] * (0.5 + side * rng.uniform(0.18, 0.24)),
        ]
        radii = [
            rng.uniform(0.2, 0.3) * ext[0],
            rng.uniform(0.07, 0.1) * ext[1],
            rng.uniform(0.05, 0.08) * ext[2],
        ]
        k = _ellipsoid(shape, spacing, c, radii)
        label[k] = 1
        image[k] = rng.uniform(150, 250) + rng.normal(0, 10, size=int(k.sum()))
        if side == 1:
            tc = [c[0] + radii[0] * 0.3, c[1], c[2] + radii[2] * 0.3]
            tr = [r * rng.uniform(0.35, 0.5) for r in radii]
            t = _ellipsoid(shape, spacing, tc, tr)
            label[t] = 2
            image[t] = rng.uniform(80, 120) + rng.normal(0, 8, size=int(t.sum()))
    return np.clip(np.rint(image), -1024, 3071).astype(np.int16), label


def write_case(case_dir, image, label, spacing):
    """Write one case in the KiTS19 layout (slice axis = NIfTI i, see the module docstring)."""
    import SimpleITK as sitk

    case_dir = Path(case_dir)
    case_dir.mkdir(parents=True, exist_ok=True)
    for arr, fname in ((image, "imaging.nii.gz"), (label, "segmentation.nii.gz")):
        # SimpleITK's array is (k, j, i): transpose so that i is the slice axis.
        img = sitk.GetImageFromArray(np.ascontiguousarray(np.asarray(arr).transpose(2, 1, 0)))
        img.SetSpacing(tuple(float(s) for s in spacing))
        img.SetDirection(_KITS_DIRECTION.ravel().tolist())
        sitk.WriteImage(img, str(case_dir / fname), useCompression=True)
    return case_dir


def make_kits19(root, *, cases=4, shape=None, seed=0):
    """Write ``cases`` synthetic cases under ``root``; returns ``Path(root)``.

    Parameters
    ----------
    cases : int
    shape : (slices, H, W), optional; default: per case 40-80 slices, 96-160 in-plane
    seed : int; the output is deterministic for a given seed

    Spacing varies per case: slice thickness 2.5-3.5 mm, pixels 0.7-0.9 mm.
    """
    root = Path(root)
    rng = np.random.default_rng(seed)
    for case in range(int(cases)):
        if shape is None:
            hw = int(rng.integers(96, 161))
            shp = (int(rng.integers(40, 81)), hw, hw)
        else:
            shp = tuple(int(s) for s in shape)
        pixel = round(float(rng.uniform(0.7, 0.9)), 3)
        spacing = (round(float(rng.uniform(2.5, 3.5)), 2), pixel, pixel)
        image, label = phantom_case(shp, spacing, rng)
        write_case(root / f"case_{case:05d}", image, label, spacing)
    return root
