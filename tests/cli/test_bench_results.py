"""The README's performance table is generated from the committed results file."""

import json
from pathlib import Path

from fastload.bench.results import readme_block, table

ROOT = Path(__file__).resolve().parents[2]


def _write(path, rows):
    header = {
        "type": "header",
        "started": "2026-12-05T12:00:00+00:00",
        "command": "fastload bench all --json x",
        "threads": 1,
        "fastload": "0.1.0",
        "git_commit": "abc1234",
        "note": "shared machine",
        "machine": {"cpu_model": "Some CPU", "cores_usable": 2, "load_avg_at_start": [3.5, 3, 3]},
        "versions": {"simplejpeg": "1.9.0", "torchaudio": None},
    }
    lines = [header, *({"type": "row", **r} for r in rows), {"type": "end", "broken": []}]
    path.write_text("".join(json.dumps(x) + "\n" for x in lines))


def test_table_rows_ranges_and_missing_peers(tmp_path):
    p = tmp_path / "r.jsonl"
    _write(
        p,
        [
            {
                "concern": "image",
                "name": "resnet50_train fastload",
                "kind": "reference",
                "items_per_s": 534.3,
                "ratio": 1.0,
            },
            {
                "concern": "image",
                "name": "train torchvision.io + v2",
                "kind": "peer",
                "items_per_s": 219.7,
                "ratio": 2.43,
                "ratio_range": [2.16, 2.6],
            },
            {
                "concern": "image",
                "name": "train DALI CPU pipeline",
                "kind": "peer",
                "items_per_s": 190.0,
                "ratio": 2.81,
                "ratio_range": [2.812, 2.813],
            },
            {
                "concern": "audio",
                "name": "log_mel fastload",
                "kind": "reference",
                "items_per_s": 7705.1,
                "ratio": 1.0,
                "unit": "x RT",
            },
        ],
    )
    lines = table(p)
    assert "Some CPU" in lines[0] and "load average 3.5" in lines[0]
    assert lines[1] == "shared machine"
    assert "simplejpeg 1.9.0" in lines[2] and "torchaudio" not in lines[2]  # not installed
    train = next(x for x in lines if x.startswith("| ResNet-50 train"))
    assert "| 534/s |" in train
    assert "2.43x (2.16-2.60) torchvision.io + v2" in train and "2.81x DALI CPU" in train
    assert "torchvision + PIL" not in train  # not in the file: left out, not invented
    assert any(x.startswith("| log-mel alone | 7,705x real time |") for x in lines)
    assert not any(x.startswith("| ResNet-50 eval") for x in lines)


def test_readme_table_is_the_committed_run():
    path, body, generated = readme_block(ROOT / "README.md")
    assert path.parent == ROOT / "benchmarks" / "results" and path.exists(), path
    # regenerate with: python -m fastload.bench.results README.md
    assert body == generated
