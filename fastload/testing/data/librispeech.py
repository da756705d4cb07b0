"""A small LibriSpeech-like tree of synthetic speech for tests, benchmarks and the demo.

``make_librispeech(root)`` writes ``<subset>/<speaker>/<chapter>/<spk>-<ch>-<utt>.flac``
(16 kHz mono, 16-bit FLAC) and ``<spk>-<ch>.trans.txt`` files with UPPERCASE transcripts,
the layout of OpenSLR 12. The audio is speech-like, not speech: syllables of a harmonic
source (pitch 90-250 Hz with drift) shaped by three formant resonances, fricative noise
bursts, short pauses, and near-silent (about -85 dBFS) lead-in and tail so that silence
trimming has something to remove. Everything is deterministic for a given seed.
"""

import io
from pathlib import Path

import numpy as np
import soundfile

from fastload._rng import as_generator

__all__ = ["encode_audio", "make_librispeech", "speech_like"]

_WORDS = (
    "THE OF AND TO A IN THAT HE WAS IT HIS I WITH AS HAD FOR YOU BUT ON NOT SHE AT BE "
    "HER BY WHICH HAVE ALL THEY THIS FROM WERE SO ONE SAID WHAT THERE ME NO WOULD WHEN "
    "THEM BEEN AN IF WHO MY INTO UPON LITTLE COULD TIME MORE OLD GREAT MAN DAY HOUSE "
    "WATER NIGHT HAND EYES FATHER MOTHER SEA LIGHT RIVER MORNING WINDOW VOICE GARDEN"
).split()


def _formant_envelope(freqs, formants, bandwidths):
    env = np.zeros_like(freqs)
    for f, b in zip(formants, bandwidths, strict=False):
        env += 1.0 / (1.0 + ((freqs - f) / b) ** 2)
    return env


def speech_like(seconds, rng=None, sample_rate=16000, *, silence_s=(0.15, 0.4)):
    """Synthetic speech-like signal.

    Parameters
    ----------
    seconds : float
        Total duration including the quiet lead-in and tail.
    rng : int | numpy.random.Generator | None
    sample_rate : int
        Hz.
    silence_s : (float, float)
        Range of the lead-in and tail durations, seconds.

    Returns
    -------
    ndarray, shape (round(seconds * sample_rate),), float32
        Peak amplitude about 0.5; lead-in and tail hold noise at about -85 dBFS.
    """
    rng = as_generator(rng)
    n = int(round(seconds * sample_rate))
    x = (rng.standard_normal(n) * 5e-5).astype(np.float64)
    lead = min(n // 3, int(rng.uniform(*silence_s) * sample_rate))
    tail = min(n // 3, int(rng.uniform(*silence_s) * sample_rate))
    pos, end = lead, n - tail
    f0_base = rng.uniform(90, 250)
    nyq = sample_rate / 2
    while pos < end:
        kind = rng.random()
        length = int(rng.uniform(0.08, 0.3) * sample_rate)
        length = min(length, end - pos)
        if length <= 0:
            break
        t = np.arange(length) / sample_rate
        if kind < 0.12:  # pause
            pos += length
            continue
        if kind < 0.3:  # fricative: high-passed noise burst
            noise = rng.standard_normal(length)
            spec = np.fft.rfft(noise)
            fr = np.fft.rfftfreq(length, 1 / sample_rate)
            spec *= _formant_envelope(fr, [rng.uniform(3000, min(6500, nyq * 0.9))], [1500.0])
            seg = np.fft.irfft(spec, length)
            seg *= 0.08 / (np.std(seg) + 1e-12)
        else:  # voiced syllable
            f0 = (
                f0_base
                * (1 + 0.15 * rng.uniform(-1, 1))
                * (1 + 0.05 * np.sin(2 * np.pi * rng.uniform(2, 6) * t))
            )
            phase = 2 * np.pi * np.cumsum(f0) / sample_rate
            formants = [rng.uniform(300, 900), rng.uniform(900, 2400), rng.uniform(2400, 3500)]
            bws = [80.0, 120.0, 180.0]
            seg = np.zeros(length)
            mean_f0 = float(np.mean(f0))
            for k in range(1, int(min(4000, nyq * 0.95) // mean_f0) + 1):
                amp = _formant_envelope(np.array([k * mean_f0]), formants, bws)[0] / k**0.5
                seg += amp * np.sin(k * phase + rng.uniform(0, 2 * np.pi))
            seg *= rng.uniform(0.1, 0.3) / (np.std(seg) + 1e-12)
        env = np.sin(np.pi * np.arange(length) / length) ** 0.5
        x[pos : pos + length] += seg * env
        pos += length
    peak = np.abs(x).max()
    if peak > 0.9:
        x *= 0.9 / peak
    return x.astype(np.float32)


def encode_audio(x, sample_rate, format="FLAC", subtype=None):  # noqa: A002
    """Encode ``x`` ((n,) or (n, channels) float) to bytes with soundfile.

    ``subtype`` defaults to PCM_16 for FLAC/WAV (``"PCM_24"``, ``"PCM_32"``, ``"FLOAT"``
    give the other WAV flavours) and VORBIS for OGG.
    """
    if subtype is None:
        subtype = {"OGG": "VORBIS"}.get(format.upper(), "PCM_16")
    buf = io.BytesIO()
    soundfile.write(buf, np.asarray(x), int(sample_rate), format=format, subtype=subtype)
    return buf.getvalue()


def make_librispeech(
    root,
    *,
    subsets=("train-clean-100", "dev-clean"),
    speakers=2,
    chapters=1,
    utterances=4,
    seed=0,
    min_s=2.0,
    max_s=17.0,
    sample_rate=16000,
):
    """Write a LibriSpeech-layout tree of synthetic FLAC utterances.

    Parameters
    ----------
    root : str or Path
    subsets : sequence of str
    speakers, chapters, utterances : int
        Per subset: speakers, chapters per speaker, utterances per chapter.
    seed : int
    min_s, max_s : float
        Utterance durations are drawn uniformly from this range (seconds); with the
        defaults some training utterances exceed the 16.7 s filter.
    sample_rate : int

    Returns
    -------
    Path
        ``root``.
    """
    root = Path(root)
    rng = np.random.default_rng(seed)
    spk_id = 100
    for subset in subsets:
        for _ in range(speakers):
            spk_id += int(rng.integers(1, 50))
            for c in range(chapters):
                ch_id = 1000 + 37 * c + int(rng.integers(0, 30))
                folder = root / subset / str(spk_id) / str(ch_id)
                folder.mkdir(parents=True, exist_ok=True)
                lines = []
                for u in range(utterances):
                    utt = f"{spk_id}-{ch_id}-{u:04d}"
                    seconds = float(rng.uniform(min_s, max_s))
                    x = speech_like(seconds, rng, sample_rate)
                    (folder / f"{utt}.flac").write_bytes(encode_audio(x, sample_rate))
                    words = rng.choice(_WORDS, size=max(1, int(seconds * 2.5)))
                    lines.append(f"{utt} {' '.join(words)}")
                (folder / f"{spk_id}-{ch_id}.trans.txt").write_text("\n".join(lines) + "\n")
    return root
