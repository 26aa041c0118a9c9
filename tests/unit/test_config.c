/* sluice: unit tests of the YAML config loader: values, defaults, every error class with
 * its file:line:key text, ${env:}/${file:} and secrets kept out of errors and dumps. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "config/config.h"
#include "core/buf.h"

#define SENTINEL "S3cr3t-sentinel"

/* A minimal valid connector body (lines 3-9 when the document starts with "connectors:"
 * and "  - name: shop"). */
#define PG_SOURCE "    source:\n      type: postgres\n      user: u\n      database: d\n"
#define FILES_SINK "    sink:\n      type: files\n      path: ./out\n"
#define ONE_CONN "connectors:\n  - name: shop\n" PG_SOURCE FILES_SINK

static sl_config_t *parse(const char *yaml, char *err, size_t errlen)
{
    return sl_config_parse("t.yaml", yaml, strlen(yaml), err, errlen);
}

static sl_config_t *parse_ok(const char *yaml)
{
    char err[512];
    sl_config_t *c = parse(yaml, err, sizeof(err));
    if (!c)
        fail_msg("unexpected error: %s", err);
    return c;
}

/* The config must be rejected with an error containing every given piece (NULL-ended). */
static void expect_error(const char *yaml, ...)
{
    char err[512];
    sl_config_t *c = parse(yaml, err, sizeof(err));
    if (c) {
        sl_config_free(c);
        fail_msg("accepted a config that should fail:\n%s", yaml);
    }
    va_list ap;
    va_start(ap, yaml);
    for (const char *want; (want = va_arg(ap, const char *));) {
        if (!strstr(err, want)) {
            va_end(ap);
            fail_msg("error \"%s\" lacks \"%s\"", err, want);
        }
    }
    va_end(ap);
}

