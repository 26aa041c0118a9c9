/* sluice: the small hash functions several modules use for lookup tables and shape
 * fingerprints. FNV-1a 64 (chainable) and a pointer mixer. */
#ifndef SL_HASH_H
#define SL_HASH_H

#include <stddef.h>
#include <stdint.h>

#define SL_FNV64_INIT UINT64_C(14695981039346656037)

/* FNV-1a over p[0..n), continuing from h (start with SL_FNV64_INIT). Stable across
 * versions: schema fingerprints stored in bookmarks depend on it. */
static inline uint64_t sl_fnv64(uint64_t h, const void *p, size_t n)
{
    const unsigned char *s = p;
    for (size_t i = 0; i < n; i++) {
        h ^= s[i];
        h *= UINT64_C(1099511628211);
    }
    return h;
}

/* A well-mixed hash of a pointer (murmur3's finaliser), for pointer-keyed tables. */
static inline uint64_t sl_ptr_hash(const void *p)
{
    uint64_t x = (uint64_t)(uintptr_t)p;
    x ^= x >> 33;
    x *= UINT64_C(0xff51afd7ed558ccd);
    x ^= x >> 33;
    return x;
}

#endif
