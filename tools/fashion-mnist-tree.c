/*
 * tools/fashion-mnist-tree.c - turn the Fashion-MNIST idx files (Debian's
 * dataset-fashion-mnist) into a class-per-directory JPEG tree:
 *   OUT/train/<class>/00000.jpg ... and OUT/test/<class>/...
 * the built-in default data of the README's main command.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

#include "cli.h"
#include "tfrecord/image.h"
#include "tfrecord/util.h"

static const char *const prog = "fashion-mnist-tree";
static const char *classes[10] = {"T-shirt_top", "Trouser", "Pullover", "Dress", "Coat",
                                  "Sandal", "Shirt", "Sneaker", "Bag", "Ankle_boot"};

/* Reads a whole gzip'd idx file; checks the magic (0x0801 labels, 0x0803 images). */
static uint8_t *read_idx(const char *path, int magic, uint32_t *count, uint32_t *rows,
                         uint32_t *cols)
{
    gzFile g = gzopen(path, "rb");
    if (!g) {
        fprintf(stderr, "%s: error: %s: cannot open: %s\n", prog, path, strerror(errno));
        return NULL;
    }
    uint8_t h[16];
    int hn = magic == 0x0803 ? 16 : 8;
    if (gzread(g, h, (unsigned)hn) != hn || h[0] || h[1] || h[2] != (magic >> 8) ||
        h[3] != (magic & 0xff)) {
        fprintf(stderr, "%s: error: %s: not an idx file of the expected kind\n", prog, path);
        gzclose(g);
        return NULL;
    }
    *count = (uint32_t)h[4] << 24 | (uint32_t)h[5] << 16 | (uint32_t)h[6] << 8 | h[7];
    *rows = *cols = 1;
    if (magic == 0x0803) {
        *rows = (uint32_t)h[8] << 24 | (uint32_t)h[9] << 16 | (uint32_t)h[10] << 8 | h[11];
        *cols = (uint32_t)h[12] << 24 | (uint32_t)h[13] << 16 | (uint32_t)h[14] << 8 | h[15];
    }
    size_t n = (size_t)*count * *rows * *cols;
    uint8_t *buf = malloc(n ? n : 1);
    if (!buf || gzread(g, buf, (unsigned)n) != (int)n) {
        fprintf(stderr, "%s: error: %s: truncated\n", prog, path);
        free(buf);
        gzclose(g);
        return NULL;
    }
    gzclose(g);
    return buf;
}

static int convert(const char *src, const char *prefix, const char *out, int limit, int quality)
{
    char ip[4096], lp[4096];
    snprintf(ip, sizeof ip, "%s/%s-images-idx3-ubyte.gz", src, prefix);
    snprintf(lp, sizeof lp, "%s/%s-labels-idx1-ubyte.gz", src, prefix);
    uint32_t n, rows, cols, nl, r1, c1;
    uint8_t *img = read_idx(ip, 0x0803, &n, &rows, &cols);
    uint8_t *lab = img ? read_idx(lp, 0x0801, &nl, &r1, &c1) : NULL;
    if (!img || !lab || nl != n) {
        if (img && lab)
            fprintf(stderr, "%s: error: %u images but %u labels\n", prog, n, nl);
        free(img);
        free(lab);
        return -1;
    }
    if (limit > 0 && (uint32_t)limit < n)
        n = (uint32_t)limit;
    const char *split = !strcmp(prefix, "t10k") ? "test" : "train";
    for (int c = 0; c < 10; c++) {
        char d[4096];
        snprintf(d, sizeof d, "%s/%s/%s", out, split, classes[c]);
        tfr_error err;
        if (tfr_mkdir_p(d, &err)) {
            char b[4400];
            fprintf(stderr, "%s: error: %s\n", prog, tfr_error_text(&err, b, sizeof b));
            return -1;
        }
    }
    int rc = 0;
    tfr_image_ctx *ctx = NULL;
    tfr_error err;
    if (tfr_image_ctx_new(&ctx, &err))
        return -1;
    tfr_image im = {0};
    tfr_progress *bar = tfr_progress_new(split, n, "img", 1);
    for (uint32_t i = 0; i < n && !rc; i++) {
        if (lab[i] > 9) {
            fprintf(stderr, "%s: error: label %u out of range at %u\n", prog, lab[i], i);
            rc = -1;
            break;
        }
        tfr_image_alloc(&im, (int)cols, (int)rows, 1, &err);
        memcpy(im.px, img + (size_t)i * rows * cols, (size_t)rows * cols);
        uint8_t *jpg;
        size_t len;
        if (tfr_image_encode_jpeg(ctx, &im, quality, &jpg, &len, &err)) {
            rc = -1;
            break;
        }
        char fp[4096];
        snprintf(fp, sizeof fp, "%s/%s/%s/%05u.jpg", out, split, classes[lab[i]], i);
        FILE *f = fopen(fp, "wb");
        if (!f || fwrite(jpg, 1, len, f) != len || fclose(f) != 0) {
            fprintf(stderr, "%s: error: %s: %s\n", prog, fp, strerror(errno));
            rc = -1;
        }
        free(jpg);
        if ((i & 1023) == 0)
            tfr_progress_update(bar, i);
    }
    tfr_progress_update(bar, n);
    tfr_progress_finish(bar);
    tfr_image_free(&im);
    tfr_image_ctx_free(ctx);
    free(img);
    free(lab);
    if (!rc)
        printf("%s: %u images -> %s/%s/<class>/\n", prog, n, out, split);
    return rc;
}

static void usage(FILE *f)
{
    fprintf(f,
            "usage: %s [--source DIR] [--limit N] [--quality Q] OUT_DIR\n"
            "Writes OUT_DIR/{train,test}/<class>/<n>.jpg from the Fashion-MNIST idx files\n"
            "in DIR (default /usr/share/datasets/fashion-mnist, from Debian's\n"
            "dataset-fashion-mnist).\n"
            "  --limit N     keep the first N images of each split (0 = all, default)\n"
            "  --quality Q   JPEG quality, 1..100 (default 95)\n"
            "  -h, --help  --version\n",
            prog);
}

int main(int argc, char **argv)
{
    const char *src = "/usr/share/datasets/fashion-mnist";
    int limit = 0, quality = 95;
    cli_init(prog);
    static const struct option lo[] = {{"source", required_argument, 0, 's'},
                                       {"limit", required_argument, 0, 'n'},
                                       {"quality", required_argument, 0, 'Q'},
                                       {"help", no_argument, 0, 'h'},
                                       CLI_VERSION_OPTION,
                                       {0, 0, 0, 0}};
    int c;
    while ((c = cli_getopt(argc, argv, "s:n:h", lo, usage)) != -1) {
        switch (c) {
        case 's': src = optarg; break;
        case 'n': limit = cli_int("--limit", optarg, 0, INT_MAX); break;
        case 'Q': quality = cli_int("--quality", optarg, 1, 100); break;
        default: return 2;
        }
    }
    if (optind != argc - 1)
        cli_usage_fail(optind < argc ? "takes one OUT_DIR" : "needs an OUT_DIR");
    const char *out = argv[optind];
    if (convert(src, "train", out, limit, quality) || convert(src, "t10k", out, limit, quality))
        return 1;
    return 0;
}
