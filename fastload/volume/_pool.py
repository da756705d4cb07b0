"""Reuse of large output buffers the caller has let go of (the allocating path of
:func:`fastload.volume.resample_to_spacing`).

Why: a fresh 132 MB output costs page faults on every call. Measured on one pinned core of
the 2-core VM (first-touch of a 132 MiB buffer, medians of 9): writing into a reused buffer
7 ms; numpy's ``np.empty`` (numpy asks for transparent huge pages) 21 ms, with stalls of
0.23 s when the huge pages come from memory the VM has not touched yet; 4 KiB pages (torch's
allocator, or ``MADV_NOHUGEPAGE``) 110 ms; ``MAP_POPULATE`` 68 ms. A kernel that needs 45 ms
cannot keep its lead over any of those, so outputs are recycled instead.

Ownership: every array handed out is a view of a fresh :class:`_Lease` (a plain object exposing
the buffer through ``__array_interface__``). numpy keeps the lease alive as the base of the
array and of every view, slice, ``memoryview`` or ``torch.from_numpy`` tensor made from it;
only when the last of those is gone does ``_Lease.__del__`` put the buffer on the return queue.
A buffer in use is therefore never handed out again. The return queue is a ``deque``
(``append`` is atomic), so a lease dying on any thread, or inside the garbage collector while
another thread holds the pool's lock, never blocks or races; returned buffers are moved to the
free list under the lock on the next :meth:`OutputPool.empty`.
"""

import collections
import math
import os
import threading
import weakref

import numpy as np

__all__ = ["OutputPool"]

#: capacities are rounded up to 2 MiB (the transparent huge page size)
_ALIGN = 2 << 20

#: every pool, so a forked child gets fresh locks (a lock some other thread of the parent
#: held at the fork would otherwise never be released in the child: torch's DataLoader
#: forks its workers by default on Linux)
_POOLS = weakref.WeakSet()


def _after_fork_in_child():
    for pool in list(_POOLS):
        pool._lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


class _Lease:
    """One hand-out of a pooled buffer; its death returns the buffer to the pool."""

    __slots__ = ("__array_interface__", "_raw", "_queue")

    def __init__(self, raw, nbytes, queue):
        self._raw = raw
        self._queue = queue
        self.__array_interface__ = {
            "data": (raw.ctypes.data, False),
            "shape": (nbytes,),
            "typestr": "|u1",
            "version": 3,
        }

    def __del__(self):
        try:
            self._queue.append(self._raw)
        except Exception:  # noqa: BLE001, S110 - interpreter shutdown: let the buffer go
            pass


class OutputPool:
    """A cache of large output buffers, reused once every array made from them is gone.

    Parameters
    ----------
    max_bytes : int
        Most bytes kept while not in use (oldest dropped first); 0 disables the pool (every
        call allocates with ``np.empty``). Settable at any time.
    min_bytes : int
        Requests below this are plain ``np.empty`` (glibc's heap serves them without faults).

    A request of ``n`` bytes takes the smallest free buffer of ``n`` to ``1.25 n + 2 MiB``
    bytes (so volumes of slightly different shapes share buffers); otherwise it allocates
    ``n`` rounded up to 2 MiB. The returned array does not own its data (``arr.base`` is a
    view of the lease); ``ndarray.resize`` on it is refused by numpy.
    """

    def __init__(self, max_bytes=1 << 30, min_bytes=4 << 20):
        self.max_bytes = int(max_bytes)
        self.min_bytes = int(min_bytes)
        self._lock = threading.Lock()
        self._free = []  # raw uint8 buffers, oldest first
        self._returned = collections.deque()
        self.hits = 0
        self.misses = 0
        _POOLS.add(self)

    def empty(self, shape, dtype):
        """An uninitialised C-contiguous array of ``shape`` and ``dtype`` (like ``np.empty``)."""
        dtype = np.dtype(dtype)
        shape = tuple(int(s) for s in shape)
        nbytes = math.prod(shape) * dtype.itemsize
        if nbytes < self.min_bytes or self.max_bytes <= 0:
            self._drain()
            return np.empty(shape, dtype)
        raw = self._take(nbytes)
        lease = _Lease(raw, nbytes, self._returned)
        return np.asarray(lease).view(dtype).reshape(shape)

    def clear(self):
        """Drop every free buffer (buffers in use return later, if the pool is still on)."""
        with self._lock:
            self._drain_locked()
            self._free.clear()

    def stats(self):
        """``{"hits", "misses", "free_buffers", "free_bytes"}``."""
        with self._lock:
            self._drain_locked()
            return {
                "hits": self.hits,
                "misses": self.misses,
                "free_buffers": len(self._free),
                "free_bytes": sum(r.nbytes for r in self._free),
            }

    def _take(self, nbytes):
        with self._lock:
            self._drain_locked()
            limit = nbytes + nbytes // 4 + _ALIGN
            best = None
            for i, r in enumerate(self._free):
                if nbytes <= r.nbytes <= limit and (
                    best is None or r.nbytes < self._free[best].nbytes
                ):
                    best = i
            if best is not None:
                self.hits += 1
                return self._free.pop(best)
            self.misses += 1
        return np.empty(-(-nbytes // _ALIGN) * _ALIGN, np.uint8)

    def _drain(self):
        if self._returned:
            with self._lock:
                self._drain_locked()

    def _drain_locked(self):
        while True:
            try:
                raw = self._returned.popleft()
            except IndexError:
                break
            self._free.append(raw)
        held = sum(r.nbytes for r in self._free)
        while self._free and held > max(self.max_bytes, 0):
            raw = self._free.pop(0)
            held -= raw.nbytes
