"""Deterministic, resumable, parallel batches: :class:`Loader` and its building blocks.

``sampler`` (epoch order, rank partition, epoch-end policies, resume arithmetic),
``pipeline`` (per-sample read -> rng -> transform, error policy), ``parallel`` (thread
pool, deterministic order), ``process`` (worker processes, shared memory), ``collate``
(batch assembly, padding), ``loader`` (the iterator, state, stats), ``adapters`` (torch,
jax; also ``fastload.torch`` / ``fastload.jax``).

Example::

    loader = Loader(ds, transform=fn, batch_size=256, seed=0, rank=r, world_size=w)
    for epoch in range(start_epoch, epochs):
        loader.set_epoch(epoch)          # keeps a loaded mid-epoch position
        for batch in loader:             # dict of numpy arrays + "_index", "_valid"
            step(batch)
            ckpt["loader"] = loader.state_dict()
"""

from .collate import Collate, default_collate
from .loader import Loader
from .sampler import epoch_order, plan_epoch

__all__ = ["Collate", "Loader", "default_collate", "epoch_order", "plan_epoch"]
