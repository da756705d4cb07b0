"""torch and jax adapters: tensors, zero-copy, state with look-ahead, a real training loop."""

import numpy as np
import pytest

from fastload.loader import Loader
from fastload.testing.loader import ArrayDataset, NoiseTransform, SpecTransform

try:
    import torch

    from fastload.torch import LoaderIterableDataset, to_torch
except ImportError:  # its group is skipped without it (tests/conftest.py)
    torch = LoaderIterableDataset = to_torch = None
try:
    from fastload.jax import to_jax
except ImportError:
    to_jax = None


@pytest.mark.torch
def test_to_torch_cpu_zero_copy():
    loader = Loader(ArrayDataset(10), transform=SpecTransform(), batch_size=4, num_threads=2)
    ref = list(Loader(ArrayDataset(10), transform=SpecTransform(), batch_size=4, num_threads=1))
    seen = 0
    for batch, expected in zip(to_torch(loader, device="cpu", pin_memory=True), ref, strict=False):
        assert isinstance(batch["y"], torch.Tensor) and batch["y"].dtype == torch.float32
        assert batch["_valid"].dtype == torch.bool and batch["_index"].dtype == torch.int64
        assert np.array_equal(batch["y"].numpy(), expected["y"])
        seen += 1
    assert seen == 3
    batch = next(iter(to_torch(loader)))
    arr = batch["y"].numpy()
    assert batch["y"].data_ptr() == arr.__array_interface__["data"][0]


@pytest.mark.torch
def test_to_torch_passes_strings_through():
    class Named:
        def __call__(self, sample, rng):
            sample["name"] = f"n{sample['label']}"
            return sample

    batch = next(
        iter(
            to_torch(
                Loader(
                    ArrayDataset(4), transform=Named(), batch_size=2, shuffle=False, num_threads=1
                )
            )
        )
    )
    assert batch["name"].tolist() == ["n0", "n1"]


@pytest.mark.torch
def test_iterable_dataset_with_dataloader():
    loader = Loader(ArrayDataset(12), batch_size=4, num_threads=2)
    ds = LoaderIterableDataset(loader)
    assert len(ds) == 3
    batches = list(torch.utils.data.DataLoader(ds, batch_size=None, num_workers=0))
    assert len(batches) == 3 and batches[0]["x"].shape == (4, 4)
    ds.set_epoch(5)
    assert ds.state_dict()["epoch"] == 5


@pytest.mark.torch
def test_tiny_cnn_trains_on_loader_output():
    class Images:
        """Class 0: dark noisy images, class 1: bright ones."""

        def __len__(self):
            return 64

        def __getitem__(self, i):
            return {"label": i % 2}

    class MakeImage:
        def output_spec(self):
            return {"image": ((1, 8, 8), np.float32)}

        def __call__(self, sample, rng, out=None):
            img = out["image"] if out is not None else np.empty((1, 8, 8), np.float32)
            img[...] = rng.normal(0.3 + 0.4 * sample["label"], 0.1, img.shape)
            sample["image"] = img
            return sample

    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Conv2d(1, 4, 3, padding=1),
        torch.nn.ReLU(),
        torch.nn.AdaptiveAvgPool2d(1),
        torch.nn.Flatten(),
        torch.nn.Linear(4, 2),
    )
    opt = torch.optim.SGD(model.parameters(), lr=0.5)
    loader = Loader(Images(), transform=MakeImage(), batch_size=16, num_threads=2, seed=0)
    losses = []
    for _epoch in range(4):
        for batch in to_torch(loader, device="cpu"):
            loss = torch.nn.functional.cross_entropy(model(batch["image"]), batch["label"])
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(loss.item())
    assert len(losses) == 16
    assert np.mean(losses[-4:]) < np.mean(losses[:4])


@pytest.mark.jax
def test_to_jax_values_and_sharding():
    import jax
    from jax.sharding import NamedSharding, PartitionSpec

    loader = Loader(
        ArrayDataset(8), transform=NoiseTransform(), batch_size=4, num_threads=2, seed=2
    )
    ref = list(
        Loader(ArrayDataset(8), transform=NoiseTransform(), batch_size=4, num_threads=1, seed=2)
    )
    mesh = jax.make_mesh((1,), ("data",))
    sharding = NamedSharding(mesh, PartitionSpec("data"))
    got = list(to_jax(loader, sharding=sharding))
    assert len(got) == 2
    for a, b in zip(got, ref, strict=False):
        assert isinstance(a["x"], jax.Array) and a["x"].sharding == sharding
        assert np.array_equal(np.asarray(a["x"]), b["x"])
        assert np.array_equal(np.asarray(a["_valid"]), b["_valid"])
    plain = next(iter(to_jax(loader)))
    assert isinstance(plain["label"], jax.Array)


