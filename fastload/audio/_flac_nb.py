"""Numba FLAC frame decoder: ``codec.decode`` decodes every FLAC stream with it.

``flac_decode_kernel`` decodes the frames of a FLAC stream (metadata already parsed by
``codec.py``) into float32 samples scaled as libsndfile scales them
(``v / 2 ** (bps - 1)``), and optionally into the byte layout libFLAC's MD5 signature
covers. It handles 4- to 32-bit samples (33-bit side channels; all arithmetic is int64),
1 to 8 channels, fixed and variable block sizes up to 65535 and streams without
STREAMINFO (the first frame header sets the parameters). It verifies each frame
header's CRC-8 and each frame's CRC-16, checks every header field against STREAMINFO
and every sample against the bit depth, and on any error returns a negative ``E_*``
code with the frame, byte offset and the expected and found values in ``res`` (codec.py
words them). It is resumable: when ``out`` is full (a stream of unknown length) it
returns 1 and continues from ``res`` with larger arrays.

Format reference: the FLAC format specification (RFC 9639): frame header, CONSTANT /
VERBATIM / FIXED / LPC subframes, Rice-coded residual with partitions and escapes,
wasted bits, stereo decorrelation (left/side, side/right, mid/side).

The bit reader keeps up to 64 bits MSB-aligned in ``acc`` (bits past the ``nb`` valid
ones are zero) and is passed around as ``(bp, acc, nb)``: next byte, buffer, bit count.
A read past the end returns ``nb = -1``.
"""

import numpy as np
from llvmlite import ir
from numba import types
from numba.extending import intrinsic

from fastload._jit import kernel

__all__ = ["CRC8_TABLE", "CRC16_TABLE", "flac_decode_kernel"]


def _crc_table(poly, width):
    top = 1 << (width - 1)
    mask = (1 << width) - 1
    table = np.zeros(256, dtype=np.uint16)
    for b in range(256):
        c = b << (width - 8)
        for _ in range(8):
            c = ((c << 1) ^ poly) & mask if c & top else (c << 1) & mask
        table[b] = c
    return table


def _crc16_slices(table):
    """Tables for CRC-16 four bytes at a time: ``t[k][x]`` is the CRC of byte x followed
    by ``k`` zero bytes (the CRC is linear, so the four lookups combine by xor)."""
    t = np.zeros((4, 256), dtype=np.uint16)
    t[0] = table
    for k in range(1, 4):
        prev = t[k - 1].astype(np.int64)
        t[k] = ((prev << 8) & 0xFFFF) ^ table[prev >> 8]
    return t


#: CRC-8 (poly 0x07) of frame headers and CRC-16 (poly 0x8005) of frames, MSB first;
#: CRC16_TABLE is (4, 256), see :func:`_crc16_slices`.
CRC8_TABLE = _crc_table(0x07, 8)
CRC16_TABLE = _crc16_slices(_crc_table(0x8005, 16))


# Error codes of flac_decode_kernel (res[0]); codec.py turns each into a message.
E_TRUNCATED = -1  # the data ends inside a frame
E_SYNC = -2  # no frame sync code where a frame must start (found: the 16 bits there)
E_HEADER = -3  # a reserved or invalid frame header field (detail: which, see codec.py)
E_HEADER_CRC = -4  # frame header CRC-8 (expected: stored, found: computed)
E_BLOCKSIZE = -5  # block size 65536 (the format's maximum is 65535)
E_RATE = -6  # frame sample rate differs from STREAMINFO (expected, found)
E_BPS = -7  # frame bits per sample differ from STREAMINFO (expected, found)
E_CHANNELS = -8  # frame channel count differs from STREAMINFO (expected, found)
E_SUBFRAME = -9  # a corrupt subframe (detail: which field, channel in found)
E_PADDING = -10  # non-zero bits between the last subframe and the frame CRC-16
E_FRAME_CRC = -11  # frame CRC-16 (expected: stored, found: computed)
E_RANGE = -12  # a decoded sample outside the bit depth (found: the value)
E_EXTRA = -13  # more samples than STREAMINFO's total (expected: total)

