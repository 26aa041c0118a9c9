/* sluice: PostgreSQL source: slot and publication set-up, START_REPLICATION, the pgoutput
 * stream turned into change events, and standby feedback of the durable position only. */
#include <errno.h>
#include <stdarg.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>
#include <jansson.h>
#include <libpq-fe.h>
#include "config/config.h"
#include "core/arena.h"
#include "core/log.h"
#include "core/pipeline.h"
#include "connectors/postgres/pgoutput.h"
#include "connectors/postgres/pgtypes.h"
#include "connectors/postgres/postgres.h"
#include "connectors/postgres/pgsource.h"

#define FEEDBACK_INTERVAL_MS 10000
#define SLOT_BUSY_WAIT_MS 10000
#define HEARTBEAT_PREFIX "sluice_heartbeat"
#define SLOT_LAG_INTERVAL_MS 5000
#define TEXTOID 25
#define TEXTARRAYOID 1009

void sl_pg_lsn_format(uint64_t lsn, char *out, size_t n)
{
    snprintf(out, n, "%" PRIX32 "/%" PRIX32, (uint32_t)(lsn >> 32), (uint32_t)lsn);
}

int sl_pg_lsn_parse(const char *s, uint64_t *lsn)
{
    unsigned hi, lo;
    int used = 0;
    if (!s || sscanf(s, "%X/%X%n", &hi, &lo, &used) != 2 || s[used] != 0)
        return -1;
    *lsn = (uint64_t)hi << 32 | lo;
    return 0;
}

/* The LSN to START_REPLICATION from, and to confirm, for a durable position: a finished
 * transaction is confirmed up to the end of its commit record; a partly delivered one
 * only up to its commit LSN, so the server sends the whole transaction again and we skip
 * what was delivered (the server skips transactions whose commit LSN is below it). */
static uint64_t pos_confirm_lsn(const sl_pos_t *p)
{
    if (p->flags & SL_POS_F_SNAPSHOT)
        return p->minor; /* a snapshot row: every change before its place is delivered */
    return p->index == SL_POS_DONE ? p->minor : p->major;
}

static void pg_bookmark_render(void *ctx, const sl_pos_t *pos, sl_buf_t *out)
{
    (void)ctx; /* everything is in the position */
    char a[24], b[24];
    if (pos->flags & SL_POS_F_SNAPSHOT) {
        /* a snapshot row: the stream resumes where it was placed (the snapshot progress
         * stored beside says which rows are durable) */
        sl_pos_t at = {.major = pos->minor - 1, .minor = pos->minor, .index = SL_POS_DONE};
        pg_bookmark_render(ctx, &at, out);
        return;
    }
    sl_pg_lsn_format(pos_confirm_lsn(pos), a, sizeof(a));
    sl_pg_lsn_format(pos->major, b, sizeof(b));
    sl_buf_printf(out, "\"lsn\":\"%s\",\"commit_lsn\":\"%s\",\"event\":", a, b);
    if (pos->index == SL_POS_DONE)
        sl_buf_puts(out, "\"done\"");
    else
        sl_buf_put_u64(out, pos->index);
}

static sl_err_t pg_bookmark_parse(const char *json, size_t len, sl_pos_t *pos, char *err,
                                  size_t errlen)
{
    json_error_t jerr;
    json_t *root = json_loadb(json, len, 0, &jerr);
    sl_err_t rc = SL_OK;
    const char *lsn = json_string_value(json_object_get(root, "lsn"));
    const char *commit = json_string_value(json_object_get(root, "commit_lsn"));
    json_t *ev = json_object_get(root, "event");
    uint64_t l = 0, c = 0;
    memset(pos, 0, sizeof(*pos));
    if (!root || !lsn || !commit || sl_pg_lsn_parse(lsn, &l) || sl_pg_lsn_parse(commit, &c) ||
        !ev) {
        rc = sl_err_set(err, errlen, SL_ERR_CORRUPT,
                        "the bookmark is not a PostgreSQL position (it needs \"lsn\" and "
                        "\"commit_lsn\" as \"X/Y\" and \"event\")");
        goto out;
    }
    pos->major = c;
    if (json_is_string(ev) && strcmp(json_string_value(ev), "done") == 0) {
        pos->index = SL_POS_DONE;
        pos->minor = l;
    } else if (json_is_integer(ev) && json_integer_value(ev) >= 0 &&
               json_integer_value(ev) < SL_POS_DONE) {
        pos->index = (uint32_t)json_integer_value(ev);
        if (l != c) {
            rc = sl_err_set(err, errlen, SL_ERR_CORRUPT,
                            "the bookmark is inconsistent: a partly delivered transaction "
                            "must have lsn equal to commit_lsn");
            goto out;
        }
    } else {
        rc = sl_err_set(err, errlen, SL_ERR_CORRUPT,
                        "the bookmark's \"event\" must be \"done\" or an event number");
    }
out:
    json_decref(root);
    return rc;
}

/* ---- connections ---- */

PGconn *pgs_connect(pg_source_t *s, int replication, char *err, size_t errlen,
                          sl_err_t *rc)
{
    const sl_source_config_t *c = &s->cfg->source;
    char port[16], app[128];
    snprintf(port, sizeof(port), "%d", c->port);
    snprintf(app, sizeof(app), "sluice_%s", s->cfg->name);
    const char *keys[] = {"host",     "port",  "user",        "password",
                          "dbname",   "options", "application_name", "connect_timeout",
                          replication ? "replication" : NULL, NULL};
    const char *vals[] = {c->host,
                          port,
                          c->user,
                          c->password,
                          c->database,
                          "-c TimeZone=UTC -c DateStyle=ISO -c IntervalStyle=iso_8601 "
                          "-c extra_float_digits=3 -c bytea_output=hex",
                          app,
                          "10",
                          "database",
                          NULL};
    PGconn *conn = PQconnectdbParams(keys, vals, 0);
    if (!conn || PQstatus(conn) != CONNECTION_OK) {
        const char *m = conn ? PQerrorMessage(conn) : "out of memory";
        char red[512];
        sl_log_redact(m, red, sizeof(red));
        red[strcspn(red, "\n")] = 0;
        /* an unreachable server may come back; bad credentials will not */
        *rc = strstr(red, "authentication") || strstr(red, "does not exist") ||
                      strstr(red, "no pg_hba.conf") || strstr(red, "permission")
                  ? SL_ERR_SOURCE
                  : SL_ERR_RETRY;
        sl_err_set(err, errlen, *rc, "cannot connect to PostgreSQL at %s:%d: %s", c->host,
                   c->port, red);
        PQfinish(conn);
        return NULL;
    }
    *rc = SL_OK;
    return conn;
}

static void pg_disconnect(pg_source_t *s)
{
    PQfinish(s->repl);
    PQfinish(s->sql);
    PQfinish(s->snap);
    s->repl = s->sql = s->snap = NULL;
}

