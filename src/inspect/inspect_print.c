/*
 * inspect/inspect_print.c - text and JSON renderings of an inspect report,
 * and a readable dump of one Example.
 */
#include <ctype.h>
#include <math.h>
#include <string.h>

#include "tfrecord/image.h"
#include "tfrecord/inspect.h"
#include "tfrecord/util.h"

/* "[16,16,3]", or "(shapes differ)" */
static void tensor_shape_text(const tfr_inspect_key *k, char *out, size_t n)
{
    if (k->tensor_rank < 0) {
        snprintf(out, n, "(shapes differ)");
        return;
    }
    size_t at = (size_t)snprintf(out, n, "[");
    for (int d = 0; d < k->tensor_rank && at < n; d++)
        at += (size_t)snprintf(out + at, n - at, "%s%lld", d ? "," : "", (long long)k->tensor_shape[d]);
    if (at < n)
        snprintf(out + at, n - at, "]");
}

/* Prints bytes as a quoted string when printable, else as a description. */
static void print_bytes(FILE *f, const uint8_t *p, size_t n)
{
    int w, h, ch;
    const char *fmt = tfr_image_sniff(p, n, &w, &h, &ch);
    if (fmt) {
        fprintf(f, "<%s %dx%d, %d channel%s, %zu bytes>", fmt, w, h, ch, ch == 1 ? "" : "s", n);
        return;
    }
    int printable = 1;
    for (size_t i = 0; i < n && printable; i++)
        if (!isprint(p[i]) && !(p[i] & 0x80))
            printable = 0;
    if (printable) {
        if (n <= 80) {
            tfr_json_strn(f, (const char *)p, n);
        } else {
            tfr_json_strn(f, (const char *)p, 64);
            fprintf(f, "... (%zu bytes)", n);
        }
        return;
    }
    fprintf(f, "<%zu bytes:", n);
    for (size_t i = 0; i < n && i < 16; i++)
        fprintf(f, " %02x", p[i]);
    fprintf(f, "%s>", n > 16 ? " ..." : "");
}

void tfr_example_print(const tfr_example *ex, FILE *f)
{
    size_t nf = tfr_example_num_features(ex);
    for (size_t i = 0; i < nf; i++) {
        tfr_feature_kind k = tfr_example_kind(ex, i);
        size_t n = tfr_example_count(ex, i);
        fprintf(f, "  %-24s %-5s [", tfr_example_key(ex, i), tfr_feature_kind_name(k));
        const size_t maxv = 8;
        for (size_t j = 0; j < n && j < maxv; j++) {
            if (j)
                fputs(", ", f);
            if (k == TFR_FEATURE_INT64) {
                const int64_t *v;
                size_t m;
                tfr_example_int64_at(ex, i, &v, &m);
                fprintf(f, "%lld", (long long)v[j]);
            } else if (k == TFR_FEATURE_FLOAT) {
                const float *v;
                size_t m;
                tfr_example_float_at(ex, i, &v, &m);
                fprintf(f, "%.9g", v[j]);
            } else {
                const uint8_t *p;
                size_t m;
                tfr_example_bytes_at(ex, i, j, &p, &m);
                print_bytes(f, p, m);
            }
        }
        if (n > maxv)
            fprintf(f, ", ... (%zu values)", n);
        fputs("]\n", f);
    }
}

static const char *comp_summary(const tfr_inspect_report *r, char *buf, size_t n)
{
    int seen[4] = {0};
    for (size_t i = 0; i < r->nfiles; i++)
        if (r->files[i].st.compression < 4)
            seen[r->files[i].st.compression] = 1;
    buf[0] = 0;
    for (int c = 0; c < 3; c++)
        if (seen[c]) {
            size_t l = strlen(buf);
            snprintf(buf + l, n - l, "%s%s", l ? "+" : "", tfr_compression_name((tfr_compression)c));
        }
    return buf;
}

