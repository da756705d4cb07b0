# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""Cython kernel of :mod:`fastload._rng`: NumPy's ``SeedSequence`` hash for three words.

``seed_state(a, b, c)`` returns what
``numpy.random.SeedSequence([a, b, c]).generate_state(4, numpy.uint64)`` returns (all
three below 2**32, no spawn key): the PCG64 seeding words of a sample's generator. NumPy
builds that through Python objects and small arrays (about 8.5 us); this is the same
32-bit integer hash (numpy/random/bit_generator.pyx: hashmix, mix, mix_entropy,
generate_state) in well under a microsecond, compiled ahead of time so the first sample
pays nothing. ``fastload._rng`` checks it against NumPy on first use and falls back to
NumPy if they ever disagree.
"""

import numpy as np

from libc.stdint cimport uint32_t, uint64_t

cdef extern from *:
    """
    #define FL_SS_POOL 4
    #define FL_SS_INIT_A 0x43B0D7E5u
    #define FL_SS_MULT_A 0x931E8875u
    #define FL_SS_INIT_B 0x8B51F9DDu
    #define FL_SS_MULT_B 0x58F38DEDu
    #define FL_SS_MIX_MULT_L 0xCA01F9DDu
    #define FL_SS_MIX_MULT_R 0x4973F715u
    """
    # NumPy's SeedSequence constants (numpy/random/bit_generator.pyx)
    const int POOL "FL_SS_POOL"
    const uint32_t INIT_A "FL_SS_INIT_A"
    const uint32_t MULT_A "FL_SS_MULT_A"
    const uint32_t INIT_B "FL_SS_INIT_B"
    const uint32_t MULT_B "FL_SS_MULT_B"
    const uint32_t MIX_MULT_L "FL_SS_MIX_MULT_L"
    const uint32_t MIX_MULT_R "FL_SS_MIX_MULT_R"


cdef inline uint32_t hashmix(uint32_t value, uint32_t *hash_const) noexcept nogil:
    value ^= hash_const[0]
    hash_const[0] *= MULT_A
    value *= hash_const[0]
    value ^= value >> 16
    return value


cdef inline uint32_t mix(uint32_t x, uint32_t y) noexcept nogil:
    cdef uint32_t result = MIX_MULT_L * x - MIX_MULT_R * y
    result ^= result >> 16
    return result


def seed_state(uint32_t a, uint32_t b, uint32_t c):
    """(4,) uint64 PCG64 seeding words of ``SeedSequence([a, b, c])`` (each < 2**32)."""
    cdef uint32_t entropy[3]
    cdef uint32_t pool[4]
    cdef uint32_t hash_const = INIT_A
    cdef uint32_t v
    cdef uint64_t words[4]
    cdef int i, src, dst
    entropy[0] = a
    entropy[1] = b
    entropy[2] = c
    for i in range(POOL):  # hash each entropy word (zeros past the end) into the pool
        pool[i] = hashmix(entropy[i] if i < 3 else 0, &hash_const)
    for src in range(POOL):  # mix every word into every other one
        for dst in range(POOL):
            if src != dst:
                pool[dst] = mix(pool[dst], hashmix(pool[src], &hash_const))
    hash_const = INIT_B
    for i in range(POOL):
        words[i] = 0
    for i in range(2 * POOL):  # 8 words of 32 bits, little-endian pairs
        v = pool[i % POOL] ^ hash_const
        hash_const *= MULT_B
        v *= hash_const
        v ^= v >> 16
        words[i // 2] |= (<uint64_t>v) << (32 * (i % 2))
    out = np.empty(POOL, np.uint64)
    cdef uint64_t[::1] o = out
    for i in range(POOL):
        o[i] = words[i]
    return out
