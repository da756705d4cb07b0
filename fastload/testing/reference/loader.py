"""Plain serial twin of :class:`fastload.Loader`: the same batches, written the obvious way.

No threads, no buffers, no plan objects: one loop over the epoch order with the rank's
slices computed directly from the definitions in :mod:`fastload.loader.sampler`.
"""

import numpy as np

__all__ = ["loader_batches"]


def loader_batches(
    dataset,
    *,
    transform=None,
    batch_size,
    shuffle=True,
    seed=0,
    epoch=0,
    rank=0,
    world_size=1,
    epoch_end="pad",
    start=0,
):
    """Every batch ``rank`` yields in ``epoch`` from global position ``start``.

    Returns
    -------
    list of dict
        Each ``{key: ndarray (B, ...)}`` stacked with ``numpy.stack`` (equal shapes only),
        plus ``_index`` (int64) and ``_valid`` (bool).
    """
    n = len(dataset)
    if shuffle:
        ss = np.random.SeedSequence([seed, epoch], spawn_key=(0x6F72646572,))
        order = np.random.Generator(np.random.PCG64(ss)).permutation(n)
    else:
        order = np.arange(n)
    g = batch_size * world_size
    batches = []
    k = 0
    while True:
        lo = start + k * g
        if lo >= n:
            break
        if lo + g > n:  # the tail
            tail = n - lo
            if epoch_end == "drop":
                break
            if epoch_end == "pad":
                positions = list(range(lo + rank * batch_size, lo + (rank + 1) * batch_size))
            else:
                shares = [tail // world_size + (r < tail % world_size) for r in range(world_size)]
                first = lo + sum(shares[:rank])
                positions = list(range(first, first + shares[rank])) or [n]
        else:
            positions = list(range(lo + rank * batch_size, lo + (rank + 1) * batch_size))
        samples, index, valid = [], [], []
        for p in positions:
            i = int(order[p % n])
            sample = dataset[i]
            if transform is not None:
                rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence([seed, epoch, i])))
                sample = transform(sample, rng)
            samples.append(sample)
            index.append(i)
            valid.append(p < n)
        batch = {key: np.stack([np.asarray(s[key]) for s in samples]) for key in samples[0]}
        batch["_index"] = np.array(index, dtype=np.int64)
        batch["_valid"] = np.array(valid, dtype=bool)
        batches.append(batch)
        k += 1
    return batches
