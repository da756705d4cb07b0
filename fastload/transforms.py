"""The transform protocol shared by image, audio and volume stages and by the pipelines.

A transform separates *drawing* random parameters from *applying* them:

* ``describe(x) -> meta``: what :meth:`~Transform.sample_params` needs to know about the
  input before it is touched (default: ``x`` itself; the ResNet-50 pipelines read the
  JPEG header, for example).
* ``sample_params(rng, meta) -> params``: draw everything random. ``meta`` describes the
  input (``ImageInfo`` for encoded images, the array itself otherwise). ``params`` is a
  frozen dataclass (or None) you can log and replay.
* ``apply(x, params, out=None) -> x``: deterministic. A transform whose output has a
  fixed shape may write it into ``out`` (see ``output_spec``); others take no ``out``.
* ``output_spec() -> {key: (shape, dtype)} or None``: the fixed per-sample outputs of a
  transform over sample dicts (the loader's batch-buffer protocol); None (the default)
  when the shapes vary.
* ``__call__(x, rng=None, *, out=None)`` does ``apply(x, sample_params(rng, describe(x)))``.
  This is the one calling convention: the :class:`~fastload.Loader` calls every transform
  (a ``Transform`` or any plain callable) as ``transform(sample, rng)``, adding
  ``out={key: batch_view}`` when ``output_spec()`` gives the shapes.

``Compose`` is itself a transform.
"""

from dataclasses import dataclass

from fastload._rng import as_generator

__all__ = ["Compose", "Transform"]


class Transform:
    """Base class: deterministic transforms only override :meth:`apply`."""

    def describe(self, x):
        """The ``meta`` that :meth:`sample_params` draws from (default: ``x`` itself)."""
        return x

    def sample_params(self, rng, meta):
        return None

    def apply(self, x, params, out=None):
        raise NotImplementedError

    def output_meta(self, meta, params):
        """Describe the output given the input ``meta`` (used by Compose to plan)."""
        return meta

    def output_spec(self):
        """``{key: (shape, dtype)}`` of fixed-shape outputs (batch-buffer protocol), or None."""
        return None

    def __call__(self, x, rng=None, *, out=None):
        params = self.sample_params(as_generator(rng), self.describe(x))
        if out is None:
            return self.apply(x, params)
        return self.apply(x, params, out=out)

    def __repr__(self):
        fields = ", ".join(f"{k}={v!r}" for k, v in vars(self).items() if not k.startswith("_"))
        return f"{type(self).__name__}({fields})"


@dataclass(frozen=True)
class ComposeParams:
    params: tuple


class Compose(Transform):
    """Apply transforms in order; parameters are drawn in order from one rng."""

    def __init__(self, transforms):
        self.transforms = list(transforms)

    def sample_params(self, rng, meta):
        drawn = []
        for t in self.transforms:
            p = t.sample_params(rng, meta)
            drawn.append(p)
            meta = t.output_meta(meta, p)
        return ComposeParams(tuple(drawn))

    def apply(self, x, params, out=None):
        for t, p in zip(self.transforms, params.params, strict=False):
            x = t.apply(x, p)
        return x

    def output_meta(self, meta, params):
        for t, p in zip(self.transforms, params.params, strict=False):
            meta = t.output_meta(meta, p)
        return meta

    def __call__(self, x, rng=None, *, out=None):
        rng = as_generator(rng)
        for t in self.transforms:
            x = t(x, rng)
        return x
