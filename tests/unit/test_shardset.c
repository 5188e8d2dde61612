/*
 * tests/unit/test_shardset.c - shard-set expansion with splits: the split
 * of each file (from its name when there is no manifest), SOURCE:SPLIT
 * selection (and its error, listing the splits there are), paths that hold
 * a ':' themselves, the default split a tool takes, per-split counts and
 * the description for people.
 */
#include <stdlib.h>
#include <string.h>

#include "testutil.h"
#include "tfrecord/manifest.h"

static char base[600], dir[700];

static void touch(const char *name)
{
    char p[900];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    EXPECT(test_write_file(p, "", 0) == 0);
}

static size_t expand1(const char *src, tfr_shard_source **v, tfr_status *st, tfr_error *err)
{
    size_t n = 0;
    const char *one[1] = {src};
    *v = NULL;
    *st = tfr_shardset_expand(one, 1, v, &n, err);
    return n;
}

int main(void)
{
    snprintf(base, sizeof base, "%s", test_tmpdir("shardset"));
    snprintf(dir, sizeof dir, "%s/set", base);
    test_system("mkdir -p '%s' '%s/a:b'", dir, dir);
    touch("train-00000-of-00002.tfrecord");
    touch("train-00001-of-00002.tfrecord");
    touch("my-val-00000-of-00001.tfrecord.gz");
    touch("data.tfrecord");
    touch("a:b/test-00000-of-00001.tfrecord");
    tfr_error err;
    tfr_status st;
    tfr_shard_source *v;

    /* every file, each with the split its name gives */
    size_t n = expand1(dir, &v, &st, &err);
    EXPECT_OK(st, &err);
    EXPECT_EQ_U(n, 4);
    int seen_train = 0, seen_val = 0, seen_none = 0;
    for (size_t i = 0; i < n; i++) {
        const char *b = strrchr(v[i].path, '/') + 1;
        if (!strncmp(b, "train-", 6))
            seen_train += !strcmp(v[i].split, "train");
        else if (!strncmp(b, "my-val-", 7))
            seen_val += !strcmp(v[i].split, "my-val");
        else
            seen_none += v[i].split[0] == 0;
        EXPECT(!v[i].selected);
        EXPECT_EQ_I(v[i].records, -1);
    }
    EXPECT(seen_train == 2 && seen_val == 1 && seen_none == 1);
    tfr_split_count sc[8];
    size_t ns = tfr_shardset_splits(v, n, sc, 8);
    EXPECT_EQ_U(ns, 3);
    for (size_t k = 0; k < ns; k++) {
        EXPECT(!sc[k].complete); /* no manifest: counts unknown */
        if (!strcmp(sc[k].name, "train"))
            EXPECT_EQ_U(sc[k].shards, 2);
    }
    tfr_shardset_free(v, n);

    /* DIR:SPLIT keeps that split only */
    char src[900];
    snprintf(src, sizeof src, "%s:my-val", dir);
    n = expand1(src, &v, &st, &err);
    EXPECT_OK(st, &err);
    EXPECT(n == 1 && v && v[0].selected && !strcmp(v[0].split, "my-val"));
    tfr_shardset_free(v, n);
    snprintf(src, sizeof src, "%s/:train", dir);
    n = expand1(src, &v, &st, &err);
    EXPECT_OK(st, &err);
    EXPECT_EQ_U(n, 2);
    tfr_shardset_free(v, n);
    snprintf(src, sizeof src, "%s:nope", dir);
    n = expand1(src, &v, &st, &err);
    EXPECT_STATUS(st, TFR_ERR_ARG);
    EXPECT_CONTAINS(err.msg, "no split 'nope'");
    EXPECT_CONTAINS(err.msg, "'my-val'");
    EXPECT_CONTAINS(err.msg, "'train'");
    tfr_shardset_free(v, n);

    /* a path with a ':' of its own is taken as it is; past it, a split */
    snprintf(src, sizeof src, "%s/a:b", dir);
    n = expand1(src, &v, &st, &err);
    EXPECT_OK(st, &err);
    EXPECT(n == 1 && !v[0].selected);
    tfr_shardset_free(v, n);
    snprintf(src, sizeof src, "%s/a:b:test", dir);
    n = expand1(src, &v, &st, &err);
    EXPECT_OK(st, &err);
    EXPECT(n == 1 && v[0].selected);
    tfr_shardset_free(v, n);

    /* the default split of a folder; files and unknown names stay as given */
    static const char *const tr[] = {"train"}, *const va[] = {"validation", "val", "my-val"};
    char out[1000], chosen[32];
    EXPECT_OK(tfr_shardset_default_split(dir, tr, 1, out, sizeof out, chosen, sizeof chosen, &err),
              &err);
    snprintf(src, sizeof src, "%s:train", dir);
    EXPECT_STR(out, src);
    EXPECT_STR(chosen, "train");
    EXPECT_OK(tfr_shardset_default_split(dir, va, 3, out, sizeof out, chosen, sizeof chosen, &err),
              &err);
    EXPECT_STR(chosen, "my-val"); /* the first of the names the set has */
    snprintf(src, sizeof src, "%s/data.tfrecord", dir);
    EXPECT_OK(tfr_shardset_default_split(src, tr, 1, out, sizeof out, chosen, sizeof chosen, &err),
              &err);
    EXPECT_STR(out, src);
    EXPECT_STR(chosen, "");
    static const char *const none[] = {"validation"};
    EXPECT_OK(tfr_shardset_default_split(dir, none, 1, out, sizeof out, chosen, sizeof chosen,
                                         &err), &err);
    EXPECT_STR(out, dir);

    /* for people: several splits are said to be read together */
    const char *srcs[1] = {dir};
    char *d = tfr_shardset_describe(srcs, 1, &err);
    EXPECT(d != NULL);
    if (d) {
        EXPECT_CONTAINS(d, "every split;");
        EXPECT_CONTAINS(d, "in 4 shards");
        free(d);
    }
    test_rmtree(base);
    return test_failures() ? 1 : 0;
}
