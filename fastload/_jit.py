"""The one place numba decorators are configured.

Per-sample kernels run inside loader threads: ``nogil=True``, no ``parallel`` (the
whole-volume kernels that used ``parallel=True`` are C now and split their work over plain
threads). ``cache=True`` keys on bytecode, not on decorator flags, so variants that differ
only in flags must be separate Python functions.
"""

import numba
from numba.core import registry, types

__all__ = ["kernel"]

_COMMON = {"cache": True, "nogil": True, "error_model": "numpy", "boundscheck": False}


class _KernelDispatcher(registry.CPUDispatcher):
    """A kernel called from another kernel with a constant argument (``_get(buf, bp, acc,
    nb, 15)``) is compiled for the argument's plain type, not once per constant
    (``Literal[int](15)``): numba's default compiled the FLAC bit reader (since ported to
    C) 10 times, a third of that decoder's cold compile. LLVM still inlines the callee and
    folds the constant, so the machine code is the same."""

    def get_call_template(self, args, kws):
        args = tuple(types.unliteral(a) for a in args)
        kws = {k: types.unliteral(v) for k, v in kws.items()}
        return super().get_call_template(args, kws)


def _njit(fn, options):
    dispatcher = numba.njit(**options)(fn)
    dispatcher.__class__ = _KernelDispatcher  # same state, the one method above differs
    return dispatcher


def kernel(fn=None, **overrides):
    """``@kernel``: ``numba.njit(cache=True, nogil=True, error_model='numpy')``."""
    options = {**_COMMON, **overrides}
    if fn is None:
        return lambda f: _njit(f, options)
    return _njit(fn, options)
