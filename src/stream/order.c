/*
 * stream/order.c - the deterministic record order of the streaming reader:
 * file shuffle, rank split, interleave, shuffle buffer, epoch caps (see
 * stream_impl.h). Single-threaded: the stream's sequencer drives it.
 */
#include <stdlib.h>
#include <string.h>

#include "stream/stream_impl.h"
#include "tfrecord/augment.h"
#include "tfrecord/record.h"
#include "tfrecord/stream.h"
#include "util/alloc.h"

typedef struct islot {
    tfr_record_reader *r;
    int                file;
} islot;

/* A rank's part of a file: records [begin, end), or all of it (end 0, ranged 0). */
typedef struct piece {
    size_t   file;
    int      ranged;
    uint64_t begin, end;
} piece;

struct tfr_order {
    tfr_order_config  c;
    size_t           *order;
    piece            *mine;
    size_t            nmine, next_file;
    int               K, active, cur, file_mode, range_mode;
    islot            *slots;
    size_t            N, nheld;
    tfr_order_record *buf;
    tfr_rng           shuf;
    uint64_t          g;   /* interleaved record index, for record-mode rank split */
};

tfr_status tfr_order_new(const tfr_order_config *c, tfr_order **out, tfr_error *err)
{
    *out = NULL;
    tfr_order *o = tfr_calloc(1, sizeof *o);
    if (!o)
        return tfr_fail(err, TFR_ERR_NOMEM, NULL, "out of memory");
    o->c = *c;
    o->K = c->interleave > 0 ? c->interleave : 1;
    o->N = c->shuffle_buffer > 1 ? c->shuffle_buffer : 1;
    o->order = tfr_malloc((c->nfiles ? c->nfiles : 1) * sizeof *o->order);
    o->mine = tfr_malloc((c->nfiles ? c->nfiles : 1) * sizeof *o->mine);
    o->slots = tfr_calloc((size_t)o->K, sizeof *o->slots);
    o->buf = tfr_calloc(o->N, sizeof *o->buf);
    if (!o->order || !o->mine || !o->slots || !o->buf) {
        tfr_order_free(o);
        return tfr_fail(err, TFR_ERR_NOMEM, NULL, "out of memory");
    }
    o->file_mode = c->world > 1 && c->nfiles >= (size_t)c->world && !c->split_records;
    o->range_mode = c->world > 1 && !o->file_mode && c->indexes && c->nfiles > 0;
    for (size_t i = 0; o->range_mode && i < c->nfiles; i++)
        if (!c->indexes[i] || c->counts[i] < 0 ||
            tfr_record_index_count(c->indexes[i]) != (uint64_t)c->counts[i])
            o->range_mode = 0;
    *out = o;
    return TFR_OK;
}

void tfr_order_free(tfr_order *o)
{
    if (!o)
        return;
    tfr_order_end_epoch(o);
    free(o->order);
    free(o->mine);
    free(o->slots);
    free(o->buf);
    free(o);
}

/* Per-rank record cap for an epoch (equal batch counts on every rank). */
static uint64_t epoch_cap(const tfr_order *o)
{
    const tfr_order_config *c = &o->c;
    int world = c->world;
    if (world <= 1 || c->split_records == TFR_SPLIT_EXACT)
        return 0; /* the exact split reads every record: no cap */
    uint64_t minc = UINT64_MAX;
    for (int r = 0; r < world; r++) {
        uint64_t n = 0;
        if (o->file_mode) {
            for (size_t i = (size_t)r; i < c->nfiles; i += (size_t)world)
                n += (uint64_t)(c->counts[o->order[i]] > 0 ? c->counts[o->order[i]] : 0);
        } else {
            uint64_t tot = 0;
            for (size_t i = 0; i < c->nfiles; i++)
                tot += (uint64_t)(c->counts[i] > 0 ? c->counts[i] : 0);
            n = tot / (uint64_t)world + ((uint64_t)r < tot % (uint64_t)world);
        }
        if (n < minc)
            minc = n;
    }
    /* 0 records: nothing to cap against */
    return minc == 0 || minc == UINT64_MAX ? 0 : minc;
}

