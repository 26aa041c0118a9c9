/* sluice: per-connector metrics and the Prometheus text exposition (format 0.0.4).
 * Counters are atomics so the pipeline's hot path never takes a lock; a mutex per
 * connector only guards the shape (the table list and the source gauge names). */
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include "core/metrics.h"

/* Delivery latency buckets. The file sink acknowledges when a file is closed (seconds
 * to a minute), Kafka within milliseconds: the buckets span both. */
static const int64_t lat_le_us[] = {1000,     5000,     10000,    50000,     100000,
                                    250000,   500000,   1000000,  2500000,   5000000,
                                    10000000, 30000000, 60000000, 120000000, 300000000};
static const char *const lat_le_text[] = {"0.001", "0.005", "0.01", "0.05", "0.1",
                                          "0.25",  "0.5",   "1",    "2.5",  "5",
                                          "10",    "30",    "60",   "120",  "300"};
#define NBUCKETS (sizeof(lat_le_us) / sizeof(lat_le_us[0]))
_Static_assert(sizeof(lat_le_text) / sizeof(lat_le_text[0]) == NBUCKETS, "bucket labels");

static const char *const op_names[SL_METRICS_OPS] = {"c", "u", "d", "r", "t"};
static const char *const err_names[SL_METRIC_ERR_N] = {"source", "sink", "fatal"};
static const char *const state_names[SL_CONN_NSTATES] = {"starting", "running", "paused",
                                                         "failed", "stopped"};

typedef struct gauge {
    const char *name, *help; /* borrowed string literals */
    _Atomic uint64_t bits;   /* the double's bits */
} gauge_t;

struct sl_metrics {
    pthread_mutex_t mu;         /* guards the list shape and the gauge names */
    sl_metrics_table_t *tables; /* sorted by name, so the exposition is stable */
    gauge_t gauges[SL_METRICS_MAX_GAUGES];
    _Atomic size_t ngauges;

    _Atomic int state;
    _Atomic uint64_t restarts;
    _Atomic uint64_t errors[SL_METRIC_ERR_N];
    _Atomic int64_t queue_depth, queue_cap;
    _Atomic int64_t inflight, oldest_pending_ts, last_acked_ts, bookmark_ms;
    _Atomic uint64_t lat_buckets[NBUCKETS + 1]; /* not cumulative; the last is +Inf */
    _Atomic uint64_t lat_count, lat_sum_us;
};

const char *sl_conn_state_name(sl_conn_state_t s)
{
    return (unsigned)s < SL_CONN_NSTATES ? state_names[s] : "unknown";
}

sl_metrics_t *sl_metrics_new(void)
{
    sl_metrics_t *m = calloc(1, sizeof(*m));
    if (!m)
        abort();
    pthread_mutex_init(&m->mu, NULL);
    atomic_init(&m->oldest_pending_ts, -1);
    atomic_init(&m->last_acked_ts, -1);
    atomic_init(&m->bookmark_ms, -1);
    return m;
}

void sl_metrics_free(sl_metrics_t *m)
{
    if (!m)
        return;
    sl_metrics_table_t *t = m->tables;
    while (t) {
        sl_metrics_table_t *next = t->next;
        free(t->name);
        free(t);
        t = next;
    }
    pthread_mutex_destroy(&m->mu);
    free(m);
}

sl_metrics_table_t *sl_metrics_table(sl_metrics_t *m, const char *qualified)
{
    pthread_mutex_lock(&m->mu);
    sl_metrics_table_t **at = &m->tables;
    while (*at && strcmp((*at)->name, qualified) < 0)
        at = &(*at)->next;
    sl_metrics_table_t *t = *at;
    if (!t || strcmp(t->name, qualified) != 0) {
        t = calloc(1, sizeof(*t));
        if (!t || !(t->name = strdup(qualified)))
            abort();
        t->next = *at;
        /* readers walk the list under the same mutex, so a plain store is enough */
        *at = t;
    }
    pthread_mutex_unlock(&m->mu);
    return t;
}

