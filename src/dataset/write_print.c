/*
 * dataset/write_print.c - the writer's report as text and as JSON.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dataset/manifest_impl.h"
#include "tfrecord/dataset.h"
#include "tfrecord/util.h"
#include "util/alloc.h"

static const char *const reason_text[TFR_REENCODE_REASONS] = {
    "resized: --size", "mirrored: --flip", "grayscale to RGB: --channels 3",
    "RGB to grayscale: --channels 1", "CMYK to RGB", "EXIF orientation applied",
    "PNG stored as JPEG"};
static const char *const reason_key[TFR_REENCODE_REASONS] = {
    "size", "flip", "to_rgb", "to_gray", "cmyk", "orientation", "png"};

const char *tfr_reencode_reason_name(tfr_reencode_reason r)
{
    return (unsigned)r < TFR_REENCODE_REASONS ? reason_text[r] : "?";
}

void tfr_write_report_print_text(const tfr_write_report *r, const char *out_dir, int verbose,
                                 FILE *f)
{
    char b1[32], b2[32], b3[32];
    if (r->up_to_date)
        fprintf(f, "%s is up to date (same inputs and options as the run that wrote it); "
                   "nothing to do. --force rewrites it.\n", out_dir);
    fprintf(f, "%llu images in %d classes -> %s\n", (unsigned long long)r->images_found,
            r->nclasses, out_dir);
    const int worker = r->num_workers > 1;
    if (worker && !r->up_to_date) {
        if (r->shards_written)
            fprintf(f, "worker %d of %d: wrote %zu of the %zu shards (the others are other "
                       "workers'; --merge-manifests when all are done)\n",
                    r->worker_index, r->num_workers, r->shards_written, r->nshards);
        else
            fprintf(f, "worker %d of %d: no shard to write (%zu shards for %d workers); "
                       "nothing to do\n",
                    r->worker_index, r->num_workers, r->nshards, r->num_workers);
    }
    if (worker && !r->up_to_date && !r->shards_written)
        return; /* a worker with nothing to write has nothing to tabulate */
    fprintf(f, "  %-12s %9s %7s %11s %13s\n", "split", "records", "shards", "on disk",
            "uncompressed");
    for (int sp = 0; sp < r->nsplits; sp++) {
        uint64_t fb = 0, rb = 0;
        int n = 0;
        for (size_t i = 0; i < r->nshards; i++)
            if (!strcmp(r->shards[i].split, r->split_names[sp]) &&
                (!worker || r->up_to_date || r->shards[i].written)) { /* this worker's own */
                fb += r->shards[i].bytes;
                rb += r->shards[i].raw_bytes;
                n++;
            }
        if (!n)
            continue;
        fprintf(f, "  %-12s %9llu %7d %11s %13s\n", r->split_names[sp],
                (unsigned long long)r->split_records[sp], n,
                tfr_human_bytes((double)fb, b1, sizeof b1), tfr_human_bytes((double)rb, b2, sizeof b2));
    }
    if (r->ignored)
        fprintf(f, "ignored %llu file%s that %s not images (notes, lists, OS files such as "
                   "Thumbs.db; manifest.json lists them)\n",
                (unsigned long long)r->ignored, r->ignored == 1 ? "" : "s",
                r->ignored == 1 ? "is" : "are");
    if (r->nskipped > r->ignored) {
        size_t bad = r->nskipped - (size_t)r->ignored;
        fprintf(f, "skipped %zu file%s:\n", bad, bad == 1 ? "" : "s");
        /* grouped by reason, with up to 3 examples each unless verbose */
        int *done = tfr_calloc(r->nskipped, sizeof *done);
        for (size_t i = 0; done && i < r->nskipped; i++) {
            if (done[i] || !strcmp(r->skipped[i].reason, TFR_SKIP_IGNORED))
                continue;
            size_t cnt = 0;
            for (size_t k = i; k < r->nskipped; k++)
                if (!done[k] && !strcmp(r->skipped[k].reason, r->skipped[i].reason))
                    cnt++;
            fprintf(f, "  %zu x %s\n", cnt, r->skipped[i].reason);
            size_t shown = 0;
            for (size_t k = i; k < r->nskipped; k++)
                if (!done[k] && !strcmp(r->skipped[k].reason, r->skipped[i].reason)) {
                    done[k] = 1;
                    if (verbose || shown < 3)
                        fprintf(f, "      %s\n", r->skipped[k].path);
                    else if (shown == 3)
                        fprintf(f, "      ... (--verbose lists all; manifest.json has them)\n");
                    shown++;
                }
        }
        free(done);
    }
    if (!r->up_to_date) {
        double rate = r->seconds > 0 ? (double)r->records / r->seconds : 0;
        fprintf(f, "wrote %llu records in %.2f s (%.0f images/s): read %s of images, "
                   "%s of records compressed to %s",
                (unsigned long long)r->records, r->seconds, rate,
                tfr_human_bytes((double)r->input_bytes, b1, sizeof b1),
                tfr_human_bytes((double)r->raw_bytes, b2, sizeof b2),
                tfr_human_bytes((double)r->file_bytes, b3, sizeof b3));
        if (r->raw_bytes) {
            double saved = 100.0 * (1.0 - (double)r->file_bytes / (double)r->raw_bytes);
            if (saved >= 0.05)
                fprintf(f, " (saved %.1f%%)", saved);
            else /* stored (JPEG bytes): the framing's few bytes */
                fprintf(f, " (incompressible: %+.2f%%)", -saved);
        }
        fputc('\n', f);
        if (r->passed_through + r->reencoded) {
            fprintf(f, "JPEG bytes: %llu of %llu as stored, re-encoded %llu",
                    (unsigned long long)r->passed_through,
                    (unsigned long long)(r->passed_through + r->reencoded),
                    (unsigned long long)r->reencoded);
            const char *sep = " (";
            for (int q = 0; q < TFR_REENCODE_REASONS; q++)
                if (r->reencoded_why[q]) {
                    fprintf(f, "%s%llu %s", sep, (unsigned long long)r->reencoded_why[q],
                            reason_text[q]);
                    sep = "; ";
                }
            fputs(*sep == ';' ? ")\n" : "\n", f);
        }
    }
}

