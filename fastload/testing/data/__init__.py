"""Small but realistic raw datasets in their real on-disk layouts.

Used by tests, benchmarks and ``fastload demo``. One module per dataset:

* ``imagenet.make_imagenet(root, ...)``: ``train/<wnid>/<name>.JPEG`` folders
* ``librispeech.make_librispeech(root, ...)``: ``<subset>/<spk>/<ch>/<spk>-<ch>-<utt>.flac``
* ``kits19.make_kits19(root, ...)``: ``case_XXXXX/imaging.nii.gz`` + ``segmentation.nii.gz``
"""

from importlib import import_module

_EXPORTS = {
    "make_imagenet": "fastload.testing.data.imagenet",
    "make_librispeech": "fastload.testing.data.librispeech",
    "make_kits19": "fastload.testing.data.kits19",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name):
    if name in _EXPORTS:
        return getattr(import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'fastload.testing.data' has no attribute {name!r}")
