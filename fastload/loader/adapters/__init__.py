"""Framework adapters (optional dependencies): ``torch`` (:func:`to_torch`,
``LoaderIterableDataset``) and ``jax`` (:func:`to_jax`). Import the submodule you need;
this package imports neither framework."""
