"""fastload.audio.resample: length rule, accuracy against the direct-sum twin, threads."""

import math
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fastload.audio import resample, resampled_length
from fastload.testing.reference import audio as ref


def snr_db(ref_signal, test_signal):
    err = np.asarray(test_signal, np.float64) - ref_signal
    return 10 * np.log10(np.sum(np.square(ref_signal)) / np.sum(np.square(err)))


@pytest.mark.parametrize(
    "n,orig,new",
    [
        (16000, 16000, 13600),
        (16001, 16000, 18400),
        (12345, 44100, 16000),
        (7, 16000, 8000),
        (1, 16000, 48000),
        (160000, 16000, 16000 * 1.0737),
        (99, 22050.5, 16000),
        (0, 16000, 8000),
    ],
)
def test_length_rule_is_dali_ceil(n, orig, new):
    expect = (
        math.ceil(n * new / orig)
        if not float(new).is_integer() or not float(orig).is_integer()
        else -(-n * int(new) // int(orig))
    )
    assert resampled_length(n, orig, new) == expect
    assert resample(np.zeros(n, np.float32), orig, new).shape == (expect,)


@pytest.mark.parametrize("new", [8000, 13600, 13600.5, 17179.2, 18400, 44100])
def test_matches_direct_sum_twin(new):
    x = np.random.default_rng(0).standard_normal(3000).astype(np.float32)
    y = resample(x, 16000, new)
    z = ref.resample(x, 16000, new)
    assert y.shape == z.shape
    # antialiased (cutoff < 1 when downsampling): the window's table knots fall between
    # phase rows, linear interpolation between rows: measured 89.6 dB at worst here
    assert snr_db(z, y) >= 80


@pytest.mark.parametrize("new", [8000, 13600.5, 18400, 16000 * 1.0737, 44100])
def test_dali_filter_without_antialias_matches_twin(new):
    x = np.random.default_rng(4).standard_normal(3000).astype(np.float32)
    y = resample(x, 16000, new, antialias=False)
    z = ref.resample(x, 16000, new, antialias=False)
    # DALI's piecewise-linear window is exact between phase rows: float32 sums only
    # (|x| <= ~4.5, 32 taps) -> 2e-5 absolute
    np.testing.assert_allclose(y, z, rtol=0, atol=2e-5)
    if new < 16000:  # DALI keeps the input-Nyquist cutoff: differs from the band-limited one
        assert snr_db(z, resample(x, 16000, new)) < 20


def test_output_j_sits_at_input_j_times_ratio():
    # DALI 2.4 audio_resample: output j at input position j * orig / new (first samples
    # coincide), not at sample centres ((j + 0.5) * r - 0.5)
    x = np.zeros(400, np.float32)
    x[200] = 1.0
    y = resample(x, 16000, 32000, antialias=False)
    assert y[400] == pytest.approx(1.0, abs=1e-6)  # position 200.0: the impulse itself
    assert y[401] == pytest.approx(y[399], abs=1e-6)  # symmetric about it
    assert abs(y[401]) > 0.6  # sinc(0.5): between samples


def test_identity_rate_reproduces_input():
    x = np.random.default_rng(1).standard_normal(2000).astype(np.float32)
    y = resample(x, 16000, 16000)
    np.testing.assert_allclose(y, x, atol=1e-5)  # position j exactly: a unit impulse


def test_multichannel_equals_per_channel_and_out():
    x = np.random.default_rng(2).standard_normal((1500, 3)).astype(np.float32)
    y = resample(x, 44100, 16000)
    for c in range(3):
        np.testing.assert_array_equal(y[:, c], resample(x[:, c], 44100, 16000))
    out = np.empty_like(y)
    assert resample(x, 44100, 16000, out=out) is out
    np.testing.assert_array_equal(out, y)
    with pytest.raises(ValueError):
        resample(x, 44100, 16000, out=np.empty((3, 3), np.float32))


def test_bad_rates():
    with pytest.raises(ValueError):
        resample(np.zeros(10, np.float32), 0, 16000)
    with pytest.raises(ValueError):
        resample(np.zeros(10, np.float32), 16000, float("nan"))


def test_threads_identical():
    rng = np.random.default_rng(3)
    xs = [rng.standard_normal(20000).astype(np.float32) for _ in range(8)]
    rates = [16000 * s for s in rng.uniform(0.85, 1.15, 8)]
    serial = [resample(x, 16000, r) for x, r in zip(xs, rates, strict=False)]
    with ThreadPoolExecutor(4) as pool:
        par = list(pool.map(lambda a: resample(a[0], 16000, a[1]), zip(xs, rates, strict=False)))
    for a, b in zip(serial, par, strict=False):
        np.testing.assert_array_equal(a, b)


@settings(max_examples=25, deadline=None)
@given(
    n=st.integers(0, 3000),
    orig=st.sampled_from([8000, 16000, 22050, 44100, 48000]),
    ratio=st.floats(0.3, 3.0),
    antialias=st.booleans(),
)
def test_property_length_and_twin(n, orig, ratio, antialias):
    x = np.random.default_rng(n).standard_normal(n).astype(np.float32)
    new = orig * ratio
    y = resample(x, orig, new, antialias=antialias)
    assert y.shape == (resampled_length(n, orig, new),) and np.isfinite(y).all()
    if n >= 50:
        z = ref.resample(x, orig, new, antialias=antialias)
        # white-noise input; antialias=False is exact, True adds the row interpolation
        assert snr_db(z, y) >= 75
