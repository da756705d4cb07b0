"""fastload's own FLAC decoder (``codec.decode`` over csrc/audio/flac.c) on streams that
libsndfile also writes: it must give libsndfile's samples bit for bit, and refuse what it
cannot decode with a DecodeError that names the file (never another exception, never
different samples). Streams libsndfile cannot write are in test_flac_formats.py."""

import io
import threading

import numpy as np
import pytest
import soundfile

from fastload.audio import _flac_cy, decode
from fastload.errors import DecodeError
from fastload.testing.data.librispeech import encode_audio, speech_like


def _sf(blob):
    x, rate = soundfile.read(io.BytesIO(blob), dtype="float32", always_2d=True)
    return x, rate


@pytest.fixture(scope="module")
def speech_flac():
    return encode_audio(speech_like(2.3, np.random.default_rng(5)), 16000)


def _decode_or_error(blob, name="bad.flac"):
    """decode's samples, or the DecodeError message (which must name the file)."""
    try:
        return decode(blob, name=name)[0]
    except DecodeError as e:
        msg = str(e)
        assert name in msg and "object at 0x" not in msg, msg
        return msg


def _crc_bitwise(data, poly, width):
    """CRC of ``data`` one bit at a time, MSB first, init 0 (the FLAC CRCs)."""
    top, mask, c = 1 << (width - 1), (1 << width) - 1, 0
    for byte in data:
        c ^= byte << (width - 8)
        for _ in range(8):
            c = ((c << 1) ^ poly) & mask if c & top else (c << 1) & mask
    return c


def test_crcs():
    # CRC-16/BUYPASS (the FLAC frame CRC) of "123456789" is 0xFEE8; CRC-8 (0x07) is 0xF4.
    assert _flac_cy.crc16(b"123456789") == 0xFEE8
    assert _flac_cy.crc8(b"123456789") == 0xF4
    data = np.random.default_rng(4).integers(0, 256, 40, dtype=np.uint8).tobytes()
    for stop in range(len(data) + 1):  # the 4-byte step and the byte tail agree
        assert _flac_cy.crc16(data[:stop]) == _crc_bitwise(data[:stop], 0x8005, 16)
        assert _flac_cy.crc8(data[:stop]) == _crc_bitwise(data[:stop], 0x07, 8)


def test_codes_come_from_the_c_header():
    """codec words every error code and detail the C decoder defines (one definition,
    csrc/include/fastload/audio.h, read through _flac_cy)."""
    from fastload.audio import codec

    codes = {k: v for k, v in vars(_flac_cy).items() if k.startswith("E_")}
    assert len(set(codes.values())) == len(codes) and all(v < 0 for v in codes.values())
    details = {v for k, v in vars(_flac_cy).items() if k.startswith("H_")}
    assert details == set(codec._HEADER_WORDS)
    details = {v for k, v in vars(_flac_cy).items() if k.startswith("S_")}
    assert details == set(codec._SUBFRAME_WORDS)


def _first_frame(blob):
    pos = 4  # after "fLaC": metadata blocks (1-byte flag + type, 3-byte length)
    while not blob[pos] & 0x80:
        pos += 4 + int.from_bytes(blob[pos + 1 : pos + 4], "big")
    return pos + 4 + int.from_bytes(blob[pos + 1 : pos + 4], "big")


def _kernel_args(blob, channels, capacity):
    si = np.array([channels, 16, 16000, 0], np.int64)  # total unknown: resumable
    work = np.zeros((channels, _flac_cy.WORK_LEN), np.int64)
    res = np.zeros(_flac_cy.RES_SIZE, np.int64)
    res[_flac_cy.R_POS] = _first_frame(blob)
    return si, work, np.empty(capacity, np.float32), np.empty(0, np.uint8), res


