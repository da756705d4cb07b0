"""``fastload doctor``: which kernel implementations this installation uses, the versions
of the libraries behind them, and what to install to get the fast paths."""

import json

__all__ = ["register"]


def register(sub):
    parser = sub.add_parser(
        "doctor",
        help="show the backend of every kernel (JPEG, Huffman, resize/volume SIMD, FLAC, "
        "numba cache), library versions, and how to get the fast paths",
    )
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument(
        "--strict", action="store_true", help="exit 1 when any slow fallback is in use"
    )
    parser.set_defaults(func=_run)


def _run(args):
    import warnings

    from fastload import backends
    from fastload.errors import PerformanceWarning

    with warnings.catch_warnings():
        # the report says the same, in more detail
        warnings.simplefilter("ignore", PerformanceWarning)
        found = backends.report()
    if args.json:
        print(json.dumps(backends.as_dicts(found), indent=1))
    else:
        print(backends.format_report(found))
    return 1 if args.strict and not all(b.fast for b in found) else 0
