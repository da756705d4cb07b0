"""fastload's baseline Huffman decoder (csrc/image/huffman.c) against libjpeg-turbo's own.

Both produce the same DCT coefficients, so every decode (any scale, region, layout,
restart interval) must be bit-identical with either; on corrupt data both must refuse
alike, apart from the documented divergences (a code no table defines, stray bytes
before an RSTn marker).
"""

import io
from contextlib import contextmanager

import numpy as np
import pytest
from PIL import Image

from fastload.errors import DecodeError
from fastload.image import codec, decode
from fastload.pipelines.resnet50 import resnet50_eval, resnet50_train
from fastload.testing.data.imagenet import encode_jpeg, photo_like_image

jpeg = codec._jpeg_cy
pytestmark = pytest.mark.skipif(
    jpeg is None or codec.backend() != "libjpeg-turbo", reason="built without libjpeg-turbo"
)


@contextmanager
def libjpeg_huffman():
    jpeg.set_fast_huffman(False)
    try:
        yield
    finally:
        jpeg.set_fast_huffman(True)


def _both(data, **kw):
    """(fastload's result, libjpeg's result); an exception is returned, not raised."""
    out = []
    for fast in (True, False):
        jpeg.set_fast_huffman(fast)
        try:
            out.append(decode(data, **kw))
        except DecodeError as exc:
            out.append(exc)
        finally:
            jpeg.set_fast_huffman(True)
    return out


def _pil(img, **kw):
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, "JPEG", **kw)
    return buf.getvalue()


def _cases():
    rng = np.random.default_rng(7)
    img = photo_like_image(157, 203, rng)
    cases = {}
    for sub in ("4:4:4", "4:2:2", "4:2:0", "4:4:0"):
        for q in (10, 75, 100):
            cases[f"{sub}-q{q}"] = encode_jpeg(img, q, subsampling=sub)
    cases["gray"] = encode_jpeg(img, 90, mode="L")
    cases["cmyk"] = encode_jpeg(img, 90, mode="CMYK")
    cases["optimized-tables"] = _pil(img, quality=90, optimize=True)
    cases["progressive"] = encode_jpeg(img, 90, progressive=True)  # libjpeg decodes these
    for n in (1, 3, 7):
        cases[f"restart-{n}"] = encode_jpeg(img, 90, restart_interval=n)
    cases["restart-rows"] = _pil(img, quality=90, restart_marker_rows=1)
    for h, w in ((1, 1), (7, 9), (17, 33), (8, 700), (700, 8)):
        cases[f"{h}x{w}"] = encode_jpeg(photo_like_image(h, w, rng), 95)
    return cases


CASES = _cases()


