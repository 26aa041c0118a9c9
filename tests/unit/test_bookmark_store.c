/* sluice: unit tests of the bookmark store interface: the file store behind it (bytes and
 * sentences as before), the pipeline on a store (acked stores only, transient failures)
 * and the bookmarks.* keys. The Kafka store is tested in test_kafka_sink.c (mock
 * cluster). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <jansson.h>
#include "config/config.h"
#include "core/bookmark.h"
#include "core/log.h"
#include "core/pipeline.h"

static char *read_all(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    char *buf = calloc(1, 65536);
    *len = fread(buf, 1, 65535, f);
    fclose(f);
    return buf;
}

/* ---------------------------------------------------------------- the file store */

static void test_file_store(void **state)
{
    char dir[] = "/tmp/sluice-bstore-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char err[1024], *doc = NULL, path[600];
    int64_t ms = -1;
    snprintf(path, sizeof(path), "%s/bookmarks/shop.json", dir);
    sl_bookmark_store_t *st = sl_bookmark_file_store(dir);
    assert_string_equal(st->ops->name, "file");

    assert_int_equal(st->ops->load(st->ctx, "shop", &doc, &ms, err, sizeof(err)), SL_OK);
    assert_null(doc);
    assert_int_equal(ms, 0);

    /* the bytes on disk are what sl_bookmark_store writes: the document and a newline */
    const char *v1 = "{\"lsn\":\"0/10\",\"schemas\":{},\"snapshot\":null}";
    assert_int_equal(st->ops->store(st->ctx, "shop", v1, strlen(v1), err, sizeof(err)),
                     SL_OK);
    size_t n;
    char *bytes = read_all(path, &n);
    assert_int_equal(n, strlen(v1) + 1);
    assert_memory_equal(bytes, v1, strlen(v1));
    assert_int_equal(bytes[n - 1], '\n');
    char dir2[] = "/tmp/sluice-bstore-XXXXXX";
    assert_non_null(mkdtemp(dir2));
    assert_int_equal(sl_bookmark_store(dir2, "shop", v1, strlen(v1), err, sizeof(err)),
                     SL_OK);
    char path2[600];
    snprintf(path2, sizeof(path2), "%s/bookmarks/shop.json", dir2);
    size_t n2;
    char *bytes2 = read_all(path2, &n2);
    assert_int_equal(n, n2);
    assert_memory_equal(bytes, bytes2, n);
    free(bytes);
    free(bytes2);

    /* the load returns the file as it is, and its modification time */
    struct stat sb;
    assert_int_equal(stat(path, &sb), 0);
    assert_int_equal(st->ops->load(st->ctx, "shop", &doc, &ms, err, sizeof(err)), SL_OK);
    assert_non_null(doc);
    assert_int_equal(strlen(doc), strlen(v1) + 1);
    assert_memory_equal(doc, v1, strlen(v1));
    assert_int_equal(ms,
                     (int64_t)sb.st_mtim.tv_sec * 1000 + sb.st_mtim.tv_nsec / 1000000);
    free(doc);

    /* a corrupt file: the same sentence as before the interface existed */
    const char *bad = "{\"lsn\": \"0/1";
    FILE *f = fopen(path, "w");
    fputs(bad, f);
    fclose(f);
    json_error_t jerr;
    assert_null(json_loads(bad, 0, &jerr));
    char want[1024];
    snprintf(
        want, sizeof(want),
        "bookmark %s is corrupt (%s at line %d); it was left untouched: repair it, or "
        "set a position with 'sluice offsets set', or remove it with 'sluice offsets "
        "reset' to start over",
        path, jerr.text, jerr.line);
    doc = NULL;
    assert_int_equal(st->ops->load(st->ctx, "shop", &doc, &ms, err, sizeof(err)),
                     SL_ERR_CORRUPT);
    assert_null(doc);
    assert_string_equal(err, want);
    char err2[1024];
    assert_int_equal(sl_bookmark_load(dir, "shop", &doc, err2, sizeof(err2)),
                     SL_ERR_CORRUPT);
    assert_string_equal(err2, want);
    bytes = read_all(path, &n);
    assert_string_equal(bytes, bad); /* left untouched */
    free(bytes);

    assert_int_equal(st->ops->remove(st->ctx, "shop", err, sizeof(err)), SL_OK);
    assert_int_equal(access(path, F_OK), -1);
    assert_int_equal(st->ops->remove(st->ctx, "shop", err, sizeof(err)), SL_OK);
    assert_int_equal(st->ops->load(st->ctx, "shop", &doc, &ms, err, sizeof(err)), SL_OK);
    assert_null(doc);
    sl_bookmark_store_destroy(st);
    sl_bookmark_store_destroy(NULL);

    /* the shared check: only JSON objects pass */
    assert_int_equal(sl_bookmark_check("{}", 2, "x", "", err, sizeof(err)), SL_OK);
    assert_int_equal(sl_bookmark_check("[1]", 3, "of y", "", err, sizeof(err)),
                     SL_ERR_CORRUPT);
    assert_non_null(strstr(err, "bookmark of y is corrupt (not a JSON object"));
    assert_non_null(strstr(err, "it was left untouched: set a position"));
    assert_int_equal(sl_bookmark_check(NULL, 0, "z", "", err, sizeof(err)),
                     SL_ERR_CORRUPT);

    char cmd[1200];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s' '%s'", dir, dir2);
    assert_int_equal(system(cmd), 0);
}

