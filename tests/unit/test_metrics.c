/* sluice: unit tests of the metrics: the Prometheus text exposition (checked line by line
 * against the 0.0.4 format), lag and latency, and a pipeline paused, resumed and stopped.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <ctype.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "config/config.h"
#include "core/bookmark.h"
#include "core/metrics.h"
#include "core/pipeline.h"

/* ---- a validator for the text format ---- */

static int valid_name(const char *s, size_t n)
{
    if (!n || !(isalpha((unsigned char)s[0]) || s[0] == '_' || s[0] == ':'))
        return 0;
    for (size_t i = 1; i < n; i++)
        if (!(isalnum((unsigned char)s[i]) || s[i] == '_' || s[i] == ':'))
            return 0;
    return 1;
}

/* Check one exposition: every sample belongs to the family whose TYPE came last, no
 * family appears twice, labels are well-formed and escaped, values parse, histogram
 * buckets are cumulative and end with +Inf equal to _count. Fails the test with the line
 * otherwise. */
static void check_exposition(const char *text)
{
    char family[128] = "", type[32] = "";
    char seen[64][128];
    size_t nseen = 0;
    double last_bucket = -1;
    const char *line = text;
    assert_true(text[strlen(text) - 1] == '\n');
    while (*line) {
        const char *end = strchr(line, '\n');
        assert_non_null(end);
        size_t len = (size_t)(end - line);
        char buf[1024];
        assert_true(len < sizeof(buf));
        memcpy(buf, line, len);
        buf[len] = 0;
        if (!strncmp(buf, "# HELP ", 7)) {
            const char *n = buf + 7;
            size_t nl = strcspn(n, " ");
            if (!valid_name(n, nl))
                fail_msg("bad HELP name: %s", buf);
            snprintf(family, sizeof(family), "%.*s", (int)nl, n);
            for (size_t i = 0; i < nseen; i++)
                if (!strcmp(seen[i], family))
                    fail_msg("family %s appears twice", family);
            assert_true(nseen < 64);
            snprintf(seen[nseen++], sizeof(seen[0]), "%s", family);
            type[0] = 0;
        } else if (!strncmp(buf, "# TYPE ", 7)) {
            char n[128], t[32];
            if (sscanf(buf + 7, "%127s %31s", n, t) != 2 || strcmp(n, family) != 0)
                fail_msg("TYPE without its HELP: %s", buf);
            if (strcmp(t, "counter") && strcmp(t, "gauge") && strcmp(t, "histogram"))
                fail_msg("unknown type: %s", buf);
            snprintf(type, sizeof(type), "%s", t);
            last_bucket = -1;
        } else {
            assert_true(buf[0] != '#');
            size_t nl = strcspn(buf, "{ ");
            if (!valid_name(buf, nl))
                fail_msg("bad sample name: %s", buf);
            char name[128];
            snprintf(name, sizeof(name), "%.*s", (int)nl, buf);
            size_t fl = strlen(family);
            int ok = !strcmp(name, family);
            const char *suffix = strncmp(name, family, fl) == 0 ? name + fl : "";
            if (!strcmp(type, "histogram"))
                ok = !strcmp(suffix, "_bucket") || !strcmp(suffix, "_sum") ||
                     !strcmp(suffix, "_count");
            if (!ok || !type[0])
                fail_msg("sample outside its family %s: %s", family, buf);
            const char *p = buf + nl;
            char le[32] = "";
            if (*p == '{') {
                p++;
                while (*p != '}') {
                    size_t kl = strcspn(p, "=");
                    if (!valid_name(p, kl) || p[kl + 1] != '"')
                        fail_msg("bad label: %s", buf);
                    int is_le = kl == 2 && !strncmp(p, "le", 2);
                    p += kl + 2;
                    size_t vl = 0;
                    while (*p != '"') {
                        if (!*p)
                            fail_msg("unterminated label value: %s", buf);
                        if (*p == '\\') {
                            p++;
                            if (*p != '\\' && *p != '"' && *p != 'n')
                                fail_msg("bad escape: %s", buf);
                        }
                        if (is_le && vl < sizeof(le) - 1)
                            le[vl++] = *p;
                        p++;
                    }
                    le[vl] = 0;
                    p++;
                    if (*p == ',')
                        p++;
                    else if (*p != '}')
                        fail_msg("bad label list: %s", buf);
                }
                p++;
            }
            if (*p != ' ')
                fail_msg("no value: %s", buf);
            p++;
            double v;
            if (!strcmp(p, "+Inf") || !strcmp(p, "-Inf") || !strcmp(p, "NaN")) {
                v = 0;
            } else {
                char *e;
                v = strtod(p, &e);
                if (e == p || *e)
                    fail_msg("bad value: %s", buf);
            }
            if (!strcmp(suffix, "_bucket")) {
                if (!le[0])
                    fail_msg("bucket without le: %s", buf);
                if (v < last_bucket)
                    fail_msg("buckets not cumulative: %s", buf);
                last_bucket = v;
            } else if (!strcmp(suffix, "_count") && !strcmp(type, "histogram")) {
                if (v != last_bucket)
                    fail_msg("_count differs from the +Inf bucket: %s", buf);
                last_bucket = -1;
            }
        }
        line = end + 1;
    }
}

