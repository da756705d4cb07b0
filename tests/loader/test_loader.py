"""Loader behaviour: batches, epochs, output_spec buffers, errors, shutdown, stats."""

import gc
import json
import logging
import threading

import numpy as np
import pytest

from fastload.errors import FastloadError, SampleError
from fastload.loader import Loader
from fastload.testing.loader import (
    ArrayDataset,
    FailingTransform,
    NoiseTransform,
    RaggedTransform,
    SleepTransform,
    SpecTransform,
)


def collect(loader):
    return [b for b in loader]


def test_batches_shapes_and_reserved_keys():
    loader = Loader(ArrayDataset(10), transform=NoiseTransform(), batch_size=4, num_threads=2)
    assert len(loader) == 3
    batches = collect(loader)
    assert len(batches) == 3
    for b in batches:
        assert b["x"].shape == (4, 4) and b["x"].dtype == np.float32
        assert b["_index"].dtype == np.int64 and b["_valid"].dtype == bool
        assert np.array_equal(b["label"], b["_index"])
    idx = np.concatenate([b["_index"][b["_valid"]] for b in batches])
    assert np.array_equal(np.sort(idx), np.arange(10))
    assert batches[-1]["_valid"].tolist() == [True, True, False, False]


def test_sample_rng_is_per_index_and_epoch():
    from fastload._rng import sample_rng

    loader = Loader(
        ArrayDataset(6), transform=NoiseTransform(), batch_size=3, seed=5, num_threads=2
    )
    for epoch in range(2):
        assert loader.epoch == epoch
        for b in loader:
            for j, i in enumerate(b["_index"]):
                rng = sample_rng(5, epoch, int(i))
                noise = rng.standard_normal(4).astype(np.float32)
                assert np.array_equal(b["x"][j], np.float32(i) + noise)
                assert b["u"][j] == rng.random()


def test_shuffle_false_keeps_order_and_epochs_differ_when_shuffled():
    plain = Loader(ArrayDataset(8), batch_size=4, shuffle=False, num_threads=1)
    assert np.concatenate([b["_index"] for b in plain]).tolist() == list(range(8))
    shuffled = Loader(ArrayDataset(50), batch_size=50, num_threads=1)
    e0 = next(iter(shuffled))["_index"]
    e1 = next(iter(shuffled))["_index"]
    assert not np.array_equal(e0, e1) and sorted(e0) == sorted(e1)


def test_set_epoch_same_epoch_keeps_position():
    loader = Loader(ArrayDataset(12), batch_size=3, num_threads=1)
    it = iter(loader)
    next(it)
    assert loader.position == 3
    loader.set_epoch(0)
    assert loader.position == 3
    loader.set_epoch(4)
    assert (loader.epoch, loader.position) == (4, 0)
    assert loader.batches_remaining == 4


@pytest.mark.parametrize("world_size", [1, 2, 3, 5])
@pytest.mark.parametrize("epoch_end", ["pad", "drop", "partial"])
def test_loader_exact_once_per_epoch(world_size, epoch_end):
    n = 23
    seen = []
    counts = set()
    for rank in range(world_size):
        loader = Loader(
            ArrayDataset(n),
            batch_size=2,
            rank=rank,
            world_size=world_size,
            epoch_end=epoch_end,
            num_threads=1,
            seed=3,
        )
        batches = collect(loader)
        counts.add(len(batches))
        seen += [i for b in batches for i in b["_index"][b["_valid"]].tolist()]
    assert len(counts) == 1
    if epoch_end == "drop":
        assert len(seen) == len(set(seen)) == n - n % (2 * world_size)
    else:
        assert sorted(seen) == list(range(n))


def test_output_spec_writes_into_batch_buffer():
    plain = SpecTransform()
    loader = Loader(ArrayDataset(9), transform=plain, batch_size=4, num_threads=2, seed=1)
    assert loader.output_spec == {"y": ((4,), np.dtype(np.float32))}
    batches = collect(loader)
    from fastload._rng import sample_rng

    for b in batches:
        assert b["y"].shape == (4, 4) and b["y"].flags.c_contiguous
        for j, i in enumerate(b["_index"]):
            ref = plain({"x": np.full(4, i, np.float32)}, sample_rng(1, 0, int(i)))["y"]
            assert np.array_equal(b["y"][j], ref)


