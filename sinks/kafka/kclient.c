/* sluice: the librdkafka plumbing the Kafka sink and the Kafka bookmark store share:
 * masking, properties, topic creation (Admin API) and reading a key's last message. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "core/buf.h"
#include "core/log.h"
#include "sinks/kafka/kclient.h"

#define ADMIN_TIMEOUT_MS 30000 /* CreateTopics request and operation */
#define WARN_EVERY_MS 10000    /* transient broker errors are logged this often */

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int sl_kafka_secret_key(const char *key)
{
    return strstr(key, "password") || strstr(key, "secret") || strstr(key, "key.pem") ||
           strstr(key, "sasl.oauthbearer.config");
}

static void mask_one(sl_buf_t *b, const char *v)
{
    size_t vl = v ? strlen(v) : 0;
    if (vl == 0 || !b->data)
        return;
    sl_buf_t o = SL_BUF_INIT;
    const char *p = b->data;
    const char *hit;
    while ((hit = strstr(p, v)) != NULL) {
        sl_buf_append(&o, p, (size_t)(hit - p));
        sl_buf_puts(&o, "***");
        p = hit + vl;
    }
    sl_buf_puts(&o, p);
    sl_buf_free(b);
    *b = o;
}

void sl_kafka_mask(const sl_kv_t *props, size_t nprops, const char *src, const char *also,
                   char *dst, size_t n)
{
    sl_buf_t b = SL_BUF_INIT;
    sl_buf_puts(&b, src ? src : "");
    mask_one(&b, also);
    for (size_t i = 0; props && i < nprops; i++)
        if (sl_kafka_secret_key(props[i].key))
            mask_one(&b, props[i].value);
    sl_log_redact(b.data ? b.data : "", dst, n);
    sl_buf_free(&b);
}

void sl_kafka_log(const sl_kv_t *props, size_t nprops, const char *conn, int level,
                  const char *fac, const char *buf)
{
    char tmp[512];
    sl_kafka_mask(props, nprops, buf, NULL, tmp, sizeof(tmp));
    sl_log_level_t l = level <= 4 ? SL_LOG_WARN : level <= 6 ? SL_LOG_INFO : SL_LOG_DEBUG;
    /* connection failures repeat every second per broker while one is down; the error
     * callback already reports the outage, rate-limited */
    if (strcmp(fac, "FAIL") == 0)
        l = SL_LOG_DEBUG;
    sl_log(l, conn, "librdkafka %s: %s", fac, tmp);
}

void sl_kafka_warn_transient(const sl_kv_t *props, size_t nprops, const char *conn,
                             const char *what, int err, const char *reason,
                             const char *tail, int64_t *last_warn_ms)
{
    int64_t now = mono_ms();
    if (now - *last_warn_ms < WARN_EVERY_MS)
        return;
    *last_warn_ms = now;
    char tmp[512];
    sl_kafka_mask(props, nprops, reason, NULL, tmp, sizeof(tmp));
    sl_warn(conn, "%s: %s (%s); retrying%s", what,
            rd_kafka_err2name((rd_kafka_resp_err_t)err), tmp, tail);
}

sl_err_t sl_kafka_conf_set(rd_kafka_conf_t *conf, const sl_kv_t *props, size_t nprops,
                           const char *key, const char *value, const char *user_path,
                           char *err, size_t errlen)
{
    char errstr[512];
    if (rd_kafka_conf_set(conf, key, value, errstr, sizeof(errstr)) == RD_KAFKA_CONF_OK)
        return SL_OK;
    char m[512];
    sl_kafka_mask(props, nprops, errstr, value, m, sizeof(m));
    if (user_path)
        return sl_err_set(err, errlen, SL_ERR_CONFIG,
                          "%s.%s: librdkafka does not accept this property or its value "
                          "(%s)",
                          user_path, key, m);
    return sl_err_set(err, errlen, SL_ERR_CONFIG, "kafka producer property %s: %s", key,
                      m);
}

