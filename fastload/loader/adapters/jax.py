"""JAX adapter: batches as ``jax.Array``, placed with an optional sharding.

Numeric arrays go through ``jax.device_put`` (asynchronous; one batch ahead, so the next
batch is put while the consumer works on the current one; ``loader.state_dict()`` still
reports the state as of the batch the consumer holds). With a sharding spanning several processes,
each process's batch is its local part of the global array
(``jax.make_array_from_process_local_data``). Non-numeric values pass through.
"""

import jax
import numpy as np

from fastload.loader.adapters.staging import lookahead

__all__ = ["to_jax"]


def _put(value, sharding):
    if not (isinstance(value, np.ndarray) and value.dtype.kind in "biufc"):
        return value
    if sharding is None:
        return jax.device_put(value)
    if jax.process_count() > 1:
        return jax.make_array_from_process_local_data(sharding, value)
    return jax.device_put(value, sharding)


def to_jax(loader, *, sharding=None):
    """Yield the loader's batches as dicts of jax arrays.

    Parameters
    ----------
    loader : iterable of dict[str, ndarray]
        A :class:`fastload.Loader` (or any iterable of batches).
    sharding : jax.sharding.Sharding, optional
        Placement of every array (e.g. ``NamedSharding(mesh, P("data"))`` splits the batch
        axis over devices); default: the default device.

    Yields
    ------
    dict[str, jax.Array | object]
    """
    return lookahead(loader, lambda batch: {k: _put(v, sharding) for k, v in batch.items()})
