"""Audio decoding from in-memory bytes: FLAC natively, WAV / OGG / AIFF / ... through
libsndfile.

``decode`` reads any bytes-like object (``bytes``, ``memoryview``, a uint8 numpy array)
without copying the encoded buffer as a whole. The header is read first and the declared
length is checked against ``max_samples`` before any sample is decoded.

FLAC (a ``fLaC`` stream, one behind an ID3v2 tag, or a bare stream that starts at a frame
header) is decoded by fastload's own C frame decoder (csrc/audio/flac.c through
``_flac_cy.pyx``, GIL released; about 2x libsndfile through soundfile on 16 kHz speech
with the MD5 check off): every bit depth the format allows (4 to 32 bits, 33-bit side
channels), 1 to 8 channels, fixed and variable block sizes, every sample rate
(STREAMINFO's 1 Hz to 1,048,575 Hz and the rates coded in frame headers), a STREAMINFO
with the total length unknown (0). Every frame header's CRC-8 and every
frame's CRC-16 is checked, and by default the decoded samples are checked against the
stream's MD5 signature (``verify_md5=``), so a decode is bit-exact to libFLAC's or raises.
Streams that libFLAC's ``flac`` tool also refuses (a sample rate, channel count or bit
depth that changes mid-stream) and streams that break the format (STREAMINFO not first,
a block size of 65536, more frames than STREAMINFO declares, ...) raise a DecodeError
that says what was expected and what was found.

Output dtype: always float32, integer samples ``v`` scaled by ``1 / 2 ** (bits - 1)``
into [-1, 1) whatever the bit depth (a 12-bit sample is a multiple of 2**-11). That is
exact for 4 to 24 bits; 25- to 32-bit samples round to float32's 24-bit mantissa, as
libsndfile does for 32-bit WAV (the MD5 check runs on the integers, before the scaling).
"""

import hashlib
import io
import re
import threading

import numpy as np
import soundfile

from fastload.audio import _flac_cy as _fc
from fastload.errors import DecodeError, LimitError

__all__ = ["DEFAULT_MAX_SAMPLES", "AudioInfo", "decode", "info"]

#: Default safety limit on frames x channels (one hour of 16 kHz stereo).
DEFAULT_MAX_SAMPLES = 16000 * 3600 * 2
#: At most this many channels are accepted.
MAX_CHANNELS = 64
#: Accepted sample rates, Hz: every rate FLAC's STREAMINFO can state (20 bits). What a
#: pipeline can resample is narrower (``fastload.pipelines.rnnt`` checks its own range).
MIN_SAMPLE_RATE = 1
MAX_SAMPLE_RATE = (1 << 20) - 1


class _BufferReader(io.RawIOBase):
    """Seekable read-only raw file over a memoryview (no copy of the whole buffer)."""

    def __init__(self, view, name):
        super().__init__()
        self._view = view
        self._pos = 0
        self._name = name

    def __repr__(self):  # libsndfile error prefixes show it: name the sample, not an address
        return f"{self._name!r} ({len(self._view)} bytes in memory)"

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


def _sf_reason(e):
    """libsndfile's own words for an error, without soundfile's "Error opening <file>: "."""
    reason = getattr(e, "error_string", None) or str(e)
    return re.sub(r"^Error opening .*?: ", "", reason).strip() or type(e).__name__


def _start_words(view):
    head = bytes(view[:8])
    text = "".join(chr(c) if 32 <= c < 127 else "." for c in head)
    return f"{head.hex(' ')} ({text!r})"


def _open(view, name):
    try:
        return soundfile.SoundFile(_BufferReader(view, name), mode="r")
    except (RuntimeError, ValueError, TypeError, OSError, EOFError) as e:
        raise DecodeError(
            f"{name}: not a decodable audio file: expected FLAC, WAV, AIFF, OGG or another "
            f"format libsndfile reads, found {len(view)} bytes starting {_start_words(view)}"
            f" (libsndfile: {_sf_reason(e)})"
        ) from None


