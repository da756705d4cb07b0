"""The resize kernel's code paths agree with each other and with the numpy twin.

csrc/image/resize.c picks its horizontal pass by CPU and layout: CHW output uses the
planar passes (AVX-512 permutes from a 32- or 64-pixel window when every 16-output block
spans at most 64 source pixels, i.e. up to about 3.5x downscale; else AVX2 broadcast
blocks of 8), HWC output uses the AVX2 pixel-pair pass
(or the portable one). All of them sum every output's taps in source order with FMA, so
float32 CHW and HWC results are bit-identical on a given machine. The shapes below cover
block tails (widths not a multiple of 8 or 16), 32- and 64-pixel windows, spans above 64
(strong downscales, which fall back from the AVX-512 pass), upscales, flips and TF-legacy centres.
"""

import numpy as np
import pytest

import fastload.image as fi
from fastload.testing.reference import image as ref

CASES = [
    # (source h, w), box, output (h, w)
    ((40, 57), (0, 0, 40, 57), (1, 1)),
    ((40, 57), (2.5, 3.25, 30.0, 41.5), (17, 23)),  # block tails
    ((120, 300), (0, 0, 120, 300), (31, 37)),  # spans > 64: AVX2 fallback
    ((64, 96), (5, 9, 50, 70), (224, 224)),  # upscale
    ((375, 500), (40, 60, 260, 280), (224, 224)),  # a typical training crop (AVX-512)
    ((375, 500), (20, 30, 300, 420), (224, 224)),  # 1.9x: 64-pixel windows
    ((375, 500), (0, 0, 375, 500), (224, 224)),
    ((9, 700), (0, 0, 9, 700), (5, 3)),  # extreme downscale
]


def _image(shape, seed):
    return np.random.default_rng(seed).integers(0, 256, shape + (3,), dtype=np.uint8)


@pytest.mark.parametrize("case", range(len(CASES)))
@pytest.mark.parametrize("interpolation,antialias",
                         [("bilinear", True), ("bilinear", False), ("tf_legacy", False)])
def test_chw_equals_hwc_bitwise(case, interpolation, antialias):
    shape, box, size = CASES[case]
    img = _image(shape, case)
    for flip in (False, True):
        kw = dict(flip=flip, interpolation=interpolation, antialias=antialias, dtype="float32",
                  mean=(123.7, 116.3, 103.5), std=(58.4, 57.1, 57.4))
        chw = fi.resized_crop(img, box, size, layout="CHW", **kw)
        hwc = fi.resized_crop(img, box, size, layout="HWC", **kw)
        # same taps, same order, same FMA: identical bits (different kernels)
        np.testing.assert_array_equal(chw, hwc.transpose(2, 0, 1))


@pytest.mark.parametrize("case", range(len(CASES)))
def test_chw_matches_twin(case):
    shape, box, size = CASES[case]
    img = _image(shape, 100 + case)
    for flip in (False, True):
        got = fi.resized_crop(img, box, size, layout="CHW", dtype="float32", flip=flip)
        want = ref.resized_crop(img, box, size, flip=flip).transpose(2, 0, 1)
        # float32 accumulation vs float64 (0-255 units): well below one level
        np.testing.assert_allclose(got, want, atol=2e-3, rtol=0)


@pytest.mark.parametrize("dtype,pad", [("float16", 4), ("uint8", 3)])
def test_chw_other_dtypes_match_float32(dtype, pad):
    img = _image((375, 500), 7)
    box, size = (20, 30, 300, 420), (224, 224)
    f32 = fi.resized_crop(img, box, size, layout="CHW", dtype="float32", pad_channels=pad)
    got = fi.resized_crop(img, box, size, layout="CHW", dtype=dtype, pad_channels=pad)
    assert got.shape == (pad, 224, 224)
    if dtype == "uint8":  # round to nearest: exactly the rounded float32 result
        np.testing.assert_array_equal(got, np.clip(np.rint(f32), 0, 255).astype(np.uint8))
    else:  # float16 conversion of the same float32 values
        np.testing.assert_array_equal(got, f32.astype(np.float16))
