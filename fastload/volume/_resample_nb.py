"""Numba kernels for :mod:`fastload.volume.resample`.

All kernels take precomputed per-axis source indices and float32 weights (computed by
the caller exactly as torch computes them), a caller-provided output and caller-provided
scratch buffers. No allocation, no RNG, GIL released.

Trilinear, per output z plane:
1. blend the two source planes into ``plane`` (float32, (H_in, W_in)): the input is read once
   per output plane, converted to float32 on the fly (int16/uint8/float64 -> float32, no
   separate conversion pass);
2. per output row, blend two rows of ``plane`` into ``row`` (float32, (W_in,));
3. gather along x with two taps into the output row, optionally followed by the fused
   clip + normalise ``(clip(v, lo, hi) - mean) / std`` (float32 division, like numpy).
"""

import numba
import numpy as np

from fastload._jit import kernel, parallel_kernel

__all__ = ["nearest_range", "nearest_parallel", "trilinear_range", "trilinear_parallel"]


@kernel
def trilinear_range(
    src,
    out,
    zi0,
    zi1,
    zw0,
    zw1,
    yi0,
    yi1,
    yw0,
    yw1,
    xi0,
    xi1,
    xw0,
    xw1,
    plane,
    row,
    z_start,
    z_stop,
    norm,
    lo,
    hi,
    mean,
    std,
):
    """Trilinear resample of output planes ``z_start:z_stop``.

    Parameters
    ----------
    src : ndarray, shape (D_in, H_in, W_in), int16 | uint8 | float32 | float64 | ...
    out : ndarray, shape (D_out, H_out, W_out), float32
    zi0, zi1, yi0, yi1, xi0, xi1 : ndarray, int64, source indices per output index
    zw0, zw1, yw0, yw1, xw0, xw1 : ndarray, float32, matching weights
    plane : ndarray, shape (H_in, W_in), float32 scratch
    row : ndarray, shape (W_in,), float32 scratch
    norm : bool, apply ``(clip(v, lo, hi) - mean) / std`` (float32 scalars) to the output
    """
    h_in = src.shape[1]
    w_in = src.shape[2]
    h_out = out.shape[1]
    w_out = out.shape[2]
    lo32 = np.float32(lo)
    hi32 = np.float32(hi)
    mean32 = np.float32(mean)
    std32 = np.float32(std)
    for z in range(z_start, z_stop):
        a = src[zi0[z]]
        b = src[zi1[z]]
        wa = zw0[z]
        wb = zw1[z]
        if wb == np.float32(0.0):
            for y in range(h_in):
                for x in range(w_in):
                    plane[y, x] = wa * np.float32(a[y, x])
        else:
            for y in range(h_in):
                for x in range(w_in):
                    plane[y, x] = wa * np.float32(a[y, x]) + wb * np.float32(b[y, x])
        oz = out[z]
        for y in range(h_out):
            p0 = plane[yi0[y]]
            p1 = plane[yi1[y]]
            v0 = yw0[y]
            v1 = yw1[y]
            for x in range(w_in):
                row[x] = v0 * p0[x] + v1 * p1[x]
            o = oz[y]
            if norm:
                for x in range(w_out):
                    v = xw0[x] * row[xi0[x]] + xw1[x] * row[xi1[x]]
                    if v < lo32:
                        v = lo32
                    elif v > hi32:
                        v = hi32
                    o[x] = (v - mean32) / std32
            else:
                for x in range(w_out):
                    o[x] = xw0[x] * row[xi0[x]] + xw1[x] * row[xi1[x]]


@parallel_kernel
def trilinear_parallel(
    src,
    out,
    zi0,
    zi1,
    zw0,
    zw1,
    yi0,
    yi1,
    yw0,
    yw1,
    xi0,
    xi1,
    xw0,
    xw1,
    planes,
    rows,
    norm,
    lo,
    hi,
    mean,
    std,
):
    """Whole-volume trilinear resample, output planes split in ``len(planes)`` chunks (prange).

    ``planes`` : float32 (n_chunks, H_in, W_in) and ``rows`` : float32 (n_chunks, W_in) are
    per-chunk scratch buffers. Same numerics as :func:`trilinear_range`.
    """
    n_chunks = planes.shape[0]
    d_out = out.shape[0]
    for c in numba.prange(n_chunks):
        z0 = (d_out * c) // n_chunks
        z1 = (d_out * (c + 1)) // n_chunks
        trilinear_range(
            src,
            out,
            zi0,
            zi1,
            zw0,
            zw1,
            yi0,
            yi1,
            yw0,
            yw1,
            xi0,
            xi1,
            xw0,
            xw1,
            planes[c],
            rows[c],
            z0,
            z1,
            norm,
            lo,
            hi,
            mean,
            std,
        )


@kernel
def nearest_range(src, out, zi, yi, xi, z_start, z_stop):
    """Nearest-neighbour gather of output planes ``z_start:z_stop`` (any dtype, out same dtype).

    ``zi``, ``yi``, ``xi`` : int64 source index per output index. Four output rows share
    each load of ``xi``.
    """
    h_out = out.shape[1]
    w_out = out.shape[2]
    for z in range(z_start, z_stop):
        s = src[zi[z]]
        oz = out[z]
        y = 0
        while y + 4 <= h_out:
            r0 = s[yi[y]]
            r1 = s[yi[y + 1]]
            r2 = s[yi[y + 2]]
            r3 = s[yi[y + 3]]
            o0 = oz[y]
            o1 = oz[y + 1]
            o2 = oz[y + 2]
            o3 = oz[y + 3]
            for x in range(w_out):
                k = xi[x]
                o0[x] = r0[k]
                o1[x] = r1[k]
                o2[x] = r2[k]
                o3[x] = r3[k]
            y += 4
        while y < h_out:
            r = s[yi[y]]
            o = oz[y]
            for x in range(w_out):
                o[x] = r[xi[x]]
            y += 1


@parallel_kernel
def nearest_parallel(src, out, zi, yi, xi, n_chunks):
    """Whole-volume nearest gather, output planes split in ``n_chunks`` chunks (prange)."""
    d_out = out.shape[0]
    for c in numba.prange(n_chunks):
        z0 = (d_out * c) // n_chunks
        z1 = (d_out * (c + 1)) // n_chunks
        nearest_range(src, out, zi, yi, xi, z0, z1)
