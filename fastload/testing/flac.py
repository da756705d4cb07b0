"""A small, slow FLAC writer for tests: makes streams that common encoders do not (4- to
32-bit samples, 33-bit side channels, unknown length, odd sample rates, variable block
sizes, bare frames without metadata, a wrong MD5, faulty headers).

It writes CONSTANT, VERBATIM and FIXED (order 0 to 4) subframes with one Rice partition
(RFC 9639), every frame with its CRC-8 and CRC-16. The samples given are the reference:
a decoder must return exactly them (scaled by ``1 / 2 ** (bps - 1)`` for
``fastload.audio.decode``)::

    from fastload.testing.flac import encode_flac
    blob = encode_flac(ints, rate=44100, bps=12)      # ints: (n,) or (n, channels)
"""

import hashlib

import numpy as np

__all__ = ["encode_flac", "md5_of"]

_RATE_CODES = {
    88200: 1,
    176400: 2,
    192000: 3,
    8000: 4,
    16000: 5,
    22050: 6,
    24000: 7,
    32000: 8,
    44100: 9,
    48000: 10,
    96000: 11,
}
_BPS_CODES = {8: 1, 12: 2, 16: 4, 20: 5, 24: 6, 32: 7}
_STEREO = {"independent": None, "left_side": 8, "side_right": 9, "mid_side": 10}


def _crc(data, poly, width):
    top, mask, c = 1 << (width - 1), (1 << width) - 1, 0
    for b in data:
        c ^= b << (width - 8)
        for _ in range(8):
            c = ((c << 1) ^ poly) & mask if c & top else (c << 1) & mask
    return c


