"""fastload: GIL-free data loading for MLPerf-style training.

Top-level names are re-exported lazily so ``import fastload`` stays cheap (numba and
pyarrow load on first use).
"""

from importlib import import_module

__version__ = "0.1.0"

_EXPORTS = {
    "Dataset": "fastload.dataset",
    "Loader": "fastload.loader",
    "ShardWriter": "fastload.dataset",
    "open_dataset": "fastload.dataset",
    "verify": "fastload.dataset",
}
_SUBPACKAGES = (
    "audio",
    "builders",
    "dataset",
    "errors",
    "image",
    "jax",
    "loader",
    "pipelines",
    "testing",
    "torch",
    "transforms",
    "volume",
)

__all__ = sorted(_EXPORTS)


def __getattr__(name):
    if name in _EXPORTS:
        value = getattr(import_module(_EXPORTS[name]), name)
        globals()[name] = value
        return value
    if name in _SUBPACKAGES:
        module = import_module(f"fastload.{name}")
        globals()[name] = module
        return module
    raise AttributeError(f"module 'fastload' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_EXPORTS) | set(_SUBPACKAGES))