#: res[] slots: status, byte position, samples per channel done, frame index, detail,
#: expected, found.
R_STATUS, R_POS, R_DONE, R_FRAME, R_DETAIL, R_EXPECTED, R_FOUND = 0, 1, 2, 3, 4, 5, 6
RES_SIZE = 7

# Subframe details (res[R_DETAIL] with E_SUBFRAME).
S_PAD_BIT = 1
S_TYPE = 2
S_WASTED = 3
S_CODING = 4
S_PARTITION = 5
S_ORDER = 6
S_PRECISION = 7
S_SHIFT = 8
S_RICE = 9


#: Frame-header sample rates by code (0: from STREAMINFO; 12-14: coded after the header).
_RATES = (0, 88200, 176400, 192000, 8000, 16000, 22050, 24000, 32000, 44100, 48000, 96000)
#: Frame-header bits per sample by code (0: from STREAMINFO; 3: reserved).
_BPS = (0, 8, 12, -1, 16, 20, 24, 32)

# Header details (res[R_DETAIL] with E_HEADER).
H_RESERVED_BIT = 1
H_NUMBER = 2
H_BLOCKSIZE_CODE = 3
H_RATE_CODE = 4
H_CHANNEL_CODE = 5
H_BPS_CODE = 6
H_NO_RATE = 7
H_NO_BPS = 8


@intrinsic
def _clz(typingctx, x):
    """Leading zero bits of a non-zero uint64 (llvm.ctlz)."""
    sig = types.int64(types.uint64)

    def codegen(context, builder, signature, args):
        return builder.ctlz(args[0], ir.Constant(ir.IntType(1), 1))

    return sig, codegen


_U1 = np.uint64(1)


@kernel
def _fill(buf, bp, acc, nb):
    n = buf.shape[0]
    if nb < 0:
        return bp, acc, nb
    if nb <= 56 and bp + 8 <= n:
        w = np.uint64(0)
        for t in range(8):
            w = (w << np.uint64(8)) | np.uint64(buf[bp + t])
        take = (63 - nb) >> 3
        nb2 = nb + 8 * take  # 56..63: keep the bits past it zero
        acc |= (w >> np.uint64(nb)) & ~((np.uint64(1) << np.uint64(64 - nb2)) - _U1)
        return bp + take, acc, nb2
    while nb <= 56 and bp < n:
        acc |= np.uint64(buf[bp]) << np.uint64(56 - nb)
        nb += 8
        bp += 1
    return bp, acc, nb


@kernel
def _get(buf, bp, acc, nb, k):
    """Read k (0..32) bits, unsigned."""
    if k == 0:
        return bp, acc, nb, np.int64(0)
    if nb < k:
        bp, acc, nb = _fill(buf, bp, acc, nb)
        if nb < k:
            return bp, acc, -1, np.int64(0)
    v = np.int64(acc >> np.uint64(64 - k))
    acc = acc << np.uint64(k)
    return bp, acc, nb - k, v


@kernel
def _get_signed(buf, bp, acc, nb, k):
    bp, acc, nb, v = _get(buf, bp, acc, nb, k)
    if k > 0 and v >= (np.int64(1) << (k - 1)):
        v -= np.int64(1) << k
    return bp, acc, nb, v


@kernel
def _unary(buf, bp, acc, nb):
    """Count zero bits up to and including the next one bit (returns the zero count)."""
    q = np.int64(0)
    while True:
        if nb < 0:
            return bp, acc, -1, q
        if nb == 0:
            bp, acc, nb = _fill(buf, bp, acc, nb)
            if nb == 0:
                return bp, acc, -1, q
        if acc == 0:
            q += nb
            nb = 0
            continue
        z = 0
        while (acc >> np.uint64(63)) == 0:
            acc = acc << _U1
            z += 1
        acc = acc << _U1
        return bp, acc, nb - z - 1, q + z


@kernel
def _bitpos(bp, nb):
    """Absolute bit position of the reader."""
    return bp * 8 - nb


