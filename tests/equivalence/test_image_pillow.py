"""fastload.image vs Pillow (the decoder / resizer it replaces), same libjpeg-turbo IDCT."""

import io

import numpy as np
import pytest
from PIL import Image

import fastload.image as fi
from fastload.testing.data.imagenet import encode_jpeg, photo_like_image


def _pil_rgb(data):
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))


def _exif():
    ex = Image.Exif()
    ex[0x010F] = "fastload camera"  # Make
    ex[0x0112] = 6  # Orientation (not applied by either decoder)
    return ex.tobytes()


IMG = photo_like_image(123, 171, 5)
CASES = {
    "444": lambda: encode_jpeg(IMG, 90, "4:4:4"),
    "422": lambda: encode_jpeg(IMG, 90, "4:2:2"),
    "420": lambda: encode_jpeg(IMG, 90, "4:2:0"),
    "440": lambda: encode_jpeg(IMG, 90, "4:4:0"),
    "q75": lambda: encode_jpeg(IMG, 75),
    "q100": lambda: encode_jpeg(IMG, 100, "4:4:4"),
    "gray": lambda: encode_jpeg(IMG, 90, mode="L"),
    "cmyk": lambda: encode_jpeg(IMG, 90, mode="CMYK"),
    "ycck": lambda: encode_jpeg(IMG, 90, mode="YCCK"),
    "progressive": lambda: encode_jpeg(IMG, 90, progressive=True),
    "progressive444": lambda: encode_jpeg(IMG, 90, "4:4:4", progressive=True),
    "restart": lambda: encode_jpeg(IMG, 90, restart_interval=3),
    "exif": lambda: encode_jpeg(IMG, 90, exif=_exif()),
    "1x1": lambda: encode_jpeg(IMG[:1, :1], 90),
    "1x500": lambda: encode_jpeg(photo_like_image(1, 500, 1), 90),
    "600x2": lambda: encode_jpeg(photo_like_image(600, 2, 2), 90),
    "odd": lambda: encode_jpeg(IMG[:37, :29], 90),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_full_decode_matches_pillow(case):
    data = CASES[case]()
    got = fi.decode(data).astype(np.int16)
    want = _pil_rgb(data).astype(np.int16)
    assert got.shape == want.shape
    diff = np.abs(got - want)
    # tolerance from the issue: MAD < 1, max < 4 (measured: identical on every case)
    assert diff.mean() < 1.0 and diff.max() < 4, (diff.mean(), diff.max())


@pytest.mark.parametrize("case", ["420", "gray", "cmyk", "progressive"])
def test_dct_scaled_decode_matches_pillow_draft(case):
    data = CASES[case]()
    for scale, min_size in ((4, (61, 85)), (2, (30, 42)), (1, (15, 21))):
        got = fi.decode(data, min_size=min_size).astype(np.int16)
        im = Image.open(io.BytesIO(data))
        im.draft(im.mode, (171 * scale // 8, 123 * scale // 8))  # Pillow: W // w
        want = np.asarray(im.convert("RGB")).astype(np.int16)
        assert got.shape == want.shape
        diff = np.abs(got - want)
        assert diff.mean() < 1.0 and diff.max() < 4  # same scaled IDCT (measured: identical)


@pytest.mark.parametrize(
    "box,size",
    [
        ((0, 0, 123, 171), (224, 224)),
        ((0, 0, 123, 171), (40, 50)),
        ((10, 20, 100, 120), (37, 91)),
        ((5.5, 3.25, 60.5, 80.0), (30, 30)),
        ((0, 0, 123, 171), (123, 171)),
    ],
)
def test_resized_crop_matches_pil_bilinear(box, size):
    top, left, h, w = box
    want = np.asarray(
        Image.fromarray(IMG).resize(
            (size[1], size[0]), Image.BILINEAR, box=(left, top, left + w, top + h)
        ),
        np.int16,
    )
    # PIL's box resize takes filter taps from outside the box: clamp="image"
    got = fi.resized_crop(IMG, box, size, clamp="image").astype(np.int16)
    # PIL rounds to uint8 between its two passes; fastload keeps float: within 1 level
    assert np.abs(got - want).max() <= 1
    if float(top).is_integer() and float(left).is_integer():
        crop = Image.fromarray(IMG).crop((left, top, left + w, top + h))
        want = np.asarray(crop.resize((size[1], size[0]), Image.BILINEAR), np.int16)
        got = fi.resized_crop(IMG, box, size).astype(np.int16)  # crop first
        assert np.abs(got - want).max() <= 1


def test_flip_matches_pil():
    want = np.asarray(
        Image.fromarray(IMG).resize((64, 48), Image.BILINEAR).transpose(Image.FLIP_LEFT_RIGHT),
        np.int16,
    )
    got = fi.resized_crop(IMG, (0, 0, 123, 171), (48, 64), flip=True).astype(np.int16)
    assert np.abs(got - want).max() <= 1
