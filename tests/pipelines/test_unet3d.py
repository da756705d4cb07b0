import threading

import numpy as np
import pytest

from fastload.pipelines import unet3d_eval, unet3d_preprocess, unet3d_train
from fastload.testing.data.kits19 import make_kits19, phantom_case
from fastload.testing.reference import volume as ref
from fastload.volume import foreground_boxes, read


@pytest.fixture(scope="module")
def case():
    img, lab = phantom_case((40, 120, 120), (3.0, 0.8, 0.8), np.random.default_rng(0))
    return img, lab, (3.0, 0.8, 0.8)


@pytest.fixture(scope="module")
def pre(case):
    return unet3d_preprocess(*case)


@pytest.mark.parametrize("dtype", [np.int16, np.float32, np.float64])
def test_preprocess_matches_twin(case, dtype):
    img, lab, sp = case
    gi, gl = unet3d_preprocess(img.astype(dtype), lab, sp)
    wi, wl = ref.reference_preprocess(img, lab, sp)
    assert (
        gi.shape == wi.shape == (1, 128, 128, 128)
        and gi.dtype == np.float32
        and gl.dtype == np.uint8
    )
    # resampled shape (75, 80, 80) padded to 128 with the edge mode
    np.testing.assert_allclose(gi, wi, rtol=0, atol=1e-5)  # 1e-7 relative before the /76.9
    np.testing.assert_array_equal(gl, wl)
    assert set(np.unique(gl)) == {0, 1, 2}


def test_preprocess_into_recycled_pool_buffers_is_identical(case, pre):
    """The outputs come from the volume output pool: buffers left full of garbage by an
    earlier user must not show through (every voxel, padding included, is written)."""
    from fastload.volume import output_pool

    for dtype, fill in ((np.float32, np.nan), (np.uint8, 255)):
        junk = output_pool.empty((1, 128, 128, 128), dtype)
        junk.fill(fill)
        del junk  # back in the pool, dirty
    gi, gl = unet3d_preprocess(*case)
    np.testing.assert_array_equal(gi, pre[0])
    np.testing.assert_array_equal(gl, pre[1])


def test_preprocess_no_resample_and_channel_axis(case):
    img, lab, _ = case
    gi, gl = unet3d_preprocess(img[None], lab[None], (1.6, 1.2, 1.2))
    wi, wl = ref.pad_to_min(ref.clip_normalize(img)[None]), ref.pad_to_min(lab[None])
    np.testing.assert_array_equal(gi, wi)
    np.testing.assert_array_equal(gl, wl)


def test_preprocess_large_case_not_padded():
    img, lab = phantom_case((90, 200, 200), (2.5, 0.8, 0.8), np.random.default_rng(1))
    gi, gl = unet3d_preprocess(img, lab, (2.5, 0.8, 0.8), threads=2)
    assert gi.shape == (1, 140, 133, 133)
    wi, wl = ref.reference_preprocess(img, lab, (2.5, 0.8, 0.8))
    np.testing.assert_allclose(gi, wi, atol=1e-5)
    np.testing.assert_array_equal(gl, wl)


def test_preprocess_bad_input(case):
    img, lab, sp = case
    with pytest.raises(ValueError):
        unet3d_preprocess(img, lab[:-1], sp)
    with pytest.raises(ValueError):
        unet3d_preprocess(img[0], lab[0], sp)
    with pytest.raises(ValueError):
        unet3d_preprocess(img, lab, (0, 1, 1))


