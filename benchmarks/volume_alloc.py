"""The CT allocation cliff (issue 15 item 1): a fresh 132 MB output in a process that idles
between cases, with and without :data:`fastload.volume.output_pool`.

    OMP_NUM_THREADS=1 taskset -c 0 python benchmarks/volume_alloc.py [--idle 4] [--repeats 5]

1. First touch of 132 MiB, after the process slept 0.5 s and ``--idle`` s: numpy's
   ``np.empty`` (numpy asks for transparent huge pages), 4 KiB pages (``MADV_NOHUGEPAGE``, as
   torch's allocator gets them) and a reused buffer.
2. ``resample_to_spacing`` 600x512x512 -> 300x332x332 float32, each call after ``--idle`` s:
   a fresh ``np.empty`` output per call (what every call paid before the pool), the pooled
   allocating path, and torch ``interpolate`` (allocating); interleaved, medians.

On the project's VM huge pages freed and left free for a few seconds come back slowly
(measured 120-250 ms per 132 MiB after 3-8 s against 20-40 ms after < 2 s), which a tight
benchmark loop never sees; ``fastload bench volume`` measures the churned process, this
script the idle one.
"""

import argparse
import mmap
import os
import statistics
import time

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402

N = 132 << 20


def _touch_numpy():
    a = np.empty(N, np.uint8)
    a.fill(1)
    return a


def _touch_4k():
    m = mmap.mmap(-1, N, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
    m.madvise(mmap.MADV_NOHUGEPAGE)
    a = np.frombuffer(m, np.uint8)
    a.fill(1)
    return a


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--idle", type=float, default=4.0)
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()

    reused = np.empty(N, np.uint8)
    reused.fill(0)
    touch = {
        "np.empty (THP)": _touch_numpy,
        "4 KiB pages": _touch_4k,
        "reused buffer": lambda: reused.fill(1),
    }
    print(f"first touch of 132 MiB, ms (medians of {args.repeats}):")
    for name, fn in touch.items():
        for pause in (0.5, args.idle):
            ts = []
            for _ in range(args.repeats):
                time.sleep(pause)
                t = time.perf_counter()
                r = fn()
                ts.append(time.perf_counter() - t)
                del r
            print(f"  {name:15s} after {pause:3g} s idle: {statistics.median(ts) * 1e3:6.1f}  "
                  f"{[round(x * 1e3) for x in ts]}")  # fmt: skip

    import torch
    import torch.nn.functional as F

    from fastload.bench.volume import SPACING, TARGET, ct_like_volume
    from fastload.volume import output_pool, resample_to_spacing, resampled_shape

    torch.set_num_threads(1)
    shape = (600, 512, 512)
    vol = ct_like_volume(shape).astype(np.float32)
    new = resampled_shape(shape, SPACING, TARGET)
    tin = torch.from_numpy(vol)[None, None]
    fns = {
        "fresh np.empty (before)": lambda: resample_to_spacing(
            vol, SPACING, TARGET, out=np.empty(new, np.float32)
        ),
        "output_pool (after)": lambda: resample_to_spacing(vol, SPACING, TARGET),
        "torch interpolate": lambda: F.interpolate(
            tin, size=new, mode="trilinear", align_corners=True
        ),
    }
    for fn in fns.values():
        fn()
    times = {k: [] for k in fns}
    for _ in range(args.repeats):
        for name, fn in fns.items():
            time.sleep(args.idle)
            t = time.perf_counter()
            r = fn()
            times[name].append(time.perf_counter() - t)
            del r
    med = {k: statistics.median(v) for k, v in times.items()}
    mvox = float(np.prod(new)) / 1e6
    print(f"resample {shape} -> {new}, each call after {args.idle:g} s idle:")
    for name, ts in times.items():
        print(f"  {name:24s} {mvox / med[name]:6.0f} Mvox/s  {[round(x * 1e3) for x in ts]} ms")
    tt = med["torch interpolate"]
    print(f"  vs torch: before {tt / med['fresh np.empty (before)']:.2f}x, "
          f"after {tt / med['output_pool (after)']:.2f}x; pool {output_pool.stats()}")  # fmt: skip


if __name__ == "__main__":
    main()
