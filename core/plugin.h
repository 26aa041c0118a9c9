/* sluice: the interfaces a source connector and a sink implement.
 * A connector or sink is a folder plus one line in worker/registry.c. */
#ifndef SL_PLUGIN_H
#define SL_PLUGIN_H

#include <stdint.h>
#include "core/err.h"
#include "core/buf.h"
#include "core/pos.h"
#include "core/batch.h"
#include "core/schema.h"

struct sl_connector_config; /* config/config.h */
struct sl_sink_config;
struct sl_pipeline;

/* What the core gives a sink. */
typedef struct sl_sink_env {
    /* The sink calls this (from its own thread) whenever more becomes durable:
     * every record at or before `durable` will never need to be written again. */
    void (*ack)(struct sl_sink_env *env, const sl_pos_t *durable);
    /* Any thread (a sink's own worker): call tick soon, on the sink thread, instead of
     * at the next batch or timer; for a sink whose durability advances off that thread. */
    void (*wake)(struct sl_sink_env *env);
    void *opaque;               /* the core's */
    const char *connector_name; /* borrowed */
} sl_sink_env_t;

typedef struct sl_sink_ops {
    const char *name; /* "files", "stdout", "kafka" */
    /* resume: the bookmark the source restarts from (everything after it may be replayed,
     * including records already in complete files). env is borrowed for the sink's life. */
    sl_err_t (*create)(const struct sl_sink_config *cfg, sl_sink_env_t *env,
                       const sl_pos_t *resume, void **ctx, char *err, size_t errlen);
    /* Write a batch; the batch is borrowed until return. SL_ERR_RETRY = try again. */
    sl_err_t (*write)(void *ctx, const sl_batch_t *b, char *err, size_t errlen);
    /* Called about once a second, when the queue is idle, after a wake, and at the time
     * `due` names: age-based rotation, acks of work finished off the sink thread. */
    sl_err_t (*tick)(void *ctx, int64_t now_ms, char *err, size_t errlen);
    /* Optional: the wall-clock ms at which tick next has work (the oldest open file's
     * age limit), INT64_MAX for none. Asked on the sink thread after each call. */
    int64_t (*due)(void *ctx);
    /* Make everything written durable and ack it (shutdown, drain). */
    sl_err_t (*flush)(void *ctx, char *err, size_t errlen);
    void (*destroy)(void *ctx); /* NULL-safe */
    /* Non-zero: the source thread encodes the envelopes itself, with no encoder thread.
     * For a sink whose writes keep the kernel busy on the other core (files: page cache
     * copies and writeback), where a third thread measured slower on two cores. */
    int encode_on_source;
} sl_sink_ops_t;

/* What the core gives a source: see core/pipeline.h for the calls on it. */
typedef struct sl_pipeline sl_source_env_t;

typedef struct sl_source_ops {
    const char *name;      /* config type: "postgres", "mysql" */
    const char *connector; /* envelope source.connector: "postgresql", "mysql" */
    /* resume: parsed bookmark position or NULL when there is none. */
    sl_err_t (*create)(const struct sl_connector_config *cfg, sl_source_env_t *env,
                       void **ctx, char *err, size_t errlen);
    /* Preflight against the live server: one line per check appended to report
     * ("ok: ..." / "FAIL: ... change X"). Returns SL_OK when all passed. */
    sl_err_t (*check)(void *ctx, sl_buf_t *report, char *err, size_t errlen);
    /* Stream until sl_pipe_stopping(); returns SL_ERR_STOPPED on a requested stop. */
    sl_err_t (*run)(void *ctx, char *err, size_t errlen);
    /* Optional. Called from another thread once sl_pipeline_stop() has set the stop flag,
     * while run may be blocked in a read: cut that read short so run sees the stop now
     * rather than at its next heartbeat. Must be safe against run on its own thread. */
    void (*interrupt)(void *ctx);
    void (*destroy)(void *ctx);
    /* Bookmark document members for pos (no braces), e.g. "\"lsn\":\"0/1\",...".
     * ctx is the running source or NULL (offsets set); called from the sink thread, so a
     * source that keeps state for it (MySQL GTID sets) must lock. */
    void (*bookmark_render)(void *ctx, const sl_pos_t *pos, sl_buf_t *out);
    /* Parse the bookmark document (whole JSON object text) into pos. */
    sl_err_t (*bookmark_parse)(const char *json, size_t len, sl_pos_t *pos, char *err,
                               size_t errlen);
} sl_source_ops_t;

#endif
