"""``fastload build imagenet|librispeech|kits19 SRC OUT``: precompute shards from raw data."""

import json
import sys

__all__ = ["register"]


def register(sub):
    parser = sub.add_parser("build", help="precompute shards from a raw dataset layout")
    kinds = parser.add_subparsers(dest="dataset", metavar="DATASET")
    kinds.required = True

    def common(p):
        p.add_argument("src", help="raw dataset root as downloaded")
        p.add_argument("out", help="output dataset folder")
        p.add_argument(
            "--workers", type=int, default=None, help="local processes (default: all cores)"
        )
        p.add_argument("--engine", choices=["local", "ray"], default="local")
        p.add_argument(
            "--address", default=None, help="Ray cluster address (default: start a local one)"
        )
        p.add_argument("--on-error", choices=["skip", "fail"], default="skip", dest="on_error")
        p.add_argument("--quiet", action="store_true", help="no progress bar")
        p.add_argument(
            "--samples-per-shard",
            type=int,
            default=None,
            dest="samples_per_shard",
            help="rows per shard (default: about 256 MB per shard for this dataset)",
        )

    p = kinds.add_parser("imagenet", help="train/<wnid>/*.JPEG folders")
    common(p)
    p.add_argument("--split", default="train")
    p.add_argument("--labels", default=None, help="label file for a flat val folder")
    p.add_argument("--max-side", type=int, default=None, dest="max_side")
    p.add_argument("--quality", type=int, default=100, help="JPEG quality of re-encoded images")
    p.set_defaults(func=_run)

    p = kinds.add_parser("librispeech", help="<subset>/<spk>/<ch>/*.flac + *.trans.txt")
    common(p)
    p.add_argument("--subsets", default=None, help="comma-separated subset folders (default: all)")
    p.add_argument("--max-duration", type=float, default=16.7, dest="max_duration")
    p.add_argument("--pcm", action="store_true", help="store int16 PCM instead of FLAC bytes")
    p.set_defaults(func=_run)

    p = kinds.add_parser("kits19", help="case_XXXXX/imaging.nii.gz + segmentation.nii.gz")
    common(p)
    p.set_defaults(func=_run)


def _run(args):
    from fastload import builders

    common = {
        "workers": args.workers,
        "engine": args.engine,
        "address": args.address,
        "on_error": args.on_error,
        "progress": False if args.quiet else None,
    }
    if args.samples_per_shard is not None:
        common["samples_per_shard"] = args.samples_per_shard
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
        subsets = args.subsets.split(",") if args.subsets else None
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
    return 0
