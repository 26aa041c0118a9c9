/* sluice: PostgreSQL snapshots: the initial copy in the slot's exported snapshot (chunked,
 * parallel readers), and incremental chunks between watermarks while streaming.
 *
 * Initial phase. The slot is created with EXPORT_SNAPSHOT; every reader imports that
 * snapshot (SET TRANSACTION SNAPSHOT), so all of them see the database exactly as of the
 * slot's consistent point C, and the stream starts at C: no gap, no overlap. The rows get
 * positions just below C (sl_snap_row_pos), so they sort before every streamed change.
 *
 * Incremental phase (after a crash in the initial phase, when the slot existed already,
 * or on demand). The exported snapshot cannot be recovered, so each chunk gets its own
 * view, placed in the stream by watermarks (the DBLog method):
 *   1. a low watermark L: a transactional logical message committed with
 *      synchronous_commit on (the flush makes every earlier commit durable, visible a
 *      moment later, and wakes the walsender, which only sends flushed WAL);
 *   2. a REPEATABLE READ transaction takes its snapshot V, and keeps V's xmax and list
 *      of running transactions. Every transaction the stream delivers before L committed
 *      before L and must be visible in V; one that is not (it was between writing its
 *      commit record and leaving the proc array when V was taken) makes V stale, and the
 *      chunk is read again with new watermarks;
 *   3. a high watermark H, committed the same way after V was taken;
 *   4. the stream goes on; the keys of the unit's table changed by transactions that
 *      commit between L and H are collected (such a change may or may not be in V);
 *   5. when H's message arrives, the chunk is read from V and emitted inside H's
 *      transaction, minus the collected keys, whose newest state was streamed already.
 *      Everything that commits before L is in V, everything after H is not, so each key's
 *      events stay in order and the final state is exact.
 * Memory is one chunk, whatever the table size; the collected keys are those changed in
 * the short L..H window.
 *
 * Tables without a key are read in ctid page ranges; in the incremental phase a keyless
 * table is read whole from one view (several page ranges), and is not resumable mid-table:
 * nothing identifies its rows across views. See docs/snapshots.md. */
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "core/envelope.h"
#include "core/log.h"
#include "connectors/postgres/postgres.h"
#include "connectors/postgres/pgsource.h"

#define INITIAL_SPAN 8 /* majors below the consistent point for initial-phase rows */
#define SPLIT_MIN_CHUNKS 4 /* a table is split into key ranges above this many chunks */
#define INT2OID 21
#define INT4OID 23
#define INT8OID 20

enum { WM_IDLE = 0, WM_WAIT_LOW, WM_WINDOW };

/* What the snapshot needs to know about one table, from the catalog. */
typedef struct snap_table {
    char *qualified, *nsp, *rel;
    uint32_t oid;
    const sl_table_t *table;
    size_t nkey;
    size_t *key_col;    /* table column of each key column, in index order */
    char **key_type;    /* format_type of each key column, for literals */
    uint32_t key0_oid;  /* type of the first key column */
    double reltuples;
    uint64_t relpages;
    sl_buf_t cols;      /* the quoted column list */
    sl_buf_t from;      /* "ONLY nsp.rel" quoted */
} snap_table_t;

/* The state shared by the initial phase's readers and the emitter. */
typedef struct readers {
    pg_source_t *s;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    sl_snap_chunk_t *head, *tail; /* chunks ready to emit */
    size_t queued, cap;
    int stop;    /* the emitter wants the readers to end */
    int running; /* readers still working */
} readers_t;


static void snap_table_free(snap_table_t *t)
{
    free(t->qualified);
    free(t->nsp);
    free(t->rel);
    free(t->key_col);
    for (size_t i = 0; i < t->nkey; i++)
        free(t->key_type[i]);
    free(t->key_type);
    sl_buf_free(&t->cols);
    sl_buf_free(&t->from);
}

/* The description of a table, by qualified name; NULL when not described yet. Tables
 * are described on the source thread while no reader runs, so readers may look up. */
static snap_table_t *find_table(pg_source_t *s, const char *qualified)
{
    snap_table_t *tables = s->snap_tables;
    for (size_t i = 0; i < s->nsnap_tables; i++)
        if (strcmp(tables[i].qualified, qualified) == 0)
            return &tables[i];
    return NULL;
}

/* Split "schema.table" at its first dot (the form tables.include uses). */
static int split_qualified(const char *q, char **nsp, char **rel)
{
    const char *dot = strchr(q, '.');
    if (!dot || dot == q || !dot[1])
        return -1;
    *nsp = strndup(q, (size_t)(dot - q));
    *rel = strdup(dot + 1);
    if (!*nsp || !*rel)
        abort();
    return 0;
}

/* Read the catalog for one table: its columns as pgoutput describes them (no dropped or
 * generated columns, the publication's column list), its key in index order. */
