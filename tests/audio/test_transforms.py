"""Audio transforms: trim, speed perturbation, SpecAugment, frame stacking."""

import math

import numpy as np
import pytest
from scipy import stats

from fastload.audio import (
    SpecAugment,
    SpeedPerturb,
    StackFrames,
    TrimSilence,
    nonsilent_region,
    resample,
)
from fastload.audio.transforms import SpecAugmentParams, SpeedParams, stack_frames
from fastload.testing.data.librispeech import speech_like
from fastload.testing.reference import audio as ref


# ----------------------------------------------------------------------------- trim
def test_nonsilent_region_matches_twin():
    for seed in range(4):
        x = speech_like(2.0, seed)
        assert nonsilent_region(x, accumulate="float64") == ref.nonsilent_region(x)
        assert nonsilent_region(x) == ref.nonsilent_region(x, accumulate="float32")
        b, n = nonsilent_region(x)
        assert 0 < b and b + n < len(x)  # the quiet lead-in and tail are cut


def test_nonsilent_region_float32_drift_is_dalis():
    # a burst then digital silence: the float32 running sum keeps a rounding residue
    # after the burst has left the window, which DALI keeps until the next restart
    # (window ending on a multiple of reset_interval); float64 ends at the burst
    rng = np.random.default_rng(11)
    x = np.zeros(30000, np.float32)
    x[3000:9000] = rng.standard_normal(6000).astype(np.float32)
    x[9000:9100] = 1e-3
    for reset in (8192, 2048):
        ours = nonsilent_region(x, reset_interval=reset)
        assert ours == ref.nonsilent_region(x, accumulate="float32", reset_interval=reset)
    mms = ref.dali_moving_mean_square(x, 2048)
    assert mms[9100 : 16384 - 2047].std() == 0  # residue held constant until the restart
    assert mms[9100] > 1e-6 * mms.max()  # ... and above the -60 dB threshold
    b, n = nonsilent_region(x)
    assert b + n - 2048 == 16384 - 2048  # last window before the restart at 14337
    b, n = nonsilent_region(x, accumulate="float64")
    assert b + n - 2048 == 8999 and (b, n) == ref.nonsilent_region(x)  # ends at the burst
    with pytest.raises(ValueError, match="accumulate"):
        nonsilent_region(x, accumulate="float16")


def test_nonsilent_region_dali_semantics():
    x = np.zeros(10000, np.float32)
    x[5000:5100] = 1.0
    # windows [i, i + 2048) touching the burst: i in 2953..5099; length adds window - 1
    assert nonsilent_region(x) == (2953, 5099 - 2953 + 2048)
    assert nonsilent_region(np.zeros(500, np.float32)) == (0, 500)  # silence: threshold 0
    assert nonsilent_region(np.ones(10, np.float32)) == (0, 10)  # window shrinks to n
    assert nonsilent_region(np.zeros(0, np.float32)) == (0, 0)
    y = np.full(20000, 1e-4, np.float32)
    y[10000] = 1.0  # floor power 1e-8 is 47 dB below the peak window power ~1/2048
    assert nonsilent_region(y, cutoff_db=-20) == (10000 - 2047, 4095)


def test_trim_silence_transform():
    x = speech_like(1.5, 3)
    b, n = nonsilent_region(x)
    y = TrimSilence()(x)
    np.testing.assert_array_equal(y, x[b : b + n])


# ----------------------------------------------------------------------------- speed
def test_speed_draws_uniform_and_reproducible():
    t = SpeedPerturb()
    rng = np.random.default_rng(0)
    rates = np.array([t.sample_params(rng, None).rate for _ in range(4000)])
    assert rates.min() >= 0.85 and rates.max() < 1.15
    assert stats.kstest((rates - 0.85) / 0.3, "uniform").pvalue > 1e-3
    again = np.random.default_rng(0)
    assert t.sample_params(again, None).rate == rates[0]


def test_speed_probability():
    t = SpeedPerturb(p=0.3)
    rng = np.random.default_rng(1)
    applied = np.mean([t.sample_params(rng, None).rate != 1.0 for _ in range(4000)])
    assert abs(applied - 0.3) < 0.03


def test_speed_apply_length():
    x = speech_like(1.0, 0)
    y = SpeedPerturb().apply(x, SpeedParams(1.1))
    assert y.shape == (math.ceil(16000 * 1.1),)  # resampled to s * 16 kHz, treated as 16 kHz
    assert SpeedPerturb().apply(x, SpeedParams(1.0)) is x
    slow = SpeedPerturb().apply(x, SpeedParams(0.9))
    np.testing.assert_array_equal(slow, resample(x, 16000, 14400, antialias=False))  # DALI filter


# ----------------------------------------------------------------------------- SpecAugment
def test_spec_augment_reference_distributions():
    t = SpecAugment()
    rng = np.random.default_rng(0)
    T = 700
    fw, fs, tw, ts = [], [], [], []
    for _ in range(3000):
        p = t.sample_params(rng, np.zeros((80, T)))
        assert len(p.freq) == 2 and len(p.time) == 10
        for f0, w in p.freq:
            fw.append(w)
            assert 0 <= f0 <= max(1, 80 - w + 1) - 1
            fs.append(f0)
        for t0, w in p.time:
            tw.append(w)
            assert 0 <= t0 <= max(1, T - w + 1) - 1
            ts.append(t0)
    counts = np.bincount(fw, minlength=21)
    assert len(counts) == 21  # widths 0..20
    assert stats.chisquare(counts).pvalue > 1e-3
    tmax = round(0.03 * T)  # 21
    tcounts = np.bincount(tw, minlength=tmax + 1)
    assert len(tcounts) == tmax + 1 and stats.chisquare(tcounts).pvalue > 1e-3


