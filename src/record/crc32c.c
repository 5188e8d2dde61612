/*
 * record/crc32c.c - CRC-32C (Castagnoli, reflected polynomial 0x82F63B78).
 *
 * Two paths with identical results: the SSE4.2 crc32 instruction, three
 * independent lanes over 8-byte words (the instruction has a latency of 3 and
 * a throughput of 1, so one lane would use a third of the unit), and a
 * portable slicing-by-8 table. The hardware path is chosen once at run time.
 */
#include "record_impl.h"

#include <string.h>

#define POLY 0x82f63b78u

static uint32_t table[8][256];

static void build_table(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = (c >> 1) ^ (POLY & (0u - (c & 1u)));
        table[0][i] = c;
    }
    for (uint32_t i = 0; i < 256; i++)
        for (int t = 1; t < 8; t++)
            table[t][i] = (table[t - 1][i] >> 8) ^ table[0][table[t - 1][i] & 0xff];
}

#if defined(__GNUC__)
#include <pthread.h>
static pthread_once_t table_once = PTHREAD_ONCE_INIT;
#define ENSURE_TABLE() pthread_once(&table_once, build_table)
#endif

uint32_t tfr_crc32c_sw(uint32_t crc, const void *data, size_t n)
{
    ENSURE_TABLE();
    const unsigned char *p = data;
    uint32_t c = ~crc;
    while (n && ((uintptr_t)p & 7)) {
        c = (c >> 8) ^ table[0][(c ^ *p++) & 0xff];
        n--;
    }
    while (n >= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        w ^= c; /* little-endian: the low 4 bytes take the CRC */
        c = table[7][w & 0xff] ^ table[6][(w >> 8) & 0xff] ^
            table[5][(w >> 16) & 0xff] ^ table[4][(w >> 24) & 0xff] ^
            table[3][(w >> 32) & 0xff] ^ table[2][(w >> 40) & 0xff] ^
            table[1][(w >> 48) & 0xff] ^ table[0][w >> 56];
        p += 8;
        n -= 8;
    }
    while (n--)
        c = (c >> 8) ^ table[0][(c ^ *p++) & 0xff];
    return ~c;
}

#if defined(__x86_64__) && defined(__GNUC__)
#include <nmmintrin.h>

/*
 * Shift a CRC state forward over `len` zero bytes: multiplication by
 * x^(8*len) mod P in the reflected domain. Used to merge the three lanes.
 */
static uint32_t gf2_mult(uint32_t a, uint32_t b)
{
    uint32_t r = 0;
    for (int i = 0; i < 32; i++) {
        if (a & 0x80000000u)
            r ^= b;
        a <<= 1;
        b = (b >> 1) ^ (POLY & (0u - (b & 1u)));
    }
    return r;
}

static uint32_t xpow8n(size_t n) /* x^(8n) mod P, reflected */
{
    uint32_t p = 0x80000000u; /* x^0 */
    uint32_t sq = 0x00800000u; /* x^8 */
    while (n) {
        if (n & 1)
            p = gf2_mult(p, sq);
        sq = gf2_mult(sq, sq);
        n >>= 1;
    }
    return p;
}

#define LANE 2048 /* bytes per lane per round */
static uint32_t lane_shift; /* x^(8*LANE) */