static sl_err_t describe(pg_source_t *s, const char *qualified, snap_table_t **out,
                         char *err, size_t errlen)
{
    *out = find_table(s, qualified);
    if (*out)
        return SL_OK;
    snap_table_t t = {0};
    PGresult *r = NULL, *cols = NULL, *published = NULL;
    sl_pgo_relcol_t *rc_cols = NULL;
    uint8_t *pk = NULL;
    sl_err_t rc = SL_OK;
    if (split_qualified(qualified, &t.nsp, &t.rel))
        return sl_err_set(err, errlen, SL_ERR_CONFIG,
                          "cannot snapshot \"%s\": name it as schema.table", qualified);
    t.qualified = strdup(qualified);
    const char *p1[] = {t.nsp, t.rel};
    r = pgs_query(s->sql,
                  "SELECT c.oid, c.relreplident, c.reltuples::float8, c.relpages "
                  "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                  "WHERE n.nspname = $1 AND c.relname = $2 AND c.relkind IN ('r', 'p')",
                  2, p1, err, errlen);
    if (!r) {
        rc = SL_ERR_RETRY;
        goto out;
    }
    if (PQntuples(r) != 1) {
        rc = sl_err_set(err, errlen, SL_ERR_SOURCE, "cannot snapshot %s: no such table",
                        qualified);
        goto out;
    }
    t.oid = (uint32_t)strtoul(PQgetvalue(r, 0, 0), NULL, 10);
    char replident = PQgetvalue(r, 0, 1)[0];
    t.reltuples = strtod(PQgetvalue(r, 0, 2), NULL);
    t.relpages = strtoull(PQgetvalue(r, 0, 3), NULL, 10);
    PQclear(r);
    r = NULL;
    char oid[16];
    snprintf(oid, sizeof(oid), "%" PRIu32, t.oid);
    const char *p2[] = {oid};
    cols = pgs_query(s->sql,
                     "SELECT a.attnum, a.attname, a.atttypid, a.atttypmod, "
                     "format_type(a.atttypid, NULL) FROM pg_attribute a "
                     "WHERE a.attrelid = $1::oid AND a.attnum > 0 AND NOT a.attisdropped "
                     "AND a.attgenerated = '' ORDER BY a.attnum",
                     1, p2, err, errlen);
    if (!cols) {
        rc = SL_ERR_RETRY;
        goto out;
    }
    /* the publication must publish the table (or its changes never come), and from
     * PostgreSQL 15 on it may publish some of its columns only */
    const char *p4[] = {s->cfg->source.publication, t.nsp, t.rel};
    r = pgs_query(s->sql,
                  PQserverVersion(s->sql) >= 150000
                      ? "SELECT unnest(attnames) FROM pg_publication_tables WHERE pubname = $1 "
                        "AND schemaname = $2 AND tablename = $3"
                      : "SELECT NULL::name FROM pg_publication_tables WHERE pubname = $1 AND "
                        "schemaname = $2 AND tablename = $3",
                  3, p4, err, errlen);
    if (!r) {
        rc = SL_ERR_RETRY;
        goto out;
    }
    if (PQntuples(r) == 0) {
        rc = sl_err_set(err, errlen, SL_ERR_SOURCE,
                        "cannot snapshot %s: publication %s does not publish it (its changes "
                        "would not be streamed); add it to the publication",
                        qualified, s->cfg->source.publication);
        goto out;
    }
    published = r;
    r = NULL;
    int natts = PQntuples(cols);
    if (natts == 0 || natts > 1600) {
        rc = sl_err_set(err, errlen, SL_ERR_SOURCE, "cannot snapshot %s: it has %d columns",
                        qualified, natts);
        goto out;
    }
    /* the key, in index order: the primary key (REPLICA IDENTITY DEFAULT and FULL, as the
     * stream keys them) or the replica identity index */
    const char *p3[] = {oid};
    r = pgs_query(s->sql,
                  replident == 'i'
                      ? "SELECT i.indkey::text FROM pg_index i WHERE i.indrelid = $1::oid "
                        "AND i.indisreplident"
                      : "SELECT i.indkey::text FROM pg_index i WHERE i.indrelid = $1::oid "
                        "AND i.indisprimary",
                  1, p3, err, errlen);
    if (!r) {
        rc = SL_ERR_RETRY;
        goto out;
    }
    rc_cols = calloc((size_t)natts, sizeof(*rc_cols));
    pk = calloc((size_t)natts, 1);
    t.key_col = calloc((size_t)natts, sizeof(size_t));
    t.key_type = calloc((size_t)natts, sizeof(char *));
    if (!rc_cols || !pk || !t.key_col || !t.key_type)
        abort();
    if (replident != 'n' && PQntuples(r) == 1) {
        const char *k = PQgetvalue(r, 0, 0);
        while (*k) {
            char *end;
            long attnum = strtol(k, &end, 10);
            if (end == k)
                break;
            k = end;
            for (int i = 0; i < natts; i++)
                if (atol(PQgetvalue(cols, i, 0)) == attnum) {
                    pk[i] = 1;
                    t.key_col[t.nkey] = (size_t)i;
                    t.key_type[t.nkey] = strdup(PQgetvalue(cols, i, 4));
                    t.nkey++;
                }
        }
    }
    int n = 0; /* the published columns, compacted */
    for (int i = 0; i < natts; i++) {
        int in = PQgetisnull(published, 0, 0);
        for (int j = 0; j < PQntuples(published) && !in; j++)
            in = strcmp(PQgetvalue(published, j, 0), PQgetvalue(cols, i, 1)) == 0;
        if (!in) {
            if (pk[i])
                for (size_t k = 0; k < t.nkey; k++)
                    if (t.key_col[k] == (size_t)i)
                        t.key_col[k] = SIZE_MAX;
            continue;
        }
        for (size_t k = 0; k < t.nkey; k++)
            if (t.key_col[k] == (size_t)i)
                t.key_col[k] = (size_t)n;
        pk[n] = pk[i];
        rc_cols[n].name = PQgetvalue(cols, i, 1);
        rc_cols[n].type_oid = (uint32_t)strtoul(PQgetvalue(cols, i, 2), NULL, 10);
        rc_cols[n].typmod = (int32_t)atol(PQgetvalue(cols, i, 3));
        rc_cols[n].flags = pk[n];
        if (n)
            sl_buf_puts(&t.cols, ", ");
        pgs_quote_ident(s->sql, rc_cols[n].name, &t.cols);
        n++;
    }
    for (size_t k = 0; k < t.nkey; k++)
        if (t.key_col[k] == SIZE_MAX) {
            rc = sl_err_set(err, errlen, SL_ERR_SOURCE,
                            "cannot snapshot %s: its publication leaves out key columns",
                            qualified);
            goto out;
        }
    natts = n;
    if (t.nkey)
        t.key0_oid = rc_cols[t.key_col[0]].type_oid;
    rc = pgs_intern_table(s, t.nsp, t.rel, (uint16_t)natts, rc_cols, pk, &t.table, err,
                          errlen);
    if (rc)
        goto out;
    sl_buf_puts(&t.from, "ONLY ");
    pgs_quote_ident(s->sql, t.nsp, &t.from);
    sl_buf_putc(&t.from, '.');
    pgs_quote_ident(s->sql, t.rel, &t.from);
    snap_table_t *v = realloc(s->snap_tables, (s->nsnap_tables + 1) * sizeof(*v));
    if (!v)
        abort();
    s->snap_tables = v;
    v[s->nsnap_tables] = t;
    *out = &v[s->nsnap_tables++];
    memset(&t, 0, sizeof(t));
out:
    PQclear(r);
    PQclear(cols);
    PQclear(published);
    free(rc_cols);
    free(pk);
    snap_table_free(&t);
    return rc;
}

/* ---- reading a chunk ---- */

static void put_literal(PGconn *conn, const char *v, size_t n, sl_buf_t *out)
{
    char *lit = PQescapeLiteral(conn, v, n);
    sl_buf_puts(out, lit ? lit : "NULL");
    PQfreemem(lit);
}

/* The COPY statement for the next chunk of unit u after its last key (keyed tables), or
 * for the page range [from, from + pages) (keyless). */
static int chunk_sql(PGconn *conn, const snap_table_t *t, const sl_snap_unit_t *u,
                     int64_t limit, uint64_t page_from, uint64_t pages, sl_buf_t *sql)
{
    sl_buf_t v = SL_BUF_INIT;
    sl_buf_reset(sql);
    sl_buf_printf(sql, "COPY (SELECT %s FROM %s WHERE true", t->cols.data, t->from.data);
    const sl_column_t *cols = t->table->cols;
    if (!t->nkey) {
        sl_buf_printf(sql, " AND ctid >= '(%" PRIu64 ",0)'::tid AND ctid < '(%" PRIu64
                           ",0)'::tid",
                      page_from, page_from + pages);
    } else {
        if (u->last_key) {
            sl_buf_puts(sql, " AND (");
            for (size_t k = 0; k < t->nkey; k++) {
                if (k)
                    sl_buf_puts(sql, ", ");
                char *id = PQescapeIdentifier(conn, cols[t->key_col[k]].name,
                                              strlen(cols[t->key_col[k]].name));
                sl_buf_puts(sql, id ? id : "\"\"");
                PQfreemem(id);
            }
            sl_buf_puts(sql, ") > (");
            for (size_t k = 0; k < t->nkey; k++) {
                if (sl_snap_key_get(u->last_key, k, &v)) {
                    sl_buf_free(&v);
                    return -1;
                }
                if (k)
                    sl_buf_puts(sql, ", ");
                put_literal(conn, v.data, v.len, sql);
                sl_buf_printf(sql, "::%s", t->key_type[k]);
            }
            sl_buf_putc(sql, ')');
        }
        char *k0 = PQescapeIdentifier(conn, cols[t->key_col[0]].name,
                                      strlen(cols[t->key_col[0]].name));
        if (u->lo) {
            sl_buf_printf(sql, " AND %s >= ", k0);
            put_literal(conn, u->lo, strlen(u->lo), sql);
            sl_buf_printf(sql, "::%s", t->key_type[0]);
        }
        if (u->hi) {
            sl_buf_printf(sql, " AND %s < ", k0);
            put_literal(conn, u->hi, strlen(u->hi), sql);
            sl_buf_printf(sql, "::%s", t->key_type[0]);
        }
        PQfreemem(k0);
    }
    if (u->where)
        sl_buf_printf(sql, " AND (%s)", u->where);
    if (t->nkey) {
        sl_buf_puts(sql, " ORDER BY ");
        for (size_t k = 0; k < t->nkey; k++) {
            char *id = PQescapeIdentifier(conn, cols[t->key_col[k]].name,
                                          strlen(cols[t->key_col[k]].name));
            sl_buf_printf(sql, "%s%s", k ? ", " : "", id ? id : "\"\"");
            PQfreemem(id);
        }
        sl_buf_printf(sql, " LIMIT %" PRId64, limit);
    }
    sl_buf_puts(sql, ") TO STDOUT");
    sl_buf_free(&v);
    return 0;
}

