"""Loader(workers="process"): shared-memory batches, errors, crash cleanup."""

import glob
import os
import re
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import psutil
import pytest

from fastload.errors import SampleError
from fastload.loader import Loader
from fastload.testing.loader import (
    ArrayDataset,
    CrashingTransform,
    FailingTransform,
    LockTransform,
    RaggedTransform,
    SpecTransform,
)


def segments(pids):
    return [p for pid in pids for p in glob.glob(f"/dev/shm/fastload-{pid}-*")]


def test_process_matches_threads_and_leaves_no_segments():
    kw = {"transform": SpecTransform(), "batch_size": 4, "seed": 3}
    ref = list(Loader(ArrayDataset(10), num_threads=1, **kw))
    with Loader(ArrayDataset(10), num_threads=2, workers="process", **kw) as loader:
        got = list(loader)
        pids = [p.pid for p in loader._process_pool._procs]
        assert not segments(pids)  # unlinked as soon as the consumer mapped them
        for a, b in zip(got, ref, strict=False):
            assert a.keys() == b.keys()
            assert all(np.array_equal(a[k], b[k]) for k in a)
        # break mid-epoch: in-flight batches are discarded and unlinked
        for _ in loader:
            break
        assert got[0]["y"].sum() == ref[0]["y"].sum()  # earlier batches stay valid
    assert not segments(pids)
    assert loader.state_dict()["position"] == 4


def test_process_ragged_and_strings():
    with Loader(
        ArrayDataset(6),
        transform=RaggedTransform(names=True),
        batch_size=3,
        shuffle=False,
        num_threads=2,
        workers="process",
    ) as loader:
        b = next(iter(loader))
    assert b["x_length"].tolist() == [1, 2, 3]
    assert b["name"].tolist() == ["utt0", "utt1", "utt2"]


def test_process_error_raise_and_skip():
    with Loader(
        ArrayDataset(8, shard_size=4),
        transform=FailingTransform([5]),
        batch_size=4,
        shuffle=False,
        num_threads=2,
        workers="process",
    ) as loader:
        with pytest.raises(SampleError) as info:
            list(loader)
    assert info.value.index == 5 and info.value.shard == "shard-00001.arrow"
    assert "corrupt sample 5" in str(info.value) and "Traceback" in str(info.value.__cause__)
    with Loader(
        ArrayDataset(8),
        transform=FailingTransform([5]),
        batch_size=4,
        num_threads=2,
        workers="process",
        on_error="skip",
    ) as loader:
        batches = list(loader)
    assert loader.stats()["errors"][0]["index"] == 5
    assert sum(int(b["_valid"].sum()) for b in batches) == 7


def test_worker_death_raises_instead_of_hanging():
    delivered = []
    with Loader(
        ArrayDataset(8),
        transform=CrashingTransform(3),
        batch_size=2,
        shuffle=False,
        num_threads=2,
        workers="process",
    ) as loader:
        with pytest.raises(SampleError, match="died") as info:
            for batch in loader:
                delivered.append(batch["_index"].tolist())
    # raised at (or before) the batch holding sample 3: never past it, nothing after it
    assert delivered in ([], [[0, 1]]), delivered
    # the batch the consumer was waiting for: the one holding sample 3, or batch 0 when
    # the crash came before batch 0 (prepared alongside) had been received
    assert re.search(r"while batch [01] was in flight", str(info.value)), str(info.value)


SCRIPT = textwrap.dedent(
    """
    import sys, time
    from fastload.loader import Loader
    from fastload.testing.loader import ArrayDataset, SleepTransform
    loader = Loader(ArrayDataset(10_000, shape=(1000,)), transform=SleepTransform(0.002),
                    batch_size=8, num_threads=2, prefetch=4, workers="process")
    it = iter(loader)
    next(it); next(it)
    print(" ".join(str(p.pid) for p in loader._process_pool._procs), flush=True)
    time.sleep(60)
    """
)


