/* sluice: the Kafka sink: Debezium-compatible envelopes to one topic per table, keyed by
 * primary key, with an idempotent librdkafka producer whose delivery reports drive acks.
 *
 * Topics and messages (contract 3.2):
 *  - Table topic "<prefix>.<schema or db>.<table>". Kafka allows only [A-Za-z0-9._-] in
 *    names, so any other byte becomes '_' (as Debezium does); a warning names each such
 *    topic once. A name longer than Kafka's 249 bytes is a fatal error.
 *  - Key: the record's key JSON (key_len 0: a null key, spread at random by the Java
 *    murmur2_random partitioner, so keyed records land where Java producers put them).
 *    Value: the envelope. After a delete ('d') of a keyed row, a tombstone (same key,
 *    null value) follows when sink.tombstones is on.
 *  - The first time a table version (schema cache pointer) is seen, sl_table_to_json()
 *    goes to the compacted topic "<prefix>.__schemas" keyed "<qualified>:v<version>".
 *    A restart publishes again under the same key; compaction keeps one.
 *  - Missing topics are created with the Admin API (topic_partitions, topic_replication;
 *    the schema and bookmark topics are compacted with one partition), or, with
 *    create_topics off, are an error that names the topic.
 *
 * Durability (at-least-once, the default): every record gets a slot in an in-order ring
 * holding its position and the number of its messages not yet delivered (value,
 * tombstone, schema document). The message opaque is the slot's sequence number; the
 * delivery-report callback (served by rd_kafka_poll on the sink thread, never elsewhere)
 * decrements it. Reports arrive out of order across partitions; the head of the ring only
 * advances over fully delivered slots, and the position of the last slot passed is acked,
 * so an ack never covers an undelivered record. A batch end becomes a slot with nothing
 * pending, acked as soon as everything before it is delivered. A slot is created holding
 * one extra count that is released when all its messages are queued, so a poll in the
 * middle of a record cannot pass it.
 *
 * Broker trouble: message.timeout.ms is 0 (infinite) and the producer is idempotent, so
 * librdkafka retries without reordering or duplicating and nothing is ever dropped. When
 * the local queue is full the sink polls and retries; after STALL_MS without a single
 * delivery it returns SL_ERR_RETRY and remembers where it stopped in the batch, so the
 * pipeline's retry of the same batch goes on from there (a retry never re-sends what was
 * queued). Memory stays bounded by the queue limits set below and backpressure reaches
 * the source. A failed delivery (only permanent errors fail with an infinite timeout) or
 * a fatal producer error breaks the sink: SL_ERR_SINK with one sentence, no ack after it.
 *
 * Exactly-once (sink.exactly_once): a transactional producer with transactional.id
 * "sluice-<connector>" (a second worker with the same connector fences the first). Each
 * batch is one transaction carrying its records and a bookmark message (key = connector
 * name, value {"connector":..,"pos":"<sl_pos_key>","minor":n}) to the compacted topic
 * "<prefix>.__bookmarks". The ack follows the commit. At start the last committed
 * bookmark is read back (read_committed) and records at or before it are dropped, so a
 * core bookmark that lags the Kafka one never duplicates a committed record. (The core
 * cannot yet load its resume position from that topic: that needs a core hook.)
 *
 * Threading: librdkafka calls the log callback from its own threads (sl_log is
 * thread-safe); the delivery and error callbacks only run inside rd_kafka_poll/flush on
 * the sink thread. Secrets: property values are never put in a message (librdkafka's
 * errors quote values; they are masked before use). */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <jansson.h>
#include <librdkafka/rdkafka.h>
#include "config/config.h"
#include "core/hash.h"
#include "core/log.h"
#include "sinks/kafka/kafka.h"
#include "sinks/kafka/kclient.h"

#define STALL_MS 5000             /* queue full and no delivery this long: SL_ERR_RETRY */
#define FLUSH_STALL_MS 30000      /* flush gives up after this long without a delivery */
#define METADATA_TIMEOUT_MS 10000 /* one topic's metadata request */
#define READ_TIMEOUT_MS 30000     /* reading the exactly-once bookmark back */
#define TXN_TIMEOUT_MS 30000      /* init/commit/abort of a transaction, per call */
#define TOPIC_MAX 249             /* Kafka's limit on topic name length */
#define RING_MIN 4096

typedef struct ktopic {
    char *name; /* owned */
    uint64_t hash;
    rd_kafka_topic_t *rkt;
    int ready; /* known to exist (seen in metadata or created) */
    struct ktopic *next;
} ktopic_t;

/* A table version that has been seen: its topic and whether its schema was published. */
typedef struct ktver {
    const sl_table_t *table;
    ktopic_t *topic;
    int schema_sent;
    uint64_t schema_txn; /* exactly-once: the transaction that carried the schema */
    struct ktver *next;
} ktver_t;

typedef struct slot {
    sl_pos_t pos;
    uint32_t pending; /* messages of this record not yet delivered (+1 while queuing) */
} slot_t;

typedef enum { TXN_NONE, TXN_OPEN, TXN_COMMITTING } txn_state_t;

