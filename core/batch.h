/* sluice: records (encoded envelopes) grouped in batches, the unit that crosses queues.
 * A batch owns its arena (and the raw changes it is encoded from); records point into it
 * by offset, so a batch is reused whole. */
#ifndef SL_BATCH_H
#define SL_BATCH_H

#include <stddef.h>
#include <stdint.h>
#include "core/buf.h"
#include "core/pos.h"
#include "core/schema.h"

typedef struct sl_record {
    const sl_table_t *table; /* borrowed from the schema cache, lives as long as it */
    size_t key_off, key_len; /* key JSON in arena; key_len == 0: null key */
    size_t val_off, val_len; /* envelope JSON in arena (no newline); 0: tombstone */
    int64_t ts_ms;           /* source commit time (ms since epoch, UTC): partitions files */
    sl_pos_t pos;            /* bookmark just after this record */
    char op;                 /* 'c','u','d','r','t' */
    /* the change as the source emitted it (sl_change_stash in raw), until the pipeline's
     * encoder turns it into key and value; raw_len 0: nothing stashed */
    size_t raw_off, raw_len;
} sl_record_t;

typedef struct sl_batch {
    sl_buf_t arena;
    sl_buf_t raw; /* stashed changes not yet encoded (the pipeline's, between threads) */
    sl_record_t *recs;
    size_t n, cap;
    sl_pos_t end;  /* valid when has_end: everything up to here is in this batch or before;
                      may be past the last record (a commit, a keepalive on a quiet stream) */
    int has_end;
    struct sl_batch *next; /* queue link, owned by the queue */
} sl_batch_t;

sl_batch_t *sl_batch_new(void);
void sl_batch_free(sl_batch_t *b);
void sl_batch_clear(sl_batch_t *b);
/* Append a record slot; the caller fills it. Pointer valid until the next append. */
sl_record_t *sl_batch_add(sl_batch_t *b);
static inline const char *sl_record_key(const sl_batch_t *b, const sl_record_t *r)
{
    return b->arena.data + r->key_off;
}
static inline const char *sl_record_value(const sl_batch_t *b, const sl_record_t *r)
{
    return b->arena.data + r->val_off;
}

/* A bounded blocking FIFO of batches with a free list, single producer, single consumer.
 * Backpressure: push blocks while `capacity` batches are queued. */
typedef struct sl_queue sl_queue_t;

sl_queue_t *sl_queue_new(size_t capacity);
void sl_queue_free(sl_queue_t *q); /* frees queued and spare batches */
/* Take a cleared batch from the free list or allocate one. Never NULL. */
sl_batch_t *sl_queue_get_free(sl_queue_t *q);
/* Return a consumed batch to the free list (kept up to capacity + 2, others freed). */
void sl_queue_put_free(sl_queue_t *q, sl_batch_t *b);
/* Enqueue b (ownership passes to the queue). Blocks while full. Returns SL_ERR_STOPPED
 * without taking b when the queue was closed. */
sl_err_t sl_queue_push(sl_queue_t *q, sl_batch_t *b);
/* Dequeue; waits up to timeout_ms (-1 forever). Caller owns the batch. NULL on timeout
 * or when closed and empty (sl_queue_closed tells which). */
sl_batch_t *sl_queue_pop(sl_queue_t *q, int timeout_ms);
/* Make the pop that is waiting (or the next one) return now, NULL if nothing is queued.
 * Any thread. */
void sl_queue_kick(sl_queue_t *q);
/* After close, push fails and pop drains what is left then returns NULL. */
void sl_queue_close(sl_queue_t *q);
int sl_queue_closed(sl_queue_t *q);
size_t sl_queue_depth(sl_queue_t *q);

#endif