/* ---------------------------------------------------------------- a pipeline on a store
 */

/* An in-memory store that can be told to fail. */
typedef struct memstore {
    char *doc;            /* the stored document */
    atomic_int stores;    /* successful stores */
    atomic_int attempts;  /* store calls */
    atomic_int transient; /* store answers SL_ERR_RETRY while set */
    sl_err_t load_rc;     /* what load answers (SL_OK: the document) */
    int destroyed;
    char last_connector[64];
    pthread_mutex_t mu;
} memstore_t;

static memstore_t M;

static sl_err_t mem_load(void *ctx, const char *connector, char **json,
                         int64_t *stored_ms, char *err, size_t errlen)
{
    memstore_t *m = ctx;
    snprintf(m->last_connector, sizeof(m->last_connector), "%s", connector);
    *json = NULL;
    *stored_ms = 0;
    if (m->load_rc)
        return sl_err_set(err, errlen, m->load_rc, "load refused");
    if (m->doc) {
        *json = strdup(m->doc);
        *stored_ms = 1700000000000;
    }
    return SL_OK;
}

static sl_err_t mem_store(void *ctx, const char *connector, const char *json, size_t len,
                          char *err, size_t errlen)
{
    memstore_t *m = ctx;
    atomic_fetch_add(&m->attempts, 1);
    if (atomic_load(&m->transient))
        return sl_err_set(err, errlen, SL_ERR_RETRY, "not acknowledged");
    pthread_mutex_lock(&m->mu);
    free(m->doc);
    m->doc = strndup(json, len);
    pthread_mutex_unlock(&m->mu);
    atomic_fetch_add(&m->stores, 1);
    return SL_OK;
}

static sl_err_t mem_remove(void *ctx, const char *connector, char *err, size_t errlen)
{
    return SL_OK;
}

static void mem_destroy(void *ctx)
{
    ((memstore_t *)ctx)->destroyed++;
}

static const sl_bookmark_store_ops_t mem_ops = {
    .name = "mem",
    .load = mem_load,
    .store = mem_store,
    .remove = mem_remove,
    .destroy = mem_destroy,
};

/* A source that emits `target` changes at positions 1..target; a sink that acks at once.
 */
