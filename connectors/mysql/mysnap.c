/* sluice: MySQL/MariaDB snapshots, chunk by chunk while the binlog streams.
 *
 * Each chunk is read in a consistent snapshot of its own whose binlog position P is known
 * exactly: MariaDB's START TRANSACTION WITH CONSISTENT SNAPSHOT sets binlog_snapshot_file
 * and binlog_snapshot_position (no lock); MySQL, which has no such variables, takes
 * FLUSH TABLES WITH READ LOCK for the moment it starts the transaction and reads SHOW
 * MASTER STATUS (the lock is held for those two statements only). The stream then goes on
 * until it reaches P; there the chunk is read and emitted, between the changes before P
 * (which the snapshot contains) and those after (which it does not). No reconciliation
 * is needed: a chunk is exactly the table at P. The server sends a transaction to
 * replicas when it is in the binlog, a moment before the engine commit makes it visible:
 * when the stream has already delivered a transaction that ends after P, the snapshot
 * is older than the stream and is taken again. Memory stays small: rows go from the
 * server's result straight to the pipeline while the stream waits.
 *
 * A first snapshot (no bookmark) is the same thing from the position the connector
 * starts at; after a crash it continues after the last key of the last durable chunk.
 * Chunks follow the primary key (or, without one, a unique key of NOT NULL columns);
 * a table with neither is read whole in one consistent snapshot, and read again from the
 * start if a crash interrupts it. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include "core/log.h"
#include "connectors/mysql/mysource.h"

#define SYSTEM_SCHEMAS "('mysql', 'information_schema', 'performance_schema', 'sys')"

/* What the snapshot knows about one table, from information_schema. */
typedef struct snap_table {
    char *qualified, *db, *name;
    const sl_table_t *table;
    size_t ncols;
    sl_my_col_t *cols;
    char **names;
    sl_my_str_t **vals;  /* per column: ENUM/SET members (owned) */
    sl_buf_t select;     /* "expr, expr, ..." */
    sl_buf_t from;       /* "`db`.`name`" */
    size_t nkey;         /* chunking key: primary or unique NOT NULL key, 0 = none */
    size_t *key_col;
    uint64_t estimate;
} snap_table_t;

static void snap_table_free(snap_table_t *t)
{
    for (size_t i = 0; i < t->ncols; i++) {
        free(t->names[i]);
        if (t->vals && t->vals[i]) {
            for (uint32_t k = 0; k < t->cols[i].nvals; k++)
                free((char *)t->vals[i][k].s);
            free(t->vals[i]);
        }
    }
    free(t->names);
    free(t->vals);
    free(t->cols);
    free(t->key_col);
    free(t->qualified);
    free(t->db);
    free(t->name);
    sl_buf_free(&t->select);
    sl_buf_free(&t->from);
}

static snap_table_t *find_table(my_source_t *s, const char *qualified)
{
    snap_table_t *v = s->snap_tables;
    for (size_t i = 0; i < s->nsnap_tables; i++)
        if (strcmp(v[i].qualified, qualified) == 0)
            return &v[i];
    return NULL;
}

void mysnap_forget(my_source_t *s)
{
    snap_table_t *v = s->snap_tables;
    for (size_t i = 0; i < s->nsnap_tables; i++)
        snap_table_free(&v[i]);
    free(v);
    s->snap_tables = NULL;
    s->nsnap_tables = 0;
}

static void quote_ident(const char *name, sl_buf_t *out)
{
    sl_buf_putc(out, '`');
    for (const char *p = name; *p; p++) {
        if (*p == '`')
            sl_buf_putc(out, '`');
        sl_buf_putc(out, *p);
    }
    sl_buf_putc(out, '`');
}

/* The members of "enum('a','b''c')" / "set(...)" (COLUMN_TYPE), owned strings. */
sl_my_str_t *mys_parse_members(const char *ctype, uint32_t *n)
{
    const char *p = strchr(ctype, '(');
    sl_my_str_t *v = NULL;
    *n = 0;
    if (!p)
        return NULL;
    p++;
    sl_buf_t m = SL_BUF_INIT;
    while (*p == '\'') {
        p++;
        sl_buf_reset(&m);
        for (; *p; p++) {
            if (*p == '\'' && p[1] == '\'') {
                sl_buf_putc(&m, '\'');
                p++;
            } else if (*p == '\'') {
                break;
            } else if (*p == '\\' && p[1]) {
                sl_buf_putc(&m, *++p);
            } else {
                sl_buf_putc(&m, *p);
            }
        }
        if (*p != '\'')
            break;
        p++;
        sl_my_str_t *nv = realloc(v, (*n + 1) * sizeof(*nv));
        if (!nv)
            abort();
        v = nv;
        v[*n].len = (uint32_t)m.len;
        v[*n].s = sl_buf_steal(&m);
        if (!v[*n].s)
            v[*n].s = strdup("");
        (*n)++;
        if (*p == ',')
            p++;
    }
    sl_buf_free(&m);
    return v;
}