@pytest.mark.parametrize("dtype", [np.uint32, np.int64, np.uint64, np.float16])
@pytest.mark.parametrize("spacing", [(3.0, 0.8, 0.8), (1.6, 1.2, 1.2)])
def test_preprocess_wide_integer_dtypes(case, dtype, spacing):
    """uint32 / int64 / uint64 volumes (what volume.read returns for NIfTI datatypes 768,
    1024, 1280) and float16 give what the same HU as int32 give, resampled or not."""
    img, lab, _ = case
    shifted = img.astype(np.int32) + (1024 if dtype in (np.uint32, np.uint64) else 0)
    want_i, want_l = unet3d_preprocess(shifted, lab, spacing)
    if dtype == np.float16:  # float16 holds integers up to 2048 exactly
        shifted = np.clip(shifted, -2048, 2048)
        want_i, want_l = unet3d_preprocess(shifted, lab, spacing)
    got_i, got_l = unet3d_preprocess(shifted.astype(dtype), lab.astype(np.int64), spacing)
    np.testing.assert_array_equal(got_i, want_i)  # float32 holds these HU exactly
    np.testing.assert_array_equal(got_l, want_l)


def test_preprocess_refuses_dtypes_with_a_schema_error(case):
    from fastload.errors import SchemaError

    img, lab, sp = case
    with pytest.raises(SchemaError, match="accepted: int8/16/32/64, uint8/16/32/64"):
        unet3d_preprocess(img.astype(np.complex64), lab, sp)
    with pytest.raises(SchemaError, match="image: dtype bool"):
        unet3d_preprocess(img > 0, lab, sp)
    bad = lab.astype(np.int64)
    bad[0, 0, 0] = 256  # would wrap to 0 as uint8
    with pytest.raises(SchemaError, match=r"label: class ids must lie in \[0, 255\]"):
        unet3d_preprocess(img, bad, sp)
    with pytest.raises(SchemaError, match="label"):
        unet3d_preprocess(img, np.full(lab.shape, np.nan), sp)
    with pytest.raises(ValueError):  # SchemaError is a ValueError too
        unet3d_preprocess(img, -lab.astype(np.int16) - 1, sp)


def ro(a):
    a = a.copy()
    a.setflags(write=False)
    return a


def test_train_output_and_replay(pre):
    img, lab = ro(pre[0]), ro(pre[1])
    t = unet3d_train()
    spec = t.output_spec()
    assert spec == {
        "image": ((1, 128, 128, 128), np.dtype(np.float32)),
        "label": ((1, 128, 128, 128), np.dtype(np.uint8)),
    }
    sample = {"image": img, "label": lab, "case": 7}
    for seed in range(12):
        params = t.sample_params(np.random.default_rng(seed), sample)
        out = t(sample, np.random.default_rng(seed))
        assert (
            out["case"] == 7 and out["image"].dtype == np.float32 and out["label"].dtype == np.uint8
        )
        # replay: crop, flip by hand
        sl = (slice(None),) + params.crop.slices
        flip = tuple(slice(None, None, -1) if f else slice(None) for f in params.flip.axes)
        np.testing.assert_array_equal(out["label"], lab[sl][(slice(None),) + flip])
        want = img[sl][(slice(None),) + flip] * np.float32(params.brightness.factor)
        if params.noise.applied:
            want = want + np.float32(params.noise.sigma) * params.noise.normals((128, 128, 128))
        np.testing.assert_allclose(out["image"], want, rtol=1e-6, atol=1e-6)
        np.testing.assert_array_equal(t.apply(sample, params)["image"], out["image"])


def test_train_writes_into_out_buffers(pre):
    t = unet3d_train(preset="nvidia")
    batch_img = np.zeros((2, 1, 128, 128, 128), np.float32)
    batch_lab = np.zeros((2, 1, 128, 128, 128), np.uint8)
    s = {"image": ro(pre[0]), "label": ro(pre[1])}
    out = t(s, np.random.default_rng(0), out={"image": batch_img[1], "label": batch_lab[1]})
    assert out["image"] is batch_img[1] or np.shares_memory(out["image"], batch_img[1])
    assert np.shares_memory(out["label"], batch_lab[1])
    np.testing.assert_array_equal(out["image"], t(s, np.random.default_rng(0))["image"])
    assert not batch_img[0].any()
    with pytest.raises(ValueError):
        t(s, np.random.default_rng(0), out={"image": np.zeros((1, 64, 64, 64), np.float32)})


