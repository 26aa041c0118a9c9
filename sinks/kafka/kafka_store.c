/* sluice: the Kafka bookmark store, for workers that keep no disk (Kafka Connect's offset
 * storage topic, applied to sluice's bookmark documents).
 *
 * Layout: one compacted topic (default "<worker.name>.__bookmarks") shared by any number
 * of connectors and workers. A connector's bookmark is the message keyed by its name
 * whose value is the whole document the file store would hold (position members,
 * "schemas", "snapshot"), without the file's trailing newline; `offsets reset` writes a
 * tombstone. Everything goes to partition 0 (created topics have one partition; a topic
 * made by hand with more is fine, the others stay unused), so a key's messages are
 * totally ordered.
 *
 * Storing: an idempotent producer with acks=all and no message timeout. A store is
 * complete only when the delivery report of its message says so; the committer waits for
 * it (at most ack_timeout_ms) and only then counts the bookmark as stored and lets the
 * database forget. At most one document is ever in flight: when a report does not come
 * in time the call is SL_ERR_RETRY and the message stays queued (it carries a position
 * that is durable in the sink, so its late arrival is harmless), and later calls are
 * SL_ERR_RETRY at once until it is acknowledged; memory stays bounded and the newest
 * document goes out as soon as the brokers answer. The committer keeps streaming
 * meanwhile; only the bookmark waits.
 *
 * Loading: a read_committed consumer finds the last message of the key in partition 0 up
 * to the high watermark (sl_kafka_read_last, which scans back from the end: the same
 * answer as reading from the beginning). A tombstone, no message or no topic mean no
 * bookmark; a value that is not a JSON object is SL_ERR_CORRUPT with the file store's
 * sentence; brokers that do not answer are SL_ERR_RETRY (the worker tries again).
 *
 * The topic is created compacted with the Admin API at the first store when it is
 * missing, or the store fails with a sentence saying how to create it by hand. Secrets:
 * property values never appear in messages (sl_kafka_mask). One thread at a time. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <librdkafka/rdkafka.h>
#include "core/buf.h"
#include "core/log.h"
#include "sinks/kafka/kafka_store.h"
#include "sinks/kafka/kclient.h"

#define ACK_TIMEOUT_MS 10000 /* a store waits this long for its delivery report */
#define CONTACT_TIMEOUT_MS                                                               \
    5000 /* a load's first request: an unreachable cluster is retried */
#define READ_TIMEOUT_MS 30000 /* a load's reading, without a message or the end */
#define CLOSE_FLUSH_MS 5000   /* destroy: a last chance for a document still in flight */
#define TOPIC_MAX 249         /* Kafka's limit on topic name length */

typedef struct kstore {
    char *conn, *brokers, *topic, *client_id;
    sl_kv_t *props; /* owned: the inherited ones, then bookmarks.kafka */
    size_t nprops, ninherited;
    int ack_timeout_ms;
    rd_kafka_t *rk; /* the producer, made at the first store or remove */
    rd_kafka_topic_t *rkt;
    int topic_ready;
    uint64_t seq;     /* of the last message produced */
    uint64_t pending; /* its seq while its report has not come; 0 = none */
    int reported;     /* the report of `pending` came */
    rd_kafka_resp_err_t report_err;
    int fatal_seen;
    int64_t last_warn_ms;
} kstore_t;

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static char *xstrdup(const char *s)
{
    char *d = strdup(s ? s : "");
    if (!d)
        abort();
    return d;
}

/* The properties of a Kafka sink that say how to reach the cluster. */
static int inherited_key(const char *k)
{
    return strncmp(k, "security.", 9) == 0 || strncmp(k, "sasl.", 5) == 0 ||
           strncmp(k, "ssl.", 4) == 0;
}

static int durable_key(const char *k)
{
    return strcmp(k, "acks") == 0 || strcmp(k, "enable.idempotence") == 0 ||
           strcmp(k, "message.timeout.ms") == 0 || strcmp(k, "delivery.timeout.ms") == 0;
}

