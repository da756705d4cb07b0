"""A decode's output must not depend on what the thread decoded before.

libjpeg keeps Huffman and quantisation tables in its decompress object from one image to
the next; fastload keeps one object per thread, and used to reuse it, so a motion-JPEG
frame that relies on the standard's default Huffman tables (it carries no DHT) decoded
correctly on a fresh thread and to garbage after any other JPEG. Every call now starts
from a fresh object (csrc/image/jpeg.c: fresh_cinfo); fastload's own Huffman decoder keys
its derived tables by the table bytes.
"""

import io
import threading

import numpy as np
import pytest
from PIL import Image

from fastload.errors import DecodeError
from fastload.image import codec, decode
from fastload.pipelines.resnet50 import resnet50_train
from fastload.testing.data.imagenet import encode_jpeg, encode_png, photo_like_image

needs_libjpeg = pytest.mark.skipif(
    codec.backend() != "libjpeg-turbo", reason="built without libjpeg-turbo"
)


def _segments(data):
    """[(marker, start, end)] of the header segments before the first SOS."""
    out, i = [], 2
    while data[i + 1] != 0xDA:
        assert data[i] == 0xFF
        end = i + 2 + int.from_bytes(data[i + 2 : i + 4], "big")
        out.append((data[i + 1], i, end))
        i = end
    return out


def strip_segments(data, marker):
    """``data`` without its header segments of type ``marker`` (0xC4 DHT, 0xDB DQT)."""
    keep = bytearray(data[:2])
    last = 2
    for m, start, end in _segments(data):
        if m != marker:
            keep += data[start:end]
        last = end
    return bytes(keep + data[last:])


def pil_jpeg(img, **kw):
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, "JPEG", **kw)
    return buf.getvalue()


def motion_jpeg_frame(img, quality=85):
    """A baseline JPEG coded with the standard's tables (Pillow, optimize=False) and its
    DHT segments removed, as motion-JPEG frames are stored (ISO/IEC 10918-1 K.3 tables)."""
    full = pil_jpeg(img, quality=quality, optimize=False)
    frame = strip_segments(full, 0xC4)
    assert b"\xff\xc4" not in frame[: frame.index(b"\xff\xda")] and len(frame) < len(full)
    return full, frame


def _images():
    rng = np.random.default_rng(5)
    img = photo_like_image(41, 58, rng)
    other = photo_like_image(37, 50, rng)
    full, frame = motion_jpeg_frame(img)
    full_420 = encode_jpeg(img, 90)
    assert full_420.index(b"\xff\xda") < len(full_420) // 3
    files = {
        "420-q90": full_420,
        "444-q100": encode_jpeg(img, 100, subsampling="4:4:4"),
        "422-q10": encode_jpeg(other, 10, subsampling="4:2:2"),
        "440-q75": encode_jpeg(img, 75, subsampling="4:4:0"),
        "gray": encode_jpeg(other, 80, mode="L"),
        "cmyk": encode_jpeg(img, 90, mode="CMYK"),
        "ycck": encode_jpeg(other, 90, mode="YCCK"),
        "progressive": encode_jpeg(other, 90, progressive=True),
        "restart-2": encode_jpeg(img, 90, restart_interval=2),
        "optimized-a": pil_jpeg(img, quality=70, optimize=True),
        "optimized-b": pil_jpeg(other, quality=95, optimize=True),
        "std-tables": full,
        "motion-jpeg": frame,
        "no-dqt": strip_segments(encode_jpeg(other, 60), 0xDB),  # refused: no quant table
        "truncated": full_420[: len(full_420) * 3 // 5],  # cut inside the scan
        "7x9": encode_jpeg(photo_like_image(7, 9, rng), 95),
        "png": encode_png(other),
    }
    return files


FILES = _images()
TRAIN = resnet50_train(dtype="float32")


def _outcome(fn):
    try:
        return ("ok", fn())
    except DecodeError as exc:
        return ("error", str(exc))


def _requests(data):
    """The calls whose outcome must not depend on history: full strict, a lenient DCT-scaled
    region, and the fused ResNet-50 train path (random crop + resize)."""
    h, w = codec.read_header(data, strict=False).shape[:2]
    roi = (h // 4, w // 5, max(1, h // 2), max(1, w // 2))
    return [
        lambda: decode(data),
        lambda: decode(data, roi=roi, min_size=(max(1, h // 8), max(1, w // 8)), strict=False),
        lambda: TRAIN({"image": data}, np.random.default_rng(1))["image"],
    ]


def _same(a, b):
    if a[0] != b[0]:
        return False
    return a[1] == b[1] if a[0] == "error" else np.array_equal(a[1], b[1])


def _on_thread(fn):
    """``fn()`` on a new thread (a fresh per-thread decoder); its exceptions re-raised."""
    box = []

    def run():
        try:
            box.append(("value", fn()))
        except BaseException as exc:  # noqa: BLE001 - handed back to the caller
            box.append(("raise", exc))

    t = threading.Thread(target=run)
    t.start()
    t.join()
    kind, value = box[0]
    if kind == "raise":
        raise value
    return value


def _on_fresh_thread(fn):
    return _on_thread(lambda: _outcome(fn))


@needs_libjpeg
def test_motion_jpeg_frame_decodes_with_default_tables_after_any_jpeg():
    img = photo_like_image(41, 58, 3)
    full, frame = motion_jpeg_frame(img)
    want = np.asarray(Image.open(io.BytesIO(full)).convert("RGB"))
    np.testing.assert_array_equal(decode(full), want)  # fastload = Pillow on baseline files
    for strict in (True, False):
        got = _on_fresh_thread(lambda s=strict: decode(frame, strict=s))
        assert got[0] == "ok", got
        np.testing.assert_array_equal(got[1], want)
    for name in ("optimized-a", "optimized-b", "gray", "progressive", "truncated", "no-dqt"):
        for strict in (True, False):
            _outcome(lambda n=name: decode(FILES[n], strict=False))  # leaves its tables
            np.testing.assert_array_equal(decode(frame, strict=strict), want, err_msg=name)
            np.testing.assert_array_equal(
                decode(frame, roi=(8, 16, 20, 20), strict=strict), want[8:28, 16:36], err_msg=name
            )


@needs_libjpeg
def test_missing_quantisation_table_is_refused_after_any_jpeg():
    data = FILES["no-dqt"]
    fresh = _on_fresh_thread(lambda: decode(data, strict=False))
    assert fresh[0] == "error" and "Quantization table 0x00 was not defined" in fresh[1]
    decode(FILES["420-q90"])
    with pytest.raises(DecodeError, match="Quantization table 0x00 was not defined"):
        decode(data, strict=False)


def test_every_image_decodes_the_same_on_a_fresh_thread_and_after_every_other():
    names = sorted(FILES)
    fresh = {n: [_on_fresh_thread(r) for r in _requests(FILES[n])] for n in names}
    assert fresh["motion-jpeg"][0][0] == "ok"
    bad = []

    def work():
        for target in names:
            for other in names:
                if other == target:
                    continue
                for r in _requests(FILES[other]):  # every path leaves its state behind
                    _outcome(r)
                for k, r in enumerate(_requests(FILES[target])):
                    if not _same(_outcome(r), fresh[target][k]):
                        bad.append((target, k, other))

    _on_thread(work)
    assert not bad, f"{len(bad)} outcomes depend on history, e.g. {bad[:5]}"
