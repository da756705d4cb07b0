"""Fuzz ``fastload.open_dataset`` on mutated manifests and shard files, then read every
row, every column (``read_column``), ``locate`` and a ``subset``; ``verify`` first (it
must report, never raise).

A small valid dataset (every column kind, fixed- and varying-shape arrays, two shards of
several record batches) is written once; each input then replaces one of its files:

* parameter byte even: the input is the new ``manifest.json``;
* parameter byte odd: the input is the new shard ``(p >> 1) % num_shards`` and the
  manifest is rewritten with that shard's new size (so the reader gets past the size
  check and parses the Arrow file).

Input layout: 1 parameter byte, then the file.

    python tests/fuzz/fuzz_dataset.py -max_total_time=600      # or tests/fuzz/run.py
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _harness import main, split_params  # noqa: E402

_BASE = {}


def _base():
    """(folder, manifest dict, {shard name: bytes}) of the valid dataset, built once."""
    if not _BASE:
        import json

        from _harness import scratch_dir
        from _seeds import dataset_rows

        from fastload.dataset import ShardWriter

        root = scratch_dir("fl-fuzz-ds")
        base = root / "base"
        with ShardWriter(base, shard_size_bytes=1500, batch_size_bytes=400, fsync=False) as w:
            for row in dataset_rows():
                w.write(row)
        manifest = json.loads((base / "manifest.json").read_bytes())
        shards = {s["file"]: (base / s["file"]).read_bytes() for s in manifest["shards"]}
        _BASE.update(root=root, manifest=manifest, shards=shards)
    return _BASE


def setup():
    import json

    import numpy as np

    from fastload import open_dataset
    from fastload.dataset.verify import verify

    base = _base()
    work = base["root"] / "work"
    work.mkdir(exist_ok=True)
    names = sorted(base["shards"])
    for name in names:
        (work / name).write_bytes(base["shards"][name])
    base_manifest = json.dumps(base["manifest"]).encode()

    def target(data):
        p, blob = split_params(data, 1)
        mode = p[0]
        if mode & 1:
            k = (mode >> 1) % len(names)
            manifest = json.loads(base_manifest)
            manifest["shards"][k]["num_bytes"] = len(blob)
            (work / names[k]).write_bytes(blob)
            (work / "manifest.json").write_bytes(json.dumps(manifest).encode())
            restore = names[k]
        else:
            (work / "manifest.json").write_bytes(blob)
            restore = None
        try:
            report = verify(work, workers=1)  # documented never to raise on a damaged dataset
            assert isinstance(report.ok, bool)
            ds = open_dataset(work)
            n = len(ds)
            for i in range(n):
                row = ds[i]
                assert set(row) == set(ds.columns)
            for c in ds.columns:
                col = ds.read_column(c)
                assert len(col) == n
            if n:
                ds.locate(-1)
                sub = ds.subset(np.arange(n)[::-2])
                for i in range(len(sub)):
                    sub[i]
            return (n, ds.num_shards, len(ds.columns), mode & 1)
        finally:
            if restore is not None:
                (work / restore).write_bytes(base["shards"][restore])

    return target


def seeds():
    import json

    base = _base()
    out = [("manifest", b"\x00" + json.dumps(base["manifest"], indent=1).encode())]
    for k, name in enumerate(sorted(base["shards"])):
        out.append((f"shard{k}", bytes([1 + 2 * k]) + base["shards"][name]))
    return out


if __name__ == "__main__":
    sys.exit(main(setup, seeds))