static char *write_temp(const char *content)
{
    char *path = strdup("/tmp/sluice-test-config-XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    size_t n = strlen(content);
    assert_int_equal(write(fd, content, n), (ssize_t)n);
    close(fd);
    return path;
}

static const char full_yaml[] =
    "# every key set\n"
    "worker:\n"
    "  name: w1\n"
    "  data_dir: /tmp/sluice-var\n"
    "  http: 0.0.0.0:9000\n"
    "  log_format: json\n"
    "  log_level: debug\n"
    "connectors:\n"
    "  - name: shop\n"
    "    source:\n"
    "      type: postgres\n"
    "      host: db.local\n"
    "      port: 5433\n"
    "      user: cdc\n"
    "      database: shopdb\n"
    "      slot: shop_slot\n"
    "      publication: shop_pub\n"
    "      create_slot: false\n"
    "      create_publication: no\n"
    "      tables: {include: [public.orders, public.items], exclude: [public.audit]}\n"
    "      snapshot: when_needed\n"
    "      heartbeat: 500ms\n"
    "    sink:\n"
    "      type: files\n"
    "      path: ./out\n"
    "      topic_prefix: shopx\n"
    "      compression: zstd\n"
    "      rotate: {max_bytes: 1GiB, max_seconds: 5m, max_records: 42}\n"
    "      partition: day\n"
    "    bookmarks:\n"
    "      store: kafka\n"
    "      topic: ops.bookmarks\n"
    "      brokers: kb1:9092\n"
    "      kafka: {sasl.username: cdc}\n"
    "  - name: legacy-Mysql\n"
    "    source:\n"
    "      type: mysql\n"
    "      user: repl\n"
    "    sink:\n"
    "      type: kafka\n"
    "      brokers: k1:9092,k2:9092\n"
    "      exactly_once: true\n"
    "      tombstones: false\n"
    "      kafka: {linger.ms: 5, enable.idempotence: true, client.id: sluice}\n";

static void test_full_config(void **state)
{
    sl_config_t *c = parse_ok(full_yaml);
    assert_string_equal(c->worker_name, "w1");
    assert_string_equal(c->data_dir, "/tmp/sluice-var");
    assert_string_equal(c->http, "0.0.0.0:9000");
    assert_int_equal(c->log_format, SL_LOG_JSON);
    assert_string_equal(c->log_level, "debug");
    assert_int_equal(c->nconnectors, 2);

    const sl_connector_config_t *s = &c->connectors[0];
    assert_string_equal(s->name, "shop");
    assert_string_equal(s->file, "t.yaml");
    assert_int_equal(s->line, 9);
    assert_string_equal(s->source.type, "postgres");
    assert_string_equal(s->source.host, "db.local");
    assert_int_equal(s->source.port, 5433);
    assert_string_equal(s->source.user, "cdc");
    assert_null(s->source.password);
    assert_string_equal(s->source.database, "shopdb");
    assert_string_equal(s->source.slot, "shop_slot");
    assert_string_equal(s->source.publication, "shop_pub");
    assert_int_equal(s->source.create_slot, 0);
    assert_int_equal(s->source.create_publication, 0);
    assert_int_equal(s->source.include.n, 2);
    assert_string_equal(s->source.include.v[0], "public.orders");
    assert_string_equal(s->source.include.v[1], "public.items");
    assert_int_equal(s->source.exclude.n, 1);
    assert_string_equal(s->source.exclude.v[0], "public.audit");
    assert_int_equal(s->source.snapshot, SL_SNAP_WHEN_NEEDED);
    assert_int_equal(s->source.heartbeat_ms, 500);
    assert_string_equal(s->sink.type, "files");
    assert_string_equal(s->sink.path, "./out");
    assert_string_equal(s->sink.topic_prefix, "shopx");
    assert_int_equal(s->sink.compression, SL_COMP_ZSTD);
    assert_int_equal(s->sink.rotate_max_bytes, 1LL << 30);
    assert_int_equal(s->sink.rotate_max_ms, 300000);
    assert_int_equal(s->sink.rotate_max_records, 42);
    assert_int_equal(s->sink.partition, SL_PART_DAY);
    assert_string_equal(s->bookmark_store, "kafka");
    assert_string_equal(s->bookmark_topic, "ops.bookmarks");
    assert_string_equal(s->bookmark_brokers, "kb1:9092");
    assert_int_equal(s->nbookmark_kafka, 1);
    assert_string_equal(s->bookmark_kafka[0].key, "sasl.username");

    /* the second connector is mostly defaults */
    const sl_connector_config_t *m = sl_config_connector(c, "legacy-Mysql");
    assert_ptr_equal(m, &c->connectors[1]);
    assert_int_equal(m->line, 35);
    assert_string_equal(m->source.type, "mysql");
    assert_string_equal(m->source.host, "127.0.0.1");
    assert_int_equal(m->source.port, 3306);
    assert_int_equal(m->source.server_id, 5401);
    assert_null(m->source.slot);
    assert_null(m->source.database);
    assert_int_equal(m->source.create_slot, 1);
    assert_int_equal(m->source.include.n, 0);
    assert_int_equal(m->source.snapshot, SL_SNAP_INITIAL);
    assert_int_equal(m->source.heartbeat_ms, 10000);
    assert_string_equal(m->sink.type, "kafka");
    assert_string_equal(m->sink.brokers, "k1:9092,k2:9092");
    assert_string_equal(m->sink.topic_prefix, "legacy-Mysql");
    assert_int_equal(m->sink.exactly_once, 1);
    assert_int_equal(m->sink.tombstones, 0);
    assert_int_equal(m->sink.compression, SL_COMP_NONE);
    assert_int_equal(m->sink.rotate_max_bytes, 64LL << 20);
    assert_int_equal(m->sink.rotate_max_ms, 60000);
    assert_int_equal(m->sink.rotate_max_records, 100000);
    assert_int_equal(m->sink.partition, SL_PART_HOUR);
    assert_string_equal(m->bookmark_store, "file");
    assert_int_equal(m->sink.nkafka, 3);
    assert_string_equal(m->sink.kafka[0].key, "linger.ms");
    assert_string_equal(m->sink.kafka[0].value, "5");
    assert_string_equal(m->sink.kafka[1].key, "enable.idempotence");
    assert_string_equal(m->sink.kafka[1].value, "true");
    assert_string_equal(m->sink.kafka[2].value, "sluice");

    assert_null(sl_config_connector(c, "nope"));
    sl_config_free(c);
    sl_config_free(NULL);
}

static void test_defaults(void **state)
{
    sl_config_t *c =
        parse_ok(ONE_CONN "  - name: Other-One\n" PG_SOURCE "    sink: {type: stdout}\n");
    assert_string_equal(c->worker_name, "sluice");
    assert_string_equal(c->data_dir, "./var");
    assert_null(c->http); /* absent: the worker tries 127.0.0.1:8083, softly */
    assert_null(c->http_token);
    assert_int_equal(c->log_format, SL_LOG_TEXT);
    assert_string_equal(c->log_level, "info");
    const sl_connector_config_t *s = &c->connectors[0];
    assert_int_equal(s->source.port, 5432);
    assert_string_equal(s->source.slot, "sluice_shop");
    assert_string_equal(s->source.publication, "sluice_shop");
    assert_int_equal(s->source.create_slot, 1);
    assert_int_equal(s->source.create_publication, 1);
    assert_int_equal(s->source.server_id, 5400);
    assert_string_equal(s->sink.topic_prefix, "shop");
    assert_int_equal(s->sink.tombstones, 1);
    assert_int_equal(s->sink.exactly_once, 0);
    assert_string_equal(s->bookmark_store, "file");
    /* a slot name must be lower case without '-' */
    const sl_connector_config_t *o = &c->connectors[1];
    assert_string_equal(o->source.slot, "sluice_other_one");
    assert_string_equal(o->sink.topic_prefix, "Other-One");
    assert_string_equal(o->sink.type, "stdout");
    assert_int_equal(o->source.server_id, 5401);
    assert_int_equal(o->line, 10);
    sl_config_free(c);

    /* explicit nulls keep defaults */
    c = parse_ok("worker:\n  name: ~\n" ONE_CONN);
    assert_string_equal(c->worker_name, "sluice");
    sl_config_free(c);
}

static void test_sizes_and_durations(void **state)
{
    static const struct {
        const char *text;
        int64_t bytes;
    } sizes[] = {{"123", 123},         {"64MiB", 64LL << 20}, {"2 GiB", 2LL << 30},
                 {"1KB", 1000},        {"3MB", 3000000},      {"4KiB", 4096},
                 {"5GB", 5000000000LL}};
    static const struct {
        const char *text;
        int64_t ms;
    } durs[] = {
        {"7", 7000}, {"500ms", 500}, {"10s", 10000}, {"5m", 300000}, {"1h", 3600000}};
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        sl_buf_t y = SL_BUF_INIT;
        sl_buf_printf(&y, ONE_CONN "      rotate: {max_bytes: %s}\n", sizes[i].text);
        sl_config_t *c = parse_ok(y.data);
        assert_int_equal(c->connectors[0].sink.rotate_max_bytes, sizes[i].bytes);
        sl_config_free(c);
        sl_buf_free(&y);
    }
    for (size_t i = 0; i < sizeof(durs) / sizeof(durs[0]); i++) {
        sl_buf_t y = SL_BUF_INIT;
        sl_buf_printf(&y, ONE_CONN "      rotate: {max_seconds: %s}\n", durs[i].text);
        sl_config_t *c = parse_ok(y.data);
        assert_int_equal(c->connectors[0].sink.rotate_max_ms, durs[i].ms);
        sl_config_free(c);
        sl_buf_free(&y);
    }
    sl_config_t *c = parse_ok(ONE_CONN "    bookmarks: {store: file}\n"
                                       "  - name: b\n" PG_SOURCE "      heartbeat: 0\n"
                                       "    sink: {type: stdout}\n");
    assert_int_equal(c->connectors[1].source.heartbeat_ms, 0);
    sl_config_free(c);

    expect_error(ONE_CONN "      rotate: {max_bytes: 64XB}\n",
                 "t.yaml:10: connectors[0].sink.rotate.max_bytes: expected a size",
                 "\"64XB\"", NULL);
    expect_error(ONE_CONN "      rotate: {max_bytes: 0}\n",
                 "rotate.max_bytes: expected a size", NULL);
    expect_error(ONE_CONN "      rotate: {max_bytes: 99999999999GiB}\n",
                 "rotate.max_bytes: expected a size", NULL);
    expect_error(ONE_CONN "      rotate: {max_seconds: 1.5s}\n",
                 "t.yaml:10: connectors[0].sink.rotate.max_seconds: expected a duration",
                 NULL);
    expect_error(ONE_CONN "      rotate: {max_seconds: -3}\n",
                 "max_seconds: expected a duration", NULL);
    expect_error(
        "connectors:\n  - name: shop\n" PG_SOURCE "      heartbeat: 5x\n" FILES_SINK,
        "t.yaml:7: connectors[0].source.heartbeat: expected a duration", "\"5x\"", NULL);
}

