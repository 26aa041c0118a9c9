/* sluice: the supervisor: one slot per configured connector, each running its own
 * pipeline; failures restart with exponential backoff, reloads touch only what changed.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <jansson.h>
#include "core/bookmark.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/pipeline.h"
#include "worker/registry.h"
#include "worker/supervisor.h"

#define BACKOFF_MIN_MS 1000
#define BACKOFF_MAX_MS 60000
/* a connector that streamed this long is healthy again: its next failure starts the
 * backoff from the bottom */
#define BACKOFF_RESET_MS 60000
#define ALIVE_MS 120000

/* A configuration shared by the connectors started from it: pipelines borrow their
 * settings, so a config lives until the last connector that runs with it is gone. */
typedef struct cfgref {
    sl_config_t *cfg;
    int refs;
} cfgref_t;

typedef enum {
    STOP_NONE = 0,
    STOP_RESTART,  /* start again at once (API request) */
    STOP_RECONFIG, /* start again with next_cc */
    STOP_REMOVE,   /* the connector left the configuration */
} stop_reason_t;

typedef struct slot {
    char *name; /* owned copy: the HTTP thread may read it while configs change */
    cfgref_t *ref;
    const sl_connector_config_t *cc; /* in ref->cfg */
    cfgref_t *next_ref;              /* STOP_RECONFIG: what to start with next */
    const sl_connector_config_t *next_cc;
    sl_pipeline_t *pipe; /* NULL while not running */
    sl_metrics_t *metrics;
    int launching;   /* being created outside the lock */
    int paused;      /* the operator's wish; kept across restarts */
    int restart_req; /* POST .../restart, handled by the next tick */
    stop_reason_t stop_reason;
    int failed;         /* ended with an error; next_start is when it restarts */
    int finished_clean; /* the source ended by itself without error */
    int ever_ran;
    int announce; /* failed: say when it restarts (unless the worker gives up) */
    sl_err_t last_rc;
    char last_error[1024];
    int64_t last_error_ms;
    uint64_t starts;
    int64_t backoff_ms, next_start; /* next_start: monotonic ms, 0 = not scheduled */
    int64_t streaming_since;        /* monotonic ms, 0 = not streaming */
    struct slot *next;
} slot_t;

struct sl_sup {
    pthread_mutex_t mu; /* guards everything below; the HTTP thread reads under it */
    cfgref_t *current;  /* the last applied configuration */
    slot_t *slots;
    int shutting_down;
    int ever_ran; /* some connector streamed at some point */
    int done, exit_code;
    _Atomic int64_t last_tick;
};

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static cfgref_t *ref_new(sl_config_t *cfg)
{
    cfgref_t *r = calloc(1, sizeof(*r));
    if (!r)
        abort();
    r->cfg = cfg;
    r->refs = 1;
    return r;
}

static cfgref_t *ref_get(cfgref_t *r)
{
    if (r)
        r->refs++;
    return r;
}

static void ref_put(cfgref_t *r)
{
    if (r && --r->refs == 0) {
        sl_config_free(r->cfg);
        free(r);
    }
}

sl_sup_t *sl_sup_new(void)
{
    sl_sup_t *s = calloc(1, sizeof(*s));
    if (!s)
        abort();
    pthread_mutex_init(&s->mu, NULL);
    atomic_store(&s->last_tick, mono_ms());
    return s;
}

static void slot_free(slot_t *sl)
{
    ref_put(sl->ref);
    ref_put(sl->next_ref);
    sl_metrics_free(sl->metrics);
    free(sl->name);
    free(sl);
}

void sl_sup_free(sl_sup_t *s)
{
    if (!s)
        return;
    sl_sup_shutdown(s);
    while (s->slots) {
        slot_t *next = s->slots->next;
        slot_free(s->slots);
        s->slots = next;
    }
    ref_put(s->current);
    pthread_mutex_destroy(&s->mu);
    free(s);
}

static slot_t *find_slot(sl_sup_t *s, const char *name)
{
    for (slot_t *sl = s->slots; sl; sl = sl->next)
        if (strcmp(sl->name, name) == 0)
            return sl;
    return NULL;
}

/* ---- state ---- */

