"""The README's performance table, generated from one committed ``fastload bench all --json``
run (``benchmarks/results/*.jsonl``), so it cannot drift from what was measured.

``python -m fastload.bench.results README.md`` rewrites the block between the markers
``<!-- bench-table: PATH -->`` and ``<!-- /bench-table -->`` from the results file PATH
(relative to the README); ``tests/cli/test_bench_results.py`` checks that the committed
README equals what this module generates from the committed file.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

__all__ = ["HEADLINES", "load", "readme_block", "table"]

#: (workload, concern, fastload row, [(concern, compared row, label), ...]); rows missing from
#: a results file are left out of the table.
HEADLINES = [
    (
        "ResNet-50 train transform (ImageNet-like JPEG -> 3x224x224 float32)",
        "image",
        "resnet50_train fastload",
        [
            ("image", "train torchvision.io + v2", "torchvision.io + v2"),
            ("image", "train DALI CPU pipeline", "DALI CPU"),
            ("image", "train torchvision + PIL", "torchvision + PIL"),
            (
                "image",
                "full decode 1/8 simplejpeg (floor)",
                "simplejpeg's full-frame 1/8-scale decode",
            ),
        ],
    ),
    (
        "ResNet-50 eval transform",
        "image",
        "resnet50_eval fastload",
        [
            ("image", "eval torchvision.io + v2", "torchvision.io + v2"),
            ("image", "eval DALI CPU pipeline", "DALI CPU"),
            ("image", "eval torchvision + PIL", "torchvision + PIL"),
        ],
    ),
    (
        "full JPEG decode",
        "image",
        "decode full fastload",
        [
            ("image", "decode full Pillow", "Pillow"),
        ],
    ),
    (
        "RNN-T train transform (FLAC -> 240-dim stacked log-mel)",
        "audio",
        "rnnt_train fastload",
        [
            ("audio", "rnnt_train torchaudio composition", "a torchaudio composition"),
            ("audio", "rnnt_train DALI CPU pipeline", "DALI CPU (without SpecAugment, stacking)"),
            (
                "audio",
                "rnnt_train peers soundfile+soxr+torch.stft+numpy",
                "soundfile + soxr + torch.stft",
            ),
        ],
    ),
    (
        "log-mel alone",
        "audio",
        "log_mel fastload",
        [
            ("audio", "log_mel torchaudio MelSpectrogram", "torchaudio MelSpectrogram"),
            ("audio", "log_mel torchaudio compliance.kaldi.fbank", "kaldi fbank"),
            ("audio", "log_mel DALI CPU", "DALI CPU"),
            ("audio", "log_mel librosa", "librosa"),
        ],
    ),
    (
        "KiTS19 trilinear resample (600x512x512, align_corners)",
        "volume",
        "resample f32->f32 fastload",
        [
            (
                "volume",
                "resample f32->f32 torch interpolate",
                "torch interpolate (both allocating, in a churned process)",
            ),
        ],
    ),
    (
        "KiTS19 nearest resample of uint8 labels (600x512x512)",
        "volume",
        "nearest u8 fastload",
        [
            ("volume", "nearest u8 torch mode='nearest'", "torch interpolate nearest"),
        ],
    ),
    (
        "3D U-Net train patch (128^3)",
        "volume",
        "unet3d_train (cached boxes)",
        [
            (
                "volume",
                "unet3d_train reference transforms numpy/scipy",
                "the reference's numpy/scipy transforms",
            ),
        ],
    ),
    (
        "dataset random reads (110 KB rows, every byte hashed)",
        "dataset",
        "fastload ds[i] + xxh3",
        [
            ("dataset", "files read + xxh3", "open()+read() per file"),
            ("dataset", "files os.readv reuse + xxh3", "os.readv into a reused buffer"),
        ],
    ),
    (
        "Loader resnet50_train, 1 thread (2 threads: ratio = 2-thread / 1-thread rate)",
        "image",
        "Loader resnet50_train 1 thread",
        [
            ("image", "Loader resnet50_train 2 threads", "with 2 threads"),
        ],
    ),
]

_UNITS = {"x RT": "x real time", "Mvox/s": "Mvox/s", "patches/s": "patches/s", "MB/s": "MB/s"}


def load(path):
    """(header, rows) of a JSON-lines results file; each row carries its ``concern``."""
    header, rows = None, []
    for line in Path(path).read_text().splitlines():
        if not line.strip():
            continue
        obj = json.loads(line)
        if obj.get("type") == "header":
            header = obj
        elif obj.get("type") == "row":
            rows.append(obj)
    return header, rows


def _rate(row):
    rate = row.get("items_per_s")
    if rate is None:
        return ""
    unit = row.get("unit")
    unit = _UNITS.get(unit, unit) if unit else "/s"
    text = f"{rate:,.0f}" if rate >= 100 else f"{rate:.1f}"
    return f"{text}{unit}" if unit.startswith(("x", "/")) else f"{text} {unit}"


def _ratio(row):
    """``median x (min-max)`` over the repeats, or the median alone."""
    text = f"{row['ratio']:.2f}x"
    lo_hi = row.get("ratio_range")
    if lo_hi and f"{lo_hi[0]:.2f}" != f"{lo_hi[1]:.2f}":
        text += f" ({lo_hi[0]:.2f}-{lo_hi[1]:.2f})"
    return text


def table(path):
    """The README block's lines (without the markers) for results file ``path``."""
    header, rows = load(path)
    by = {(r["concern"], r["name"]): r for r in rows}
    m = header["machine"]
    peers = ", ".join(f"{k} {v}" for k, v in sorted(header["versions"].items()) if v)
    load_avg = m.get("load_avg_at_start")
    command = header.get("command") or "fastload bench all"
    command = re.sub(r" --note( \S.*?)?(?= --|$)", "", command)
    lines = [
        f"Measured {header['started'][:10]} by `{command}`"
        f" (fastload {header.get('git_commit') or header.get('fastload')}) on {m['cpu_model']},"
        f" {header['threads']} thread(s), {m['cores_usable']} usable cores"
        + (f", load average {load_avg[0]:.1f} at the start" if load_avg else "")
        + ".",
    ]
    if header.get("note"):
        lines.append(header["note"])
    lines += [
        f"Versions: {peers}.",
        "Ratios are fastload / peer from one run: the median, then the min-max over the "
        "interleaved repeats (none: every repeat agreed to 0.01x).",
        "",
        "| workload | fastload | vs (fastload / peer) |",
        "|---|---|---|",
    ]
    for label, concern, ref_name, compared in HEADLINES:
        ref = by.get((concern, ref_name))
        if ref is None:
            continue
        cells = []
        for c, name, short in compared:
            row = by.get((c, name))
            if row is not None and row.get("ratio") is not None:
                cells.append(f"{_ratio(row)} {short}")
        lines.append(f"| {label} | {_rate(ref)} | {', '.join(cells)} |")
    return lines


_BLOCK = re.compile(
    r"(<!-- bench-table: (?P<path>\S+) -->\n)(?P<body>.*?)(<!-- /bench-table -->)", re.S
)


def readme_block(readme):
    """(results path, current body lines, generated lines) of the README's table block."""
    readme = Path(readme)
    m = _BLOCK.search(readme.read_text())
    if m is None:
        raise ValueError(f"{readme}: no <!-- bench-table: PATH --> block")
    path = readme.parent / m.group("path")
    return path, m.group("body").splitlines(), table(path)


def _main(argv):
    readme = Path(argv[0] if argv else "README.md")
    text = readme.read_text()
    path, _, lines = readme_block(readme)
    new = _BLOCK.sub(lambda m: m.group(1) + "\n".join(lines) + "\n" + m.group(4), text)
    readme.write_text(new)
    print(f"{readme}: table regenerated from {path}")
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
