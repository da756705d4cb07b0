"""Volume (CT) ops: NIfTI reading, resampling to a spacing, the 3D U-Net transforms and
sliding-window evaluation helpers.

Submodules load lazily (numba and scipy import on first use).
"""

from importlib import import_module

_EXPORTS = {
    "Volume": "fastload.volume.io",
    "read": "fastload.volume.io",
    "read_header": "fastload.volume.io",
    "resample_to_spacing": "fastload.volume.resample",
    "resampled_shape": "fastload.volume.resample",
    "output_pool": "fastload.volume.resample",
    "ClipNormalize": "fastload.volume.transforms",
    "GaussianNoise": "fastload.volume.transforms",
    "PadToMin": "fastload.volume.transforms",
    "RandomBalancedCrop": "fastload.volume.transforms",
    "RandomBrightness": "fastload.volume.transforms",
    "RandomFlip": "fastload.volume.transforms",
    "clip_normalize": "fastload.volume.transforms",
    "foreground_boxes": "fastload.volume.transforms",
    "pad_to_min": "fastload.volume.transforms",
    "WindowAccumulator": "fastload.volume.sliding_window",
    "gaussian_importance": "fastload.volume.sliding_window",
    "pad_bounds": "fastload.volume.sliding_window",
    "precrop_bounds": "fastload.volume.sliding_window",
    "prepare_eval": "fastload.volume.sliding_window",
    "sliding_windows": "fastload.volume.sliding_window",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name):
    if name in _EXPORTS:
        value = getattr(import_module(_EXPORTS[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'fastload.volume' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_EXPORTS))