typedef struct fake {
    atomic_int target, emitted;
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
        sl_change_t c = {.op = 'c', .table = F.table, .after = &v, .commit_ts_ms = 1};
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
    json_t *d = json_loadb(json, len, 0, NULL);
    json_t *n = json_object_get(d, "n");
    sl_err_t rc = SL_OK;
    if (!json_is_integer(n))
        rc = sl_err_set(err, errlen, SL_ERR_CORRUPT, "no n");
    else
        *pos = (sl_pos_t){.major = (uint64_t)json_integer_value(n), .index = 1};
    json_decref(d);
    return rc;
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

static sl_err_t sink_write(void *ctx, const sl_batch_t *b, char *err, size_t errlen)
{
    if (b->n)
        F.env->ack(F.env, &b->recs[b->n - 1].pos);
    return SL_OK;
}

static sl_err_t sink_tick(void *ctx, int64_t now_ms, char *err, size_t errlen)
{
    return SL_OK;
}

static sl_err_t sink_flush(void *ctx, char *err, size_t errlen)
{
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

static uint64_t durable(sl_pipeline_t *p)
{
    sl_pos_t pos;
    return sl_pipe_durable(p, &pos) ? pos.major : 0;
}

static int wait_durable(sl_pipeline_t *p, uint64_t want)
{
    for (int i = 0; i < 500; i++) {
        if (durable(p) >= want)
            return 1;
        usleep(10000);
    }
    return 0;
}

static void test_pipeline_on_a_store(void **state)
{
    memset(&F, 0, sizeof(F));
    memset(&M, 0, sizeof(M));
    pthread_mutex_init(&M.mu, NULL);
    M.doc = strdup("{\"n\":3,\"schemas\":{},\"snapshot\":null}");
    sl_connector_config_t cc = {.name = "fk"};
    cc.source.type = "fake";
    cc.sink.type = "fake";
    char err[512];
    sl_err_t rc;
    sl_pipeline_t *p =
        sl_pipeline_create_store(&cc, sl_bookmark_store_new(&mem_ops, &M), &fake_source,
                                 &fake_sink, &rc, err, sizeof(err));
    assert_non_null(p);
    assert_string_equal(M.last_connector, "fk");
    assert_non_null(sl_pipe_resume(p));
    assert_int_equal(sl_pipe_resume(p)->major, 3); /* resumes from the store's document */
    assert_int_equal(sl_pipeline_start(p, err, sizeof(err)), SL_OK);

    atomic_store(&F.target, 10);
    assert_true(wait_durable(p, 10));
    pthread_mutex_lock(&M.mu);
    assert_non_null(strstr(M.doc, "{\"n\":10,\"schemas\":{"));
    assert_non_null(strstr(M.doc, "\"public.t\""));
    assert_non_null(strstr(M.doc, ",\"snapshot\":null}"));
    pthread_mutex_unlock(&M.mu);

    /* stores that are not confirmed: the pipeline streams on, the bookmark stays */
    atomic_store(&M.transient, 1);
    int before = atomic_load(&M.attempts);
    atomic_store(&F.target, 20);
    for (int i = 0; i < 300 && atomic_load(&M.attempts) < before + 2; i++)
        usleep(10000);
    assert_true(atomic_load(&M.attempts) >= before + 2); /* tried again, not given up */
    assert_int_equal(durable(p), 10);
    sl_pipeline_status_t st;
    sl_pipeline_status(p, &st);
    assert_int_equal(st.fail_rc, SL_OK);
    assert_false(st.finished);
    /* confirmed again: the bookmark moves on */
    atomic_store(&M.transient, 0);
    assert_true(wait_durable(p, 20));

    sl_pipeline_stop(p);
    assert_int_equal(sl_pipeline_wait(p, err, sizeof(err)), SL_OK);
    assert_int_equal(M.destroyed, 0);
    sl_pipeline_destroy(p);
    assert_int_equal(M.destroyed, 1); /* the pipeline owned the store */

    /* a corrupt document, a store out of reach: no pipeline, the store destroyed */
    free(M.doc);
    M.doc = strdup("{\"x\":1}");
    M.destroyed = 0;
    assert_null(sl_pipeline_create_store(&cc, sl_bookmark_store_new(&mem_ops, &M),
                                         &fake_source, &fake_sink, &rc, err,
                                         sizeof(err)));
    assert_int_equal(rc, SL_ERR_CORRUPT);
    assert_int_equal(M.destroyed, 1);
    M.load_rc = SL_ERR_RETRY;
    assert_null(sl_pipeline_create_store(&cc, sl_bookmark_store_new(&mem_ops, &M),
                                         &fake_source, &fake_sink, &rc, err,
                                         sizeof(err)));
    assert_int_equal(rc, SL_ERR_RETRY);
    assert_int_equal(M.destroyed, 2);
    free(M.doc);
    pthread_mutex_destroy(&M.mu);
}

/* ---------------------------------------------------------------- the bookmarks keys */

#define HEAD                                                                             \
    "worker: {name: \"w 1\"}\nconnectors:\n  - name: shop\n"                             \
    "    source: {type: postgres, user: u, database: d}\n"

static sl_config_t *parse(const char *yaml, char *err, size_t errlen)
{
    err[0] = 0;
    return sl_config_parse("t.yaml", yaml, strlen(yaml), err, errlen);
}

static void expect_config_error(const char *yaml, const char *want)
{
    char err[1024];
    sl_config_t *c = parse(yaml, err, sizeof(err));
    if (c)
        fail_msg("accepted: %s", yaml);
    if (!strstr(err, want))
        fail_msg("error \"%s\" lacks \"%s\"", err, want);
}

static void test_bookmark_keys(void **state)
{
    char err[1024];
    /* a files sink: brokers given, the topic from the worker's name */
    sl_config_t *c = parse(HEAD "    sink: {type: files, path: ./out}\n"
                                "    bookmarks: {store: kafka, brokers: \"k:9092\", "
                                "kafka: {sasl.password: pw}}\n",
                           err, sizeof(err));
    if (!c)
        fail_msg("%s", err);
    const sl_connector_config_t *cc = &c->connectors[0];
    assert_string_equal(cc->bookmark_store, "kafka");
    assert_string_equal(cc->bookmark_brokers, "k:9092");
    assert_string_equal(cc->bookmark_topic, "w_1.__bookmarks");
    assert_int_equal(cc->nbookmark_kafka, 1);
    sl_buf_t dump = SL_BUF_INIT;
    sl_config_dump(c, &dump);
    assert_null(strstr(dump.data, ": pw")); /* a secret-looking property */
    sl_buf_free(&dump);
    sl_config_free(c);

    /* a Kafka sink: its brokers are the default; a topic of one's own */
    c = parse(HEAD "    sink: {type: kafka, brokers: \"s:9092\"}\n"
                   "    bookmarks: {store: kafka, topic: ops.offsets}\n",
              err, sizeof(err));
    if (!c)
        fail_msg("%s", err);
    assert_string_equal(c->connectors[0].bookmark_brokers, "s:9092");
    assert_string_equal(c->connectors[0].bookmark_topic, "ops.offsets");
    sl_config_free(c);

    /* the file store stays the default and has no Kafka settings */
    c = parse(HEAD "    sink: {type: files, path: ./out}\n", err, sizeof(err));
    assert_non_null(c);
    assert_string_equal(c->connectors[0].bookmark_store, "file");
    assert_null(c->connectors[0].bookmark_topic);
    assert_null(c->connectors[0].bookmark_brokers);
    sl_config_free(c);

    expect_config_error(
        HEAD "    sink: {type: files, path: ./out}\n"
             "    bookmarks: {store: kafka}\n",
        "t.yaml:6: connectors[0].bookmarks.brokers: required key is missing "
        "(needed when bookmarks.store is kafka and the sink is not kafka)");
    expect_config_error(HEAD "    sink: {type: files, path: ./out}\n"
                             "    bookmarks: {brokers: \"k:9092\"}\n",
                        "t.yaml:6: connectors[0].bookmarks.brokers: only used with "
                        "bookmarks.store: kafka");
    expect_config_error(
        HEAD "    sink: {type: kafka, brokers: \"s:9092\"}\n"
             "    bookmarks:\n      store: kafka\n      topic: \"a b\"\n",
        "t.yaml:8: connectors[0].bookmarks.topic: not a Kafka topic name");
    expect_config_error(
        HEAD "    sink: {type: kafka, brokers: \"s:9092\", exactly_once: true}\n"
             "    bookmarks: {store: kafka, topic: shop.__bookmarks}\n",
        "shop.__bookmarks is also where the exactly-once sink keeps its own "
        "bookmarks");
    /* the same topic name on another cluster is another topic */
    c = parse(
        HEAD "    sink: {type: kafka, brokers: \"s:9092\", exactly_once: true}\n"
             "    bookmarks: {store: kafka, topic: shop.__bookmarks, brokers: \"o:1\"}\n",
        err, sizeof(err));
    if (!c)
        fail_msg("%s", err);
    sl_config_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_file_store),
        cmocka_unit_test(test_pipeline_on_a_store),
        cmocka_unit_test(test_bookmark_keys),
    };
    sl_log_setup(0, SL_LOG_ERROR);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