static sl_conn_state_t slot_state(const sl_sup_t *s, const slot_t *sl,
                                  const sl_pipeline_status_t *st)
{
    if (sl->pipe) {
        if (sl->stop_reason == STOP_RESTART || sl->stop_reason == STOP_RECONFIG)
            return SL_CONN_STARTING;
        if (sl->stop_reason == STOP_REMOVE || s->shutting_down)
            return SL_CONN_STOPPED;
        if (st->fail_rc)
            return SL_CONN_FAILED;
        if (st->finished)
            return SL_CONN_STOPPED;
        if (st->paused)
            return SL_CONN_PAUSED;
        return st->streaming ? SL_CONN_RUNNING : SL_CONN_STARTING;
    }
    if (sl->launching)
        return SL_CONN_STARTING;
    if (s->shutting_down || sl->stop_reason == STOP_REMOVE)
        return SL_CONN_STOPPED;
    if (sl->failed)
        return SL_CONN_FAILED;
    if (sl->finished_clean)
        return SL_CONN_STOPPED;
    return SL_CONN_STARTING; /* due to start */
}

/* Record a failure of the slot's connector (mu held). */
static void slot_failed(slot_t *sl, sl_err_t rc, const char *err)
{
    sl->failed = 1;
    sl->finished_clean = 0;
    sl->last_rc = rc;
    sl_log_redact(err && *err ? err : sl_err_str(rc), sl->last_error,
                  sizeof(sl->last_error));
    sl->last_error_ms = sl_now_ms();
    sl->backoff_ms = sl->backoff_ms ? sl->backoff_ms * 2 : BACKOFF_MIN_MS;
    if (sl->backoff_ms > BACKOFF_MAX_MS)
        sl->backoff_ms = BACKOFF_MAX_MS;
    sl->next_start = mono_ms() + sl->backoff_ms;
    sl->announce = 1;
}

/* ---- apply a configuration ---- */

void sl_sup_apply(sl_sup_t *s, sl_config_t *cfg)
{
    cfgref_t *ref = ref_new(cfg);
    int64_t now = mono_ms();
    pthread_mutex_lock(&s->mu);
    for (slot_t *sl = s->slots; sl; sl = sl->next) {
        if (!sl_config_connector(cfg, sl->name) && sl->stop_reason != STOP_REMOVE) {
            sl_info(sl->name, "removed from the configuration: draining and stopping");
            sl->stop_reason = STOP_REMOVE;
            sl->next_start = 0;
            if (sl->pipe)
                sl_pipeline_stop(sl->pipe);
        }
    }
    for (size_t i = 0; i < cfg->nconnectors; i++) {
        const sl_connector_config_t *cc = &cfg->connectors[i];
        slot_t *sl = find_slot(s, cc->name);
        if (!sl) {
            sl = calloc(1, sizeof(*sl));
            if (!sl || !(sl->name = strdup(cc->name)))
                abort();
            sl->ref = ref_get(ref);
            sl->cc = cc;
            sl->metrics = sl_metrics_new();
            sl->next_start = now;
            slot_t **tail = &s->slots;
            while (*tail)
                tail = &(*tail)->next;
            *tail = sl;
            if (s->current)
                sl_info(cc->name, "added to the configuration: starting");
            continue;
        }
        int same = sl_config_connector_same(sl->cc, cc) &&
                   strcmp(sl->ref->cfg->data_dir, cfg->data_dir) == 0;
        if (sl->stop_reason == STOP_REMOVE) {
            /* removed by an earlier reload and back before it finished draining */
            same = 0;
        }
        if (same) {
            /* drop a pending reconfiguration from an earlier reload, if any */
            if (sl->stop_reason == STOP_RECONFIG) {
                ref_put(sl->next_ref);
                sl->next_ref = NULL;
                sl->next_cc = NULL;
                sl->stop_reason = STOP_RESTART; /* it is already draining: start again */
            }
            continue;
        }
        sl_info(cc->name, "configuration changed: draining and starting again");
        ref_put(sl->next_ref);
        sl->next_ref = ref_get(ref);
        sl->next_cc = cc;
        /* launches happen only inside sl_sup_tick, on this same thread: a slot is either
         * running (drain it first) or idle (swap at once) */
        if (sl->pipe) {
            sl->stop_reason = STOP_RECONFIG;
            sl_pipeline_stop(sl->pipe);
        } else {
            ref_put(sl->ref);
            sl->ref = sl->next_ref;
            sl->cc = sl->next_cc;
            sl->next_ref = NULL;
            sl->next_cc = NULL;
            sl->stop_reason = STOP_NONE;
            sl->failed = sl->finished_clean = 0;
            sl->backoff_ms = 0;
            sl->next_start = now;
        }
    }
    ref_put(s->current);
    s->current = ref;
    pthread_mutex_unlock(&s->mu);
}

