"""pytest-benchmark suite for the sharded dataset.

    taskset -c 0 python -m pytest benchmarks/bench_dataset.py --benchmark-enable -q

``ds[i]`` on a 6-column row (target: a few microseconds), random payload reads against
one-file-per-payload reads, and ``read_column`` of a label column.
"""

import numpy as np
import pytest

from fastload.bench.dataset import make_payload_data
from fastload.dataset import ShardWriter, open_dataset

N = 2000


@pytest.fixture(scope="module")
def payloads(tmp_path_factory):
    return make_payload_data(tmp_path_factory.mktemp("bench"), N)


@pytest.fixture(scope="module")
def six_columns(tmp_path_factory):
    path = tmp_path_factory.mktemp("bench6") / "ds"
    rng = np.random.default_rng(0)
    with ShardWriter(path, fsync=False) as w:
        for i in range(N):
            w.write(
                {
                    "image": rng.bytes(2000),
                    "label": i % 1000,
                    "duration": i * 0.1,
                    "file": f"img_{i:08d}.JPEG",
                    "mask": np.zeros((8, 8), np.uint8),
                    "volume": np.zeros((i % 4 + 1, 4), np.int16),
                }
            )
    ds = open_dataset(path)
    for i in range(N):  # map every shard before timing
        ds[i]
    return ds


@pytest.fixture(scope="module")
def order():
    return np.random.default_rng(1).permutation(N).tolist()


def test_getitem_six_columns(benchmark, six_columns, order):
    ds = six_columns

    def read():
        for i in order:
            ds[i]

    benchmark(read)


def test_random_payloads_dataset(benchmark, payloads, order):
    ds = open_dataset(payloads[0])

    def read():
        for i in order:
            ds[i]["image"]

    read()
    benchmark(read)


def test_random_payloads_files(benchmark, payloads, order):
    files = payloads[1]

    def read():
        for i in order:
            with open(files[i], "rb") as f:
                f.read()

    read()
    benchmark(read)


def test_read_column_labels(benchmark, six_columns, order):
    benchmark(six_columns.read_column, "label", order)