/* ---------------------------------------------------------------- topics */

/* Create a missing topic with the Admin API. */
static sl_err_t topic_create(rd_kafka_t *rk, const sl_kafka_topic_spec_t *t, char *err,
                             size_t errlen)
{
    char errstr[512];
    sl_err_t rc = SL_OK;
    rd_kafka_NewTopic_t *nt = rd_kafka_NewTopic_new(
        t->name, t->partitions, t->replication, errstr, sizeof(errstr));
    if (!nt)
        return sl_err_set(err, errlen, SL_ERR_CONFIG, "cannot create Kafka topic %s: %s",
                          t->name, errstr);
    if (t->compact)
        rd_kafka_NewTopic_set_config(nt, "cleanup.policy", "compact");
    rd_kafka_AdminOptions_t *opt =
        rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_CREATETOPICS);
    rd_kafka_AdminOptions_set_request_timeout(opt, ADMIN_TIMEOUT_MS, errstr,
                                              sizeof(errstr));
    rd_kafka_AdminOptions_set_operation_timeout(opt, ADMIN_TIMEOUT_MS, errstr,
                                                sizeof(errstr));
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_CreateTopics(rk, &nt, 1, opt, q);
    rd_kafka_event_t *ev = rd_kafka_queue_poll(q, ADMIN_TIMEOUT_MS + 5000);
    rd_kafka_resp_err_t e = RD_KAFKA_RESP_ERR__TIMED_OUT;
    const char *why = "no answer";
    if (ev && rd_kafka_event_error(ev)) {
        e = rd_kafka_event_error(ev);
        why = rd_kafka_event_error_string(ev);
    } else if (ev) {
        const rd_kafka_CreateTopics_result_t *res =
            rd_kafka_event_CreateTopics_result(ev);
        size_t n = 0;
        const rd_kafka_topic_result_t **tr =
            res ? rd_kafka_CreateTopics_result_topics(res, &n) : NULL;
        if (n >= 1) {
            e = rd_kafka_topic_result_error(tr[0]);
            why = rd_kafka_topic_result_error_string(tr[0]);
            if (!why)
                why = rd_kafka_err2str(e);
        }
    }
    char why_copy[256];
    snprintf(why_copy, sizeof(why_copy), "%s", why ? why : rd_kafka_err2str(e));
    if (ev)
        rd_kafka_event_destroy(ev);
    rd_kafka_queue_destroy(q);
    rd_kafka_AdminOptions_destroy(opt);
    rd_kafka_NewTopic_destroy(nt);

    switch (e) {
    case RD_KAFKA_RESP_ERR_NO_ERROR:
        sl_info(t->conn, "kafka: created topic %s (partitions %d, replication %d%s)",
                t->name, t->partitions, t->replication, t->compact ? ", compacted" : "");
        break;
    case RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS:
        break;
    case RD_KAFKA_RESP_ERR__TIMED_OUT:
    case RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT:
    case RD_KAFKA_RESP_ERR__TRANSPORT:
    case RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN:
    case RD_KAFKA_RESP_ERR_NOT_CONTROLLER:
        rc = sl_err_set(err, errlen, SL_ERR_RETRY,
                        "creating Kafka topic %s got no answer from the brokers (%s)",
                        t->name, why_copy);
        break;
    case RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED:
    case RD_KAFKA_RESP_ERR_CLUSTER_AUTHORIZATION_FAILED:
        rc = sl_err_set(err, errlen, SL_ERR_SINK,
                        "not allowed to create Kafka topic %s (%s): %s", t->name,
                        why_copy, t->deny_create_fix);
        break;
    case RD_KAFKA_RESP_ERR_UNSUPPORTED_VERSION:
    case RD_KAFKA_RESP_ERR_INVALID_REQUEST:
    case RD_KAFKA_RESP_ERR_INVALID_PARTITIONS:
    case RD_KAFKA_RESP_ERR_INVALID_REPLICATION_FACTOR:
    case RD_KAFKA_RESP_ERR_INVALID_CONFIG:
    case RD_KAFKA_RESP_ERR_POLICY_VIOLATION:
        rc = sl_err_set(
            err, errlen, SL_ERR_CONFIG,
            "the brokers refused to create Kafka topic %s with %d partitions and "
            "replication %d (%s): %s",
            t->name, t->partitions, t->replication, why_copy, t->refused_fix);
        break;
    default:
        rc = sl_err_set(err, errlen, SL_ERR_SINK, "cannot create Kafka topic %s: %s",
                        t->name, why_copy);
        break;
    }
    return rc;
}

