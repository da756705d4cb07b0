"""One-batch-ahead staging (fastload.loader.adapters.staging) and the iterator's peek()."""

import numpy as np

from fastload import Loader
from fastload.loader.adapters.staging import Lookahead, lookahead
from fastload.testing.loader import ArrayDataset


def reference(n=20, batch_size=2):
    return [
        b["_index"].copy() for b in Loader(ArrayDataset(n), batch_size=batch_size, num_threads=1)
    ]


def test_peek_does_not_move_the_state():
    loader = Loader(ArrayDataset(10), batch_size=2, num_threads=2)
    it = iter(loader)
    first = it.peek()
    assert it.peek() is first and loader.state_dict()["position"] == 0
    assert next(it) is first and loader.state_dict()["position"] == 2
    rest = []
    while (b := it.peek()) is not None:
        assert loader.state_dict()["position"] == 2 * (len(rest) + 1)
        assert next(it) is b
        rest.append(b["_index"])
    assert len(rest) == 4 and loader.epoch == 1 and it.peek() is None
    assert loader.stats()["batches"] == 5


def test_stages_one_ahead_and_state_is_the_delivered_batch():
    ref = reference()
    loader = Loader(ArrayDataset(20), batch_size=2, num_threads=2)
    staged = []

    def stage(batch):
        staged.append(int(batch["_index"][0]))
        return batch["_index"].copy()

    got = []
    for i, idx in enumerate(lookahead(loader, stage)):
        got.append(idx)
        assert len(staged) == min(i + 2, len(ref))  # the next batch is already staged
        assert loader.state_dict()["position"] == 2 * (i + 1) or i == len(ref) - 1
    assert [a.tolist() for a in got] == [a.tolist() for a in ref]
    assert loader.epoch == 1 and loader.state_dict()["position"] == 0


def test_break_needs_no_rewind_and_resumes():
    ref = reference()
    loader = Loader(ArrayDataset(20), batch_size=2, num_threads=2)
    head = []
    for i, idx in enumerate(Lookahead(loader, lambda b: b["_index"].copy())):
        head.append(idx)
        if i == 3:
            break
    assert loader.state_dict()["position"] == 8  # batch 4 was staged, never delivered
    rest = list(Lookahead(loader, lambda b: b["_index"].copy()))
    assert [a.tolist() for a in head + rest] == [a.tolist() for a in ref]


def test_any_iterable():
    batches = [{"x": np.full(2, k)} for k in range(3)]
    assert [int(b["x"][0]) for b in lookahead(batches, dict)] == [0, 1, 2]
    assert list(lookahead([], dict)) == []
    out = lookahead(iter(batches[:1]), dict)
    assert next(out)["x"][0] == 0 and list(out) == []
