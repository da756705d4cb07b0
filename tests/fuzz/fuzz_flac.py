"""Fuzz fastload's C FLAC decoder (``fastload.audio.decode`` over ``csrc/audio/flac.c``)
behind its CRC wall, with libsndfile as the oracle.

Every frame of FLAC carries a CRC-8 (header) and a CRC-16 (frame): random mutations
almost never survive them, so the subframe decoders (constant, verbatim, fixed, LPC, Rice
residuals, stereo decorrelation) would stay unexplored. The seeds are single-frame FLAC
files (up to 4096 samples); before each run the harness recomputes the header CRC-8
and the final CRC-16 of the (mutated) one frame, so mutations reach the bit-level code.

Oracle (differential): ``decode`` (MD5 check off) either raises a DecodeError that names
the sample or returns samples within full scale, and when libsndfile decodes the same
bytes it gets the same samples (streams libFLAC rejects but fastload accepts are counted
as "lenient", a strictness difference, not a finding). Memory errors and undefined
behaviour in the decoder are findings under the sanitizers: ``.ci/sanitize`` runs this
harness against its ASan + UBSan build, and ``.ci/fuzz-native`` against a clang build
whose coverage libFuzzer sees (the decoder's branches, not just the outcomes).

Input layout: the FLAC file.

    python tests/fuzz/fuzz_flac.py -max_total_time=600      # or tests/fuzz/run.py
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _harness import FUZZ_MAX_SAMPLES, main  # noqa: E402


def _table(poly, width):
    top, mask = 1 << (width - 1), (1 << width) - 1
    out = []
    for b in range(256):
        c = b << (width - 8)
        for _ in range(8):
            c = ((c << 1) ^ poly) & mask if c & top else (c << 1) & mask
        out.append(c)
    return out


_CRC8 = _table(0x07, 8)
_CRC16 = _table(0x8005, 16)


def _crc8(data):
    c = 0
    for b in data:
        c = _CRC8[c ^ b]
    return c


def _crc16(data):
    c = 0
    for b in data:
        c = ((c << 8) & 0xFFFF) ^ _CRC16[(c >> 8) ^ b]
    return c


def first_frame(b):
    """Offset of the first frame (after the metadata blocks), or None."""
    if len(b) < 42 or b[:4] != b"fLaC":
        return None
    pos = 4
    for _ in range(64):
        if pos + 4 > len(b):
            return None
        head = b[pos]
        pos += 4 + int.from_bytes(b[pos + 1 : pos + 4], "big")
        if head & 0x80:
            return pos if pos + 6 < len(b) else None
    return None


def fix_crcs(b):
    """Recompute the header CRC-8 and the trailing CRC-16 of a one-frame FLAC (in place)."""
    pos = first_frame(b)
    if pos is None:
        return b
    k = pos + 4  # sync (2), block size + rate (1), channels + sample size (1)
    if k >= len(b):
        return b
    b0 = b[k]
    extra = next(
        (
            n
            for n, (lo, hi) in enumerate(
                (
                    (0, 0x80),
                    (0xC0, 0xE0),
                    (0xE0, 0xF0),
                    (0xF0, 0xF8),
                    (0xF8, 0xFC),
                    (0xFC, 0xFE),
                    (0xFE, 0xFF),
                )
            )
            if lo <= b0 < hi
        ),
        0,
    )
    k += 1 + extra
    bs_code, rate_code = b[pos + 2] >> 4, b[pos + 2] & 15
    k += {6: 1, 7: 2}.get(bs_code, 0) + {12: 1, 13: 2, 14: 2}.get(rate_code, 0)
    if k + 3 > len(b):
        return b
    b[k] = _crc8(b[pos:k])
    crc = _crc16(b[pos:-2])
    b[-2:] = crc.to_bytes(2, "big")
    return b


def setup():
    import io

    import numpy as np
    import soundfile

    from fastload.audio import codec
    from fastload.errors import DecodeError, LimitError  # noqa: F401

    def target(data):
        blob = bytes(fix_crcs(bytearray(data)))
        try:  # MD5 off: mutated samples must reach the output to be compared
            x, rate = codec.decode(
                blob, name="fuzz", max_samples=FUZZ_MAX_SAMPLES, verify_md5=False
            )
        except DecodeError as e:
            assert "fuzz" in str(e) and "object at 0x" not in str(e), str(e)
            return "refused"
        if codec._flac_start(memoryview(blob)) is None:
            return "not FLAC"  # mutated into another format: libsndfile's business
        assert x.dtype == np.float32 and (np.abs(x) <= 1.0).all(), "samples beyond full scale"
        try:
            ref, ref_rate = soundfile.read(io.BytesIO(blob), dtype="float32")
        except Exception:
            # libFLAC rejects a frame that fastload accepts (e.g. "lost sync"): a
            # strictness difference, reported, not a memory-safety finding
            return ("lenient", x.ndim)
        assert rate == ref_rate, (rate, ref_rate)
        assert x.shape == ref.shape and np.array_equal(x, ref), (x.shape, ref.shape)
        return ("decoded", x.ndim, x.shape[0].bit_length())

    return target


def seeds():
    import io

    import numpy as np
    import soundfile

    rng = np.random.default_rng(9)
    t = np.arange(4096) / 16000
    signals = {
        "silence": np.zeros(1000),
        "dc": np.full(700, 0.25),
        "sine": 0.5 * np.sin(2 * np.pi * 440 * t),
        "noise": rng.uniform(-0.9, 0.9, 3000),
        "chirp": 0.4 * np.sin(2 * np.pi * (100 + 3000 * t) * t),
        "clicks": np.where(rng.random(2048) < 0.01, 0.9, 0.0),
        "short": rng.uniform(-0.5, 0.5, 17),
    }
    out = []
    for name, x in signals.items():
        for subtype in ("PCM_16", "PCM_24"):
            for channels in (1, 2):
                sig = x if channels == 1 else np.stack([x, x[::-1] * 0.5], 1)
                buf = io.BytesIO()
                soundfile.write(buf, sig, 16000, format="FLAC", subtype=subtype)
                out.append((f"{name}_{subtype}_{channels}ch.flac", buf.getvalue()))
    # one-frame streams libsndfile does not write (fastload.testing.flac)
    from fastload.testing.flac import encode_flac

    for bps, channels, stereo, kind in (
        (4, 1, "independent", "fixed2"),
        (12, 2, "mid_side", "auto"),
        (20, 2, "side_right", "fixed4"),
        (32, 2, "left_side", "verbatim"),
        (32, 1, "independent", "fixed1"),
        (16, 5, "independent", "fixed3"),
    ):
        top = (1 << (bps - 1)) - 1
        x = np.round(
            np.sin(np.arange(600)[:, None] * (0.02 + 0.01 * np.arange(channels))) * top
        ).astype(np.int64)
        out.append(
            (
                f"writer_{bps}bit_{channels}ch_{stereo}_{kind}.flac",
                encode_flac(x, 44100, bps, block_size=4096, stereo=stereo, subframe=kind),
            )
        )
    return out


if __name__ == "__main__":
    sys.exit(main(setup, seeds))
