/*
 * util/arena.h - bump allocator for per-record parsing (internal).
 *
 * Blocks are chained; reset keeps the largest block and frees the rest, so
 * a steady stream of similar records settles into one block and no malloc.
 */
#ifndef TFR_ARENA_H
#define TFR_ARENA_H

#include <stddef.h>

typedef struct tfr_arena_block tfr_arena_block;

typedef struct tfr_arena {
    tfr_arena_block *head;
    size_t           used_total; /* bytes handed out since reset */
    size_t           next_size;  /* size of the next block to allocate */
} tfr_arena;

void  tfr_arena_init(tfr_arena *a, size_t first_block);
void *tfr_arena_alloc(tfr_arena *a, size_t n); /* 16-byte aligned; NULL on OOM */
void  tfr_arena_reset(tfr_arena *a);
void  tfr_arena_free(tfr_arena *a);

#endif
