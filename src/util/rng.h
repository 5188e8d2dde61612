/*
 * util/rng.h - the project's one splitmix64, mix64 and FNV-1a (internal).
 *
 * Every seeded choice (split hashing, shuffles, flips, crops, weight init)
 * goes through these, so the formulas are fixed: changing a constant here
 * changes shards, stream order and training losses (tests/reference).
 *
 *   tfr_fnv1a       64-bit FNV-1a over bytes, start from TFR_FNV_INIT
 *   tfr_mix64       splitmix64's finalizer (Stafford variant 13)
 *   tfr_splitmix64  one splitmix64 step: state += golden gamma, return mix64
 *   tfr_rng_unit    the top 53 bits of the next step as a double in [0, 1)
 */
#ifndef TFR_RNG_H
#define TFR_RNG_H

#include <stddef.h>
#include <stdint.h>

#define TFR_FNV_INIT 0xcbf29ce484222325ull
#define TFR_FNV_PRIME 0x100000001b3ull
/* splitmix64's increment, 2^64 / golden ratio; also used to spread seeds */
#define TFR_GOLDEN64 0x9e3779b97f4a7c15ull

/* 64-bit FNV-1a, for fingerprints and split hashing. */
static inline uint64_t tfr_fnv1a(uint64_t h, const void *data, size_t n)
{
    const unsigned char *p = data;
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= TFR_FNV_PRIME;
    }
    return h;
}

static inline uint64_t tfr_mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* Advances *state and returns the next splitmix64 output. */
static inline uint64_t tfr_splitmix64(uint64_t *state)
{
    return tfr_mix64(*state += TFR_GOLDEN64);
}

/* Uniform in [0, 1): (next >> 11) * 2^-53, exact for every output. */
static inline double tfr_rng_unit(uint64_t *state)
{
    return (double)(tfr_splitmix64(state) >> 11) * (1.0 / 9007199254740992.0);
}

#endif