typedef struct kafka_sink {
    sl_sink_env_t *env;
    const char *conn; /* connector name for log lines, borrowed from env */
    rd_kafka_t *rk;
    const sl_sink_config_t *cfg; /* borrowed: the config outlives the sink */
    char *prefix;                /* owned: the topic prefix with invalid bytes replaced */
    int tombstones, create_topics, partitions, replication, eos;

    ktopic_t **topics; /* hash by name */
    size_t ntopics, topic_buckets;
    ktver_t **tvers; /* hash by table pointer */
    size_t ntvers, tver_buckets;
    const sl_table_t *last_table; /* one-entry cache in front of tvers */
    ktver_t *last_tver;
    ktopic_t *schemas;   /* "<prefix>.__schemas" */
    ktopic_t *bookmarks; /* "<prefix>.__bookmarks" (exactly-once) */

    slot_t *ring; /* power-of-two size; seq s lives at s & (ring_cap - 1) */
    size_t ring_cap;
    uint64_t head, tail; /* sequence numbers: [head, tail) are live; 0 means "no slot" */
    uint64_t delivered;  /* messages delivered so far: progress for stall detection */
    uint64_t cur_seq;    /* the slot of the record being queued */

    sl_pos_t resume; /* records at or before it are durable already and dropped */
    int has_resume;
    sl_pos_t last_rec; /* positions of records must increase */
    int has_last_rec;
    sl_pos_t last_end; /* the newest batch end given a slot */
    int has_last_end;
    sl_pos_t acked;
    int has_acked;

    /* a write that returned SL_ERR_RETRY part-way: where the same batch goes on */
    const sl_batch_t *retry_batch;
    size_t retry_idx;
    int retry_step;
    int64_t stall_start;
    uint64_t stall_delivered;

    /* exactly-once */
    int eos_ready; /* transactions initialised and the Kafka bookmark read */
    txn_state_t txn;
    uint64_t txn_no;
    sl_pos_t txn_last_rec; /* last_rec before the open transaction (restored on abort) */
    int txn_has_last_rec;
    sl_pos_t txn_pos; /* the position the open transaction's bookmark names */
    int txn_has_pos;
    size_t txn_records;

    uint64_t produced, skipped;
    int64_t last_warn_ms;
    int fatal_seen; /* the error callback saw RD_KAFKA_RESP_ERR__FATAL */
    int closing;    /* destroy: delivery reports change nothing any more */
    sl_buf_t scratch;
    sl_err_t broken; /* after a fatal failure nothing more is produced or acked */
    char broken_msg[512];
} kafka_sink_t;

/* ---------------------------------------------------------------- small helpers */

static void *xcalloc(size_t n, size_t sz)
{
    void *p = calloc(n, sz);
    if (!p)
        abort();
    return p;
}

static char *xstrdup(const char *s)
{
    char *d = strdup(s);
    if (!d)
        abort();
    return d;
}

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Remember the first fatal failure: from then on nothing is produced or acked. */
static sl_err_t fail(kafka_sink_t *s, sl_err_t rc, char *err, size_t errlen,
                     const char *fmt, ...) __attribute__((format(printf, 5, 6)));
static sl_err_t fail(kafka_sink_t *s, sl_err_t rc, char *err, size_t errlen,
                     const char *fmt, ...)
{
    char msg[sizeof(s->broken_msg)];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (!s->broken) {
        s->broken = rc;
        snprintf(s->broken_msg, sizeof(s->broken_msg), "%s", msg);
    }
    return sl_err_set(err, errlen, rc, "%s", msg);
}

static sl_err_t broken(kafka_sink_t *s, char *err, size_t errlen)
{
    return sl_err_set(err, errlen, s->broken, "%s", s->broken_msg);
}

/* Copy src to dst (size n) with secrets masked (sl_kafka_mask over sink.kafka). */
static void mask_values(const sl_sink_config_t *cfg, const char *src, const char *also,
                        char *dst, size_t n)
{
    sl_kafka_mask(cfg ? cfg->kafka : NULL, cfg ? cfg->nkafka : 0, src, also, dst, n);
}

/* Append a name component with every byte Kafka does not allow in topic names replaced
 * by '_'. Returns the number of bytes replaced. */
static size_t put_topic_part(sl_buf_t *out, const char *s)
{
    size_t changed = 0;
    for (const unsigned char *p = (const unsigned char *)(s ? s : ""); *p; p++) {
        unsigned char c = *p;
        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
            c == '.' || c == '_' || c == '-') {
            sl_buf_putc(out, (char)c);
        } else {
            sl_buf_putc(out, '_');
            changed++;
        }
    }
    return changed;
}

/* ------------------------------------------------------------ librdkafka callbacks */

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    kafka_sink_t *s = opaque;
    if (s->closing)
        return;
    if (m->err) {
        char fe[8];
        if (m->err == RD_KAFKA_RESP_ERR__FATAL ||
            rd_kafka_fatal_error(rk, fe, sizeof(fe))) {
            /* after a fatal error the queue is purged; check_fatal words the cause */
            s->fatal_seen = 1;
            return;
        }
        if (s->eos)
            return; /* the transaction's commit reports it and aborts */
        if (!s->broken) {
            char tmp[512];
            snprintf(
                tmp, sizeof(tmp),
                "Kafka did not accept a record for topic %s: %s; the connector stops "
                "and its bookmark stays before that record",
                m->rkt ? rd_kafka_topic_name(m->rkt) : "?", rd_kafka_err2str(m->err));
            s->broken = SL_ERR_SINK;
            mask_values(s->cfg, tmp, NULL, s->broken_msg, sizeof(s->broken_msg));
        }
        return;
    }
    s->delivered++;
    uint64_t seq = (uint64_t)(uintptr_t)m->_private;
    if (seq == 0 || seq < s->head || seq >= s->tail)
        return; /* no slot (exactly-once, bookmarks) */
    slot_t *sl = &s->ring[seq & (s->ring_cap - 1)];
    if (sl->pending)
        sl->pending--;
}

static void on_error(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
    kafka_sink_t *s = opaque;
    if (err == RD_KAFKA_RESP_ERR__FATAL) {
        s->fatal_seen = 1;
        return;
    }
    sl_kafka_warn_transient(s->cfg->kafka, s->cfg->nkafka, s->conn, "kafka", err, reason,
                            ", nothing is skipped", &s->last_warn_ms);
}

