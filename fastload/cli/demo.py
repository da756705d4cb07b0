"""``fastload demo``: sample raw data -> shards -> one epoch per MLPerf train pipeline -> table.

Everything is generated locally by :mod:`fastload.testing.data` (nothing is downloaded).
"""

import shutil
import sys
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
    rows = run_demo(
        workdir=args.workdir, threads=args.threads, keep=args.keep, quiet=not sys.stderr.isatty()
    )
    print(format_table(rows))
    print(
        "\nsample s: making the synthetic raw data (not counted in build/s). build/s: raw "
        "samples sharded per second (decode-validated, all cores). train split: the "
        "samples one training epoch streams (ImageNet train, LibriSpeech train-clean-100 "
        "after the 16.7 s filter, KiTS19 train cases), shuffled, no consumer: the loader's "
        "own rate. per-stage CPU time is summed over loader threads."
    )
    return 0


def _say(quiet, text):
    if not quiet:
        print(text, file=sys.stderr, flush=True)


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
    """Run the whole demo; returns one dict per workload for :func:`format_table`.

    ``quiet=False`` prints what it is doing and build progress bars on stderr.
    """
    from fastload import builders, open_dataset
    from fastload.pipelines import resnet50_train, rnnt_train, unet3d_train
    from fastload.testing.data import make_imagenet, make_kits19, make_librispeech

    own_dir = workdir is None
    root = Path(tempfile.mkdtemp(prefix="fastload-demo-") if own_dir else workdir)
    progress = False if quiet else None
    rows = []

    def make_and_build(step, name, make, build):
        _say(quiet, f"[{step}/3] {name}: making sample raw data ...")
        t = time.perf_counter()
        make()
        sample_s = time.perf_counter() - t
        _say(quiet, f"[{step}/3] {name}: building shards ...")
        t = time.perf_counter()
        built = build()
        build_s = time.perf_counter() - t
        _say(quiet, f"[{step}/3] {name}: streaming one training epoch ...")
        return built, sample_s, build_s

    try:
        raw = root / "raw"
        shards = root / "shards"
        for sub in ("imagenet", "librispeech", "kits19"):
            shutil.rmtree(shards / sub, ignore_errors=True)
            shutil.rmtree(raw / sub, ignore_errors=True)

        built, sample_s, build_s = make_and_build(
            1,
            "ResNet-50 / ImageNet",
            lambda: make_imagenet(raw / "imagenet", classes=8, per_class=24),
            lambda: builders.build_imagenet(
                raw / "imagenet", shards / "imagenet", split="train", progress=progress
            ),
        )
        ds = open_dataset(shards / "imagenet")  # the build above holds the train split only
        mb = ds.nbytes / 2**20
        seconds, n, _, stats = _stream(
            ds, resnet50_train(preset="reference"), 32, threads, lambda b: 0
        )
        rows.append(
            _row(
                "ResNet-50 (ImageNet JPEG)",
                built,
                sample_s,
                build_s,
                seconds,
                n,
                f"{mb * n / len(ds) / seconds:.1f} MB/s JPEG",
                stats,
            )
        )

        built, sample_s, build_s = make_and_build(
            2,
            "RNN-T / LibriSpeech",
            lambda: make_librispeech(raw / "librispeech", speakers=4, chapters=2, utterances=5),
            lambda: builders.build_librispeech(
                raw / "librispeech", shards / "librispeech", progress=progress
            ),
        )
        ds = open_dataset(shards / "librispeech")  # every subset; train-clean-100 is streamed
        ds = ds.subset(ds.metadata["splits"]["train-clean-100"])
        total_audio_s = float(sum(ds.read_column("duration")))
        seconds, n, _, stats = _stream(ds, rnnt_train(preset="reference"), 16, threads, lambda b: 0)
        rows.append(
            _row(
                "RNN-T (LibriSpeech FLAC)",
                built,
                sample_s,
                build_s,
                seconds,
                n,
                f"{total_audio_s / seconds:.0f}x real time",
                stats,
            )
        )

        built, sample_s, build_s = make_and_build(
            3,
            "3D U-Net / KiTS19",
            lambda: make_kits19(raw / "kits19", cases=6),
            lambda: builders.build_kits19(raw / "kits19", shards / "kits19", progress=progress),
        )
        ds = open_dataset(shards / "kits19")  # train and eval cases; the train ones are streamed
        train = ds.subset(ds.metadata["splits"].get("train", list(range(len(ds)))))
        seconds, n, _, stats = _stream(
            train, unet3d_train(preset="reference"), 2, threads, lambda b: 0
        )
        rows.append(
            _row(
                "3D U-Net (KiTS19 NIfTI)",
                built,
                sample_s,
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


def _row(name, built, sample_s, build_s, seconds, n, throughput, stats):
    per_sample = stats.get("per_sample_ms", {})
    breakdown = " / ".join(f"{k} {v:.2f}" for k, v in per_sample.items()) + " ms/sample"
    raw_samples = built.rows + len(built.bad_samples) + built.filtered
    return {
        "workload": name,
        "build_rows": built.rows,
        "sample_data_s": sample_s,
        "build_s": build_s,
        "build_samples_per_s": raw_samples / build_s if build_s else 0.0,
        "bad": len(built.bad_samples),
        "filtered": built.filtered,
        "samples": n,
        "samples_per_s": n / seconds if seconds else 0.0,
        "throughput": throughput,
        "breakdown": breakdown,
    }


def format_table(rows):
    header = [
        "workload",
        "built rows",
        "sample s",
        "build/s",
        "train split",
        "samples/s",
        "throughput",
        "per-stage CPU time",
    ]
    body = []
    for r in rows:
        built = f"{r['build_rows']}"
        extra = [f"+{r['bad']} bad"] if r["bad"] else []
        extra += [f"{r['filtered']} filtered"] if r.get("filtered") else []
        body.append(
            [
                r["workload"],
                built + (f" ({', '.join(extra)})" if extra else ""),
                f"{r['sample_data_s']:.1f}",
                f"{r['build_samples_per_s']:.1f}",
                f"{r['samples']} samples",
                f"{r['samples_per_s']:.1f}",
                r["throughput"],
                r["breakdown"],
            ]
        )
    widths = [max(len(str(x)) for x in col) for col in zip(header, *body, strict=False)]
    lines = [
        "  ".join(str(x).ljust(w) for x, w in zip(line, widths, strict=False)).rstrip()
        for line in [header, *body]
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)
