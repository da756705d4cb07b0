"""PyTorch adapter: batches as tensors, pinned staging buffers, overlapped device copies.

* CPU (``device=None`` or ``"cpu"``): ``torch.from_numpy`` views, zero-copy.
* Accelerator device with ``pin_memory=True``: each numeric array is copied once into a
  pinned staging buffer taken from a small ring (reused across batches), then
  ``.to(device, non_blocking=True)`` on a side stream while the consumer computes on the
  previous batch. A ring slot is reused only after the copy that read it has finished
  (a recorded CUDA event), so reuse is safe.
* ``pin_memory=True`` without a device gives freshly pinned tensors (the caller decides
  when their own copies finish, so no reuse); it is ignored when no accelerator exists.

Non-numeric values (object / string arrays, lists) are passed through unchanged.
"""

import numpy as np
import torch

from fastload.loader.adapters.staging import lookahead

__all__ = ["LoaderIterableDataset", "to_torch"]

_RING = 3  # staging slots per key: one being filled, one in flight, one spare


def _is_numeric(value):
    return isinstance(value, np.ndarray) and value.dtype.kind in "biufc"


def _as_tensor(value):
    if not _is_numeric(value):
        return value
    if not value.flags.writeable:  # torch warns on read-only arrays; copy is explicit
        value = value.copy()
    return torch.from_numpy(value)


def to_torch(loader, *, device=None, pin_memory=False, non_blocking=True):
    """Yield the loader's batches as dicts of torch tensors.

    Parameters
    ----------
    loader : iterable of dict[str, ndarray]
        A :class:`fastload.Loader` (or any iterable of batches).
    device : str or torch.device, optional
        Target device; ``None`` or ``"cpu"`` keep zero-copy CPU tensors.
    pin_memory : bool
        Stage host-to-device copies through pinned memory (accelerators only).
    non_blocking : bool
        Asynchronous copies to the device.

    Yields
    ------
    dict[str, torch.Tensor | object]
    """
    device = torch.device(device) if device is not None else None
    if device is not None and device.type == "cuda":
        if not torch.cuda.is_available():
            build = (
                "built without CUDA"
                if torch.version.cuda is None
                else f"built with CUDA {torch.version.cuda}, but no usable GPU"
            )
            raise RuntimeError(
                f"to_torch(device={str(device)!r}): CUDA is not available (torch "
                f"{torch.__version__}, {build}); use device=None for CPU tensors"
            )
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise RuntimeError(
                f"to_torch(device={str(device)!r}): only {torch.cuda.device_count()} CUDA "
                "device(s) here"
            )
    return _batches(loader, device, pin_memory, non_blocking)


def _batches(loader, device, pin_memory, non_blocking):
    if device is None or device.type == "cpu":
        pin = pin_memory and _accelerator_available()
        for batch in loader:
            out = {k: _as_tensor(v) for k, v in batch.items()}
            if pin:
                out = {
                    k: v.pin_memory() if isinstance(v, torch.Tensor) else v for k, v in out.items()
                }
            yield out
        return
    if device.type == "cuda":
        yield from _cuda_prefetch(loader, device, pin_memory, non_blocking)
        return
    for batch in loader:
        yield {
            k: (t.to(device, non_blocking=non_blocking) if isinstance(t, torch.Tensor) else t)
            for k, t in ((k, _as_tensor(v)) for k, v in batch.items())
        }


def _accelerator_available():
    return torch.cuda.is_available()


class _PinnedRing:
    """Per-key ring of pinned host buffers; a slot is reused after its copy finished."""

    def __init__(self):
        self._slots = {}  # key -> list of [tensor, event]
        self._next = {}

    def stage(self, key, array):
        src = torch.from_numpy(array) if array.flags.writeable else torch.from_numpy(array.copy())
        slots = self._slots.setdefault(key, [])
        i = self._next.get(key, 0)
        self._next[key] = (i + 1) % _RING
        if len(slots) < _RING:
            slots.append([None, None])
        slot = slots[i]
        if slot[1] is not None:
            slot[1].synchronize()
        if slot[0] is None or slot[0].shape != src.shape or slot[0].dtype != src.dtype:
            slot[0] = torch.empty(src.shape, dtype=src.dtype, pin_memory=True)
        slot[0].copy_(src)
        return slot

    @staticmethod
    def record(slot, stream):
        event = torch.cuda.Event()
        event.record(stream)
        slot[1] = event


def _cuda_prefetch(loader, device, pin_memory, non_blocking):
    stream = torch.cuda.Stream(device=device)
    ring = _PinnedRing() if pin_memory else None

    def stage(batch):
        out = {}
        with torch.cuda.stream(stream):
            for k, v in batch.items():
                if not _is_numeric(v):
                    out[k] = v
                    continue
                if ring is not None:
                    slot = ring.stage(k, v)
                    out[k] = slot[0].to(device, non_blocking=non_blocking)
                    ring.record(slot, stream)
                else:
                    out[k] = _as_tensor(v).to(device, non_blocking=non_blocking)
        done = torch.cuda.Event()
        done.record(stream)
        return out, done

    # one batch ahead: the copy of batch i+1 overlaps the consumer's compute on batch i
    for staged in lookahead(loader, stage):
        yield _ready(staged, device)


def _ready(staged, device):
    out, done = staged
    current = torch.cuda.current_stream(device)
    current.wait_event(done)
    for v in out.values():
        if isinstance(v, torch.Tensor):
            v.record_stream(current)
    return out


class LoaderIterableDataset(torch.utils.data.IterableDataset):
    """A ``torch.utils.data.IterableDataset`` over a fastload Loader's batches.

    Use with ``DataLoader(ds, batch_size=None, num_workers=0)``: the loader already batches
    and parallelises; DataLoader worker processes would each replay the whole loader.

    Parameters
    ----------
    loader : fastload.Loader
    device, pin_memory, non_blocking
        As in :func:`to_torch`.
    """

    def __init__(self, loader, *, device=None, pin_memory=False, non_blocking=True):
        super().__init__()
        self.loader = loader
        self.device = device
        self.pin_memory = pin_memory
        self.non_blocking = non_blocking

    def __iter__(self):
        if torch.utils.data.get_worker_info() is not None:
            raise RuntimeError(
                "LoaderIterableDataset must be used with DataLoader(num_workers=0): the "
                "fastload Loader runs its own workers"
            )
        return to_torch(
            self.loader,
            device=self.device,
            pin_memory=self.pin_memory,
            non_blocking=self.non_blocking,
        )

    def __len__(self):
        return len(self.loader)

    def set_epoch(self, epoch):
        self.loader.set_epoch(epoch)

    def state_dict(self):
        return self.loader.state_dict()

    def load_state_dict(self, state):
        self.loader.load_state_dict(state)
