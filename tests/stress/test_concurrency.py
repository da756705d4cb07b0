"""Many threads (16, on however few cores) decoding and transforming at once give
results bit-identical to a serial run: image decode + ResNet-50 train pipeline, audio
log-mel + RNN-T pipeline, volume resampling. Proves the GIL-free kernels share no
mutable state (per-thread libjpeg contexts, scratch buffers, numba kernels).

``FASTLOAD_STRESS_ROUNDS`` (default 6) sets how many times every item is recomputed
concurrently; raise it for a local soak.
"""

import os
import random
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

THREADS = 16
ROUNDS = int(os.environ.get("FASTLOAD_STRESS_ROUNDS", "6"))


def _hammer(items, fn):
    """``fn(item)`` serially, then ROUNDS x len(items) calls in random order on THREADS
    threads started together; every concurrent result must equal the serial one."""
    expected = [fn(it) for it in items]
    jobs = [k for k in range(len(items)) for _ in range(ROUNDS)]
    random.Random(0).shuffle(jobs)
    barrier = threading.Barrier(THREADS)
    chunks = [jobs[t::THREADS] for t in range(THREADS)]

    def worker(chunk):
        barrier.wait()
        return [(k, fn(items[k])) for k in chunk]

    with ThreadPoolExecutor(THREADS) as pool:
        results = [r for part in pool.map(worker, chunks) for r in part]
    assert len(results) == len(jobs)
    for k, got in results:
        want = expected[k]
        if isinstance(want, tuple):
            for a, b in zip(want, got, strict=True):
                np.testing.assert_array_equal(a, b, err_msg=f"item {k}")
        else:
            np.testing.assert_array_equal(want, got, err_msg=f"item {k}")


def _images():
    from fastload.testing.data.imagenet import encode_jpeg, encode_png, photo_like_image

    rng = np.random.default_rng(0)
    out = []
    for k, (h, w) in enumerate([(120, 160), (97, 131), (256, 200), (64, 300), (333, 250)]):
        img = photo_like_image(h, w, rng)
        out.append(encode_jpeg(img, quality=85))
        out.append(
            encode_jpeg(
                img,
                mode=("L", "CMYK", "RGB", "RGB", "L")[k],
                progressive=k % 2 == 0,
                restart_interval=2 * (k % 3),
            )
        )
    out.append(encode_png(photo_like_image(50, 70, rng)))
    return out


def test_image_decode_threads_match_serial():
    from fastload.image import decode, read_header

    def fn(data):
        info = read_header(data)
        full = decode(data)
        roi = (info.height // 4, info.width // 5, info.height // 2, info.width // 2)
        return full, decode(data, roi=roi), decode(data, roi=roi, min_size=(16, 16))

    _hammer(_images(), fn)


@pytest.mark.parametrize("preset", ["nvidia", "reference"])
def test_resnet50_pipeline_threads_match_serial(preset):
    from fastload.pipelines import resnet50_eval, resnet50_train

    train = resnet50_train(preset=preset, size=64)
    evaluate = resnet50_eval(preset=preset, size=64, resize=72)
    items = list(enumerate(_images()))

    def fn(item):
        k, data = item
        a = train({"image": data}, np.random.default_rng(k))["image"]
        b = evaluate({"image": memoryview(data)})["image"]
        return a, b

    _hammer(items, fn)


def test_audio_threads_match_serial():
    from fastload.audio import decode, log_mel
    from fastload.pipelines import rnnt_train
    from fastload.testing.data.librispeech import encode_audio, speech_like

    rng = np.random.default_rng(1)
    clips = [
        encode_audio(speech_like(s, rng, rate), rate)
        for s, rate in ((0.6, 16000), (1.1, 16000), (0.4, 8000), (0.9, 22050))
    ]
    pipeline = rnnt_train()
    items = list(enumerate(clips))

    def fn(item):
        k, data = item
        x, rate = decode(data)
        feats = log_mel(x, rng=k, sample_rate=rate)
        return feats, pipeline({"audio": data}, np.random.default_rng(k))["features"]

    _hammer(items, fn)


def test_volume_resample_threads_match_serial():
    from fastload.volume import resample_to_spacing

    rng = np.random.default_rng(2)
    vols = [
        rng.integers(-1000, 2000, size=s).astype(np.int16)
        for s in ((20, 40, 36), (13, 31, 29), (24, 24, 24))
    ]
    items = [(v, (3.0, 0.8, 0.8), (1.6, 1.2, 1.2)) for v in vols]
    items += [((v > 500).astype(np.uint8), (2.5, 0.9, 0.7), (1.6, 1.2, 1.2)) for v in vols[:2]]

    def fn(item):
        v, sp, new = item
        order = 0 if v.dtype == np.uint8 else 1
        return resample_to_spacing(v, sp, new, order=order, threads=1)

    _hammer(items, fn)


def test_decode_errors_threads_match_serial():
    """Corrupt inputs decoded in 16 threads raise exactly the serial error messages (the C
    error text is per-thread state: a shared buffer would mix them up)."""
    from fastload.errors import DecodeError
    from fastload.image import decode

    good = _images()[:8]
    rng = np.random.default_rng(7)
    items = []
    for k, data in enumerate(good):
        b = np.frombuffer(data, np.uint8).copy()
        if k % 2:
            b = b[: len(b) * 2 // 3]  # truncated
        else:
            pos = rng.integers(20, len(b) - 2, size=12)
            b[pos] = rng.integers(0, 256, size=12, dtype=np.uint8)  # corrupt
        items.append(b.tobytes())

    def fn(data):
        try:
            return np.asarray(decode(data, strict=True)).sum(dtype=np.int64)
        except DecodeError as exc:
            return np.array(str(exc))

    _hammer(items, fn)
