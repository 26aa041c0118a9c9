/* sluice: snapshot bookkeeping shared by the sources: the plan of tables (units) and their
 * progress as stored in the bookmark, chunk buffers, row positions and progress reports. */
#ifndef SL_SNAPSHOT_H
#define SL_SNAPSHOT_H

#include <stddef.h>
#include <stdint.h>
#include "core/arena.h"
#include "core/buf.h"
#include "core/err.h"
#include "core/pos.h"
#include "core/schema.h"
#include "core/value.h"

struct sl_pipeline;

/* The two ways a snapshot is read (docs/snapshots.md):
 *  - INITIAL: every table in one consistent view (PostgreSQL's exported snapshot) taken
 *    at the stream's start position; the rows are emitted before any change;
 *  - INCREMENTAL: chunk by chunk while the stream runs, each chunk placed in the stream
 *    at the position its view corresponds to (MariaDB: its own consistent snapshot;
 *    PostgreSQL: between low and high watermarks, with changed keys dropped). */
typedef enum { SL_SNAP_PHASE_INITIAL = 0, SL_SNAP_PHASE_INCREMENTAL = 1 } sl_snap_phase_t;

/* One table, or one key range of a table, to copy. Strings are owned. */
typedef struct sl_snap_unit {
    char *table;    /* qualified name: "schema.table" / "db.table" */
    char *where;    /* extra SQL condition (on-demand snapshots), NULL = none */
    char *lo, *hi;  /* range of the first key column as key text (below), NULL = open */
    char *last_key; /* JSON array of the key of the last row emitted, NULL = none yet */
    int done;
    uint64_t rows;  /* rows emitted so far */
    /* not stored */
    int taken;      /* a reader works on it */
    uint64_t estimate;
} sl_snap_unit_t;

typedef struct sl_snap_plan {
    sl_snap_phase_t phase;
    char *at;           /* the source's text of the consistent point, informational */
    int64_t started_ms; /* when the snapshot began: source.ts_ms of its rows */
    uint64_t rows;      /* rows emitted, every unit */
    uint64_t estimate;  /* estimated rows in every unit (statistics), 0 = unknown */
    sl_snap_unit_t *units;
    size_t n, cap;
} sl_snap_plan_t;

void sl_snap_plan_init(sl_snap_plan_t *p);
void sl_snap_plan_free(sl_snap_plan_t *p); /* leaves an empty plan */
/* Append a unit (strings copied, NULL allowed for where/lo/hi). Returns it; the pointer
 * is valid until the next add. */
sl_snap_unit_t *sl_snap_plan_add(sl_snap_plan_t *p, const char *table, const char *where,
                                 const char *lo, const char *hi);
/* Non-zero when a unit of that table (any range) is not done. */
int sl_snap_plan_has_table(const sl_snap_plan_t *p, const char *table);
/* Number of units not done. */
size_t sl_snap_plan_remaining(const sl_snap_plan_t *p);
/* The plan as the bookmark's "snapshot" object, appended to out. */
void sl_snap_plan_to_json(const sl_snap_plan_t *p, sl_buf_t *out);
/* Parse a "snapshot" object back into p (which must be empty). A document that is not
 * such an object gives SL_ERR_CORRUPT with a sentence. */
sl_err_t sl_snap_plan_parse(const char *json, size_t len, sl_snap_plan_t *p, char *err,
                            size_t errlen);

/* Key text: a key value as the database prints it, kept in the bookmark as a JSON
 * string when it is valid UTF-8 without NUL bytes, else as {"hex":"..."}. A key is a
 * JSON array of such values, one per key column. */
void sl_snap_key_put(sl_buf_t *out, const char *raw, size_t len);
/* Value i of key array json into out (raw bytes, NUL-terminated). -1 when json is not
 * a key array or has no element i. */
int sl_snap_key_get(const char *json, size_t i, sl_buf_t *out);

/* Rows of an INITIAL snapshot sit between the stream positions `base` (a done position
 * at major base) and base + span + 1: row n (1-based) gets major base + 1 + k and index
 * i with n - 1 = k * SL_SNAP_INDEX_MAX + (i - 1). flags carry SL_POS_F_SNAPSHOT and minor
 * resume_at. Returns -1 when n does not fit in span majors. */
