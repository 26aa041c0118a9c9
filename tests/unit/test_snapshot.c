/* sluice unit tests: snapshot bookkeeping (core/snapshot.c) and the pipeline's snapshot
 * checkpoints: the plan's bookmark form and its corruptions, key text, row positions,
 * key sets, and which progress document a stored bookmark carries. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>
#include <jansson.h>
#include "config/config.h"
#include "core/bookmark.h"
#include "core/pipeline.h"
#include "core/snapshot.h"

static void test_plan_round_trip(void **state)
{
    (void)state;
    sl_snap_plan_t p, q;
    sl_snap_plan_init(&p);
    p.phase = SL_SNAP_PHASE_INITIAL;
    p.at = strdup("0/16B3748");
    p.started_ms = 1796173230114;
    p.rows = 12;
    p.estimate = 100;
    sl_snap_unit_t *u = sl_snap_plan_add(&p, "public.a", NULL, NULL, "500");
    u->last_key = strdup("[\"41\"]");
    u->rows = 12;
    sl_snap_plan_add(&p, "public.a", NULL, "500", NULL);
    u = sl_snap_plan_add(&p, "public.\"odd\" name", "v > 'x'", NULL, NULL);
    u->done = 1;
    u->last_key = strdup("[{\"hex\":\"00ff\"},\"b\"]");
    sl_buf_t a = SL_BUF_INIT, b = SL_BUF_INIT;
    sl_snap_plan_to_json(&p, &a);
    char err[512];
    sl_snap_plan_init(&q);
    assert_int_equal(sl_snap_plan_parse(a.data, a.len, &q, err, sizeof(err)), SL_OK);
    sl_snap_plan_to_json(&q, &b);
    assert_string_equal(a.data, b.data);
    assert_int_equal(q.n, 3);
    assert_int_equal(q.phase, SL_SNAP_PHASE_INITIAL);
    assert_string_equal(q.units[0].hi, "500");
    assert_null(q.units[0].lo);
    assert_string_equal(q.units[2].where, "v > 'x'");
    assert_int_equal(sl_snap_plan_remaining(&q), 2);
    assert_true(sl_snap_plan_has_table(&q, "public.a"));
    assert_false(sl_snap_plan_has_table(&q, "public.\"odd\" name"));
    sl_snap_plan_free(&p);
    sl_snap_plan_free(&q);
    assert_int_equal(q.n, 0);
    sl_buf_free(&a);
    sl_buf_free(&b);
}

static void test_plan_corrupt(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "",
        "[]",
        "{\"tables\":[]}",
        "{\"phase\":\"later\",\"tables\":[]}",
        "{\"phase\":\"initial\",\"tables\":{}}",
        "{\"phase\":\"initial\",\"rows\":-1,\"tables\":[]}",
        "{\"phase\":\"initial\",\"tables\":[{\"done\":true}]}",
        "{\"phase\":\"initial\",\"tables\":[{\"table\":\"a.b\",\"done\":1}]}",
        "{\"phase\":\"initial\",\"tables\":[{\"table\":\"a.b\",\"last_key\":5}]}",
        "{\"phase\":\"initial\",\"tables\":[{\"table\":\"a.b\",\"last_key\":[]}]}",
        "{\"phase\":\"initial\",\"tables\":[{\"table\":\"a.b\",\"last_key\":[1]}]}",
        "{\"phase\":\"initial\",\"tables\":[{\"table\":\"a.b\",\"last_key\":[{\"hex\":\"abc\"}]}]}",
        "{\"phase\":\"initial\",\"tables\":[{\"table\":\"a.b\",\"where\":7}]}",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        sl_snap_plan_t p;
        char err[512] = "";
        sl_snap_plan_init(&p);
        assert_int_equal(sl_snap_plan_parse(bad[i], strlen(bad[i]), &p, err, sizeof(err)),
                         SL_ERR_CORRUPT);
        assert_non_null(strstr(err, "snapshot progress is corrupt"));
        assert_non_null(strstr(err, "offsets reset"));
        assert_int_equal(p.n, 0);
    }
}

static void test_key_text(void **state)
{
    (void)state;
    sl_buf_t k = SL_BUF_INIT, v = SL_BUF_INIT;
    const char bin[] = {'a', 0, (char)0xff, 'z'};
    sl_buf_putc(&k, '[');
    sl_snap_key_put(&k, "plain \"q\" \\ é", strlen("plain \"q\" \\ é"));
    sl_buf_putc(&k, ',');
    sl_snap_key_put(&k, bin, sizeof(bin));
    sl_buf_putc(&k, ',');
    sl_snap_key_put(&k, "\xc3\x28", 2); /* invalid UTF-8 */
    sl_buf_putc(&k, ',');
    sl_snap_key_put(&k, "", 0);
    sl_buf_putc(&k, ']');
    assert_string_equal(k.data, "[\"plain \\\"q\\\" \\\\ é\",{\"hex\":\"6100ff7a\"},"
                                "{\"hex\":\"c328\"},\"\"]");
    assert_int_equal(sl_snap_key_get(k.data, 0, &v), 0);
    assert_string_equal(v.data, "plain \"q\" \\ é");
    assert_int_equal(sl_snap_key_get(k.data, 1, &v), 0);
    assert_int_equal(v.len, sizeof(bin));
    assert_memory_equal(v.data, bin, sizeof(bin));
    assert_int_equal(sl_snap_key_get(k.data, 2, &v), 0);
    assert_memory_equal(v.data, "\xc3\x28", 2);
    assert_int_equal(sl_snap_key_get(k.data, 3, &v), 0);
    assert_int_equal(v.len, 0);
    assert_int_equal(sl_snap_key_get(k.data, 4, &v), -1);
    assert_int_equal(sl_snap_key_get("[{\"hex\":\"zz\"}]", 0, &v), -1);
    assert_int_equal(sl_snap_key_get("nope", 0, &v), -1);
    sl_buf_free(&k);
    sl_buf_free(&v);
}

