"""Thread scaling: each MLPerf train pipeline through the Loader with 1 and 2 threads.

Usage: ``python benchmarks/scaling.py [image] [audio] [volume] [resample]``

The two thread counts run interleaved epoch by epoch through
:func:`fastload.bench.harness.race` (the timing of ``fastload bench``), one Loader each
for all epochs, on the same in-memory samples; prints median rates, their ratio and the
per-repeat range. Needs idle cores to mean anything: on a shared machine the range shows
how much the neighbours moved it. Set ``OMP_NUM_THREADS=1`` (and the other thread
variables) in the environment: they only hold when set before numpy is imported.
"""

import os
import sys

import numpy as np

import fastload
from fastload.bench.harness import late_thread_vars, per_repeat, race
from fastload.pipelines import resnet50_train, rnnt_train, unet3d_preprocess, unet3d_train
from fastload.testing.data.kits19 import phantom_case
from fastload.testing.data.librispeech import encode_audio, speech_like


def compare_threads(name, ds, transform, batch_size, repeats=5):
    transform(dict(ds[0]), np.random.default_rng(0))  # JIT warm-up, not timed
    loaders = {
        k: fastload.Loader(
            ds, transform=transform, batch_size=batch_size, num_threads=k, epoch_end="drop", seed=0
        )
        for k in (1, 2)
    }

    def epoch(loader):
        return lambda: sum(len(batch["_index"]) for batch in loader)

    n = len(ds) // batch_size * batch_size
    t = race({k: epoch(ld) for k, ld in loaders.items()}, repeats)
    spread = per_repeat(t[1], t[2])
    print(
        f"{name}: 1 thread {n / t[1].wall:.1f}/s, 2 threads {n / t[2].wall:.1f}/s; "
        f"scaling {t[1].wall / t[2].wall:.2f}x (per repeat {min(spread):.2f}-{max(spread):.2f}x)",
        flush=True,
    )


def compare_resample(repeats=5):
    from fastload.volume import resample_to_spacing

    rng = np.random.default_rng(0)
    vol = (rng.standard_normal((150, 512, 512)) * 100).astype(np.int16)
    spacing, target = (0.8, 0.78, 0.78), (1.6, 1.2, 1.2)
    t = race(
        {k: (lambda k=k: resample_to_spacing(vol, spacing, target, threads=k)) for k in (1, 2)},
        repeats,
    )
    spread = per_repeat(t[1], t[2])
    print(
        f"resample 150x512x512 int16 -> float32: 1 thread {t[1].wall * 1e3:.0f} ms, "
        f"2 threads {t[2].wall * 1e3:.0f} ms; scaling {t[1].wall / t[2].wall:.2f}x "
        f"(per repeat {min(spread):.2f}-{max(spread):.2f}x)",
        flush=True,
    )


def main(which):
    rng = np.random.default_rng(0)
    if "image" in which:
        from fastload.bench.image import make_files

        ds = [{"image": f, "label": i} for i, f in enumerate(make_files(64))]
        compare_threads("resnet50_train", ds, resnet50_train(preset="reference"), 16)
    if "audio" in which:
        ds = [
            {
                "audio": encode_audio(speech_like(float(rng.uniform(2, 16)), rng), 16000),
                "transcript": "x",
            }
            for _ in range(24)
        ]
        compare_threads("rnnt_train", ds, rnnt_train(preset="reference"), 4)
    if "volume" in which:
        image, label = phantom_case((70, 160, 160), (3.0, 0.78, 0.78), rng)[:2]
        x, y = unet3d_preprocess(image, label, (3.0, 0.78, 0.78))
        compare_threads(
            "unet3d_train", [{"image": x, "label": y}] * 16, unet3d_train(preset="reference"), 2
        )
    if "resample" in which:
        compare_resample()


if __name__ == "__main__":
    if "OMP_NUM_THREADS" not in os.environ and late_thread_vars():
        print(
            "note: thread variables must be set in the environment before starting", file=sys.stderr
        )
    main(sys.argv[1:] or ["image", "audio", "volume", "resample"])
