/* sluice: the per-connector pipeline and the committer, which only ever stores positions
 * the sink has reported durable. Three threads, joined by bounded queues: the source
 * decodes and stashes each change (a copy of its values, sl_change_stash), the encoder
 * writes the envelopes, the sink delivers them. Encoding was half of the source thread's
 * time (tests/bench/my_bench.sh); on its own thread it runs beside the decoding. A sink
 * that says encode_on_source (files) has no encoder: the source encodes as it emits. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <jansson.h>
#include "config/config.h"
#include "core/bookmark.h"
#include "core/hash.h"
#include "core/log.h"
#include "core/pipeline.h"

#define QUEUE_BATCHES 8
#define RAW_BATCHES 2 /* stashed batches waiting for the encoder: enough to overlap */
#define RAW_POOL (RAW_BATCHES + 2) /* stash buffers kept between batches (see raw_put) */
#define BATCH_RECORDS 4096
#define BATCH_BYTES (1u << 20)
#define COMMIT_INTERVAL_MS 500
#define TICK_INTERVAL_MS 1000
#define DRY_MS 20 /* no batch for this long after one: the queue ran dry, store at once */
#define DRY_GAP_MS 100 /* ... but not sooner after the last store (a trickle of batches);
                          a wake (an ack) or the plain poll stores at once, as ever */
#define FLIGHT_MAX 256 /* batches tracked between hand-over and ack; more are merged */
#define PAUSE_POLL_MS 200
#define STORE_WARN_MS                                                                    \
    30000 /* a store that keeps failing transiently is logged this often */

/* A batch handed to the sink and not yet acknowledged: what lag and delivery latency are
 * computed from. `end` is the position of its last record. */
typedef struct flight {
    sl_pos_t end;
    uint64_t n;
    int64_t first_ts, last_ts; /* source commit times of its first and last record */
    int64_t first_us;          /* monotonic time its first record was emitted */
} flight_t;

/* A snapshot progress document waiting for its position to become durable. */
typedef struct checkpoint {
    sl_pos_t pos;
    char *doc; /* owned; NULL = the snapshot is over */
    struct checkpoint *next;
} checkpoint_t;

/* table -> its metrics counters; the source thread's private cache */
typedef struct tcache_ent {
    const sl_table_t *t;
    sl_metrics_table_t *mt;
} tcache_ent_t;

struct sl_pipeline {
    const sl_connector_config_t *cfg;
    sl_bookmark_store_t *store; /* owned */
    const sl_source_ops_t *src_ops;
    const sl_sink_ops_t *sink_ops;
    void *src, *sink;
    sl_sink_env_t sink_env;
    sl_queue_t *q;    /* encoded batches, to the sink; its free list serves all */
    sl_queue_t *qraw; /* stashed batches, to the encoder; NULL: the source encodes */
    pthread_mutex_t pool_mu;
    sl_buf_t raw_pool[RAW_POOL]; /* empty stash buffers with their memory */
    int nraw_pool;
    sl_batch_t *cur;  /* being filled by the source thread */
    sl_schema_cache_t *schemas;
    sl_envelope_t env;
    int has_resume;
    sl_pos_t resume;
    atomic_int stop;
    pthread_t src_thr, enc_thr, sink_thr;
    int src_started, enc_started, sink_started, drained;
    atomic_int finished;  /* the source thread has ended */
    atomic_int paused;    /* the operator paused the source */
    atomic_int streaming; /* the source reached its stream since its last (re)connect */

    /* metrics: the worker's (sl_pipeline_set_metrics) or our own */
    sl_metrics_t *metrics, *own_metrics;
    int64_t
        bookmark_mtime_ms; /* when the bookmark found at create was stored, 0 = none */
    /* the encoding thread's (the encoder, or the source when it encodes) */
    const sl_table_t *last_t;
    sl_metrics_table_t *last_mt;
    tcache_ent_t *tcache;
    size_t tcache_cap, tcache_n;
    int64_t cur_first_us, cur_first_ts; /* first record of cur */

    pthread_mutex_t mu; /* guards what follows */
    pthread_cond_t cv;
    sl_pos_t acked, stored;
    int has_acked, has_stored, sink_done;
    int64_t last_store_ms;
    sl_err_t fail_rc;
    char fail_err[1024];
    int64_t fail_ms;
    char retry_err[1024]; /* the last transient source error */
    int64_t retry_ms;
    uint64_t retries;
    flight_t flight[FLIGHT_MAX]; /* ring: flight_head is the oldest */
    size_t flight_head, flight_len;
    int64_t inflight, last_acked_ts;
    pthread_cond_t pause_cv;
    checkpoint_t *ckpt_head, *ckpt_tail; /* snapshot progress not yet durable */
    char *snap_doc;     /* the snapshot member of the stored bookmark; NULL = null */
    char *snap_resume;  /* the snapshot member of the bookmark loaded at create */
    char **snap_reqs;   /* on-demand snapshot requests not yet taken, oldest first */
    size_t nsnap_reqs;
    sl_buf_t doc, snap; /* bookmark scratch, sink thread only */
    int64_t store_warn_ms; /* sink thread: the last warning about a store not confirmed */
    int store_lagging;     /* sink thread: the last store was not confirmed */
};