/* Undo COPY's text escaping of one field in place; returns the new length. */
static size_t unescape(char *p, size_t n)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        char c = p[i];
        if (c != '\\' || i + 1 == n) {
            p[o++] = c;
            continue;
        }
        c = p[++i];
        switch (c) {
        case 'b': p[o++] = '\b'; break;
        case 'f': p[o++] = '\f'; break;
        case 'n': p[o++] = '\n'; break;
        case 'r': p[o++] = '\r'; break;
        case 't': p[o++] = '\t'; break;
        case 'v': p[o++] = '\v'; break;
        case 'x': {
            unsigned v = 0, k = 0;
            while (k < 2 && i + 1 < n &&
                   ((p[i + 1] >= '0' && p[i + 1] <= '9') || ((p[i + 1] | 32) >= 'a' &&
                                                             (p[i + 1] | 32) <= 'f'))) {
                char h = p[++i];
                v = v * 16 + (unsigned)(h <= '9' ? h - '0' : (h | 32) - 'a' + 10);
                k++;
            }
            p[o++] = k ? (char)v : 'x';
            break;
        }
        default:
            if (c >= '0' && c <= '7') {
                unsigned v = (unsigned)(c - '0'), k = 1;
                while (k < 3 && i + 1 < n && p[i + 1] >= '0' && p[i + 1] <= '7') {
                    v = v * 8 + (unsigned)(p[++i] - '0');
                    k++;
                }
                p[o++] = (char)v;
            } else {
                p[o++] = c; /* \\ and any other escaped character stand for themselves */
            }
        }
    }
    return o;
}

/* Run one chunk's COPY on conn and convert its rows into c (rows appended). Sets
 * c->last_key to the key of the last row read; returns the rows read in *nread. */
static sl_err_t copy_rows(PGconn *conn, const snap_table_t *t, const char *sql,
                          sl_snap_chunk_t *c, size_t *nread, sl_buf_t *tmp, char *err,
                          size_t errlen)
{
    const pg_table_priv_t *priv = t->table->priv;
    size_t ncols = t->table->ncols;
    *nread = 0;
    PGresult *r = PQexec(conn, sql);
    if (PQresultStatus(r) != PGRES_COPY_OUT) {
        const char *m = PQresultErrorMessage(r);
        sl_err_t rc = PQstatus(conn) == CONNECTION_BAD ? SL_ERR_RETRY : SL_ERR_SOURCE;
        sl_err_set(err, errlen, rc, "reading %s for the snapshot failed: %.*s", t->qualified,
                   (int)strcspn(m, "\n"), m);
        PQclear(r);
        return rc;
    }
    PQclear(r);
    const char **fields = calloc(ncols, sizeof(char *));
    size_t *lens = calloc(ncols, sizeof(size_t));
    if (!fields || !lens)
        abort();
    sl_err_t rc = SL_OK;
    for (;;) {
        char *line = NULL;
        int n = PQgetCopyData(conn, &line, 0);
        if (n == -1)
            break;
        if (n < 0) {
            rc = sl_err_set(err, errlen, SL_ERR_RETRY, "reading %s for the snapshot failed: %s",
                            t->qualified, PQerrorMessage(conn));
            break;
        }
        if (rc) { /* drain the rest after a bad row */
            PQfreemem(line);
            continue;
        }
        /* the line is copied into the chunk: converted values may point into it */
        char *p = sl_arena_dup(&c->arena, line, (size_t)n);
        PQfreemem(line);
        size_t len = (size_t)n;
        if (len && p[len - 1] == '\n')
            len--;
        size_t f = 0;
        for (char *q = p, *end = p + len; f <= ncols;) {
            char *tab = memchr(q, '\t', (size_t)(end - q));
            char *fe = tab ? tab : end;
            if (f < ncols) {
                fields[f] = q;
                lens[f] = (size_t)(fe - q);
            }
            f++;
            if (!tab)
                break;
            q = tab + 1;
        }
        if (f != ncols) {
            rc = sl_err_set(err, errlen, SL_ERR_PROTOCOL,
                            "a COPY row of %s has %zu fields, expected %zu", t->qualified, f,
                            ncols);
            continue;
        }
        sl_value_t *row = sl_snap_chunk_row(c);
        for (size_t i = 0; i < ncols && !rc; i++) {
            char *fp = (char *)fields[i];
            if (lens[i] == 2 && fp[0] == '\\' && fp[1] == 'N') {
                row[i].kind = SL_V_NULL;
                lens[i] = SIZE_MAX;
                continue;
            }
            if (memchr(fp, '\\', lens[i]))
                lens[i] = unescape(fp, lens[i]);
            rc = sl_pg_text_to_value(&priv->types[i], fp, lens[i], &c->arena, tmp, &row[i],
                                     err, errlen);
        }
        if (rc)
            continue;
        sl_buf_reset(&c->last_key);
        if (t->nkey) {
            sl_buf_putc(&c->last_key, '[');
            for (size_t k = 0; k < t->nkey; k++) {
                size_t col = t->key_col[k];
                if (k)
                    sl_buf_putc(&c->last_key, ',');
                sl_snap_key_put(&c->last_key, fields[col], lens[col] == SIZE_MAX ? 0 : lens[col]);
            }
            sl_buf_putc(&c->last_key, ']');
        }
        (*nread)++;
    }
    free(fields);
    free(lens);
    r = PQgetResult(conn);
    if (!rc && PQresultStatus(r) != PGRES_COMMAND_OK) {
        const char *m = PQresultErrorMessage(r);
        rc = sl_err_set(err, errlen, PQstatus(conn) == CONNECTION_BAD ? SL_ERR_RETRY : SL_ERR_SOURCE,
                        "reading %s for the snapshot failed: %.*s", t->qualified,
                        (int)strcspn(m, "\n"), m);
    }
    PQclear(r);
    while ((r = PQgetResult(conn)))
        PQclear(r);
    return rc;
}

/* Pages read per chunk of a keyless table: about chunk_rows rows. */
static uint64_t pages_per_chunk(const pg_source_t *s, const snap_table_t *t)
{
    double per_page = t->relpages && t->reltuples > 0 ? t->reltuples / (double)t->relpages : 50;
    double pages = (double)s->cfg->source.snapshot_chunk_rows / (per_page > 1 ? per_page : 1);
    return pages < 1 ? 1 : (uint64_t)pages;
}

