import threading

import numpy as np
import pytest

import fastload.image as fi
from fastload.testing.data.imagenet import photo_like_image
from fastload.testing.reference import image as ref


@pytest.fixture(scope="module")
def img():
    return photo_like_image(97, 131, 3)


BOXES = [
    (0, 0, 97, 131),
    (10, 20, 50, 60),
    (3.5, 7.25, 40.5, 90.75),
    (90, 120, 7, 11),
    (0, 0, 1, 1),
    (20, 0, 77, 131),
]
SIZES = [(24, 24), (50, 40), (97, 131), (200, 150), (1, 1), (3, 300)]


@pytest.mark.parametrize(
    "box,size",
    [(b, s) for i, b in enumerate(BOXES) for j, s in enumerate(SIZES) if (i + j) % 2 == 0],
)
@pytest.mark.parametrize("antialias", [True, False])
def test_resized_crop_matches_twin(img, box, size, antialias):
    for flip in (False, True):
        got = fi.resized_crop(img, box, size, antialias=antialias, flip=flip, dtype="float32")
        want = ref.resized_crop(img, box, size, antialias=antialias, flip=flip)
        # float32 accumulation vs float64: well below one level
        np.testing.assert_allclose(got, want, atol=2e-3, rtol=0)
        got8 = fi.resized_crop(img, box, size, antialias=antialias, flip=flip)
        assert got8.dtype == np.uint8 and got8.shape == size + (3,)
        assert np.abs(got8.astype(float) - want).max() <= 0.5 + 1e-3  # rounding only (< 1 level)


@pytest.mark.parametrize("box", BOXES[:4])
def test_tf_legacy_matches_twin(img, box):
    for flip in (False, True):
        got = fi.resized_crop(
            img,
            box,
            (33, 45),
            interpolation="tf_legacy",
            antialias=False,
            flip=flip,
            dtype="float32",
        )
        want = ref.resized_crop(
            img, box, (33, 45), interpolation="tf_legacy", antialias=False, flip=flip
        )
        np.testing.assert_allclose(got, want, atol=2e-3, rtol=0)


def test_tf_legacy_is_tf1_resize_bilinear(img):
    """TF1 resize_bilinear (align_corners=False, half_pixel_centers=False), written out."""
    crop = img[10:60, 20:80].astype(np.float64)
    oh, ow = 37, 29
    sy, sx = crop.shape[0] / oh, crop.shape[1] / ow
    want = np.empty((oh, ow, 3))
    for y in range(oh):
        fy = y * sy
        y0 = int(np.floor(fy))
        y1 = min(y0 + 1, crop.shape[0] - 1)
        dy = fy - y0
        for x in range(ow):
            fx = x * sx
            x0 = int(np.floor(fx))
            x1 = min(x0 + 1, crop.shape[1] - 1)
            dx = fx - x0
            top = crop[y0, x0] + (crop[y0, x1] - crop[y0, x0]) * dx
            bot = crop[y1, x0] + (crop[y1, x1] - crop[y1, x0]) * dx
            want[y, x] = top + (bot - top) * dy
    got = fi.resized_crop(
        img, (10, 20, 50, 60), (oh, ow), interpolation="tf_legacy", antialias=False, dtype="float32"
    )
    np.testing.assert_allclose(got, want, atol=2e-3)
    flipped = fi.resized_crop(
        img,
        (10, 20, 50, 60),
        (oh, ow),
        interpolation="tf_legacy",
        antialias=False,
        dtype="float32",
        flip=True,
    )
    want_f = ref.resized_crop(
        crop[:, ::-1].astype(np.uint8),
        (0, 0, 50, 60),
        (oh, ow),
        interpolation="tf_legacy",
        antialias=False,
    )
    np.testing.assert_allclose(flipped, want_f, atol=2e-3)


@pytest.mark.parametrize("dtype", ["float32", "float16", "uint8"])
@pytest.mark.parametrize("layout", ["HWC", "CHW"])
@pytest.mark.parametrize("pad", [3, 4])
def test_dtype_layout_normalize(img, dtype, layout, pad):
    mean, std = (123.675, 116.28, 103.53), (58.395, 57.12, 57.375)
    box, size = (5, 6, 80, 100), (32, 48)
    if dtype == "uint8":
        mean, std = (10, 20, 30), (1, 2, 0.5)
    got = fi.resized_crop(
        img, box, size, dtype=dtype, layout=layout, mean=mean, std=std, pad_channels=pad, flip=True
    )
    want = ref.resized_crop(img, box, size, flip=True, mean=mean, std=std)
    assert got.dtype == np.dtype(dtype)
    if layout == "CHW":
        assert got.shape == (pad,) + size
        got = got.transpose(1, 2, 0)
    else:
        assert got.shape == size + (pad,)
    if pad == 4:
        assert not got[..., 3].any()
    got = got[..., :3].astype(np.float64)
    if dtype == "uint8":
        want = np.clip(np.round(want), 0, 255)
        assert np.abs(got - want).max() <= 1
    else:
        tol = 1e-4 if dtype == "float32" else 4e-3  # float16: half an ulp near |x| ~ 2
        np.testing.assert_allclose(got, want, atol=tol)


