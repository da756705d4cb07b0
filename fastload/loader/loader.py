"""The Loader: deterministic, resumable, parallel batches of numpy arrays.

Pipeline: sampler (epoch order, rank share, see :mod:`fastload.loader.sampler`) ->
per-sample rng ``sample_rng(seed, epoch, index)`` -> ``transform(sample, rng)`` on a
thread pool (or worker processes) -> collate into preallocated batch arrays -> up to
``prefetch`` batches in flight -> consumer.

Every batch also carries ``_index`` (int64, the dataset index of each slot) and
``_valid`` (bool, False for padding repeats and skip substitutes): summing over
``_valid`` slots across all ranks counts every sample of the epoch exactly once.
Keys starting with ``_`` are reserved for the loader.

State is small: ``{"seed", "epoch", "position", "world_size", "batch_size",
"num_samples", "shuffle", ...}`` where ``position`` is the number of samples consumed
globally in the epoch. One iterator is active at a time: starting a new ``iter(loader)``
(or calling :meth:`Loader.set_epoch` / :meth:`Loader.load_state_dict`) stops the previous
one.
"""

import logging
import operator
import os
import time
import weakref
from collections.abc import Mapping

from .collate import Collate
from .pipeline import SamplePipeline, output_spec_of
from .sampler import EPOCH_END_POLICIES, ORDERS, num_batches, plan_epoch

__all__ = ["Loader"]

log = logging.getLogger("fastload.loader")

STATE_VERSION = 1
# what load_state_dict needs (state_dict() adds world_size, batch_size, ... for information)
STATE_KEYS = ("version", "seed", "epoch", "position", "num_samples", "shuffle")


def _integer(name, value):
    """``value`` as an int; refuses strings, floats and bools (``batch_size="8"``)."""
    if isinstance(value, bool):
        raise TypeError(f"{name} must be an integer, got {value!r}")
    try:
        return operator.index(value)
    except TypeError:
        raise TypeError(
            f"{name} must be an integer, got {value!r} ({type(value).__name__})"
        ) from None


MAX_ERRORS_KEPT = 1000


def _default_threads():
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


