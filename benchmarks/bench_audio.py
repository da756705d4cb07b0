"""pytest-benchmark suite for the audio kernels and the RNN-T transform.

Run::

    OMP_NUM_THREADS=1 taskset -c 0 python -m pytest benchmarks/bench_audio.py --benchmark-enable

(side-by-side ratios against peers: ``benchmarks/compare.py audio``).
"""

import numpy as np
import pytest

from fastload.audio import decode, log_mel, nonsilent_region, resample, stack_frames
from fastload.pipelines import rnnt_eval, rnnt_train
from fastload.testing.data.librispeech import encode_audio, speech_like

SECONDS = 12.0  # the mean LibriSpeech training utterance


@pytest.fixture(scope="module")
def signal():
    return speech_like(SECONDS, 0)


@pytest.fixture(scope="module")
def flac(signal):
    return encode_audio(signal, 16000)


def test_decode_flac(benchmark, flac):
    benchmark(decode, flac, verify_md5=False)


def test_decode_flac_verify_md5(benchmark, flac):
    benchmark(decode, flac)


def test_resample_speed_perturb(benchmark, signal):
    benchmark(resample, signal, 16000, 16000 * 1.07)


def test_resample_44k_to_16k(benchmark):
    x = speech_like(SECONDS, 1, 44100)
    benchmark(resample, x, 44100, 16000)


def test_trim(benchmark, signal):
    benchmark(nonsilent_region, signal)


def test_log_mel(benchmark, signal):
    out = np.empty((80, len(signal) // 160 + 1), np.float32)
    benchmark(log_mel, signal, dither=1e-5, rng=0, out=out)


def test_stack_frames(benchmark, signal):
    feats = log_mel(signal)
    benchmark(stack_frames, feats)


def test_rnnt_train(benchmark, flac):
    t = rnnt_train()
    rng = np.random.default_rng(0)
    benchmark(lambda: t({"audio": flac}, rng))


def test_rnnt_eval(benchmark, flac):
    t = rnnt_eval()
    rng = np.random.default_rng(0)
    benchmark(lambda: t({"audio": flac}, rng))
