"""Small picklable datasets and transforms for loader tests and benchmarks.

They live in the package (not in ``tests/``) so spawned worker processes can import them.
"""

import time

import numpy as np

__all__ = [
    "ArrayDataset",
    "assert_batches_equal",
    "assert_resumable",
    "BusyTransform",
    "CrashingTransform",
    "FailingTransform",
    "LockTransform",
    "NoiseTransform",
    "PythonBusyTransform",
    "RaggedTransform",
    "RecordTransform",
    "SleepTransform",
    "SpecTransform",
    "take_batches",
]


class ArrayDataset:
    """In-memory dataset: sample ``i`` is ``{"x": float32 (shape,) filled with i, "label": i}``.

    Mimics the dataset interface the loader uses (``__len__``, ``__getitem__``,
    ``locate``) with ``shard_size`` rows per pretend shard.
    """

    def __init__(self, n, shape=(4,), shard_size=10):
        self.n = int(n)
        self.shape = tuple(shape)
        self.shard_size = shard_size

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        if not -self.n <= i < self.n:
            raise IndexError(f"index {i} out of range for {self.n} samples")
        i %= self.n
        return {"x": np.full(self.shape, i, dtype=np.float32), "label": i}

    def locate(self, i):
        return f"shard-{i // self.shard_size:05d}.arrow", i % self.shard_size

    def shard_index(self):
        """Pretend shard of every sample (what ``order="shard_blocks"`` groups by)."""
        return np.arange(self.n, dtype=np.int64) // self.shard_size


class RecordTransform:
    """For datasets of ``x`` (float32 array), ``label`` (int), ``blob`` (bytes) rows
    (remote-dataset tests): noise on ``x``, ``blob`` as a uint8 array."""

    def __call__(self, sample, rng):
        x = np.asarray(sample["x"], dtype=np.float32)
        return {
            "x": x + rng.standard_normal(x.shape).astype(np.float32),
            "label": sample["label"],
            "blob": np.frombuffer(sample["blob"], dtype=np.uint8).copy(),
        }


class NoiseTransform:
    """Adds ``rng.standard_normal`` noise to ``x`` and stores one draw as ``u``."""

    def __call__(self, sample, rng):
        x = sample["x"]
        sample["x"] = x + rng.standard_normal(x.shape).astype(np.float32)
        sample["u"] = float(rng.random())
        return sample


class SpecTransform:
    """Writes ``x * 2 + noise`` into the loader's batch buffer (``output_spec`` path)."""

    def __init__(self, shape=(4,)):
        self.shape = tuple(shape)

    def output_spec(self):
        return {"y": (self.shape, np.float32)}

    def __call__(self, sample, rng, out=None):
        y = out["y"] if out is not None else np.empty(self.shape, np.float32)
        np.multiply(sample["x"], 2, out=y)
        y += rng.random(self.shape, dtype=np.float32)
        sample["y"] = y
        return sample


class RaggedTransform:
    """``x`` becomes a 1-D array of length ``1 + index % 5`` (ragged batches); with
    ``names=True`` also a string ``name``."""

    def __init__(self, names=False):
        self.names = names

    def __call__(self, sample, rng):
        n = 1 + sample["label"] % 5
        sample["x"] = rng.random(n).astype(np.float32)
        if self.names:
            sample["name"] = f"utt{sample['label']}"
        return sample


class CrashingTransform:
    """Ends its (worker) process abruptly at dataset index ``at``, like a native crash."""

    def __init__(self, at):
        self.at = at

    def __call__(self, sample, rng):
        if sample["label"] == self.at:
            import os

            os._exit(7)
        return sample


class FailingTransform:
    """Raises ``ValueError`` for the dataset indices in ``bad`` (and sleeps ``delay`` s)."""

    def __init__(self, bad, delay=0.0):
        self.bad = frozenset(int(b) for b in bad)
        self.delay = delay

    def __call__(self, sample, rng):
        if self.delay:
            time.sleep(self.delay)
        if sample["label"] in self.bad:
            raise ValueError(f"corrupt sample {sample['label']}")
        sample["u"] = float(rng.random())
        return sample


class SleepTransform:
    """Sleeps ``seconds`` (releases the GIL) then returns the sample."""

    def __init__(self, seconds):
        self.seconds = seconds

    def __call__(self, sample, rng):
        time.sleep(self.seconds)
        return sample


