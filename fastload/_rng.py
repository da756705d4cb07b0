"""Random-number conventions (Scientific Python SPEC 7).

Every stochastic API takes ``rng: int | numpy.random.Generator | None``. The loader gives
sample *i* of epoch *e* its own generator, so results never depend on thread count or
scheduling.
"""

import numpy as np
from numpy.random.bit_generator import ISpawnableSeedSequence

__all__ = ["as_generator", "sample_rng"]


def as_generator(rng=None):
    """Return a ``numpy.random.Generator`` from an int seed, a Generator, or None."""
    if isinstance(rng, np.random.Generator):
        return rng
    if rng is None or isinstance(rng, (int, np.integer, np.random.SeedSequence)):
        return np.random.default_rng(rng)
    raise TypeError(
        f"rng must be an int, a numpy.random.Generator or None, not {type(rng).__name__}"
    )


_WORD = 1 << 32


class _SampleSeed(ISpawnableSeedSequence):
    """``SeedSequence([seed, epoch, index])`` whose PCG64 words were hashed by a kernel.

    PCG64 asks for ``generate_state(4, uint64)`` once; anything else (``spawn``,
    ``entropy``, other sizes, pickling) goes to a real ``SeedSequence`` made on first use.
    """

    __slots__ = ("_words", "_state", "_real")

    def __init__(self, words, state):
        self._words = words
        self._state = state
        self._real = None

    def _seq(self):
        if self._real is None:
            self._real = np.random.SeedSequence(list(self._words))
        return self._real

    def generate_state(self, n_words, dtype=np.uint32):
        if n_words == 4 and np.dtype(dtype) == np.uint64:
            return self._state.copy()
        return self._seq().generate_state(n_words, dtype)

    def spawn(self, n_children):
        return self._seq().spawn(n_children)

    def __reduce__(self):  # pickles (and copies) as the real SeedSequence
        return self._seq().__reduce__()

    entropy = property(lambda self: self._seq().entropy)
    spawn_key = property(lambda self: self._seq().spawn_key)
    pool_size = property(lambda self: self._seq().pool_size)
    n_children_spawned = property(lambda self: self._seq().n_children_spawned)
    pool = property(lambda self: self._seq().pool)
    state = property(lambda self: self._seq().state)


def _numpy_sample_rng(seed, epoch, index):
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence([seed, epoch, index])))


_kernel = None  # fastload._rng_cy.seed_state once checked; False: use NumPy


def _seed_kernel():
    """The compiled seeding kernel, checked against NumPy on first use; False if it is
    missing (a build without it) or disagrees."""
    global _kernel
    if _kernel is None:
        try:
            from fastload._rng_cy import seed_state
        except ImportError:  # pragma: no cover - depends on the build
            _kernel = False
            return _kernel
        cases = [(0, 0, 0), (1, 2, 3), (_WORD - 1, 7, _WORD - 1), (12345, 0, 999_999)]
        ok = all(
            np.array_equal(
                seed_state(*w), np.random.SeedSequence(list(w)).generate_state(4, np.uint64)
            )
            for w in cases
        )
        _kernel = seed_state if ok else False
    return _kernel


def sample_rng(seed, epoch, index):
    """Generator for sample ``index`` of ``epoch``: PCG64 seeded by
    ``SeedSequence([seed, epoch, index])`` (the same stream NumPy gives; about 2 us
    instead of 10, which the loader pays per sample with the GIL held)."""
    kernel = _kernel if _kernel is not None else _seed_kernel()
    if kernel and 0 <= seed < _WORD and 0 <= epoch < _WORD and 0 <= index < _WORD:
        words = (int(seed), int(epoch), int(index))
        return np.random.Generator(np.random.PCG64(_SampleSeed(words, kernel(*words))))
    return _numpy_sample_rng(seed, epoch, index)
