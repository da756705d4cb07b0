"""`fastload bench all` survives a failing row: dependencies checked before any timing,
rows written as JSON lines the moment they are measured, one failure reported without
losing the others (fake concerns, no timing)."""

import json
import os
import sys

from fastload.bench.harness import THREAD_VARS, race, thread_env
from fastload.bench.runner import run_all

FAKE_OK = """
from fastload.bench import reference, peer
from fastload.bench.runner import guarded
REQUIRES = {"json": (False, "the json row"), "no_such_peer_xyz": (False, "the xyz peer row")}

def _first():
    import os
    # the thread variables were in the environment before this child imported anything
    assert os.environ["OMP_NUM_THREADS"] == "3", os.environ.get("OMP_NUM_THREADS")
    return [reference("fake fastload", 100.0), peer("fake peer", 50.0, 100.0)]

def _fails():
    yield reference("fake second group", 10.0)
    raise ValueError("this row group fails")

def rows(threads=1, quick=False, peer_python=None):
    yield from guarded("fake group 1", _first)
    yield from guarded("fake group 2", _fails)
    yield reference("fake after the failure", 7.0)
"""

FAKE_CRASH = """
import os, sys
from fastload.bench import reference
REQUIRES = {}

def rows(threads=1, quick=False, peer_python=None):
    yield reference("crash first row", 1.0)
    sys.stdout.flush()
    os.abort()  # the whole child dies: its first row must still be kept
"""

FAKE_NEEDS = """
REQUIRES = {"no_such_required_xyz": (True, "all")}

def rows(threads=1, quick=False, peer_python=None):
    raise AssertionError("a concern whose required module is missing must not run")
"""


def test_a_failing_row_group_and_a_crashing_concern_lose_nothing(tmp_path, monkeypatch):
    for name, text in (
        ("fake_ok", FAKE_OK),
        ("fake_crash", FAKE_CRASH),
        ("fake_needs", FAKE_NEEDS),
    ):
        (tmp_path / f"{name}.py").write_text(text)
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(tmp_path), *sys.path]))
    skips, seen = [], []
    path = tmp_path / "bench.jsonl"
    results = run_all(
        {"ok": "fake_ok", "crash": "fake_crash", "needs": "fake_needs"},
        threads=3,
        json_path=path,
        on_skip=skips.append,
        on_row=lambda concern, row: seen.append((concern, row["name"])),
    )
    # checked before any timing: which rows are skipped and why
    assert {(s["concern"], s["module"], s["whole_concern"]) for s in skips} == {
        ("ok", "no_such_peer_xyz", False),
        ("needs", "no_such_required_xyz", True),
    }
    assert all(s["reason"] == "not installed" for s in skips)
    names = [r["name"] for r in results["ok"]]
    assert names == [
        "fake fastload",
        "fake peer",
        "fake second group",
        "fake group 2 (broken: ValueError: this row group fails)",
        "fake after the failure",
    ]
    assert results["ok"][1]["ratio"] == 2.0
    crash = results["crash"]
    assert crash[0]["name"] == "crash first row"
    assert crash[1]["kind"] == "broken" and "signal 6" in crash[1]["notes"]
    assert [r["kind"] for r in results["needs"]] == ["skipped"]
    assert "no_such_required_xyz" in results["needs"][0]["notes"]

    lines = [json.loads(x) for x in path.read_text().splitlines()]
    assert lines[0]["type"] == "header" and lines[-1]["type"] == "end"
    assert lines[0]["machine"]["cpu_model"] and lines[0]["threads"] == 3
    assert lines[0]["versions"]["json"] and lines[0]["versions"]["no_such_peer_xyz"] is None
    rows = [x for x in lines if x["type"] == "row"]
    assert [(x["concern"], x["name"]) for x in rows] == seen
    assert len(rows) == 8 and len(lines[-1]["broken"]) == 2


def test_thread_env_and_race_interleave():
    env = thread_env(2, {"PATH": "/bin"})
    assert all(env[v] == "2" for v in THREAD_VARS) and env["PATH"] == "/bin"
    order = []
    t = race(
        {
            "a": [lambda: order.append("a1"), lambda: order.append("a2")],
            "b": [lambda: order.append("b1"), lambda: order.append("b2")],
        },
        2,
        warmup=0,
    )
    assert order == ["a1", "b1", "a2", "b2"] * 2  # chunk j of every contender before j + 1
    assert len(t["a"].walls) == 2 and t["a"].wall >= 0 and t["b"].cpu >= 0