static void on_log(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    const kafka_sink_t *s = rd_kafka_opaque(rk);
    sl_kafka_log(s ? s->cfg->kafka : NULL, s ? s->cfg->nkafka : 0, s ? s->conn : NULL,
                 level, fac, buf);
}

/* After a poll: turn a fatal producer error into a broken sink. */
static void check_fatal(kafka_sink_t *s)
{
    if (!s->fatal_seen || s->broken)
        return;
    char reason[512], tmp[700];
    rd_kafka_resp_err_t e = rd_kafka_fatal_error(s->rk, reason, sizeof(reason));
    snprintf(tmp, sizeof(tmp),
             "the Kafka producer failed fatally (%s: %s); the connector stops and its "
             "bookmark stays at the last delivered record",
             rd_kafka_err2name(e), reason);
    s->broken = SL_ERR_SINK;
    mask_values(s->cfg, tmp, NULL, s->broken_msg, sizeof(s->broken_msg));
}

/* ---------------------------------------------------------------- acks and the ring */

static slot_t *ring_at(kafka_sink_t *s, uint64_t seq)
{
    return &s->ring[seq & (s->ring_cap - 1)];
}

static uint64_t ring_push(kafka_sink_t *s, const sl_pos_t *pos, uint32_t pending)
{
    if (s->tail - s->head == s->ring_cap) {
        /* more in flight than ever before: double, keeping each seq's new index */
        size_t ncap = s->ring_cap * 2;
        slot_t *n = xcalloc(ncap, sizeof(*n));
        for (uint64_t q = s->head; q < s->tail; q++)
            n[q & (ncap - 1)] = s->ring[q & (s->ring_cap - 1)];
        free(s->ring);
        s->ring = n;
        s->ring_cap = ncap;
    }
    slot_t *sl = ring_at(s, s->tail);
    sl->pos = *pos;
    sl->pending = pending;
    return s->tail++;
}

/* Ack p unless it is not past what was acked already (an equal position with a larger
 * minor is news: PostgreSQL's end-of-commit LSN). */
static void ack(kafka_sink_t *s, const sl_pos_t *p)
{
    if (s->broken)
        return;
    if (s->has_acked) {
        int c = sl_pos_cmp(p, &s->acked);
        if (c < 0 || (c == 0 && p->minor <= s->acked.minor))
            return;
    }
    s->acked = *p;
    s->has_acked = 1;
    s->env->ack(s->env, &s->acked);
}

/* Pass every fully delivered slot at the head and ack the last one passed. */
static void advance(kafka_sink_t *s)
{
    sl_pos_t last;
    int any = 0;
    while (s->head < s->tail) {
        slot_t *sl = ring_at(s, s->head);
        if (sl->pending)
            break;
        last = sl->pos;
        any = 1;
        s->head++;
    }
    if (any)
        ack(s, &last);
}

static void poll_events(kafka_sink_t *s, int timeout_ms)
{
    rd_kafka_poll(s->rk, timeout_ms);
    check_fatal(s);
    if (!s->eos)
        advance(s);
}

/* ---------------------------------------------------------------- topics */

static ktopic_t *topic_get(kafka_sink_t *s, const char *name)
{
    uint64_t h = sl_fnv64(SL_FNV64_INIT, name, strlen(name));
    if (s->topic_buckets) {
        for (ktopic_t *t = s->topics[h & (s->topic_buckets - 1)]; t; t = t->next)
            if (t->hash == h && strcmp(t->name, name) == 0)
                return t;
    }
    if (s->ntopics >= s->topic_buckets) {
        size_t nb = s->topic_buckets ? s->topic_buckets * 2 : 64;
        ktopic_t **b = xcalloc(nb, sizeof(*b));
        for (size_t i = 0; i < s->topic_buckets; i++) {
            for (ktopic_t *t = s->topics[i], *next; t; t = next) {
                next = t->next;
                t->next = b[t->hash & (nb - 1)];
                b[t->hash & (nb - 1)] = t;
            }
        }
        free(s->topics);
        s->topics = b;
        s->topic_buckets = nb;
    }
    ktopic_t *t = xcalloc(1, sizeof(*t));
    t->name = xstrdup(name);
    t->hash = h;
    /* default topic config: the producer's, which is what we set */
    t->rkt = rd_kafka_topic_new(s->rk, name, NULL);
    if (!t->rkt)
        abort(); /* only fails on an invalid topic conf, and we pass none */
    t->next = s->topics[h & (s->topic_buckets - 1)];
    s->topics[h & (s->topic_buckets - 1)] = t;
    s->ntopics++;
    return t;
}

/* Make sure topic t exists: once per topic and process, by a metadata request; created
 * with the Admin API when missing (create_topics). */
static sl_err_t topic_ensure(kafka_sink_t *s, ktopic_t *t, int compact, int partitions,
                             char *err, size_t errlen)
{
    if (t->ready)
        return SL_OK;
    const sl_kafka_topic_spec_t spec = {
        .name = t->name,
        .compact = compact,
        .partitions = partitions,
        .replication = s->replication,
        .create = s->create_topics,
        .brokers = s->cfg->brokers,
        .conn = s->conn,
        .timeout_ms = METADATA_TIMEOUT_MS,
        .use_fix = "grant DESCRIBE and WRITE on it to the producer's principal",
        .missing_fix =
            "sink.create_topics is false: create the topic, or set create_topics: true",
        .deny_create_fix =
            "grant CREATE to the producer's principal, or create the topic "
            "and set create_topics: false",
        .refused_fix =
            "set sink.topic_partitions and sink.topic_replication to values the "
            "cluster accepts (brokers older than 2.4 need both set explicitly)",
    };
    sl_err_t rc = sl_kafka_topic_ensure(s->rk, t->rkt, &spec, NULL, err, errlen);
    if (rc == SL_OK) {
        t->ready = 1;
    } else if (!sl_err_is_transient(rc)) {
        char msg[512];
        snprintf(msg, sizeof(msg), "%s", err);
        return fail(s, rc, err, errlen, "%s", msg);
    }
    return rc;
}