/* ---- supervision ---- */

/* Create and start the slot's pipeline; called without mu (a sink may connect). */
static void launch(sl_sup_t *s, slot_t *sl)
{
    char err[1024] = "";
    sl_err_t rc;
    const sl_source_ops_t *src = sl_registry_source(sl->cc->source.type);
    const sl_sink_ops_t *sink = sl_registry_sink(sl->cc->sink.type);
    sl_pipeline_t *p = NULL;
    if (!src || !sink) {
        rc = sl_err_set(err, sizeof(err), SL_ERR_CONFIG,
                        "source %s or sink %s is not built into this worker",
                        sl->cc->source.type, sl->cc->sink.type);
    } else {
        sl_bookmark_store_t *store =
            sl_registry_bookmark_store(sl->ref->cfg, sl->cc, &rc, err, sizeof(err));
        if (store)
            p = sl_pipeline_create_store(sl->cc, store, src, sink, &rc, err, sizeof(err));
        if (p) {
            sl_pipeline_set_metrics(p, sl->metrics);
            pthread_mutex_lock(&s->mu);
            sl_pipeline_pause(p, sl->paused);
            pthread_mutex_unlock(&s->mu);
            rc = sl_pipeline_start(p, err, sizeof(err));
            if (rc) {
                sl_pipeline_destroy(p);
                p = NULL;
            }
        }
    }
    pthread_mutex_lock(&s->mu);
    sl->launching = 0;
    if (sl->starts++)
        sl_metrics_restarted(sl->metrics);
    if (!p && sl_err_is_transient(rc)) {
        /* the bookmark store is out of reach (a Kafka store's cluster down at start): as
         * for a source reconnecting, the connector stays "starting" and is tried again
         * with backoff; not a failure of the set-up, so the worker never gives up on it
         */
        sl->failed = sl->finished_clean = 0;
        sl_log_redact(err, sl->last_error, sizeof(sl->last_error));
        sl->last_error_ms = sl_now_ms();
        sl->backoff_ms = sl->backoff_ms ? sl->backoff_ms * 2 : BACKOFF_MIN_MS;
        if (sl->backoff_ms > BACKOFF_MAX_MS)
            sl->backoff_ms = BACKOFF_MAX_MS;
        sl->next_start = mono_ms() + sl->backoff_ms;
        sl_warn(sl->name, "%s; trying again in %lld s", err,
                (long long)(sl->backoff_ms / 1000));
    } else if (!p) {
        sl_error(sl->name, "%s", err);
        slot_failed(sl, rc, err);
    } else {
        sl->pipe = p;
        sl->failed = sl->finished_clean = 0;
        sl->streaming_since = 0;
        sl_pipeline_pause(p, sl->paused); /* the API may have changed it meanwhile */
        sl_info(sl->name, "started (%s -> %s)%s", src->name, sink->name,
                sl->paused ? "; paused" : "");
    }
    pthread_mutex_unlock(&s->mu);
}

/* Reap a pipeline that has ended: join, destroy, decide what comes next. */
static void reap(sl_sup_t *s, slot_t *sl, sl_pipeline_t *p, int *removed)
{
    char err[1024] = "";
    sl_err_t rc = sl_pipeline_wait(p, err, sizeof(err));
    sl_pipeline_destroy(p);
    sl_metrics_flow_reset(sl->metrics); /* what it had in flight is replayed by the next */
    int64_t now = mono_ms();
    pthread_mutex_lock(&s->mu);
    stop_reason_t why = sl->stop_reason;
    sl->stop_reason = STOP_NONE;
    sl->streaming_since = 0;
    if (rc) {
        sl_error(sl->name, "%s", err);
        slot_failed(sl, rc, err);
    }
    if (why == STOP_REMOVE) {
        sl_info(sl->name, "stopped and removed");
        *removed = 1;
    } else if (why == STOP_RECONFIG || why == STOP_RESTART) {
        if (why == STOP_RECONFIG && sl->next_ref) {
            ref_put(sl->ref);
            sl->ref = sl->next_ref;
            sl->cc = sl->next_cc;
            sl->next_ref = NULL;
            sl->next_cc = NULL;
        }
        if (!rc)
            sl_info(sl->name, "drained; bookmark committed; starting again");
        sl->failed = 0;
        sl->backoff_ms = 0;
        sl->next_start = now;
    } else if (!rc) {
        sl_info(sl->name, "finished; bookmark committed");
        sl->finished_clean = 1;
        sl->next_start = 0;
    }
    pthread_mutex_unlock(&s->mu);
}

