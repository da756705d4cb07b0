/* Baseline JPEG Huffman decoding, installed in place of libjpeg-turbo's decode_mcu.
 *
 * Why: in the ResNet-50 train path libjpeg spends most of its time entropy-decoding
 * (rows above the crop are decoded only to be discarded). This decoder looks up code and
 * extra bits together (one table step per coefficient for codes + magnitude bits up to
 * FL_HUFF_FAST long, against libjpeg's code lookup followed by a separate bit read),
 * refills its 64-bit buffer eight bytes at a time when they hold no 0xFF, and when the
 * coefficients are not wanted (skipped rows, 1/8 scale) only walks the symbols.
 *
 * libjpeg-turbo keeps everything else: markers, IDCT, upsampling, colour conversion,
 * cropping and skipping call (*cinfo->entropy->decode_mcu), which is the one pointer
 * replaced here. Its layout is the first members of struct jpeg_entropy_decoder, which
 * every libjpeg since 6b shares. Output is bit-identical to libjpeg's own decoder
 * (tests compare both), and corrupt data fails where libjpeg's strict mode fails:
 * premature end of data, bad codes, wrong or misplaced restart markers.
 */
#include <stdatomic.h>
#include <string.h>

#if defined(__GNUC__) && !defined(__clang__)
/* GCC's SLP vectoriser packs the reader's two int counters into an SSE register and
 * moves them back on every symbol: 25 % slower decode_mcu (seen with GCC 12) */
#pragma GCC optimize("no-tree-slp-vectorize")
#endif

#include <jerror.h>

#include "huffman.h"

/* the public head of libjpeg's private struct jpeg_entropy_decoder (jpegint.h) */
struct fl_entropy_head {
    void (*start_pass)(j_decompress_ptr cinfo);
    boolean (*decode_mcu)(j_decompress_ptr cinfo, JBLOCKROW *MCU_data);
    boolean insufficient_data;
};

#define E_LEN(e) ((int)((e) & 63u))
#define E_COMBINED 64u
#define E_RUN(e) ((int)(((e) >> 8) & 15u))
#define E_SIZE(e) ((int)(((e) >> 12) & 15u))
#define E_VALUE(e) ((int)(int16_t)((e) >> 16))

/* zigzag -> natural order; runs past 63 land on 63 as in libjpeg (corrupt but accepted) */
static const int natural_order[64 + 16] = {
    0,  1,  8,  16, 9,  2,  3,  10, 17, 24, 32, 25, 18, 11, 4,  5,  12, 19, 26, 33,
    40, 48, 41, 34, 27, 20, 13, 6,  7,  14, 21, 28, 35, 42, 49, 56, 57, 50, 43, 36,
    29, 22, 15, 23, 30, 37, 44, 51, 58, 59, 52, 45, 38, 31, 39, 46, 53, 60, 61, 54,
    47, 55, 62, 63, 63, 63, 63, 63, 63, 63, 63, 63, 63, 63, 63, 63, 63, 63, 63, 63};

static atomic_int fast_huffman_on = 1;

void fl_jpeg_set_fast_huffman(int on)
{
    atomic_store_explicit(&fast_huffman_on, on ? 1 : 0, memory_order_relaxed);
}

int fl_jpeg_fast_huffman(void)
{
    return atomic_load_explicit(&fast_huffman_on, memory_order_relaxed);
}

static inline int extend(int v, int s)
{
    /* JPEG magnitude category s: values below 2^(s-1) are negative */
    return v < (1 << (s - 1)) ? v - (1 << s) + 1 : v;
}

/* ------------------------------------------------------------------ tables */

/* Build `t` from a JHUFF_TBL. Returns 0 when the table is malformed (libjpeg rejects
 * such tables in start_pass, before we are installed, so this is belt and braces). */
