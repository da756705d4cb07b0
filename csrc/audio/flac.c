/* fastload's FLAC frame decoder (fastload/audio/codec.py decodes every FLAC stream with it).
 *
 * fl_audio_flac_decode decodes the frames of a FLAC stream (metadata already parsed by
 * codec.py) into float32 samples scaled as libsndfile scales them (v / 2 ** (bps - 1)),
 * and optionally into the byte layout libFLAC's MD5 signature covers. It handles 4- to
 * 32-bit samples (33-bit side channels; all arithmetic is int64), 1 to 8 channels, fixed
 * and variable block sizes up to 65535 and streams without STREAMINFO (the first frame
 * header sets the parameters). It verifies each frame header's CRC-8 and each frame's
 * CRC-16, checks every header field against STREAMINFO and every sample against the bit
 * depth, and on any error returns a negative FL_FLAC_E_* code with the frame, byte offset
 * and the expected and found values in res (codec.py words them). It is resumable: when
 * out is full (a stream of unknown length) it returns FL_FLAC_MORE and continues from res
 * with larger arrays.
 *
 * Format reference: the FLAC format specification (RFC 9639): frame header, CONSTANT /
 * VERBATIM / FIXED / LPC subframes, Rice-coded residual with partitions and escapes,
 * wasted bits, stereo decorrelation (left/side, side/right, mid/side).
 *
 * The bit reader keeps up to 64 bits MSB-aligned in acc (bits past the nb valid ones are
 * zero); a read past the end sets nb = -1, and every function checks it. Sample
 * arithmetic on possibly corrupt data (predictors, decorrelation, wasted-bit shifts) runs
 * in uint64 and is read back as int64: it wraps as two's complement instead of being
 * undefined behaviour, and the range check then refuses the frame.
 */
#include <stdint.h>
#include <string.h>

#include "fastload/audio.h"

#define R_STATUS FL_FLAC_R_STATUS
#define R_POS FL_FLAC_R_POS
#define R_DONE FL_FLAC_R_DONE
#define R_FRAME FL_FLAC_R_FRAME
#define R_DETAIL FL_FLAC_R_DETAIL
#define R_EXPECTED FL_FLAC_R_EXPECTED
#define R_FOUND FL_FLAC_R_FOUND

/* CRC-8 (poly 0x07) of frame headers and CRC-16 (poly 0x8005) of frames, MSB first.
 * CRC16[k][x] is the CRC of byte x followed by k zero bytes: the CRC is linear, so four
 * lookups combine by xor into one step of four bytes. */
static const uint8_t CRC8[256] = {
    0x00, 0x07, 0x0E, 0x09, 0x1C, 0x1B, 0x12, 0x15,
    0x38, 0x3F, 0x36, 0x31, 0x24, 0x23, 0x2A, 0x2D,
    0x70, 0x77, 0x7E, 0x79, 0x6C, 0x6B, 0x62, 0x65,
    0x48, 0x4F, 0x46, 0x41, 0x54, 0x53, 0x5A, 0x5D,
    0xE0, 0xE7, 0xEE, 0xE9, 0xFC, 0xFB, 0xF2, 0xF5,
    0xD8, 0xDF, 0xD6, 0xD1, 0xC4, 0xC3, 0xCA, 0xCD,
    0x90, 0x97, 0x9E, 0x99, 0x8C, 0x8B, 0x82, 0x85,
    0xA8, 0xAF, 0xA6, 0xA1, 0xB4, 0xB3, 0xBA, 0xBD,
    0xC7, 0xC0, 0xC9, 0xCE, 0xDB, 0xDC, 0xD5, 0xD2,
    0xFF, 0xF8, 0xF1, 0xF6, 0xE3, 0xE4, 0xED, 0xEA,
    0xB7, 0xB0, 0xB9, 0xBE, 0xAB, 0xAC, 0xA5, 0xA2,
    0x8F, 0x88, 0x81, 0x86, 0x93, 0x94, 0x9D, 0x9A,
    0x27, 0x20, 0x29, 0x2E, 0x3B, 0x3C, 0x35, 0x32,
    0x1F, 0x18, 0x11, 0x16, 0x03, 0x04, 0x0D, 0x0A,
    0x57, 0x50, 0x59, 0x5E, 0x4B, 0x4C, 0x45, 0x42,
    0x6F, 0x68, 0x61, 0x66, 0x73, 0x74, 0x7D, 0x7A,
    0x89, 0x8E, 0x87, 0x80, 0x95, 0x92, 0x9B, 0x9C,
    0xB1, 0xB6, 0xBF, 0xB8, 0xAD, 0xAA, 0xA3, 0xA4,
    0xF9, 0xFE, 0xF7, 0xF0, 0xE5, 0xE2, 0xEB, 0xEC,
    0xC1, 0xC6, 0xCF, 0xC8, 0xDD, 0xDA, 0xD3, 0xD4,
    0x69, 0x6E, 0x67, 0x60, 0x75, 0x72, 0x7B, 0x7C,
    0x51, 0x56, 0x5F, 0x58, 0x4D, 0x4A, 0x43, 0x44,
    0x19, 0x1E, 0x17, 0x10, 0x05, 0x02, 0x0B, 0x0C,
    0x21, 0x26, 0x2F, 0x28, 0x3D, 0x3A, 0x33, 0x34,
    0x4E, 0x49, 0x40, 0x47, 0x52, 0x55, 0x5C, 0x5B,
    0x76, 0x71, 0x78, 0x7F, 0x6A, 0x6D, 0x64, 0x63,
    0x3E, 0x39, 0x30, 0x37, 0x22, 0x25, 0x2C, 0x2B,
    0x06, 0x01, 0x08, 0x0F, 0x1A, 0x1D, 0x14, 0x13,
    0xAE, 0xA9, 0xA0, 0xA7, 0xB2, 0xB5, 0xBC, 0xBB,
    0x96, 0x91, 0x98, 0x9F, 0x8A, 0x8D, 0x84, 0x83,
    0xDE, 0xD9, 0xD0, 0xD7, 0xC2, 0xC5, 0xCC, 0xCB,
    0xE6, 0xE1, 0xE8, 0xEF, 0xFA, 0xFD, 0xF4, 0xF3,
};