def test_train_boxes_cached_same_result_and_dropped(pre):
    t = unet3d_train()
    boxes = foreground_boxes(pre[1])
    for seed in range(10):
        a = t({"image": pre[0], "label": pre[1]}, np.random.default_rng(seed))
        b = t({"image": pre[0], "label": pre[1], "boxes": boxes}, np.random.default_rng(seed))
        assert "boxes" not in b
        np.testing.assert_array_equal(a["image"], b["image"])
        np.testing.assert_array_equal(a["label"], b["label"])


@pytest.mark.parametrize("preset", ["reference", "nvidia"])
def test_train_presets(pre, preset):
    t = unet3d_train(preset=preset)
    rng = np.random.default_rng(0)
    s = {"image": pre[0], "label": pre[1], "boxes": foreground_boxes(pre[1])}
    ps = [t.sample_params(rng, s) for _ in range(3000)]
    f = [p.brightness.factor for p in ps if p.brightness.applied]
    sig = [p.noise.sigma for p in ps if p.noise.applied]
    if preset == "reference":
        assert min(f) >= 1.7 and max(f) <= 2.3
        assert max(sig) <= 0.1 and min(sig) < 0.05
    else:
        assert min(f) >= 0.7 and max(f) <= 1.3
        assert set(sig) == {0.1}
    assert abs(np.mean([p.crop.foreground for p in ps]) - 0.4) < 0.04


def test_train_deterministic_across_threads(pre):
    t = unet3d_train()
    s = {"image": ro(pre[0]), "label": ro(pre[1])}
    want = [t(s, np.random.default_rng(i))["image"] for i in range(8)]
    got = [None] * 8

    def work(k):
        for i in range(k, 8, 2):
            got[i] = t(s, np.random.default_rng(i))["image"]

    ts = [threading.Thread(target=work, args=(k,)) for k in range(2)]
    for th in ts:
        th.start()
    for th in ts:
        th.join()
    for a, b in zip(got, want, strict=False):
        np.testing.assert_array_equal(a, b)


def test_train_rejects_small_volume():
    t = unet3d_train()
    with pytest.raises(ValueError, match="pad it first"):
        t(
            {
                "image": np.zeros((1, 64, 128, 128), np.float32),
                "label": np.zeros((1, 64, 128, 128), np.uint8),
            },
            np.random.default_rng(0),
        )


def test_eval_transform(pre):
    e = unet3d_eval()
    out = e({"image": pre[0], "label": pre[1]})
    assert out["image"].shape == (1, 128, 128, 128)
    assert out["windows"].tolist() == [[0, 0, 0]]
    assert out["paddings"].shape == (3, 2)


def test_kits19_maker_end_to_end(tmp_path):
    root = make_kits19(tmp_path, cases=2, seed=3)
    again = make_kits19(tmp_path / "again", cases=2, seed=3)
    for c in ("case_00000", "case_00001"):
        im = read(root / c / "imaging.nii.gz", layout="nifti")
        lb = read(root / c / "segmentation.nii.gz", layout="nifti")
        assert im.array.dtype == np.int16 and lb.array.dtype == np.uint8
        assert 40 <= im.array.shape[0] <= 80 and 96 <= im.array.shape[1] <= 160
        assert 2.5 <= im.spacing[0] <= 3.5 and im.spacing[1] == im.spacing[2]
        assert set(np.unique(lb.array)) == {0, 1, 2}
        np.testing.assert_array_equal(
            im.array, read(again / c / "imaging.nii.gz", layout="nifti").array
        )
        gi, gl = unet3d_preprocess(im.array, lb.array, im.spacing)
        assert gi.shape[1:] >= (128, 128, 128) and gl.max() == 2
