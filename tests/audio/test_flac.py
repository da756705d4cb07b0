"""fastload's own FLAC decoder (``codec.decode`` over ``_flac_nb.py``) on streams that
libsndfile also writes: it must give libsndfile's samples bit for bit, and refuse what it
cannot decode with a DecodeError that names the file (never another exception, never
different samples). Streams libsndfile cannot write are in test_flac_formats.py."""

import io
import threading

import numpy as np
import pytest
import soundfile

from fastload.audio import _flac_nb, decode
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


def test_kernel_flags():
    fn = _flac_nb.flac_decode_kernel
    assert fn.targetoptions["nogil"] is True
    assert fn._cache.__class__.__name__ != "NullCache"


def test_kernel_compiles_once_for_readonly_and_writable_input(speech_flac):
    """bytes (read-only) and a writable uint8 array reach the kernel as one numba type."""
    decode(speech_flac)
    decode(np.frombuffer(speech_flac, np.uint8).copy())
    decode(bytearray(speech_flac))
    assert len(_flac_nb.flac_decode_kernel.signatures) == 1


def test_crc_tables():
    # CRC-16/BUYPASS (the FLAC frame CRC) of "123456789" is 0xFEE8; CRC-8 (0x07) is 0xF4.
    data = np.frombuffer(b"123456789", np.uint8)
    assert _flac_nb._crc16(_flac_nb.CRC16_TABLE, data, 0, 9) == 0xFEE8
    assert _flac_nb._crc(_flac_nb.CRC8_TABLE, 8, data, 0, 9) == 0xF4
    for stop in range(10):  # the 4-byte step and the byte tail agree
        ref = 0
        for b in data[:stop]:
            ref = ((ref << 8) & 0xFFFF) ^ int(_flac_nb.CRC16_TABLE[0, (ref >> 8) ^ int(b)])
        assert _flac_nb._crc16(_flac_nb.CRC16_TABLE, data, 0, stop) == ref


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