def test_spec_augment_nvidia_bounds():
    t = SpecAugment(preset="nvidia")
    rng = np.random.default_rng(1)
    T = 100  # round(0.03 T) = 3: widths 0..3, masks of w + 1 = 1..4 entries
    tw = []
    for _ in range(3000):
        p = t.sample_params(rng, np.zeros((80, T)))
        for t0, n in p.time:
            tw.append(n)
            assert 0 <= t0 <= T - (n - 1)  # anchor round(U (T - w))
        for f0, n in p.freq:
            assert 1 <= n <= 21 and 0 <= f0 <= 80 - (n - 1)
    assert set(tw) == {1, 2, 3, 4}


def test_spec_augment_apply_matches_twin_and_replays():
    x = np.random.default_rng(2).standard_normal((80, 300)).astype(np.float32)
    t = SpecAugment()
    p = t.sample_params(np.random.default_rng(5), x)
    y = t.apply(x, p)
    np.testing.assert_array_equal(y, ref.spec_augment(x, p.freq, p.time))
    assert not np.shares_memory(x, y)
    assert t.sample_params(np.random.default_rng(5), x) == p  # frozen, replayable
    fixed = SpecAugmentParams(freq=((78, 20),), time=((295, 10),))  # masks clipped at the edge
    np.testing.assert_array_equal(t.apply(x, fixed), ref.spec_augment(x, fixed.freq, fixed.time))


def test_spec_augment_short_input():
    t = SpecAugment()
    for T in (1, 2, 5):
        p = t.sample_params(np.random.default_rng(T), np.zeros((80, T)))
        t.apply(np.ones((80, T), np.float32), p)


# ----------------------------------------------------------------------------- stacking
@pytest.mark.parametrize("T", [1, 2, 3, 4, 5, 100, 101])
def test_stack_frames_matches_reference(T):
    x = np.random.default_rng(T).standard_normal((80, T)).astype(np.float32)
    y = StackFrames()(x)
    assert y.shape == (math.ceil(T / 3), 240) and y.dtype == np.float32
    np.testing.assert_array_equal(y, ref.stack_frames(x))


def test_stack_frames_other_factors_and_out():
    x = np.random.default_rng(0).standard_normal((10, 17)).astype(np.float32)
    np.testing.assert_array_equal(stack_frames(x, stack=2, subsample=4), ref.stack_frames(x, 2, 4))
    out = np.empty((6, 30), np.float32)
    assert stack_frames(x, out=out) is out
    with pytest.raises(ValueError):
        stack_frames(x, out=np.empty((5, 30), np.float32))


# ----------------------------------------------------------------------------- batch level
def test_spec_augment_batch_reference_semantics():
    from fastload.audio.transforms import spec_augment_batch

    rng = np.random.default_rng(0)
    lengths = np.array([300, 120, 37])
    batch = np.zeros((3, 300, 80), np.float32)
    for i, n in enumerate(lengths):
        batch[i, :n] = rng.standard_normal((n, 80))
    before = batch.copy()
    drawn = spec_augment_batch(batch, lengths, np.random.default_rng(5))
    again = SpecAugment()
    g = np.random.default_rng(5)
    for i, n in enumerate(lengths):
        p = again.draw(g, 80, int(n), 300)
        assert p == drawn[i]
        for t0, w in p.time:
            assert w <= round(0.03 * n) and 0 <= t0 <= 300 - w  # start over the padded length
        want = ref.spec_augment(before[i].T, p.freq, p.time).T
        np.testing.assert_array_equal(batch[i], want)
    bft = before.transpose(0, 2, 1).copy()
    spec_augment_batch(bft, lengths, np.random.default_rng(5), layout="bft")
    np.testing.assert_array_equal(bft.transpose(0, 2, 1), batch)


def test_stack_frames_batch_matches_per_sample():
    from fastload.audio.transforms import stack_frames_batch

    rng = np.random.default_rng(1)
    lengths = np.array([10, 7, 4])
    batch = np.zeros((3, 10, 5), np.float32)
    for i, n in enumerate(lengths):
        batch[i, :n] = rng.standard_normal((n, 5))
    out, new = stack_frames_batch(batch, lengths)
    assert out.shape == (3, 4, 15) and list(new) == [4, 3, 2]
    for i, n in enumerate(lengths):
        per = stack_frames(np.ascontiguousarray(batch[i, :n].T))
        np.testing.assert_array_equal(out[i, : new[i]], per)
        np.testing.assert_array_equal(out[i], ref.stack_frames(batch[i].T))


def test_spec_augment_batch_nvidia_bounds_from_padded_length():
    # NVIDIA's vectorised SpecAugment sees only the padded batch: time widths up to
    # round(0.03 * T_pad), anchors over T_pad, masks of w + 1 frames
    from fastload.audio.transforms import spec_augment_batch

    lengths = np.array([600, 90])
    batch = np.ones((2, 600, 80), np.float32)
    drawn = spec_augment_batch(batch, lengths, np.random.default_rng(3), preset="nvidia")
    seen = set()
    for p in drawn:
        for a, n in p.time:
            assert 1 <= n <= round(0.03 * 600) + 1 and 0 <= a <= 600 - (n - 1)
            seen.add(n)
    assert max(seen) > round(0.03 * 90) + 1  # the short sample's bound is not its own
