"""Side-by-side: volume resampling, NIfTI reading and the 3D U-Net train transform vs peers.

Run pinned to one core for the reported figures (the 2-thread row needs two free cores)::

    OMP_NUM_THREADS=1 taskset -c 0 python benchmarks/compare_volume.py [--quick] [--threads N]

The measurement lives in :mod:`fastload.bench.volume` (also ``fastload bench volume``).
"""

import argparse

from fastload.bench.volume import run

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
