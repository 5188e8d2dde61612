/*
 * util/arena.c - bump allocator (see arena.h).
 */
#include "util/alloc.h"
#include "util/arena.h"

#include <stdint.h>
#include <stdlib.h>

struct tfr_arena_block {
    tfr_arena_block *next;
    size_t           size, used;
    max_align_t      data[];
};

void tfr_arena_init(tfr_arena *a, size_t first_block)
{
    a->head = NULL;
    a->used_total = 0;
    a->next_size = first_block < 4096 ? 4096 : first_block;
}

void *tfr_arena_alloc(tfr_arena *a, size_t n)
{
    n = (n + 15) & ~(size_t)15;
    if (n == 0)
        n = 16;
    tfr_arena_block *b = a->head;
    if (!b || b->size - b->used < n) {
        size_t sz = a->next_size;
        while (sz < n)
            sz *= 2;
        b = tfr_malloc(sizeof *b + sz);
        if (!b)
            return NULL;
        b->size = sz;
        b->used = 0;
        b->next = a->head;
        a->head = b;
        if (a->next_size < (64u << 20))
            a->next_size = sz * 2;
    }
    void *p = (char *)b->data + b->used;
    b->used += n;
    a->used_total += n;
    return p;
}

void tfr_arena_reset(tfr_arena *a)
{
    tfr_arena_block *keep = NULL;
    for (tfr_arena_block *b = a->head; b;) {
        tfr_arena_block *next = b->next;
        if (!keep || b->size > keep->size) {
            if (keep)
                free(keep);
            keep = b;
        } else {
            free(b);
        }
        b = next;
    }
    if (keep) {
        keep->next = NULL;
        keep->used = 0;
        a->next_size = keep->size;
    }
    a->head = keep;
    a->used_total = 0;
}

void tfr_arena_free(tfr_arena *a)
{
    for (tfr_arena_block *b = a->head; b;) {
        tfr_arena_block *next = b->next;
        free(b);
        b = next;
    }
    a->head = NULL;
}
