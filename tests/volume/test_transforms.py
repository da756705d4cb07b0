import numpy as np
import pytest

from fastload.testing.reference import volume as ref
from fastload.volume import (
    ClipNormalize,
    GaussianNoise,
    PadToMin,
    RandomBalancedCrop,
    RandomBrightness,
    RandomFlip,
    clip_normalize,
    foreground_boxes,
    pad_to_min,
)
from fastload.volume.transforms import CropParams, FlipParams, NoiseParams, balanced_crop_window

P = (16, 16, 16)  # small patches keep the tests fast; the rules do not depend on 128


@pytest.mark.parametrize("dtype", [np.int16, np.uint8, np.float32, np.float64])
def test_clip_normalize_bit_identical_to_reference(dtype):
    rng = np.random.default_rng(0)
    x = (
        (rng.standard_normal((5, 6, 7)) * 300).astype(dtype)
        if dtype != np.uint8
        else rng.integers(0, 255, (5, 6, 7)).astype(dtype)
    )
    want = ref.clip_normalize(x)
    np.testing.assert_array_equal(clip_normalize(x), want)
    np.testing.assert_array_equal(ClipNormalize()(x), want)
    np.testing.assert_array_equal(clip_normalize(x[:, ::2]), want[:, ::2])  # strided path
    assert want.min() >= np.float32(-2.3408) and want.max() <= np.float32(2.6399)


def test_pad_to_min():
    x = np.random.default_rng(0).random((1, 5, 130, 7)).astype(np.float32)
    got = pad_to_min(x, (128, 128, 128))
    np.testing.assert_array_equal(got, ref.pad_to_min(x))
    assert got.shape == (1, 128, 130, 128)
    # deficit b: b // 2 before
    assert np.array_equal(got[0, :61, :, 60:67], np.broadcast_to(x[0, :1], (61, 130, 7)))
    assert PadToMin(4)(x) is x


def crafted_label(shape=(40, 50, 60)):
    lab = np.zeros(shape, np.uint8)
    lab[2:5, 3:7, 4:9] = 1  # box 3*4*5 = 60
    lab[20:30, 20:22, 20:21] = 1  # box 10*2*1 = 20
    lab[30:39, 40:49, 50:59] = 1  # box 729 (largest)
    lab[10:12, 10:12, 40:42] = 2  # class 2, one component
    return lab


def test_foreground_boxes_two_largest_by_box_volume():
    boxes = foreground_boxes(crafted_label())
    assert boxes.dtype == np.int32 and boxes.shape == (3, 7)
    np.testing.assert_array_equal(
        boxes,
        [
            [1, 2, 5, 3, 7, 4, 9],  # argsort order: smaller first
            [1, 30, 39, 40, 49, 50, 59],
            [2, 10, 12, 10, 12, 40, 42],
        ],
    )
    assert foreground_boxes(np.zeros((4, 4, 4), np.uint8)).shape == (0, 7)
    np.testing.assert_array_equal(foreground_boxes(crafted_label()[None]), boxes)


def test_face_connectivity():
    lab = np.zeros((8, 8, 8), np.uint8)
    lab[1, 1, 1] = lab[2, 2, 2] = 1  # diagonal neighbours: two components
    assert len(foreground_boxes(lab)) == 2


@pytest.mark.parametrize("seed", range(40))
def test_window_matches_twin(seed):
    lab = crafted_label()
    got = RandomBalancedCrop(P, 0.5).sample_params(np.random.default_rng(seed), lab)
    want, fg = ref.balanced_crop_window(np.random.default_rng(seed), lab, P, 0.5)
    assert got.start == want and got.foreground == fg
    # with cached boxes: the same draws, the same window
    cached = RandomBalancedCrop(P, 0.5).sample_params(
        np.random.default_rng(seed), {"label": lab, "boxes": foreground_boxes(lab)}
    )
    assert cached == got


class FixedRng:
    """Feeds chosen values to the window rule: random(), then integers()."""

    def __init__(self, u, ints):
        self.u, self.ints = u, list(ints)

    def random(self):
        return self.u

    def integers(self, n):
        v = self.ints.pop(0)
        assert 0 <= v < n
        return v


def test_window_rules_grow_small_box():
    # box z [2, 5) len 3 in dim 40, patch 16: diff 13, l = 4 -> low 2-4 -> 0 (clamped), high 5+9=14,
    # short 2 with low == 0 -> high 16
    boxes = np.array([[1, 2, 5, 20, 24, 30, 35]], np.int32)
    p = balanced_crop_window(FixedRng(0.0, [0, 0, 4, 6, 5]), (40, 50, 60), P, 0.4, boxes)
    # y: [20, 24) diff 12, l=6 -> low 14, high 30 ; x: [30, 35) diff 11, l=5 -> low 25, high 41
    assert p == CropParams((0, 14, 25), P, True, 1)


def test_window_rules_clamp_at_far_end_and_shrink_big_box():
    # z box [35, 40) at the end of dim 40: diff 11, l = 1 -> low 34, high min(40, 50) = 40,
    # short 10, low > 0 -> low 24
    # y box [0, 50) longer than the patch: diff -34, l = 7 -> low 7 (window inside the box)
    # x box [10, 26) exactly the patch: diff 0 -> l = 0 (no draw)
    boxes = np.array([[2, 35, 40, 0, 50, 10, 26]], np.int32)
    p = balanced_crop_window(FixedRng(0.0, [0, 0, 1, 7]), (40, 50, 60), P, 0.4, boxes)
    assert p.start == (24, 7, 10) and p.foreground and p.cls == 2