/* Run a query with text parameters; returns the result (caller PQclear) or NULL with err. */
PGresult *pgs_query(PGconn *conn, const char *sql, int nparams, const char *const *params,
                          char *err, size_t errlen)
{
    PGresult *r = PQexecParams(conn, sql, nparams, NULL, params, NULL, NULL, 0);
    ExecStatusType st = PQresultStatus(r);
    if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK) {
        const char *m = PQresultErrorMessage(r);
        sl_err_set(err, errlen, SL_ERR_SOURCE, "query failed: %.*s",
                   (int)strcspn(m, "\n"), m);
        PQclear(r);
        return NULL;
    }
    return r;
}

void pgs_quote_ident(PGconn *conn, const char *s, sl_buf_t *out)
{
    char *q = PQescapeIdentifier(conn, s, strlen(s));
    sl_buf_puts(out, q ? q : "\"\"");
    PQfreemem(q);
}

/* ---- type resolution ---- */

sl_err_t pgs_resolve_type(pg_source_t *s, uint32_t oid, sl_pg_type_t *out, int depth,
                             char *err, size_t errlen)
{
    for (size_t i = 0; i < s->ntypes; i++)
        if (s->types[i].t.oid == oid) {
            *out = s->types[i].t;
            return SL_OK;
        }
    memset(out, 0, sizeof(*out));
    out->oid = oid;
    out->delim = ',';
    if (sl_pg_type_is_builtin(oid)) {
        out->base_oid = oid;
        out->elem_oid = sl_pg_array_elem(oid);
    } else {
        /* a domain, enum, array of those, or another user type: ask the catalog */
        char oidtxt[16];
        snprintf(oidtxt, sizeof(oidtxt), "%" PRIu32, oid);
        const char *params[] = {oidtxt};
        PGresult *r = pgs_query(s->sql,
                               "SELECT typtype, typbasetype, typelem, typdelim, typcategory "
                               "FROM pg_type WHERE oid = $1::oid",
                               1, params, err, errlen);
        if (!r)
            return SL_ERR_RETRY;
        if (PQntuples(r) != 1) {
            PQclear(r);
            out->base_oid = TEXTOID;
        } else {
            char typtype = PQgetvalue(r, 0, 0)[0];
            uint32_t base = (uint32_t)strtoul(PQgetvalue(r, 0, 1), NULL, 10);
            uint32_t elem = (uint32_t)strtoul(PQgetvalue(r, 0, 2), NULL, 10);
            char delim = PQgetvalue(r, 0, 3)[0];
            char category = PQgetvalue(r, 0, 4)[0];
            PQclear(r);
            sl_pg_type_t sub;
            if (typtype == 'd' && base && depth < 8) {
                sl_err_t rc = pgs_resolve_type(s, base, &sub, depth + 1, err, errlen);
                if (rc)
                    return rc;
                out->base_oid = sub.base_oid;
                out->elem_oid = sub.elem_oid;
                out->delim = sub.delim;
            } else if (category == 'A' && elem && depth < 8) {
                sl_err_t rc = pgs_resolve_type(s, elem, &sub, depth + 1, err, errlen);
                if (rc)
                    return rc;
                out->base_oid = TEXTARRAYOID;
                out->elem_oid = sub.elem_oid ? TEXTOID : sub.base_oid;
                out->delim = delim ? delim : ',';
            } else {
                out->base_oid = TEXTOID; /* enums, composites, ranges: their text */
            }
        }
    }
    if (s->ntypes == s->captypes) {
        size_t cap = s->captypes ? s->captypes * 2 : 32;
        pg_typecache_t *t = realloc(s->types, cap * sizeof(*t));
        if (!t)
            abort();
        s->types = t;
        s->captypes = cap;
    }
    s->types[s->ntypes++].t = *out;
    return SL_OK;
}

void pgs_priv_free(void *p)
{
    pg_table_priv_t *tp = p;
    free(tp->types);
    free(tp);
}

/* ---- table filter ---- */

static pg_rel_t *find_rel(pg_source_t *s, uint32_t relid)
{
    for (size_t i = 0; i < s->nrels; i++)
        if (s->rels[i].relid == relid)
            return &s->rels[i];
    return NULL;
}

/* For each column of the relation, 1 when it is part of the primary key (*out, caller
 * frees; all zero when the table has none). */
static sl_err_t primary_key(pg_source_t *s, const sl_pgo_msg_t *m, uint8_t **out, char *err,
                            size_t errlen)
{
    char relid[16];
    snprintf(relid, sizeof(relid), "%" PRIu32, m->u.rel.relid);
    const char *params[] = {relid};
    PGresult *r = pgs_query(s->sql,
                           "SELECT a.attname FROM pg_index i JOIN pg_attribute a ON "
                           "a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey) "
                           "WHERE i.indrelid = $1::oid AND i.indisprimary",
                           1, params, err, errlen);
    if (!r)
        return SL_ERR_RETRY;
    uint8_t *pk = calloc(m->u.rel.natts ? m->u.rel.natts : 1, 1);
    if (!pk)
        abort();
    for (int row = 0; row < PQntuples(r); row++)
        for (uint16_t i = 0; i < m->u.rel.natts; i++)
            if (strcmp(PQgetvalue(r, row, 0), m->u.rel.cols[i].name) == 0)
                pk[i] = 1;
    PQclear(r);
    *out = pk;
    return SL_OK;
}

static sl_err_t on_relation(pg_source_t *s, const sl_pgo_msg_t *m, char *err, size_t errlen)
{
    pg_rel_t *r = find_rel(s, m->u.rel.relid);
    if (!r) {
        if (s->nrels == s->caprels) {
            size_t cap = s->caprels ? s->caprels * 2 : 16;
            pg_rel_t *v = realloc(s->rels, cap * sizeof(*v));
            if (!v)
                abort();
            s->rels = v;
            s->caprels = cap;
        }
        r = &s->rels[s->nrels++];
        memset(r, 0, sizeof(*r));
        r->relid = m->u.rel.relid;
    }
    r->replident = m->u.rel.replident;
    sl_table_t *probe = sl_table_new(s->cfg->source.database, m->u.rel.nspname,
                                     m->u.rel.relname);
    r->excluded = !sl_config_table_wanted(&s->cfg->source, probe->qualified);
    sl_table_free(probe);
    r->table = NULL;
    if (r->excluded)
        return SL_OK;
    /* The Relation flags mark the replica identity, which under REPLICA IDENTITY FULL is
     * every column. The message key is the primary key, as in Debezium: ask the catalog
     * for it then (the catalog as of now, which is right unless the key was changed). */
    uint8_t *pk = NULL;
    if (r->replident == 'f') {
        sl_err_t rc = primary_key(s, m, &pk, err, errlen);
        if (rc)
            return rc;
    }
    sl_err_t rc = pgs_intern_table(s, m->u.rel.nspname, m->u.rel.relname, m->u.rel.natts,
                                   m->u.rel.cols, pk, &r->table, err, errlen);
    free(pk);
    return rc;
}

