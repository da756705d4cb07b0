"""Audio decoding from in-memory bytes (FLAC, WAV, OGG, ... through libsndfile).

``decode`` reads any bytes-like object (``bytes``, ``memoryview``, a uint8 numpy array)
through a small read-only file object over a ``memoryview`` of it, so the encoded
buffer is never copied as a whole; libsndfile copies only the chunks it parses.
The header is read first and the declared length is checked against ``max_samples``
before any sample is decoded.
"""

import io

import numpy as np
import soundfile

from fastload.errors import DecodeError, LimitError

__all__ = ["DEFAULT_MAX_SAMPLES", "AudioInfo", "decode", "info"]

#: Default safety limit on frames x channels (one hour of 16 kHz stereo).
DEFAULT_MAX_SAMPLES = 16000 * 3600 * 2
#: At most this many channels are accepted.
MAX_CHANNELS = 64


class _BufferReader(io.RawIOBase):
    """Seekable read-only raw file over a memoryview (no copy of the whole buffer)."""

    def __init__(self, view):
        super().__init__()
        self._view = view
        self._pos = 0

    def readable(self):
        return True

    def seekable(self):
        return True

    def readinto(self, buf):
        n = min(len(buf), max(0, len(self._view) - self._pos))
        if n:
            memoryview(buf).cast("B")[:n] = self._view[self._pos : self._pos + n]
            self._pos += n
        return n

    def seek(self, offset, whence=io.SEEK_SET):
        if whence == io.SEEK_SET:
            pos = offset
        elif whence == io.SEEK_CUR:
            pos = self._pos + offset
        elif whence == io.SEEK_END:
            pos = len(self._view) + offset
        else:
            raise ValueError(f"bad whence {whence}")
        self._pos = max(0, pos)
        return self._pos

    def tell(self):
        return self._pos


class AudioInfo:
    """Header facts: ``frames`` (samples per channel), ``channels``, ``sample_rate``,
    ``format``, ``subtype`` and ``duration`` (seconds)."""

    __slots__ = ("channels", "format", "frames", "sample_rate", "subtype")

    def __init__(self, frames, channels, sample_rate, format, subtype):  # noqa: A002
        self.frames = frames
        self.channels = channels
        self.sample_rate = sample_rate
        self.format = format
        self.subtype = subtype

    @property
    def duration(self):
        return self.frames / self.sample_rate

    def __repr__(self):
        return (
            f"AudioInfo(frames={self.frames}, channels={self.channels}, "
            f"sample_rate={self.sample_rate}, format={self.format!r}, subtype={self.subtype!r})"
        )


def _as_view(data, name):
    try:
        view = memoryview(data)
    except TypeError:
        raise DecodeError(
            f"{name}: expected a bytes-like object, got {type(data).__name__}"
        ) from None
    if view.ndim != 1 or view.itemsize != 1:
        try:
            view = view.cast("B")
        except TypeError:
            raise DecodeError(f"{name}: buffer must be C-contiguous bytes") from None
    if len(view) == 0:
        raise DecodeError(f"{name}: empty input (0 bytes)")
    return view


def _open(view, name):
    try:
        return soundfile.SoundFile(_BufferReader(view), mode="r")
    except (RuntimeError, ValueError, TypeError, OSError, EOFError) as e:
        raise DecodeError(f"{name}: not a decodable audio file ({len(view)} bytes): {e}") from None


def _check(f, name, max_samples):
    if f.samplerate <= 0:
        raise DecodeError(f"{name}: invalid sample rate {f.samplerate}")
    if not 1 <= f.channels <= MAX_CHANNELS:
        raise DecodeError(f"{name}: invalid channel count {f.channels}")
    if f.frames < 0:
        raise DecodeError(f"{name}: invalid frame count {f.frames}")
    if f.frames * f.channels > max_samples:
        raise LimitError(
            f"{name}: header declares {f.frames} frames x {f.channels} channels, above the "
            f"limit of {max_samples} samples (pass max_samples= to raise it)"
        )


def info(data, *, name="audio"):
    """Read the header only.

    Parameters
    ----------
    data : bytes-like
        Encoded audio.
    name : str
        Names the sample in error messages.

    Returns
    -------
    AudioInfo
    """
    view = _as_view(data, name)
    with _open(view, name) as f:
        return AudioInfo(f.frames, f.channels, f.samplerate, f.format, f.subtype)


def decode(data, *, name="audio", max_samples=DEFAULT_MAX_SAMPLES, mono=False, buffer=None):
    """Decode FLAC / WAV (int16, int24, int32, float) / OGG / ... from memory.

    Parameters
    ----------
    data : bytes-like (bytes, memoryview, ndarray uint8)
        The encoded file; never copied as a whole.
    name : str
        Names the sample in error messages (a file name or dataset index).
    max_samples : int
        Safety limit on frames x channels, checked against the header before decoding.
    mono : bool
        Downmix to mono by averaging the channels (DALI ``downmix=True``).
    buffer : ndarray, shape (k,), float32, C-contiguous, optional
        Scratch to decode into when ``k >= frames * channels``: the result is then a view
        of ``buffer`` (valid until the buffer is reused). Avoids a fresh allocation (and
        its page faults) per file in a loop.

    Returns
    -------
    samples : ndarray, shape (n,) or (n, channels), float32
        Full-scale samples in [-1, 1] (integer PCM is scaled by 1 / 2**(bits-1)).
        Mono files (or ``mono=True``) give shape (n,).
    sample_rate : int
        Hz.

    Raises
    ------
    fastload.errors.DecodeError
        Empty, truncated, corrupt or unsupported input (the message names ``name``).
    fastload.errors.LimitError
        The header declares more than ``max_samples`` samples.
    """
    view = _as_view(data, name)
    with _open(view, name) as f:
        _check(f, name, max_samples)
        frames, channels, rate = f.frames, f.channels, f.samplerate
        try:
            if (
                buffer is not None
                and buffer.dtype == np.float32
                and buffer.ndim == 1
                and buffer.flags.c_contiguous
                and buffer.shape[0] >= frames * channels
            ):
                out = f.read(
                    frames,
                    dtype="float32",
                    always_2d=True,
                    out=buffer[: frames * channels].reshape(frames, channels),
                )
            else:
                out = f.read(frames, dtype="float32", always_2d=True)
        except (RuntimeError, ValueError, TypeError, OSError, EOFError) as e:
            raise DecodeError(f"{name}: corrupt audio data: {e}") from None
    if out.shape[0] != frames:
        raise DecodeError(
            f"{name}: truncated or corrupt audio: header declares {frames} frames, "
            f"decoded {out.shape[0]}"
        )
    if frames == 0:
        raise DecodeError(f"{name}: audio file holds no samples")
    if not np.isfinite(out).all():
        raise DecodeError(f"{name}: audio holds NaN or infinite samples")
    if channels == 1:
        return out.reshape(-1), rate
    if mono:
        return out.mean(axis=1, dtype=np.float32), rate
    return out, rate