class Loader:
    """Iterate over ``dataset`` in batches.

    Parameters
    ----------
    dataset : sized, indexable
        ``len(dataset)`` and ``dataset[i] -> dict`` (e.g. :func:`fastload.open_dataset`).
    transform : callable, optional
        ``transform(sample: dict, rng: numpy.random.Generator) -> dict``. If it defines
        ``output_spec() -> {key: (shape, dtype)}``, the loader preallocates the batch
        arrays and calls ``transform(sample, rng, out={key: batch_array[j]})``.
    batch_size : int
        Samples per batch *per rank*.
    shuffle : bool
        Shuffle with a permutation derived from ``(seed, epoch)``.
    seed : int
        Non-negative.
    rank, world_size : int
        This process's share of a data-parallel job.
    num_threads : int, optional
        Worker threads (default: available cores); with ``workers="process"`` the number of
        worker processes. 0 runs the pipeline in the consumer thread.
    prefetch : int
        Batches in flight (>= 1); bounds memory to about ``prefetch + 1`` batches.
    epoch_end : {"pad", "drop", "partial"}
        Tail policy (see :mod:`fastload.loader.sampler`).
    on_error : {"raise", "skip"}
        ``"raise"``: a failing sample raises :class:`~fastload.errors.SampleError` in the
        consumer, naming index and shard, chained to the original error. ``"skip"``: it is
        replaced by the next working sample of the epoch order (marked ``_valid=False``),
        logged, and recorded in ``stats()["errors"]``.
    collate : callable, optional
        ``collate(samples: list[dict]) -> dict``; default :class:`Collate()`.
    workers : {"thread", "process"}
        ``"process"`` runs the pipeline in worker processes (forkserver; for transforms that
        hold the GIL), one whole batch per task, ``max(prefetch, num_threads)`` batches
        in flight, batches handed over in shared memory (see
        :mod:`fastload.loader.process`); dataset, transform and collate must be picklable.
        The workers persist across epochs until :meth:`close` (or the loader is freed).
    order : {"global", "shard_blocks"}
        ``"global"``: one random permutation of the whole dataset per epoch (every rank
        reads from every shard). ``"shard_blocks"``: a shard-aware order for remote
        datasets (see :func:`fastload.loader.sampler.shard_block_order`): each rank reads
        its own shards, about ``shard_window + 1`` at a time, so its downloads stay near
        its share of the dataset and a cache of a few shards per rank suffices. Needs
        ``shuffle=True`` and a dataset with ``shard_index()`` (``open_dataset``). Both are
        pure functions of ``(seed, epoch)`` and the manifest; resume, elastic resume and
        the epoch-end policies behave the same.
    shard_window : int
        ``order="shard_blocks"`` only: shards whose samples are mixed at any point of a
        rank's stream (default 4); larger shuffles better and needs a bigger cache.
    prefetch_shards : int, optional
        Remote datasets only: how many distinct upcoming shards (of this rank's plan) are
        downloaded ahead on background threads (default ``shard_window + 2`` with
        ``"shard_blocks"``, 4 with ``"global"``); 0 disables.
    """

    def __init__(
        self,
        dataset,
        *,
        transform=None,
        batch_size,
        shuffle=True,
        seed=0,
        rank=0,
        world_size=1,
        num_threads=None,
        prefetch=2,
        epoch_end="pad",
        on_error="raise",
        collate=None,
        workers="thread",
        order="global",
        shard_window=4,
        prefetch_shards=None,
    ):
        if epoch_end not in EPOCH_END_POLICIES:
            raise ValueError(f"epoch_end must be one of {EPOCH_END_POLICIES}, got {epoch_end!r}")
        if on_error not in ("raise", "skip"):
            raise ValueError(f"on_error must be 'raise' or 'skip', got {on_error!r}")
        if workers not in ("thread", "process"):
            raise ValueError(f"workers must be 'thread' or 'process', got {workers!r}")
        batch_size = _integer("batch_size", batch_size)
        if batch_size <= 0:
            raise ValueError(f"batch_size must be positive, got {batch_size}")
        if _integer("prefetch", prefetch) < 1:
            raise ValueError(f"prefetch must be >= 1, got {prefetch}")
        if _integer("seed", seed) < 0:
            raise ValueError(f"seed must be a non-negative integer, got {seed}")
        rank, world_size = _integer("rank", rank), _integer("world_size", world_size)
        if world_size < 1 or not 0 <= rank < world_size:
            raise ValueError(
                f"need 0 <= rank < world_size, got rank={rank}, world_size={world_size}"
            )
        if order not in ORDERS:
            raise ValueError(f"order must be one of {ORDERS}, got {order!r}")
        if _integer("shard_window", shard_window) < 1:
            raise ValueError(f"shard_window must be >= 1, got {shard_window}")
        num_samples = len(dataset)
        if num_samples <= 0:
            raise ValueError("the dataset is empty")
        shard_of = None
        if order == "shard_blocks":
            if not shuffle:
                raise ValueError("order='shard_blocks' shuffles; it needs shuffle=True")
            if not callable(getattr(dataset, "shard_index", None)):
                raise ValueError(
                    "order='shard_blocks' needs a dataset with shard_index() (the shard of "
                    f"each sample, e.g. fastload.open_dataset); {type(dataset).__name__} has none"
                )
        if order == "shard_blocks" or getattr(dataset, "is_remote", False):
            shard_of = _shard_index(dataset, num_samples)
        if prefetch_shards is None:
            prefetch_shards = int(shard_window) + 2 if order == "shard_blocks" else 4
        if _integer("prefetch_shards", prefetch_shards) < 0:
            raise ValueError(f"prefetch_shards must be >= 0, got {prefetch_shards}")
        if num_threads is None:
            num_threads = _default_threads()
        if _integer("num_threads", num_threads) < 0:
            raise ValueError(f"num_threads must be >= 0, got {num_threads}")
        self.dataset = dataset
        self.transform = transform
        self.batch_size = int(batch_size)
        self.shuffle = bool(shuffle)
        self.rank = int(rank)
        self.world_size = int(world_size)
        self.num_threads = int(num_threads)
        self.prefetch = int(prefetch)
        self.epoch_end = epoch_end
        self.on_error = on_error
        self.workers = workers
        self.num_samples = num_samples
        self.order = order
        self.shard_window = int(shard_window)
        self.prefetch_shards = int(prefetch_shards) if getattr(dataset, "is_remote", False) else 0
        self._shard_of = shard_of
        self._resume_layout = None  # (epoch, (world_size, batch_size)) from a loaded state
        self.collate = Collate() if collate is None else collate
        spec = output_spec_of(transform)
        use_out = spec is not None and isinstance(self.collate, Collate)
        self.output_spec = _normalize_spec(spec) if use_out else None
        self._pipeline = SamplePipeline(
            dataset,
            transform,
            seed=int(seed),
            shuffle=self.shuffle,
            on_error=on_error,
            use_out=use_out,
            order=order,
            shard_of=shard_of if order == "shard_blocks" else None,
            layout=(self.world_size, self.batch_size),
            shard_window=self.shard_window,
        )
        self._epoch = 0
        self._position = 0
        self._active = None
        self._process_pool = None
        self._buffer_pool = None
        self._stats = _new_stats()
        self._storage_base = self._storage_now()

    # -- epoch and state -------------------------------------------------------------
    @property
    def seed(self):
        return self._pipeline.seed

    @property
    def epoch(self):
        """Current epoch (advances by itself when an epoch's last batch is handed out)."""
        return self._epoch

    @property
    def position(self):
        """Samples of the current epoch consumed globally (across all ranks)."""
        return self._position

    def set_epoch(self, epoch):
        """Select ``epoch``; its order starts from position 0.

        Setting the epoch the loader is already in keeps the position, so a state loaded
        with :meth:`load_state_dict` survives the usual ``set_epoch(e)`` at the top of a
        training loop.
        """
        epoch = int(epoch)
        if epoch < 0:
            raise ValueError(f"epoch must be >= 0, got {epoch}")
        self._stop_active()
        if epoch != self._epoch:
            self._epoch = epoch
            self._position = 0

    def __len__(self):
        """Batches this rank yields in one full epoch."""
        return num_batches(
            self.num_samples,
            batch_size=self.batch_size,
            world_size=self.world_size,
            epoch_end=self.epoch_end,
        )

    @property
    def batches_remaining(self):
        """Batches left in the current epoch from the current position."""
        return num_batches(
            self.num_samples,
            batch_size=self.batch_size,
            world_size=self.world_size,
            start=self._position,
            epoch_end=self.epoch_end,
        )

    def state_dict(self):
        """Small resumable state (no buffers).

        Returns
        -------
        dict
            ``version``, ``seed``, ``epoch``, ``position`` (samples consumed globally in
            the epoch), ``num_samples``, ``shuffle``, ``world_size``, ``batch_size`` and
            ``epoch_end`` (the last three for information; resuming re-partitions),
            ``order`` and ``order_layout`` (the world and batch size the current epoch's
            ``"shard_blocks"`` order was cut for: kept until the epoch ends).
        """
        return {
            "version": STATE_VERSION,
            "seed": self.seed,
            "epoch": self._epoch,
            "position": self._position,
            "num_samples": self.num_samples,
            "shuffle": self.shuffle,
            "world_size": self.world_size,
            "batch_size": self.batch_size,
            "epoch_end": self.epoch_end,
            "order": self.order,
            "order_layout": list(self._layout()),
        }

    def _layout(self):
        """``(world_size, batch_size)`` the current epoch's shard-aware order is cut for."""
        saved = self._resume_layout
        if saved is not None and saved[0] == self._epoch and self._position > 0:
            return saved[1]
        return (self.world_size, self.batch_size)

    def load_state_dict(self, state):
        """Continue from ``state`` (possibly saved with another world size or batch size)."""
        if not isinstance(state, Mapping):
            raise TypeError(
                f"load_state_dict needs the dict Loader.state_dict() returned, "
                f"not {type(state).__name__}"
            )
        missing = [k for k in STATE_KEYS if k not in state]
        if missing:
            raise ValueError(
                f"loader state is missing {', '.join(map(repr, missing))} (it has "
                f"{', '.join(map(repr, state)) or 'no keys'}); pass what Loader.state_dict() "
                "returned"
            )
        if state.get("version") != STATE_VERSION:
            raise ValueError(f"unsupported loader state version {state.get('version')!r}")
        if state["num_samples"] != self.num_samples:
            raise ValueError(
                f"state was saved for a dataset of {state['num_samples']} samples, "
                f"this one has {self.num_samples}"
            )
        if state.get("order", "global") != self.order:
            raise ValueError(
                f"state was saved with order={state.get('order', 'global')!r}, "
                f"this loader has order={self.order!r}"
            )
        if bool(state["shuffle"]) != self.shuffle:
            raise ValueError(
                f"state was saved with shuffle={state['shuffle']}, "
                f"this loader has shuffle={self.shuffle}"
            )
        position = int(state["position"])
        if not 0 <= position <= self.num_samples:
            raise ValueError(f"state position {position} outside [0, {self.num_samples}]")
        self._stop_active()
        self._pipeline.seed = int(state["seed"])  # part of the order cache's key
        self._epoch = int(state["epoch"])
        self._position = position
        layout = state.get("order_layout")
        self._resume_layout = (self._epoch, tuple(int(v) for v in layout)) if layout else None
        if position >= self.num_samples:
            self._epoch += 1
            self._position = 0

    # -- iteration -------------------------------------------------------------------
    def __iter__(self):
        self._stop_active()
        it = _EpochIterator(self)
        self._active = weakref.ref(it)
        return it

    def _stop_active(self):
        it = self._active() if self._active is not None else None
        if it is not None:
            it.close()
        self._active = None

    def _backend(self):
        if self.workers == "process" and self.num_threads > 0:
            if self._process_pool is None:
                from .process import ProcessPool

                self._process_pool = ProcessPool(
                    self._pipeline, self.collate, self.output_spec, self.num_threads
                )
                self._pool_finalizer = weakref.finalize(self, self._process_pool.close)
            return self._process_pool.session(self._pipeline), max(self.prefetch, self.num_threads)
        from .parallel import BufferPool, ThreadBackend

        if self._buffer_pool is None and self.output_spec:
            # in flight + the one the consumer holds + one it may still reference
            self._buffer_pool = BufferPool(self.prefetch + 2)
        backend = ThreadBackend(
            self._pipeline, self.collate, self.output_spec, self.num_threads, pool=self._buffer_pool
        )
        return backend, self.prefetch

    def close(self):
        """Stop the active iterator and any worker processes."""
        self._stop_active()
        if self._process_pool is not None:
            self._pool_finalizer()
            self._process_pool = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -- stats -----------------------------------------------------------------------
    def stats(self, reset=False):
        """Timings and errors since creation (or the last ``reset``).

        Returns
        -------
        dict
            ``batches``, ``samples``, ``read_s`` / ``transform_s`` / ``collate_s``
            (summed over workers), ``wait_s`` (consumer blocked waiting for data),
            ``wall_s`` (iteration time seen by the consumer), ``stall_fraction``
            (``wait_s / wall_s``: near 1 means input is the bottleneck),
            ``samples_per_s``, ``per_sample_ms`` (per stage), ``num_errors`` and
            ``errors`` (the last 1000 skipped failures: epoch, index, shard, row, error,
            substitute). Remote datasets add, for this process: ``bytes_downloaded``,
            ``download_wait_s`` (readers blocked on a shard not yet in the cache),
            ``cache_hits`` / ``cache_misses`` (shard opens that found it cached or had to
            wait), ``downloads`` and ``retries`` (zero for local data; with
            ``workers="process"`` only the consumer process's prefetching is counted).
        """
        s = dict(self._stats)
        now = self._storage_now()
        for k, v in now.items():
            s[k] = v - self._storage_base.get(k, 0)
        s["errors"] = list(self._stats["errors"])
        wall = s["wall_s"]
        s["stall_fraction"] = s["wait_s"] / wall if wall > 0 else 0.0
        s["samples_per_s"] = s["samples"] / wall if wall > 0 else 0.0
        n = max(s["samples"], 1)
        s["per_sample_ms"] = {k: 1e3 * s[f"{k}_s"] / n for k in ("read", "transform", "collate")}
        if reset:
            self._stats = _new_stats()
            self._storage_base = now
        return s

    def _storage_now(self):
        get = getattr(self.dataset, "storage_stats", None)
        if get is None:
            return {
                "bytes_downloaded": 0,
                "download_wait_s": 0.0,
                "cache_hits": 0,
                "cache_misses": 0,
                "downloads": 0,
                "retries": 0,
            }
        return dict(get())

    def _record(self, batch_len, errors, timing, wait, wall):
        st = self._stats
        st["batches"] += 1
        st["samples"] += batch_len
        st["read_s"] += timing[0]
        st["transform_s"] += timing[1]
        st["collate_s"] += timing[2]
        st["wait_s"] += wait
        st["wall_s"] += wall
        if errors:
            st["num_errors"] += len(errors)
            for e in errors:
                log.warning(
                    "fastload: sample %s (shard %s) failed in epoch %s, replaced by sample %s: %s",
                    e["index"],
                    e["shard"],
                    e["epoch"],
                    e["substitute"],
                    e["error"],
                )
            st["errors"] = (st["errors"] + list(errors))[-MAX_ERRORS_KEPT:]

    def __repr__(self):
        return (
            f"Loader(num_samples={self.num_samples}, batch_size={self.batch_size}, "
            f"shuffle={self.shuffle}, seed={self.seed}, rank={self.rank}, "
            f"world_size={self.world_size}, num_threads={self.num_threads}, "
            f"prefetch={self.prefetch}, epoch_end={self.epoch_end!r}, on_error={self.on_error!r}, "
            f"workers={self.workers!r}, epoch={self._epoch}, position={self._position})"
        )