#define SL_SNAP_INDEX_MAX (SL_POS_DONE - 1u)
int sl_snap_row_pos(uint64_t base, uint32_t span, uint64_t n, uint64_t resume_at,
                    sl_pos_t *out);

/* A chunk of rows read by one query, converted, waiting to be emitted. */
typedef struct sl_snap_chunk {
    size_t unit;             /* index in the plan */
    const sl_table_t *table; /* borrowed (schema cache) */
    size_t ncols, nrows, cap;
    sl_value_t *vals;        /* nrows * ncols, values' bytes in arena */
    sl_arena_t arena;
    sl_buf_t last_key;       /* key JSON array (key text) of the last row read */
    int unit_done;           /* the query returned fewer rows than asked: unit complete */
    int failed;              /* the reader failed; err holds why */
    sl_err_t rc;
    char err[512];
    struct sl_snap_chunk *next; /* queue link */
} sl_snap_chunk_t;

sl_snap_chunk_t *sl_snap_chunk_new(size_t unit, const sl_table_t *table);
void sl_snap_chunk_free(sl_snap_chunk_t *c); /* NULL-safe */
/* Storage for the next row's ncols values (zeroed); valid until the next call. */
sl_value_t *sl_snap_chunk_row(sl_snap_chunk_t *c);
static inline const sl_value_t *sl_snap_chunk_values(const sl_snap_chunk_t *c, size_t row)
{
    return c->vals + row * c->ncols;
}

/* A set of envelope keys (JSON text): the keys changed between two watermarks. */
typedef struct sl_snap_keyset {
    sl_buf_t keys;
    size_t *off, *len;
    uint32_t *slots; /* open addressing: entry + 1, 0 = empty */
    size_t n, cap, nslots;
} sl_snap_keyset_t;

void sl_snap_keyset_add(sl_snap_keyset_t *k, const char *key, size_t n);
int sl_snap_keyset_has(const sl_snap_keyset_t *k, const char *key, size_t n);
void sl_snap_keyset_clear(sl_snap_keyset_t *k);
void sl_snap_keyset_free(sl_snap_keyset_t *k);

/* Progress lines and gauges: rows done of the estimate, tables, rate, ETA. Every 10 s
 * in the log (every second, on one line, when stderr is a terminal and logs are text),
 * and at once when force. Publishes sluice_snapshot_rows, _rows_estimated and
 * _tables_remaining through sl_pipe_gauge. */
typedef struct sl_snap_progress {
    int64_t start_ms, last_ms;
    uint64_t start_rows;
    int live; /* a terminal line is showing */
} sl_snap_progress_t;

void sl_snap_progress_start(sl_snap_progress_t *pr, const sl_snap_plan_t *plan);
void sl_snap_progress_report(sl_snap_progress_t *pr, struct sl_pipeline *p,
                             const sl_snap_plan_t *plan, int force);

/* Emit one snapshot row (op r) of table t at pos, with the source members extra[0..n)
 * and source.ts_ms ts_ms; label is "true" or "last". */
sl_err_t sl_snap_emit_row(struct sl_pipeline *p, const sl_table_t *t, const sl_value_t *row,
                          const sl_pos_t *pos, int64_t ts_ms, const char *label,
                          const char *extra, size_t n, char *err, size_t errlen);

/* Move the on-demand requests waiting in the pipeline into plan (sl_pipe_take_snapshot_
 * request). accept(ctx, table, &estimate, err, errlen) says whether a table can be copied
 * (0) or why not (non-zero; logged); an empty plan starts anew as an incremental one.
 * Returns the units added. */
typedef int (*sl_snap_accept_fn)(void *ctx, const char *table, uint64_t *estimate,
                                 char *err, size_t errlen);
size_t sl_snap_take_requests(struct sl_pipeline *p, sl_snap_plan_t *plan,
                             sl_snap_progress_t *pr, sl_snap_accept_fn accept, void *ctx);

/* Checkpoint plan at pos (sl_pipe_checkpoint): its JSON while units remain, null once
 * none does. scratch is the caller's buffer for the text. */
void sl_snap_checkpoint(struct sl_pipeline *p, const sl_pos_t *pos,
                        const sl_snap_plan_t *plan, sl_buf_t *scratch);
/* Every unit is done: the final progress line, the summary line, the plan emptied. */
void sl_snap_finish(struct sl_pipeline *p, sl_snap_plan_t *plan, sl_snap_progress_t *pr);

#endif
