"""Every audio kernel is a cached, GIL-releasing numba function (concurrency results are
checked in the test_*threads* tests of each module)."""

import pytest

from fastload.audio import _logmel_nb, _resample_nb, _transforms_nb

KERNELS = [
    _logmel_nb.logmel_kernel,
    _logmel_nb.normalize_rows,
    _resample_nb.resample_1d,
    _resample_nb.build_phase_bank,
    _transforms_nb.nonsilent_region_kernel,
    _transforms_nb.moving_mean_square,
    _transforms_nb.stack_frames_kernel,
]


@pytest.mark.parametrize("fn", KERNELS, ids=lambda f: f.__name__)
def test_kernel_flags(fn):
    assert fn.targetoptions["nogil"] is True
    assert fn._cache.__class__.__name__ != "NullCache"  # cache=True


def test_warmup_runs():
    import fastload.audio
    from fastload.pipelines import rnnt_train

    fastload.audio.warmup()
    t = rnnt_train()
    assert t.warmup() is t
