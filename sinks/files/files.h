/* sluice: the partitioned file sink (JSON lines, optional gzip/zstd), exactly-once files.
 * Layout, naming and durability rules are described at the top of files.c. */
#ifndef SL_SINK_FILES_H
#define SL_SINK_FILES_H

#include "core/plugin.h"

/* Most files open at once (one per topic); beyond it the oldest is completed early. */
#define SL_FILES_MAX_OPEN 256

extern const sl_sink_ops_t sl_sink_files;

#endif
