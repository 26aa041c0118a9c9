/* sluice: the per-connector pipeline (source thread, bounded queue, sink thread) and the
 * committer, which only ever stores positions the sink has reported durable. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <jansson.h>
#include "config/config.h"
#include "core/bookmark.h"
#include "core/log.h"
#include "core/pipeline.h"

#define QUEUE_BATCHES 8
#define BATCH_RECORDS 4096
#define BATCH_BYTES (1u << 20)
#define COMMIT_INTERVAL_MS 500
#define TICK_INTERVAL_MS 1000

struct sl_pipeline {
    const sl_connector_config_t *cfg;
    const char *data_dir;
    const sl_source_ops_t *src_ops;
    const sl_sink_ops_t *sink_ops;
    void *src, *sink;
    sl_sink_env_t sink_env;
    sl_queue_t *q;
    sl_batch_t *cur; /* being filled by the source thread */
    sl_schema_cache_t *schemas;
    sl_envelope_t env;
    int has_resume;
    sl_pos_t resume;
    atomic_int stop;
    pthread_t src_thr, sink_thr;
    int src_started, sink_started, drained;
    atomic_int finished; /* the source thread has ended */

    pthread_mutex_t mu; /* guards what follows */
    pthread_cond_t cv;
    sl_pos_t acked, stored;
    int has_acked, has_stored, sink_done;
    int64_t last_store_ms;
    sl_err_t fail_rc;
    char fail_err[1024];
    sl_buf_t doc; /* bookmark scratch, sink thread only */
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

/* Record the first fatal error and start stopping everything. */
static void fail(sl_pipeline_t *p, sl_err_t rc, const char *msg)
{
    pthread_mutex_lock(&p->mu);
    if (!p->fail_rc) {
        p->fail_rc = rc;
        snprintf(p->fail_err, sizeof(p->fail_err), "%s", msg);
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
    pthread_mutex_unlock(&p->mu);
}

sl_pipeline_t *sl_pipeline_create(const sl_connector_config_t *cfg, const char *data_dir,
                                  const sl_source_ops_t *src, const sl_sink_ops_t *sink,
                                  sl_err_t *rc, char *err, size_t errlen)
{
    sl_pipeline_t *p = calloc(1, sizeof(*p));
    char *doc = NULL;
    json_t *root = NULL;
    if (!p)
        abort();
    p->cfg = cfg;
    p->data_dir = data_dir;
    p->src_ops = src;
    p->sink_ops = sink;
    p->schemas = sl_schema_cache_new();
    p->q = sl_queue_new(QUEUE_BATCHES);
    p->env.connector = src->connector;
    p->env.name = cfg->name;
    p->sink_env.ack = sink_ack;
    p->sink_env.opaque = p;
    p->sink_env.connector_name = cfg->name;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);

    *rc = sl_bookmark_load(data_dir, cfg->name, &doc, err, errlen);
    if (*rc)
        goto error;
    if (doc) {
        *rc = src->bookmark_parse(doc, strlen(doc), &p->resume, err, errlen);
        if (*rc)
            goto error;
        p->has_resume = 1;
        p->stored = p->resume;
        p->has_stored = 1;
        root = json_loads(doc, 0, NULL);
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
                 p->acked.minor != p->stored.minor);
    sl_pos_t pos = p->acked;
    pthread_mutex_unlock(&p->mu);
    if (!moved || (!force && now - p->last_store_ms < COMMIT_INTERVAL_MS))
        return SL_OK;
    sl_buf_reset(&p->doc);
    sl_buf_putc(&p->doc, '{');
    p->src_ops->bookmark_render(p->src, &pos, &p->doc);
    sl_buf_puts(&p->doc, ",\"schemas\":");
    sl_schema_cache_dump(p->schemas, &p->doc);
    sl_buf_puts(&p->doc, ",\"snapshot\":null}");
    sl_err_t rc = sl_bookmark_store(p->data_dir, p->cfg->name, p->doc.data, p->doc.len, err,
                                    sizeof(err));
    if (rc) {
        fail(p, rc, err);
        return rc;
    }
    p->last_store_ms = now;
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
    int failed = 0;
    for (;;) {
        sl_batch_t *b = sl_queue_pop(p->q, 200);
        if (b) {
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
        if (!b || now - last_tick >= TICK_INTERVAL_MS) {
            err[0] = 0;
            sl_err_t rc = p->sink_ops->tick(p->sink, sl_now_ms(), err, sizeof(err));
            if (rc && !sl_err_is_transient(rc)) {
                fail(p, rc, err);
                failed = 1;
                continue;
            }
            last_tick = now;
        }
        if (commit(p, 0))
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
    sl_err_t rc = sl_queue_push(p->q, b);
    if (rc) {
        sl_batch_free(b);
        return rc;
    }
    return SL_OK;
}

sl_err_t sl_pipe_emit(sl_pipeline_t *p, const sl_change_t *c, const sl_pos_t *pos)
{
    if (!p->cur)
        p->cur = sl_queue_get_free(p->q);
    sl_batch_t *b = p->cur;
    sl_record_t *r = sl_batch_add(b);
    r->table = c->table;
    r->op = c->op;
    r->ts_ms = c->commit_ts_ms;
    r->pos = *pos;
    r->key_off = b->arena.len;
    r->key_len = sl_envelope_key(c, &b->arena) ? b->arena.len - r->key_off : 0;
    r->val_off = b->arena.len;
    sl_envelope_value(&p->env, c, sl_now_ms(), &b->arena);
    r->val_len = b->arena.len - r->val_off;
    b->end = *pos;
    b->has_end = 1;
    if (b->n >= BATCH_RECORDS || b->arena.len >= BATCH_BYTES)
        return push_current(p);
    return SL_OK;
}

void sl_pipe_progress(sl_pipeline_t *p, const sl_pos_t *pos)
{
    if (!p->cur)
        p->cur = sl_queue_get_free(p->q);
    p->cur->end = *pos;
    p->cur->has_end = 1;
}

sl_err_t sl_pipe_flush(sl_pipeline_t *p)
{
    return push_current(p);
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
    sl_queue_close(p->q);
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
        sl_err_t rc = p->src_ops->run(p->src, err, sizeof(err));
        if (rc == SL_OK || rc == SL_ERR_STOPPED)
            break;
        if (!sl_err_is_transient(rc)) {
            fail(p, rc, err[0] ? err : sl_err_str(rc));
            break;
        }
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
}

sl_err_t sl_pipeline_wait(sl_pipeline_t *p, char *err, size_t errlen)
{
    if (p->src_started) {
        pthread_join(p->src_thr, NULL);
        p->src_started = 0;
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
    sl_queue_free(p->q);
    sl_schema_cache_free(p->schemas);
    sl_buf_free(&p->doc);
    pthread_cond_destroy(&p->cv);
    pthread_mutex_destroy(&p->mu);
    free(p);
}
