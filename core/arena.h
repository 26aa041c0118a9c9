/* sluice: a chunked bump allocator whose allocations never move.
 * Decoders put converted values here; reset once per row or batch, it stops allocating. */
#ifndef SL_ARENA_H
#define SL_ARENA_H

#include <stddef.h>

typedef struct sl_arena_chunk sl_arena_chunk_t;

typedef struct sl_arena {
    sl_arena_chunk_t *head; /* chunk being filled */
    sl_arena_chunk_t *spare; /* emptied chunks kept for reuse */
    size_t used;            /* bytes handed out since the last reset */
} sl_arena_t;

#define SL_ARENA_INIT {NULL, NULL, 0}

/* n bytes, 8-aligned, valid until sl_arena_reset/free. Never NULL (aborts on OOM). */
void *sl_arena_alloc(sl_arena_t *a, size_t n);
/* Copy of p[0..n) followed by a NUL. */
char *sl_arena_dup(sl_arena_t *a, const void *p, size_t n);
/* Forget every allocation; keeps up to one standard chunk for reuse. */
void sl_arena_reset(sl_arena_t *a);
void sl_arena_free(sl_arena_t *a);

#endif
