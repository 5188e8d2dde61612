/*
 * nn/cuda/wcache.h - the bf16 copies of fp32 filters that bf16 mode runs
 * its convolutions on, made once per change of the filter instead of on
 * every call: a forward and a backward pass of one SGD step, and every
 * batch of an evaluation, share one conversion per filter.
 *
 * An entry is keyed by the fp32 filter's device address and element count.
 * Every backend op that writes device memory a filter may live in (sgd,
 * upload, copy, zero, axpy, filter_layout) invalidates the entries that
 * overlap the bytes it writes; release invalidates them all (the address
 * may come back for another buffer). Plain C on opaque addresses (the
 * copies' device memory is the caller's), so the host tests check it.
 */
#ifndef TFR_NN_CUDA_WCACHE_H
#define TFR_NN_CUDA_WCACHE_H

#include <stdint.h>
#include <stdlib.h>

typedef struct tfr_wcache_entry {
    const void *w;     /* the fp32 filter */
    size_t      count; /* its elements */
    void       *copy;  /* the bf16 copy (device memory, grown by the caller) */
    size_t      cap;   /* bytes of copy */
    int         valid; /* copy holds w's current values */
} tfr_wcache_entry;

typedef struct tfr_wcache {
    tfr_wcache_entry *e;
    int               n, cap;
} tfr_wcache;

/*
 * The entry of (w, count), added (invalid, no copy) when new; *fresh is 1
 * when its copy is valid. NULL when out of memory. The pointer is good
 * until the next call.
 */
static inline tfr_wcache_entry *tfr_wcache_get(tfr_wcache *c, const void *w, size_t count,
                                               int *fresh)
{
    *fresh = 0;
    for (int i = 0; i < c->n; i++) {
        tfr_wcache_entry *e = &c->e[i];
        if (e->w == w) {
            if (e->count != count) {
                e->count = count;
                e->valid = 0;
            }
            *fresh = e->valid;
            return e;
        }
    }
    if (c->n == c->cap) {
        int cap = c->cap ? 2 * c->cap : 64;
        tfr_wcache_entry *ne = (tfr_wcache_entry *)realloc(c->e, (size_t)cap * sizeof *ne);
        if (!ne)
            return NULL;
        c->e = ne;
        c->cap = cap;
    }
    tfr_wcache_entry *e = &c->e[c->n++];
    e->w = w;
    e->count = count;
    e->copy = NULL;
    e->cap = 0;
    e->valid = 0;
    return e;
}

/* bytes at p were written: every copy of a filter overlapping them is stale */
static inline void tfr_wcache_written(tfr_wcache *c, const void *p, size_t bytes)
{
    const uintptr_t a = (uintptr_t)p, z = a + bytes;
    for (int i = 0; i < c->n; i++) {
        tfr_wcache_entry *e = &c->e[i];
        const uintptr_t wa = (uintptr_t)e->w, wz = wa + e->count * sizeof(float);
        if (wa < z && a < wz)
            e->valid = 0;
    }
}

/* every copy stale (memory was freed: its addresses may be reused) */
static inline void tfr_wcache_forget(tfr_wcache *c)
{
    for (int i = 0; i < c->n; i++)
        c->e[i].valid = 0;
}

#endif