static const uint16_t CRC16[4][256] = {
    {
        0x0000, 0x8005, 0x800F, 0x000A, 0x801B, 0x001E, 0x0014, 0x8011, 0x8033, 0x0036, 0x003C, 0x8039,
        0x0028, 0x802D, 0x8027, 0x0022, 0x8063, 0x0066, 0x006C, 0x8069, 0x0078, 0x807D, 0x8077, 0x0072,
        0x0050, 0x8055, 0x805F, 0x005A, 0x804B, 0x004E, 0x0044, 0x8041, 0x80C3, 0x00C6, 0x00CC, 0x80C9,
        0x00D8, 0x80DD, 0x80D7, 0x00D2, 0x00F0, 0x80F5, 0x80FF, 0x00FA, 0x80EB, 0x00EE, 0x00E4, 0x80E1,
        0x00A0, 0x80A5, 0x80AF, 0x00AA, 0x80BB, 0x00BE, 0x00B4, 0x80B1, 0x8093, 0x0096, 0x009C, 0x8099,
        0x0088, 0x808D, 0x8087, 0x0082, 0x8183, 0x0186, 0x018C, 0x8189, 0x0198, 0x819D, 0x8197, 0x0192,
        0x01B0, 0x81B5, 0x81BF, 0x01BA, 0x81AB, 0x01AE, 0x01A4, 0x81A1, 0x01E0, 0x81E5, 0x81EF, 0x01EA,
        0x81FB, 0x01FE, 0x01F4, 0x81F1, 0x81D3, 0x01D6, 0x01DC, 0x81D9, 0x01C8, 0x81CD, 0x81C7, 0x01C2,
        0x0140, 0x8145, 0x814F, 0x014A, 0x815B, 0x015E, 0x0154, 0x8151, 0x8173, 0x0176, 0x017C, 0x8179,
        0x0168, 0x816D, 0x8167, 0x0162, 0x8123, 0x0126, 0x012C, 0x8129, 0x0138, 0x813D, 0x8137, 0x0132,
        0x0110, 0x8115, 0x811F, 0x011A, 0x810B, 0x010E, 0x0104, 0x8101, 0x8303, 0x0306, 0x030C, 0x8309,
        0x0318, 0x831D, 0x8317, 0x0312, 0x0330, 0x8335, 0x833F, 0x033A, 0x832B, 0x032E, 0x0324, 0x8321,
        0x0360, 0x8365, 0x836F, 0x036A, 0x837B, 0x037E, 0x0374, 0x8371, 0x8353, 0x0356, 0x035C, 0x8359,
        0x0348, 0x834D, 0x8347, 0x0342, 0x03C0, 0x83C5, 0x83CF, 0x03CA, 0x83DB, 0x03DE, 0x03D4, 0x83D1,
        0x83F3, 0x03F6, 0x03FC, 0x83F9, 0x03E8, 0x83ED, 0x83E7, 0x03E2, 0x83A3, 0x03A6, 0x03AC, 0x83A9,
        0x03B8, 0x83BD, 0x83B7, 0x03B2, 0x0390, 0x8395, 0x839F, 0x039A, 0x838B, 0x038E, 0x0384, 0x8381,
        0x0280, 0x8285, 0x828F, 0x028A, 0x829B, 0x029E, 0x0294, 0x8291, 0x82B3, 0x02B6, 0x02BC, 0x82B9,
        0x02A8, 0x82AD, 0x82A7, 0x02A2, 0x82E3, 0x02E6, 0x02EC, 0x82E9, 0x02F8, 0x82FD, 0x82F7, 0x02F2,
        0x02D0, 0x82D5, 0x82DF, 0x02DA, 0x82CB, 0x02CE, 0x02C4, 0x82C1, 0x8243, 0x0246, 0x024C, 0x8249,
        0x0258, 0x825D, 0x8257, 0x0252, 0x0270, 0x8275, 0x827F, 0x027A, 0x826B, 0x026E, 0x0264, 0x8261,
        0x0220, 0x8225, 0x822F, 0x022A, 0x823B, 0x023E, 0x0234, 0x8231, 0x8213, 0x0216, 0x021C, 0x8219,
        0x0208, 0x820D, 0x8207, 0x0202,
    },
    {
        0x0000, 0x8603, 0x8C03, 0x0A00, 0x9803, 0x1E00, 0x1400, 0x9203, 0xB003, 0x3600, 0x3C00, 0xBA03,
        0x2800, 0xAE03, 0xA403, 0x2200, 0xE003, 0x6600, 0x6C00, 0xEA03, 0x7800, 0xFE03, 0xF403, 0x7200,
        0x5000, 0xD603, 0xDC03, 0x5A00, 0xC803, 0x4E00, 0x4400, 0xC203, 0x4003, 0xC600, 0xCC00, 0x4A03,
        0xD800, 0x5E03, 0x5403, 0xD200, 0xF000, 0x7603, 0x7C03, 0xFA00, 0x6803, 0xEE00, 0xE400, 0x6203,
        0xA000, 0x2603, 0x2C03, 0xAA00, 0x3803, 0xBE00, 0xB400, 0x3203, 0x1003, 0x9600, 0x9C00, 0x1A03,
        0x8800, 0x0E03, 0x0403, 0x8200, 0x8006, 0x0605, 0x0C05, 0x8A06, 0x1805, 0x9E06, 0x9406, 0x1205,
        0x3005, 0xB606, 0xBC06, 0x3A05, 0xA806, 0x2E05, 0x2405, 0xA206, 0x6005, 0xE606, 0xEC06, 0x6A05,
        0xF806, 0x7E05, 0x7405, 0xF206, 0xD006, 0x5605, 0x5C05, 0xDA06, 0x4805, 0xCE06, 0xC406, 0x4205,
        0xC005, 0x4606, 0x4C06, 0xCA05, 0x5806, 0xDE05, 0xD405, 0x5206, 0x7006, 0xF605, 0xFC05, 0x7A06,
        0xE805, 0x6E06, 0x6406, 0xE205, 0x2006, 0xA605, 0xAC05, 0x2A06, 0xB805, 0x3E06, 0x3406, 0xB205,
        0x9005, 0x1606, 0x1C06, 0x9A05, 0x0806, 0x8E05, 0x8405, 0x0206, 0x8009, 0x060A, 0x0C0A, 0x8A09,
        0x180A, 0x9E09, 0x9409, 0x120A, 0x300A, 0xB609, 0xBC09, 0x3A0A, 0xA809, 0x2E0A, 0x240A, 0xA209,
        0x600A, 0xE609, 0xEC09, 0x6A0A, 0xF809, 0x7E0A, 0x740A, 0xF209, 0xD009, 0x560A, 0x5C0A, 0xDA09,
        0x480A, 0xCE09, 0xC409, 0x420A, 0xC00A, 0x4609, 0x4C09, 0xCA0A, 0x5809, 0xDE0A, 0xD40A, 0x5209,
        0x7009, 0xF60A, 0xFC0A, 0x7A09, 0xE80A, 0x6E09, 0x6409, 0xE20A, 0x2009, 0xA60A, 0xAC0A, 0x2A09,
        0xB80A, 0x3E09, 0x3409, 0xB20A, 0x900A, 0x1609, 0x1C09, 0x9A0A, 0x0809, 0x8E0A, 0x840A, 0x0209,
        0x000F, 0x860C, 0x8C0C, 0x0A0F, 0x980C, 0x1E0F, 0x140F, 0x920C, 0xB00C, 0x360F, 0x3C0F, 0xBA0C,
        0x280F, 0xAE0C, 0xA40C, 0x220F, 0xE00C, 0x660F, 0x6C0F, 0xEA0C, 0x780F, 0xFE0C, 0xF40C, 0x720F,
        0x500F, 0xD60C, 0xDC0C, 0x5A0F, 0xC80C, 0x4E0F, 0x440F, 0xC20C, 0x400C, 0xC60F, 0xCC0F, 0x4A0C,
        0xD80F, 0x5E0C, 0x540C, 0xD20F, 0xF00F, 0x760C, 0x7C0C, 0xFA0F, 0x680C, 0xEE0F, 0xE40F, 0x620C,
        0xA00F, 0x260C, 0x2C0C, 0xAA0F, 0x380C, 0xBE0F, 0xB40F, 0x320C, 0x100C, 0x960F, 0x9C0F, 0x1A0C,
        0x880F, 0x0E0C, 0x040C, 0x820F,
    },
    {
        0x0000, 0x8017, 0x802B, 0x003C, 0x8053, 0x0044, 0x0078, 0x806F, 0x80A3, 0x00B4, 0x0088, 0x809F,
        0x00F0, 0x80E7, 0x80DB, 0x00CC, 0x8143, 0x0154, 0x0168, 0x817F, 0x0110, 0x8107, 0x813B, 0x012C,
        0x01E0, 0x81F7, 0x81CB, 0x01DC, 0x81B3, 0x01A4, 0x0198, 0x818F, 0x8283, 0x0294, 0x02A8, 0x82BF,
        0x02D0, 0x82C7, 0x82FB, 0x02EC, 0x0220, 0x8237, 0x820B, 0x021C, 0x8273, 0x0264, 0x0258, 0x824F,
        0x03C0, 0x83D7, 0x83EB, 0x03FC, 0x8393, 0x0384, 0x03B8, 0x83AF, 0x8363, 0x0374, 0x0348, 0x835F,
        0x0330, 0x8327, 0x831B, 0x030C, 0x8503, 0x0514, 0x0528, 0x853F, 0x0550, 0x8547, 0x857B, 0x056C,
        0x05A0, 0x85B7, 0x858B, 0x059C, 0x85F3, 0x05E4, 0x05D8, 0x85CF, 0x0440, 0x8457, 0x846B, 0x047C,
        0x8413, 0x0404, 0x0438, 0x842F, 0x84E3, 0x04F4, 0x04C8, 0x84DF, 0x04B0, 0x84A7, 0x849B, 0x048C,
        0x0780, 0x8797, 0x87AB, 0x07BC, 0x87D3, 0x07C4, 0x07F8, 0x87EF, 0x8723, 0x0734, 0x0708, 0x871F,
        0x0770, 0x8767, 0x875B, 0x074C, 0x86C3, 0x06D4, 0x06E8, 0x86FF, 0x0690, 0x8687, 0x86BB, 0x06AC,
        0x0660, 0x8677, 0x864B, 0x065C, 0x8633, 0x0624, 0x0618, 0x860F, 0x8A03, 0x0A14, 0x0A28, 0x8A3F,
        0x0A50, 0x8A47, 0x8A7B, 0x0A6C, 0x0AA0, 0x8AB7, 0x8A8B, 0x0A9C, 0x8AF3, 0x0AE4, 0x0AD8, 0x8ACF,
        0x0B40, 0x8B57, 0x8B6B, 0x0B7C, 0x8B13, 0x0B04, 0x0B38, 0x8B2F, 0x8BE3, 0x0BF4, 0x0BC8, 0x8BDF,
        0x0BB0, 0x8BA7, 0x8B9B, 0x0B8C, 0x0880, 0x8897, 0x88AB, 0x08BC, 0x88D3, 0x08C4, 0x08F8, 0x88EF,
        0x8823, 0x0834, 0x0808, 0x881F, 0x0870, 0x8867, 0x885B, 0x084C, 0x89C3, 0x09D4, 0x09E8, 0x89FF,
        0x0990, 0x8987, 0x89BB, 0x09AC, 0x0960, 0x8977, 0x894B, 0x095C, 0x8933, 0x0924, 0x0918, 0x890F,
        0x0F00, 0x8F17, 0x8F2B, 0x0F3C, 0x8F53, 0x0F44, 0x0F78, 0x8F6F, 0x8FA3, 0x0FB4, 0x0F88, 0x8F9F,
        0x0FF0, 0x8FE7, 0x8FDB, 0x0FCC, 0x8E43, 0x0E54, 0x0E68, 0x8E7F, 0x0E10, 0x8E07, 0x8E3B, 0x0E2C,
        0x0EE0, 0x8EF7, 0x8ECB, 0x0EDC, 0x8EB3, 0x0EA4, 0x0E98, 0x8E8F, 0x8D83, 0x0D94, 0x0DA8, 0x8DBF,
        0x0DD0, 0x8DC7, 0x8DFB, 0x0DEC, 0x0D20, 0x8D37, 0x8D0B, 0x0D1C, 0x8D73, 0x0D64, 0x0D58, 0x8D4F,
        0x0CC0, 0x8CD7, 0x8CEB, 0x0CFC, 0x8C93, 0x0C84, 0x0CB8, 0x8CAF, 0x8C63, 0x0C74, 0x0C48, 0x8C5F,
        0x0C30, 0x8C27, 0x8C1B, 0x0C0C,
    },
    {
        0x0000, 0x9403, 0xA803, 0x3C00, 0xD003, 0x4400, 0x7800, 0xEC03, 0x2003, 0xB400, 0x8800, 0x1C03,
        0xF000, 0x6403, 0x5803, 0xCC00, 0x4006, 0xD405, 0xE805, 0x7C06, 0x9005, 0x0406, 0x3806, 0xAC05,
        0x6005, 0xF406, 0xC806, 0x5C05, 0xB006, 0x2405, 0x1805, 0x8C06, 0x800C, 0x140F, 0x280F, 0xBC0C,
        0x500F, 0xC40C, 0xF80C, 0x6C0F, 0xA00F, 0x340C, 0x080C, 0x9C0F, 0x700C, 0xE40F, 0xD80F, 0x4C0C,
        0xC00A, 0x5409, 0x6809, 0xFC0A, 0x1009, 0x840A, 0xB80A, 0x2C09, 0xE009, 0x740A, 0x480A, 0xDC09,
        0x300A, 0xA409, 0x9809, 0x0C0A, 0x801D, 0x141E, 0x281E, 0xBC1D, 0x501E, 0xC41D, 0xF81D, 0x6C1E,
        0xA01E, 0x341D, 0x081D, 0x9C1E, 0x701D, 0xE41E, 0xD81E, 0x4C1D, 0xC01B, 0x5418, 0x6818, 0xFC1B,
        0x1018, 0x841B, 0xB81B, 0x2C18, 0xE018, 0x741B, 0x481B, 0xDC18, 0x301B, 0xA418, 0x9818, 0x0C1B,
        0x0011, 0x9412, 0xA812, 0x3C11, 0xD012, 0x4411, 0x7811, 0xEC12, 0x2012, 0xB411, 0x8811, 0x1C12,
        0xF011, 0x6412, 0x5812, 0xCC11, 0x4017, 0xD414, 0xE814, 0x7C17, 0x9014, 0x0417, 0x3817, 0xAC14,
        0x6014, 0xF417, 0xC817, 0x5C14, 0xB017, 0x2414, 0x1814, 0x8C17, 0x803F, 0x143C, 0x283C, 0xBC3F,
        0x503C, 0xC43F, 0xF83F, 0x6C3C, 0xA03C, 0x343F, 0x083F, 0x9C3C, 0x703F, 0xE43C, 0xD83C, 0x4C3F,
        0xC039, 0x543A, 0x683A, 0xFC39, 0x103A, 0x8439, 0xB839, 0x2C3A, 0xE03A, 0x7439, 0x4839, 0xDC3A,
        0x3039, 0xA43A, 0x983A, 0x0C39, 0x0033, 0x9430, 0xA830, 0x3C33, 0xD030, 0x4433, 0x7833, 0xEC30,
        0x2030, 0xB433, 0x8833, 0x1C30, 0xF033, 0x6430, 0x5830, 0xCC33, 0x4035, 0xD436, 0xE836, 0x7C35,
        0x9036, 0x0435, 0x3835, 0xAC36, 0x6036, 0xF435, 0xC835, 0x5C36, 0xB035, 0x2436, 0x1836, 0x8C35,
        0x0022, 0x9421, 0xA821, 0x3C22, 0xD021, 0x4422, 0x7822, 0xEC21, 0x2021, 0xB422, 0x8822, 0x1C21,
        0xF022, 0x6421, 0x5821, 0xCC22, 0x4024, 0xD427, 0xE827, 0x7C24, 0x9027, 0x0424, 0x3824, 0xAC27,
        0x6027, 0xF424, 0xC824, 0x5C27, 0xB024, 0x2427, 0x1827, 0x8C24, 0x802E, 0x142D, 0x282D, 0xBC2E,
        0x502D, 0xC42E, 0xF82E, 0x6C2D, 0xA02D, 0x342E, 0x082E, 0x9C2D, 0x702E, 0xE42D, 0xD82D, 0x4C2E,
        0xC028, 0x542B, 0x682B, 0xFC28, 0x102B, 0x8428, 0xB828, 0x2C2B, 0xE02B, 0x7428, 0x4828, 0xDC2B,
        0x3028, 0xA42B, 0x982B, 0x0C28,
    },
};

