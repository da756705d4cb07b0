import io
import os
import shutil
import subprocess
import threading

import numpy as np
import pytest
import simplejpeg
from PIL import Image

import fastload.image as fi
from fastload.errors import DecodeError, LimitError
from fastload.image import codec
from fastload.testing.data.imagenet import encode_jpeg, encode_png, photo_like_image


@pytest.fixture(scope="module")
def img():
    return photo_like_image(120, 170, 0)


@pytest.fixture(scope="module")
def jpeg(img):
    return encode_jpeg(img, 90)


@pytest.fixture
def pillow_backend():
    previous = fi.set_backend("pillow")
    yield
    fi.set_backend(previous)


def reference(data, min_size=None):
    """The independent decode every fastload decode here is compared with: simplejpeg
    (TurboJPEG API: libjpeg-turbo's own Huffman decoder, accurate IDCT, fancy upsampling;
    ``min_size`` = its DCT scaling) for colour JPEGs, Pillow for the rest. fastload decodes
    with its own Huffman decoder (csrc/image/huffman.c) and libjpeg-turbo's IDCT and
    upsampling, so the pixels must be identical (measured: max |diff| 0 on every case)."""
    info = Image.open(io.BytesIO(data))
    if info.format == "JPEG" and info.mode == "RGB" and "progression" not in info.info:
        h, w = min_size or (0, 0)
        return simplejpeg.decode_jpeg(data, colorspace="RGB", min_height=h, min_width=w)
    assert min_size is None, "Pillow's draft() is not used as a scaled reference here"
    return np.asarray(info.convert("RGB"))  # gray replicated, CMYK converted, progressive


def _set_sof_size(data, h, w):
    """Patch the frame header (SOF0/SOF2) to declare h x w."""
    data = bytearray(data)
    for marker in (b"\xff\xc0", b"\xff\xc2"):
        i = data.find(marker)
        if i >= 0:
            data[i + 5 : i + 7] = h.to_bytes(2, "big")
            data[i + 7 : i + 9] = w.to_bytes(2, "big")
            return bytes(data)
    raise AssertionError("no SOF marker")


def test_backend_is_libjpeg_turbo_when_available():
    """setup.py builds the libjpeg-turbo extension whenever pkg-config (or
    /usr/include/jpeglib.h) finds libjpeg; only then may the backend be Pillow."""
    found = os.path.exists("/usr/include/jpeglib.h") or (
        shutil.which("pkg-config") is not None
        and subprocess.run(["pkg-config", "--exists", "libjpeg"]).returncode == 0
    )
    assert fi.backend() == ("libjpeg-turbo" if found else "pillow")


def test_read_header_jpeg_png_gray_cmyk(img):
    assert fi.read_header(encode_jpeg(img)) == fi.ImageInfo(120, 170, 3, "JPEG")
    assert fi.read_header(encode_jpeg(img, mode="L")) == fi.ImageInfo(120, 170, 1, "JPEG")
    assert fi.read_header(encode_jpeg(img, mode="CMYK")) == fi.ImageInfo(120, 170, 4, "JPEG")
    assert fi.read_header(encode_png(img)) == fi.ImageInfo(120, 170, 3, "PNG")
    assert fi.read_header(encode_png(img[:, :, 0])) == fi.ImageInfo(120, 170, 1, "PNG")
    gif = io.BytesIO()
    Image.fromarray(img).save(gif, format="GIF")
    assert fi.read_header(gif.getvalue())[:2] == (120, 170)


@pytest.mark.parametrize("kind", ["bytes", "memoryview", "numpy", "bytearray"])
def test_bytes_like_inputs(jpeg, kind):
    data = {
        "bytes": jpeg,
        "memoryview": memoryview(jpeg),
        "bytearray": bytearray(jpeg),
        "numpy": np.frombuffer(jpeg, np.uint8),
    }[kind]
    np.testing.assert_array_equal(fi.decode(data), reference(jpeg))
    assert fi.read_header(data).width == 170


@pytest.mark.parametrize("sub", ["4:4:4", "4:2:2", "4:2:0", "4:4:0"])
def test_decode_matches_twin_decoders_full(img, sub):
    data = encode_jpeg(img, 90, sub)
    out = fi.decode(data)
    assert out.shape == (120, 170, 3) and out.dtype == np.uint8
    # same accurate IDCT and fancy upsampling as simplejpeg and Pillow: exact (tolerance 0)
    np.testing.assert_array_equal(out, reference(data))
    np.testing.assert_array_equal(out, np.asarray(Image.open(io.BytesIO(data)).convert("RGB")))


