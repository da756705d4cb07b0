"""Bounded fuzzing in CI and the replay of every input a fuzzer ever found.

* ``test_fuzz_harness[NAME]`` (marker ``fuzz``): runs harness ``tests/fuzz/fuzz_NAME.py``
  for ``FASTLOAD_FUZZ_SECONDS`` (default 15) in its own process through
  ``tests/fuzz/run.py``; a crash, hang, memory blow-up or unexpected exception fails it.
* ``test_regressions_replay[NAME]``: replays ``tests/fuzz/regressions/NAME/*`` (each a
  crashing or hanging input found by fuzzing, fixed since) in a subprocess, so a
  segfault is a test failure, not a dead test run.
* ``test_seeds_are_valid[NAME]``: every generated seed decodes without error (a seed
  that fails would silently weaken the corpus).
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

FUZZ_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(FUZZ_DIR))

from run import HARNESSES  # noqa: E402

NAMES = sorted(HARNESSES)
SECONDS = int(os.environ.get("FASTLOAD_FUZZ_SECONDS", "15"))


def _env():
    env = dict(os.environ)
    env.setdefault("NUMBA_CACHE_DIR", str(FUZZ_DIR.parents[1] / "build" / "numba-cache"))
    return env


@pytest.mark.atheris
@pytest.mark.fuzz
@pytest.mark.slow
@pytest.mark.parametrize("name", NAMES)
def test_fuzz_harness(name, tmp_path):
    proc = subprocess.run(
        [
            sys.executable,
            str(FUZZ_DIR / "run.py"),
            name,
            "--seconds",
            str(SECONDS),
            "--workdir",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        env=_env(),
        timeout=SECONDS + 240,
    )
    stats_file = tmp_path / name / "stats.json"
    stats = json.loads(stats_file.read_text()) if stats_file.exists() else {}
    assert proc.returncode == 0, (
        f"fuzz harness {name} found something (inputs kept in {tmp_path / name / 'artifacts'}; "
        f"copy them to tests/fuzz/regressions/{name}/):\n{proc.stdout[-4000:]}\n"
        f"{proc.stderr[-2000:]}"
    )
    assert stats.get("executions", 0) > 0, proc.stdout[-2000:]


@pytest.mark.parametrize("name", NAMES)
def test_regressions_replay(name):
    folder = FUZZ_DIR / "regressions" / name
    if not folder.is_dir():
        return  # nothing found by this harness so far
    proc = subprocess.run(
        [sys.executable, str(FUZZ_DIR / f"fuzz_{name}.py"), "--replay", str(folder)],
        capture_output=True,
        text=True,
        env=_env(),
        timeout=300,
    )
    assert proc.returncode == 0, f"{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    assert "no finding" in proc.stdout


@pytest.mark.parametrize("name", NAMES)
def test_seeds_are_valid(name, tmp_path):
    """Every seed passes its target without even a FastloadError."""
    import importlib

    from fastload.image import codec

    mod = importlib.import_module(f"fuzz_{name}")
    previous = codec.get_max_image_pixels()
    try:
        target = mod.setup()  # image harnesses lower the pixel limit: restored below
        for _seed_name, blob in mod.seeds():
            target(blob)
    finally:
        codec.set_max_image_pixels(previous)
