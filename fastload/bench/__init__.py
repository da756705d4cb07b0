"""Side-by-side comparisons against peers, one module per concern, each exposing
``run(threads=1, quick=False) -> list[dict]`` (rows: name, items_per_s, ratio, notes).

Used by ``fastload bench`` and by the scripts in ``benchmarks/``. Every contender is measured
in the same run, on the same data, with the same thread count; figures are medians of repeats.
"""
