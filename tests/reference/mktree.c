/*
 * tests/reference/mktree.c - deterministic image trees for the reference
 * outputs: "photos" (smooth, textured RGB JPEGs of several sizes and
 * subsamplings, three classes) and "awkward" (CMYK, grayscale, progressive,
 * EXIF-rotated, PNG named .jpg, PNG, truncated, zero-byte, not-an-image,
 * odd names).
 *
 * usage: tfr-mktree photos|awkward OUT_DIR
 */
#include <errno.h>
#include <math.h>
#include <png.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <turbojpeg.h>

static uint64_t rng_state = 0x5eed;

static uint32_t rnd(void)
{
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return (uint32_t)((z ^ (z >> 31)) >> 32);
}

static void die(const char *what)
{
    fprintf(stderr, "tfr-mktree: %s: %s\n", what, strerror(errno));
    exit(1);
}

static void mkdirs(const char *path)
{
    char b[4096];
    snprintf(b, sizeof b, "%s", path);
    for (char *p = b + 1; *p; p++)
        if (*p == '/') {
            *p = 0;
            if (mkdir(b, 0755) && errno != EEXIST)
                die(b);
            *p = '/';
        }
    if (mkdir(b, 0755) && errno != EEXIST)
        die(b);
}

static void put(const char *root, const char *rel, const void *data, size_t n)
{
    char p[4096];
    snprintf(p, sizeof p, "%s/%s", root, rel);
    char *slash = strrchr(p, '/');
    *slash = 0;
    mkdirs(p);
    *slash = '/';
    FILE *f = fopen(p, "wb");
    if (!f || fwrite(data, 1, n, f) != n || fclose(f))
        die(p);
}

/* a photo-like picture: smooth gradients, a disc, and noise */
static uint8_t *picture(int w, int h, int c, int cls)
{
    uint8_t *p = malloc((size_t)w * h * c);
    double cx = w * (0.3 + 0.4 * (rnd() % 100) / 100.0), cy = h * (0.3 + 0.4 * (rnd() % 100) / 100.0);
    double r = (w < h ? w : h) * (0.15 + 0.2 * (rnd() % 100) / 100.0);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            int in = (x - cx) * (x - cx) + (y - cy) * (y - cy) < r * r;
            for (int k = 0; k < c; k++) {
                double v = 128 + 80 * sin((x * (k + 1) + y * (cls + 1)) * 0.05 + cls);
                if (in)
                    v = 255 - v * 0.5 - 40 * k;
                v += (int)(rnd() % 31) - 15;
                p[((size_t)y * w + x) * c + k] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
            }
        }
    return p;
}

static uint8_t *jpeg_of(const uint8_t *px, int w, int h, int pf, int samp, int q, int flags,
                        size_t *n)
{
    tjhandle t = tjInitCompress();
    unsigned char *buf = NULL;
    unsigned long len = 0;
    if (!t || tjCompress2(t, px, w, 0, h, pf, &buf, &len, samp, q, flags)) {
        fprintf(stderr, "tfr-mktree: tjCompress2: %s\n", tjGetErrorStr2(t));
        exit(1);
    }
    tjDestroy(t);
    uint8_t *o = malloc(len);
    memcpy(o, buf, len);
    tjFree(buf);
    *n = len;
    return o;
}

static uint8_t *png_of(const uint8_t *px, int w, int h, int gray, size_t *n)
{
    png_image pi;
    memset(&pi, 0, sizeof pi);
    pi.version = PNG_IMAGE_VERSION;
    pi.width = (png_uint_32)w;
    pi.height = (png_uint_32)h;
    pi.format = gray ? PNG_FORMAT_GRAY : PNG_FORMAT_RGB;
    png_alloc_size_t len = 0;
    png_image_write_to_memory(&pi, NULL, &len, 0, px, 0, NULL);
    uint8_t *b = malloc(len);
    if (!png_image_write_to_memory(&pi, b, &len, 0, px, 0, NULL)) {
        fprintf(stderr, "tfr-mktree: png: %s\n", pi.message);
        exit(1);
    }
    *n = len;
    return b;
}