static void check_done(sl_sup_t *s)
{
    int n = 0, all_finished = 1, all_dead = 1, any_failed = 0, all_config = 1;
    for (slot_t *sl = s->slots; sl; sl = sl->next) {
        int busy = sl->pipe || sl->launching;
        n++;
        if (busy || !sl->finished_clean)
            all_finished = 0;
        if (busy || !(sl->failed || sl->finished_clean))
            all_dead = 0;
        if (sl->failed) {
            any_failed = 1;
            if (sl->last_rc != SL_ERR_CONFIG)
                all_config = 0;
        }
    }
    if (n && all_finished) {
        s->done = 1;
        s->exit_code = 0;
    } else if (n && all_dead && any_failed && !s->ever_ran) {
        s->done = 1;
        s->exit_code = all_config ? 2 : 1;
    }
}

void sl_sup_tick(sl_sup_t *s)
{
    int64_t now = mono_ms();
    atomic_store(&s->last_tick, now);
    slot_t *due[64];
    size_t ndue = 0;

    /* pass 1 (locked): requests, health, what ended */
    pthread_mutex_lock(&s->mu);
    for (slot_t *sl = s->slots; sl; sl = sl->next) {
        if (sl->restart_req) {
            sl->restart_req = 0;
            if (sl->pipe && sl->stop_reason == STOP_NONE) {
                sl->stop_reason = STOP_RESTART;
                sl_pipeline_stop(sl->pipe);
            } else if (!sl->pipe && !sl->launching && sl->stop_reason != STOP_REMOVE) {
                sl->failed = sl->finished_clean = 0;
                sl->next_start = now;
            }
        }
        if (!sl->pipe)
            continue;
        sl_pipeline_status_t st;
        sl_pipeline_status(sl->pipe, &st);
        if (st.streaming && !st.finished) {
            if (!sl->ever_ran)
                sl->ever_ran = 1;
            s->ever_ran = 1;
            if (!sl->streaming_since)
                sl->streaming_since = now;
            else if (now - sl->streaming_since >= BACKOFF_RESET_MS)
                sl->backoff_ms = 0;
        } else {
            sl->streaming_since = 0;
        }
        sl_metrics_set_state(sl->metrics, slot_state(s, sl, &st));
    }
    pthread_mutex_unlock(&s->mu);

    /* pass 2: reap ended pipelines (joins are quick: the threads have finished) */
    for (;;) {
        slot_t *sl;
        sl_pipeline_t *p = NULL;
        pthread_mutex_lock(&s->mu);
        for (sl = s->slots; sl; sl = sl->next) {
            if (sl->pipe && sl_pipeline_finished(sl->pipe)) {
                p = sl->pipe;
                sl->pipe = NULL; /* detached: the HTTP thread no longer sees it */
                break;
            }
        }
        pthread_mutex_unlock(&s->mu);
        if (!p)
            break;
        int removed = 0;
        reap(s, sl, p, &removed);
        if (removed) {
            pthread_mutex_lock(&s->mu);
            for (slot_t **at = &s->slots; *at; at = &(*at)->next) {
                if (*at == sl) {
                    *at = sl->next;
                    break;
                }
            }
            pthread_mutex_unlock(&s->mu);
            slot_free(sl);
        }
    }

    /* pass 3: give up, or start what is due */
    pthread_mutex_lock(&s->mu);
    for (slot_t **at = &s->slots; *at;) {
        slot_t *sl = *at;
        /* removed while it was not running: nothing to drain */
        if (sl->stop_reason == STOP_REMOVE && !sl->pipe && !sl->launching) {
            *at = sl->next;
            sl_info(sl->name, "removed");
            slot_free(sl);
            continue;
        }
        at = &sl->next;
    }
    check_done(s);
    if (!s->done && !s->shutting_down) {
        for (slot_t *sl = s->slots; sl; sl = sl->next) {
            if (sl->announce && sl->failed && sl->next_start)
                sl_warn(sl->name, "restarting in %lld s",
                        (long long)((sl->next_start - now + 999) / 1000));
            sl->announce = 0;
        }
        for (slot_t *sl = s->slots; sl; sl = sl->next) {
            if (sl->pipe || sl->launching || !sl->next_start || now < sl->next_start ||
                ndue == sizeof(due) / sizeof(due[0]))
                continue;
            if (sl->failed)
                sl_info(sl->name, "restarting after the failure (attempt %llu)",
                        (unsigned long long)sl->starts + 1);
            sl->launching = 1;
            sl->next_start = 0;
            due[ndue++] = sl;
        }
    }
    for (slot_t *sl = s->slots; sl; sl = sl->next)
        if (!sl->pipe)
            sl_metrics_set_state(sl->metrics, slot_state(s, sl, NULL));
    pthread_mutex_unlock(&s->mu);

    /* launching slots are not freed meanwhile: only this thread removes slots */
    for (size_t i = 0; i < ndue; i++)
        launch(s, due[i]);
}