sl_err_t pgs_intern_table(pg_source_t *s, const char *nspname, const char *relname,
                          uint16_t natts, const sl_pgo_relcol_t *cols, const uint8_t *pk,
                          const sl_table_t **out, char *err, size_t errlen)
{
    sl_table_t *t = sl_table_new(s->cfg->source.database, nspname, relname);
    pg_table_priv_t *priv = calloc(1, sizeof(*priv));
    if (!priv || !(priv->types = calloc(natts ? natts : 1, sizeof(sl_pg_type_t))))
        abort();
    t->priv = priv;
    t->priv_free = pgs_priv_free;
    for (uint16_t i = 0; i < natts; i++) {
        const sl_pgo_relcol_t *c = &cols[i];
        sl_err_t rc = pgs_resolve_type(s, c->type_oid, &priv->types[i], 0, err, errlen);
        if (rc) {
            sl_table_free(t);
            return rc;
        }
        const char *tname = sl_pg_type_is_builtin(c->type_oid)
                                ? sl_pg_type_name(c->type_oid)
                                : "user-defined";
        sl_table_add_column(t, c->name, tname, c->type_oid, c->typmod,
                            sl_pg_jtype(&priv->types[i]), 2, pk ? pk[i] : (c->flags & 1));
    }
    *out = sl_schema_cache_intern(sl_pipe_schemas(s->pipe), t);
    return SL_OK;
}

/* ---- changes ---- */

static void ensure_vals(pg_source_t *s, size_t n)
{
    if (n <= s->vals_cap)
        return;
    size_t cap = n < 64 ? 64 : n;
    free(s->before);
    free(s->after);
    s->before = calloc(cap, sizeof(sl_value_t));
    s->after = calloc(cap, sizeof(sl_value_t));
    if (!s->before || !s->after)
        abort();
    s->vals_cap = cap;
}

/* Convert a tuple into vals; NULL cols gives every value null. old may supply values
 * for columns the new tuple marks as unchanged TOAST. */
static sl_err_t convert_tuple(pg_source_t *s, const sl_table_t *t, const sl_pgo_col_t *cols,
                              uint16_t ncols, const sl_value_t *old, sl_value_t *vals,
                              char *err, size_t errlen)
{
    const pg_table_priv_t *priv = t->priv;
    if (ncols != t->ncols)
        return sl_err_set(err, errlen, SL_ERR_PROTOCOL,
                          "a row of %s has %u columns but its Relation message described %zu",
                          t->qualified, ncols, t->ncols);
    for (size_t i = 0; i < t->ncols; i++) {
        const sl_pgo_col_t *c = &cols[i];
        sl_value_t *v = &vals[i];
        memset(v, 0, sizeof(*v));
        switch (c->kind) {
        case 'n':
            v->kind = SL_V_NULL;
            break;
        case 'u':
            if (old && old[i].kind != SL_V_UNCHANGED && old[i].kind != SL_V_NULL)
                *v = old[i];
            else
                v->kind = SL_V_UNCHANGED;
            break;
        case 't': {
            sl_err_t rc = sl_pg_text_to_value(&priv->types[i], c->data, c->len, &s->arena,
                                              &s->tmp, v, err, errlen);
            if (rc)
                return rc;
            break;
        }
        default:
            return sl_err_set(err, errlen, SL_ERR_PROTOCOL,
                              "column %s of %s came in binary format, which sluice does "
                              "not request",
                              t->cols[i].name, t->qualified);
        }
    }
    return SL_OK;
}

static void render_extra(pg_source_t *s)
{
    sl_buf_reset(&s->extra);
    sl_buf_puts(&s->extra, "\"sequence\":\"[\\\"");
    sl_buf_put_u64(&s->extra, s->prev_commit_lsn);
    sl_buf_puts(&s->extra, "\\\",\\\"");
    sl_buf_put_u64(&s->extra, s->change_lsn);
    sl_buf_puts(&s->extra, "\\\"]\",\"txId\":");
    sl_buf_put_u64(&s->extra, s->xid);
    sl_buf_puts(&s->extra, ",\"lsn\":");
    sl_buf_put_u64(&s->extra, s->change_lsn);
}

/* Number the next event of the transaction; returns 1 when it was delivered before. */
static int next_event(pg_source_t *s, sl_pos_t *pos)
{
    s->index++;
    pos->major = s->commit_lsn;
    pos->minor = 0;
    pos->index = s->index;
    pos->flags = 0;
    return s->has_skip && sl_pos_cmp(pos, &s->skip) <= 0;
}

static sl_err_t emit(pg_source_t *s, pg_rel_t *r, char op, const sl_value_t *before,
                     const sl_value_t *after, char *err, size_t errlen)
{
    sl_pos_t pos;
    if (next_event(s, &pos))
        return SL_OK;
    if (r->tx_seen != s->tx_counter) {
        r->tx_seen = s->tx_counter;
        r->count = 0;
    }
    r->count++;
    sl_change_t c = {
        .op = op,
        .table = r->table,
        .before = before,
        .after = after,
        .commit_ts_ms = s->commit_ts_ms,
        .snapshot = "false",
        .source_extra = s->extra.data,
        .source_extra_len = s->extra.len,
        .tx_id = s->txid.data,
        .total_order = s->index,
        .data_collection_order = r->count,
    };
    sl_err_t rc = sl_pipe_emit(s->pipe, &c, &pos);
    if (rc)
        return sl_err_set(err, errlen, rc, "stopping");
    s->last = pos;
    s->has_last = 1;
    return SL_OK;
}

static sl_err_t on_change(pg_source_t *s, const sl_pgo_msg_t *m, char *err, size_t errlen)
{
    pg_rel_t *r = find_rel(s, m->u.change.relid);
    if (!r)
        return sl_err_set(err, errlen, SL_ERR_PROTOCOL,
                          "a row change for relation %" PRIu32
                          " came before its Relation message",
                          m->u.change.relid);
    if (r->excluded) {
        sl_pos_t pos;
        next_event(s, &pos); /* keep numbering identical whatever the filter */
        return SL_OK;
    }
    const sl_table_t *t = r->table;
    ensure_vals(s, t->ncols);
    sl_arena_reset(&s->arena);
    sl_err_t rc;
    const sl_value_t *before = NULL;
    if (m->u.change.old_kind) {
        rc = convert_tuple(s, t, m->u.change.old, m->u.change.nold, NULL, s->before, err,
                           errlen);
        if (rc)
            return rc;
        before = s->before;
    }
    if (m->type == 'D') {
        if (!before) {
            /* REPLICA IDENTITY NOTHING: PostgreSQL sends no old row at all */
            for (size_t i = 0; i < t->ncols; i++)
                s->before[i].kind = SL_V_NULL;
            before = s->before;
        }
        pgsnap_on_change(s, t, before, NULL);
        return emit(s, r, 'd', before, NULL, err, errlen);
    }
    rc = convert_tuple(s, t, m->u.change.new, m->u.change.nnew, before, s->after, err,
                       errlen);
    if (rc)
        return rc;
    pgsnap_on_change(s, t, before, s->after);
    if (m->type == 'I')
        return emit(s, r, 'c', NULL, s->after, err, errlen);
    if (before && sl_table_nkeys(t) && !sl_envelope_keys_equal(t, before, s->after)) {
        /* the key changed: like Debezium, a delete of the old key then a create of the
         * new one, so each key's history stays on its own key */
        rc = emit(s, r, 'd', before, NULL, err, errlen);
        if (rc)
            return rc;
        return emit(s, r, 'c', NULL, s->after, err, errlen);
    }
    /* REPLICA IDENTITY FULL sends the whole old row; DEFAULT only when the key changed */
    return emit(s, r, 'u', m->u.change.old_kind == 'O' ? before : NULL, s->after, err,
                errlen);
}