void tfr_inspect_print_text(const tfr_inspect_report *r, FILE *f)
{
    char b1[32], b2[32], cs[32];
    fprintf(f, "files      %zu (%s)\n", r->nfiles, comp_summary(r, cs, sizeof cs));
    fprintf(f, "records    %llu\n", (unsigned long long)r->records);
    fprintf(f, "bytes      %s on disk, %s uncompressed", tfr_human_bytes((double)r->file_bytes, b1, sizeof b1),
            tfr_human_bytes((double)r->bytes, b2, sizeof b2));
    if (r->bytes)
        fprintf(f, " (%.1f%%)", 100.0 * (double)r->file_bytes / (double)r->bytes);
    fprintf(f, "\nread in    %.2f s (%.1f MB/s uncompressed)\n\n", r->seconds,
            r->seconds > 0 ? (double)r->bytes / 1e6 / r->seconds : 0);

    fprintf(f, "%-44s %9s %10s %12s %-5s %s\n", "file", "records", "on disk", "uncompressed",
            "comp", "notes");
    for (size_t i = 0; i < r->nfiles; i++) {
        const tfr_inspect_file *x = &r->files[i];
        fprintf(f, "%-44s %9llu %10s %12s %-5s", x->path, (unsigned long long)x->st.records,
                tfr_human_bytes((double)x->st.file_bytes, b1, sizeof b1),
                tfr_human_bytes((double)x->st.bytes, b2, sizeof b2),
                tfr_compression_name(x->st.compression));
        if (x->st.compression != TFR_COMPRESS_NONE && x->st.gzip_members != 1)
            fprintf(f, " %d members", x->st.gzip_members);
        if (x->st.missing_trailer)
            fprintf(f, " no-trailer");
        if (x->st.trailing_bytes)
            fprintf(f, " %llu trailing bytes", (unsigned long long)x->st.trailing_bytes);
        if (x->st.corrupt_skipped)
            fprintf(f, " %llu corrupt", (unsigned long long)x->st.corrupt_skipped);
        if (x->bad_examples)
            fprintf(f, " %llu not-Example", (unsigned long long)x->bad_examples);
        if (x->failed)
            fprintf(f, " FAILED");
        fputc('\n', f);
    }

    fprintf(f, "\nschema (%zu keys)\n", r->nkeys);
    fprintf(f, "  %-28s %-6s %-9s %10s  %s\n", "key", "kind", "values", "present", "range");
    for (size_t i = 0; i < r->nkeys; i++) {
        const tfr_inspect_key *k = &r->keys[i];
        char vals[32];
        if (k->min_count == k->max_count)
            snprintf(vals, sizeof vals, "%llu", (unsigned long long)k->min_count);
        else
            snprintf(vals, sizeof vals, "%llu..%llu", (unsigned long long)k->min_count,
                     (unsigned long long)k->max_count);
        fprintf(f, "  %-28s %-6s %-9s %10llu  ", k->key,
                k->mixed_kinds ? "MIXED" : tfr_feature_kind_name(k->kind), vals,
                (unsigned long long)k->present);
        if ((k->kind == TFR_FEATURE_INT64 || k->kind == TFR_FEATURE_FLOAT) && k->min_value <= k->max_value)
            fprintf(f, "%.9g .. %.9g", k->min_value, k->max_value);
        if (k->n_jpeg || k->n_png) {
            if (k->n_jpeg)
                fprintf(f, "jpeg %llu ", (unsigned long long)k->n_jpeg);
            if (k->n_png)
                fprintf(f, "png %llu ", (unsigned long long)k->n_png);
            if (k->n_other_bytes)
                fprintf(f, "other %llu ", (unsigned long long)k->n_other_bytes);
            if (k->max_w > 0)
                fprintf(f, "%dx%d .. %dx%d", k->min_w, k->min_h, k->max_w, k->max_h);
            fputs(" channels", f);
            for (int c = 1; c < 31; c++)
                if (k->channels_seen & (1 << c))
                    fprintf(f, " %d", c);
        }
        if (k->n_tensor) {
            char shape[128];
            tensor_shape_text(k, shape, sizeof shape);
            fprintf(f, "%s tensor %s, values %.6g .. %.6g", k->tensor_dtype >= 0
                        ? tfr_dtype_name((tfr_dtype)k->tensor_dtype) : "mixed-dtype",
                    shape, k->tensor_min, k->tensor_max);
            if (k->n_tensor < k->present)
                fprintf(f, " (%llu not tensors)", (unsigned long long)(k->present - k->n_tensor));
        }
        fputc('\n', f);
    }

    if (r->label_key && r->nlabels) {
        uint64_t maxc = 1, sum = 0;
        for (size_t i = 0; i < r->nlabels; i++) {
            sum += r->labels[i].count;
            if (r->labels[i].count > maxc)
                maxc = r->labels[i].count;
        }
        fprintf(f, "\nlabels (%s): %zu classes over %llu records\n", r->label_key, r->nlabels,
                (unsigned long long)sum);
        size_t show = r->nlabels <= 50 ? r->nlabels : 50;
        for (size_t i = 0; i < show; i++) {
            const tfr_inspect_label *l = &r->labels[i];
            int bar = (int)(30.0 * (double)l->count / (double)maxc + 0.5);
            fprintf(f, "  %6lld %-20.20s %9llu %5.1f%% ", (long long)l->label,
                    l->text ? l->text : "", (unsigned long long)l->count,
                    100.0 * (double)l->count / (double)sum);
            for (int k = 0; k < bar; k++)
                fputc('#', f);
            fputc('\n', f);
        }
        if (show < r->nlabels)
            fprintf(f, "  ... %zu more\n", r->nlabels - show);
    }

    if (r->nnotes) {
        fprintf(f, "\nnotes\n");
        for (size_t i = 0; i < r->nnotes; i++)
            fprintf(f, "  %s\n", r->notes[i]);
    }
    if (r->ndefects) {
        fprintf(f, "\ndefects: %llu\n", (unsigned long long)r->ndefects);
        char b[4400];
        for (size_t i = 0; i < r->defects_kept; i++)
            fprintf(f, "  %s\n", tfr_error_text(&r->defects[i], b, sizeof b));
        if (r->defects_kept < r->ndefects)
            fprintf(f, "  ... %llu more (raise --max-errors)\n",
                    (unsigned long long)(r->ndefects - r->defects_kept));
    }
    fprintf(f, "\n%s\n", r->ndefects ? "verdict: DEFECTS FOUND"
                                     : "verdict: OK (every CRC verified, every record a tf.train.Example)");
}