def _check(f, name, max_samples):
    if not MIN_SAMPLE_RATE <= f.samplerate <= MAX_SAMPLE_RATE:
        # Absurd rates would make any later resampling to 16 kHz allocate gigabytes
        # (a huge up-sampling factor, or a filter bank with millions of taps).
        raise DecodeError(
            f"{name}: header states a sample rate of {f.samplerate} Hz, expected "
            f"{MIN_SAMPLE_RATE} to {MAX_SAMPLE_RATE} Hz "
            f"(fastload.audio.codec.MIN_SAMPLE_RATE / MAX_SAMPLE_RATE)"
        )
    if not 1 <= f.channels <= MAX_CHANNELS:
        raise DecodeError(
            f"{name}: header states {f.channels} channels, expected 1 to {MAX_CHANNELS}"
        )
    if f.frames < 0:
        raise DecodeError(f"{name}: header states a negative length ({f.frames} frames)")
    if f.frames * f.channels > max_samples:
        raise LimitError(
            f"{name}: header declares {f.frames} frames x {f.channels} channels, above the "
            f"limit of {max_samples} samples (pass max_samples= to raise it)"
        )


_BLOCK_NAMES = {
    0: "STREAMINFO",
    1: "PADDING",
    2: "APPLICATION",
    3: "SEEKTABLE",
    4: "VORBIS_COMMENT",
    5: "CUESHEET",
    6: "PICTURE",
}


def _block_name(kind):
    if kind in _BLOCK_NAMES:
        return f"{_BLOCK_NAMES[kind]} (type {kind})"
    return f"type {kind} ({'invalid' if kind == 127 else 'reserved'})"


class _FlacStream:
    """Where a FLAC stream's frames start and what STREAMINFO says (zeros and no MD5 for
    a bare stream of frames, whose first frame header then sets the parameters)."""

    __slots__ = ("bps", "channels", "md5", "pos", "rate", "total")

    def __init__(self, pos, channels=0, bps=0, rate=0, total=0, md5=None):
        self.pos = pos
        self.channels = channels
        self.bps = bps
        self.rate = rate
        self.total = total
        self.md5 = md5


def _id3v2_end(view, pos):
    """Byte after the ID3v2 tag at ``pos`` (libFLAC skips such tags), or None."""
    if len(view) < pos + 10 or view[pos : pos + 3] != b"ID3":
        return None
    size = 0
    for byte in view[pos + 6 : pos + 10]:
        if byte & 0x80:
            return None
        size = (size << 7) | byte
    return pos + 10 + size + (10 if view[pos + 5] & 0x10 else 0)


def _flac_start(view):
    """Byte offset of the ``fLaC`` marker, -1 for a bare stream of frames (no metadata),
    or None when ``view`` is not FLAC."""
    pos = 0
    while True:  # ID3v2 tags before the marker
        end = _id3v2_end(view, pos)
        if end is None:
            break
        pos = end
    if view[pos : pos + 4] == b"fLaC":
        return pos
    if pos == 0 and len(view) >= 2 and view[0] == 0xFF and view[1] in (0xF8, 0xF9):
        return -1
    return None


