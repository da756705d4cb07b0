"""Corruption detection: open_dataset's cheap checks and verify()'s full ones."""

import json
import shutil

import numpy as np
import pytest

from fastload.dataset import ShardWriter, open_dataset, verify
from fastload.errors import ShardError


@pytest.fixture(scope="module")
def pristine(tmp_path_factory):
    path = tmp_path_factory.mktemp("verify") / "pristine"
    rng = np.random.default_rng(1)
    with ShardWriter(path, shard_size_bytes=30_000, batch_size_bytes=8_000, metadata={"m": 1}) as w:
        for i in range(60):
            w.write({"img": rng.bytes(1500), "label": i, "arr": rng.random(i % 7), "s": f"r{i}"})
    return path


@pytest.fixture
def ds_path(pristine, tmp_path):
    path = tmp_path / "copy"
    shutil.copytree(pristine, path)
    return path


def _manifest(path):
    return json.loads((path / "manifest.json").read_text())


def _save(path, m):
    (path / "manifest.json").write_text(json.dumps(m))


def test_pristine_is_ok(pristine):
    report = verify(pristine)
    assert report.ok and bool(report)
    assert report.problems == [] and report.warnings == []
    assert report.num_rows == 60 and report.num_shards >= 3
    assert report.bytes_checked == sum(s["num_bytes"] for s in _manifest(pristine)["shards"])
    assert report.to_dict()["ok"] is True
    assert report["ok"] is True and report["problems"] == [] and "warnings" in report
    assert dict(report) == report.to_dict() and report.get("nope", 1) == 1


@pytest.mark.parametrize("where", [0.5, 0.02, 0.995])
def test_flipped_byte(ds_path, where):
    shard = _manifest(ds_path)["shards"][1]["file"]
    p = ds_path / shard
    data = bytearray(p.read_bytes())
    k = int(len(data) * where)
    data[k] ^= 0x10
    p.write_bytes(bytes(data))
    report = verify(ds_path)
    assert not report.ok
    assert any(shard in q and "checksum mismatch" in q for q in report.problems), report.problems
    assert all(shard in q for q in report.problems)
    assert verify(ds_path, workers=1).to_dict() == verify(ds_path, workers=3).to_dict()


def test_truncated_shard(ds_path):
    shard = _manifest(ds_path)["shards"][2]["file"]
    p = ds_path / shard
    p.write_bytes(p.read_bytes()[:-100])
    with pytest.raises(ShardError, match=rf"{shard}.*manifest says"):
        open_dataset(ds_path)
    report = verify(ds_path)
    assert not report.ok
    assert any(shard in q and "truncated" in q for q in report.problems)


def test_missing_shard(ds_path):
    shard = _manifest(ds_path)["shards"][0]["file"]
    (ds_path / shard).unlink()
    with pytest.raises(ShardError, match=rf"{shard}.*missing"):
        open_dataset(ds_path)
    report = verify(ds_path)
    assert any(shard in q and "missing" in q for q in report.problems)


@pytest.mark.parametrize(
    "edit",
    [
        lambda m: m["metadata"].update(m=2),
        lambda m: m["shards"][0].update(checksum="0" * 32),
        lambda m: m["columns"]["label"].update(kind="float", dtype="<f8"),
        lambda m: m["shards"][0].update(num_rows=m["shards"][0]["num_rows"] + 1),
        lambda m: m.update(num_rows=1),
    ],
    ids=["metadata", "checksum", "column-kind", "shard-rows", "total-rows"],
)
def test_edited_manifest(ds_path, edit):
    m = _manifest(ds_path)
    edit(m)
    _save(ds_path, m)
    report = verify(ds_path)
    assert not report.ok
    assert any("manifest" in q for q in report.problems), report.problems


@pytest.mark.parametrize(
    ("column", "spec"),
    [
        ("label", {"kind": "float", "dtype": "<f8", "ndim": None, "shape": None}),
        ("arr", {"kind": "array", "dtype": "<i8", "ndim": 1, "shape": None}),  # same Arrow type
        ("arr", {"kind": "array", "dtype": "<f8", "ndim": 2, "shape": None}),
    ],
)
def test_edited_manifest_with_recomputed_checksum_is_still_caught(ds_path, column, spec):
    from fastload.dataset.manifest import manifest_checksum

    m = _manifest(ds_path)
    m["columns"][column] = spec
    m["manifest_checksum"] = manifest_checksum(m)
    _save(ds_path, m)
    report = verify(ds_path)
    assert not report.ok
    assert all("schema differs" in q for q in report.problems)
    with pytest.raises(ShardError, match="schema does not match"):
        open_dataset(ds_path)[0]


def test_unparsable_and_missing_manifest(ds_path):
    (ds_path / "manifest.json").write_text("{not json")
    with pytest.raises(ShardError, match="not valid JSON"):
        open_dataset(ds_path)
    assert not verify(ds_path).ok
    (ds_path / "manifest.json").unlink()
    with pytest.raises(ShardError, match="no manifest"):
        open_dataset(ds_path)
    assert any("manifest.json: missing" in q for q in verify(ds_path).problems)


def test_structurally_invalid_manifest(ds_path):
    m = _manifest(ds_path)
    m["shards"][0]["file"] = "../evil.arrow"
    m["format_version"] = 99
    _save(ds_path, m)
    with pytest.raises(ShardError, match="format_version 99.*bad file name|bad file name"):
        open_dataset(ds_path)
    assert len(verify(ds_path).problems) >= 2


def test_garbage_with_right_size_fails_clearly_on_access(ds_path):
    m = _manifest(ds_path)
    shard = m["shards"][1]["file"]
    p = ds_path / shard
    p.write_bytes(b"\xff" * p.stat().st_size)
    ds = open_dataset(ds_path)  # sizes match: opening does not read data
    row = m["shards"][0]["num_rows"]
    with pytest.raises(ShardError, match=shard):
        ds[row]
    assert any(shard in q and "not a readable Arrow" in q for q in verify(ds_path).problems)


def test_stray_files_are_warnings(ds_path):
    (ds_path / ".shard-00099.arrow.tmp").write_bytes(b"x")
    shutil.copy(ds_path / "shard-00000.arrow", ds_path / "shard-00077.arrow")
    report = verify(ds_path)
    assert report.ok
    assert len(report.warnings) == 2


def test_not_a_folder(tmp_path):
    assert not verify(tmp_path / "nope").ok
    with pytest.raises(ShardError, match="no such dataset folder"):
        open_dataset(tmp_path / "nope")
    with pytest.raises(OSError):  # ShardError is an OSError
        open_dataset(tmp_path / "nope")


def test_edited_fixed_shape_is_caught_on_access(tmp_path):
    from fastload.dataset.manifest import manifest_checksum

    with ShardWriter(tmp_path / "d") as w:
        for i in range(4):
            w.write({"v": np.full(6, i, np.int32)})
    m = _manifest(tmp_path / "d")
    m["columns"]["v"]["shape"] = [3]  # smaller than stored: would silently truncate
    m["manifest_checksum"] = manifest_checksum(m)
    _save(tmp_path / "d", m)
    with pytest.raises(ShardError, match="fixed shape"):
        open_dataset(tmp_path / "d")[0]
    assert any("fixed shape" in q for q in verify(tmp_path / "d").problems)