static const char *find_line(const char *text, const char *prefix)
{
    const char *p = text;
    size_t n = strlen(prefix);
    while (p && *p) {
        if (!strncmp(p, prefix, n))
            return p;
        p = strchr(p, '\n');
        if (p)
            p++;
    }
    return NULL;
}

static void assert_line(const char *text, const char *line)
{
    char want[512];
    snprintf(want, sizeof(want), "%s\n", line);
    if (!strstr(text, want))
        fail_msg("exposition lacks the line: %s\n--- got:\n%s", line, text);
}

/* ---- exposition ---- */

static void test_exposition_format(void **state)
{
    sl_metrics_t *a = sl_metrics_new(), *b = sl_metrics_new();
    sl_metrics_table_t *t = sl_metrics_table(a, "public.orders");
    assert_ptr_equal(t, sl_metrics_table(a, "public.orders")); /* stable */
    for (int i = 0; i < 3; i++)
        sl_metrics_count(t, 'c', 100);
    sl_metrics_count(t, 'u', 50);
    sl_metrics_count(t, 'x', 7); /* not an op: ignored */
    /* a table name that needs every escape the format has */
    sl_metrics_table_t *odd = sl_metrics_table(a, "we\"ird\\sch.ta\nble");
    sl_metrics_count(odd, 'd', 1);
    sl_metrics_count(sl_metrics_table(b, "db.items"), 'r', 10);
    sl_metrics_error(a, SL_METRIC_ERR_SOURCE);
    sl_metrics_error(a, SL_METRIC_ERR_SOURCE);
    sl_metrics_error(b, SL_METRIC_ERR_FATAL);
    sl_metrics_set_state(a, SL_CONN_RUNNING);
    sl_metrics_set_state(b, SL_CONN_FAILED);
    sl_metrics_restarted(b);
    sl_metrics_queue(a, 3, 8);
    sl_metrics_latency(a, 700, 2);       /* 0.7 ms */
    sl_metrics_latency(a, 2000000, 1);   /* 2 s */
    sl_metrics_latency(a, 999000000, 1); /* beyond the last bucket */
    sl_metrics_bookmark_stored(a, 1000000);
    assert_int_equal(sl_metrics_gauge(a, "postgres_slot_lag_bytes", "Slot lag.", 4096),
                     0);
    assert_int_equal(sl_metrics_gauge(b, "postgres_slot_lag_bytes", "Slot lag.", 0.5), 0);
    assert_int_equal(sl_metrics_gauge(b, "mysql_binlog_headroom_bytes", "Headroom.", 7),
                     0);
    assert_int_equal(sl_metrics_gauge(a, "Bad-Name", "x", 1), -1);
    assert_int_equal(sl_metrics_gauge(a, "", "x", 1), -1);

    const char *names[] = {"shop", "we\"b"};
    sl_metrics_t *ms[] = {a, b};
    sl_buf_t out = SL_BUF_INIT;
    sl_metrics_expose(&out, "w1", names, ms, 2, 1005000);
    check_exposition(out.data);

    assert_line(out.data, "# TYPE sluice_connector_events_total counter");
    assert_line(
        out.data,
        "sluice_connector_events_total{connector=\"shop\",table=\"public.orders\","
        "op=\"c\"} 3");
    assert_line(
        out.data,
        "sluice_connector_events_total{connector=\"shop\",table=\"public.orders\","
        "op=\"u\"} 1");
    assert_line(
        out.data,
        "sluice_connector_event_bytes_total{connector=\"shop\",table=\"public.orders\","
        "op=\"c\"} 300");
    assert_line(out.data,
                "sluice_connector_events_total{connector=\"shop\",table=\"we\\\"ird"
                "\\\\sch.ta\\nble\",op=\"d\"} 1");
    assert_line(out.data,
                "sluice_connector_events_total{connector=\"we\\\"b\",table=\"db."
                "items\",op=\"r\"} 1");
    /* ops never seen on a table make no series */
    assert_null(strstr(out.data, "table=\"public.orders\",op=\"d\""));
    assert_line(out.data,
                "sluice_connector_errors_total{connector=\"shop\",kind=\"source\"} 2");
    assert_line(out.data,
                "sluice_connector_errors_total{connector=\"we\\\"b\",kind=\"fatal\"} 1");
    assert_line(out.data,
                "sluice_connector_state{connector=\"shop\",state=\"running\"} 1");
    assert_line(out.data,
                "sluice_connector_state{connector=\"shop\",state=\"failed\"} 0");
    assert_line(out.data,
                "sluice_connector_state{connector=\"we\\\"b\",state=\"failed\"} 1");
    assert_line(out.data, "sluice_connector_restarts_total{connector=\"we\\\"b\"} 1");
    assert_line(out.data, "sluice_connector_queue_batches{connector=\"shop\"} 3");
    assert_line(out.data,
                "sluice_connector_queue_capacity_batches{connector=\"shop\"} 8");
    assert_line(out.data, "sluice_connector_bookmark_age_seconds{connector=\"shop\"} 5");
    /* b never stored a bookmark: no series rather than a made-up age */
    assert_null(strstr(out.data, "sluice_connector_bookmark_age_seconds{connector=\"we"));
    assert_line(out.data, "# TYPE sluice_connector_delivery_latency_seconds histogram");
    assert_line(out.data,
                "sluice_connector_delivery_latency_seconds_bucket{connector=\"shop\","
                "le=\"0.001\"} 2");
    assert_line(out.data,
                "sluice_connector_delivery_latency_seconds_bucket{connector=\"shop\","
                "le=\"2.5\"} 3");
    assert_line(out.data,
                "sluice_connector_delivery_latency_seconds_bucket{connector=\"shop\","
                "le=\"300\"} 3");
    assert_line(out.data,
                "sluice_connector_delivery_latency_seconds_bucket{connector=\"shop\","
                "le=\"+Inf\"} 4");
    assert_line(out.data,
                "sluice_connector_delivery_latency_seconds_count{connector=\"shop\"} 4");
    assert_line(out.data,
                "sluice_connector_delivery_latency_seconds_sum{connector=\"shop\"} "
                "1001.0014");
    /* one family per source gauge, across connectors */
    assert_line(out.data, "# TYPE sluice_postgres_slot_lag_bytes gauge");
    assert_line(out.data, "sluice_postgres_slot_lag_bytes{connector=\"shop\"} 4096");
    assert_line(out.data, "sluice_postgres_slot_lag_bytes{connector=\"we\\\"b\"} 0.5");
    assert_line(out.data, "sluice_mysql_binlog_headroom_bytes{connector=\"we\\\"b\"} 7");
    assert_line(out.data,
                "sluice_build_info{version=\"" SLUICE_VERSION "\",worker=\"w1\"} 1");
    /* every family has its HELP before its TYPE */
    assert_non_null(find_line(out.data, "# HELP sluice_connector_lag_seconds "));
    sl_buf_free(&out);

    /* an empty worker is still a valid exposition */
    sl_metrics_expose(&out, "w1", NULL, NULL, 0, 0);
    check_exposition(out.data);
    sl_buf_free(&out);
    sl_metrics_free(a);
    sl_metrics_free(b);
    sl_metrics_free(NULL);
}

