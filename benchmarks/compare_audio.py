"""Side-by-side audio comparison (prints ratios vs peers measured in the same run).

Run pinned to one core::

    OMP_NUM_THREADS=1 taskset -c 0 python benchmarks/compare_audio.py [--quick]

The measurements live in :mod:`fastload.bench.audio` (also ``fastload bench audio``).
"""

import argparse
import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ.setdefault(_var, "1")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--quick", action="store_true")
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args()
    from fastload.bench.audio import run

    rows = run(threads=args.threads, quick=args.quick)
    width = max(len(r["name"]) for r in rows)
    for r in rows:
        rate, ratio = r["items_per_s"], r["ratio"]
        print(f"{r['name']:<{width}}  {rate:10.0f} x real time  {ratio:6.2f}x  {r['notes']}")


if __name__ == "__main__":
    main()