/* Current size of a table in pages (every row of any snapshot lies below it). */
static sl_err_t table_pages(PGconn *conn, const snap_table_t *t, uint64_t *pages, char *err,
                            size_t errlen)
{
    char oid[16];
    snprintf(oid, sizeof(oid), "%" PRIu32, t->oid);
    const char *p[] = {oid};
    PGresult *r = pgs_query(conn,
                            "SELECT pg_relation_size($1::oid) / "
                            "current_setting('block_size')::int8",
                            1, p, err, errlen);
    if (!r)
        return SL_ERR_RETRY;
    *pages = strtoull(PQgetvalue(r, 0, 0), NULL, 10);
    PQclear(r);
    return SL_OK;
}

/* Read the next chunk of unit u (a copy of which the caller owns) on conn. For a keyless
 * table the unit's last_key holds the next page as ["<page>"]. */
static sl_err_t read_chunk(pg_source_t *s, PGconn *conn, const snap_table_t *t,
                           const sl_snap_unit_t *u, size_t unit, sl_snap_chunk_t **out,
                           sl_buf_t *tmp, char *err, size_t errlen)
{
    sl_snap_chunk_t *c = sl_snap_chunk_new(unit, t->table);
    sl_buf_t sql = SL_BUF_INIT, v = SL_BUF_INIT;
    sl_err_t rc = SL_OK;
    size_t got = 0;
    int64_t limit = s->cfg->source.snapshot_chunk_rows;
    if (t->nkey) {
        if (chunk_sql(conn, t, u, limit, 0, 0, &sql)) {
            rc = sl_err_set(err, errlen, SL_ERR_CORRUPT,
                            "the snapshot progress of %s has a malformed last key",
                            t->qualified);
            goto out;
        }
        rc = copy_rows(conn, t, sql.data, c, &got, tmp, err, errlen);
        c->unit_done = !rc && (int64_t)got < limit;
        if (!c->nrows && u->last_key)
            sl_buf_puts(&c->last_key, u->last_key);
    } else {
        uint64_t from = 0, end;
        if (u->last_key && sl_snap_key_get(u->last_key, 0, &v) == 0)
            from = strtoull(v.data, NULL, 10);
        if ((rc = table_pages(conn, t, &end, err, errlen)))
            goto out;
        uint64_t n = pages_per_chunk(s, t);
        /* ranges with nothing visible are skipped at once */
        while (!rc && c->nrows == 0 && from < end) {
            chunk_sql(conn, t, u, 0, from, n, &sql);
            rc = copy_rows(conn, t, sql.data, c, &got, tmp, err, errlen);
            from += n;
        }
        c->unit_done = !rc && from >= end;
        sl_buf_reset(&c->last_key);
        char page[32];
        snprintf(page, sizeof(page), "%" PRIu64, from);
        sl_buf_putc(&c->last_key, '[');
        sl_snap_key_put(&c->last_key, page, strlen(page));
        sl_buf_putc(&c->last_key, ']');
    }
out:
    sl_buf_free(&sql);
    sl_buf_free(&v);
    if (rc) {
        sl_snap_chunk_free(c);
        c = NULL;
    }
    *out = c;
    return rc;
}

/* ---- emitting ---- */

static void render_snap_extra(pg_source_t *s, uint64_t lsn)
{
    sl_buf_reset(&s->extra);
    sl_buf_puts(&s->extra, "\"sequence\":\"[null,\\\"");
    sl_buf_put_u64(&s->extra, lsn);
    sl_buf_puts(&s->extra, "\\\"]\",\"txId\":null,\"lsn\":");
    sl_buf_put_u64(&s->extra, lsn);
}

static sl_err_t emit_row(pg_source_t *s, const sl_table_t *t, const sl_value_t *row,
                         const sl_pos_t *pos, int64_t ts_ms, const char *snapshot, char *err,
                         size_t errlen)
{
    sl_err_t rc = sl_snap_emit_row(s->pipe, t, row, pos, ts_ms, snapshot, s->extra.data,
                                   s->extra.len, err, errlen);
    if (!rc) {
        s->last = *pos;
        s->has_last = 1;
    }
    return rc;
}

/* The unit's progress after chunk c was emitted, and the checkpoint at pos. */
static void unit_advance(pg_source_t *s, const sl_snap_chunk_t *c, uint64_t emitted,
                         const sl_pos_t *pos)
{
    if (s->plan_mu)
        pthread_mutex_lock(s->plan_mu);
    sl_snap_unit_t *u = &s->plan.units[c->unit];
    free(u->last_key);
    u->last_key = c->last_key.len ? strdup(c->last_key.data) : NULL;
    u->rows += emitted;
    s->plan.rows += emitted;
    if (c->unit_done) {
        u->done = 1;
        u->taken = 0;
    }
    sl_snap_checkpoint(s->pipe, pos, &s->plan, &s->snapdoc);
    sl_snap_progress_report(&s->progress, s->pipe, &s->plan, 0);
    if (s->plan_mu)
        pthread_mutex_unlock(s->plan_mu);
}

/* ---- the plan ---- */

static uint64_t estimate_rows(const snap_table_t *t)
{
    return t->reltuples > 0 ? (uint64_t)t->reltuples : 0;
}

/* Every published table the connector wants, as units (and key ranges of big tables
 * when several readers are configured). */
static sl_err_t build_plan(pg_source_t *s, sl_snap_phase_t phase, char *err, size_t errlen)
{
    const char *pub[] = {s->cfg->source.publication};
    PGresult *r = pgs_query(s->sql,
                            "SELECT schemaname || '.' || tablename FROM pg_publication_tables "
                            "WHERE pubname = $1 ORDER BY 1",
                            1, pub, err, errlen);
    if (!r)
        return SL_ERR_RETRY;
    sl_snap_plan_free(&s->plan);
    s->plan.phase = phase;
    s->plan.started_ms = sl_now_ms();
    sl_err_t rc = SL_OK;
    int par = s->cfg->source.snapshot_parallelism;
    for (int i = 0; i < PQntuples(r) && !rc; i++) {
        const char *q = PQgetvalue(r, i, 0);
        if (!sl_config_table_wanted(&s->cfg->source, q))
            continue;
        snap_table_t *t;
        if ((rc = describe(s, q, &t, err, errlen)))
            break;
        uint64_t est = estimate_rows(t);
        s->plan.estimate += est;
        int integer = t->key0_oid == INT2OID || t->key0_oid == INT4OID ||
                      t->key0_oid == INT8OID;
        uint64_t chunk = (uint64_t)s->cfg->source.snapshot_chunk_rows;
        if (phase == SL_SNAP_PHASE_INITIAL && par > 1 && integer &&
            est > SPLIT_MIN_CHUNKS * chunk) {
            /* key ranges of the first key column, so several readers share the table */
            sl_buf_t q2 = SL_BUF_INIT;
            char *k0 = PQescapeIdentifier(s->sql, t->table->cols[t->key_col[0]].name,
                                          strlen(t->table->cols[t->key_col[0]].name));
            sl_buf_printf(&q2, "SELECT min(%s)::int8, max(%s)::int8 FROM %s", k0, k0,
                          t->from.data);
            PQfreemem(k0);
            PGresult *mm = pgs_query(s->sql, q2.data, 0, NULL, err, errlen);
            sl_buf_free(&q2);
            if (!mm) {
                rc = SL_ERR_RETRY;
                break;
            }
            if (!PQgetisnull(mm, 0, 0)) {
                long long lo = atoll(PQgetvalue(mm, 0, 0)), hi = atoll(PQgetvalue(mm, 0, 1));
                unsigned long long step =
                    ((unsigned long long)hi - (unsigned long long)lo) / (unsigned)par + 1;
                char a[32], b[32];
                for (int k = 0; k < par; k++) {
                    snprintf(a, sizeof(a), "%lld",
                             (long long)((unsigned long long)lo + step * (unsigned)k));
                    snprintf(b, sizeof(b), "%lld",
                             (long long)((unsigned long long)lo + step * (unsigned)(k + 1)));
                    sl_snap_unit_t *u =
                        sl_snap_plan_add(&s->plan, q, NULL, k ? a : NULL, k < par - 1 ? b : NULL);
                    u->estimate = est / (uint64_t)par;
                }
                PQclear(mm);
                continue;
            }
            PQclear(mm);
        }
        sl_snap_plan_add(&s->plan, q, NULL, NULL, NULL)->estimate = est;
    }
    PQclear(r);
    return rc;
}