static void test_gauge_limit(void **state)
{
    static const char *const names[] = {
        "g_a", "g_b", "g_c", "g_d", "g_e", "g_f", "g_g", "g_h", "g_i",
        "g_j", "g_k", "g_l", "g_m", "g_n", "g_o", "g_p", "g_q",
    };
    sl_metrics_t *m = sl_metrics_new();
    for (size_t i = 0; i < SL_METRICS_MAX_GAUGES; i++)
        assert_int_equal(sl_metrics_gauge(m, names[i], "h", (double)i), 0);
    assert_int_equal(sl_metrics_gauge(m, names[SL_METRICS_MAX_GAUGES], "h", 1), -1);
    /* an existing name is still updated */
    assert_int_equal(sl_metrics_gauge(m, "g_a", "h", 42), 0);
    const char *n[] = {"c"};
    sl_buf_t out = SL_BUF_INIT;
    sl_metrics_expose(&out, "w", n, &m, 1, 0);
    check_exposition(out.data);
    assert_line(out.data, "sluice_g_a{connector=\"c\"} 42");
    sl_buf_free(&out);
    sl_metrics_free(m);
}

static void test_lag(void **state)
{
    sl_metrics_t *m = sl_metrics_new();
    /* nothing in flight: not behind, however old the last change */
    sl_metrics_flow(m, 0, -1, 1000);
    assert_true(sl_metrics_lag_seconds(m, 999999) == 0);
    /* in flight since a commit at t=10s, asked at t=12.5s */
    sl_metrics_flow(m, 5, 10000, -1);
    assert_true(sl_metrics_lag_seconds(m, 12500) == 2.5);
    /* a clock that went backwards is no negative lag */
    assert_true(sl_metrics_lag_seconds(m, 9000) == 0);
    /* a new pipeline instance starts with nothing in flight */
    sl_metrics_flow_reset(m);
    assert_true(sl_metrics_lag_seconds(m, 12500) == 0);
    assert_true(sl_metrics_bookmark_age_seconds(m, 5) == -1);
    sl_metrics_free(m);
}