static int build_table(fl_huff_table *t, const JHUFF_TBL *h, int is_dc)
{
    uint8_t key[17 + 256];
    memcpy(key, h->bits, 17);
    memcpy(key + 17, h->huffval, 256);
    if (t->valid && memcmp(key, t->key, sizeof key) == 0)
        return 1;
    t->valid = 0;
    int count = 0;
    for (int l = 1; l <= 16; l++)
        count += h->bits[l];
    if (count > 256)
        return 0;
    memcpy(t->huffval, h->huffval, 256);
    memset(t->fast, 0, sizeof t->fast);
    int32_t code = 0;
    int idx = 0;
    for (int l = 1; l <= 16; l++) {
        int n = h->bits[l];
        t->valoff[l] = idx - code;
        t->maxcode[l] = n ? code + n - 1 : -1;
        for (int i = 0; i < n; i++, idx++, code++) {
            if (code >= (1 << l))
                return 0; /* over-subscribed */
            if (l > FL_HUFF_FAST)
                continue;
            int sym = h->huffval[idx];
            int run = is_dc ? 0 : sym >> 4;
            int size = is_dc ? sym : sym & 15;
            if (is_dc && sym > 15)
                return 0;
            int free_bits = FL_HUFF_FAST - l;
            uint32_t first = (uint32_t)code << free_bits;
            for (uint32_t j = 0; j < (1u << free_bits); j++) {
                uint32_t e = (uint32_t)l | (uint32_t)run << 8 | (uint32_t)size << 12;
                if (size == 0) {
                    e |= E_COMBINED; /* DC diff 0, EOB or ZRL: nothing more to read */
                } else if (l + size <= FL_HUFF_FAST) {
                    int extra = (int)(j >> (free_bits - size));
                    int v = extend(extra, size);
                    e = (uint32_t)(l + size) | E_COMBINED | (uint32_t)run << 8 |
                        (uint32_t)size << 12 | (uint32_t)(uint16_t)(int16_t)v << 16;
                }
                t->fast[first + j] = e;
            }
        }
        code <<= 1;
    }
    t->maxcode[17] = INT32_MAX; /* the slow path stops here: longer codes are bad */
    memcpy(t->key, key, sizeof key);
    t->valid = 1;
    return 1;
}

/* ------------------------------------------------------------------ bit reader */

/* decode_mcu keeps the reader in locals (registers); its slow paths get a copy in this
 * struct, and fl_huff_state keeps it between MCUs. */
typedef struct {
    uint64_t buf; /* next bits at the top */
    int nbits;    /* valid bits in buf, genuine or padding */
    int pad;      /* zero bits appended after the data ended or a marker was hit */
    const uint8_t *pos;
} bitreader;

static void refill_slow(bitreader *br, const uint8_t *end)
{
    while (br->nbits <= 56) {
        const uint8_t *p = br->pos;
        int b = 0;
        if (p < end && p[0] != 0xFF) {
            b = p[0];
            br->pos = p + 1;
        } else {
            /* like libjpeg, FF FF ... FF 00 is one FF data byte; FF FF ... FF xx is
             * marker xx. At a marker or the end of the data feed zeros. */
            const uint8_t *q = p < end ? p + 1 : end;
            while (q < end && *q == 0xFF)
                q++;
            if (p < end && q < end && *q == 0x00) {
                b = 0xFF;
                br->pos = q + 1;
            } else {
                br->pad += 8;
            }
        }
        br->buf |= (uint64_t)b << (56 - br->nbits);
        br->nbits += 8;
    }
}

#define PEEK(br, n) ((uint32_t)((br)->buf >> (64 - (n))))
#define CONSUME(br, n) ((br)->buf <<= (n), (br)->nbits -= (n))

/* Corrupt data: report it as libjpeg's decoder does, a warning (JWRN_* code), which the
 * strict error manager this decoder requires turns into an error. error_exit stops an
 * error manager that would let the warning pass. */
static void fail(j_decompress_ptr cinfo, int code)
{
    cinfo->err->msg_code = code;
    (*cinfo->err->emit_message)((j_common_ptr)cinfo, -1);
    (*cinfo->err->error_exit)((j_common_ptr)cinfo);
}

/* The symbol whose fast entry is not combined (nbits >= 32): a code longer than
 * FL_HUFF_FAST, or one whose extra bits did not fit. Returns an entry in the fast
 * format (run, size) and the coefficient or DC difference in *value. */
static uint32_t next_symbol_slow(j_decompress_ptr cinfo, bitreader *br, const fl_huff_table *t,
                                 uint32_t e, int is_dc, int *value)
{
    int sym;
    if (E_LEN(e) != 0) { /* the code fits, its extra bits do not */
        CONSUME(br, E_LEN(e));
        sym = is_dc ? E_SIZE(e) : (E_RUN(e) << 4 | E_SIZE(e));
    } else {
        uint32_t code16 = PEEK(br, 16);
        int l = FL_HUFF_FAST + 1;
        while ((int32_t)(code16 >> (16 - l)) > t->maxcode[l]) {
            if (++l > 16) {
                fail(cinfo, JWRN_HUFF_BAD_CODE);
                return 0;
            }
        }
        CONSUME(br, l);
        sym = t->huffval[((int)(code16 >> (16 - l)) + t->valoff[l]) & 255];
    }
    int run = is_dc ? 0 : sym >> 4, size = is_dc ? sym : sym & 15;
    *value = 0;
    if (size) {
        *value = extend((int)PEEK(br, size), size);
        CONSUME(br, size);
    }
    return (uint32_t)run << 8 | (uint32_t)size << 12;
}