/* The topic of a table version, made on first sight. */
static sl_err_t tver_for(kafka_sink_t *s, const sl_table_t *table, ktver_t **out,
                         char *err, size_t errlen)
{
    if (table == s->last_table) {
        *out = s->last_tver;
        return SL_OK;
    }
    uint64_t h = sl_ptr_hash(table);
    ktver_t *v = NULL;
    if (s->tver_buckets) {
        for (v = s->tvers[h & (s->tver_buckets - 1)]; v; v = v->next)
            if (v->table == table)
                break;
    }
    if (!v) {
        sl_buf_reset(&s->scratch);
        sl_buf_puts(&s->scratch, s->prefix);
        sl_buf_putc(&s->scratch, '.');
        size_t changed =
            put_topic_part(&s->scratch, table->schema ? table->schema : table->db);
        sl_buf_putc(&s->scratch, '.');
        changed += put_topic_part(&s->scratch, table->name);
        if (s->scratch.len > TOPIC_MAX)
            return fail(
                s, SL_ERR_SINK, err, errlen,
                "the Kafka topic name for table %s would be %zu bytes, more than "
                "Kafka's %d: use a shorter sink.topic_prefix or exclude the table",
                table->qualified, s->scratch.len, TOPIC_MAX);
        if (changed)
            sl_warn(s->conn,
                    "kafka: table %s goes to topic %s (bytes Kafka does not allow in "
                    "topic names became '_')",
                    table->qualified, s->scratch.data);
        if (s->ntvers >= s->tver_buckets) {
            size_t nb = s->tver_buckets ? s->tver_buckets * 2 : 64;
            ktver_t **b = xcalloc(nb, sizeof(*b));
            for (size_t i = 0; i < s->tver_buckets; i++) {
                for (ktver_t *x = s->tvers[i], *next; x; x = next) {
                    next = x->next;
                    uint64_t k = sl_ptr_hash(x->table) & (nb - 1);
                    x->next = b[k];
                    b[k] = x;
                }
            }
            free(s->tvers);
            s->tvers = b;
            s->tver_buckets = nb;
        }
        v = xcalloc(1, sizeof(*v));
        v->table = table;
        v->topic = topic_get(s, s->scratch.data);
        v->next = s->tvers[h & (s->tver_buckets - 1)];
        s->tvers[h & (s->tver_buckets - 1)] = v;
        s->ntvers++;
    }
    s->last_table = table;
    s->last_tver = v;
    *out = v;
    return SL_OK;
}

/* ---------------------------------------------------------------- producing */

/* Queue one message (val NULL: a tombstone; key NULL: a null key), copying both. A full
 * local queue is waited out by polling; SL_ERR_RETRY after STALL_MS without a delivery.
 * seq: the ring slot whose pending count this message joins, 0 for none. partition:
 * RD_KAFKA_PARTITION_UA for the partitioner's choice. */
static sl_err_t produce(kafka_sink_t *s, ktopic_t *t, int32_t partition, const void *key,
                        size_t klen, const void *val, size_t vlen, uint64_t seq,
                        char *err, size_t errlen)
{
    for (;;) {
        if (rd_kafka_produce(t->rkt, partition, RD_KAFKA_MSG_F_COPY, (void *)val, vlen,
                             key, klen, (void *)(uintptr_t)seq) == 0) {
            /* the report can only be served by a later poll on this thread */
            if (seq)
                ring_at(s, seq)->pending++;
            return SL_OK;
        }
        rd_kafka_resp_err_t e = rd_kafka_last_error();
        if (e == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
            poll_events(s, 50);
            if (s->broken)
                return broken(s, err, errlen);
            int64_t now = mono_ms();
            if (s->delivered != s->stall_delivered) {
                s->stall_delivered = s->delivered;
                s->stall_start = now;
            } else if (now - s->stall_start >= STALL_MS) {
                return sl_err_set(err, errlen, SL_ERR_RETRY,
                                  "Kafka has confirmed nothing for %d s and the local "
                                  "queue is full (%d messages wait); brokers %s "
                                  "unreachable or slow",
                                  STALL_MS / 1000, rd_kafka_outq_len(s->rk),
                                  s->cfg->brokers);
            }
            continue;
        }
        if (e == RD_KAFKA_RESP_ERR__FATAL) {
            s->fatal_seen = 1;
            check_fatal(s);
            return broken(s, err, errlen);
        }
        if (e == RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE)
            return fail(s, SL_ERR_SINK, err, errlen,
                        "a message of %zu bytes for Kafka topic %s is larger than the "
                        "producer allows: raise sink.kafka.message.max.bytes (and the "
                        "topic's max.message.bytes)",
                        vlen + klen, t->name);
        return fail(s, SL_ERR_SINK, err, errlen, "cannot produce to Kafka topic %s: %s",
                    t->name, rd_kafka_err2str(e));
    }
}

/* One record in steps, so a SL_ERR_RETRY can resume exactly where it stopped:
 * 0 checks and topics, 1 schema document, 2 value, 3 tombstone. */
