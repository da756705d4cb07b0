"""``fastload bench [image|audio|volume|loader|dataset|all]``: side-by-side throughput vs peers.

Each concern's comparison lives in ``fastload.bench.<concern>`` as
``run(threads=1, quick=False) -> list[dict]`` (rows: name, items_per_s, ratio, notes and
optionally unit, e.g. "x RT" where items_per_s is a multiple of real time),
measuring fastload and whichever peers are installed in the same run on the same data.
"""

import json
import os

__all__ = ["register", "run_bench"]

CONCERNS = ["image", "audio", "volume", "loader", "dataset"]


def register(sub):
    p = sub.add_parser("bench", help="throughput vs installed peers, measured in one run")
    p.add_argument("concern", nargs="?", default="all", choices=[*CONCERNS, "all"])
    p.add_argument("--threads", type=int, default=1, help="threads for every contender (default 1)")
    p.add_argument("--quick", action="store_true", help="small inputs, few repeats")
    p.add_argument("--json", default=None, dest="json_path", help="write the rows as JSON here")
    p.add_argument("--plot", default=None, help="write a PNG bar chart of the ratios here")
    p.set_defaults(func=_run)


def run_bench(concern="all", *, threads=1, quick=False):
    """Run one or all comparisons; returns {concern: rows}."""
    from importlib import import_module

    if threads:
        for var in (
            "OMP_NUM_THREADS",
            "OPENBLAS_NUM_THREADS",
            "MKL_NUM_THREADS",
            "NUMBA_NUM_THREADS",
        ):
            os.environ.setdefault(var, str(threads))
    names = CONCERNS if concern == "all" else [concern]
    return {
        name: import_module(f"fastload.bench.{name}").run(threads=threads, quick=quick)
        for name in names
    }


def format_rows(concern, rows):
    out = [f"== {concern} =="]
    width = max((len(r["name"]) for r in rows), default=10)
    for r in rows:
        ratio = r.get("ratio")
        ratio_s = f"{ratio:7.2f}x" if isinstance(ratio, (int, float)) else "        "
        unit = r.get("unit", "/s")
        rate = f"{r['items_per_s']:12.1f}{unit:<6}"
        out.append(f"{r['name']:<{width}}  {rate}  {ratio_s}  {r.get('notes', '')}")
    return "\n".join(out)


def _run(args):
    results = run_bench(args.concern, threads=args.threads, quick=args.quick)
    for concern, rows in results.items():
        print(format_rows(concern, rows))
    if args.json_path:
        with open(args.json_path, "w") as f:
            json.dump(results, f, indent=1)
    if args.plot:
        _plot(results, args.plot)
    return 0


def _plot(results, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels, ratios = [], []
    for concern, rows in results.items():
        for r in rows:
            if isinstance(r.get("ratio"), (int, float)):
                labels.append(f"{concern}: {r['name']}")
                ratios.append(r["ratio"])
    fig, ax = plt.subplots(figsize=(8, 0.35 * len(labels) + 1))
    ax.barh(labels, ratios)
    ax.axvline(1.0, color="k", lw=0.8)
    ax.set_xlabel("fastload speed-up (x)")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
