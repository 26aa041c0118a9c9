/* sluice: the partitioned file sink (JSON lines, optional gzip/zstd), exactly-once files.
 * Layout, naming and durability rules are described at the top of files.c. */
#ifndef SL_SINK_FILES_H
#define SL_SINK_FILES_H

#include "core/plugin.h"

/* Most files open at once (one per topic); beyond it the oldest is completed early. */
#define SL_FILES_MAX_OPEN 256

extern const sl_sink_ops_t sl_sink_files;

/* Wait until the closer thread has completed every file handed to it, and ack what that
 * made durable. For tests, which look at the directory right after a write; the pipeline
 * needs no such call, as the closer wakes it (sl_sink_env_t.wake). */
void sl_files_sink_settle(void *ctx);

#endif
