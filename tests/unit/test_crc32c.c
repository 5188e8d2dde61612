/*
 * tests/unit/test_crc32c.c - CRC-32C against published vectors (RFC 3720
 * B.4, the "123456789" check value, TensorFlow's crc32c_test.cc) and the
 * hardware path against the portable one on every length 0..4096 and
 * every alignment.
 */
#include <stdlib.h>
#include <string.h>

#include "testutil.h"
#include "tfrecord/record.h"

int main(void)
{
    uint8_t buf[32];
    EXPECT_EQ_U(tfr_crc32c("123456789", 9), 0xe3069283u);
    EXPECT_EQ_U(tfr_crc32c_sw(0, "123456789", 9), 0xe3069283u);
    EXPECT_EQ_U(tfr_crc32c_hw(0, "123456789", 9), 0xe3069283u);
    memset(buf, 0, 32);
    EXPECT_EQ_U(tfr_crc32c(buf, 32), 0x8a9136aau);
    memset(buf, 0xff, 32);
    EXPECT_EQ_U(tfr_crc32c(buf, 32), 0x62a8ab43u);
    for (int i = 0; i < 32; i++)
        buf[i] = (uint8_t)i;
    EXPECT_EQ_U(tfr_crc32c(buf, 32), 0x46dd794eu);
    for (int i = 0; i < 32; i++)
        buf[i] = (uint8_t)(31 - i);
    EXPECT_EQ_U(tfr_crc32c(buf, 32), 0x113fdb5cu);
    EXPECT_EQ_U(tfr_crc32c("", 0), 0u);

    /* TensorFlow's masked CRC of a length field, from a TF-written file */
    uint8_t len24[8] = {0x18, 0, 0, 0, 0, 0, 0, 0};
    EXPECT_EQ_U(tfr_crc32c(len24, 8), 0x4a65bfe4u);
    EXPECT_EQ_U(tfr_crc_mask(0x4a65bfe4u), 0x224b7fa3u);
    EXPECT_EQ_U(tfr_crc_unmask(0x224b7fa3u), 0x4a65bfe4u);
    for (uint32_t c = 0; c < 100000; c += 7)
        EXPECT_EQ_U(tfr_crc_unmask(tfr_crc_mask(c * 2654435761u)), c * 2654435761u);

    /* extend is associative over splits */
    EXPECT_EQ_U(tfr_crc32c_extend(tfr_crc32c("1234", 4), "56789", 5), 0xe3069283u);

    /* hardware == software on every length and alignment */
    enum { MAX = 4096 + 64 };
    uint8_t *big = malloc(MAX + 16);
    test_fill_random(big, MAX + 16, 42);
    int bad = 0;
    for (size_t off = 0; off < 8; off++)
        for (size_t n = 0; n <= 4096; n++) {
            uint32_t a = tfr_crc32c_sw(0, big + off, n);
            uint32_t b = tfr_crc32c_hw(0, big + off, n);
            uint32_t c = tfr_crc32c_extend(0x12345678u, big + off, n);
            uint32_t d = tfr_crc32c_sw(0x12345678u, big + off, n);
            if (a != b || c != d) {
                if (bad++ < 5)
                    FAILF("len %zu off %zu: sw %08x hw %08x / %08x %08x", n, off, a, b, c, d);
            }
        }
    /* long buffers take the three-lane path */
    size_t longn = 1 << 20;
    uint8_t *lb = malloc(longn + 3);
    test_fill_random(lb, longn + 3, 7);
    for (size_t n = longn - 10; n <= longn + 3; n++)
        EXPECT_EQ_U(tfr_crc32c_hw(0, lb, n), tfr_crc32c_sw(0, lb, n));
    printf("crc32c: hardware path %s\n", tfr_crc32c_has_hw() ? "SSE4.2" : "not available");
    free(lb);
    free(big);
    return test_failures() ? 1 : 0;
}
