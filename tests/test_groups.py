"""The optional-peer test groups (tests/conftest.py): a tiny pytest run in a subprocess with
one group's package blocked (a meta-path finder that raises ImportError for it)."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent

TINY = """
import pytest

try:
    import librosa
except ImportError:
    librosa = None


@pytest.mark.librosa
def test_needs_librosa():
    assert librosa is not None


@pytest.mark.torch
def test_needs_torch():
    pass


def test_plain():
    pass
"""

RUN = """
import sys


class Blocker:  # the blocked packages' imports raise ImportError, find_spec too
    def find_spec(self, fullname, path=None, target=None):
        if fullname.split(".")[0] in sys.argv[1].split(","):
            raise ModuleNotFoundError(f"No module named {fullname!r} (blocked)", name=fullname)


sys.meta_path.insert(0, Blocker())
import pytest

sys.exit(pytest.main(["-p", "no:cacheprovider", "-rs", sys.argv[2]]))
"""


def run_tiny(tmp_path, blocked, ci):
    shutil.copy(TESTS / "conftest.py", tmp_path / "conftest.py")
    (tmp_path / "pytest.ini").write_text("[pytest]\naddopts = --strict-markers\n")
    (tmp_path / "test_tiny.py").write_text(TINY)
    env = {k: v for k, v in os.environ.items() if k not in ("CI", "PYTEST_ADDOPTS")}
    if ci:
        env["CI"] = "true"
    return subprocess.run(
        [sys.executable, "-c", RUN, ",".join(blocked), str(tmp_path)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def summary(stdout):
    """The lines of the 'optional test groups' section, as {group: status}."""
    lines = stdout.split("optional test groups", 1)[1].splitlines()[1:]
    return dict(line.split(None, 1) for line in lines if line and not line.startswith("="))


@pytest.mark.torch
def test_missing_group_is_skipped_with_its_reason(tmp_path):
    proc = run_tiny(tmp_path, ["librosa"], ci=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "2 passed, 1 skipped" in proc.stdout
    assert "optional test group 'librosa': 'librosa' is not installed" in proc.stdout
    groups = summary(proc.stdout)
    assert groups["librosa"] == "NOT INSTALLED: 1 tests not run"
    assert groups["torch"] == "ran: 1 passed, 0 failed, 0 skipped"
    assert groups["jax"] in ("installed, no test selected", "not installed")


@pytest.mark.torch
def test_missing_group_in_ci_is_an_error(tmp_path):
    proc = run_tiny(tmp_path, ["librosa"], ci=True)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "1 error" in proc.stdout and "skipped" not in proc.stdout.splitlines()[-1]
    assert "CI=true and optional test group 'librosa'" in proc.stdout
    assert summary(proc.stdout)["librosa"] == "NOT INSTALLED: 1 tests not run"


def test_nothing_blocked_in_ci_runs_every_group(tmp_path):
    """What CI sees when .ci/run installed every group: the groups' tests run and pass."""
    blocked = [n for n in ("librosa", "torch") if not _installed(n)]
    proc = run_tiny(tmp_path, [], ci=True)
    if blocked:  # a local run without them: the CI rule makes these errors
        assert proc.returncode == 1 and "CI=true" in proc.stdout
    else:
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert "3 passed" in proc.stdout


def _installed(name):
    import importlib.util

    return importlib.util.find_spec(name) is not None
