"""``fastload verify PATH``: recompute checksums and re-read every shard."""

import json
import sys

__all__ = ["register"]


def register(sub):
    parser = sub.add_parser(
        "verify",
        help="check a sharded dataset (checksums, row counts, schema); exit 1 on any problem",
    )
    parser.add_argument("path", help="dataset folder")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.set_defaults(func=_run)


def _run(args):
    from fastload.dataset import verify

    report = verify(args.path, progress=not args.quiet and sys.stderr.isatty())
    if args.json:
        print(json.dumps(report.to_dict(), indent=1))
    else:
        for w in report.warnings:
            print(f"warning: {w}", file=sys.stderr)
        for p in report.problems:
            print(f"PROBLEM: {p}")
        if report.ok:
            print(
                f"OK: {report.path}: {report.num_rows} rows in {report.num_shards} shards, "
                f"{report.bytes_checked:,} bytes checked"
                + (
                    f"; {report.bad_samples} bad sample(s) were left out at build time "
                    "(listed in bad_samples.json)"
                    if report.bad_samples
                    else ""
                )
            )
        else:
            print(f"FAILED: {report.path}: {len(report.problems)} problem(s)")
    return 0 if report.ok else 1