int64_t sl_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* Publish the in-flight figures to the metrics (call with p->mu held). */
static void flight_publish(sl_pipeline_t *p)
{
    int64_t oldest = p->flight_len ? p->flight[p->flight_head].first_ts : -1;
    sl_metrics_flow(p->metrics, p->inflight, oldest, p->last_acked_ts);
}

/* Remember a batch that is about to be handed to the sink (source thread). */
static void flight_add(sl_pipeline_t *p, const sl_batch_t *b)
{
    flight_t f = {.end = b->recs[b->n - 1].pos,
                  .n = b->n,
                  .first_ts = p->cur_first_ts,
                  .last_ts = b->recs[b->n - 1].ts_ms,
                  .first_us = p->cur_first_us};
    pthread_mutex_lock(&p->mu);
    if (p->flight_len == FLIGHT_MAX) {
        /* many small batches wait for one slow ack (a file sink closes a file a minute):
         * merge into the newest entry, keeping its first record's times */
        flight_t *last = &p->flight[(p->flight_head + FLIGHT_MAX - 1) % FLIGHT_MAX];
        last->end = f.end;
        last->n += f.n;
        last->last_ts = f.last_ts;
    } else {
        p->flight[(p->flight_head + p->flight_len) % FLIGHT_MAX] = f;
        p->flight_len++;
    }
    p->inflight += (int64_t)b->n;
    flight_publish(p);
    pthread_mutex_unlock(&p->mu);
}

/* The sink made everything up to durable safe: retire those batches (p->mu held). */
static void flight_ack(sl_pipeline_t *p, const sl_pos_t *durable)
{
    int64_t now = 0;
    while (p->flight_len) {
        flight_t *f = &p->flight[p->flight_head];
        if (sl_pos_cmp(&f->end, durable) > 0)
            break;
        if (!now)
            now = mono_us();
        sl_metrics_latency(p->metrics, now - f->first_us, f->n);
        p->inflight -= (int64_t)f->n;
        p->last_acked_ts = f->last_ts;
        p->flight_head = (p->flight_head + 1) % FLIGHT_MAX;
        p->flight_len--;
    }
    if (now)
        flight_publish(p);
}

/* A slot for pointer p in a power-of-two table (allocations differ mostly in their
 * middle bits, which a plain mask would not spread). */
static size_t ptr_slot(const void *p, size_t cap)
{
    return (size_t)sl_ptr_hash(p) & (cap - 1);
}

/* The metrics counters of a table: the last one, else a pointer-keyed open-addressing
 * cache, else the metrics' own (locked) lookup. The encoding thread only. */
static sl_metrics_table_t *table_metrics(sl_pipeline_t *p, const sl_table_t *t)
{
    if (t == p->last_t && p->last_mt)
        return p->last_mt;
    if (!t) /* not expected from a source; NULL marks an empty cache slot */
        return sl_metrics_table(p->metrics, "(none)");
    if (p->tcache_n * 2 >= p->tcache_cap) {
        size_t cap = p->tcache_cap ? p->tcache_cap * 2 : 64;
        tcache_ent_t *n = calloc(cap, sizeof(*n));
        if (!n)
            abort();
        for (size_t i = 0; i < p->tcache_cap; i++) {
            if (!p->tcache[i].t)
                continue;
            size_t h = ptr_slot(p->tcache[i].t, cap);
            while (n[h].t)
                h = (h + 1) & (cap - 1);
            n[h] = p->tcache[i];
        }
        free(p->tcache);
        p->tcache = n;
        p->tcache_cap = cap;
    }
    size_t h = ptr_slot(t, p->tcache_cap);
    while (p->tcache[h].t && p->tcache[h].t != t)
        h = (h + 1) & (p->tcache_cap - 1);
    if (!p->tcache[h].t) {
        p->tcache[h].t = t;
        p->tcache[h].mt = sl_metrics_table(p->metrics, t->qualified ? t->qualified : "(none)");
        p->tcache_n++;
    }
    p->last_t = t;
    p->last_mt = p->tcache[h].mt;
    return p->last_mt;
}

static inline void mark_streaming(sl_pipeline_t *p)
{
    if (!atomic_load_explicit(&p->streaming, memory_order_relaxed))
        atomic_store(&p->streaming, 1);
}

/* Record the first fatal error and start stopping everything. */
static void fail(sl_pipeline_t *p, sl_err_t rc, const char *msg)
{
    pthread_mutex_lock(&p->mu);
    if (!p->fail_rc) {
        p->fail_rc = rc;
        snprintf(p->fail_err, sizeof(p->fail_err), "%s", msg);
        p->fail_ms = sl_now_ms();
        sl_metrics_error(p->metrics, SL_METRIC_ERR_FATAL);
    }
    pthread_mutex_unlock(&p->mu);
    atomic_store(&p->stop, 1);
}