static sl_err_t on_truncate(pg_source_t *s, const sl_pgo_msg_t *m, char *err, size_t errlen)
{
    for (uint32_t i = 0; i < m->u.truncate.nrels; i++) {
        pg_rel_t *r = find_rel(s, m->u.truncate.relids[i]);
        if (!r || r->excluded) {
            sl_pos_t pos;
            next_event(s, &pos);
            continue;
        }
        pgsnap_on_truncate(s, r->table);
        sl_err_t rc = emit(s, r, 't', NULL, NULL, err, errlen);
        if (rc)
            return rc;
    }
    return SL_OK;
}

/* A position between transactions: every transaction whose commit record starts
 * at or before `major` is complete, and the server may be told `end_lsn`. */
static void progress(pg_source_t *s, uint64_t major, uint64_t end_lsn)
{
    sl_pos_t pos = {.major = major, .minor = end_lsn, .index = SL_POS_DONE};
    if (s->has_last && sl_pos_cmp(&pos, &s->last) <= 0)
        return;
    if (s->has_skip && sl_pos_cmp(&pos, &s->skip) <= 0)
        return;
    sl_pipe_progress(s->pipe, &pos);
    s->last = pos;
    s->has_last = 1;
}

/* The server has sent every transaction that commits before `lsn` (a keepalive's WAL end,
 * a heartbeat message's LSN). The next commit record may start exactly at `lsn`, so the
 * position is the one just below it: a transaction committing at `lsn` must still sort
 * after this point, or a restart would skip it. WAL records are 8-byte aligned, so no
 * commit record starts at lsn - 1. */
static void progress_before(pg_source_t *s, uint64_t lsn)
{
    if (lsn)
        progress(s, lsn - 1, lsn);
}

static sl_err_t on_message(pg_source_t *s, const uint8_t *p, size_t n, uint64_t lsn,
                           char *err, size_t errlen)
{
    sl_pgo_msg_t m;
    sl_err_t rc = sl_pgo_decode(&s->dec, p, n, &m, err, errlen);
    if (rc)
        return rc;
    switch (m.type) {
    case 'B':
        s->in_tx = 1;
        s->tx_counter++;
        s->commit_lsn = m.u.begin.final_lsn;
        s->commit_ts_ms = m.u.begin.commit_ts / 1000 + PG_EPOCH_OFFSET_MS;
        s->xid = m.u.begin.xid;
        s->index = 0;
        pgsnap_on_begin(s, s->xid);
        sl_buf_reset(&s->txid);
        sl_buf_printf(&s->txid, "%" PRIu32 ":%" PRIu64, s->xid, s->commit_lsn);
        return SL_OK;
    case 'C':
        if (!s->in_tx || m.u.commit.commit_lsn != s->commit_lsn)
            return sl_err_set(err, errlen, SL_ERR_PROTOCOL,
                              "Commit message without a matching Begin");
        s->in_tx = 0;
        progress(s, s->commit_lsn, m.u.commit.end_lsn);
        s->prev_commit_lsn = s->commit_lsn;
        return SL_OK;
    case 'R':
        return on_relation(s, &m, err, errlen);
    case 'I':
    case 'U':
    case 'D':
        if (!s->in_tx)
            return sl_err_set(err, errlen, SL_ERR_PROTOCOL,
                              "a row change came outside a transaction");
        s->change_lsn = lsn;
        render_extra(s);
        return on_change(s, &m, err, errlen);
    case 'T':
        if (!s->in_tx)
            return sl_err_set(err, errlen, SL_ERR_PROTOCOL,
                              "a Truncate came outside a transaction");
        s->change_lsn = lsn;
        render_extra(s);
        return on_truncate(s, &m, err, errlen);
    case 'M':
        if (s->in_tx && strcmp(m.u.message.prefix, WATERMARK_PREFIX) == 0) {
            rc = pgsnap_on_watermark(s, m.u.message.content, m.u.message.len, err, errlen);
            if (rc)
                return rc;
        }
        /* our heartbeat (non-transactional) moves the position on a quiet database */
        if (!s->in_tx && !(m.u.message.flags & 1))
            progress_before(s, m.u.message.lsn);
        return SL_OK;
    default: /* 'O' origin, 'Y' type: nothing to emit; types are resolved from the catalog */
        return SL_OK;
    }
}

/* ---- replication protocol ---- */

static uint64_t get_u64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | p[i];
    return v;
}

static void put_u64(uint8_t *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--) {
        p[i] = (uint8_t)v;
        v >>= 8;
    }
}

sl_err_t pgs_send_feedback(pg_source_t *s, int force, int reply, char *err, size_t errlen)
{
    int64_t now = sl_now_ms();
    sl_pos_t d;
    uint64_t flush = s->reported_flush;
    if (sl_pipe_durable(s->pipe, &d)) {
        uint64_t l = pos_confirm_lsn(&d);
        if (l > flush)
            flush = l;
    }
    if (!force && flush == s->reported_flush && now - s->last_feedback_ms < FEEDBACK_INTERVAL_MS)
        return SL_OK;
    uint8_t msg[34];
    msg[0] = 'r';
    put_u64(msg + 1, flush);  /* written */
    put_u64(msg + 9, flush);  /* flushed: only what the sink made durable */
    put_u64(msg + 17, flush); /* applied */
    put_u64(msg + 25, (uint64_t)((now - PG_EPOCH_OFFSET_MS) * 1000));
    msg[33] = (uint8_t)(reply != 0);
    if (PQputCopyData(s->repl, (const char *)msg, sizeof(msg)) <= 0 || PQflush(s->repl) < 0)
        return sl_err_set(err, errlen, SL_ERR_RETRY, "lost the replication connection: %s",
                          PQerrorMessage(s->repl));
    s->reported_flush = flush;
    s->last_feedback_ms = now;
    return SL_OK;
}

static void heartbeat(pg_source_t *s)
{
    int64_t hb = s->cfg->source.heartbeat_ms;
    int64_t now = sl_now_ms();
    if (hb <= 0 || s->heartbeat_off || now - s->last_heartbeat_ms < hb)
        return;
    s->last_heartbeat_ms = now;
    PGresult *r = PQexec(s->sql, "SELECT pg_logical_emit_message(false, '" HEARTBEAT_PREFIX
                                 "', '')");
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        const char *m = PQresultErrorMessage(r);
        sl_warn(s->cfg->name,
                "heartbeat disabled: %.*s (grant EXECUTE on pg_logical_emit_message, or set "
                "heartbeat: 0)",
                (int)strcspn(m, "\n"), m);
        s->heartbeat_off = 1;
    }
    PQclear(r);
}

