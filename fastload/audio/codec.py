"""Audio decoding from in-memory bytes (FLAC, WAV, OGG, ... through libsndfile).

``decode`` reads any bytes-like object (``bytes``, ``memoryview``, a uint8 numpy array)
through a small read-only file object over a ``memoryview`` of it, so the encoded
buffer is never copied as a whole; libsndfile copies only the chunks it parses.
The header is read first and the declared length is checked against ``max_samples``
before any sample is decoded.

Plain FLAC streams (``fLaC`` marker first, STREAMINFO with 1 or 2 channels, 16 or 24
bits, a known length) take a fast path: a numba frame decoder (``_flac_nb.py``, about
1.4x libsndfile through soundfile on 16 kHz speech) that verifies every frame's CRCs and
gives the same float32 samples bit for bit. Whatever it cannot fully decode and verify
(other formats, ID3 prefixes, odd headers, corrupt or truncated data) goes to
libsndfile, so errors and edge cases behave exactly as before.
"""

import io
import threading

import numpy as np
import soundfile

from fastload.audio._flac_nb import CRC8_TABLE, CRC16_TABLE, flac_decode_kernel
from fastload.errors import DecodeError, LimitError

__all__ = ["DEFAULT_MAX_SAMPLES", "AudioInfo", "decode", "info"]

#: Default safety limit on frames x channels (one hour of 16 kHz stereo).
DEFAULT_MAX_SAMPLES = 16000 * 3600 * 2
#: At most this many channels are accepted.
MAX_CHANNELS = 64
#: Accepted sample rates, Hz (telephony 8 kHz and below ... 768 kHz studio audio).
MIN_SAMPLE_RATE = 1000
MAX_SAMPLE_RATE = 768_000


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
    if not MIN_SAMPLE_RATE <= f.samplerate <= MAX_SAMPLE_RATE:
        # Absurd rates would make any later resampling to 16 kHz allocate gigabytes
        # (a huge up-sampling factor, or a filter bank with millions of taps).
        raise DecodeError(
            f"{name}: sample rate {f.samplerate} Hz outside [{MIN_SAMPLE_RATE}, "
            f"{MAX_SAMPLE_RATE}] (fastload.audio.codec.MIN_SAMPLE_RATE / MAX_SAMPLE_RATE)"
        )
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


_LOCAL = threading.local()


def _flac_scratch(channels):
    work = getattr(_LOCAL, "flac_work", None)
    if work is None:
        work = _LOCAL.flac_work = (np.empty((2, 65536), np.int64), np.empty(64, np.int64))
    return work[0][:channels], work[1]


def _metadata_ok(view, kind, start, length):
    """Metadata blocks the fast path accepts after STREAMINFO: padding, a seek table of
    whole points and a well-formed Vorbis comment (libFLAC rejects malformed ones, and
    such files must keep failing the same way); anything else goes to libsndfile."""
    end = start + length
    if end > len(view):
        return False
    if kind == 1:
        return True
    if kind == 3:
        return length % 18 == 0
    if kind != 4:
        return False
    p = start
    if p + 4 > end:
        return False
    p += 4 + int.from_bytes(view[p : p + 4], "little")
    if p + 4 > end:
        return False
    count = int.from_bytes(view[p : p + 4], "little")
    p += 4
    for _ in range(count):
        if p + 4 > end:
            return False
        p += 4 + int.from_bytes(view[p : p + 4], "little")
    return p == end


def _flac_fast(view, max_samples, mono, buffer):
    """Decode a plain FLAC stream with the numba kernel, or None to use libsndfile."""
    n = len(view)
    if n < 42 or view[:4] != b"fLaC":
        return None
    pos = 4
    info = None
    for _ in range(4096):  # metadata blocks: STREAMINFO must come first
        if pos + 4 > n:
            return None
        head = view[pos]
        length = int.from_bytes(view[pos + 1 : pos + 4], "big")
        if info is None:
            if head & 0x7F != 0 or length < 34 or pos + 4 + 34 > n:
                return None
            si = bytes(view[pos + 4 : pos + 4 + 34])
            max_block = int.from_bytes(si[2:4], "big")
            v = int.from_bytes(si[10:18], "big")
            info = (v >> 44, ((v >> 41) & 7) + 1, ((v >> 36) & 31) + 1, v & ((1 << 36) - 1))
        elif not _metadata_ok(view, head & 0x7F, pos + 4, length):
            return None
        pos += 4 + length
        if head & 0x80:
            break
    else:
        return None
    rate, channels, bps, total = info
    if (
        channels > 2
        or bps not in (16, 24)
        or total <= 0
        or total * channels > max_samples
        or not 16 <= max_block <= 65535
        or not MIN_SAMPLE_RATE <= rate <= MAX_SAMPLE_RATE
        or pos >= n
    ):
        return None
    size = total * channels
    if (
        buffer is not None
        and buffer.dtype == np.float32
        and buffer.ndim == 1
        and buffer.flags.c_contiguous
        and buffer.flags.writeable
        and buffer.shape[0] >= size
    ):
        out = buffer[:size]
    else:
        out = np.empty(size, dtype=np.float32)
    work, coefs = _flac_scratch(channels)
    got = flac_decode_kernel(
        np.frombuffer(view, dtype=np.uint8),
        pos,
        total,
        channels,
        bps,
        max_block,
        CRC8_TABLE,
        CRC16_TABLE,
        work,
        coefs,
        out,
    )
    if got != total or not (np.abs(out) <= 1.0).all():
        # samples outside the declared bit depth: a corrupt frame that libFLAC rejects
        # (found by tests/fuzz/fuzz_flac.py); let libsndfile decide
        return None
    if channels == 1:
        return out, rate
    out = out.reshape(total, channels)
    if mono:
        return out.mean(axis=1, dtype=np.float32), rate
    return out, rate


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
    fast = _flac_fast(view, max_samples, mono, buffer)
    if fast is not None:
        return fast
    with _open(view, name) as f:
        _check(f, name, max_samples)
        frames, channels, rate, subtype = f.frames, f.channels, f.samplerate, f.subtype
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
    if not subtype.startswith("PCM_") and not np.isfinite(out).all():
        # integer PCM (FLAC, most WAV) cannot hold NaN or infinity: skip the extra pass
        raise DecodeError(f"{name}: audio holds NaN or infinite samples")
    if channels == 1:
        return out.reshape(-1), rate
    if mono:
        if subtype.startswith("PCM_"):
            return out.mean(axis=1, dtype=np.float32), rate
        # float files may hold huge finite values whose float32 sum overflows to inf
        # (found by tests/fuzz/fuzz_audio.py): average those in float64
        return out.mean(axis=1, dtype=np.float64).astype(np.float32), rate
    return out, rate
