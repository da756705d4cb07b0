"""The pipelines are ``fastload.transforms.Transform``s: one calling convention, presets
as data, replayable parameters, and variants built from the same parts."""

import dataclasses

import numpy as np
import pytest

import fastload.image as fi
from fastload import Loader
from fastload.image.transforms import (
    PRESETS,
    CropParams,
    FlipParams,
    ImagePreset,
    RandomFlip,
    RandomResizedCrop,
)
from fastload.pipelines import (
    resnet50_eval,
    resnet50_train,
    rnnt_eval,
    rnnt_train,
    unet3d_eval,
    unet3d_train,
)
from fastload.testing.data.imagenet import encode_jpeg, photo_like_image
from fastload.testing.data.librispeech import encode_audio, speech_like
from fastload.transforms import Transform


@pytest.fixture(scope="module")
def jpeg():
    return encode_jpeg(photo_like_image(300, 400, 0), 90)


@pytest.fixture(scope="module")
def volume():
    rng = np.random.default_rng(3)
    img = rng.normal(size=(1, 130, 132, 134)).astype(np.float32)
    lab = (rng.random((1, 130, 132, 134)) < 0.01).astype(np.uint8)
    return {"image": img, "label": lab, "case": 1}


def _samples(jpeg, volume):
    flac = encode_audio(speech_like(1.0, 3), 16000)
    image = {"image": jpeg, "label": 4}
    audio = {"audio": flac, "utterance": "1-2-3"}
    return [
        (resnet50_train(), image),
        (resnet50_train(preset="reference"), image),
        (resnet50_eval(), image),
        (rnnt_train(), audio),
        (rnnt_train(preset="nvidia"), dict(audio, speed=1.1)),
        (rnnt_eval(), audio),
        (unet3d_train(patch=(64, 64, 64)), volume),
        (unet3d_eval(roi=64), volume),
    ]


def _equal(a, b):
    assert a.keys() == b.keys()
    for k in a:
        if isinstance(a[k], np.ndarray):
            np.testing.assert_array_equal(a[k], b[k])
        else:
            assert a[k] == b[k]


def test_every_pipeline_is_a_transform_and_replays(jpeg, volume):
    """``t(sample, rng)`` is ``t.apply(sample, t.sample_params(rng, t.describe(sample)))``:
    the parameters drawn before the sample is touched replay it exactly."""
    for t, sample in _samples(jpeg, volume):
        assert isinstance(t, Transform), t
        got = t(sample, np.random.default_rng(7))
        params = t.sample_params(np.random.default_rng(7), t.describe(sample))
        _equal(got, t.apply(sample, params))
        _equal(got, t(sample, np.random.default_rng(7)))  # the input was not modified


def test_output_spec_is_part_of_the_protocol(jpeg, volume):
    fixed = {type(t).__name__ for t, _ in _samples(jpeg, volume) if t.output_spec() is not None}
    assert fixed == {"ResNet50Train", "ResNet50Eval", "Unet3dTrain"}


def test_one_image_preset_table():
    t = resnet50_train(preset="reference")
    assert t.preset_values is PRESETS["reference"]
    assert t.crop.ratio == PRESETS["reference"].ratio
    assert t.crop.attempts == PRESETS["reference"].attempts
    with pytest.raises(ValueError, match="preset"):
        resnet50_train(preset="dali")
    with pytest.raises(ValueError, match="sampler"):
        dataclasses.replace(PRESETS["nvidia"], sampler="pil")


def test_variant_preset_is_data(jpeg):
    """A preset variant is a replaced dataclass, accepted wherever a name is."""
    wide = dataclasses.replace(PRESETS["nvidia"], ratio=(0.5, 2.0), flip_p=0.0)
    assert isinstance(wide, ImagePreset)
    t = resnet50_train(preset=wide, dtype="uint8", layout="HWC")
    info = fi.read_header(jpeg)
    ratios = []
    for seed in range(200):
        p = t.sample_params(np.random.default_rng(seed), info)
        assert not p.flip
        ratios.append(p.width / p.height)
    assert min(ratios) < 0.7 and max(ratios) > 1.5  # outside the nvidia 3/4..4/3
    # the same draws as the crop transform built from the same preset
    crop = RandomResizedCrop(224, preset=wide)
    for seed in range(20):
        p = t.sample_params(np.random.default_rng(seed), info)
        assert crop.sample_params(np.random.default_rng(seed), info).box == (
            p.top,
            p.left,
            p.height,
            p.width,
        )