int mys_column_unsigned(const char *dt, const char *ct)
{
    /* an ENUM or SET member may be spelt 'unsigned' */
    return strcasecmp(dt, "enum") != 0 && strcasecmp(dt, "set") != 0 &&
           strstr(ct, "unsigned") != NULL;
}

sl_my_cs_t mys_column_cs(const char *dt, const char *charset_name)
{
    if (!strcasecmp(dt, "binary") || !strcasecmp(dt, "varbinary") || strstr(dt, "blob"))
        return SL_MY_CS_BINARY;
    return charset_name ? sl_my_charset_by_name(charset_name) : SL_MY_CS_UNKNOWN;
}

/* The TABLE_MAP type code and metadata a column of this DATA_TYPE gets in the binlog
 * (MySQL/MariaDB Field::binlog_type and save_field_metadata); -1 for a type sluice
 * cannot read. */
static int binlog_type(const char *dt, uint64_t octets, unsigned prec, unsigned scale,
                       unsigned fsp, uint32_t nvals, uint8_t *type, uint16_t *meta)
{
    static const struct {
        const char *name;
        uint8_t type;
        uint16_t meta; /* fixed metadata, or 0xffff: computed below */
    } map[] = {
        {"tinyint", SL_MY_TINY, 0},       {"smallint", SL_MY_SHORT, 0},
        {"mediumint", SL_MY_INT24, 0},    {"int", SL_MY_LONG, 0},
        {"bigint", SL_MY_LONGLONG, 0},    {"float", SL_MY_FLOAT, 4},
        {"double", SL_MY_DOUBLE, 8},      {"decimal", SL_MY_NEWDECIMAL, 0xffff},
        {"date", SL_MY_DATE, 0},          {"time", SL_MY_TIME2, 0xffff},
        {"datetime", SL_MY_DATETIME2, 0xffff}, {"timestamp", SL_MY_TIMESTAMP2, 0xffff},
        {"year", SL_MY_YEAR, 0},          {"bit", SL_MY_BIT, 0xffff},
        {"enum", SL_MY_ENUM, 0xffff},     {"set", SL_MY_SET, 0xffff},
        {"char", SL_MY_STRING, 0xffff},   {"binary", SL_MY_STRING, 0xffff},
        {"varchar", SL_MY_VARCHAR, 0xffff}, {"varbinary", SL_MY_VARCHAR, 0xffff},
        {"tinytext", SL_MY_BLOB, 1},      {"tinyblob", SL_MY_BLOB, 1},
        {"text", SL_MY_BLOB, 2},          {"blob", SL_MY_BLOB, 2},
        {"mediumtext", SL_MY_BLOB, 3},    {"mediumblob", SL_MY_BLOB, 3},
        {"longtext", SL_MY_BLOB, 4},      {"longblob", SL_MY_BLOB, 4},
        {"json", SL_MY_JSON, 4},          {"geometry", SL_MY_GEOMETRY, 4},
        {"point", SL_MY_GEOMETRY, 4},     {"linestring", SL_MY_GEOMETRY, 4},
        {"polygon", SL_MY_GEOMETRY, 4},   {"multipoint", SL_MY_GEOMETRY, 4},
        {"multilinestring", SL_MY_GEOMETRY, 4}, {"multipolygon", SL_MY_GEOMETRY, 4},
        {"geometrycollection", SL_MY_GEOMETRY, 4},
    };
    for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
        if (strcasecmp(map[i].name, dt) != 0)
            continue;
        *type = map[i].type;
        *meta = map[i].meta;
        if (*meta != 0xffff)
            return 0;
        switch (*type) {
        case SL_MY_NEWDECIMAL:
            *meta = (uint16_t)(prec << 8 | scale);
            break;
        case SL_MY_TIME2:
        case SL_MY_DATETIME2:
        case SL_MY_TIMESTAMP2:
            *meta = (uint16_t)fsp;
            break;
        case SL_MY_BIT:
            *meta = (uint16_t)((prec / 8) << 8 | (prec % 8));
            break;
        case SL_MY_ENUM:
            *meta = nvals > 255 ? 2 : 1;
            break;
        case SL_MY_SET:
            *meta = (uint16_t)((nvals + 7) / 8 > 4 ? 8 : (nvals + 7) / 8);
            break;
        default: /* CHAR, BINARY, VARCHAR, VARBINARY: the maximum length in bytes */
            *meta = (uint16_t)(octets > 65535 ? 65535 : octets);
        }
        return 0;
    }
    return -1;
}

