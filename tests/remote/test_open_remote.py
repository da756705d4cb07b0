"""open_dataset on object storage: a real S3 server (moto) on the loopback interface."""

import pickle

import numpy as np
import pytest

import fastload
from fastload.errors import FastloadError, ShardError, StorageError

from .conftest import ACCESS_KEY, SECRET_KEY, upload_folder, write_dataset


def rows_equal(a, b):
    assert a.keys() == b.keys()
    for k in a:
        if isinstance(a[k], np.ndarray):
            assert np.array_equal(a[k], b[k])
        elif isinstance(a[k], memoryview):
            assert bytes(a[k]) == bytes(b[k])
        else:
            assert a[k] == b[k]


def test_remote_rows_equal_local(remote_url, local_ds, storage_options, tmp_path):
    local = fastload.open_dataset(local_ds)
    ds = fastload.open_dataset(remote_url, cache_dir=tmp_path, storage_options=storage_options)
    assert ds.is_remote and not local.is_remote
    assert len(ds) == len(local) and ds.num_shards == local.num_shards
    assert ds.path == remote_url
    for i in range(len(ds)):
        rows_equal(ds[i], local[i])
    assert np.array_equal(ds.read_column("label"), local.read_column("label"))
    st = ds.storage_stats()
    assert st["downloads"] == ds.num_shards
    assert st["bytes_downloaded"] == ds.nbytes
    assert st["cache_misses"] == ds.num_shards and st["cache_hits"] == 0
    # entries live under the manifest checksum; no temporaries left
    entries = sorted(p.name for p in (tmp_path / ds.manifest["manifest_checksum"]).iterdir())
    assert entries == [".locks", *sorted(ds.shard_files)]
    # a second open of the same dataset reads from the cache: no download
    again = fastload.open_dataset(remote_url, cache_dir=tmp_path, storage_options=storage_options)
    rows_equal(again[len(again) - 1], local[len(local) - 1])
    assert again.storage_stats()["bytes_downloaded"] == 0
    assert again.storage_stats()["cache_hits"] == 1


def test_pickle_reopens_remote(remote_url, local_ds, storage_options, tmp_path):
    ds = fastload.open_dataset(remote_url, cache_dir=tmp_path, storage_options=storage_options)
    sub = ds.subset([5, 3, 100])
    back = pickle.loads(pickle.dumps(sub))
    local = fastload.open_dataset(local_ds)
    for j, i in enumerate([5, 3, 100]):
        rows_equal(back[j], local[i])


def test_file_url_and_plain_path_stay_local(local_ds):
    a = fastload.open_dataset(f"file://{local_ds}")
    b = fastload.open_dataset(str(local_ds))
    assert not a.is_remote and not b.is_remote
    rows_equal(a[7], b[7])


def test_missing_dataset_and_bucket(s3_client, storage_options, tmp_path):
    s3_client.create_bucket(Bucket="fastload-empty")
    with pytest.raises(ShardError, match=r"s3://fastload-empty/nothing/manifest.json"):
        fastload.open_dataset(
            "s3://fastload-empty/nothing", cache_dir=tmp_path, storage_options=storage_options
        )
    with pytest.raises(StorageError, match="no such bucket") as info:
        fastload.open_dataset(
            "s3://fastload-no-bucket/ds", cache_dir=tmp_path, storage_options=storage_options
        )
    assert SECRET_KEY not in str(info.value)


def test_denied_access_is_clear_and_secret_free(remote_url, storage_options, tmp_path):
    import pyarrow.fs as pafs

    opts = dict(storage_options, secret_key="wrong-" + SECRET_KEY)
    # moto accepts any credentials unless asked; a filesystem with a bad endpoint path
    # stands in for a refused one where the server does not check
    bad = fastload.dataset.filesystem
    err = bad.storage_error(
        bad.resolve(remote_url, None, opts),
        remote_url,
        OSError(
            "AWS Error ACCESS_DENIED during GetObject: "
            f"key {ACCESS_KEY} secret {opts['secret_key']}"
        ),
    )
    assert isinstance(err, StorageError) and "access denied" in str(err)
    assert SECRET_KEY not in str(err) and ACCESS_KEY not in str(err)
    assert isinstance(pafs.S3FileSystem(**storage_options), pafs.FileSystem)


@pytest.mark.parametrize(
    "url,match",
    [
        ("s3://", "no bucket"),
        ("nosuchscheme://x/y", "unsupported URL scheme"),
    ],
)
def test_bad_url(url, match, tmp_path):
    with pytest.raises(FastloadError, match=match):
        fastload.open_dataset(url, cache_dir=tmp_path)


def test_damaged_manifest_checksum(s3_client, tmp_path, storage_options):
    import json

    src = write_dataset(tmp_path / "src", n=20)
    m = json.loads((src / "manifest.json").read_text())
    m["metadata"] = {"edited": True}  # checksum no longer matches
    (src / "manifest.json").write_text(json.dumps(m))
    url = upload_folder(s3_client, src, "fastload-test", "edited")
    with pytest.raises(ShardError, match="manifest checksum"):
        fastload.open_dataset(url, cache_dir=tmp_path / "c", storage_options=storage_options)
