"""fastload.audio.log_mel against its numpy twin; edge cases; threads."""

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fastload.audio import log_mel, mel_filterbank
from fastload.audio.features import dither_noise, log_mel_frames
from fastload.testing.data.librispeech import speech_like
from fastload.testing.reference import audio as ref


@pytest.fixture(scope="module")
def speech():
    return speech_like(1.3, 5)


def test_frames_rule():
    assert log_mel_frames(267200) == 1671  # SPEC: 16.7 s -> 1671 frames
    assert log_mel(np.zeros(267200, np.float32)).shape == (80, 1671)
    assert log_mel(np.ones(159, np.float32)).shape == (80, 1)
    assert log_mel(np.ones(160, np.float32)).shape == (80, 2)


def test_filterbank_matches_twin():
    for scale in ("slaney", "htk"):
        np.testing.assert_allclose(
            mel_filterbank(16000, 512, 80, mel_scale=scale),
            ref.mel_filterbank(16000, 512, 80, scale),
            atol=1e-12,
        )


@pytest.mark.parametrize(
    "kw",
    [
        {},
        {"window": "hann"},
        {"window": "hann_periodic", "mel_scale": "htk"},
        {"n_fft": 256, "win_length": 200, "hop_length": 80, "n_mels": 40},
        {"n_fft": 512, "win_length": 512, "hop_length": 128, "preemphasis": 0.0},
        {"sample_rate": 8000, "n_mels": 64},
    ],
)
def test_matches_twin_unnormalised(speech, kw):
    a = log_mel(speech, normalize=None, **kw)
    b = ref.log_mel(speech, normalize=None, **kw)
    assert a.shape == b.shape and a.dtype == np.float32
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4)  # float32 FFT vs float64 rfft


def test_matches_twin_normalised_with_dither(speech):
    a = log_mel(speech, dither=1e-5, rng=7)
    noise = dither_noise(len(speech), 7)
    b = ref.log_mel(speech, dither=1e-5, noise=noise)
    np.testing.assert_allclose(a, b, atol=2e-4)  # normalised values ~N(0,1): absolute tolerance
    row = a.astype(np.float64)
    np.testing.assert_allclose(row.mean(axis=1), 0, atol=1e-5)
    np.testing.assert_allclose(row.std(axis=1), 1, atol=1e-4)


def test_dither_is_reproducible_and_gaussian():
    x = np.zeros(4000, np.float32)
    assert np.array_equal(log_mel(x, dither=1e-5, rng=1), log_mel(x, dither=1e-5, rng=1))
    assert not np.array_equal(log_mel(x, dither=1e-5, rng=1), log_mel(x, dither=1e-5, rng=2))
    z = dither_noise(200000, 0).astype(np.float64)
    assert abs(z.mean()) < 0.01 and abs(z.std() - 1) < 0.01
    assert abs(np.mean(np.abs(z) < 1) - 0.6827) < 0.005
    assert abs(np.mean(z**4) - 3) < 0.1  # Gaussian kurtosis


def test_silence_is_finite():
    for n in (1, 100, 16000):
        y = log_mel(np.zeros(n, np.float32))
        assert np.isfinite(y).all()
        np.testing.assert_array_equal(y, 0)  # std 0 rows are written as 0
        u = log_mel(np.zeros(n, np.float32), normalize=None)
        np.testing.assert_allclose(u, np.log(np.float32(1e-20)), rtol=1e-6)


@pytest.mark.parametrize("n", [1, 2, 3, 50, 159, 161, 320, 513])
def test_shorter_than_window(speech, n):
    x = speech[8000 : 8000 + n] + np.float32(0.01)
    a = log_mel(x, normalize=None)
    b = ref.log_mel(x, normalize=None)
    assert a.shape == b.shape == (80, n // 160 + 1)
    assert np.isfinite(a).all()
    # float32 FFT: bins more than ~100 dB below the loudest carry rounding noise only
    keep = b > b.max() - 20
    np.testing.assert_allclose(a[keep], b[keep], atol=2e-3)
    np.testing.assert_allclose(a, b, atol=0.5)


def test_long_utterance():
    x = speech_like(35.0, 3)
    y = log_mel(x, dither=1e-5, rng=0)
    assert y.shape == (80, len(x) // 160 + 1) and np.isfinite(y).all()


def test_out_argument_and_errors(speech):
    frames = len(speech) // 160 + 1
    out = np.empty((80, frames), np.float32)
    assert log_mel(speech, out=out) is out
    np.testing.assert_array_equal(out, log_mel(speech))
    with pytest.raises(ValueError):
        log_mel(speech, out=np.empty((80, frames + 1), np.float32))
    with pytest.raises(ValueError):
        log_mel(np.zeros(0, np.float32))
    with pytest.raises(ValueError):
        log_mel(np.zeros((2, 100), np.float32))
    with pytest.raises(ValueError):
        log_mel(speech, n_fft=500)
    with pytest.raises(ValueError):
        log_mel(speech, window="kaiser")
    with pytest.raises(TypeError):
        log_mel(np.zeros(100, np.int16))


def test_float64_input_is_accepted(speech):
    np.testing.assert_array_equal(log_mel(speech.astype(np.float64)), log_mel(speech))


def test_threads_identical():
    xs = [speech_like(1.0 + 0.2 * i, i) for i in range(8)]
    serial = [log_mel(x, dither=1e-5, rng=i) for i, x in enumerate(xs)]
    with ThreadPoolExecutor(4) as pool:
        par = list(pool.map(lambda a: log_mel(a[1], dither=1e-5, rng=a[0]), enumerate(xs)))
    for a, b in zip(serial, par, strict=False):
        np.testing.assert_array_equal(a, b)


def test_non_finite_input_raises(speech):
    bad = speech.copy()
    bad[100] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        log_mel(bad)


def test_uncached_scratch_path_gives_same_result(speech, monkeypatch):
    from fastload.audio import features

    want = log_mel(speech, dither=1e-5, rng=3)
    monkeypatch.setattr(features, "_MAX_CACHED", 10)  # every call takes temporary scratch
    np.testing.assert_array_equal(log_mel(speech, dither=1e-5, rng=3), want)


@settings(max_examples=20, deadline=None)
@given(
    n=st.integers(1, 3000),
    amp=st.floats(1e-4, 1.0),
    seed=st.integers(0, 2**31),
    window=st.sampled_from(["dali_hann", "hann", "hann_periodic"]),
)
def test_property_matches_twin(n, amp, seed, window):
    x = (np.random.default_rng(seed).standard_normal(n) * amp).astype(np.float32)
    a = log_mel(x, normalize=None, window=window)
    b = ref.log_mel(x, normalize=None, window=window)
    assert a.shape == b.shape == (80, n // 160 + 1) and np.isfinite(a).all()
    keep = b > b.max() - 20  # float32 FFT: bins ~90 dB below the loudest are rounding noise
    np.testing.assert_allclose(a[keep], b[keep], rtol=1e-4, atol=2e-3)
    c = log_mel(x, window=window)
    assert np.isfinite(c).all()
