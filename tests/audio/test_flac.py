"""The numba FLAC fast path of ``fastload.audio.decode`` (``_flac_nb.py``): it must give
libsndfile's samples bit for bit, and hand everything it cannot verify back to libsndfile
(so corrupt, truncated and unusual files behave exactly as before)."""

import io
import threading

import numpy as np
import pytest
import soundfile

from fastload.audio import _flac_nb, codec, decode
from fastload.errors import DecodeError
from fastload.testing.data.librispeech import encode_audio, speech_like


def _sf(blob):
    x, rate = soundfile.read(io.BytesIO(blob), dtype="float32", always_2d=True)
    return x, rate


def _fast(blob, mono=False):
    return codec._flac_fast(memoryview(blob), codec.DEFAULT_MAX_SAMPLES, mono, None)


@pytest.fixture(scope="module")
def speech_flac():
    return encode_audio(speech_like(2.3, np.random.default_rng(5)), 16000)


def test_kernel_flags():
    fn = _flac_nb.flac_decode_kernel
    assert fn.targetoptions["nogil"] is True
    assert fn._cache.__class__.__name__ != "NullCache"


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


def test_takes_fast_path(speech_flac):
    got = _fast(speech_flac)
    assert got is not None
    x, rate = got
    ref, ref_rate = _sf(speech_flac)
    assert rate == ref_rate == 16000
    np.testing.assert_array_equal(x, ref[:, 0])  # bit for bit


def test_buffer_is_used(speech_flac):
    buf = np.empty(100_000, np.float32)
    x, _ = decode(speech_flac, buffer=buf)
    assert np.shares_memory(x, buf)
    np.testing.assert_array_equal(x, _sf(speech_flac)[0][:, 0])


def test_every_single_byte_corruption_falls_back_or_matches(speech_flac):
    """A flipped byte anywhere in the frames either fails a CRC (libsndfile decides,
    whatever it gives) or, in padding, changes nothing."""
    ref = _sf(speech_flac)[0][:, 0]
    rng = np.random.default_rng(0)
    blob = bytearray(speech_flac)
    for pos in rng.integers(50, len(blob), 200):
        bad = bytearray(blob)
        bad[pos] ^= 1 << int(rng.integers(8))
        fast = _fast(bytes(bad))
        if fast is not None:
            np.testing.assert_array_equal(fast[0], ref)


def test_truncated_and_garbage_fall_back(speech_flac):
    for cut in (43, 100, len(speech_flac) // 2, len(speech_flac) - 1):
        assert _fast(speech_flac[:cut]) is None
        with pytest.raises(DecodeError):
            decode(speech_flac[:cut], name="cut.flac")
    rng = np.random.default_rng(1)
    for _ in range(50):  # random frames after a valid header: no crash, no hang
        junk = speech_flac[:200] + rng.integers(0, 256, 3000, dtype=np.uint8).tobytes()
        assert _fast(junk) is None


def test_not_flac_or_unsupported_goes_to_libsndfile():
    x = speech_like(0.5, np.random.default_rng(2))
    assert _fast(encode_audio(x, 16000, format="WAV")) is None
    assert _fast(b"fLaC" + bytes(100)) is None
    four = np.stack([x] * 4, axis=1)
    blob = encode_audio(four, 16000)  # 4 channels: libsndfile path
    assert _fast(blob) is None
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


def test_metadata_bit_flips_behave_as_libsndfile():
    """libFLAC validates metadata (e.g. Vorbis comment lengths): a file it rejects must
    not be accepted by the fast path."""
    blob = encode_audio(speech_like(0.2, np.random.default_rng(3)), 16000)
    for pos in range(4, 100):
        for bit in (0, 3, 7):
            bad = bytearray(blob)
            bad[pos] ^= 1 << bit
            bad = bytes(bad)
            fast = _fast(bad)
            if fast is None:
                continue
            ref, rate = soundfile.read(io.BytesIO(bad), dtype="float32")
            assert rate == fast[1]
            np.testing.assert_array_equal(fast[0], ref)
