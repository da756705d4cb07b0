"""Builds to object storage: shards uploaded first, manifest last, a killed upload resumes
without resending shards, and the result is byte-identical to a local build.

Uploads go to fsspec's in-memory filesystem (``memory://``) through the same remote code
path as ``s3://`` (URL resolution, retries, metadata-tagged objects). The S3 server used
by the other tests cannot take them: pyarrow 26's S3 client rejects the answer of moto
5.2.1 to CompleteMultipartUpload ("error embedded in a 200 OK response").
"""

import pytest

import fastload
from fastload.builders import build_imagenet
from fastload.dataset import upload as upmod
from fastload.errors import ShardError, SourceError
from fastload.testing.data.imagenet import make_imagenet


@pytest.fixture
def memfs():
    import fsspec

    fs = fsspec.filesystem("memory")
    yield fs
    fs.store.clear()
    fs.pseudo_dirs.clear()
    fs.pseudo_dirs.append("")


@pytest.fixture(scope="module")
def raw(tmp_path_factory):
    root = tmp_path_factory.mktemp("raw")
    make_imagenet(root, classes=3, per_class=4, size=(40, 48))
    return root


def files_of(fs, prefix):
    return {p.rsplit("/", 1)[1]: fs.cat_file(p) for p in fs.find(prefix)}


def test_build_to_url_is_byte_identical(raw, tmp_path, memfs, monkeypatch):
    monkeypatch.setenv("FASTLOAD_CACHE_DIR", str(tmp_path / "cache"))
    local = build_imagenet(raw, tmp_path / "local", samples_per_shard=5, workers=1,
                           progress=False)
    result = build_imagenet(raw, "memory://bkt/ds", samples_per_shard=5, workers=1,
                            progress=False)
    assert result.path == "memory://bkt/ds" and result.rows == local.rows
    remote = files_of(memfs, "/bkt/ds")
    on_disk = {p.name: p.read_bytes() for p in (tmp_path / "local").iterdir() if p.is_file()}
    assert remote == on_disk
    assert not upmod.staging_dir("memory://bkt/ds").exists()  # staging removed
    ds = fastload.open_dataset("memory://bkt/ds", cache_dir=tmp_path / "read")
    ref = fastload.open_dataset(tmp_path / "local")
    assert [bytes(ds[i]["image"]) for i in range(len(ds))] == [
        bytes(ref[i]["image"]) for i in range(len(ref))
    ]
    with pytest.raises(SourceError, match="already there"):
        build_imagenet(raw, "memory://bkt/ds", samples_per_shard=5, workers=1, progress=False)


def test_killed_upload_resumes_from_uploaded_shards(raw, tmp_path, memfs, monkeypatch):
    monkeypatch.setenv("FASTLOAD_CACHE_DIR", str(tmp_path / "cache"))
    real_put = upmod._put
    sent = []

    def dying_put(loc, name, src, checksum):
        if len(sent) == 2:
            raise KeyboardInterrupt  # killed after two shards were uploaded
        sent.append(name)
        real_put(loc, name, src, checksum)

    monkeypatch.setattr(upmod, "_put", dying_put)
    with pytest.raises(KeyboardInterrupt):
        build_imagenet(raw, "memory://bkt/ds2", samples_per_shard=5, workers=1, progress=False)
    assert "manifest.json" not in files_of(memfs, "/bkt/ds2")  # not a dataset yet
    with pytest.raises(ShardError):
        fastload.open_dataset("memory://bkt/ds2", cache_dir=tmp_path / "read")
    monkeypatch.setattr(upmod, "_put", real_put)
    stage = upmod.staging_dir("memory://bkt/ds2")
    result = upmod.upload_dataset(stage, "memory://bkt/ds2")
    assert result.skipped == sent  # not sent again
    assert result.uploaded and set(result.uploaded).isdisjoint(sent)
    local = build_imagenet(raw, tmp_path / "local", samples_per_shard=5, workers=1,
                           progress=False)
    assert len(fastload.open_dataset("memory://bkt/ds2", cache_dir=tmp_path / "r")) == local.rows
    on_disk = {p.name: p.read_bytes() for p in (tmp_path / "local").iterdir() if p.is_file()}
    assert files_of(memfs, "/bkt/ds2") == on_disk


def test_rerun_build_after_kill_during_upload(raw, tmp_path, memfs, monkeypatch):
    monkeypatch.setenv("FASTLOAD_CACHE_DIR", str(tmp_path / "cache"))
    real_put = upmod._put
    calls = []

    def dying_put(loc, name, src, checksum):
        calls.append(name)
        if len(calls) == 3:
            raise KeyboardInterrupt
        real_put(loc, name, src, checksum)

    monkeypatch.setattr(upmod, "_put", dying_put)
    with pytest.raises(KeyboardInterrupt):
        build_imagenet(raw, "memory://bkt/ds3", samples_per_shard=5, workers=1, progress=False)
    monkeypatch.setattr(upmod, "_put", real_put)
    result = build_imagenet(raw, "memory://bkt/ds3", samples_per_shard=5, workers=1,
                            progress=False)
    assert result.parts_built == 0  # the staged build was reused
    ds = fastload.open_dataset("memory://bkt/ds3", cache_dir=tmp_path / "read")
    assert len(ds) == result.rows


def test_upload_refuses_another_dataset(tmp_path, memfs):
    from .conftest import write_dataset

    a = write_dataset(tmp_path / "a", n=20, seed=1)
    b = write_dataset(tmp_path / "b", n=20, seed=2)
    upmod.upload_dataset(a, "memory://bkt/x")
    assert upmod.upload_dataset(a, "memory://bkt/x").uploaded == []  # same: nothing to do
    with pytest.raises(ShardError, match="another dataset"):
        upmod.upload_dataset(b, "memory://bkt/x")
