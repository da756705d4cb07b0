"""Faults between the S3 client and the server: retries with backoff, checksum refetch,
clear errors. Traffic goes through a seeded loopback fault-injection proxy."""

import json
import logging
import re
from types import SimpleNamespace

import numpy as np
import pyarrow.fs as pafs
import pytest

import fastload
from fastload.dataset import filesystem as fsmod
from fastload.errors import ShardError, StorageError

from .conftest import ACCESS_KEY, SECRET_KEY, s3_options, upload_folder, write_dataset
from .faultproxy import FaultProxy


@pytest.fixture(autouse=True)
def fast_retries(monkeypatch):
    monkeypatch.setattr(
        fsmod,
        "DEFAULT_RETRY",
        fsmod.RetryPolicy(max_attempts=6, base_delay_s=0.01, max_delay_s=0.05, total_s=30),
    )


def opts_via(proxy):
    opts = s3_options(proxy.endpoint)
    # one attempt per request inside the AWS SDK: fastload's own retries do the work
    opts["retry_strategy"] = pafs.AwsStandardS3RetryStrategy(max_attempts=1)
    return opts


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_transient_faults_are_retried(seed, s3_server, remote_url, local_ds, tmp_path):
    local = fastload.open_dataset(local_ds)
    with FaultProxy(s3_server, seed=seed, rate=0.7, max_faults=2, delay_s=0.05) as proxy:
        ds = fastload.open_dataset(remote_url, cache_dir=tmp_path, storage_options=opts_via(proxy))
        for i in range(len(ds)):
            assert bytes(ds[i]["blob"]) == bytes(local[i]["blob"])
    kinds = {k for k, _ in proxy.injected}
    assert kinds - {"delay"}, proxy.injected  # something really failed
    st = ds.storage_stats()
    assert st["downloads"] == ds.num_shards
    assert st["retries"] >= 1
    # nothing but complete, verified entries in the cache
    folder = tmp_path / ds.manifest["manifest_checksum"]
    assert sorted(p.name for p in folder.iterdir() if p.name != ".locks") == ds.shard_files


def test_every_fault_kind_recovers(s3_server, remote_url, local_ds, tmp_path):
    local = fastload.open_dataset(local_ds)
    for fault in ("drop", "truncate", "503", "corrupt", "delay"):
        with FaultProxy(s3_server, faults=[fault], rate=1.0, max_faults=1, delay_s=0.05) as proxy:
            ds = fastload.open_dataset(
                remote_url, cache_dir=tmp_path / fault, storage_options=opts_via(proxy)
            )
            assert bytes(ds[20]["blob"]) == bytes(local[20]["blob"])
        assert [k for k, _ in proxy.injected] == [fault]


def test_checksum_failure_twice_raises_shard_error(s3_server, remote_url, tmp_path):
    with FaultProxy(s3_server, faults=["corrupt"], rate=1.0, max_faults=10) as proxy:
        ds = fastload.open_dataset(remote_url, cache_dir=tmp_path, storage_options=opts_via(proxy))
        with pytest.raises(
            ShardError, match=r"s3://fastload-test/ds/shard-00002.arrow: shard 2 .*checksum twice"
        ):
            ds[2 * 9]
    assert len(proxy.injected) == 2  # fetched once more, then gave up
    folder = tmp_path / ds.manifest["manifest_checksum"]
    assert [p.name for p in folder.iterdir() if p.name != ".locks"] == []


def test_persistent_503_gives_up_in_bounded_time(s3_server, remote_url, tmp_path, monkeypatch):
    monkeypatch.setattr(
        fsmod,
        "DEFAULT_RETRY",
        fsmod.RetryPolicy(max_attempts=100, base_delay_s=0.05, max_delay_s=0.1, total_s=1.0),
    )
    with FaultProxy(s3_server, mode="503") as proxy:
        ds = fastload.open_dataset(remote_url, cache_dir=tmp_path, storage_options=opts_via(proxy))
        # the retry loop's clock is virtual: its sleeps advance it, nothing else does, so the
        # budget it spends is exactly the backoff it chose, whatever the machine's load
        clock = [0.0]
        slept = []

        def sleep(s):
            slept.append(s)
            clock[0] += s

        monkeypatch.setattr(fsmod, "time", SimpleNamespace(monotonic=lambda: clock[0], sleep=sleep))
        with pytest.raises(StorageError, match=r"still failing after (\d+) attempt") as info:
            ds[0]
    attempts = int(re.search(r"still failing after (\d+) attempt", str(info.value))[1])
    assert attempts == len(slept) + 1 < 100  # it gave up on the time budget, not the count
    assert 0 < sum(slept) <= 1.0  # total_s: the next backoff would have overrun it
    assert SECRET_KEY not in str(info.value) and ACCESS_KEY not in str(info.value)


def test_access_denied_is_clear(s3_server, remote_url, tmp_path, caplog):
    caplog.set_level(logging.DEBUG, logger="fastload")
    with FaultProxy(s3_server, mode="deny", pattern=r".") as proxy:
        with pytest.raises(StorageError, match="access denied") as info:
            fastload.open_dataset(remote_url, cache_dir=tmp_path, storage_options=opts_via(proxy))
    text = str(info.value) + caplog.text
    assert SECRET_KEY not in text and ACCESS_KEY not in text


def test_missing_shard_object(s3_client, storage_options, tmp_path):
    src = write_dataset(tmp_path / "src", n=30)
    url = upload_folder(s3_client, src, "fastload-test", "noshard")
    s3_client.delete_object(Bucket="fastload-test", Key="noshard/shard-00001.arrow")
    ds = fastload.open_dataset(url, cache_dir=tmp_path / "c", storage_options=storage_options)
    ds[0]
    with pytest.raises(ShardError, match=r"noshard/shard-00001.arrow: no such object"):
        ds[10]


def test_object_replaced_after_manifest(s3_client, storage_options, tmp_path):
    src = write_dataset(tmp_path / "src", n=30)
    url = upload_folder(s3_client, src, "fastload-test", "replaced")
    body = (src / "shard-00000.arrow").read_bytes()
    s3_client.put_object(Bucket="fastload-test", Key="replaced/shard-00000.arrow", Body=body + b"x")
    ds = fastload.open_dataset(url, cache_dir=tmp_path / "c", storage_options=storage_options)
    with pytest.raises(ShardError, match="larger than"):
        ds[0]
    m = json.loads((src / "manifest.json").read_text())
    assert m["shards"][0]["num_bytes"] == len(body)
    assert np.isfinite(ds[10]["x"]).all()  # other shards still work
