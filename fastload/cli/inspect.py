"""``fastload inspect PATH``: schema, rows, shards, sizes and a sample row of a dataset."""

import json
import sys

import numpy as np

__all__ = ["register", "summarize"]

_LABEL_NAMES = ("label", "labels", "class", "target", "speaker", "chapter", "case_index")
_NUMERIC_NAMES = ("height", "width", "sample_rate", "num_samples", "length", "depth")


def register(sub):
    parser = sub.add_parser("inspect", help="print schema, rows, shards, sizes and a sample row")
    parser.add_argument("path", help="dataset folder")
    parser.add_argument(
        "--row",
        type=int,
        default=0,
        help="row to summarise; negative counts from the end, -1 is the last (default: 0)",
    )
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")
    parser.set_defaults(func=_run)


def _human(n):
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)


def _value_summary(v):
    if isinstance(v, memoryview):
        head = bytes(v[:8]).hex()
        return f"bytes[{v.nbytes:,}] {head}{'...' if v.nbytes > 8 else ''}"
    if isinstance(v, np.ndarray):
        text = f"ndarray {v.dtype} {v.shape}"
        if v.size and v.dtype.kind in "biuf":
            text += f" min={v.min():.6g} max={v.max():.6g}"
        return text
    text = repr(v)
    return text if len(text) <= 80 else text[:77] + "..."


def summarize(ds, row=0):
    """Summary dict of an open dataset (what ``fastload inspect`` prints)."""
    shards = ds.manifest["shards"]
    sizes = [s["num_bytes"] for s in shards]
    out = {
        "path": str(ds.path),
        "format_version": ds.manifest["format_version"],
        "created_by": ds.manifest.get("created_by"),
        "created_at": ds.manifest.get("created_at"),
        "rows": len(ds),
        "shards": ds.num_shards,
        "bytes": sum(sizes),
        "shard_bytes": {"min": min(sizes, default=0), "max": max(sizes, default=0)},
        "shard_rows": {
            "min": min((s["num_rows"] for s in shards), default=0),
            "max": max((s["num_rows"] for s in shards), default=0),
        },
        "columns": {name: col.to_dict() for name, col in ds.schema.items()},
        "metadata_keys": sorted(ds.metadata),
        "interrupted": ds.manifest.get("interrupted"),
        "sample_row": None,
        "column_summaries": {},
    }
    if len(ds):
        if not -len(ds) <= row < len(ds):
            raise IndexError(f"row {row} is out of range: the dataset has {len(ds)} rows")
        r = row % len(ds)
        out["sample_row"] = {
            "index": r,
            "shard": ds.locate(r)[0],
            "values": {k: _value_summary(v) for k, v in ds[r].items()},
        }
        out["column_summaries"] = _column_summaries(ds)
        out["cases"] = _case_table(ds)
    return out


def _case_table(ds, max_rows=300):
    """Per-case shape/spacing rows for volume datasets (a ``case`` column plus arrays)."""
    cols = ds.columns
    if "case" not in cols or "original_shape" not in cols or len(ds) > max_rows:
        return []
    rows = []
    for i in range(len(ds)):
        r = ds[i]
        rows.append(
            {
                "case": r["case"],
                "split": r.get("split", ""),
                "original_shape": [int(x) for x in r["original_shape"]],
                "original_spacing": [round(float(x), 4) for x in r.get("original_spacing", [])],
                "shape": list(r["image"].shape) if "image" in r else [],
                "spacing": [round(float(x), 4) for x in r.get("spacing", [])],
            }
        )
    return rows


