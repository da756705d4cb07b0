"""Default collate: samples (dicts) -> one batch (dict of numpy arrays).

* Equal-shaped arrays are stacked into one contiguous ``(B, *shape)`` array; keys the
  transform already wrote into a preallocated batch buffer (``output_spec``) are passed
  through untouched.
* Ragged arrays (same ``ndim``, different shapes) are zero-padded to the batch maximum on
  every axis and a ``<key>_length`` array is added: shape ``(B,)`` for 1-D values,
  ``(B, ndim)`` (each sample's shape) otherwise; a ``<key>_length`` the samples already
  carry is kept instead. Declare ``pad={key: axis}`` to always pad
  along one axis and always emit ``<key>_length`` with shape ``(B,)`` (a stable key set
  even for batches that happen not to be ragged).
* Python scalars become ``bool``/``int64``/``float64`` arrays, ``str`` a unicode array,
  anything else (bytes, memoryview, None ...) an object array of shape ``(B,)``.
* ``as_list=(key, ...)`` hands those keys out as plain Python lists.
"""

import numbers

import numpy as np

from fastload.errors import SampleError

__all__ = ["Collate", "default_collate"]


class Collate:
    """Configurable default collate.

    Parameters
    ----------
    pad : dict[str, int], optional
        Keys always padded along the given axis (of the per-sample array); adds
        ``<key>_length`` of shape (B,), int64.
    pad_value : float or dict[str, float]
        Fill value of padded regions (default 0).
    as_list : iterable of str
        Keys returned as Python lists instead of arrays.
    """

    def __init__(self, *, pad=None, pad_value=0, as_list=()):
        self.pad = dict(pad or {})
        self.pad_value = pad_value
        self.as_list = frozenset(as_list)

    def __repr__(self):
        return (
            f"Collate(pad={self.pad!r}, pad_value={self.pad_value!r}, "
            f"as_list={sorted(self.as_list)!r})"
        )

    def _fill(self, key):
        if isinstance(self.pad_value, dict):
            return self.pad_value.get(key, 0)
        return self.pad_value

    def __call__(self, samples, out=None):
        """Collate ``samples``.

        Parameters
        ----------
        samples : list of dict
            Per-sample outputs, all with the same keys.
        out : dict[str, ndarray], optional
            Batch arrays already filled in place (``output_spec`` keys); used as they are.

        Returns
        -------
        dict[str, ndarray | list]
        """
        if not samples:
            raise SampleError("cannot collate an empty batch")
        keys = list(samples[0])
        for j, s in enumerate(samples[1:], 1):
            if s.keys() != samples[0].keys():
                diff = sorted(set(s) ^ set(samples[0]))
                raise SampleError(
                    f"sample {j} of the batch has different keys than sample 0 (differing: {diff})"
                )
        batch = {}
        out = out or {}
        for key in keys:
            if key in out:
                batch[key] = out[key]
                continue
            values = [s[key] for s in samples]
            try:
                self._collate_key(batch, key, values, samples[0].keys())
            except SampleError:
                raise
            except Exception as exc:
                raise SampleError(f"collate failed for key {key!r}: {exc}") from exc
        return batch

    def _collate_key(self, batch, key, values, samples_keys=()):
        if key in self.as_list:
            batch[key] = list(values)
            return
        first = values[0]
        if isinstance(first, np.ndarray):
            self._arrays(batch, key, values, samples_keys)
        elif isinstance(first, (bool, np.bool_)):
            batch[key] = np.array(values, dtype=bool)
        elif isinstance(first, np.generic):
            batch[key] = np.array(values)
        elif isinstance(first, numbers.Integral):
            batch[key] = np.array(values, dtype=np.int64)
        elif isinstance(first, numbers.Real):
            batch[key] = np.array(values, dtype=np.float64)
        elif isinstance(first, str) and all(isinstance(v, str) for v in values):
            batch[key] = np.array(values, dtype=str)
        else:
            arr = np.empty(len(values), dtype=object)
            for j, v in enumerate(values):
                arr[j] = v
            batch[key] = arr

    def _arrays(self, batch, key, values, samples_keys=()):
        for j, v in enumerate(values):
            if not isinstance(v, np.ndarray):
                raise SampleError(
                    f"key {key!r}: sample {j} is {type(v).__name__}, sample 0 a numpy array"
                )
        ndim = values[0].ndim
        for j, v in enumerate(values):
            if v.ndim != ndim:
                raise SampleError(
                    f"key {key!r}: sample {j} has {v.ndim} dimensions, sample 0 has {ndim}"
                )
        shapes = [v.shape for v in values]
        dtype = np.result_type(*values)
        axis = self.pad.get(key)
        if axis is not None:
            axis = axis % max(ndim, 1)
            for j, s in enumerate(shapes):
                if s[:axis] + s[axis + 1 :] != shapes[0][:axis] + shapes[0][axis + 1 :]:
                    raise SampleError(
                        f"key {key!r}: sample {j} shape {s} differs from sample 0 {shapes[0]} "
                        f"outside the padded axis {axis}"
                    )
            batch[key] = _pad(values, shapes, dtype, self._fill(key))
            if f"{key}_length" not in samples_keys:
                batch[f"{key}_length"] = np.array([s[axis] for s in shapes], dtype=np.int64)
            return
        if all(s == shapes[0] for s in shapes):
            res = np.empty((len(values),) + shapes[0], dtype=dtype)
            for j, v in enumerate(values):
                res[j] = v
            batch[key] = res
            return
        batch[key] = _pad(values, shapes, dtype, self._fill(key))
        if f"{key}_length" in samples_keys:
            return  # the transform reports its own lengths
        lengths = np.array(shapes, dtype=np.int64)
        batch[f"{key}_length"] = lengths[:, 0] if ndim == 1 else lengths


def _pad(values, shapes, dtype, fill):
    big = tuple(max(dim) for dim in zip(*shapes, strict=False))
    res = np.full((len(values),) + big, fill, dtype=dtype)
    for j, v in enumerate(values):
        res[(j,) + tuple(slice(0, d) for d in v.shape)] = v
    return res


default_collate = Collate()