void tfr_write_report_print_json(const tfr_write_report *r, FILE *f)
{
    fprintf(f, "{\"format\":1,\"up_to_date\":%s,\"images_found\":%llu,\"records\":%llu,"
               "\"ignored\":%llu,\"num_workers\":%d,\"worker_index\":%d,\"shards_written\":%zu,\"classes\":[",
            r->up_to_date ? "true" : "false", (unsigned long long)r->images_found,
            (unsigned long long)r->records, (unsigned long long)r->ignored, r->num_workers, r->worker_index, r->shards_written);
    for (int i = 0; i < r->nclasses; i++) {
        fputs(i ? "," : "", f);
        tfr_json_str(f, r->classes[i]);
    }
    fputs("],\"splits\":{", f);
    for (int i = 0; i < r->nsplits; i++) {
        fputs(i ? "," : "", f);
        tfr_json_str(f, r->split_names[i]);
        fprintf(f, ":%llu", (unsigned long long)r->split_records[i]);
    }
    fputs("},\"shards\":[", f);
    for (size_t i = 0; i < r->nshards; i++) {
        fputs(i ? "," : "", f);
        tfr_manifest_json_shard(f, r->shards[i].file, r->shards[i].split,
                                (long long)r->shards[i].records, (long long)r->shards[i].bytes,
                                (long long)r->shards[i].raw_bytes, r->shards[i].crc32c, 0);
        fprintf(f, ",\"written\":%s}", r->shards[i].written ? "true" : "false");
    }
    fputs("],\"skipped\":[", f);
    for (size_t i = 0; i < r->nskipped; i++) {
        fputs(i ? "," : "", f);
        tfr_manifest_json_skip(f, &r->skipped[i], 0);
    }
    fprintf(f, "],\"passed_through\":%llu,\"reencoded\":%llu,\"reencoded_why\":{",
            (unsigned long long)r->passed_through, (unsigned long long)r->reencoded);
    for (int q = 0, first = 1; q < TFR_REENCODE_REASONS; q++)
        if (r->reencoded_why[q]) {
            fprintf(f, "%s\"%s\":%llu", first ? "" : ",", reason_key[q],
                    (unsigned long long)r->reencoded_why[q]);
            first = 0;
        }
    fprintf(f, "},\"input_bytes\":%llu,\"uncompressed_bytes\":%llu,\"bytes\":%llu,"
               "\"seconds\":%.3f,\"seconds_scan\":%.3f,\"seconds_images\":%.3f,"
               "\"fingerprint\":\"%s\"}\n",
            (unsigned long long)r->input_bytes, (unsigned long long)r->raw_bytes,
            (unsigned long long)r->file_bytes, r->seconds, r->scan_seconds, r->images_seconds,
            r->fingerprint);
}
