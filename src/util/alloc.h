/*
 * util/alloc.h - the library's allocator (internal).
 *
 * Every allocation the library makes itself goes through these (zlib's and
 * protobuf-c's, through their allocator hooks, too); free() releases them.
 * The one piece of state is a fault injector for tests: the N-th allocation
 * from a chosen point fails, as if memory ran out, so that a test can check
 * each error path once (zlib's infcover and sqlite's fault suites do the
 * same). libjpeg-turbo and libpng allocate on their own and are not
 * covered.
 */
#ifndef TFR_ALLOC_H
#define TFR_ALLOC_H

#include <stddef.h>
#include <stdint.h>

void *tfr_malloc(size_t n);
void *tfr_calloc(size_t count, size_t size);
void *tfr_realloc(void *p, size_t n);
char *tfr_strdup(const char *s);
char *tfr_strndup(const char *s, size_t n);

/*
 * Test hook: the n-th allocation from now fails (n >= 1), once; 0 disarms
 * (and keeps what tfr_alloc_fired says). Thread-safe. tfr_alloc_count() is
 * the number of allocations since the last call of tfr_alloc_fail_at;
 * tfr_alloc_fired() whether the failure armed last has happened.
 */
void     tfr_alloc_fail_at(uint64_t n);
uint64_t tfr_alloc_count(void);
int      tfr_alloc_fired(void);
/* Called at the injected failure (a test prints a stack trace); NULL: none. */
void     tfr_alloc_on_fail(void (*fn)(void));

#endif