def _shard_index(dataset, num_samples):
    import numpy as np

    shard_of = np.asarray(dataset.shard_index(), dtype=np.int64)
    if shard_of.shape != (num_samples,):
        raise ValueError(
            f"dataset.shard_index() has shape {shard_of.shape}, expected ({num_samples},)"
        )
    return shard_of


def _new_stats():
    return {
        "batches": 0,
        "samples": 0,
        "read_s": 0.0,
        "transform_s": 0.0,
        "collate_s": 0.0,
        "wait_s": 0.0,
        "wall_s": 0.0,
        "num_errors": 0,
        "errors": [],
    }


def _normalize_spec(spec):
    import numpy as np

    out = {}
    for key, value in dict(spec).items():
        shape, dtype = value
        out[str(key)] = (tuple(int(d) for d in shape), np.dtype(dtype))
    return out


class _EpochIterator:
    """Yields the rest of the loader's current epoch; updates its state per batch."""

    def __init__(self, loader):
        self._loader = loader
        self._epoch = loader._epoch
        self._plan = plan_epoch(
            loader.num_samples,
            batch_size=loader.batch_size,
            world_size=loader.world_size,
            rank=loader.rank,
            start=loader._position,
            epoch_end=loader.epoch_end,
        )
        if len(self._plan) == 0:
            # Nothing left of this epoch (e.g. "drop" with a state inside the dropped tail):
            # the epoch is over.
            loader._epoch = self._epoch + 1
            loader._position = 0
        loader._pipeline.set_order_key((loader.seed, loader._layout()))
        self._order = loader._pipeline.order(self._epoch)  # computed once here, not per worker
        self._release_at = self._last_uses() if loader.prefetch_shards else {}
        self._backend, self._in_flight = loader._backend()
        self._finalizer = weakref.finalize(self, self._backend.close)
        self._next = 0
        self._submitted = 0
        self._peeked = None  # (batch, errors, timing, wait_s) of batch _next, see peek()
        self._last = time.perf_counter()
        self._fill()

    def _fill(self):
        plan = self._plan
        if self._loader.prefetch_shards:
            self._prefetch_ahead()
        taken = self._next + (self._peeked is not None)
        while self._submitted < len(plan) and self._submitted - taken < self._in_flight:
            self._backend.submit(self._submitted, self._epoch, plan.positions[self._submitted])
            self._submitted += 1

    def _last_uses(self):
        """``{batch k: [shards whose last use in this rank's plan is batch k]}``: released
        once batch k is handed out, so the cache may evict them before shards still due."""
        import numpy as np

        loader = self._loader
        plan = self._plan
        if not len(plan) or not callable(getattr(loader.dataset, "release_shards", None)):
            return {}
        n = loader.num_samples
        pos = np.concatenate(plan.positions)
        batch_of = np.repeat(np.arange(len(plan)), [len(p) for p in plan.positions])
        shards = loader._shard_of[self._order[pos % n]]
        last = {}
        for s, k in zip(shards.tolist(), batch_of.tolist(), strict=True):
            last[s] = k
        out = {}
        for s, k in last.items():
            out.setdefault(k, []).append(s)
        return out

    def _prefetch_ahead(self):
        """Ask the dataset to download the next ``prefetch_shards`` distinct shards of this
        rank's plan (from the batch the consumer waits for next) on background threads."""
        loader = self._loader
        plan = self._plan
        want = loader.prefetch_shards
        seen = {}
        k = self._next
        n = loader.num_samples
        while k < len(plan) and len(seen) < want:
            idx = self._order[plan.positions[k] % n]
            for s in loader._shard_of[idx].tolist():
                if s not in seen:
                    seen[s] = None
                    if len(seen) >= want:
                        break
            k += 1
        if seen:
            loader.dataset.prefetch(list(seen))

    def __iter__(self):
        return self

    def _result(self):
        """``(batch, errors, timing, wait_s)`` of batch ``_next`` (blocks until ready)."""
        t0 = time.perf_counter()
        try:
            batch, errors, timing = self._backend.result(self._next)
        except BaseException:
            self.close()
            raise
        return batch, errors, timing, time.perf_counter() - t0

    def peek(self):
        """The batch :func:`next` returns next, without consuming it; None at the end.

        The loader's state (``position``, ``epoch``) moves only when ``next()`` hands a
        batch out, so a stage working one batch ahead (the framework adapters' device
        copies, :mod:`fastload.loader.adapters.staging`) peeks at batch ``i + 1`` while
        its consumer holds batch ``i``, and ``loader.state_dict()`` keeps describing
        the batches actually delivered.
        """
        if self._peeked is None:
            if self._finalizer.alive is False or self._next >= len(self._plan):
                return None
            self._peeked = self._result()
            self._fill()  # the peeked batch no longer counts as in flight
        return self._peeked[0]

    def __next__(self):
        if self._finalizer.alive is False or self._next >= len(self._plan):
            self.close()
            raise StopIteration
        k = self._next
        if self._peeked is not None:
            batch, errors, timing, wait = self._peeked
            self._peeked = None
        else:
            batch, errors, timing, wait = self._result()
        t1 = time.perf_counter()
        self._next += 1
        done = self._release_at.get(k)
        if done:
            self._loader.dataset.release_shards(done)
        self._fill()
        loader = self._loader
        if self._next >= len(self._plan):
            loader._epoch = self._epoch + 1
            loader._position = 0
        else:
            loader._position = self._plan.consumed_after[k]
        loader._record(len(self._plan.positions[k]), errors, timing, wait, t1 - self._last)
        self._last = t1
        if self._next >= len(self._plan):
            self.close()
        return batch

    def __len__(self):
        return len(self._plan) - self._next

    def close(self):
        """Stop the workers of this iterator (idempotent)."""
        self._finalizer()
        self._peeked = None
        self._next = len(self._plan)