__attribute__((target("sse4.2")))
static uint32_t crc_hw(uint32_t crc, const unsigned char *p, size_t n)
{
    uint64_t c0 = ~crc;
    while (n && ((uintptr_t)p & 7)) {
        c0 = _mm_crc32_u8((uint32_t)c0, *p++);
        n--;
    }
    while (n >= 3 * LANE) {
        uint64_t c1 = 0, c2 = 0;
        const unsigned char *a = p, *b = p + LANE, *d = p + 2 * LANE;
        for (size_t i = 0; i < LANE; i += 8) {
            uint64_t wa, wb, wd;
            memcpy(&wa, a + i, 8);
            memcpy(&wb, b + i, 8);
            memcpy(&wd, d + i, 8);
            c0 = _mm_crc32_u64(c0, wa);
            c1 = _mm_crc32_u64(c1, wb);
            c2 = _mm_crc32_u64(c2, wd);
        }
        /* crc(A||B) = shift(crc(A), |B|) ^ crc_raw(B) with zero init */
        uint32_t m = gf2_mult(lane_shift, (uint32_t)c0) ^ (uint32_t)c1;
        m = gf2_mult(lane_shift, m) ^ (uint32_t)c2;
        c0 = m;
        p += 3 * LANE;
        n -= 3 * LANE;
    }
    while (n >= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        c0 = _mm_crc32_u64(c0, w);
        p += 8;
        n -= 8;
    }
    while (n--)
        c0 = _mm_crc32_u8((uint32_t)c0, *p++);
    return ~(uint32_t)c0;
}

static int hw_state = -1; /* -1 unknown, 0 no, 1 yes */

static void detect(void)
{
    __builtin_cpu_init();
    lane_shift = xpow8n(LANE);
    __atomic_store_n(&hw_state, __builtin_cpu_supports("sse4.2") ? 1 : 0,
                     __ATOMIC_RELEASE);
}

static pthread_once_t detect_once = PTHREAD_ONCE_INIT;

int tfr_crc32c_has_hw(void)
{
    pthread_once(&detect_once, detect);
    return __atomic_load_n(&hw_state, __ATOMIC_ACQUIRE);
}

uint32_t tfr_crc32c_hw(uint32_t crc, const void *data, size_t n)
{
    if (!tfr_crc32c_has_hw())
        return tfr_crc32c_sw(crc, data, n);
    return crc_hw(crc, data, n);
}

/* independent positions: the loop keeps several crc32 instructions in flight */
__attribute__((target("sse4.2")))
static size_t scan_hw(const uint8_t *p, size_t n, uint64_t max)
{
    for (size_t i = 0; i < n; i++) {
        uint64_t w;
        uint32_t m;
        memcpy(&w, p + i, 8);
        memcpy(&m, p + i + 8, 4); /* x86-64: little-endian */
        uint32_t c = ~(uint32_t)_mm_crc32_u64(0xffffffffu, w);
        if (__builtin_expect(tfr_crc_mask(c) == m, 0) && w <= max)
            return i;
    }
    return n;
}

size_t tfr_header_scan(const uint8_t *p, size_t n, uint64_t max, uint64_t *checks)
{
    size_t i;
    if (tfr_crc32c_has_hw()) {
        i = scan_hw(p, n, max);
    } else {
        for (i = 0; i < n; i++)
            if (tfr_crc_mask(tfr_crc32c_sw(0, p + i, 8)) == tfr_get_le32(p + i + 8) &&
                tfr_get_le64(p + i) <= max)
                break;
    }
    *checks += i < n ? i + 1 : n;
    return i;
}

uint32_t tfr_crc32c_extend(uint32_t crc, const void *data, size_t n)
{
    if (__builtin_expect(__atomic_load_n(&hw_state, __ATOMIC_RELAXED) == 1, 1))
        return crc_hw(crc, data, n);
    return tfr_crc32c_hw(crc, data, n);
}

#else /* no x86-64 hardware path */

size_t tfr_header_scan(const uint8_t *p, size_t n, uint64_t max, uint64_t *checks)
{
    size_t i;
    for (i = 0; i < n; i++)
        if (tfr_crc_mask(tfr_crc32c_sw(0, p + i, 8)) == tfr_get_le32(p + i + 8) &&
            tfr_get_le64(p + i) <= max)
            break;
    *checks += i < n ? i + 1 : n;
    return i;
}

int tfr_crc32c_has_hw(void) { return 0; }

uint32_t tfr_crc32c_hw(uint32_t crc, const void *data, size_t n)
{
    return tfr_crc32c_sw(crc, data, n);
}

uint32_t tfr_crc32c_extend(uint32_t crc, const void *data, size_t n)
{
    return tfr_crc32c_sw(crc, data, n);
}
#endif