/* ------------------------------------------------------------ librdkafka callbacks */

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    kstore_t *st = opaque;
    uint64_t seq = (uint64_t)(uintptr_t)m->_private;
    if (seq && seq == st->pending) {
        st->reported = 1;
        st->report_err = m->err;
    }
    if (m->err == RD_KAFKA_RESP_ERR__FATAL)
        st->fatal_seen = 1;
}

static void on_error(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
    kstore_t *st = opaque;
    if (err == RD_KAFKA_RESP_ERR__FATAL) {
        st->fatal_seen = 1;
        return;
    }
    sl_kafka_warn_transient(st->props, st->nprops, st->conn, "kafka bookmark store", err,
                            reason, "", &st->last_warn_ms);
}

static void on_log(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    const kstore_t *st = rd_kafka_opaque(rk);
    sl_kafka_log(st ? st->props : NULL, st ? st->nprops : 0, st ? st->conn : NULL, level,
                 fac, buf);
}

/* ---------------------------------------------------------------- the producer */

/* sluice's producer settings, then the inherited and own properties (which win); warn:
 * log the durable defaults that bookmarks.kafka overrides (once, at the first store). */
static sl_err_t build_conf(kstore_t *st, rd_kafka_conf_t **out, int warn, char *err,
                           size_t errlen)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    const char *defaults[][2] = {
        {"bootstrap.servers", st->brokers},
        {"client.id", st->client_id},
        {"enable.idempotence", "true"}, /* retries neither reorder nor duplicate */
        {"acks", "all"},                /* on every in-sync replica before it counts */
        {"message.timeout.ms", "0"},    /* retried until delivered, never dropped */
        {"linger.ms", "0"},             /* one small message at a time: send it now */
        {"compression.type", "lz4"},    /* the schema history compresses well */
        {"allow.auto.create.topics", "false"}, /* created compacted, below */
        {"log.connection.close", "false"},
    };
    sl_err_t rc = SL_OK;
    for (size_t i = 0; !rc && i < sizeof(defaults) / sizeof(defaults[0]); i++)
        rc = sl_kafka_conf_set(conf, st->props, st->nprops, defaults[i][0],
                               defaults[i][1], NULL, err, errlen);
    for (size_t i = 0; !rc && i < st->nprops; i++) {
        const char *k = st->props[i].key;
        rc = sl_kafka_conf_set(conf, st->props, st->nprops, k, st->props[i].value,
                               i < st->ninherited ? "sink.kafka" : "bookmarks.kafka", err,
                               errlen);
        if (!rc && warn && i >= st->ninherited && durable_key(k))
            sl_warn(st->conn,
                    "kafka bookmark store: bookmarks.kafka.%s overrides sluice's durable "
                    "default; a stored bookmark may then be lost when brokers fail",
                    k);
    }
    if (rc) {
        rd_kafka_conf_destroy(conf);
        return rc;
    }
    *out = conf;
    return SL_OK;
}

static sl_err_t producer(kstore_t *st, char *err, size_t errlen)
{
    if (st->rk)
        return SL_OK;
    rd_kafka_conf_t *conf;
    char errstr[512];
    sl_err_t rc = build_conf(st, &conf, 1, err, errlen);
    if (rc)
        return rc;
    rd_kafka_conf_set_opaque(conf, st);
    rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
    rd_kafka_conf_set_error_cb(conf, on_error);
    rd_kafka_conf_set_log_cb(conf, on_log);
    st->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
    if (!st->rk) {
        rd_kafka_conf_destroy(conf);
        char m[512];
        sl_kafka_mask(st->props, st->nprops, errstr, NULL, m, sizeof(m));
        return sl_err_set(err, errlen, SL_ERR_CONFIG,
                          "cannot create the producer of the Kafka bookmark store: %s",
                          m);
    }
    st->rkt = rd_kafka_topic_new(st->rk, st->topic, NULL);
    if (!st->rkt)
        abort(); /* only fails on an invalid topic conf, and we pass none */
    return SL_OK;
}