void sl_metrics_error(sl_metrics_t *m, sl_metric_err_t kind)
{
    if ((unsigned)kind < SL_METRIC_ERR_N)
        atomic_fetch_add(&m->errors[kind], 1);
}

void sl_metrics_set_state(sl_metrics_t *m, sl_conn_state_t state)
{
    atomic_store(&m->state, (int)state);
}

sl_conn_state_t sl_metrics_state(const sl_metrics_t *m)
{
    return (sl_conn_state_t)atomic_load(&((sl_metrics_t *)m)->state);
}

void sl_metrics_restarted(sl_metrics_t *m)
{
    atomic_fetch_add(&m->restarts, 1);
}

void sl_metrics_queue(sl_metrics_t *m, size_t depth, size_t capacity)
{
    atomic_store(&m->queue_depth, (int64_t)depth);
    atomic_store(&m->queue_cap, (int64_t)capacity);
}

void sl_metrics_flow_reset(sl_metrics_t *m)
{
    atomic_store(&m->inflight, 0);
    atomic_store(&m->oldest_pending_ts, -1);
    atomic_store(&m->queue_depth, 0);
}

void sl_metrics_flow(sl_metrics_t *m, int64_t inflight, int64_t oldest_pending_ts_ms,
                     int64_t last_acked_ts_ms)
{
    atomic_store(&m->inflight, inflight);
    atomic_store(&m->oldest_pending_ts, oldest_pending_ts_ms);
    if (last_acked_ts_ms >= 0)
        atomic_store(&m->last_acked_ts, last_acked_ts_ms);
}

void sl_metrics_bookmark_stored(sl_metrics_t *m, int64_t when_ms)
{
    atomic_store(&m->bookmark_ms, when_ms);
}

void sl_metrics_latency(sl_metrics_t *m, int64_t us, uint64_t weight)
{
    if (!weight)
        return;
    if (us < 0)
        us = 0;
    size_t i = 0;
    while (i < NBUCKETS && us > lat_le_us[i])
        i++;
    atomic_fetch_add(&m->lat_buckets[i], weight);
    atomic_fetch_add(&m->lat_count, weight);
    atomic_fetch_add(&m->lat_sum_us, (uint64_t)us * weight);
}

static int gauge_name_ok(const char *s)
{
    if (!s || !(*s >= 'a' && *s <= 'z'))
        return 0;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '_'))
            return 0;
    return 1;
}

int sl_metrics_gauge(sl_metrics_t *m, const char *name, const char *help, double value)
{
    if (!gauge_name_ok(name))
        return -1;
    uint64_t bits;
    memcpy(&bits, &value, sizeof(bits));
    pthread_mutex_lock(&m->mu);
    size_t n = atomic_load(&m->ngauges), i;
    for (i = 0; i < n; i++)
        if (m->gauges[i].name == name || strcmp(m->gauges[i].name, name) == 0)
            break;
    if (i == n) {
        if (n == SL_METRICS_MAX_GAUGES) {
            pthread_mutex_unlock(&m->mu);
            return -1;
        }
        m->gauges[i].name = name;
        m->gauges[i].help = help ? help : "";
        atomic_store(&m->ngauges, n + 1);
    }
    atomic_store(&m->gauges[i].bits, bits);
    pthread_mutex_unlock(&m->mu);
    return 0;
}

double sl_metrics_lag_seconds(const sl_metrics_t *cm, int64_t now_ms)
{
    sl_metrics_t *m = (sl_metrics_t *)cm;
    int64_t oldest = atomic_load(&m->oldest_pending_ts);
    /* nothing in flight: a quiet source is not behind, however old its last change */
    if (atomic_load(&m->inflight) <= 0 || oldest < 0)
        return 0;
    return now_ms > oldest ? (double)(now_ms - oldest) / 1000.0 : 0;
}

double sl_metrics_bookmark_age_seconds(const sl_metrics_t *cm, int64_t now_ms)
{
    int64_t at = atomic_load(&((sl_metrics_t *)cm)->bookmark_ms);
    if (at < 0)
        return -1;
    return now_ms > at ? (double)(now_ms - at) / 1000.0 : 0;
}

