"""Fuzz ``fastload.audio.decode`` (and ``info``) on FLAC / WAV / OGG / AIFF bytes.

Input layout: 1 parameter byte (input type, mono, scratch buffer), then the file.

    python tests/fuzz/fuzz_audio.py -max_total_time=600      # or tests/fuzz/run.py
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _harness import FUZZ_MAX_SAMPLES, main, split_params  # noqa: E402


def setup():
    import numpy as np

    from fastload.audio import decode, info

    scratch = np.empty(1 << 16, np.float32)

    def target(data):
        p, blob = split_params(data, 1)
        if p[0] & 1:
            blob = np.frombuffer(blob, np.uint8)
        elif p[0] & 2:
            blob = bytes(blob)
        head = info(blob, name="fuzz")
        x, rate = decode(
            blob,
            name="fuzz",
            max_samples=FUZZ_MAX_SAMPLES,
            mono=bool(p[0] & 4),
            buffer=scratch if p[0] & 8 else None,
        )
        assert rate == head.sample_rate > 0
        assert x.dtype == np.float32 and x.ndim in (1, 2) and x.shape[0] == head.frames > 0
        assert np.isfinite(x).all()
        return (head.format, head.subtype, head.channels, x.ndim)

    return target


def seeds():
    import _seeds as s

    return [(f"{k}_{name}", bytes([k % 16]) + blob) for k, (name, blob) in enumerate(s.audio())]


if __name__ == "__main__":
    sys.exit(main(setup, seeds))
