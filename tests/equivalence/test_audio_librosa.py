"""fastload.audio against the peers it replaces: librosa, torch.stft (torchaudio's
MelSpectrogram is stft + mel matmul; torchaudio itself is not installed), scipy."""

from fractions import Fraction
from math import gcd

import numpy as np
import pytest
import scipy.signal

from fastload.audio import log_mel, mel_filterbank, resample
from fastload.audio.features import window_function
from fastload.testing.data.librispeech import speech_like

try:
    import librosa
except ImportError:  # its group is skipped without it (tests/conftest.py)
    librosa = None
try:
    import torch
except ImportError:
    torch = None


@pytest.fixture(scope="module")
def speech():
    return speech_like(2.0, 21)


def preemphasised(x):
    x = x.astype(np.float64)
    y = np.empty_like(x)
    y[0] = 0.03 * x[0]
    y[1:] = x[1:] - 0.97 * x[:-1]
    return y


@pytest.mark.librosa
def test_filterbank_equals_librosa():
    for htk in (False, True):
        ours = mel_filterbank(16000, 512, 80, mel_scale="htk" if htk else "slaney")
        theirs = librosa.filters.mel(
            sr=16000, n_fft=512, n_mels=80, htk=htk, norm="slaney", dtype=np.float64
        )
        np.testing.assert_allclose(ours, theirs, rtol=1e-7, atol=1e-12)


@pytest.mark.librosa
@pytest.mark.parametrize("window", ["dali_hann", "hann_periodic"])
def test_log_mel_vs_librosa(speech, window):
    ours = log_mel(speech, window=window, normalize=None)
    power = librosa.feature.melspectrogram(
        y=preemphasised(speech),
        sr=16000,
        n_fft=512,
        hop_length=160,
        win_length=320,
        window=window_function(window, 320),
        center=True,
        pad_mode="reflect",
        power=2.0,
        n_mels=80,
        htk=False,
        norm="slaney",
        dtype=np.float64,
    )
    theirs = np.log(np.maximum(power, 1e-20))
    assert ours.shape == theirs.shape
    # float32 kernel vs librosa float64: rtol 1e-4 on log-mel values (observed 2e-5 worst)
    np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=1e-5)


@pytest.mark.torch
def test_log_mel_vs_torch_stft(speech):
    ours = log_mel(speech)
    y = torch.from_numpy(preemphasised(speech))
    win = torch.from_numpy(window_function("dali_hann", 320))
    spec = torch.stft(
        y,
        n_fft=512,
        hop_length=160,
        win_length=320,
        window=win,
        center=True,
        pad_mode="reflect",
        return_complex=True,
    )
    power = spec.abs() ** 2
    fb = torch.from_numpy(mel_filterbank(16000, 512, 80))
    lm = torch.log(torch.clamp(fb @ power, min=1e-20))
    mean = lm.mean(dim=1, keepdim=True)
    std = lm.std(dim=1, keepdim=True, unbiased=False)  # population std, as DALI
    theirs = ((lm - mean) / std).numpy()
    # normalised features ~N(0, 1): 5e-4 absolute (observed ~1e-4)
    np.testing.assert_allclose(ours, theirs, atol=5e-4)


def band_limited(n, rate, fmax, seed):
    rng = np.random.default_rng(seed)
    t = np.arange(n) / rate
    freqs = rng.uniform(50, fmax, 12)
    return sum(np.sin(2 * np.pi * f * t + rng.uniform(0, 6)) for f in freqs) / 12


@pytest.mark.parametrize(
    "orig,new", [(16000, 8000), (16000, 13600), (16000, 18400), (16000, 24000), (44100, 16000)]
)
def test_resample_vs_resample_poly(orig, new):
    """resample_poly(x, up, down) evaluates output k at input position k * down / up;
    with up = new / g, down = orig / g (g = gcd) that is DALI 2.4's position j * orig / new
    for output j, so the two outputs line up sample for sample."""
    fmax = 0.7 * min(orig, new) / 2  # band-limited well inside both Nyquists
    x = band_limited(int(0.25 * orig), orig, fmax, orig + new).astype(np.float32)
    ours = resample(x, orig, new).astype(np.float64)
    g = gcd(orig, new)
    fine = scipy.signal.resample_poly(
        x.astype(np.float64), new // g, orig // g, window=("kaiser", 10.0)
    )
    j = np.arange(min(len(ours), len(fine)))
    edge = int(0.02 * new)  # both filters see zeros past the ends
    sel = (j > edge) & (j < len(j) - edge)
    ref = fine[j[sel]]
    err = ours[j[sel]] - ref
    snr = 10 * np.log10(np.sum(ref**2) / np.sum(err**2))
    assert snr >= 60, (Fraction(new, orig), snr)