int sl_sup_done(sl_sup_t *s, int *exit_code)
{
    pthread_mutex_lock(&s->mu);
    int done = s->done;
    *exit_code = s->exit_code;
    pthread_mutex_unlock(&s->mu);
    return done;
}

int sl_sup_shutdown(sl_sup_t *s)
{
    int rc = 0;
    pthread_mutex_lock(&s->mu);
    s->shutting_down = 1;
    for (slot_t *sl = s->slots; sl; sl = sl->next)
        if (sl->pipe)
            sl_pipeline_stop(sl->pipe);
    pthread_mutex_unlock(&s->mu);
    for (;;) {
        slot_t *sl;
        sl_pipeline_t *p = NULL;
        pthread_mutex_lock(&s->mu);
        for (sl = s->slots; sl && !sl->pipe; sl = sl->next)
            ;
        if (sl) {
            p = sl->pipe;
            sl->pipe = NULL;
        }
        pthread_mutex_unlock(&s->mu);
        if (!p)
            break;
        char err[1024] = "";
        sl_err_t e = sl_pipeline_wait(p, err, sizeof(err));
        sl_pipeline_destroy(p);
        pthread_mutex_lock(&s->mu);
        if (e) {
            sl_error(sl->name, "%s", err);
            slot_failed(sl, e, err);
        } else {
            sl_info(sl->name, "stopped; bookmark committed");
        }
        pthread_mutex_unlock(&s->mu);
    }
    pthread_mutex_lock(&s->mu);
    for (slot_t *sl = s->slots; sl; sl = sl->next) {
        if (sl->failed)
            rc = 1;
        sl_metrics_set_state(sl->metrics, SL_CONN_STOPPED);
    }
    pthread_mutex_unlock(&s->mu);
    return rc;
}

/* ---- JSON for the API ---- */

int sl_sup_alive(sl_sup_t *s)
{
    return mono_ms() - atomic_load(&s->last_tick) < ALIVE_MS;
}

static void put_time(sl_buf_t *out, int64_t ms)
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    char when[40];
    gmtime_r(&t, &tm);
    strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
    sl_buf_printf(out, "\"%s.%03dZ\"", when, (int)(ms % 1000));
}

/* The stored bookmark read from disk, without the schema history (connector not
 * running); null when there is none or it cannot be read. */
static void put_disk_bookmark(const char *data_dir, const char *name, sl_buf_t *out)
{
    char *doc = NULL, err[256];
    json_t *root = NULL;
    char *text = NULL;
    if (sl_bookmark_load(data_dir, name, &doc, err, sizeof(err)) == SL_OK && doc &&
        (root = json_loads(doc, 0, NULL)) && json_is_object(root)) {
        json_object_del(root, "schemas");
        text = json_dumps(root, JSON_COMPACT | JSON_PRESERVE_ORDER);
    }
    sl_buf_puts(out, text ? text : "null");
    free(text);
    json_decref(root);
    free(doc);
}