static void sink_ack(sl_sink_env_t *env, const sl_pos_t *durable)
{
    sl_pipeline_t *p = env->opaque;
    pthread_mutex_lock(&p->mu);
    if (!p->has_acked || sl_pos_cmp(durable, &p->acked) > 0 ||
        (sl_pos_cmp(durable, &p->acked) == 0 && durable->minor > p->acked.minor)) {
        p->acked = *durable;
        p->has_acked = 1;
    }
    flight_ack(p, durable);
    pthread_mutex_unlock(&p->mu);
}

/* A sink's worker thread finished something: let the sink thread tick and commit now. */
static void sink_wake(sl_sink_env_t *env)
{
    sl_pipeline_t *p = env->opaque;
    sl_queue_kick(p->q);
}

sl_pipeline_t *sl_pipeline_create(const sl_connector_config_t *cfg, const char *data_dir,
                                  const sl_source_ops_t *src, const sl_sink_ops_t *sink,
                                  sl_err_t *rc, char *err, size_t errlen)
{
    return sl_pipeline_create_store(cfg, sl_bookmark_file_store(data_dir), src, sink, rc,
                                    err, errlen);
}

sl_pipeline_t *sl_pipeline_create_store(const sl_connector_config_t *cfg,
                                        sl_bookmark_store_t *store,
                                        const sl_source_ops_t *src,
                                        const sl_sink_ops_t *sink, sl_err_t *rc,
                                        char *err, size_t errlen)
{
    sl_pipeline_t *p = calloc(1, sizeof(*p));
    char *doc = NULL;
    json_t *root = NULL;
    int64_t stored_ms = 0;
    if (!p)
        abort();
    p->cfg = cfg;
    p->store = store;
    p->src_ops = src;
    p->sink_ops = sink;
    p->schemas = sl_schema_cache_new();
    p->q = sl_queue_new(QUEUE_BATCHES);
    if (!sink->encode_on_source)
        p->qraw = sl_queue_new(RAW_BATCHES);
    p->env.connector = src->connector;
    p->env.name = cfg->name;
    p->sink_env.ack = sink_ack;
    p->sink_env.wake = sink_wake;
    p->sink_env.opaque = p;
    p->sink_env.connector_name = cfg->name;
    p->own_metrics = p->metrics = sl_metrics_new();
    p->last_acked_ts = -1;
    pthread_mutex_init(&p->mu, NULL);
    pthread_mutex_init(&p->pool_mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&p->pause_cv, &ca);
    pthread_condattr_destroy(&ca);

    *rc = store->ops->load(store->ctx, cfg->name, &doc, &stored_ms, err, errlen);
    if (*rc)
        goto error;
    if (doc) {
        *rc = src->bookmark_parse(doc, strlen(doc), &p->resume, err, errlen);
        if (*rc)
            goto error;
        p->has_resume = 1;
        p->stored = p->resume;
        p->has_stored = 1;
        /* the bookmark's age counts from when it was written, not from this start */
        p->bookmark_mtime_ms = stored_ms;
        if (p->bookmark_mtime_ms)
            sl_metrics_bookmark_stored(p->metrics, p->bookmark_mtime_ms);
        root = json_loads(doc, 0, NULL);
        json_t *snap = root ? json_object_get(root, "snapshot") : NULL;
        if (snap && !json_is_null(snap)) {
            if (!json_is_object(snap)) {
                *rc = sl_err_set(err, errlen, SL_ERR_CORRUPT,
                                 "the bookmark's \"snapshot\" member is not an object or "
                                 "null; repair the bookmark or remove it with 'sluice "
                                 "offsets reset'");
                goto error;
            }
            p->snap_resume = json_dumps(snap, JSON_COMPACT);
            p->snap_doc = p->snap_resume ? strdup(p->snap_resume) : NULL;
            if (!p->snap_resume || !p->snap_doc)
                abort();
        }
        json_t *schemas = root ? json_object_get(root, "schemas") : NULL;
        if (schemas) {
            char *text = json_dumps(schemas, JSON_COMPACT);
            *rc = text ? sl_schema_cache_load(p->schemas, text, strlen(text), err, errlen)
                       : SL_ERR_CORRUPT;
            free(text);
            if (*rc)
                goto error;
        }
    }
    json_decref(root);
    free(doc);
    return p;
error:
    json_decref(root);
    free(doc);
    sl_pipeline_destroy(p);
    return NULL;
}

/* Store the acked position as the bookmark when it moved (at most every
 * COMMIT_INTERVAL_MS unless forced). Sink thread only. */
