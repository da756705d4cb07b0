"""Remote (S3 on loopback) vs local datasets through the Loader. A script, not a timed test.

    python benchmarks/remote.py resnet [--images 1200 --repeats 3]
    python benchmarks/remote.py bytes  [--ranks 4 --shards 64]

``resnet``: ``resnet50_train`` through the Loader with one decode thread pinned to core 0
and moto's S3 server (a separate process) pinned to core 1; samples/s of the same JPEG
dataset on local disk, remote with a cold cache (fresh ``cache_dir``) and remote with a
warm cache, interleaved, medians of per-repeat ratios (goals: cold >= 0.9x, warm >=
0.98x local).

``bytes``: bytes each rank downloads in one epoch with ``order="shard_blocks"`` and
``cache_limit`` = 8 shards per rank (each rank has its own cache, i.e. its own node), as a
multiple of its share of the dataset (goal <= 1.1x).
"""

import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

import fastload
from fastload.loader import Loader

BATCH = 32
KEY, SECRET = "bench-key", "bench-secret"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """moto's standalone S3 server in its own process (optionally pinned to one core)."""

    def __init__(self, core=None):
        self.port = free_port()
        cmd = [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)]
        if core is not None and shutil.which("taskset"):
            cmd = ["taskset", "-c", str(core), *cmd]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    raise RuntimeError("moto server did not start") from None
                time.sleep(0.1)
        import boto3

        self.client = boto3.client(
            "s3",
            endpoint_url=f"http://127.0.0.1:{self.port}",
            aws_access_key_id=KEY,
            aws_secret_access_key=SECRET,
            region_name="us-east-1",
        )
        self.options = {
            "access_key": KEY,
            "secret_key": SECRET,
            "endpoint_override": f"127.0.0.1:{self.port}",
            "scheme": "http",
            "region": "us-east-1",
        }

    def upload(self, folder, bucket, prefix):
        try:
            self.client.create_bucket(Bucket=bucket)
        except self.client.exceptions.BucketAlreadyOwnedByYou:
            pass
        for p in sorted(Path(folder).iterdir()):
            if p.is_file():
                self.client.put_object(Bucket=bucket, Key=f"{prefix}/{p.name}", Body=p.read_bytes())
        return f"s3://{bucket}/{prefix}"

    def close(self):
        self.proc.terminate()
        self.proc.wait(timeout=30)


def resnet(args):
    from fastload.pipelines.resnet50 import resnet50_train
    from fastload.testing.data.imagenet import encode_jpeg, photo_like_image

    server = Server(core=1)
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {0})
    root = Path(tempfile.mkdtemp(prefix="fastload-bench-remote-"))
    try:
        rng = np.random.default_rng(0)
        imgs = [encode_jpeg(photo_like_image(375, 500, rng)) for _ in range(64)]
        with fastload.ShardWriter(root / "ds", shard_size_bytes=4 << 20) as w:
            for i in range(args.images):
                w.write({"image": imgs[i % len(imgs)], "label": i % 10})
        url = server.upload(root / "ds", "bench", "ds")
        tf = resnet50_train()
        local = fastload.open_dataset(root / "ds")
        print(
            f"# {len(local)} JPEGs (500x375 q90), {local.num_shards} shards, "
            f"{local.nbytes / 1e6:.0f} MB; batch {BATCH}, 1 decode thread on core 0, "
            "S3 server on core 1"
        )

        def epoch(ds):
            ld = Loader(
                ds,
                transform=tf,
                batch_size=BATCH,
                num_threads=1,
                seed=0,
                order="shard_blocks",
                epoch_end="drop",
            )
            t0 = time.perf_counter()
            n = sum(len(b["image"]) for b in ld)
            dt = time.perf_counter() - t0
            return n / dt, ld.stats()

        warm_dir = root / "warm-cache"
        epoch(fastload.open_dataset(url, cache_dir=warm_dir, storage_options=server.options))
        epoch(local)  # warm-up: JIT, page cache
        rows = []
        for r in range(args.repeats):
            loc, _ = epoch(fastload.open_dataset(root / "ds"))  # freshly opened, like the others
            cold, cst = epoch(
                fastload.open_dataset(
                    url, cache_dir=root / f"cold-{r}", storage_options=server.options
                )
            )
            warm, wst = epoch(
                fastload.open_dataset(url, cache_dir=warm_dir, storage_options=server.options)
            )
            rows.append((loc, cold, warm))
            print(
                f"repeat {r}: local {loc:.0f}/s, cold {cold:.0f}/s "
                f"(downloaded {cst['bytes_downloaded'] / 1e6:.0f} MB, waited "
                f"{cst['download_wait_s']:.2f}s), warm {warm:.0f}/s "
                f"(hits {wst['cache_hits']}, misses {wst['cache_misses']})"
            )
        print(
            f"local {statistics.median(r[0] for r in rows):.0f} samples/s; "
            f"cold/local {statistics.median(r[1] / r[0] for r in rows):.3f}x; "
            f"warm/local {statistics.median(r[2] / r[0] for r in rows):.3f}x "
            f"(medians of {len(rows)} interleaved repeats)"
        )
    finally:
        server.close()
        shutil.rmtree(root, ignore_errors=True)


