import numpy as np
import pytest
import scipy.signal

from fastload.testing.reference import volume as ref
from fastload.volume import (
    WindowAccumulator,
    gaussian_importance,
    pad_bounds,
    precrop_bounds,
    prepare_eval,
    sliding_windows,
)


@pytest.mark.parametrize(
    "dim, crop, pad",
    [
        (200, (4, 196), (0, 0)),  # 200 % 64 = 8 < 32: cut 8 -> 192, no pad
        (100, (0, 100), (14, 14)),  # 36 >= 32: keep, pad 28 -> 128
        (130, (1, 129), (0, 0)),  # 2 < 32: cut 2 -> 128
        (128, (0, 128), (0, 0)),
        (160, (0, 160), (16, 16)),  # 32 is not < 32: keep, pad 32 -> 192
        (50, (0, 50), (39, 39)),  # pad 14, 64 < 128 -> +64 = 78
        (183, (0, 183), (4, 5)),  # 55 >= 32: keep, pad 9: 4 before, 5 after
        (151, (11, 139), (0, 0)),  # 23 < 32: cut 23 (11 before, 12 after)
    ],
)
def test_precrop_and_pad(dim, crop, pad):
    assert precrop_bounds((dim, 128, 128))[0] == crop
    cropped = crop[1] - crop[0]
    assert pad_bounds((cropped, 128, 128))[0] == pad
    assert (cropped + sum(pad)) % 64 == 0 and cropped + sum(pad) >= 128


def test_window_counts_and_order():
    w = sliding_windows((128, 192, 256))
    assert w.shape == (1 * 2 * 3, 3) and w.dtype == np.int64
    np.testing.assert_array_equal(w[:4], [[0, 0, 0], [0, 0, 64], [0, 0, 128], [0, 64, 0]])
    assert len(sliding_windows((320, 384, 384))) == 4 * 5 * 5
    with pytest.raises(ValueError):
        sliding_windows((100, 128, 128))


def test_importance_map():
    w = gaussian_importance(128)
    assert w.shape == (128, 128, 128) and w.dtype == np.float32
    np.testing.assert_allclose(w, ref.gaussian_importance(128), rtol=1e-6)
    assert w.max() == 1.0 and w[63, 63, 63] == 1.0 and w[64, 64, 64] == 1.0
    np.testing.assert_array_equal(w, w[::-1, ::-1, ::-1])
    # = a separable Gaussian of sigma 16 * sqrt(3) per axis
    g = scipy.signal.windows.gaussian(128, 16 * np.sqrt(3))
    g = g / g.max()
    np.testing.assert_allclose(w, g[:, None, None] * g[None, :, None] * g[None, None, :], rtol=1e-5)
    assert gaussian_importance(16).shape == (16, 16, 16)


def test_accumulator_matches_twin_and_crops_back():
    roi = 16
    rng = np.random.default_rng(0)
    padded = (32, 24, 40)
    pads = ((2, 3), (4, 4), (0, 8))
    win = sliding_windows(padded, roi=roi)
    imp = gaussian_importance(roi)
    logits = {tuple(s): rng.standard_normal((3, roi, roi, roi)).astype(np.float32) for s in win}
    acc = WindowAccumulator(padded, 3, roi=roi, paddings=pads)
    for s in win:
        acc.add(s, logits[tuple(s)])
    got = acc.result()
    want = ref.sliding_window_blend(padded, win, lambda s: logits[s], roi, imp)
    assert got.shape == (3, 27, 16, 32)
    np.testing.assert_array_equal(got, want[:, 2:29, 4:20, 0:32])


def test_accumulator_constant_logits_give_constant():
    acc = WindowAccumulator((32, 32, 32), 2, roi=16)
    for s in sliding_windows((32, 32, 32), roi=16):
        acc.add(s, np.full((1, 2, 16, 16, 16), 3.5, np.float32))
    np.testing.assert_allclose(acc.result(), 3.5, rtol=1e-6)
    with pytest.raises(ValueError):
        acc.add((20, 0, 0), np.zeros((2, 16, 16, 16), np.float32))
    with pytest.raises(ValueError):
        acc.add((0, 0, 0), np.zeros((3, 16, 16, 16), np.float32))


def test_prepare_eval():
    img = np.random.default_rng(0).random((1, 200, 100, 183)).astype(np.float32)
    lab = (img > 0.5).astype(np.uint8)
    pimg, plab, pads = prepare_eval(img, lab)
    assert plab.shape == (1, 192, 100, 183)
    assert pimg.shape == (1, 192, 128, 192)
    assert pads == ((0, 0), (14, 14), (4, 5))
    np.testing.assert_array_equal(pimg[0, :, 14:114, 4:187], img[0, 4:196])
    assert np.all(pimg[0, :, :14] == np.float32(-2.2))