/* Frame-header sample rates by code (0: from STREAMINFO; 12-14: coded after the header). */
static const int64_t RATES[12] = {0,     88200, 176400, 192000, 8000,  16000,
                                  22050, 24000, 32000,  44100,  48000, 96000};
/* Frame-header bits per sample by code (0: from STREAMINFO; 3: reserved). */
static const int64_t BPS[8] = {0, 8, 12, -1, 16, 20, 24, 32};

/* Every helper is inlined into each path's copy of the decoder (decode_portable,
 * decode_v3), so that copy is compiled for that path's instruction set. */
#define FL_INLINE static inline __attribute__((always_inline))

#define U(x) ((uint64_t)(x))
#define S(x) ((int64_t)(x))

typedef struct {
    const uint8_t *buf;
    int64_t n;   /* bytes in buf */
    int64_t bp;  /* next byte to load into acc */
    uint64_t acc;
    int64_t nb;  /* valid bits in acc; -1 after a read past the end */
} bits_t;

FL_INLINE uint64_t load_be64(const uint8_t *p)
{
    uint64_t w;
    memcpy(&w, p, 8);
    return __builtin_bswap64(w);
}

/* Top up acc to 56..63 bits (fewer at the end of the data). */
FL_INLINE void bits_fill(bits_t *r)
{
    if (r->nb < 0)
        return;
    if (r->nb <= 56 && r->bp + 8 <= r->n) {
        uint64_t w = load_be64(r->buf + r->bp);
        int64_t take = (63 - r->nb) >> 3;
        int64_t nb2 = r->nb + 8 * take; /* 56..63: keep the bits past it zero */
        r->acc |= (w >> r->nb) & ~((U(1) << (64 - nb2)) - 1);
        r->bp += take;
        r->nb = nb2;
        return;
    }
    while (r->nb <= 56 && r->bp < r->n) {
        r->acc |= U(r->buf[r->bp]) << (56 - r->nb);
        r->nb += 8;
        r->bp += 1;
    }
}