sl_err_t pgsnap_prepare(pg_source_t *s, int slot_created, char *err, size_t errlen)
{
    const sl_source_config_t *c = &s->cfg->source;
    /* a new session: a watermark pair of the last one will never be matched */
    s->wm_state = WM_IDLE;
    PQfinish(s->snap);
    s->snap = NULL;
    if (s->plan_loaded) {
        /* a new session of this process: the exported snapshot of the last one is gone */
        if (s->plan.n && s->plan.phase == SL_SNAP_PHASE_INITIAL && !slot_created) {
            s->plan.phase = SL_SNAP_PHASE_INCREMENTAL;
            sl_info(s->cfg->name, "snapshot: the exported snapshot ended with the last "
                                  "session; the remaining tables are copied incrementally");
        }
        return SL_OK;
    }
    const char *doc = sl_pipe_resume_snapshot(s->pipe);
    sl_err_t rc = SL_OK;
    if (doc && !slot_created) {
        rc = sl_snap_plan_parse(doc, strlen(doc), &s->plan, err, errlen);
        if (rc)
            return rc;
        if (c->snapshot == SL_SNAP_NEVER) {
            sl_warn(s->cfg->name,
                    "the bookmark holds an unfinished snapshot (%zu tables left); "
                    "snapshot: never drops it",
                    sl_snap_plan_remaining(&s->plan));
            sl_snap_plan_free(&s->plan);
            const sl_pos_t *resume = sl_pipe_resume(s->pipe);
            if (resume)
                sl_pipe_checkpoint(s->pipe, resume, NULL, 0);
        } else {
            if (s->plan.phase == SL_SNAP_PHASE_INITIAL)
                sl_info(s->cfg->name,
                        "snapshot: resuming after a restart; the slot's exported snapshot "
                        "is gone, so the %zu remaining tables are copied incrementally "
                        "(watermarks) while changes stream",
                        sl_snap_plan_remaining(&s->plan));
            s->plan.phase = SL_SNAP_PHASE_INCREMENTAL;
            for (size_t i = 0; i < s->plan.n && !rc; i++) {
                snap_table_t *t;
                sl_snap_unit_t *u = &s->plan.units[i];
                if (u->done)
                    continue;
                rc = describe(s, u->table, &t, err, errlen);
                if (rc == SL_ERR_SOURCE && strstr(err, "no such table")) {
                    /* dropped since: nothing left to copy */
                    sl_warn(s->cfg->name, "snapshot: %s no longer exists; it is skipped",
                            u->table);
                    u->done = 1;
                    rc = SL_OK;
                }
            }
            const sl_pos_t *at = sl_pipe_resume(s->pipe);
            if (!rc && !sl_snap_plan_remaining(&s->plan) && at) {
                sl_pipe_checkpoint(s->pipe, at, NULL, 0); /* every table left is gone */
                sl_snap_plan_free(&s->plan);
            }
        }
    } else if (c->snapshot != SL_SNAP_NEVER && (slot_created || !sl_pipe_resume(s->pipe))) {
        if (!slot_created)
            sl_info(s->cfg->name,
                    "snapshot: slot %s existed before this connector's first bookmark, so "
                    "its creation snapshot is gone; tables are copied incrementally "
                    "(watermarks) while changes stream",
                    c->slot);
        rc = build_plan(s, slot_created && s->export_name[0] ? SL_SNAP_PHASE_INITIAL
                                                              : SL_SNAP_PHASE_INCREMENTAL,
                        err, errlen);
        if (!rc) {
            char lsn[24];
            sl_pg_lsn_format(s->consistent, lsn, sizeof(lsn));
            s->plan.at = strdup(lsn);
            sl_info(s->cfg->name, "snapshot: %zu tables, about %" PRIu64 " rows, %s", s->plan.n,
                    s->plan.estimate,
                    s->plan.phase == SL_SNAP_PHASE_INITIAL
                        ? "in the slot's exported snapshot"
                        : "incrementally while streaming");
        }
    }
    if (rc)
        return rc;
    s->plan_loaded = 1;
    sl_snap_progress_start(&s->progress, &s->plan);
    return SL_OK;
}

/* ---- initial phase ---- */

static sl_err_t import_snapshot(pg_source_t *s, PGconn *conn, char *err, size_t errlen)
{
    PGresult *r = pgs_query(conn, "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY", 0, NULL,
                            err, errlen);
    if (!r)
        return SL_ERR_RETRY;
    PQclear(r);
    sl_buf_t q = SL_BUF_INIT;
    sl_buf_puts(&q, "SET TRANSACTION SNAPSHOT ");
    put_literal(conn, s->export_name, strlen(s->export_name), &q);
    r = pgs_query(conn, q.data, 0, NULL, err, errlen);
    sl_buf_free(&q);
    if (!r)
        return SL_ERR_RETRY;
    PQclear(r);
    return SL_OK;
}

typedef struct reader_arg {
    readers_t *rd;
    PGconn *conn;
    pthread_t thr;
    int started;
} reader_arg_t;

static void push_chunk(readers_t *rd, sl_snap_chunk_t *c)
{
    pthread_mutex_lock(&rd->mu);
    while (rd->queued >= rd->cap && !rd->stop)
        pthread_cond_wait(&rd->cv, &rd->mu);
    if (rd->tail)
        rd->tail->next = c;
    else
        rd->head = c;
    rd->tail = c;
    rd->queued++;
    pthread_cond_broadcast(&rd->cv);
    pthread_mutex_unlock(&rd->mu);
}

/* Take the next unit nobody reads; -1 when none is left. */
static long take_unit(readers_t *rd)
{
    long idx = -1;
    pthread_mutex_lock(&rd->mu);
    for (size_t i = 0; i < rd->s->plan.n && idx < 0 && !rd->stop; i++)
        if (!rd->s->plan.units[i].done && !rd->s->plan.units[i].taken) {
            rd->s->plan.units[i].taken = 1;
            idx = (long)i;
        }
    pthread_mutex_unlock(&rd->mu);
    return idx;
}