def test_output_spec_shape_mismatch_is_reported():
    class Liar(SpecTransform):
        def __call__(self, sample, rng, out=None):
            sample["y"] = np.zeros(7, np.float32)
            return sample

    loader = Loader(ArrayDataset(4), transform=Liar(), batch_size=2, num_threads=1)
    with pytest.raises(SampleError, match="output_spec"):
        collect(loader)


def test_ragged_values_padded():
    loader = Loader(
        ArrayDataset(10), transform=RaggedTransform(), batch_size=5, shuffle=False, num_threads=2
    )
    b = next(iter(loader))
    assert b["x"].shape == (5, 5)
    assert b["x_length"].tolist() == [1, 2, 3, 4, 5]


# -- errors ---------------------------------------------------------------------------
@pytest.mark.parametrize("bad", [0, 9])  # first sample and the last sample of the epoch
@pytest.mark.parametrize("num_threads", [0, 2])
def test_on_error_raise_names_sample_and_shard(bad, num_threads):
    loader = Loader(
        ArrayDataset(10, shard_size=4),
        transform=FailingTransform([bad]),
        batch_size=3,
        shuffle=False,
        num_threads=num_threads,
    )
    with pytest.raises(SampleError) as info:
        collect(loader)
    err = info.value
    assert isinstance(err, FastloadError)
    assert err.index == bad and err.shard == f"shard-{bad // 4:05d}.arrow"
    assert f"sample {bad}" in str(err) and "corrupt" in str(err)
    assert isinstance(err.__cause__, ValueError)


def test_on_error_raise_lowest_slot_wins_deterministically():
    loader = Loader(
        ArrayDataset(8),
        transform=FailingTransform([2, 3], delay=0.001),
        batch_size=8,
        shuffle=False,
        num_threads=4,
    )
    with pytest.raises(SampleError) as info:
        collect(loader)
    assert info.value.index == 2


def test_on_error_skip_substitutes_deterministically(caplog):
    ds = ArrayDataset(10)
    runs = []
    for threads in (1, 3):
        loader = Loader(
            ds,
            transform=FailingTransform([4, 9]),
            batch_size=5,
            seed=2,
            num_threads=threads,
            on_error="skip",
        )
        with caplog.at_level(logging.WARNING, logger="fastload.loader"):
            batches = collect(loader)
        runs.append(batches)
        assert [b["x"].shape for b in batches] == [(5, 4), (5, 4)]
        stats = loader.stats()
        assert stats["num_errors"] == 2
        assert sorted(e["index"] for e in stats["errors"]) == [4, 9]
        assert all(
            "corrupt" in e["error"] and e["substitute"] not in (4, 9) for e in stats["errors"]
        )
        valid = np.concatenate([b["_index"][b["_valid"]] for b in batches])
        assert sorted(valid.tolist()) == [0, 1, 2, 3, 5, 6, 7, 8]
    assert "sample 4" in caplog.text and "replaced" in caplog.text
    for a, b in zip(*runs, strict=False):
        assert all(np.array_equal(a[k], b[k]) for k in a)


def test_on_error_skip_everything_failing_raises_not_hangs():
    loader = Loader(
        ArrayDataset(5),
        transform=FailingTransform(range(5)),
        batch_size=2,
        num_threads=2,
        on_error="skip",
    )
    with pytest.raises(SampleError, match="no working substitute"):
        collect(loader)


def test_error_in_collate_surfaces():
    def bad_collate(samples):
        raise RuntimeError("collate exploded")

    loader = Loader(ArrayDataset(6), batch_size=3, num_threads=2, collate=bad_collate)
    with pytest.raises(SampleError, match="collate exploded") as info:
        collect(loader)
    assert isinstance(info.value.__cause__, RuntimeError)


