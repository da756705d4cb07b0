"""Crash safety: a writer killed with SIGKILL mid-shard leaves nothing that looks complete."""

import os
import signal
import subprocess
import sys
import textwrap

import pyarrow as pa
import pytest

from fastload.dataset import ShardWriter, open_dataset, verify
from fastload.errors import ShardError

CHILD = textwrap.dedent(
    """
    import sys, time
    from fastload.dataset import ShardWriter
    w = ShardWriter(sys.argv[1], shard_size_bytes=200_000, batch_size_bytes=20_000,
                    overwrite=sys.argv[2] == "1")
    for i in range(100):
        w.write({"x": bytes([i % 256]) * 5000, "i": i})
    print("mid-shard", flush=True)
    time.sleep(120)  # killed here, with shard 2 half written
    """
)


def _run_and_kill(path, overwrite):
    proc = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(path), "1" if overwrite else "0"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        line = proc.stdout.readline()
        assert line.strip() == "mid-shard", line
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()
    assert proc.returncode == -signal.SIGKILL


@pytest.mark.parametrize("over_existing", [False, True], ids=["fresh", "overwriting"])
def test_killed_writer_leaves_no_complete_dataset(tmp_path, over_existing):
    path = tmp_path / "d"
    if over_existing:
        with ShardWriter(path) as w:
            w.write({"x": b"old", "i": -1})
    _run_and_kill(path, over_existing)

    names = sorted(p.name for p in path.iterdir())
    assert "manifest.json" not in names, "the old manifest must be gone before new shards appear"
    assert "shard-00000.arrow" in names and "shard-00001.arrow" in names
    tmp = path / ".shard-00002.arrow.tmp"
    assert tmp.exists() and tmp.stat().st_size > 0, names
    assert "shard-00002.arrow" not in names

    # Finished shards are complete Arrow files; the half-written one is not a shard name
    # and does not parse as an Arrow file (no footer yet).
    assert pa.ipc.open_file(pa.memory_map(str(path / "shard-00000.arrow"))).num_record_batches
    with pytest.raises(pa.ArrowInvalid):
        pa.ipc.open_file(pa.memory_map(str(tmp)))

    with pytest.raises(ShardError, match=r"no manifest.*did not finish"):
        open_dataset(path)
    report = verify(path)
    assert not report.ok
    assert any("manifest.json" in p and "missing" in p for p in report.problems)
    assert any(".shard-00002.arrow.tmp" in w for w in report.warnings)

    with pytest.raises(ShardError, match="unfinished write"):
        ShardWriter(path)
    with ShardWriter(path, overwrite=True) as w:
        w.write({"x": b"new", "i": 0})
    assert sorted(p.name for p in path.iterdir()) == ["manifest.json", "shard-00000.arrow"]
    assert open_dataset(path)[0]["i"] == 0
    assert verify(path).ok
