/* sluice benchmark helper: the Kafka sink alone, fed key<TAB>value lines from a file in
 * pipeline-sized batches, to compare with `kcat -P` producing the same file.
 *
 * Usage: sluice_kafka_sink_bench BROKERS TOPIC_PREFIX FILE
 * Writes every line as a record of table public.bench (topic <prefix>.public.bench),
 * flushes (all delivered and acked), prints "records seconds" on stdout. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "config/config.h"
#include "core/batch.h"
#include "core/log.h"
#include "core/schema.h"
#include "sinks/kafka/kafka.h"

#define BATCH_RECORDS 4096 /* the pipeline's batch limits */
#define BATCH_BYTES (1u << 20)

typedef struct benv {
    sl_sink_env_t env; /* first */
    sl_pos_t acked;
    size_t nacks;
} benv_t;

static void on_ack(sl_sink_env_t *env, const sl_pos_t *p)
{
    benv_t *e = (benv_t *)env;
    e->acked = *p;
    e->nacks++;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static int write_batch(void *s, sl_batch_t *b)
{
    char err[512];
    for (;;) {
        sl_err_t rc = sl_sink_kafka.write(s, b, err, sizeof(err));
        if (rc == SL_OK)
            return 0;
        if (rc != SL_ERR_RETRY) {
            fprintf(stderr, "kafka_sink_bench: %s\n", err);
            return -1;
        }
    }
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: %s BROKERS TOPIC_PREFIX FILE\n", argv[0]);
        return 2;
    }
    sl_log_setup(0, SL_LOG_WARN);
    FILE *in = fopen(argv[3], "r");
    if (!in) {
        perror(argv[3]);
        return 1;
    }
    sl_sink_config_t cfg;
    memset(&cfg, 0, sizeof(cfg));
    cfg.type = "kafka";
    cfg.brokers = argv[1];
    cfg.topic_prefix = argv[2];
    cfg.tombstones = 1;
    cfg.create_topics = 1;
    cfg.topic_partitions = -1;
    cfg.topic_replication = -1;
    benv_t env;
    memset(&env, 0, sizeof(env));
    env.env.ack = on_ack;
    env.env.connector_name = "bench";
    sl_table_t *t = sl_table_new("shop", "public", "bench");
    sl_table_add_column(t, "id", "int8", 20, -1, SL_JT_INT, 0, 1);
    t->version = 1;

    char err[512];
    void *s = NULL;
    if (sl_sink_kafka.create(&cfg, &env.env, NULL, &s, err, sizeof(err))) {
        fprintf(stderr, "kafka_sink_bench: %s\n", err);
        return 1;
    }
    sl_batch_t *b = sl_batch_new();
    char *line = NULL;
    size_t cap = 0, n = 0;
    ssize_t len;
    int rc = 0;
    double t0 = now_s();
    while ((len = getline(&line, &cap, in)) > 0) {
        if (line[len - 1] == '\n')
            line[--len] = 0;
        char *tab = memchr(line, '\t', (size_t)len);
        if (!tab)
            continue;
        sl_record_t *r = sl_batch_add(b);
        r->table = t;
        r->op = 'c';
        r->pos.major = 1 + n / 10000; /* 10k-record "transactions", like the PG bench */
        r->pos.index = (uint32_t)(n % 10000) + 1;
        r->key_off = b->arena.len;
        sl_buf_append(&b->arena, line, (size_t)(tab - line));
        r->key_len = b->arena.len - r->key_off;
        r->val_off = b->arena.len;
        sl_buf_append(&b->arena, tab + 1, (size_t)(len - (tab + 1 - line)));
        r->val_len = b->arena.len - r->val_off;
        b->end = r->pos;
        b->has_end = 1;
        n++;
        if (b->n >= BATCH_RECORDS || b->arena.len >= BATCH_BYTES) {
            if ((rc = write_batch(s, b)) != 0)
                break;
            sl_batch_clear(b);
        }
    }
    if (!rc && b->n)
        rc = write_batch(s, b);
    if (!rc && sl_sink_kafka.flush(s, err, sizeof(err))) {
        fprintf(stderr, "kafka_sink_bench: %s\n", err);
        rc = 1;
    }
    double el = now_s() - t0;
    if (!rc)
        printf("%zu %.3f\n", n, el);
    sl_sink_kafka.destroy(s);
    sl_batch_free(b);
    sl_table_free(t);
    free(line);
    fclose(in);
    return rc ? 1 : 0;
}
