/* sluice: the table of source connectors and sinks compiled into the worker.
 * Adding one is a folder plus one line in registry.c. */
#ifndef SL_REGISTRY_H
#define SL_REGISTRY_H

#include "core/plugin.h"

const sl_source_ops_t *sl_registry_source(const char *type);
const sl_sink_ops_t *sl_registry_sink(const char *type);

#endif