static void topic_spec(const kstore_t *st, int create, int timeout_ms,
                       sl_kafka_topic_spec_t *spec)
{
    memset(spec, 0, sizeof(*spec));
    spec->name = st->topic;
    spec->compact = 1;
    spec->partitions = 1;
    spec->replication = -1;
    spec->create = create;
    spec->brokers = st->brokers;
    spec->conn = st->conn;
    spec->timeout_ms = timeout_ms;
    spec->use_fix =
        "grant DESCRIBE, READ and WRITE on it to the principal sluice connects "
        "as (bookmarks.kafka)";
    spec->missing_fix = "a load does not create it";
    spec->deny_create_fix = "grant CREATE to the principal sluice connects as, or create "
                            "the topic with one partition and cleanup.policy=compact";
    spec->refused_fix = "create the topic with one partition and cleanup.policy=compact "
                        "(brokers older than 2.4 need the replication factor given)";
}

/* Wait for the report of the message `pending`, at most ms. */
static sl_err_t await_report(kstore_t *st, const char *connector, int ms, char *err,
                             size_t errlen)
{
    int64_t deadline = mono_ms() + ms;
    for (;;) {
        rd_kafka_poll(st->rk, st->reported || ms <= 0 ? 0 : 100);
        if (st->reported || st->fatal_seen || mono_ms() >= deadline)
            break;
    }
    if (st->fatal_seen) {
        char reason[512], m[700];
        rd_kafka_resp_err_t e = rd_kafka_fatal_error(st->rk, reason, sizeof(reason));
        snprintf(m, sizeof(m),
                 "the producer of the Kafka bookmark store failed fatally (%s: %s); the "
                 "bookmark stays at the last acknowledged one",
                 rd_kafka_err2name(e), reason);
        char masked[700];
        sl_kafka_mask(st->props, st->nprops, m, NULL, masked, sizeof(masked));
        return sl_err_set(err, errlen, SL_ERR_SINK, "%s", masked);
    }
    if (!st->reported)
        return sl_err_set(
            err, errlen, SL_ERR_RETRY,
            "Kafka has not acknowledged the bookmark of connector %s in topic "
            "%s (brokers %s unreachable or slow?)",
            connector, st->topic, st->brokers);
    st->pending = 0;
    st->reported = 0;
    rd_kafka_resp_err_t e = st->report_err;
    if (e == RD_KAFKA_RESP_ERR_NO_ERROR)
        return SL_OK;
    if (e == RD_KAFKA_RESP_ERR__MSG_TIMED_OUT || e == RD_KAFKA_RESP_ERR__TIMED_OUT_QUEUE)
        return sl_err_set(
            err, errlen, SL_ERR_RETRY,
            "the bookmark of connector %s timed out before Kafka took it (%s)", connector,
            rd_kafka_err2str(e));
    if (e == RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE ||
        e == RD_KAFKA_RESP_ERR_RECORD_LIST_TOO_LARGE)
        return sl_err_set(
            err, errlen, SL_ERR_SINK,
            "Kafka topic %s refuses the bookmark of connector %s as too large "
            "(%s): raise the topic's max.message.bytes",
            st->topic, connector, rd_kafka_err2str(e));
    return sl_err_set(
        err, errlen, SL_ERR_SINK,
        "Kafka did not accept the bookmark of connector %s for topic %s (%s)", connector,
        st->topic, rd_kafka_err2str(e));
}

/* Produce value (NULL: a tombstone) under the connector's key and wait for its report. */
static sl_err_t put(kstore_t *st, const char *connector, const char *value, size_t len,
                    char *err, size_t errlen)
{
    sl_err_t rc = producer(st, err, errlen);
    if (rc)
        return rc;
    if (st->pending) {
        /* the previous document is still in flight: never queue a second one */
        rc = await_report(st, connector, 0, err, errlen);
        if (rc)
            return rc;
    }
    if (!st->topic_ready) {
        sl_kafka_topic_spec_t spec;
        topic_spec(st, 1, CONTACT_TIMEOUT_MS, &spec);
        rc = sl_kafka_topic_ensure(st->rk, st->rkt, &spec, NULL, err, errlen);
        if (rc)
            return rc;
        st->topic_ready = 1;
    }
    uint64_t seq = ++st->seq;
    /* partition 0 whatever the topic has: the load reads only that one */
    if (rd_kafka_produce(st->rkt, 0, RD_KAFKA_MSG_F_COPY, (void *)value, value ? len : 0,
                         connector, strlen(connector), (void *)(uintptr_t)seq) != 0) {
        rd_kafka_resp_err_t e = rd_kafka_last_error();
        if (e == RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE)
            return sl_err_set(err, errlen, SL_ERR_SINK,
                              "the bookmark of connector %s is %zu bytes, more than the "
                              "producer allows: raise bookmarks.kafka.message.max.bytes "
                              "(and the topic's max.message.bytes)",
                              connector, len);
        if (e == RD_KAFKA_RESP_ERR__QUEUE_FULL)
            return sl_err_set(err, errlen, SL_ERR_RETRY,
                              "the bookmark store's local queue is full");
        return sl_err_set(
            err, errlen, SL_ERR_SINK,
            "cannot produce the bookmark of connector %s to Kafka topic %s: %s",
            connector, st->topic, rd_kafka_err2str(e));
    }
    st->pending = seq;
    st->reported = 0;
    return await_report(st, connector, st->ack_timeout_ms, err, errlen);
}

