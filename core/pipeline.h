/* sluice: one connector's pipeline: source thread -> bounded queue -> sink thread, and the
 * committer that stores the highest bookmark below which everything is durable. */
#ifndef SL_PIPELINE_H
#define SL_PIPELINE_H

#include <stddef.h>
#include <stdint.h>
#include "core/err.h"
#include "core/bookmark.h"
#include "core/pos.h"
#include "core/plugin.h"
#include "core/envelope.h"
#include "core/schema.h"
#include "core/metrics.h"

struct sl_connector_config;
typedef struct sl_pipeline sl_pipeline_t;

/* Load the connector's bookmark from store (a corrupt one is an error, SL_ERR_CORRUPT; a
 * store out of reach SL_ERR_RETRY), restore the schema history. Takes ownership of store
 * (destroyed with the pipeline, or at once when creation fails); borrows cfg and the ops
 * for its whole life. */
sl_pipeline_t *sl_pipeline_create_store(const struct sl_connector_config *cfg,
                                        sl_bookmark_store_t *store,
                                        const sl_source_ops_t *src,
                                        const sl_sink_ops_t *sink, sl_err_t *rc,
                                        char *err, size_t errlen);
/* The same with the file store under data_dir (copied). */
sl_pipeline_t *sl_pipeline_create(const struct sl_connector_config *cfg, const char *data_dir,
                                  const sl_source_ops_t *src, const sl_sink_ops_t *sink,
                                  sl_err_t *rc, char *err, size_t errlen);
void sl_pipeline_destroy(sl_pipeline_t *p); /* NULL-safe; stops and joins first */

/* Create source and sink and start their threads. */
sl_err_t sl_pipeline_start(sl_pipeline_t *p, char *err, size_t errlen);
/* Ask for a drain-and-commit stop; returns at once (signal-safe: only sets a flag). */
void sl_pipeline_stop(sl_pipeline_t *p);
/* Non-zero once the source thread has ended (stopped, finished or failed). */
int sl_pipeline_finished(sl_pipeline_t *p);
/* Join both threads. Returns SL_OK after a requested stop or a finished source, else the
 * first fatal error with its sentence in err. */
sl_err_t sl_pipeline_wait(sl_pipeline_t *p, char *err, size_t errlen);
/* Run the source's preflight check (creates the source, never the sink). */
sl_err_t sl_pipeline_check(sl_pipeline_t *p, sl_buf_t *report, char *err, size_t errlen);

/* ---- supervision: calls for the worker, from any thread ---- */

/* Count into m (borrowed; must outlive p) instead of the pipeline's own metrics. Call
 * before sl_pipeline_start; resets m's in-flight figures for this new instance. */
void sl_pipeline_set_metrics(sl_pipeline_t *p, sl_metrics_t *m);
/* Pause (non-zero) or resume the source. A paused source hands over what it already
 * emitted and reads nothing more: sl_pipe_emit blocks until resume or stop, and sources
 * that keep a session alive poll sl_pipe_paused. The sink keeps draining and the
 * committer keeps storing bookmarks, so a pause loses nothing. May be called before
 * sl_pipeline_start (the source then starts paused). */
void sl_pipeline_pause(sl_pipeline_t *p, int paused);

typedef struct sl_pipeline_status {
    int streaming;  /* the source reached its stream (emitted, flushed or progressed) */
    int paused;     /* sl_pipeline_pause(p, 1) is in force */
    int stopping;   /* a stop was requested or a failure is shutting it down */
    int finished;   /* the source thread has ended */
    sl_err_t fail_rc;      /* the first fatal error, SL_OK when none */
    char last_error[1024]; /* the fatal error, else the last transient one; "" = none */
    int64_t last_error_ms; /* when last_error happened (ms since the epoch), 0 = never */
    uint64_t retries;      /* transient source errors the source reconnected after */
} sl_pipeline_status_t;

/* Ask the source for an on-demand snapshot: req is the request document (a JSON object
 * {"tables":["schema.table",...],"where":"..."}, copied), taken by the source the next
 * time it looks (sl_pipe_take_snapshot_request). */
