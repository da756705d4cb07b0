"""``fastload make-sample imagenet|librispeech|kits19 DIR``: small synthetic raw data.

Writes a miniature raw dataset in the real on-disk layout (what ``fastload build``
reads), generated locally by :mod:`fastload.testing.data`: nothing is downloaded. For
trying the builders, the loader and the pipelines before fetching the real data.
"""

import sys
from pathlib import Path

from fastload.cli.build import positive_int

__all__ = ["register"]


def register(sub):
    parser = sub.add_parser(
        "make-sample",
        help="write a small synthetic raw dataset (real layout) to try `fastload build` on",
        description="Write a small synthetic raw dataset in the real on-disk layout, "
        "then e.g.: fastload build imagenet DIR OUT. Nothing is downloaded.",
    )
    kinds = parser.add_subparsers(dest="dataset", metavar="DATASET")
    kinds.required = True

    def common(p, size_help):
        p.add_argument("dir", help="folder to write (must not exist or be empty)")
        p.add_argument("--seed", type=int, default=0, help="random seed (default: %(default)s)")
        p.add_argument("--size", type=positive_int, default=None, help=size_help)
        p.set_defaults(func=_run)

    common(
        kinds.add_parser("imagenet", help="train/<wnid>/*.JPEG (a few PNG and CMYK files)"),
        "images per class, 8 classes (default: 24)",
    )
    common(
        kinds.add_parser("librispeech", help="<subset>/<spk>/<ch>/*.flac + *.trans.txt"),
        "utterances per chapter, 4 speakers x 2 chapters, train-clean-100 and dev-clean "
        "(default: 5)",
    )
    common(
        kinds.add_parser("kits19", help="case_XXXXX/{imaging,segmentation}.nii.gz"),
        "number of cases (default: 6)",
    )


def make_sample(dataset, root, *, seed=0, size=None):
    """Write the sample raw dataset ``dataset`` at ``root``; returns ``(root, files)``."""
    from fastload.testing.data import make_imagenet, make_kits19, make_librispeech

    if dataset == "imagenet":
        make_imagenet(root, classes=8, per_class=size or 24, seed=seed)
    elif dataset == "librispeech":
        make_librispeech(root, speakers=4, chapters=2, utterances=size or 5, seed=seed)
    elif dataset == "kits19":
        make_kits19(root, cases=size or 6, seed=seed)
    else:
        raise ValueError(f"unknown dataset {dataset!r}")
    return Path(root), sum(1 for p in Path(root).rglob("*") if p.is_file())


def _run(args):
    root = Path(args.dir)
    if root.exists() and (not root.is_dir() or any(root.iterdir())):
        print(f"fastload make-sample: error: {root} exists and is not empty", file=sys.stderr)
        return 2
    root, files = make_sample(args.dataset, root, seed=args.seed, size=args.size)
    print(f"wrote {files} files of sample {args.dataset} raw data to {root}")
    print(f"next: fastload build {args.dataset} {root} OUT")
    return 0
