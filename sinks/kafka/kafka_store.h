/* sluice: the Kafka bookmark store (bookmarks.store: kafka), usable with any sink: each
 * connector's bookmark document is a message keyed by its name in a compacted topic. */
#ifndef SL_KAFKA_STORE_H
#define SL_KAFKA_STORE_H

#include <stddef.h>
#include "config/config.h"
#include "core/bookmark.h"

typedef struct sl_kafka_store_config {
    const char *conn;    /* the connector, for log lines and the client id */
    const char *brokers; /* bootstrap list */
    const char *topic;   /* the compacted bookmark topic */
    /* sink.kafka of a Kafka sink whose brokers are shared: only its security.*, sasl.*
     * and ssl.* properties are taken (how to reach the cluster, not how to produce) */
    const sl_kv_t *inherit;
    size_t ninherit;
    const sl_kv_t *props; /* bookmarks.kafka: applied last, over sluice's defaults */
    size_t nprops;
    int ack_timeout_ms; /* how long a store waits for its delivery report; 0 = 10 s */
} sl_kafka_store_config_t;

/* A store on cfg (everything copied). Nothing connects before the first load or store.
 * NULL with *rc (SL_ERR_CONFIG) and a sentence naming the property librdkafka refuses
 * (never its value). Caller owns (sl_bookmark_store_destroy, or hand it to
 * sl_pipeline_create_store). */
sl_bookmark_store_t *sl_kafka_store_new(const sl_kafka_store_config_t *cfg, sl_err_t *rc,
                                        char *err, size_t errlen);

#endif
