/* sluice: the PostgreSQL logical replication source (pgoutput over libpq).
 * Registered in worker/registry.c as type "postgres". */
#ifndef SL_POSTGRES_H
#define SL_POSTGRES_H

#include "core/plugin.h"

extern const sl_source_ops_t sl_source_postgres;

/* "16/B374D848" text of an LSN into out (at least 20 bytes). */
void sl_pg_lsn_format(uint64_t lsn, char *out, size_t n);
/* Parse "X/Y"; returns 0 on success. */
int sl_pg_lsn_parse(const char *s, uint64_t *lsn);

#endif
