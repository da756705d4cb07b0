"""fastload/_jit.py: the kernel decorator's compile-once rules (cold numba compilation is
most of the suite's time, see tests/README.md)."""

import numpy as np

from fastload._jit import kernel


@kernel(cache=False)
def _callee(x, k):
    return x[0] + k


@kernel(cache=False)
def _caller(x):
    return _callee(x, 1) + _callee(x, 15) + _callee(x, np.int64(7))


def test_constant_arguments_compile_the_callee_once():
    assert _caller(np.arange(3, dtype=np.int64)) == 23
    # numba's default would add one per constant: (..., Literal[int](1)), (..., Literal[int](15))
    (sig,) = _callee.signatures
    assert [str(t) for t in sig] == ["array(int64, 1d, C)", "int64"]
    assert _callee(np.arange(3, dtype=np.int64), 2) == 2  # a call from Python: the same one
    assert len(_callee.signatures) == 1
