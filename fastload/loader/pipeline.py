"""The per-sample pipeline every worker runs: read -> per-sample rng -> transform.

One picklable object shared by thread workers and process workers, so both produce the
same samples. It holds no mutable state besides a cache of the current epoch order.

Error policy
------------
``"raise"``: the failure becomes a :class:`~fastload.errors.SampleError` naming the epoch,
dataset index, shard and row, chained to the original exception.
``"skip"``: the failing position is replaced by the next position of the epoch order
(wrapping around) whose sample succeeds, processed with *its own* per-sample rng; the
substitute is marked ``valid = False`` (it is a repeat) and the failure is recorded.
The choice depends only on (seed, epoch, position), never on scheduling.
"""

import time

import numpy as np

from fastload._rng import sample_rng
from fastload.errors import SampleError

from .sampler import epoch_order, shard_block_order

__all__ = [
    "SamplePipeline",
    "allocate_out",
    "assemble",
    "describe_sample",
    "output_spec_of",
    "run_batch",
]

MAX_SUBSTITUTES = 64


def describe_sample(dataset, index):
    """``(shard, row)`` of dataset ``index`` when the dataset can tell, else ``(None, None)``."""
    locate = getattr(dataset, "locate", None)
    if locate is None:
        return None, None
    try:
        shard, row = locate(index)
    except Exception:  # noqa: BLE001 - best effort for an error message
        return None, None
    return shard, row


def output_spec_of(transform):
    """``transform.output_spec()`` when it defines one, else None (no fixed-shape outputs).

    A :class:`fastload.transforms.Transform` always has the method (None by default); a
    plain callable may define it too.
    """
    spec = getattr(transform, "output_spec", None) if transform is not None else None
    return None if spec is None else spec()


class SamplePipeline:
    """Produce sample ``position`` of ``epoch``.

    Parameters
    ----------
    dataset : sized, indexable
        ``dataset[i] -> dict``.
    transform : callable or None
        Called as ``transform(sample, rng) -> dict``, with ``out=`` added when ``use_out``
        (the one calling convention of :mod:`fastload.transforms`; no other is tried).
    seed : int
    shuffle : bool
    on_error : {"raise", "skip"}
    use_out : bool
        Pass ``out=`` views to the transform (it defines ``output_spec``).
    """

    def __init__(
        self,
        dataset,
        transform,
        *,
        seed,
        shuffle,
        on_error,
        use_out,
        order="global",
        shard_of=None,
        layout=(1, 1),
        shard_window=4,
    ):
        self.dataset = dataset
        self.transform = transform
        self.seed = int(seed)
        self.shuffle = bool(shuffle)
        self.order_name = order
        self.shard_of = shard_of
        self.layout = tuple(int(v) for v in layout)
        self.shard_window = int(shard_window)
        self.on_error = on_error
        self.use_out = use_out
        self.num_samples = len(dataset)
        self._order = (None, None)

    def __getstate__(self):
        state = dict(self.__dict__)
        state["_order"] = (None, None)
        return state

    def order_key(self):
        """What besides the epoch the order depends on: ``(seed, (world_size, batch_size))``."""
        return (self.seed, self.layout)

    def set_order_key(self, key):
        self.seed = int(key[0])
        self.layout = tuple(int(v) for v in key[1])

    def order(self, epoch):
        """Cached epoch order of ``epoch`` (:func:`epoch_order` or :func:`shard_block_order`)."""
        cached_key, order = self._order
        key = (epoch, self.seed, self.layout)
        if cached_key != key:
            if self.order_name == "shard_blocks":
                w, b = self.layout
                order = shard_block_order(
                    self.shard_of,
                    self.seed,
                    epoch,
                    world_size=w,
                    batch_size=b,
                    shard_window=self.shard_window,
                )
            else:
                order = epoch_order(self.num_samples, self.seed, epoch, shuffle=self.shuffle)
            self._order = (key, order)
        return order

    def _one(self, index, epoch, out, timing):
        t0 = time.perf_counter()
        sample = self.dataset[index]
        t1 = time.perf_counter()
        if self.transform is not None:
            rng = sample_rng(self.seed, epoch, index)
            if out is not None:
                sample = self.transform(sample, rng, out=out)
            else:
                sample = self.transform(sample, rng)
        t2 = time.perf_counter()
        timing[0] += t1 - t0
        timing[1] += t2 - t1
        if not isinstance(sample, dict):
            raise TypeError(f"expected a dict, got {type(sample).__name__}")
        return sample

    def load(self, epoch, position, out, timing, errors):
        """Run one position.

        Parameters
        ----------
        epoch, position : int
            ``position >= N`` is padding and wraps to the start of the order.
        out : dict[str, ndarray] or None
            Per-sample views into the batch buffers.
        timing : list of float, length 2
            Read and transform seconds are added to ``timing[0]`` and ``timing[1]``.
        errors : list
            Records of skipped failures are appended (dicts).

        Returns
        -------
        sample : dict
        index : int
            Dataset index actually delivered.
        substituted : bool
        """
        order = self.order(epoch)
        n = self.num_samples
        index = int(order[position % n])
        try:
            return self._one(index, epoch, out, timing), index, False
        except Exception as exc:
            shard, row = describe_sample(self.dataset, index)
            where = f"sample {index}" + (
                f" (shard {shard}, row {row})" if shard is not None else ""
            )
            message = f"{where} failed in epoch {epoch}: {type(exc).__name__}: {exc}"
            if self.on_error == "raise":
                raise SampleError(message, index=index, shard=shard) from exc
            first = exc
        for q in range(1, min(n, MAX_SUBSTITUTES + 1)):
            sub = int(order[(position + q) % n])
            try:
                sample = self._one(sub, epoch, out, timing)
            except Exception:  # noqa: BLE001 - keep looking for a good substitute
                continue
            errors.append(
                {
                    "epoch": epoch,
                    "index": index,
                    "shard": shard,
                    "row": row,
                    "error": f"{type(first).__name__}: {first}",
                    "substitute": sub,
                }
            )
            return sample, sub, True
        raise SampleError(
            f"{message}; on_error='skip' found no working substitute among the next "
            f"{min(n - 1, MAX_SUBSTITUTES)} samples of the epoch order",
            index=index,
            shard=shard,
        ) from first


