"""Builds to object storage: shards uploaded first, manifest last, a killed upload resumes
without resending shards, and the result is byte-identical to a local build.

Against the moto S3 server (``s3://``, endpoint in the URL query, credentials from the
environment) and fsspec's in-memory filesystem (``memory://``, where kills are simulated
cheaply).
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
    local = build_imagenet(raw, tmp_path / "local", samples_per_shard=5, workers=1, progress=False)
    result = build_imagenet(raw, "memory://bkt/ds", samples_per_shard=5, workers=1, progress=False)
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
    local = build_imagenet(raw, tmp_path / "local", samples_per_shard=5, workers=1, progress=False)
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
    result = build_imagenet(raw, "memory://bkt/ds3", samples_per_shard=5, workers=1, progress=False)
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


def test_build_to_s3_is_byte_identical_and_resumes(
    raw, tmp_path, s3_server, s3_client, monkeypatch
):
    from .conftest import ACCESS_KEY, SECRET_KEY

    monkeypatch.setenv("FASTLOAD_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", ACCESS_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
    s3_client.create_bucket(Bucket="fastload-built")
    url = f"s3://fastload-built/imagenet?endpoint_override={s3_server}&scheme=http&region=us-east-1"
    real_put = upmod._put
    calls = []

    def dying_put(loc, name, src, checksum):
        calls.append(name)
        if len(calls) == 2:
            raise KeyboardInterrupt  # killed during the second upload
        real_put(loc, name, src, checksum)

    monkeypatch.setattr(upmod, "_put", dying_put)
    with pytest.raises(KeyboardInterrupt):
        build_imagenet(raw, url, samples_per_shard=5, workers=1, progress=False)
    monkeypatch.setattr(upmod, "_put", real_put)
    stage = upmod.staging_dir(url)
    up = upmod.upload_dataset(stage, url)
    assert up.skipped == calls[:1]  # the first shard was uploaded before the kill
    local = build_imagenet(raw, tmp_path / "local", samples_per_shard=5, workers=1, progress=False)
    listed = s3_client.list_objects_v2(Bucket="fastload-built", Prefix="imagenet/")
    remote = {
        o["Key"].rsplit("/", 1)[1]: s3_client.get_object(Bucket="fastload-built", Key=o["Key"])[
            "Body"
        ].read()
        for o in listed["Contents"]
    }
    on_disk = {p.name: p.read_bytes() for p in (tmp_path / "local").iterdir() if p.is_file()}
    assert remote == on_disk
    ds = fastload.open_dataset(url, cache_dir=tmp_path / "read")
    assert len(ds) == local.rows


def test_cli_build_to_s3(raw, tmp_path, s3_server, s3_client):
    import json
    import os
    import subprocess
    import sys

    from .conftest import ACCESS_KEY, SECRET_KEY

    s3_client.create_bucket(Bucket="fastload-cli")
    url = f"s3://fastload-cli/ds?endpoint_override={s3_server}&scheme=http&region=us-east-1"
    env = dict(
        os.environ,
        FASTLOAD_CACHE_DIR=str(tmp_path / "cache"),
        AWS_ACCESS_KEY_ID=ACCESS_KEY,
        AWS_SECRET_ACCESS_KEY=SECRET_KEY,
    )
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "fastload",
            "build",
            "imagenet",
            str(raw),
            url,
            "--workers",
            "1",
            "--quiet",
            "--samples-per-shard",
            "5",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["path"] == "s3://fastload-cli/ds" and out["rows"] == 12
    assert SECRET_KEY not in proc.stdout + proc.stderr
    ds = fastload.open_dataset(url, cache_dir=tmp_path / "read")
    assert len(ds) == 12