@kernel
def _seek(buf, bitpos):
    """A reader positioned at absolute bit ``bitpos``."""
    bp = bitpos >> 3
    acc = np.uint64(0)
    nb = 0
    bp, acc, nb = _fill(buf, bp, acc, nb)
    skip = bitpos & 7
    if nb < skip:
        return bp, acc, -1
    acc = acc << np.uint64(skip)
    return bp, acc, nb - skip


@kernel
def _residual(buf, bp, acc, nb, blocksize, order, dst, res):
    """Rice-coded residual of one subframe into dst[order:blocksize]."""
    bp, acc, nb, method = _get(buf, bp, acc, nb, 2)
    if nb < 0:
        return bp, acc, -1
    if method > 1:
        res[R_DETAIL] = S_CODING
        return bp, acc, -1
    pbits = 4 if method == 0 else 5
    escape = 15 if method == 0 else 31
    bp, acc, nb, porder = _get(buf, bp, acc, nb, 4)
    if nb < 0:
        return bp, acc, -1
    nparts = 1 << porder
    psize = blocksize >> porder
    if blocksize % nparts != 0 or psize < order:
        res[R_DETAIL] = S_PARTITION
        return bp, acc, -1
    i = order
    for part in range(nparts):
        end = (part + 1) * psize
        bp, acc, nb, k = _get(buf, bp, acc, nb, pbits)
        if nb < 0:
            return bp, acc, -1
        if k == escape:
            bp, acc, nb, raw = _get(buf, bp, acc, nb, 5)
            if nb < 0:
                return bp, acc, -1
            while i < end:
                bp, acc, nb, v = _get_signed(buf, bp, acc, nb, raw)
                if nb < 0:
                    return bp, acc, -1
                dst[i] = v
                i += 1
        else:
            while i < end:
                if nb < 32:
                    bp, acc, nb = _fill(buf, bp, acc, nb)
                if acc != 0:
                    z = _clz(acc)
                    if z + 1 + k <= nb:  # whole codeword in the buffer
                        acc = (acc << np.uint64(z)) << _U1
                        if k:
                            low = np.int64(acc >> np.uint64(64 - k))
                            acc = acc << np.uint64(k)
                        else:
                            low = np.int64(0)
                        nb -= z + 1 + k
                        u = (np.int64(z) << k) | low
                        dst[i] = (u >> 1) ^ -(u & 1)
                        i += 1
                        continue
                bp, acc, nb, q = _unary(buf, bp, acc, nb)
                if nb < 0:
                    return bp, acc, -1
                if q > (np.int64(1) << 31):
                    res[R_DETAIL] = S_RICE
                    return bp, acc, -1
                bp, acc, nb, low = _get(buf, bp, acc, nb, k)
                if nb < 0:
                    return bp, acc, -1
                u = (q << k) | low
                dst[i] = (u >> 1) ^ -(u & 1)
                i += 1
    return bp, acc, nb


@kernel
def _lpc_generic(dst, coefs, order, start, blocksize, shift):
    for i in range(start, blocksize):
        s = np.int64(0)
        base = i - order
        for j in range(order):
            s += coefs[j] * dst[base + j]
        dst[i] += s >> shift


# Fixed tap counts (8, 16, 32; coefficients zero-padded at the front) let LLVM unroll
# the dot product; only the newest sample is on the loop-carried critical path.
@kernel
def _lpc8(dst, c, blocksize, shift):
    for i in range(8, blocksize):
        s = np.int64(0)
        for j in range(8):
            s += c[j] * dst[i - 8 + j]
        dst[i] += s >> shift


@kernel
def _lpc16(dst, c, blocksize, shift):
    for i in range(16, blocksize):
        s = np.int64(0)
        for j in range(16):
            s += c[j] * dst[i - 16 + j]
        dst[i] += s >> shift


@kernel
def _lpc32(dst, c, blocksize, shift):
    for i in range(32, blocksize):
        s = np.int64(0)
        for j in range(32):
            s += c[j] * dst[i - 32 + j]
        dst[i] += s >> shift


