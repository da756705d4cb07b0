"""The transform protocol shared by image, audio and volume stages.

A transform separates *drawing* random parameters from *applying* them:

* ``sample_params(rng, meta) -> params``: draw everything random. ``meta`` describes the
  input before it is touched (``ImageInfo`` for encoded images, the array itself
  otherwise). ``params`` is a frozen dataclass (or None) you can log and replay.
* ``apply(x, params) -> x``: deterministic.
* ``__call__(x, *, rng)`` does both.

``Compose`` is itself a transform.
"""

from dataclasses import dataclass

from fastload._rng import as_generator

__all__ = ["Compose", "Transform"]


class Transform:
    """Base class: deterministic transforms only override :meth:`apply`."""

    def sample_params(self, rng, meta):
        return None

    def apply(self, x, params):
        raise NotImplementedError

    def output_meta(self, meta, params):
        """Describe the output given the input ``meta`` (used by Compose to plan)."""
        return meta

    def __call__(self, x, *, rng=None):
        return self.apply(x, self.sample_params(as_generator(rng), x))

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

    def apply(self, x, params):
        for t, p in zip(self.transforms, params.params, strict=False):
            x = t.apply(x, p)
        return x

    def output_meta(self, meta, params):
        for t, p in zip(self.transforms, params.params, strict=False):
            meta = t.output_meta(meta, p)
        return meta

    def __call__(self, x, *, rng=None):
        rng = as_generator(rng)
        for t in self.transforms:
            x = t(x, rng=rng)
        return x
