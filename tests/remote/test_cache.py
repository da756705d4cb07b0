"""The shard cache: size limit and LRU eviction, sharing between processes, SIGKILL safety."""

import fcntl
import multiprocessing
import os
import signal
import time

import numpy as np
import pytest

import fastload
from fastload.dataset.cache import ShardCache, parse_size


@pytest.mark.parametrize(
    "value,expected",
    [
        (1000, 1000),
        ("50GB", 50 * 10**9),
        ("1.5 GiB", int(1.5 * 2**30)),
        ("800mb", 800 * 10**6),
        (None, None),
    ],
)
def test_parse_size(value, expected):
    assert parse_size(value) == expected


@pytest.mark.parametrize("bad", ["lots", "-5GB", 0, -1, "5 parsecs", True])
def test_parse_size_rejects(bad):
    with pytest.raises(ValueError, match="cache_limit"):
        parse_size(bad)


def cached_entries(cache_dir, ds):
    folder = cache_dir / ds.manifest["manifest_checksum"]
    return sorted(p.name for p in folder.iterdir() if not p.name.startswith("."))


def test_eviction_keeps_cache_under_limit(remote_url, local_ds, storage_options, tmp_path):
    local = fastload.open_dataset(local_ds)
    biggest = int(local.shard_nbytes().max())
    limit = 3 * biggest
    ds = fastload.open_dataset(
        remote_url, cache_dir=tmp_path, cache_limit=limit, storage_options=storage_options
    )
    held = ds[0]  # a view into shard 0 stays valid after the store lets the shard go
    labels = [ds[i]["label"] for i in range(len(ds))]
    assert labels == list(range(len(ds)))
    assert len(cached_entries(tmp_path, ds)) <= 3
    assert ds._store.cache.used_bytes() <= limit
    assert bytes(held["blob"]) == bytes(local[0]["blob"])
    assert ds.storage_stats()["bytes_downloaded"] == ds.nbytes  # in order: once each
    # shards in use by another reader are never evicted
    other = fastload.open_dataset(
        remote_url, cache_dir=tmp_path, cache_limit=limit, storage_options=storage_options
    )
    other[0]
    for i in range(len(ds)):
        ds[i]
    assert ds.shard_files[0] in cached_entries(tmp_path, ds)


def test_string_limit_and_lru_order(remote_url, storage_options, tmp_path):
    ds = fastload.open_dataset(
        remote_url, cache_dir=tmp_path, cache_limit="1MB", storage_options=storage_options
    )
    for i in range(len(ds)):
        ds[i]
    assert len(cached_entries(tmp_path, ds)) == ds.num_shards  # all fit in 1 MB


def _reader(url, opts, cache_dir, queue):
    ds = fastload.open_dataset(url, cache_dir=cache_dir, storage_options=opts)
    labels = [int(ds[i]["label"]) for i in range(len(ds))]
    blobs = b"".join(bytes(ds[i]["blob"]) for i in range(len(ds)))
    queue.put((labels, blobs, ds.storage_stats()))


def test_two_processes_share_one_cache(remote_url, local_ds, storage_options, tmp_path):
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    procs = [
        ctx.Process(target=_reader, args=(remote_url, storage_options, tmp_path, queue))
        for _ in range(2)
    ]
    for p in procs:
        p.start()
    results = [queue.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    local = fastload.open_dataset(local_ds)
    want = b"".join(bytes(local[i]["blob"]) for i in range(len(local)))
    for labels, blobs, _ in results:
        assert labels == list(range(len(local))) and blobs == want
    # every shard was downloaded exactly once on this "node"
    assert sum(st["downloads"] for _, _, st in results) == local.num_shards
    assert sum(st["bytes_downloaded"] for _, _, st in results) == local.nbytes


def _slow_writer(cache_dir, ready):
    cache = ShardCache(cache_dir, "k")
    with cache.download_lock("shard-00000.arrow"):

        def fill(f):
            f.write(b"x" * 1000)
            f.flush()
            open(ready, "w").close()
            time.sleep(60)  # killed here

        cache.write_entry("shard-00000.arrow", 2000, fill)


def test_sigkill_mid_download_leaves_no_entry(tmp_path):
    ready = tmp_path / "ready"
    ctx = multiprocessing.get_context("spawn")
    p = ctx.Process(target=_slow_writer, args=(tmp_path / "c", str(ready)))
    p.start()
    deadline = time.monotonic() + 60
    while not ready.exists():
        assert time.monotonic() < deadline and p.is_alive()
        time.sleep(0.02)
    os.kill(p.pid, signal.SIGKILL)
    p.join(timeout=30)
    cache = ShardCache(tmp_path / "c", "k")
    assert cache.try_pin("shard-00000.arrow", 2000) is None  # nothing looks complete
    assert [x.name for x in (tmp_path / "c" / "k").glob(".shard-00000.arrow.*.tmp")]
    # the dead writer's lock is gone (a non-blocking flock gets it at once, else
    # BlockingIOError): the next reader downloads and cleans up
    fd = os.open(tmp_path / "c" / "k" / ".locks" / "shard-00000.arrow.lock", os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    finally:
        os.close(fd)
    with cache.download_lock("shard-00000.arrow"):
        cache.write_entry("shard-00000.arrow", 2000, lambda f: f.write(b"y" * 2000))
    pin = cache.try_pin("shard-00000.arrow", 2000)
    assert pin is not None
    pin.close()
    assert not list((tmp_path / "c" / "k").glob("*.tmp"))
    assert (tmp_path / "c" / "k" / "shard-00000.arrow").read_bytes() == b"y" * 2000


def test_failed_download_leaves_nothing(tmp_path):
    cache = ShardCache(tmp_path, "k")

    def fill(f):
        f.write(b"partial")
        raise OSError("connection reset")

    with pytest.raises(OSError), cache.download_lock("s"):
        cache.write_entry("s", 100, fill)
    assert sorted(p.name for p in (tmp_path / "k").iterdir()) == [".locks"]


def test_concurrent_threads_download_once(remote_url, storage_options, tmp_path):
    from concurrent.futures import ThreadPoolExecutor

    ds = fastload.open_dataset(remote_url, cache_dir=tmp_path, storage_options=storage_options)
    idx = np.arange(len(ds)).repeat(3)
    with ThreadPoolExecutor(4) as ex:
        labels = list(ex.map(lambda i: ds[int(i)]["label"], idx))
    assert labels == idx.tolist()
    assert ds.storage_stats()["downloads"] == ds.num_shards