static void jnum(FILE *f, double v)
{
    if (isfinite(v))
        fprintf(f, "%.17g", v);
    else
        fputs("null", f);
}

void tfr_inspect_print_json(const tfr_inspect_report *r, FILE *f)
{
    tfr_inspect_print_json_pictures(r, NULL, NULL, f);
}

void tfr_inspect_print_json_pictures(const tfr_inspect_report *r, const tfr_pictures_report *pr,
                                     const tfr_pictures_opts *po, FILE *f)
{
    /* one meaning per key across the tools: bytes on disk, uncompressed_bytes */
    fprintf(f, "{\"format\":1,\"records\":%llu,\"bytes\":%llu,\"uncompressed_bytes\":%llu,"
               "\"seconds\":%.3f,",
            (unsigned long long)r->records, (unsigned long long)r->file_bytes,
            (unsigned long long)r->bytes, r->seconds);
    fprintf(f, "\"ok\":%s,\"defects\":%llu,\"files\":[", r->ndefects ? "false" : "true",
            (unsigned long long)r->ndefects);
    for (size_t i = 0; i < r->nfiles; i++) {
        const tfr_inspect_file *x = &r->files[i];
        fprintf(f, "%s{\"path\":", i ? "," : "");
        tfr_json_str(f, x->path);
        fprintf(f, ",\"records\":%llu,\"uncompressed_bytes\":%llu,\"bytes\":%llu,\"compression\":\"%s\","
                   "\"members\":%d,\"missing_trailer\":%s,\"trailing_bytes\":%llu,"
                   "\"corrupt_skipped\":%llu,\"bad_examples\":%llu,\"failed\":%s",
                (unsigned long long)x->st.records, (unsigned long long)x->st.bytes,
                (unsigned long long)x->st.file_bytes, tfr_compression_name(x->st.compression),
                x->st.gzip_members, x->st.missing_trailer ? "true" : "false",
                (unsigned long long)x->st.trailing_bytes,
                (unsigned long long)x->st.corrupt_skipped, (unsigned long long)x->bad_examples,
                x->failed ? "true" : "false");
        if (x->manifest_records >= 0)
            fprintf(f, ",\"manifest_records\":%lld", x->manifest_records);
        fputc('}', f);
    }
    fputs("],\"schema\":[", f);
    for (size_t i = 0; i < r->nkeys; i++) {
        const tfr_inspect_key *k = &r->keys[i];
        fprintf(f, "%s{\"key\":", i ? "," : "");
        tfr_json_str(f, k->key);
        fprintf(f, ",\"kind\":\"%s\",\"mixed_kinds\":%s,\"present\":%llu,\"min_count\":%llu,"
                   "\"max_count\":%llu",
                tfr_feature_kind_name(k->kind), k->mixed_kinds ? "true" : "false",
                (unsigned long long)k->present, (unsigned long long)k->min_count,
                (unsigned long long)k->max_count);
        if (k->kind != TFR_FEATURE_BYTES && k->min_value <= k->max_value) {
            fputs(",\"min\":", f);
            jnum(f, k->min_value);
            fputs(",\"max\":", f);
            jnum(f, k->max_value);
        }
        if (k->n_tensor) {
            char shape[128];
            tensor_shape_text(k, shape, sizeof shape);
            fprintf(f, ",\"tensor\":{\"count\":%llu,\"dtype\":", (unsigned long long)k->n_tensor);
            if (k->tensor_dtype >= 0)
                fprintf(f, "\"%s\"", tfr_dtype_name((tfr_dtype)k->tensor_dtype));
            else
                fputs("null", f);
            fputs(",\"shape\":", f);
            if (k->tensor_rank >= 0) {
                fputc('[', f);
                for (int d = 0; d < k->tensor_rank; d++)
                    fprintf(f, "%s%lld", d ? "," : "", (long long)k->tensor_shape[d]);
                fputc(']', f);
            } else {
                fputs("null", f);
            }
            fputs(",\"min\":", f);
            jnum(f, k->tensor_min);
            fputs(",\"max\":", f);
            jnum(f, k->tensor_max);
            fputc('}', f);
        }
        if (k->n_jpeg || k->n_png) {
            fprintf(f, ",\"images\":{\"jpeg\":%llu,\"png\":%llu,\"other\":%llu",
                    (unsigned long long)k->n_jpeg, (unsigned long long)k->n_png,
                    (unsigned long long)k->n_other_bytes);
            if (k->max_w > 0)
                fprintf(f, ",\"min_width\":%d,\"max_width\":%d,\"min_height\":%d,\"max_height\":%d",
                        k->min_w, k->max_w, k->min_h, k->max_h);
            fputc('}', f);
        }
        fputc('}', f);
    }
    fputs("],\"label_key\":", f);
    if (r->label_key)
        tfr_json_str(f, r->label_key);
    else
        fputs("null", f);
    fputs(",\"labels\":[", f);
    for (size_t i = 0; i < r->nlabels; i++) {
        fprintf(f, "%s{\"label\":%lld,\"count\":%llu", i ? "," : "", (long long)r->labels[i].label,
                (unsigned long long)r->labels[i].count);
        if (r->labels[i].text) {
            fputs(",\"text\":", f);
            tfr_json_str(f, r->labels[i].text);
        }
        fputc('}', f);
    }
    fputs("],\"defect_list\":[", f);
    for (size_t i = 0; i < r->defects_kept; i++) {
        const tfr_error *e = &r->defects[i];
        fprintf(f, "%s{\"path\":", i ? "," : "");
        tfr_json_str(f, e->path);
        fprintf(f, ",\"record\":%lld,\"offset\":%lld,\"compressed_offset\":%lld,\"status\":\"%s\",\"message\":",
                e->record, e->offset, e->raw_offset, tfr_status_str(e->code));
        tfr_json_str(f, e->msg);
        fputc('}', f);
    }
    fputs("],\"notes\":[", f);
    for (size_t i = 0; i < r->nnotes; i++) {
        if (i)
            fputc(',', f);
        tfr_json_str(f, r->notes[i]);
    }
    fputc(']', f);
    if (pr) {
        fputc(',', f);
        tfr_pictures_print_json(pr, po, f);
    }
    fputs("}\n", f);
}

