"""fastload.audio.decode: formats, buffer types, limits and bad input."""

import io

import numpy as np
import pytest
import soundfile
from hypothesis import given, settings
from hypothesis import strategies as st

from fastload.audio import decode, info
from fastload.errors import DecodeError, LimitError
from fastload.testing.data.librispeech import encode_audio, speech_like


@pytest.fixture(scope="module")
def mono():
    return speech_like(1.5, 0)


@pytest.fixture(scope="module")
def flac(mono):
    return encode_audio(mono, 16000)


@pytest.mark.parametrize(
    "wrap", [bytes, bytearray, memoryview, lambda b: np.frombuffer(b, np.uint8)]
)
def test_flac_any_bytes_like(flac, wrap):
    x, sr = decode(wrap(flac))
    ref, rsr = soundfile.read(io.BytesIO(flac), dtype="float32")
    assert sr == rsr == 16000
    assert x.dtype == np.float32 and x.shape == ref.shape
    np.testing.assert_array_equal(x, ref)


def test_flac_roundtrip_quantisation(mono, flac):
    x, _ = decode(flac)
    assert np.abs(x - mono).max() <= 1.0 / 32768 + 1e-7  # 16-bit quantisation


@pytest.mark.parametrize(
    "subtype,tol", [("PCM_16", 2**-15), ("PCM_24", 2**-23), ("PCM_32", 2**-31), ("FLOAT", 0)]
)
def test_wav_subtypes(mono, subtype, tol):
    data = encode_audio(mono, 16000, format="WAV", subtype=subtype)
    x, sr = decode(data)
    assert sr == 16000 and x.dtype == np.float32
    assert np.abs(x - mono).max() <= tol + 1e-7


def test_ogg_vorbis(mono):
    data = encode_audio(mono, 16000, format="OGG")
    x, sr = decode(data)
    assert sr == 16000 and abs(x.shape[0] - mono.shape[0]) <= 1024
    assert np.isfinite(x).all()


def test_multichannel_and_rate():
    rng = np.random.default_rng(1)
    st = np.stack([speech_like(0.5, rng, 44100), speech_like(0.5, rng, 44100)], axis=1)
    data = encode_audio(st, 44100, format="WAV", subtype="PCM_24")
    x, sr = decode(data)
    assert sr == 44100 and x.shape == st.shape
    m, _ = decode(data, mono=True)
    np.testing.assert_allclose(m, x.mean(axis=1), atol=1e-7)
    assert info(data).channels == 2 and info(data).frames == st.shape[0]


def test_bad_inputs_raise_decode_error(flac):
    rng = np.random.default_rng(0)
    cases = {
        "empty": b"",
        "truncated": flac[: len(flac) // 2],
        "header only": flac[:64],
        "random": rng.integers(0, 256, 5000, dtype=np.uint8).tobytes(),
        "text": b"this is not audio at all" * 10,
    }
    for label, data in cases.items():
        with pytest.raises(DecodeError, match="utt-7"):
            decode(data, name="utt-7")
        assert label


def test_non_bytes_raises():
    with pytest.raises(DecodeError, match="bytes-like"):
        decode(12345, name="x")


def test_length_limit_checked_from_header(flac):
    with pytest.raises(LimitError, match="limit"):
        decode(flac, max_samples=1000)
    x, _ = decode(flac, max_samples=10**6)
    assert x.shape[0] == 24000


def test_zero_length_file():
    data = encode_audio(np.zeros(0, np.float32), 16000, format="WAV")
    with pytest.raises(DecodeError):
        decode(data)


@settings(max_examples=150, deadline=None)
@given(
    fmt=st.sampled_from(
        [("FLAC", "PCM_16"), ("WAV", "PCM_24"), ("WAV", "FLOAT"), ("OGG", "VORBIS")]
    ),
    edits=st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 255)), min_size=1, max_size=12),
    cut=st.one_of(st.none(), st.integers(0, 10**6)),
)
def test_mutated_files_decode_or_raise(fmt, edits, cut):
    """Corrupted headers/frames/truncations: finite samples or DecodeError, never a crash."""
    data = bytearray(_FUZZ_BASE[fmt])
    for pos, value in edits:
        data[pos % len(data)] = value
    if cut is not None:
        data = data[: cut % len(data)]
    try:
        x, sr = decode(bytes(data), max_samples=10**7)
    except DecodeError:
        return
    assert sr > 0 and np.isfinite(x).all()


_FUZZ_SIGNAL = speech_like(0.3, 9)
_FUZZ_BASE = {
    (f, s): encode_audio(_FUZZ_SIGNAL, 16000, format=f, subtype=s)
    for f, s in [("FLAC", "PCM_16"), ("WAV", "PCM_24"), ("WAV", "FLOAT"), ("OGG", "VORBIS")]
}


def test_error_messages_name_the_sample_and_say_what_was_expected(mono, flac):
    """Issue 13 item 6: messages showed ``<fastload.audio.codec._BufferReader object at
    0x...>``. Every audio DecodeError names the sample and says, in words, what was
    expected and what was found."""
    import struct

    wav = bytearray(encode_audio(mono, 16000, format="WAV"))
    rate_bad = bytearray(wav)
    struct.pack_into("<I", rate_bad, 24, 5_000_000)
    ogg = encode_audio(mono, 16000, format="OGG")
    cases = {
        "garbage": (b"RIFX" + bytes(200), "expected FLAC, WAV"),
        "text": (b"hello world, not audio" * 5, "starting 68 65 6c 6c"),
        "wav header cut": (bytes(wav[:30]), "expected FLAC, WAV"),
        "wav absurd rate": (bytes(rate_bad), "sample rate of 5000000 Hz, expected 1 to"),
        "ogg cut": (ogg[:200], "utt-9"),
        "flac cut": (flac[: len(flac) // 3], "the data ends inside the frame"),
        "flac only marker": (b"fLaC", "expected a 4-byte block header"),
        "empty": (b"", "empty input"),
    }
    for label, (data, words) in cases.items():
        with pytest.raises(DecodeError) as err:
            decode(data, name="utt-9")
        msg = str(err.value)
        assert msg.startswith("utt-9: "), (label, msg)
        assert words in msg, (label, msg)
        assert "object at 0x" not in msg and "_BufferReader" not in msg, (label, msg)
    for data in (b"RIFX" + bytes(200), flac[:50]):
        with pytest.raises(DecodeError, match="utt-9: ") as err:
            info(data, name="utt-9")
        assert "object at 0x" not in str(err.value)
