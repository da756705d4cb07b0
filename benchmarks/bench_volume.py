"""pytest-benchmark suite for fastload.volume and the 3D U-Net transforms.

    OMP_NUM_THREADS=1 taskset -c 0 python -m pytest benchmarks/bench_volume.py --benchmark-enable

Side-by-side ratios vs torch / scipy / SimpleITK: ``benchmarks/compare.py volume``.
"""

import numpy as np
import pytest
import SimpleITK as sitk

from fastload.pipelines import unet3d_preprocess, unet3d_train
from fastload.testing.data.kits19 import phantom_case
from fastload.volume import foreground_boxes, read, resample_to_spacing, resampled_shape

SHAPE = (120, 256, 256)
SPACING, TARGET = (0.8, 0.78, 0.78), (1.6, 1.2, 1.2)


@pytest.fixture(scope="module")
def vol16():
    rng = np.random.default_rng(0)
    return rng.normal(0, 300, SHAPE).astype(np.int16)


@pytest.mark.parametrize("dtype", [np.float32, np.int16])
def test_resample_linear(benchmark, vol16, dtype):
    a = vol16.astype(dtype)
    out = np.empty(resampled_shape(SHAPE, SPACING, TARGET), np.float32)
    benchmark(resample_to_spacing, a, SPACING, TARGET, out=out)


def test_resample_linear_2_threads(benchmark, vol16):
    a = vol16.astype(np.float32)
    benchmark(resample_to_spacing, a, SPACING, TARGET, threads=2)


def test_resample_nearest_u8(benchmark, vol16):
    lab = (vol16 > 200).astype(np.uint8)
    benchmark(resample_to_spacing, lab, SPACING, TARGET, order=0)


def test_read_nii_gz(benchmark, vol16, tmp_path):
    p = str(tmp_path / "ct.nii.gz")
    sitk.WriteImage(sitk.GetImageFromArray(vol16), p, useCompression=True)
    benchmark(read, p)


def test_preprocess_case(benchmark):
    img, lab = phantom_case((60, 200, 200), (3.0, 0.8, 0.8), np.random.default_rng(0))
    benchmark(unet3d_preprocess, img, lab, (3.0, 0.8, 0.8))


def test_unet3d_train_patch(benchmark):
    img, lab = phantom_case((80, 300, 300), (2.5, 0.8, 0.8), np.random.default_rng(0))
    pi, pl = unet3d_preprocess(img, lab, (2.5, 0.8, 0.8))
    sample = {"image": pi, "label": pl, "boxes": foreground_boxes(pl)}
    t = unet3d_train()
    out = {
        "image": np.empty((1, 128, 128, 128), np.float32),
        "label": np.empty((1, 128, 128, 128), np.uint8),
    }
    rng = np.random.default_rng(0)
    benchmark(lambda: t(sample, rng, out=out))
