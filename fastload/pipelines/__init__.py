"""MLPerf recipes as loader transforms: ``transform(sample, rng) -> sample``.

One module per workload; each follows ``../shared/SPEC-mlperf.md`` with
``preset="reference"`` (the MLPerf reference implementation) or ``preset="nvidia"``
(NVIDIA's closed submission).
"""

from importlib import import_module

_EXPORTS = {
    "resnet50_train": "fastload.pipelines.resnet50",
    "resnet50_eval": "fastload.pipelines.resnet50",
    "rnnt_train": "fastload.pipelines.rnnt",
    "rnnt_eval": "fastload.pipelines.rnnt",
    "unet3d_preprocess": "fastload.pipelines.unet3d",
    "unet3d_train": "fastload.pipelines.unet3d",
    "unet3d_eval": "fastload.pipelines.unet3d",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name):
    if name in _EXPORTS:
        return getattr(import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'fastload.pipelines' has no attribute {name!r}")
