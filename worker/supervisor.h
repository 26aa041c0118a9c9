/* sluice: the supervisor runs every connector of the configuration as its own pipeline,
 * isolated: a failed one is restarted with backoff while the others keep streaming. */
#ifndef SL_SUPERVISOR_H
#define SL_SUPERVISOR_H

#include <stdint.h>
#include "config/config.h"
#include "core/buf.h"

typedef struct sl_sup sl_sup_t;

sl_sup_t *sl_sup_new(void); /* never NULL */
/* Stops whatever still runs (as sl_sup_shutdown), then frees. NULL-safe. */
void sl_sup_free(sl_sup_t *s);

/* Run the connectors of cfg (takes ownership of it; every source and sink type must be
 * in the registry, which the caller checked). On a reload, connectors whose settings are
 * unchanged (sl_config_connector_same, same data_dir) keep running untouched, changed
 * ones are drained and started again, removed ones are drained and dropped, new ones
 * start. Main thread only; returns at once (the work happens in sl_sup_tick). */
void sl_sup_apply(sl_sup_t *s, sl_config_t *cfg);
/* One round of supervision: start what is due, reap what ended, schedule restarts.
 * Main thread only; call every few hundred milliseconds. Never blocks for long except
 * while a sink connects in its create call. */
void sl_sup_tick(sl_sup_t *s);
/* Non-zero when the worker has nothing left to do: every connector finished by itself
 * (*exit_code 0), or every connector failed before any of them ever streamed (*exit_code
 * 1, or 2 when all of them failed for a configuration reason): a set-up that cannot work
 * at all ends the process loudly instead of retrying forever. */
int sl_sup_done(sl_sup_t *s, int *exit_code);
/* Stop every connector, wait for their drains and final bookmarks. Returns 0, or 1 when
 * a connector failed (now or before, without having recovered). Main thread only. */
int sl_sup_shutdown(sl_sup_t *s);

/* ---- for the HTTP API, from any thread; JSON appended to out ---- */

/* Non-zero while the supervision loop is alive (ticked within the last two minutes). */
int sl_sup_alive(sl_sup_t *s);
/* {"status":"ready"} and 1 when every connector is running, paused or finished; else
 * {"status":"not ready","connectors":{"name":"state",...}} and 0. */
int sl_sup_ready(sl_sup_t *s, sl_buf_t *out);
/* {"worker":"...","connectors":[{...},...]} */
void sl_sup_list(sl_sup_t *s, sl_buf_t *out);
/* One connector's status object; -1 (nothing appended) when there is no such name. */
int sl_sup_describe(sl_sup_t *s, const char *name, sl_buf_t *out);

typedef enum { SL_SUP_PAUSE, SL_SUP_RESUME, SL_SUP_RESTART } sl_sup_action_t;

/* Pause, resume or restart a connector (a restart drains it and starts it again; the
 * pause state is kept). Appends the connector's status; -1 when there is no such name. */
int sl_sup_control(sl_sup_t *s, const char *name, sl_sup_action_t action, sl_buf_t *out);
/* Hand an on-demand snapshot request (a validated JSON object) to a running connector
 * and append its status. -1: no such connector; -2: it is not running (failed, stopped
 * or between restarts), nothing was queued. */
int sl_sup_snapshot(sl_sup_t *s, const char *name, const char *req, sl_buf_t *out);
/* The Prometheus exposition of every connector. */
void sl_sup_metrics(sl_sup_t *s, sl_buf_t *out);

#endif
