"""The output pool behind resample_to_spacing's allocating path (fastload/volume/_pool.py)."""

import gc
import threading

import numpy as np
import pytest

import fastload.volume.resample as resample_mod
from fastload.volume import output_pool, resample_to_spacing
from fastload.volume._pool import OutputPool

MB = 1 << 20


def addr(a):
    return a.__array_interface__["data"][0]


def test_returned_buffer_is_reused():
    pool = OutputPool(min_bytes=0)
    a = pool.empty((4, MB), np.uint8)
    where = addr(a)
    del a
    b = pool.empty((4, MB), np.uint8)
    assert addr(b) == where
    assert pool.stats()["hits"] == 1 and pool.stats()["misses"] == 1


@pytest.mark.parametrize(
    "keep",
    [
        lambda a: a[1:],  # a slice
        lambda a: a.view(np.int8).reshape(-1),  # a view of another dtype
        lambda a: memoryview(a),
        lambda a: np.frombuffer(memoryview(a), np.uint8),
        lambda a: [a.T],  # the transpose, inside a container
    ],
)
def test_buffer_in_use_is_never_handed_out(keep):
    pool = OutputPool(min_bytes=0)
    a = pool.empty((4, MB), np.uint8)
    a.fill(7)
    held = keep(a)
    del a
    gc.collect()
    b = pool.empty((4, MB), np.uint8)  # a miss: the first buffer is still referenced
    b.fill(9)
    assert pool.stats()["hits"] == 0
    assert np.all(np.asarray(held[0] if isinstance(held, list) else held) == 7)
    del held, b
    c = pool.empty((4, MB), np.uint8)  # now either buffer may come back
    assert pool.stats()["hits"] == 1
    del c


def test_threads_never_share_a_buffer():
    pool = OutputPool(min_bytes=0)
    errors = []
    start = threading.Barrier(4)

    def work(tid):
        start.wait()
        for i in range(60):
            a = pool.empty((2 * MB + 4096 * (i % 3),), np.uint8)
            a.fill(tid)
            keep = [a[::2]] if i % 5 == 0 else None  # sometimes only a view survives a while
            if i % 7 == 0:
                cycle = [a]
                cycle.append(cycle)  # released by the garbage collector, on any thread
            del a
            if keep is not None and not np.all(keep[0] == tid):
                errors.append((tid, i))
            b = pool.empty((2 * MB,), np.uint8)
            b.fill(tid + 100)
            if keep is not None and not np.all(keep[0] == tid):
                errors.append((tid, i, "after b"))
            if not np.all(b == tid + 100):
                errors.append((tid, i, "b"))

    threads = [threading.Thread(target=work, args=(t,)) for t in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    gc.collect()
    assert errors == []
    assert pool.stats()["hits"] > 0


def test_max_bytes_bounds_what_is_kept():
    pool = OutputPool(max_bytes=16 * MB, min_bytes=0)
    arrays = [pool.empty((8 * MB,), np.uint8) for _ in range(4)]
    del arrays
    stats = pool.stats()
    assert stats["free_bytes"] <= 16 * MB and stats["free_buffers"] == 2
    pool.clear()
    assert pool.stats()["free_bytes"] == 0


def test_disabled_and_small_requests_are_plain_arrays():
    off = OutputPool(max_bytes=0)
    a = off.empty((3, MB), np.float32)
    assert a.base is None and a.flags.owndata
    small = OutputPool(min_bytes=MB).empty((10,), np.float64)
    assert small.base is None


def test_size_classes():
    pool = OutputPool(min_bytes=0)
    a = pool.empty((10 * MB,), np.uint8)
    where = addr(a)
    del a
    b = pool.empty((9 * MB,), np.uint8)  # a slightly smaller volume shares the buffer
    assert addr(b) == where
    del b
    c = pool.empty((20 * MB,), np.uint8)  # far larger: a fresh buffer
    assert addr(c) != where
    d = pool.empty((MB,), np.uint8)  # far smaller: a fresh buffer, the big one is not wasted
    assert addr(d) != where
    assert pool.stats()["hits"] == 1


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int16, np.uint8])
def test_arrays_are_c_contiguous_aligned_and_writeable(dtype):
    pool = OutputPool(min_bytes=0)
    a = pool.empty((3, 5, 7), dtype)
    assert a.shape == (3, 5, 7) and a.dtype == dtype
    assert a.flags.c_contiguous and a.flags.writeable and a.flags.aligned
    a[...] = 1
    assert a.sum() == 105


