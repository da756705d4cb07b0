"""``fastload bench [image|audio|volume|loader|dataset|all]``: side-by-side throughput vs peers.

Each concern's comparison lives in ``fastload.bench.<concern>`` as
``run(threads=1, quick=False) -> list[dict]`` (rows made by the helpers of
:mod:`fastload.bench`, each with its ``kind``), measuring fastload and whichever peers are
installed in the same run on the same data. A peer that fails to import, for any reason,
is a "(missing)" or "(broken: reason)" row.
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
    p.add_argument(
        "--plot", default=None, help="write a PNG bar chart of fastload / peer ratios here"
    )
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


LEGEND = (
    "ratio: peer rows = fastload / peer (above 1: fastload is faster), measured against the "
    "1.00x fastload reference row above them; variant rows = this / that reference; "
    "baseline rows (floors, ceilings) and memory rows say what they show in their notes"
)


def _rate(r):
    if r.get("kind") == "memory":
        return f"{r['value']:12.1f} MiB   "
    rate = r.get("items_per_s")
    if rate is None:
        return " " * 21
    unit = r.get("unit", "/s")
    unit = unit if unit.startswith(("/", "x")) else " " + unit
    return f"{rate:12.1f}{unit:<9}"


def _ratio(r):
    kind, ratio = r.get("kind"), r.get("ratio")
    if kind == "reference":
        return "   1.00x ref"
    if ratio is None:
        return " " * 12
    return f"{ratio:7.2f}x    "


def _goal(r):
    if "goal" not in r:
        return ""
    met = {True: "met", False: "NOT met", None: "?"}[r.get("met")]
    unit = " MiB" if r.get("kind") == "memory" else ""
    return f"goal {r['goal']}{unit}: {met}"


def format_rows(concern, rows):
    out = [f"== {concern} =="]
    width = max((len(r["name"]) for r in rows), default=10)
    for r in rows:
        kind = r.get("kind", "")
        label = kind if kind in ("peer", "variant", "baseline", "memory") else ""
        extra = "; ".join(x for x in (_goal(r), r.get("notes", "")) if x)
        out.append(
            f"{r['name']:<{width}}  {_rate(r)}  {_ratio(r)}  {label:<8}  {extra}".rstrip()
        )
    return "\n".join(out)


def _run(args):
    results = run_bench(args.concern, threads=args.threads, quick=args.quick)
    print(LEGEND)
    for concern, rows in results.items():
        print(format_rows(concern, rows))
    if args.json_path:
        with open(args.json_path, "w") as f:
            json.dump(results, f, indent=1)
    if args.plot:
        _plot(results, args.plot)
    return 0


def _plot(results, path):
    """Bar chart of the peer rows only: fastload / peer, one bar per peer (reference,
    variant, baseline and memory rows are not speed-ups and are not drawn)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels, ratios = [], []
    for concern, rows in results.items():
        for r in rows:
            if r.get("kind") == "peer" and isinstance(r.get("ratio"), (int, float)):
                goal = f" (goal {r['goal']})" if "goal" in r else ""
                labels.append(f"{concern}: {r['name']}{goal}")
                ratios.append(r["ratio"])
    fig, ax = plt.subplots(figsize=(9, 0.35 * len(labels) + 1.2))
    colors = ["tab:blue" if x >= 1 else "tab:red" for x in ratios]
    ax.barh(labels, ratios, color=colors)
    ax.axvline(1.0, color="k", lw=0.8)
    ax.invert_yaxis()
    ax.set_xlabel("fastload rate / peer rate, same run (above 1: fastload faster)")
    ax.set_title("fastload vs each peer")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
