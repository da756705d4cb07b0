"""The one place numba decorators are configured.

Per-sample kernels run inside loader threads: ``nogil=True``, no ``parallel``.
Whole-volume kernels that are not run inside loader threads may use ``parallel=True``
through :func:`parallel_kernel`. ``cache=True`` keys on bytecode, not on decorator flags,
so a serial and a parallel variant must be two separate Python functions.
"""

import numba

__all__ = ["kernel", "parallel_kernel"]

_COMMON = {"cache": True, "nogil": True, "error_model": "numpy", "boundscheck": False}


def kernel(fn=None, **overrides):
    """``@kernel``: ``numba.njit(cache=True, nogil=True, error_model='numpy')``."""
    options = {**_COMMON, **overrides}
    if fn is None:
        return lambda f: numba.njit(**options)(f)
    return numba.njit(**options)(fn)


def parallel_kernel(fn=None, **overrides):
    """``@parallel_kernel``: like :func:`kernel` with ``parallel=True`` (use numba.prange)."""
    return kernel(fn, parallel=True, **overrides)