def test_no_segments_left_after_consumer_sigkill():
    proc = subprocess.Popen(
        [sys.executable, "-c", SCRIPT], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        line = proc.stdout.readline()
        pids = [int(p) for p in line.split()]
        assert len(pids) == 2, proc.stderr.read()
        deadline = time.monotonic() + 10
        while not segments(pids) and time.monotonic() < deadline:
            time.sleep(0.05)  # workers fill the prefetch window the consumer never reads
        assert segments(pids)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and (
            segments(pids)
            or any(
                psutil.pid_exists(p) and psutil.Process(p).status() != psutil.STATUS_ZOMBIE
                for p in pids
            )
        ):
            time.sleep(0.1)
        assert not segments(pids)
        assert not any(
            psutil.pid_exists(p) and psutil.Process(p).status() != psutil.STATUS_ZOMBIE
            for p in pids
        )
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.stdout.close()
        proc.stderr.close()


def test_unpicklable_transform_is_a_clear_error():
    with pytest.raises(TypeError, match="picklable"):
        with Loader(
            ArrayDataset(4),
            transform=lambda s, rng: s,
            batch_size=2,
            num_threads=1,
            workers="process",
        ) as loader:
            list(loader)


def test_full_shared_memory_is_a_clear_error(monkeypatch):
    import errno
    import itertools

    from fastload.loader import process

    def full(fd, offset, size):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(process.os, "posix_fallocate", full)
    with pytest.raises(SampleError, match="shm-size"):
        process._write_shm({"x": np.zeros(10)}, itertools.count())
    assert not glob.glob(f"/dev/shm/fastload-{os.getpid()}-*")


def test_process_workers_persist_without_growth_over_epochs():
    import gc

    proc = psutil.Process()
    with Loader(
        ArrayDataset(64, shape=(64, 64)),
        transform=SpecTransform((64, 64)),
        batch_size=8,
        num_threads=2,
        workers="process",
    ) as loader:
        rss = {}
        children = None
        for epoch in range(15):
            for _ in loader:
                pass
            if epoch in (3, 14):  # gc.collect is slow once torch/jax are imported
                gc.collect()
                rss[epoch] = proc.memory_info().rss
            now = {c.pid for c in proc.children()}
            assert children is None or now == children  # the same two workers, nothing new
            children = now
        pids = [p.pid for p in loader._process_pool._procs]
        assert not segments(pids)
    assert loader.epoch == 15
    assert rss[14] - rss[3] < 8 * 2**20, {k: v >> 20 for k, v in rss.items()}


def test_unpicklable_sample_value_is_an_error_not_a_hang():
    with Loader(
        ArrayDataset(4), transform=LockTransform(), batch_size=2, num_threads=1, workers="process"
    ) as loader:
        with pytest.raises(SampleError, match="pickle"):
            list(loader)


def test_loaded_seed_reaches_running_workers():
    kw = {"transform": SpecTransform(), "batch_size": 4}
    with Loader(ArrayDataset(12), num_threads=2, workers="process", seed=0, **kw) as loader:
        next(iter(loader))  # the workers exist now, with seed 0
        source = Loader(ArrayDataset(12), num_threads=1, seed=7, **kw)
        next(iter(source))
        loader.load_state_dict(source.state_dict())
        got = list(loader)
    ref = list(Loader(ArrayDataset(12), num_threads=1, seed=7, **kw))[1:]
    assert len(got) == len(ref) == 2
    for a, b in zip(got, ref, strict=True):
        assert all(np.array_equal(a[k], b[k]) for k in a)


def test_script_without_main_guard_is_told_what_to_add(tmp_path):
    script = tmp_path / "train.py"
    script.write_text(
        textwrap.dedent(
            """
            from fastload.loader import Loader
            from fastload.testing.loader import ArrayDataset, SpecTransform

            loader = Loader(ArrayDataset(8), transform=SpecTransform(), batch_size=2,
                            num_threads=2, workers="process")
            for batch in loader:
                pass
            """
        )
    )
    done = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 1
    last = done.stderr.strip().splitlines()[-1]
    assert 'put its top-level code under `if __name__ == "__main__":`' in last, done.stderr
    assert "train.py" in last and done.stderr.count("Traceback") == 1, done.stderr