static sl_err_t commit(sl_pipeline_t *p, int force)
{
    char err[512];
    int64_t now = mono_ms();
    pthread_mutex_lock(&p->mu);
    int moved = p->has_acked &&
                (!p->has_stored || sl_pos_cmp(&p->acked, &p->stored) != 0 ||
                 p->acked.minor != p->stored.minor || p->store_lagging ||
                 (p->ckpt_head && sl_pos_cmp(&p->ckpt_head->pos, &p->acked) <= 0));
    sl_pos_t pos = p->acked;
    if (moved && (force || now - p->last_store_ms >= COMMIT_INTERVAL_MS)) {
        /* the snapshot progress that is durable with pos */
        while (p->ckpt_head && sl_pos_cmp(&p->ckpt_head->pos, &pos) <= 0) {
            checkpoint_t *c = p->ckpt_head;
            p->ckpt_head = c->next;
            if (!p->ckpt_head)
                p->ckpt_tail = NULL;
            free(p->snap_doc);
            p->snap_doc = c->doc;
            free(c);
        }
    }
    sl_buf_reset(&p->snap);
    if (p->snap_doc)
        sl_buf_puts(&p->snap, p->snap_doc); /* copied while mu is held */
    pthread_mutex_unlock(&p->mu);
    if (!moved || (!force && now - p->last_store_ms < COMMIT_INTERVAL_MS))
        return SL_OK;
    sl_buf_reset(&p->doc);
    sl_buf_putc(&p->doc, '{');
    p->src_ops->bookmark_render(p->src, &pos, &p->doc);
    sl_buf_puts(&p->doc, ",\"schemas\":");
    sl_schema_cache_dump(p->schemas, &p->doc);
    sl_buf_puts(&p->doc, ",\"snapshot\":");
    sl_buf_puts(&p->doc, p->snap.len ? p->snap.data : "null");
    sl_buf_putc(&p->doc, '}');
    sl_err_t rc = p->store->ops->store(p->store->ctx, p->cfg->name, p->doc.data,
                                       p->doc.len, err, sizeof(err));
    if (rc && sl_err_is_transient(rc)) {
        /* not confirmed (a Kafka store out of reach): the stored bookmark stays where it
         * was, so the database is told nothing new; tried again at the next commit */
        p->last_store_ms = now;
        if (!p->store_lagging || now - p->store_warn_ms >= STORE_WARN_MS) {
            sl_warn(
                p->cfg->name,
                "%s bookmark store: %s; the stored bookmark stays where it was (a "
                "restart resumes from it) and the newest is stored as soon as it can be",
                p->store->ops->name, err);
            p->store_warn_ms = now;
        }
        p->store_lagging = 1;
        return SL_OK;
    }
    if (rc) {
        fail(p, rc, err);
        return rc;
    }
    if (p->store_lagging)
        sl_info(p->cfg->name, "%s bookmark store: bookmark stored again",
                p->store->ops->name);
    p->store_lagging = 0;
    p->last_store_ms = now;
    sl_metrics_bookmark_stored(p->metrics, sl_now_ms());
    pthread_mutex_lock(&p->mu);
    p->stored = pos;
    p->has_stored = 1;
    pthread_mutex_unlock(&p->mu);
    return SL_OK;
}

/* Write one batch, retrying transient failures with backoff. */
static sl_err_t sink_write(sl_pipeline_t *p, sl_batch_t *b)
{
    char err[1024];
    int64_t backoff = 200;
    for (int attempt = 0;; attempt++) {
        err[0] = 0;
        sl_err_t rc = p->sink_ops->write(p->sink, b, err, sizeof(err));
        if (rc == SL_OK)
            return SL_OK;
        if (!sl_err_is_transient(rc) || (atomic_load(&p->stop) && attempt >= 5)) {
            fail(p, rc ? rc : SL_ERR_SINK, err[0] ? err : "the sink failed");
            return rc;
        }
        sl_metrics_error(p->metrics, SL_METRIC_ERR_SINK);
        sl_warn(p->cfg->name, "sink %s: %s; retrying in %lld ms", p->sink_ops->name, err,
                (long long)backoff);
        struct timespec ts = {backoff / 1000, (backoff % 1000) * 1000000L};
        nanosleep(&ts, NULL);
        if (backoff < 30000)
            backoff *= 2;
    }
}

