"""pytest-benchmark suite for the Loader (run: ``pytest benchmarks/bench_loader.py
--benchmark-enable``). Side-by-side ratios against the tight loop and torch DataLoader
are in ``compare.py loader``."""

import numpy as np
import pytest

from fastload.loader import Collate, Loader
from fastload.loader.sampler import epoch_order, plan_epoch
from fastload.testing.loader import ArrayDataset, BusyTransform

BATCH = 32
SIZE = 1024


@pytest.fixture(scope="module")
def busy():
    return BusyTransform.calibrated(1e-3, size=SIZE)


@pytest.fixture(scope="module")
def data():
    return ArrayDataset(640, shape=(SIZE,))


def _epoch(ds, transform, threads):
    n = 0
    for batch in Loader(
        ds, transform=transform, batch_size=BATCH, num_threads=threads, epoch_end="drop"
    ):
        n += len(batch["_index"])
    return n


@pytest.mark.parametrize("threads", [1, 2])
def test_loader_epoch_busy_transform(benchmark, busy, data, threads):
    benchmark.extra_info["items"] = len(data)
    assert benchmark(_epoch, data, busy, threads) == len(data)


def test_loader_overhead_trivial_transform(benchmark, data):
    trivial = BusyTransform(size=SIZE, iters=1)
    assert benchmark(_epoch, data, trivial, 1) == len(data)


def test_collate_stack(benchmark):
    samples = [{"x": np.ones((3, 64, 64), np.float32), "label": i} for i in range(BATCH)]
    batch = benchmark(Collate(), samples)
    assert batch["x"].shape == (BATCH, 3, 64, 64)


def test_collate_ragged(benchmark):
    samples = [{"feat": np.ones((80, 100 + 7 * i), np.float32)} for i in range(BATCH)]
    batch = benchmark(Collate(pad={"feat": -1}), samples)
    assert batch["feat_length"][-1] == 100 + 7 * (BATCH - 1)


def test_epoch_plan_imagenet_size(benchmark):
    def plan():
        order = epoch_order(1_281_167, 0, 3)
        return order, plan_epoch(len(order), batch_size=256, world_size=8, rank=3)

    order, p = benchmark(plan)
    assert len(p) == -(-1_281_167 // 2048)
