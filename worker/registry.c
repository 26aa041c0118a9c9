/* sluice: registration of every source and sink, one line each.
 * The core never includes these headers; only the worker binds names to implementations. */
#include <string.h>
#include "worker/registry.h"
#include "connectors/mysql/mysql.h"
#include "connectors/postgres/postgres.h"
#include "sinks/files/files.h"
#include "sinks/kafka/kafka.h"
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
