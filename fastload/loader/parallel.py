"""Bounded thread-pool map with deterministic output order.

The loader submits whole batches (``submit(k, epoch, positions)``); every sample of a
batch is one task on a shared queue, so all threads stay busy even with small batches.
The thread that finishes a batch's last sample collates it (into the preallocated batch
buffers) and sets the batch's event; the consumer waits for batch ``k`` only, so output
order is the submission order whatever the scheduling. Memory is bounded by the number
of batches the caller keeps submitted (``prefetch``).

Shutdown: :meth:`ThreadBackend.close` sets a stop event (queued samples are dropped),
wakes every thread with a sentinel and joins them. Threads hold no reference to the
iterator that owns the backend, so a ``weakref.finalize`` on the iterator can close it.
"""

import ctypes
import threading
import time
import weakref
from queue import SimpleQueue

import numpy as np

from fastload.errors import SampleError

from .pipeline import allocate_out, assemble

__all__ = ["BufferPool", "ThreadBackend"]

JOIN_TIMEOUT_S = 10.0
MAX_POOLED_SHAPES = 8


class BufferPool:
    """Batch buffers for ``output_spec`` keys, reused once nothing references them.

    A fresh multi-megabyte ``numpy.empty`` per batch costs page faults and cold caches
    on every write (with the ResNet-50 training transform on one core, fresh buffers
    made the Loader swing between 0.65 and 0.92 of a tight loop; pooled: 0.90-0.93).

    Ownership is explicit: the pool owns up to ``capacity`` raw buffers per
    ``(shape, dtype)``; :meth:`get` *leases* a free one out as an array whose memory is
    held through a lease object made for that lease alone (a ``ctypes`` array over the
    raw buffer: every array, view, slice or ``torch.from_numpy`` tensor derived from
    the leased array keeps it alive). A ``weakref.finalize`` on the lease returns the
    buffer to the free list when the last of them is gone, whichever thread drops it.
    A buffer is therefore never handed out while anything still references it, with no
    reference counting by the pool (``sys.getrefcount`` differs across CPython
    versions). When every pooled buffer of a shape is leased, :meth:`get` returns a
    fresh array the pool does not track.
    """

    def __init__(self, capacity):
        self.capacity = int(capacity)
        self._lock = threading.Lock()
        self._ledgers = {}  # (shape, dtype) -> _Ledger; insertion order = age

    def get(self, shape, dtype):
        """A ``shape`` / ``dtype`` array that no one else references (contents undefined)."""
        key = (tuple(int(d) for d in shape), np.dtype(dtype))
        nbytes = int(np.prod(key[0], dtype=np.int64)) * key[1].itemsize
        if nbytes == 0:
            return np.empty(key[0], dtype=key[1])
        with self._lock:
            ledger = self._ledgers.get(key)
            if ledger is None:
                if len(self._ledgers) >= MAX_POOLED_SHAPES:
                    # e.g. short last batches: forget the oldest shape (its leased buffers
                    # are dropped, not returned, when released)
                    del self._ledgers[next(iter(self._ledgers))]
                ledger = self._ledgers[key] = _Ledger()
            if ledger.free:
                raw = ledger.free.pop()
            elif ledger.owned < self.capacity:
                raw = np.empty(nbytes, dtype=np.uint8)
                ledger.owned += 1
            else:
                return np.empty(key[0], dtype=key[1])
            ledger.leased += 1
        lease = (ctypes.c_char * nbytes).from_buffer(raw)
        finalizer = weakref.finalize(lease, _release, self._lock, ledger, raw)
        finalizer.atexit = False
        return np.frombuffer(lease, dtype=key[1]).reshape(key[0])

    def allocate(self, output_spec, batch_size):
        """Like :func:`~fastload.loader.pipeline.allocate_out`, from the pool."""
        return {
            k: self.get((batch_size, *shape), dtype) for k, (shape, dtype) in output_spec.items()
        }

    def counts(self, shape, dtype):
        """``(leased, free)`` pooled buffers of ``shape`` / ``dtype`` (for tests and stats)."""
        with self._lock:
            ledger = self._ledgers.get((tuple(int(d) for d in shape), np.dtype(dtype)))
            return (0, 0) if ledger is None else (ledger.leased, len(ledger.free))


class _Ledger:
    """The pooled buffers of one ``(shape, dtype)``: how many exist, how many are out."""

    __slots__ = ("free", "leased", "owned")

    def __init__(self):
        self.free = []
        self.leased = 0
        self.owned = 0


def _release(lock, ledger, raw):
    """Finalizer of a lease: its buffer is free again (a forgotten shape's is dropped)."""
    with lock:
        ledger.leased -= 1
        ledger.free.append(raw)