uint64_t sl_metrics_events_total(sl_metrics_t *m)
{
    uint64_t sum = 0;
    pthread_mutex_lock(&m->mu);
    for (sl_metrics_table_t *t = m->tables; t; t = t->next)
        for (int i = 0; i < SL_METRICS_OPS; i++)
            sum += atomic_load_explicit(&t->events[i], memory_order_relaxed);
    pthread_mutex_unlock(&m->mu);
    return sum;
}

size_t sl_metrics_queue_depth(const sl_metrics_t *m)
{
    return (size_t)atomic_load(&((sl_metrics_t *)m)->queue_depth);
}

/* ---- exposition ---- */

/* A label value: backslash, double quote and line feed escaped (the format's rules). */
static void put_label(sl_buf_t *out, const char *s)
{
    for (; *s; s++) {
        if (*s == '\\')
            sl_buf_puts(out, "\\\\");
        else if (*s == '"')
            sl_buf_puts(out, "\\\"");
        else if (*s == '\n')
            sl_buf_puts(out, "\\n");
        else
            sl_buf_putc(out, *s);
    }
}

/* A sample value as the format spells it (NaN, +Inf, -Inf, else Go-parsable). */
static void put_value(sl_buf_t *out, double v)
{
    if (isnan(v))
        sl_buf_puts(out, "NaN");
    else if (isinf(v))
        sl_buf_puts(out, v > 0 ? "+Inf" : "-Inf");
    else
        sl_buf_put_double(out, v);
}

static void family(sl_buf_t *out, const char *name, const char *type, const char *help)
{
    sl_buf_printf(out, "# HELP %s ", name);
    /* HELP text escapes backslash and line feed */
    for (const char *s = help; *s; s++) {
        if (*s == '\\')
            sl_buf_puts(out, "\\\\");
        else if (*s == '\n')
            sl_buf_puts(out, "\\n");
        else
            sl_buf_putc(out, *s);
    }
    sl_buf_printf(out, "\n# TYPE %s %s\n", name, type);
}

/* `name{connector="c"` — the caller adds further labels and closes the brace. */
static void sample_start(sl_buf_t *out, const char *name, const char *connector)
{
    sl_buf_printf(out, "%s{connector=\"", name);
    put_label(out, connector);
    sl_buf_putc(out, '"');
}

static void sample_u64(sl_buf_t *out, const char *name, const char *connector, uint64_t v)
{
    sample_start(out, name, connector);
    sl_buf_puts(out, "} ");
    sl_buf_put_u64(out, v);
    sl_buf_putc(out, '\n');
}

static void sample_double(sl_buf_t *out, const char *name, const char *connector,
                          double v)
{
    sample_start(out, name, connector);
    sl_buf_puts(out, "} ");
    put_value(out, v);
    sl_buf_putc(out, '\n');
}

static void expose_tables(sl_buf_t *out, const char *name, const char *connector,
                          sl_metrics_t *m, int bytes)
{
    pthread_mutex_lock(&m->mu);
    for (sl_metrics_table_t *t = m->tables; t; t = t->next) {
        for (int i = 0; i < SL_METRICS_OPS; i++) {
            uint64_t v = atomic_load_explicit(bytes ? &t->bytes[i] : &t->events[i],
                                              memory_order_relaxed);
            if (!v && !atomic_load_explicit(&t->events[i], memory_order_relaxed))
                continue; /* an op never seen on this table: no series */
            sample_start(out, name, connector);
            sl_buf_puts(out, ",table=\"");
            put_label(out, t->name);
            sl_buf_printf(out, "\",op=\"%s\"} ", op_names[i]);
            sl_buf_put_u64(out, v);
            sl_buf_putc(out, '\n');
        }
    }
    pthread_mutex_unlock(&m->mu);
}