static void *reader_main(void *arg)
{
    reader_arg_t *ra = arg;
    readers_t *rd = ra->rd;
    pg_source_t *s = rd->s;
    sl_buf_t tmp = SL_BUF_INIT;
    long idx;
    while ((idx = take_unit(rd)) >= 0) {
        /* a private copy of the unit: the emitter updates the plan's */
        pthread_mutex_lock(&rd->mu);
        sl_snap_unit_t u = s->plan.units[idx];
        u.table = strdup(u.table);
        u.where = u.where ? strdup(u.where) : NULL;
        u.lo = u.lo ? strdup(u.lo) : NULL;
        u.hi = u.hi ? strdup(u.hi) : NULL;
        u.last_key = u.last_key ? strdup(u.last_key) : NULL;
        pthread_mutex_unlock(&rd->mu);
        snap_table_t *t = find_table(s, u.table);
        for (;;) {
            sl_snap_chunk_t *c = NULL;
            char err[512] = "";
            sl_err_t rc = t ? read_chunk(s, ra->conn, t, &u, (size_t)idx, &c, &tmp, err,
                                         sizeof(err))
                            : sl_err_set(err, sizeof(err), SL_ERR_SOURCE, "%s is not described",
                                         u.table);
            if (rc) {
                c = sl_snap_chunk_new((size_t)idx, NULL);
                c->failed = 1;
                c->rc = rc;
                snprintf(c->err, sizeof(c->err), "%s", err);
                push_chunk(rd, c);
                goto done;
            }
            int last = c->unit_done;
            free(u.last_key);
            u.last_key = c->last_key.len ? strdup(c->last_key.data) : NULL;
            push_chunk(rd, c);
            pthread_mutex_lock(&rd->mu);
            int stop = rd->stop;
            pthread_mutex_unlock(&rd->mu);
            if (last || stop)
                break;
        }
        free(u.table);
        free(u.where);
        free(u.lo);
        free(u.hi);
        free(u.last_key);
        continue;
    done:
        free(u.table);
        free(u.where);
        free(u.lo);
        free(u.hi);
        free(u.last_key);
        break;
    }
    sl_buf_free(&tmp);
    pthread_mutex_lock(&rd->mu);
    rd->running--;
    pthread_cond_broadcast(&rd->cv);
    pthread_mutex_unlock(&rd->mu);
    return NULL;
}

/* Emit rows [from, to) of chunk c in the initial phase; the row to - 1 is labelled
 * `last_label` ("true", or "last" for the snapshot's final row). */
static sl_err_t emit_initial(pg_source_t *s, sl_snap_chunk_t *c, size_t from, size_t to,
                             const char *last_label, char *err, size_t errlen)
{
    sl_pos_t pos;
    for (size_t i = from; i < to; i++) {
        if (sl_snap_row_pos(s->consistent - 10, INITIAL_SPAN, ++s->snap_seq, s->consistent,
                            &pos))
            return sl_err_set(err, errlen, SL_ERR_UNSUPPORTED,
                              "the snapshot has more rows than sluice can number (%" PRIu64
                              ")",
                              (uint64_t)INITIAL_SPAN * SL_SNAP_INDEX_MAX);
        sl_err_t rc = emit_row(s, c->table, sl_snap_chunk_values(c, i), &pos,
                               s->plan.started_ms, i + 1 == to ? last_label : "true", err,
                               errlen);
        if (rc)
            return rc;
    }
    return SL_OK;
}

sl_err_t pgsnap_run_initial(pg_source_t *s, char *err, size_t errlen)
{
    if (!s->plan.n || s->plan.phase != SL_SNAP_PHASE_INITIAL)
        return SL_OK;
    readers_t rd = {.s = s};
    pthread_mutex_init(&rd.mu, NULL);
    pthread_cond_init(&rd.cv, NULL);
    size_t n = (size_t)s->cfg->source.snapshot_parallelism;
    if (n > s->plan.n)
        n = s->plan.n;
    rd.cap = n + 1;
    reader_arg_t *ra = calloc(n, sizeof(*ra));
    if (!ra)
        abort();
    sl_err_t rc = SL_OK;
    render_snap_extra(s, s->consistent);
    /* the starting point, with the plan, before any row: a crash from here on resumes */
    sl_pos_t p0 = {.major = s->consistent - 10, .minor = s->consistent, .index = SL_POS_DONE};
    sl_pipe_progress(s->pipe, &p0);
    s->last = p0;
    s->has_last = 1;
    sl_snap_checkpoint(s->pipe, &p0, &s->plan, &s->snapdoc);
    if ((rc = sl_pipe_flush(s->pipe)))
        goto out;
    /* every reader imports the exported snapshot before any reads, while the slot's
     * replication connection still holds it */
    for (size_t i = 0; i < n && !rc; i++) {
        ra[i].rd = &rd;
        ra[i].conn = pgs_connect(s, 0, err, errlen, &rc);
        if (ra[i].conn)
            rc = import_snapshot(s, ra[i].conn, err, errlen);
    }
    if (rc)
        goto out;
    sl_info(s->cfg->name, "snapshot: %zu readers share exported snapshot %s at %s", n,
            s->export_name, s->plan.at ? s->plan.at : "?");
    rd.running = (int)n;
    for (size_t i = 0; i < n; i++) {
        if (pthread_create(&ra[i].thr, NULL, reader_main, &ra[i]) != 0) {
            pthread_mutex_lock(&rd.mu);
            rd.running--;
            pthread_mutex_unlock(&rd.mu);
            rc = sl_err_set(err, errlen, SL_ERR_NOMEM, "cannot start a snapshot reader");
            continue;
        }
        ra[i].started = 1;
    }
    /* the emitter: chunks in the order they are ready (a reader keeps its unit's chunks
     * in key order). The last row of the newest chunk is held back until the next chunk
     * comes, so the snapshot's final row can be labelled "last"; a chunk's progress is
     * checkpointed after its last row. */
    sl_snap_chunk_t *held = NULL;
    s->plan_mu = &rd.mu;
    while (!rc) {
        pthread_mutex_lock(&rd.mu);
        while (!rd.head && rd.running > 0 && !sl_pipe_stopping(s->pipe)) {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_nsec += 200000000L;
            if (ts.tv_nsec >= 1000000000L) {
                ts.tv_sec++;
                ts.tv_nsec -= 1000000000L;
            }
            pthread_cond_timedwait(&rd.cv, &rd.mu, &ts);
        }
        sl_snap_chunk_t *c = rd.head;
        if (c) {
            rd.head = c->next;
            if (!rd.head)
                rd.tail = NULL;
            rd.queued--;
            pthread_cond_broadcast(&rd.cv);
        }
        int running = rd.running;
        pthread_mutex_unlock(&rd.mu);
        if (sl_pipe_stopping(s->pipe)) {
            sl_snap_chunk_free(c);
            rc = SL_ERR_STOPPED;
            break;
        }
        if (c && c->failed) {
            rc = sl_err_set(err, errlen, c->rc, "%s", c->err);
            sl_snap_chunk_free(c);
            break;
        }
        if (!c && running)
            continue;
        if (c && !c->nrows) {
            /* an empty chunk ends its unit and keeps the held row held: it may still be
             * the snapshot's last one */
            if (held && held->unit == c->unit)
                held->unit_done = 1;
            else
                unit_advance(s, c, 0, &s->last);
            sl_snap_chunk_free(c);
            continue;
        }
        if (held) {
            rc = emit_initial(s, held, held->nrows - 1, held->nrows, c ? "true" : "last", err,
                              errlen);
            if (!rc)
                unit_advance(s, held, held->nrows, &s->last);
            sl_snap_chunk_free(held);
            held = NULL;
        }
        if (!c)
            break;
        if (!rc)
            rc = emit_initial(s, c, 0, c->nrows - 1, "true", err, errlen);
        held = c;
    }
    s->plan_mu = NULL;
    sl_snap_chunk_free(held);
    pthread_mutex_lock(&rd.mu);
    rd.stop = 1;
    pthread_cond_broadcast(&rd.cv);
    pthread_mutex_unlock(&rd.mu);
    for (size_t i = 0; i < n; i++)
        if (ra[i].started)
            pthread_join(ra[i].thr, NULL);
    while (rd.head) {
        sl_snap_chunk_t *c = rd.head;
        rd.head = c->next;
        sl_snap_chunk_free(c);
    }
    if (!rc && sl_snap_plan_remaining(&s->plan))
        rc = sl_err_set(err, errlen, SL_ERR_RETRY, "the snapshot readers stopped early");
    if (!rc) {
        /* done: the stream takes over at the consistent point */
        sl_pos_t end = {.major = s->consistent - 1, .minor = s->consistent,
                        .index = SL_POS_DONE};
        sl_pipe_progress(s->pipe, &end);
        s->last = end;
        sl_pipe_checkpoint(s->pipe, &end, NULL, 0);
        sl_snap_finish(s->pipe, &s->plan, &s->progress);
        rc = sl_pipe_flush(s->pipe);
    }
out:
    for (size_t i = 0; i < n; i++)
        PQfinish(ra[i].conn);
    free(ra);
    pthread_cond_destroy(&rd.cv);
    pthread_mutex_destroy(&rd.mu);
    s->export_name[0] = 0;
    return rc;
}

