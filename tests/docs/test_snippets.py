"""Every code example of README.md and docs/ runs, against small sample data, so none rots.

- ```python blocks of README.md and docs/*.md run as scripts in a scratch folder holding
  sample shards at the paths they name, with the placeholders of a training loop defined
  (PRELUDE); ``/data/...`` paths point at sample raw data. A block needing what a test
  machine lacks (an object store) is skipped with the reason in SKIP_PYTHON.
- Shell blocks (README ```bash, docs ``.. code-block:: bash``) run line by line;
  ``/data/...`` raw-data paths point at sample raw data made by fastload.testing.data.
  A command in SKIP is not run, for the reason written beside it; any other command that
  is not a ``python -m fastload`` command fails this test, so a new kind of example has to
  be made runnable or listed here with its reason.
- The pages' ``>>>`` examples run in the docs job: ``sphinx-build -b doctest`` (.ci/docs).
"""

import os
import re
import shlex
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
DOCS = ROOT / "docs"

SKIP = {
    "pip install": "installing is CI's own first step (.ci/run); .ci/wheel installs the wheel",
    "python -m pytest": "the test suite itself (benchmarks/ runs there once per benchmark)",
    "python -m fastload demo": "~70 s; .ci/wheel runs it from the installed wheel",
    "python -m fastload bench": "minutes of timing; benchmarks/ run once each in the suite",
}

# python blocks that need something a test machine has not got, with the reason
SKIP_PYTHON = {
    "s3://": "needs an object store; the same calls run against a moto S3 server in "
    "tests/remote/test_open_remote.py",
}

PRELUDE = """
from pathlib import Path as _Path
from fastload import builders as _builders
from fastload.testing import data as _data

if {imagenet} and not _Path("shards/imagenet-train").exists():
    _data.make_imagenet("raw/imagenet", classes=2, per_class=4)
    _builders.build_imagenet("raw/imagenet", "shards/imagenet-train", workers=0, progress=False)
if {kits19} and not _Path("shards/kits19").exists():
    _data.make_kits19("raw/kits19", cases=2, shape=(24, 64, 64))
    _builders.build_kits19("raw/kits19", "shards/kits19", workers=0, progress=False)
rank, world, epochs = 0, 1, 1
checkpoint = {{}}


def train_step(batch):
    assert batch["image"].shape[1:] == (3, 224, 224), batch["image"].shape


def my_gil_bound_transform(sample, rng):
    return {{"label": sample["label"]}}
"""


def _blocks(text, lang):
    """```lang fenced blocks of a Markdown text (also indented ones, in list items)."""
    found = re.findall(rf"^( *)```{lang}\n(.*?)^\1```", text, flags=re.S | re.M)
    return [
        textwrap.dedent("\n".join(line[len(pad) :] for line in code.splitlines())) + "\n"
        for pad, code in found
    ]


def _python_blocks():
    out = []
    for doc in [README, *sorted(DOCS.rglob("*.md"))]:
        for i, code in enumerate(_blocks(doc.read_text(), "python")):
            out.append(pytest.param(code, id=f"{doc.relative_to(ROOT).as_posix()}-{i}"))
    return out


def _rst_bash(text):
    out = []
    for m in re.finditer(r"^\.\. code-block:: bash\n\n((?:   .*\n|\n)+)", text, flags=re.M):
        out.append("\n".join(line[3:] for line in m.group(1).splitlines()))
    return out


def _commands():
    found = []
    for block in _blocks(README.read_text(), "bash"):
        found += [("README.md", line) for line in block.splitlines()]
    for page in sorted(DOCS.rglob("*.rst")):
        for block in _rst_bash(page.read_text()):
            found += [(page.relative_to(ROOT).as_posix(), line) for line in block.splitlines()]
    out = []
    for where, line in found:
        command = line.split(" #")[0].strip()
        if command:
            for part in command.split("&&"):
                out.append((where, part.strip()))
    return out


def _env():
    env = {**os.environ}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env.setdefault("NUMBA_CACHE_DIR", str(ROOT / "build" / "numba-cache"))
    return env


@pytest.fixture(scope="module")
def raw_data(tmp_path_factory):
    """Sample raw layouts for the /data/... paths the examples use."""
    from fastload.testing.data import make_imagenet, make_kits19, make_librispeech

    base = tmp_path_factory.mktemp("raw")
    make_imagenet(base / "imagenet", classes=2, per_class=3)
    make_librispeech(base / "LibriSpeech", speakers=1, chapters=1, utterances=2)
    make_kits19(base / "kits19" / "data", cases=2, shape=(24, 64, 64))
    return base


def test_every_shell_command_is_run_or_skipped_with_a_reason():
    for where, command in _commands():
        runnable = command.startswith("python -m fastload ")
        assert runnable or any(command.startswith(k) for k in SKIP), (
            f"{where}: `{command}` is neither a fastload command nor in SKIP (with a reason)"
        )


@pytest.mark.slow
def test_shell_commands_run(tmp_path, raw_data):
    commands = [(w, c) for w, c in _commands() if not any(c.startswith(k) for k in SKIP)]
    assert commands, "no runnable shell example found"
    for where, command in commands:
        command = command.replace("/data/", f"{raw_data}/")
        argv = shlex.split(command)
        argv[0] = sys.executable
        result = subprocess.run(
            argv, cwd=tmp_path, env=_env(), capture_output=True, text=True, timeout=600
        )
        assert result.returncode == 0, f"{where}: `{command}` failed:\n{result.stderr[-3000:]}"


@pytest.mark.slow
@pytest.mark.parametrize("code", _python_blocks())
def test_python_blocks_run(tmp_path, raw_data, code):
    for marker, reason in SKIP_PYTHON.items():
        if marker in code:
            pytest.skip(reason)
    code = code.replace("/data/", f"{raw_data}/")
    # sample shards at the paths a block reads (unless it builds them itself)
    prelude = PRELUDE.format(
        imagenet="imagenet-train" in code and "build_imagenet" not in code,
        kits19="shards/kits19" in code and "build_kits19" not in code,
    )
    script = tmp_path / "example.py"
    script.write_text(prelude + "\n" + code)
    result = subprocess.run(
        [sys.executable, str(script)],
        cwd=tmp_path,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