/* Metrics: the WAL the server keeps for our slot beyond what we confirmed, published as
 * the gauge sluice_postgres_slot_lag_bytes every SLOT_LAG_INTERVAL_MS at most. Best
 * effort on the SQL connection: a failed query only leaves the gauge as it was. */
static void publish_slot_lag(pg_source_t *s)
{
    int64_t now = sl_now_ms();
    if (now - s->last_slot_lag_ms < SLOT_LAG_INTERVAL_MS)
        return;
    s->last_slot_lag_ms = now;
    const char *slot[] = {s->cfg->source.slot};
    PGresult *r = PQexecParams(s->sql,
                               "SELECT pg_wal_lsn_diff(CASE WHEN pg_is_in_recovery() THEN "
                               "pg_last_wal_receive_lsn() ELSE pg_current_wal_lsn() END, "
                               "confirmed_flush_lsn) FROM pg_replication_slots "
                               "WHERE slot_name = $1",
                               1, NULL, slot, NULL, NULL, 0);
    if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1 && !PQgetisnull(r, 0, 0))
        sl_pipe_gauge(s->pipe, "postgres_slot_lag_bytes",
                      "WAL bytes PostgreSQL retains for the slot beyond what sluice "
                      "confirmed (current WAL position minus confirmed_flush_lsn).",
                      strtod(PQgetvalue(r, 0, 0), NULL));
    PQclear(r);
}

/* Ensure the publication and slot exist (creating them when configured) and that the
 * slot can serve the bookmark. Returns the LSN to start from. */
static sl_err_t prepare(pg_source_t *s, uint64_t *start_lsn, int *created, char *err,
                        size_t errlen)
{
    *created = 0;
    const sl_source_config_t *c = &s->cfg->source;
    PGresult *r = pgs_query(s->sql, "SELECT current_setting('wal_level')", 0, NULL, err, errlen);
    if (!r)
        return SL_ERR_SOURCE;
    if (strcmp(PQgetvalue(r, 0, 0), "logical") != 0) {
        sl_err_set(err, errlen, SL_ERR_SOURCE,
                   "PostgreSQL has wal_level=%s; logical replication needs wal_level=logical "
                   "(set it in postgresql.conf and restart the server)",
                   PQgetvalue(r, 0, 0));
        PQclear(r);
        return SL_ERR_SOURCE;
    }
    PQclear(r);

    const char *pub[] = {c->publication};
    r = pgs_query(s->sql, "SELECT 1 FROM pg_publication WHERE pubname = $1", 1, pub, err,
                 errlen);
    if (!r)
        return SL_ERR_SOURCE;
    int have_pub = PQntuples(r) == 1;
    PQclear(r);
    if (!have_pub) {
        if (!c->create_publication)
            return sl_err_set(err, errlen, SL_ERR_SOURCE,
                              "publication \"%s\" does not exist; create it (CREATE "
                              "PUBLICATION %s FOR ALL TABLES) or set create_publication: "
                              "true",
                              c->publication, c->publication);
        sl_buf_t sql = SL_BUF_INIT;
        sl_buf_puts(&sql, "CREATE PUBLICATION ");
        pgs_quote_ident(s->sql, c->publication, &sql);
        int all = !c->include.n;
        for (size_t i = 0; i < c->include.n; i++)
            all |= strcmp(c->include.v[i], "*") == 0;
        if (!all) {
            sl_buf_puts(&sql, " FOR TABLE ");
            for (size_t i = 0; i < c->include.n; i++) {
                const char *dot = strchr(c->include.v[i], '.');
                if (i)
                    sl_buf_puts(&sql, ", ");
                if (dot) {
                    char *schema = strndup(c->include.v[i], (size_t)(dot - c->include.v[i]));
                    pgs_quote_ident(s->sql, schema, &sql);
                    free(schema);
                    sl_buf_putc(&sql, '.');
                    pgs_quote_ident(s->sql, dot + 1, &sql);
                } else {
                    pgs_quote_ident(s->sql, c->include.v[i], &sql);
                }
            }
        } else {
            sl_buf_puts(&sql, " FOR ALL TABLES");
        }
        r = pgs_query(s->sql, sql.data, 0, NULL, err, errlen);
        sl_buf_free(&sql);
        if (!r)
            return SL_ERR_SOURCE;
        PQclear(r);
        sl_info(s->cfg->name, "created publication %s", c->publication);
    }

    const char *slot[] = {c->slot};
    static const char slot_sql[] = "SELECT plugin, active, active_pid, wal_status, "
                                   "confirmed_flush_lsn, database FROM pg_replication_slots "
                                   "WHERE slot_name = $1";
    /* a reader that was just killed leaves its walsender behind for a moment: give it
     * SLOT_BUSY_WAIT_MS to go before calling the slot busy */
    int64_t busy_until = sl_now_ms() + SLOT_BUSY_WAIT_MS;
    for (;;) {
        r = pgs_query(s->sql, slot_sql, 1, slot, err, errlen);
        if (!r)
            return SL_ERR_SOURCE;
        if (PQntuples(r) == 0 || PQgetvalue(r, 0, 1)[0] != 't' || sl_now_ms() > busy_until)
            break;
        PQclear(r);
        if (sl_pipe_sleep(s->pipe, 250))
            return sl_err_set(err, errlen, SL_ERR_STOPPED, "stopped");
    }
    const sl_pos_t *resume = sl_pipe_resume(s->pipe);
    int renew = c->snapshot == SL_SNAP_WHEN_NEEDED && resume;
    if (PQntuples(r) == 1 && renew && strcmp(PQgetvalue(r, 0, 3), "lost") == 0) {
        /* snapshot: when_needed: a lost slot is replaced and the tables copied again */
        sl_warn(s->cfg->name, "replication slot \"%s\" is lost; snapshot: when_needed drops "
                              "it and takes a new snapshot",
                c->slot);
        PQclear(r);
        r = pgs_query(s->sql, "SELECT pg_drop_replication_slot($1)", 1, slot, err, errlen);
        if (!r)
            return SL_ERR_SOURCE;
        PQclear(r);
        if (!(r = pgs_query(s->sql, slot_sql, 1, slot, err, errlen)))
            return SL_ERR_SOURCE;
    }
    if (PQntuples(r) == 0) {
        PQclear(r);
        if (renew) {
            char l[24];
            sl_pg_lsn_format(pos_confirm_lsn(resume), l, sizeof(l));
            sl_warn(s->cfg->name,
                    "replication slot \"%s\" is gone but the bookmark is at %s; snapshot: "
                    "when_needed creates it again and takes a new snapshot",
                    c->slot, l);
        } else if (resume) {
            char l[24];
            sl_pg_lsn_format(pos_confirm_lsn(resume), l, sizeof(l));
            return sl_err_set(err, errlen, SL_ERR_SOURCE,
                              "replication slot \"%s\" is gone but the bookmark is at %s: the "
                              "changes since then cannot be read; take a new snapshot "
                              "('sluice offsets reset', then run)",
                              c->slot, l);
        }
        if (!c->create_slot)
            return sl_err_set(err, errlen, SL_ERR_SOURCE,
                              "replication slot \"%s\" does not exist; create it "
                              "(SELECT pg_create_logical_replication_slot('%s', 'pgoutput')) "
                              "or set create_slot: true",
                              c->slot, c->slot);
        sl_buf_t sql = SL_BUF_INIT;
        sl_buf_puts(&sql, "CREATE_REPLICATION_SLOT ");
        pgs_quote_ident(s->repl, c->slot, &sql);
        /* a snapshot to copy the tables in, exactly as of the slot's start */
        int export = c->snapshot != SL_SNAP_NEVER && !s->has_last &&
                     (!resume || renew || c->snapshot == SL_SNAP_ONLY);
        sl_buf_puts(&sql, export ? " LOGICAL pgoutput EXPORT_SNAPSHOT"
                                 : " LOGICAL pgoutput NOEXPORT_SNAPSHOT");
        /* replication connections speak only the simple query protocol */
        r = PQexec(s->repl, sql.data);
        sl_buf_free(&sql);
        if (PQresultStatus(r) != PGRES_TUPLES_OK) {
            const char *m = PQresultErrorMessage(r);
            sl_err_set(err, errlen, SL_ERR_SOURCE, "cannot create replication slot \"%s\": %.*s",
                       c->slot, (int)strcspn(m, "\n"), m);
            PQclear(r);
            return SL_ERR_SOURCE;
        }
        s->export_name[0] = 0;
        s->consistent = 0;
        if (PQntuples(r) == 1 && PQnfields(r) >= 3) {
            sl_pg_lsn_parse(PQgetvalue(r, 0, 1), &s->consistent);
            if (export && !PQgetisnull(r, 0, 2))
                snprintf(s->export_name, sizeof(s->export_name), "%s", PQgetvalue(r, 0, 2));
        }
        PQclear(r);
        char at[24];
        sl_pg_lsn_format(s->consistent, at, sizeof(at));
        sl_info(s->cfg->name, "created replication slot %s at %s", c->slot, at);
        *start_lsn = s->consistent;
        *created = 1;
        return SL_OK;
    }
    const char *plugin = PQgetvalue(r, 0, 0);
    int active = PQgetvalue(r, 0, 1)[0] == 't';
    const char *wal_status = PQgetvalue(r, 0, 3);
    uint64_t confirmed = 0;
    sl_pg_lsn_parse(PQgetvalue(r, 0, 4), &confirmed);
    sl_err_t rc = SL_OK;
    if (strcmp(plugin, "pgoutput") != 0) {
        rc = sl_err_set(err, errlen, SL_ERR_SOURCE,
                        "replication slot \"%s\" uses plugin %s; sluice needs a pgoutput "
                        "slot (drop it or choose another slot name)",
                        c->slot, plugin);
    } else if (strcmp(PQgetvalue(r, 0, 5), c->database) != 0) {
        rc = sl_err_set(err, errlen, SL_ERR_SOURCE,
                        "replication slot \"%s\" belongs to database %s, not %s", c->slot,
                        PQgetvalue(r, 0, 5), c->database);
    } else if (strcmp(wal_status, "lost") == 0) {
        rc = sl_err_set(err, errlen, SL_ERR_SOURCE,
                        "replication slot \"%s\" is lost (its WAL was removed, see "
                        "max_slot_wal_keep_size): the changes since the bookmark cannot be "
                        "read; drop the slot and take a new snapshot",
                        c->slot);
    } else if (active) {
        /* at start-up a busy slot is a configuration problem (two workers, one slot);
         * after a dropped connection it is most likely our own old session */
        rc = sl_err_set(err, errlen, s->has_last ? SL_ERR_RETRY : SL_ERR_SOURCE,
                        "replication slot \"%s\" is in use by another process (pid %s); "
                        "stop the other reader or configure another slot",
                        c->slot, PQgetvalue(r, 0, 2));
    } else if (resume && confirmed > pos_confirm_lsn(resume) && renew) {
        char a[24], b[24];
        sl_pg_lsn_format(confirmed, a, sizeof(a));
        sl_pg_lsn_format(pos_confirm_lsn(resume), b, sizeof(b));
        sl_warn(s->cfg->name,
                "replication slot \"%s\" has confirmed %s, past the bookmark %s; snapshot: "
                "when_needed copies the tables again, incrementally from the slot's position",
                c->slot, a, b);
        s->resnapshot = 1;
    } else if (resume && confirmed > pos_confirm_lsn(resume)) {
        char a[24], b[24];
        sl_pg_lsn_format(confirmed, a, sizeof(a));
        sl_pg_lsn_format(pos_confirm_lsn(resume), b, sizeof(b));
        rc = sl_err_set(err, errlen, SL_ERR_SOURCE,
                        "replication slot \"%s\" has confirmed %s, past the bookmark %s: "
                        "something else consumed it or it was recreated, and the changes in "
                        "between are gone; take a new snapshot ('sluice offsets reset')",
                        c->slot, a, b);
    }
    PQclear(r);
    *start_lsn = resume && !s->resnapshot ? pos_confirm_lsn(resume) : 0;
    return rc;
}