static void put_key(sl_buf_t *out, const char *key)
{
    sl_buf_printf(out, ",\"%s\":", key);
}

static void put_connector(sl_sup_t *s, slot_t *sl, sl_buf_t *out)
{
    sl_pipeline_status_t st;
    int has = sl->pipe != NULL;
    if (has)
        sl_pipeline_status(sl->pipe, &st);
    int64_t now = sl_now_ms();
    sl_conn_state_t state = slot_state(s, sl, has ? &st : NULL);
    sl_buf_puts(out, "{\"name\":");
    sl_buf_put_json_str(out, sl->name, strlen(sl->name));
    put_key(out, "state");
    sl_buf_printf(out, "\"%s\"", sl_conn_state_name(state));
    put_key(out, "source");
    sl_buf_put_json_str(out, sl->cc->source.type, strlen(sl->cc->source.type));
    put_key(out, "sink");
    sl_buf_put_json_str(out, sl->cc->sink.type, strlen(sl->cc->sink.type));
    put_key(out, "paused");
    sl_buf_puts(out, sl->paused ? "true" : "false");
    put_key(out, "bookmark");
    if (!has || !sl_pipeline_bookmark(sl->pipe, out)) {
        if (has)
            sl_buf_puts(out, "null");
        else
            put_disk_bookmark(sl->ref->cfg->data_dir, sl->name, out);
    }
    put_key(out, "snapshot");
    if (!has || !sl_pipeline_snapshot(sl->pipe, out))
        sl_buf_puts(out, "null");
    put_key(out, "lag_seconds");
    sl_buf_put_double(out, sl_metrics_lag_seconds(sl->metrics, now));
    put_key(out, "bookmark_age_seconds");
    double age = sl_metrics_bookmark_age_seconds(sl->metrics, now);
    if (age >= 0)
        sl_buf_put_double(out, age);
    else
        sl_buf_puts(out, "null");
    put_key(out, "queue_batches");
    sl_buf_put_u64(out, has ? sl_metrics_queue_depth(sl->metrics) : 0);
    put_key(out, "events");
    sl_buf_put_u64(out, sl_metrics_events_total(sl->metrics));
    put_key(out, "restarts");
    sl_buf_put_u64(out, sl->starts ? sl->starts - 1 : 0);
    put_key(out, "source_retries");
    sl_buf_put_u64(out, has ? st.retries : 0);
    /* the most recent error: of the running instance (a failure, or what it is
     * reconnecting after), else of an earlier one */
    const char *msg = sl->last_error[0] ? sl->last_error : NULL;
    int64_t at = sl->last_error_ms;
    if (has && st.last_error[0] && st.last_error_ms >= at) {
        msg = st.last_error;
        at = st.last_error_ms;
    }
    put_key(out, "last_error");
    if (msg) {
        sl_buf_puts(out, "{\"message\":");
        sl_buf_put_json_str(out, msg, strlen(msg));
        sl_buf_puts(out, ",\"at\":");
        put_time(out, at);
        sl_buf_putc(out, '}');
    } else {
        sl_buf_puts(out, "null");
    }
    if (state == SL_CONN_FAILED && !has && sl->next_start) {
        int64_t left = sl->next_start - mono_ms();
        put_key(out, "restart_in_seconds");
        sl_buf_put_double(out, left > 0 ? (double)left / 1000.0 : 0);
    }
    sl_buf_putc(out, '}');
}