static void test_row_positions(void **state)
{
    (void)state;
    sl_pos_t a, b;
    assert_int_equal(sl_snap_row_pos(1000, 8, 0, 1010, &a), -1);
    assert_int_equal(sl_snap_row_pos(1000, 8, 1, 1010, &a), 0);
    assert_int_equal(a.major, 1001);
    assert_int_equal(a.index, 1);
    assert_int_equal(a.minor, 1010);
    assert_true(a.flags & SL_POS_F_SNAPSHOT);
    assert_int_equal(sl_snap_row_pos(1000, 8, SL_SNAP_INDEX_MAX, 1010, &a), 0);
    assert_int_equal(a.major, 1001);
    assert_int_equal(a.index, SL_SNAP_INDEX_MAX);
    assert_int_equal(sl_snap_row_pos(1000, 8, (uint64_t)SL_SNAP_INDEX_MAX + 1, 1010, &b), 0);
    assert_int_equal(b.major, 1002);
    assert_int_equal(b.index, 1);
    assert_true(sl_pos_cmp(&a, &b) < 0);
    /* every row sorts below the done position of the last major and never is one */
    assert_int_equal(sl_snap_row_pos(1000, 8, 8 * (uint64_t)SL_SNAP_INDEX_MAX, 1010, &a), 0);
    assert_int_equal(a.major, 1008);
    assert_true(a.index != SL_POS_DONE);
    assert_int_equal(sl_snap_row_pos(1000, 8, 8 * (uint64_t)SL_SNAP_INDEX_MAX + 1, 1010, &a),
                     -1);
}

static void test_keyset(void **state)
{
    (void)state;
    sl_snap_keyset_t k = {0};
    assert_false(sl_snap_keyset_has(&k, "{\"id\":1}", 8));
    char key[32];
    for (int i = 0; i < 5000; i++) {
        int n = snprintf(key, sizeof(key), "{\"id\":%d}", i * 7);
        sl_snap_keyset_add(&k, key, (size_t)n);
        sl_snap_keyset_add(&k, key, (size_t)n); /* twice: kept once */
    }
    assert_int_equal(k.n, 5000);
    for (int i = 0; i < 35000; i++) {
        int n = snprintf(key, sizeof(key), "{\"id\":%d}", i);
        assert_int_equal(sl_snap_keyset_has(&k, key, (size_t)n), i % 7 == 0);
    }
    assert_false(sl_snap_keyset_has(&k, "{\"id\":7", 7)); /* a prefix is another key */
    sl_snap_keyset_clear(&k);
    assert_false(sl_snap_keyset_has(&k, "{\"id\":7}", 8));
    sl_snap_keyset_add(&k, "x", 1);
    assert_true(sl_snap_keyset_has(&k, "x", 1));
    sl_snap_keyset_free(&k);
}

/* ---- checkpoints through a pipeline with a scripted source and sink ---- */

