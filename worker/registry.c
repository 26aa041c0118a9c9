/* sluice: registration of every source, sink and bookmark store, one line each.
 * The core never includes these headers; only the worker binds names to implementations.
 */
#include <string.h>
#include "worker/registry.h"
#include "connectors/mysql/mysql.h"
#include "connectors/postgres/postgres.h"
#include "sinks/files/files.h"
#include "sinks/kafka/kafka.h"
#include "sinks/kafka/kafka_store.h"
#include "sinks/stdout/stdout.h"

static const sl_source_ops_t *const sources[] = {
    &sl_source_postgres,
    &sl_source_mysql,
};

static const sl_sink_ops_t *const sinks[] = {
    &sl_sink_files,
    &sl_sink_kafka,
    &sl_sink_stdout,
};

const sl_source_ops_t *sl_registry_source(const char *type)
{
    for (size_t i = 0; i < sizeof(sources) / sizeof(sources[0]); i++)
        if (strcmp(sources[i]->name, type) == 0)
            return sources[i];
    return NULL;
}

const sl_sink_ops_t *sl_registry_sink(const char *type)
{
    for (size_t i = 0; i < sizeof(sinks) / sizeof(sinks[0]); i++)
        if (strcmp(sinks[i]->name, type) == 0)
            return sinks[i];
    return NULL;
}

sl_bookmark_store_t *sl_registry_bookmark_store(const sl_config_t *cfg,
                                                const sl_connector_config_t *c,
                                                sl_err_t *rc, char *err, size_t errlen)
{
    *rc = SL_OK;
    if (!c->bookmark_store || strcmp(c->bookmark_store, "file") == 0)
        return sl_bookmark_file_store(cfg->data_dir);
    if (strcmp(c->bookmark_store, "kafka") == 0) {
        /* on the sink's own cluster, reach it the way the sink does */
        int shared = strcmp(c->sink.type, "kafka") == 0 && c->sink.brokers &&
                     c->bookmark_brokers &&
                     strcmp(c->sink.brokers, c->bookmark_brokers) == 0;
        const sl_kafka_store_config_t kc = {
            .conn = c->name,
            .brokers = c->bookmark_brokers,
            .topic = c->bookmark_topic,
            .inherit = shared ? c->sink.kafka : NULL,
            .ninherit = shared ? c->sink.nkafka : 0,
            .props = c->bookmark_kafka,
            .nprops = c->nbookmark_kafka,
        };
        return sl_kafka_store_new(&kc, rc, err, errlen);
    }
    *rc =
        sl_err_set(err, errlen, SL_ERR_CONFIG,
                   "bookmark store %s is not built into this worker", c->bookmark_store);
    return NULL;
}