static sl_err_t put_record(kafka_sink_t *s, const sl_batch_t *b, const sl_record_t *r,
                           int *step, char *err, size_t errlen)
{
    ktver_t *v;
    sl_err_t rc;
    if (*step == 0) {
        if (s->has_last_rec) {
            if (sl_pos_cmp(&r->pos, &s->last_rec) <= 0) {
                char k1[SL_POS_KEY_LEN + 1], k2[SL_POS_KEY_LEN + 1];
                sl_pos_key(&r->pos, k1);
                sl_pos_key(&s->last_rec, k2);
                return fail(s, SL_ERR_SINK, err, errlen,
                            "record position %s is not after the previous record's %s; "
                            "acks need increasing positions (a source bug)",
                            k1, k2);
            }
        } else if (s->has_resume && sl_pos_cmp(&r->pos, &s->resume) <= 0) {
            s->skipped++; /* at or before the resume point: durable already */
            return SL_OK;
        }
        rc = tver_for(s, r->table, &v, err, errlen);
        if (rc)
            return rc;
        rc = topic_ensure(s, v->topic, 0, s->partitions, err, errlen);
        if (!rc && !v->schema_sent)
            rc = topic_ensure(s, s->schemas, 1, 1, err, errlen);
        if (rc)
            return rc;
        /* the extra count holds the slot until every message of the record is queued */
        s->cur_seq = s->eos ? 0 : ring_push(s, &r->pos, 1);
        *step = 1;
    } else {
        rc = tver_for(s, r->table, &v, err, errlen);
        if (rc)
            return rc;
    }
    if (*step == 1) {
        if (!v->schema_sent) {
            sl_buf_reset(&s->scratch);
            sl_table_to_json(v->table, &s->scratch);
            char key[512];
            int kl = snprintf(key, sizeof(key), "%s:v%" PRIu32, v->table->qualified,
                              v->table->version);
            if (kl < 0 || (size_t)kl >= sizeof(key))
                kl = (int)sizeof(key) - 1;
            rc = produce(s, s->schemas, RD_KAFKA_PARTITION_UA, key, (size_t)kl,
                         s->scratch.data, s->scratch.len, s->cur_seq, err, errlen);
            if (rc)
                return rc;
            v->schema_sent = 1;
            v->schema_txn = s->txn_no;
        }
        *step = 2;
    }
    const char *key = r->key_len ? sl_record_key(b, r) : NULL;
    if (*step == 2) {
        rc = produce(s, v->topic, RD_KAFKA_PARTITION_UA, key, r->key_len,
                     r->val_len ? sl_record_value(b, r) : NULL, r->val_len, s->cur_seq,
                     err, errlen);
        if (rc)
            return rc;
        *step = 3;
    }
    if (*step == 3) {
        /* a null-key tombstone means nothing to compaction (and brokers reject it) */
        if (r->op == 'd' && s->tombstones && r->key_len && r->val_len) {
            rc = produce(s, v->topic, RD_KAFKA_PARTITION_UA, key, r->key_len, NULL, 0,
                         s->cur_seq, err, errlen);
            if (rc)
                return rc;
        }
        *step = 4;
    }
    if (s->cur_seq)
        ring_at(s, s->cur_seq)->pending--; /* release the hold */
    s->last_rec = r->pos;
    s->has_last_rec = 1;
    s->produced++;
    return SL_OK;
}

/* The batch end as a slot with nothing pending: acked once all before it is delivered. */
static void push_end(kafka_sink_t *s, const sl_pos_t *end)
{
    const sl_pos_t *newest = s->has_last_end ? &s->last_end : NULL;
    if (s->has_last_rec && (!newest || sl_pos_cmp(&s->last_rec, newest) > 0))
        newest = &s->last_rec;
    if (newest) {
        int c = sl_pos_cmp(end, newest);
        if (c < 0 || (c == 0 && end->minor <= newest->minor))
            return;
    }
    s->last_end = *end;
    s->has_last_end = 1;
    ring_push(s, end, 0);
}

/* ---------------------------------------------------------------- exactly-once */

/* A transaction API error: SL_ERR_RETRY when librdkafka says a retry may work,
 * SL_ERR_SINK (and a broken sink) when it is fatal. Takes ownership of e. *abort_needed
 * is set when the open transaction must be aborted first. */
static sl_err_t txn_error(kafka_sink_t *s, rd_kafka_error_t *e, const char *what,
                          int *abort_needed, char *err, size_t errlen)
{
    char msg[512];
    mask_values(s->cfg, rd_kafka_error_string(e), NULL, msg, sizeof(msg));
    int fatal = rd_kafka_error_is_fatal(e);
    int abortable = rd_kafka_error_txn_requires_abort(e);
    rd_kafka_error_destroy(e);
    if (abort_needed)
        *abort_needed = abortable;
    if (fatal)
        return fail(
            s, SL_ERR_SINK, err, errlen,
            "the Kafka transaction could not %s (%s); another worker with the same "
            "transactional.id may have taken over: the connector stops",
            what, msg);
    return sl_err_set(err, errlen, SL_ERR_RETRY,
                      "the Kafka transaction could not %s (%s)", what, msg);
}

/* Read the last committed bookmark of this connector back from <prefix>.__bookmarks:
 * a read_committed consumer scans back from the end until it finds the connector's key.
 */