static void expose_histogram(sl_buf_t *out, const char *connector, sl_metrics_t *m)
{
    uint64_t cum = 0;
    for (size_t i = 0; i <= NBUCKETS; i++) {
        cum += atomic_load(&m->lat_buckets[i]);
        sample_start(out, "sluice_connector_delivery_latency_seconds_bucket", connector);
        sl_buf_printf(out, ",le=\"%s\"} ", i < NBUCKETS ? lat_le_text[i] : "+Inf");
        sl_buf_put_u64(out, cum);
        sl_buf_putc(out, '\n');
    }
    sample_start(out, "sluice_connector_delivery_latency_seconds_sum", connector);
    sl_buf_puts(out, "} ");
    put_value(out, (double)atomic_load(&m->lat_sum_us) / 1e6);
    sl_buf_putc(out, '\n');
    sample_u64(out, "sluice_connector_delivery_latency_seconds_count", connector,
               atomic_load(&m->lat_count));
}

/* The value of m's source gauge `name`; 0 when m has none. Call with m->mu held. */
static int find_gauge(sl_metrics_t *m, const char *name, double *v)
{
    size_t n = atomic_load(&m->ngauges);
    for (size_t i = 0; i < n; i++) {
        if (strcmp(m->gauges[i].name, name) == 0) {
            uint64_t bits = atomic_load(&m->gauges[i].bits);
            memcpy(v, &bits, sizeof(*v));
            return 1;
        }
    }
    return 0;
}

static void expose_gauges(sl_buf_t *out, const char *const *names,
                          sl_metrics_t *const *ms, size_t n)
{
    /* each distinct gauge name is one family across every connector that has it; the
     * names are collected first so no two connectors' mutexes are ever held at once */
    const char *gname[SL_METRICS_MAX_GAUGES * 4], *ghelp[SL_METRICS_MAX_GAUGES * 4];
    size_t ng = 0;
    for (size_t i = 0; i < n; i++) {
        pthread_mutex_lock(&ms[i]->mu);
        size_t cnt = atomic_load(&ms[i]->ngauges);
        for (size_t j = 0; j < cnt; j++) {
            size_t k = 0;
            while (k < ng && strcmp(gname[k], ms[i]->gauges[j].name) != 0)
                k++;
            if (k == ng && ng < sizeof(gname) / sizeof(gname[0])) {
                gname[ng] = ms[i]->gauges[j].name;
                ghelp[ng++] = ms[i]->gauges[j].help;
            }
        }
        pthread_mutex_unlock(&ms[i]->mu);
    }
    sl_buf_t full = SL_BUF_INIT;
    for (size_t k = 0; k < ng; k++) {
        sl_buf_reset(&full);
        sl_buf_printf(&full, "sluice_%s", gname[k]);
        family(out, full.data, "gauge", ghelp[k]);
        for (size_t i = 0; i < n; i++) {
            double v;
            pthread_mutex_lock(&ms[i]->mu);
            int has = find_gauge(ms[i], gname[k], &v);
            pthread_mutex_unlock(&ms[i]->mu);
            if (has)
                sample_double(out, full.data, names[i], v);
        }
    }
    sl_buf_free(&full);
}

