"""numba kernel of :mod:`fastload._rng`: NumPy's ``SeedSequence`` hash for three words.

``seed_state(a, b, c)`` returns what
``numpy.random.SeedSequence([a, b, c]).generate_state(4, numpy.uint64)`` returns (all
three below 2**32, no spawn key): the PCG64 seeding words of a sample's generator. NumPy
builds that through Python objects and small arrays (about 8.5 us); this is the same
integer hash (numpy/random/bit_generator.pyx: hashmix, mix, mix_entropy, generate_state)
in about 0.2 us. ``fastload._rng`` checks it against NumPy on first use and falls back to
NumPy if they ever disagree.
"""

import numpy as np

from fastload._jit import kernel

__all__ = ["seed_state"]

_M = 0xFFFFFFFF
_INIT_A = 0x43B0D7E5
_MULT_A = 0x931E8875
_INIT_B = 0x8B51F9DD
_MULT_B = 0x58F38DED
_MIX_MULT_L = 0xCA01F9DD
_MIX_MULT_R = 0x4973F715
_POOL = 4


@kernel
def seed_state(a, b, c):
    """(4,) uint64 PCG64 seeding words of ``SeedSequence([a, b, c])`` (each < 2**32)."""
    entropy = (np.uint64(a), np.uint64(b), np.uint64(c))
    pool = np.zeros(_POOL, np.uint64)
    hc = np.uint64(_INIT_A)
    for i in range(_POOL):  # hashmix each entropy word (zeros past the end) into the pool
        v = entropy[i] if i < 3 else np.uint64(0)
        v = v ^ hc
        hc = (hc * np.uint64(_MULT_A)) & np.uint64(_M)
        v = (v * hc) & np.uint64(_M)
        pool[i] = v ^ (v >> np.uint64(16))
    for src in range(_POOL):  # mix every word into every other one
        for dst in range(_POOL):
            if src != dst:
                v = pool[src] ^ hc
                hc = (hc * np.uint64(_MULT_A)) & np.uint64(_M)
                v = (v * hc) & np.uint64(_M)
                v = v ^ (v >> np.uint64(16))
                r = (np.uint64(_MIX_MULT_L) * pool[dst] - np.uint64(_MIX_MULT_R) * v)
                r = r & np.uint64(_M)
                pool[dst] = r ^ (r >> np.uint64(16))
    out = np.zeros(_POOL, np.uint64)
    hc = np.uint64(_INIT_B)
    for i in range(2 * _POOL):  # 8 words of 32 bits, little-endian pairs
        v = pool[i % _POOL] ^ hc
        hc = (hc * np.uint64(_MULT_B)) & np.uint64(_M)
        v = (v * hc) & np.uint64(_M)
        v = v ^ (v >> np.uint64(16))
        out[i // 2] |= v << np.uint64(32 * (i % 2))
    return out
