"""Fuzz the ResNet-50 train/eval pipelines (``fastload.pipelines.resnet50_train/eval``)
on sample dicts: both presets, float32/float16/uint8, CHW/HWC, 3/4 channels, with and
without a batch-buffer ``out`` view, random crop drawn from a per-input seed.

Input layout: 4 parameter bytes, then the encoded image. A first byte of 0xFF selects
the direct-op mode instead: 12 parameter bytes (output spec, flip, clamp, DCT scaling,
strictness and a box of four 16-bit fractions), then the image, fed to
``fastload.image.ops.decode_resized_crop``.

    python tests/fuzz/fuzz_resnet50.py -max_total_time=600      # or tests/fuzz/run.py
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _harness import FUZZ_MAX_PIXELS, main, split_params  # noqa: E402

NPARAMS = 4
SIZE = 32  # small output: the resample cost must not dominate the decode


def setup():
    import numpy as np

    from fastload.image import codec
    from fastload.pipelines import resnet50_eval, resnet50_train

    codec.set_max_image_pixels(FUZZ_MAX_PIXELS)
    cache = {}

    def transform(p):
        key = (
            p[0] & 1,
            (p[0] >> 1) & 1,
            (p[0] >> 2) % 3,
            (p[0] >> 4) & 1,
            (p[0] >> 5) & 1,
            (p[0] >> 6) & 1,
        )
        if key not in cache:
            train, preset, dt, layout, pad, strict = key
            kw = dict(
                preset=("nvidia", "reference")[preset],
                size=SIZE,
                dtype=("float32", "float16", "uint8")[dt],
                layout=("CHW", "HWC")[layout],
                pad_channels=3 + pad,
                strict=not strict,
            )
            cache[key] = resnet50_train(**kw) if train else resnet50_eval(resize=SIZE + 4, **kw)
        return cache[key], key

    from fastload.image import ops

    specs = {}

    def spec_for(q):
        key = (q % 5, (q >> 3) & 1, (q >> 4) & 1, (q >> 5) & 1, (q >> 6) & 1)
        if key not in specs:
            size, interp, aa, dt, lay = key
            specs[key] = ops.output_spec(
                ((1, 1), (7, 3), (16, 16), (5, 40), (33, 17))[size],
                dtype=("uint8", "float32")[dt],
                layout=("HWC", "CHW")[lay],
                mean=(1.0, 2.0, 3.0) if dt else None,
                std=(2.0, 3.0, 4.0) if dt else None,
                interpolation=("bilinear", "tf_legacy")[interp],
                antialias=bool(aa),
            )
        return specs[key]

    def direct(p, img):
        """``ops.decode_resized_crop`` with an arbitrary (fractional, tiny or whole-image)
        box, flip and clamp mode: the fused C decode + resample kernel at its edges."""
        info = codec.read_header(img, name="fuzz")
        h, w = info.height, info.width
        f = [v / 65535 for v in np.frombuffer(bytes(p[4:12]), ">u2")]
        top, left = f[0] * (h - 1e-3), f[1] * (w - 1e-3)  # boxes inside, down to 1e-3 px
        bh = max((h - top) * f[2], 1e-3) if f[2] else h - top
        bw = max((w - left) * f[3], 1e-3) if f[3] else w - left
        spec = spec_for(p[1])
        x = ops.decode_resized_crop(
            img,
            (top, left, bh, bw),
            spec,
            flip=bool(p[2] & 1),
            clamp=("box", "image")[(p[2] >> 1) & 1],
            dct_scale=bool(p[2] & 4),
            strict=bool(p[2] & 8),
            name="fuzz",
        )
        assert x.shape == spec.shape and x.dtype == spec.np_dtype
        if x.dtype != np.uint8:
            assert np.isfinite(x).all()
        return ("direct", info.format, p[1] % 5, (p[2] >> 1) & 7)

    def target(data):
        p, img = split_params(data, NPARAMS)
        if p[0] == 0xFF:  # direct op mode: 12 parameter bytes
            p, img = split_params(data, 12)
            return direct(p, img)
        t, key = transform(p)
        ((shape, dtype),) = t.output_spec().values()
        rng = np.random.default_rng(p[1] | p[2] << 8)
        sample = {"image": img if p[3] & 1 else bytes(img), "label": 7, "path": "fuzz.jpg"}
        out = None
        if p[3] & 2:
            batch = np.zeros((2, *shape), dtype)
            out = {"image": batch[1]}
        result = t(sample, rng, out=out)
        x = result["image"]
        assert x.shape == shape and x.dtype == dtype, (x.shape, shape, x.dtype, dtype)
        assert out is None or x is out["image"] or np.shares_memory(x, out["image"])
        assert result["label"] == 7
        if dtype != np.uint8:
            assert np.isfinite(x).all()
        return key

    return target


def seeds():
    import _seeds as s

    params = [
        bytes([0, 1, 2, 0]),
        bytes([1, 3, 4, 3]),
        bytes([0x15, 9, 9, 2]),
        bytes([0x2B, 5, 0, 1]),
        bytes([0x61, 77, 1, 0]),
        bytes([0x3E, 2, 8, 3]),
    ]
    out = [
        (f"{k}_{name}", params[k % len(params)] + blob) for k, (name, blob) in enumerate(s.images())
    ]
    direct = [
        bytes([255, 0, 0, 0]) + bytes(8),
        bytes([255, 0x5B, 3, 0]) + bytes(range(8)),
        bytes([255, 0x21, 6, 0, 0, 0, 255, 255, 255, 255, 0, 1]),
        bytes([255, 0x4C, 13, 0, 128, 0, 64, 0, 16, 0, 200, 0]),
    ]
    out += [
        (f"direct{k}_{name}", direct[k % len(direct)] + blob)
        for k, (name, blob) in enumerate(s.images())
    ]
    return out


if __name__ == "__main__":
    sys.exit(main(setup, seeds))