def _flac_metadata(view, start, name):
    """Walk the metadata blocks after the ``fLaC`` marker at ``start``."""
    n = len(view)
    pos = start + 4
    index = 0
    stream = None
    while True:
        if pos + 4 > n:
            raise DecodeError(
                f"{name}: FLAC metadata block {index} at byte {pos} is cut off: expected a "
                f"4-byte block header, found {max(0, n - pos)} bytes (truncated file)"
            )
        head = view[pos]
        kind = head & 0x7F
        length = int.from_bytes(view[pos + 1 : pos + 4], "big")
        if index == 0 and kind != 0:
            raise DecodeError(
                f"{name}: the first FLAC metadata block is {_block_name(kind)}, expected "
                f"STREAMINFO (the format requires it first; a missing or misplaced "
                f"STREAMINFO, faulty file)"
            )
        if kind == 127:
            raise DecodeError(
                f"{name}: FLAC metadata block {index} at byte {pos} has the invalid type "
                f"127 (corrupt metadata)"
            )
        if pos + 4 + length > n:
            raise DecodeError(
                f"{name}: FLAC metadata block {index} at byte {pos}, {_block_name(kind)}, "
                f"states {length} bytes, but only {n - pos - 4} bytes follow (a wrong block "
                f"length or a truncated file)"
            )
        if kind == 0:
            if index != 0:
                raise DecodeError(
                    f"{name}: FLAC metadata block {index} is a second STREAMINFO, expected "
                    f"exactly one (faulty file)"
                )
            if length != 34:
                raise DecodeError(f"{name}: FLAC STREAMINFO is {length} bytes long, expected 34")
            si = bytes(view[pos + 4 : pos + 38])
            v = int.from_bytes(si[10:18], "big")
            rate = v >> 44
            channels = ((v >> 41) & 7) + 1
            bps = ((v >> 36) & 31) + 1
            total = v & ((1 << 36) - 1)
            md5 = si[18:34]
            if rate == 0:
                raise DecodeError(
                    f"{name}: FLAC STREAMINFO states a sample rate of 0 Hz, expected "
                    f"1 to {MAX_SAMPLE_RATE} Hz"
                )
            if bps < 4:
                raise DecodeError(
                    f"{name}: FLAC STREAMINFO states {bps} bits per sample, expected 4 to 32"
                )
            stream = _FlacStream(0, channels, bps, rate, total, md5 if any(md5) else None)
        pos += 4 + length
        index += 1
        if head & 0x80:
            break
    stream.pos = pos
    return stream


_HEADER_WORDS = {
    _fc.H_RESERVED_BIT: "a reserved bit is set (expected 0)",
    _fc.H_NUMBER: "the coded frame/sample number is not valid UTF-8-style coding",
    _fc.H_BLOCKSIZE_CODE: "block size code 0 is reserved",
    _fc.H_RATE_CODE: "sample rate code 15 is invalid",
    _fc.H_CHANNEL_CODE: "the channel assignment code is reserved (expected 0 to 10)",
    _fc.H_BPS_CODE: "bit depth code 3 is reserved",
    _fc.H_NO_RATE: ("the stream has no STREAMINFO and this header does not code its sample rate"),
    _fc.H_NO_BPS: "the stream has no STREAMINFO and this header does not code its bit depth",
}

_SUBFRAME_WORDS = {
    _fc.S_PAD_BIT: "its zero padding bit is 1",
    _fc.S_TYPE: "its subframe type code is reserved",
    _fc.S_WASTED: "it states more wasted bits than the bit depth",
    _fc.S_CODING: "its residual coding method is reserved",
    _fc.S_PARTITION: "its Rice partition order does not fit the block size and predictor",
    _fc.S_ORDER: "its predictor order is larger than the block size",
    _fc.S_PRECISION: "its LPC coefficient precision code 15 is invalid",
    _fc.S_SHIFT: "its LPC shift is negative",
    _fc.S_RICE: "a Rice code is absurdly long",
}


