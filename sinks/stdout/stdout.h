/* sluice: the stdout sink, one envelope JSON per line (for `sluice run | jq`).
 * Tombstones are skipped; a batch is acked once it has been flushed to stdout. */
#ifndef SL_SINK_STDOUT_H
#define SL_SINK_STDOUT_H

#include "core/plugin.h"

extern const sl_sink_ops_t sl_sink_stdout;

#endif
