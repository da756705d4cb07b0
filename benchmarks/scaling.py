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

rng = np.random.default_rng(0)

def loader_rate(ds, tf, bs, threads, reps=5):
    L = fastload.Loader(ds, transform=tf, batch_size=bs, num_threads=threads, epoch_end="drop", seed=0)
    best = []
    for e in range(reps):
        L.set_epoch(e); t = time.perf_counter(); n = 0
        for b in L: n += len(b["_index"])
        best.append(n / (time.perf_counter() - t))
    return best

def compare(name, ds, tf, bs):
    tf(dict(ds[0]), np.random.default_rng(0))
    r1, r2 = [], []
    for k in range(3):
        r1 += loader_rate(ds, tf, bs, 1, 2); r2 += loader_rate(ds, tf, bs, 2, 2)
    print(f"{name}: 1T best {max(r1):.1f}/s median {np.median(r1):.1f}; 2T best {max(r2):.1f}/s median {np.median(r2):.1f}; scaling best/best {max(r2)/max(r1):.2f}x, median/median {np.median(r2)/np.median(r1):.2f}x", flush=True)

which = sys.argv[1:] or ["image", "audio", "volume", "resample"]
if "image" in which:
    ds = [{"image": encode_jpeg(photo_like_image(375, 500, rng), quality=90), "label": i} for i in range(64)]
    compare("resnet50_train", ds, resnet50_train(preset="reference"), 16)
if "audio" in which:
    ds = [{"audio": encode_audio(speech_like(float(rng.uniform(2, 16)), rng), 16000), "transcript": "x"} for i in range(24)]
    compare("rnnt_train", ds, rnnt_train(preset="reference"), 4)
if "volume" in which:
    img, lab = phantom_case((70, 160, 160), (3.0, 0.78, 0.78), rng)[:2]
    x, y = unet3d_preprocess(img, lab, (3.0, 0.78, 0.78))
    ds = [{"image": x, "label": y} for _ in range(16)]
    compare("unet3d_train", ds, unet3d_train(preset="reference"), 2)
if "resample" in which:
    from fastload.volume import resample_to_spacing
    vol = (rng.standard_normal((150, 512, 512)) * 100).astype(np.int16)
    resample_to_spacing(vol[:8], (0.8, .78, .78), (1.6, 1.2, 1.2), threads=2)
    t1, t2 = [], []
    for k in range(5):
        t = time.perf_counter(); resample_to_spacing(vol, (0.8, .78, .78), (1.6, 1.2, 1.2), threads=1); t1.append(time.perf_counter() - t)
        t = time.perf_counter(); resample_to_spacing(vol, (0.8, .78, .78), (1.6, 1.2, 1.2), threads=2); t2.append(time.perf_counter() - t)
    print(f"resample 150x512x512 int16: 1T best {min(t1)*1e3:.0f} ms, 2T best {min(t2)*1e3:.0f} ms, scaling best/best {min(t1)/min(t2):.2f}x median {np.median(t1)/np.median(t2):.2f}x", flush=True)