def _flac_error(name, code, res, n_bytes, stream):
    """A DecodeError in words for an error code of ``_flac_cy.flac_decode``."""
    pos, done, frame = int(res[_fc.R_POS]), int(res[_fc.R_DONE]), int(res[_fc.R_FRAME])
    detail = int(res[_fc.R_DETAIL])
    expected, found = int(res[_fc.R_EXPECTED]), int(res[_fc.R_FOUND])
    where = f"{name}: FLAC frame {frame} at byte {pos}"
    if code == _fc.E_TRUNCATED:
        want = f"{stream.total} samples per channel" if stream.total else "more frames"
        if pos >= n_bytes:
            return DecodeError(
                f"{name}: FLAC stream ends after frame {frame - 1} ({n_bytes} bytes): expected "
                f"{want}, decoded {done} (truncated file)"
            )
        return DecodeError(
            f"{where}: the data ends inside the frame ({n_bytes} bytes in all); expected "
            f"{want}, decoded {done} (truncated or corrupt file)"
        )
    if code == _fc.E_SYNC:
        return DecodeError(
            f"{where}: expected a frame sync code (0xFFF8 or 0xFFF9), found "
            f"0x{found:04X} (corrupt data, or junk after {done} samples per channel)"
        )
    if code == _fc.E_HEADER:
        return DecodeError(f"{where}: invalid frame header: {_HEADER_WORDS[detail]}")
    if code == _fc.E_HEADER_CRC:
        return DecodeError(
            f"{where}: frame header CRC-8 mismatch: stored 0x{expected:02X}, computed "
            f"0x{found:02X} (corrupt data)"
        )
    if code == _fc.E_BLOCKSIZE:
        return DecodeError(
            f"{where}: block size {found} samples, expected at most 65535 (the format's "
            f"maximum; libFLAC-only streams)"
        )
    if code == _fc.E_RATE:
        return DecodeError(
            f"{where}: frame header codes a sample rate of {found} Hz, expected "
            f"{expected} Hz as in STREAMINFO (a rate that changes mid-stream: fastload "
            f"returns one rate per file, and libFLAC's flac tool refuses such streams too)"
        )
    if code == _fc.E_BPS:
        return DecodeError(
            f"{where}: frame header codes {found} bits per sample, expected {expected} as "
            f"in STREAMINFO (a wrong STREAMINFO, or a bit depth that changes mid-stream; "
            f"libFLAC's flac tool refuses such streams too)"
        )
    if code == _fc.E_CHANNELS:
        return DecodeError(
            f"{where}: frame header codes {found} channels, expected {expected} as in "
            f"STREAMINFO (a wrong STREAMINFO, or a channel count that changes mid-stream; "
            f"libFLAC's flac tool refuses such streams too)"
        )
    if code == _fc.E_SUBFRAME:
        return DecodeError(
            f"{where}: subframe of channel {found} is corrupt: {_SUBFRAME_WORDS[detail]}"
        )
    if code == _fc.E_PADDING:
        return DecodeError(
            f"{where}: expected zero padding bits before the frame CRC-16, found non-zero "
            f"bits (corrupt data)"
        )
    if code == _fc.E_FRAME_CRC:
        return DecodeError(
            f"{where}: frame CRC-16 mismatch: stored 0x{expected:04X}, computed "
            f"0x{found:04X} (corrupt data)"
        )
    if code == _fc.E_RANGE:
        return DecodeError(
            f"{where}: decoded sample value {found} does not fit the stream's {expected}-bit "
            f"depth (corrupt frame)"
        )
    if code == _fc.E_EXTRA:
        return DecodeError(
            f"{where}: the frames hold more than the {expected} samples per channel that "
            f"STREAMINFO states (a wrong STREAMINFO total, faulty file)"
        )
    return DecodeError(f"{where}: undecodable frame (decoder code {code})")


_LOCAL = threading.local()


def _flac_scratch(channels):
    """Per-thread (channels, WORK_LEN) int64 subframe scratch."""
    work = getattr(_LOCAL, "flac_work", None)
    if work is None or work.shape[0] < channels:
        work = _LOCAL.flac_work = np.empty((max(channels, 2), _fc.WORK_LEN), np.int64)
    return work


def _usable(buffer, size):
    return (
        buffer is not None
        and isinstance(buffer, np.ndarray)
        and buffer.dtype == np.float32
        and buffer.ndim == 1
        and buffer.flags.c_contiguous
        and buffer.flags.writeable
        and buffer.shape[0] >= size
    )