static sl_err_t start_replication(pg_source_t *s, uint64_t start_lsn, char *err,
                                  size_t errlen)
{
    const sl_source_config_t *c = &s->cfg->source;
    char lsn[24];
    sl_pg_lsn_format(start_lsn, lsn, sizeof(lsn));
    sl_buf_t sql = SL_BUF_INIT, pubname = SL_BUF_INIT;
    pgs_quote_ident(s->repl, c->publication, &pubname);
    char *publit = PQescapeLiteral(s->repl, pubname.data, pubname.len);
    sl_buf_puts(&sql, "START_REPLICATION SLOT ");
    pgs_quote_ident(s->repl, c->slot, &sql);
    sl_buf_printf(&sql,
                  " LOGICAL %s (proto_version '1', publication_names %s, messages 'true')",
                  lsn, publit ? publit : "''");
    PQfreemem(publit);
    PGresult *r = PQexec(s->repl, sql.data);
    sl_buf_free(&sql);
    sl_buf_free(&pubname);
    if (PQresultStatus(r) != PGRES_COPY_BOTH) {
        const char *m = PQresultErrorMessage(r);
        int busy = strstr(m, "is active") != NULL;
        sl_err_set(err, errlen, busy ? SL_ERR_RETRY : SL_ERR_SOURCE,
                   "START_REPLICATION on slot \"%s\" failed: %.*s%s", c->slot,
                   (int)strcspn(m, "\n"), m,
                   busy ? " (another process reads this slot)" : "");
        PQclear(r);
        return busy ? SL_ERR_RETRY : SL_ERR_SOURCE;
    }
    PQclear(r);
    sl_info(s->cfg->name, "streaming from slot %s at %s", c->slot, lsn);
    return SL_OK;
}

