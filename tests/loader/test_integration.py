"""Loader over real shards written with fastload.ShardWriter."""

import numpy as np
import pytest

import fastload
from fastload.errors import SampleError
from fastload.loader import Loader


class DecodeBytes:
    """Turns the raw ``payload`` column into float32 features with a random gain."""

    def __call__(self, sample, rng):
        raw = np.frombuffer(sample["payload"], dtype=np.uint8)
        if raw[0] == 255:
            raise ValueError("bad magic byte")
        return {"feat": raw.astype(np.float32) * rng.uniform(0.5, 2.0), "label": sample["label"]}


@pytest.fixture(scope="module")
def shards(tmp_path_factory):
    root = tmp_path_factory.mktemp("loader") / "ds"
    rng = np.random.default_rng(0)
    with fastload.ShardWriter(root, shard_size_bytes=4096) as w:
        for i in range(40):
            payload = rng.integers(0, 200, 8 + i % 3, dtype=np.uint8)
            if i == 17:
                payload[0] = 255
            w.write({"label": i, "payload": payload.tobytes(), "emb": np.full((2, 3), i, np.int16)})
    return root


def test_real_shards_threads_and_processes_agree(shards):
    ds = fastload.open_dataset(shards)
    assert ds.num_shards > 1
    ref = list(Loader(ds, batch_size=6, num_threads=1, seed=4))
    assert ref[0]["emb"].shape == (6, 2, 3) and ref[0]["emb"].dtype == np.int16
    assert ref[0]["payload"].dtype == object
    idx = np.concatenate([b["_index"][b["_valid"]] for b in ref])
    assert sorted(idx.tolist()) == list(range(40))
    assert all(np.array_equal(b["label"], b["_index"]) for b in ref)
    with Loader(ds, batch_size=6, num_threads=2, seed=4, workers="process") as loader:
        got = list(loader)
    for a, b in zip(got, ref, strict=False):
        assert np.array_equal(a["emb"], b["emb"]) and np.array_equal(a["_index"], b["_index"])
        assert [bytes(x) for x in a["payload"]] == [bytes(x) for x in b["payload"]]


def test_real_shards_error_names_shard_file(shards):
    ds = fastload.open_dataset(shards)
    loader = Loader(ds, transform=DecodeBytes(), batch_size=5, shuffle=False, num_threads=2)
    with pytest.raises(SampleError) as info:
        list(loader)
    shard, row = ds.locate(17)
    assert info.value.index == 17 and info.value.shard == shard
    assert shard in str(info.value) and "bad magic byte" in str(info.value)
    skip = Loader(ds, transform=DecodeBytes(), batch_size=5, num_threads=2, on_error="skip")
    batches = list(skip)
    assert batches[0]["feat"].ndim == 2 and "feat_length" in batches[0]
    assert [e["index"] for e in skip.stats()["errors"]] == [17]


def test_subset_and_resume(shards):
    ds = fastload.open_dataset(shards).subset(np.arange(0, 40, 2))
    full = list(Loader(ds, batch_size=4, num_threads=2, seed=9))
    first = Loader(ds, batch_size=4, num_threads=2, seed=9)
    it = iter(first)
    head = [next(it), next(it)]
    second = Loader(ds, batch_size=4, num_threads=2)
    second.load_state_dict(first.state_dict())
    rest = list(second)
    for a, b in zip(head + rest, full, strict=False):
        assert np.array_equal(a["label"], b["label"])
    assert sorted(np.concatenate([b["label"] for b in full]).tolist()) == list(range(0, 40, 2))