void sl_pipeline_request_snapshot(sl_pipeline_t *p, const char *req);

/* A consistent snapshot of what the pipeline is doing. */
void sl_pipeline_status(sl_pipeline_t *p, sl_pipeline_status_t *st);
/* Append the stored bookmark position as a JSON object ({"lsn":...}, without the schema
 * history); returns 0 and appends nothing when no bookmark is stored. */
int sl_pipeline_bookmark(sl_pipeline_t *p, sl_buf_t *out);
/* Append the snapshot progress stored with the bookmark (a JSON object); returns 0 and
 * appends nothing when no snapshot is in progress. */
int sl_pipeline_snapshot(sl_pipeline_t *p, sl_buf_t *out);

/* ---- calls for the source, from its thread ---- */

int sl_pipe_stopping(sl_pipeline_t *p);
const char *sl_pipe_name(sl_pipeline_t *p);
/* The stored bookmark position, or NULL when there is none. */
const sl_pos_t *sl_pipe_resume(sl_pipeline_t *p);
sl_schema_cache_t *sl_pipe_schemas(sl_pipeline_t *p);
/* Encode the change into the current batch; record pos is the bookmark just after it.
 * May block (backpressure, or a pause: then the current batch is handed over first and
 * the call returns when resumed). SL_ERR_STOPPED when the pipeline is shutting down;
 * the change was then not taken. */
sl_err_t sl_pipe_emit(sl_pipeline_t *p, const sl_change_t *c, const sl_pos_t *pos);
/* Everything up to pos has been handed over (a commit, a quiet keepalive). */
void sl_pipe_progress(sl_pipeline_t *p, const sl_pos_t *pos);
/* Hand the current batch to the sink now (the source is about to wait for the server). */
sl_err_t sl_pipe_flush(sl_pipeline_t *p);
/* The position stored in the bookmark: safe to confirm to the database. Returns 0 when
 * nothing has been stored yet. */
int sl_pipe_durable(sl_pipeline_t *p, sl_pos_t *out);
/* Hand over the current batch, let the sink drain and flush, store the final bookmark.
 * Called by a source when it stops, before it says goodbye to the server. */
sl_err_t sl_pipe_drain(sl_pipeline_t *p);
/* Sleep up to ms, waking early on stop. Returns non-zero if stopping. */
int sl_pipe_sleep(sl_pipeline_t *p, int64_t ms);
/* Non-zero while the operator has paused the connector. A source that must keep its
 * server session alive (PostgreSQL: standby status, else wal_sender_timeout ends it)
 * polls this between messages and, while set, calls sl_pipe_flush, keeps the session
 * alive and reads nothing. A source that does not poll simply blocks in sl_pipe_emit. */
int sl_pipe_paused(sl_pipeline_t *p);
/* Snapshot progress (core/snapshot.h): once everything up to and including pos is
 * durable, every bookmark stored from then on carries doc[0..len) (a JSON object, copied)
 * as its "snapshot" member; doc NULL stores null (the snapshot is over). pos is the last
 * position the source emitted or progressed to. Checkpoints take effect in order. */
void sl_pipe_checkpoint(sl_pipeline_t *p, const sl_pos_t *pos, const char *doc, size_t len);
/* The "snapshot" member of the bookmark the pipeline was created from, as JSON text, or
 * NULL when it was null or absent. Borrowed; lives as long as p. */
const char *sl_pipe_resume_snapshot(sl_pipeline_t *p);
/* The oldest on-demand snapshot request not yet taken (caller frees), or NULL. */
char *sl_pipe_take_snapshot_request(sl_pipeline_t *p);
/* Publish a source-specific gauge as the metric sluice_<name>{connector="..."}, e.g.
 * ("postgres_slot_lag_bytes", "...", 4096). name matches [a-z][a-z0-9_]*; name and help
 * must be string literals (they are kept, not copied). Cheap, but meant for figures a
 * source refreshes every few seconds, not per event. */
void sl_pipe_gauge(sl_pipeline_t *p, const char *name, const char *help, double value);

/* Milliseconds since the epoch (CLOCK_REALTIME). */
int64_t sl_now_ms(void);

#endif
