"""Side-by-side: JPEG decode and the ResNet-50 train / eval transforms vs peers.

Run pinned to one core for the reported figures. torchvision must not go into the main
environment (it would replace torch); use a separate venv for it::

    python -m venv /opt/venv-tv
    /opt/venv-tv/bin/pip install torch==2.14.1 torchvision==0.29.1 pillow numpy
    OMP_NUM_THREADS=1 PYTHONPATH=$PWD taskset -c 0 \
        /opt/venv-tv/bin/python benchmarks/compare_image.py

In the main environment the same command reports only the peers installed there. The
measurement lives in :mod:`fastload.bench.image` (also ``fastload bench image``).
"""

import argparse
import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

from fastload.bench.image import run  # noqa: E402

__all__ = ["run"]


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--quick", action="store_true")
    args = p.parse_args()
    rows = run(threads=args.threads, quick=args.quick)
    width = max(len(r["name"]) for r in rows)
    for r in rows:
        ratio = f"{r['ratio']:6.2f}x" if r["ratio"] is not None else "       "
        print(f"{r['name']:<{width}}  {r['items_per_s']:10.1f}/s  {ratio}  {r['notes']}")


if __name__ == "__main__":
    main()
