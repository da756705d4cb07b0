"""Soak tests of the Loader: memory stays flat over many epochs, and no thread, file
descriptor or /dev/shm segment outlives a loader that is dropped, abandoned mid-epoch or
whose consumer raised.

Short by default (CI); ``FASTLOAD_SOAK_EPOCHS`` / ``FASTLOAD_SOAK_REPEATS`` make them
longer locally.
"""

import gc
import os
import threading
import time

import numpy as np
import psutil
import pytest

EPOCHS = int(os.environ.get("FASTLOAD_SOAK_EPOCHS", "50"))
REPEATS = int(os.environ.get("FASTLOAD_SOAK_REPEATS", "12"))
RSS_SLACK_MB = 8  # allocator noise (measured: +0.2 MiB over 200 epochs)


@pytest.fixture(scope="module")
def image_dataset(tmp_path_factory):
    """A small sharded dataset of JPEGs (various sizes and kinds) with labels."""
    from fastload import ShardWriter, open_dataset
    from fastload.testing.data.imagenet import encode_jpeg, photo_like_image

    path = tmp_path_factory.mktemp("soak") / "ds"
    rng = np.random.default_rng(0)
    with ShardWriter(path, shard_size_bytes=30_000, fsync=False) as w:
        for i in range(40):
            h, w_ = int(rng.integers(40, 90)), int(rng.integers(40, 90))
            img = photo_like_image(h, w_, rng)
            kind = i % 5
            data = encode_jpeg(
                img,
                mode="L" if kind == 1 else "CMYK" if kind == 3 else "RGB",
                progressive=kind == 2,
                quality=80,
            )
            w.write({"image": data, "label": i % 7})
    ds = open_dataset(path)
    assert ds.num_shards > 1
    return ds


def _transform():
    from fastload.pipelines import resnet50_train

    return resnet50_train(size=32)


def _shm_segments():
    try:
        return {n for n in os.listdir("/dev/shm") if n.startswith("fastload-")}
    except FileNotFoundError:  # pragma: no cover - not Linux
        return set()


class _Resources:
    """Threads, file descriptors, shm segments and child processes vs. a baseline."""

    def __init__(self):
        gc.collect()
        self.proc = psutil.Process()
        self.threads = threading.active_count()
        self.fds = self.proc.num_fds()
        self.shm = _shm_segments()
        self.children = self._children()

    def _children(self):
        return {c.pid for c in self.proc.children(recursive=True) if c.is_running()}

    def assert_released(self, what):
        deadline = time.monotonic() + 10
        while True:
            gc.collect()
            now = (
                threading.active_count(),
                self.proc.num_fds(),
                _shm_segments() - self.shm,
                self._children() - self.children,
            )
            if now[0] <= self.threads and now[1] <= self.fds and not now[2] and not now[3]:
                return
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"{what}: threads {self.threads} -> {now[0]} "
                    f"({[t.name for t in threading.enumerate()]}), fds {self.fds} -> {now[1]}, "
                    f"new shm segments {sorted(now[2])}, worker processes left {sorted(now[3])}"
                )
            time.sleep(0.05)


def _loader(ds, **kw):
    from fastload.loader import Loader

    kw.setdefault("num_threads", 4)
    return Loader(ds, transform=_transform(), batch_size=8, seed=3, **kw)


def _warm_up(ds, **kw):
    loader = _loader(ds, **kw)
    for _ in loader:
        pass
    loader.close()
    del loader