/* ---- pictures ------------------------------------------------------------------ */

static const char *const float_how[4] = {"x*255 (values in 0..1)", "(x+1)*127.5 (values in -1..1)",
                                         "x (values in 0..255)", "stretched min..max per image"};

void tfr_pictures_print_text(const tfr_pictures_report *r, const tfr_pictures_opts *o, FILE *f)
{
    if (o->sample || o->decode_all) {
        if (!r->stats_pixels) {
            fprintf(f, "pixels: no image decoded\n");
        } else {
            fprintf(f, "pixels (x/255, %s %llu of %llu images%s): mean %.4f",
                    r->stats_exact ? "every image," : "a uniform sample of",
                    (unsigned long long)r->stats_images, (unsigned long long)r->images,
                    r->stats_exact ? "" : "; --decode-all for exact values", r->mean_all);
            if (!r->stats_exact && r->mean_stderr > 0)
                fprintf(f, " +- %.4f", r->mean_stderr);
            fprintf(f, " std %.4f", r->std_all);
            if (r->stats_channels == 3)
                fprintf(f, "; R %.4f/%.4f G %.4f/%.4f B %.4f/%.4f", r->mean[0], r->std[0],
                        r->mean[1], r->std[1], r->mean[2], r->std[2]);
            fprintf(f, "\n  for tfrecord-train: --mean %.4f --std %.4f\n", r->mean_all, r->std_all);
        }
    }
    if (r->nsizes) {
        fprintf(f, "image sizes (from headers, %llu images):", (unsigned long long)r->images);
        size_t show = r->nsizes < 8 ? r->nsizes : 8;
        for (size_t i = 0; i < show; i++)
            fprintf(f, " %dx%d %llu%s", r->sizes[i].w, r->sizes[i].h,
                    (unsigned long long)r->sizes[i].count, i + 1 < show ? "," : "");
        uint64_t rest = r->sizes_other;
        for (size_t i = show; i < r->nsizes; i++)
            rest += r->sizes[i].count;
        if (rest)
            fprintf(f, ", %llu of other sizes", (unsigned long long)rest);
        fputc('\n', f);
    }
    for (int b = 0; b < 4; b++)
        if (r->float_mappings & (1u << b))
            fprintf(f, "float tensors shown as %s\n", float_how[b]);
    if (o->sheet_path)
        fprintf(f, "contact sheet: %s (%dx%d, %d classes x up to %d images)\n", o->sheet_path,
                r->sheet_w, r->sheet_h, r->sheet_rows, o->per_class);
    if (r->classes_dropped_images)
        fprintf(f, "  %llu images of classes past the first %d are not on it\n",
                (unsigned long long)r->classes_dropped_images, o->max_rows);
    if (o->dump)
        fprintf(f, "wrote %llu images to %s/\n", (unsigned long long)r->dumped, o->dump_dir);
    if (r->undecodable) {
        char buf[4500];
        fprintf(f, "%llu sampled images did not decode; the first: %s\n",
                (unsigned long long)r->undecodable, tfr_error_text(&r->first_error, buf, sizeof buf));
    }
}