static void test_unknown_keys(void **state)
{
    char err[512];
    const char *y = "connectors:\n"
                    "  - name: shop\n"
                    "    source:\n"
                    "      type: postgres\n"
                    "      prot: 5432\n";
    assert_null(parse(y, err, sizeof(err)));
    assert_string_equal(err,
                        "t.yaml:5: connectors[0].source.prot: unknown key (did you mean "
                        "\"port\"?)");
    expect_error("wrker:\n  name: x\n" ONE_CONN,
                 "t.yaml:1: wrker: unknown key (did you mean "
                 "\"worker\"?)",
                 NULL);
    expect_error("worker:\n  colour: blue\n" ONE_CONN,
                 "t.yaml:2: worker.colour: unknown key", NULL);
    expect_error(
        ONE_CONN "      rotate: {max_byte: 5}\n",
        "t.yaml:10: connectors[0].sink.rotate.max_byte: unknown key (did you mean "
        "\"max_bytes\"?)",
        NULL);
    /* keys are single path components (found by the fuzzer: this wrote into the wrong
     * struct) */
    expect_error("connectors[].source.database: x\n" ONE_CONN,
                 "t.yaml:1: connectors[].source.database: unknown key", NULL);
    expect_error("worker.name: x\n" ONE_CONN, "t.yaml:1: worker.name: unknown key", NULL);
    /* no suggestion when nothing is close */
    assert_null(parse(ONE_CONN "    zzzzzzzzzz: 1\n", err, sizeof(err)));
    assert_string_equal(err, "t.yaml:10: connectors[0].zzzzzzzzzz: unknown key");
    expect_error(ONE_CONN "    source: {type: mysql}\n",
                 "t.yaml:10: connectors[0].source: "
                 "duplicate key (first given on line 3)",
                 NULL);
    expect_error("connectors:\n  - name: shop\n    ? [a]\n    : b\n",
                 "t.yaml:3: connectors[0]: "
                 "keys must be plain text",
                 NULL);
}

