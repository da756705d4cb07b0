"""fastload's FLAC decoder (csrc/audio/flac.c) vs libsndfile (soundfile), the peer it
replaces, on the streams libsndfile writes (8, 16 and 24 bits, 1 to 8 channels).

Tolerance: none. Both give ``v / 2 ** (bps - 1)`` in float32 for every integer sample
``v``, so the arrays must be equal bit for bit (``assert_array_equal``).
"""

import io
import zlib

import numpy as np
import pytest
import soundfile

from fastload.audio import decode
from fastload.testing.data.librispeech import encode_audio, speech_like


def _sf(blob):
    x, rate = soundfile.read(io.BytesIO(blob), dtype="float32", always_2d=True)
    return x, rate


@pytest.mark.parametrize("frames", [1, 15, 16, 17, 191, 4095, 4096, 4097, 40000])
def test_lengths(frames):
    x = np.random.default_rng(frames).uniform(-0.9, 0.9, frames) * np.hanning(frames + 2)[1:-1]
    blob = encode_audio(x, 16000)
    out, _ = decode(blob)
    np.testing.assert_array_equal(out, _sf(blob)[0][:, 0])


@pytest.mark.parametrize("subtype", ["PCM_S8", "PCM_16", "PCM_24"])
@pytest.mark.parametrize("kind", ["speech", "silence", "constant", "noise", "square", "tiny"])
@pytest.mark.parametrize("channels", [1, 2, 6])
def test_matches_libsndfile(subtype, kind, channels):
    rng = np.random.default_rng(zlib.crc32(f"{subtype}{kind}{channels}".encode()))
    n = 9000
    x = {
        "speech": lambda: speech_like(n / 16000, rng)[:n],
        "silence": lambda: np.zeros(n),
        "constant": lambda: np.full(n, 0.3),
        "noise": lambda: rng.uniform(-1, 1, n),  # VERBATIM subframes
        "square": lambda: np.sign(np.sin(np.arange(n) / 7.0)) * 0.99,
        "tiny": lambda: rng.integers(-2, 3, n) / 32768.0,  # wasted bits / small residuals
    }[kind]()
    if channels == 2:
        x = np.stack([x, np.roll(x, 3) * 0.5], axis=1)  # left/side, mid/side decorrelation
    elif channels > 2:
        x = np.stack([np.roll(x, 5 * c) * (1 - 0.1 * c) for c in range(channels)], axis=1)
    blob = encode_audio(np.clip(x, -1, 1), 16000, subtype=subtype)
    ref, rate = _sf(blob)
    out, r = decode(blob)
    assert r == rate
    np.testing.assert_array_equal(out.reshape(ref.shape), ref)
    mono, _ = decode(blob, mono=True)
    np.testing.assert_array_equal(mono, ref.mean(axis=1, dtype=np.float32))
