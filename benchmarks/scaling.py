"""Thread scaling: each MLPerf train pipeline through the Loader with 1 and 2 threads.

Usage: ``python benchmarks/scaling.py [image] [audio] [volume] [resample]``

Runs the two thread counts interleaved (3 rounds of 2 epochs each) on the same in-memory
samples and prints best and median rates and their ratios. Needs idle cores to mean
anything: on a shared machine compare the best-of figures.
"""

import sys
import time

import numpy as np

import fastload
from fastload.pipelines import resnet50_train, rnnt_train, unet3d_preprocess, unet3d_train
from fastload.testing.data.imagenet import encode_jpeg, photo_like_image
from fastload.testing.data.kits19 import phantom_case
from fastload.testing.data.librispeech import encode_audio, speech_like


def epoch_rates(ds, transform, batch_size, threads, epochs):
    """Samples/s of ``epochs`` consecutive epochs through one Loader."""
    loader = fastload.Loader(ds, transform=transform, batch_size=batch_size,
                             num_threads=threads, epoch_end="drop", seed=0)
    rates = []
    for epoch in range(epochs):
        loader.set_epoch(epoch)
        started = time.perf_counter()
        n = sum(len(batch["_index"]) for batch in loader)
        rates.append(n / (time.perf_counter() - started))
    return rates


def compare_threads(name, ds, transform, batch_size, rounds=3):
    transform(dict(ds[0]), np.random.default_rng(0))  # JIT warm-up, not timed
    one, two = [], []
    for _ in range(rounds):
        one += epoch_rates(ds, transform, batch_size, 1, 2)
        two += epoch_rates(ds, transform, batch_size, 2, 2)
    print(
        f"{name}: 1 thread best {max(one):.1f}/s (median {np.median(one):.1f}); "
        f"2 threads best {max(two):.1f}/s (median {np.median(two):.1f}); "
        f"scaling best {max(two) / max(one):.2f}x, median {np.median(two) / np.median(one):.2f}x",
        flush=True,
    )


def compare_resample(rounds=5):
    from fastload.volume import resample_to_spacing

    rng = np.random.default_rng(0)
    vol = (rng.standard_normal((150, 512, 512)) * 100).astype(np.int16)
    spacing, target = (0.8, 0.78, 0.78), (1.6, 1.2, 1.2)
    resample_to_spacing(vol[:8], spacing, target, threads=2)  # JIT warm-up
    times = {1: [], 2: []}
    for _ in range(rounds):
        for threads in (1, 2):
            started = time.perf_counter()
            resample_to_spacing(vol, spacing, target, threads=threads)
            times[threads].append(time.perf_counter() - started)
    t1, t2 = times[1], times[2]
    print(
        f"resample 150x512x512 int16 -> float32: 1 thread best {min(t1) * 1e3:.0f} ms, "
        f"2 threads best {min(t2) * 1e3:.0f} ms; scaling best {min(t1) / min(t2):.2f}x, "
        f"median {np.median(t1) / np.median(t2):.2f}x",
        flush=True,
    )


def main(which):
    rng = np.random.default_rng(0)
    if "image" in which:
        ds = [{"image": encode_jpeg(photo_like_image(375, 500, rng), quality=90), "label": i}
              for i in range(64)]
        compare_threads("resnet50_train", ds, resnet50_train(preset="reference"), 16)
    if "audio" in which:
        ds = [{"audio": encode_audio(speech_like(float(rng.uniform(2, 16)), rng), 16000),
               "transcript": "x"} for _ in range(24)]
        compare_threads("rnnt_train", ds, rnnt_train(preset="reference"), 4)
    if "volume" in which:
        image, label = phantom_case((70, 160, 160), (3.0, 0.78, 0.78), rng)[:2]
        x, y = unet3d_preprocess(image, label, (3.0, 0.78, 0.78))
        compare_threads("unet3d_train", [{"image": x, "label": y}] * 16,
                        unet3d_train(preset="reference"), 2)
    if "resample" in which:
        compare_resample()


if __name__ == "__main__":
    main(sys.argv[1:] or ["image", "audio", "volume", "resample"])