@kernel
def _lpc(dst, coefs, order, blocksize, shift):
    """``dst[i] += (sum_j coefs[j] * dst[i - order + j]) >> shift`` for i >= order
    (coefs reversed: coefs[order - 1] multiplies dst[i - 1]); coefs has 32 slots."""
    width = 8 if order <= 8 else (16 if order <= 16 else 32)
    if blocksize <= width:
        _lpc_generic(dst, coefs, order, order, blocksize, shift)
        return
    _lpc_generic(dst, coefs, order, order, width, shift)
    pad = coefs[32:]  # scratch half: the zero-padded copy
    for j in range(width - order):
        pad[j] = 0
    for j in range(order):
        pad[width - order + j] = coefs[j]
    if width == 8:
        _lpc8(dst, pad, blocksize, shift)
    elif width == 16:
        _lpc16(dst, pad, blocksize, shift)
    else:
        _lpc32(dst, pad, blocksize, shift)


@kernel
def _subframe(buf, bp, acc, nb, blocksize, bps, dst, coefs, res):
    """One subframe into dst[:blocksize] (int64); returns the reader, nb = -1 on error
    (with res[R_DETAIL] set to the S_* reason, or 0 when the data ended)."""
    bp, acc, nb, pad = _get(buf, bp, acc, nb, 1)
    if nb < 0:
        return bp, acc, -1
    if pad != 0:
        res[R_DETAIL] = S_PAD_BIT
        return bp, acc, -1
    bp, acc, nb, kind = _get(buf, bp, acc, nb, 6)
    if nb < 0:
        return bp, acc, -1
    bp, acc, nb, has_wasted = _get(buf, bp, acc, nb, 1)
    if nb < 0:
        return bp, acc, -1
    wasted = 0
    if has_wasted:
        bp, acc, nb, z = _unary(buf, bp, acc, nb)
        if nb < 0:
            return bp, acc, -1
        wasted = z + 1
        if wasted >= bps:
            res[R_DETAIL] = S_WASTED
            return bp, acc, -1
    bps -= wasted
    if kind == 0:  # CONSTANT
        bp, acc, nb, v = _get_signed(buf, bp, acc, nb, bps)
        if nb < 0:
            return bp, acc, -1
        for i in range(blocksize):
            dst[i] = v
    elif kind == 1:  # VERBATIM
        for i in range(blocksize):
            bp, acc, nb, v = _get_signed(buf, bp, acc, nb, bps)
            if nb < 0:
                return bp, acc, -1
            dst[i] = v
    elif 8 <= kind <= 12:  # FIXED, order 0..4
        order = kind - 8
        if order > blocksize:
            res[R_DETAIL] = S_ORDER
            return bp, acc, -1
        for i in range(order):
            bp, acc, nb, v = _get_signed(buf, bp, acc, nb, bps)
            if nb < 0:
                return bp, acc, -1
            dst[i] = v
        bp, acc, nb = _residual(buf, bp, acc, nb, blocksize, order, dst, res)
        if nb < 0:
            return bp, acc, -1
        if order == 1:
            for i in range(1, blocksize):
                dst[i] += dst[i - 1]
        elif order == 2:
            for i in range(2, blocksize):
                dst[i] += 2 * dst[i - 1] - dst[i - 2]
        elif order == 3:
            for i in range(3, blocksize):
                dst[i] += 3 * dst[i - 1] - 3 * dst[i - 2] + dst[i - 3]
        elif order == 4:
            for i in range(4, blocksize):
                dst[i] += 4 * dst[i - 1] - 6 * dst[i - 2] + 4 * dst[i - 3] - dst[i - 4]
    elif kind >= 32:  # LPC, order 1..32
        order = kind - 31
        if order > blocksize:
            res[R_DETAIL] = S_ORDER
            return bp, acc, -1
        for i in range(order):
            bp, acc, nb, v = _get_signed(buf, bp, acc, nb, bps)
            if nb < 0:
                return bp, acc, -1
            dst[i] = v
        bp, acc, nb, prec = _get(buf, bp, acc, nb, 4)
        if nb < 0:
            return bp, acc, -1
        if prec == 15:
            res[R_DETAIL] = S_PRECISION
            return bp, acc, -1
        prec += 1
        bp, acc, nb, shift = _get_signed(buf, bp, acc, nb, 5)
        if nb < 0:
            return bp, acc, -1
        if shift < 0:
            res[R_DETAIL] = S_SHIFT
            return bp, acc, -1
        for j in range(order):
            bp, acc, nb, c = _get_signed(buf, bp, acc, nb, prec)
            if nb < 0:
                return bp, acc, -1
            coefs[order - 1 - j] = c  # reversed: coefs[j] multiplies dst[i - order + j]
        bp, acc, nb = _residual(buf, bp, acc, nb, blocksize, order, dst, res)
        if nb < 0:
            return bp, acc, -1
        _lpc(dst, coefs, order, blocksize, shift)
    else:
        res[R_DETAIL] = S_TYPE
        return bp, acc, -1
    if wasted:
        for i in range(blocksize):
            dst[i] = dst[i] << wasted
    return bp, acc, nb


