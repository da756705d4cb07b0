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

import sys
import threading
import time
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
    The pool keeps up to
    ``capacity`` arrays per ``(shape, dtype)`` and hands one out again only when its
    reference count shows that the pool is its last holder: the consumer, its views,
    ``torch.from_numpy`` tensors and in-flight jobs all hold references, so a buffer
    still in use is never overwritten (then a new one is allocated).

    Only the consumer thread calls :meth:`get`.
    """

    def __init__(self, capacity):
        self.capacity = int(capacity)
        self._bufs = {}

    def get(self, shape, dtype):
        key = (tuple(shape), np.dtype(dtype))
        if key not in self._bufs and len(self._bufs) >= MAX_POOLED_SHAPES:
            del self._bufs[next(iter(self._bufs))]  # e.g. short last batches: forget the oldest
        bufs = self._bufs.setdefault(key, [])
        for i in range(len(bufs)):
            # 2 = the list slot + getrefcount's argument: nobody else holds it
            if sys.getrefcount(bufs[i]) == 2:
                return bufs[i]
        buf = np.empty(key[0], dtype=key[1])
        if len(bufs) < self.capacity:
            bufs.append(buf)
        return buf

    def allocate(self, output_spec, batch_size):
        """Like :func:`~fastload.loader.pipeline.allocate_out`, from the pool."""
        return {
            k: self.get((batch_size, *shape), dtype) for k, (shape, dtype) in output_spec.items()
        }


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