/* Read k (0..33) bits, unsigned. */
FL_INLINE int64_t bits_get(bits_t *r, int64_t k)
{
    if (k == 0)
        return 0;
    if (r->nb < k) {
        bits_fill(r);
        if (r->nb < k) {
            r->nb = -1;
            return 0;
        }
    }
    int64_t v = S(r->acc >> (64 - k));
    r->acc <<= k;
    r->nb -= k;
    return v;
}

FL_INLINE int64_t bits_get_signed(bits_t *r, int64_t k)
{
    int64_t v = bits_get(r, k);
    if (k > 0 && v >= (INT64_C(1) << (k - 1)))
        v -= INT64_C(1) << k;
    return v;
}

/* Count zero bits up to and including the next one bit (returns the zero count). */
FL_INLINE int64_t bits_unary(bits_t *r)
{
    int64_t q = 0;
    for (;;) {
        if (r->nb < 0) {
            r->nb = -1;
            return q;
        }
        if (r->nb == 0) {
            bits_fill(r);
            if (r->nb == 0) {
                r->nb = -1;
                return q;
            }
        }
        if (r->acc == 0) {
            q += r->nb;
            r->nb = 0;
            continue;
        }
        int64_t z = __builtin_clzll(r->acc);
        r->acc = (r->acc << z) << 1;
        r->nb -= z + 1;
        return q + z;
    }
}

/* Absolute bit position of the reader. */
FL_INLINE int64_t bits_pos(const bits_t *r)
{
    return r->bp * 8 - r->nb;
}

/* Rice-coded residual of one subframe into dst[order:blocksize]; r->nb = -1 on error
 * (with res[R_DETAIL] set for corrupt data, left 0 when the data ended). */
