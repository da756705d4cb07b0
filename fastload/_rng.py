"""Random-number conventions (Scientific Python SPEC 7).

Every stochastic API takes ``rng: int | numpy.random.Generator | None``. The loader gives
sample *i* of epoch *e* its own generator, so results never depend on thread count or
scheduling.
"""

import numpy as np

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


def sample_rng(seed, epoch, index):
    """Generator for sample ``index`` of ``epoch``: ``SeedSequence([seed, epoch, index])``."""
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence([seed, epoch, index])))
