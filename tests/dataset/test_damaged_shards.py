"""Damaged shard bytes never crash the reader: rows read fine or raise ShardError.

Random byte overwrites (same file size, so open_dataset's cheap checks pass) are read back
row by row in a child process, so a segfault fails this test instead of killing pytest.
"""

import ast
import subprocess
import sys
import textwrap

CHILD = textwrap.dedent(
    """
    import collections, shutil, sys
    import numpy as np
    import fastload
    from fastload.errors import ShardError

    src = sys.argv[1]
    rng = np.random.default_rng(0)
    with fastload.ShardWriter(src, batch_size_bytes=3000, fsync=False) as w:
        for i in range(30):
            w.write({"img": rng.bytes(int(rng.integers(0, 300))), "label": i, "s": f"s{i}",
                     "f": bool(i % 2), "a": rng.random((i % 4, 3)).astype(np.float32),
                     "fx": np.arange(4, dtype=np.int16), "z": np.asarray(i * 0.5)})
    path = src + "/shard-00000.arrow"
    orig = open(path, "rb").read()
    outcomes = collections.Counter()
    r = np.random.default_rng(int(sys.argv[2]))
    for trial in range(int(sys.argv[3])):
        d = bytearray(orig)
        for _ in range(int(r.integers(1, 4))):
            d[int(r.integers(0, len(d)))] = int(r.integers(0, 256))
        open(path, "wb").write(d)
        try:
            ds = fastload.open_dataset(src)
            for i in range(len(ds)):
                for v in ds[i].values():
                    if isinstance(v, memoryview):
                        bytes(v)
                    elif isinstance(v, np.ndarray):
                        v.sum()
            ds.read_column("label")
            ds.read_column("s")
            outcomes["ok"] += 1
        except ShardError:
            outcomes["ShardError"] += 1
        except Exception as exc:
            print("UNEXPECTED", trial, repr(exc))
            outcomes["other"] += 1
    print(dict(outcomes))
    """
)


def test_random_byte_damage_is_safe(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, str(tmp_path / "d"), "1", "200"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, f"reader crashed (rc {proc.returncode}): {proc.stderr[-2000:]}"
    assert "UNEXPECTED" not in proc.stdout, proc.stdout
    outcomes = ast.literal_eval(proc.stdout.strip().splitlines()[-1])
    assert outcomes.get("ShardError", 0) > 20 and outcomes.get("ok", 0) > 20