def test_kernel_resumes_when_out_is_full(speech_flac):
    """Out of room, the kernel returns MORE with its place in res; called again with a
    larger array holding what it decoded, it continues to libsndfile's samples."""
    ref = _sf(speech_flac)[0][:, 0]
    si, work, out, md5, res = _kernel_args(speech_flac, 1, 5000)
    assert _flac_cy.flac_decode(speech_flac, si, work, out, md5, res) == _flac_cy.MORE
    done = int(res[_flac_cy.R_DONE])
    assert 0 < done <= 5000 and res[_flac_cy.R_FRAME] > 0
    np.testing.assert_array_equal(out[:done], ref[:done])
    bigger = np.empty(len(ref), np.float32)
    bigger[:done] = out[:done]
    assert _flac_cy.flac_decode(speech_flac, si, work, bigger, md5, res) == _flac_cy.DONE
    assert res[_flac_cy.R_DONE] == len(ref)
    np.testing.assert_array_equal(bigger, ref)


def test_kernel_refuses_inconsistent_arguments(speech_flac):
    si, work, out, md5, res = _kernel_args(speech_flac, 1, 100_000)
    with pytest.raises(ValueError, match="inconsistent"):  # a row too short
        _flac_cy.flac_decode(speech_flac, si, work[:, :1000], out, md5, res)
    with pytest.raises(ValueError, match="inconsistent"):  # no STREAMINFO needs 8 rows
        _flac_cy.flac_decode(speech_flac, np.zeros(4, np.int64), work, out, md5, res)
    with pytest.raises(ValueError, match="res"):
        _flac_cy.flac_decode(speech_flac, si, work, out, md5, res[:3])
    res[_flac_cy.R_POS] = -1
    with pytest.raises(ValueError, match="inconsistent"):
        _flac_cy.flac_decode(speech_flac, si, work, out, md5, res)


def test_matches_libsndfile(speech_flac):
    x, rate = decode(speech_flac)
    ref, ref_rate = _sf(speech_flac)
    assert rate == ref_rate == 16000
    np.testing.assert_array_equal(x, ref[:, 0])  # bit for bit


def test_buffer_is_used(speech_flac):
    buf = np.empty(100_000, np.float32)
    x, _ = decode(speech_flac, buffer=buf)
    assert np.shares_memory(x, buf)
    np.testing.assert_array_equal(x, _sf(speech_flac)[0][:, 0])


def test_every_single_byte_corruption_is_refused_or_harmless(speech_flac):
    """A flipped bit anywhere in the frames fails a CRC (DecodeError naming the file) or,
    in padding, changes nothing."""
    ref = _sf(speech_flac)[0][:, 0]
    rng = np.random.default_rng(0)
    for pos in rng.integers(50, len(speech_flac), 200):
        bad = bytearray(speech_flac)
        bad[pos] ^= 1 << int(rng.integers(8))
        got = _decode_or_error(bytes(bad))
        if not isinstance(got, str):
            np.testing.assert_array_equal(got, ref)


