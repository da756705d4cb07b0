"""The pytest-benchmark suites share ``fastload bench``'s harness settings: the thread
variables of :mod:`fastload.bench.harness` are set here, before the suites import numpy,
numba or torch (they hold only then), when only this folder's files are run::

    python -m pytest benchmarks --benchmark-enable

In any other run (the whole suite, as CI runs it: the suites once each, untimed) nothing
is set, so the tests keep their own thread counts; the header line says which applied.
"""

import os
import sys
from pathlib import Path

from fastload.bench.harness import THREAD_VARS, late_thread_vars

_HERE = Path(__file__).resolve().parent
_PATHS = [
    a.split("::")[0]
    for a in sys.argv[1:]
    if not a.startswith("-") and os.path.exists(a.split("::")[0])
]
_ONLY_HERE = bool(_PATHS) and all(
    _HERE in (Path(p).resolve(), *Path(p).resolve().parents) for p in _PATHS
)
_LATE = late_thread_vars() if _ONLY_HERE else ["run with other tests"]
# numba keeps its default pool: the suites time 2-thread kernels too (threads= per call)
_VARS = [v for v in THREAD_VARS if v != "NUMBA_NUM_THREADS"]
if not _LATE:
    for _var in _VARS:
        os.environ.setdefault(_var, "1")


def pytest_report_header(config):
    if _LATE:
        return f"benchmarks: thread variables not set ({', '.join(_LATE)})"
    return "benchmarks: " + " ".join(f"{v}={os.environ[v]}" for v in _VARS)
