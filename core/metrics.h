/* sluice: per-connector metrics (events, bytes, errors, queue, lag, delivery latency,
 * source gauges) and their Prometheus text exposition (format 0.0.4). */
#ifndef SL_METRICS_H
#define SL_METRICS_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include "core/buf.h"

/* What a connector is doing, as the worker reports it (GET /connectors, the
 * sluice_connector_state metric). */
typedef enum sl_conn_state {
    SL_CONN_STARTING = 0, /* connecting, or reconnecting after a transient error */
    SL_CONN_RUNNING,      /* the source is streaming (or snapshotting) */
    SL_CONN_PAUSED,       /* paused by the operator: the source reads nothing */
    SL_CONN_FAILED,  /* ended with an error; the worker restarts it after a backoff */
    SL_CONN_STOPPED, /* finished by itself (snapshot: only) or being removed */
    SL_CONN_NSTATES
} sl_conn_state_t;

/* "starting", "running", "paused", "failed", "stopped". */
const char *sl_conn_state_name(sl_conn_state_t s);

typedef enum sl_metric_err {
    SL_METRIC_ERR_SOURCE = 0, /* a transient source error (the source reconnects) */
    SL_METRIC_ERR_SINK,       /* a transient sink error (the write is retried) */
    SL_METRIC_ERR_FATAL,      /* the pipeline failed (the worker restarts it) */
    SL_METRIC_ERR_N
} sl_metric_err_t;

#define SL_METRICS_OPS 5 /* c, u, d, r, t */
#define SL_METRICS_MAX_GAUGES 16

/* Counters of one table (by qualified name, all schema versions together). Written by
 * one thread at a time (the pipeline's source thread), read by any: the writer does a
 * relaxed load and store instead of a locked add, which is all a single writer needs. */
typedef struct sl_metrics_table {
    char *name; /* owned: "<schema or db>.<table>" */
    _Atomic uint64_t events[SL_METRICS_OPS];
    _Atomic uint64_t bytes[SL_METRICS_OPS];
    struct sl_metrics_table *next;
} sl_metrics_table_t;

/* One connector's metrics. Outlives the connector's pipeline instances (the worker owns
 * it and hands it to each new pipeline), so counters survive restarts. */
typedef struct sl_metrics sl_metrics_t;

sl_metrics_t *sl_metrics_new(void);    /* never NULL (aborts on out of memory) */
void sl_metrics_free(sl_metrics_t *m); /* NULL-safe */

/* The counters of a table, created on first use. The pointer stays valid until
 * sl_metrics_free. Takes a mutex: callers cache the result (the pipeline does). */
sl_metrics_table_t *sl_metrics_table(sl_metrics_t *m, const char *qualified);

/* Index of an op letter ('c','u','d','r','t'); -1 for anything else. */
static inline int sl_metrics_op_index(char op)
{
    switch (op) {
    case 'c':
        return 0;
    case 'u':
        return 1;
    case 'd':
        return 2;
    case 'r':
        return 3;
    case 't':
        return 4;
    default:
        return -1;
    }
}

/* Count one event of `bytes` encoded bytes. Hot path: single writer (see above). */
static inline void sl_metrics_count(sl_metrics_table_t *t, char op, uint64_t bytes)
{
    int i = sl_metrics_op_index(op);
    if (i < 0)
        return;
    atomic_store_explicit(&t->events[i],
                          atomic_load_explicit(&t->events[i], memory_order_relaxed) + 1,
                          memory_order_relaxed);
    atomic_store_explicit(
        &t->bytes[i], atomic_load_explicit(&t->bytes[i], memory_order_relaxed) + bytes,
        memory_order_relaxed);
}

/* The calls below are thread-safe. */
void sl_metrics_error(sl_metrics_t *m, sl_metric_err_t kind);
void sl_metrics_set_state(sl_metrics_t *m, sl_conn_state_t state);
sl_conn_state_t sl_metrics_state(const sl_metrics_t *m);
void sl_metrics_restarted(sl_metrics_t *m); /* the worker started the connector again */
void sl_metrics_queue(sl_metrics_t *m, size_t depth, size_t capacity);
/* A new pipeline instance: nothing is in flight any more (what the old one had in flight
 * is replayed and counted again). */
void sl_metrics_flow_reset(sl_metrics_t *m);
/* What is in flight between source and sink: records handed to the sink and not yet
 * acknowledged, the commit time of the oldest of them (-1: none), and the commit time of
 * the last record the sink acknowledged (-1: none yet). Set by the pipeline. */
void sl_metrics_flow(sl_metrics_t *m, int64_t inflight, int64_t oldest_pending_ts_ms,
                     int64_t last_acked_ts_ms);
/* A bookmark was stored at when_ms (ms since the epoch). */
void sl_metrics_bookmark_stored(sl_metrics_t *m, int64_t when_ms);
/* Delivery latency (emit -> durable ack) of `weight` records, in microseconds. */
void sl_metrics_latency(sl_metrics_t *m, int64_t us, uint64_t weight);
/* Set the source gauge sluice_<name>{connector="..."}; name must match [a-z][a-z0-9_]*
 * and, like help, must live as long as m (a string literal). Returns -1 (and sets
 * nothing) for a bad name or when SL_METRICS_MAX_GAUGES different names are in use. */
int sl_metrics_gauge(sl_metrics_t *m, const char *name, const char *help, double value);

/* Derived values for the JSON status: lag in seconds (0 when nothing is in flight),
 * seconds since the last stored bookmark (-1: none), events emitted in total. */
double sl_metrics_lag_seconds(const sl_metrics_t *m, int64_t now_ms);
double sl_metrics_bookmark_age_seconds(const sl_metrics_t *m, int64_t now_ms);
uint64_t sl_metrics_events_total(sl_metrics_t *m);
size_t sl_metrics_queue_depth(const sl_metrics_t *m);

/* The Prometheus text exposition of n connectors (names[i] with ms[i]), grouped by
 * metric family, with HELP and TYPE lines. Borrows everything; appends to out. */
void sl_metrics_expose(sl_buf_t *out, const char *worker, const char *const *names,
                       sl_metrics_t *const *ms, size_t n, int64_t now_ms);

#endif