FL_INLINE void residual(bits_t *r, int64_t blocksize, int64_t order, int64_t *dst, int64_t *res)
{
    int64_t method = bits_get(r, 2);
    if (r->nb < 0)
        return;
    if (method > 1) {
        res[R_DETAIL] = FL_FLAC_S_CODING;
        r->nb = -1;
        return;
    }
    int64_t pbits = method == 0 ? 4 : 5;
    int64_t escape = method == 0 ? 15 : 31;
    int64_t porder = bits_get(r, 4);
    if (r->nb < 0)
        return;
    int64_t nparts = INT64_C(1) << porder;
    int64_t psize = blocksize >> porder;
    if (blocksize % nparts != 0 || psize < order) {
        res[R_DETAIL] = FL_FLAC_S_PARTITION;
        r->nb = -1;
        return;
    }
    int64_t i = order;
    for (int64_t part = 0; part < nparts; part++) {
        int64_t end = (part + 1) * psize;
        int64_t k = bits_get(r, pbits);
        if (r->nb < 0)
            return;
        if (k == escape) {
            int64_t raw = bits_get(r, 5);
            if (r->nb < 0)
                return;
            for (; i < end; i++) {
                int64_t v = bits_get_signed(r, raw);
                if (r->nb < 0)
                    return;
                dst[i] = v;
            }
            continue;
        }
        /* the hot loop: reader state in locals */
        const uint8_t *buf = r->buf;
        int64_t n = r->n, bp = r->bp, nb = r->nb;
        uint64_t acc = r->acc;
        while (i < end) {
            if (nb < 32) {
                if (bp + 8 <= n) {
                    uint64_t w = load_be64(buf + bp);
                    int64_t take = (63 - nb) >> 3;
                    int64_t nb2 = nb + 8 * take;
                    acc |= (w >> nb) & ~((U(1) << (64 - nb2)) - 1);
                    bp += take;
                    nb = nb2;
                } else {
                    while (nb <= 56 && bp < n) {
                        acc |= U(buf[bp]) << (56 - nb);
                        nb += 8;
                        bp += 1;
                    }
                }
            }
            if (acc != 0) {
                int64_t z = __builtin_clzll(acc);
                if (z + 1 + k <= nb) { /* whole codeword in the buffer */
                    acc = (acc << z) << 1;
                    uint64_t low = (acc >> 1) >> (63 - k); /* top k bits (0 when k is 0) */
                    acc <<= k;
                    nb -= z + 1 + k;
                    uint64_t u = (U(z) << k) | low;
                    dst[i] = S(u >> 1) ^ -S(u & 1);
                    i++;
                    continue;
                }
            }
            /* a long quotient, or the end of the data: the general path */
            r->bp = bp;
            r->acc = acc;
            r->nb = nb;
            int64_t q = bits_unary(r);
            if (r->nb < 0)
                return;
            if (q > (INT64_C(1) << 31)) {
                res[R_DETAIL] = FL_FLAC_S_RICE;
                r->nb = -1;
                return;
            }
            int64_t low = bits_get(r, k);
            if (r->nb < 0)
                return;
            uint64_t u = (U(q) << k) | U(low);
            dst[i] = S(u >> 1) ^ -S(u & 1);
            i++;
            bp = r->bp;
            acc = r->acc;
            nb = r->nb;
        }
        r->bp = bp;
        r->acc = acc;
        r->nb = nb;
    }
}

/* dst[i] += (sum_j c[j] * dst[i - order + j]) >> shift for i in [start, blocksize)
 * (c reversed: c[order - 1] multiplies dst[i - 1]). */
FL_INLINE void lpc_generic(int64_t *dst, const int64_t *c, int64_t order, int64_t start,
                        int64_t blocksize, int64_t shift)
{
    for (int64_t i = start; i < blocksize; i++) {
        uint64_t s = 0;
        const int64_t *base = dst + i - order;
        for (int64_t j = 0; j < order; j++)
            s += U(c[j]) * U(base[j]);
        dst[i] = S(U(dst[i]) + U(S(s) >> shift));
    }
}

/* Fixed tap counts (8, 16, 32; coefficients zero-padded at the front) let the compiler
 * unroll the dot product; only the newest sample is on the loop-carried critical path. */
#define LPC_FIXED(W)                                                                       \
    FL_INLINE void lpc##W(int64_t *dst, const int64_t *c, int64_t blocksize, int64_t shift)  \
    {                                                                                      \
        for (int64_t i = W; i < blocksize; i++) {                                          \
            uint64_t s = 0;                                                                \
            const int64_t *base = dst + i - W;                                             \
            _Pragma("GCC unroll 32") for (int j = 0; j < W; j++) s += U(c[j]) * U(base[j]); \
            dst[i] = S(U(dst[i]) + U(S(s) >> shift));                                      \
        }                                                                                  \
    }
LPC_FIXED(8)
LPC_FIXED(16)
LPC_FIXED(32)

FL_INLINE void lpc(int64_t *dst, const int64_t *coefs, int64_t order, int64_t blocksize,
                int64_t shift)
{
    int64_t width = order <= 8 ? 8 : (order <= 16 ? 16 : 32);
    if (blocksize <= width) {
        lpc_generic(dst, coefs, order, order, blocksize, shift);
        return;
    }
    lpc_generic(dst, coefs, order, order, width, shift);
    int64_t pad[32];
    for (int64_t j = 0; j < width - order; j++)
        pad[j] = 0;
    for (int64_t j = 0; j < order; j++)
        pad[width - order + j] = coefs[j];
    if (width == 8)
        lpc8(dst, pad, blocksize, shift);
    else if (width == 16)
        lpc16(dst, pad, blocksize, shift);
    else
        lpc32(dst, pad, blocksize, shift);
}

/* Warm-up samples of a FIXED or LPC subframe into dst[:order]. */
FL_INLINE void warmup(bits_t *r, int64_t *dst, int64_t order, int64_t bps)
{
    for (int64_t i = 0; i < order; i++) {
        int64_t v = bits_get_signed(r, bps);
        if (r->nb < 0)
            return;
        dst[i] = v;
    }
}

/* One subframe into dst[:blocksize] (int64); r->nb = -1 on error (with res[R_DETAIL]
 * set to the S_* reason, or 0 when the data ended). */
FL_INLINE void subframe(bits_t *r, int64_t blocksize, int64_t bps, int64_t *dst, int64_t *res)
{
    int64_t pad = bits_get(r, 1);
    if (r->nb < 0)
        return;
    if (pad != 0) {
        res[R_DETAIL] = FL_FLAC_S_PAD_BIT;
        r->nb = -1;
        return;
    }
    int64_t kind = bits_get(r, 6);
    if (r->nb < 0)
        return;
    int64_t has_wasted = bits_get(r, 1);
    if (r->nb < 0)
        return;
    int64_t wasted = 0;
    if (has_wasted) {
        int64_t z = bits_unary(r);
        if (r->nb < 0)
            return;
        wasted = z + 1;
        if (wasted >= bps) {
            res[R_DETAIL] = FL_FLAC_S_WASTED;
            r->nb = -1;
            return;
        }
    }
    bps -= wasted;
    if (kind == 0) { /* CONSTANT */
        int64_t v = bits_get_signed(r, bps);
        if (r->nb < 0)
            return;
        for (int64_t i = 0; i < blocksize; i++)
            dst[i] = v;
    } else if (kind == 1) { /* VERBATIM */
        for (int64_t i = 0; i < blocksize; i++) {
            int64_t v = bits_get_signed(r, bps);
            if (r->nb < 0)
                return;
            dst[i] = v;
        }
    } else if (kind >= 8 && kind <= 12) { /* FIXED, order 0..4 */
        int64_t order = kind - 8;
        if (order > blocksize) {
            res[R_DETAIL] = FL_FLAC_S_ORDER;
            r->nb = -1;
            return;
        }
        warmup(r, dst, order, bps);
        if (r->nb < 0)
            return;
        residual(r, blocksize, order, dst, res);
        if (r->nb < 0)
            return;
        if (order == 1) {
            for (int64_t i = 1; i < blocksize; i++)
                dst[i] = S(U(dst[i]) + U(dst[i - 1]));
        } else if (order == 2) {
            for (int64_t i = 2; i < blocksize; i++)
                dst[i] = S(U(dst[i]) + 2 * U(dst[i - 1]) - U(dst[i - 2]));
        } else if (order == 3) {
            for (int64_t i = 3; i < blocksize; i++)
                dst[i] = S(U(dst[i]) + 3 * U(dst[i - 1]) - 3 * U(dst[i - 2]) + U(dst[i - 3]));
        } else if (order == 4) {
            for (int64_t i = 4; i < blocksize; i++)
                dst[i] = S(U(dst[i]) + 4 * U(dst[i - 1]) - 6 * U(dst[i - 2]) +
                           4 * U(dst[i - 3]) - U(dst[i - 4]));
        }
    } else if (kind >= 32) { /* LPC, order 1..32 */
        int64_t order = kind - 31;
        if (order > blocksize) {
            res[R_DETAIL] = FL_FLAC_S_ORDER;
            r->nb = -1;
            return;
        }
        warmup(r, dst, order, bps);
        if (r->nb < 0)
            return;
        int64_t prec = bits_get(r, 4);
        if (r->nb < 0)
            return;
        if (prec == 15) {
            res[R_DETAIL] = FL_FLAC_S_PRECISION;
            r->nb = -1;
            return;
        }
        prec += 1;
        int64_t shift = bits_get_signed(r, 5);
        if (r->nb < 0)
            return;
        if (shift < 0) {
            res[R_DETAIL] = FL_FLAC_S_SHIFT;
            r->nb = -1;
            return;
        }
        int64_t coefs[32];
        for (int64_t j = 0; j < order; j++) {
            int64_t c = bits_get_signed(r, prec);
            if (r->nb < 0)
                return;
            coefs[order - 1 - j] = c; /* reversed: coefs[j] multiplies dst[i - order + j] */
        }
        residual(r, blocksize, order, dst, res);
        if (r->nb < 0)
            return;
        lpc(dst, coefs, order, blocksize, shift);
    } else {
        res[R_DETAIL] = FL_FLAC_S_TYPE;
        r->nb = -1;
        return;
    }
    if (wasted) {
        for (int64_t i = 0; i < blocksize; i++)
            dst[i] = S(U(dst[i]) << wasted);
    }
}

