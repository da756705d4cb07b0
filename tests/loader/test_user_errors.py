"""Mistakes a user makes with the loader and the pipelines get messages that say what to do."""

import numpy as np
import pytest

from fastload.errors import SchemaError
from fastload.loader import Loader
from fastload.testing.loader import ArrayDataset


@pytest.mark.parametrize(
    "kwargs",
    [
        {"batch_size": "8"},
        {"batch_size": 8.0},
        {"batch_size": True},
        {"batch_size": 8, "num_threads": "2"},
        {"batch_size": 8, "seed": 1.5},
        {"batch_size": 8, "world_size": "2"},
    ],
)
def test_non_integer_arguments_are_refused(kwargs):
    name = next(k for k, v in kwargs.items() if type(v) is not int)
    with pytest.raises(TypeError, match=f"{name} must be an integer"):
        Loader(ArrayDataset(10), **kwargs)


def test_numpy_integers_are_integers():
    assert Loader(ArrayDataset(10), batch_size=np.int64(4)).batch_size == 4


def test_load_state_dict_names_the_missing_keys():
    loader = Loader(ArrayDataset(10), batch_size=2)
    with pytest.raises(ValueError, match="missing 'version', 'seed', 'position'") as info:
        loader.load_state_dict({"epoch": 1})
    assert "it has 'epoch'" in str(info.value)
    with pytest.raises(TypeError, match="state_dict"):
        loader.load_state_dict([1])
    loader.load_state_dict(Loader(ArrayDataset(10), batch_size=4).state_dict())  # still fine


@pytest.mark.torch
def test_to_torch_on_cuda_without_cuda_says_so():
    import torch

    from fastload.torch import to_torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")  # the message is for machines without it
    with pytest.raises(RuntimeError, match="CUDA is not available"):
        to_torch(Loader(ArrayDataset(4), batch_size=2), device="cuda")


@pytest.mark.parametrize("name", ["resnet50_train", "rnnt_train", "unet3d_train"])
def test_a_pipeline_reading_a_missing_key_lists_the_sample_keys(name):
    from fastload import pipelines

    transform = getattr(pipelines, name)()
    sample = {"img": b"\xff\xd8", "seg": np.zeros((4, 4, 4), np.uint8), "case": "c"}
    with pytest.raises(SchemaError, match=r"no '\w+' key \(its keys: 'img', 'seg', 'case'\)"):
        transform(sample, np.random.default_rng(0))