static sl_err_t eos_read_bookmark(kafka_sink_t *s, char *err, size_t errlen)
{
    char errstr[512];
    sl_err_t rc = SL_OK;
    sl_buf_t group = SL_BUF_INIT;
    json_t *doc = NULL;
    sl_kafka_last_t last = {0};
    sl_buf_printf(&group, "sluice-%s-bookmarks", s->conn);
    rd_kafka_t *c = sl_kafka_consumer_new(s->cfg->brokers, s->cfg->kafka, s->cfg->nkafka,
                                          group.data, s, on_log, errstr, sizeof(errstr));
    if (!c) {
        rc = fail(s, SL_ERR_CONFIG, err, errlen,
                  "cannot create the consumer that reads bookmarks back: %s", errstr);
        goto out;
    }
    rc = sl_kafka_read_last(c, s->bookmarks->name, s->conn, 1, METADATA_TIMEOUT_MS,
                            READ_TIMEOUT_MS, &last, err, errlen);
    if (rc)
        goto out;
    if (last.found) {
        doc = json_loadb(last.value, last.len, 0, NULL);
        const char *pk = json_string_value(json_object_get(doc, "pos"));
        json_t *minor = json_object_get(doc, "minor");
        sl_pos_t p;
        if (!pk || sl_pos_key_parse(pk, strlen(pk), &p) != 0 || !json_is_integer(minor)) {
            rc = fail(s, SL_ERR_CORRUPT, err, errlen,
                      "the last bookmark of connector %s in Kafka topic %s is not one "
                      "sluice wrote",
                      s->conn, s->bookmarks->name);
            goto out;
        }
        p.minor = (uint64_t)json_integer_value(minor);
        char k[SL_POS_KEY_LEN + 1];
        sl_pos_key(&p, k);
        if (!s->has_resume || sl_pos_cmp(&p, &s->resume) > 0) {
            sl_info(s->conn,
                    "kafka: the last committed transaction reached %s, after the stored "
                    "bookmark; records up to it are skipped",
                    k);
            s->resume = p;
            s->has_resume = 1;
        }
    }
out:
    json_decref(doc);
    free(last.value);
    sl_buf_free(&group);
    if (c) {
        rd_kafka_consumer_close(c);
        rd_kafka_destroy(c);
    }
    return rc;
}

static sl_err_t eos_init(kafka_sink_t *s, char *err, size_t errlen)
{
    /* init_transactions also fences an older producer with our transactional.id and
     * aborts what it left open, so the bookmark read after it is final */
    rd_kafka_error_t *e = rd_kafka_init_transactions(s->rk, TXN_TIMEOUT_MS);
    if (e)
        return txn_error(s, e, "start", NULL, err, errlen);
    sl_err_t rc = topic_ensure(s, s->bookmarks, 1, 1, err, errlen);
    if (rc)
        return rc;
    rc = eos_read_bookmark(s, err, errlen);
    if (rc)
        return rc;
    s->eos_ready = 1;
    return SL_OK;
}

/* Abort the open transaction and forget what it carried, so the batch is written anew. */
static sl_err_t eos_abort(kafka_sink_t *s, char *err, size_t errlen)
{
    rd_kafka_error_t *e = rd_kafka_abort_transaction(s->rk, TXN_TIMEOUT_MS);
    if (e) {
        int dummy;
        return txn_error(s, e, "be aborted", &dummy, err, errlen);
    }
    /* purged messages come back as reports; serve them before anything new is queued */
    rd_kafka_poll(s->rk, 0);
    for (size_t i = 0; i < s->tver_buckets; i++)
        for (ktver_t *v = s->tvers[i]; v; v = v->next)
            if (v->schema_sent && v->schema_txn == s->txn_no)
                v->schema_sent = 0;
    s->last_rec = s->txn_last_rec;
    s->has_last_rec = s->txn_has_last_rec;
    s->txn = TXN_NONE;
    return SL_OK;
}

static sl_err_t eos_write(kafka_sink_t *s, const sl_batch_t *b, size_t i, int step,
                          char *err, size_t errlen)
{
    sl_err_t rc;
    int abort_needed = 0;
    if (!s->eos_ready) {
        rc = eos_init(s, err, errlen);
        if (rc)
            return rc;
    }
    if (s->txn == TXN_NONE) {
        rd_kafka_error_t *e = rd_kafka_begin_transaction(s->rk);
        if (e)
            return txn_error(s, e, "begin", NULL, err, errlen);
        s->txn = TXN_OPEN;
        s->txn_no++;
        s->txn_last_rec = s->last_rec;
        s->txn_has_last_rec = s->has_last_rec;
        s->txn_records = 0;
        s->txn_has_pos = 0;
        i = 0;
        step = 0;
    }
    if (s->txn == TXN_OPEN) {
        for (; i < b->n; i++, step = 0) {
            uint64_t before = s->produced;
            rc = put_record(s, b, &b->recs[i], &step, err, errlen);
            if (rc) {
                s->retry_batch = b;
                s->retry_idx = i;
                s->retry_step = step;
                return rc;
            }
            if (s->produced != before) {
                s->txn_records++;
                s->txn_pos = b->recs[i].pos;
                s->txn_has_pos = 1;
            }
        }
        if (b->has_end && (!s->txn_has_pos || sl_pos_cmp(&b->end, &s->txn_pos) >= 0)) {
            s->txn_pos = b->end;
            s->txn_has_pos = 1;
        }
        if (s->txn_records && s->txn_has_pos) {
            char k[SL_POS_KEY_LEN + 1];
            sl_pos_key(&s->txn_pos, k);
            sl_buf_reset(&s->scratch);
            sl_buf_puts(&s->scratch, "{\"connector\":");
            sl_buf_put_json_str(&s->scratch, s->conn, strlen(s->conn));
            sl_buf_printf(&s->scratch, ",\"pos\":\"%s\",\"minor\":%" PRIu64 "}", k,
                          s->txn_pos.minor);
            s->stall_start = mono_ms();
            /* partition 0 whatever the topic has: the read-back reads only that one */
            rc = produce(s, s->bookmarks, 0, s->conn, strlen(s->conn), s->scratch.data,
                         s->scratch.len, 0, err, errlen);
            if (rc) {
                /* the records are all queued: a retry only has to do the bookmark */
                s->retry_batch = b;
                s->retry_idx = b->n;
                s->retry_step = 0;
                return rc;
            }
        }
        s->txn = TXN_COMMITTING;
    }
    /* TXN_COMMITTING: everything is queued; a timed-out commit is simply called again */
    rd_kafka_error_t *e = rd_kafka_commit_transaction(s->rk, TXN_TIMEOUT_MS);
    if (e) {
        rc = txn_error(s, e, "commit", &abort_needed, err, errlen);
        if (rc == SL_ERR_RETRY && abort_needed) {
            char tmp[512];
            snprintf(tmp, sizeof(tmp), "%s", err);
            sl_err_t arc = eos_abort(s, err, errlen);
            if (arc)
                return arc;
            rc = sl_err_set(err, errlen, SL_ERR_RETRY, "%s; aborted, writing it again",
                            tmp);
            s->retry_batch = b;
            s->retry_idx = 0;
            s->retry_step = 0;
            return rc;
        }
        s->retry_batch = b;
        s->retry_idx = b->n;
        s->retry_step = 0;
        return rc;
    }
    s->txn = TXN_NONE;
    poll_events(s, 0);
    if (s->broken)
        return broken(s, err, errlen);
    if (s->txn_has_pos)
        ack(s, &s->txn_pos);
    return SL_OK;
}