def allocate_out(output_spec, batch_size):
    """One contiguous ``(batch_size, *shape)`` array per ``output_spec`` key."""
    return {
        k: np.empty((batch_size,) + tuple(shape), dtype=dtype)
        for k, (shape, dtype) in output_spec.items()
    }


def assemble(collate, samples, indices, valid, out=None, views=None):
    """Collate one batch and add the loader's ``_index`` / ``_valid`` arrays.

    Parameters
    ----------
    collate : callable
        A :class:`~fastload.loader.collate.Collate` (gets ``out=``) or any
        ``collate(samples) -> dict``.
    samples : list of dict
    indices : ndarray, shape (B,), int64
        Dataset index delivered at each slot.
    valid : ndarray, shape (B,), bool
    out : dict[str, ndarray], optional
        Batch buffers the transform wrote into; ``views[j][key]`` is the view handed to
        sample ``j``. A transform that returned another array for such a key has it
        copied in.
    """
    from .collate import Collate

    if out:
        for j, sample in enumerate(samples):
            for key, buf in out.items():
                value = sample.get(key, None)
                if value is views[j][key]:
                    continue
                if value is None:
                    raise SampleError(
                        f"transform declares output_spec key {key!r} but sample "
                        f"{int(indices[j])} has no such key"
                    )
                value = np.asarray(value)
                if value.shape != buf.shape[1:]:
                    raise SampleError(
                        f"transform output {key!r} of sample {int(indices[j])} has shape "
                        f"{value.shape}, output_spec says {buf.shape[1:]}"
                    )
                buf[j] = value
    try:
        if isinstance(collate, Collate):
            batch = collate(samples, out=out)
        else:
            batch = collate(samples)
        if not isinstance(batch, dict):
            raise TypeError(f"collate returned {type(batch).__name__}, expected a dict")
    except Exception as exc:
        shown = ", ".join(str(int(i)) for i in indices[:8]) + (" ..." if len(indices) > 8 else "")
        raise SampleError(f"collate failed for the batch of samples [{shown}]: {exc}") from exc
    batch["_index"] = np.asarray(indices, dtype=np.int64)
    batch["_valid"] = np.asarray(valid, dtype=bool)
    return batch


def run_batch(pipeline, collate, output_spec, epoch, positions, out=None):
    """Produce one whole batch serially (process workers, and a reference for tests).

    ``out`` optionally gives the ``output_spec`` batch arrays (e.g. in shared memory);
    by default they are allocated here.

    Returns
    -------
    batch : dict
    errors : list of dict
    timing : list of float
        ``[read_s, transform_s, collate_s]``.
    """
    b = len(positions)
    if out is None and output_spec:
        out = allocate_out(output_spec, b)
    timing = [0.0, 0.0, 0.0]
    errors = []
    samples = []
    views = []
    indices = np.empty(b, dtype=np.int64)
    valid = np.empty(b, dtype=bool)
    for j, p in enumerate(positions):
        view = {k: v[j] for k, v in out.items()} if out else None
        sample, idx, sub = pipeline.load(epoch, int(p), view, timing, errors)
        samples.append(sample)
        views.append(view)
        indices[j] = idx
        valid[j] = p < pipeline.num_samples and not sub
    t0 = time.perf_counter()
    batch = assemble(collate, samples, indices, valid, out, views)
    timing[2] += time.perf_counter() - t0
    return batch, errors, timing
