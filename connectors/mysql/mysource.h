/* sluice: the MySQL/MariaDB source's private state and the calls its files share:
 * mysql.c (connection, binlog stream, bookmarks, check) and mysnap.c (snapshots). */
#ifndef SL_MYSOURCE_H
#define SL_MYSOURCE_H

#include <pthread.h>
#include <stdint.h>
#include <mysql.h>
#include <mariadb_rpl.h>
#include "config/config.h"
#include "core/arena.h"
#include "core/pipeline.h"
#include "core/snapshot.h"
#include "connectors/mysql/binlog.h"
#include "connectors/mysql/gtidset.h"
#include "connectors/mysql/mytypes.h"

#define OFFSET_BITS 40
#define OFFSET_MASK ((UINT64_C(1) << OFFSET_BITS) - 1)
#define RING_SIZE 4096 /* committed positions whose GTID state is remembered */
#define GTID_TEXT 512  /* longest GTID state kept in the ring, plus its NUL */
#define MAX_DOMAINS 32
#define BASE_LEN 128
#define MAX_HEARTBEAT_MS                                                                 \
    1000 /* the stream wakes up at least this often to see a stop                        \
          */
/* One table id as last described by a TABLE_MAP. */
typedef struct my_tab {
    uint64_t table_id;
    uint64_t sig; /* fingerprint of the TABLE_MAP the shape was built from */
    int excluded;
    const sl_table_t *table; /* interned version; NULL when excluded */
    uint64_t tx_seen, count; /* data_collection_order within the transaction */
    uint32_t *json_cols; /* MariaDB: text columns that are JSON (a json_valid check) */
    uint32_t njson;
    long names_ix; /* its columns in names[] (information_schema), -1 when not read */
} my_tab_t;

/* A table's columns from information_schema, for servers that do not write all of it into
 * TABLE_MAP (binlog_row_metadata other than FULL): names and key, and what NO_LOG leaves
 * out besides (signedness, character sets) and MINIMAL too (ENUM/SET members). Dropped at
 * every DDL. */
typedef struct my_names {
    char *qualified;
    size_t ncols;
    char **names;
    uint8_t *key;
    uint8_t *unsig;       /* COLUMN_TYPE says unsigned */
    uint8_t *cs;          /* sl_my_cs_t from DATA_TYPE and CHARACTER_SET_NAME */
    sl_my_str_t **vals;   /* ENUM/SET members, NULL for other columns */
    uint32_t *nvals;
} my_names_t;

typedef struct my_domain {
    uint32_t domain, server;
    uint64_t seq;
} my_domain_t;

typedef struct my_gtid_ent {
    uint64_t major; /* a finished position's major */
    uint8_t known;  /* 0: the state after it was not known (text empty) */
    char text[GTID_TEXT];
} my_gtid_ent_t;

typedef struct my_source {
    const sl_connector_config_t *cfg;
    sl_pipeline_t *pipe;
    MYSQL *repl, *sql;
    MARIADB_RPL *rpl;
    MARIADB_RPL_EVENT *rev;
    sl_binlog_decoder_t *dec;
    sl_arena_t arena;
    sl_buf_t extra, txid, gtid;
    sl_buf_t rowsrc;       /* a streamed row's source members (emit) */
    size_t rowsrc_prefix;  /* ... the transaction's part, up to "row": */
    uint64_t rowsrc_tx;    /* ... built for this tx_counter */
    sl_buf_t query_json;   /* include_query: the statement of the rows that follow, JSON */
    uint64_t query_tx;     /* ... the tx_counter it belongs to (0: none) */
    my_tab_t *tabs;
    size_t ntabs, captabs;
    my_names_t *names;
    size_t nnames, capnames;

    /* stream position */
    char file[256];  /* binlog file being read */
    uint32_t seq;    /* its sequence number */
    uint64_t offset; /* position just after the last event */
    int have_origin; /* where the very first session started (no bookmark) */
    sl_pos_t origin;

    /* the current transaction */
    int in_tx, tx_explicit, have_gtid;
    uint64_t tx_start, tx_major, tx_counter;
    uint32_t index;
    uint32_t server_id;
    int64_t commit_ts_ms;
    int pending_dom;
    my_domain_t pending;
    int my_pending;      /* MySQL: the transaction's GTID, added to mygtid at its commit */
    uint8_t my_sid[16];
    uint64_t my_gno;

    int renew;                  /* when_needed: the bookmark's binlog is gone, start anew */
    int by_gtid;                /* this session started from a GTID state ... */
    char gtid_start[GTID_TEXT]; /* ... this one; cleared once positions are checked */

    int has_skip;
    sl_pos_t skip; /* everything at or before this was already handed over */
    int has_last;
    sl_pos_t last; /* last position handed to the pipeline */

    /* GTID state after the last finished transaction: MariaDB's domains, or MySQL's
     * executed set (mygtid) */
    int gtid_known;
    my_domain_t doms[MAX_DOMAINS];
    size_t ndoms;
    sl_gtid_set_t mygtid;
    sl_buf_t gtid_text;   /* scratch: mygtid as text for the ring */
    sl_buf_t origin_gtid; /* MySQL: Executed_Gtid_Set where the first session started */
    int is_maria;         /* the server is MariaDB (from its version) */
    int mysql_gtids;      /* MySQL with gtid_mode=ON: mygtid is kept */
    int gtid_too_long;    /* said once: the set no longer fits a bookmark */

    int64_t last_headroom_ms; /* when the retention gauges were last published */
    uint32_t headroom_seq;    /* and for which bookmark file */

    /* shared with the sink thread (bookmark_render) */
    pthread_mutex_t mu;
    int repl_fd; /* the replication socket while connected, else -1 (my_interrupt) */
    char base[BASE_LEN];
    my_gtid_ent_t *ring;
    size_t ring_next, ring_n;

    /* snapshot (mysnap.c) */
    MYSQL *snap;             /* reads chunks, each in its own consistent snapshot */
    sl_snap_plan_t plan;     /* units to copy; n == 0 when no snapshot is running */
    int plan_loaded;
    sl_snap_progress_t progress;
    sl_buf_t snapdoc;        /* checkpoint scratch */
    sl_buf_t tmp;            /* conversion scratch */
    void *snap_tables;       /* information_schema descriptions (mysnap.c) */
    size_t nsnap_tables;
    int chunk_open;          /* a consistent snapshot is open on snap for the next chunk */
    uint64_t last_tx_end;    /* mys_pos_major of the end of the last streamed transaction */
    size_t chunk_unit;       /* ... for this unit */
    uint32_t chunk_seq;      /* ... at this binlog position */
    uint64_t chunk_off;
    char chunk_file[BASE_LEN + 16];
} my_source_t;


