"""Worker processes writing batches into shared memory (``Loader(workers="process")``).

For transforms that hold the GIL. Each worker process (``forkserver`` context, ``spawn``
where that is missing: never a fork of a threaded parent) runs the same
:class:`~fastload.loader.pipeline.SamplePipeline` and collate as the thread backend, one
whole batch per task, so batches are bit-identical to ``workers="thread"``. The
``output_spec`` batch arrays live in a shared-memory segment the transform writes into
directly; the other array values are copied into a second one
(``/dev/shm/fastload-<pid>-<n>``); only their layout crosses the result queue.

Segment lifetime (no leftovers after a crash):

1. The worker creates the segment and registers it with multiprocessing's resource
   tracker (shared by the parent and its worker children) *before* announcing it.
2. The consumer maps it, **unlinks it at once** and unregisters it; the mapping lives
   as long as the numpy arrays that view it.
3. If the consumer dies (even SIGKILL), workers notice their parent is gone and exit;
   the resource tracker then unlinks every segment still registered. Batches that are
   in flight when an iterator stops are drained and unlinked by the consumer.

Object-valued keys (strings, bytes, lists) are pickled through the queue instead.
"""

import itertools
import mmap
import os
import pickle
import queue
import time
import traceback
from multiprocessing import get_context, resource_tracker

import numpy as np

from fastload._workers import MAIN_GUARD_EXIT, exit_if_bootstrapping, main_guard_error
from fastload.errors import SampleError

from .pipeline import run_batch

__all__ = ["ProcessPool"]

SHM_DIR = "/dev/shm"
ALIGN = 64
POLL_S = 0.2
JOIN_TIMEOUT_S = 5.0


class RemoteTraceback(Exception):
    """The formatted traceback of an exception raised in a worker process."""

    def __str__(self):
        return "\n\n" + self.args[0]


def _is_shared(value):
    return isinstance(value, np.ndarray) and value.dtype.kind not in "OV"


def _picklable(value):
    """Zero-copy memoryviews (raw dataset columns) cannot be pickled: send bytes."""
    if isinstance(value, memoryview):
        return value.tobytes()
    if isinstance(value, np.ndarray) and value.dtype == object:
        out = np.empty(value.shape, dtype=object)
        for i, v in enumerate(value.flat):
            out.flat[i] = v.tobytes() if isinstance(v, memoryview) else v
        return out
    if isinstance(value, list):
        return [v.tobytes() if isinstance(v, memoryview) else v for v in value]
    return value


