/*
 * util/alloc.c - the library's allocator with its fault injector.
 *
 * The counter is one relaxed atomic increment per allocation; with no
 * failure armed the cost is that increment and a compare.
 */
#include "util/alloc.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

static atomic_uint_fast64_t count;   /* allocations since the hook was armed */
static atomic_uint_fast64_t fail_at; /* 0: none */
static atomic_int fired;
static void (*on_fail)(void);

/* 1 when this allocation is the one to fail. */
static int inject(void)
{
    uint64_t n = atomic_fetch_add_explicit(&count, 1, memory_order_relaxed) + 1;
    uint64_t f = atomic_load_explicit(&fail_at, memory_order_relaxed);
    if (f && n == f) {
        atomic_store(&fired, 1);
        if (on_fail)
            on_fail();
        errno = ENOMEM; /* as malloc sets it */
        return 1;
    }
    return 0;
}

void *tfr_malloc(size_t n)
{
    return inject() ? NULL : malloc(n ? n : 1);
}

void *tfr_calloc(size_t count_, size_t size)
{
    return inject() ? NULL : calloc(count_ ? count_ : 1, size ? size : 1);
}

void *tfr_realloc(void *p, size_t n)
{
    return inject() ? NULL : realloc(p, n ? n : 1);
}

char *tfr_strdup(const char *s)
{
    return tfr_strndup(s, strlen(s));
}

char *tfr_strndup(const char *s, size_t n)
{
    size_t len = strnlen(s, n);
    char *d = tfr_malloc(len + 1);
    if (d) {
        memcpy(d, s, len);
        d[len] = 0;
    }
    return d;
}

void tfr_alloc_fail_at(uint64_t n)
{
    atomic_store(&fail_at, 0);
    atomic_store(&count, 0);
    if (n)
        atomic_store(&fired, 0);
    atomic_store(&fail_at, n);
}

uint64_t tfr_alloc_count(void)
{
    return atomic_load(&count);
}

int tfr_alloc_fired(void)
{
    return atomic_load(&fired);
}

void tfr_alloc_on_fail(void (*fn)(void))
{
    on_fail = fn;
}
