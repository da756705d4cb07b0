"""Side-by-side: random-access reads of ~110 kB rows, memory-mapped shards vs one file each.

Run pinned to one core for the reported figures::

    OMP_NUM_THREADS=1 taskset -c 0 python benchmarks/compare_dataset.py [--quick] [--threads N]

The measurement lives in :mod:`fastload.bench.dataset` (also ``fastload bench dataset``).
"""

import argparse

from fastload.bench.dataset import run

__all__ = ["run"]


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--quick", action="store_true")
    args = p.parse_args()
    rows = run(threads=args.threads, quick=args.quick)
    width = max(len(r["name"]) for r in rows)
    for r in rows:
        print(f"{r['name']:<{width}}  {r['items_per_s']:12.0f}/s  {r['ratio']:6.2f}x  {r['notes']}")


if __name__ == "__main__":
    main()