static void test_wrong_types(void **state)
{
    char err[512];
    const char *y = "connectors:\n"
                    "  - name: shop\n"
                    "    source:\n"
                    "      type: postgres\n"
                    "      port: \"abc\"\n";
    assert_null(parse(y, err, sizeof(err)));
    assert_string_equal(
        err, "t.yaml:5: connectors[0].source.port: expected an integer between "
             "1 and 65535, got \"abc\"");
    expect_error(
        "connectors:\n  - name: shop\n" PG_SOURCE "      port: 70000\n" FILES_SINK,
        "t.yaml:7: connectors[0].source.port: expected an integer", "\"70000\"", NULL);
    expect_error(
        "connectors:\n  - name: shop\n" PG_SOURCE "      create_slot: 7\n" FILES_SINK,
        "t.yaml:7: connectors[0].source.create_slot: expected true or false, got \"7\"",
        NULL);
    expect_error(
        "connectors:\n  - name: shop\n" PG_SOURCE "      port: [1]\n" FILES_SINK,
        "t.yaml:7: connectors[0].source.port: expected a single value, got a list", NULL);
    expect_error("connectors:\n  - name: shop\n" PG_SOURCE "      tables: {include: x}\n",
                 "t.yaml:7: connectors[0].source.tables.include: expected a list", NULL);
    expect_error("connectors:\n  - name: shop\n    source: postgres\n",
                 "t.yaml:3: connectors[0].source: expected a mapping, got a value", NULL);
    expect_error("connectors: {name: shop}\n",
                 "t.yaml:1: connectors: expected a list of connectors, got a mapping",
                 NULL);
    expect_error("connectors:\n  - shop\n",
                 "t.yaml:2: connectors[0]: expected a mapping with name, source and sink",
                 NULL);
    expect_error("- a\n- b\n", "t.yaml:1: expected a mapping with worker and connectors",
                 NULL);
    expect_error(ONE_CONN "      kafka: {acks: [1]}\n",
                 "t.yaml:10: connectors[0].sink.kafka.acks: expected a value", NULL);
    expect_error(ONE_CONN "      kafka: {acks: 1, acks: 2}\n",
                 "t.yaml:10: connectors[0].sink.kafka.acks: duplicate key", NULL);
    expect_error("connectors:\n  - name: shop\n" PG_SOURCE
                 "    sink: {type: files, path: \"\"}\n",
                 "t.yaml:7: connectors[0].sink.path: must not be empty", NULL);
}