static void *sink_main(void *arg)
{
    sl_pipeline_t *p = arg;
    char err[1024];
    int64_t last_tick = mono_ms();
    int64_t due = INT64_MAX; /* wall ms the sink's tick is next due, from sink_ops->due */
    int failed = 0, tick_failed = 0, quick = 0;
    for (;;) {
        /* right after a batch, wait only DRY_MS for the next: a stream that has paused
         * gets its bookmark then, not a whole poll (200 ms) later */
        int timeout = quick ? DRY_MS : 200;
        if (due != INT64_MAX) {
            int64_t left = due - sl_now_ms();
            timeout = left <= 0 ? 0 : left < timeout ? (int)left : timeout;
        }
        int64_t popped = mono_ms();
        sl_batch_t *b = sl_queue_pop(p->q, timeout);
        /* the short wait ran out (not a wake: an ack, a stop) */
        int dry = !b && quick && mono_ms() - popped >= timeout;
        if (b) {
            quick = 1;
            sl_metrics_queue(p->metrics, sl_queue_depth(p->q), QUEUE_BATCHES);
            if (!failed && sink_write(p, b) != SL_OK)
                failed = 1;
            sl_queue_put_free(p->q, b);
        } else if (sl_queue_closed(p->q)) {
            break;
        }
        if (failed) {
            /* keep draining so the source never blocks on a dead sink */
            sl_queue_close(p->q);
            continue;
        }
        int64_t now = mono_ms();
        if (!b || now - last_tick >= TICK_INTERVAL_MS ||
            (due != INT64_MAX && sl_now_ms() >= due)) {
            err[0] = 0;
            sl_err_t rc = p->sink_ops->tick(p->sink, sl_now_ms(), err, sizeof(err));
            if (rc && !sl_err_is_transient(rc)) {
                fail(p, rc, err);
                failed = 1;
                continue;
            }
            if (rc)
                sl_metrics_error(p->metrics, SL_METRIC_ERR_SINK);
            last_tick = now;
            tick_failed = rc != SL_OK; /* no retry at once: back to the plain timer */
        }
        due = p->sink_ops->due && !tick_failed ? p->sink_ops->due(p->sink) : INT64_MAX;
        /* rate-limited while batches keep coming; at once when the queue ran dry, so a
         * quiet stream's bookmark is not up to COMMIT_INTERVAL_MS behind */
        int force = !b && (!dry || mono_ms() - p->last_store_ms >= DRY_GAP_MS);
        if (!b) /* stored (or nothing to store): back to the plain poll; else soon again */
            quick = !force;
        if (commit(p, force))
            failed = 1;
    }
    if (!failed) {
        err[0] = 0;
        sl_err_t rc = p->sink_ops->flush(p->sink, err, sizeof(err));
        if (rc)
            fail(p, rc, err);
        else
            commit(p, 1);
    }
    pthread_mutex_lock(&p->mu);
    p->sink_done = 1;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

static sl_err_t push_current(sl_pipeline_t *p)
{
    sl_batch_t *b = p->cur;
    if (!b || (!b->n && !b->has_end))
        return SL_OK;
    p->cur = NULL;
    if (b->n)
        flight_add(p, b);
    sl_err_t rc = sl_queue_push(p->qraw ? p->qraw : p->q, b);
    if (rc) {
        sl_batch_free(b);
        return rc;
    }
    if (!p->qraw) /* else the encoder says it, when it hands the batch on */
        sl_metrics_queue(p->metrics, sl_queue_depth(p->q), QUEUE_BATCHES);
    return SL_OK;
}

/* A batch's stash buffer, once encoded, goes to a small pool the source takes from: only
 * the batches between the source and the encoder need one, and the queue to the sink
 * holds many more, each of which would otherwise keep a megabyte it has no use for. */
static void raw_put(sl_pipeline_t *p, sl_buf_t *raw)
{
    sl_buf_reset(raw);
    pthread_mutex_lock(&p->pool_mu);
    if (raw->data && p->nraw_pool < RAW_POOL && raw->cap <= (8u << 20)) {
        p->raw_pool[p->nraw_pool++] = *raw;
        sl_buf_init(raw);
    }
    pthread_mutex_unlock(&p->pool_mu);
}

static void raw_get(sl_pipeline_t *p, sl_buf_t *raw)
{
    if (raw->data)
        return;
    pthread_mutex_lock(&p->pool_mu);
    if (p->nraw_pool)
        *raw = p->raw_pool[--p->nraw_pool];
    pthread_mutex_unlock(&p->pool_mu);
}

/* Key and value of a change into the batch's arena, for record r. */
static void encode_record(sl_pipeline_t *p, sl_batch_t *b, sl_record_t *r,
                          const sl_change_t *c, int64_t now_ms)
{
    r->key_off = b->arena.len;
    r->key_len = sl_envelope_key(c, &b->arena) ? b->arena.len - r->key_off : 0;
    r->val_off = b->arena.len;
    sl_envelope_value(&p->env, c, now_ms, &b->arena);
    r->val_len = b->arena.len - r->val_off;
    sl_metrics_count(table_metrics(p, r->table), r->op, r->key_len + r->val_len);
}

/* Key and value of every stashed record, into the batch's arena. */
static void encode_batch(sl_pipeline_t *p, sl_batch_t *b)
{
    for (size_t i = 0; i < b->n; i++) {
        sl_record_t *r = &b->recs[i];
        if (!r->raw_len)
            continue;
        sl_change_t c;
        int64_t now_ms;
        sl_change_unstash(b->raw.data, r->raw_off, r->table, &c, &now_ms);
        encode_record(p, b, r, &c, now_ms);
        r->raw_len = 0;
    }
    raw_put(p, &b->raw);
}

/* The encoder thread: stashed batches in, encoded batches out, in order. When the sink's
 * queue closes (a failed sink), it stops taking batches, and so does the source. */
static void *encode_main(void *arg)
{
    sl_pipeline_t *p = arg;
    sl_batch_t *b;
    while ((b = sl_queue_pop(p->qraw, -1))) {
        encode_batch(p, b);
        if (sl_queue_push(p->q, b) != SL_OK) {
            sl_queue_put_free(p->q, b);
            sl_queue_close(p->qraw);
            continue;
        }
        sl_metrics_queue(p->metrics, sl_queue_depth(p->q), QUEUE_BATCHES);
    }
    sl_queue_close(p->q);
    return NULL;
}

/* The source is paused: hand over what it emitted, then wait for resume or stop. */
static sl_err_t wait_resumed(sl_pipeline_t *p)
{
    sl_err_t rc = push_current(p);
    if (rc)
        return rc;
    pthread_mutex_lock(&p->mu);
    while (atomic_load(&p->paused) && !atomic_load(&p->stop)) {
        /* a stop only sets a flag (it must stay signal-safe): poll for it */
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        ts.tv_nsec += PAUSE_POLL_MS * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&p->pause_cv, &p->mu, &ts);
    }
    pthread_mutex_unlock(&p->mu);
    return atomic_load(&p->stop) ? SL_ERR_STOPPED : SL_OK;
}