/* ---------------------------------------------------------------- the store interface */

static sl_err_t kstore_store(void *ctx, const char *connector, const char *json,
                             size_t len, char *err, size_t errlen)
{
    return put(ctx, connector, json ? json : "", len, err, errlen);
}

static sl_err_t kstore_remove(void *ctx, const char *connector, char *err, size_t errlen)
{
    return put(ctx, connector, NULL, 0, err, errlen);
}

static sl_err_t kstore_load(void *ctx, const char *connector, char **json,
                            int64_t *stored_ms, char *err, size_t errlen)
{
    kstore_t *st = ctx;
    char errstr[512];
    sl_err_t rc = SL_OK;
    sl_buf_t group = SL_BUF_INIT, where = SL_BUF_INIT;
    sl_kafka_last_t last = {0};
    rd_kafka_topic_t *rkt = NULL;
    int exists = 0;
    *json = NULL;
    *stored_ms = 0;
    sl_buf_printf(&group, "%s-reader", st->client_id);
    rd_kafka_t *c = sl_kafka_consumer_new(st->brokers, st->props, st->nprops, group.data,
                                          st, on_log, errstr, sizeof(errstr));
    if (!c) {
        rc = sl_err_set(err, errlen, SL_ERR_CONFIG,
                        "cannot create the consumer of the Kafka bookmark store: %s",
                        errstr);
        goto out;
    }
    rkt = rd_kafka_topic_new(c, st->topic, NULL);
    if (!rkt)
        abort();
    sl_kafka_topic_spec_t spec;
    topic_spec(st, 0, CONTACT_TIMEOUT_MS, &spec);
    rc = sl_kafka_topic_ensure(c, rkt, &spec, &exists, err, errlen);
    if (rc == SL_ERR_RETRY) {
        char tmp[512];
        snprintf(tmp, sizeof(tmp), "%s", err);
        rc = sl_err_set(err, errlen, SL_ERR_RETRY,
                        "cannot load the bookmark of connector %s from Kafka: %s",
                        connector, tmp);
    }
    if (rc || !exists)
        goto out;
    st->topic_ready = 1; /* the first store need not ask again */
    rc = sl_kafka_read_last(c, st->topic, connector, 0, CONTACT_TIMEOUT_MS,
                            READ_TIMEOUT_MS, &last, err, errlen);
    if (rc || !last.found || !last.value)
        goto out; /* none, or a tombstone: no bookmark */
    sl_buf_printf(&where,
                  "of connector %s in Kafka topic %s (partition 0, offset %" PRId64 ")",
                  connector, st->topic, last.offset);
    rc = sl_bookmark_check(last.value, last.len, where.data, "", err, errlen);
    if (rc)
        goto out;
    if (strlen(last.value) != last.len) {
        rc = sl_err_set(
            err, errlen, SL_ERR_CORRUPT,
            "bookmark %s is corrupt (a NUL byte inside); it was left untouched: "
            "set a position with 'sluice offsets set', or remove it with "
            "'sluice offsets reset' to start over",
            where.data);
        goto out;
    }
    *json = last.value;
    last.value = NULL;
    *stored_ms = last.ts_ms;
out:
    free(last.value);
    sl_buf_free(&group);
    sl_buf_free(&where);
    if (rkt)
        rd_kafka_topic_destroy(rkt);
    if (c) {
        rd_kafka_consumer_close(c);
        rd_kafka_destroy(c);
    }
    return rc;
}

