"""The resize kernel's code paths agree with each other and with the numpy twin.

csrc/image/resize.c picks its horizontal pass by CPU and layout: CHW output uses the
planar passes (AVX-512 permutes from a 32- or 64-pixel window when every 16-output block
spans at most 64 source pixels, i.e. up to about 3.5x downscale; else AVX2 broadcast
blocks of 8), HWC output uses the AVX2 pixel-pair pass
(or the portable one). All of them sum every output's taps in source order with FMA, so
float32 CHW and HWC results are bit-identical on a given machine. The shapes below cover
block tails (widths not a multiple of 8 or 16), 32- and 64-pixel windows, spans above 64
(strong downscales, which fall back from the AVX-512 pass), upscales, flips and TF-legacy centres.

Every path the CPU runs is selected in turn (``ops.set_simd_path``: the ``FL_SIMD_*`` caps
of csrc/include/fastload/image.h), the portable one included: SIMD paths must agree bit
for bit with each other, every path with the numpy twin within float32 rounding.
"""

import numpy as np
import pytest

import fastload.image as fi
from fastload.image import ops
from fastload.testing.data.imagenet import encode_jpeg, photo_like_image
from fastload.testing.reference import image as ref

PATHS = ops.simd_paths()  # what this CPU runs, fastest first; always ends with "portable"
SIMD = [p for p in PATHS if p != "portable"]


@pytest.fixture(params=PATHS)
def path(request):
    previous = ops.set_simd_path(request.param)
    try:
        yield request.param
    finally:
        ops.set_simd_path(previous)


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
@pytest.mark.parametrize(
    "interpolation,antialias", [("bilinear", True), ("bilinear", False), ("tf_legacy", False)]
)
def test_chw_equals_hwc_bitwise(case, interpolation, antialias, path):
    shape, box, size = CASES[case]
    img = _image(shape, case)
    for flip in (False, True):
        kw = dict(
            flip=flip,
            interpolation=interpolation,
            antialias=antialias,
            dtype="float32",
            mean=(123.7, 116.3, 103.5),
            std=(58.4, 57.1, 57.4),
        )
        chw = fi.resized_crop(img, box, size, layout="CHW", **kw)
        hwc = fi.resized_crop(img, box, size, layout="HWC", **kw)
        # same taps, same order (and FMA on the SIMD paths): identical bits, though
        # the layouts run different horizontal passes
        np.testing.assert_array_equal(chw, hwc.transpose(2, 0, 1))


@pytest.mark.parametrize("case", range(len(CASES)))
@pytest.mark.parametrize("layout", ["CHW", "HWC"])
def test_every_path_matches_twin(case, layout, path):
    shape, box, size = CASES[case]
    img = _image(shape, 100 + case)
    for flip in (False, True):
        got = fi.resized_crop(img, box, size, layout=layout, dtype="float32", flip=flip)
        want = ref.resized_crop(img, box, size, flip=flip)
        if layout == "CHW":
            want = want.transpose(2, 0, 1)
        # float32 accumulation vs float64 (0-255 units): well below one level
        np.testing.assert_allclose(got, want, atol=2e-3, rtol=0)


@pytest.mark.skipif(len(SIMD) < 2, reason=f"this CPU runs one SIMD path ({SIMD})")
@pytest.mark.parametrize("case", range(len(CASES)))
def test_simd_paths_agree_bitwise(case):
    shape, box, size = CASES[case]
    img = _image(shape, 200 + case)
    results = {}
    for p in SIMD:
        previous = ops.set_simd_path(p)
        try:
            results[p] = [
                fi.resized_crop(
                    img,
                    box,
                    size,
                    layout=layout,
                    dtype="float32",
                    flip=flip,
                    mean=(123.7, 116.3, 103.5),
                    std=(58.4, 57.1, 57.4),
                )
                for layout in ("CHW", "HWC")
                for flip in (False, True)
            ]
        finally:
            ops.set_simd_path(previous)
    first = results[SIMD[0]]
    for p in SIMD[1:]:
        for a, b in zip(first, results[p], strict=True):
            # same taps summed in the same order with FMA on every SIMD path
            np.testing.assert_array_equal(a, b)


def test_portable_is_close_to_simd():
    img = _image((375, 500), 9)
    box, size = (20, 30, 300, 420), (224, 224)
    fast = fi.resized_crop(img, box, size, dtype="float32")
    previous = ops.set_simd_path("portable")
    try:
        slow = fi.resized_crop(img, box, size, dtype="float32")
    finally:
        ops.set_simd_path(previous)
    # no FMA on the portable path: float rounding only (0-255 units)
    np.testing.assert_allclose(slow, fast, atol=1e-3, rtol=0)


def test_fused_decode_follows_the_path(path):
    data = encode_jpeg(photo_like_image(375, 500, np.random.default_rng(11)), 90)
    pixels = fi.decode(data)
    spec = ops.output_spec(224, dtype="float32", layout="CHW")
    box = (20.0, 30.0, 300.0, 420.0)
    got = fi.decode_resized_crop(data, box, spec, dct_scale=False)
    want = fi.resized_crop(pixels, box, 224, dtype="float32", layout="CHW")
    # the same kernel on the same path over the same pixels
    np.testing.assert_array_equal(got, want)


def test_set_simd_path_validates():
    with pytest.raises(ValueError, match="path must be one of"):
        ops.set_simd_path("sse9")
    if "avx512f" not in PATHS:
        with pytest.raises(ValueError, match="does not run"):
            ops.set_simd_path("avx512f")
    assert ops.set_simd_path(None) is None


@pytest.mark.parametrize("layout", ["CHW", "HWC"])
@pytest.mark.parametrize("dtype,pad", [("float16", 4), ("uint8", 3), ("float16", 3), ("uint8", 4)])
def test_other_dtypes_match_float32(dtype, pad, layout, path):
    img = _image((375, 500), 7)
    box, size = (20, 30, 300, 420), (224, 221)  # odd width: conversion tails
    f32 = fi.resized_crop(img, box, size, layout=layout, dtype="float32", pad_channels=pad)
    got = fi.resized_crop(img, box, size, layout=layout, dtype=dtype, pad_channels=pad)
    assert got.shape == ((pad, 224, 221) if layout == "CHW" else (224, 221, pad))
    if dtype == "uint8":  # round to nearest: exactly the rounded float32 result
        np.testing.assert_array_equal(got, np.clip(np.rint(f32), 0, 255).astype(np.uint8))
    else:  # float16 conversion of the same float32 values
        np.testing.assert_array_equal(got, f32.astype(np.float16))