class _Job:
    __slots__ = (
        "k",
        "epoch",
        "positions",
        "out",
        "views",
        "samples",
        "indices",
        "valid",
        "errors",
        "failures",
        "timing",
        "remaining",
        "lock",
        "done",
        "batch",
        "exc",
    )

    def __init__(self, k, epoch, positions, out):
        b = len(positions)
        self.k = k
        self.epoch = epoch
        self.positions = positions
        self.out = out
        self.views = [{key: v[j] for key, v in out.items()} if out else None for j in range(b)]
        self.samples = [None] * b
        self.indices = np.empty(b, dtype=np.int64)
        self.valid = np.empty(b, dtype=bool)
        self.errors = [None] * b
        self.failures = []
        self.timing = [0.0, 0.0, 0.0]
        self.remaining = b
        self.lock = threading.Lock()
        self.done = threading.Event()
        self.batch = None
        self.exc = None


class ThreadBackend:
    """Run a :class:`~fastload.loader.pipeline.SamplePipeline` on ``num_threads`` threads.

    Parameters
    ----------
    pipeline : SamplePipeline
    collate : callable
    output_spec : dict or None
        Batch buffers to preallocate per batch (transform ``output_spec``).
    num_threads : int
        0 runs everything in the consumer thread (debugging, exact tracebacks).
    pool : BufferPool, optional
        Where the ``output_spec`` batch buffers come from (default: fresh arrays).
    """

    def __init__(
        self, pipeline, collate, output_spec, num_threads, *, pool=None, name="fastload-loader"
    ):
        self.pipeline = pipeline
        self.pool = pool
        self.collate = collate
        self.output_spec = output_spec
        self.num_threads = int(num_threads)
        self._stop = threading.Event()
        self._tasks = SimpleQueue()
        self._jobs = {}
        self._threads = []
        for i in range(self.num_threads):
            t = threading.Thread(
                target=_worker,
                args=(self._tasks, self._stop, self._run),
                name=f"{name}-{i}",
                daemon=True,
            )
            t.start()
            self._threads.append(t)

    def submit(self, k, epoch, positions):
        out = None
        if self.output_spec:
            if self.pool is not None:
                out = self.pool.allocate(self.output_spec, len(positions))
            else:
                out = allocate_out(self.output_spec, len(positions))
        job = _Job(k, epoch, positions, out)
        self._jobs[k] = job
        if self.num_threads:
            for j in range(len(positions)):
                self._tasks.put((job, j))

    def result(self, k):
        """Block until batch ``k`` is ready; return ``(batch, errors, timing)`` or raise."""
        job = self._jobs.pop(k)
        if not self.num_threads:
            for j in range(len(job.positions)):
                self._run(job, j)
        job.done.wait()
        if job.exc is not None:
            raise job.exc
        return job.batch, [e for errs in job.errors if errs for e in errs], job.timing

    def _run(self, job, j):
        if self._stop.is_set():
            return
        timing = [0.0, 0.0]
        errors = []
        try:
            p = int(job.positions[j])
            sample, idx, sub = self.pipeline.load(job.epoch, p, job.views[j], timing, errors)
            job.samples[j] = sample
            job.indices[j] = idx
            job.valid[j] = p < self.pipeline.num_samples and not sub
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer
            job.failures.append((j, exc))
        with job.lock:
            job.timing[0] += timing[0]
            job.timing[1] += timing[1]
            job.errors[j] = errors
            job.remaining -= 1
            last = job.remaining == 0
        if last:
            self._finish(job)

    def _finish(self, job):
        try:
            if job.failures:
                # The lowest slot's failure, whatever order the threads hit them.
                job.exc = min(job.failures, key=lambda f: f[0])[1]
                return
            t0 = time.perf_counter()
            job.batch = assemble(
                self.collate, job.samples, job.indices, job.valid, job.out, job.views
            )
            job.timing[2] += time.perf_counter() - t0
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer
            job.exc = (
                exc
                if isinstance(exc, SampleError)
                else SampleError(f"batch assembly failed: {exc}")
            )
            if job.exc is not exc:
                job.exc.__cause__ = exc
        finally:
            job.samples = None
            job.views = None
            job.out = None
            job.done.set()

    def close(self):
        """Stop and join the threads (idempotent)."""
        self._stop.set()
        for _ in self._threads:
            self._tasks.put(None)
        current = threading.current_thread()
        for t in self._threads:
            if t is not current:
                t.join(JOIN_TIMEOUT_S)
        self._threads = []
        self._jobs.clear()


def _worker(tasks, stop, run):
    while True:
        item = tasks.get()
        if item is None:
            return
        if stop.is_set():
            continue
        run(*item)
        # drop the job before blocking on the queue: it holds batch buffers the pool
        # could hand out again
        item = None
