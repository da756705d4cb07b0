"""The Loader against its plain serial twin (fastload.testing.reference.loader)."""

import numpy as np
import pytest

from fastload.loader import Loader
from fastload.testing.loader import ArrayDataset, NoiseTransform, SpecTransform
from fastload.testing.reference.loader import loader_batches


@pytest.mark.parametrize("epoch_end", ["pad", "drop", "partial"])
@pytest.mark.parametrize("world_size,rank", [(1, 0), (3, 1), (3, 2), (4, 0)])
@pytest.mark.parametrize("transform", [NoiseTransform(), SpecTransform()])
def test_matches_reference(epoch_end, world_size, rank, transform):
    ds = ArrayDataset(22)
    loader = Loader(
        ds,
        transform=transform,
        batch_size=3,
        seed=6,
        rank=rank,
        world_size=world_size,
        epoch_end=epoch_end,
        num_threads=2,
    )
    for epoch in range(2):
        got = list(loader)
        ref = loader_batches(
            ds,
            transform=transform,
            batch_size=3,
            seed=6,
            epoch=epoch,
            rank=rank,
            world_size=world_size,
            epoch_end=epoch_end,
        )
        assert len(got) == len(ref) == len(loader)
        for a, b in zip(got, ref, strict=False):
            assert a.keys() == b.keys()
            for k in a:
                assert a[k].dtype == b[k].dtype and np.array_equal(a[k], b[k]), k  # exact


def test_matches_reference_after_resume():
    ds = ArrayDataset(17)
    loader = Loader(
        ds, transform=NoiseTransform(), batch_size=2, seed=1, world_size=2, rank=1, num_threads=2
    )
    loader.load_state_dict({**loader.state_dict(), "epoch": 3, "position": 5})
    ref = loader_batches(
        ds, transform=NoiseTransform(), batch_size=2, seed=1, epoch=3, rank=1, world_size=2, start=5
    )
    got = list(loader)
    assert len(got) == len(ref)
    assert all(np.array_equal(a[k], b[k]) for a, b in zip(got, ref, strict=False) for k in a)
