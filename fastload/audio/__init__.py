"""Audio: decoding, resampling, log-mel features and the RNN-T transforms.

Names load lazily so ``import fastload.audio`` does not compile kernels.
"""

from importlib import import_module

_EXPORTS = {
    "AudioInfo": "fastload.audio.codec",
    "decode": "fastload.audio.codec",
    "info": "fastload.audio.codec",
    "log_mel": "fastload.audio.features",
    "mel_filterbank": "fastload.audio.features",
    "window_function": "fastload.audio.features",
    "resample": "fastload.audio.resampling",
    "resampled_length": "fastload.audio.resampling",
    "SpecAugment": "fastload.audio.transforms",
    "SpeedPerturb": "fastload.audio.transforms",
    "StackFrames": "fastload.audio.transforms",
    "TrimSilence": "fastload.audio.transforms",
    "nonsilent_region": "fastload.audio.transforms",
    "spec_augment_batch": "fastload.audio.transforms",
    "speed_target_rate": "fastload.audio.transforms",
    "stack_frames": "fastload.audio.transforms",
    "stack_frames_batch": "fastload.audio.transforms",
}

__all__ = sorted([*_EXPORTS, "warmup"])


def __getattr__(name):
    if name in _EXPORTS:
        value = getattr(import_module(_EXPORTS[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'fastload.audio' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_EXPORTS))


def warmup():
    """Compile (or load from the numba cache) every audio kernel on tiny inputs.

    The first call of each kernel otherwise costs 0.3-1.5 s cold (about 10-50 ms from the
    cache); call this once per process before timing or before the first epoch.
    """
    import numpy as np

    from fastload.audio.features import log_mel
    from fastload.audio.resampling import resample
    from fastload.audio.transforms import nonsilent_region, stack_frames

    x = np.linspace(-0.5, 0.5, 4000, dtype=np.float32)
    resample(x, 16000, 17000)
    resample(x, 16000, 15000, antialias=False)
    nonsilent_region(x)
    stack_frames(log_mel(x, dither=1e-5, rng=0))

    import io

    import soundfile

    from fastload.audio.codec import decode

    for channels in (1, 2):  # the FLAC decoder is C: nothing to compile, soundfile is warmed
        f = io.BytesIO()
        soundfile.write(f, np.stack([x] * channels, 1), 16000, format="FLAC", subtype="PCM_16")
        decode(f.getvalue())
        decode(np.frombuffer(f.getvalue(), np.uint8).copy(), mono=True, verify_md5=False)
