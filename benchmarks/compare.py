"""Side-by-side throughput: fastload vs whichever peers are installed, measured in one run.

Usage (pin to one core for per-core figures)::

    OMP_NUM_THREADS=1 taskset -c 0 python benchmarks/compare.py CONCERN \
        [--threads N] [--quick] [--json FILE] [--plot FILE.png]

with CONCERN one of image, audio, volume, loader, dataset, all.

This is ``fastload bench`` (:mod:`fastload.cli.bench`); the measurements live in
``fastload.bench.<concern>``. Each contender runs on the same data with the same thread
count; figures are medians of interleaved repeats.

torchvision must not go into the main environment here (it would replace the torch the
tests use); compare against it from a separate venv::

    python -m venv /opt/venv-tv
    /opt/venv-tv/bin/pip install torch==2.14.1 torchvision==0.29.1 pillow numpy
    OMP_NUM_THREADS=1 PYTHONPATH=$PWD taskset -c 0 \
        /opt/venv-tv/bin/python benchmarks/compare.py image
"""

import os
import sys

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

from fastload.cli import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main(["bench", *sys.argv[1:]]))
