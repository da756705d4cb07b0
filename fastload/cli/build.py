"""``fastload build imagenet|librispeech|kits19 SRC OUT``: precompute shards from raw data.

Exit status: 0 built (bad samples, if any, listed and skipped because ``--on-error skip``
was given); 2 a usage mistake (missing folder, output exists, bad option value: one line,
nothing built); 3 bad samples were found (listed in ``OUT/bad_samples.json`` and the
manifest) and ``--on-error skip`` was not given, or ``--on-error fail`` stopped at one;
1 any other failure (with its traceback); 130 interrupted (rerun to resume).
"""

import argparse
import json
import sys

__all__ = ["EXIT_BAD_SAMPLES", "EXIT_USAGE", "register"]

EXIT_USAGE = 2
EXIT_BAD_SAMPLES = 3


EPILOG = (
    "exit status: 0 built; 2 usage mistake (nothing built); 3 bad samples found (without "
    "--on-error skip) or --on-error fail stopped at one; 1 other failure; 130 interrupted "
    "(rerun the same command to resume)"
)


def positive_int(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, not {value}")
    return value


def non_negative_int(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, not {value}")
    return value


def positive_float(text):
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be > 0, not {value}")
    return value


def register(sub):
    parser = sub.add_parser(
        "build",
        help="precompute shards from a raw dataset layout",
        description="Precompute shards from a raw dataset layout. Rerunning an interrupted "
        "build resumes it; the output is byte-identical whatever the worker count. "
        "Sample raw data to try it on: fastload make-sample DATASET DIR.",
        epilog=EPILOG,
    )
    kinds = parser.add_subparsers(dest="dataset", metavar="DATASET")
    kinds.required = True

    def common(p, per_shard):
        p.add_argument("src", help="raw dataset root as downloaded")
        p.add_argument("out", help="output dataset folder (resumed if a build was interrupted)")
        p.add_argument(
            "--workers",
            type=non_negative_int,
            default=None,
            help="local worker processes; 0 builds in this process (default: all cores)",
        )
        p.add_argument(
            "--engine",
            choices=["local", "ray"],
            default="local",
            help="run parts in local processes or as Ray tasks (needs the ray extra) "
            "(default: %(default)s)",
        )
        p.add_argument(
            "--address", default=None, help="Ray cluster address (default: start a local Ray)"
        )
        p.add_argument(
            "--on-error",
            choices=["skip", "fail"],
            default=None,
            dest="on_error",
            help="a bad sample (the decoder rejects it): 'skip' leaves it out and exits 0; "
            "'fail' stops the build (status 3) (default: leave it out, list it, exit with "
            "status 3 at the end)",
        )
        p.add_argument(
            "--quiet",
            action="store_true",
            help="no progress bar (default: a bar when stderr is a terminal)",
        )
        p.add_argument(
            "--samples-per-shard",
            type=positive_int,
            default=per_shard,
            dest="samples_per_shard",
            help="rows per shard and per resumable part (default: %(default)s)",
        )

    p = kinds.add_parser(
        "imagenet",
        epilog=EPILOG,
        help="train/<wnid>/*.JPEG folders",
        description="ImageNet: SRC/<split>/<wnid>/*.JPEG class folders, or a flat "
        "SRC/val/*.JPEG folder with --labels. Labels are 0..N-1 by sorted wnid of train/.",
    )
    common(p, 2048)
    p.add_argument("--split", default="train", help="split folder under SRC (default: %(default)s)")
    p.add_argument(
        "--labels",
        default=None,
        help="label file for a flat val folder ('<file> <wnid|index>' lines, or one per "
        "line in file-name order) (default: none; class folders need none)",
    )
    p.add_argument(
        "--max-side",
        type=positive_int,
        default=None,
        dest="max_side",
        help="re-encode images whose longer side exceeds this (default: keep every size)",
    )
    p.add_argument(
        "--quality",
        type=positive_int,
        default=100,
        help="JPEG quality of re-encoded images (PNG, CMYK, --max-side) (default: %(default)s)",
    )
    p.set_defaults(func=_run, preload=["fastload.builders"])

    p = kinds.add_parser(
        "librispeech",
        epilog=EPILOG,
        help="<subset>/<spk>/<ch>/*.flac + *.trans.txt",
        description="LibriSpeech: SRC/<subset>/<speaker>/<chapter>/*.flac plus *.trans.txt. "
        "All subsets go into one dataset; select one with "
        'ds.subset(ds.metadata["splits"]["train-clean-100"]).',
    )
    common(p, 1024)
    p.add_argument(
        "--subsets",
        default=None,
        help="comma-separated subset folders, e.g. train-clean-100,dev-clean "
        "(default: every folder under SRC)",
    )
    p.add_argument(
        "--max-duration",
        type=positive_float,
        default=16.7,
        dest="max_duration",
        help="drop training utterances longer than this many seconds, the MLPerf filter "
        "(default: %(default)s)",
    )
    p.add_argument(
        "--pcm",
        action="store_true",
        help="store int16 PCM samples (default: the original FLAC bytes)",
    )
    p.set_defaults(func=_run, preload=["fastload.builders"])

    p = kinds.add_parser(
        "kits19",
        epilog=EPILOG,
        help="case_XXXXX/imaging.nii.gz + segmentation.nii.gz",
        description="KiTS19: SRC/case_XXXXX/{imaging,segmentation}.nii.gz, preprocessed as "
        "MLPerf 3D U-Net does. Train and eval cases go into one dataset; select with "
        'ds.subset(ds.metadata["splits"]["train"]).',
    )
    common(p, 1)
    p.set_defaults(func=_run, preload=["fastload.builders"])


def _run(args):
    from fastload import builders
    from fastload.errors import DecodeError, FastloadError, SourceError

    common = {
        "workers": args.workers,
        "engine": args.engine,
        "address": args.address,
        "on_error": args.on_error or "skip",
        "progress": False if args.quiet else None,
        "samples_per_shard": args.samples_per_shard,
    }
    try:
        if args.dataset == "imagenet":
            result = builders.build_imagenet(
                args.src,
                args.out,
                split=args.split,
                labels=args.labels,
                max_side=args.max_side,
                quality=args.quality,
                **common,
            )
        elif args.dataset == "librispeech":
            subsets = [s for s in args.subsets.split(",") if s] if args.subsets else None
            result = builders.build_librispeech(
                args.src,
                args.out,
                subsets=subsets,
                max_duration=args.max_duration,
                pcm=args.pcm,
                **common,
            )
        else:
            result = builders.build_kits19(args.src, args.out, **common)
    except SourceError as exc:
        print(f"fastload build: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except DecodeError as exc:  # --on-error fail stopped at a bad sample
        print(f"fastload build: bad sample, build stopped: {exc}", file=sys.stderr)
        return EXIT_BAD_SAMPLES
    except FastloadError as exc:
        if exc.__cause__ is None:
            print(f"fastload build: error: {exc}", file=sys.stderr)
            return 1
        raise
    print(
        json.dumps(
            {
                "path": str(result.path),
                "rows": result.rows,
                "bad_samples": len(result.bad_samples),
                "filtered": result.filtered,
                "parts_built": result.parts_built,
                "parts_reused": result.parts_reused,
                "seconds": round(result.seconds, 3),
                "samples_per_s": round(result.samples_per_second, 1),
            }
        )
    )
    for bad in result.bad_samples[:20]:
        print(f"bad sample: {bad['item']}: {bad['error']}", file=sys.stderr)
    if len(result.bad_samples) > 20:
        print(
            f"... {len(result.bad_samples) - 20} more in {result.path}/bad_samples.json",
            file=sys.stderr,
        )
    if result.bad_samples and args.on_error != "skip":
        print(
            f"fastload build: {len(result.bad_samples)} bad sample(s) left out (listed in "
            f"{result.path}/bad_samples.json); pass --on-error skip to accept them with "
            f"exit status 0",
            file=sys.stderr,
        )
        return EXIT_BAD_SAMPLES
    return 0
