"""``sample_crop_nvidia`` against DALI's own crop-window generator (``fn.random_crop_generator``,
the ``RandomCropGenerator`` behind ``decoders.image_random_crop`` in NVIDIA's ResNet-50
submission), run by DALI 2.4 on the CPU. DALI's draws come from its own RNG, so the boxes
are compared as distributions (two-sample Kolmogorov-Smirnov, p > 1e-3 at 4000 boxes a
side; a linear-uniform aspect instead gives p ~ 1e-7, see the last test), the inclusive
anchor range by how often a crop touches the far edge, and, where the generator is
deterministic (nothing fits: the clamped whole image), box for box."""

import math

import numpy as np
import pytest
from scipy import stats

from fastload.image.transforms import sample_crop_nvidia

try:
    from nvidia.dali import fn, types

    from ._dali import run_cpu
except ImportError:  # its group is skipped without it (tests/conftest.py)
    fn = types = run_cpu = None

pytestmark = pytest.mark.dali

N = 4000
AREA = (0.08, 1.0)
RATIO = (3 / 4, 4 / 3)


def dali_boxes(height, width, n=N, area=AREA, ratio=RATIO, seed=1):
    """(top, left, h, w) rows from DALI's generator for an ``height x width`` image."""

    def graph(shape):
        return fn.random_crop_generator(
            shape, random_area=list(area), random_aspect_ratio=list(ratio), seed=seed
        )

    shapes = [np.array([height, width, 3], dtype=np.int64)] * n
    anchors, sizes = run_cpu(graph, shapes)
    return np.array([[*a[:2], *s[:2]] for a, s in zip(anchors, sizes, strict=True)], dtype=np.int64)


def ours(height, width, n=N, area=AREA, ratio=RATIO, seed=0):
    rng = np.random.default_rng(seed)
    return np.array(
        [sample_crop_nvidia(rng, height, width, area=area, ratio=ratio) for _ in range(n)],
        dtype=np.int64,
    )


def ks(a, b):
    return stats.ks_2samp(a, b).pvalue


@pytest.mark.parametrize("shape", [(375, 500), (500, 375), (1000, 1000)])
def test_box_laws_match_dali(shape):
    H, W = shape
    a, d = ours(H, W), dali_boxes(H, W)
    for boxes in (a, d):
        top, left, h, w = boxes.T
        assert (top >= 0).all() and (left >= 0).all() and (h >= 1).all() and (w >= 1).all()
        assert (top + h <= H).all() and (left + w <= W).all()
    (ta, la, ha, wa), (td, ld, hd, wd) = a.T.astype(float), d.T.astype(float)
    assert ks(ha * wa, hd * wd) > 1e-3  # area (uniform fraction, up to integer rounding)
    assert ks(np.log(wa / ha), np.log(wd / hd)) > 1e-3  # aspect: log-uniform
    # anchors: uniform on the inclusive [0, H - h], seen relative to the free range
    assert ks((ta + 0.5) / (H - ha + 1), (td + 0.5) / (H - hd + 1)) > 1e-3
    assert ks((la + 0.5) / (W - wa + 1), (ld + 0.5) / (W - wd + 1)) > 1e-3
    # inclusive range: a crop shorter than the image touches its far edge as often as DALI's
    # do (an exclusive [0, H - h) range, as TF's, would never touch it)
    touch = [
        [int(((t + h == H) & (h < H)).sum()), int((h < H).sum())] for t, h in ((ta, ha), (td, hd))
    ]
    assert touch[1][0] > 20
    table = [[k, n - k] for k, n in touch]
    assert stats.chi2_contingency(table).pvalue > 1e-3


def test_fallback_box_equals_dali():
    # area >= 8 % of a 10 x 1000 strip needs h >= 24 at aspect <= 4/3: no attempt fits,
    # both clamp the whole image to the aspect range: h = 10, w = round(10 * 4/3) = 13
    for shape in [(10, 1000), (1000, 10)]:
        a, d = ours(*shape, n=200), dali_boxes(*shape, n=200)
        assert {tuple(b[2:]) for b in d} == {tuple(b[2:]) for b in a}
        assert {tuple(b[2:]) for b in a} == ({(10, 13)} if shape[0] == 10 else {(13, 10)})
        long = 1 if shape[0] == 10 else 0  # anchors along the long side: uniform, inclusive
        assert d[:, long].min() >= 0 and d[:, long].max() <= 1000 - 13
        assert ks(a[:, long], d[:, long]) > 1e-3


def test_aspect_law_is_not_linear_uniform():
    """The check above has the power to see a wrong aspect law: DALI's log-aspects are
    far from those of a linear-uniform aspect on the same range."""
    d = dali_boxes(1000, 1000, area=(0.05, 0.5))
    lin = np.random.default_rng(5).uniform(*RATIO, N)
    assert ks(np.log(d[:, 3] / d[:, 2]), np.log(lin)) < 1e-6
    assert math.isclose(np.log(d[:, 3] / d[:, 2]).mean(), 0.0, abs_tol=0.01)