def _column_summaries(ds, max_rows=100_000):
    """Short statistics of the columns a reader checks first (labels, durations, shapes).

    Array columns are summarised over the first ``max_rows`` rows only.
    """
    res = {}
    head = ds if len(ds) <= max_rows else ds.subset(range(max_rows))
    suffix = "" if head is ds else f" (first {max_rows:,} rows)"
    for name, col in ds.schema.items():
        low = name.lower()
        if col.kind == "int" and low in _LABEL_NAMES:
            v = ds.read_column(name)
            values, counts = np.unique(v, return_counts=True)
            text = (
                f"{values.size} distinct values in [{v.min()}, {v.max()}], "
                f"{counts.min()}..{counts.max()} rows each"
            )
            if values.size <= 20:
                text += "; histogram " + ", ".join(
                    f"{a}: {c}" for a, c in zip(values, counts, strict=True)
                )
            res[name] = text
        elif col.kind == "float" and "duration" in low:
            v = ds.read_column(name)
            edges = np.arange(0.0, 18.0, 2.0)
            counts = np.bincount(np.searchsorted(edges, v, side="right") - 1, minlength=edges.size)
            bins = [
                f"{lo:g}-{lo + 2:g}s: {c}" for lo, c in zip(edges[:-1], counts[:-1], strict=True)
            ]
            bins.append(f">={edges[-1]:g}s: {counts[-1]}")
            res[name] = (
                f"total {v.sum() / 3600:.3f} h, min {v.min():.3f}, mean {v.mean():.3f}, "
                f"max {v.max():.3f}; histogram " + ", ".join(bins)
            )
        elif col.kind in ("int", "float") and low in _NUMERIC_NAMES:
            v = ds.read_column(name)
            res[name] = f"min {v.min():.6g}, mean {v.mean():.6g}, max {v.max():.6g}"
        elif col.kind == "array" and col.ndim and col.shape is None:
            shapes = np.array([a.shape for a in head.read_column(name)], dtype=np.int64)
            res[name] = (
                f"varying shape: min {tuple(int(x) for x in shapes.min(0))}, "
                f"max {tuple(int(x) for x in shapes.max(0))}{suffix}"
            )
        elif col.kind == "array" and col.shape is not None:
            text = f"fixed shape {col.shape}"
            if col.ndim == 1 and 0 < col.shape[0] <= 8 and col.dtype.kind in "iuf":
                v = np.stack(head.read_column(name))
                lo, hi = v.min(0), v.max(0)
                text += ", per element " + ", ".join(
                    f"{a:.4g}..{b:.4g}" for a, b in zip(lo, hi, strict=True)
                )
                text += suffix
            res[name] = text
        elif col.kind == "str" and low in ("split", "subset"):
            vals, counts = np.unique(
                np.array(ds.read_column(name), dtype=object), return_counts=True
            )
            res[name] = ", ".join(f"{v}: {c}" for v, c in zip(vals, counts, strict=True))
    return res


def _run(args):
    from fastload.dataset import open_dataset
    from fastload.errors import ShardError

    try:
        ds = open_dataset(args.path)
    except ShardError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    try:
        s = summarize(ds, args.row)
    except IndexError as exc:
        print(f"error: {exc} (--row 0..{len(ds) - 1}, or -1 for the last)", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(s, indent=1))
        return 0
    print(f"dataset   {s['path']}")
    made = ", ".join(
        str(x) for x in (s["created_by"], s["created_at"] and f"created {s['created_at']}") if x
    )
    print(f"format    v{s['format_version']}" + (f", {made}" if made else ""))
    print(f"rows      {s['rows']:,}")
    print(
        f"shards    {s['shards']} ({_human(s['bytes'])} total; "
        f"{_human(s['shard_bytes']['min'])}..{_human(s['shard_bytes']['max'])}, "
        f"{s['shard_rows']['min']}..{s['shard_rows']['max']} rows each)"
    )
    if s["interrupted"]:
        print(f"WARNING   writer was interrupted: {s['interrupted']}")
    print("columns")
    for name, c in s["columns"].items():
        detail = ""
        if c["kind"] == "array":
            shape = "varying" if c["shape"] is None else tuple(c["shape"])
            detail = f" {c['dtype']} ndim={c['ndim']} shape={shape}"
        print(f"  {name:<24} {c['kind']}{detail}")
    if s["metadata_keys"]:
        print(f"metadata  {', '.join(s['metadata_keys'])}")
    if s["column_summaries"]:
        print("summary")
        for name, text in s["column_summaries"].items():
            print(f"  {name:<24} {text}")
    if s.get("cases"):
        heads = ("case", "split", "original shape", "original spacing (mm)", "stored shape")
        widths = (13, 6, 17, 24, 18)
        print(
            "cases     "
            + " ".join(h.ljust(w) for h, w in zip(heads, widths, strict=True))
            + " spacing"
        )
        for c in s["cases"]:
            cells = (
                c["case"],
                c["split"],
                tuple(c["original_shape"]),
                tuple(c["original_spacing"]),
                tuple(c["shape"]),
            )
            line = " ".join(str(x).ljust(w) for x, w in zip(cells, widths, strict=True))
            print(f"          {line} {tuple(c['spacing'])}")
    if s["sample_row"]:
        sr = s["sample_row"]
        print(f"row {sr['index']} ({sr['shard']})")
        for name, text in sr["values"].items():
            print(f"  {name:<24} {text}")
    return 0