/* ---------------------------------------------------------------- the sink interface */

static void kafka_destroy(void *ctx);

/* Set one property; the message names the key, never the value. */
static sl_err_t conf_set(kafka_sink_t *s, rd_kafka_conf_t *conf, const char *key,
                         const char *value, int user, char *err, size_t errlen)
{
    return sl_kafka_conf_set(conf, s->cfg->kafka, s->cfg->nkafka, key, value,
                             user ? "sink.kafka" : NULL, err, errlen);
}

static sl_err_t kafka_create(const struct sl_sink_config *cfg, sl_sink_env_t *env,
                             const sl_pos_t *resume, void **ctx, char *err, size_t errlen)
{
    *ctx = NULL;
    if (!cfg->brokers || !*cfg->brokers)
        return sl_err_set(err, errlen, SL_ERR_CONFIG,
                          "the kafka sink needs sink.brokers (host:port[,host:port...])");
    if (cfg->topic_partitions == 0)
        return sl_err_set(err, errlen, SL_ERR_CONFIG,
                          "sink.topic_partitions must be -1 (the broker's default) or at "
                          "least 1");
    if (cfg->topic_replication == 0)
        return sl_err_set(
            err, errlen, SL_ERR_CONFIG,
            "sink.topic_replication must be -1 (the broker's default) or at "
            "least 1");
    kafka_sink_t *s = xcalloc(1, sizeof(*s));
    sl_err_t rc = SL_OK;
    char errstr[512];
    rd_kafka_conf_t *conf = NULL;
    sl_buf_t tmp = SL_BUF_INIT;
    s->env = env;
    s->cfg = cfg;
    s->conn = env->connector_name ? env->connector_name : "sluice";
    s->tombstones = cfg->tombstones;
    s->create_topics = cfg->create_topics;
    s->partitions = cfg->topic_partitions;
    s->replication = cfg->topic_replication;
    s->eos = cfg->exactly_once;
    s->ring_cap = RING_MIN;
    s->ring = xcalloc(s->ring_cap, sizeof(*s->ring));
    s->head = s->tail = 1; /* seq 0 means "no slot" */
    if (resume) {
        s->resume = s->acked = *resume;
        s->has_resume = s->has_acked = 1;
    }
    put_topic_part(&tmp, cfg->topic_prefix ? cfg->topic_prefix : s->conn);
    s->prefix = sl_buf_steal(&tmp);

    conf = rd_kafka_conf_new();
    sl_buf_printf(&tmp, "sluice-%s", s->conn);
    /* sluice's defaults first, so a sink.kafka property can override any of them */
    const char *defaults[][2] = {
        {"bootstrap.servers", cfg->brokers},
        {"client.id", tmp.data},
        {"enable.idempotence", "true"}, /* retries neither reorder nor duplicate */
        {"acks", "all"},
        {"compression.type", "lz4"},
        {"linger.ms", "20"}, /* fuller batches at a small delay */
        {"batch.num.messages", "10000"},
        {"queue.buffering.max.messages", "100000"},
        {"queue.buffering.max.kbytes", "32768"}, /* bounds memory; backpressure beyond */
        {"message.timeout.ms", "0"},             /* retry forever: never drop a record */
        {"partitioner", "murmur2_random"},       /* Java-compatible key placement */
        {"allow.auto.create.topics", "false"},   /* we create with the configured shape */
        {"log.connection.close", "false"},
    };
    for (size_t i = 0; i < sizeof(defaults) / sizeof(defaults[0]); i++) {
        rc = conf_set(s, conf, defaults[i][0], defaults[i][1], 0, err, errlen);
        if (rc)
            goto error;
    }
    if (s->eos) {
        rc = conf_set(s, conf, "transactional.id", tmp.data, 0, err, errlen);
        if (rc)
            goto error;
    }
    for (size_t i = 0; i < cfg->nkafka; i++) {
        const char *k = cfg->kafka[i].key;
        rc = conf_set(s, conf, k, cfg->kafka[i].value ? cfg->kafka[i].value : "", 1, err,
                      errlen);
        if (rc)
            goto error;
        if (strcmp(k, "acks") == 0 || strcmp(k, "enable.idempotence") == 0 ||
            strcmp(k, "message.timeout.ms") == 0 || strcmp(k, "delivery.timeout.ms") == 0)
            sl_warn(s->conn,
                    "kafka: sink.kafka.%s overrides sluice's durable default; records "
                    "may be lost or reordered when brokers fail",
                    k);
    }
    rd_kafka_conf_set_opaque(conf, s);
    rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
    rd_kafka_conf_set_error_cb(conf, on_error);
    rd_kafka_conf_set_log_cb(conf, on_log);
    s->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
    if (!s->rk) {
        char m[512];
        mask_values(cfg, errstr, NULL, m, sizeof(m));
        rc = sl_err_set(err, errlen, SL_ERR_CONFIG,
                        "cannot create the Kafka producer: %s", m);
        goto error;
    }
    conf = NULL; /* owned by the producer now */
    sl_buf_reset(&tmp);
    sl_buf_printf(&tmp, "%s.__schemas", s->prefix);
    s->schemas = topic_get(s, tmp.data);
    sl_buf_reset(&tmp);
    sl_buf_printf(&tmp, "%s.__bookmarks", s->prefix);
    s->bookmarks = topic_get(s, tmp.data);
    sl_buf_free(&tmp);
    *ctx = s;
    return SL_OK;
error:
    if (conf)
        rd_kafka_conf_destroy(conf);
    sl_buf_free(&tmp);
    kafka_destroy(s);
    return rc;
}