class _Bits:
    """MSB-first bit writer: whole bytes go to ``out``, fewer than 8 bits wait in ``acc``."""

    def __init__(self):
        self.out = bytearray()
        self.acc = 0
        self.nacc = 0
        self.n = 0

    def put(self, v, k):
        if not k:
            return
        self.acc = (self.acc << k) | (int(v) & ((1 << k) - 1))
        self.nacc += k
        self.n += k
        if self.nacc >= 8:
            whole = self.nacc // 8 * 8
            self.out += (self.acc >> (self.nacc - whole)).to_bytes(whole // 8, "big")
            self.nacc -= whole
            self.acc &= (1 << self.nacc) - 1

    def unary(self, q):  # q zeros then a one
        self.put(1, q + 1)

    def align(self):
        self.put(0, -self.n % 8)

    def tobytes(self):
        assert self.nacc == 0
        return bytes(self.out)


def _utf8(v):
    """FLAC's UTF-8-like coding of a frame or sample number (up to 36 bits)."""
    if v < 0x80:
        return bytes([v])
    for extra, lead, cap in (
        (1, 0xC0, 11),
        (2, 0xE0, 16),
        (3, 0xF0, 21),
        (4, 0xF8, 26),
        (5, 0xFC, 31),
        (6, 0xFE, 36),
    ):
        if v < (1 << cap):
            out = [0x80 | ((v >> (6 * i)) & 0x3F) for i in range(extra)][::-1]
            return bytes([lead | (v >> (6 * extra))] + out)
    raise ValueError(v)


def _residual(bits, res):
    """One Rice partition (order 0), the parameter from the mean magnitude."""
    u = [(2 * r) if r >= 0 else (-2 * r - 1) for r in res]
    mean = (sum(u) / len(u)) if u else 0
    k = max(0, int(mean).bit_length() - 1)
    if k > 14:
        bits.put(1, 2)  # RICE2: 5-bit parameters
        bits.put(0, 4)
        bits.put(min(k, 30), 5)
        k = min(k, 30)
    else:
        bits.put(0, 2)
        bits.put(0, 4)
        bits.put(k, 4)
    for x in u:
        bits.unary(x >> k)
        bits.put(x & ((1 << k) - 1), k)


def _subframe(bits, x, bps, kind):
    x = [int(v) for v in x]
    bits.put(0, 1)
    if kind == "constant" or (kind == "auto" and all(v == x[0] for v in x)):
        bits.put(0, 6)
        bits.put(0, 1)
        bits.put(x[0], bps)
        return
    if kind == "verbatim":
        bits.put(1, 6)
        bits.put(0, 1)
        for v in x:
            bits.put(v, bps)
        return
    order = min(2 if kind == "auto" else int(kind[-1]), len(x))
    bits.put(8 + order, 6)
    bits.put(0, 1)
    for v in x[:order]:
        bits.put(v, bps)
    # the residual of FIXED order k is the k-th difference for i >= k
    d = np.array(x, dtype=object)
    for _ in range(order):
        d = d[1:] - d[:-1]
    _residual(bits, list(d))


def md5_of(samples, bps):
    """The MD5 that STREAMINFO holds: interleaved little-endian ``ceil(bps / 8)``-byte
    signed samples."""
    width = (bps + 7) // 8
    x = np.asarray(samples, np.int64).reshape(-1)
    raw = (x[:, None] >> (8 * np.arange(width))) & 0xFF
    return hashlib.md5(raw.astype(np.uint8).tobytes()).digest()


def encode_flac(
    samples,
    rate,
    bps,
    *,
    block_size=4096,
    variable=False,
    subframe="auto",
    stereo="independent",
    total_samples=None,
    md5="correct",
    streaminfo=True,
    streaminfo_rate=None,
    streaminfo_bps=None,
    streaminfo_channels=None,
    header_rate=True,
    header_bps=True,
    metadata=(),
    first_block=None,
):
    """Encode integer ``samples`` ((n,) or (n, channels), each in the ``bps``-bit range).

    block_size : int or list of int
        Samples per frame; a list gives each frame's size in turn (the last one repeats).
    variable : bool
        Variable-blocksize stream (frame headers code sample numbers).
    subframe : "auto", "constant", "verbatim" or "fixed0".."fixed4"
    stereo : "independent", "left_side", "side_right" or "mid_side" (2 channels)
    total_samples : int, optional
        STREAMINFO's total (default: the real length; 0 means unknown).
    md5 : "correct", "wrong" or "none" (all zeros: no signature)
    streaminfo : bool
        False writes bare frames, no ``fLaC`` marker or metadata.
    streaminfo_rate, streaminfo_bps, streaminfo_channels : int, optional
        Override STREAMINFO's fields (to make faulty streams).
    header_rate, header_bps : bool
        Code the rate / bit depth in frame headers where a code exists (False: "see
        STREAMINFO").
    metadata : sequence of (type, bytes)
        Extra metadata blocks after STREAMINFO.
    first_block : (type, bytes), optional
        A block written before STREAMINFO (a faulty stream).
    """
    x = np.asarray(samples, np.int64)
    if x.ndim == 1:
        x = x[:, None]
    n, channels = x.shape
    lo, hi = -(1 << (bps - 1)), (1 << (bps - 1)) - 1
    assert x.size == 0 or (x.min() >= lo and x.max() <= hi), "samples outside the bit depth"
    sizes = [block_size] if isinstance(block_size, int) else list(block_size)
    frames = []
    start = 0
    index = 0
    while start < n:
        bs = min(sizes[min(index, len(sizes) - 1)], n - start)
        frames.append(
            _frame(
                x[start : start + bs],
                rate,
                bps,
                index,
                start,
                variable,
                subframe,
                stereo,
                header_rate,
                header_bps,
            )
        )
        start += bs
        index += 1
    body = b"".join(frames)
    if not streaminfo:
        return body
    total = n if total_samples is None else total_samples
    digest = {"correct": md5_of(x, bps), "none": bytes(16)}.get(md5)
    if digest is None:
        digest = bytes(b ^ 0xFF for b in md5_of(x, bps))
    si_rate = rate if streaminfo_rate is None else streaminfo_rate
    si_bps = bps if streaminfo_bps is None else streaminfo_bps
    si_ch = channels if streaminfo_channels is None else streaminfo_channels
    block_min = min(sizes) if len(sizes) > 1 else sizes[0]
    v = (si_rate << 44) | ((si_ch - 1) << 41) | ((si_bps - 1) << 36) | total
    info = (
        min(block_min, 65535).to_bytes(2, "big")
        + min(max(sizes), 65535).to_bytes(2, "big")
        + bytes(6)
        + v.to_bytes(8, "big")
        + digest
    )
    blocks = ([first_block] if first_block else []) + [(0, info)] + list(metadata)
    out = [b"fLaC"]
    for i, (kind, payload) in enumerate(blocks):
        last = 0x80 if i == len(blocks) - 1 else 0
        out.append(bytes([last | kind]) + len(payload).to_bytes(3, "big") + payload)
    return b"".join(out) + body


def _frame(x, rate, bps, index, start, variable, subframe, stereo, header_rate, header_bps):
    bs, channels = x.shape
    h = _Bits()
    h.put(0x7FFC, 15)
    h.put(1 if variable else 0, 1)
    if bs == 192:
        bs_code, extra = 1, None
    elif bs in (576, 1152, 2304, 4608):
        bs_code, extra = {576: 2, 1152: 3, 2304: 4, 4608: 5}[bs], None
    elif bs in (256 << k for k in range(8)):
        bs_code, extra = 8 + (bs // 256).bit_length() - 1, None
    elif bs <= 256:
        bs_code, extra = 6, (bs - 1, 8)
    else:
        bs_code, extra = 7, (bs - 1, 16)
    rate_extra = None
    if not header_rate:
        rate_code = 0
    elif rate in _RATE_CODES:
        rate_code = _RATE_CODES[rate]
    elif rate % 1000 == 0 and rate // 1000 <= 255:
        rate_code, rate_extra = 12, (rate // 1000, 8)
    elif rate <= 65535:
        rate_code, rate_extra = 13, (rate, 16)
    elif rate % 10 == 0 and rate // 10 <= 65535:
        rate_code, rate_extra = 14, (rate // 10, 16)
    else:
        rate_code = 0
    mode = _STEREO[stereo] if channels == 2 else None
    h.put(bs_code, 4)
    h.put(rate_code, 4)
    h.put(channels - 1 if mode is None else mode, 4)
    h.put(_BPS_CODES.get(bps, 0) if header_bps else 0, 3)
    h.put(0, 1)
    for b in _utf8(start if variable else index):
        h.put(b, 8)
    if extra:
        h.put(*extra)
    if rate_extra:
        h.put(*rate_extra)
    head = h.tobytes()
    body = _Bits()
    if mode is None:
        subs = [(x[:, c], bps) for c in range(channels)]
    else:
        left, right = x[:, 0], x[:, 1]
        side = left - right
        subs = {
            8: [(left, bps), (side, bps + 1)],
            9: [(side, bps + 1), (right, bps)],
            10: [((left + right) >> 1, bps), (side, bps + 1)],
        }[mode]
    for s, b in subs:
        _subframe(body, s, b, subframe)
    body.align()
    frame = head + bytes([_crc(head, 0x07, 8)]) + body.tobytes()
    return frame + _crc(frame, 0x8005, 16).to_bytes(2, "big")
