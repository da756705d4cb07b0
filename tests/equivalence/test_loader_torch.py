"""fastload Loader vs the peer it replaces, torch.utils.data.DataLoader (+ DistributedSampler)."""

import numpy as np
import pytest

from fastload.loader import Loader
from fastload.testing.loader import ArrayDataset

try:
    import torch
except ImportError:  # its group is skipped without it (tests/conftest.py)
    torch = None

pytestmark = pytest.mark.torch


class TorchView:  # a map-style dataset for torch's DataLoader
    def __init__(self, ds):
        self.ds = ds

    def __len__(self):
        return len(self.ds)

    def __getitem__(self, i):
        return self.ds[i]


@pytest.mark.parametrize("epoch_end,drop_last", [("partial", False), ("drop", True)])
@pytest.mark.parametrize("n,batch", [(10, 4), (12, 4), (7, 3)])
def test_unshuffled_batches_equal_torch_dataloader(epoch_end, drop_last, n, batch):
    ds = ArrayDataset(n)
    ours = list(Loader(ds, batch_size=batch, shuffle=False, epoch_end=epoch_end, num_threads=2))
    theirs = list(
        torch.utils.data.DataLoader(
            TorchView(ds), batch_size=batch, shuffle=False, drop_last=drop_last
        )
    )
    assert len(ours) == len(theirs)
    for a, b in zip(ours, theirs, strict=False):
        # exact equality (tolerance 0): both stack the same float32 / int64 values
        assert np.array_equal(a["x"], b["x"].numpy()) and a["x"].dtype == np.float32
        assert np.array_equal(a["label"], b["label"].numpy()) and a["label"].dtype == np.int64


@pytest.mark.parametrize("world_size", [2, 3])
def test_distributed_coverage_like_distributed_sampler(world_size):
    n = 11
    ds = ArrayDataset(n)
    ours, theirs = [], []
    for rank in range(world_size):
        ours += [
            b
            for b in Loader(
                ds, batch_size=2, shuffle=True, rank=rank, world_size=world_size, num_threads=1
            )
        ]
        sampler = torch.utils.data.DistributedSampler(
            TorchView(ds), num_replicas=world_size, rank=rank, shuffle=True, seed=0
        )
        theirs += list(torch.utils.data.DataLoader(TorchView(ds), batch_size=2, sampler=sampler))
    # both pad by repeating samples so every rank gets the same count; both cover every index
    assert set(np.concatenate([b["_index"] for b in ours]).tolist()) == set(range(n))
    assert set(np.concatenate([b["label"].numpy() for b in theirs]).tolist()) == set(range(n))
    # only fastload can count each sample exactly once (the `_valid` mask)
    valid = np.concatenate([b["_index"][b["_valid"]] for b in ours])
    assert sorted(valid.tolist()) == list(range(n))