@kernel
def _utf8_skip(buf, bp, acc, nb):
    """Skip the UTF-8-like coded frame / sample number (1-7 bytes); nb = -2 if invalid."""
    bp, acc, nb, b0 = _get(buf, bp, acc, nb, 8)
    if nb < 0:
        return bp, acc, -1
    if b0 < 0x80:
        extra = 0
    elif 0xC0 <= b0 < 0xE0:
        extra = 1
    elif 0xE0 <= b0 < 0xF0:
        extra = 2
    elif 0xF0 <= b0 < 0xF8:
        extra = 3
    elif 0xF8 <= b0 < 0xFC:
        extra = 4
    elif 0xFC <= b0 < 0xFE:
        extra = 5
    elif b0 == 0xFE:
        extra = 6
    else:
        return bp, acc, -2
    for _ in range(extra):
        bp, acc, nb, b = _get(buf, bp, acc, nb, 8)
        if nb < 0:
            return bp, acc, -1
        if (b & 0xC0) != 0x80:
            return bp, acc, -2
    return bp, acc, nb


@kernel
def _crc(table, width, buf, start, stop):
    c = np.int64(0)
    mask = (np.int64(1) << width) - 1
    for i in range(start, stop):
        c = ((c << 8) & mask) ^ np.int64(table[(c >> (width - 8)) ^ buf[i]])
    return c


@kernel
def _crc16(t, buf, start, stop):
    c = np.int64(0)
    i = start
    while i + 4 <= stop:
        c = (
            np.int64(t[3, (c >> 8) ^ buf[i]])
            ^ np.int64(t[2, (c & 0xFF) ^ buf[i + 1]])
            ^ np.int64(t[1, buf[i + 2]])
            ^ np.int64(t[0, buf[i + 3]])
        )
        i += 4
    while i < stop:
        c = ((c << 8) & 0xFFFF) ^ np.int64(t[0, (c >> 8) ^ buf[i]])
        i += 1
    return c