/* ---- a pipeline with a scripted source and sink ---- */

typedef struct fake {
    atomic_int target; /* the source emits changes 1..target */
    atomic_int emitted;
    atomic_int written;   /* records the sink received */
    atomic_int hold_acks; /* the sink acknowledges only when released */
    atomic_int streaming_seen;
    int64_t commit_ts; /* commit time of every change */
    sl_pos_t last;     /* the last record written (sink thread) */
    int has_last;
    sl_sink_env_t *env;
    sl_pipeline_t *pipe;
    const sl_table_t *table;
} fake_t;

static fake_t F;

static sl_err_t src_create(const struct sl_connector_config *cfg, sl_source_env_t *env,
                           void **ctx, char *err, size_t errlen)
{
    F.pipe = env;
    sl_table_t *t = sl_table_new("shop", "public", "t");
    sl_table_add_column(t, "id", "int4", 23, -1, SL_JT_INT, 0, 1);
    F.table = sl_schema_cache_intern(sl_pipe_schemas(env), t);
    *ctx = &F;
    return SL_OK;
}

static sl_err_t src_run(void *ctx, char *err, size_t errlen)
{
    while (!sl_pipe_stopping(F.pipe)) {
        int n = atomic_load(&F.emitted);
        if (n >= atomic_load(&F.target)) {
            sl_pipe_flush(F.pipe);
            sl_pipe_sleep(F.pipe, 5);
            continue;
        }
        sl_value_t v = {.kind = SL_V_INT, .v.i = n + 1};
        sl_change_t c = {
            .op = 'c', .table = F.table, .after = &v, .commit_ts_ms = F.commit_ts};
        sl_pos_t pos = {.major = (uint64_t)n + 1, .index = 1};
        sl_err_t rc = sl_pipe_emit(F.pipe, &c, &pos);
        if (rc)
            return rc;
        atomic_fetch_add(&F.emitted, 1);
    }
    return SL_ERR_STOPPED;
}

static void src_destroy(void *ctx)
{
}

static void src_render(void *ctx, const sl_pos_t *pos, sl_buf_t *out)
{
    sl_buf_printf(out, "\"n\":%llu", (unsigned long long)pos->major);
}

static sl_err_t src_parse(const char *json, size_t len, sl_pos_t *pos, char *err,
                          size_t errlen)
{
    return sl_err_set(err, errlen, SL_ERR_CORRUPT, "not used");
}

static const sl_source_ops_t fake_source = {
    .name = "fake",
    .connector = "fake",
    .create = src_create,
    .run = src_run,
    .destroy = src_destroy,
    .bookmark_render = src_render,
    .bookmark_parse = src_parse,
};

static sl_err_t sink_create(const struct sl_sink_config *cfg, sl_sink_env_t *env,
                            const sl_pos_t *resume, void **ctx, char *err, size_t errlen)
{
    F.env = env;
    *ctx = &F;
    return SL_OK;
}

static void release(void)
{
    if (F.has_last)
        F.env->ack(F.env, &F.last);
}

static sl_err_t sink_write(void *ctx, const sl_batch_t *b, char *err, size_t errlen)
{
    if (b->n) {
        F.last = b->recs[b->n - 1].pos;
        F.has_last = 1;
    }
    atomic_fetch_add(&F.written, (int)b->n);
    if (!atomic_load(&F.hold_acks))
        release();
    return SL_OK;
}

static sl_err_t sink_tick(void *ctx, int64_t now_ms, char *err, size_t errlen)
{
    if (!atomic_load(&F.hold_acks))
        release();
    return SL_OK;
}

static sl_err_t sink_flush(void *ctx, char *err, size_t errlen)
{
    release();
    return SL_OK;
}

static void sink_destroy(void *ctx)
{
}

static const sl_sink_ops_t fake_sink = {
    .name = "fake",
    .create = sink_create,
    .write = sink_write,
    .tick = sink_tick,
    .flush = sink_flush,
    .destroy = sink_destroy,
};