void tfr_pictures_print_json(const tfr_pictures_report *r, const tfr_pictures_opts *o, FILE *f)
{
    fputs("\"pixels\":", f);
    if ((o->sample || o->decode_all) && r->stats_pixels) {
        int nc = r->stats_channels;
        fputs("{\"mean\":[", f);
        for (int c = 0; c < nc; c++)
            fprintf(f, "%s%.6f", c ? "," : "", r->mean[c]);
        fputs("],\"std\":[", f);
        for (int c = 0; c < nc; c++)
            fprintf(f, "%s%.6f", c ? "," : "", r->std[c]);
        fprintf(f, "],\"mean_all\":%.6f,\"mean_stderr\":%.6f,\"std_all\":%.6f,\"images\":%llu,"
                   "\"pixels\":%llu,\"exact\":%s}",
                r->mean_all, r->mean_stderr, r->std_all, (unsigned long long)r->stats_images,
                (unsigned long long)r->stats_pixels, r->stats_exact ? "true" : "false");
    } else {
        fputs("null", f);
    }
    fputs(",\"image_sizes\":[", f);
    for (size_t i = 0; i < r->nsizes; i++)
        fprintf(f, "%s{\"width\":%d,\"height\":%d,\"count\":%llu}", i ? "," : "", r->sizes[i].w,
                r->sizes[i].h, (unsigned long long)r->sizes[i].count);
    fprintf(f, "],\"image_sizes_other\":%llu,\"float_mapping\":[",
            (unsigned long long)r->sizes_other);
    int first = 1;
    for (int b = 0; b < 4; b++)
        if (r->float_mappings & (1u << b)) {
            fprintf(f, "%s\"%s\"", first ? "" : ",", float_how[b]);
            first = 0;
        }
    fputs("],\"contact_sheet\":", f);
    if (o->sheet_path) {
        fputs("{\"path\":", f);
        tfr_json_str(f, o->sheet_path);
        fprintf(f, ",\"width\":%d,\"height\":%d,\"rows\":%d,\"per_class\":%d,"
                   "\"images_not_shown\":%llu}",
                r->sheet_w, r->sheet_h, r->sheet_rows, o->per_class,
                (unsigned long long)r->classes_dropped_images);
    } else {
        fputs("null", f);
    }
    fprintf(f, ",\"dumped\":%llu,\"undecodable\":%llu", (unsigned long long)r->dumped,
            (unsigned long long)r->undecodable);
}

