/* sluice: what the Kafka sink and the Kafka bookmark store share: secrets masked out of
 * librdkafka's text, property setting, topic creation, reading a key's last message. */
#ifndef SL_KAFKA_CLIENT_H
#define SL_KAFKA_CLIENT_H

#include <stddef.h>
#include <stdint.h>
#include <librdkafka/rdkafka.h>
#include "config/config.h"
#include "core/err.h"

/* Keys of librdkafka properties whose values are secrets (the config loader's rule). */
int sl_kafka_secret_key(const char *key);

/* Copy src to dst (size n) with secrets masked: registered secrets (sl_log_redact), the
 * values of secret-looking properties among props[0..nprops), and `also` (a value
 * librdkafka just rejected: its error strings quote the offending value). */
void sl_kafka_mask(const sl_kv_t *props, size_t nprops, const char *src, const char *also,
                   char *dst, size_t n);

/* A librdkafka log line, masked as above, at sluice's matching level; connection
 * failures ("FAIL", once a second per broker while one is down) go to debug. */
void sl_kafka_log(const sl_kv_t *props, size_t nprops, const char *conn, int level,
                  const char *fac, const char *buf);

/* A transient error from librdkafka's error callback (brokers down, transport), which it
 * retries by itself: logged as "<what>: <ERR> (<reason>); retrying<tail>", masked, at
 * most every 10 s (*last_warn_ms keeps the time), so an outage shows without flooding. */
void sl_kafka_warn_transient(const sl_kv_t *props, size_t nprops, const char *conn,
                             const char *what, int err, const char *reason,
                             const char *tail, int64_t *last_warn_ms);

/* Set one property; a refusal is SL_ERR_CONFIG with a sentence naming the key, never the
 * value. user_path is where the user wrote it ("sink.kafka"), NULL for sluice's own. */
sl_err_t sl_kafka_conf_set(rd_kafka_conf_t *conf, const sl_kv_t *props, size_t nprops,
                           const char *key, const char *value, const char *user_path,
                           char *err, size_t errlen);

/* A topic to make sure of, and the words for what the user can do about a problem. */
typedef struct sl_kafka_topic_spec {
    const char *name;
    int compact;                 /* created with cleanup.policy=compact */
    int partitions, replication; /* for the creation; -1 = the broker's default */
    int create;                  /* create it when missing (Admin API) */
    const char *brokers;         /* named when they do not answer */
    const char *conn;            /* log lines */
    int timeout_ms;              /* the metadata request */
    const char *use_fix; /* not authorized to describe: "grant DESCRIBE and WRITE ..." */
    const char
        *missing_fix; /* create == 0 and missing: "sink.create_topics is false: ..." */
    const char *deny_create_fix; /* not authorized to create */
    const char *refused_fix;     /* the brokers refused the partitions or replication */
} sl_kafka_topic_spec_t;

/* Make sure topic spec->name exists (a metadata request through rk for rkt), creating it
 * with the Admin API when missing and spec->create. SL_OK when it exists; SL_ERR_RETRY
 * (try again later) when the brokers do not answer or the topic is not ready yet; else
 * SL_ERR_CONFIG or SL_ERR_SINK with a sentence. A missing topic with create == 0 is
 * SL_OK with *exists = 0 when exists is not NULL, else SL_ERR_CONFIG. */
sl_err_t sl_kafka_topic_ensure(rd_kafka_t *rk, rd_kafka_topic_t *rkt,
                               const sl_kafka_topic_spec_t *spec, int *exists, char *err,
                               size_t errlen);

/* A consumer that reads messages back by assign (no group membership, no commits,
 * read_committed, partition EOF reported, librdkafka logging errors only): bootstrap
 * brokers and the properties in props (TLS, SASL; transactional.id and client.id are
 * left out, properties a consumer does not know are ignored). opaque and log_cb are
 * installed as given. NULL with a masked sentence in errstr when librdkafka refuses. */
rd_kafka_t *sl_kafka_consumer_new(const char *brokers, const sl_kv_t *props,
                                  size_t nprops, const char *group, void *opaque,
                                  void (*log_cb)(const rd_kafka_t *, int, const char *,
                                                 const char *),
                                  char *errstr, size_t errlen);

typedef struct sl_kafka_last {
    int found;      /* a message with the key was found */
    char *value;    /* its value, NUL-terminated (caller frees); NULL for a tombstone */
    size_t len;     /* of value */
    int64_t offset; /* where it is */
    int64_t ts_ms;  /* its timestamp (ms since the epoch), 0 when it has none */
} sl_kafka_last_t;

/* The last message keyed `key` in partition 0 of topic, up to the high watermark at the
 * time of the call: the same answer as reading from the beginning, found by scanning back
 * from the end in growing windows (compaction and retention only ever remove older
 * messages). skip_tombstones: a null value does not count, the scan goes further back.
 * watermark_ms bounds the offsets request, read_ms the reading. SL_ERR_RETRY with a
 * sentence when the brokers do not answer in time. out is filled (zeroed first). */
sl_err_t sl_kafka_read_last(rd_kafka_t *consumer, const char *topic, const char *key,
                            int skip_tombstones, int watermark_ms, int read_ms,
                            sl_kafka_last_t *out, char *err, size_t errlen);

#endif
