"""Property tests (hypothesis) of the sampler's partition and resume invariants
(``fastload.loader.sampler``) and of Loader save/resume on top of them."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from fastload.loader.sampler import EPOCH_END_POLICIES, epoch_order, num_batches, plan_epoch

POLICY = st.sampled_from(EPOCH_END_POLICIES)


@st.composite
def setups(draw):
    n = draw(st.integers(1, 300))
    b = draw(st.integers(1, 17))
    w = draw(st.integers(1, 9))
    start = draw(st.integers(0, n))
    return n, b, w, start, draw(POLICY)


def _plans(n, b, w, start, policy):
    return [
        plan_epoch(n, batch_size=b, world_size=w, rank=r, start=start, epoch_end=policy)
        for r in range(w)
    ]


@settings(max_examples=300, deadline=None)
@given(n=st.integers(0, 2000), seed=st.integers(0, 2**63), epoch=st.integers(0, 10**6))
def test_epoch_order_is_a_deterministic_permutation(n, seed, epoch):
    order = epoch_order(n, seed, epoch)
    assert order.dtype == np.int64 and order.shape == (n,)
    np.testing.assert_array_equal(np.sort(order), np.arange(n))
    np.testing.assert_array_equal(order, epoch_order(n, seed, epoch))
    np.testing.assert_array_equal(epoch_order(n, seed, epoch, shuffle=False), np.arange(n))


@settings(max_examples=50, deadline=None)
@given(n=st.integers(50, 500), seed=st.integers(0, 2**32))
def test_epochs_and_seeds_give_different_orders(n, seed):
    a = epoch_order(n, seed, 0)
    assert not np.array_equal(a, epoch_order(n, seed, 1))
    assert not np.array_equal(a, epoch_order(n, seed + 1, 0))


@settings(max_examples=400, deadline=None)
@given(setups())
def test_ranks_partition_the_remaining_positions(setup):
    n, b, w, start, policy = setup
    plans = _plans(n, b, w, start, policy)
    g = b * w
    remaining = n - start
    expected_len = num_batches(n, batch_size=b, world_size=w, start=start, epoch_end=policy)
    # every rank yields the same number of batches
    assert all(len(p) == expected_len for p in plans)
    valid = np.concatenate([q for p in plans for q in p.positions] or [np.zeros(0, np.int64)])
    valid = valid[valid < n]
    # valid positions: exactly [start, end) once over all ranks
    end = start + (remaining // g) * g if policy == "drop" else n
    np.testing.assert_array_equal(np.sort(valid), np.arange(start, end))
    for p in plans:
        for k, pos in enumerate(p.positions):
            assert pos.dtype == np.int64 and len(pos) >= 1
            assert (pos >= start).all()
            last = k == len(p) - 1
            if policy != "partial" or not last or remaining % g == 0:
                assert len(pos) == b  # full batches everywhere but a partial tail
            else:
                assert len(pos) <= -(-(remaining % g) // w)
            if not last or policy == "drop" or remaining % g == 0:
                assert (pos < n).all()  # padding only ever in the tail batch
            else:
                assert (pos < n + g).all()


@settings(max_examples=400, deadline=None)
@given(setups())
def test_consumed_after_is_monotonic_and_ends_at_n(setup):
    n, b, w, start, policy = setup
    g = b * w
    for p in _plans(n, b, w, start, policy):
        c = list(p.consumed_after)
        assert len(c) == len(p)
        assert c == sorted(c) and all(start < x <= n for x in c)
        for k, x in enumerate(c):
            assert x == min(start + (k + 1) * g, n)
        if c and policy != "drop":
            assert c[-1] == n


@settings(max_examples=300, deadline=None)
@given(setups(), st.data())
def test_resume_at_any_batch_reproduces_the_rest(setup, data):
    """Same world size and batch size: resuming at ``consumed_after[k]`` yields exactly
    batches ``k+1 ...`` of the uninterrupted plan, on every rank."""
    n, b, w, start, policy = setup
    plans = _plans(n, b, w, start, policy)
    if not len(plans[0]):
        return
    k = data.draw(st.integers(0, len(plans[0]) - 1))
    cut = plans[0].consumed_after[k]
    resumed = _plans(n, b, w, cut, policy) if cut < n else [None] * w
    for p, q in zip(plans, resumed, strict=True):
        rest = p.positions[k + 1 :]
        if q is None:
            assert not rest or policy == "drop"
            continue
        assert len(q) == len(rest)
        for x, y in zip(rest, q.positions, strict=True):
            np.testing.assert_array_equal(x, y)


@settings(max_examples=300, deadline=None)
@given(setups(), st.integers(1, 9), st.integers(1, 17), st.data())
def test_elastic_resume_delivers_every_remaining_sample_once(setup, w2, b2, data):
    """Resuming with another world size / batch size re-partitions [P, N): nothing lost,
    nothing repeated (pad / partial)."""
    n, b, w, start, policy = setup
    if policy == "drop":
        policy = data.draw(st.sampled_from(["pad", "partial"]))
    plans = _plans(n, b, w, start, policy)
    k = data.draw(st.integers(-1, max(len(plans[0]) - 1, -1)))
    cut = start if k < 0 else plans[0].consumed_after[k]
    before = [q for p in plans for q in p.positions[: k + 1]]
    after = [q for p in _plans(n, b2, w2, cut, policy) for q in p.positions] if cut < n else []
    seen = np.concatenate(before + after + [np.zeros(0, np.int64)])
    seen = seen[seen < n]
    np.testing.assert_array_equal(np.sort(seen), np.arange(start, n))


@settings(max_examples=25, deadline=None)
@given(
    n=st.integers(1, 40),
    b=st.integers(1, 6),
    w=st.integers(1, 3),
    policy=POLICY,
    shuffle=st.booleans(),
    data=st.data(),
)
def test_loader_state_resume_matches_uninterrupted(n, b, w, policy, shuffle, data):
    """Loader level: save the state after any batch, load it into a fresh loader (same
    rank layout), and the remaining batches are identical, samples and rng draws alike."""
    from fastload.loader import Loader
    from fastload.testing.loader import ArrayDataset, NoiseTransform

    ds = ArrayDataset(n, shape=(2,))
    rank = data.draw(st.integers(0, w - 1))
    kw = dict(
        transform=NoiseTransform(),
        batch_size=b,
        shuffle=shuffle,
        seed=5,
        rank=rank,
        world_size=w,
        num_threads=0,
        epoch_end=policy,
    )
    full = Loader(ds, **kw)
    full.set_epoch(1)
    batches, states = [], []
    for batch in full:
        batches.append(batch)
        states.append(full.state_dict())
    if not batches:
        return
    k = data.draw(st.integers(0, len(batches) - 1))
    resumed = Loader(ds, **kw)
    resumed.load_state_dict(states[k])
    rest = list(resumed) if states[k]["epoch"] == 1 else []
    assert len(rest) == len(batches) - k - 1
    for x, y in zip(batches[k + 1 :], rest, strict=True):
        assert x.keys() == y.keys()
        for key in x:
            np.testing.assert_array_equal(np.asarray(x[key]), np.asarray(y[key]))
