"""FLAC streams that common encoders (and libsndfile) do not make, written by the small
reference writer ``fastload.testing.flac``: every bit depth 4 to 32 (33-bit side
channels), unknown length, variable block sizes, every way to state a sample rate, bare
frames, ID3v2 prefixes, MD5 signatures right, wrong and absent, and faulty streams.

Reference: the integers handed to the writer. ``decode`` must return exactly
``ints * 2 ** -(bps - 1)`` in float32 (tolerance: none; for 25 to 32 bits that is the
float32 rounding of the same product, which numpy computes the same way).
"""

import numpy as np
import pytest

from fastload.audio import decode, info
from fastload.errors import DecodeError, LimitError
from fastload.testing.flac import encode_flac, md5_of


def _signal(n, bps, channels=1, seed=0):
    """A loud sine per channel plus noise, touching both ends of the range."""
    rng = np.random.default_rng(seed + bps)
    t = np.arange(n)[:, None]
    top = (1 << (bps - 1)) - 1
    x = np.sin(t * (0.013 + 0.007 * np.arange(channels))) * top * 0.97
    x = np.round(x) + rng.integers(-2, 3, x.shape)
    x = np.clip(x, -top - 1, top).astype(np.int64)
    x[n // 3] = top  # full scale both ways
    x[n // 2] = -top - 1
    return x if channels > 1 else x[:, 0]


def _expected(x, bps):
    return (x.astype(np.float32) * np.float32(2.0 ** -(bps - 1))).astype(np.float32)


@pytest.mark.parametrize("bps", [4, 5, 7, 8, 11, 12, 15, 16, 17, 20, 23, 24, 25, 28, 31, 32])
@pytest.mark.parametrize("stereo", ["independent", "left_side", "side_right", "mid_side"])
def test_every_bit_depth_and_stereo_mode(bps, stereo):
    x = _signal(1500, bps, 2)
    blob = encode_flac(x, 44100, bps, block_size=[700, 333, 4096], stereo=stereo)
    y, rate = decode(blob, name=f"{bps}-bit.flac")
    assert rate == 44100 and y.dtype == np.float32 and y.shape == x.shape
    np.testing.assert_array_equal(y, _expected(x, bps))
    got = info(blob)
    assert (got.frames, got.channels, got.sample_rate) == (1500, 2, 44100)


@pytest.mark.parametrize("stereo", ["left_side", "side_right", "mid_side"])
def test_32_bit_side_channel_needs_33_bits(stereo):
    """left - right of two full-scale 32-bit samples needs 33 bits."""
    top = (1 << 31) - 1
    x = np.array([[top, -top - 1], [-top - 1, top], [top, top], [0, -top - 1]] * 50, np.int64)
    for subframe in ("verbatim", "fixed1", "auto"):
        blob = encode_flac(x, 48000, 32, stereo=stereo, subframe=subframe)
        y, _ = decode(blob)
        np.testing.assert_array_equal(y, _expected(x, 32))


@pytest.mark.parametrize("channels", [1, 3, 5, 8])
@pytest.mark.parametrize("subframe", ["verbatim", "constant", "fixed0", "fixed3", "fixed4"])
def test_channels_and_subframe_kinds(channels, subframe):
    x = _signal(600, 16, channels, seed=channels)
    if subframe == "constant":
        x = np.full_like(x, -123)
    blob = encode_flac(x, 16000, 16, block_size=256, subframe=subframe)
    y, _ = decode(blob)
    np.testing.assert_array_equal(y, _expected(x, 16))
    m, _ = decode(blob, mono=True)
    want = _expected(x, 16)
    np.testing.assert_array_equal(m, want if channels == 1 else want.mean(axis=1, dtype=np.float32))


def test_total_samples_unknown():
    """STREAMINFO total 0 (unknown) was refused with a LimitError about 9.2e18 frames."""
    x = _signal(70_000, 16, 2)
    blob = encode_flac(x, 44100, 16, total_samples=0)
    y, rate = decode(blob, name="unknown.flac")
    np.testing.assert_array_equal(y, _expected(x, 16))
    assert info(blob).frames == 70_000
    buf = np.empty(x.size, np.float32)  # the buffer serves as the first guess
    np.testing.assert_array_equal(decode(blob, buffer=buf)[0], y)
    with pytest.raises(LimitError, match=r"unknown.flac: .*more than 10000 samples.*unknown"):
        decode(blob, name="unknown.flac", max_samples=10_000)


def test_total_samples_unknown_grows_from_a_small_guess():
    # highly compressible: far more samples than 8x the file size
    x = np.zeros(300_000, np.int64)
    x[::50_000] = 5
    blob = encode_flac(x, 8000, 16, total_samples=0, block_size=4096)
    assert len(blob) * 8 < x.size
    np.testing.assert_array_equal(decode(blob)[0], _expected(x, 16))


@pytest.mark.parametrize("sizes", [[16], [1], [4096, 16, 1000, 1, 65535, 300], [192, 576, 8]])
@pytest.mark.parametrize("variable", [False, True])
def test_block_sizes(sizes, variable):
    x = _signal(sum(sizes) + 50, 16)
    blob = encode_flac(x, 22050, 16, block_size=sizes, variable=variable)
    np.testing.assert_array_equal(decode(blob)[0], _expected(x, 16))


@pytest.mark.parametrize(
    "rate",
    [
        1,
        7,
        999,
        8000,
        11025,
        12345,
        22050,
        44100,
        96000,
        192000,
        255000,
        384000,
        655350,
        700001,
        768000,
        1_048_575,
    ],
)
def test_every_sample_rate(rate):
    """Frame-header rate codes (table, kHz, Hz, tens of Hz) and STREAMINFO-only rates."""
    x = _signal(400, 16)
    for header_rate in (True, False):
        y, got = decode(encode_flac(x, rate, 16, header_rate=header_rate))
        assert got == rate
        np.testing.assert_array_equal(y, _expected(x, 16))


def test_bare_frames_without_streaminfo():
    """A stream that starts at a frame header (libFLAC decodes it) takes its parameters
    from the first frame; nothing to check the MD5 against."""
    x = _signal(5000, 24, 2)
    blob = encode_flac(x, 96000, 24, streaminfo=False, stereo="mid_side")
    y, rate = decode(blob)
    assert rate == 96000
    np.testing.assert_array_equal(y, _expected(x, 24))
    assert info(blob).frames == 5000
    with pytest.raises(DecodeError, match="bare.flac: .*no STREAMINFO.*sample rate"):
        decode(encode_flac(x, 96000, 24, streaminfo=False, header_rate=False), name="bare.flac")
    with pytest.raises(DecodeError, match="no STREAMINFO.*bit depth"):
        decode(encode_flac(_signal(100, 15), 8000, 15, streaminfo=False))


def test_id3v2_tag_before_the_stream():
    x = _signal(2000, 16)
    tag = b"ID3\x04\x00\x00" + bytes([0, 0, 0, 20]) + bytes(20)
    np.testing.assert_array_equal(decode(tag + encode_flac(x, 16000, 16))[0], _expected(x, 16))


def test_md5_is_verified():
    x = _signal(3000, 12, 2)
    good = encode_flac(x, 44100, 12)
    decode(good, verify_md5=True)
    bad = encode_flac(x, 44100, 12, md5="wrong")
    with pytest.raises(
        DecodeError,
        match=r"wrong-md5.flac: .*MD5 signature: STREAMINFO states "
        r"[0-9a-f]{32}, .* give [0-9a-f]{32}",
    ):
        decode(bad, name="wrong-md5.flac")
    np.testing.assert_array_equal(decode(bad, verify_md5=False)[0], _expected(x, 12))
    # no signature (all zeros): nothing to verify
    np.testing.assert_array_equal(
        decode(encode_flac(x, 44100, 12, md5="none"))[0], _expected(x, 12)
    )


def test_md5_reference_layout():
    """md5_of packs samples as libFLAC does: little-endian, ceil(bps / 8) bytes."""
    import hashlib

    x = np.array([[1, -2], [300, -32768]], np.int64)
    assert md5_of(x, 16) == hashlib.md5(x.astype("<i2").tobytes()).digest()
    assert (
        md5_of(x, 24)
        == hashlib.md5(
            b"".join(int(v).to_bytes(3, "little", signed=True) for v in x.ravel())
        ).digest()
    )
    assert md5_of(x[:1], 4) == hashlib.md5(bytes([1, 0xFE])).digest()


def _frames_of(blob):
    """The frames of a stream written with only STREAMINFO."""
    return blob[4 + 4 + 34 :]


FAULTY = {
    # name: (bytes, words the DecodeError must contain)
    "streaminfo-not-first": (
        lambda x: encode_flac(x, 16000, 16, first_block=(4, bytes(8))),
        "first FLAC metadata block is VORBIS_COMMENT (type 4), expected STREAMINFO",
    ),
    "no-metadata-left": (
        lambda x: encode_flac(x, 16000, 16)[:40],
        "STREAMINFO (type 0), states 34 bytes, but only 32 bytes follow",
    ),
    "block-length-past-end": (
        lambda x: encode_flac(x, 16000, 16, metadata=[(1, bytes(10))])[:50],
        "block 1 at byte 42, PADDING (type 1), states 10 bytes, but only 4 bytes follow",
    ),
    "blocksize-65536": (
        lambda x: encode_flac(np.zeros(70000, np.int64), 16000, 16, block_size=65536),
        "block size 65536 samples, expected at most 65535",
    ),
    "more-frames-than-total": (
        lambda x: encode_flac(x, 16000, 16, total_samples=1000),
        "more than the 1000 samples per channel that STREAMINFO",
    ),
    "bps-mismatch": (
        lambda x: encode_flac(x, 16000, 16, streaminfo_bps=24),
        "codes 16 bits per sample, expected 24",
    ),
    "channels-mismatch": (
        lambda x: encode_flac(x, 16000, 16, streaminfo_channels=5),
        "codes 1 channels, expected 5",
    ),
    "rate-mismatch": (
        lambda x: encode_flac(x, 16000, 16, streaminfo_rate=22050),
        "sample rate of 16000 Hz, expected 22050 Hz",
    ),
    "rate-changes-mid-stream": (
        lambda x: encode_flac(x, 16000, 16, total_samples=0) + _frames_of(encode_flac(x, 8000, 16)),
        "frame 3 at byte 8361: frame header codes a sample rate of 8000 Hz, expected 16000",
    ),
    "truncated": (lambda x: encode_flac(x, 16000, 16)[:-7], "truncated"),
    "truncated-at-a-frame-boundary": (
        lambda x: encode_flac(x, 16000, 16, block_size=4096)[
            : -len(_frames_of(encode_flac(x[-100:], 16000, 16)))
        ],
        "stream ends after frame 1",
    ),
    "trailing-junk-unknown-length": (
        lambda x: encode_flac(x, 16000, 16, total_samples=0) + b"junk" * 10,
        "expected a frame sync code",
    ),
    "header-crc": (lambda x: _flip(encode_flac(x, 16000, 16), 42 + 5), "CRC-8 mismatch"),
    "frame-crc": (
        lambda x: _flip(encode_flac(x, 16000, 16, subframe="verbatim"), 200),
        "CRC-16 mismatch",
    ),
    "zero-rate": (
        lambda x: encode_flac(x, 16000, 16, streaminfo_rate=0, header_rate=False),
        "sample rate of 0 Hz",
    ),
    "wrong-md5": (lambda x: encode_flac(x, 16000, 16, md5="wrong"), "MD5"),
    "not-audio": (
        lambda x: b"\x00\x01garbage" * 50,
        "not a decodable audio file: expected FLAC, WAV",
    ),
}


def _flip(blob, pos):
    b = bytearray(blob)
    b[pos] ^= 0x10
    return bytes(b)


@pytest.mark.parametrize("case", sorted(FAULTY))
def test_faulty_streams_are_refused_in_words(case):
    make, words = FAULTY[case]
    blob = make(_signal(2 * 4096 + 100, 16))
    with pytest.raises(DecodeError) as err:
        decode(blob, name=f"{case}.flac")
    msg = str(err.value)
    assert msg.startswith(f"{case}.flac: "), msg
    assert words in msg, msg
    assert "object at 0x" not in msg and "<" not in msg, msg