@pytest.mark.parametrize("name", sorted(CASES))
def test_pixels_identical_to_libjpeg_huffman(name):
    data = CASES[name]
    h, w = codec.read_header(data)[:2]
    requests = [
        {},
        {"min_size": (1, 1)},
        {"min_size": (max(1, h // 3), max(1, w // 3))},
        {"min_size": (max(1, h // 2), max(1, w // 2))},
    ]
    if h > 4 and w > 4:
        roi = (h // 3, w // 4, h // 2, w // 2)
        requests += [
            {"roi": roi},
            {"roi": roi, "min_size": (max(1, h // 8), max(1, w // 8))},
            {"roi": (h - 3, w - 3, 3, 3)},
        ]
    for kw in requests:
        ours, ref = _both(data, **kw)
        assert isinstance(ref, np.ndarray), (kw, ref)
        assert isinstance(ours, np.ndarray), (kw, ours)
        np.testing.assert_array_equal(ours, ref, err_msg=str(kw))


@pytest.mark.parametrize("preset", ["nvidia", "reference"])
def test_resnet50_tensors_identical(preset):
    train = resnet50_train(preset=preset)
    evalt = resnet50_eval(preset=preset)
    for name in ("4:2:0-q75", "4:4:4-q100", "gray", "restart-3", "8x700"):
        data = CASES[name]
        got = []
        for fast in (True, False):
            jpeg.set_fast_huffman(fast)
            try:
                got.append(
                    (
                        train({"image": data}, np.random.default_rng(3))["image"],
                        evalt({"image": data}, None)["image"],
                    )
                )
            finally:
                jpeg.set_fast_huffman(True)
        np.testing.assert_array_equal(got[0][0], got[1][0])
        np.testing.assert_array_equal(got[0][1], got[1][1])


def _entropy_span(data):
    """(start, end) of the entropy-coded segment of a single-scan JPEG."""
    start = data.index(b"\xff\xda")
    start += 2 + int.from_bytes(data[start + 2 : start + 4], "big")
    return start, data.rindex(b"\xff\xd9")


@pytest.mark.parametrize("name", ["4:2:0-q75", "4:4:4-q100", "gray", "cmyk", "restart-3"])
def test_corrupt_data_same_verdict(name):
    data = CASES[name]
    start, end = _entropy_span(data)
    rng = np.random.default_rng(11)
    mutants = [data[:cut] for cut in np.linspace(start + 1, end - 16, 9).astype(int)]
    for _ in range(60):
        b = bytearray(data)
        for pos in rng.integers(start, end, size=int(rng.integers(1, 4))):
            b[pos] ^= 1 << int(rng.integers(0, 8))
        mutants.append(bytes(b))
    for m in mutants:
        ours, ref = _both(m)
        if isinstance(ours, np.ndarray) and isinstance(ref, np.ndarray):
            np.testing.assert_array_equal(ours, ref)
        elif isinstance(ref, np.ndarray):  # only libjpeg accepts: the documented case
            assert "bad Huffman code" in str(ours), ours
        else:
            assert not isinstance(ours, np.ndarray), (ours, ref)


def test_truncated_data_raises_with_both():
    data = CASES["4:2:0-q75"]
    start, end = _entropy_span(data)
    for cut in (start, start + 40, (start + end) // 2, end - 40):
        ours, ref = _both(data[:cut])
        assert isinstance(ours, DecodeError) and isinstance(ref, DecodeError), cut
        assert "premature end" in str(ours).lower(), ours


def test_undefined_code_raises_where_libjpeg_decodes_garbage():
    """32 one-bits early in the data: no table defines the all-ones code. libjpeg-turbo's
    fast path silently decodes it as symbol 0 and goes on; fastload names the problem.
    (This also shows the fast decoder really is the one in use.)"""
    data = CASES["4:2:0-q75"]
    start, _ = _entropy_span(data)
    bad = data[: start + 8] + b"\xff\x00" * 4 + data[start + 16 :]
    with pytest.raises(DecodeError, match="bad Huffman code"):
        decode(bad)


def test_wrong_restart_marker_raises_with_both():
    data = CASES["restart-3"]
    i = data.index(b"\xff\xd1")
    bad = data[: i + 1] + b"\xd5" + data[i + 2 :]
    ours, ref = _both(bad)
    assert isinstance(ours, DecodeError) and isinstance(ref, DecodeError)
    assert "RST" in str(ours), ours
    extra = data[:i] + b"\x12\x34" + data[i:]  # bytes between the data and the marker
    ours, ref = _both(extra)
    assert isinstance(ours, DecodeError) and isinstance(ref, DecodeError)


def test_switch_round_trip():
    assert jpeg.fast_huffman()
    with libjpeg_huffman():
        assert not jpeg.fast_huffman()
    assert jpeg.fast_huffman()


def test_ff_fill_before_stuffed_zero_is_one_data_byte():
    """FF FF 00 in the entropy data (fill bytes before a stuffed zero; not allowed by the
    standard, accepted by libjpeg's careful path) reads as one FF data byte, so the file
    decodes exactly like the one without the extra FF. libjpeg-turbo 2.1's fast path takes
    it for a marker and can leave coefficients of that attempt in the block (the fuzz
    regression ``libjpeg-stale-coefficients-after-ff-ff-fill``); fastload does not."""
    data = CASES["4:4:4-q100"]
    start, end = _entropy_span(data)
    i = data.index(b"\xff\x00", start)
    assert i < end
    padded = data[:i] + b"\xff" + data[i:]
    np.testing.assert_array_equal(decode(padded), decode(data))


def test_file_without_eoi_refused_by_both():
    """A file cut right before its EOI marker holds every coded bit, but nothing ends its
    scan: strict mode refuses it up front (jpeg.c, before either Huffman decoder runs),
    so both agree, and so does every region (the verdict does not depend on the crop)."""
    data = CASES["4:2:0-q75"]
    assert data.endswith(b"\xff\xd9")
    for kw in ({}, {"roi": (0, 0, 8, 8)}, {"min_size": (1, 1)}):
        ours, ref = _both(data[:-2], **kw)
        assert isinstance(ours, DecodeError) and "Premature end" in str(ours), ours
        assert isinstance(ref, DecodeError) and "Premature end" in str(ref), ref
    np.testing.assert_array_equal(decode(data[:-2], strict=False), decode(data))