static void photos(const char *root)
{
    static const char *cls[] = {"daisy", "roses", "tulips"};
    static const int sizes[][2] = {{320, 240}, {240, 320}, {500, 375}, {97, 131}, {64, 64}};
    static const int samps[] = {TJSAMP_420, TJSAMP_422, TJSAMP_444};
    for (int c = 0; c < 3; c++)
        for (int i = 0; i < 14; i++) {
            const int *s = sizes[(i + c) % 5];
            uint8_t *px = picture(s[0], s[1], 3, c);
            size_t n;
            uint8_t *j = jpeg_of(px, s[0], s[1], TJPF_RGB, samps[i % 3], 80 + i, 0, &n);
            char rel[256];
            snprintf(rel, sizeof rel, "%s/%s_%02d.jpg", cls[c], cls[c], i);
            put(root, rel, j, n);
            free(j);
            free(px);
        }
}

static void awkward(const char *root)
{
    size_t n;
    uint8_t *rgb = picture(48, 36, 3, 0), *g = picture(40, 30, 1, 1), *cmyk = picture(32, 24, 4, 2);
    uint8_t *j;
    j = jpeg_of(rgb, 48, 36, TJPF_RGB, TJSAMP_420, 90, 0, &n);
    put(root, "cat/plain.jpg", j, n);
    put(root, "cat/truncated.jpg", j, n / 2);
    put(root, "dog/space name \xc3\xbc.JPG", j, n);
    /* EXIF orientation 6 (rotate 90 CW): stored 48x36, displayed 36x48 */
    static const uint8_t app1[] = {0xff, 0xe1, 0x00, 0x22, 'E', 'x', 'i', 'f', 0, 0, 'M', 'M', 0, 42,
                                   0, 0, 0, 8, 0, 1, 0x01, 0x12, 0, 3, 0, 0, 0, 1, 0, 6, 0, 0,
                                   0, 0, 0, 0};
    uint8_t *e = malloc(n + sizeof app1);
    memcpy(e, j, 2);
    memcpy(e + 2, app1, sizeof app1);
    memcpy(e + 2 + sizeof app1, j + 2, n - 2);
    put(root, "cat/exif6.jpg", e, n + sizeof app1);
    free(e);
    free(j);
    j = jpeg_of(rgb, 48, 36, TJPF_RGB, TJSAMP_444, 85, TJFLAG_PROGRESSIVE, &n);
    put(root, "cat/progressive.jpeg", j, n);
    free(j);
    j = jpeg_of(g, 40, 30, TJPF_GRAY, TJSAMP_GRAY, 90, 0, &n);
    put(root, "cat/gray.jpg", j, n);
    free(j);
    j = jpeg_of(cmyk, 32, 24, TJPF_CMYK, TJSAMP_444, 90, 0, &n);
    put(root, "dog/cmyk.jpg", j, n);
    free(j);
    j = png_of(rgb, 48, 36, 0, &n);
    put(root, "dog/png_named.jpg", j, n);
    free(j);
    j = png_of(g, 40, 30, 1, &n);
    put(root, "zebra \xc3\xbc/gray.png", j, n);
    free(j);
    put(root, "zebra \xc3\xbc/empty.jpg", "", 0);
    put(root, "zebra \xc3\xbc/notes.txt", "not an image\n", 13);
    put(root, "zebra \xc3\xbc/fake.jpg", "\xff\xd8\xff\xe0garbage", 12);
    uint8_t *big = picture(150, 90, 3, 2);
    j = jpeg_of(big, 150, 90, TJPF_RGB, TJSAMP_420, 75, 0, &n);
    put(root, "zebra \xc3\xbc/wide.jpg", j, n);
    free(j);
    free(big);
    free(rgb);
    free(g);
    free(cmyk);
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: tfr-mktree photos|awkward OUT_DIR\n");
        return 2;
    }
    mkdirs(argv[2]);
    if (!strcmp(argv[1], "photos"))
        photos(argv[2]);
    else if (!strcmp(argv[1], "awkward"))
        awkward(argv[2]);
    else {
        fprintf(stderr, "tfr-mktree: unknown tree '%s'\n", argv[1]);
        return 2;
    }
    return 0;
}
