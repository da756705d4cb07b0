"""The README's main job and the bench command, end to end (they must run in CI)."""

import json
import subprocess
import sys

import pytest

from fastload.cli.demo import format_table, run_demo


@pytest.mark.slow
def test_demo_builds_streams_and_prints_a_row_per_workload(tmp_path):
    rows = run_demo(workdir=tmp_path, threads=2)
    assert [r["workload"].split()[0] for r in rows] == ["ResNet-50", "RNN-T", "3D"]
    for r in rows:
        assert r["build_rows"] > 0 and r["samples"] > 0 and r["samples_per_s"] > 0
        assert r["bad"] == 0
    table = format_table(rows)
    assert "x real time" in table and "MB/s" in table and "Mvox/s" in table


@pytest.mark.slow
def test_bench_quick_runs_every_concern_and_writes_json_and_plot(tmp_path):
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "fastload",
            "bench",
            "all",
            "--quick",
            "--threads",
            "1",
            "--json",
            str(tmp_path / "bench.json"),
            "--plot",
            str(tmp_path / "bench.png"),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    lines = [json.loads(x) for x in (tmp_path / "bench.json").read_text().splitlines()]
    assert lines[0]["type"] == "header" and lines[-1]["type"] == "end"
    results = {}
    for x in lines[1:-1]:  # JSON lines: one per row, written as measured
        results.setdefault(x.pop("concern"), []).append(x)
    assert set(results) == {"image", "audio", "volume", "loader", "dataset"}
    for concern, rows in results.items():
        assert rows, concern
        for r in rows:  # every row says what it is; rates are rates, memory is memory
            assert r.pop("type") == "row"
            if r["kind"] in ("reference", "peer", "variant", "baseline"):
                assert r["items_per_s"] > 0, r
            elif r["kind"] == "memory":
                assert r["value"] > 0 and r["unit"] == "MiB", r
            elif r["kind"] == "time":  # a start-up duration, apart from the rates
                assert r["value"] > 0 and r["unit"] == "s", r
            else:  # a peer that is not installed or fails to import: a row, no rate
                assert r["kind"] in ("missing", "broken", "skipped"), r
                assert r["items_per_s"] is None, r
            if "goal" in r:
                assert isinstance(r["met"], bool), r
        assert rows[0]["kind"] == "reference", concern  # each section opens with fastload
        assert f"== {concern} ==" in out.stdout
    assert (tmp_path / "bench.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
