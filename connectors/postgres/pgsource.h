/* sluice: the PostgreSQL source's private state and the calls its files share:
 * postgres.c (slot, publication, stream, bookmarks) and pgsnap.c (snapshots). */
#ifndef SL_PGSOURCE_H
#define SL_PGSOURCE_H

#include <pthread.h>
#include <stdint.h>
#include <libpq-fe.h>
#include "config/config.h"
#include "core/arena.h"
#include "core/pipeline.h"
#include "core/snapshot.h"
#include "connectors/postgres/pgoutput.h"
#include "connectors/postgres/pgtypes.h"

#define PG_EPOCH_OFFSET_MS 946684800000LL /* 2000-01-01 in Unix ms */
#define WATERMARK_PREFIX "sluice_watermark"

/* One relation as last described by a Relation message. */
typedef struct pg_rel {
    uint32_t relid;
    int excluded;             /* not in tables.include / in tables.exclude */
    char replident;
    const sl_table_t *table;  /* interned version; NULL when excluded */
    uint64_t tx_seen;         /* transaction counter when `count` was last reset */
    uint64_t count;           /* data_collection_order within that transaction */
} pg_rel_t;

/* Per-version private data: the converter of each column. */
typedef struct pg_table_priv {
    sl_pg_type_t *types;
} pg_table_priv_t;

typedef struct pg_typecache {
    sl_pg_type_t t;
} pg_typecache_t;

typedef struct pg_source {
    const sl_connector_config_t *cfg;
    sl_pipeline_t *pipe;
    PGconn *repl, *sql;
    sl_pgo_decoder_t dec;
    sl_arena_t arena;
    sl_buf_t tmp, extra, txid;
    pg_rel_t *rels;
    size_t nrels, caprels;
    pg_typecache_t *types;
    size_t ntypes, captypes;
    sl_value_t *before, *after;
    size_t vals_cap;

    /* position state */
    int in_tx;
    uint64_t tx_counter;
    uint64_t commit_lsn, prev_commit_lsn, change_lsn;
    int64_t commit_ts_ms;
    uint32_t xid;
    uint32_t index;      /* events so far in the current transaction */
    int has_skip;
    sl_pos_t skip;       /* everything at or before this was already handed over */
    sl_pos_t last;       /* last position handed to the pipeline */
    int has_last;
    uint64_t reported_flush;
    int64_t last_feedback_ms, last_heartbeat_ms;
    int heartbeat_off;
    int64_t last_slot_lag_ms; /* metrics: when the slot lag was last published */

    /* snapshot (pgsnap.c) */
    PGconn *snap;            /* reads chunks: the exported snapshot or a watermark view */
    sl_snap_plan_t plan;     /* units to copy; n == 0 when no snapshot is running */
    int plan_loaded;         /* the plan was decided (restored, built, or none) */
    sl_snap_progress_t progress;
    char export_name[128];   /* the slot just created exported this snapshot, "" = none */
    uint64_t consistent;     /* that slot's consistent point */
    int resnapshot;          /* when_needed: the bookmark cannot be served, copy again */
    uint64_t snap_seq;       /* rows given positions in the initial phase */
    sl_buf_t snapdoc;        /* checkpoint scratch */
    sl_snap_keyset_t wm_keys;/* keys changed between the watermarks */
    int wm_state;            /* WM_* in pgsnap.c */
    int wm_truncated;        /* the unit's table was truncated between the watermarks */
    size_t wm_unit;          /* the unit being read */
    uint64_t wm_counter;     /* watermark pairs written in this process */
    char wm_id[64];          /* the pair being waited for */
    int64_t wm_next_ms;      /* earliest time for the next chunk (after a failed try) */
    uint64_t wm_xmax;        /* the chunk's view: transactions from here on are unseen */
    uint64_t *wm_xip;        /* and these, running when it was taken (sorted) */
    size_t wm_nxip, wm_capxip;
    int wm_stale;            /* a transaction before L is not in the view: read again */
#define RECENT_XIDS 4096
    uint32_t recent_xids[RECENT_XIDS]; /* the transactions streamed last (a ring) */
    uint64_t recent_next;
    uint32_t nonce;          /* distinguishes this process's watermarks */
    void *snap_tables;       /* catalog descriptions (pgsnap.c), nsnap_tables of them */
    size_t nsnap_tables;
    pthread_mutex_t *plan_mu;/* guards plan while initial-phase readers run, else NULL */
} pg_source_t;


/* ---- postgres.c ---- */

/* A connection with sluice's session settings (UTC, ISO dates, exact floats, hex bytea);
 * replication != 0 opens a logical replication connection. NULL with err and *rc
 * (SL_ERR_RETRY when the server may come back, SL_ERR_SOURCE otherwise). */
PGconn *pgs_connect(pg_source_t *s, int replication, char *err, size_t errlen,
                    sl_err_t *rc);
/* A query with text parameters: the result (caller PQclear) or NULL with err. */
PGresult *pgs_query(PGconn *conn, const char *sql, int nparams, const char *const *params,
                    char *err, size_t errlen);
void pgs_quote_ident(PGconn *conn, const char *s, sl_buf_t *out);
/* How to convert a column of type oid (cached; may ask the catalog on s->sql). */
sl_err_t pgs_resolve_type(pg_source_t *s, uint32_t oid, sl_pg_type_t *out, int depth,
                          char *err, size_t errlen);
/* Build and intern a table version from Relation-style columns (flags & 1 = key); pk, when
 * not NULL, overrides the key flags (REPLICA IDENTITY FULL). The same columns give the
 * same version whether they come from a Relation message or from the catalog. */
sl_err_t pgs_intern_table(pg_source_t *s, const char *nspname, const char *relname,
                          uint16_t natts, const sl_pgo_relcol_t *cols, const uint8_t *pk,
                          const sl_table_t **out, char *err, size_t errlen);
/* Standby status with the durable position (rate-limited unless force). */
sl_err_t pgs_send_feedback(pg_source_t *s, int force, int reply, char *err, size_t errlen);

/* ---- pgsnap.c ---- */

/* Decide what to copy at the start of a run (the bookmark's snapshot progress, the mode,
 * whether the slot was just created with an exported snapshot); fills s->plan. */
sl_err_t pgsnap_prepare(pg_source_t *s, int slot_created, char *err, size_t errlen);
/* Copy every unit in the exported snapshot (initial phase); returns SL_OK when done. */
sl_err_t pgsnap_run_initial(pg_source_t *s, char *err, size_t errlen);
/* While streaming: start the next watermark chunk when one is due. */
sl_err_t pgsnap_tick(pg_source_t *s, char *err, size_t errlen);
/* A watermark message seen in the stream (prefix WATERMARK_PREFIX), inside the
 * transaction that wrote it; at a high watermark the chunk is emitted as its events. */
sl_err_t pgsnap_on_watermark(pg_source_t *s, const char *content, size_t len, char *err,
                             size_t errlen);
/* A transaction begins in the stream (before the low watermark it must be in the view). */
void pgsnap_on_begin(pg_source_t *s, uint32_t xid);
/* A change of table t seen in the stream (before/after rows, either may be NULL). */
void pgsnap_on_change(pg_source_t *s, const sl_table_t *t, const sl_value_t *before,
                      const sl_value_t *after);
/* A TRUNCATE of table t seen in the stream. */
void pgsnap_on_truncate(pg_source_t *s, const sl_table_t *t);
/* Non-zero when the snapshot is complete (or none was asked for) and, in `only` mode,
 * the connector should stop. */
int pgsnap_finished(pg_source_t *s);
void pgsnap_free(pg_source_t *s);

#endif