static void test_unknown_enum(void **state)
{
    char err[512];
    assert_null(parse("connectors:\n  - name: shop\n" PG_SOURCE
                      "      snapshot: inital\n" FILES_SINK,
                      err, sizeof(err)));
    assert_string_equal(
        err, "t.yaml:7: connectors[0].source.snapshot: unknown value \"inital\" "
             "(expected initial, never, only or when_needed; did you mean "
             "\"initial\"?)");
    /* the mapping form, its defaults and its errors */
    sl_config_t *c = parse("connectors:\n  - name: shop\n" PG_SOURCE
                           "      snapshot: {mode: only, parallelism: 4, chunk_rows: 500}\n"
                           FILES_SINK,
                           err, sizeof(err));
    assert_non_null(c);
    assert_int_equal(c->connectors[0].source.snapshot, SL_SNAP_ONLY);
    assert_int_equal(c->connectors[0].source.snapshot_parallelism, 4);
    assert_int_equal(c->connectors[0].source.snapshot_chunk_rows, 500);
    sl_config_free(c);
    c = parse("connectors:\n  - name: shop\n" PG_SOURCE "      snapshot: never\n" FILES_SINK,
              err, sizeof(err));
    assert_non_null(c);
    assert_int_equal(c->connectors[0].source.snapshot, SL_SNAP_NEVER);
    assert_int_equal(c->connectors[0].source.snapshot_parallelism, 1);
    assert_int_equal(c->connectors[0].source.snapshot_chunk_rows, 8192);
    sl_config_free(c);
    assert_null(parse("connectors:\n  - name: shop\n" PG_SOURCE
                      "      snapshot: {parallelism: 0}\n" FILES_SINK,
                      err, sizeof(err)));
    assert_non_null(strstr(err, "t.yaml:7: connectors[0].source.snapshot.parallelism:"));
    assert_null(parse("connectors:\n  - name: shop\n" PG_SOURCE
                      "      snapshot: {mode: initial, paralelism: 2}\n" FILES_SINK,
                      err, sizeof(err)));
    assert_non_null(strstr(err, "connectors[0].source.snapshot.paralelism: unknown key"));
    assert_null(parse("connectors:\n  - name: shop\n" PG_SOURCE
                      "      snapshot: [initial]\n" FILES_SINK,
                      err, sizeof(err)));
    assert_non_null(strstr(err, "connectors[0].source.snapshot: expected a mapping"));
    expect_error("connectors:\n  - name: shop\n" PG_SOURCE
                 "    sink: {type: file, path: x}\n",
                 "t.yaml:7: connectors[0].sink.type: unknown value \"file\"",
                 "did you mean \"files\"?", NULL);
    expect_error(
        "worker: {log_format: xml}\n" ONE_CONN,
        "t.yaml:1: worker.log_format: unknown value \"xml\" (expected text or json)",
        NULL);
    expect_error("connectors:\n  - name: shop\n    source: {type: oracle}\n",
                 "t.yaml:3: connectors[0].source.type: unknown value \"oracle\"", NULL);
}

static void test_required(void **state)
{
    /* blamed on the line of the enclosing "source:" */
    expect_error("connectors:\n  - name: shop\n    source:\n      type: postgres\n"
                 "      database: d\n" FILES_SINK,
                 "t.yaml:3: connectors[0].source.user: required key is missing", NULL);
    expect_error(
        "connectors:\n  - name: shop\n    source:\n      type: postgres\n"
        "      user: u\n" FILES_SINK,
        "t.yaml:3: connectors[0].source.database: required key is missing (needed "
        "when source.type=postgres)",
        NULL);
    expect_error("connectors:\n  - name: shop\n" PG_SOURCE
                 "    sink:\n      type: files\n",
                 "t.yaml:7: connectors[0].sink.path: required key is missing", NULL);
    expect_error("connectors:\n  - name: shop\n" PG_SOURCE "    sink: {type: kafka}\n",
                 "t.yaml:7: connectors[0].sink.brokers: required key is missing", NULL);
    expect_error("connectors:\n  - name: shop\n" PG_SOURCE,
                 "t.yaml:2: connectors[0].sink.type: required key is missing", NULL);
    expect_error(
        "connectors:\n  - source: {type: mysql, user: u}\n    sink: {type: stdout}\n",
        "t.yaml:2: connectors[0].name: required key is missing", NULL);
    expect_error("connectors:\n  - name: shop\n" FILES_SINK,
                 "t.yaml:2: connectors[0].source.type: required key is missing", NULL);
    expect_error("connectors:\n  - name: shop\n    source:\n      type: postgres\n"
                 "      user: u\n      database: ~\n" FILES_SINK,
                 "t.yaml:6: connectors[0].source.database: required key is missing",
                 NULL);
    expect_error("worker: {name: w}\n", "t.yaml:1: connectors: required key is missing",
                 NULL);
    expect_error("", "t.yaml:1: connectors: required key is missing", NULL);
    expect_error("worker: {name: w}\nconnectors: []\n",
                 "t.yaml:2: connectors: at least one connector is required", NULL);
    expect_error("connectors:\n",
                 "t.yaml:1: connectors: at least one connector is required", NULL);
    /* mysql needs no database */
    sl_config_t *c =
        parse_ok("connectors:\n  - name: m\n    source: {type: mysql, user: u}\n"
                 "    sink: {type: stdout}\n");
    sl_config_free(c);
}