def test_normalize_matches_twin(img):
    got = fi.normalize(img, (1, 2, 3), (4, 5, 6))
    np.testing.assert_allclose(got, ref.normalize(img, (1, 2, 3), (4, 5, 6)), atol=1e-4)
    chw = fi.normalize(img, 0.0, 255.0, layout="CHW", dtype="float16")
    np.testing.assert_allclose(chw.transpose(1, 2, 0), img / 255.0, atol=1e-3)


def test_clamp_box_vs_image(img):
    box = (20, 30, 40, 50)
    crop_first = fi.resized_crop(img[20:60, 30:80], (0, 0, 40, 50), 16, dtype="float32")
    np.testing.assert_array_equal(fi.resized_crop(img, box, 16, dtype="float32"), crop_first)
    whole = fi.resized_crop(img, box, 16, dtype="float32", clamp="image")
    np.testing.assert_allclose(whole, ref.resized_crop(img, box, 16, clamp="image"), atol=2e-3)
    assert not np.allclose(whole, crop_first, atol=0.5)  # edge taps differ


def test_resize_shorter_box_equals_two_step(img):
    """Resampling the equivalent box == resize shorter side, then centre crop."""
    H, W = img.shape[:2]
    rh, rw = fi.resize_shorter_size(H, W, 64)
    s32 = np.float32(64) / np.float32(H)  # TF truncates float32 products: 97 -> 63
    assert (rh, rw) == (int(np.float32(H) * s32), int(np.float32(W) * s32))
    two_step = ref.resized_crop(img, (0, 0, H, W), (rh, rw), clamp="image")
    t, l, h, w = fi.center_crop_box(rh, rw, 56)
    two_step = two_step[t : t + h, l : l + w]
    box = fi.resize_shorter_box(H, W, 64, 56)
    got = fi.resized_crop(img, box, 56, dtype="float32", clamp="image")
    np.testing.assert_allclose(got, two_step, atol=2e-3)


def test_box_helpers():
    assert fi.resize_shorter_size(375, 500, 256) == (256, 341)  # SPEC 2.3 example
    assert fi.resize_shorter_size(500, 375, 256) == (341, 256)
    assert fi.resize_shorter_size(375, 500, 256, rounding="round") == (256, 341)
    assert fi.center_crop_box(256, 341, 224) == (16, 58, 224, 224)
    assert fi.center_crop_box(100, 50, 224) == (0, 0, 100, 50)


def test_grayscale_and_strided_input(img):
    g = img[:, :, 0]
    got = fi.resized_crop(g, (0, 0, 97, 131), 20)
    np.testing.assert_array_equal(got[..., 0], got[..., 1])
    strided = img[::2, ::3]
    packed = np.ascontiguousarray(strided)
    np.testing.assert_array_equal(
        fi.resized_crop(strided, (0, 0, 49, 44), 10), fi.resized_crop(packed, (0, 0, 49, 44), 10)
    )


def test_out_argument(img):
    out = np.empty((3, 16, 16), np.float32)
    assert fi.resized_crop(img, (0, 0, 50, 50), 16, out=out, dtype="float32", layout="CHW") is out
    for bad in (
        np.empty((16, 16, 3), np.float32),
        np.empty((3, 16, 16), np.float64),
        np.empty((3, 16, 32), np.float32)[:, :, ::2],
    ):
        with pytest.raises(ValueError, match="out must be"):
            fi.resized_crop(img, (0, 0, 50, 50), 16, out=bad, dtype="float32", layout="CHW")


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"box": (0, 0, 98, 10)}, "not inside"),
        ({"box": (0, 0, 0, 10)}, "not inside"),
        ({"box": (-1, 0, 5, 5)}, "not inside"),
        ({"size": 0}, "positive"),
        ({"dtype": "int16"}, "dtype"),
        ({"layout": "NCHW"}, "layout"),
        ({"interpolation": "cubic"}, "interpolation"),
        ({"std": (1, 0, 1)}, "std"),
        ({"pad_channels": 2}, "pad_channels"),
    ],
)
def test_validation(img, kwargs, match):
    args = {"box": (0, 0, 10, 10), "size": 8, **kwargs}
    box, size = args.pop("box"), args.pop("size")
    with pytest.raises(ValueError, match=match):
        fi.resized_crop(img, box, size, **args)


def test_bad_image_type():
    with pytest.raises(ValueError, match="uint8"):
        fi.resized_crop(np.zeros((4, 4, 3), np.float32), (0, 0, 4, 4), 2)
    with pytest.raises(ValueError, match="shape"):
        fi.resized_crop(np.zeros((4, 4, 4), np.uint8), (0, 0, 4, 4), 2)


def test_threads_identical(img):
    boxes = [(k, 2 * k, 50 + k, 60 + k) for k in range(8)]
    expected = [fi.resized_crop(img, b, 32, dtype="float32", layout="CHW") for b in boxes]
    bad = []

    def work(seed):
        out = np.empty((3, 32, 32), np.float32)
        rng = np.random.default_rng(seed)
        for _ in range(200):
            k = int(rng.integers(len(boxes)))
            fi.resized_crop(img, boxes[k], 32, dtype="float32", layout="CHW", out=out)
            if not np.array_equal(out, expected[k]):
                bad.append(k)

    threads = [threading.Thread(target=work, args=(s,)) for s in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not bad