static sl_err_t stream(pg_source_t *s, char *err, size_t errlen)
{
    for (;;) {
        if (sl_pipe_stopping(s->pipe))
            return SL_ERR_STOPPED;
        publish_slot_lag(s);
        if (sl_pipe_paused(s->pipe)) {
            /* paused by the operator: read nothing more, but keep sending standby status
             * so wal_sender_timeout does not end the session, and let the sink commit */
            sl_err_t rc = sl_pipe_flush(s->pipe);
            if (!rc)
                rc = pgs_send_feedback(s, 0, 0, err, errlen);
            if (rc)
                return rc;
            sl_pipe_sleep(s->pipe, 200);
            continue;
        }
        if (!s->in_tx) {
            sl_err_t rc = pgsnap_tick(s, err, errlen);
            if (rc)
                return rc;
            if (pgsnap_finished(s))
                return SL_OK;
        }
        char *buf = NULL;
        int n = PQgetCopyData(s->repl, &buf, 1);
        if (n == 0) {
            /* nothing buffered: hand over what we have, report, then wait */
            sl_err_t rc = sl_pipe_flush(s->pipe);
            if (rc)
                return rc;
            rc = pgs_send_feedback(s, 0, 0, err, errlen);
            if (rc)
                return rc;
            heartbeat(s);
            int fd = PQsocket(s->repl);
            fd_set rfds;
            FD_ZERO(&rfds);
            FD_SET(fd, &rfds);
            struct timeval tv = {0, 200000};
            if (select(fd + 1, &rfds, NULL, NULL, &tv) < 0 && errno != EINTR)
                return sl_err_set(err, errlen, SL_ERR_RETRY, "select failed: %s",
                                  strerror(errno));
            if (PQconsumeInput(s->repl) == 0)
                return sl_err_set(err, errlen, SL_ERR_RETRY,
                                  "lost the replication connection: %.*s",
                                  (int)strcspn(PQerrorMessage(s->repl), "\n"),
                                  PQerrorMessage(s->repl));
            continue;
        }
        if (n == -1) {
            PGresult *r = PQgetResult(s->repl);
            const char *m = r ? PQresultErrorMessage(r) : "";
            sl_err_set(err, errlen, SL_ERR_RETRY, "the server ended replication: %.*s",
                       (int)strcspn(m, "\n"), m);
            PQclear(r);
            return SL_ERR_RETRY;
        }
        if (n < 0)
            return sl_err_set(err, errlen, SL_ERR_RETRY,
                              "lost the replication connection: %.*s",
                              (int)strcspn(PQerrorMessage(s->repl), "\n"),
                              PQerrorMessage(s->repl));
        const uint8_t *p = (const uint8_t *)buf;
        sl_err_t rc = SL_OK;
        if (p[0] == 'w' && n >= 25) {
            rc = on_message(s, p + 25, (size_t)n - 25, get_u64(p + 1), err, errlen);
        } else if (p[0] == 'k' && n >= 18) {
            uint64_t wal_end = get_u64(p + 1);
            /* the server has sent everything before wal_end: when we are between
             * transactions, the position may move there (pg_recvlogical does the same) */
            if (!s->in_tx)
                progress_before(s, wal_end);
            if (p[17]) {
                rc = sl_pipe_flush(s->pipe);
                if (!rc)
                    rc = pgs_send_feedback(s, 1, 0, err, errlen);
            }
        } else {
            rc = sl_err_set(err, errlen, SL_ERR_PROTOCOL,
                            "unexpected replication message '%c' of %d bytes", p[0], n);
        }
        PQfreemem(buf);
        if (rc)
            return rc;
    }
}

static sl_err_t pg_run(void *ctx, char *err, size_t errlen)
{
    pg_source_t *s = ctx;
    sl_err_t rc;
    uint64_t start = 0;
    s->sql = pgs_connect(s, 0, err, errlen, &rc);
    if (!s->sql)
        return rc;
    s->repl = pgs_connect(s, 1, err, errlen, &rc);
    if (!s->repl)
        goto out;
    int created = 0;
    rc = prepare(s, &start, &created, err, errlen);
    if (!rc)
        rc = pgsnap_prepare(s, created, err, errlen);
    if (rc)
        goto out;
    /* restart after a dropped connection from the durable position, skipping what
     * is already in the pipeline */
    if (s->has_last) {
        s->skip = s->last;
        s->has_skip = 1;
        sl_pos_t d;
        if (sl_pipe_durable(s->pipe, &d))
            start = pos_confirm_lsn(&d);
    }
    /* the tables, in the slot's exported snapshot, before the first change */
    rc = pgsnap_run_initial(s, err, errlen);
    if (rc == SL_ERR_STOPPED)
        sl_pipe_drain(s->pipe);
    if (rc)
        goto out;
    if (pgsnap_finished(s)) {
        /* snapshot: only */
        rc = sl_pipe_drain(s->pipe);
        if (!rc)
            sl_info(s->cfg->name, "snapshot: only: done; slot %s keeps the WAL from here "
                                  "until a run streams from it (drop it if none will)",
                    s->cfg->source.slot);
        goto out;
    }
    s->in_tx = 0;
    s->nrels = 0; /* the server sends Relation messages again in a new session */
    rc = start_replication(s, start, err, errlen);
    if (rc)
        goto out;
    rc = stream(s, err, errlen);
    if (rc == SL_ERR_STOPPED) {
        sl_pipe_drain(s->pipe);
        char ferr[256];
        pgs_send_feedback(s, 1, 0, ferr, sizeof(ferr));
        PQputCopyEnd(s->repl, NULL);
        PQflush(s->repl);
    }
out:
    pg_disconnect(s);
    return rc;
}

static sl_err_t pg_create(const sl_connector_config_t *cfg, sl_source_env_t *env, void **ctx,
                          char *err, size_t errlen)
{
    pg_source_t *s = calloc(1, sizeof(*s));
    if (!s)
        return sl_err_set(err, errlen, SL_ERR_NOMEM, "out of memory");
    s->cfg = cfg;
    s->pipe = env;
    sl_pgo_decoder_init(&s->dec);
    const sl_pos_t *resume = sl_pipe_resume(env);
    if (resume) {
        s->skip = *resume;
        s->has_skip = 1;
    }
    *ctx = s;
    return SL_OK;
}

static void pg_destroy(void *ctx)
{
    pg_source_t *s = ctx;
    if (!s)
        return;
    pg_disconnect(s);
    pgsnap_free(s);
    sl_pgo_decoder_free(&s->dec);
    sl_arena_free(&s->arena);
    sl_buf_free(&s->tmp);
    sl_buf_free(&s->extra);
    sl_buf_free(&s->txid);
    free(s->rels);
    free(s->types);
    free(s->before);
    free(s->after);
    free(s);
}

/* ---- preflight ---- */

