"""``fastload demo``: sample raw data -> shards -> one epoch per MLPerf train pipeline -> table.

Everything is generated locally by :mod:`fastload.testing.data` (nothing is downloaded).
"""

import shutil
import tempfile
import time
from pathlib import Path

__all__ = ["register", "run_demo"]


def register(sub):
    p = sub.add_parser(
        "demo", help="build sample datasets, stream an epoch of each pipeline, print a table"
    )
    p.add_argument(
        "--workdir", default=None, help="where to put sample data and shards (default: a temp dir)"
    )
    p.add_argument("--threads", type=int, default=None, help="loader threads (default: all cores)")
    p.add_argument("--keep", action="store_true", help="keep the work directory")
    p.set_defaults(func=_run)


def _run(args):
    rows = run_demo(workdir=args.workdir, threads=args.threads, keep=args.keep)
    print(format_table(rows))
    return 0


def _stream(ds, transform, batch_size, threads, unit_of):
    """One epoch through the Loader; returns (seconds, samples, units, stats).

    One sample is transformed first, untimed, so JIT compilation (numba, first call only)
    is not counted as loading time.
    """
    import numpy as np

    from fastload import Loader

    transform(dict(ds[0]), np.random.default_rng(0))
    loader = Loader(
        ds,
        transform=transform,
        batch_size=batch_size,
        shuffle=True,
        seed=0,
        num_threads=threads,
        epoch_end="partial",
    )
    started = time.perf_counter()
    samples = 0
    units = 0.0
    for batch in loader:
        samples += (
            int(batch["_valid"].sum()) if "_valid" in batch else len(next(iter(batch.values())))
        )
        units += unit_of(batch)
    seconds = time.perf_counter() - started
    return seconds, samples, units, loader.stats()


def run_demo(*, workdir=None, threads=None, keep=False, quiet=True):
    """Run the whole demo; returns one dict per workload for :func:`format_table`."""
    from fastload import builders, open_dataset
    from fastload.pipelines import resnet50_train, rnnt_train, unet3d_train
    from fastload.testing.data import make_imagenet, make_kits19, make_librispeech

    own_dir = workdir is None
    root = Path(tempfile.mkdtemp(prefix="fastload-demo-") if own_dir else workdir)
    progress = False if quiet else None
    rows = []
    try:
        raw = root / "raw"
        shards = root / "shards"
        for sub in ("imagenet", "librispeech", "kits19"):
            shutil.rmtree(shards / sub, ignore_errors=True)

        t = time.perf_counter()
        make_imagenet(raw / "imagenet", classes=8, per_class=24)
        built = builders.build_imagenet(
            raw / "imagenet", shards / "imagenet", split="train", progress=progress
        )
        build_s = time.perf_counter() - t
        ds = open_dataset(shards / "imagenet")
        mb = ds.nbytes / 2**20
        seconds, n, _, stats = _stream(
            ds, resnet50_train(preset="reference"), 32, threads, lambda b: 0
        )
        rows.append(
            _row(
                "ResNet-50 (ImageNet JPEG)",
                built,
                build_s,
                seconds,
                n,
                f"{mb * n / len(ds) / seconds:.1f} MB/s JPEG",
                stats,
            )
        )

        t = time.perf_counter()
        make_librispeech(raw / "librispeech", speakers=4, chapters=2, utterances=5)
        built = builders.build_librispeech(
            raw / "librispeech", shards / "librispeech", progress=progress
        )
        build_s = time.perf_counter() - t
        ds = open_dataset(shards / "librispeech")
        ds = ds.subset(
            ds.metadata["splits"]["train-clean-100"]
        )  # the duration-filtered train subset
        total_audio_s = float(sum(ds.read_column("duration")))
        seconds, n, _, stats = _stream(ds, rnnt_train(preset="reference"), 16, threads, lambda b: 0)
        rows.append(
            _row(
                "RNN-T (LibriSpeech FLAC)",
                built,
                build_s,
                seconds,
                n,
                f"{total_audio_s / seconds:.0f}x real time",
                stats,
            )
        )

        t = time.perf_counter()
        make_kits19(raw / "kits19", cases=6)
        built = builders.build_kits19(raw / "kits19", shards / "kits19", progress=progress)
        build_s = time.perf_counter() - t
        ds = open_dataset(shards / "kits19")
        train = ds.subset(ds.metadata["splits"].get("train", list(range(len(ds)))))
        seconds, n, _, stats = _stream(
            train, unet3d_train(preset="reference"), 2, threads, lambda b: 0
        )
        rows.append(
            _row(
                "3D U-Net (KiTS19 NIfTI)",
                built,
                build_s,
                seconds,
                n,
                f"{n * 128**3 / seconds / 1e6:.1f} Mvox/s patches",
                stats,
            )
        )
    finally:
        if own_dir and not keep:
            shutil.rmtree(root, ignore_errors=True)
    return rows


def _row(name, built, build_s, seconds, n, throughput, stats):
    per_sample = stats.get("per_sample_ms", {})
    breakdown = " / ".join(f"{k} {v:.2f}" for k, v in per_sample.items()) + " ms/sample"
    return {
        "workload": name,
        "build_rows": built.rows,
        "build_samples_per_s": (built.rows + len(built.bad_samples)) / build_s if build_s else 0.0,
        "bad": len(built.bad_samples),
        "samples": n,
        "samples_per_s": n / seconds if seconds else 0.0,
        "throughput": throughput,
        "stall": stats.get("stall_fraction", float("nan")),
        "breakdown": breakdown,
    }


def format_table(rows):
    header = [
        "workload",
        "built",
        "build/s",
        "epoch samples",
        "samples/s",
        "throughput",
        "data stall",
        "per-stage CPU time (summed over threads)",
    ]
    body = [
        [
            r["workload"],
            f"{r['build_rows']} (+{r['bad']} bad)",
            f"{r['build_samples_per_s']:.1f}",
            str(r["samples"]),
            f"{r['samples_per_s']:.1f}",
            r["throughput"],
            f"{100 * r['stall']:.0f}%",
            r["breakdown"],
        ]
        for r in rows
    ]
    widths = [max(len(str(x)) for x in col) for col in zip(header, *body, strict=False)]
    lines = [
        "  ".join(str(x).ljust(w) for x, w in zip(line, widths, strict=False)).rstrip()
        for line in [header, *body]
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)
