"""JAX facade: ``to_jax(loader, *, sharding=None)``.

See :mod:`fastload.loader.adapters.jax`.
"""

from fastload.loader.adapters.jax import to_jax

__all__ = ["to_jax"]