def _layout(items):
    """Offsets of ``(key, shape, dtype)`` items in one segment, 64-byte aligned."""
    layout = {}
    offset = 0
    for key, shape, dtype in items:
        dtype = np.dtype(dtype)
        layout[key] = (offset, tuple(shape), dtype.str)
        offset += -(-int(np.prod(shape, dtype=np.int64)) * dtype.itemsize // ALIGN) * ALIGN
    return layout, max(offset, 1)


class _Segment:
    """A new shared-memory segment registered with the resource tracker, mapped here."""

    def __init__(self, layout, size, counter):
        self.name = f"fastload-{os.getpid()}-{next(counter)}"
        self.size = size
        self.layout = layout
        fd = os.open(os.path.join(SHM_DIR, self.name), os.O_CREAT | os.O_EXCL | os.O_RDWR, 0o600)
        try:
            resource_tracker.register("/" + self.name, "shared_memory")
            try:
                # reserve the pages now: a full /dev/shm is an error here, not a SIGBUS later
                os.posix_fallocate(fd, 0, size)
            except OSError as exc:
                _unlink(self.name)
                raise SampleError(
                    f"cannot reserve {size} bytes of shared memory in {SHM_DIR} for a batch "
                    f"({exc.strerror}); enlarge it (docker --shm-size) or use workers='thread'"
                ) from exc
            self.mmap = mmap.mmap(fd, size)
        finally:
            os.close(fd)

    def arrays(self):
        return {
            k: np.ndarray(shape, dtype=dtype, buffer=self.mmap, offset=off)
            for k, (off, shape, dtype) in self.layout.items()
        }

    def handoff(self):
        """Unmap here (the consumer maps it by name); returns the descriptor."""
        try:
            self.mmap.close()
        except BufferError:  # a view survives somewhere: the mapping goes with it at GC
            pass
        return self.name, self.size, self.layout

    def discard(self):
        self.handoff()
        _unlink(self.name)


def _write_shm(batch, counter):
    """Copy the array values of ``batch`` into a new segment.

    Returns ``(descriptor or None, inline)``: inline holds what is pickled instead.
    """
    items = []
    inline = {}
    for key, value in batch.items():
        if _is_shared(value):
            items.append((key, value.shape, value.dtype))
        else:
            inline[key] = _picklable(value)
    if not items:
        return None, inline
    seg = _Segment(*_layout(items), counter)
    for key, dst in seg.arrays().items():
        np.copyto(dst, batch[key])
        del dst
    return seg.handoff(), inline


def _read_shm(descriptors, inline):
    """Map the worker's segments, unlink them at once, return the batch (arrays view them)."""
    batch = {}
    for desc in descriptors:
        if desc is None:
            continue
        name, size, layout = desc
        fd = os.open(os.path.join(SHM_DIR, name), os.O_RDWR)
        try:
            m = mmap.mmap(fd, size)
        finally:
            os.close(fd)
            _unlink(name)
        for key, (off, shape, dtype) in layout.items():
            batch[key] = np.ndarray(shape, dtype=dtype, buffer=m, offset=off)
    batch.update(inline)
    return batch


def _unlink(name):
    try:
        os.unlink(os.path.join(SHM_DIR, name))
    except FileNotFoundError:
        pass
    resource_tracker.unregister("/" + name, "shared_memory")


def _release_others(dataset, indices):
    """Remote datasets: unpin the shards this worker holds that its last batch did not
    read, so its pins never keep the node cache above its limit (the consumer prefetches
    and releases for the whole plan; a worker sees only its own batches)."""
    if not getattr(dataset, "is_remote", False):
        return
    dataset.release_shards_except(dataset.shards_of(indices))


def _worker_main(pipeline, collate, output_spec, tasks, results, min_gen):
    import signal
    from multiprocessing import parent_process

    # Ctrl-C goes to the whole process group: the consumer handles it and stops us.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    parent = parent_process()
    counter = itertools.count()
    while True:
        try:
            item = tasks.get(timeout=POLL_S)
        except queue.Empty:
            if parent is not None and not parent.is_alive():
                return
            continue
        if item is None:
            return
        gen, k, order_key, epoch, positions = item
        if pipeline.order_key() != order_key:  # the loader loaded a state (seed, layout)
            pipeline.set_order_key(order_key)
        if gen < min_gen.value:  # the iterator that asked for it has stopped
            results.put(pickle.dumps((gen, k, "skipped", None, None, None)))
            continue
        spec = None
        try:
            out = None
            if output_spec:
                # the transform writes straight into shared memory: no copy afterwards
                b = len(positions)
                spec = _Segment(
                    *_layout(
                        (key, (b, *shape), dtype) for key, (shape, dtype) in output_spec.items()
                    ),
                    counter,
                )
                out = spec.arrays()
            batch, errors, timing = run_batch(
                pipeline, collate, output_spec, epoch, positions, out=out
            )
            _release_others(pipeline.dataset, batch["_index"])
            rest, inline = _write_shm(
                {k: v for k, v in batch.items() if out is None or k not in out}, counter
            )
            del batch, out
            descriptors = [spec.handoff() if spec is not None else None, rest]
            spec = None
            try:
                # pickled here, not in the queue's feeder thread, where a failure would
                # only be printed and the consumer would wait for ever
                message = pickle.dumps((gen, k, "ok", (descriptors, inline), errors, timing))
            except Exception:
                for desc in descriptors:
                    if desc is not None:
                        _unlink(desc[0])
                raise
            results.put(message)
        except BaseException as exc:  # noqa: BLE001 - reported to the consumer
            out = batch = None
            if spec is not None:
                spec.discard()
            info = (
                type(exc).__name__,
                str(exc),
                getattr(exc, "index", None),
                getattr(exc, "shard", None),
                "".join(traceback.format_exception(exc)),
            )
            results.put(pickle.dumps((gen, k, "error", info, None, None)))


def _context():
    """``forkserver`` where available (a clean single-threaded server that has already
    imported numpy and this module, so workers start in milliseconds), else ``spawn``.
    Never plain ``fork`` of a parent that runs threads."""
    import multiprocessing

    if "forkserver" in multiprocessing.get_all_start_methods():
        ctx = get_context("forkserver")
        ctx.set_forkserver_preload(["numpy", "fastload.loader.process"])
        return ctx
    return get_context("spawn")


class ProcessPool:
    """Persistent worker processes shared by the loader's successive iterators."""

    def __init__(self, pipeline, collate, output_spec, num_workers):
        exit_if_bootstrapping()  # a worker re-running an unguarded script: see fastload._workers
        try:
            pickle.dumps((pipeline, collate, output_spec))
        except Exception as exc:
            raise TypeError(
                "workers='process' needs a picklable dataset, transform and collate "
                f"(module-level classes or functions, no lambdas or closures): {exc}"
            ) from exc
        ctx = _context()
        resource_tracker.ensure_running()
        self._tasks = ctx.Queue()
        self._results = ctx.Queue()
        self._min_gen = ctx.Value("q", 0, lock=False)
        self._procs = []
        for i in range(num_workers):
            p = ctx.Process(
                target=_worker_main,
                args=(pipeline, collate, output_spec, self._tasks, self._results, self._min_gen),
                name=f"fastload-worker-{i}",
                daemon=True,
            )
            p.start()
            self._procs.append(p)
        self._gen = itertools.count()
        self._ready = {}  # (gen, k) -> message
        self._pending = {}  # gen -> number of tasks submitted and not yet received
        self._cancelled = set()
        self._closed = False

    def session(self, pipeline):
        """A new iterator's handle; ``pipeline`` (the loader's) supplies the current seed."""
        return _Session(self, next(self._gen), pipeline)

    def _submit(self, gen, k, seed, epoch, positions):
        self._pending[gen] = self._pending.get(gen, 0) + 1
        self._tasks.put((gen, k, seed, epoch, np.asarray(positions)))

    def _receive(self, timeout):
        gen, k, status, payload, errors, timing = pickle.loads(self._results.get(timeout=timeout))
        self._pending[gen] -= 1
        if not self._pending[gen]:
            del self._pending[gen]
            if gen in self._cancelled:
                self._cancelled.discard(gen)
                self._discard((gen, k, status, payload))
                return gen, k, "skipped", None, None, None
        return gen, k, status, payload, errors, timing

    def _result(self, gen, k):
        while (gen, k) not in self._ready:
            try:
                msg = self._receive(POLL_S)
            except queue.Empty:
                dead = [p for p in self._procs if not p.is_alive()]
                if any(p.exitcode == MAIN_GUARD_EXIT for p in dead):
                    raise main_guard_error("Loader(workers='process')") from None
                if dead:
                    raise SampleError(
                        f"loader worker process {dead[0].name} died (exit code {dead[0].exitcode}) "
                        f"while batch {k} was in flight"
                    ) from None
                continue
            if msg[0] in self._cancelled:
                self._discard(msg)
            elif msg[2] != "skipped":
                self._ready[(msg[0], msg[1])] = msg
        _, _, status, payload, errors, timing = self._ready.pop((gen, k))
        if status == "error":
            name, message, index, shard, tb = payload
            raise SampleError(
                message if name == "SampleError" else f"{name}: {message}", index=index, shard=shard
            ) from RemoteTraceback(tb)
        return _read_shm(*payload), errors, timing

    def _discard(self, msg):
        if msg[2] == "ok":
            for desc in msg[3][0]:
                if desc is not None:
                    _unlink(desc[0])

    def _cancel(self, gen):
        """Forget an iterator's batches; those still in flight are unlinked on arrival."""
        if gen in self._pending:
            self._cancelled.add(gen)
        self._min_gen.value = max(self._min_gen.value, gen + 1)
        for key in [key for key in self._ready if key[0] == gen]:
            self._discard(self._ready.pop(key))

    def _drain(self):
        deadline = time.monotonic() + JOIN_TIMEOUT_S
        while self._pending and time.monotonic() < deadline:
            try:
                msg = self._receive(POLL_S)
            except queue.Empty:
                if not all(p.is_alive() for p in self._procs):
                    break  # a dead worker's batch never comes
                continue
            if msg[0] in self._cancelled:
                self._discard(msg)
            elif msg[2] != "skipped":
                self._ready[(msg[0], msg[1])] = msg

    def close(self):
        """Stop the workers, unlink whatever they still produced (idempotent)."""
        if self._closed:
            return
        self._closed = True
        self._cancelled.update(self._pending)
        self._min_gen.value = max(self._pending, default=-1) + 1
        for key in list(self._ready):
            self._discard(self._ready.pop(key))
        self._drain()
        for _ in self._procs:
            try:
                self._tasks.put(None)
            except (ValueError, OSError):
                pass
        for p in self._procs:
            p.join(JOIN_TIMEOUT_S)
            if p.is_alive():
                p.terminate()
                p.join(JOIN_TIMEOUT_S)
        for q in (self._tasks, self._results):
            q.close()
            q.join_thread()
        for msg in self._ready.values():
            self._discard(msg)
        self._ready.clear()


class _Session:
    """One iterator's view of the pool: same interface as ThreadBackend."""

    def __init__(self, pool, gen, pipeline):
        self._pool = pool
        self._gen = gen
        self._pipeline = pipeline
        self._closed = False

    def submit(self, k, epoch, positions):
        self._pool._submit(self._gen, k, self._pipeline.order_key(), epoch, positions)

    def result(self, k):
        return self._pool._result(self._gen, k)

    def close(self):
        if not self._closed and not self._pool._closed:
            self._closed = True
            self._pool._cancel(self._gen)