void sl_metrics_expose(sl_buf_t *out, const char *worker, const char *const *names,
                       sl_metrics_t *const *ms, size_t n, int64_t now_ms)
{
    family(out, "sluice_build_info", "gauge",
           "Always 1; the labels name the sluice version and the worker.");
    sl_buf_printf(out, "sluice_build_info{version=\"%s\",worker=\"", SLUICE_VERSION);
    put_label(out, worker ? worker : "");
    sl_buf_puts(out, "\"} 1\n");

    family(out, "sluice_connector_state", "gauge",
           "1 for the state the connector is in, 0 for the others.");
    for (size_t i = 0; i < n; i++) {
        int st = atomic_load(&ms[i]->state);
        for (int s = 0; s < SL_CONN_NSTATES; s++) {
            sample_start(out, "sluice_connector_state", names[i]);
            sl_buf_printf(out, ",state=\"%s\"} %d\n", state_names[s], s == st);
        }
    }

    family(out, "sluice_connector_restarts_total", "counter",
           "Times the worker started the connector again after a failure, a restart "
           "request or a changed configuration.");
    for (size_t i = 0; i < n; i++)
        sample_u64(out, "sluice_connector_restarts_total", names[i],
                   atomic_load(&ms[i]->restarts));

    family(
        out, "sluice_connector_events_total", "counter",
        "Change events emitted by the source, by table and op (c, u, d, r, t); a replay "
        "after a restart counts again.");
    for (size_t i = 0; i < n; i++)
        expose_tables(out, "sluice_connector_events_total", names[i], ms[i], 0);

    family(out, "sluice_connector_event_bytes_total", "counter",
           "Bytes of encoded envelopes (key and value), by table and op.");
    for (size_t i = 0; i < n; i++)
        expose_tables(out, "sluice_connector_event_bytes_total", names[i], ms[i], 1);

    family(out, "sluice_connector_errors_total", "counter",
           "Errors by kind: source (transient, the source reconnects), sink (transient, "
           "the write is retried), fatal (the connector failed and is restarted).");
    for (size_t i = 0; i < n; i++) {
        for (int k = 0; k < SL_METRIC_ERR_N; k++) {
            sample_start(out, "sluice_connector_errors_total", names[i]);
            sl_buf_printf(out, ",kind=\"%s\"} ", err_names[k]);
            sl_buf_put_u64(out, atomic_load(&ms[i]->errors[k]));
            sl_buf_putc(out, '\n');
        }
    }

    family(out, "sluice_connector_queue_batches", "gauge",
           "Batches waiting between the source and the sink.");
    for (size_t i = 0; i < n; i++)
        sample_u64(out, "sluice_connector_queue_batches", names[i],
                   (uint64_t)atomic_load(&ms[i]->queue_depth));
    family(out, "sluice_connector_queue_capacity_batches", "gauge",
           "Batches the queue holds before the source has to wait (backpressure).");
    for (size_t i = 0; i < n; i++)
        sample_u64(out, "sluice_connector_queue_capacity_batches", names[i],
                   (uint64_t)atomic_load(&ms[i]->queue_cap));

    family(out, "sluice_connector_inflight_events", "gauge",
           "Events handed to the sink and not yet acknowledged as durable.");
    for (size_t i = 0; i < n; i++) {
        int64_t v = atomic_load(&ms[i]->inflight);
        sample_u64(out, "sluice_connector_inflight_events", names[i],
                   v > 0 ? (uint64_t)v : 0);
    }

    family(out, "sluice_connector_lag_seconds", "gauge",
           "Now minus the source commit time of the oldest event the sink has not yet "
           "acknowledged; 0 when nothing is in flight.");
    for (size_t i = 0; i < n; i++)
        sample_double(out, "sluice_connector_lag_seconds", names[i],
                      sl_metrics_lag_seconds(ms[i], now_ms));

    family(out, "sluice_connector_last_acked_commit_timestamp_seconds", "gauge",
           "Source commit time (Unix seconds) of the last event the sink acknowledged.");
    for (size_t i = 0; i < n; i++) {
        int64_t ts = atomic_load(&ms[i]->last_acked_ts);
        if (ts >= 0)
            sample_double(out, "sluice_connector_last_acked_commit_timestamp_seconds",
                          names[i], (double)ts / 1000.0);
    }

    family(out, "sluice_connector_bookmark_age_seconds", "gauge",
           "Seconds since the connector's bookmark was last stored.");
    for (size_t i = 0; i < n; i++) {
        double age = sl_metrics_bookmark_age_seconds(ms[i], now_ms);
        if (age >= 0)
            sample_double(out, "sluice_connector_bookmark_age_seconds", names[i], age);
    }

    family(out, "sluice_connector_delivery_latency_seconds", "histogram",
           "Time from the source emitting an event (the first of its batch) to the sink "
           "acknowledging it as durable.");
    for (size_t i = 0; i < n; i++)
        expose_histogram(out, names[i], ms[i]);

    expose_gauges(out, names, ms, n);
}
