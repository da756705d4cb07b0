"""``fastload inspect`` and ``fastload verify``: output and exit codes."""

import json
import subprocess
import sys

import numpy as np
import pytest

from fastload.cli import main
from fastload.dataset import ShardWriter


@pytest.fixture
def dataset(tmp_path):
    path = tmp_path / "ds"
    rng = np.random.default_rng(0)
    with ShardWriter(path, shard_size_bytes=20_000, metadata={"dataset": "demo"}) as w:
        for i in range(40):
            w.write(
                {
                    "image": rng.bytes(900),
                    "label": i % 4,
                    "duration": 1.5 + i,
                    "split": "train" if i % 5 else "eval",
                    "volume": np.zeros((i % 3 + 1, 2, 2), np.int16),
                    "spacing": np.array([3.0, 0.78, 0.78]),
                }
            )
    return path


def test_inspect_prints_summary(dataset, capsys):
    assert main(["inspect", str(dataset)]) == 0
    out = capsys.readouterr().out
    assert "rows      40" in out
    assert "shards    " in out
    for name in ("image", "label", "duration", "split", "volume", "spacing"):
        assert name in out
    assert "4 distinct values in [0, 3], 10..10 rows each" in out
    assert "total 0." in out and "h, min 1.500" in out  # duration summary
    assert "varying shape: min (1, 2, 2), max (3, 2, 2)" in out
    assert "eval: 8, train: 32" in out
    assert "bytes[900]" in out and "shard-00000.arrow" in out
    assert "metadata  dataset" in out


def test_inspect_json(dataset, capsys):
    assert main(["inspect", str(dataset), "--json", "--row", "-1"]) == 0
    s = json.loads(capsys.readouterr().out)
    assert s["rows"] == 40 and s["sample_row"]["index"] == 39  # -1 is the last row
    assert s["columns"]["spacing"]["shape"] == [3]


def test_inspect_row_out_of_range_and_header(dataset, capsys):
    for row in ("40", "-41"):
        assert main(["inspect", str(dataset), "--row", row]) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith(f"error: row {row} is out of range") and "\n" not in err
    assert main(["inspect", str(dataset), "--row", "-2"]) == 0
    out = capsys.readouterr().out
    assert "row 38 (" in out and "row -2" not in out
    header = [line for line in out.splitlines() if line.startswith("format")][0]
    assert not header.endswith("None"), header


def test_inspect_missing_dataset(tmp_path, capsys):
    assert main(["inspect", str(tmp_path / "nope")]) == 1
    assert "no such dataset folder" in capsys.readouterr().err


def test_verify_ok(dataset, capsys):
    assert main(["verify", str(dataset)]) == 0
    assert capsys.readouterr().out.startswith("OK:")


def test_verify_flipped_byte_exits_nonzero_and_names_shard(dataset, capsys):
    p = dataset / "shard-00001.arrow"
    data = bytearray(p.read_bytes())
    data[len(data) // 2] ^= 1
    p.write_bytes(bytes(data))
    assert main(["verify", str(dataset)]) == 1
    out = capsys.readouterr().out
    assert "PROBLEM: shard-00001.arrow: checksum mismatch" in out and "FAILED" in out


def test_verify_json(dataset, capsys):
    (dataset / "shard-00000.arrow").unlink()
    assert main(["verify", "--json", str(dataset)]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["ok"] is False and "shard-00000.arrow" in report["problems"][0]


def test_python_dash_m_entry_point(dataset, tmp_path):
    ok = subprocess.run(
        [sys.executable, "-m", "fastload", "verify", str(dataset)], capture_output=True, text=True
    )
    assert ok.returncode == 0, ok.stderr
    bad = subprocess.run(
        [sys.executable, "-m", "fastload", "verify", str(tmp_path / "none")],
        capture_output=True,
        text=True,
    )
    assert bad.returncode == 1 and "no such dataset folder" in bad.stdout


def test_interrupted_write_is_flagged(tmp_path, capsys):
    with pytest.raises(RuntimeError):
        with ShardWriter(tmp_path / "d") as w:
            w.write({"label": 1})
            raise RuntimeError("stop")
    assert main(["inspect", str(tmp_path / "d")]) == 0
    assert "WARNING   writer was interrupted: RuntimeError: stop" in capsys.readouterr().out
    assert main(["verify", str(tmp_path / "d")]) == 0  # complete rows: a warning, not a failure
    assert "interrupted" in capsys.readouterr().err


def test_unfinished_write_fails_both_commands(tmp_path, capsys):
    w = ShardWriter(tmp_path / "d")
    w.write({"label": 1})
    w._flush()  # a shard is half written, no manifest (as after a crash)
    assert main(["inspect", str(tmp_path / "d")]) == 1
    assert "no manifest" in capsys.readouterr().err
    assert main(["verify", str(tmp_path / "d")]) == 1
    assert "manifest.json: missing" in capsys.readouterr().out
    w.abort()