def bytes_per_rank(args):
    server = Server()
    root = Path(tempfile.mkdtemp(prefix="fastload-bench-remote-"))
    try:
        rng = np.random.default_rng(0)
        rows_per_shard = 50
        with fastload.ShardWriter(root / "ds", shard_size_bytes=rows_per_shard * 1100) as w:
            for i in range(args.shards * rows_per_shard):
                w.write({"blob": rng.bytes(1000), "label": i})
        url = server.upload(root / "ds", "bench", "bytes")
        local = fastload.open_dataset(root / "ds")
        limit = 8 * int(local.shard_nbytes().max())
        print(
            f"# {len(local)} samples in {local.num_shards} shards; {args.ranks} ranks, each "
            f"with its own cache of {limit} bytes (8 shards); order='shard_blocks', "
            f"shard_window={args.window}, batch {args.batch}"
        )
        ratios = []
        for rank in range(args.ranks):
            ds = fastload.open_dataset(
                url,
                cache_dir=root / f"node{rank}",
                cache_limit=limit,
                storage_options=server.options,
            )
            ld = Loader(
                ds,
                batch_size=args.batch,
                rank=rank,
                world_size=args.ranks,
                order="shard_blocks",
                shard_window=args.window,
                num_threads=1,
            )
            for epoch in range(args.epochs):
                ld.set_epoch(epoch)
                for _ in ld:
                    pass
            st = ld.stats()
            share = args.epochs * ds.nbytes / args.ranks
            ratios.append(st["bytes_downloaded"] / share)
            print(
                f"rank {rank}: downloaded {st['bytes_downloaded']} bytes in "
                f"{args.epochs} epoch(s) = {ratios[-1]:.3f}x its share; "
                f"cache peak <= {limit} bytes"
            )
        print(f"max over ranks: {max(ratios):.3f}x share")
    finally:
        server.close()
        shutil.rmtree(root, ignore_errors=True)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("resnet")
    r.add_argument("--images", type=int, default=1200)
    r.add_argument("--repeats", type=int, default=3)
    b = sub.add_parser("bytes")
    b.add_argument("--ranks", type=int, default=4)
    b.add_argument("--shards", type=int, default=64)
    b.add_argument("--batch", type=int, default=16)
    b.add_argument("--window", type=int, default=4)
    b.add_argument("--epochs", type=int, default=2)
    args = p.parse_args()
    {"resnet": resnet, "bytes": bytes_per_rank}[args.cmd](args)


if __name__ == "__main__":
    main()
