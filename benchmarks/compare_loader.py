"""Side-by-side: Loader vs a tight loop over the same transform, thread scaling, memory,
and torch DataLoader, all measured in one run on the same data.

Run pinned to one core for the 1-thread figures, unpinned for scaling::

    OMP_NUM_THREADS=1 taskset -c 0 python benchmarks/compare_loader.py [--quick]
    OMP_NUM_THREADS=1 python benchmarks/compare_loader.py --threads 2

The measurement lives in :mod:`fastload.bench.loader` (also ``fastload bench loader``).
"""

import argparse
import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

from fastload.bench.loader import run  # noqa: E402

__all__ = ["run"]


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--quick", action="store_true")
    args = p.parse_args()
    rows = run(threads=args.threads, quick=args.quick)
    width = max(len(r["name"]) for r in rows)
    for r in rows:
        print(f"{r['name']:<{width}}  {r['items_per_s']:10.1f}/s  {r['ratio']:6.3f}x  {r['notes']}")


if __name__ == "__main__":
    main()