/* ------------------------------------------------------------------ MCU decoding */

static void process_restart(j_decompress_ptr cinfo, fl_huff_state *st)
{
    int leftover = st->nbits - st->pad; /* genuine bits: byte-alignment padding only */
    if (leftover >= 8) {
        cinfo->err->msg_parm.i[0] = leftover / 8;
        cinfo->err->msg_parm.i[1] = 0xD0 + st->next_restart;
        fail(cinfo, JWRN_EXTRANEOUS_DATA);
    }
    const uint8_t *p = st->pos;
    while (p + 1 < st->end && p[0] == 0xFF && p[1] == 0xFF)
        p++; /* fill bytes before a marker */
    if (p + 1 >= st->end || p[0] != 0xFF || p[1] != 0xD0 + st->next_restart) {
        cinfo->err->msg_parm.i[0] = p + 1 < st->end && p[0] == 0xFF ? p[1] : 0;
        cinfo->err->msg_parm.i[1] = st->next_restart;
        fail(cinfo, JWRN_MUST_RESYNC);
    }
    st->pos = p + 2;
    st->buf = 0;
    st->nbits = 0;
    st->pad = 0;
    for (int c = 0; c < 4; c++)
        st->last_dc[c] = 0;
    st->restarts_to_go = cinfo->restart_interval;
    st->next_restart = (st->next_restart + 1) & 7;
}

/* Hot-loop bit reader state in plain locals (kept in registers); the slow paths get a
 * bitreader copy so no address of a hot local escapes. */
#define SYNC_OUT(br) ((br).buf = buf, (br).nbits = nbits, (br).pad = pad, (br).pos = pos)
#define SYNC_IN(br) (buf = (br).buf, nbits = (br).nbits, pad = (br).pad, pos = (br).pos)

static boolean decode_mcu(j_decompress_ptr cinfo, JBLOCKROW *MCU_data)
{
    fl_huff_state *st = (fl_huff_state *)cinfo->client_data;
    if (cinfo->restart_interval) {
        if (st->restarts_to_go == 0)
            process_restart(cinfo, st);
        st->restarts_to_go--;
    }
    uint64_t buf = st->buf;
    int nbits = st->nbits, pad = st->pad;
    const uint8_t *pos = st->pos;
    const uint8_t *const end = st->end;
    bitreader br;

#define REFILL()                                                                          \
    do {                                                                                  \
        if (nbits < 32) {                                                                 \
            uint64_t w_;                                                                  \
            if (__builtin_expect(end - pos >= 8 && pad == 0, 1)) {                        \
                memcpy(&w_, pos, 8);                                                      \
                w_ = __builtin_bswap64(w_);                                               \
                int nbytes_ = (64 - nbits) >> 3;                                          \
                uint64_t mask_ = ~0ull << (64 - 8 * nbytes_);                             \
                uint64_t x_ = ~w_;                                                        \
                uint64_t ff_ = (x_ - 0x0101010101010101ull) & ~x_ & 0x8080808080808080ull; \
                if (__builtin_expect((ff_ & mask_) == 0, 1)) {                            \
                    buf |= (w_ & mask_) >> nbits;                                         \
                    pos += nbytes_;                                                       \
                    nbits += 8 * nbytes_;                                                 \
                    break;                                                                \
                }                                                                         \
            }                                                                             \
            SYNC_OUT(br);                                                                 \
            refill_slow(&br, end);                                                        \
            SYNC_IN(br);                                                                  \
        }                                                                                 \
    } while (0)

    for (int b = 0; b < cinfo->blocks_in_MCU; b++) {
        JCOEF *blk = MCU_data ? MCU_data[b][0] : NULL;
        const fl_huff_table *t = st->dc[b];
        REFILL();
        uint32_t e = t->fast[buf >> (64 - FL_HUFF_FAST)];
        int v;
        if (__builtin_expect(e & E_COMBINED, 1)) {
            buf <<= E_LEN(e);
            nbits -= E_LEN(e);
            v = E_VALUE(e);
        } else {
            SYNC_OUT(br);
            next_symbol_slow(cinfo, &br, t, e, 1, &v);
            SYNC_IN(br);
        }
        /* a long run of corrupt differences can wrap the predictor; libjpeg lets it
         * wrap (two's complement), so do the same without signed overflow */
        int c = st->comp[b];
        int last = (int)((unsigned)st->last_dc[c] + (unsigned)v);
        st->last_dc[c] = last;
        t = st->ac[b];
        if (blk != NULL)
            blk[0] = (JCOEF)last;
        /* the AC terms, k = 1..63; KEEP(k, v) stores a coefficient or drops it */
#define AC_LOOP(KEEP)                                                                     \
    for (int k = 1; k < 64; k++) {                                                        \
        REFILL();                                                                         \
        e = t->fast[buf >> (64 - FL_HUFF_FAST)];                                          \
        if (__builtin_expect(e & E_COMBINED, 1)) {                                        \
            buf <<= E_LEN(e);                                                             \
            nbits -= E_LEN(e);                                                            \
            v = E_VALUE(e);                                                               \
        } else {                                                                          \
            SYNC_OUT(br);                                                                 \
            e = next_symbol_slow(cinfo, &br, t, e, 0, &v);                                \
            SYNC_IN(br);                                                                  \
        }                                                                                 \
        if (E_SIZE(e)) {                                                                  \
            k += E_RUN(e);                                                                \
            KEEP(k, v);                                                                   \
        } else {                                                                          \
            if (E_RUN(e) != 15)                                                           \
                break;                                                                    \
            k += 15;                                                                      \
        }                                                                                 \
    }
#define STORE(k, v) (blk[natural_order[k]] = (JCOEF)(v))
#define DROP(k, v) ((void)0) /* skipped rows, or 1/8 scale: walk the symbols only */
        if (blk != NULL && st->ac_needed[b]) {
            AC_LOOP(STORE)
        } else {
            AC_LOOP(DROP)
        }
#undef AC_LOOP
#undef STORE
#undef DROP
    }
#undef REFILL
    st->buf = buf;
    st->nbits = nbits;
    st->pad = pad;
    st->pos = pos;
    /* keep libjpeg's source where the data is consumed to (a marker, at the end), so
     * that jpeg_finish_decompress would read the trailing markers from the right place */
    cinfo->src->next_input_byte = pos;
    cinfo->src->bytes_in_buffer = (size_t)(end - pos);
    if (nbits < pad) /* consumed zeros that stand in for missing data */
        fail(cinfo, JWRN_HIT_MARKER);
    return TRUE;
}