static void test_names(void **state)
{
    char err[512];
    assert_null(
        parse(ONE_CONN "  - name: shop\n" PG_SOURCE FILES_SINK, err, sizeof(err)));
    assert_string_equal(
        err, "t.yaml:10: connectors[1].name: duplicate connector name \"shop\" "
             "(also used by connectors[0] on line 2)");
    expect_error("connectors:\n  - name: a b\n" PG_SOURCE FILES_SINK,
                 "t.yaml:2: connectors[0].name: invalid name: use only letters, digits",
                 "\"a b\"", NULL);
    expect_error("connectors:\n  - name: \"\"\n" PG_SOURCE FILES_SINK,
                 "t.yaml:2: connectors[0].name: must not be empty", NULL);
    expect_error("connectors:\n  - name: x/y\n" PG_SOURCE FILES_SINK,
                 "connectors[0].name: invalid name", NULL);
    expect_error(
        "connectors:\n  - name: shop\n" PG_SOURCE "      slot: Bad-Slot\n" FILES_SINK,
        "t.yaml:7: connectors[0].source.slot: invalid replication slot name", NULL);
}

static void test_syntax_errors(void **state)
{
    expect_error("connectors:\n  - name: shop\n   source: [\n",
                 "t.yaml:", "YAML syntax error", NULL);
    char err[512];
    assert_null(parse("worker:\n  name: a\n  bad: : :\n  x: [1, 2\n", err, sizeof(err)));
    assert_true(strncmp(err, "t.yaml:3: YAML syntax error", 27) == 0);
    expect_error("worker:\n  name: \"unterminated\n", "t.yaml:", "YAML syntax error",
                 NULL);
    expect_error(ONE_CONN "---\nworker: {}\n", "t.yaml:10: only one YAML document", NULL);
    expect_error("worker: *nope\n", "t.yaml:1: YAML syntax error", NULL);
    expect_error("connectors:\n  - name: \"a\\0b\"\n",
                 "t.yaml:2: connectors[0].name: the value "
                 "contains a NUL byte",
                 NULL);
}

static void test_env_and_file(void **state)
{
    setenv("SLUICE_T_USER", "envuser", 1);
    setenv("SLUICE_T_PORT", "6543", 1);
    char *f = write_temp("file-pw\n\n");
    sl_buf_t y = SL_BUF_INIT;
    sl_buf_printf(&y,
                  "connectors:\n  - name: shop\n    source:\n      type: postgres\n"
                  "      user: ${env:SLUICE_T_USER}\n      port: ${env:SLUICE_T_PORT}\n"
                  "      password: ${file:%s}\n      database: d\n" FILES_SINK,
                  f);
    sl_config_t *c = parse_ok(y.data);
    assert_string_equal(c->connectors[0].source.user, "envuser");
    assert_int_equal(c->connectors[0].source.port, 6543);
    /* exactly one trailing newline is dropped */
    assert_string_equal(c->connectors[0].source.password, "file-pw\n");
    sl_config_free(c);
    sl_buf_free(&y);
    unlink(f);

    expect_error("connectors:\n  - name: shop\n    source:\n      type: postgres\n"
                 "      password: ${env:SLUICE_T_SURELY_UNSET}\n",
                 "t.yaml:5: connectors[0].source.password: environment variable "
                 "SLUICE_T_SURELY_UNSET is not set",
                 NULL);
    sl_buf_printf(&y,
                  "connectors:\n  - name: shop\n    source:\n      type: postgres\n"
                  "      password: ${file:%s}\n",
                  f);
    expect_error(y.data,
                 "t.yaml:5: connectors[0].source.password: cannot read ${file:", f,
                 "No such file or directory", NULL);
    sl_buf_free(&y);
    expect_error("connectors:\n  - name: shop\n    source:\n      type: postgres\n"
                 "      password: ${file:/}\n",
                 "cannot read ${file:/}: Is a directory", NULL);
    expect_error("connectors:\n  - name: shop\n    source:\n      password: ${vault:x}\n",
                 "t.yaml:4: connectors[0].source.password: ${vault:x}: unknown reference",
                 NULL);
    expect_error("connectors:\n  - name: shop\n    source:\n      password: ${env:A-B}\n",
                 "${env:A-B}: not a valid environment variable name", NULL);
    free(f);
}

