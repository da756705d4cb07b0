"""Interrupting a build never loses data; errors stop it; the CLI says what went wrong.

A build is signalled (SIGINT / SIGTERM to its whole process group, SIGKILL to the parent
alone) at many moments, worker start-up included; then it is rerun, and the result must
be byte-identical to an uninterrupted build.
"""

import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

import fastload
from fastload import builders
from fastload.builders.engine import run_build
from fastload.builders.imagenet import ImageEncoder, list_imagenet
from fastload.cli import main
from fastload.errors import SourceError
from fastload.testing.build_faults import FaultyEncoder
from fastload.testing.data import make_imagenet

PER_SHARD = 2
# The goal is that the first Ctrl-C stops a build within 2 s; on a loaded machine a
# wall-clock assert on it is flaky, so these tests check what happened (exit status, one
# line, workers gone, rerun identical) and use HANG_S only as a hang guard.
HANG_S = 60.0


def _files(path):
    return {p.name: p.read_bytes() for p in sorted(Path(path).iterdir())}


def _live_in_group(pgid):
    """Pids of processes of group ``pgid`` that are still running (zombies do not count:
    the container's pid 1 may never reap the resource tracker)."""
    live = []
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            stat = (d / "stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[2]) == pgid and fields[0] != "Z":
            live.append(int(d.name))
    return live


@pytest.fixture(scope="module")
def raw(tmp_path_factory):
    return make_imagenet(tmp_path_factory.mktemp("raw") / "imagenet", classes=3, per_class=6)


@pytest.fixture(scope="module")
def reference(raw, tmp_path_factory):
    out = tmp_path_factory.mktemp("ref") / "ds"
    builders.build_imagenet(raw, out, workers=0, samples_per_shard=PER_SHARD)
    return _files(out)


def _cli(raw, out, *extra):
    return [
        sys.executable,
        "-m",
        "fastload",
        "build",
        "imagenet",
        str(raw),
        str(out),
        "--samples-per-shard",
        str(PER_SHARD),
        "--quiet",
        *extra,
    ]


@pytest.fixture(scope="module")
def clean_run_s(raw, tmp_path_factory):
    """Wall time of one uninterrupted CLI build with 2 workers (start-up included)."""
    out = tmp_path_factory.mktemp("clean") / "ds"
    t = time.monotonic()
    done = subprocess.run(_cli(raw, out, "--workers", "2"), capture_output=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return time.monotonic() - t


def _before_fastload_main(stderr):
    """A KeyboardInterrupt traceback from before ``fastload/__main__.py`` ran (interpreter
    start-up, or importing the package itself): Python's default Ctrl-C behaviour, since
    no handler of ours is installed yet."""
    frames = [line for line in stderr.splitlines() if line.lstrip().startswith("File ")]
    ours = [f for f in frames if "fastload" in f and "fastload/__init__.py" not in f]
    return stderr.rstrip().endswith("KeyboardInterrupt") and not ours


# fractions of a clean run: the first ones land while Python and the workers start
CASES = [
    (signal.SIGINT, 2, [0.05, 0.15, 0.3, 0.45, 0.65, 0.85]),
    (signal.SIGINT, 1, [0.1, 0.5]),
    (signal.SIGTERM, 2, [0.2, 0.45, 0.7]),
    (signal.SIGKILL, 2, [0.3, 0.6, 0.85]),
]


@pytest.mark.slow
@pytest.mark.parametrize(
    ("sig", "workers", "fractions"), CASES, ids=[f"{c[0].name}-{c[1]}w" for c in CASES]
)
def test_signal_at_many_points_then_rerun_is_identical(
    sig, workers, fractions, raw, reference, clean_run_s, tmp_path
):
    for i, fraction in enumerate(fractions):
        out = tmp_path / f"ds{i}"
        proc = subprocess.Popen(
            _cli(raw, out, "--workers", str(workers)),
            start_new_session=True,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        time.sleep(fraction * clean_run_s)
        sent = time.monotonic()
        if sig == signal.SIGKILL:
            os.kill(proc.pid, sig)  # the parent alone: its workers must die with it
        else:
            os.killpg(proc.pid, sig)  # as a terminal's Ctrl-C does: the whole group
        _, stderr = proc.communicate(timeout=HANG_S)
        latency = time.monotonic() - sent  # reported, not asserted
        where = f"{sig.name} at {fraction:.2f} of a clean run (exit after {latency:.2f} s)"
        if proc.returncode != 0:  # (0: it finished before the signal)
            # -2 for SIGINT: CPython may end an interrupted run by re-raising SIGINT;
            # -15 / a bare traceback: the signal came while the interpreter itself was
            # starting, before any fastload code ran (nothing of ours to test then)
            before_us = _before_fastload_main(stderr) or (sig == signal.SIGTERM and not stderr)
            expected = {
                signal.SIGINT: (130, -2, 1) if before_us else (130, -2),
                signal.SIGTERM: (143, -15) if before_us else (143,),
                signal.SIGKILL: (-9,),
            }
            assert proc.returncode in expected[sig], (where, stderr)
            if sig != signal.SIGKILL:
                # one line, never worker tracebacks
                assert before_us or stderr.strip() in ("interrupted", "terminated"), (
                    where,
                    stderr,
                )
        deadline = time.monotonic() + HANG_S
        while _live_in_group(proc.pid) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert not _live_in_group(proc.pid), f"{where}: workers outlived the build"
        # rerun to completion (in this process: the output does not depend on workers);
        # a SIGKILL may land after the manifest was committed, before the process exited
        if proc.returncode != 0 and not (out / "manifest.json").exists():
            builders.build_imagenet(raw, out, workers=0, samples_per_shard=PER_SHARD)
        elif proc.returncode != 0 and (out / ".parts").exists():
            assert sig == signal.SIGKILL, f"{where}: Ctrl-C in the commit step left .parts/"
            # killed between the manifest and the clean-up: a rerun refuses the complete
            # dataset and removes the leftovers
            with pytest.raises(SourceError, match="already there"):
                builders.build_imagenet(raw, out, workers=0, samples_per_shard=PER_SHARD)
        assert _files(out) == reference, where


def test_complete_dataset_with_leftover_parts_is_refused_and_cleaned(raw, reference, tmp_path):
    """A build killed after writing its manifest, before removing .parts/: the dataset is
    complete (the manifest comes last); a rerun refuses it and removes the leftovers."""
    out = tmp_path / "ds"
    builders.build_imagenet(raw, out, workers=0, samples_per_shard=PER_SHARD)
    (out / ".parts" / "part-00000").mkdir(parents=True)
    (out / ".parts" / "part-00000" / "manifest.json").write_text("{}")
    with pytest.raises(SourceError, match="already there"):
        builders.build_imagenet(raw, out, workers=0, samples_per_shard=PER_SHARD)
    assert _files(out) == reference


def test_interrupt_in_the_commit_step_finishes_it_first(raw, reference, tmp_path, monkeypatch):
    """A Ctrl-C while parts are merged is held until the merge and clean-up are done."""
    import fastload.builders.engine as engine

    real_merge = engine.merge_parts

    def merge_then_ctrl_c(*args, **kwargs):
        signal.raise_signal(signal.SIGINT)  # arrives in the middle of the commit step
        return real_merge(*args, **kwargs)

    monkeypatch.setattr(engine, "merge_parts", merge_then_ctrl_c)
    # the conditions a Ctrl-C needs to become a KeyboardInterrupt (a full-suite run once
    # saw none raised: this names what was different if it happens again)
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler, signal.getsignal(
        signal.SIGINT
    )
    assert signal.SIGINT not in signal.pthread_sigmask(signal.SIG_BLOCK, []), "SIGINT blocked"
    out = tmp_path / "ds"
    with pytest.raises(KeyboardInterrupt):
        builders.build_imagenet(raw, out, workers=0, samples_per_shard=PER_SHARD)
    assert _files(out) == reference


@pytest.mark.parametrize("workers", [0, 2])
def test_unexpected_exception_stops_the_build_and_marks_nothing_complete(
    raw, reference, tmp_path, workers
):
    items, wnids = list_imagenet(raw)
    victim = Path(items[5].path).name  # in part 2 of 9
    good = ImageEncoder(root=str(raw))
    out = tmp_path / "ds"
    with pytest.raises(NameError, match="injected NameError") as info:
        run_build(
            items,
            FaultyEncoder(good, victim),
            out,
            samples_per_part=PER_SHARD,
            workers=workers,
            metadata=None,
        )
    if workers > 0:  # the worker's traceback comes along
        assert "build_faults.py" in str(info.value.__cause__)
    assert not (out / "manifest.json").exists()
    assert not (out / ".parts" / "part-00002").exists()  # the part that saw it
    # its half-written copy is gone (a killed peer's may stay: the rerun removes those)
    assert not list((out / ".parts").glob("part-00002.tmp-*"))
    # the same build, fixed, gives exactly the uninterrupted result
    run_build(items, good, tmp_path / "clean", samples_per_part=PER_SHARD, workers=0)
    run_build(items, good, out, samples_per_part=PER_SHARD, workers=workers)
    assert _files(out) == _files(tmp_path / "clean")


def test_an_orphan_writer_of_the_same_part_cannot_corrupt_it(raw, tmp_path):
    """A worker of a killed build may still finish a part while the rerun builds it too."""
    from fastload.builders.engine import _build_part, _part_done

    items, _ = list_imagenet(raw)
    enc = ImageEncoder(root=str(raw))
    args = (str(tmp_path), 0, items[:PER_SHARD], enc, "skip", 2**40, None)
    first = _build_part(*args)
    second = _build_part(*args)  # finds a complete copy there: keeps it
    assert first == second and _part_done(tmp_path, 0)
    assert [p.name for p in (tmp_path / ".parts").iterdir()] == ["part-00000"]


def test_cli_exit_status_for_bad_samples_and_verify_counts_them(raw, tmp_path):
    bad_raw = tmp_path / "raw"
    bad_raw.mkdir()
    (bad_raw / "train").symlink_to(raw / "train", target_is_directory=True)
    # a truncated JPEG in a class folder of its own (leaves `raw` untouched)
    (tmp_path / "extra" / "n99999999").mkdir(parents=True)
    victim = sorted((raw / "train").glob("*/*.JPEG"))[0]
    (tmp_path / "extra" / "n99999999" / "broken.JPEG").write_bytes(victim.read_bytes()[:500])
    mixed = tmp_path / "mixed" / "train"
    mixed.mkdir(parents=True)
    for d in (*(raw / "train").iterdir(), tmp_path / "extra" / "n99999999"):
        (mixed / d.name).symlink_to(d, target_is_directory=True)
    src = mixed.parent
    assert main(["build", "imagenet", str(src), str(tmp_path / "a"), "--workers", "0",
                 "--quiet"]) == 3  # fmt: skip
    assert main(["build", "imagenet", str(src), str(tmp_path / "b"), "--workers", "0",
                 "--quiet", "--on-error", "skip"]) == 0  # fmt: skip
    assert main(["build", "imagenet", str(src), str(tmp_path / "c"), "--workers", "0",
                 "--quiet", "--on-error", "fail"]) == 3  # fmt: skip
    assert not (tmp_path / "c" / "manifest.json").exists()
    report = fastload.verify(tmp_path / "a")
    assert report.ok and report.bad_samples == 1
    done = subprocess.run(
        [sys.executable, "-m", "fastload", "verify", str(tmp_path / "a"), "--quiet"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0 and "1 bad sample(s)" in done.stdout, done.stdout


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["imagenet", "{tmp}/nope", "{tmp}/o"], "nope: source folder does not exist"),
        (["imagenet", "{raw}", "{tmp}/o", "--split", "vali"], "no split folder 'vali'"),
        (["imagenet", "{raw}", "{ref}"], "a complete dataset is already there"),
        (["librispeech", "{raw}", "{tmp}/o", "--subsets", "train-clean-9"], "subset folder"),
        (["kits19", "{raw}", "{tmp}/o"], "no case_XXXXX folders"),
        (["imagenet", "{raw}", "{tmp}/o", "--samples-per-shard", "0"], "--samples-per-shard"),
        (["imagenet", "{raw}", "{tmp}/o", "--workers", "x"], "--workers"),
    ],
)
def test_cli_usage_mistakes_are_one_line_and_status_2(raw, tmp_path, capsys, argv, message):
    ref = tmp_path / "done"
    ref.mkdir()
    (ref / "manifest.json").write_text("{}")
    argv = [a.format(tmp=tmp_path, raw=raw, ref=ref) for a in argv]
    try:
        status = main(["build", *argv])
    except SystemExit as exc:  # argparse's own errors (bad option values)
        status = exc.code
    err = capsys.readouterr().err
    assert status == 2
    assert message in err.strip().splitlines()[-1], err
    assert "Traceback" not in err
    assert not (tmp_path / "o" / "manifest.json").exists()


def test_build_help_documents_every_option_with_its_default(capsys):
    for dataset in ("imagenet", "librispeech", "kits19"):
        with pytest.raises(SystemExit):
            main(["build", dataset, "--help"])
        body = capsys.readouterr().out.split("options:")[1].split("exit status:")[0]
        described = [
            " ".join(chunk.split()) for chunk in re.split(r"\n  (?=-)", body) if chunk.strip()
        ]
        assert len(described) >= 7, body
        for chunk in described:  # every option but --help says its default
            assert chunk.startswith("-h") or "(default: " in chunk, chunk


def test_worker_processes_in_a_script_without_main_guard_say_what_to_add(raw, tmp_path):
    script = tmp_path / "unguarded.py"
    script.write_text(
        textwrap.dedent(
            f"""
            from fastload.builders import build_imagenet
            build_imagenet({str(raw)!r}, {str(tmp_path / "ds")!r}, workers=2,
                           samples_per_shard={PER_SHARD}, progress=False)
            """
        )
    )
    done = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 1
    last = done.stderr.strip().splitlines()[-1]
    assert 'put its top-level code under `if __name__ == "__main__":`' in last, done.stderr
    assert "already there" not in done.stderr and "BrokenProcessPool" not in done.stderr
    assert "unguarded.py" in last
    summary = json.dumps(done.stderr)
    assert summary.count("Traceback") == 1  # the parent's only, no worker tracebacks


@pytest.mark.slow
def test_a_second_ctrl_c_exits_at_once(raw, reference, clean_run_s, tmp_path):
    out = tmp_path / "ds"
    proc = subprocess.Popen(
        _cli(raw, out, "--workers", "2"),
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    time.sleep(0.5 * clean_run_s)
    for _ in range(2):  # an impatient user
        try:
            os.killpg(proc.pid, signal.SIGINT)
        except ProcessLookupError:
            break
        time.sleep(0.01)
    _, stderr = proc.communicate(timeout=HANG_S)
    if proc.returncode != 0:
        assert proc.returncode in (130, -2), stderr
        assert "Traceback" not in stderr, stderr
    deadline = time.monotonic() + HANG_S
    while _live_in_group(proc.pid) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not _live_in_group(proc.pid)
    if proc.returncode != 0:
        builders.build_imagenet(raw, out, workers=0, samples_per_shard=PER_SHARD)
    assert _files(out) == reference