sl_err_t sl_pipe_emit(sl_pipeline_t *p, const sl_change_t *c, const sl_pos_t *pos)
{
    if (atomic_load_explicit(&p->paused, memory_order_relaxed)) {
        sl_err_t rc = wait_resumed(p);
        if (rc)
            return rc;
    }
    mark_streaming(p);
    if (!p->cur)
        p->cur = sl_queue_get_free(p->q);
    sl_batch_t *b = p->cur;
    if (p->qraw && !b->raw.data)
        raw_get(p, &b->raw);
    if (!b->n) {
        p->cur_first_us = mono_us();
        p->cur_first_ts = c->commit_ts_ms;
    }
    sl_record_t *r = sl_batch_add(b);
    r->table = c->table;
    r->op = c->op;
    r->ts_ms = c->commit_ts_ms;
    r->pos = *pos;
    if (p->qraw) {
        r->raw_off = sl_change_stash(c, sl_now_ms(), &b->raw);
        r->raw_len = b->raw.len - r->raw_off;
    } else {
        encode_record(p, b, r, c, sl_now_ms());
    }
    b->end = *pos;
    b->has_end = 1;
    if (b->n >= BATCH_RECORDS || b->raw.len + b->arena.len >= BATCH_BYTES)
        return push_current(p);
    return SL_OK;
}

void sl_pipe_progress(sl_pipeline_t *p, const sl_pos_t *pos)
{
    mark_streaming(p);
    if (!p->cur)
        p->cur = sl_queue_get_free(p->q);
    p->cur->end = *pos;
    p->cur->has_end = 1;
}

sl_err_t sl_pipe_flush(sl_pipeline_t *p)
{
    mark_streaming(p);
    return push_current(p);
}

void sl_pipe_checkpoint(sl_pipeline_t *p, const sl_pos_t *pos, const char *doc, size_t len)
{
    checkpoint_t *c = calloc(1, sizeof(*c));
    if (!c)
        abort();
    c->pos = *pos;
    if (doc) {
        c->doc = malloc(len + 1);
        if (!c->doc)
            abort();
        memcpy(c->doc, doc, len);
        c->doc[len] = 0;
    }
    pthread_mutex_lock(&p->mu);
    if (p->ckpt_tail)
        p->ckpt_tail->next = c;
    else
        p->ckpt_head = c;
    p->ckpt_tail = c;
    pthread_mutex_unlock(&p->mu);
}

const char *sl_pipe_resume_snapshot(sl_pipeline_t *p)
{
    return p->snap_resume;
}

void sl_pipeline_request_snapshot(sl_pipeline_t *p, const char *req)
{
    char *copy = strdup(req);
    pthread_mutex_lock(&p->mu);
    char **v = realloc(p->snap_reqs, (p->nsnap_reqs + 1) * sizeof(*v));
    if (!v || !copy)
        abort();
    p->snap_reqs = v;
    v[p->nsnap_reqs++] = copy;
    pthread_mutex_unlock(&p->mu);
}

char *sl_pipe_take_snapshot_request(sl_pipeline_t *p)
{
    char *r = NULL;
    pthread_mutex_lock(&p->mu);
    if (p->nsnap_reqs) {
        r = p->snap_reqs[0];
        memmove(p->snap_reqs, p->snap_reqs + 1, --p->nsnap_reqs * sizeof(char *));
    }
    pthread_mutex_unlock(&p->mu);
    return r;
}

int sl_pipe_paused(sl_pipeline_t *p)
{
    return atomic_load_explicit(&p->paused, memory_order_relaxed);
}

