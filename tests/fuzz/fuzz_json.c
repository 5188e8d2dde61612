/*
 * tests/fuzz/fuzz_json.c - JSON and the files made of it: the parser and
 * writer, manifest.json (tfr_manifest_load), labels.txt, and the bottleneck
 * cache (cache.json + its records).
 *
 * The input is cut at "TFRZ": part 0 is the JSON text (used as the parser's
 * input, as a manifest.json and as a cache.json), part 1 a labels.txt, and
 * every further part one record of the cache's bottlenecks file (framed
 * with valid CRCs). The cache's fingerprint is "fuzz-fingerprint" and its
 * vectors have 4 floats, as the seeds say.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_util.h"
#include "retrain/retrain_impl.h"
#include "tfrecord/manifest.h"
#include "tfrecord/util.h"

static FILE *devnull;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    tfr_log_set_level(TFR_LOG_QUIET);
    devnull = fopen("/dev/null", "w");
    return devnull ? 0 : 1;
}

static char *write_mem(const tfr_json *j)
{
    char *buf = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&buf, &n);
    if (!f)
        abort();
    tfr_json_write(f, j);
    fclose(f);
    return buf;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *part, *json = NULL, *labels = NULL;
    size_t n, jn = 0, ln = 0;
    fz_buf recs = {0};
    int i = 0;
    while (fz_next_part(&data, &size, &part, &n)) {
        if (i == 0) {
            json = part;
            jn = n;
        } else if (i == 1) {
            labels = part;
            ln = n;
        } else {
            fz_record(&recs, part, n);
        }
        i++;
    }
    tfr_error err;

    char *text = malloc(jn + 1);
    if (!text)
        abort();
    if (jn)
        memcpy(text, json, jn);
    text[jn] = 0;
    tfr_json *j = NULL;
    if (tfr_json_parse(text, &j, &err) == TFR_OK) {
        /* what the writer makes must parse, and from then on be a fixed
         * point (the first pass may still turn bad UTF-8 into \u00XX) */
        char *w1 = write_mem(j), *w2 = NULL, *w3 = NULL;
        tfr_json *k = NULL, *l = NULL;
        if (tfr_json_parse(w1, &k, &err) != TFR_OK)
            abort();
        w2 = write_mem(k);
        if (tfr_json_parse(w2, &l, &err) != TFR_OK)
            abort();
        w3 = write_mem(l);
        if (strcmp(w2, w3))
            abort();
        tfr_json_free(k);
        tfr_json_free(l);
        free(w1);
        free(w2);
        free(w3);
        (void)tfr_json_get_str(j, "fingerprint");
        (void)tfr_json_get_num(j, "size", -1);
        tfr_json_free(j);
    } else if (!err.msg[0]) {
        abort();
    }
    free(text);

    const char *mp = fz_file(0, "manifest.json", json, jn);
    tfr_manifest *m = NULL;
    if (tfr_manifest_load(mp, &m, &err) == TFR_OK) {
        for (size_t k = 0; k < m->nshards; k++)
            if (tfr_manifest_find(m, m->shards[k].file) == NULL)
                abort();
        tfr_manifest_free(m);
    } else if (!err.msg[0]) {
        abort();
    }

    const char *lp = fz_file(1, "labels.txt", labels, ln);
    char **names = NULL;
    int nn = 0;
    if (tfr_labels_load(lp, 0, &names, &nn, &err) == TFR_OK)
        tfr_labels_free(names, nn);

    fz_file(2, "cache.json", json, jn);
    fz_file(3, "bottlenecks.tfrecord.gz", recs.p, recs.n);
    tfr_bncache c = {0};
    char reason[256];
    if (tfr_bncache_load(fz_dir(), "fuzz-fingerprint", 4, &c, reason, sizeof reason)) {
        for (size_t k = 0; k < c.n; k++) {
            if (!c.e[k].vec || tfr_bncache_find(&c, c.e[k].rel) == NULL)
                abort(); /* a loaded cache has every vector */
            float *v = tfr_bncache_take(&c, c.e[k].rel, c.e[k].size, c.e[k].crc);
            free(v);
        }
    } else if (!reason[0]) {
        abort();
    }
    tfr_bncache_free(&c);
    free(recs.p);
    return 0;
}
