/*
 * tests/unit/test_util.c - the JSON reader/writer the manifests rely on
 * (escapes, \u surrogates, nesting, error offsets, round trip through the
 * writer) and path expansion (files, shard folders, globs, errors).
 */
#include <stdlib.h>
#include <string.h>

#include "testutil.h"
#include "tfrecord/util.h"

static void test_json(void)
{
    tfr_error err;
    tfr_json *j = NULL;
    const char *doc = " {\"a\": [1, -2.5e3, true, false, null], \"s\": \"x\\\"y\\\\z\\n\\u00e9\\ud83d\\ude00\","
                      " \"o\": {\"k\": \"v\"}, \"e\": []} ";
    EXPECT_OK(tfr_json_parse(doc, &j, &err), &err);
    if (j) {
        const tfr_json *a = tfr_json_get(j, "a");
        EXPECT(a && a->type == TFR_JSON_ARRAY && a->child && a->child->num == 1);
        EXPECT(a && a->child->next->num == -2500);
        EXPECT(a && a->child->next->next->type == TFR_JSON_BOOL && a->child->next->next->boolean);
        EXPECT_STR(tfr_json_get_str(j, "s"), "x\"y\\z\n\xc3\xa9\xf0\x9f\x98\x80");
        EXPECT_STR(tfr_json_get_str(tfr_json_get(j, "o"), "k"), "v");
        EXPECT(tfr_json_get_num(j, "missing", 42) == 42);
        /* writer -> reader round trip */
        char *buf = NULL;
        size_t n = 0;
        FILE *f = open_memstream(&buf, &n);
        tfr_json_write(f, j);
        fclose(f);
        tfr_json *k = NULL;
        EXPECT_OK(tfr_json_parse(buf, &k, &err), &err);
        EXPECT_STR(tfr_json_get_str(k, "s"), "x\"y\\z\n\xc3\xa9\xf0\x9f\x98\x80");
        tfr_json_free(k);
        free(buf);
    }
    tfr_json_free(j);
    static const char *bad[] = {"{", "{\"a\" 1}", "[1,]", "\"\\q\"", "{} x", "", "[\"\x01\"]"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        EXPECT_STATUS(tfr_json_parse(bad[i], &j, &err), TFR_ERR_CORRUPT);
        EXPECT_CONTAINS(err.msg, "at byte");
    }
    /* deep nesting is refused, not a stack overflow */
    char deep[300];
    memset(deep, '[', 200);
    deep[200] = 0;
    EXPECT_STATUS(tfr_json_parse(deep, &j, &err), TFR_ERR_CORRUPT);
    /* strings with control and invalid UTF-8 bytes come out as valid JSON */
    char *buf = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&buf, &n);
    tfr_json_str(f, "tab\there \x01 bad\xff end");
    fclose(f);
    EXPECT_STR(buf, "\"tab\\there \\u0001 bad\\u00ff end\"");
    free(buf);
}

static void test_paths(void)
{
    char dir[600];
    snprintf(dir, sizeof dir, "%s", test_tmpdir("paths"));
    const char *names[] = {"train-00001-of-00002.tfrecord.gz", "train-00000-of-00002.tfrecord.gz",
                           "manifest.json", "labels.txt", ".hidden.tfrecord", "x.tfrecord.gz.tmp.12"};
    for (size_t i = 0; i < 6; i++) {
        char p[800];
        snprintf(p, sizeof p, "%s/%s", dir, names[i]);
        test_write_file(p, "", 0);
    }
    tfr_error err;
    char **files;
    size_t nf;
    const char *args[1] = {dir};
    EXPECT_OK(tfr_paths_expand(args, 1, &files, &nf, &err), &err);
    EXPECT_EQ_U(nf, 2);
    if (nf == 2) {
        EXPECT_CONTAINS(files[0], "train-00000-of-00002");
        EXPECT_CONTAINS(files[1], "train-00001-of-00002");
    }
    tfr_paths_free(files, nf);
    char glob[700];
    snprintf(glob, sizeof glob, "%s/train-*", dir);
    const char *g[1] = {glob};
    EXPECT_OK(tfr_paths_expand(g, 1, &files, &nf, &err), &err);
    EXPECT_EQ_U(nf, 2);
    tfr_paths_free(files, nf);
    snprintf(glob, sizeof glob, "%s/nothing-*", dir);
    EXPECT_STATUS(tfr_paths_expand(g, 1, &files, &nf, &err), TFR_ERR_IO);
    EXPECT_CONTAINS(err.msg, "no file matches");
    test_rmtree(dir);
}

int main(void)
{
    test_json();
    test_paths();
    return test_failures() ? 1 : 0;
}