/* Skip the UTF-8-like coded frame / sample number (1-7 bytes): 0, -1 (data ended) or -2
 * (invalid coding). */
FL_INLINE int utf8_skip(bits_t *r)
{
    int64_t b0 = bits_get(r, 8);
    if (r->nb < 0)
        return -1;
    int extra;
    if (b0 < 0x80)
        extra = 0;
    else if (b0 >= 0xC0 && b0 < 0xE0)
        extra = 1;
    else if (b0 >= 0xE0 && b0 < 0xF0)
        extra = 2;
    else if (b0 >= 0xF0 && b0 < 0xF8)
        extra = 3;
    else if (b0 >= 0xF8 && b0 < 0xFC)
        extra = 4;
    else if (b0 >= 0xFC && b0 < 0xFE)
        extra = 5;
    else if (b0 == 0xFE)
        extra = 6;
    else
        return -2;
    for (int t = 0; t < extra; t++) {
        int64_t b = bits_get(r, 8);
        if (r->nb < 0)
            return -1;
        if ((b & 0xC0) != 0x80)
            return -2;
    }
    return 0;
}

FL_INLINE unsigned crc8(const uint8_t *buf, int64_t start, int64_t stop)
{
    unsigned c = 0;
    for (int64_t i = start; i < stop; i++)
        c = CRC8[c ^ buf[i]];
    return c;
}

FL_INLINE unsigned crc16(const uint8_t *buf, int64_t start, int64_t stop)
{
    unsigned c = 0;
    int64_t i = start;
    for (; i + 4 <= stop; i += 4)
        c = CRC16[3][(c >> 8) ^ buf[i]] ^ CRC16[2][(c & 0xFF) ^ buf[i + 1]] ^
            CRC16[1][buf[i + 2]] ^ CRC16[0][buf[i + 3]];
    for (; i < stop; i++)
        c = ((c << 8) & 0xFFFF) ^ CRC16[0][(c >> 8) ^ buf[i]];
    return c;
}

unsigned fl_audio_flac_crc8(const uint8_t *buf, size_t n)
{
    return crc8(buf, 0, (int64_t)n);
}

unsigned fl_audio_flac_crc16(const uint8_t *buf, size_t n)
{
    return crc16(buf, 0, (int64_t)n);
}

typedef struct {
    int64_t blocksize, ch_code, bps;
} header_t;

/* Parse and check the frame header at byte pos against si (channels, bits, rate; a zero
 * entry is taken from this header and stored). Returns 0 or an E_* code; on success h
 * holds the frame's parameters and r the reader after the header. */
FL_INLINE int frame_header(const uint8_t *buf, int64_t n, int64_t pos, int64_t *si,
                        int64_t *res, bits_t *r, header_t *h)
{
    r->buf = buf;
    r->n = n;
    r->bp = pos;
    r->acc = 0;
    r->nb = 0;
    bits_fill(r);
    int64_t sync = bits_get(r, 15);
    if (r->nb < 0)
        return FL_FLAC_E_TRUNCATED;
    if (sync != 0x7FFC) { /* 14-bit sync + reserved 0 */
        res[R_FOUND] = sync << 1;
        return FL_FLAC_E_SYNC;
    }
    (void)bits_get(r, 1); /* blocking strategy */
    int64_t bs_code = bits_get(r, 4);
    int64_t sr_code = bits_get(r, 4);
    int64_t ch_code = bits_get(r, 4);
    int64_t ss_code = bits_get(r, 3);
    int64_t reserved = bits_get(r, 1);
    if (r->nb < 0)
        return FL_FLAC_E_TRUNCATED;
    if (reserved != 0) {
        res[R_DETAIL] = FL_FLAC_H_RESERVED_BIT;
        return FL_FLAC_E_HEADER;
    }
    int u = utf8_skip(r);
    if (u == -2) {
        res[R_DETAIL] = FL_FLAC_H_NUMBER;
        return FL_FLAC_E_HEADER;
    }
    if (u < 0)
        return FL_FLAC_E_TRUNCATED;
    int64_t blocksize;
    if (bs_code == 0) {
        res[R_DETAIL] = FL_FLAC_H_BLOCKSIZE_CODE;
        return FL_FLAC_E_HEADER;
    } else if (bs_code == 1) {
        blocksize = 192;
    } else if (bs_code <= 5) {
        blocksize = INT64_C(576) << (bs_code - 2);
    } else if (bs_code == 6) {
        blocksize = bits_get(r, 8) + 1;
    } else if (bs_code == 7) {
        blocksize = bits_get(r, 16) + 1;
    } else {
        blocksize = INT64_C(256) << (bs_code - 8);
    }
    int64_t rate;
    if (sr_code == 12) {
        rate = bits_get(r, 8) * 1000;
    } else if (sr_code == 13) {
        rate = bits_get(r, 16);
    } else if (sr_code == 14) {
        rate = bits_get(r, 16) * 10;
    } else if (sr_code == 15) {
        res[R_DETAIL] = FL_FLAC_H_RATE_CODE;
        return FL_FLAC_E_HEADER;
    } else {
        rate = RATES[sr_code];
    }
    if (r->nb < 0)
        return FL_FLAC_E_TRUNCATED;
    int64_t hdr_end = bits_pos(r) >> 3;
    int64_t c8 = bits_get(r, 8);
    if (r->nb < 0)
        return FL_FLAC_E_TRUNCATED;
    int64_t computed = crc8(buf, pos, hdr_end);
    if (c8 != computed) {
        res[R_EXPECTED] = c8;
        res[R_FOUND] = computed;
        return FL_FLAC_E_HEADER_CRC;
    }
    /* fields that the CRC protects: now compare them with STREAMINFO */
    if (ch_code > 10) {
        res[R_DETAIL] = FL_FLAC_H_CHANNEL_CODE;
        res[R_FOUND] = ch_code;
        return FL_FLAC_E_HEADER;
    }
    if (ss_code == 3) {
        res[R_DETAIL] = FL_FLAC_H_BPS_CODE;
        return FL_FLAC_E_HEADER;
    }
    if (blocksize > 65535) {
        res[R_FOUND] = blocksize;
        return FL_FLAC_E_BLOCKSIZE;
    }
    int64_t nch = ch_code < 8 ? ch_code + 1 : 2;
    int64_t fbps = BPS[ss_code];
    if (si[0] == 0) { /* no STREAMINFO: this header defines the stream */
        if (rate == 0) {
            res[R_DETAIL] = FL_FLAC_H_NO_RATE;
            return FL_FLAC_E_HEADER;
        }
        if (fbps == 0) {
            res[R_DETAIL] = FL_FLAC_H_NO_BPS;
            return FL_FLAC_E_HEADER;
        }
        si[0] = nch;
        si[1] = fbps;
        si[2] = rate;
    }
    if (nch != si[0]) {
        res[R_EXPECTED] = si[0];
        res[R_FOUND] = nch;
        return FL_FLAC_E_CHANNELS;
    }
    if (fbps != 0 && fbps != si[1]) {
        res[R_EXPECTED] = si[1];
        res[R_FOUND] = fbps;
        return FL_FLAC_E_BPS;
    }
    if (rate != 0 && rate != si[2]) {
        res[R_EXPECTED] = si[2];
        res[R_FOUND] = rate;
        return FL_FLAC_E_RATE;
    }
    h->blocksize = blocksize;
    h->ch_code = ch_code;
    h->bps = si[1];
    return 0;
}