@pytest.mark.parametrize("sub", ["4:4:4", "4:2:0"])
@pytest.mark.parametrize("min_size", [(60, 85), (30, 40), (1, 1)])
def test_scaled_decode_matches_twin_decoder(img, sub, min_size):
    data = encode_jpeg(img, 90, sub)
    # libjpeg's DCT scaling (1/2, 1/4, 1/8) in both: exact (tolerance 0)
    np.testing.assert_array_equal(fi.decode(data, min_size=min_size), reference(data, min_size))


@pytest.mark.parametrize(
    "roi",
    [
        (0, 0, 120, 170),
        (13, 27, 50, 61),
        (0, 1, 1, 1),
        (119, 169, 1, 1),
        (40, 0, 80, 170),
        (5, 100, 115, 70),
    ],
)
@pytest.mark.parametrize("sub", ["4:4:4", "4:2:2", "4:2:0", "4:4:0"])
def test_roi_is_bit_exact_crop_of_full_decode(img, roi, sub):
    data = encode_jpeg(img, 90, sub)
    full = reference(data)
    top, left, h, w = roi
    got = fi.decode(data, roi=roi)
    # the 1-pixel decode margin makes fancy upsampling at the crop edges match exactly
    np.testing.assert_array_equal(got, full[top : top + h, left : left + w])


@pytest.mark.parametrize("mode", ["L", "CMYK"])
def test_roi_gray_cmyk(img, mode):
    data = encode_jpeg(img, 90, mode=mode)
    full = reference(data)
    np.testing.assert_array_equal(fi.decode(data), full)
    np.testing.assert_array_equal(fi.decode(data, roi=(30, 41, 50, 77)), full[30:80, 41:118])


def test_progressive_roi(img):
    data = encode_jpeg(img, 90, progressive=True)
    full = reference(data)
    np.testing.assert_array_equal(fi.decode(data), full)
    np.testing.assert_array_equal(fi.decode(data, roi=(7, 9, 60, 80)), full[7:67, 9:89])


def test_min_size_picks_dct_scale(img):
    data = encode_jpeg(img, 90)
    assert fi.decode(data, min_size=(60, 85)).shape == (60, 85, 3)  # 1/2
    assert fi.decode(data, min_size=(30, 40)).shape == (30, 43, 3)  # 1/4, ceil(170/4)
    assert fi.decode(data, min_size=(1, 1)).shape == (15, 22, 3)  # 1/8
    assert fi.decode(data, min_size=(61, 85)).shape == (120, 170, 3)  # 1/2 too small
    # roi + scale: rows 20..100 at 1/4 -> 5..25, cols 16..80 -> 4..20
    assert fi.decode(data, roi=(20, 16, 80, 64), min_size=(20, 16)).shape == (20, 16, 3)
    assert codec.choose_scale((448, 448), (224, 224)) == 4
    assert codec.choose_scale((447, 900), (224, 224)) == 8


def test_scaled_roi_matches_scaled_full(img):
    data = encode_jpeg(img, 90)
    full = reference(data, min_size=(60, 85))
    y0, x0, h, w = codec.scaled_region((120, 170), (20, 30, 80, 100), 4)
    got = fi.decode(data, roi=(20, 30, 80, 100), min_size=(40, 50))
    np.testing.assert_array_equal(got, full[y0 : y0 + h, x0 : x0 + w])


def test_decode_into_out_and_strided_out(jpeg):
    ref = reference(jpeg)
    out = np.zeros((120, 170, 3), np.uint8)
    assert fi.decode(jpeg, out=out) is out
    np.testing.assert_array_equal(out, ref)
    big = np.zeros((130, 200, 3), np.uint8)
    view = big[5:125, 10:180]
    fi.decode(jpeg, out=view)
    np.testing.assert_array_equal(view, ref)
    assert big[:5].sum() == 0 and big[:, :10].sum() == 0
    with pytest.raises(ValueError, match="out must be"):
        fi.decode(jpeg, out=np.zeros((120, 171, 3), np.uint8))
    with pytest.raises(ValueError, match="out must be"):
        fi.decode(jpeg, out=np.zeros((120, 170, 3), np.float32))


def test_png_and_png_named_jpeg(img):
    np.testing.assert_array_equal(fi.decode(encode_png(img)), img)
    np.testing.assert_array_equal(fi.decode(encode_png(img), roi=(3, 4, 10, 20)), img[3:13, 4:24])
    gray = fi.decode(encode_png(img[:, :, 1]))
    np.testing.assert_array_equal(gray, np.repeat(img[:, :, 1:2], 3, axis=2))