def test_error_in_dataset_read_is_wrapped():
    class Broken(ArrayDataset):
        def __getitem__(self, i):
            if i == 3:
                raise OSError("truncated shard")
            return super().__getitem__(i)

    loader = Loader(Broken(6), batch_size=2, shuffle=False, num_threads=2)
    with pytest.raises(SampleError, match="truncated shard"):
        collect(loader)
    # the loader is usable again afterwards
    loader.set_epoch(1)
    assert loader.position == 0


def test_transform_must_return_dict():
    loader = Loader(ArrayDataset(2), transform=lambda s, rng: None, batch_size=2, num_threads=1)
    with pytest.raises(SampleError, match="expected a dict"):
        collect(loader)


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"batch_size": 0}, "batch_size"),
        ({"batch_size": 1, "epoch_end": "wrap"}, "epoch_end"),
        ({"batch_size": 1, "on_error": "ignore"}, "on_error"),
        ({"batch_size": 1, "rank": 2, "world_size": 2}, "rank"),
        ({"batch_size": 1, "prefetch": 0}, "prefetch"),
        ({"batch_size": 1, "workers": "fiber"}, "workers"),
        ({"batch_size": 1, "seed": -1}, "seed"),
    ],
)
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        Loader(ArrayDataset(4), **kwargs)


# -- shutdown, leaks ------------------------------------------------------------------
def _loader_threads():
    return [t for t in threading.enumerate() if t.name.startswith("fastload-loader")]


class CountingDataset(ArrayDataset):
    """Counts the samples the loader read (thread-safe)."""

    def __init__(self, n):
        super().__init__(n)
        self.reads = 0
        self._lock = threading.Lock()

    def __getitem__(self, i):
        with self._lock:
            self.reads += 1
        return super().__getitem__(i)


def test_break_stops_threads_promptly():
    ds = CountingDataset(400)
    loader = Loader(ds, transform=SleepTransform(0.01), batch_size=4, num_threads=4, prefetch=4)
    for i, _ in enumerate(loader):
        if i == 2:
            break
    gc.collect()
    assert not _loader_threads()
    # promptly = the work stopped with the window: the 3 consumed batches plus at most
    # `prefetch` + 1 batches in flight were read, not the epoch's other 100 batches
    assert 3 * 4 <= ds.reads <= (3 + 4 + 1) * 4
    reads = ds.reads
    gc.collect()
    assert ds.reads == reads


def test_consumer_exception_stops_threads():
    loader = Loader(ArrayDataset(400), transform=SleepTransform(0.005), batch_size=4, num_threads=2)
    with pytest.raises(KeyError):
        for _ in loader:
            raise KeyError("training step failed")
    gc.collect()
    assert not _loader_threads()


def test_deleting_loader_and_iterator_stops_threads():
    loader = Loader(ArrayDataset(400), transform=SleepTransform(0.005), batch_size=4, num_threads=2)
    it = iter(loader)
    next(it)
    assert _loader_threads()
    del it, loader
    gc.collect()
    assert not _loader_threads()


def test_new_iterator_closes_previous():
    loader = Loader(ArrayDataset(40), batch_size=4, num_threads=2)
    first = iter(loader)
    next(first)
    second = iter(loader)
    with pytest.raises(StopIteration):
        next(first)
    assert len(list(second)) == 9


def test_no_thread_or_memory_growth_over_20_epochs():
    import psutil

    proc = psutil.Process()
    loader = Loader(
        ArrayDataset(64, shape=(64, 64)), transform=NoiseTransform(), batch_size=8, num_threads=2
    )
    threads0 = threading.active_count()
    rss = {}
    for epoch in range(20):
        for _ in loader:
            pass
        assert threading.active_count() == threads0  # joined at the end of every epoch
        if epoch in (3, 19):  # gc.collect is slow once torch/jax are imported: twice only
            gc.collect()
            rss[epoch] = proc.memory_info().rss
    assert loader.epoch == 20
    # flat after warm-up: the last epoch no more than 8 MiB above epoch 3
    assert rss[19] - rss[3] < 8 * 2**20, {k: v >> 20 for k, v in rss.items()}


