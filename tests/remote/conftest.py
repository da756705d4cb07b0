"""Fixtures: a real S3-compatible server (moto's standalone server) on 127.0.0.1.

pyarrow's S3FileSystem talks to it over HTTP (``endpoint_override``, ``scheme="http"``)
with dummy credentials; uploads in the fixtures go through boto3.
"""

import logging
import socket
from pathlib import Path

import numpy as np
import pytest

from fastload.dataset import ShardWriter

# dummy credentials, also used to check that no secret ever shows up in a message
ACCESS_KEY = "AKIAFASTLOADTESTKEY1"
SECRET_KEY = "fastload-test-secret-c4f9e1b27d"


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _fix_moto_complete_multipart():
    """moto 5.2.1 names the root element of its CompleteMultipartUpload answer
    ``CompleteMultipartUploadResponse``; S3 (and the AWS SDK inside pyarrow, which treats
    any other answer as "an error embedded in a 200 OK response") uses
    ``CompleteMultipartUploadResult``. Rename it in the in-process server so pyarrow's
    multipart uploads work against it. Nothing else of the server is touched."""
    from moto.s3 import responses

    orig = responses.S3Response._key_response_post
    if getattr(orig, "_fastload_fixed", False):
        return

    def post(self, request, body, bucket_name, query, key_name):
        status, headers, out = orig(self, request, body, bucket_name, query, key_name)
        if query.get("uploadId") and isinstance(out, str):
            out = out.replace("CompleteMultipartUploadResponse", "CompleteMultipartUploadResult")
        return status, headers, out

    post._fastload_fixed = True
    responses.S3Response._key_response_post = post


@pytest.fixture(scope="session")
def s3_server():
    """``http://127.0.0.1:PORT`` of a moto S3 server running for the whole session."""
    from moto.server import ThreadedMotoServer

    _fix_moto_complete_multipart()

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"127.0.0.1:{port}"
    finally:
        server.stop()


def s3_options(endpoint):
    return {
        "access_key": ACCESS_KEY,
        "secret_key": SECRET_KEY,
        "endpoint_override": endpoint,
        "scheme": "http",
        "region": "us-east-1",
        "connect_timeout": 2,
    }


@pytest.fixture(scope="session")
def s3_client(s3_server):
    import boto3

    return boto3.client(
        "s3",
        endpoint_url=f"http://{s3_server}",
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY,
        region_name="us-east-1",
    )


@pytest.fixture
def storage_options(s3_server):
    return s3_options(s3_server)


def upload_folder(client, folder, bucket, prefix):
    """Upload every file of ``folder`` (not recursive) to ``s3://bucket/prefix/``."""
    try:
        client.create_bucket(Bucket=bucket)
    except client.exceptions.BucketAlreadyOwnedByYou:
        pass
    for p in sorted(Path(folder).iterdir()):
        if p.is_file():
            client.put_object(Bucket=bucket, Key=f"{prefix}/{p.name}", Body=p.read_bytes())
    return f"s3://{bucket}/{prefix}"


def write_dataset(folder, n=120, seed=0, shard_size_bytes=3000):
    """A small dataset: ``x`` float32 (3,), ``label`` int, ``blob`` bytes.

    The defaults give 14 shards of 9 rows (the last one 3), about 2.9 kB each.
    """
    rng = np.random.default_rng(seed)
    with ShardWriter(folder, shard_size_bytes=shard_size_bytes, batch_size_bytes=1000) as w:
        for i in range(n):
            w.write(
                {
                    "x": rng.standard_normal(3).astype(np.float32),
                    "label": i,
                    "blob": rng.bytes(64),
                }
            )
    return folder


@pytest.fixture(scope="session")
def local_ds(tmp_path_factory):
    return write_dataset(tmp_path_factory.mktemp("ds") / "ds")


@pytest.fixture(scope="session")
def remote_url(s3_client, local_ds):
    return upload_folder(s3_client, local_ds, "fastload-test", "ds")