def _flac_decode(view, start, name, max_samples, buffer, verify_md5):
    """Decode a FLAC stream: (samples, rate), samples float32 (frames * channels,)."""
    stream = _flac_metadata(view, start, name) if start >= 0 else _FlacStream(0)
    ch = stream.channels
    if stream.total and stream.total * ch > max_samples:
        raise LimitError(
            f"{name}: FLAC STREAMINFO states {stream.total} frames x {ch} channels, above the "
            f"limit of {max_samples} samples (pass max_samples= to raise it)"
        )
    si = np.array([ch, stream.bps, stream.rate, stream.total], np.int64)
    res = np.zeros(_fc.RES_SIZE, np.int64)
    res[_fc.R_POS] = stream.pos
    check = bool(verify_md5) and stream.md5 is not None
    width = (stream.bps + 7) // 8
    if stream.total:
        size = stream.total * ch
    else:  # length unknown: start from a guess (16-bit FLAC is about 1 byte per sample)
        size = min(max_samples, max(1 << 16, 2 * len(view)))  # and grow by doubling
    out = buffer[:size] if _usable(buffer, size) else np.empty(size, np.float32)
    md5 = np.empty(size * width if check else 0, np.uint8)
    work = _flac_scratch(ch or _fc.MAX_CHANNELS)
    while True:
        code = _fc.flac_decode(view, si, work, out, md5, res)
        if code == _fc.DONE:
            break
        if code < 0:
            raise _flac_error(name, code, res, len(view), stream)
        # out is full and the length is unknown: grow (bounded by max_samples)
        if size >= max_samples:
            raise LimitError(
                f"{name}: FLAC stream holds more than {max_samples} samples (its STREAMINFO "
                f"leaves the length unknown; pass max_samples= to raise the limit)"
            )
        used = int(res[_fc.R_DONE]) * int(si[0])
        size = min(max_samples, 2 * size)
        grown = np.empty(size, np.float32)
        grown[:used] = out[:used]
        out = grown
        if check:
            grown = np.empty(size * width, np.uint8)
            grown[: used * width] = md5[: used * width]
            md5 = grown
    ch, rate = int(si[0]), int(si[2])
    frames = int(res[_fc.R_DONE])
    if frames == 0:
        raise DecodeError(f"{name}: FLAC stream holds no audio frames (0 samples)")
    if check:
        got = hashlib.md5(md5[: frames * ch * width], usedforsecurity=False).digest()
        if got != stream.md5:
            raise DecodeError(
                f"{name}: decoded FLAC samples do not match the stream's MD5 signature: "
                f"STREAMINFO states {stream.md5.hex()}, the {frames} decoded samples per "
                f"channel give {got.hex()} (corrupt or altered file)"
            )
    return out[: frames * ch].reshape(frames, ch), rate


def _flac_info(view, start, name):
    stream = _flac_metadata(view, start, name) if start >= 0 else None
    if stream is None or stream.total == 0:
        # length not stated (or no STREAMINFO at all): count it by decoding
        x, rate = _flac_decode(view, start, name, DEFAULT_MAX_SAMPLES, None, False)
        frames, channels = x.shape
        bps = stream.bps if stream is not None else None
    else:
        frames, channels, rate, bps = stream.total, stream.channels, stream.rate, stream.bps
    if bps is None:
        subtype = "PCM"
    else:
        subtype = "PCM_S8" if bps == 8 else f"PCM_{bps}"
    return AudioInfo(frames, channels, rate, "FLAC", subtype)