static sl_err_t describe(my_source_t *s, const char *qualified, snap_table_t **out,
                         char *err, size_t errlen)
{
    if ((*out = find_table(s, qualified)))
        return SL_OK;
    snap_table_t t = {0};
    MYSQL_RES *r = NULL;
    sl_err_t rc = SL_OK;
    sl_buf_t q = SL_BUF_INIT;
    const char *dot = strchr(qualified, '.');
    if (!dot || dot == qualified || !dot[1])
        return sl_err_set(err, errlen, SL_ERR_CONFIG,
                          "cannot snapshot \"%s\": name it as db.table", qualified);
    t.qualified = strdup(qualified);
    t.db = strndup(qualified, (size_t)(dot - qualified));
    t.name = strdup(dot + 1);
    sl_buf_puts(&q, "SELECT COLUMN_NAME, DATA_TYPE, COLUMN_TYPE, IS_NULLABLE, "
                    "CHARACTER_OCTET_LENGTH, NUMERIC_PRECISION, NUMERIC_SCALE, "
                    "DATETIME_PRECISION, CHARACTER_SET_NAME, "
                    "(SELECT TABLE_ROWS FROM information_schema.TABLES x WHERE "
                    "x.TABLE_SCHEMA = c.TABLE_SCHEMA AND x.TABLE_NAME = c.TABLE_NAME) "
                    "FROM information_schema.COLUMNS c WHERE TABLE_SCHEMA = ");
    mys_quote(s->sql, t.db, &q);
    sl_buf_puts(&q, " AND TABLE_NAME = ");
    mys_quote(s->sql, t.name, &q);
    sl_buf_puts(&q, " ORDER BY ORDINAL_POSITION");
    r = mys_query(s->sql, q.data, &rc, err, errlen);
    if (!r) {
        rc = rc ? rc : SL_ERR_SOURCE;
        goto out;
    }
    t.ncols = (size_t)mysql_num_rows(r);
    if (!t.ncols) {
        rc = sl_err_set(err, errlen, SL_ERR_SOURCE, "cannot snapshot %s: no such table",
                        qualified);
        goto out;
    }
    t.cols = calloc(t.ncols, sizeof(*t.cols));
    t.names = calloc(t.ncols, sizeof(char *));
    t.vals = calloc(t.ncols, sizeof(*t.vals));
    t.key_col = calloc(t.ncols, sizeof(size_t));
    if (!t.cols || !t.names || !t.vals || !t.key_col)
        abort();
    MYSQL_ROW row;
    for (size_t i = 0; i < t.ncols && (row = mysql_fetch_row(r)); i++) {
        sl_my_col_t *c = &t.cols[i];
        t.names[i] = strdup(row[0] ? row[0] : "");
        const char *dt = row[1] ? row[1] : "", *ct = row[2] ? row[2] : "";
        if (!strcasecmp(dt, "enum") || !strcasecmp(dt, "set")) {
            t.vals[i] = mys_parse_members(ct, &c->nvals);
            c->vals = t.vals[i];
        }
        if (binlog_type(dt, row[4] ? strtoull(row[4], NULL, 10) : 0,
                        row[5] ? (unsigned)atoi(row[5]) : 0,
                        row[6] ? (unsigned)atoi(row[6]) : 0,
                        row[7] ? (unsigned)atoi(row[7]) : 0, c->nvals, &c->type,
                        &c->meta)) {
            rc = sl_err_set(err, errlen, SL_ERR_UNSUPPORTED,
                            "cannot snapshot %s: column %s has type %s, which sluice does "
                            "not read",
                            qualified, t.names[i], ct);
            goto out;
        }
        if (mys_column_unsigned(dt, ct))
            c->flags |= SL_MY_F_UNSIGNED;
        if (row[3] && !strcmp(row[3], "YES"))
            c->flags |= SL_MY_F_NULLABLE;
        c->cs = (uint8_t)(c->type == SL_MY_GEOMETRY ? SL_MY_CS_BINARY
                                                     : mys_column_cs(dt, row[8]));
        c->name = t.names[i];
        c->name_len = (uint32_t)strlen(t.names[i]);
        if (row[9])
            t.estimate = strtoull(row[9], NULL, 10);
    }
    mysql_free_result(r);
    r = NULL;
    /* MariaDB's JSON is a LONGTEXT with a json_valid() check */
    uint8_t *json = calloc(t.ncols, 1), *key = calloc(t.ncols, 1);
    if (!json || !key)
        abort();
    mys_json_columns(s, t.db, t.name, t.ncols, (const char *const *)t.names, json);
    for (size_t i = 0; i < t.ncols; i++)
        if (json[i] && t.cols[i].type == SL_MY_BLOB)
            t.cols[i].flags |= SL_MY_F_JSON_TEXT;
    free(json);
    /* the chunking key: the primary key, else a unique key of NOT NULL columns; its
     * columns in index order (the envelope key is the primary key only) */
    sl_buf_reset(&q);
    sl_buf_puts(&q, "SELECT INDEX_NAME, COLUMN_NAME, NULLABLE FROM information_schema.STATISTICS "
                    "WHERE NON_UNIQUE = 0 AND TABLE_SCHEMA = ");
    mys_quote(s->sql, t.db, &q);
    sl_buf_puts(&q, " AND TABLE_NAME = ");
    mys_quote(s->sql, t.name, &q);
    sl_buf_puts(&q, " ORDER BY INDEX_NAME <> 'PRIMARY', INDEX_NAME, SEQ_IN_INDEX");
    r = mys_query(s->sql, q.data, &rc, err, errlen);
    if (!r) {
        free(key);
        rc = rc ? rc : SL_ERR_SOURCE;
        goto out;
    }
    char chosen[256] = "";
    int usable = 1;
    while ((row = mysql_fetch_row(r))) {
        if (!chosen[0])
            snprintf(chosen, sizeof(chosen), "%s", row[0] ? row[0] : "");
        if (strcmp(chosen, row[0] ? row[0] : "") != 0)
            break;
        if (row[2] && !strcmp(row[2], "YES"))
            usable = 0; /* a unique key with NULLs does not order every row */
        for (size_t i = 0; i < t.ncols; i++)
            if (row[1] && !strcmp(t.names[i], row[1])) {
                t.key_col[t.nkey++] = i;
                if (!strcmp(chosen, "PRIMARY"))
                    key[i] = 1;
                /* members compare as text but sort by number: not a chunking key */
                if (t.cols[i].type == SL_MY_ENUM || t.cols[i].type == SL_MY_SET)
                    usable = 0;
            }
    }
    if (!usable)
        t.nkey = 0;
    t.table = mys_intern_table(s, t.db, t.name, t.ncols, t.cols, (const char *const *)t.names,
                               key);
    free(key);
    for (size_t i = 0; i < t.ncols; i++) {
        sl_buf_t qn = SL_BUF_INIT;
        quote_ident(t.names[i], &qn);
        if (i)
            sl_buf_puts(&t.select, ", ");
        sl_my_select_expr(&t.cols[i], qn.data, &t.select);
        sl_buf_free(&qn);
    }
    quote_ident(t.db, &t.from);
    sl_buf_putc(&t.from, '.');
    quote_ident(t.name, &t.from);
    snap_table_t *v = realloc(s->snap_tables, (s->nsnap_tables + 1) * sizeof(*v));
    if (!v)
        abort();
    s->snap_tables = v;
    v[s->nsnap_tables] = t;
    *out = &v[s->nsnap_tables++];
    /* the copy's pointers to its strings moved with it */
    for (size_t i = 0; i < (*out)->ncols; i++) {
        (*out)->cols[i].name = (*out)->names[i];
        (*out)->cols[i].vals = (*out)->vals[i];
    }
    memset(&t, 0, sizeof(t));
out:
    mysql_free_result(r);
    sl_buf_free(&q);
    snap_table_free(&t);
    return rc;
}