/* ---- the tf.data feature spec ------------------------------------------------- */

static const char *tf_dtype(tfr_feature_kind k)
{
    return k == TFR_FEATURE_INT64 ? "tf.int64" : k == TFR_FEATURE_FLOAT ? "tf.float32" : "tf.string";
}

static const char *tf_tensor_dtype(int d)
{
    switch (d) {
    case TFR_DT_FLOAT: return "tf.float32";
    case TFR_DT_DOUBLE: return "tf.float64";
    case TFR_DT_INT32: return "tf.int32";
    case TFR_DT_UINT8: return "tf.uint8";
    case TFR_DT_INT64: return "tf.int64";
    default: return NULL;
    }
}

/* a Python identifier for a key: "image/class/label" -> "image_class_label" */
static void py_name(const char *key, char *out, size_t n)
{
    size_t j = 0;
    for (size_t i = 0; key[i] && j + 1 < n; i++)
        out[j++] = isalnum((unsigned char)key[i]) ? key[i] : '_';
    out[j] = 0;
    if (j && isdigit((unsigned char)out[0]))
        out[0] = '_';
}

void tfr_inspect_print_spec(const tfr_inspect_report *r, FILE *f)
{
    const char *comp = "";
    for (size_t i = 0; i < r->nfiles; i++)
        if (r->files[i].st.records) {
            comp = r->files[i].st.compression == TFR_COMPRESS_GZIP   ? "GZIP"
                   : r->files[i].st.compression == TFR_COMPRESS_ZLIB ? "ZLIB"
                                                                      : "";
            break;
        }
    fprintf(f, "# tf.data input for these files (tfrecord-inspect --spec): %llu records\n",
            (unsigned long long)r->records);
    fputs("import tensorflow as tf\n\nfiles = [", f);
    for (size_t i = 0; i < r->nfiles && i < 8; i++) {
        fputs(i ? ", " : "", f);
        tfr_json_str(f, r->files[i].path);
    }
    if (r->nfiles > 8)
        fprintf(f, ", ...  # %zu files", r->nfiles);
    fputs("]\nfeature_description = {\n", f);
    for (size_t i = 0; i < r->nkeys; i++) {
        const tfr_inspect_key *k = &r->keys[i];
        fputs("    ", f);
        tfr_json_str(f, k->key);
        if (k->mixed_kinds) {
            fputs(": None,  # stored with more than one kind: parse it per record\n", f);
            continue;
        }
        if (k->present == r->records && k->min_count == k->max_count && k->min_count == 1)
            fprintf(f, ": tf.io.FixedLenFeature([], %s),", tf_dtype(k->kind));
        else if (k->present == r->records && k->min_count == k->max_count)
            fprintf(f, ": tf.io.FixedLenFeature([%llu], %s),", (unsigned long long)k->min_count,
                    tf_dtype(k->kind));
        else
            fprintf(f, ": tf.io.VarLenFeature(%s),", tf_dtype(k->kind));
        if (k->present < r->records)
            fprintf(f, "  # in %llu of %llu records", (unsigned long long)k->present,
                    (unsigned long long)r->records);
        else if (k->min_count != k->max_count)
            fprintf(f, "  # %llu..%llu values", (unsigned long long)k->min_count,
                    (unsigned long long)k->max_count);
        else if (k->n_jpeg || k->n_png)
            fputs(k->n_png ? (k->n_jpeg ? "  # JPEG and PNG images" : "  # PNG images")
                           : "  # JPEG images", f);
        else if (k->n_tensor == k->present && tf_tensor_dtype(k->tensor_dtype))
            fputs("  # a serialized tensor (tf.io.serialize_tensor)", f);
        fputc('\n', f);
    }
    fputs("}\n\ndef parse(record):\n"
          "    example = tf.io.parse_single_example(record, feature_description)\n", f);
    char image[128] = "", label[160] = "";
    for (size_t i = 0; i < r->nkeys; i++) {
        const tfr_inspect_key *k = &r->keys[i];
        char v[128];
        py_name(k->key, v, sizeof v);
        int is_label = r->label_key && !strcmp(k->key, r->label_key);
        if (is_label && k->kind == TFR_FEATURE_INT64)
            snprintf(label, sizeof label, "example[\"%s\"]", k->key);
        else if (is_label && k->n_tensor == k->present && tf_tensor_dtype(k->tensor_dtype) &&
                 k->present == r->records)
            snprintf(label, sizeof label, "%s", v);
        else if (!image[0] && k->present == r->records && k->min_count == 1 && k->max_count == 1 &&
                 ((k->n_tensor == k->present && tf_tensor_dtype(k->tensor_dtype)) ||
                  ((k->n_jpeg || k->n_png) && !k->n_other_bytes)))
            snprintf(image, sizeof image, "%s", v);
        if (k->mixed_kinds || k->present != r->records || k->min_count != 1 || k->max_count != 1)
            continue;
        if (k->n_tensor == k->present && tf_tensor_dtype(k->tensor_dtype)) {
            char shape[128];
            tensor_shape_text(k, shape, sizeof shape);
            fprintf(f, "    %s = tf.io.parse_tensor(example[\"%s\"], out_type=%s)  # %s\n", v, k->key,
                    tf_tensor_dtype(k->tensor_dtype), shape);
        } else if (k->n_jpeg && !k->n_png && !k->n_other_bytes) {
            int c3 = k->channels_seen & ~(1 << 1);
            fprintf(f, "    %s = tf.io.decode_jpeg(example[\"%s\"], channels=%d)\n", v, k->key,
                    c3 ? 3 : 1);
        } else if (k->n_png && !k->n_other_bytes) {
            fprintf(f, "    %s = tf.io.decode_image(example[\"%s\"], expand_animations=False)\n",
                    v, k->key);
        }
    }
    if (image[0] && label[0])
        fprintf(f, "    return %s, %s\n\n", image, label);
    else
        fputs("    return example\n\n", f);
    fprintf(f, "dataset = tf.data.TFRecordDataset(files%s%s%s).map(parse)\n",
            comp[0] ? ", compression_type=\"" : "", comp, comp[0] ? "\"" : "");
}
