"""fastload._rng.sample_rng: the loader's per-sample generator is exactly NumPy's
``Generator(PCG64(SeedSequence([seed, epoch, index])))``, built through a compiled hash."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fastload import _rng, _rng_cy
from fastload._rng import sample_rng

seed_state = _rng_cy.seed_state

WORD = st.integers(min_value=0, max_value=2**32 - 1)


def _numpy(seed, epoch, index):
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence([seed, epoch, index])))


def test_kernel_path_is_active():
    assert _rng._seed_kernel() is seed_state  # the first-use check against NumPy passed


@settings(max_examples=300, deadline=None)
@given(WORD, WORD, WORD)
def test_seed_state_matches_numpy(a, b, c):
    want = np.random.SeedSequence([a, b, c]).generate_state(4, np.uint64)
    np.testing.assert_array_equal(seed_state(a, b, c), want)


@settings(max_examples=100, deadline=None)
@given(WORD, WORD, WORD)
def test_same_stream_and_state_as_numpy(seed, epoch, index):
    ours, ref = sample_rng(seed, epoch, index), _numpy(seed, epoch, index)
    assert ours.bit_generator.state == ref.bit_generator.state
    np.testing.assert_array_equal(ours.random(5), ref.random(5))


@pytest.mark.parametrize("args", [(2**32, 0, 1), (0, 2**40, 3), (7, 1, 2**63), (np.int64(5), 1, 2)])
def test_large_or_numpy_ints_take_numpy_path_with_same_result(args):
    ours, ref = sample_rng(*args), _numpy(*(int(a) for a in args))
    assert ours.bit_generator.state == ref.bit_generator.state


def test_spawn_and_seed_seq_attributes_behave_like_numpy():
    ours, ref = sample_rng(3, 1, 4), _numpy(3, 1, 4)
    assert ours.bit_generator.seed_seq.entropy == ref.bit_generator.seed_seq.entropy == [3, 1, 4]
    for a, b in zip(ours.spawn(3), ref.spawn(3), strict=True):
        np.testing.assert_array_equal(a.random(4), b.random(4))
    # a second spawn continues the child numbering, as NumPy's does
    np.testing.assert_array_equal(ours.spawn(1)[0].random(2), ref.spawn(1)[0].random(2))
    np.testing.assert_array_equal(
        ours.bit_generator.seed_seq.generate_state(3), ref.bit_generator.seed_seq.generate_state(3)
    )


def test_negative_arguments_raise_like_numpy():
    with pytest.raises(ValueError):
        sample_rng(-1, 0, 0)


def test_generator_pickles_and_copies_like_numpy():
    import copy
    import pickle

    ours, ref = sample_rng(9, 8, 7), _numpy(9, 8, 7)
    ours.random(), ref.random()
    for clone in (pickle.loads(pickle.dumps(ours)), copy.deepcopy(ours)):
        assert clone.bit_generator.state == ref.bit_generator.state
        assert clone.bit_generator.seed_seq.entropy == [9, 8, 7]
        np.testing.assert_array_equal(clone.random(3), copy.deepcopy(ref).random(3))