static void test_secrets_never_shown(void **state)
{
    char err[512];
    /* a resolved value never appears in an error, even when it is the wrong type */
    setenv("SLUICE_T_SECRET", SENTINEL, 1);
    setenv("SLUICE_T_SECRET_SP", SENTINEL " x", 1);
    static const char *const bad[] = {
        "      port: ${env:SLUICE_T_SECRET}\n",
        "      create_slot: ${env:SLUICE_T_SECRET}\n",
        "      snapshot: ${env:SLUICE_T_SECRET}\n",
        "      heartbeat: ${env:SLUICE_T_SECRET}\n",
        "      slot: ${env:SLUICE_T_SECRET_SP}\n",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        sl_buf_t y = SL_BUF_INIT;
        sl_buf_printf(&y, "connectors:\n  - name: shop\n" PG_SOURCE "%s" FILES_SINK,
                      bad[i]);
        assert_null(parse(y.data, err, sizeof(err)));
        assert_non_null(strstr(err, "t.yaml:7: connectors[0].source."));
        assert_non_null(strstr(err, "${env:SLUICE_T_SECRET"));
        assert_null(strstr(err, SENTINEL));
        sl_buf_free(&y);
    }
    assert_null(
        parse("connectors:\n  - name: ${env:SLUICE_T_SECRET_SP}\n" PG_SOURCE FILES_SINK,
              err, sizeof(err)));
    assert_non_null(strstr(err, "t.yaml:2: connectors[0].name: invalid name"));
    assert_null(strstr(err, SENTINEL));
    /* duplicate names from a reference are not echoed */
    assert_null(
        parse("connectors:\n  - name: ${env:SLUICE_T_SECRET}\n" PG_SOURCE FILES_SINK
              "  - name: " SENTINEL "\n" PG_SOURCE FILES_SINK,
              err, sizeof(err)));
    assert_non_null(
        strstr(err, "t.yaml:10: connectors[1].name: duplicate connector name"));
    assert_null(strstr(err, SENTINEL));

    /* nor in a dump: literal password, references, kafka secrets */
    char *f = write_temp("file-" SENTINEL "\n");
    sl_buf_t y = SL_BUF_INIT;
    sl_buf_printf(
        &y,
        "connectors:\n  - name: shop\n    source:\n      type: postgres\n"
        "      user: ${env:SLUICE_T_SECRET}\n      password: lit-" SENTINEL "\n"
        "      database: d\n      tables: {include: [\"${env:SLUICE_T_SECRET}\"]}\n"
        "    sink:\n      type: kafka\n      brokers: ${file:%s}\n"
        "      kafka: {sasl.password: kafka-" SENTINEL ", sasl.username: "
        "\"${env:SLUICE_T_SECRET}\", acks: all}\n",
        f);
    sl_config_t *c = parse_ok(y.data);
    assert_string_equal(c->connectors[0].source.user, SENTINEL);
    assert_string_equal(c->connectors[0].source.password, "lit-" SENTINEL);
    assert_string_equal(c->connectors[0].sink.brokers, "file-" SENTINEL);
    assert_string_equal(c->connectors[0].sink.kafka[1].value, SENTINEL);
    sl_buf_t d = SL_BUF_INIT;
    sl_config_dump(c, &d);
    assert_null(strstr(d.data, SENTINEL));
    assert_non_null(strstr(d.data, "      user: \"***\"\n"));
    assert_non_null(strstr(d.data, "      password: \"***\"\n"));
    assert_non_null(strstr(d.data, "      brokers: \"***\"\n"));
    assert_non_null(strstr(d.data, "include: \"***\""));
    assert_non_null(strstr(
        d.data, "kafka: {sasl.password: \"***\", sasl.username: \"***\", acks: all}"));
    sl_buf_free(&d);
    sl_config_free(c);
    sl_buf_free(&y);
    unlink(f);
    free(f);

    /* a config built by hand (no loader-private part) still hides its password */
    sl_config_t hand = {0};
    sl_connector_config_t conn = {0};
    conn.name = "h";
    conn.source.password = SENTINEL;
    hand.connectors = &conn;
    hand.nconnectors = 1;
    sl_config_dump(&hand, &d);
    assert_null(strstr(d.data, SENTINEL));
    assert_non_null(strstr(d.data, "  - name: h\n"));
    sl_buf_free(&d);
}

static void test_dump_round_trip(void **state)
{
    sl_config_t *c = parse_ok(full_yaml);
    sl_buf_t d1 = SL_BUF_INIT, d2 = SL_BUF_INIT;
    sl_config_dump(c, &d1);
    assert_non_null(strstr(d1.data, "worker:\n  name: w1\n"));
    assert_non_null(strstr(d1.data, "connectors:\n  - name: shop\n    source:\n"
                                    "      type: postgres\n"));
    assert_non_null(strstr(d1.data, "      rotate:\n        max_bytes: 1GiB\n"
                                    "        max_seconds: 5m\n"));
    assert_non_null(strstr(d1.data, "      heartbeat: 500ms\n"));
    assert_non_null(strstr(d1.data, "include: [public.orders, public.items]"));
    sl_config_t *c2 = parse_ok(d1.data);
    sl_config_dump(c2, &d2);
    assert_string_equal(d1.data, d2.data);
    sl_buf_free(&d1);
    sl_buf_free(&d2);
    sl_config_free(c);
    sl_config_free(c2);
}