def test_one_pixel_and_extreme_aspect():
    for h, w in [(1, 1), (1, 700), (700, 1), (3, 2000)]:
        im = photo_like_image(h, w, 1)
        data = encode_jpeg(im, 95, "4:2:0")
        out = fi.decode(data)
        assert out.shape == (h, w, 3)
        np.testing.assert_array_equal(out, reference(data))  # exact, as above


def test_roi_validation(jpeg):
    with pytest.raises(ValueError, match="not inside"):
        fi.decode(jpeg, roi=(100, 0, 21, 10))
    with pytest.raises(ValueError, match="not inside"):
        fi.decode(jpeg, roi=(0, 0, 0, 10))


# --------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    "data,match",
    [
        (b"", "empty"),
        (b"\xff\xd8", "JPEG|header|empty|not"),
        (b"hello world, not an image at all", "not a decodable image"),
        (bytes(range(256)) * 4, "not a decodable image"),
    ],
)
def test_garbage_raises_decode_error(data, match):
    with pytest.raises(DecodeError, match=match):
        fi.decode(data, name="bad.JPEG")
    with pytest.raises(DecodeError):
        fi.read_header(data)


def test_error_names_the_file(jpeg):
    with pytest.raises(DecodeError, match="n01440764_1.JPEG"):
        fi.decode(jpeg[: len(jpeg) // 2], name="n01440764_1.JPEG")


@pytest.mark.parametrize("frac", [0.1, 0.5, 0.9, 0.99])
def test_truncated_raises(jpeg, frac):
    with pytest.raises(DecodeError):
        fi.decode(jpeg[: int(len(jpeg) * frac)])


def test_truncated_non_strict_recovers(jpeg):
    if fi.backend() == "pillow":  # the Pillow fallback is always strict
        with pytest.raises(DecodeError):
            fi.decode(jpeg[: int(len(jpeg) * 0.7)], strict=False)
        return
    out = fi.decode(jpeg[: int(len(jpeg) * 0.7)], strict=False)
    assert out.shape == (120, 170, 3)


def test_corrupt_entropy_data(jpeg):
    sos = jpeg.find(b"\xff\xda")
    rng = np.random.default_rng(0)
    raised = 0
    for _ in range(20):
        bad = bytearray(jpeg)
        pos = int(rng.integers(sos + 20, len(jpeg) - 20))
        bad[pos : pos + 8] = rng.integers(0, 256, 8, dtype=np.uint8).tobytes()
        bad[pos + 3] = 0xFF  # a bogus marker inside the entropy-coded segment
        bad[pos + 4] = 0xD3 if rng.random() < 0.5 else 0x12
        try:
            out = fi.decode(bytes(bad))
        except DecodeError:
            raised += 1
        else:  # libjpeg resynchronised without a warning: still a valid image
            assert out.shape == (120, 170, 3)
    assert raised >= 15


def test_huge_header_raises_limit_error_without_allocating(jpeg):
    bad = _set_sof_size(jpeg, 60000, 60000)
    assert fi.read_header(bad)[:2] == (60000, 60000)
    with pytest.raises(LimitError, match="60000x60000"):
        fi.decode(bad, name="bomb.JPEG")
    with pytest.raises(LimitError):
        fi.decode(bad, roi=(0, 0, 10, 10))
    # LimitError is a DecodeError, so loaders' on_error policies catch it too
    assert issubclass(LimitError, DecodeError)


def test_limit_is_configurable(jpeg, img):
    previous = fi.set_max_image_pixels(100 * 100)
    try:
        assert fi.get_max_image_pixels() == 10000
        with pytest.raises(LimitError):
            fi.decode(jpeg)
        with pytest.raises(LimitError):
            fi.decode(encode_png(img))
        fi.decode(jpeg, max_pixels=0)  # per call: no limit
    finally:
        fi.set_max_image_pixels(previous)
    fi.decode(jpeg)


def test_huge_png_header_limit(img):
    data = bytearray(encode_png(img))
    data[16:20] = (60000).to_bytes(4, "big")
    data[20:24] = (60000).to_bytes(4, "big")
    with pytest.raises(LimitError):
        fi.decode(bytes(data))


def test_non_contiguous_input_rejected(jpeg):
    arr = np.frombuffer(jpeg * 2, np.uint8)[::2]
    with pytest.raises(DecodeError, match="contiguous"):
        fi.decode(arr)


def test_decoder_usable_after_errors(jpeg):
    for bad in (b"", jpeg[:200], _set_sof_size(jpeg, 60000, 60000), b"\xff\xd8\xff" + b"\0" * 50):
        with pytest.raises(DecodeError):
            fi.decode(bad)
        np.testing.assert_array_equal(fi.decode(jpeg), reference(jpeg))


# --------------------------------------------------------------------------- fallback, threads


def test_pillow_fallback_matches(img, pillow_backend):
    assert fi.backend() == "pillow"
    data = encode_jpeg(img, 90)
    # Pillow's draft() and libjpeg's DCT scaling in simplejpeg: the same 1/4 decode
    np.testing.assert_array_equal(
        fi.decode(data, min_size=(30, 40)), reference(data, min_size=(30, 40))
    )
    ref = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))
    np.testing.assert_array_equal(fi.decode(data), ref)
    np.testing.assert_array_equal(fi.decode(data, roi=(10, 20, 30, 40)), ref[10:40, 20:60])
    assert fi.decode(data, min_size=(30, 40)).shape == (30, 43, 3)  # draft -> 1/4
    assert fi.read_header(data) == fi.ImageInfo(120, 170, 3, "JPEG")
    with pytest.raises(DecodeError):
        fi.decode(data[:300])
    with pytest.raises(LimitError):
        fi.decode(_set_sof_size(data, 60000, 60000))
    assert fi.read_header(_set_sof_size(data, 60000, 60000))[:2] == (60000, 60000)
    for bad in (b"\xff\xd8\xff" + b"\0" * 40, data[:20], _set_sof_size(data, 0, 10)):
        with pytest.raises(DecodeError):
            fi.read_header(bad)


