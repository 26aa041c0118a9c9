/* sluice: the Kafka sink (librdkafka): a topic per table keyed by primary key, acks
 * driven by delivery reports, optional transactions. Design notes are at the top of
 * kafka.c. */
#ifndef SL_SINK_KAFKA_H
#define SL_SINK_KAFKA_H

#include "core/plugin.h"

extern const sl_sink_ops_t sl_sink_kafka;

/* The sink's producer handle (an rd_kafka_t *), borrowed, for tests that inject faults
 * (rd_kafka_test_fatal_error). ctx is what sl_sink_kafka.create returned. */
void *sl_sink_kafka_handle(void *ctx);

#endif