def _busy_kernel_impl(x, gain, iters, out):
    n = x.shape[0]
    for i in range(n):
        v = x[i] * gain
        acc = 0.0
        for _ in range(iters):
            v = v * 0.999 + 0.5
            acc += v
        out[i] = acc
    return out


_busy_kernel = None


def busy_kernel(x, gain, iters, out):
    """GIL-free numba kernel costing about ``iters * len(x)`` multiply-adds."""
    global _busy_kernel
    if _busy_kernel is None:
        from fastload._jit import kernel

        _busy_kernel = kernel(_busy_kernel_impl)
    return _busy_kernel(x, gain, iters, out)


class BusyTransform:
    """A GIL-free transform of tunable cost writing ``y`` (float32, (size,)) via ``out``.

    ``y = busy_kernel(x, gain)`` with ``gain = rng.uniform(0.5, 1.5)``.
    """

    def __init__(self, size=1024, iters=100):
        self.size = size
        self.iters = iters

    def output_spec(self):
        return {"y": ((self.size,), np.float32)}

    def __call__(self, sample, rng, out=None):
        y = out["y"] if out is not None else np.empty(self.size, np.float32)
        busy_kernel(sample["x"], np.float32(rng.uniform(0.5, 1.5)), self.iters, y)
        sample["y"] = y
        return sample

    @classmethod
    def calibrated(cls, seconds=1e-3, size=1024):
        """An instance whose call costs about ``seconds`` on this machine (one thread)."""
        x = np.ones(size, np.float32)
        out = np.empty(size, np.float32)
        busy_kernel(x, np.float32(1.0), 10, out)  # compile

        def cost(iters):
            best = float("inf")
            for _ in range(7):
                t0 = time.perf_counter()
                busy_kernel(x, np.float32(1.0), iters, out)
                best = min(best, time.perf_counter() - t0)
            return best

        iters = 16
        while cost(iters) < seconds / 8 and iters < 10**7:
            iters *= 4
        for _ in range(3):
            iters = max(1, int(iters * seconds / cost(iters)))
        return cls(size=size, iters=iters)


class PythonBusyTransform:
    """A transform that holds the GIL: a pure-Python loop of ``iters`` steps, writes ``u``."""

    def __init__(self, iters=20_000):
        self.iters = iters

    def __call__(self, sample, rng):
        v = float(rng.random())
        for _ in range(self.iters):
            v = v * 0.999 + 0.5
        sample["u"] = v
        return sample


class LockTransform:
    """Puts an unpicklable value (a lock) into every sample."""

    def __call__(self, sample, rng):
        import threading

        sample["lock"] = threading.Lock()
        return sample


def take_batches(loader, n):
    """``n`` batches, continuing into following epochs like a step-based training loop."""
    out = []
    while len(out) < n:
        got = 0
        for batch in loader:
            out.append(batch)
            got += 1
            if len(out) == n:
                break
        if not got and len(out) < n:
            raise ValueError("the loader yields no batches")
    return out


def assert_batches_equal(a, b):
    """Two lists of batches are bit-identical (keys, dtypes, values)."""
    assert len(a) == len(b), f"{len(a)} batches vs {len(b)}"
    for k, (x, y) in enumerate(zip(a, b, strict=True)):
        assert x.keys() == y.keys(), f"batch {k}: keys {sorted(x)} vs {sorted(y)}"
        for key in x:
            xv, yv = np.asarray(x[key]), np.asarray(y[key])
            assert xv.dtype == yv.dtype and xv.shape == yv.shape, f"batch {k} key {key!r}"
            assert np.array_equal(xv, yv), f"batch {k} key {key!r} differs"


def assert_resumable(make_loader, num_batches):
    """The save/resume contract at every position (torchdata-style).

    For every ``k`` in ``0..num_batches``: take ``k`` batches from ``make_loader()``, save
    ``state_dict()``, load it into a fresh ``make_loader()`` (after the usual
    ``set_epoch`` of the saved epoch), take the rest; the concatenation must equal an
    uninterrupted run of ``num_batches`` batches (spanning epochs if longer than one).

    Parameters
    ----------
    make_loader : callable
        Returns a new, identically configured :class:`fastload.Loader`.
    num_batches : int
    """
    ref = take_batches(make_loader(), num_batches)
    for k in range(num_batches + 1):
        first = make_loader()
        before = take_batches(first, k) if k else []
        state = first.state_dict()
        second = make_loader()
        second.load_state_dict(state)
        second.set_epoch(state["epoch"])
        after = take_batches(second, num_batches - k) if num_batches - k else []
        assert_batches_equal(before + after, ref)
