"""Loader contracts for order="shard_blocks": the same guarantees as the global order
(bit-identical for any thread count, resume at every position, elastic resume exactly
once) plus locality: each rank reads its own few shards at a time."""

import numpy as np
import pytest

from fastload.loader import Loader
from fastload.loader.sampler import plan_epoch, shard_block_order
from fastload.testing.loader import (
    ArrayDataset,
    NoiseTransform,
    assert_batches_equal,
    assert_resumable,
    take_batches,
)

N = 41
SHARD = 4  # rows per pretend shard: 11 shards


def make(**kw):
    kw.setdefault("transform", NoiseTransform())
    kw.setdefault("batch_size", 3)
    kw.setdefault("seed", 11)
    kw.setdefault("num_threads", 2)
    kw.setdefault("order", "shard_blocks")
    kw.setdefault("shard_window", 2)
    return Loader(ArrayDataset(N, shard_size=SHARD), **kw)


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("w,b", [(1, 1), (2, 3), (3, 2), (8, 5)])
def test_order_is_a_permutation_and_pure(seed, w, b):
    shard_of = np.arange(N) // SHARD
    a = shard_block_order(shard_of, seed, 3, world_size=w, batch_size=b, shard_window=2)
    assert sorted(a.tolist()) == list(range(N))
    again = shard_block_order(shard_of, seed, 3, world_size=w, batch_size=b, shard_window=2)
    assert np.array_equal(a, again)
    other_epoch = shard_block_order(shard_of, seed, 4, world_size=w, batch_size=b)
    assert not np.array_equal(a, other_epoch)


def test_ranks_read_disjoint_shards():
    n, rows, w, b = 4000, 50, 4, 8  # 80 shards, 20 per rank
    shard_of = np.arange(n) // rows
    order = shard_block_order(shard_of, 5, 0, world_size=w, batch_size=b, shard_window=4)
    owners = {}
    for r in range(w):
        plan = plan_epoch(n, batch_size=b, world_size=w, rank=r, epoch_end="drop")
        shards = shard_of[order[np.concatenate(plan.positions)]]
        for s in set(shards.tolist()):
            owners.setdefault(s, set()).add(r)
        # working set: shards between their first and last use at any point of the stream
        first = {}
        last = {}
        for t, sh in enumerate(shards.tolist()):
            first.setdefault(sh, t)
            last[sh] = t
        open_at = np.zeros(len(shards) + 1, dtype=np.int64)
        for sh in first:
            open_at[first[sh]] += 1
            open_at[last[sh] + 1] -= 1
        assert np.cumsum(open_at).max() <= 4 + 2
    # streams are cut from one shuffled sequence of shards: neighbours share at most the
    # shard at their common boundary
    shared = sum(len(v) > 1 for v in owners.values())
    assert shared <= w - 1, owners
    for r in range(w):
        assert sum(r in v for v in owners.values()) <= n // rows // w + 2


def test_bit_identical_for_any_thread_count():
    ref = take_batches(make(num_threads=1), 12)
    for threads in (0, 2, 3):
        assert_batches_equal(take_batches(make(num_threads=threads, prefetch=3), 12), ref)


def test_bit_identical_with_process_workers():
    ref = take_batches(make(num_threads=1), 6)
    loader = make(num_threads=2, workers="process")
    try:
        assert_batches_equal(take_batches(loader, 6), ref)
    finally:
        loader.close()


@pytest.mark.parametrize("epoch_end", ["pad", "drop", "partial"])
def test_resume_at_every_position(epoch_end):
    per_epoch = len(make(epoch_end=epoch_end))
    assert_resumable(lambda: make(epoch_end=epoch_end), per_epoch + 2)


def test_state_is_small_and_checked():
    loader = make()
    state = loader.state_dict()
    assert state["order"] == "shard_blocks" and state["order_layout"] == [1, 3]
    assert len(repr(state)) < 400
    with pytest.raises(ValueError, match="order"):
        Loader(ArrayDataset(N), batch_size=3).load_state_dict(state)


def run_ranks(world_size, start_state, epoch_end, k=None, batch_size=2):
    out, states = [], []
    for rank in range(world_size):
        loader = make(rank=rank, world_size=world_size, epoch_end=epoch_end, batch_size=batch_size)
        if start_state is not None:
            loader.load_state_dict(start_state)
        it = iter(loader)
        out.append([next(it) for _ in range(k)] if k is not None else list(it))
        states.append(loader.state_dict())
    return out, states


@pytest.mark.parametrize("epoch_end", ["pad", "partial"])
@pytest.mark.parametrize("w_before,w_after", [(2, 3), (3, 1)])
def test_elastic_resume_exactly_once(w_before, w_after, epoch_end):
    per_rank = len(make(world_size=w_before, batch_size=2, epoch_end=epoch_end))
    ref = {}
    for rank in run_ranks(1, None, epoch_end, batch_size=4)[0]:
        for b in rank:
            for j, i in enumerate(b["_index"]):
                ref[int(i)] = b["x"][j]
    for k in range(0, per_rank, 2):
        before, states = run_ranks(w_before, None, epoch_end, k=k)
        assert all(s == states[0] for s in states)
        after, after_states = run_ranks(w_after, states[0], epoch_end)
        batches = [b for rank in before + after for b in rank]
        valid = np.concatenate([b["_index"][b["_valid"]] for b in batches])
        assert sorted(valid.tolist()) == list(range(N)), (k, valid)
        for b in batches:  # content depends only on (seed, epoch, index)
            for j, i in enumerate(b["_index"]):
                assert np.array_equal(b["x"][j], ref[int(i)])
        # the next epoch is cut for the new world size again
        assert after_states[0]["epoch"] == 1 and after_states[0]["order_layout"] == [w_after, 2]


def test_elastic_resume_drop_never_repeats():
    per_rank = len(make(world_size=2, batch_size=2, epoch_end="drop"))
    for k in range(per_rank):
        before, states = run_ranks(2, None, "drop", k=k)
        after, _ = run_ranks(3, states[0], "drop")
        seen = np.concatenate([b["_index"] for rank in before + after for b in rank])
        assert len(set(seen.tolist())) == len(seen)
        assert N - len(seen) < 2 * 3


def test_bad_arguments():
    with pytest.raises(ValueError, match="order must be"):
        make(order="random")
    with pytest.raises(ValueError, match="shuffle=True"):
        make(shuffle=False)
    with pytest.raises(ValueError, match="shard_window"):
        make(shard_window=0)

    class NoShards:
        def __len__(self):
            return 5

        def __getitem__(self, i):
            return {"x": i}

    with pytest.raises(ValueError, match="shard_index"):
        Loader(NoShards(), batch_size=2, order="shard_blocks")
