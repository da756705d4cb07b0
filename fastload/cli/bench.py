"""``fastload bench [image|audio|volume|loader|dataset|all]``: side-by-side throughput vs peers.

Each concern's comparison lives in ``fastload.bench.<concern>`` as
``run(threads=1, quick=False) -> list[dict]`` (rows made by the helpers of
:mod:`fastload.bench`, each with its ``kind``), measuring fastload and whichever peers are
installed in the same run on the same data. A peer that fails to import, for any reason,
is a "(missing)" or "(broken: reason)" row.
"""

__all__ = ["register", "run_bench"]

CONCERNS = ["image", "audio", "volume", "loader", "dataset"]


def register(sub):
    p = sub.add_parser("bench", help="throughput vs installed peers, measured in one run")
    p.add_argument("concern", nargs="?", default="all", choices=[*CONCERNS, "all"])
    p.add_argument("--threads", type=int, default=1, help="threads for every contender (default 1)")
    p.add_argument("--quick", action="store_true", help="small inputs, few repeats")
    p.add_argument(
        "--json",
        default=None,
        dest="json_path",
        help="write a header line, then each row as soon as it is measured (JSON lines)",
    )
    p.add_argument(
        "--peer-python",
        default=None,
        help="python of a peer virtualenv (torch + torchvision + torchaudio pinned together) "
        "whose rows run there (default: $FASTLOAD_BENCH_PEER_PYTHON)",
    )
    p.add_argument("--note", default=None, help="a line stored in the JSON header")
    p.add_argument(
        "--plot", default=None, help="write a PNG bar chart of fastload / peer ratios here"
    )
    p.set_defaults(func=_run)


def run_bench(
    concern="all",
    *,
    threads=1,
    quick=False,
    json_path=None,
    peer_python=None,
    note=None,
    on_row=None,
    on_skip=None,
):
    """Run one or all comparisons, each concern in its own child process with the thread
    variables set before any numeric library loads (:mod:`fastload.bench.runner`);
    returns {concern: rows}."""
    from fastload.bench.runner import run_all

    names = CONCERNS if concern == "all" else [concern]
    return run_all(
        names,
        threads=threads,
        quick=quick,
        json_path=json_path,
        peer_python=peer_python,
        note=note,
        on_row=on_row,
        on_skip=on_skip,
    )


LEGEND = (
    "ratio: peer rows = fastload / peer (above 1: fastload is faster), measured against the "
    "1.00x fastload reference row above them; variant rows = this / that reference; "
    "baseline rows (floors, ceilings) and memory rows say what they show in their notes"
)


def _rate(r):
    if r.get("kind") == "memory":
        return f"{r['value']:12.1f} MiB   "
    if r.get("kind") == "time":
        return f"{r['value']:12.2f} s     "
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


def format_row(r, width):
    kind = r.get("kind", "")
    label = kind if kind in ("peer", "variant", "baseline", "memory") else ""
    extra = "; ".join(x for x in (_goal(r), _spread(r), r.get("notes", "")) if x)
    return f"{r['name']:<{width}}  {_rate(r)}  {_ratio(r)}  {label:<8}  {extra}".rstrip()


def _spread(r):
    lo_hi = r.get("ratio_range")
    return f"range {lo_hi[0]:.2f}-{lo_hi[1]:.2f}x" if lo_hi else ""


def format_rows(concern, rows):
    width = max((len(r["name"]) for r in rows), default=10)
    return "\n".join([f"== {concern} ==", *(format_row(r, width) for r in rows)])


def _run(args):
    print(LEGEND, flush=True)
    seen = set()

    def on_skip(s):
        what = "the whole concern" if s["whole_concern"] else s["rows"]
        print(f"skip [{s['concern']}] {what}: {s['module']} {s['reason']}", flush=True)

    def on_row(concern, row):
        if concern not in seen:
            seen.add(concern)
            print(f"== {concern} ==", flush=True)
        print(format_row(row, 56), flush=True)

    results = run_bench(
        args.concern,
        threads=args.threads,
        quick=args.quick,
        json_path=args.json_path,
        peer_python=args.peer_python,
        note=args.note,
        on_row=on_row,
        on_skip=on_skip,
    )
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