def info(data, *, name="audio"):
    """Read the header only (a FLAC stream whose STREAMINFO leaves the length unknown is
    decoded to count it).

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
    start = _flac_start(view)
    if start is not None:
        return _flac_info(view, start, name)
    with _open(view, name) as f:
        return AudioInfo(f.frames, f.channels, f.samplerate, f.format, f.subtype)


def decode(
    data,
    *,
    name="audio",
    max_samples=DEFAULT_MAX_SAMPLES,
    mono=False,
    buffer=None,
    verify_md5=True,
):
    """Decode FLAC / WAV (int16, int24, int32, float) / OGG / ... from memory.

    Parameters
    ----------
    data : bytes-like (bytes, memoryview, ndarray uint8)
        The encoded file; never copied as a whole.
    name : str
        Names the sample in error messages (a file name or dataset index).
    max_samples : int
        Safety limit on frames x channels, checked against the header before decoding
        (and while decoding a FLAC stream whose length is not stated).
    mono : bool
        Downmix to mono by averaging the channels (DALI ``downmix=True``).
    buffer : ndarray, shape (k,), float32, C-contiguous, optional
        Scratch to decode into when ``k >= frames * channels``: the result is then a view
        of ``buffer`` (valid until the buffer is reused). Avoids a fresh allocation (and
        its page faults) per file in a loop.
    verify_md5 : bool
        FLAC only: check the decoded samples against the MD5 signature in STREAMINFO
        (skipped when the stream has none, all zeros), so a decode is bit-exact to
        libFLAC's or raises. It adds about a third to the decode time of a 16-bit stream
        (MD5 hashes about 0.6 GB/s of PCM); the frame CRCs are checked either way. Pass
        False on a hot path over data verified once: fastload's builders decode every file
        with the default, and the rnnt pipelines pass False.

    Returns
    -------
    samples : ndarray, shape (n,) or (n, channels), float32
        Full-scale samples in [-1, 1] (integer PCM is scaled by 1 / 2**(bits-1) for every
        bit depth, 4 to 32; see the module docstring). Mono files (or ``mono=True``) give
        shape (n,).
    sample_rate : int
        Hz.

    Raises
    ------
    fastload.errors.DecodeError
        Empty, truncated, corrupt or unsupported input, or a FLAC MD5 mismatch (the
        message names ``name``, what was expected and what was found).
    fastload.errors.LimitError
        The header declares more than ``max_samples`` samples.
    """
    view = _as_view(data, name)
    start = _flac_start(view)
    if start is not None:
        out, rate = _flac_decode(view, start, name, max_samples, buffer, verify_md5)
        if out.shape[1] == 1:
            return out.reshape(-1), rate
        if mono:
            return out.mean(axis=1, dtype=np.float32), rate
        return out, rate
    with _open(view, name) as f:
        _check(f, name, max_samples)
        frames, channels, rate, subtype = f.frames, f.channels, f.samplerate, f.subtype
        try:
            if _usable(buffer, frames * channels):
                out = f.read(
                    frames,
                    dtype="float32",
                    always_2d=True,
                    out=buffer[: frames * channels].reshape(frames, channels),
                )
            else:
                out = f.read(frames, dtype="float32", always_2d=True)
        except (RuntimeError, ValueError, TypeError, OSError, EOFError) as e:
            raise DecodeError(
                f"{name}: corrupt {f.format} audio data after a valid header "
                f"(libsndfile: {_sf_reason(e)})"
            ) from None
    if out.shape[0] != frames:
        raise DecodeError(
            f"{name}: truncated or corrupt {f.format} audio: header states {frames} frames, "
            f"decoded {out.shape[0]}"
        )
    if frames == 0:
        raise DecodeError(f"{name}: {f.format} audio file holds no samples (0 frames)")
    if not subtype.startswith("PCM_") and not np.isfinite(out).all():
        # integer PCM (most WAV) cannot hold NaN or infinity: skip the extra pass
        raise DecodeError(
            f"{name}: {f.format} audio holds NaN or infinite samples, expected finite values"
        )
    if channels == 1:
        return out.reshape(-1), rate
    if mono:
        if subtype.startswith("PCM_"):
            return out.mean(axis=1, dtype=np.float32), rate
        # float files may hold huge finite values whose float32 sum overflows to inf
        # (found by tests/fuzz/fuzz_audio.py): average those in float64
        return out.mean(axis=1, dtype=np.float64).astype(np.float32), rate
    return out, rate
