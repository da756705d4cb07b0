"""Fuzz ``fastload.image.decode`` with a random region of interest, DCT ``min_size``,
strictness, input type and a caller ``out`` buffer, all drawn from the input.

Differential on JPEG: every strict decode is repeated with libjpeg-turbo's own Huffman
decoder (``_jpeg_cy.set_fast_huffman(False)``). Where both decode the data the pixels must
be identical. Each may reject corrupt data the other lets through: fastload rejects
every bit pattern no Huffman table defines, which libjpeg-turbo's fast path (used more
than 512 bytes per block before the end of the file) silently decodes as symbol 0, and
whole stray bytes before an RSTn marker, which libjpeg only reports at its next marker
search (so not at all after the last restart interval). (Data that ends without a marker
after its scan never reaches either: strict mode refuses it before decoding.) And where
the entropy data holds FF FF (fill bytes before a stuffed 00, which the standard does
not allow) libjpeg-turbo 2.1's fast path takes it for a marker, gives up the MCU and
decodes it again with its slow path into the same, not re-zeroed block: coefficients of
the abandoned try survive in that MCU. fastload's
pixels are the standard's there, so they may differ.

Input layout: 8 parameter bytes, then the encoded image.

    python tests/fuzz/fuzz_image_decode.py -max_total_time=600      # or tests/fuzz/run.py
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _harness import FUZZ_MAX_PIXELS, main, split_params  # noqa: E402

NPARAMS = 8


def _ff_fill_in_entropy_data(data):
    """True when FF FF occurs after the first SOS marker (see the module docstring)."""
    sos = data.find(b"\xff\xda")
    return sos >= 0 and data.find(b"\xff\xff", sos + 2) >= 0


def setup():
    import numpy as np

    from fastload.errors import FastloadError
    from fastload.image import codec, decode, read_header

    codec.set_max_image_pixels(FUZZ_MAX_PIXELS)
    jpeg = codec._jpeg_cy

    def with_libjpeg_huffman(img, roi, min_size):
        jpeg.set_fast_huffman(False)
        try:
            return decode(img, roi=roi, min_size=min_size, name="fuzz")
        except FastloadError as exc:
            return exc
        finally:
            jpeg.set_fast_huffman(True)

    def target(data):
        p, img = split_params(data, NPARAMS)
        kind = p[0] % 3
        if kind == 1:
            img = bytes(img)
        elif kind == 2:
            img = np.frombuffer(img, dtype=np.uint8)
        strict = not p[1] & 4
        info = read_header(img, strict=strict, name="fuzz")
        roi = None
        if p[1] & 1:
            h = 1 + p[2] * (info.height - 1) // 255
            w = 1 + p[3] * (info.width - 1) // 255
            top = p[4] * (info.height - h) // 255
            left = p[5] * (info.width - w) // 255
            roi = (top, left, h, w)
        min_size = None
        if p[1] & 2:
            min_size = (1 + p[6] % 64, 1 + p[7] % 64)
        region = roi if roi is not None else (0, 0, info.height, info.width)
        scale = codec.choose_scale(region[2:], min_size) if info.format == "JPEG" else 8
        want = codec.scaled_region((info.height, info.width), region, scale)[2:]
        out = None
        if p[1] & 8 and info.height * info.width <= FUZZ_MAX_PIXELS:
            out = np.empty((want[0], want[1] + 1, 3), np.uint8)[:, : want[1]]
        differential = strict and info.format == "JPEG" and jpeg is not None
        try:
            got = decode(img, roi=roi, min_size=min_size, strict=strict, out=out, name="fuzz")
        except FastloadError as exc:
            stricter = ("bad Huffman code", "extraneous bytes before marker")
            if differential and not any(m in str(exc) for m in stricter):
                ref = with_libjpeg_huffman(img, roi, min_size)
                assert not isinstance(ref, np.ndarray), f"only libjpeg's Huffman accepts: {exc}"
            raise
        assert got.shape == (*want, 3) and got.dtype == np.uint8, (got.shape, want)
        assert out is None or got is out
        if differential:
            ref = with_libjpeg_huffman(img, roi, min_size)
            if isinstance(ref, np.ndarray) and not _ff_fill_in_entropy_data(bytes(img)):
                assert np.array_equal(got, ref), "Huffman decoders disagree"
        return (info.format, info.channels, scale, strict, roi is None, out is None)

    return target


def seeds():
    import _seeds as s

    params = [
        bytes([0, 0, 0, 0, 0, 0, 0, 0]),
        bytes([1, 1, 100, 200, 30, 60, 0, 0]),
        bytes([2, 3, 255, 128, 0, 255, 3, 7]),
        bytes([0, 15, 40, 40, 255, 0, 20, 5]),
    ]
    return [
        (f"{k}_{name}", params[k % len(params)] + blob) for k, (name, blob) in enumerate(s.images())
    ]


if __name__ == "__main__":
    sys.exit(main(setup, seeds))
