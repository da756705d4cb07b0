"""Fuzz the RNN-T feature pipelines (``fastload.pipelines.rnnt_train/eval``) on sample
dicts holding encoded audio: decode -> resample / speed perturbation -> silence trim ->
log-mel -> SpecAugment -> frame stacking.

Input layout: 3 parameter bytes (train/eval, preset, rng seed, PCM mode), then the audio
file -- or, in PCM mode (bit 3), raw int16 samples with a sample rate picked by byte 2.

    python tests/fuzz/fuzz_rnnt.py -max_total_time=600      # or tests/fuzz/run.py
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _harness import main, split_params  # noqa: E402

_RATES = (16000, 8000, 22050, 44100, 48000, 0, 1, -16000, 999, 768_000, 10**9, 2**40)


def setup():
    import numpy as np

    from fastload.pipelines import rnnt_eval, rnnt_train

    transforms = {
        (train, preset): (rnnt_train if train else rnnt_eval)(preset=preset)
        for train in (0, 1)
        for preset in ("reference", "nvidia")
    }

    def target(data):
        p, blob = split_params(data, 3)
        key = (p[0] & 1, ("reference", "nvidia")[(p[0] >> 1) & 1])
        audio = blob
        sample = {"utterance": "fuzz", "transcript": "a b"}
        if p[0] & 8:  # the builder's pcm=True layout: int16 samples + a sample_rate column
            pcm = np.frombuffer(blob[: len(blob) // 4 * 4], np.int16)
            audio = pcm.reshape(-1, 2) if p[0] & 16 else pcm
            sample["sample_rate"] = _RATES[p[2] % len(_RATES)]
        sample["audio"] = audio
        if key[1] == "nvidia" and p[0] & 4:
            sample["speed"] = 0.85 + 0.3 * p[2] / 255
        out = transforms[key](sample, np.random.default_rng(p[1]))
        f = out["features"]
        assert f.dtype == np.float32 and f.ndim == 2 and f.shape[1] == 240, f.shape
        assert out["features_length"] == f.shape[0] > 0
        assert np.isfinite(f).all()
        assert out["transcript"] == "a b" and "audio" not in out
        return key

    return target


def seeds():
    import _seeds as s
    import numpy as np

    out = [
        (f"{k}_{name}", bytes([k % 8, k, 3 * k]) + blob) for k, (name, blob) in enumerate(s.audio())
    ]
    pcm = (np.sin(np.arange(8000) / 7) * 9000).astype(np.int16).tobytes()
    out += [(f"pcm{k}", bytes([8 | 16 * (k % 2) | k % 2, k, k]) + pcm) for k in range(5)]
    return out


if __name__ == "__main__":
    sys.exit(main(setup, seeds))
