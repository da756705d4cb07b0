"""BufferPool: explicit leases, never a buffer that something still references."""

import gc
import sys
import threading

import numpy as np
import pytest

from fastload.loader.parallel import BufferPool

SHAPE, DT = (4, 3, 5), np.dtype(np.float32)


def addr(a):
    return a.__array_interface__["data"][0]


def test_released_buffer_is_reused():
    pool = BufferPool(2)
    a = pool.get(SHAPE, DT)
    assert a.shape == SHAPE and a.dtype == DT and a.flags.c_contiguous and a.flags.writeable
    first = addr(a)
    assert pool.counts(SHAPE, DT) == (1, 0)
    del a
    assert pool.counts(SHAPE, DT) == (0, 1)
    assert addr(pool.get(SHAPE, DT)) == first  # the temporary is released at once


@pytest.mark.parametrize(
    "hold",
    [
        lambda a: a,
        lambda a: a[1:],
        lambda a: a[::-1, 0],
        lambda a: a.reshape(-1),
        lambda a: a.T,
        lambda a: memoryview(a),
        lambda a: {"batch": {"y": a}},
        lambda a: [a[0], a[1]],
    ],
    ids=["array", "slice", "strided", "reshape", "transpose", "memoryview", "dict", "rows"],
)
def test_referenced_buffer_is_never_handed_out(hold):
    pool = BufferPool(3)
    a = pool.get(SHAPE, DT)
    a[...] = 7.0
    kept = hold(a)
    del a
    gc.collect()
    others = [pool.get(SHAPE, DT) for _ in range(5)]  # 2 pooled, then untracked arrays
    for o in others:
        o[...] = -1.0
    leased_addr = {addr(o) for o in others}
    assert len(leased_addr) == 5
    del others
    # the held buffer kept its values: nothing was written into it
    flat = kept
    while isinstance(flat, (dict, list)):
        flat = next(iter(flat.values())) if isinstance(flat, dict) else flat[0]
    assert (np.asarray(flat) == 7.0).all()
    assert pool.counts(SHAPE, DT) == (1, 2)
    del kept, flat
    gc.collect()
    assert pool.counts(SHAPE, DT) == (0, 3)


@pytest.mark.torch
def test_torch_tensor_keeps_the_lease():
    import torch

    pool = BufferPool(1)
    a = pool.get(SHAPE, DT)
    a[...] = 3.0
    t = torch.from_numpy(a)
    del a
    b = pool.get(SHAPE, DT)
    assert addr(b) != t.data_ptr()
    b[...] = 0.0
    assert bool((t == 3.0).all())
    del t, b
    assert pool.counts(SHAPE, DT) == (0, 1)


def test_no_reference_counting(monkeypatch):
    """Ownership does not come from sys.getrefcount (its counts differ across versions)."""

    def refuse(obj):
        raise AssertionError("BufferPool must not count references")

    monkeypatch.setattr(sys, "getrefcount", refuse)
    pool = BufferPool(2)
    a = pool.get(SHAPE, DT)
    del a
    pool.get(SHAPE, DT)


def test_capacity_and_shapes():
    pool = BufferPool(2)
    held = [pool.get(SHAPE, DT) for _ in range(4)]
    assert pool.counts(SHAPE, DT) == (2, 0)  # 2 leased, 2 untracked fresh arrays
    assert len({addr(h) for h in held}) == 4
    del held
    assert pool.counts(SHAPE, DT) == (0, 2)
    # many shapes (short last batches): the oldest shapes are forgotten
    for n in range(1, 12):
        pool.get((n, 2), DT)
    assert pool.counts(SHAPE, DT) == (0, 0)
    assert pool.get((0, 5), DT).shape == (0, 5)


def test_release_from_other_threads():
    pool = BufferPool(4)
    arrays = [pool.get(SHAPE, DT) for _ in range(4)]
    box = {"arrays": arrays}
    del arrays

    def drop():
        box.clear()

    t = threading.Thread(target=drop)
    t.start()
    t.join()
    assert pool.counts(SHAPE, DT) == (0, 4)


def test_allocate_spec():
    pool = BufferPool(2)
    out = pool.allocate({"y": ((3,), np.float32), "m": ((2, 2), np.uint8)}, 5)
    assert out["y"].shape == (5, 3) and out["m"].shape == (5, 2, 2)
    assert out["m"].dtype == np.uint8