sl_err_t sl_kafka_topic_ensure(rd_kafka_t *rk, rd_kafka_topic_t *rkt,
                               const sl_kafka_topic_spec_t *t, int *exists, char *err,
                               size_t errlen)
{
    if (exists)
        *exists = 0;
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_resp_err_t e = rd_kafka_metadata(rk, 0, rkt, &md, t->timeout_ms);
    if (e)
        return sl_err_set(err, errlen, SL_ERR_RETRY,
                          "cannot read the metadata of Kafka topic %s from the brokers "
                          "(%s); are %s reachable?",
                          t->name, rd_kafka_err2str(e), t->brokers);
    rd_kafka_resp_err_t te = RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART;
    int nparts = 0;
    for (int i = 0; i < md->topic_cnt; i++) {
        if (strcmp(md->topics[i].topic, t->name) == 0) {
            te = md->topics[i].err;
            nparts = md->topics[i].partition_cnt;
        }
    }
    rd_kafka_metadata_destroy(md);
    if (te == RD_KAFKA_RESP_ERR_NO_ERROR && nparts > 0) {
        if (exists)
            *exists = 1;
        return SL_OK;
    }
    if (te == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART ||
        te == RD_KAFKA_RESP_ERR_NO_ERROR) {
        if (!t->create) {
            if (exists)
                return SL_OK;
            return sl_err_set(err, errlen, SL_ERR_CONFIG,
                              "Kafka topic %s does not exist and %s", t->name,
                              t->missing_fix);
        }
        sl_err_t rc = topic_create(rk, t, err, errlen);
        if (!rc && exists)
            *exists = 1;
        return rc;
    }
    if (te == RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED)
        return sl_err_set(err, errlen, SL_ERR_SINK,
                          "not allowed to use Kafka topic %s: %s", t->name, t->use_fix);
    if (te == RD_KAFKA_RESP_ERR_TOPIC_EXCEPTION)
        return sl_err_set(err, errlen, SL_ERR_SINK, "Kafka refuses the topic name %s",
                          t->name);
    return sl_err_set(err, errlen, SL_ERR_RETRY,
                      "Kafka topic %s is not available yet (%s)", t->name,
                      rd_kafka_err2str(te));
}

/* ---------------------------------------------------------------- reading back */