int sl_sup_ready(sl_sup_t *s, sl_buf_t *out)
{
    sl_buf_t bad = SL_BUF_INIT;
    pthread_mutex_lock(&s->mu);
    for (slot_t *sl = s->slots; sl; sl = sl->next) {
        sl_pipeline_status_t st;
        if (sl->pipe)
            sl_pipeline_status(sl->pipe, &st);
        sl_conn_state_t state = slot_state(s, sl, sl->pipe ? &st : NULL);
        /* a paused or finished connector is where the operator wants it */
        if (state == SL_CONN_RUNNING || state == SL_CONN_PAUSED ||
            state == SL_CONN_STOPPED)
            continue;
        sl_buf_putc(&bad, bad.len ? ',' : '{');
        sl_buf_put_json_str(&bad, sl->name, strlen(sl->name));
        sl_buf_printf(&bad, ":\"%s\"", sl_conn_state_name(state));
    }
    int ready = !s->shutting_down && !bad.len;
    pthread_mutex_unlock(&s->mu);
    if (ready) {
        sl_buf_puts(out, "{\"status\":\"ready\"}");
    } else {
        sl_buf_puts(out, "{\"status\":\"not ready\",\"connectors\":");
        sl_buf_puts(out, bad.len ? bad.data : "{");
        sl_buf_puts(out, "}}");
    }
    sl_buf_free(&bad);
    return ready;
}

void sl_sup_list(sl_sup_t *s, sl_buf_t *out)
{
    pthread_mutex_lock(&s->mu);
    const char *w = s->current ? s->current->cfg->worker_name : "";
    sl_buf_puts(out, "{\"worker\":");
    sl_buf_put_json_str(out, w, strlen(w));
    sl_buf_puts(out, ",\"connectors\":[");
    for (slot_t *sl = s->slots; sl; sl = sl->next) {
        if (sl != s->slots)
            sl_buf_putc(out, ',');
        put_connector(s, sl, out);
    }
    sl_buf_puts(out, "]}");
    pthread_mutex_unlock(&s->mu);
}

int sl_sup_describe(sl_sup_t *s, const char *name, sl_buf_t *out)
{
    pthread_mutex_lock(&s->mu);
    slot_t *sl = find_slot(s, name);
    if (sl)
        put_connector(s, sl, out);
    pthread_mutex_unlock(&s->mu);
    return sl ? 0 : -1;
}

int sl_sup_control(sl_sup_t *s, const char *name, sl_sup_action_t action, sl_buf_t *out)
{
    pthread_mutex_lock(&s->mu);
    slot_t *sl = find_slot(s, name);
    if (sl) {
        switch (action) {
        case SL_SUP_PAUSE:
        case SL_SUP_RESUME:
            sl->paused = action == SL_SUP_PAUSE;
            if (sl->pipe)
                sl_pipeline_pause(sl->pipe, sl->paused);
            sl_info(sl->name, "%s by the HTTP API", sl->paused ? "paused" : "resumed");
            break;
        case SL_SUP_RESTART:
            sl->restart_req = 1;
            sl_info(sl->name, "restart requested by the HTTP API");
            break;
        }
        put_connector(s, sl, out);
    }
    pthread_mutex_unlock(&s->mu);
    return sl ? 0 : -1;
}

int sl_sup_snapshot(sl_sup_t *s, const char *name, const char *req, sl_buf_t *out)
{
    pthread_mutex_lock(&s->mu);
    slot_t *sl = find_slot(s, name);
    int rc = !sl ? -1 : !sl->pipe || sl_pipeline_finished(sl->pipe) ? -2 : 0;
    if (!rc) {
        sl_pipeline_request_snapshot(sl->pipe, req);
        sl_info(sl->name, "on-demand snapshot requested by the HTTP API: %s", req);
        put_connector(s, sl, out);
    }
    pthread_mutex_unlock(&s->mu);
    return rc;
}

void sl_sup_metrics(sl_sup_t *s, sl_buf_t *out)
{
    pthread_mutex_lock(&s->mu);
    size_t n = 0;
    for (slot_t *sl = s->slots; sl; sl = sl->next)
        n++;
    const char **names = calloc(n ? n : 1, sizeof(*names));
    sl_metrics_t **ms = calloc(n ? n : 1, sizeof(*ms));
    if (!names || !ms)
        abort();
    n = 0;
    for (slot_t *sl = s->slots; sl; sl = sl->next) {
        sl_pipeline_status_t st;
        if (sl->pipe)
            sl_pipeline_status(sl->pipe, &st);
        sl_metrics_set_state(sl->metrics, slot_state(s, sl, sl->pipe ? &st : NULL));
        names[n] = sl->name;
        ms[n++] = sl->metrics;
    }
    sl_metrics_expose(out, s->current ? s->current->cfg->worker_name : "", names, ms, n,
                      sl_now_ms());
    pthread_mutex_unlock(&s->mu);
    free(names);
    free(ms);
}