static void test_reference(void **state)
{
    sl_buf_t b = SL_BUF_INIT;
    sl_config_reference(&b);
    assert_true(
        strncmp(b.data, "| Key | Type | Default | Required | Description |\n", 49) == 0);
    static const char *const rows[] = {
        "| `worker.name` | string | `sluice` | no |",
        "| `connectors` | list of connectors | — | yes |",
        "| `connectors[].source.port` | integer (1–65535) | `5432 (postgres), 3306 "
        "(mysql)` |",
        "| `connectors[].source.database` | string | — | when `source.type=postgres` |",
        "| `connectors[].source.snapshot.mode` | `initial` \\| `never` \\| `only` \\| "
        "`when_needed` "
        "| `initial` |",
        "| `connectors[].source.snapshot.parallelism` | integer (1–16) | `1` |",
        "| `connectors[].sink.rotate.max_bytes` | size | `64MiB` |",
        "| `connectors[].sink.kafka` | map | `{}` |",
        "| `connectors[].bookmarks.store` | `file` \\| `kafka` | `file` |",
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
        if (!strstr(b.data, rows[i]))
            fail_msg("reference lacks %s", rows[i]);
    assert_non_null(strstr(b.data, "(secret)"));
    size_t nrows = 0;
    for (const char *p = b.data; (p = strstr(p, "\n| `")); p++)
        nrows++;
    assert_int_equal(nrows, 45); /* every non-group key of the table */
    sl_buf_free(&b);
}

static void test_load_file(void **state)
{
    char err[512];
    char *f = write_temp(ONE_CONN);
    sl_config_t *c = sl_config_load(f, err, sizeof(err));
    assert_non_null(c);
    assert_string_equal(c->connectors[0].file, f);
    sl_config_free(c);
    unlink(f);
    assert_null(sl_config_load(f, err, sizeof(err)));
    assert_non_null(strstr(err, f));
    assert_non_null(strstr(err, "No such file or directory"));
    free(f);

    f = write_temp("connectors:\n  - name: shop\n    sorce: {}\n");
    assert_null(sl_config_load(f, err, sizeof(err)));
    sl_buf_t want = SL_BUF_INIT;
    sl_buf_printf(&want,
                  "%s:3: connectors[0].sorce: unknown key (did you mean \"source\"?)", f);
    assert_string_equal(err, want.data);
    sl_buf_free(&want);
    unlink(f);
    free(f);

    /* a tiny error buffer truncates but stays terminated */
    char small[8];
    assert_null(parse("x: 1\n", small, sizeof(small)));
    assert_string_equal(small, "t.yaml:");
}

static void test_example_file(void **state)
{
    const char *src = getenv("SLUICE_SOURCE_DIR");
    sl_buf_t path = SL_BUF_INIT;
    if (src) {
        sl_buf_printf(&path, "%s/config/examples/shop.yaml", src);
    } else {
        const char *me = __FILE__; /* .../tests/unit/test_config.c */
        const char *cut = strstr(me, "tests/unit/");
        if (!cut)
            skip();
        sl_buf_printf(&path, "%.*sconfig/examples/shop.yaml", (int)(cut - me), me);
    }
    setenv("PGPASSWORD", SENTINEL, 1);
    char err[512];
    sl_config_t *c = sl_config_load(path.data, err, sizeof(err));
    if (!c)
        fail_msg("%s", err);
    const sl_connector_config_t *s = sl_config_connector(c, "shop");
    assert_non_null(s);
    assert_string_equal(s->source.type, "postgres");
    assert_string_equal(s->source.password, SENTINEL);
    assert_string_equal(s->sink.type, "files");
    sl_buf_t d = SL_BUF_INIT;
    sl_config_dump(c, &d);
    assert_null(strstr(d.data, SENTINEL));
    sl_buf_free(&d);
    sl_config_free(c);
    sl_buf_free(&path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_full_config),
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_sizes_and_durations),
        cmocka_unit_test(test_unknown_keys),
        cmocka_unit_test(test_wrong_types),
        cmocka_unit_test(test_unknown_enum),
        cmocka_unit_test(test_required),
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_syntax_errors),
        cmocka_unit_test(test_env_and_file),
        cmocka_unit_test(test_secrets_never_shown),
        cmocka_unit_test(test_dump_round_trip),
        cmocka_unit_test(test_reference),
        cmocka_unit_test(test_load_file),
        cmocka_unit_test(test_example_file),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