rd_kafka_t *sl_kafka_consumer_new(const char *brokers, const sl_kv_t *props,
                                  size_t nprops, const char *group, void *opaque,
                                  void (*log_cb)(const rd_kafka_t *, int, const char *,
                                                 const char *),
                                  char *errstr, size_t errlen)
{
    char tmp[512] = "";
    rd_kafka_t *c = NULL;
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    /* the user's properties carry TLS/SASL; producer-only ones are ignored with a note */
    int ok = rd_kafka_conf_set(conf, "bootstrap.servers", brokers, tmp, sizeof(tmp)) ==
             RD_KAFKA_CONF_OK;
    for (size_t i = 0; ok && i < nprops; i++) {
        const char *k = props[i].key;
        if (strcmp(k, "transactional.id") == 0 || strcmp(k, "client.id") == 0)
            continue;
        char ignored[512];
        rd_kafka_conf_set(conf, k, props[i].value, ignored, sizeof(ignored));
    }
    ok = ok && rd_kafka_conf_set(conf, "group.id", group, tmp, sizeof(tmp)) == 0 &&
         rd_kafka_conf_set(conf, "isolation.level", "read_committed", tmp, sizeof(tmp)) ==
             0 &&
         rd_kafka_conf_set(conf, "enable.partition.eof", "true", tmp, sizeof(tmp)) == 0 &&
         rd_kafka_conf_set(conf, "enable.auto.commit", "false", tmp, sizeof(tmp)) == 0 &&
         rd_kafka_conf_set(conf, "log_level", "3", tmp, sizeof(tmp)) == 0;
    if (ok) {
        rd_kafka_conf_set_opaque(conf, opaque);
        if (log_cb)
            rd_kafka_conf_set_log_cb(conf, log_cb);
        c = rd_kafka_new(RD_KAFKA_CONSUMER, conf, tmp, sizeof(tmp));
    }
    if (!c) {
        rd_kafka_conf_destroy(conf);
        sl_kafka_mask(props, nprops, tmp, NULL, errstr, errlen);
    }
    return c;
}

sl_err_t sl_kafka_read_last(rd_kafka_t *c, const char *topic, const char *key,
                            int skip_tombstones, int watermark_ms, int read_ms,
                            sl_kafka_last_t *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof(*out));
    int64_t lo = 0, hi = 0;
    rd_kafka_resp_err_t e =
        rd_kafka_query_watermark_offsets(c, topic, 0, &lo, &hi, watermark_ms);
    if (e)
        return sl_err_set(err, errlen, SL_ERR_RETRY,
                          "cannot read the offsets of Kafka topic %s (%s)", topic,
                          rd_kafka_err2str(e));
    int64_t window = 1000, start = hi;
    size_t klen = strlen(key);
    while (!out->found && start > lo) {
        int64_t end = start;
        start = end - window > lo ? end - window : lo;
        window *= 8;
        rd_kafka_topic_partition_list_t *pl = rd_kafka_topic_partition_list_new(1);
        rd_kafka_topic_partition_list_add(pl, topic, 0)->offset = start;
        e = rd_kafka_assign(c, pl);
        rd_kafka_topic_partition_list_destroy(pl);
        int64_t deadline = mono_ms() + read_ms;
        while (!e) {
            rd_kafka_message_t *m = rd_kafka_consumer_poll(c, 200);
            if (!m) {
                if (mono_ms() > deadline)
                    e = RD_KAFKA_RESP_ERR__TIMED_OUT;
                continue;
            }
            if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
                rd_kafka_message_destroy(m);
                break;
            }
            if (m->err) {
                e = m->err;
            } else if (m->offset < end && m->key_len == klen &&
                       memcmp(m->key, key, klen) == 0 &&
                       (m->payload || !skip_tombstones)) {
                /* later messages of the window replace earlier ones: the last one wins */
                free(out->value);
                out->value = NULL;
                out->len = m->payload ? m->len : 0;
                if (m->payload) {
                    out->value = malloc(m->len + 1);
                    if (!out->value)
                        abort();
                    memcpy(out->value, m->payload, m->len);
                    out->value[m->len] = 0;
                }
                out->offset = m->offset;
                rd_kafka_timestamp_type_t tt;
                int64_t ts = rd_kafka_message_timestamp(m, &tt);
                out->ts_ms = tt == RD_KAFKA_TIMESTAMP_NOT_AVAILABLE || ts < 0 ? 0 : ts;
                out->found = 1;
            }
            rd_kafka_message_destroy(m);
        }
        if (e) {
            free(out->value);
            memset(out, 0, sizeof(*out));
            return sl_err_set(err, errlen, SL_ERR_RETRY,
                              "cannot read the bookmark back from Kafka topic %s (%s)",
                              topic, rd_kafka_err2str(e));
        }
    }
    return SL_OK;
}