typedef struct fake {
    sl_pipeline_t *pipe;
    sl_sink_env_t *env;
    const sl_table_t *table;
    atomic_int emitted, written, done;
    sl_pos_t acked_upto; /* the sink acknowledges up to here (guarded by release) */
    atomic_int release;  /* index of the last record to acknowledge */
} fake_t;

static fake_t F;

static sl_err_t src_create(const struct sl_connector_config *cfg, sl_source_env_t *env,
                           void **ctx, char *err, size_t errlen)
{
    (void)cfg, (void)err, (void)errlen;
    F.pipe = env;
    sl_table_t *t = sl_table_new("shop", "public", "t");
    sl_table_add_column(t, "id", "int4", 23, -1, SL_JT_INT, 0, 1);
    F.table = sl_schema_cache_intern(sl_pipe_schemas(env), t);
    *ctx = &F;
    return SL_OK;
}

/* Rows 1..6 with a checkpoint after rows 2 and 4, and "done" (NULL) after row 6. */
static sl_err_t src_run(void *ctx, char *err, size_t errlen)
{
    (void)ctx, (void)err, (void)errlen;
    for (int i = 1; i <= 6 && !atomic_load(&F.done); i++) {
        sl_value_t v = {.kind = SL_V_INT, .v.i = i};
        sl_change_t c = {.op = 'r', .table = F.table, .after = &v, .snapshot = "true"};
        sl_pos_t pos = {.major = 100, .index = (uint32_t)i, .minor = 101,
                        .flags = SL_POS_F_SNAPSHOT};
        if (sl_pipe_emit(F.pipe, &c, &pos))
            return SL_ERR_STOPPED;
        if (i == 2)
            sl_pipe_checkpoint(F.pipe, &pos, "{\"after\":2}", 11);
        if (i == 4)
            sl_pipe_checkpoint(F.pipe, &pos, "{\"after\":4}", 11);
        if (i == 6)
            sl_pipe_checkpoint(F.pipe, &pos, NULL, 0);
        atomic_fetch_add(&F.emitted, 1);
    }
    sl_pipe_flush(F.pipe);
    atomic_store(&F.done, 1);
    while (!sl_pipe_stopping(F.pipe))
        sl_pipe_sleep(F.pipe, 5);
    return SL_ERR_STOPPED;
}

static void src_destroy(void *ctx)
{
    (void)ctx;
}

static void src_render(void *ctx, const sl_pos_t *pos, sl_buf_t *out)
{
    (void)ctx;
    sl_buf_printf(out, "\"i\":%u", pos->index);
}

static sl_err_t src_parse(const char *json, size_t len, sl_pos_t *pos, char *err,
                          size_t errlen)
{
    json_t *r = json_loadb(json, len, 0, NULL);
    json_t *i = json_object_get(r, "i");
    sl_err_t rc = json_is_integer(i) ? SL_OK
                                     : sl_err_set(err, errlen, SL_ERR_CORRUPT, "no \"i\"");
    memset(pos, 0, sizeof(*pos));
    pos->major = 100;
    pos->index = (uint32_t)json_integer_value(i);
    json_decref(r);
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
    (void)cfg, (void)resume, (void)err, (void)errlen;
    F.env = env;
    *ctx = &F;
    return SL_OK;
}

/* Acknowledge the records up to F.release (the test moves it). */
static void ack_released(void)
{
    int n = atomic_load(&F.release);
    if (n <= 0)
        return;
    sl_pos_t p = {.major = 100, .index = (uint32_t)n, .minor = 101,
                  .flags = SL_POS_F_SNAPSHOT};
    F.env->ack(F.env, &p);
}

static sl_err_t sink_write(void *ctx, const sl_batch_t *b, char *err, size_t errlen)
{
    (void)ctx, (void)err, (void)errlen;
    atomic_fetch_add(&F.written, (int)b->n);
    ack_released();
    return SL_OK;
}

static sl_err_t sink_tick(void *ctx, int64_t now_ms, char *err, size_t errlen)
{
    (void)ctx, (void)now_ms, (void)err, (void)errlen;
    ack_released();
    return SL_OK;
}

static sl_err_t sink_flush(void *ctx, char *err, size_t errlen)
{
    (void)ctx, (void)err, (void)errlen;
    ack_released();
    return SL_OK;
}

static void sink_destroy(void *ctx)
{
    (void)ctx;
}

static const sl_sink_ops_t fake_sink = {
    .name = "fake",
    .create = sink_create,
    .write = sink_write,
    .tick = sink_tick,
    .flush = sink_flush,
    .destroy = sink_destroy,
};

/* The stored bookmark's "snapshot" member as compact text ("null" when null), once the
 * bookmark names record `upto`. */
