"""PyTorch facade: ``to_torch(loader, ...)`` and ``LoaderIterableDataset``.

See :mod:`fastload.loader.adapters.torch`.
"""

from fastload.loader.adapters.torch import LoaderIterableDataset, to_torch

__all__ = ["LoaderIterableDataset", "to_torch"]