static void report(sl_buf_t *out, int ok, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void report(sl_buf_t *out, int ok, const char *fmt, ...)
{
    va_list ap;
    char line[1024];
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    sl_buf_printf(out, "%s %s\n", ok ? "ok:  " : "FAIL:", line);
}

static sl_err_t pg_check(void *ctx, sl_buf_t *out, char *err, size_t errlen)
{
    pg_source_t *s = ctx;
    const sl_source_config_t *c = &s->cfg->source;
    sl_err_t rc;
    int failed = 0;
    s->sql = pgs_connect(s, 0, err, errlen, &rc);
    if (!s->sql)
        return rc ? rc : SL_ERR_SOURCE;
    report(out, 1, "connected to PostgreSQL %s at %s:%d as %s", PQparameterStatus(s->sql,
           "server_version"), c->host, c->port, c->user);

    PGresult *r = PQexec(s->sql, "SELECT current_setting('wal_level'), "
                                 "current_setting('max_replication_slots')::int, "
                                 "current_setting('max_wal_senders')::int, "
                                 "(SELECT rolreplication OR rolsuper FROM pg_roles WHERE "
                                 "rolname = current_user)");
    if (PQresultStatus(r) == PGRES_TUPLES_OK) {
        int logical = strcmp(PQgetvalue(r, 0, 0), "logical") == 0;
        failed |= !logical;
        report(out, logical, "wal_level=%s%s", PQgetvalue(r, 0, 0),
               logical ? "" : " (set wal_level=logical in postgresql.conf and restart)");
        int slots = atoi(PQgetvalue(r, 0, 1)), senders = atoi(PQgetvalue(r, 0, 2));
        failed |= slots < 1 || senders < 1;
        report(out, slots >= 1 && senders >= 1, "max_replication_slots=%d max_wal_senders=%d",
               slots, senders);
        int repl = PQgetvalue(r, 0, 3)[0] == 't';
        failed |= !repl;
        report(out, repl, "role %s %s the REPLICATION attribute%s", c->user,
               repl ? "has" : "lacks", repl ? "" : " (ALTER ROLE ... REPLICATION)");
    }
    PQclear(r);

    const char *pub[] = {c->publication};
    r = PQexecParams(s->sql, "SELECT puballtables FROM pg_publication WHERE pubname = $1", 1,
                     NULL, pub, NULL, NULL, 0);
    int have_pub = PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1;
    PQclear(r);
    if (have_pub)
        report(out, 1, "publication %s exists", c->publication);
    else {
        failed |= !c->create_publication;
        report(out, c->create_publication, "publication %s %s", c->publication,
               c->create_publication ? "will be created on first run"
                                     : "does not exist (CREATE PUBLICATION or set "
                                       "create_publication: true)");
    }

    const char *slot[] = {c->slot};
    r = PQexecParams(s->sql,
                     "SELECT plugin, active, active_pid, wal_status, confirmed_flush_lsn "
                     "FROM pg_replication_slots WHERE slot_name = $1",
                     1, NULL, slot, NULL, NULL, 0);
    const sl_pos_t *resume = sl_pipe_resume(s->pipe);
    if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1) {
        int active = PQgetvalue(r, 0, 1)[0] == 't';
        int lost = strcmp(PQgetvalue(r, 0, 3), "lost") == 0;
        uint64_t confirmed = 0;
        sl_pg_lsn_parse(PQgetvalue(r, 0, 4), &confirmed);
        failed |= active || lost;
        report(out, !active && !lost, "slot %s (%s) %s", c->slot, PQgetvalue(r, 0, 0),
               lost ? "is lost: its WAL was removed" : active ? "is in use by another process"
                                                            : "is present");
        if (resume) {
            int ok = confirmed <= pos_confirm_lsn(resume);
            char a[24], b[24];
            sl_pg_lsn_format(confirmed, a, sizeof(a));
            sl_pg_lsn_format(pos_confirm_lsn(resume), b, sizeof(b));
            failed |= !ok;
            report(out, ok, "bookmark %s %s by the slot (confirmed %s)", b,
                   ok ? "can be served" : "cannot be served", a);
        }
    } else {
        int ok = c->create_slot && !resume;
        failed |= !ok;
        report(out, ok, "slot %s %s", c->slot,
               resume ? "is missing although a bookmark exists: changes since it are gone"
               : c->create_slot ? "will be created on first run"
                                : "does not exist (create it or set create_slot: true)");
    }
    PQclear(r);

    /* snapshots: what they need and what is left */
    const char *snapdoc = sl_pipe_resume_snapshot(s->pipe);
    if (c->snapshot != SL_SNAP_NEVER && (!resume || snapdoc)) {
        r = PQexec(s->sql, "SELECT has_function_privilege(current_user, "
                           "'pg_logical_emit_message(boolean, text, text)', 'EXECUTE')");
        int can = PQresultStatus(r) == PGRES_TUPLES_OK && PQgetvalue(r, 0, 0)[0] == 't';
        PQclear(r);
        failed |= !can;
        report(out, can, "snapshot: %s%s",
               snapdoc ? "one is in progress; it continues incrementally after its last "
                         "durable chunk"
                       : "the tables are copied in the new slot's exported snapshot",
               can ? "" : "; chunks read while streaming need pg_logical_emit_message "
                          "(GRANT EXECUTE ON FUNCTION pg_logical_emit_message(boolean, text, "
                          "text) TO the role)");
    }

    /* tables that cannot describe their updates and deletes */
    r = PQexecParams(s->sql,
                     "SELECT n.nspname || '.' || c.relname, c.relreplident, "
                     "EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = c.oid AND "
                     "i.indisprimary) FROM pg_publication_tables p JOIN pg_namespace n ON "
                     "n.nspname = p.schemaname JOIN pg_class c ON c.relnamespace = n.oid AND "
                     "c.relname = p.tablename WHERE p.pubname = $1 ORDER BY 1",
                     1, NULL, pub, NULL, NULL, 0);
    if (PQresultStatus(r) == PGRES_TUPLES_OK) {
        for (int i = 0; i < PQntuples(r); i++) {
            char ident = PQgetvalue(r, i, 1)[0];
            int pk = PQgetvalue(r, i, 2)[0] == 't';
            if (!sl_config_table_wanted(c, PQgetvalue(r, i, 0)))
                continue;
            int ok = ident == 'f' || ident == 'i' || (ident == 'd' && pk);
            failed |= !ok;
            if (ok && !pk)
                report(out, 1, "table %s has no primary key: its rows carry a null key, "
                               "and after a crash during its snapshot some may repeat",
                       PQgetvalue(r, i, 0));
            report(out, ok, "table %s: REPLICA IDENTITY %s%s", PQgetvalue(r, i, 0),
                   ident == 'f' ? "FULL" : ident == 'i' ? "USING INDEX" :
                   ident == 'n' ? "NOTHING" : "DEFAULT",
                   ok ? "" : " without a primary key: updates and deletes fail or carry no "
                             "key (add a primary key or ALTER TABLE ... REPLICA IDENTITY FULL)");
        }
    }
    PQclear(r);
    pg_disconnect(s);
    if (failed)
        return sl_err_set(err, errlen, SL_ERR_SOURCE, "some checks failed");
    return SL_OK;
}

const sl_source_ops_t sl_source_postgres = {
    .name = "postgres",
    .connector = "postgresql",
    .create = pg_create,
    .check = pg_check,
    .run = pg_run,
    .destroy = pg_destroy,
    .bookmark_render = pg_bookmark_render,
    .bookmark_parse = pg_bookmark_parse,
};