/* ---- the plan ---- */

static sl_err_t build_plan(my_source_t *s, char *err, size_t errlen)
{
    sl_err_t rc;
    MYSQL_RES *r = mys_query(s->sql,
                             "SELECT CONCAT(TABLE_SCHEMA, '.', TABLE_NAME) FROM "
                             "information_schema.TABLES WHERE TABLE_TYPE = 'BASE TABLE' "
                             "AND TABLE_SCHEMA NOT IN " SYSTEM_SCHEMAS " ORDER BY 1",
                             &rc, err, errlen);
    if (!r)
        return rc ? rc : SL_ERR_SOURCE;
    sl_snap_plan_free(&s->plan);
    s->plan.phase = SL_SNAP_PHASE_INCREMENTAL;
    s->plan.started_ms = sl_now_ms();
    MYSQL_ROW row;
    rc = SL_OK;
    while (!rc && (row = mysql_fetch_row(r))) {
        if (!row[0] || !sl_config_table_wanted(&s->cfg->source, row[0]))
            continue;
        snap_table_t *t;
        if ((rc = describe(s, row[0], &t, err, errlen)))
            break;
        sl_snap_plan_add(&s->plan, row[0], NULL, NULL, NULL)->estimate = t->estimate;
        s->plan.estimate += t->estimate;
    }
    mysql_free_result(r);
    return rc;
}

