import math

import numpy as np
import pytest
from scipy import stats

import fastload.image as fi
from fastload.image.transforms import sample_crop_nvidia, sample_crop_reference
from fastload.testing.data.imagenet import encode_jpeg, photo_like_image
from fastload.testing.reference import image as ref


def _draw(sampler, n, h, w, seed=0, **kw):
    rng = np.random.default_rng(seed)
    return np.array([sampler(rng, h, w, **kw) for _ in range(n)], dtype=np.int64)


def tf_height_law(size, area, ratio, grid=200_001):
    """P(crop height = h) of TF's sample_distorted_bounding_box on a ``size`` x ``size``
    image with no coverage constraint, as a law rather than a procedure: the aspect r is
    uniform on ``ratio``; given r the height is uniform over the integers from
    round(sqrt(min_area / r)) to round(sqrt(max_area / r)) (TF's GenerateRandomCrop; the
    width clamp never binds on a square image with these ranges). Integrated over r on a
    fine grid. Returns (heights, probabilities)."""
    total = float(size * size)
    r = ratio[0] + (ratio[1] - ratio[0]) * (np.arange(grid) + 0.5) / grid
    lo = np.round(np.sqrt(area[0] * total / r)).astype(np.int64)
    hi = np.round(np.sqrt(area[1] * total / r)).astype(np.int64)
    assert (np.round(hi * r) <= size).all() and (hi <= size).all()
    density = np.zeros(size + 2)
    np.add.at(density, lo, 1.0 / (hi - lo + 1))
    np.add.at(density, hi + 1, -1.0 / (hi - lo + 1))
    p = np.cumsum(density)[: size + 1] / grid
    return np.arange(size + 1), p


def chi2_pvalue(samples, heights, p, bins=24):
    edges = np.linspace(heights[p > 0].min(), heights[p > 0].max() + 1, bins + 1)
    observed, _ = np.histogram(samples, edges)
    expected = np.histogram(heights, edges, weights=p)[0] * len(samples)
    return stats.chisquare(observed, expected * observed.sum() / expected.sum()).pvalue


def test_reference_height_law_is_tf_s():
    """TF draws the crop height uniformly given the aspect (so the area is not uniform,
    unlike torchvision's and DALI's samplers); compared with that law, written above
    independently of the sampler, by a chi-square test over 24 height bins."""
    area, ratio = (0.05, 0.5), (0.75, 1.33)
    boxes = _draw(sample_crop_reference, 4000, 1000, 1000, area=area, min_object_covered=0.0)
    heights, p = tf_height_law(1000, area, ratio)
    assert chi2_pvalue(boxes[:, 2], heights, p) > 1e-3
    # the test sees an area-uniform law (torchvision's) on the same ranges: p < 1e-10
    rng = np.random.default_rng(1)
    a = rng.uniform(*area, 4000) * 1e6
    r = rng.uniform(*ratio, 4000)
    assert chi2_pvalue(np.round(np.sqrt(a / r)), heights, p) < 1e-10


@pytest.mark.parametrize("sampler", [sample_crop_reference, sample_crop_nvidia])
def test_same_rng_same_box_and_inside(sampler):
    a = _draw(sampler, 500, 375, 500, seed=7)
    b = _draw(sampler, 500, 375, 500, seed=7)
    np.testing.assert_array_equal(a, b)
    top, left, h, w = a.T
    assert (top >= 0).all() and (left >= 0).all() and (h >= 1).all() and (w >= 1).all()
    assert (top + h <= 375).all() and (left + w <= 500).all()


def test_reference_effective_min_area_and_aspect():
    boxes = _draw(sample_crop_reference, 4000, 375, 500)
    _, _, h, w = boxes.T
    frac = h * w / (375 * 500)
    assert frac.min() >= 0.1  # min_object_covered 0.1 rejects smaller crops
    assert frac.max() <= 1.0
    full = (h == 375) & (w == 500)
    r = w[~full] / h[~full]
    assert r.min() >= 0.75 - 0.01 and r.max() <= 1.33 + 0.01
    # TF offsets are uniform in [0, H - h): a crop never touches the far edge unless full
    top, left = boxes[:, 0], boxes[:, 1]
    assert ((top + h < 375) | (h == 375)).all() and ((left + w < 500) | (w == 500)).all()


def test_reference_aspect_is_linear_uniform():
    # square image, area <= 0.5, no coverage constraint: every first attempt is accepted,
    # so w/h (up to rounding) is the raw draw: linear-uniform on [0.75, 1.33]
    boxes = _draw(sample_crop_reference, 3000, 1000, 1000, area=(0.05, 0.5), min_object_covered=0.0)
    r = boxes[:, 3] / boxes[:, 2]
    assert stats.kstest(r, stats.uniform(0.75, 0.58).cdf).pvalue > 1e-3
    assert (
        stats.kstest(np.log(r), stats.uniform(math.log(0.75), math.log(1.33 / 0.75)).cdf).pvalue
        < 1e-6
    )  # and clearly not log-uniform


