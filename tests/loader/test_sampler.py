"""Epoch order, rank partition and epoch-end policies (fastload.loader.sampler)."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fastload.loader.sampler import epoch_order, num_batches, plan_epoch

POLICIES = ("pad", "drop", "partial")


def test_order_is_pure_function_of_seed_and_epoch():
    a = epoch_order(100, 3, 7)
    assert np.array_equal(a, epoch_order(100, 3, 7))
    assert np.array_equal(np.sort(a), np.arange(100))
    assert not np.array_equal(a, epoch_order(100, 3, 8))
    assert not np.array_equal(a, epoch_order(100, 4, 7))
    assert np.array_equal(epoch_order(10, 3, 7, shuffle=False), np.arange(10))


@pytest.mark.parametrize("world_size", [1, 2, 3, 5])
@pytest.mark.parametrize("epoch_end", POLICIES)
@pytest.mark.parametrize("n,batch", [(1, 1), (7, 2), (10, 4), (23, 3), (30, 2), (4, 3)])
def test_exact_once_over_ranks(world_size, epoch_end, n, batch):
    plans = [
        plan_epoch(n, batch_size=batch, world_size=world_size, rank=r, epoch_end=epoch_end)
        for r in range(world_size)
    ]
    counts = {len(p) for p in plans}
    assert len(counts) == 1, "all ranks yield the same number of batches"
    assert counts.pop() == num_batches(
        n, batch_size=batch, world_size=world_size, epoch_end=epoch_end
    )
    valid = np.concatenate(
        [pos[pos < n] for p in plans for pos in p.positions] or [np.empty(0, np.int64)]
    )
    everything = np.concatenate(
        [pos for p in plans for pos in p.positions] or [np.empty(0, np.int64)]
    )
    g = batch * world_size
    if epoch_end == "drop":
        assert np.array_equal(np.sort(valid), np.arange(n - n % g))
        assert len(everything) == len(valid)
    else:
        assert np.array_equal(np.sort(valid), np.arange(n)), "every position exactly once"
    for p in plans:
        for pos in p.positions:
            if epoch_end == "pad":
                assert len(pos) == batch
            assert 1 <= len(pos) <= batch
    if epoch_end == "pad":
        assert np.array_equal(everything[everything >= n], np.arange(n, n + (-n) % g))


@pytest.mark.parametrize("world_size,batch,n", [(2, 3, 20), (3, 2, 17), (1, 4, 9)])
def test_global_batch_is_rank_batches_in_order(world_size, batch, n):
    plans = [
        plan_epoch(n, batch_size=batch, world_size=world_size, rank=r, epoch_end="pad")
        for r in range(world_size)
    ]
    dealt = np.concatenate(
        [plans[r].positions[k] for k in range(len(plans[0])) for r in range(world_size)]
    )
    assert np.array_equal(dealt, np.arange(len(dealt)))
    g = batch * world_size
    assert plans[0].consumed_after == tuple(min((k + 1) * g, n) for k in range(len(plans[0])))


@pytest.mark.parametrize("epoch_end", POLICIES)
@pytest.mark.parametrize("w_before,w_after", [(2, 3), (3, 1), (1, 5), (5, 2)])
def test_resume_positions_cover_rest_exactly_once(epoch_end, w_before, w_after):
    n, batch = 29, 2
    for k in range(num_batches(n, batch_size=batch, world_size=w_before, epoch_end=epoch_end)):
        before = [
            plan_epoch(n, batch_size=batch, world_size=w_before, rank=r, epoch_end=epoch_end)
            for r in range(w_before)
        ]
        start = before[0].consumed_after[k]
        seen = np.concatenate([pos for p in before for pos in p.positions[: k + 1]])
        after = [
            plan_epoch(
                n, batch_size=batch, world_size=w_after, rank=r, start=start, epoch_end=epoch_end
            )
            for r in range(w_after)
        ]
        rest = np.concatenate(
            [pos for p in after for pos in p.positions] or [np.empty(0, np.int64)]
        )
        got = np.concatenate([seen[seen < n], rest[rest < n]])
        if epoch_end == "drop":
            assert len(np.unique(got)) == len(got)
        else:
            assert np.array_equal(np.sort(got), np.arange(n))


def test_bad_arguments():
    with pytest.raises(ValueError, match="empty"):
        plan_epoch(0, batch_size=1)
    with pytest.raises(ValueError, match="rank"):
        plan_epoch(5, batch_size=1, world_size=2, rank=2)
    with pytest.raises(ValueError, match="epoch_end"):
        plan_epoch(5, batch_size=1, epoch_end="wrap")
    with pytest.raises(ValueError, match="start"):
        plan_epoch(5, batch_size=1, start=6)


def test_order_independent_of_sample_streams():
    # the order stream must not coincide with SeedSequence([seed, epoch, index]) streams
    a = epoch_order(50, 1, 2)
    b = np.random.Generator(np.random.PCG64(np.random.SeedSequence([1, 2]))).permutation(50)
    assert not np.array_equal(a, b)


@settings(max_examples=300, deadline=None)
@given(
    n=st.integers(1, 60),
    batch=st.integers(1, 7),
    world_size=st.integers(1, 6),
    epoch_end=st.sampled_from(POLICIES),
    data=st.data(),
)
def test_property_any_start_rest_exactly_once(n, batch, world_size, epoch_end, data):
    start = data.draw(st.integers(0, n))
    plans = [
        plan_epoch(
            n, batch_size=batch, world_size=world_size, rank=r, start=start, epoch_end=epoch_end
        )
        for r in range(world_size)
    ]
    assert len({len(p) for p in plans}) == 1
    pos = [q for p in plans for b in p.positions for q in b.tolist()]
    valid = sorted(q for q in pos if q < n)
    g = batch * world_size
    if epoch_end == "drop":
        assert valid == list(range(start, start + (n - start) // g * g))
    else:
        assert valid == list(range(start, n))
    assert all(q >= start for q in pos)