@pytest.mark.parametrize("order", [0, 1])
def test_resample_into_dirty_pooled_buffer_is_bit_identical(monkeypatch, order):
    """A reused buffer holds an earlier output; every voxel must be overwritten."""
    pool = OutputPool(min_bytes=0)
    monkeypatch.setattr(resample_mod, "output_pool", pool)
    rng = np.random.default_rng(0)
    dtype = np.uint8 if order == 0 else np.int16
    vol = rng.integers(0, 200, (2, 9, 20, 24)).astype(dtype)
    spacing, target = (3.0, 0.8, 0.8), (1.6, 1.2, 1.2)
    want = np.zeros((2, 16, 13, 16), np.float32 if order == 1 else dtype)
    resample_to_spacing(vol, spacing, target, order=order, out=want)
    for fill in (np.nan, 255.0) if order == 1 else (255, 7):
        junk = pool.empty(want.shape, want.dtype)
        junk[...] = fill
        del junk
        got = resample_to_spacing(vol, spacing, target, order=order)
        assert pool.stats()["hits"] >= 1
        np.testing.assert_array_equal(got, want)
        del got


def test_resample_uses_the_module_pool():
    assert resample_mod.output_pool is output_pool
    vol = np.zeros((20, 256, 256), np.float32)  # 5 MB out: above min_bytes
    before = output_pool.stats()
    a = resample_to_spacing(vol, (1.0, 1.0, 1.0), (1.0, 1.0, 1.0))
    del a
    b = resample_to_spacing(vol, (1.0, 1.0, 1.0), (1.0, 1.0, 1.0))
    after = output_pool.stats()
    assert after["hits"] + after["misses"] == before["hits"] + before["misses"] + 2
    assert after["hits"] >= before["hits"] + 1
    assert not b.flags.owndata and np.all(b == 0)


def test_resample_from_threads_with_a_shared_pool(monkeypatch):
    """Loader threads resampling at once: each output is its own until dropped."""
    pool = OutputPool(min_bytes=0)
    monkeypatch.setattr(resample_mod, "output_pool", pool)
    rng = np.random.default_rng(3)
    vols = [rng.integers(-1000, 2000, size=s).astype(np.int16) for s in ((12, 30, 28), (9, 21, 33))]
    want = [resample_to_spacing(v, (3.0, 0.8, 0.8), (1.6, 1.2, 1.2)).copy() for v in vols]
    errors = []

    def work(tid):
        kept = []
        for i in range(40):
            k = (tid + i) % 2
            got = resample_to_spacing(vols[k], (3.0, 0.8, 0.8), (1.6, 1.2, 1.2))
            kept.append((k, got))
            if len(kept) > 2:
                kept.pop(0)
            for kk, g in kept:  # outputs still held were not handed to another call
                if not np.array_equal(g, want[kk]):
                    errors.append((tid, i, kk))

    threads = [threading.Thread(target=work, args=(t,)) for t in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert pool.stats()["hits"] > 0


def test_forked_child_does_not_inherit_a_held_lock():
    """A fork while another thread holds the pool's lock (torch's DataLoader forks its
    workers): the child gets a fresh lock. Run in a fresh interpreter with a timeout, so a
    regression fails instead of hanging the suite."""
    code = (
        "import os, sys, numpy as np\n"
        "from fastload.volume._pool import OutputPool\n"
        "pool = OutputPool(min_bytes=0)\n"
        "pool._lock.acquire()\n"  # as if another thread were inside the pool at the fork
        "pid = os.fork()\n"
        "if pid == 0:\n"
        "    import signal; signal.alarm(60)\n"  # a regressed child dies instead of hanging
        "    a = pool.empty((MB,), np.uint8); a.fill(1); del a\n"
        "    b = pool.empty((MB,), np.uint8)\n"
        "    os._exit(0 if pool.stats()['hits'] == 1 else 3)\n"
        "pool._lock.release()\n"
        "sys.exit(os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]))\n"
    ).replace("MB", str(MB))
    import subprocess
    import sys

    r = subprocess.run([sys.executable, "-c", code], timeout=120, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-2000:]