sl_err_t mysnap_prepare(my_source_t *s, int fresh, char *err, size_t errlen)
{
    /* a new session: the consistent snapshot of the last one is gone */
    mysql_close(s->snap);
    s->snap = NULL;
    s->chunk_open = 0;
    mysnap_forget(s);
    if (s->plan_loaded)
        return SL_OK;
    const sl_source_config_t *c = &s->cfg->source;
    const char *doc = s->renew ? NULL : sl_pipe_resume_snapshot(s->pipe);
    sl_err_t rc = SL_OK;
    if (doc) {
        if ((rc = sl_snap_plan_parse(doc, strlen(doc), &s->plan, err, errlen)))
            return rc;
        if (c->snapshot == SL_SNAP_NEVER) {
            sl_warn(s->cfg->name, "the bookmark holds an unfinished snapshot (%zu tables "
                                  "left); snapshot: never drops it",
                    sl_snap_plan_remaining(&s->plan));
            sl_snap_plan_free(&s->plan);
            sl_pipe_checkpoint(s->pipe, sl_pipe_resume(s->pipe), NULL, 0);
        } else {
            sl_info(s->cfg->name, "snapshot: resuming, %zu tables left",
                    sl_snap_plan_remaining(&s->plan));
        }
    } else if (fresh && c->snapshot != SL_SNAP_NEVER) {
        if ((rc = build_plan(s, err, errlen)))
            return rc;
        sl_info(s->cfg->name,
                "snapshot: %zu tables, about %" PRIu64 " rows, chunk by chunk while the "
                "binlog streams",
                s->plan.n, s->plan.estimate);
    }
    s->plan_loaded = 1;
    sl_snap_progress_start(&s->progress, &s->plan);
    return SL_OK;
}

/* Can table q be copied on demand? (sl_snap_take_requests) */
static int accept_table(void *ctx, const char *q, uint64_t *estimate, char *err,
                        size_t errlen)
{
    my_source_t *s = ctx;
    snap_table_t *t;
    if (sl_config_table_refused(&s->cfg->source, q, err, errlen) ||
        describe(s, q, &t, err, errlen))
        return -1;
    *estimate = t->estimate;
    return 0;
}

/* On-demand requests become units of the plan, durable at once. */
static void take_requests(my_source_t *s)
{
    if (sl_snap_take_requests(s->pipe, &s->plan, &s->progress, accept_table, s) &&
        s->has_last)
        sl_snap_checkpoint(s->pipe, &s->last, &s->plan, &s->snapdoc);
}

/* ---- chunks ---- */

static long next_unit(my_source_t *s)
{
    for (size_t i = 0; i < s->plan.n; i++)
        if (!s->plan.units[i].done)
            return (long)i;
    return -1;
}