/* ---- incremental phase ---- */

static long next_unit(pg_source_t *s)
{
    for (size_t i = 0; i < s->plan.n; i++)
        if (!s->plan.units[i].done)
            return (long)i;
    return -1;
}

static int invisible_in_view(const pg_source_t *s, uint32_t xid);
static void mark_stale(pg_source_t *s, uint32_t xid);

/* Open a REPEATABLE READ view on s->snap and remember which transactions it cannot see
 * (xmax and the running ones), to check those the stream delivers before the low
 * watermark. */
static sl_err_t open_view(pg_source_t *s, char *err, size_t errlen)
{
    PGresult *r = pgs_query(s->snap, "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY", 0,
                            NULL, err, errlen);
    if (!r)
        return SL_ERR_RETRY;
    PQclear(r);
    /* the first statement takes the transaction's snapshot */
    r = pgs_query(s->snap,
                  "SELECT pg_snapshot_xmax(pg_current_snapshot()), "
                  "array_to_string(ARRAY(SELECT x FROM pg_snapshot_xip(pg_current_snapshot()) "
                  "x ORDER BY x::text::numeric), ',')",
                  0, NULL, err, errlen);
    if (!r)
        return SL_ERR_RETRY;
    s->wm_xmax = strtoull(PQgetvalue(r, 0, 0), NULL, 10);
    s->wm_nxip = 0;
    for (const char *p = PQgetvalue(r, 0, 1); *p;) {
        char *end;
        uint64_t x = strtoull(p, &end, 10);
        if (end == p)
            break;
        if (s->wm_nxip == s->wm_capxip) {
            size_t cap = s->wm_capxip ? s->wm_capxip * 2 : 64;
            uint64_t *v = realloc(s->wm_xip, cap * sizeof(*v));
            if (!v)
                abort();
            s->wm_xip = v;
            s->wm_capxip = cap;
        }
        s->wm_xip[s->wm_nxip++] = x;
        p = *end ? end + 1 : end;
    }
    PQclear(r);
    s->wm_stale = 0;
    /* a transaction already streamed may not have left the proc array yet either */
    size_t n = s->recent_next < RECENT_XIDS ? s->recent_next : RECENT_XIDS;
    for (size_t i = 0; i < n && !s->wm_stale; i++)
        if (invisible_in_view(s, s->recent_xids[i]))
            mark_stale(s, s->recent_xids[i]);
    return SL_OK;
}

/* Is the stream's transaction xid one the chunk's view cannot see? */
static int invisible_in_view(const pg_source_t *s, uint32_t xid)
{
    /* widen the 32-bit xid with the epoch of xmax (it is at most 2^31 older) */
    uint64_t x = (s->wm_xmax & ~UINT64_C(0xFFFFFFFF)) | xid;
    if (x > s->wm_xmax + (UINT64_C(1) << 31))
        x -= UINT64_C(1) << 32;
    int invisible = x >= s->wm_xmax;
    size_t lo = 0, hi = s->wm_nxip;
    while (!invisible && lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (s->wm_xip[mid] == x)
            invisible = 1;
        else if (s->wm_xip[mid] < x)
            lo = mid + 1;
        else
            hi = mid;
    }
    return invisible;
}

static void mark_stale(pg_source_t *s, uint32_t xid)
{
    s->wm_stale = 1;
    sl_debug(s->cfg->name, "snapshot: transaction %" PRIu32 " committed before the low "
                           "watermark but was not visible yet; the chunk is read again",
             xid);
}

void pgsnap_on_begin(pg_source_t *s, uint32_t xid)
{
    s->recent_xids[s->recent_next++ % RECENT_XIDS] = xid;
    if (s->wm_state == WM_WAIT_LOW && !s->wm_stale && invisible_in_view(s, xid))
        mark_stale(s, xid);
}

static sl_err_t emit_watermark(pg_source_t *s, const char *kind, char *err, size_t errlen)
{
    char content[96];
    snprintf(content, sizeof(content), "%s:%s", s->wm_id, kind);
    sl_buf_t q = SL_BUF_INIT;
    sl_buf_puts(&q, "BEGIN; SET LOCAL synchronous_commit = on; "
                    "SELECT pg_logical_emit_message(true, '" WATERMARK_PREFIX "', ");
    put_literal(s->sql, content, strlen(content), &q);
    sl_buf_puts(&q, "); COMMIT");
    PGresult *r = PQexec(s->sql, q.data);
    sl_buf_free(&q);
    if (PQresultStatus(r) != PGRES_COMMAND_OK) {
        const char *m = PQresultErrorMessage(r);
        sl_err_set(err, errlen, SL_ERR_SOURCE, "writing a snapshot watermark failed: %.*s",
                   (int)strcspn(m, "\n"), m);
        PQclear(r);
        PQclear(PQexec(s->sql, "ROLLBACK"));
        return SL_ERR_SOURCE;
    }
    PQclear(r);
    return SL_OK;
}

/* Can table q be copied on demand? (sl_snap_take_requests) */
static int accept_table(void *ctx, const char *q, uint64_t *estimate, char *err,
                        size_t errlen)
{
    pg_source_t *s = ctx;
    snap_table_t *t;
    if (sl_config_table_refused(&s->cfg->source, q, err, errlen) ||
        describe(s, q, &t, err, errlen))
        return -1;
    *estimate = estimate_rows(t);
    return 0;
}

/* On-demand requests (the HTTP API, `sluice snapshot`) become units of the plan, durable
 * at once so that a crash keeps them. */
static void take_requests(pg_source_t *s)
{
    if (sl_snap_take_requests(s->pipe, &s->plan, &s->progress, accept_table, s) &&
        s->has_last)
        sl_snap_checkpoint(s->pipe, &s->last, &s->plan, &s->snapdoc);
}