def test_set_backend_validation():
    with pytest.raises(ValueError):
        fi.set_backend("opencv")


def test_threads_give_identical_results(img):
    files = [encode_jpeg(photo_like_image(90 + 7 * k, 130, k), 90) for k in range(6)]
    expected = [reference(f)[5:65, 7:97] for f in files]
    errors = []

    def work(seed):
        rng = np.random.default_rng(seed)
        for _ in range(30):
            k = int(rng.integers(len(files)))
            got = fi.decode(files[k], roi=(5, 7, 60, 90))
            if not np.array_equal(got, expected[k]):
                errors.append(k)
            with pytest.raises(DecodeError):
                fi.decode(files[k][:100])

    threads = [threading.Thread(target=work, args=(s,)) for s in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors


def test_mutated_files_raise_decode_error_or_decode(img):
    """A small deterministic fuzz pass (the same loop ran 3000 iterations clean under
    ASan + UBSan): every mutation either decodes or raises DecodeError."""
    from fastload.pipelines import resnet50_train

    seeds = [
        encode_jpeg(img[:60, :80]),
        encode_jpeg(img[:60, :80], progressive=True),
        encode_jpeg(img[:60, :80], mode="CMYK"),
        encode_jpeg(img[:60, :80], mode="L"),
    ]
    rng = np.random.default_rng(0)
    t = resnet50_train()
    for it in range(300):
        d = bytearray(seeds[it % len(seeds)])
        kind = it % 3
        if kind == 0:
            for _ in range(int(rng.integers(1, 8))):
                d[int(rng.integers(len(d)))] = int(rng.integers(256))
        elif kind == 1:
            d = d[: int(rng.integers(len(d)))]
        else:
            p = int(rng.integers(2, min(len(d), 300)))
            d[p : p + 2] = rng.integers(0, 256, 2, dtype=np.uint8).tobytes()
        d = bytes(d)
        try:
            fi.decode(d)
        except DecodeError:
            pass
        try:
            t({"image": d}, np.random.default_rng(it))
        except DecodeError:
            pass


def test_huffman_decoder_switch_gives_the_same_pixels(jpeg):
    if codec.huffman_decoder() is None:
        pytest.skip("built without libjpeg-turbo")
    assert codec.huffman_decoder() == "fastload"  # the verified default of this build
    want = fi.decode(jpeg)
    previous = fi.set_huffman_decoder("libjpeg")
    try:
        assert previous == "fastload" and fi.huffman_decoder() == "libjpeg"
        np.testing.assert_array_equal(fi.decode(jpeg), want)
    finally:
        fi.set_huffman_decoder(previous)
    assert fi.huffman_decoder() == "fastload"
    with pytest.raises(ValueError, match="'fastload' or 'libjpeg'"):
        fi.set_huffman_decoder("turbo")