/* Open the next chunk's consistent snapshot on s->snap and learn its binlog position. */
static sl_err_t open_chunk(my_source_t *s, char *err, size_t errlen)
{
    sl_err_t rc = SL_OK;
    if (!s->snap) {
        if (!(s->snap = mys_connect(s, err, errlen, &rc)))
            return rc;
        if ((rc = mys_exec(s->snap, "SET SESSION time_zone = '+00:00'", err, errlen)) ||
            (rc = mys_exec(s->snap,
                           "SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ", err,
                           errlen)))
            return rc;
    }
    int mariadb = strstr(mysql_get_server_info(s->snap), "MariaDB") != NULL;
    int locked = 0;
    if (!mariadb) {
        /* MySQL has no binlog_snapshot_*: a global read lock for the two statements */
        if ((rc = mys_exec(s->snap, "FLUSH TABLES WITH READ LOCK", err, errlen)))
            return rc == SL_ERR_SOURCE
                       ? sl_err_set(err, errlen, SL_ERR_SOURCE,
                                    "a MySQL snapshot needs FLUSH TABLES WITH READ LOCK for "
                                    "a moment per chunk (GRANT RELOAD): %.300s",
                                    err)
                       : rc;
        locked = 1;
    }
    if ((rc = mys_exec(s->snap, "START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY", err,
                       errlen)))
        goto out;
    MYSQL_RES *r = mys_query(s->snap,
                             mariadb ? "SHOW STATUS LIKE 'binlog_snapshot_%'"
                                     : "SHOW MASTER STATUS",
                             &rc, err, errlen);
    if (!r) {
        rc = rc ? rc : SL_ERR_SOURCE;
        goto out;
    }
    MYSQL_ROW row;
    s->chunk_file[0] = 0;
    s->chunk_off = 0;
    while ((row = mysql_fetch_row(r))) {
        if (!mariadb) {
            snprintf(s->chunk_file, sizeof(s->chunk_file), "%s", row[0] ? row[0] : "");
            s->chunk_off = row[1] ? strtoull(row[1], NULL, 10) : 0;
        } else if (row[0] && !strcmp(row[0], "Binlog_snapshot_file")) {
            snprintf(s->chunk_file, sizeof(s->chunk_file), "%s", row[1] ? row[1] : "");
        } else if (row[0] && !strcmp(row[0], "Binlog_snapshot_position")) {
            s->chunk_off = row[1] ? strtoull(row[1], NULL, 10) : 0;
        }
    }
    mysql_free_result(r);
    const char *dot = strrchr(s->chunk_file, '.');
    if (!dot || s->chunk_off < 4) {
        rc = sl_err_set(err, errlen, SL_ERR_SOURCE,
                        "the server did not say which binlog position its consistent "
                        "snapshot has (\"%s\":%" PRIu64 ")",
                        s->chunk_file, s->chunk_off);
        goto out;
    }
    s->chunk_seq = (uint32_t)strtoul(dot + 1, NULL, 10);
    s->chunk_open = 1;
    sl_debug(s->cfg->name, "snapshot: chunk of %s at %s:%" PRIu64 " (stream at %s:%" PRIu64
                           ")",
             s->plan.units[s->chunk_unit].table, s->chunk_file, s->chunk_off, s->file,
             s->offset);
out:
    if (locked)
        mys_exec(s->snap, "UNLOCK TABLES", err, errlen);
    if (rc)
        mys_exec(s->snap, "ROLLBACK", err, errlen);
    return rc;
}

/* Key text of a result value as an SQL literal. */
static void key_literal(MYSQL *m, const sl_my_col_t *c, const char *v, size_t n,
                        sl_buf_t *out)
{
    int number = c->type == SL_MY_TINY || c->type == SL_MY_SHORT || c->type == SL_MY_INT24 ||
                 c->type == SL_MY_LONG || c->type == SL_MY_LONGLONG ||
                 c->type == SL_MY_YEAR || c->type == SL_MY_BIT || c->type == SL_MY_FLOAT ||
                 c->type == SL_MY_DOUBLE || c->type == SL_MY_NEWDECIMAL;
    if (number && n && strspn(v, "0123456789+-.eE") == n) {
        sl_buf_append(out, v, n);
    } else if (c->cs == SL_MY_CS_BINARY) {
        static const char hex[] = "0123456789ABCDEF";
        sl_buf_puts(out, "X'");
        for (size_t i = 0; i < n; i++) {
            sl_buf_putc(out, hex[(unsigned char)v[i] >> 4]);
            sl_buf_putc(out, hex[(unsigned char)v[i] & 15]);
        }
        sl_buf_putc(out, '\'');
    } else {
        sl_buf_reserve(out, 2 * n + 3);
        out->data[out->len++] = '\'';
        out->len += mysql_real_escape_string(m, out->data + out->len, v, (unsigned long)n);
        out->data[out->len++] = '\'';
        out->data[out->len] = 0;
    }
}

/* SELECT ... WHERE key > last_key (expanded: k1 > a OR (k1 = a AND k2 > b) ...) ORDER BY
 * key LIMIT n; without a key, the whole table. -1 for a malformed stored key. */
static int chunk_sql(my_source_t *s, const snap_table_t *t, const sl_snap_unit_t *u,
                     sl_buf_t *sql)
{
    sl_buf_t v = SL_BUF_INIT, lit = SL_BUF_INIT;
    sl_buf_reset(sql);
    sl_buf_printf(sql, "SELECT %s FROM %s WHERE true", t->select.data, t->from.data);
    if (t->nkey && u->last_key) {
        sl_buf_puts(sql, " AND (");
        for (size_t i = 0; i < t->nkey; i++) {
            sl_buf_puts(sql, i ? " OR (" : "(");
            for (size_t k = 0; k <= i; k++) {
                size_t col = t->key_col[k];
                if (sl_snap_key_get(u->last_key, k, &v)) {
                    sl_buf_free(&v);
                    sl_buf_free(&lit);
                    return -1;
                }
                sl_buf_reset(&lit);
                key_literal(s->snap, &t->cols[col], v.data, v.len, &lit);
                if (k)
                    sl_buf_puts(sql, " AND ");
                quote_ident(t->names[col], sql);
                sl_buf_printf(sql, " %s %s", k == i ? ">" : "=", lit.data);
            }
            sl_buf_putc(sql, ')');
        }
        sl_buf_putc(sql, ')');
    }
    if (u->where)
        sl_buf_printf(sql, " AND (%s)", u->where);
    if (t->nkey) {
        sl_buf_puts(sql, " ORDER BY ");
        for (size_t k = 0; k < t->nkey; k++) {
            if (k)
                sl_buf_puts(sql, ", ");
            quote_ident(t->names[t->key_col[k]], sql);
        }
        sl_buf_printf(sql, " LIMIT %" PRId64, s->cfg->source.snapshot_chunk_rows);
    }
    sl_buf_free(&v);
    sl_buf_free(&lit);
    return 0;
}