sl_err_t pgsnap_tick(pg_source_t *s, char *err, size_t errlen)
{
    take_requests(s);
    if (s->wm_state != WM_IDLE || !s->plan.n || s->plan.phase != SL_SNAP_PHASE_INCREMENTAL ||
        sl_now_ms() < s->wm_next_ms)
        return SL_OK;
    long u = next_unit(s);
    if (u < 0)
        return SL_OK;
    sl_err_t rc = SL_OK;
    if (!s->snap && !(s->snap = pgs_connect(s, 0, err, errlen, &rc)))
        return rc;
    if (!s->nonce)
        s->nonce = (uint32_t)(sl_now_ms() ^ (int64_t)getpid() << 16) | 1;
    snprintf(s->wm_id, sizeof(s->wm_id), "%08" PRIx32 "-%" PRIu64, s->nonce, ++s->wm_counter);
    s->wm_unit = (size_t)u;
    sl_snap_keyset_clear(&s->wm_keys);
    s->wm_truncated = 0;
    if ((rc = emit_watermark(s, "low", err, errlen)) || (rc = open_view(s, err, errlen)) ||
        (rc = emit_watermark(s, "high", err, errlen))) {
        PQclear(PQexec(s->snap, "ROLLBACK"));
        if (rc == SL_ERR_SOURCE && strstr(err, "permission"))
            return sl_err_set(err, errlen, SL_ERR_SOURCE,
                              "an incremental snapshot needs pg_logical_emit_message "
                              "(GRANT EXECUTE ON FUNCTION pg_logical_emit_message(boolean, "
                              "text, text) TO %s): %.200s",
                              s->cfg->source.user, err);
        return rc == SL_ERR_SOURCE ? SL_ERR_RETRY : rc;
    }
    s->wm_state = WM_WAIT_LOW;
    return SL_OK;
}

void pgsnap_on_change(pg_source_t *s, const sl_table_t *t, const sl_value_t *before,
                      const sl_value_t *after)
{
    if (s->wm_state != WM_WINDOW || !sl_table_nkeys(t) ||
        strcmp(t->qualified, s->plan.units[s->wm_unit].table) != 0)
        return;
    sl_buf_t *k = &s->tmp;
    const sl_value_t *rows[2] = {before, after};
    for (int i = 0; i < 2; i++) {
        if (!rows[i])
            continue;
        sl_change_t c = {.op = 'c', .table = t, .after = rows[i]};
        sl_buf_reset(k);
        if (sl_envelope_key(&c, k))
            sl_snap_keyset_add(&s->wm_keys, k->data, k->len);
    }
}

void pgsnap_on_truncate(pg_source_t *s, const sl_table_t *t)
{
    if (s->wm_state == WM_WINDOW && strcmp(t->qualified, s->plan.units[s->wm_unit].table) == 0)
        s->wm_truncated = 1;
}

/* The high watermark came (in its transaction): read the chunk from the view and emit
 * what the window did not change, as that transaction's events. */
static sl_err_t emit_window(pg_source_t *s, char *err, size_t errlen)
{
    sl_snap_unit_t *u = &s->plan.units[s->wm_unit];
    snap_table_t *t = find_table(s, u->table);
    sl_err_t rc = SL_OK;
    if (!t && (rc = describe(s, u->table, &t, err, errlen))) {
        if (rc != SL_ERR_SOURCE || !strstr(err, "no such table"))
            return rc;
        sl_warn(s->cfg->name, "snapshot: %s no longer exists; it is skipped", u->table);
        sl_snap_chunk_t none = {.unit = s->wm_unit, .unit_done = 1};
        PQclear(PQexec(s->snap, "ROLLBACK"));
        unit_advance(s, &none, 0, &s->last);
        if (!sl_snap_plan_remaining(&s->plan))
            sl_snap_plan_free(&s->plan);
        return SL_OK;
    }
    int64_t now = sl_now_ms();
    uint64_t lsn = s->commit_lsn;
    render_snap_extra(s, lsn);
    sl_pos_t pos = {.major = lsn, .minor = lsn, .flags = SL_POS_F_SNAPSHOT};
    uint64_t emitted = 0;
    sl_buf_t key = SL_BUF_INIT;
    sl_snap_unit_t work = *u; /* the keyless loop moves last_key on a copy */
    /* a keyless table is read whole: page ranges do not carry over from another view */
    char *cursor = u->last_key && t->nkey ? strdup(u->last_key) : NULL;
    sl_snap_chunk_t *c = NULL;
    for (;;) {
        work.last_key = cursor;
        rc = read_chunk(s, s->snap, t, &work, s->wm_unit, &c, &s->tmp, err, errlen);
        if (rc)
            break;
        for (size_t i = 0; i < c->nrows && !rc; i++) {
            const sl_value_t *row = sl_snap_chunk_values(c, i);
            if (s->wm_truncated)
                break;
            if (s->wm_keys.n && t->nkey) {
                sl_change_t ch = {.op = 'r', .table = t->table, .after = row};
                sl_buf_reset(&key);
                sl_envelope_key(&ch, &key);
                if (sl_snap_keyset_has(&s->wm_keys, key.data, key.len))
                    continue; /* changed in the window: the stream has its newest state */
            }
            if (++s->index == SL_POS_DONE)
                rc = sl_err_set(err, errlen, SL_ERR_UNSUPPORTED, "a snapshot chunk is too big");
            pos.index = s->index;
            if (!rc)
                rc = emit_row(s, t->table, row, &pos, now, "true", err, errlen);
            emitted++;
        }
        free(cursor);
        cursor = c->last_key.len ? strdup(c->last_key.data) : NULL;
        /* a keyless table is read whole from this one view */
        if (rc || t->nkey || c->unit_done)
            break;
        sl_snap_chunk_free(c);
        c = NULL;
        if ((rc = pgs_send_feedback(s, 0, 0, err, errlen)))
            break;
    }
    PQclear(PQexec(s->snap, rc ? "ROLLBACK" : "COMMIT"));
    sl_buf_free(&key);
    free(cursor);
    if (!rc) {
        /* durable with the last row; without rows, with what was streamed before */
        unit_advance(s, c, emitted, &s->last);
        if (!sl_snap_plan_remaining(&s->plan))
            sl_snap_finish(s->pipe, &s->plan, &s->progress);
    }
    sl_snap_chunk_free(c);
    return rc;
}

sl_err_t pgsnap_on_watermark(pg_source_t *s, const char *content, size_t len, char *err,
                             size_t errlen)
{
    size_t idl = strlen(s->wm_id);
    if (s->wm_state == WM_IDLE || len != idl + (s->wm_state == WM_WAIT_LOW ? 4 : 5) ||
        memcmp(content, s->wm_id, idl) != 0 || content[idl] != ':')
        return SL_OK; /* another process's, or an earlier session's: ignored */
    const char *kind = content + idl + 1;
    if (s->wm_state == WM_WAIT_LOW && memcmp(kind, "low", 3) == 0) {
        s->wm_state = WM_WINDOW;
        return SL_OK;
    }
    if (s->wm_state == WM_WINDOW && memcmp(kind, "high", 4) == 0) {
        s->wm_state = WM_IDLE;
        if (s->wm_stale) {
            PQclear(PQexec(s->snap, "ROLLBACK"));
            return SL_OK; /* the next tick reads the same chunk with a new view */
        }
        return emit_window(s, err, errlen);
    }
    return SL_OK;
}

int pgsnap_finished(pg_source_t *s)
{
    return s->cfg->source.snapshot == SL_SNAP_ONLY && s->plan_loaded && !s->plan.n;
}

void pgsnap_free(pg_source_t *s)
{
    snap_table_t *tables = s->snap_tables;
    for (size_t i = 0; i < s->nsnap_tables; i++)
        snap_table_free(&tables[i]);
    free(tables);
    s->snap_tables = NULL;
    s->nsnap_tables = 0;
    PQfinish(s->snap);
    s->snap = NULL;
    sl_snap_plan_free(&s->plan);
    sl_snap_keyset_free(&s->wm_keys);
    free(s->wm_xip);
    s->wm_xip = NULL;
    s->wm_nxip = s->wm_capxip = 0;
    sl_buf_free(&s->snapdoc);
}
