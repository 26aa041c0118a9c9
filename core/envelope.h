/* sluice: the Debezium-compatible JSON envelope (contract 3.1), key and value.
 * Hand-written writer into a caller's buffer: no allocation per row once it is warm. */
#ifndef SL_ENVELOPE_H
#define SL_ENVELOPE_H

#include <stddef.h>
#include <stdint.h>
#include "core/buf.h"
#include "core/schema.h"
#include "core/value.h"

typedef struct sl_change {
    char op;                  /* 'c','u','d','r','t' */
    const sl_table_t *table;  /* borrowed */
    const sl_value_t *before; /* table->ncols values, or NULL for "before": null */
    const sl_value_t *after;  /* table->ncols values, or NULL */
    int64_t commit_ts_ms;     /* source.ts_ms */
    const char *snapshot;     /* "true" | "last" | "false"; NULL means "false" */
    /* connector-specific source members without leading comma, e.g. "\"lsn\":23"; may be NULL */
    const char *source_extra;
    size_t source_extra_len;
    /* transaction block; tx_id NULL gives "transaction": null */
    const char *tx_id;
    uint64_t total_order, data_collection_order;
} sl_change_t;

typedef struct sl_envelope {
    const char *connector; /* "postgresql" | "mysql" */
    const char *name;      /* the connector's configured name */
} sl_envelope_t;

/* One value as JSON (number, string, base64 string, null, marker). */
void sl_value_to_json(const sl_value_t *v, sl_buf_t *out);
/* The key object of the primary-key columns, from `after` (or `before` for deletes).
 * Appends nothing and returns 0 when the table has no key (null key); else returns 1. */
int sl_envelope_key(const sl_change_t *c, sl_buf_t *out);
/* Non-zero when rows a and b (table->ncols values each) have the same key values; a
 * source uses it to turn a key change into a delete and a create, as Debezium does. */
int sl_envelope_keys_equal(const sl_table_t *t, const sl_value_t *a, const sl_value_t *b);
/* A change copied whole into raw (8-byte aligned, its strings and values with it), so
 * that it can be encoded later on another thread, after the source's buffers have moved
 * on; returns its offset in raw. c->table is not copied (tables live as long as the
 * schema cache): give it back to sl_change_unstash. */
size_t sl_change_stash(const sl_change_t *c, int64_t now_ms, sl_buf_t *raw);
/* The change stashed at raw + off, pointing into raw (which it fixes up in place: once
 * only, and raw must not move meanwhile); *now_ms is the stashed emit time. */
void sl_change_unstash(char *raw, size_t off, const sl_table_t *t, sl_change_t *c,
                       int64_t *now_ms);
/* The envelope value. now_ms is the top-level ts_ms (emit time). */
void sl_envelope_value(const sl_envelope_t *env, const sl_change_t *c, int64_t now_ms,
                       sl_buf_t *out);

#endif