/* ------------------------------------------------------------------ install */

int fl_huff_install(j_decompress_ptr cinfo, fl_huff_state *st)
{
    /* fl_huff_verified: this libjpeg-turbo is one we were verified against (huffcheck.c) */
    if (!fl_jpeg_fast_huffman() || !fl_huff_verified())
        return 0;
    return fl_huff_take_over(cinfo, st);
}

int fl_huff_take_over(j_decompress_ptr cinfo, fl_huff_state *st)
{
    if (cinfo->progressive_mode || cinfo->arith_code || cinfo->data_precision != 8 ||
        cinfo->comps_in_scan != cinfo->num_components || cinfo->comps_in_scan > 4 ||
        cinfo->blocks_in_MCU > 10 || cinfo->Ss != 0 || cinfo->Se != 63 || cinfo->Ah != 0 ||
        cinfo->Al != 0 || cinfo->unread_marker != 0 || cinfo->entropy == NULL ||
        cinfo->src == NULL || cinfo->buffered_image)
        return 0;
    for (int b = 0; b < cinfo->blocks_in_MCU; b++) {
        int ci = cinfo->MCU_membership[b];
        if (ci < 0 || ci >= cinfo->comps_in_scan)
            return 0;
        jpeg_component_info *comp = cinfo->cur_comp_info[ci];
        int dcn = comp->dc_tbl_no, acn = comp->ac_tbl_no;
        if (dcn < 0 || dcn > 3 || acn < 0 || acn > 3 || cinfo->dc_huff_tbl_ptrs[dcn] == NULL ||
            cinfo->ac_huff_tbl_ptrs[acn] == NULL)
            return 0;
        if (!build_table(&st->tables[dcn], cinfo->dc_huff_tbl_ptrs[dcn], 1) ||
            !build_table(&st->tables[4 + acn], cinfo->ac_huff_tbl_ptrs[acn], 0))
            return 0;
        st->dc[b] = &st->tables[dcn];
        st->ac[b] = &st->tables[4 + acn];
        st->comp[b] = ci;
        /* like libjpeg: 1/8-scale output needs the DC terms only */
        st->ac_needed[b] = comp->component_needed && comp->DCT_scaled_size > 1;
    }
    st->buf = 0;
    st->nbits = 0;
    st->pad = 0;
    st->pos = cinfo->src->next_input_byte;
    st->end = st->pos + cinfo->src->bytes_in_buffer;
    for (int c = 0; c < 4; c++)
        st->last_dc[c] = 0;
    st->restarts_to_go = cinfo->restart_interval;
    st->next_restart = 0;
    cinfo->client_data = st;
    ((struct fl_entropy_head *)cinfo->entropy)->decode_mcu = decode_mcu;
    return 1;
}
