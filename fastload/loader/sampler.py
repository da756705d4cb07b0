"""Epoch order, rank partition, epoch-end policies and resume arithmetic.

Definitions
-----------
``N`` samples, ``W`` ranks (world size), ``B`` samples per rank per batch, ``G = W * B``
samples per *global* batch.

* **Epoch order.** Epoch ``e`` visits the dataset in one order ``order = epoch_order(N,
  seed, e)``: a permutation that is a pure function of ``(seed, e)`` (or ``arange(N)``
  without shuffling). *Position* ``p`` of the epoch is dataset index ``order[p]``.
  Positions ``p >= N`` are padding and map to ``order[p % N]`` (the start of the order
  again).
* **Global batches.** Starting from position ``P`` (see below), global batch ``k`` is the
  positions ``[P + k*G, P + (k+1)*G)``; rank ``r``'s ``k``-th local batch is the slice
  ``[P + k*G + r*B, P + k*G + (r+1)*B)`` of it. Every rank therefore sees a disjoint part,
  and all ranks yield the same number of batches.
* **Samples consumed globally** (``P``, the ``position`` in the state) is the number of
  positions of the epoch order already delivered across all ranks, assuming synchronous
  data-parallel training (all ranks take the same number of batches, so every rank holds
  the same state). After global batch ``k`` it is ``P0 + (k+1)*G`` (``P0`` = where this
  run of the epoch started), clipped to ``N``. When an epoch's last batch is handed out,
  the state moves on to ``(epoch + 1, position 0)``.
* **Resume.** Loading ``(seed, epoch, P)`` continues the same epoch order from position
  ``P``, dealt again with the *current* ``W`` and ``B``. With the same ``W`` and ``B``
  this reproduces the uninterrupted run batch for batch; with a different world size
  (elastic restart) the remaining positions ``[P, N)`` are re-partitioned over the new
  ranks, so every remaining sample is delivered exactly once, none lost or repeated.

Epoch end (``R = N - P`` remaining positions, ``T = R % G`` in the tail)
------------------------------------------------------------------------
``"pad"``
    ``ceil(R / G)`` full batches per rank; the tail is filled with positions
    ``N, N+1, ...`` (repeats from the start of the order) marked ``valid = False``.
``"drop"``
    ``R // G`` batches per rank; the tail is dropped on every rank alike.
``"partial"``
    ``R // G`` full batches then one short batch per rank if ``T > 0``: the tail is dealt
    in contiguous shares as equal as possible (the first ``T % W`` ranks get one more).
    A rank whose share is empty (``T < W``) gets a one-sample batch holding a padding
    position marked ``valid = False``, so all ranks still yield the same number of
    batches.

In every policy the valid positions are exactly ``[P, N)`` (``"drop"``: minus the tail),
each once over all ranks.
"""

from dataclasses import dataclass

import numpy as np

__all__ = [
    "EPOCH_END_POLICIES",
    "ORDERS",
    "EpochPlan",
    "epoch_order",
    "plan_epoch",
    "shard_block_order",
]

EPOCH_END_POLICIES = ("pad", "drop", "partial")
ORDERS = ("global", "shard_blocks")

# Mixed in as a SeedSequence spawn key so the order stream can never coincide with a
# per-sample stream SeedSequence([seed, epoch, index]) (entropy is zero-padded, so an
# extra entropy word would not be enough).
_ORDER_TAG = 0x6F72646572  # "order"


def epoch_order(num_samples, seed, epoch, *, shuffle=True):
    """Dataset order of one epoch.

    Parameters
    ----------
    num_samples : int
        Dataset length ``N``.
    seed, epoch : int
        Non-negative integers.
    shuffle : bool
        False keeps stored order.

    Returns
    -------
    order : ndarray, shape (N,), int64
        ``order[p]`` is the dataset index at position ``p``. A pure function of
        ``(num_samples, seed, epoch, shuffle)``.
    """
    if not shuffle:
        return np.arange(num_samples, dtype=np.int64)
    ss = np.random.SeedSequence([int(seed), int(epoch)], spawn_key=(_ORDER_TAG,))
    return np.random.Generator(np.random.PCG64(ss)).permutation(num_samples).astype(np.int64)