uint64_t tfr_order_start_epoch(tfr_order *o, uint64_t epoch)
{
    const tfr_order_config *c = &o->c;
    tfr_order_end_epoch(o);
    for (size_t i = 0; i < c->nfiles; i++)
        o->order[i] = i;
    if (c->shuffle_files) {
        tfr_rng r = tfr_rng_for(c->seed, epoch, 0xf11e5);
        for (size_t i = c->nfiles; i > 1; i--) {
            size_t j = (size_t)(tfr_rng_u64(&r) % i);
            size_t t = o->order[i - 1];
            o->order[i - 1] = o->order[j];
            o->order[j] = t;
        }
    }
    o->nmine = 0;
    if (o->range_mode) {
        /* the files in this epoch's order as one run of tot records; this
         * rank's range of it meets each file at most once */
        uint64_t tot = 0, at = 0;
        for (size_t i = 0; i < c->nfiles; i++)
            tot += (uint64_t)c->counts[i];
        uint64_t lo = (uint64_t)((unsigned __int128)tot * (unsigned)c->rank / (unsigned)c->world);
        uint64_t hi =
            (uint64_t)((unsigned __int128)tot * (unsigned)(c->rank + 1) / (unsigned)c->world);
        if (c->split_records == TFR_SPLIT_EXACT) {
            /* the shares of every-world-th-record mode, so that the count is
             * the same in both: tot / world, the first tot % world ranks one more */
            const uint64_t W = (uint64_t)c->world, r = (uint64_t)c->rank, q = tot / W,
                           rem = tot % W;
            lo = r * q + (r < rem ? r : rem);
            hi = lo + q + (r < rem);
        }
        for (size_t i = 0; i < c->nfiles; i++) {
            size_t f = o->order[i];
            uint64_t n = (uint64_t)c->counts[f];
            uint64_t b = lo > at ? lo - at : 0, e = hi - at < n ? hi - at : n;
            if (hi > at && b < e)
                o->mine[o->nmine++] = (piece){f, 1, b, e};
            at += n;
        }
    } else {
        for (size_t i = 0; i < c->nfiles; i++)
            if (!o->file_mode || i % (size_t)c->world == (size_t)c->rank)
                o->mine[o->nmine++] = (piece){o->order[i], 0, 0, 0};
    }
    o->shuf = tfr_rng_for(c->seed, epoch, 0x5b0f);
    o->next_file = 0;
    o->nheld = 0;
    o->g = 0;
    o->active = 0;
    o->cur = 0;
    return epoch_cap(o);
}

void tfr_order_end_epoch(tfr_order *o)
{
    for (int k = 0; o->slots && k < o->K; k++)
        if (o->slots[k].r) {
            tfr_record_reader_close(o->slots[k].r);
            o->slots[k].r = NULL;
        }
    for (size_t i = 0; o->buf && i < o->nheld; i++)
        free(o->buf[i].data);
    o->nheld = 0;
    o->active = 0;
    o->next_file = o->nmine;
}

/* The next record read from the files (interleaved, this rank's), or EOF. */
static tfr_status read_next(tfr_order *o, tfr_order_record *rec, tfr_error *err)
{
    const tfr_order_config *c = &o->c;
    for (;;) {
        /* fill empty interleave slots */
        for (int k = 0; k < o->K; k++) {
            while (!o->slots[k].r && o->next_file < o->nmine) {
                const piece *pc = &o->mine[o->next_file++];
                int f = (int)pc->file;
                tfr_status st =
                    pc->ranged ? tfr_record_reader_open_range(c->files[f], &c->record,
                                                              c->indexes[f], pc->begin, pc->end,
                                                              &o->slots[k].r, err)
                               : tfr_record_reader_open(c->files[f], &c->record, &o->slots[k].r,
                                                        err);
                if (st) {
                    /* an unreadable file is skipped, running out of memory is not */
                    if (c->record.skip_corrupt && st != TFR_ERR_NOMEM && st != TFR_ERR_ARG) {
                        if (c->on_skip)
                            c->on_skip(c->user, err);
                        continue;
                    }
                    return st;
                }
                if (c->on_skip)
                    tfr_record_reader_on_skip(o->slots[k].r, c->on_skip, c->user);
                o->slots[k].file = f;
                o->active++;
            }
        }
        if (o->active == 0)
            return TFR_ERR_EOF;
        /* next record, round-robin over the active slots */
        while (!o->slots[o->cur].r)
            o->cur = (o->cur + 1) % o->K;
        islot *sl = &o->slots[o->cur];
        const uint8_t *d;
        size_t len;
        tfr_status st = tfr_record_reader_next(sl->r, &d, &len, err);
        if (st == TFR_ERR_EOF) {
            tfr_record_reader_close(sl->r);
            sl->r = NULL;
            o->active--;
            continue; /* this slot takes the next file; cur stays */
        }
        if (st)
            return st;
        int file = sl->file;
        uint64_t recno = tfr_record_reader_offset(sl->r);
        o->cur = (o->cur + 1) % o->K;
        if (!o->file_mode && !o->range_mode && c->world > 1 &&
            (o->g++ % (uint64_t)c->world) != (uint64_t)c->rank)
            continue;
        rec->data = tfr_malloc(len ? len : 1);
        if (!rec->data)
            return tfr_fail(err, TFR_ERR_NOMEM, NULL, "out of memory");
        memcpy(rec->data, d, len);
        rec->len = len;
        rec->file = file;
        rec->rec = recno;
        return TFR_OK;
    }
}

tfr_status tfr_order_next(tfr_order *o, tfr_order_record *rec, tfr_error *err)
{
    for (;;) {
        tfr_order_record h;
        tfr_status st = read_next(o, &h, err);
        if (st == TFR_ERR_EOF)
            break;
        if (st)
            return st;
        if (o->N == 1) {
            *rec = h;
            return TFR_OK;
        }
        if (o->nheld < o->N) {
            o->buf[o->nheld++] = h;
            continue;
        }
        size_t j = (size_t)(tfr_rng_u64(&o->shuf) % o->N);
        *rec = o->buf[j];
        o->buf[j] = h;
        return TFR_OK;
    }
    /* the files are done: drain the shuffle buffer in random order */
    if (!o->nheld)
        return TFR_ERR_EOF;
    size_t j = (size_t)(tfr_rng_u64(&o->shuf) % o->nheld);
    *rec = o->buf[j];
    o->buf[j] = o->buf[--o->nheld];
    return TFR_OK;
}