static void render_extra(my_source_t *s)
{
    sl_buf_reset(&s->extra);
    sl_buf_puts(&s->extra, "\"server_id\":0,\"gtid\":null,\"file\":");
    sl_buf_put_json_str(&s->extra, s->chunk_file, strlen(s->chunk_file));
    sl_buf_puts(&s->extra, ",\"pos\":");
    sl_buf_put_u64(&s->extra, s->chunk_off);
    sl_buf_puts(&s->extra, ",\"row\":0,\"thread\":null,\"query\":null");
}

/* The stream is at the chunk's position: read it in its snapshot and emit every row at
 * pos (major just below `at`, the offset of the next event). */
static sl_err_t emit_chunk(my_source_t *s, uint64_t at, char *err, size_t errlen)
{
    sl_snap_unit_t *u = &s->plan.units[s->chunk_unit];
    snap_table_t *t;
    sl_err_t rc = describe(s, u->table, &t, err, errlen);
    sl_buf_t sql = SL_BUF_INIT, key = SL_BUF_INIT;
    sl_arena_t arena = SL_ARENA_INIT;
    sl_value_t *vals = calloc(t ? t->ncols : 1, sizeof(sl_value_t));
    MYSQL_RES *r = NULL;
    uint64_t rows = 0;
    s->chunk_open = 0;
    if (!vals)
        abort();
    if (rc == SL_ERR_SOURCE && strstr(err, "no such table")) {
        /* dropped since: nothing left to copy */
        sl_warn(s->cfg->name, "snapshot: %s no longer exists; it is skipped", u->table);
        u->done = 1;
        rc = SL_OK;
        /* nothing emitted yet in this process: durable with the position resumed from */
        /* nothing emitted in this process yet: durable with the position resumed from,
         * stored with the next bookmark (a quiet server's next change) */
        const sl_pos_t *durable = s->has_last ? &s->last : sl_pipe_resume(s->pipe);
        if (durable)
            sl_snap_checkpoint(s->pipe, durable, &s->plan, &s->snapdoc);
        if (!sl_snap_plan_remaining(&s->plan))
            sl_snap_plan_free(&s->plan);
        goto out;
    }
    if (rc)
        goto out;
    if (chunk_sql(s, t, u, &sql)) {
        rc = sl_err_set(err, errlen, SL_ERR_CORRUPT,
                        "the snapshot progress of %s has a malformed last key", u->table);
        goto out;
    }
    if (mysql_real_query(s->snap, sql.data, sql.len) || !(r = mysql_use_result(s->snap))) {
        rc = mys_error(s->snap, err, errlen, "reading a snapshot chunk failed");
        if (rc == SL_ERR_SOURCE && strstr(err, "(error 1064)") && u->where)
            rc = sl_err_set(err, errlen, SL_ERR_SOURCE,
                            "the snapshot condition for %s is not valid SQL: %s", u->table,
                            u->where);
        goto out;
    }
    if (mysql_num_fields(r) != t->ncols) {
        rc = sl_err_set(err, errlen, SL_ERR_PROTOCOL, "a snapshot chunk of %s has %u columns, "
                                                      "expected %zu",
                        u->table, mysql_num_fields(r), t->ncols);
        goto out;
    }
    MYSQL_FIELD *fields = mysql_fetch_fields(r);
    render_extra(s);
    /* chunks read at one position (a quiet server) go on numbering there */
    sl_pos_t pos = {.major = mys_pos_major(s->seq, at - 1), .minor = at,
                    .flags = SL_POS_F_SNAPSHOT};
    if (s->has_last && s->last.major == pos.major && s->last.index != SL_POS_DONE)
        pos.index = s->last.index;
    MYSQL_ROW row;
    while ((row = mysql_fetch_row(r))) {
        unsigned long *len = mysql_fetch_lengths(r);
        sl_arena_reset(&arena);
        for (size_t i = 0; i < t->ncols && !rc; i++)
            rc = sl_my_text_value(&t->cols[i], row[i], row[i] ? len[i] : 0,
                                  fields[i].charsetnr == 63, &arena, &s->tmp, &vals[i], err,
                                  errlen);
        if (!rc && ++pos.index == SL_POS_DONE)
            rc = sl_err_set(err, errlen, SL_ERR_UNSUPPORTED, "a snapshot chunk is too big");
        if (!rc)
            rc = mys_emit_row(s, t->table, vals, &pos, "true", err, errlen);
        if (rc)
            break;
        rows++;
        if (t->nkey) {
            sl_buf_reset(&key);
            sl_buf_putc(&key, '[');
            for (size_t k = 0; k < t->nkey; k++) {
                if (k)
                    sl_buf_putc(&key, ',');
                size_t col = t->key_col[k];
                sl_snap_key_put(&key, row[col] ? row[col] : "", row[col] ? len[col] : 0);
            }
            sl_buf_putc(&key, ']');
        }
    }
    if (!rc && mysql_errno(s->snap))
        rc = mys_error(s->snap, err, errlen, "reading a snapshot chunk failed");
    if (rc) {
        /* drain what the server still sends before the connection is used again */
        while (r && mysql_fetch_row(r))
            ;
        goto out;
    }
    if (rows && t->nkey) {
        free(u->last_key);
        u->last_key = strdup(key.data);
    }
    u->rows += rows;
    s->plan.rows += rows;
    if (!t->nkey || (int64_t)rows < s->cfg->source.snapshot_chunk_rows)
        u->done = 1;
    /* durable with its last row; without rows, with what was streamed before */
    if (s->has_last)
        sl_snap_checkpoint(s->pipe, &s->last, &s->plan, &s->snapdoc);
    sl_snap_progress_report(&s->progress, s->pipe, &s->plan, 0);
    if (!sl_snap_plan_remaining(&s->plan))
        sl_snap_finish(s->pipe, &s->plan, &s->progress);
out:
    mysql_free_result(r);
    char ignored[256];
    if (s->snap) /* read only: a failed COMMIT loses nothing */
        mys_exec(s->snap, rc ? "ROLLBACK" : "COMMIT", ignored, sizeof(ignored));
    sl_buf_free(&sql);
    sl_buf_free(&key);
    sl_arena_free(&arena);
    free(vals);
    return rc;
}

