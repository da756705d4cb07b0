"""Conformance suite (issue 13): fastload on other projects' test files, compared with each
file's reference reader, outcome by outcome against the reviewed table ``expected.tsv``.

Runs only when ``FASTLOAD_CONFORMANCE_CORPUS`` names the corpus (``.ci/run`` sets it);
nothing else in the test suite uses the corpus. See tests/README.md, "Conformance suite".
"""

import importlib.util
import os
import shutil

import pytest

_spec = importlib.util.spec_from_file_location(
    "fastload_conformance_harness", os.path.join(os.path.dirname(__file__), "harness.py")
)
harness = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(harness)

CORPUS = os.environ.get(harness.ENV_VAR) or None
FILES = harness.corpus_files(CORPUS) if CORPUS and os.path.isdir(CORPUS) else [None]


def test_table_follows_its_rules():
    """Every outcome but 'identical' has a reason; failures name an open defect."""
    rows = harness.read_table()
    assert rows
    assert harness.table_problems(rows) == []


@pytest.fixture(scope="module")
def results():
    if shutil.which("flac") is None:
        pytest.fail("the conformance suite needs libFLAC's `flac` tool (apt-get install flac)")
    return harness.run(CORPUS, FILES, jobs=2)


@pytest.mark.parametrize("rel", FILES)
def test_file(rel, request):
    if rel is None:
        pytest.skip(f"{harness.ENV_VAR} not set: the conformance corpus is not run")
    got = request.getfixturevalue("results")[rel]
    problem = harness.differs(harness.read_table().get(rel), got)
    assert problem is None, f"{rel}: {problem}"


def test_table_lists_exactly_the_corpus():
    if CORPUS is None:  # said once, by test_file
        return
    assert os.path.isdir(CORPUS), f"{harness.ENV_VAR}={CORPUS} is not a directory"
    rows = harness.read_table()
    assert sorted(set(FILES) - set(rows)) == [], "new corpus files: run harness.py --update"
    assert sorted(set(rows) - set(FILES)) == [], "table rows for files not in the corpus"


def test_harness_isolates_crash_hang_and_memory(tmp_path, monkeypatch):
    """The harness itself (no corpus): a crash, a hang, a huge allocation and output that
    depends on earlier decodes are reported failures, the run goes on, and ordinary files
    still get compared."""
    import io

    import numpy as np
    from PIL import Image

    rgb = np.random.default_rng(0).integers(0, 256, (20, 30, 3), dtype=np.uint8)
    for name in ("ok.png", "crash-a.png", "hang-a.png", "hog-a.png", "after.png", "stateful-a.png"):
        b = io.BytesIO()
        Image.fromarray(rgb).save(b, "PNG")
        (tmp_path / name).write_bytes(b.getvalue())
    (tmp_path / "bad.jpg").write_bytes(b"\xff\xd8\xff\xe0garbage")
    monkeypatch.setenv("FASTLOAD_CONFORMANCE_SELFTEST", "1")
    res = harness.run(str(tmp_path), harness.corpus_files(str(tmp_path)), jobs=2, timeout=5)
    got = {k: (v["outcome"], v["detail"]) for k, v in res.items()}
    assert got == {
        "ok.png": ("identical", ""),
        "after.png": ("identical", ""),
        "crash-a.png": ("crash", "SIGSEGV"),
        "hang-a.png": ("timeout", ""),
        "hog-a.png": ("memory", "MemoryError"),
        "bad.jpg": ("refused", "DecodeError"),
        "stateful-a.png": ("history", ""),
    }