# -- state and stats ------------------------------------------------------------------
def test_state_dict_small_and_json_serializable():
    loader = Loader(ArrayDataset(10), batch_size=3, num_threads=1)
    it = iter(loader)
    next(it)
    state = loader.state_dict()
    assert json.loads(json.dumps(state)) == state
    assert (state["epoch"], state["position"], state["seed"]) == (0, 3, 0)
    other = Loader(ArrayDataset(11), batch_size=3)
    with pytest.raises(ValueError, match="10 samples, this one has 11"):
        other.load_state_dict(state)


def test_state_after_last_batch_moves_to_next_epoch():
    loader = Loader(ArrayDataset(6), batch_size=3, num_threads=1)
    it = iter(loader)
    next(it)
    next(it)
    assert (loader.epoch, loader.position) == (1, 0)


def test_stats_report_stages_and_stall():
    loader = Loader(ArrayDataset(16), transform=SleepTransform(0.002), batch_size=4, num_threads=2)
    collect(loader)
    s = loader.stats(reset=True)
    assert s["batches"] == 4 and s["samples"] == 16
    assert s["transform_s"] >= 16 * 0.002 * 0.9
    assert (
        0.0 <= s["stall_fraction"] <= 1.0 and s["stall_fraction"] > 0.3
    )  # consumer does nothing: input-bound
    assert s["samples_per_s"] > 0 and set(s["per_sample_ms"]) == {"read", "transform", "collate"}
    assert loader.stats()["batches"] == 0


def test_drop_with_nothing_left_moves_to_next_epoch():
    loader = Loader(ArrayDataset(5), batch_size=8, epoch_end="drop", num_threads=1)
    assert len(loader) == 0
    assert list(loader) == []
    assert loader.epoch == 1
    resumed = Loader(ArrayDataset(10), batch_size=4, epoch_end="drop", num_threads=1)
    resumed.load_state_dict({**resumed.state_dict(), "position": 8})
    assert list(resumed) == [] and (resumed.epoch, resumed.position) == (1, 0)
    assert len(list(resumed)) == 2


def test_transform_with_keyword_only_rng():
    from fastload.transforms import Compose, Transform

    class AddNoise(Transform):
        def sample_params(self, rng, meta):
            return float(rng.random())

        def apply(self, x, params):
            return {**x, "noise": params}

    loader = Loader(ArrayDataset(4), transform=Compose([AddNoise()]), batch_size=2, num_threads=1)
    from fastload._rng import sample_rng

    b = next(iter(loader))
    assert b["noise"][0] == sample_rng(0, 0, int(b["_index"][0])).random()


@pytest.mark.torch
def test_batch_buffers_reused_only_when_released():
    import torch

    from fastload.testing.reference.loader import loader_batches

    ds = ArrayDataset(64)
    ref = loader_batches(ds, transform=SpecTransform(), batch_size=4, seed=3)
    loader = Loader(ds, transform=SpecTransform(), batch_size=4, seed=3, num_threads=2)
    # consumer drops each batch: the pool cycles through a few buffers
    ptrs = [b["y"].__array_interface__["data"][0] for _ in range(3) for b in loader]
    assert len(ptrs) == 48 and len(set(ptrs)) <= 12  # a fresh array only if one was busy
    loader.set_epoch(1)
    # consumer keeps every batch (as arrays, views or tensors): nothing is overwritten
    kept = []
    for i, b in enumerate(loader):
        held = (b["y"], b["y"][1:], torch.from_numpy(b["y"]))[i % 3]
        kept.append(held)
    ref1 = loader_batches(ds, transform=SpecTransform(), batch_size=4, seed=3, epoch=1)
    for i, (got, want) in enumerate(zip(kept, ref1, strict=True)):
        want = want["y"][1:] if i % 3 == 1 else want["y"]
        assert np.array_equal(np.asarray(got), want), i
    assert len(ref) == 16
