/* sluice: record batches and the bounded queue that carries them between threads.
 * Batches are recycled through a free list so the steady state allocates nothing. */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "core/batch.h"

sl_batch_t *sl_batch_new(void)
{
    sl_batch_t *b = calloc(1, sizeof(*b));
    if (!b)
        abort();
    return b;
}

void sl_batch_free(sl_batch_t *b)
{
    if (!b)
        return;
    sl_buf_free(&b->arena);
    sl_buf_free(&b->raw);
    free(b->recs);
    free(b);
}

void sl_batch_clear(sl_batch_t *b)
{
    sl_buf_reset(&b->arena);
    sl_buf_reset(&b->raw);
    b->n = 0;
    b->has_end = 0;
    memset(&b->end, 0, sizeof(b->end));
    b->next = NULL;
}

sl_record_t *sl_batch_add(sl_batch_t *b)
{
    if (b->n == b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 256;
        sl_record_t *r = realloc(b->recs, cap * sizeof(*r));
        if (!r)
            abort();
        b->recs = r;
        b->cap = cap;
    }
    sl_record_t *r = &b->recs[b->n++];
    memset(r, 0, sizeof(*r));
    return r;
}

struct sl_queue {
    pthread_mutex_t mu;
    pthread_cond_t not_empty, not_full;
    sl_batch_t *head, *tail;
    size_t depth, capacity;
    sl_batch_t *spare;
    size_t nspare;
    int closed;
    int kicked; /* sl_queue_kick: the next pop returns without waiting */
};

sl_queue_t *sl_queue_new(size_t capacity)
{
    sl_queue_t *q = calloc(1, sizeof(*q));
    if (!q)
        abort();
    pthread_mutex_init(&q->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&q->not_empty, &ca);
    pthread_cond_init(&q->not_full, &ca);
    pthread_condattr_destroy(&ca);
    q->capacity = capacity ? capacity : 1;
    return q;
}

static void free_list(sl_batch_t *b)
{
    while (b) {
        sl_batch_t *next = b->next;
        sl_batch_free(b);
        b = next;
    }
}

void sl_queue_free(sl_queue_t *q)
{
    if (!q)
        return;
    free_list(q->head);
    free_list(q->spare);
    pthread_cond_destroy(&q->not_empty);
    pthread_cond_destroy(&q->not_full);
    pthread_mutex_destroy(&q->mu);
    free(q);
}

sl_batch_t *sl_queue_get_free(sl_queue_t *q)
{
    pthread_mutex_lock(&q->mu);
    sl_batch_t *b = q->spare;
    if (b) {
        q->spare = b->next;
        q->nspare--;
    }
    pthread_mutex_unlock(&q->mu);
    if (!b)
        return sl_batch_new();
    sl_batch_clear(b);
    return b;
}

void sl_queue_put_free(sl_queue_t *q, sl_batch_t *b)
{
    if (!b)
        return;
    pthread_mutex_lock(&q->mu);
    if (q->nspare < q->capacity + 2 && b->arena.cap <= (8u << 20) && b->raw.cap <= (8u << 20)) {
        b->next = q->spare;
        q->spare = b;
        q->nspare++;
        b = NULL;
    }
    pthread_mutex_unlock(&q->mu);
    sl_batch_free(b); /* an oversized or surplus batch: give the memory back */
}

sl_err_t sl_queue_push(sl_queue_t *q, sl_batch_t *b)
{
    pthread_mutex_lock(&q->mu);
    while (!q->closed && q->depth >= q->capacity)
        pthread_cond_wait(&q->not_full, &q->mu);
    if (q->closed) {
        pthread_mutex_unlock(&q->mu);
        return SL_ERR_STOPPED;
    }
    b->next = NULL;
    if (q->tail)
        q->tail->next = b;
    else
        q->head = b;
    q->tail = b;
    q->depth++;
    pthread_cond_signal(&q->not_empty);
    pthread_mutex_unlock(&q->mu);
    return SL_OK;
}

sl_batch_t *sl_queue_pop(sl_queue_t *q, int timeout_ms)
{
    struct timespec deadline;
    clock_gettime(CLOCK_MONOTONIC, &deadline);
    if (timeout_ms > 0) {
        deadline.tv_sec += timeout_ms / 1000;
        deadline.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
        if (deadline.tv_nsec >= 1000000000L) {
            deadline.tv_sec++;
            deadline.tv_nsec -= 1000000000L;
        }
    }
    pthread_mutex_lock(&q->mu);
    while (!q->head && !q->closed && !q->kicked && timeout_ms != 0) {
        if (timeout_ms < 0) {
            pthread_cond_wait(&q->not_empty, &q->mu);
        } else if (pthread_cond_timedwait(&q->not_empty, &q->mu, &deadline) == ETIMEDOUT) {
            break;
        }
    }
    q->kicked = 0;
    sl_batch_t *b = q->head;
    if (b) {
        q->head = b->next;
        if (!q->head)
            q->tail = NULL;
        q->depth--;
        b->next = NULL;
        pthread_cond_signal(&q->not_full);
    }
    pthread_mutex_unlock(&q->mu);
    return b;
}

void sl_queue_kick(sl_queue_t *q)
{
    pthread_mutex_lock(&q->mu);
    q->kicked = 1;
    pthread_cond_signal(&q->not_empty);
    pthread_mutex_unlock(&q->mu);
}

void sl_queue_close(sl_queue_t *q)
{
    pthread_mutex_lock(&q->mu);
    q->closed = 1;
    pthread_cond_broadcast(&q->not_empty);
    pthread_cond_broadcast(&q->not_full);
    pthread_mutex_unlock(&q->mu);
}

int sl_queue_closed(sl_queue_t *q)
{
    pthread_mutex_lock(&q->mu);
    int c = q->closed;
    pthread_mutex_unlock(&q->mu);
    return c;
}

size_t sl_queue_depth(sl_queue_t *q)
{
    pthread_mutex_lock(&q->mu);
    size_t d = q->depth;
    pthread_mutex_unlock(&q->mu);
    return d;
}