void sl_pipe_gauge(sl_pipeline_t *p, const char *name, const char *help, double value)
{
    sl_metrics_gauge(p->metrics, name, help, value);
}

int sl_pipe_stopping(sl_pipeline_t *p)
{
    return atomic_load(&p->stop);
}

const char *sl_pipe_name(sl_pipeline_t *p)
{
    return p->cfg->name;
}

const sl_pos_t *sl_pipe_resume(sl_pipeline_t *p)
{
    return p->has_resume ? &p->resume : NULL;
}

sl_schema_cache_t *sl_pipe_schemas(sl_pipeline_t *p)
{
    return p->schemas;
}

int sl_pipe_durable(sl_pipeline_t *p, sl_pos_t *out)
{
    pthread_mutex_lock(&p->mu);
    int has = p->has_stored;
    if (has)
        *out = p->stored;
    pthread_mutex_unlock(&p->mu);
    return has;
}

sl_err_t sl_pipe_drain(sl_pipeline_t *p)
{
    if (p->drained)
        return p->fail_rc;
    p->drained = 1;
    push_current(p);
    /* the encoder closes the sink's queue once it is through */
    sl_queue_close(p->qraw ? p->qraw : p->q);
    pthread_mutex_lock(&p->mu);
    while (p->sink_started && !p->sink_done)
        pthread_cond_wait(&p->cv, &p->mu);
    sl_err_t rc = p->fail_rc;
    pthread_mutex_unlock(&p->mu);
    return rc;
}

int sl_pipe_sleep(sl_pipeline_t *p, int64_t ms)
{
    int64_t end = mono_ms() + ms;
    while (!atomic_load(&p->stop)) {
        int64_t left = end - mono_ms();
        if (left <= 0)
            break;
        if (left > 100)
            left = 100;
        struct timespec ts = {0, left * 1000000L};
        nanosleep(&ts, NULL);
    }
    return atomic_load(&p->stop);
}

static void *source_main(void *arg)
{
    sl_pipeline_t *p = arg;
    char err[1024];
    int64_t backoff = 1000;
    for (;;) {
        err[0] = 0;
        atomic_store(&p->streaming, 0);
        sl_err_t rc = p->src_ops->run(p->src, err, sizeof(err));
        atomic_store(&p->streaming, 0);
        if (rc == SL_OK || rc == SL_ERR_STOPPED)
            break;
        if (!sl_err_is_transient(rc)) {
            fail(p, rc, err[0] ? err : sl_err_str(rc));
            break;
        }
        pthread_mutex_lock(&p->mu);
        sl_log_redact(err, p->retry_err, sizeof(p->retry_err));
        p->retry_ms = sl_now_ms();
        p->retries++;
        pthread_mutex_unlock(&p->mu);
        sl_metrics_error(p->metrics, SL_METRIC_ERR_SOURCE);
        sl_warn(p->cfg->name, "%s; reconnecting in %lld ms", err, (long long)backoff);
        if (sl_pipe_sleep(p, backoff))
            break;
        if (backoff < 30000)
            backoff *= 2;
    }
    sl_pipe_drain(p);
    atomic_store(&p->finished, 1);
    return NULL;
}

int sl_pipeline_finished(sl_pipeline_t *p)
{
    return atomic_load(&p->finished);
}

sl_err_t sl_pipeline_start(sl_pipeline_t *p, char *err, size_t errlen)
{
    sl_err_t rc = p->sink_ops->create(&p->cfg->sink, &p->sink_env,
                                      p->has_resume ? &p->resume : NULL, &p->sink, err,
                                      errlen);
    if (rc)
        return rc;
    rc = p->src_ops->create(p->cfg, p, &p->src, err, errlen);
    if (rc)
        return rc;
    if (pthread_create(&p->sink_thr, NULL, sink_main, p) != 0)
        return sl_err_set(err, errlen, SL_ERR_NOMEM, "cannot start the sink thread");
    p->sink_started = 1;
    if (p->qraw && pthread_create(&p->enc_thr, NULL, encode_main, p) != 0) {
        sl_queue_close(p->q);
        sl_pipe_drain(p);
        return sl_err_set(err, errlen, SL_ERR_NOMEM, "cannot start the encoder thread");
    }
    p->enc_started = p->qraw != NULL;
    if (pthread_create(&p->src_thr, NULL, source_main, p) != 0) {
        sl_pipe_drain(p);
        return sl_err_set(err, errlen, SL_ERR_NOMEM, "cannot start the source thread");
    }
    p->src_started = 1;
    return SL_OK;
}

void sl_pipeline_stop(sl_pipeline_t *p)
{
    atomic_store(&p->stop, 1);
    if (p->src_started && p->src_ops->interrupt)
        p->src_ops->interrupt(p->src);
}