static sl_err_t kafka_write(void *ctx, const sl_batch_t *b, char *err, size_t errlen)
{
    kafka_sink_t *s = ctx;
    if (s->broken)
        return broken(s, err, errlen);
    size_t i = 0;
    int step = 0;
    if (s->retry_batch) {
        if (s->retry_batch != b)
            /* the pipeline always retries the batch it was given; anything else would
             * leave a half-queued record in the ring and acks stuck behind it */
            return fail(s, SL_ERR_SINK, err, errlen,
                        "the kafka sink was given a new batch while one was half written "
                        "(an internal error)");
        i = s->retry_idx;
        step = s->retry_step;
        s->retry_batch = NULL;
    }
    s->stall_start = mono_ms();
    s->stall_delivered = s->delivered;
    if (s->eos)
        return eos_write(s, b, i, step, err, errlen);
    for (; i < b->n; i++, step = 0) {
        sl_err_t rc = put_record(s, b, &b->recs[i], &step, err, errlen);
        if (rc) {
            if (rc == SL_ERR_RETRY) {
                s->retry_batch = b;
                s->retry_idx = i;
                s->retry_step = step;
            }
            return rc;
        }
    }
    if (b->has_end)
        push_end(s, &b->end);
    poll_events(s, 0);
    if (s->broken)
        return broken(s, err, errlen);
    return SL_OK;
}

static sl_err_t kafka_tick(void *ctx, int64_t now, char *err, size_t errlen)
{
    kafka_sink_t *s = ctx;
    if (s->broken)
        return broken(s, err, errlen);
    poll_events(s, 0);
    if (s->broken)
        return broken(s, err, errlen);
    return SL_OK;
}

static sl_err_t kafka_flush(void *ctx, char *err, size_t errlen)
{
    kafka_sink_t *s = ctx;
    if (s->broken)
        return broken(s, err, errlen);
    int64_t since = mono_ms();
    uint64_t seen = s->delivered;
    /* at-least-once: until every slot is passed; exactly-once: each write committed */
    while ((!s->eos && s->head < s->tail) || rd_kafka_outq_len(s->rk) > 0) {
        rd_kafka_flush(s->rk, 200);
        poll_events(s, 0);
        if (s->broken)
            return broken(s, err, errlen);
        int64_t now = mono_ms();
        if (s->delivered != seen) {
            seen = s->delivered;
            since = now;
        } else if (now - since >= FLUSH_STALL_MS) {
            return sl_err_set(
                err, errlen, SL_ERR_RETRY,
                "Kafka confirmed nothing for %d s while draining (%d messages "
                "wait); they are sent again from the bookmark at the next "
                "start",
                FLUSH_STALL_MS / 1000, rd_kafka_outq_len(s->rk));
        }
    }
    return SL_OK;
}

/* Like a crash: queued messages are dropped unacked; flush first for a clean stop. */
static void kafka_destroy(void *ctx)
{
    kafka_sink_t *s = ctx;
    if (!s)
        return;
    if (s->rk) {
        s->closing = 1;
        rd_kafka_purge(s->rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT |
                                  RD_KAFKA_PURGE_F_NON_BLOCKING);
        rd_kafka_poll(s->rk, 0);
    }
    for (size_t i = 0; i < s->topic_buckets; i++) {
        for (ktopic_t *t = s->topics[i], *next; t; t = next) {
            next = t->next;
            if (t->rkt)
                rd_kafka_topic_destroy(t->rkt);
            free(t->name);
            free(t);
        }
    }
    free(s->topics);
    for (size_t i = 0; i < s->tver_buckets; i++) {
        for (ktver_t *v = s->tvers[i], *next; v; v = next) {
            next = v->next;
            free(v);
        }
    }
    free(s->tvers);
    if (s->rk)
        rd_kafka_destroy(s->rk);
    if (s->skipped)
        sl_info(s->conn,
                "kafka: skipped %" PRIu64 " records at or before the resume point",
                s->skipped);
    free(s->ring);
    free(s->prefix);
    sl_buf_free(&s->scratch);
    free(s);
}

void *sl_sink_kafka_handle(void *ctx)
{
    return ctx ? ((kafka_sink_t *)ctx)->rk : NULL;
}

const sl_sink_ops_t sl_sink_kafka = {
    .name = "kafka",
    .create = kafka_create,
    .write = kafka_write,
    .tick = kafka_tick,
    .flush = kafka_flush,
    .destroy = kafka_destroy,
};