@kernel
def _frame_header(buf, pos, crc8, si, res):
    """Parse and check the frame header at byte ``pos`` against ``si`` (channels, bits,
    rate; a zero entry is taken from this header and stored). Returns
    ``(status, bp, acc, nb, blocksize, ch_code, bps)`` with the reader after the header."""
    bp, acc, nb = _seek(buf, pos * 8)
    bp, acc, nb, sync = _get(buf, bp, acc, nb, 15)
    if nb < 0:
        return E_TRUNCATED, bp, acc, nb, 0, 0, 0
    if sync != 0x7FFC:  # 14-bit sync + reserved 0
        res[R_FOUND] = sync << 1
        return E_SYNC, bp, acc, nb, 0, 0, 0
    bp, acc, nb, _strategy = _get(buf, bp, acc, nb, 1)
    bp, acc, nb, bs_code = _get(buf, bp, acc, nb, 4)
    bp, acc, nb, sr_code = _get(buf, bp, acc, nb, 4)
    bp, acc, nb, ch_code = _get(buf, bp, acc, nb, 4)
    bp, acc, nb, ss_code = _get(buf, bp, acc, nb, 3)
    bp, acc, nb, reserved = _get(buf, bp, acc, nb, 1)
    if nb < 0:
        return E_TRUNCATED, bp, acc, nb, 0, 0, 0
    if reserved != 0:
        res[R_DETAIL] = H_RESERVED_BIT
        return E_HEADER, bp, acc, nb, 0, 0, 0
    bp, acc, nb = _utf8_skip(buf, bp, acc, nb)
    if nb == -2:
        res[R_DETAIL] = H_NUMBER
        return E_HEADER, bp, acc, nb, 0, 0, 0
    if nb < 0:
        return E_TRUNCATED, bp, acc, nb, 0, 0, 0
    blocksize = 0
    if bs_code == 0:
        res[R_DETAIL] = H_BLOCKSIZE_CODE
        return E_HEADER, bp, acc, nb, 0, 0, 0
    elif bs_code == 1:
        blocksize = 192
    elif bs_code <= 5:
        blocksize = 576 << (bs_code - 2)
    elif bs_code == 6:
        bp, acc, nb, v = _get(buf, bp, acc, nb, 8)
        blocksize = v + 1
    elif bs_code == 7:
        bp, acc, nb, v = _get(buf, bp, acc, nb, 16)
        blocksize = v + 1
    else:
        blocksize = 256 << (bs_code - 8)
    rate = 0
    if sr_code == 12:
        bp, acc, nb, v = _get(buf, bp, acc, nb, 8)
        rate = v * 1000
    elif sr_code == 13:
        bp, acc, nb, v = _get(buf, bp, acc, nb, 16)
        rate = v
    elif sr_code == 14:
        bp, acc, nb, v = _get(buf, bp, acc, nb, 16)
        rate = v * 10
    elif sr_code == 15:
        res[R_DETAIL] = H_RATE_CODE
        return E_HEADER, bp, acc, nb, 0, 0, 0
    else:
        rate = _RATES[sr_code]
    if nb < 0:
        return E_TRUNCATED, bp, acc, nb, 0, 0, 0
    hdr_end = _bitpos(bp, nb) >> 3
    bp, acc, nb, c8 = _get(buf, bp, acc, nb, 8)
    if nb < 0:
        return E_TRUNCATED, bp, acc, nb, 0, 0, 0
    computed = _crc(crc8, 8, buf, pos, hdr_end)
    if c8 != computed:
        res[R_EXPECTED] = c8
        res[R_FOUND] = computed
        return E_HEADER_CRC, bp, acc, nb, 0, 0, 0
    # fields that the CRC protects: now compare them with STREAMINFO
    if ch_code > 10:
        res[R_DETAIL] = H_CHANNEL_CODE
        res[R_FOUND] = ch_code
        return E_HEADER, bp, acc, nb, 0, 0, 0
    if ss_code == 3:
        res[R_DETAIL] = H_BPS_CODE
        return E_HEADER, bp, acc, nb, 0, 0, 0
    if blocksize > 65535:
        res[R_FOUND] = blocksize
        return E_BLOCKSIZE, bp, acc, nb, 0, 0, 0
    nch = ch_code + 1 if ch_code < 8 else 2
    fbps = _BPS[ss_code]
    if si[0] == 0:  # no STREAMINFO: this header defines the stream
        if rate == 0:
            res[R_DETAIL] = H_NO_RATE
            return E_HEADER, bp, acc, nb, 0, 0, 0
        if fbps == 0:
            res[R_DETAIL] = H_NO_BPS
            return E_HEADER, bp, acc, nb, 0, 0, 0
        si[0] = nch
        si[1] = fbps
        si[2] = rate
    if nch != si[0]:
        res[R_EXPECTED] = si[0]
        res[R_FOUND] = nch
        return E_CHANNELS, bp, acc, nb, 0, 0, 0
    if fbps != 0 and fbps != si[1]:
        res[R_EXPECTED] = si[1]
        res[R_FOUND] = fbps
        return E_BPS, bp, acc, nb, 0, 0, 0
    if rate != 0 and rate != si[2]:
        res[R_EXPECTED] = si[2]
        res[R_FOUND] = rate
        return E_RATE, bp, acc, nb, 0, 0, 0
    return 0, bp, acc, nb, blocksize, ch_code, si[1]