/* ---- mysql.c ---- */

/* The position key of offset off in binlog file number seq. */
uint64_t mys_pos_major(uint32_t seq, uint64_t off);
/* A connection with sluice's session settings (utf8mb4). NULL with err and *rc. */
MYSQL *mys_connect(my_source_t *s, char *err, size_t errlen, sl_err_t *rc);
/* A statement's result (caller mysql_free_result), NULL with *rc for none or failure. */
MYSQL_RES *mys_query(MYSQL *m, const char *sql, sl_err_t *rc, char *err, size_t errlen);
sl_err_t mys_exec(MYSQL *m, const char *sql, char *err, size_t errlen);
/* The failure of the last call on m as a sentence (transient or not by its code). */
sl_err_t mys_error(MYSQL *m, char *err, size_t errlen, const char *what);
/* v as a quoted SQL string literal appended to out. */
void mys_quote(MYSQL *m, const char *v, sl_buf_t *out);
/* The members of an ENUM or SET from its COLUMN_TYPE ("enum('a','b''c')"); *n of them,
 * each allocated, as is the array. */
sl_my_str_t *mys_parse_members(const char *column_type, uint32_t *n);
/* Whether a column is UNSIGNED, from DATA_TYPE and COLUMN_TYPE ("int(10) unsigned"). */
int mys_column_unsigned(const char *data_type, const char *column_type);
/* The character set a column's values are in, from information_schema's DATA_TYPE and
 * CHARACTER_SET_NAME (binary strings and geometry have none: SL_MY_CS_BINARY). */
sl_my_cs_t mys_column_cs(const char *data_type, const char *charset_name);
/* Build and intern a table version from columns as TABLE_MAP describes them (names and
 * key flags given), the way the stream does: the same columns give the same version. */
const sl_table_t *mys_intern_table(my_source_t *s, const char *db, const char *name,
                                   size_t ncols, const sl_my_col_t *cols,
                                   const char *const *names, const uint8_t *key);
/* The JSON columns (MariaDB: LONGTEXT with a json_valid check) of db.table: for each of
 * the ncols names, json[i] = 1 when it is one. Best effort. */
void mys_json_columns(my_source_t *s, const char *db, const char *table, size_t ncols,
                      const char *const *names, uint8_t *json);
/* Emit a snapshot row (op r) at pos. */
sl_err_t mys_emit_row(my_source_t *s, const sl_table_t *t, const sl_value_t *row,
                      const sl_pos_t *pos, const char *snapshot, char *err, size_t errlen);

/* ---- mysnap.c ---- */

/* Decide what to copy at the start of a run (the bookmark's snapshot progress, the mode,
 * whether there was a bookmark at all); fills s->plan. */
sl_err_t mysnap_prepare(my_source_t *s, int fresh, char *err, size_t errlen);
/* Between transactions: open the next chunk's consistent snapshot when one is due, and
 * emit it at once when the stream is already at its position. */
sl_err_t mysnap_tick(my_source_t *s, char *err, size_t errlen);
/* The stream is about to process an event starting at offset start of the current file
 * (or, when start is 0, sits at s->offset between transactions): emit a pending chunk
 * whose position has been reached. */
sl_err_t mysnap_reached(my_source_t *s, uint64_t start, char *err, size_t errlen);
/* A DDL statement went by: descriptions may be stale. */
void mysnap_forget(my_source_t *s);
/* Non-zero when `only` mode is done. */
int mysnap_finished(my_source_t *s);
void mysnap_free(my_source_t *s);

#endif
