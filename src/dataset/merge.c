/*
 * dataset/merge.c - combine the partial manifests of a --num-workers run
 * into manifest.json, after checking that all workers ran with the same
 * inputs and options and that every shard they list is on disk.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tfrecord/dataset.h"
#include "tfrecord/util.h"

static int shard_cmp(const void *a, const void *b)
{
    const tfr_json *x = *(const tfr_json *const *)a, *y = *(const tfr_json *const *)b;
    return strcmp(tfr_json_get_str(x, "file"), tfr_json_get_str(y, "file"));
}

tfr_status tfr_merge_manifests(const char *dir, tfr_error *err)
{
    DIR *d = opendir(dir);
    if (!d)
        return tfr_fail_errno(err, TFR_ERR_IO, dir, "cannot open");
    int k = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        int i, n;
        if (sscanf(e->d_name, "manifest.part-%d-of-%d.json", &i, &n) == 2 && n > 0) {
            if (k && n != k) {
                closedir(d);
                return tfr_fail(err, TFR_ERR_FORMAT, dir,
                                "partial manifests from runs with different --num-workers");
            }
            k = n;
        }
    }
    closedir(d);
    if (!k)
        return tfr_fail(err, TFR_ERR_ARG, dir, "no manifest.part-*-of-*.json to merge");
    tfr_json **parts = calloc((size_t)k, sizeof *parts);
    tfr_status st = TFR_OK;
    const tfr_json **all = NULL;
    size_t nall = 0, cap = 0;
    char path[4400], name[128];
    for (int i = 0; i < k && !st; i++) {
        snprintf(name, sizeof name, "manifest.part-%05d-of-%05d.json", i, k);
        if (tfr_path_join(path, sizeof path, dir, name, NULL) || access(path, R_OK) != 0) {
            st = tfr_fail(err, TFR_ERR_IO, dir, "worker %d of %d has not finished (%s missing)",
                          i, k, name);
            break;
        }
        if ((st = tfr_json_load(path, &parts[i], err)))
            break;
        const char *fp0 = tfr_json_get_str(parts[0], "fingerprint");
        const char *fp = tfr_json_get_str(parts[i], "fingerprint");
        if (!fp || !fp0 || strcmp(fp, fp0)) {
            st = tfr_fail(err, TFR_ERR_FORMAT, path,
                          "worker %d ran with other inputs or options than worker 0", i);
            break;
        }
        const tfr_json *sh = tfr_json_get(parts[i], "shards");
        for (const tfr_json *s = sh ? sh->child : NULL; s; s = s->next) {
            const char *f = tfr_json_get_str(s, "file");
            struct stat sb;
            if (!f || tfr_path_join(path, sizeof path, dir, f, NULL) || stat(path, &sb) != 0 ||
                (double)sb.st_size != tfr_json_get_num(s, "bytes", -1)) {
                st = tfr_fail(err, TFR_ERR_CORRUPT, f ? path : dir,
                              "shard listed by worker %d is missing or has the wrong size", i);
                break;
            }
            if (nall == cap) {
                cap = cap ? cap * 2 : 64;
                const tfr_json **na = realloc(all, cap * sizeof *na);
                if (!na) {
                    st = tfr_fail(err, TFR_ERR_NOMEM, NULL, "out of memory");
                    break;
                }
                all = na;
            }
            all[nall++] = s;
        }
    }
    if (!st) {
        if (nall)
            qsort(all, nall, sizeof *all, shard_cmp);
        if (tfr_path_join(path, sizeof path, dir, "manifest.json.tmp", NULL)) {
            st = tfr_fail(err, TFR_ERR_ARG, dir, "path too long");
        } else {
            FILE *f = fopen(path, "w");
            if (!f) {
                st = tfr_fail_errno(err, TFR_ERR_IO, path, "cannot create");
            } else {
                const tfr_json *p0 = parts[0];
                fputs("{\n  \"tool\": \"tfrecord-write\",\n  \"version\": ", f);
                tfr_json_str(f, tfr_json_get_str(p0, "version"));
                fputs(",\n  \"format\": 1,\n  \"created\": ", f);
                tfr_json_str(f, tfr_json_get_str(p0, "created"));
                fputs(",\n  \"fingerprint\": ", f);
                tfr_json_str(f, tfr_json_get_str(p0, "fingerprint"));
                fprintf(f, ",\n  \"complete\": true,\n  \"merged_from_workers\": %d,\n", k);
                fputs("  \"options\": ", f);
                tfr_json_write(f, tfr_json_get(p0, "options"));
                fputs(",\n  \"classes\": ", f);
                tfr_json_write(f, tfr_json_get(p0, "classes"));
                /* splits: sum records and class counts over the workers */
                fputs(",\n  \"splits\": {", f);
                int firstsplit = 1;
                char seen[64][32];
                int nseen = 0;
                for (int i = 0; i < k; i++) {
                    const tfr_json *sp = tfr_json_get(parts[i], "splits");
                    for (const tfr_json *s = sp ? sp->child : NULL; s; s = s->next) {
                        int dup = 0;
                        for (int q = 0; q < nseen; q++)
                            dup |= !strcmp(seen[q], s->key);
                        if (dup || nseen == 64)
                            continue;
                        snprintf(seen[nseen++], 32, "%s", s->key);
                        double rec = 0;
                        int nsh = (int)tfr_json_get_num(s, "shards", 0);
                        size_t ncls = 0;
                        const tfr_json *cc = tfr_json_get(s, "class_counts");
                        for (const tfr_json *c = cc ? cc->child : NULL; c; c = c->next)
                            ncls++;
                        double *counts = calloc(ncls ? ncls : 1, sizeof *counts);
                        for (int w = 0; w < k && counts; w++) {
                            const tfr_json *x = tfr_json_get(tfr_json_get(parts[w], "splits"), s->key);
                            rec += tfr_json_get_num(x, "records", 0);
                            const tfr_json *wc = tfr_json_get(x, "class_counts");
                            size_t ci = 0;
                            for (const tfr_json *c = wc ? wc->child : NULL; c && ci < ncls; c = c->next)
                                counts[ci++] += c->num;
                        }
                        fprintf(f, "%s\n    ", firstsplit ? "" : ",");
                        firstsplit = 0;
                        tfr_json_str(f, s->key);
                        fprintf(f, ": {\"records\": %.0f, \"shards\": %d, \"class_counts\": [", rec, nsh);
                        for (size_t ci = 0; counts && ci < ncls; ci++)
                            fprintf(f, "%s%.0f", ci ? ", " : "", counts[ci]);
                        fputs("]}", f);
                        free(counts);
                    }
                }
                fputs("\n  },\n  \"shards\": [", f);
                for (size_t i = 0; i < nall; i++) {
                    fputs(i ? ",\n    " : "\n    ", f);
                    tfr_json_write(f, all[i]);
                }
                fputs("\n  ],\n  \"skipped\": ", f);
                tfr_json_write(f, tfr_json_get(p0, "skipped"));
                fputs("\n}\n", f);
                int bad = ferror(f) | (fflush(f) != 0) | (fsync(fileno(f)) != 0);
                bad |= fclose(f) != 0;
                char final[4400];
                tfr_path_join(final, sizeof final, dir, "manifest.json", NULL);
                if (bad || rename(path, final) != 0) {
                    st = tfr_fail_errno(err, TFR_ERR_IO, final, "write");
                    unlink(path);
                }
            }
        }
    }
    free(all);
    for (int i = 0; i < k; i++)
        tfr_json_free(parts[i]);
    free(parts);
    return st;
}