static int wait_for(atomic_int *v, int want)
{
    for (int i = 0; i < 500; i++) {
        if (atomic_load(v) >= want)
            return 1;
        usleep(10000);
    }
    return 0;
}

static void test_pipeline_pause_and_metrics(void **state)
{
    char dir[] = "/tmp/sluice-metrics-XXXXXX";
    assert_non_null(mkdtemp(dir));
    memset(&F, 0, sizeof(F));
    F.commit_ts = sl_now_ms() - 5000; /* changes committed five seconds ago */
    sl_connector_config_t cc = {.name = "fk"};
    cc.source.type = "fake";
    cc.sink.type = "fake";
    char err[512];
    sl_err_t rc;
    sl_pipeline_t *p =
        sl_pipeline_create(&cc, dir, &fake_source, &fake_sink, &rc, err, sizeof(err));
    assert_non_null(p);
    sl_metrics_t *m = sl_metrics_new();
    sl_pipeline_set_metrics(p, m);
    sl_pipeline_status_t st;
    sl_pipeline_status(p, &st);
    assert_false(st.streaming);
    assert_int_equal(sl_pipeline_start(p, err, sizeof(err)), SL_OK);

    atomic_store(&F.target, 10);
    assert_true(wait_for(&F.written, 10));
    sl_pipeline_status(p, &st);
    assert_true(st.streaming);
    assert_false(st.paused);
    assert_int_equal(sl_metrics_events_total(m), 10);

    /* paused: what was emitted is delivered, nothing more is read */
    sl_pipeline_pause(p, 1);
    atomic_store(&F.target, 20);
    usleep(300000);
    assert_int_equal(atomic_load(&F.written), 10);
    assert_int_equal(atomic_load(&F.emitted), 10);
    sl_pipeline_status(p, &st);
    assert_true(st.paused);

    /* resumed: the rest flows */
    sl_pipeline_pause(p, 0);
    assert_true(wait_for(&F.written, 20));

    /* acks held back: the events are in flight and the lag is their age */
    atomic_store(&F.hold_acks, 1);
    atomic_store(&F.target, 25);
    assert_true(wait_for(&F.written, 25));
    double lag = sl_metrics_lag_seconds(m, sl_now_ms());
    assert_true(lag >= 5.0 && lag < 60.0);
    atomic_store(&F.hold_acks, 0);
    for (int i = 0; i < 200 && sl_metrics_lag_seconds(m, sl_now_ms()) != 0; i++)
        usleep(10000);
    assert_true(sl_metrics_lag_seconds(m, sl_now_ms()) == 0);

    /* a stop while paused ends the blocked source and still commits */
    sl_pipeline_pause(p, 1);
    atomic_store(&F.target, 40);
    usleep(100000);
    sl_pipeline_stop(p);
    assert_int_equal(sl_pipeline_wait(p, err, sizeof(err)), SL_OK);
    assert_int_equal(atomic_load(&F.written), 25);
    sl_buf_t bm = SL_BUF_INIT;
    assert_true(sl_pipeline_bookmark(p, &bm));
    assert_string_equal(bm.data, "{\"n\":25}");
    sl_buf_free(&bm);
    char *doc = NULL;
    assert_int_equal(sl_bookmark_load(dir, "fk", &doc, err, sizeof(err)), SL_OK);
    assert_non_null(doc);
    assert_non_null(strstr(doc, "\"n\":25"));
    free(doc);

    /* what the metrics saw */
    sl_buf_t out = SL_BUF_INIT;
    const char *names[] = {"fk"};
    sl_metrics_expose(&out, "w", names, &m, 1, sl_now_ms());
    check_exposition(out.data);
    assert_line(
        out.data,
        "sluice_connector_events_total{connector=\"fk\",table=\"public.t\",op=\"c\"} 25");
    assert_line(out.data,
                "sluice_connector_delivery_latency_seconds_count{connector=\"fk\"} 25");
    assert_line(out.data, "sluice_connector_inflight_events{connector=\"fk\"} 0");
    assert_non_null(
        find_line(out.data, "sluice_connector_bookmark_age_seconds{connector=\"fk\"}"));
    assert_non_null(find_line(
        out.data, "sluice_connector_last_acked_commit_timestamp_seconds{connector"));
    sl_buf_free(&out);

    sl_pipeline_destroy(p);
    sl_metrics_free(m);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_exposition_format),
        cmocka_unit_test(test_gauge_limit),
        cmocka_unit_test(test_lag),
        cmocka_unit_test(test_pipeline_pause_and_metrics),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