/* The block as libFLAC's MD5 reads it: interleaved little-endian signed integers of
 * width bytes, from sample o (interleaved index) on. */
FL_INLINE void emit_md5(uint8_t *md5, const int64_t *work, int64_t work_len, int64_t o,
                     int64_t blocksize, int64_t channels, int64_t width)
{
    int64_t step = channels * width;
    for (int64_t c = 0; c < channels; c++) {
        const int64_t *w = work + c * work_len;
        uint8_t *p = md5 + (o + c) * width;
        if (width == 2) {
            for (int64_t i = 0; i < blocksize; i++, p += step) {
                uint64_t v = U(w[i]);
                p[0] = (uint8_t)v;
                p[1] = (uint8_t)(v >> 8);
            }
        } else if (width == 1) {
            for (int64_t i = 0; i < blocksize; i++, p += step)
                p[0] = (uint8_t)U(w[i]);
        } else {
            for (int64_t i = 0; i < blocksize; i++, p += step) {
                uint64_t v = U(w[i]);
                for (int64_t b = 0; b < width; b++)
                    p[b] = (uint8_t)(v >> (8 * b));
            }
        }
    }
}

/* Whether any of w[:n] falls outside bps-bit two's complement: v fits when v + 2^(bps-1)
 * is in [0, 2^bps) as an unsigned number (one add, shift and or per sample: vectorizes). */
FL_INLINE int out_of_range(const int64_t *w, int64_t n, int64_t bps)
{
    uint64_t half = U(1) << (bps - 1), bad = 0;
    for (int64_t i = 0; i < n; i++)
        bad |= (U(w[i]) + half) >> bps;
    return bad != 0;
}

FL_INLINE int finish(int64_t *res, int status)
{
    res[R_STATUS] = status;
    return status;
}

