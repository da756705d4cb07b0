"""``idct="fast"``: libjpeg's fast integer IDCT (JDCT_IFAST, TensorFlow's default
``dct_method=""``) next to the accurate one (JDCT_ISLOW, the default).

The peer is simplejpeg (libjpeg-turbo's TurboJPEG API): ``fastdct=True`` is TJFLAG_FASTDCT,
i.e. JDCT_IFAST, and ``fastupsample=False`` keeps fancy upsampling as fastload does, so
both methods must match it bit for bit (libjpeg-turbo's IDCTs are integer code, identical
from release to release).
"""

import numpy as np
import pytest
import simplejpeg  # a test requirement: the libjpeg peer with a selectable IDCT

import fastload.image as fi
from fastload.image import codec, ops
from fastload.testing.data.imagenet import encode_jpeg, photo_like_image

pytestmark = pytest.mark.skipif(
    codec.backend() != "libjpeg-turbo", reason="built without libjpeg-turbo"
)

SHAPES = [(375, 500, 90), (333, 500, 75), (61, 97, 95)]


def _jpeg(h, w, quality, seed):
    return encode_jpeg(photo_like_image(h, w, np.random.default_rng(seed)), quality)


@pytest.mark.parametrize("h,w,quality", SHAPES)
def test_both_methods_match_simplejpeg_exactly(h, w, quality):
    data = _jpeg(h, w, quality, h)
    for idct, fast in (("accurate", False), ("fast", True)):
        want = simplejpeg.decode_jpeg(data, "RGB", fastdct=fast, fastupsample=False)
        # same libjpeg IDCT and upsampling: identical pixels
        np.testing.assert_array_equal(fi.decode(data, idct=idct), want)


def test_fast_differs_from_accurate_by_a_few_levels():
    data = _jpeg(375, 500, 90, 1)
    acc = fi.decode(data).astype(np.int16)
    fast = fi.decode(data, idct="fast").astype(np.int16)
    diff = np.abs(acc - fast)
    # a different method (not a no-op), small: measured mean 1.0, max 5 on this image
    assert 0.2 < diff.mean() < 2.0
    assert diff.max() <= 20


def test_region_and_lenient_decode_use_the_method():
    data = _jpeg(333, 500, 85, 2)
    full = simplejpeg.decode_jpeg(data, "RGB", fastdct=True, fastupsample=False)
    roi = (37, 101, 150, 211)
    got = fi.decode(data, roi=roi, idct="fast")
    # a region of the fast full decode (chroma upsampling sees the margin pixels)
    np.testing.assert_array_equal(got, full[37:187, 101:312])
    np.testing.assert_array_equal(fi.decode(data, idct="fast", strict=False), full)


def test_scaled_decodes_match_simplejpeg_exactly():
    # libjpeg picks an IDCT per component size: at 1/2 scale the chroma of 4:2:0 still
    # runs 8x8 IDCTs (which follow the method), at 1/4 and 1/8 only the reduced ones run
    data = _jpeg(375, 500, 90, 3)
    for min_size in ((180, 240), (90, 120), (40, 60)):
        for idct, fast in (("accurate", False), ("fast", True)):
            want = simplejpeg.decode_jpeg(
                data,
                "RGB",
                fastdct=fast,
                fastupsample=False,
                min_height=min_size[0],
                min_width=min_size[1],
            )
            np.testing.assert_array_equal(fi.decode(data, min_size=min_size, idct=idct), want)


def test_fused_decode_resized_crop_uses_the_method():
    data = _jpeg(375, 500, 90, 4)
    spec = ops.output_spec(224, dtype="float32")
    box = (20.0, 30.0, 300.0, 420.0)
    for idct, fast in (("accurate", False), ("fast", True)):
        pixels = simplejpeg.decode_jpeg(data, "RGB", fastdct=fast, fastupsample=False)
        want = fi.resized_crop(pixels, box, 224, dtype="float32")
        got = fi.decode_resized_crop(data, box, spec, dct_scale=False, idct=idct)
        # same pixels into the same resize kernel (taps clamped to the decoded hull)
        np.testing.assert_allclose(got, want, atol=1e-3, rtol=0)


def test_transforms_pass_the_method():
    data = _jpeg(375, 500, 90, 5)
    t = fi.RandomResizedCrop(224, preset="reference", idct="fast", dct_scale=False)
    params = fi.CropParams(10, 20, 300, 400)
    spec = ops.output_spec(224, interpolation="tf_legacy", antialias=False)
    want = ops.decode_resized_crop(data, params.box, spec, dct_scale=False, idct="fast")
    np.testing.assert_array_equal(t.apply(data, params), want)
    assert not np.array_equal(
        want, ops.decode_resized_crop(data, params.box, spec, dct_scale=False)
    )
    shorter = fi.ResizeShorter(256, idct="fast").apply(data, None)
    fast = simplejpeg.decode_jpeg(data, "RGB", fastdct=True, fastupsample=False)
    np.testing.assert_array_equal(shorter, fi.ResizeShorter(256).apply(fast, None))


@pytest.mark.parametrize("bad", ["ifast", "", None, "FAST"])
def test_bad_method_is_refused(bad):
    data = _jpeg(61, 97, 90, 6)
    with pytest.raises(ValueError, match="idct must be one of"):
        fi.decode(data, idct=bad)
    if bad is not None:  # None: the preset's IDCT (RandomResizedCrop, the pipelines)
        with pytest.raises(ValueError, match="idct must be one of"):
            fi.RandomResizedCrop(224, idct=bad)


def test_presets_decode_as_their_originals():
    # "reference": TF's decode_jpeg default (dct_method="" -> JDCT_IFAST); "nvidia": DALI's
    # CPU decoder (libjpeg-turbo JDCT_ISLOW)
    from fastload.image.transforms import PRESETS
    from fastload.pipelines import resnet50_eval, resnet50_train

    assert PRESETS["reference"].idct == "fast" and PRESETS["nvidia"].idct == "accurate"
    assert fi.RandomResizedCrop(224, preset="reference").idct == "fast"
    assert resnet50_train(preset="reference").crop.idct == "fast"
    assert resnet50_eval(preset="reference").idct == "fast"
    assert resnet50_eval(preset="reference", idct="accurate").idct == "accurate"
    assert resnet50_train(preset="nvidia").crop.idct == "accurate"
    data = _jpeg(300, 400, 90, 7)
    sample = {"image": data}
    got = resnet50_eval(preset="reference", dtype="uint8", layout="HWC")(sample)["image"]
    spec = ops.output_spec(224, interpolation="tf_legacy", antialias=False)
    box = fi.resize_shorter_box(300, 400, 256, 224, rounding="floor")
    want = ops.decode_resized_crop(data, box, spec, clamp="image", dct_scale=False, idct="fast")
    np.testing.assert_array_equal(got, want)
    with pytest.raises(ValueError, match="idct must be one of"):
        resnet50_train(idct="slow")
