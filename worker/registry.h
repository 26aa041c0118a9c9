/* sluice: the table of source connectors, sinks and bookmark stores compiled into the
 * worker. Adding one is a folder plus one line in registry.c. */
#ifndef SL_REGISTRY_H
#define SL_REGISTRY_H

#include <stddef.h>
#include "config/config.h"
#include "core/bookmark.h"
#include "core/plugin.h"

const sl_source_ops_t *sl_registry_source(const char *type);
const sl_sink_ops_t *sl_registry_sink(const char *type);

/* The bookmark store connector c is configured with (bookmarks.store): the file store
 * under cfg->data_dir, or the Kafka store on bookmarks.brokers/topic. Borrows cfg and c
 * only during the call. NULL with *rc and a sentence in err when the store cannot be
 * made (a property librdkafka refuses: SL_ERR_CONFIG). Caller owns the result
 * (sl_bookmark_store_destroy), or hands it to sl_pipeline_create_store. */
sl_bookmark_store_t *sl_registry_bookmark_store(const sl_config_t *cfg,
                                                const sl_connector_config_t *c,
                                                sl_err_t *rc, char *err, size_t errlen);

#endif
