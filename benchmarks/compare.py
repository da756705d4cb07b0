"""Side-by-side throughput: fastload vs whichever peers are installed, measured in one run.

Usage (pin to one core for per-core figures)::

    taskset -c 0 python benchmarks/compare.py CONCERN \
        [--threads N] [--quick] [--json FILE.jsonl] [--plot FILE.png] [--peer-python PY]

with CONCERN one of image, audio, volume, loader, dataset, all.

This is ``fastload bench`` (:mod:`fastload.cli.bench`); the measurements live in
``fastload.bench.<concern>``, each concern in a child process started with the thread
variables set (:mod:`fastload.bench.runner`). torchvision, torchaudio and SPDL pin their
own torch / FFmpeg: make their venv with ``bash benchmarks/peer-venv.sh /opt/venv-peers``
and pass ``--peer-python /opt/venv-peers/bin/python``; their rows run there, interleaved
with fastload's.
"""

import sys

from fastload.cli import main

if __name__ == "__main__":
    sys.exit(main(["bench", *sys.argv[1:]]))