sl_err_t mysnap_reached(my_source_t *s, uint64_t start, char *err, size_t errlen)
{
    if (!s->chunk_open || s->in_tx)
        return SL_OK;
    uint64_t at = start ? start : s->offset;
    if (s->seq < s->chunk_seq || (s->seq == s->chunk_seq && at < s->chunk_off))
        return SL_OK; /* the stream has not got there yet */
    return emit_chunk(s, at, err, errlen);
}

sl_err_t mysnap_tick(my_source_t *s, char *err, size_t errlen)
{
    take_requests(s);
    /* while the stream is already where each chunk belongs (a quiet server), chunk after
     * chunk; once the server moves on, the chunk waits for the stream to get there (and
     * the loop ends), so the stream is never held back while there is something to read */
    while (!s->chunk_open && s->plan.n && !s->in_tx && !sl_pipe_stopping(s->pipe)) {
        long u = next_unit(s);
        if (u < 0)
            return SL_OK;
        s->chunk_unit = (size_t)u;
        sl_err_t rc = open_chunk(s, err, errlen);
        if (rc)
            return rc;
        if (s->last_tx_end > mys_pos_major(s->chunk_seq, s->chunk_off)) {
            /* streamed already but not yet visible in the snapshot: take another later */
            char ignored[256];
            sl_debug(s->cfg->name, "snapshot: the stream is past %s:%" PRIu64 " already; "
                                   "the chunk's snapshot is taken again",
                     s->chunk_file, s->chunk_off);
            mys_exec(s->snap, "ROLLBACK", ignored, sizeof(ignored));
            s->chunk_open = 0;
            return SL_OK;
        }
        if ((rc = mysnap_reached(s, 0, err, errlen)))
            return rc;
    }
    return SL_OK;
}

int mysnap_finished(my_source_t *s)
{
    return s->cfg->source.snapshot == SL_SNAP_ONLY && s->plan_loaded && !s->plan.n;
}

void mysnap_free(my_source_t *s)
{
    mysql_close(s->snap);
    s->snap = NULL;
    mysnap_forget(s);
    sl_snap_plan_free(&s->plan);
    sl_buf_free(&s->snapdoc);
}