def test_random_crop_corner_range():
    rng = np.random.default_rng(0)
    starts = np.array(
        [
            balanced_crop_window(rng, (20, 17, 16), P, 0.0, np.zeros((0, 7))).start
            for _ in range(3000)
        ]
    )
    # randrange(dim - p): [0, dim - p - 1]; 0 when dim == p
    assert starts[:, 0].min() == 0 and starts[:, 0].max() == 3
    assert starts[:, 1].max() == 0 and starts[:, 2].max() == 0


def test_smaller_than_patch_raises():
    with pytest.raises(ValueError, match="pad it first"):
        balanced_crop_window(np.random.default_rng(0), (10, 20, 20), P, 0.4, np.zeros((0, 7)))


def test_foreground_rate():
    lab = np.zeros((64, 64, 64), np.uint8)
    lab[5:8, 5:8, 5:8] = 1  # tiny, far from most random crops
    crop = RandomBalancedCrop(P, 0.4)
    boxes = foreground_boxes(lab)
    rng = np.random.default_rng(1)
    n = 4000
    params = [crop.sample_params(rng, {"label": lab, "boxes": boxes}) for _ in range(n)]
    frac_fg = np.mean([p.foreground for p in params])
    assert abs(frac_fg - 0.4) < 4 * np.sqrt(0.24 / n)  # binomial, 4 sigma
    hits = np.mean([lab[p.slices].any() for p in params])
    assert hits >= frac_fg  # every foreground crop contains foreground
    assert all(lab[p.slices].any() for p in params if p.foreground)


def test_background_only_falls_back_to_random_crop():
    lab = np.zeros((20, 20, 20), np.uint8)
    rng = np.random.default_rng(0)
    ps = [RandomBalancedCrop(P, 1.0).sample_params(rng, lab) for _ in range(50)]
    assert not any(p.foreground for p in ps)


def test_crop_and_flip_apply_to_image_and_label_alike():
    rng = np.random.default_rng(3)
    img = rng.random((30, 31, 32)).astype(np.float32)
    lab = (img > 0.5).astype(np.uint8)
    crop = RandomBalancedCrop(P, 0.4)
    flip = RandomFlip()
    cp = crop.sample_params(rng, lab)
    fp = FlipParams((True, False, True))
    a = flip.apply(crop.apply(img, cp), fp)
    b = flip.apply(crop.apply(lab, cp), fp)
    np.testing.assert_array_equal((a > 0.5).astype(np.uint8), b)
    z, y, x = cp.start
    np.testing.assert_array_equal(a, img[z : z + 16, y : y + 16, x : x + 16][::-1, :, ::-1])


def test_flip_rate():
    rng = np.random.default_rng(0)
    axes = np.array([RandomFlip().sample_params(rng).axes for _ in range(6000)])
    assert np.all(np.abs(axes.mean(0) - 1 / 3) < 4 * np.sqrt(2 / 9 / 6000))


@pytest.mark.parametrize("preset, lo, hi", [("reference", 1.7, 1.3 + 1.0), ("nvidia", 0.7, 1.3)])
def test_brightness_presets(preset, lo, hi):
    t = RandomBrightness(preset=preset)
    rng = np.random.default_rng(0)
    ps = [t.sample_params(rng) for _ in range(5000)]
    applied = [p for p in ps if p.applied]
    assert abs(len(applied) / 5000 - 0.1) < 4 * np.sqrt(0.09 / 5000)
    f = np.array([p.factor for p in applied])
    assert f.min() >= lo and f.max() <= hi and f.max() - f.min() > 0.5
    assert all(p.factor == 1.0 for p in ps if not p.applied)
    x = np.ones((4, 4, 4), np.float32)
    np.testing.assert_allclose(t.apply(x, applied[0]), applied[0].factor, rtol=1e-7)


@pytest.mark.parametrize("preset", ["reference", "nvidia"])
def test_noise_presets(preset):
    t = GaussianNoise(preset=preset)
    rng = np.random.default_rng(0)
    ps = [t.sample_params(rng) for _ in range(5000)]
    applied = [p for p in ps if p.applied]
    assert abs(len(applied) / 5000 - 0.1) < 4 * np.sqrt(0.09 / 5000)
    s = np.array([p.sigma for p in applied])
    if preset == "reference":
        assert s.min() >= 0 and s.max() <= 0.1 and s.max() - s.min() > 0.05
    else:
        assert np.all(s == 0.1)
    x = np.zeros((32, 32, 32), np.float32)
    y = t.apply(x, NoiseParams(True, 0.1, 7))
    assert y.dtype == np.float32 and abs(y.std() - 0.1) < 0.005 and abs(y.mean()) < 0.005
    np.testing.assert_array_equal(y, t.apply(x, NoiseParams(True, 0.1, 7)))  # replayable
    assert t.apply(x, NoiseParams()) is x


@pytest.mark.parametrize("seed", range(6))
def test_foreground_boxes_match_full_volume_labelling(seed):
    import scipy.ndimage

    rng = np.random.default_rng(seed)
    lab = (rng.random((20, 24, 28)) < 0.03).astype(np.uint8)  # many small components, ties
    lab[rng.random(lab.shape) < 0.01] = 2
    want = []
    for c in (1, 2):
        comps = scipy.ndimage.label(lab == c)[0]
        sl = [s for s in scipy.ndimage.find_objects(comps) if s is not None]
        vols = [np.prod([s.stop - s.start for s in x]) for x in sl]
        want += [[c] + [v for s in sl[i] for v in (s.start, s.stop)] for i in np.argsort(vols)[-2:]]
    np.testing.assert_array_equal(foreground_boxes(lab), want)
