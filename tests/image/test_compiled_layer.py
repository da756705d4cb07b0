"""The compiled layer's plumbing: one header parse per ``decode`` and
``decode_resized_crop`` (the kernel opens the image, the caller sizes the output or draws
the box from that header), and C status codes turned into
exceptions in one place (fastload/includes/common.pxd: check_status ->
fastload/_cstatus.py)."""

import numpy as np
import pytest

import fastload.image as fi
from fastload import _cstatus
from fastload.errors import DecodeError, LimitError
from fastload.image import _jpeg_cy, codec, ops
from fastload.testing.data.imagenet import encode_jpeg, encode_png, photo_like_image

pytestmark = pytest.mark.skipif(
    codec.backend() != "libjpeg-turbo", reason="built without libjpeg-turbo"
)


def _jpeg(h=61, w=97, seed=0):
    return encode_jpeg(photo_like_image(h, w, np.random.default_rng(seed)), 90)


def test_decode_planned_sees_the_header_once():
    data = _jpeg()
    calls = []

    def plan(height, width, components):
        calls.append((height, width, components))
        return 8, 0, 0, height, width, np.empty((height, width, 3), np.uint8)

    got = _jpeg_cy.decode_planned(data, plan, 0, True)
    assert calls == [(61, 97, 3)]
    np.testing.assert_array_equal(got, fi.decode(data))


def test_a_failing_plan_closes_the_image():
    data = _jpeg()

    def plan(height, width, components):
        raise KeyError("planned failure")

    with pytest.raises(KeyError, match="planned failure"):
        _jpeg_cy.decode_planned(data, plan, 0, True)
    np.testing.assert_array_equal(fi.decode(data), fi.decode(bytes(data)))
    with pytest.raises(ValueError, match="not inside"):  # roi checked against the header
        fi.decode(data, roi=(0, 0, 62, 97))


def test_a_decode_inside_the_plan_invalidates_the_opened_image():
    # the opened image lives in the thread's decoder: a nested decode replaces it, and the
    # outer decode must refuse rather than read the other image's state
    outer, inner = _jpeg(seed=1), _jpeg(40, 50, seed=2)

    def plan(height, width, components):
        fi.decode(inner)
        return 8, 0, 0, height, width, np.empty((height, width, 3), np.uint8)

    with pytest.raises(ValueError, match="another decode ran"):
        _jpeg_cy.decode_planned(outer, plan, 0, True)


def test_limit_is_checked_by_the_kernel_with_the_name():
    data = _jpeg()
    for call in (
        lambda: fi.decode(data, max_pixels=100, name="s/1.jpg"),
        lambda: ops.decode_resized_crop(data, (0, 0, 61, 97), ops.output_spec(8), name="s/1.jpg"),
    ):
        previous = fi.set_max_image_pixels(100)
        try:
            with pytest.raises(
                LimitError,
                match=r"^s/1\.jpg: image is 61x97 = 5917 pixels, "
                r"above the limit of 100 \(fastload.image.set_max_image_pixels\)",
            ):
                call()
        finally:
            fi.set_max_image_pixels(previous)


@pytest.mark.parametrize(
    "kind,exc,text",
    [
        ("limit", LimitError, "x: too big (fastload.image.set_max_image_pixels)"),
        ("strict", DecodeError, "x: JPEG data refused in strict mode: bad"),
        ("decode", DecodeError, "x: invalid JPEG data: too big"),
        ("unsupported", _cstatus.UnsupportedJPEG, "x: invalid JPEG data: too big"),
        ("nomem", MemoryError, "x: too big"),
        ("arg", ValueError, "x: too big"),
        ("status 9", RuntimeError, "x: kernel returned an unknown status 9: too big"),
    ],
)
def test_raise_status(kind, exc, text):
    message = "Corrupt JPEG data: bad" if kind == "strict" else "too big"
    with pytest.raises(exc) as info:
        _cstatus.raise_status(kind, message, "x")
    assert str(info.value).startswith(text)


def test_every_kernel_reports_through_check_status():
    from fastload.image import _resize_cy
    from fastload.volume import _resample_cy

    with pytest.raises(ValueError, match="resize: invalid arguments"):
        _resize_cy.resize(
            np.zeros((4, 4, 3), np.uint8),
            0,
            0,
            4,
            4,
            np.empty(12, np.uint8),
            2,
            2,
            3,
            5,
            0,
            0,
            (0, 0, 0),
            (1, 1, 1),
        )  # layout 5
    out = np.empty((1, 1, 2), np.uint8)
    idx = np.zeros(1, np.int64)
    with pytest.raises(ValueError, match="nearest_u8: a source index is out of range"):
        _resample_cy.nearest(
            np.zeros((1, 1, 1), np.uint8), out, idx, idx, np.array([0, 5], np.int64), 0, 1
        )
    with pytest.raises(_cstatus.UnsupportedJPEG, match="^n: "):
        sof3 = bytearray(_jpeg())
        sof3[sof3.index(b"\xff\xc0") + 1] = 0xC3
        _jpeg_cy.read_header(bytes(sof3), True, "n")


@pytest.mark.parametrize("clamp", ["box", "image"])
def test_decode_resized_crop_draws_the_box_from_the_kernels_header(clamp):
    data = _jpeg(375, 500, seed=3)
    spec = ops.output_spec(64, dtype="float32")
    seen = []

    def box(info):
        seen.append((info.height, info.width))
        return (20.5, 30.0, 300.0, 420.0)

    got = ops.decode_resized_crop(data, box, spec, clamp=clamp, flip=True)
    assert seen == [(375, 500)]  # one header parse, by the kernel
    want = ops.decode_resized_crop(
        data, (20.5, 30.0, 300.0, 420.0), spec, clamp=clamp, flip=True, info=fi.read_header(data)
    )
    np.testing.assert_array_equal(got, want)
    png = fi.decode(data)
    got_png = ops.decode_resized_crop(encode_png(png), box, spec, clamp=clamp, flip=True)
    # the Pillow path calls the same box function with the PNG header
    assert seen[-1] == (375, 500)
    np.testing.assert_array_equal(
        got_png,
        ops.resized_crop(
            png, (20.5, 30.0, 300.0, 420.0), 64, dtype="float32", flip=True, clamp=clamp
        ),
    )
    with pytest.raises(ValueError, match=r"not inside the 375x500 image"):
        ops.decode_resized_crop(data, lambda info: (0, 0, 376, 10), spec)