@kernel
def _emit_md5(md5, work, o, blocksize, channels, width):
    """The block as libFLAC's MD5 reads it: interleaved little-endian signed integers of
    ``width`` bytes, from sample ``o`` (interleaved index) on."""
    step = channels * width
    for c in range(channels):
        w = work[c]
        k = (o + c) * width
        if width == 2:
            for i in range(blocksize):
                v = w[i]
                md5[k] = np.uint8(v & 0xFF)
                md5[k + 1] = np.uint8((v >> 8) & 0xFF)
                k += step
        elif width == 1:
            for i in range(blocksize):
                md5[k] = np.uint8(w[i] & 0xFF)
                k += step
        else:
            for i in range(blocksize):
                v = w[i]
                for b in range(width):
                    md5[k + b] = np.uint8((v >> (8 * b)) & 0xFF)
                k += step


@kernel
def flac_decode_kernel(buf, crc8, crc16, si, work, coefs, out, md5, res):
    """Decode the frames of a FLAC stream, resumably.

    Parameters
    ----------
    buf : uint8 (n,), read-only
        The whole file.
    crc8 : uint16 (256,); crc16 : uint16 (4, 256)
        :data:`CRC8_TABLE`, :data:`CRC16_TABLE`.
    si : int64 (4,)
        STREAMINFO channels (1..8), bits per sample (4..32), sample rate, total samples
        per channel (0: unknown). ``si[0] == 0`` (no STREAMINFO): the first frame header
        sets channels, bits and rate.
    work : int64 (>= channels, 65536)
    coefs : int64 (64,)
    out : float32 (capacity * channels,)
        Interleaved samples ``v / 2 ** (bps - 1)``; its size bounds what one call decodes.
    md5 : uint8 (capacity * channels * bytes,) or (0,)
        When not empty, the samples as libFLAC's MD5 sees them: interleaved little-endian
        signed integers of ``ceil(bps / 8)`` bytes.
    res : int64 (RES_SIZE,)
        In: R_POS (byte offset of the next frame), R_DONE, R_FRAME. Out: those, R_STATUS
        and on error R_DETAIL / R_EXPECTED / R_FOUND.

    Returns
    -------
    int
        0: all frames decoded (or ``total`` reached); 1: ``out`` is full and frames
        remain (call again with larger arrays); a negative ``E_*`` code on error.
    """
    n_bytes = buf.shape[0]
    total = si[3]
    cap = out.shape[0] // max(si[0], 1) if si[0] > 0 else 0
    pos = res[R_POS]
    done = res[R_DONE]
    frame = res[R_FRAME]
    while True:
        if total > 0 and done >= total:
            # frames past STREAMINFO's total: a wrong STREAMINFO (data after the last
            # frame that is not a frame header, e.g. an ID3v1 tag, is ignored)
            if pos + 6 <= n_bytes and buf[pos] == 0xFF and (buf[pos + 1] & 0xFE) == 0xF8:
                res[R_EXPECTED] = total
                status, bp, acc, nb, blocksize, ch_code, bps = _frame_header(
                    buf, pos, crc8, si, res
                )
                if status == 0:
                    res[R_STATUS] = E_EXTRA
                    return E_EXTRA
            res[R_STATUS] = 0
            return 0
        id3v1 = (
            pos + 128 == n_bytes and buf[pos] == 84 and buf[pos + 1] == 65 and buf[pos + 2] == 71
        )
        if total == 0 and (pos >= n_bytes or id3v1):
            # the end, or an ID3v1 tag ("TAG", 128 bytes) after the last frame
            if frame == 0:
                res[R_STATUS] = E_TRUNCATED
                return E_TRUNCATED
            res[R_STATUS] = 0
            return 0
        res[R_POS] = pos
        res[R_DONE] = done
        res[R_FRAME] = frame
        if pos + 6 > n_bytes:
            res[R_STATUS] = E_TRUNCATED
            return E_TRUNCATED
        status, bp, acc, nb, blocksize, ch_code, bps = _frame_header(buf, pos, crc8, si, res)
        if status != 0:
            res[R_STATUS] = status
            return status
        channels = si[0]
        if cap == 0:
            cap = out.shape[0] // channels
        if total > 0 and done + blocksize > total:
            res[R_EXPECTED] = total
            res[R_STATUS] = E_EXTRA
            return E_EXTRA
        if done + blocksize > cap:
            res[R_STATUS] = 1
            return 1
        for c in range(channels):
            sbps = bps
            if (ch_code == 8 and c == 1) or (ch_code == 9 and c == 0) or (ch_code == 10 and c == 1):
                sbps += 1
            res[R_DETAIL] = 0
            bp, acc, nb = _subframe(buf, bp, acc, nb, blocksize, sbps, work[c], coefs, res)
            if nb < 0:
                if res[R_DETAIL] == 0:
                    res[R_STATUS] = E_TRUNCATED
                    return E_TRUNCATED
                res[R_FOUND] = c
                res[R_STATUS] = E_SUBFRAME
                return E_SUBFRAME
        # byte alignment (zero bits: libFLAC calls anything else lost sync), then CRC-16
        bitpos = _bitpos(bp, nb)
        frame_end = (bitpos + 7) >> 3
        if frame_end + 2 > n_bytes:
            res[R_STATUS] = E_TRUNCATED
            return E_TRUNCATED
        if bitpos & 7 and buf[bitpos >> 3] & ((1 << (8 - (bitpos & 7))) - 1) != 0:
            res[R_STATUS] = E_PADDING
            return E_PADDING
        c16 = (np.int64(buf[frame_end]) << 8) | np.int64(buf[frame_end + 1])
        computed = _crc16(crc16, buf, pos, frame_end)
        if c16 != computed:
            res[R_EXPECTED] = c16
            res[R_FOUND] = computed
            res[R_STATUS] = E_FRAME_CRC
            return E_FRAME_CRC
        if channels == 2:
            a = work[0]
            b = work[1]
            if ch_code == 8:  # left, side
                for i in range(blocksize):
                    b[i] = a[i] - b[i]
            elif ch_code == 9:  # side, right
                for i in range(blocksize):
                    a[i] = a[i] + b[i]
            elif ch_code == 10:  # mid, side
                for i in range(blocksize):
                    m = (a[i] << 1) | (b[i] & 1)
                    s = b[i]
                    a[i] = (m + s) >> 1
                    b[i] = (m - s) >> 1
        # every sample must fit the bit depth (libFLAC rejects such frames)
        lo = -(np.int64(1) << (bps - 1))
        hi = (np.int64(1) << (bps - 1)) - 1
        for c in range(channels):
            w = work[c]
            vmin = w[0]
            vmax = w[0]
            for i in range(blocksize):
                vmin = min(vmin, w[i])
                vmax = max(vmax, w[i])
            if vmin < lo or vmax > hi:
                res[R_FOUND] = vmin if vmin < lo else vmax
                res[R_EXPECTED] = bps
                res[R_STATUS] = E_RANGE
                return E_RANGE
        scale = np.float32(1.0 / (np.int64(1) << (bps - 1)))
        o = done * channels
        if channels == 1:
            w0 = work[0]
            for i in range(blocksize):
                out[o + i] = np.float32(w0[i]) * scale
        elif channels == 2:
            a = work[0]
            b = work[1]
            for i in range(blocksize):
                out[o + 2 * i] = np.float32(a[i]) * scale
                out[o + 2 * i + 1] = np.float32(b[i]) * scale
        else:
            for c in range(channels):
                w = work[c]
                for i in range(blocksize):
                    out[o + i * channels + c] = np.float32(w[i]) * scale
        if md5.shape[0] > 0:
            _emit_md5(md5, work, o, blocksize, channels, (bps + 7) >> 3)
        pos = frame_end + 2
        done += blocksize
        frame += 1
        res[R_POS] = pos
        res[R_DONE] = done
        res[R_FRAME] = frame