void sl_pipeline_set_metrics(sl_pipeline_t *p, sl_metrics_t *m)
{
    p->metrics = m;
    p->last_t = NULL;
    p->last_mt = NULL;
    p->tcache_n = 0;
    if (p->tcache)
        memset(p->tcache, 0, p->tcache_cap * sizeof(*p->tcache));
    sl_metrics_flow_reset(m);
    if (p->bookmark_mtime_ms && sl_metrics_bookmark_age_seconds(m, sl_now_ms()) < 0)
        sl_metrics_bookmark_stored(m, p->bookmark_mtime_ms);
}

void sl_pipeline_pause(sl_pipeline_t *p, int paused)
{
    pthread_mutex_lock(&p->mu);
    atomic_store(&p->paused, paused != 0);
    pthread_cond_broadcast(&p->pause_cv);
    pthread_mutex_unlock(&p->mu);
}

void sl_pipeline_status(sl_pipeline_t *p, sl_pipeline_status_t *st)
{
    memset(st, 0, sizeof(*st));
    pthread_mutex_lock(&p->mu);
    st->streaming = atomic_load(&p->streaming);
    st->paused = atomic_load(&p->paused);
    st->stopping = atomic_load(&p->stop);
    st->finished = atomic_load(&p->finished);
    st->fail_rc = p->fail_rc;
    if (p->fail_rc) {
        snprintf(st->last_error, sizeof(st->last_error), "%s", p->fail_err);
        st->last_error_ms = p->fail_ms;
    } else if (p->retries) {
        snprintf(st->last_error, sizeof(st->last_error), "%s", p->retry_err);
        st->last_error_ms = p->retry_ms;
    }
    st->retries = p->retries;
    pthread_mutex_unlock(&p->mu);
}

int sl_pipeline_bookmark(sl_pipeline_t *p, sl_buf_t *out)
{
    pthread_mutex_lock(&p->mu);
    int has = p->has_stored;
    sl_pos_t pos = p->stored;
    pthread_mutex_unlock(&p->mu);
    if (!has)
        return 0;
    sl_buf_putc(out, '{');
    p->src_ops->bookmark_render(p->src, &pos, out);
    sl_buf_putc(out, '}');
    return 1;
}

int sl_pipeline_snapshot(sl_pipeline_t *p, sl_buf_t *out)
{
    pthread_mutex_lock(&p->mu);
    int has = p->has_stored && p->snap_doc;
    if (has)
        sl_buf_puts(out, p->snap_doc);
    pthread_mutex_unlock(&p->mu);
    return has;
}

sl_err_t sl_pipeline_wait(sl_pipeline_t *p, char *err, size_t errlen)
{
    if (p->src_started) {
        pthread_join(p->src_thr, NULL);
        p->src_started = 0;
    }
    if (p->enc_started) {
        pthread_join(p->enc_thr, NULL);
        p->enc_started = 0;
    }
    if (p->sink_started) {
        pthread_join(p->sink_thr, NULL);
        p->sink_started = 0;
    }
    if (p->fail_rc)
        snprintf(err, errlen, "%s", p->fail_err);
    return p->fail_rc;
}

sl_err_t sl_pipeline_check(sl_pipeline_t *p, sl_buf_t *report, char *err, size_t errlen)
{
    sl_err_t rc = SL_OK;
    if (!p->src)
        rc = p->src_ops->create(p->cfg, p, &p->src, err, errlen);
    if (rc)
        return rc;
    return p->src_ops->check(p->src, report, err, errlen);
}

void sl_pipeline_destroy(sl_pipeline_t *p)
{
    if (!p)
        return;
    if (p->src_started || p->sink_started) {
        char err[16];
        sl_pipeline_stop(p); /* the source thread drains on its way out */
        sl_pipeline_wait(p, err, sizeof(err));
    }
    if (p->src && p->src_ops->destroy)
        p->src_ops->destroy(p->src);
    if (p->sink && p->sink_ops->destroy)
        p->sink_ops->destroy(p->sink);
    sl_batch_free(p->cur);
    sl_queue_free(p->qraw);
    for (int i = 0; i < p->nraw_pool; i++)
        sl_buf_free(&p->raw_pool[i]);
    pthread_mutex_destroy(&p->pool_mu);
    sl_queue_free(p->q);
    sl_schema_cache_free(p->schemas);
    sl_buf_free(&p->doc);
    sl_buf_free(&p->snap);
    while (p->ckpt_head) {
        checkpoint_t *c = p->ckpt_head;
        p->ckpt_head = c->next;
        free(c->doc);
        free(c);
    }
    free(p->snap_doc);
    free(p->snap_resume);
    for (size_t i = 0; i < p->nsnap_reqs; i++)
        free(p->snap_reqs[i]);
    free(p->snap_reqs);
    free(p->tcache);
    sl_metrics_free(p->own_metrics);
    sl_bookmark_store_destroy(p->store);
    pthread_cond_destroy(&p->pause_cv);
    pthread_cond_destroy(&p->cv);
    pthread_mutex_destroy(&p->mu);
    free(p);
}