@pytest.mark.soak
@pytest.mark.slow
def test_loader_epochs_rss_flat(image_dataset):
    _warm_up(image_dataset)
    base = _Resources()
    loader = _loader(image_dataset)
    rss = []
    checksum = 0.0
    for epoch in range(EPOCHS):
        loader.set_epoch(epoch)
        for batch in loader:
            assert batch["image"].shape == (8, 3, 32, 32)
            checksum += float(batch["image"][:, 0, 0, 0].sum())
        rss.append(base.proc.memory_info().rss / 2**20)
    assert np.isfinite(checksum)
    warm = max(rss[: max(2, EPOCHS // 5)])
    assert max(rss) - warm < RSS_SLACK_MB, f"RSS grew over {EPOCHS} epochs: {rss}"
    del loader, batch
    base.assert_released("loader dropped after the soak")


@pytest.mark.soak
def test_loaders_dropped_release_threads(image_dataset):
    _warm_up(image_dataset)
    base = _Resources()
    for k in range(REPEATS):
        loader = _loader(image_dataset, num_threads=1 + k % 4)
        n = sum(1 for _ in loader)
        assert n == len(loader)
        del loader
        base.assert_released(f"loader {k} dropped after a full epoch")


class _Boom(Exception):
    pass


def _consumer_raises(loader, after):
    for k, _batch in enumerate(loader):
        if k == after:
            raise _Boom


@pytest.mark.soak
@pytest.mark.parametrize("workers", ["thread", "process"])
def test_consumer_raises_and_abandoned_loaders_leak_nothing(image_dataset, workers):
    reps = REPEATS if workers == "thread" else max(2, REPEATS // 6)
    kw = {"workers": workers, "num_threads": 2}
    _warm_up(image_dataset, **kw)
    base = _Resources()
    for k in range(reps):
        # consumer raises mid-epoch; the loader object goes away with the frame
        loader = _loader(image_dataset, **kw)
        with pytest.raises(_Boom):
            _consumer_raises(loader, after=k % 3)
        del loader
        base.assert_released(f"{workers} loader {k}: consumer raised")
        # abandoned mid-epoch: break; del (no close())
        loader = _loader(image_dataset, **kw)
        for _batch in loader:
            break
        del loader, _batch
        base.assert_released(f"{workers} loader {k}: abandoned mid-epoch")
        # one loader, iterators abandoned one after another, then a full epoch
        loader = _loader(image_dataset, **kw)
        for _ in range(3):
            it = iter(loader)
            next(it)
            del it
        assert sum(1 for _ in loader) >= 1
        loader.close()
        del loader
        base.assert_released(f"{workers} loader {k}: iterators abandoned")


class _Corrupting:
    """Picklable dataset view that damages every third sample's JPEG bytes."""

    def __init__(self, ds):
        self.ds = ds

    def __len__(self):
        return len(self.ds)

    def __getitem__(self, i):
        row = self.ds[i]
        if i % 3 == 0:
            b = bytearray(row["image"])
            row["image"] = bytes(b[: len(b) // 2]) if i % 2 else bytes(b[:40]) + bytes(200)
        return row

    def locate(self, i):
        return self.ds.locate(i)


@pytest.mark.soak
def test_loader_survives_corrupt_samples(image_dataset):
    """on_error="skip": damaged JPEGs are replaced and recorded, for epochs on end;
    on_error="raise": SampleError naming the index, chained to the DecodeError."""
    from fastload.errors import DecodeError, SampleError

    bad = _Corrupting(image_dataset)
    base = _Resources()
    loader = _loader(bad, on_error="skip")
    for epoch in range(5):
        loader.set_epoch(epoch)
        for batch in loader:
            assert batch["image"].shape == (8, 3, 32, 32)
            assert np.isfinite(batch["image"]).all()
            assert not batch["_valid"][np.asarray(batch["_index"]) % 3 == 0].any()
    stats = loader.stats()
    assert stats["num_errors"] >= 5 * (len(bad) // 3)
    del loader
    loader = _loader(bad, on_error="raise", shuffle=False)
    with pytest.raises(SampleError) as info:
        for _ in loader:
            pass
    assert isinstance(info.value.__cause__, DecodeError)
    assert info.value.index == 0
    del loader, info
    base.assert_released("loaders over a corrupt dataset")