def test_truncated_and_garbage_are_refused(speech_flac):
    for cut in (43, 100, len(speech_flac) // 2, len(speech_flac) - 1):
        msg = _decode_or_error(speech_flac[:cut], "cut.flac")
        assert isinstance(msg, str)
        assert "truncated" in msg or "ends" in msg or "cut off" in msg, msg
    rng = np.random.default_rng(1)
    for _ in range(50):  # random frames after a valid header: no crash, no hang
        junk = speech_flac[:200] + rng.integers(0, 256, 3000, dtype=np.uint8).tobytes()
        assert isinstance(_decode_or_error(junk), str)


def test_wav_goes_to_libsndfile_and_multichannel_flac_is_native():
    x = speech_like(0.5, np.random.default_rng(2))
    wav = encode_audio(x, 16000, format="WAV")
    np.testing.assert_array_equal(decode(wav)[0], _sf(wav)[0][:, 0])
    four = np.stack([x, -x, 0.5 * x, np.roll(x, 7)], axis=1)
    blob = encode_audio(four, 16000)
    np.testing.assert_array_equal(decode(blob)[0], _sf(blob)[0])


def test_threads_identical(speech_flac):
    want = decode(speech_flac)[0].copy()
    bad = []

    def work():
        for _ in range(20):
            got = decode(speech_flac)[0]
            if not np.array_equal(got, want):
                bad.append(1)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not bad


def test_metadata_bit_flips_give_libsndfile_samples_or_a_clear_error():
    """A flipped metadata bit gives libsndfile's samples, or a DecodeError in words (a
    STREAMINFO field that disagrees with the frames, a block length past the end, a
    wrong MD5); never other samples."""
    blob = encode_audio(speech_like(0.2, np.random.default_rng(3)), 16000)
    ref = _sf(blob)[0][:, 0]
    for pos in range(4, 100):
        for bit in (0, 3, 7):
            bad = bytearray(blob)
            bad[pos] ^= 1 << bit
            got = _decode_or_error(bytes(bad))
            if not isinstance(got, str):
                np.testing.assert_array_equal(got, ref)


def _path_streams(speech_flac):
    """Streams through every part of the decoder: libsndfile's LPC streams (8 to 24 bits,
    1 to 6 channels), fastload.testing.flac's (every subframe kind and stereo mode, 4 to
    32 bits, unknown length: the resumed calls), and corrupted ones (every error code)."""
    from fastload.testing.flac import encode_flac

    rng = np.random.default_rng(7)
    x = speech_like(0.7, rng)
    out = [speech_flac]
    for subtype, channels in (("PCM_S8", 1), ("PCM_16", 2), ("PCM_24", 6)):
        sig = np.stack([np.roll(x, 13 * c) * (0.9 - 0.1 * c) for c in range(channels)], 1)
        out.append(encode_audio(sig, 16000, subtype=subtype))
    for bps, stereo, kind in (
        (4, "independent", "fixed2"),
        (12, "mid_side", "auto"),
        (20, "side_right", "fixed4"),
        (24, "left_side", "fixed3"),
        (32, "left_side", "verbatim"),
        (32, "mid_side", "fixed1"),
        (16, "independent", "constant"),
    ):
        top = (1 << (bps - 1)) - 1
        t = np.arange(36000 if bps == 4 else 3000)[:, None]  # 72000 > the first guess
        s = np.round(np.sin(t * np.array([0.013, 0.021])) * top * 0.9).astype(np.int64)
        out.append(
            encode_flac(
                s, 44100, bps, block_size=[1000, 577], stereo=stereo, subframe=kind, total_samples=0
            )
        )
    for _ in range(150):
        bad = bytearray(out[int(rng.integers(len(out)))])
        bad[int(rng.integers(40, len(bad)))] ^= 1 << int(rng.integers(8))
        out.append(bytes(bad))
    return out


def test_portable_and_cpu_paths_are_identical(speech_flac, monkeypatch):
    """The decoder's two compiled copies (the CPU's, e.g. x86-64-v3, and the portable one)
    give the same status, res slots, samples and MD5 bytes on every call."""
    real = _flac_cy.flac_decode
    codes = []

    def both(buf, si, work, out, md5, res, flags=0):
        si2, out2, md5_2, res2 = si.copy(), out.copy(), md5.copy(), res.copy()
        code2 = real(buf, si2, np.empty_like(work), out2, md5_2, res2, _flac_cy.PORTABLE)
        code = real(buf, si, work, out, md5, res)
        assert code == code2
        for a, b in (
            (si, si2),
            (res, res2),
            (md5, md5_2),
            (out.view(np.uint32), out2.view(np.uint32)),
        ):
            np.testing.assert_array_equal(a, b)
        codes.append(code)
        return code

    monkeypatch.setattr(_flac_cy, "flac_decode", both)
    for blob in _path_streams(speech_flac):
        _decode_or_error(blob)
    assert {_flac_cy.DONE, _flac_cy.MORE, _flac_cy.E_FRAME_CRC} <= set(codes)
    assert _flac_cy.path(_flac_cy.PORTABLE) == "portable"
    assert _flac_cy.path() in _flac_cy.PATHS.values()
