/* sluice: chunked bump allocator.
 * Standard chunks are 64 KiB; a larger request gets a chunk of its own, freed on reset. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "core/arena.h"

#define CHUNK 65536

struct sl_arena_chunk {
    struct sl_arena_chunk *next;
    size_t size, off;
    char data[];
};

static sl_arena_chunk_t *chunk_new(size_t size)
{
    sl_arena_chunk_t *c = malloc(sizeof(*c) + size);
    if (!c) {
        fprintf(stderr, "sluice: out of memory (arena chunk of %zu bytes)\n", size);
        abort();
    }
    c->next = NULL;
    c->size = size;
    c->off = 0;
    return c;
}

void *sl_arena_alloc(sl_arena_t *a, size_t n)
{
    size_t need = (n + 7) & ~(size_t)7;
    if (!need)
        need = 8;
    a->used += need;
    sl_arena_chunk_t *c = a->head;
    if (c && c->size - c->off >= need) {
        void *p = c->data + c->off;
        c->off += need;
        return p;
    }
    if (need > CHUNK / 4) {
        /* a big value: its own chunk, linked behind the current one */
        sl_arena_chunk_t *big = chunk_new(need);
        big->off = need;
        if (c) {
            big->next = c->next;
            c->next = big;
        } else {
            a->head = big;
        }
        return big->data;
    }
    if (a->spare) {
        c = a->spare;
        a->spare = c->next;
        c->off = 0;
    } else {
        c = chunk_new(CHUNK);
    }
    c->next = a->head;
    a->head = c;
    c->off = need;
    return c->data;
}

char *sl_arena_dup(sl_arena_t *a, const void *p, size_t n)
{
    char *d = sl_arena_alloc(a, n + 1);
    if (n)
        memcpy(d, p, n);
    d[n] = 0;
    return d;
}

void sl_arena_reset(sl_arena_t *a)
{
    sl_arena_chunk_t *c = a->head;
    while (c) {
        sl_arena_chunk_t *next = c->next;
        if (c->size == CHUNK && !a->spare) {
            c->next = NULL;
            a->spare = c;
        } else {
            free(c);
        }
        c = next;
    }
    a->head = NULL;
    a->used = 0;
}

void sl_arena_free(sl_arena_t *a)
{
    sl_arena_reset(a);
    free(a->spare);
    a->spare = NULL;
}