FL_INLINE int decode(const uint8_t *buf, int64_t n_bytes, int64_t *si, int64_t *work,
                     int64_t work_len, float *out, int64_t out_len, uint8_t *md5,
                     int64_t md5_len, int64_t *res)
{
    int64_t total = si[3];
    int64_t pos = res[R_POS];
    int64_t done = res[R_DONE];
    int64_t frame = res[R_FRAME];
    for (;;) {
        if (total > 0 && done >= total) {
            /* frames past STREAMINFO's total: a wrong STREAMINFO (data after the last
             * frame that is not a frame header, e.g. an ID3v1 tag, is ignored) */
            if (pos + 6 <= n_bytes && buf[pos] == 0xFF && (buf[pos + 1] & 0xFE) == 0xF8) {
                res[R_EXPECTED] = total;
                bits_t r;
                header_t h;
                if (frame_header(buf, n_bytes, pos, si, res, &r, &h) == 0)
                    return finish(res, FL_FLAC_E_EXTRA);
            }
            return finish(res, FL_FLAC_DONE);
        }
        int id3v1 = pos + 128 == n_bytes && buf[pos] == 'T' && buf[pos + 1] == 'A' &&
                    buf[pos + 2] == 'G';
        if (total == 0 && (pos >= n_bytes || id3v1)) {
            /* the end, or an ID3v1 tag ("TAG", 128 bytes) after the last frame */
            if (frame == 0)
                return finish(res, FL_FLAC_E_TRUNCATED);
            return finish(res, FL_FLAC_DONE);
        }
        res[R_POS] = pos;
        res[R_DONE] = done;
        res[R_FRAME] = frame;
        if (pos + 6 > n_bytes)
            return finish(res, FL_FLAC_E_TRUNCATED);
        bits_t r;
        header_t h;
        int status = frame_header(buf, n_bytes, pos, si, res, &r, &h);
        if (status != 0)
            return finish(res, status);
        int64_t channels = si[0];
        int64_t blocksize = h.blocksize, ch_code = h.ch_code, bps = h.bps;
        int64_t width = (bps + 7) >> 3;
        int64_t cap = out_len / channels;
        if (md5_len > 0 && md5_len / (channels * width) < cap)
            cap = md5_len / (channels * width);
        if (total > 0 && done + blocksize > total) {
            res[R_EXPECTED] = total;
            return finish(res, FL_FLAC_E_EXTRA);
        }
        if (done + blocksize > cap)
            return finish(res, FL_FLAC_MORE);
        for (int64_t c = 0; c < channels; c++) {
            int64_t sbps = bps;
            if ((ch_code == 8 && c == 1) || (ch_code == 9 && c == 0) || (ch_code == 10 && c == 1))
                sbps += 1;
            res[R_DETAIL] = 0;
            subframe(&r, blocksize, sbps, work + c * work_len, res);
            if (r.nb < 0) {
                if (res[R_DETAIL] == 0)
                    return finish(res, FL_FLAC_E_TRUNCATED);
                res[R_FOUND] = c;
                return finish(res, FL_FLAC_E_SUBFRAME);
            }
        }
        /* byte alignment (zero bits: libFLAC calls anything else lost sync), then CRC-16 */
        int64_t bitpos = bits_pos(&r);
        int64_t frame_end = (bitpos + 7) >> 3;
        if (frame_end + 2 > n_bytes)
            return finish(res, FL_FLAC_E_TRUNCATED);
        if ((bitpos & 7) && (buf[bitpos >> 3] & ((1 << (8 - (bitpos & 7))) - 1)) != 0)
            return finish(res, FL_FLAC_E_PADDING);
        int64_t c16 = ((int64_t)buf[frame_end] << 8) | buf[frame_end + 1];
        int64_t computed = crc16(buf, pos, frame_end);
        if (c16 != computed) {
            res[R_EXPECTED] = c16;
            res[R_FOUND] = computed;
            return finish(res, FL_FLAC_E_FRAME_CRC);
        }
        if (channels == 2) {
            int64_t *a = work, *b = work + work_len;
            if (ch_code == 8) { /* left, side */
                for (int64_t i = 0; i < blocksize; i++)
                    b[i] = S(U(a[i]) - U(b[i]));
            } else if (ch_code == 9) { /* side, right */
                for (int64_t i = 0; i < blocksize; i++)
                    a[i] = S(U(a[i]) + U(b[i]));
            } else if (ch_code == 10) { /* mid, side */
                for (int64_t i = 0; i < blocksize; i++) {
                    uint64_t s = U(b[i]);
                    uint64_t m = (U(a[i]) << 1) | (s & 1);
                    a[i] = S(m + s) >> 1;
                    b[i] = S(m - s) >> 1;
                }
            }
        }
        /* every sample must fit the bit depth (libFLAC rejects such frames) */
        for (int64_t c = 0; c < channels; c++) {
            if (out_of_range(work + c * work_len, blocksize, bps)) {
                const int64_t *w = work + c * work_len;
                int64_t lo = -(INT64_C(1) << (bps - 1));
                int64_t vmin = w[0], vmax = w[0];
                for (int64_t i = 0; i < blocksize; i++) {
                    vmin = w[i] < vmin ? w[i] : vmin;
                    vmax = w[i] > vmax ? w[i] : vmax;
                }
                res[R_FOUND] = vmin < lo ? vmin : vmax;
                res[R_EXPECTED] = bps;
                return finish(res, FL_FLAC_E_RANGE);
            }
        }
        /* the samples now fit 32 bits: int32 -> float32 converts like int64 -> float32
         * (round to nearest), and vectorizes */
        float scale = (float)(1.0 / (double)(INT64_C(1) << (bps - 1)));
        int64_t o = done * channels;
        if (channels == 1) {
            const int64_t *w0 = work;
            float *dst = out + o;
            for (int64_t i = 0; i < blocksize; i++)
                dst[i] = (float)(int32_t)w0[i] * scale;
        } else if (channels == 2) {
            const int64_t *a = work, *b = work + work_len;
            float *dst = out + o;
            for (int64_t i = 0; i < blocksize; i++) {
                dst[2 * i] = (float)(int32_t)a[i] * scale;
                dst[2 * i + 1] = (float)(int32_t)b[i] * scale;
            }
        } else {
            for (int64_t c = 0; c < channels; c++) {
                const int64_t *w = work + c * work_len;
                for (int64_t i = 0; i < blocksize; i++)
                    out[o + i * channels + c] = (float)(int32_t)w[i] * scale;
            }
        }
        if (md5_len > 0)
            emit_md5(md5, work, work_len, o, blocksize, channels, width);
        pos = frame_end + 2;
        done += blocksize;
        frame += 1;
        res[R_POS] = pos;
        res[R_DONE] = done;
        res[R_FRAME] = frame;
    }
}

/* The decoder compiled twice: for any x86-64 (or other) CPU, and for x86-64-v3's integer
 * extensions (BMI2's flag-free variable shifts, LZCNT for the Rice codes, AVX2 for the
 * sample loops), picked per call from the CPU unless flags say FL_FLAC_PORTABLE. Both
 * give identical results (integer code; int32 -> float32 conversion is exact-rounded). */
#define DECODE_ARGS                                                                        \
    const uint8_t *buf, int64_t n_bytes, int64_t *si, int64_t *work, int64_t work_len,     \
        float *out, int64_t out_len, uint8_t *md5, int64_t md5_len, int64_t *res
#define DECODE_CALL buf, n_bytes, si, work, work_len, out, out_len, md5, md5_len, res

static int decode_portable(DECODE_ARGS)
{
    return decode(DECODE_CALL);
}

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <cpuid.h>
#define FL_FLAC_V3 1

/* CPU features, read once when the library is loaded (before any thread can call in, so
 * the flag is never written while being read) */
static int cpu_v3;

__attribute__((constructor)) static void detect_cpu(void)
{
    unsigned a, b, c, d;
    __builtin_cpu_init();
    /* LZCNT is CPUID 0x80000001 ECX bit 5 (ABM); older CPUs run its encoding as BSR */
    int lzcnt = __get_cpuid(0x80000001, &a, &b, &c, &d) && (c & (1u << 5));
    cpu_v3 = lzcnt && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("bmi") &&
             __builtin_cpu_supports("bmi2");
}

__attribute__((target("avx2,bmi,bmi2,lzcnt"))) static int decode_v3(DECODE_ARGS)
{
    return decode(DECODE_CALL);
}
#endif

int fl_audio_flac_path(int flags)
{
#ifdef FL_FLAC_V3
    if (cpu_v3 && !(flags & FL_FLAC_PORTABLE))
        return FL_FLAC_PATH_V3;
#endif
    (void)flags;
    return FL_FLAC_PATH_PORTABLE;
}

int fl_audio_flac_decode(const uint8_t *buf, int64_t n_bytes, int64_t *si, int64_t *work,
                         int64_t work_rows, int64_t work_len, float *out, int64_t out_len,
                         uint8_t *md5, int64_t md5_len, int64_t *res, int flags)
{
    if (buf == NULL || n_bytes < 0 || si == NULL || res == NULL || work == NULL ||
        out == NULL || out_len < 0 || md5_len < 0 || (md5_len > 0 && md5 == NULL) ||
        work_len < FL_FLAC_WORK_LEN || si[0] < 0 || si[0] > FL_FLAC_MAX_CHANNELS ||
        work_rows < (si[0] > 0 ? si[0] : FL_FLAC_MAX_CHANNELS) ||
        (si[0] > 0 && (si[1] < 4 || si[1] > 32)) || si[3] < 0 || res[R_POS] < 0 ||
        res[R_DONE] < 0 || res[R_FRAME] < 0) {
        if (res != NULL)
            res[R_STATUS] = FL_FLAC_E_ARG;
        return FL_FLAC_E_ARG;
    }
    if (fl_audio_flac_path(flags) == FL_FLAC_PATH_V3) {
#ifdef FL_FLAC_V3
        return decode_v3(DECODE_CALL);
#endif
    }
    return decode_portable(DECODE_CALL);
}