static void kstore_destroy(void *ctx)
{
    kstore_t *st = ctx;
    if (!st)
        return;
    if (st->rk) {
        if (st->pending && !st->reported && !st->fatal_seen)
            rd_kafka_flush(st->rk, CLOSE_FLUSH_MS); /* a last chance for it */
        rd_kafka_purge(st->rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT |
                                   RD_KAFKA_PURGE_F_NON_BLOCKING);
        rd_kafka_poll(st->rk, 0);
        rd_kafka_topic_destroy(st->rkt);
        rd_kafka_destroy(st->rk);
    }
    for (size_t i = 0; i < st->nprops; i++) {
        free(st->props[i].key);
        if (st->props[i].value)
            explicit_bzero(st->props[i].value, strlen(st->props[i].value));
        free(st->props[i].value);
    }
    free(st->props);
    free(st->conn);
    free(st->brokers);
    free(st->topic);
    free(st->client_id);
    free(st);
}

static const sl_bookmark_store_ops_t kafka_store_ops = {
    .name = "kafka",
    .load = kstore_load,
    .store = kstore_store,
    .remove = kstore_remove,
    .destroy = kstore_destroy,
};

static void add_prop(kstore_t *st, const sl_kv_t *kv)
{
    st->props[st->nprops].key = xstrdup(kv->key);
    st->props[st->nprops].value = xstrdup(kv->value);
    st->nprops++;
}

sl_bookmark_store_t *sl_kafka_store_new(const sl_kafka_store_config_t *cfg, sl_err_t *rc,
                                        char *err, size_t errlen)
{
    *rc = SL_OK;
    if (!cfg->brokers || !*cfg->brokers) {
        *rc = sl_err_set(err, errlen, SL_ERR_CONFIG,
                         "the Kafka bookmark store needs bookmarks.brokers "
                         "(host:port[,host:port...])");
        return NULL;
    }
    size_t tl = cfg->topic ? strlen(cfg->topic) : 0;
    if (!tl || tl > TOPIC_MAX ||
        strspn(cfg->topic, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLM"
                           "NOPQRSTUVWXYZ0123456789._-") != tl) {
        *rc = sl_err_set(
            err, errlen, SL_ERR_CONFIG,
            "bookmarks.topic must be 1 to %d of the bytes Kafka allows in topic "
            "names ([A-Za-z0-9._-])",
            TOPIC_MAX);
        return NULL;
    }
    kstore_t *st = calloc(1, sizeof(*st));
    if (!st)
        abort();
    st->conn = xstrdup(cfg->conn ? cfg->conn : "sluice");
    st->brokers = xstrdup(cfg->brokers);
    st->topic = xstrdup(cfg->topic);
    sl_buf_t id = SL_BUF_INIT;
    sl_buf_printf(&id, "sluice-%s-bookmarks", st->conn);
    st->client_id = sl_buf_steal(&id);
    st->ack_timeout_ms = cfg->ack_timeout_ms > 0 ? cfg->ack_timeout_ms : ACK_TIMEOUT_MS;
    st->props = calloc(cfg->ninherit + cfg->nprops + 1, sizeof(sl_kv_t));
    if (!st->props)
        abort();
    for (size_t i = 0; i < cfg->ninherit; i++)
        if (inherited_key(cfg->inherit[i].key))
            add_prop(st, &cfg->inherit[i]);
    st->ninherited = st->nprops;
    for (size_t i = 0; i < cfg->nprops; i++)
        add_prop(st, &cfg->props[i]);
    /* refuse what librdkafka refuses now, not at the first store */
    rd_kafka_conf_t *conf = NULL;
    *rc = build_conf(st, &conf, 0, err, errlen);
    if (*rc) {
        kstore_destroy(st);
        return NULL;
    }
    rd_kafka_conf_destroy(conf);
    return sl_bookmark_store_new(&kafka_store_ops, st);
}