def test_nvidia_area_uniform_aspect_log_uniform_positions_uniform():
    boxes = _draw(sample_crop_nvidia, 3000, 1000, 1000, area=(0.05, 0.5))
    top, left, h, w = boxes.T.astype(np.float64)
    frac = h * w / 1e6
    # rounding w and h to integers moves the area by < 0.3 %
    assert stats.kstest(frac, stats.uniform(0.05, 0.45).cdf).pvalue > 1e-3
    lr = np.log(w / h)
    lo, hi = math.log(3 / 4), math.log(4 / 3)
    assert stats.kstest(lr, stats.uniform(lo, hi - lo).cdf).pvalue > 1e-3
    assert stats.kstest(w / h, stats.uniform(0.75, 4 / 3 - 0.75).cdf).pvalue < 1e-3
    # DALI anchors are uniform on the inclusive range [0, H - h]
    assert stats.kstest((top + 0.5) / (1000 - h + 1), "uniform").pvalue > 1e-3
    assert stats.kstest((left + 0.5) / (1000 - w + 1), "uniform").pvalue > 1e-3


def test_reference_positions_uniform():
    boxes = _draw(sample_crop_reference, 3000, 1000, 1000, area=(0.05, 0.5), min_object_covered=0.0)
    top, left, h, w = boxes.T.astype(np.float64)
    assert stats.kstest((top + 0.5) / (1000 - h), "uniform").pvalue > 1e-3
    assert stats.kstest((left + 0.5) / (1000 - w), "uniform").pvalue > 1e-3


def test_fallbacks():
    # nothing fits in 10 attempts on a 10x1000 strip: DALI clamps the whole image to 4/3
    rng = np.random.default_rng(0)
    assert sample_crop_nvidia(rng, 10, 1000, attempts=0) == (
        0,
        sample_crop_nvidia(np.random.default_rng(0), 10, 1000, attempts=0)[1],
        10,
        13,
    )
    assert sample_crop_nvidia(np.random.default_rng(0), 1000, 10, attempts=0)[2:] == (13, 10)
    assert sample_crop_nvidia(np.random.default_rng(0), 100, 110, attempts=0) == (0, 0, 100, 110)
    # TF falls back to the whole image
    assert sample_crop_reference(np.random.default_rng(0), 1, 1) == (0, 0, 1, 1)
    assert sample_crop_reference(np.random.default_rng(0), 375, 500, attempts=0) == (0, 0, 375, 500)


def test_random_resized_crop_transform():
    img = photo_like_image(150, 200, 0)
    info = fi.ImageInfo(150, 200, 3, "JPEG")
    t = fi.RandomResizedCrop(64, preset="nvidia")
    p1 = t.sample_params(np.random.default_rng(3), info)
    p2 = t.sample_params(np.random.default_rng(3), img)
    assert p1 == p2 and isinstance(p1, fi.CropParams)
    out = t.apply(img, p1)
    want = ref.resized_crop(img, p1.box, 64)
    assert out.shape == (64, 64, 3) and np.abs(out - want).max() <= 0.5 + 1e-3
    # encoded input: ROI decode fused with the resize (no DCT scaling -> same pixels)
    data = encode_jpeg(img)
    t_exact = fi.RandomResizedCrop(64, preset="nvidia", dct_scale=False)
    np.testing.assert_array_equal(t_exact.apply(data, p1), t_exact.apply(fi.decode(data), p1))
    r = fi.RandomResizedCrop(64, preset="reference")
    assert r.spec.interpolation == "tf_legacy" and not r.spec.antialias and r.attempts == 100
    with pytest.raises(ValueError, match="preset"):
        fi.RandomResizedCrop(64, preset="dali")


def test_compose_and_simple_transforms():
    img = photo_like_image(90, 120, 1)
    pipe = fi.Compose(
        [fi.ResizeShorter(64), fi.CenterCrop(56), fi.RandomFlip(1.0), fi.Normalize(dtype="float32")]
    )
    out = pipe(img, rng=0)
    assert out.shape == (56, 56, 3) and out.dtype == np.float32
    resized = fi.ResizeShorter(64)(img)
    assert resized.shape == (64, 85, 3)
    t, l, h, w = fi.center_crop_box(64, 85, 56)
    want = (
        resized[t : t + h, l : l + w][:, ::-1] - np.array(fi.transforms.IMAGENET_MEAN)
    ) / np.array(fi.transforms.IMAGENET_STD)
    np.testing.assert_allclose(out, want, atol=1e-4)
    params = pipe.sample_params(np.random.default_rng(0), img)
    assert params.params[2] == fi.FlipParams(True)
    assert fi.RandomFlip(0.0).sample_params(np.random.default_rng(0), img) == fi.FlipParams(False)
    with pytest.raises(ValueError):
        fi.RandomFlip(1.5)
    rrc = fi.Compose([fi.RandomResizedCrop(32), fi.RandomFlip()])
    a = rrc(img, rng=5)
    b = rrc(img, rng=5)
    np.testing.assert_array_equal(a, b)