class MyTrain(Transform):
    """A user's ResNet-50 variant built from the public parts: the preset's crop sampler
    and fused decode, a flip, and an extra key, written against the protocol only."""

    def __init__(self, preset, flip_p):
        self.crop = RandomResizedCrop(
            224,
            preset=preset,
            dtype="float32",
            layout="CHW",
            mean=PRESETS[preset].mean,
            std=PRESETS[preset].std,
            dct_scale=PRESETS[preset].dct_scale,
        )
        self.flip = RandomFlip(flip_p)

    def describe(self, sample):
        return fi.read_header(sample["image"])

    def sample_params(self, rng, info):
        return self.crop.sample_params(rng, info), self.flip.sample_params(rng, info)

    def apply(self, sample, params, out=None):
        crop, flip = params
        dest = None if out is None else out["image"]
        image = self.crop.apply(sample["image"], crop, flip=flip.flip, out=dest)
        return {**sample, "image": image, "area": crop.height * crop.width}

    def output_spec(self):
        return {"image": (self.crop.spec.shape, self.crop.spec.np_dtype)}


class Images:
    def __init__(self, jpegs):
        self.jpegs = jpegs

    def __len__(self):
        return len(self.jpegs)

    def __getitem__(self, i):
        return {"image": self.jpegs[i], "label": i}


@pytest.mark.parametrize("preset", ["nvidia", "reference"])
def test_user_variant_from_the_same_parts(preset):
    """With the preset's flip probability the user's composition gives the pipeline's
    tensors bit for bit, through the Loader (out= batch buffers) as well."""
    jpegs = [encode_jpeg(photo_like_image(180 + 20 * k, 240, k), 90) for k in range(6)]
    ds = Images(jpegs)
    mine, theirs = MyTrain(preset, 0.5), resnet50_train(preset=preset)
    for k, seed in enumerate(range(6)):
        a = mine(ds[k], np.random.default_rng(seed))
        b = theirs(ds[k], np.random.default_rng(seed))
        np.testing.assert_array_equal(a["image"], b["image"])
        assert a["area"] > 0
    kw = dict(batch_size=3, shuffle=True, seed=5, num_threads=2)
    for x, y in zip(
        Loader(ds, transform=mine, **kw), Loader(ds, transform=theirs, **kw), strict=True
    ):
        np.testing.assert_array_equal(x["image"], y["image"])
        np.testing.assert_array_equal(x["_index"], y["_index"])
        assert (x["area"] > 0).all() and "area" not in y
    # and a variant that never mirrors differs exactly where the pipeline flipped
    never = MyTrain(preset, 0.0)
    info = fi.read_header(jpegs[0])
    for seed in range(8):
        p = theirs.sample_params(np.random.default_rng(seed), info)
        a = never(ds[0], np.random.default_rng(seed))["image"]
        b = theirs.apply(ds[0], dataclasses.replace(p, flip=False))["image"]
        np.testing.assert_array_equal(a, b)


def test_loader_calls_one_convention():
    """The loader calls ``transform(sample, rng)`` (``out=`` added with an output_spec) and
    nothing else: a callable whose rng is keyword-only is not probed for."""
    calls = []

    def positional(sample, rng):
        calls.append(type(rng).__name__)
        return sample

    def keyword_only(sample, *, rng):
        return sample

    from fastload.testing.loader import ArrayDataset

    ds = ArrayDataset(4)
    list(Loader(ds, transform=positional, batch_size=2, num_threads=0))
    assert calls == ["Generator"] * 4
    with pytest.raises(Exception, match="positional"):
        list(Loader(ds, transform=keyword_only, batch_size=2, num_threads=0))


def test_flip_params_are_the_public_ones(jpeg):
    t = resnet50_train()
    assert isinstance(t.flip.sample_params(np.random.default_rng(0), None), FlipParams)
    assert isinstance(
        t.crop.sample_params(np.random.default_rng(0), fi.read_header(jpeg)), CropParams
    )


def test_audio_and_volume_presets_are_data(volume):
    from fastload.pipelines import rnnt, unet3d

    assert rnnt_train(preset="nvidia").spec_augment.preset == rnnt.PRESETS["nvidia"].spec_augment
    # a variant: the reference chain, but honouring pre-drawn speed factors
    variant = dataclasses.replace(rnnt.PRESETS["reference"], speed_from_sample=True)
    flac = encode_audio(speech_like(1.0, 3), 16000)
    t = rnnt_train(preset=variant)
    assert t.sample_params(np.random.default_rng(0), {"audio": flac, "speed": 1.1}).speed == 1.1
    plain = rnnt_train().sample_params(np.random.default_rng(0), {"audio": flac, "speed": 1.1})
    assert plain.speed != 1.1
    with pytest.raises(ValueError, match="preset"):
        rnnt_train(preset="dali")
    # the volume table: a variant that never flips
    still = dataclasses.replace(unet3d.PRESETS["nvidia"], flip_p=0.0)
    t = unet3d_train(preset=still, patch=(64, 64, 64))
    for seed in range(20):
        assert not any(t.sample_params(np.random.default_rng(seed), volume).flip.axes)
    assert unet3d_train().flip.p == unet3d.PRESETS["reference"].flip_p == 1 / 3
    with pytest.raises(ValueError, match="preset"):
        unet3d_train(preset="dali")
