"""pytest-benchmark suite for the image kernels and the ResNet-50 transforms.

    python -m pytest benchmarks/bench_image.py --benchmark-enable -q

One photo-like ~500x375 q90 JPEG set shared by all benchmarks; each benchmark runs one
operation over the whole set (so items/s = len(files) / mean). Side-by-side ratios vs
peers: ``benchmarks/compare.py image``.
"""

import numpy as np
import pytest

from fastload.bench.image import make_files
from fastload.image import codec, decode, read_header, resized_crop
from fastload.pipelines import resnet50_eval, resnet50_train

FILES = make_files(16)


@pytest.fixture(scope="module")
def decoded():
    return [decode(f) for f in FILES]


def _over(fn):
    def run():
        for i, f in enumerate(FILES):
            fn(i, f)

    return run


def test_read_header(benchmark):
    benchmark(_over(lambda i, f: read_header(f)))


@pytest.fixture(params=["fastload", "libjpeg"])
def huffman(request):
    """Entropy decoding by fastload's Huffman decoder or libjpeg-turbo's own."""
    if codec.huffman_decoder() is None:
        pytest.skip("built without libjpeg-turbo")
    previous = codec.set_huffman_decoder(request.param)
    yield request.param
    codec.set_huffman_decoder(previous)


def test_decode_full(benchmark, huffman):
    benchmark(_over(lambda i, f: decode(f)))


def test_decode_eighth(benchmark, huffman):
    benchmark(_over(lambda i, f: decode(f, min_size=(1, 1))))


@pytest.mark.parametrize("preset", ["nvidia", "reference"])
@pytest.mark.parametrize("dtype,layout", [("float32", "CHW"), ("float16", "HWC"), ("uint8", "HWC")])
def test_resnet50_train(benchmark, preset, dtype, layout):
    t = resnet50_train(preset=preset, dtype=dtype, layout=layout)
    shape, dt = t.output_spec()["image"]
    out = np.empty(shape, dt)
    rngs = [np.random.default_rng(k) for k in range(len(FILES))]
    benchmark(_over(lambda i, f: t({"image": f}, rngs[i], out={"image": out})))


@pytest.mark.parametrize("preset", ["nvidia", "reference"])
def test_resnet50_eval(benchmark, preset):
    t = resnet50_eval(preset=preset)
    out = np.empty((3, 224, 224), np.float32)
    benchmark(_over(lambda i, f: t({"image": f}, None, out={"image": out})))


def test_resized_crop_float32_chw(benchmark, decoded):
    out = np.empty((3, 224, 224), np.float32)

    def run():
        for img in decoded:
            h, w = img.shape[:2]
            resized_crop(
                img,
                (h // 8, w // 8, 3 * h // 4, 3 * w // 4),
                224,
                dtype="float32",
                layout="CHW",
                mean=(123.7, 116.3, 103.5),
                std=(58.4, 57.1, 57.4),
                out=out,
            )

    benchmark(run)