static char *stored_snapshot(const char *dir, int upto)
{
    for (int i = 0; i < 300; i++) {
        char *doc = NULL, err[256];
        if (sl_bookmark_load(dir, "ck", &doc, err, sizeof(err)) == SL_OK && doc) {
            json_t *r = json_loads(doc, 0, NULL);
            free(doc);
            if (json_integer_value(json_object_get(r, "i")) == upto) {
                char *s = json_dumps(json_object_get(r, "snapshot"),
                                     JSON_COMPACT | JSON_ENCODE_ANY);
                json_decref(r);
                return s;
            }
            json_decref(r);
        }
        usleep(10000);
    }
    return NULL;
}

static void test_checkpoints(void **state)
{
    (void)state;
    char dir[] = "/tmp/sluice-snap-XXXXXX";
    assert_non_null(mkdtemp(dir));
    memset(&F, 0, sizeof(F));
    sl_connector_config_t cc = {.name = "ck"};
    cc.source.type = "fake";
    cc.sink.type = "fake";
    char err[512];
    sl_err_t rc;
    sl_pipeline_t *p =
        sl_pipeline_create(&cc, dir, &fake_source, &fake_sink, &rc, err, sizeof(err));
    assert_non_null(p);
    assert_null(sl_pipe_resume_snapshot(p));
    assert_int_equal(sl_pipeline_start(p, err, sizeof(err)), SL_OK);
    for (int i = 0; i < 300 && atomic_load(&F.written) < 6; i++)
        usleep(10000);
    assert_int_equal(atomic_load(&F.written), 6);
    /* durable up to row 3: the progress checkpointed after row 2 */
    atomic_store(&F.release, 3);
    char *s = stored_snapshot(dir, 3);
    assert_non_null(s);
    assert_string_equal(s, "{\"after\":2}");
    free(s);
    sl_buf_t b = SL_BUF_INIT;
    /* the pipeline's own copy follows the file a moment later */
    for (int i = 0; i < 100 && !sl_pipeline_snapshot(p, &b); i++)
        usleep(10000);
    assert_non_null(b.data);
    assert_string_equal(b.data, "{\"after\":2}");
    /* up to row 5: the one after row 4; up to 6: the snapshot is over */
    atomic_store(&F.release, 5);
    s = stored_snapshot(dir, 5);
    assert_non_null(s);
    assert_string_equal(s, "{\"after\":4}");
    free(s);
    atomic_store(&F.release, 6);
    s = stored_snapshot(dir, 6);
    assert_non_null(s);
    assert_string_equal(s, "null");
    free(s);
    for (int i = 0; i < 100; i++) {
        sl_buf_reset(&b);
        if (!sl_pipeline_snapshot(p, &b))
            break;
        usleep(10000);
    }
    sl_buf_reset(&b);
    assert_int_equal(sl_pipeline_snapshot(p, &b), 0);
    sl_pipeline_stop(p);
    assert_int_equal(sl_pipeline_wait(p, err, sizeof(err)), SL_OK);
    sl_pipeline_destroy(p);

    /* a bookmark stored with progress gives it back; a malformed member is refused */
    const char *with = "{\"i\":2,\"schemas\":{},\"snapshot\":{\"phase\":\"initial\",\"tables\":[]}}";
    assert_int_equal(sl_bookmark_store(dir, "ck", with, strlen(with), err, sizeof(err)), SL_OK);
    p = sl_pipeline_create(&cc, dir, &fake_source, &fake_sink, &rc, err, sizeof(err));
    assert_non_null(p);
    assert_string_equal(sl_pipe_resume_snapshot(p), "{\"phase\":\"initial\",\"tables\":[]}");
    sl_pipeline_destroy(p);
    const char *bad = "{\"i\":2,\"schemas\":{},\"snapshot\":5}";
    assert_int_equal(sl_bookmark_store(dir, "ck", bad, strlen(bad), err, sizeof(err)), SL_OK);
    assert_null(sl_pipeline_create(&cc, dir, &fake_source, &fake_sink, &rc, err, sizeof(err)));
    assert_int_equal(rc, SL_ERR_CORRUPT);
    assert_non_null(strstr(err, "\"snapshot\""));
    sl_buf_free(&b);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plan_round_trip), cmocka_unit_test(test_plan_corrupt),
        cmocka_unit_test(test_key_text),        cmocka_unit_test(test_row_positions),
        cmocka_unit_test(test_keyset),          cmocka_unit_test(test_checkpoints),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