@pytest.mark.parametrize(
    "adapter",
    [pytest.param("jax", marks=pytest.mark.jax), pytest.param("torch", marks=pytest.mark.torch)],
)
def test_lookahead_keeps_state_of_delivered_batch(adapter):
    def run(loader):
        return to_jax(loader) if adapter == "jax" else to_torch(loader)

    ref = [np.asarray(b["_index"]) for b in Loader(ArrayDataset(20), batch_size=2, num_threads=1)]
    loader = Loader(ArrayDataset(20), batch_size=2, num_threads=2)
    head = []
    for i, batch in enumerate(run(loader)):
        head.append(np.asarray(batch["_index"]))
        assert loader.state_dict()["position"] == 2 * (i + 1)
        if i == 3:
            break
    assert loader.state_dict()["position"] == 8  # rewound: batch 4 was staged, never delivered
    rest = [np.asarray(b["_index"]) for b in run(loader)]
    assert all(np.array_equal(a, b) for a, b in zip(head + rest, ref, strict=False)) and len(
        head + rest
    ) == len(ref)


JAX_TWO_DEVICES = """
import numpy as np
import jax
from jax.sharding import NamedSharding, PartitionSpec
from fastload.jax import to_jax
from fastload.loader import Loader
from fastload.testing.loader import ArrayDataset
assert jax.device_count() == 2
sharding = NamedSharding(jax.make_mesh((2,), ("data",)), PartitionSpec("data"))
batches = list(to_jax(Loader(ArrayDataset(8), batch_size=4, num_threads=1), sharding=sharding))
x = batches[0]["x"]
assert len(x.addressable_shards) == 2
assert [s.data.shape for s in x.addressable_shards] == [(2, 4), (2, 4)]
assert np.array_equal(np.asarray(x)[:, 0], np.asarray(batches[0]["_index"]))
print("ok")
"""


@pytest.mark.jax
def test_to_jax_splits_batch_over_two_devices():
    import os
    import subprocess
    import sys

    env = {
        **os.environ,
        "XLA_FLAGS": "--xla_force_host_platform_device_count=2",
        "JAX_PLATFORMS": "cpu",
    }
    res = subprocess.run(
        [sys.executable, "-c", JAX_TWO_DEVICES],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert res.returncode == 0 and res.stdout.strip() == "ok", res.stderr


@pytest.mark.torch
def test_cuda_path_control_flow_with_fake_streams(monkeypatch):
    """No GPU here: fake CUDA streams/events check the staging ring and event order."""
    import contextlib

    from fastload.loader.adapters import torch as adapter

    log = []

    class FakeEvent:
        def record(self, stream):
            log.append(("record", id(self)))

        def synchronize(self):
            log.append(("sync", id(self)))

    class FakeStream:
        def __init__(self, device=None):
            pass

        def wait_event(self, event):
            log.append(("wait", id(event)))

    current = FakeStream()
    monkeypatch.setattr(torch.cuda, "Stream", FakeStream)
    monkeypatch.setattr(torch.cuda, "Event", FakeEvent)
    monkeypatch.setattr(torch.cuda, "stream", lambda s: contextlib.nullcontext())
    monkeypatch.setattr(torch.cuda, "current_stream", lambda device=None: current)
    monkeypatch.setattr(torch.Tensor, "record_stream", lambda self, s: None)
    real_empty = torch.empty
    pinned = []

    def fake_empty(*shape, pin_memory=False, **kw):
        t = real_empty(*shape, **kw)
        if pin_memory:
            pinned.append(t)
        return t

    monkeypatch.setattr(torch, "empty", fake_empty)
    loader = Loader(ArrayDataset(24), transform=SpecTransform(), batch_size=4, num_threads=2)
    ref = list(Loader(ArrayDataset(24), transform=SpecTransform(), batch_size=4, num_threads=1))
    # on "cpu" .to() returns the staging buffer itself (a GPU copy would be new memory),
    # so each batch is checked before the ring wraps around
    n = 0
    for a, b in zip(
        adapter._cuda_prefetch(loader, torch.device("cpu"), True, True), ref, strict=True
    ):
        assert np.array_equal(a["y"].numpy(), b["y"]) and np.array_equal(
            a["label"].numpy(), b["label"]
        )
        n += 1
    assert n == 6
    # one pinned buffer per key and ring slot, reused afterwards (6 batches, 3 slots)
    numeric_keys = [k for k, v in ref[0].items() if v.dtype.kind in "biuf"]
    assert len(pinned) == adapter._RING * len(numeric_keys)
    assert sum(1 for e in log if e[0] == "sync") == (6 - adapter._RING) * len(numeric_keys)
    assert sum(1 for e in log if e[0] == "wait") == 6  # the consumer's stream waits per batch