_SHARD_TAG = 0x7368617264  # "shard"


def shard_block_order(shard_of, seed, epoch, *, world_size=1, batch_size=1, shard_window=4):
    """Shard-aware epoch order: each rank streams through its own few shards at a time.

    The order is a permutation of ``N = len(shard_of)`` positions, a pure function of
    ``(shard_of, seed, epoch, world_size, batch_size, shard_window)``, dealt to ranks by
    :func:`plan_epoch` exactly like the global order (so every epoch-end policy, resume
    and elastic resume work unchanged). It is built so that rank ``r``'s slices of the
    global batches come from rank ``r``'s own shards:

    1. The shards are shuffled and laid end to end; that sequence of ``N`` samples is cut
       into ``world_size`` contiguous *streams* of ``N // world_size`` or one more
       samples. A stream thus holds its own consecutive shards, and shares at most the
       shard at each of its two ends with a neighbouring stream (a *piece* is the part of
       one shard inside one stream).
    2. Within a stream, a piece of ``n`` samples starting at sample ``c`` of the stream
       spreads its samples uniformly at random over the interval of width
       ``max(n, shard_window * mean rows per shard)`` centred on ``c + n / 2``; the
       stream is its samples sorted by those keys. Consecutive samples therefore mix about
       ``shard_window`` neighbouring shards, and a shard is in use for about
       ``shard_window`` shards' worth of the stream (the rank's working set is about
       ``shard_window + 1`` shards). ``shard_window=1`` gives shard after shard, each
       shuffled internally.
    3. The streams are interleaved ``batch_size`` samples at a time, stream ``r`` at the
       ``r``-th slot of every global batch: exactly the slice :func:`plan_epoch` hands
       rank ``r``. Streams differ in length by at most one sample, so this holds for
       every full global batch; only the epoch's last (tail) batch may mix streams.

    A rank therefore downloads its share of the dataset plus at most the two shards it
    shares with its neighbours (when the cache holds ``shard_window + 3`` shards).

    Parameters
    ----------
    shard_of : ndarray of int, shape (N,)
        Shard number of each dataset index (``Dataset.shard_index()``).
    seed, epoch : int
    world_size, batch_size : int
        The layout (``W``, ``B``) the streams are cut for. An elastic restart keeps the
        saved layout for the rest of that epoch (exactly-once holds whatever the layout;
        only locality drops) and uses the new one from the next epoch.
    shard_window : int
        Shards mixed at any point of a stream (>= 1).

    Returns
    -------
    order : ndarray, shape (N,), int64
    """
    shard_of = np.asarray(shard_of, dtype=np.int64)
    n = len(shard_of)
    w = int(world_size)
    b = int(batch_size)
    if w < 1 or b < 1 or int(shard_window) < 1:
        raise ValueError(
            f"need world_size, batch_size, shard_window >= 1, got {w}, {b}, {shard_window}"
        )
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    ss = np.random.SeedSequence([int(seed), int(epoch)], spawn_key=(_ORDER_TAG, _SHARD_TAG))
    rng = np.random.Generator(np.random.PCG64(ss))
    by_shard = np.argsort(shard_of, kind="stable")  # dataset indices grouped by shard
    _, starts, counts = np.unique(shard_of[by_shard], return_index=True, return_counts=True)
    num = len(counts)
    # 1. shuffled shards end to end, cut into w streams of equal length (+-1)
    perm = rng.permutation(num)
    seq = np.concatenate([by_shard[starts[s] : starts[s] + counts[s]] for s in perm.tolist()])
    seq_shard = np.repeat(perm, counts[perm])
    bounds = (np.arange(w + 1, dtype=np.int64) * n) // w
    t = np.arange(n, dtype=np.int64)
    stream = np.searchsorted(bounds, t, side="right") - 1
    # pieces: runs of one shard inside one stream
    new_run = np.ones(n, dtype=bool)
    new_run[1:] = (seq_shard[1:] != seq_shard[:-1]) | (stream[1:] != stream[:-1])
    run_id = np.cumsum(new_run) - 1
    run_start = np.flatnonzero(new_run)
    run_len = np.diff(np.append(run_start, n))
    # 2. keys: samples spread over a window centred on their piece's place in the stream
    width = np.maximum(run_len, shard_window * (n / num)).astype(np.float64)
    centre = (run_start - bounds[stream[run_start]]) + run_len / 2.0
    u = rng.random(n)
    keys = centre[run_id] + (u - 0.5) * width[run_id]
    sorted_t = np.lexsort((keys, stream))  # stream by stream, by key
    j = t - bounds[stream]  # place inside the (sorted) stream
    # 3. interleave: round j // B, stream, then j % B
    final = np.lexsort((j % b, stream, j // b))
    return seq[sorted_t[final]].astype(np.int64)


@dataclass(frozen=True)
class EpochPlan:
    """What one rank yields for the rest of one epoch.

    Attributes
    ----------
    positions : tuple of ndarray, each shape (b,), int64
        Epoch positions of every local batch, in order (``>= num_samples`` = padding).
    consumed_after : tuple of int
        Samples consumed globally once each batch is handed out (clipped to N).
    num_samples : int
        ``N``.
    """

    positions: tuple
    consumed_after: tuple
    num_samples: int

    def __len__(self):
        return len(self.positions)


def num_batches(num_samples, *, batch_size, world_size, start=0, epoch_end="pad"):
    """Number of local batches every rank yields from position ``start`` to the epoch end."""
    _check(num_samples, batch_size, world_size, 0, start, epoch_end)
    g = batch_size * world_size
    remaining = num_samples - start
    if epoch_end == "drop":
        return remaining // g
    return -(-remaining // g)


def plan_epoch(num_samples, *, batch_size, world_size=1, rank=0, start=0, epoch_end="pad"):
    """Local batches of ``rank`` for the rest of an epoch that resumes at ``start``.

    Parameters
    ----------
    num_samples : int
        Dataset length ``N`` (> 0).
    batch_size : int
        Samples per rank per batch ``B``.
    world_size, rank : int
        ``0 <= rank < world_size``.
    start : int
        Samples consumed globally so far in this epoch, ``0 <= start <= N``.
    epoch_end : {"pad", "drop", "partial"}
        Tail policy, see the module docstring.

    Returns
    -------
    EpochPlan
    """
    _check(num_samples, batch_size, world_size, rank, start, epoch_end)
    n, b, w = num_samples, batch_size, world_size
    g = b * w
    remaining = n - start
    full, tail = divmod(remaining, g)
    positions = []
    consumed = []
    for k in range(full):
        lo = start + k * g + rank * b
        positions.append(np.arange(lo, lo + b, dtype=np.int64))
        consumed.append(start + (k + 1) * g)
    if tail and epoch_end != "drop":
        lo = start + full * g
        if epoch_end == "pad":
            positions.append(np.arange(lo + rank * b, lo + (rank + 1) * b, dtype=np.int64))
        else:  # partial
            base, extra = divmod(tail, w)
            share = base + (rank < extra)
            first = lo + rank * base + min(rank, extra)
            if share:
                positions.append(np.arange(first, first + share, dtype=np.int64))
            else:
                positions.append(np.array([n], dtype=np.int64))
        consumed.append(n)
    return EpochPlan(tuple(positions), tuple(min(c, n) for c in consumed), n)


def _check(num_samples, batch_size, world_size, rank, start, epoch_end):
    if num_samples <= 0:
        raise ValueError(f"the dataset is empty (num_samples={num_samples})")
    if batch_size <= 0:
        raise ValueError(f"batch_size must be positive, got {batch_size}")
    if world_size <= 0 or not 0 <= rank < world_size:
        raise ValueError(f"need 0 <= rank < world_size, got rank={rank}, world_size={world_size}")
    if not 0 <= start <= num_samples:
        raise ValueError(f"start position {start} outside [0, {num_samples}]")
    if epoch_end not in EPOCH_END_POLICIES:
        raise ValueError(f"epoch_end must be one of {EPOCH_END_POLICIES}, got {epoch_end!r}")
