"""Numba FLAC frame decoder: the fast path of ``codec.decode`` for plain FLAC streams.

``flac_decode_kernel`` decodes every frame of a native FLAC stream (``fLaC`` marker,
metadata already skipped by the caller) into float32 samples scaled exactly as
libsndfile scales them (``v / 2 ** (bps - 1)``). It verifies each frame header's CRC-8
and each frame's CRC-16 and checks every field against STREAMINFO; anything it does not
handle or cannot verify returns a negative code and the caller falls back to
libsndfile, which then decides (so the fast path never changes what bad input gives).

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
def _residual(buf, bp, acc, nb, blocksize, order, dst):
    """Rice-coded residual of one subframe into dst[order:blocksize]."""
    bp, acc, nb, method = _get(buf, bp, acc, nb, 2)
    if nb < 0 or method > 1:
        return bp, acc, -1
    pbits = 4 if method == 0 else 5
    escape = 15 if method == 0 else 31
    bp, acc, nb, porder = _get(buf, bp, acc, nb, 4)
    if nb < 0:
        return bp, acc, -1
    nparts = 1 << porder
    if blocksize % nparts != 0:
        return bp, acc, -1
    psize = blocksize >> porder
    if psize < order:
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
                if nb < 0 or q > (np.int64(1) << 31):
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
def _subframe(buf, bp, acc, nb, blocksize, bps, dst, coefs):
    """One subframe into dst[:blocksize] (int64); returns the reader, nb = -1 on error."""
    bp, acc, nb, pad = _get(buf, bp, acc, nb, 1)
    if nb < 0 or pad != 0:
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
            return bp, acc, -1
        for i in range(order):
            bp, acc, nb, v = _get_signed(buf, bp, acc, nb, bps)
            if nb < 0:
                return bp, acc, -1
            dst[i] = v
        bp, acc, nb = _residual(buf, bp, acc, nb, blocksize, order, dst)
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
            return bp, acc, -1
        for i in range(order):
            bp, acc, nb, v = _get_signed(buf, bp, acc, nb, bps)
            if nb < 0:
                return bp, acc, -1
            dst[i] = v
        bp, acc, nb, prec = _get(buf, bp, acc, nb, 4)
        if nb < 0 or prec == 15:
            return bp, acc, -1
        prec += 1
        bp, acc, nb, shift = _get_signed(buf, bp, acc, nb, 5)
        if nb < 0 or shift < 0:
            return bp, acc, -1
        for j in range(order):
            bp, acc, nb, c = _get_signed(buf, bp, acc, nb, prec)
            if nb < 0:
                return bp, acc, -1
            coefs[order - 1 - j] = c  # reversed: coefs[j] multiplies dst[i - order + j]
        bp, acc, nb = _residual(buf, bp, acc, nb, blocksize, order, dst)
        if nb < 0:
            return bp, acc, -1
        _lpc(dst, coefs, order, blocksize, shift)
    else:
        return bp, acc, -1
    if wasted:
        for i in range(blocksize):
            dst[i] = dst[i] << wasted
    return bp, acc, nb


@kernel
def _utf8_skip(buf, bp, acc, nb):
    """Skip the UTF-8-like coded frame / sample number (1-7 bytes)."""
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
        return bp, acc, -1
    for _ in range(extra):
        bp, acc, nb, b = _get(buf, bp, acc, nb, 8)
        if nb < 0 or (b & 0xC0) != 0x80:
            return bp, acc, -1
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
def flac_decode_kernel(buf, start, total, channels, bps, max_block, crc8, crc16, work, coefs, out):
    """Decode the frames of a FLAC stream.

    Parameters
    ----------
    buf : uint8 (n,)
        The whole file.
    start : int
        Byte offset of the first frame (after the metadata blocks).
    total, channels, bps, max_block : int
        STREAMINFO: samples per channel, channel count (1 or 2), bits per sample, largest
        block size.
    crc8 : uint16 (256,); crc16 : uint16 (4, 256)
        :data:`CRC8_TABLE`, :data:`CRC16_TABLE`.
    work : int64 (channels, >= max_block)
    coefs : int64 (64,)
    out : float32 (total * channels,)
        Interleaved samples ``v / 2 ** (bps - 1)``.

    Returns
    -------
    int
        ``total`` on success; a negative code when the stream is not fully decodable
        here (the caller then falls back to libsndfile).
    """
    n_bytes = buf.shape[0]
    scale = np.float32(1.0 / (1 << (bps - 1)))
    done = 0
    pos = start
    while done < total:
        if pos + 6 > n_bytes:
            return -1
        bp, acc, nb = _seek(buf, pos * 8)
        bp, acc, nb, sync = _get(buf, bp, acc, nb, 15)
        if nb < 0 or sync != 0x7FFC:  # 14-bit sync + reserved 0
            return -2
        bp, acc, nb, _strategy = _get(buf, bp, acc, nb, 1)
        bp, acc, nb, bs_code = _get(buf, bp, acc, nb, 4)
        bp, acc, nb, sr_code = _get(buf, bp, acc, nb, 4)
        bp, acc, nb, ch_code = _get(buf, bp, acc, nb, 4)
        bp, acc, nb, ss_code = _get(buf, bp, acc, nb, 3)
        bp, acc, nb, res = _get(buf, bp, acc, nb, 1)
        if nb < 0 or res != 0:
            return -3
        bp, acc, nb = _utf8_skip(buf, bp, acc, nb)
        if nb < 0:
            return -4
        if bs_code == 0:
            return -5
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
        if sr_code == 12:
            bp, acc, nb, v = _get(buf, bp, acc, nb, 8)
        elif sr_code == 13 or sr_code == 14:
            bp, acc, nb, v = _get(buf, bp, acc, nb, 16)
        elif sr_code == 15:
            return -6
        if nb < 0:
            return -7
        # header CRC-8 over the bytes read so far
        hdr_end = _bitpos(bp, nb) >> 3
        bp, acc, nb, c8 = _get(buf, bp, acc, nb, 8)
        if nb < 0 or c8 != _crc(crc8, 8, buf, pos, hdr_end):
            return -8
        if blocksize > max_block or done + blocksize > total:
            return -9
        if ss_code == 0:
            fbps = bps
        elif ss_code == 4:
            fbps = 16
        elif ss_code == 6:
            fbps = 24
        else:
            return -10
        if fbps != bps:
            return -10
        if ch_code < 8:
            if ch_code + 1 != channels:
                return -11
        elif ch_code > 10 or channels != 2:
            return -11
        for c in range(channels):
            sbps = bps
            if (ch_code == 8 and c == 1) or (ch_code == 9 and c == 0) or (ch_code == 10 and c == 1):
                sbps += 1
            bp, acc, nb = _subframe(buf, bp, acc, nb, blocksize, sbps, work[c], coefs)
            if nb < 0:
                return -12
        # byte alignment (zero bits: libFLAC calls anything else lost sync), then CRC-16
        bitpos = _bitpos(bp, nb)
        frame_end = (bitpos + 7) >> 3
        if frame_end + 2 > n_bytes:
            return -13
        if bitpos & 7 and buf[bitpos >> 3] & ((1 << (8 - (bitpos & 7))) - 1) != 0:
            return -15
        c16 = (np.int64(buf[frame_end]) << 8) | np.int64(buf[frame_end + 1])
        if c16 != _crc16(crc16, buf, pos, frame_end):
            return -14
        pos = frame_end + 2
        if channels == 1:
            w0 = work[0]
            for i in range(blocksize):
                out[done + i] = np.float32(w0[i]) * scale
        else:
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
            o = 2 * done
            for i in range(blocksize):
                out[o + 2 * i] = np.float32(a[i]) * scale
                out[o + 2 * i + 1] = np.float32(b[i]) * scale
        done += blocksize
    return done
