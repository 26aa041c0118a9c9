/* sluice: MySQL/MariaDB source: preflight, COM_BINLOG_DUMP via Connector/C's mariadb_rpl,
 * raw events decoded by our binlog decoder into change events and resumable bookmarks. */
#include <ctype.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <sys/socket.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <jansson.h>
#include <mysql.h>
#include <errmsg.h>
#include <mariadb_rpl.h>
#include "config/config.h"
#include "core/arena.h"
#include "core/log.h"
#include "core/hash.h"
#include "core/pipeline.h"
#include "connectors/mysql/binlog.h"
#include "connectors/mysql/mytypes.h"
#include "connectors/mysql/mysql.h"
#include "connectors/mysql/mysource.h"

#define ER_MASTER_FATAL_READING_BINLOG 1236

/* What the last bookmark_parse saw, for rendering without a running source
 * (`sluice offsets set`) and for a source that has not read a ROTATE yet. */
static pthread_mutex_t parsed_mu = PTHREAD_MUTEX_INITIALIZER;
static char parsed_base[BASE_LEN];
static char parsed_gtid[GTID_TEXT];
static sl_pos_t parsed_pos;
static int parsed_has_gtid;

/* ---- positions and bookmarks ---- */

uint64_t mys_pos_major(uint32_t seq, uint64_t off)
{
    return (uint64_t)seq << OFFSET_BITS | (off & OFFSET_MASK);
}

/* The offset a session resumes from for a stored position: after the commit for a
 * finished transaction, the transaction's start for a partly delivered one. */
static uint64_t pos_resume_offset(const sl_pos_t *p)
{
    return p->index == SL_POS_DONE ? p->minor : p->major & OFFSET_MASK;
}

/* Split "mysql-bin.000042" into base and sequence; -1 when it is not such a name. */
static int split_file(const char *name, size_t len, char *base, size_t baselen,
                      uint32_t *seq)
{
    const char *dot = NULL;
    for (size_t i = 0; i < len; i++)
        if (name[i] == '.')
            dot = name + i;
    if (!dot || dot == name || (size_t)(dot - name) >= baselen)
        return -1;
    size_t nd = len - (size_t)(dot - name) - 1;
    if (nd == 0 || nd > 7)
        return -1;
    uint32_t v = 0;
    for (size_t i = 0; i < nd; i++) {
        if (!isdigit((unsigned char)dot[1 + i]))
            return -1;
        v = v * 10 + (uint32_t)(dot[1 + i] - '0');
    }
    memcpy(base, name, (size_t)(dot - name));
    base[dot - name] = 0;
    *seq = v;
    return 0;
}

static void format_file(char *out, size_t n, const char *base, uint32_t seq)
{
    snprintf(out, n, "%s.%06" PRIu32, base, seq);
}

/* The GTID state recorded for pos (caller holds s->mu): the entry of the newest finished
 * position at or before it; for a partly delivered transaction, strictly before it. */
static int ring_lookup(my_source_t *s, const sl_pos_t *pos, char *out)
{
    for (size_t k = 0; k < s->ring_n; k++) {
        size_t i = (s->ring_next + RING_SIZE - 1 - k) % RING_SIZE;
        const my_gtid_ent_t *e = &s->ring[i];
        if (e->major < pos->major ||
            (e->major == pos->major && pos->index == SL_POS_DONE)) {
            /* an older entry than the oldest position the ring still covers is not
             * proof of the state: only trust it when a newer entry exists */
            if (!e->known || (k == s->ring_n - 1 && s->ring_n == RING_SIZE))
                return 0;
            strcpy(out, e->text);
            return 1;
        }
    }
    return 0;
}

/* The GTID state recorded for a position: from the ring, or from the parsed bookmark. */
static int gtid_for(my_source_t *s, const sl_pos_t *pos, char *out)
{
    int have;
    pthread_mutex_lock(&s->mu);
    have = ring_lookup(s, pos, out);
    pthread_mutex_unlock(&s->mu);
    if (have)
        return 1;
    pthread_mutex_lock(&parsed_mu);
    have = parsed_has_gtid && parsed_pos.major == pos->major &&
           parsed_pos.index == pos->index;
    if (have)
        strcpy(out, parsed_gtid);
    pthread_mutex_unlock(&parsed_mu);
    return have;
}

static void my_bookmark_render(void *ctx, const sl_pos_t *pos, sl_buf_t *out)
{
    my_source_t *s = ctx;
    if (pos->flags & SL_POS_F_SNAPSHOT) {
        /* a snapshot row: the stream resumes at the event after its place (the snapshot
         * progress stored beside says which rows are durable) */
        sl_pos_t at = {.major = mys_pos_major((uint32_t)(pos->major >> OFFSET_BITS),
                                              pos->minor - 2),
                       .minor = pos->minor,
                       .index = SL_POS_DONE};
        my_bookmark_render(ctx, &at, out);
        return;
    }
    char base[BASE_LEN] = "", gtid[GTID_TEXT] = "", file[BASE_LEN + 16];
    int have_gtid = 0;
    if (s) {
        pthread_mutex_lock(&s->mu);
        strcpy(base, s->base);
        have_gtid = ring_lookup(s, pos, gtid);
        pthread_mutex_unlock(&s->mu);
    }
    pthread_mutex_lock(&parsed_mu);
    if (!base[0])
        strcpy(base, parsed_base);
    if (!have_gtid && parsed_has_gtid && parsed_pos.major == pos->major &&
        parsed_pos.index == pos->index) {
        strcpy(gtid, parsed_gtid);
        have_gtid = 1;
    }
    pthread_mutex_unlock(&parsed_mu);
    format_file(file, sizeof(file), base, (uint32_t)(pos->major >> OFFSET_BITS));
    sl_buf_puts(out, "\"file\":");
    sl_buf_put_json_str(out, file, strlen(file));
    sl_buf_printf(out, ",\"pos\":%" PRIu64 ",\"tx_pos\":%" PRIu64 ",\"row\":",
                  pos_resume_offset(pos), pos->major & OFFSET_MASK);
    if (pos->index == SL_POS_DONE)
        sl_buf_puts(out, "\"done\"");
    else
        sl_buf_put_u64(out, pos->index);
    if (have_gtid) {
        sl_buf_puts(out, ",\"gtid_set\":");
        sl_buf_put_json_str(out, gtid, strlen(gtid));
    }
}

/* A bookmark's gtid_set: a MariaDB state ("0-1-100,1-2-5", "" for none) or a MySQL set. */
static int gtid_text_valid(const char *t)
{
    if (strchr(t, ':')) {
        sl_gtid_set_t set = SL_GTID_SET_INIT;
        char ignored[200];
        int ok = sl_gtid_set_parse(&set, t, ignored, sizeof(ignored)) == SL_OK;
        sl_gtid_set_free(&set);
        return ok;
    }
    while (*t) {
        unsigned long d, sv;
        unsigned long long q;
        int used = 0;
        if (sscanf(t, "%lu-%lu-%llu%n", &d, &sv, &q, &used) != 3 || t[0] == '-')
            return 0;
        t += used;
        if (*t == ',' && t[1])
            t++;
        else if (*t)
            return 0;
    }
    return 1;
}

static sl_err_t my_bookmark_parse(const char *json, size_t len, sl_pos_t *pos, char *err,
                                  size_t errlen)
{
    json_error_t jerr;
    json_t *root = json_loadb(json, len, 0, &jerr);
    sl_err_t rc = SL_OK;
    const char *file = json_string_value(json_object_get(root, "file"));
    json_t *jpos = json_object_get(root, "pos");
    json_t *jtx = json_object_get(root, "tx_pos");
    json_t *row = json_object_get(root, "row");
    json_t *jgtid = json_object_get(root, "gtid_set");
    const char *gtid = json_string_value(jgtid);
    char base[BASE_LEN];
    uint32_t seq = 0;
    memset(pos, 0, sizeof(*pos));
    if (!root || !file || split_file(file, strlen(file), base, sizeof(base), &seq) ||
        !json_is_integer(jpos) || json_integer_value(jpos) < 4 ||
        (uint64_t)json_integer_value(jpos) > OFFSET_MASK ||
        (jtx && !json_is_integer(jtx))) {
        rc = sl_err_set(err, errlen, SL_ERR_CORRUPT,
                        "the bookmark is not a MySQL position (it needs \"file\" like "
                        "\"binlog.000003\" and \"pos\" as a number of at least 4)");
        goto out;
    }
    uint64_t p = (uint64_t)json_integer_value(jpos);
    /* "tx_pos" and "row" may be left out when a position is typed in by hand: then it
     * names a transaction boundary */
    uint64_t tx = jtx ? (uint64_t)json_integer_value(jtx) : p - 1;
    if (!row || (json_is_string(row) && strcmp(json_string_value(row), "done") == 0)) {
        pos->index = SL_POS_DONE;
        pos->minor = p;
        if (tx >= p) {
            rc = sl_err_set(
                err, errlen, SL_ERR_CORRUPT,
                "the bookmark is inconsistent: \"tx_pos\" must be below \"pos\" "
                "for a finished transaction");
            goto out;
        }
    } else if (json_is_integer(row) && json_integer_value(row) >= 0 &&
               json_integer_value(row) < SL_POS_DONE) {
        pos->index = (uint32_t)json_integer_value(row);
        if (!jtx || tx != p) {
            rc =
                sl_err_set(err, errlen, SL_ERR_CORRUPT,
                           "the bookmark is inconsistent: a partly delivered transaction "
                           "must have \"pos\" equal to \"tx_pos\"");
            goto out;
        }
    } else {
        rc = sl_err_set(err, errlen, SL_ERR_CORRUPT,
                        "the bookmark's \"row\" must be \"done\" or a row number");
        goto out;
    }
    if (gtid && strlen(gtid) >= GTID_TEXT) {
        rc = sl_err_set(err, errlen, SL_ERR_CORRUPT,
                        "the bookmark's \"gtid_set\" is %zu characters, more than the %d "
                        "sluice keeps (it never writes one that long)",
                        strlen(gtid), GTID_TEXT - 1);
        goto out;
    }
    if ((jgtid && !gtid) || (gtid && !gtid_text_valid(gtid))) {
        rc = sl_err_set(err, errlen, SL_ERR_CORRUPT,
                        "the bookmark's \"gtid_set\" is neither a MariaDB GTID state "
                        "(\"0-1-100,1-2-5\") nor a MySQL GTID set (\"uuid:1-100\")");
        goto out;
    }
    /* a finished position sorts at most at pos - 2: a snapshot chunk placed at pos takes
     * pos - 1 (hand-typed and older bookmarks say pos - 1) */
    if (pos->index == SL_POS_DONE && tx > p - 2)
        tx = p - 2;
    pos->major = mys_pos_major(seq, tx);
    pthread_mutex_lock(&parsed_mu);
    strcpy(parsed_base, base);
    parsed_pos = *pos;
    parsed_has_gtid = gtid && strlen(gtid) < GTID_TEXT;
    if (parsed_has_gtid)
        strcpy(parsed_gtid, gtid);
    pthread_mutex_unlock(&parsed_mu);
out:
    json_decref(root);
    return rc;
}

/* ---- GTID state (MariaDB) ---- */

static void gtid_state_format(const my_source_t *s, char *out, size_t n)
{
    size_t used = 0;
    out[0] = 0;
    for (size_t i = 0; i < s->ndoms && used < n; i++) {
        int w =
            snprintf(out + used, n - used, "%s%" PRIu32 "-%" PRIu32 "-%" PRIu64,
                     i ? "," : "", s->doms[i].domain, s->doms[i].server, s->doms[i].seq);
        if (w < 0 || (size_t)w >= n - used) {
            out[0] = 0; /* too long to keep: the bookmark goes without it */
            return;
        }
        used += (size_t)w;
    }
}

static void gtid_state_set(my_source_t *s, uint32_t domain, uint32_t server, uint64_t seq)
{
    size_t i = 0;
    while (i < s->ndoms && s->doms[i].domain < domain)
        i++;
    if (i < s->ndoms && s->doms[i].domain == domain) {
        s->doms[i].server = server;
        s->doms[i].seq = seq;
        return;
    }
    if (s->ndoms == MAX_DOMAINS) {
        s->gtid_known = 0; /* more domains than we track: stop claiming a state */
        return;
    }
    memmove(&s->doms[i + 1], &s->doms[i], (s->ndoms - i) * sizeof(s->doms[0]));
    s->doms[i] = (my_domain_t){domain, server, seq};
    s->ndoms++;
}

/* Parse "0-1-100,1-2-5" (BINLOG_GTID_POS) into the state; -1 when malformed or wider
 * than MAX_DOMAINS. */
static int gtid_state_parse(my_source_t *s, const char *text)
{
    s->ndoms = 0;
    s->gtid_known = 1; /* gtid_state_set clears it when the domains overflow */
    const char *p = text;
    while (*p) {
        unsigned long d, sv;
        unsigned long long q;
        int used = 0;
        if (sscanf(p, "%lu-%lu-%llu%n", &d, &sv, &q, &used) != 3)
            return -1;
        gtid_state_set(s, (uint32_t)d, (uint32_t)sv, q);
        p += used;
        if (*p == ',')
            p++;
        else if (*p)
            return -1;
    }
    return s->gtid_known ? 0 : -1;
}

/* Sequence number of domain in a GTID state text; 0 when the domain is not in it. */
static unsigned long long gtid_seq_of(const char *state, unsigned long domain)
{
    const char *p = state;
    while (*p) {
        unsigned long d, sv;
        unsigned long long q;
        int used = 0;
        if (sscanf(p, "%lu-%lu-%llu%n", &d, &sv, &q, &used) != 3)
            return 0;
        if (d == domain)
            return q;
        p += used;
        if (*p == ',')
            p++;
    }
    return 0;
}

/* 1 when state `start` is past `bookmark` in some domain: transactions in between are not
 * on the server any more. */
static int gtid_state_ahead(const char *start, const char *bookmark)
{
    const char *p = start;
    while (*p) {
        unsigned long d, sv;
        unsigned long long q;
        int used = 0;
        if (sscanf(p, "%lu-%lu-%llu%n", &d, &sv, &q, &used) != 3)
            return 0;
        if (q > gtid_seq_of(bookmark, d))
            return 1;
        p += used;
        if (*p == ',')
            p++;
    }
    return 0;
}

/* Remember the state after the finished position major. A state not known (too many
 * domains, too long to keep) is remembered as unknown: a lookup must not fall back to an
 * older entry's state for a newer position. */
static void ring_push(my_source_t *s, uint64_t major)
{
    char text[GTID_TEXT] = "";
    int known = s->gtid_known;
    if (known && !s->is_maria) {
        sl_buf_reset(&s->gtid_text);
        sl_gtid_set_format(&s->mygtid, &s->gtid_text);
        known = s->gtid_text.len < sizeof(text);
        if (known && s->gtid_text.len)
            memcpy(text, s->gtid_text.data, s->gtid_text.len + 1);
        if (!known && !s->gtid_too_long) {
            s->gtid_too_long = 1;
            sl_warn(s->cfg->name,
                    "the server's GTID set is %zu characters, more than the %d a bookmark "
                    "keeps: bookmarks go without gtid_set, and a purged bookmark file "
                    "cannot be resumed from GTIDs",
                    s->gtid_text.len, GTID_TEXT - 1);
        }
    } else if (known) {
        gtid_state_format(s, text, sizeof(text));
        known = text[0] || !s->ndoms;
    }
    pthread_mutex_lock(&s->mu);
    my_gtid_ent_t *e = &s->ring[s->ring_next];
    e->major = major;
    e->known = (uint8_t)known;
    strcpy(e->text, text);
    s->ring_next = (s->ring_next + 1) % RING_SIZE;
    if (s->ring_n < RING_SIZE)
        s->ring_n++;
    pthread_mutex_unlock(&s->mu);
}

/* ---- connections ---- */

sl_err_t mys_error(MYSQL *m, char *err, size_t errlen, const char *what)
{
    unsigned e = mysql_errno(m);
    char red[512];
    sl_log_redact(mysql_error(m), red, sizeof(red));
    /* the server went away or never answered: it may come back; anything it said in
     * words (access denied, unknown variable) it will say again */
    sl_err_t rc = (e >= 2000 && e < 3000 && e != CR_AUTH_PLUGIN_CANNOT_LOAD)
                      ? SL_ERR_RETRY
                      : SL_ERR_SOURCE;
    return sl_err_set(err, errlen, rc, "%s: %s (error %u)", what, red, e);
}

MYSQL *mys_connect(my_source_t *s, char *err, size_t errlen, sl_err_t *rc)
{
    const sl_source_config_t *c = &s->cfg->source;
    MYSQL *m = mysql_init(NULL);
    if (!m) {
        *rc = sl_err_set(err, errlen, SL_ERR_NOMEM, "out of memory");
        return NULL;
    }
    unsigned timeout = 10;
    mysql_options(m, MYSQL_OPT_CONNECT_TIMEOUT, &timeout);
    mysql_options(m, MYSQL_SET_CHARSET_NAME, "utf8mb4");
    if (!mysql_real_connect(m, c->host, c->user, c->password, NULL, (unsigned)c->port,
                            NULL, 0)) {
        char what[300];
        snprintf(what, sizeof(what), "cannot connect to MySQL at %s:%d as %s", c->host,
                 c->port, c->user);
        *rc = mys_error(m, err, errlen, what);
        mysql_close(m);
        return NULL;
    }
    *rc = SL_OK;
    return m;
}

static void my_disconnect(my_source_t *s)
{
    /* the event refers to its replication handle: free it first */
    if (s->rev)
        mariadb_free_rpl_event(s->rev);
    s->rev = NULL;
    if (s->rpl)
        mariadb_rpl_close(s->rpl);
    s->rpl = NULL;
    pthread_mutex_lock(&s->mu);
    s->repl_fd = -1;
    pthread_mutex_unlock(&s->mu);
    mysql_close(s->repl);
    mysql_close(s->sql);
    mysql_close(s->snap);
    s->repl = s->sql = s->snap = NULL;
    s->chunk_open = 0;
}

/* Run a statement and return its result (caller mysql_free_result; NULL with err for a
 * statement without rows or on failure, rc tells which). */
MYSQL_RES *mys_query(MYSQL *m, const char *sql, sl_err_t *rc, char *err,
                           size_t errlen)
{
    if (mysql_real_query(m, sql, strlen(sql))) {
        char what[200];
        snprintf(what, sizeof(what), "query %.60s failed", sql);
        *rc = mys_error(m, err, errlen, what);
        return NULL;
    }
    *rc = SL_OK;
    return mysql_store_result(m);
}

sl_err_t mys_exec(MYSQL *m, const char *sql, char *err, size_t errlen)
{
    sl_err_t rc;
    MYSQL_RES *r = mys_query(m, sql, &rc, err, errlen);
    mysql_free_result(r);
    return rc;
}

/* The first column of the first row of a one-value query, copied into out. */
sl_err_t mys_value(MYSQL *m, const char *sql, char *out, size_t n, char *err,
                         size_t errlen)
{
    sl_err_t rc;
    MYSQL_RES *r = mys_query(m, sql, &rc, err, errlen);
    if (!r)
        return rc ? rc
                  : sl_err_set(err, errlen, SL_ERR_SOURCE, "%s returned nothing", sql);
    MYSQL_ROW row = mysql_fetch_row(r);
    snprintf(out, n, "%s", row && row[0] ? row[0] : "");
    mysql_free_result(r);
    return SL_OK;
}

/* Server settings sluice depends on, from SHOW GLOBAL VARIABLES (variables a server does
 * not have are left empty instead of failing the query). */
typedef struct my_vars {
    char log_bin[8], binlog_format[16], row_image[16], row_metadata[16],
        value_options[32];
    char checksum[16], version[64], server_id[16];
    char annotate[8], rows_query[8]; /* MariaDB's and MySQL's statement-in-binlog switch */
    char gtid_mode[24];              /* MySQL: ON when every transaction has a GTID */
} my_vars_t;

static sl_err_t my_vars(MYSQL *m, my_vars_t *v, char *err, size_t errlen)
{
    sl_err_t rc;
    memset(v, 0, sizeof(*v));
    MYSQL_RES *r = mys_query(m,
                            "SHOW GLOBAL VARIABLES WHERE Variable_name IN ('log_bin', "
                            "'binlog_format', 'binlog_row_image', 'binlog_row_metadata', "
                            "'binlog_row_value_options', 'binlog_checksum', 'version', "
                            "'server_id', 'binlog_annotate_row_events', "
                            "'binlog_rows_query_log_events', 'gtid_mode')",
                            &rc, err, errlen);
    if (!r)
        return rc ? rc : SL_ERR_SOURCE;
    MYSQL_ROW row;
    while ((row = mysql_fetch_row(r))) {
        const char *k = row[0], *val = row[1] ? row[1] : "";
#define VAR(name, field)                                                                 \
    if (strcmp(k, name) == 0)                                                            \
        snprintf(v->field, sizeof(v->field), "%s", val);
        VAR("log_bin", log_bin)
        VAR("binlog_format", binlog_format)
        VAR("binlog_row_image", row_image)
        VAR("binlog_row_metadata", row_metadata)
        VAR("binlog_row_value_options", value_options)
        VAR("binlog_checksum", checksum)
        VAR("version", version)
        VAR("server_id", server_id)
        VAR("binlog_annotate_row_events", annotate)
        VAR("binlog_rows_query_log_events", rows_query)
        VAR("gtid_mode", gtid_mode)
#undef VAR
    }
    mysql_free_result(r);
    return SL_OK;
}

/* 1 when file is listed by SHOW BINARY LOGS, 0 when not (oldest gets the first listed).
 */
static sl_err_t binlog_present(MYSQL *m, const char *file, int *present, char *oldest,
                               size_t n, char *err, size_t errlen)
{
    sl_err_t rc;
    MYSQL_RES *r = mys_query(m, "SHOW BINARY LOGS", &rc, err, errlen);
    if (!r)
        return rc ? rc : SL_ERR_SOURCE;
    MYSQL_ROW row;
    *present = 0;
    oldest[0] = 0;
    while ((row = mysql_fetch_row(r))) {
        if (!oldest[0] && row[0])
            snprintf(oldest, n, "%s", row[0]);
        if (row[0] && strcmp(row[0], file) == 0)
            *present = 1;
    }
    mysql_free_result(r);
    return SL_OK;
}

/* ---- tables ---- */

static uint64_t table_sig(const sl_binlog_table_t *bt)
{
    uint64_t h = SL_FNV64_INIT;
    h = sl_fnv64(h, bt->db, bt->db_len + 1);
    h = sl_fnv64(h, bt->name, bt->name_len + 1);
    h = sl_fnv64(h, &bt->ncols, sizeof(bt->ncols));
    for (uint32_t i = 0; i < bt->ncols; i++) {
        const sl_my_col_t *c = &bt->cols[i];
        uint8_t b[4] = {c->type, c->flags, c->cs, c->geom_type};
        h = sl_fnv64(h, b, sizeof(b));
        h = sl_fnv64(h, &c->meta, sizeof(c->meta));
        h = sl_fnv64(h, &c->nvals, sizeof(c->nvals));
        if (c->name)
            h = sl_fnv64(h, c->name, c->name_len);
        h = sl_fnv64(h, "", 1);
    }
    for (uint32_t i = 0; i < bt->npk; i++)
        h = sl_fnv64(h, &bt->pk_cols[i], sizeof(bt->pk_cols[i]));
    return h;
}

static my_tab_t *find_tab(my_source_t *s, uint64_t id)
{
    for (size_t i = 0; i < s->ntabs; i++)
        if (s->tabs[i].table_id == id)
            return &s->tabs[i];
    return NULL;
}

static void names_free(my_names_t *n)
{
    for (size_t i = 0; i < n->ncols; i++) {
        free(n->names[i]);
        for (uint32_t k = 0; n->vals[i] && k < n->nvals[i]; k++)
            free((char *)n->vals[i][k].s);
        free(n->vals[i]);
    }
    free(n->names);
    free(n->key);
    free(n->unsig);
    free(n->cs);
    free(n->vals);
    free(n->nvals);
    free(n->qualified);
}

/* A DDL statement may have changed any table's shape: forget what was built, so the next
 * TABLE_MAP builds (and, without full metadata, re-reads information_schema) again. */
static void forget_tables(my_source_t *s)
{
    for (size_t i = 0; i < s->ntabs; i++)
        free(s->tabs[i].json_cols);
    s->ntabs = 0;
    for (size_t i = 0; i < s->nnames; i++)
        names_free(&s->names[i]);
    s->nnames = 0;
}

void mys_quote(MYSQL *m, const char *v, sl_buf_t *out)
{
    size_t n = strlen(v);
    sl_buf_reserve(out, 2 * n + 3);
    out->data[out->len++] = '\'';
    out->len += mysql_real_escape_string(m, out->data + out->len, v, (unsigned long)n);
    out->data[out->len++] = '\'';
    out->data[out->len] = 0;
}

/* Columns of db.name from information_schema (the table as it is now, which is right
 * unless it changed since the event was written). */
static sl_err_t lookup_names(my_source_t *s, const sl_binlog_table_t *bt,
                             const char *qualified, my_names_t **out, char *err,
                             size_t errlen)
{
    for (size_t i = 0; i < s->nnames; i++)
        if (strcmp(s->names[i].qualified, qualified) == 0) {
            *out = &s->names[i];
            return SL_OK;
        }
    sl_buf_t q = SL_BUF_INIT;
    sl_buf_puts(&q,
                "SELECT COLUMN_NAME, COLUMN_KEY, DATA_TYPE, COLUMN_TYPE, CHARACTER_SET_NAME "
                "FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ");
    mys_quote(s->sql, bt->db, &q);
    sl_buf_puts(&q, " AND TABLE_NAME = ");
    mys_quote(s->sql, bt->name, &q);
    sl_buf_puts(&q, " ORDER BY ORDINAL_POSITION");
    sl_err_t rc;
    MYSQL_RES *r = mys_query(s->sql, q.data, &rc, err, errlen);
    sl_buf_free(&q);
    if (!r)
        return rc ? rc : SL_ERR_SOURCE;
    if (s->nnames == s->capnames) {
        size_t cap = s->capnames ? s->capnames * 2 : 16;
        my_names_t *v = realloc(s->names, cap * sizeof(*v));
        if (!v)
            abort();
        s->names = v;
        s->capnames = cap;
    }
    my_names_t *n = &s->names[s->nnames++];
    memset(n, 0, sizeof(*n));
    n->qualified = strdup(qualified);
    size_t rows = (size_t)mysql_num_rows(r);
    size_t cap = rows ? rows : 1;
    n->names = calloc(cap, sizeof(char *));
    n->key = calloc(cap, 1);
    n->unsig = calloc(cap, 1);
    n->cs = calloc(cap, 1);
    n->vals = calloc(cap, sizeof(*n->vals));
    n->nvals = calloc(cap, sizeof(*n->nvals));
    if (!n->qualified || !n->names || !n->key || !n->unsig || !n->cs || !n->vals ||
        !n->nvals)
        abort();
    MYSQL_ROW row;
    while ((row = mysql_fetch_row(r)) && n->ncols < rows) {
        size_t i = n->ncols++;
        const char *dt = row[2] ? row[2] : "", *ct = row[3] ? row[3] : "";
        if (!(n->names[i] = strdup(row[0] ? row[0] : "")))
            abort();
        n->key[i] = row[1] && strcmp(row[1], "PRI") == 0;
        n->unsig[i] = (uint8_t)mys_column_unsigned(dt, ct);
        n->cs[i] = (uint8_t)mys_column_cs(dt, row[4]);
        if (!strcasecmp(dt, "enum") || !strcasecmp(dt, "set"))
            n->vals[i] = mys_parse_members(ct, &n->nvals[i]);
    }
    mysql_free_result(r);
    *out = n;
    return SL_OK;
}

void mys_json_columns(my_source_t *s, const char *db, const char *table, size_t ncols,
                      const char *const *names, uint8_t *json)
{
    sl_buf_t q = SL_BUF_INIT;
    sl_buf_puts(&q, "SELECT CHECK_CLAUSE FROM information_schema.CHECK_CONSTRAINTS WHERE "
                    "CONSTRAINT_SCHEMA = ");
    mys_quote(s->sql, db, &q);
    sl_buf_puts(&q, " AND TABLE_NAME = ");
    mys_quote(s->sql, table, &q);
    sl_err_t rc;
    char err[256];
    MYSQL_RES *r = mys_query(s->sql, q.data, &rc, err, sizeof(err));
    sl_buf_free(&q);
    if (!r) {
        sl_debug(s->cfg->name, "JSON columns of %s unknown: %s", table, err);
        return;
    }
    MYSQL_ROW row;
    sl_buf_t want = SL_BUF_INIT;
    while ((row = mysql_fetch_row(r))) {
        for (size_t i = 0; row[0] && i < ncols; i++) {
            if (!names[i])
                continue;
            sl_buf_reset(&want);
            sl_buf_printf(&want, "json_valid(`%s`)", names[i]);
            if (strcmp(row[0], want.data) == 0)
                json[i] = 1;
        }
    }
    sl_buf_free(&want);
    mysql_free_result(r);
}

/* MariaDB's JSON is a LONGTEXT with a json_valid(`col`) CHECK: find those columns so the
 * schema document says json. A failed lookup only loses that detail. */
static void find_json_columns(my_source_t *s, const sl_binlog_table_t *bt,
                              const char *const *names, my_tab_t *tb)
{
    int text_blob = 0;
    for (uint32_t i = 0; i < bt->ncols; i++)
        if ((bt->cols[i].type == SL_MY_BLOB || bt->cols[i].type == SL_MY_TINY_BLOB ||
             bt->cols[i].type == SL_MY_MEDIUM_BLOB ||
             bt->cols[i].type == SL_MY_LONG_BLOB) &&
            bt->cols[i].cs != SL_MY_CS_BINARY)
            text_blob = 1;
    if (!text_blob || sl_binlog_decoder_flavor(s->dec) != SL_BINLOG_MARIADB)
        return;
    uint8_t *json = calloc(bt->ncols, 1);
    if (!json)
        abort();
    mys_json_columns(s, bt->db, bt->name, bt->ncols, names, json);
    for (uint32_t i = 0; i < bt->ncols; i++) {
        if (!json[i])
            continue;
        uint32_t *v = realloc(tb->json_cols, (tb->njson + 1) * sizeof(*v));
        if (!v)
            abort();
        tb->json_cols = v;
        tb->json_cols[tb->njson++] = i;
    }
    free(json);
}

static void mark_json_columns(const my_tab_t *tb, const sl_binlog_table_t *bt)
{
    /* the decoder's columns are rebuilt from every TABLE_MAP; its flags are ours to set
     */
    for (uint32_t k = 0; k < tb->njson; k++)
        if (tb->json_cols[k] < bt->ncols)
            bt->cols[tb->json_cols[k]].flags |= SL_MY_F_JSON_TEXT;
}

/* Does the binlog leave out anything information_schema has to give (names, keys,
 * signedness, character sets, ENUM/SET members)? */
static int needs_schema(const sl_binlog_table_t *bt)
{
    if (!bt->has_names)
        return 1;
    /* FULL leaves SIGNEDNESS out of a table without numeric columns, and the charset
     * fields out of one without character columns: only a column that needs one counts */
    for (uint32_t i = 0; i < bt->ncols; i++) {
        if (sl_my_is_numeric(bt->cols[i].type) && !bt->has_signedness)
            return 1;
        switch (bt->cols[i].type) {
        case SL_MY_STRING:
        case SL_MY_VARCHAR:
        case SL_MY_VAR_STRING:
        case SL_MY_TINY_BLOB:
        case SL_MY_MEDIUM_BLOB:
        case SL_MY_LONG_BLOB:
        case SL_MY_BLOB:
            if (!bt->has_charsets && bt->cols[i].cs == SL_MY_CS_UNKNOWN)
                return 1;
            break;
        case SL_MY_ENUM:
        case SL_MY_SET:
            if (!bt->cols[i].vals)
                return 1;
            break;
        default:
            break;
        }
    }
    return 0;
}

/* What the TABLE_MAP left out, from information_schema, into the decoder's columns (they
 * are rebuilt from every TABLE_MAP, so this runs for each). Without it an UNSIGNED
 * maximum would read as -1, binary strings as text, latin1 unconverted and ENUMs as
 * numbers, unlike the snapshot of the same rows. */
static void fill_columns(const my_source_t *s, const my_tab_t *tb,
                         const sl_binlog_table_t *bt)
{
    if (tb->names_ix < 0)
        return;
    const my_names_t *n = &s->names[tb->names_ix];
    for (uint32_t i = 0; i < bt->ncols && i < n->ncols; i++) {
        sl_my_col_t *c = &bt->cols[i];
        if (!bt->has_signedness && n->unsig[i])
            c->flags |= SL_MY_F_UNSIGNED;
        if (!bt->has_charsets && c->cs == SL_MY_CS_UNKNOWN)
            c->cs = n->cs[i];
        if ((c->type == SL_MY_ENUM || c->type == SL_MY_SET) && !c->vals && n->vals[i]) {
            c->vals = n->vals[i];
            c->nvals = n->nvals[i];
        }
    }
}

/* An excluded table's rows are still decoded, to number the rows around them the same
 * whatever the filter, but their values go nowhere: take its text as bytes, so that a
 * character set sluice cannot convert (sjis, gbk...) in a table the user left out does
 * not stop the connector. */
static void raw_columns(const sl_binlog_table_t *bt)
{
    for (uint32_t i = 0; i < bt->ncols; i++)
        bt->cols[i].cs = SL_MY_CS_BINARY;
}

static sl_err_t on_table_map(my_source_t *s, const sl_binlog_table_t *bt, char *err,
                             size_t errlen)
{
    uint64_t sig = table_sig(bt);
    my_tab_t *tb = find_tab(s, bt->table_id);
    if (tb && tb->sig == sig) {
        if (tb->excluded) {
            raw_columns(bt);
            return SL_OK;
        }
        mark_json_columns(tb, bt);
        fill_columns(s, tb, bt);
        return SL_OK;
    }
    if (tb)
        free(tb->json_cols);
    if (!tb) {
        if (s->ntabs == s->captabs) {
            size_t cap = s->captabs ? s->captabs * 2 : 16;
            my_tab_t *v = realloc(s->tabs, cap * sizeof(*v));
            if (!v)
                abort();
            s->tabs = v;
            s->captabs = cap;
        }
        tb = &s->tabs[s->ntabs++];
    }
    memset(tb, 0, sizeof(*tb));
    tb->table_id = bt->table_id;
    tb->names_ix = -1;
    sl_table_t *t = sl_table_new(bt->db, NULL, bt->name);
    tb->excluded = !sl_config_table_wanted(&s->cfg->source, t->qualified);
    if (tb->excluded) {
        sl_table_free(t);
        tb->sig = sig;
        raw_columns(bt);
        return SL_OK;
    }
    my_names_t *names = NULL;
    if (needs_schema(bt)) {
        sl_err_t rc = lookup_names(s, bt, t->qualified, &names, err, errlen);
        if (rc) {
            sl_table_free(t);
            tb->table_id = UINT64_MAX;
            return rc;
        }
        if (names->ncols != bt->ncols) {
            sl_warn(s->cfg->name,
                    "table %s: the binlog has %" PRIu32 " columns but information_schema "
                    "lists %zu (it changed since); columns are named col_N and their "
                    "signedness, character sets and ENUM/SET members are unknown (set "
                    "binlog_row_metadata=FULL so the binlog carries them)",
                    t->qualified, bt->ncols, names->ncols);
            names = NULL;
        } else {
            tb->names_ix = (long)(names - s->names);
            fill_columns(s, tb, bt);
        }
        if (bt->has_names)
            names = NULL; /* the binlog's own names and key win */
    }
    const char **cnames = calloc(bt->ncols ? bt->ncols : 1, sizeof(char *));
    char *fallback = calloc(bt->ncols ? bt->ncols : 1, 24);
    uint8_t *key = calloc(bt->ncols ? bt->ncols : 1, 1);
    if (!cnames || !fallback || !key)
        abort();
    for (uint32_t i = 0; i < bt->ncols; i++) {
        const sl_my_col_t *c = &bt->cols[i];
        if (bt->has_names && c->name) {
            cnames[i] = c->name;
        } else if (names) {
            cnames[i] = names->names[i];
            key[i] = names->key[i];
        } else {
            snprintf(fallback + 24 * i, 24, "col_%" PRIu32, i + 1);
            cnames[i] = fallback + 24 * i;
        }
        if (bt->has_pk || bt->has_names) {
            key[i] = 0;
            for (uint32_t k = 0; k < bt->npk; k++)
                if (bt->pk_cols[k] == i)
                    key[i] = 1;
        }
    }
    find_json_columns(s, bt, cnames, tb);
    mark_json_columns(tb, bt);
    tb->table = mys_intern_table(s, bt->db, bt->name, bt->ncols, bt->cols, cnames, key);
    free(cnames);
    free(fallback);
    free(key);
    sl_table_free(t);
    tb->sig = sig;
    return SL_OK;
}

const sl_table_t *mys_intern_table(my_source_t *s, const char *db, const char *name,
                                   size_t ncols, const sl_my_col_t *cols,
                                   const char *const *names, const uint8_t *key)
{
    sl_table_t *t = sl_table_new(db, NULL, name);
    for (size_t i = 0; i < ncols; i++) {
        const sl_my_col_t *c = &cols[i];
        sl_table_add_column(t, names[i], sl_my_type_name(c), c->type, c->meta,
                            sl_my_jtype(c), (c->flags & SL_MY_F_NULLABLE) ? 1 : 0, key[i]);
    }
    return sl_schema_cache_intern(sl_pipe_schemas(s->pipe), t);
}



/* ---- changes ---- */

static void begin_tx(my_source_t *s, const sl_binlog_event_t *ev, uint64_t start)
{
    s->in_tx = 1;
    s->tx_explicit = 0;
    s->tx_start = start;
    s->tx_major = mys_pos_major(s->seq, start);
    s->index = 0;
    s->tx_counter++;
    s->commit_ts_ms = (int64_t)ev->h.timestamp * 1000;
    s->server_id = ev->h.server_id;
    s->have_gtid = 0;
    s->pending_dom = 0;
    s->my_pending = 0;
    sl_buf_reset(&s->gtid);
    sl_buf_reset(&s->txid);
}

static void set_txid(my_source_t *s)
{
    sl_buf_reset(&s->txid);
    if (s->have_gtid)
        sl_buf_append(&s->txid, s->gtid.data, s->gtid.len);
    else
        sl_buf_printf(&s->txid, "%s:%" PRIu64, s->file, s->tx_start);
}

/* A position between transactions: everything up to it is complete. */
static void progress(my_source_t *s, uint64_t major, uint64_t resume)
{
    sl_pos_t pos = {.major = major, .minor = resume, .index = SL_POS_DONE};
    ring_push(s, major);
    if (s->has_last && sl_pos_cmp(&pos, &s->last) <= 0)
        return;
    if (s->has_skip && sl_pos_cmp(&pos, &s->skip) <= 0)
        return;
    sl_pipe_progress(s->pipe, &pos);
    s->last = pos;
    s->has_last = 1;
}

/* Every transaction that starts before offset `off` of the current file is complete. A
 * transaction may start exactly at off, so the position sorts below it, two below: a
 * snapshot chunk placed at off takes off - 1 (every event is longer than that). */
static void progress_before(my_source_t *s, uint64_t off)
{
    if (off > 4)
        progress(s, mys_pos_major(s->seq, off - 2), off);
}

static void end_tx(my_source_t *s, uint64_t end)
{
    if (!s->in_tx)
        return;
    s->in_tx = 0;
    s->last_tx_end = mys_pos_major(s->seq, end);
    if (s->pending_dom)
        gtid_state_set(s, s->pending.domain, s->pending.server, s->pending.seq);
    s->pending_dom = 0;
    if (s->my_pending && sl_gtid_set_add(&s->mygtid, s->my_sid, s->my_gno) != 0)
        s->gtid_known = 0;
    s->my_pending = 0;
    progress(s, s->tx_major, end);
}

/* Number the next event of the transaction; returns 1 when it was delivered before. */
static int next_event(my_source_t *s, sl_pos_t *pos)
{
    s->index++;
    pos->major = s->tx_major;
    pos->minor = 0;
    pos->index = s->index;
    pos->flags = 0;
    return s->has_skip && sl_pos_cmp(pos, &s->skip) <= 0;
}

static sl_err_t emit(my_source_t *s, my_tab_t *tb, char op, const sl_value_t *before,
                     const sl_value_t *after, char *err, size_t errlen)
{
    sl_pos_t pos;
    if (next_event(s, &pos))
        return SL_OK;
    if (tb->tx_seen != s->tx_counter) {
        tb->tx_seen = s->tx_counter;
        tb->count = 0;
    }
    tb->count++;
    /* per row: no printf, this is the hot path; the members up to "row" are the
     * transaction's (its GTID, file and start), built at its first row */
    sl_buf_t *x = &s->rowsrc;
    if (s->rowsrc_tx != s->tx_counter || !x->data) {
        sl_buf_reset(x);
        sl_buf_puts(x, "\"server_id\":");
        sl_buf_put_u64(x, s->server_id);
        sl_buf_puts(x, ",\"gtid\":");
        if (s->have_gtid)
            sl_buf_put_json_str(x, s->gtid.data, s->gtid.len);
        else
            sl_buf_puts(x, "null");
        sl_buf_puts(x, ",\"file\":");
        sl_buf_put_json_str(x, s->file, strlen(s->file));
        sl_buf_puts(x, ",\"pos\":");
        sl_buf_put_u64(x, s->tx_start);
        sl_buf_puts(x, ",\"row\":");
        s->rowsrc_prefix = x->len;
        s->rowsrc_tx = s->tx_counter;
    }
    sl_buf_truncate(x, s->rowsrc_prefix);
    sl_buf_put_u64(x, s->index);
    sl_buf_puts(x, ",\"thread\":null,\"query\":");
    if (s->query_tx == s->tx_counter && s->query_json.len)
        sl_buf_append(x, s->query_json.data, s->query_json.len);
    else
        sl_buf_puts(x, "null");
    sl_change_t c = {
        .op = op,
        .table = tb->table,
        .before = before,
        .after = after,
        .commit_ts_ms = s->commit_ts_ms,
        .snapshot = "false",
        .source_extra = x->data,
        .source_extra_len = x->len,
        .tx_id = s->txid.data,
        .total_order = s->index,
        .data_collection_order = tb->count,
    };
    sl_err_t rc = sl_pipe_emit(s->pipe, &c, &pos);
    if (rc)
        return sl_err_set(err, errlen, rc, "stopping");
    s->last = pos;
    s->has_last = 1;
    return SL_OK;
}

sl_err_t mys_emit_row(my_source_t *s, const sl_table_t *t, const sl_value_t *row,
                      const sl_pos_t *pos, const char *snapshot, char *err, size_t errlen)
{
    sl_err_t rc = sl_snap_emit_row(s->pipe, t, row, pos, s->plan.started_ms, snapshot,
                                   s->extra.data, s->extra.len, err, errlen);
    if (!rc) {
        s->last = *pos;
        s->has_last = 1;
    }
    return rc;
}

static sl_err_t on_rows(my_source_t *s, sl_binlog_event_t *ev, char *err, size_t errlen)
{
    sl_binlog_rows_t *rows = &ev->u.rows;
    my_tab_t *tb = find_tab(s, rows->table_id);
    if (!tb && sl_binlog_rows_more(rows))
        return sl_err_set(err, errlen, SL_ERR_PROTOCOL,
                          "a %s event at %s:%" PRIu64 " names table id %" PRIu64
                          " without a TABLE_MAP before it",
                          sl_binlog_type_name(ev->h.type), s->file, s->offset,
                          rows->table_id);
    while (sl_binlog_rows_more(rows)) {
        sl_binlog_row_t row;
        sl_arena_reset(&s->arena);
        sl_err_t rc = sl_binlog_rows_next(s->dec, rows, &s->arena, &row, err, errlen);
        if (rc)
            return rc;
        if (tb->excluded) {
            sl_pos_t pos;
            next_event(s, &pos); /* keep numbering identical whatever the filter */
            continue;
        }
        const sl_table_t *t = tb->table;
        if (row.ncols != t->ncols)
            return sl_err_set(
                err, errlen, SL_ERR_PROTOCOL,
                "a row of %s has %zu columns but its TABLE_MAP described %zu",
                t->qualified, row.ncols, t->ncols);
        switch (rows->op) {
        case SL_BINLOG_INSERT:
            rc = emit(s, tb, 'c', NULL, row.after, err, errlen);
            break;
        case SL_BINLOG_DELETE:
            rc = emit(s, tb, 'd', row.before, NULL, err, errlen);
            break;
        default:
            if (sl_table_nkeys(t) && !sl_envelope_keys_equal(t, row.before, row.after)) {
                /* the key changed: like Debezium, a delete of the old key then a create
                 * of the new one, so each key's history stays on its own key */
                rc = emit(s, tb, 'd', row.before, NULL, err, errlen);
                if (!rc)
                    rc = emit(s, tb, 'c', NULL, row.after, err, errlen);
            } else {
                rc = emit(s, tb, 'u', row.before, row.after, err, errlen);
            }
        }
        if (rc)
            return rc;
    }
    return SL_OK;
}

/* Skip spaces and comments at the start of a statement. */
static const char *sql_start(const char *p, const char *end)
{
    for (;;) {
        while (p < end && isspace((unsigned char)*p))
            p++;
        if (end - p >= 2 && p[0] == '/' && p[1] == '*') {
            const char *c = p + 2;
            while (end - c >= 2 && !(c[0] == '*' && c[1] == '/'))
                c++;
            p = end - c >= 2 ? c + 2 : end;
        } else if (end - p >= 2 && ((p[0] == '-' && p[1] == '-') || p[0] == '#')) {
            while (p < end && *p != '\n')
                p++;
        } else {
            return p;
        }
    }
}

/* Does the statement start with word (case-insensitive, followed by a non-word char)? */
static int sql_word(const char **pp, const char *end, const char *word)
{
    const char *p = sql_start(*pp, end);
    size_t n = strlen(word);
    if ((size_t)(end - p) < n || strncasecmp(p, word, n) != 0)
        return 0;
    if (p + n < end && (isalnum((unsigned char)p[n]) || p[n] == '_'))
        return 0;
    *pp = p + n;
    return 1;
}

/* One identifier (`quoted` or bare) into out; returns 0 when there is none. */
static int sql_ident(const char **pp, const char *end, sl_buf_t *out)
{
    const char *p = sql_start(*pp, end);
    sl_buf_reset(out);
    if (p < end && *p == '`') {
        p++;
        while (p < end) {
            if (*p == '`') {
                if (p + 1 < end && p[1] == '`') {
                    sl_buf_putc(out, '`');
                    p += 2;
                    continue;
                }
                p++;
                break;
            }
            sl_buf_putc(out, *p++);
        }
    } else {
        while (p < end && (isalnum((unsigned char)*p) || *p == '_' || *p == '$' ||
                           (unsigned char)*p >= 0x80))
            sl_buf_putc(out, *p++);
    }
    *pp = p;
    return out->len > 0;
}

/* TRUNCATE [TABLE] [db.]name: op 't' for a table whose shape is known. */
static sl_err_t on_truncate(my_source_t *s, const sl_binlog_event_t *ev, const char *p,
                            const char *end, char *err, size_t errlen)
{
    sl_buf_t a = SL_BUF_INIT, b = SL_BUF_INIT, q = SL_BUF_INIT;
    sl_err_t rc = SL_OK;
    sql_word(&p, end, "TABLE");
    if (sql_ident(&p, end, &a)) {
        if (p < end && *p == '.') {
            p++;
            sql_ident(&p, end, &b);
            sl_buf_printf(&q, "%s.%s", a.data, b.len ? b.data : "");
        } else {
            sl_buf_printf(&q, "%.*s.%s", (int)ev->u.query.db_len,
                          ev->u.query.db ? ev->u.query.db : "", a.data);
        }
        const sl_table_t *t = sl_schema_cache_latest(sl_pipe_schemas(s->pipe), q.data);
        if (t && sl_config_table_wanted(&s->cfg->source, q.data)) {
            my_tab_t tb = {.table = t, .tx_seen = s->tx_counter};
            rc = emit(s, &tb, 't', NULL, NULL, err, errlen);
        } else {
            sl_pos_t pos;
            next_event(s, &pos);
        }
    }
    sl_buf_free(&a);
    sl_buf_free(&b);
    sl_buf_free(&q);
    return rc;
}

static sl_err_t on_query(my_source_t *s, const sl_binlog_event_t *ev, uint64_t start,
                         uint64_t end_off, char *err, size_t errlen)
{
    const char *p = ev->u.query.sql, *end = p + ev->u.query.sql_len;
    const char *q = p;
    if (sql_word(&q, end, "BEGIN")) {
        if (!s->in_tx)
            begin_tx(s, ev, start);
        s->tx_explicit = 1;
        return SL_OK;
    }
    q = p;
    if (sql_word(&q, end, "XA")) {
        /* XA START opens the rows part (ended by XA_PREPARE); XA END is inside it;
         * XA COMMIT / XA ROLLBACK later are transactions of their own without rows */
        const char *w = q;
        if (sql_word(&w, end, "START") || sql_word(&w, end, "BEGIN")) {
            if (!s->in_tx)
                begin_tx(s, ev, start);
            s->tx_explicit = 1;
        } else if (!sql_word(&w, end, "END")) {
            const char *r = q;
            sl_pos_t at = {.major = mys_pos_major(s->seq, start), .index = SL_POS_DONE};
            if (sql_word(&r, end, "ROLLBACK") &&
                !(s->has_skip && sl_pos_cmp(&at, &s->skip) <= 0)) {
                /* the server binlogs an XA transaction's rows at its PREPARE, and so
                 * they were delivered then; say so, rather than stay silent (once: not
                 * again when a resume reads it a second time) */
                const char *x = sql_start(r, end);
                sl_warn(s->cfg->name,
                        "XA ROLLBACK %.*s at %s:%" PRIu64 ": its rows were delivered when "
                        "it was prepared (the binlog carries them at XA PREPARE) and are "
                        "now undone on the server; consumers that applied them must undo "
                        "them too",
                        (int)(end - x > 200 ? 200 : end - x), x, s->file, start);
            }
            if (!s->in_tx)
                begin_tx(s, ev, start);
            end_tx(s, end_off);
        }
        return SL_OK;
    }
    q = p;
    if (sql_word(&q, end, "COMMIT")) {
        end_tx(s, end_off);
        return SL_OK;
    }
    q = p;
    if (sql_word(&q, end, "ROLLBACK")) {
        const char *r = q;
        if (!sql_word(&r, end, "TO")) {
            end_tx(s, end_off);
            return SL_OK;
        }
    }
    q = p;
    if (sql_word(&q, end, "SAVEPOINT") && s->in_tx)
        return SL_OK;
    if (!s->in_tx)
        begin_tx(s, ev, start);
    sl_err_t rc = SL_OK;
    q = p;
    if (sql_word(&q, end, "TRUNCATE")) {
        rc = on_truncate(s, ev, q, end, err, errlen);
        forget_tables(s);
    } else {
        q = p;
        int create = sql_word(&q, end, "CREATE");
        if (create || sql_word(&q, end, "ALTER") || sql_word(&q, end, "DROP") ||
            sql_word(&q, end, "RENAME")) {
            forget_tables(s);
            mysnap_forget(s);
        }
        /* MySQL 8's CREATE TABLE ... SELECT: its rows and XID follow in this transaction */
        if (create && sl_binlog_create_opens_tx(p, (size_t)(end - p)))
            s->tx_explicit = 1;
    }
    if (rc)
        return rc;
    if (!s->tx_explicit)
        end_tx(s, end_off);
    return SL_OK;
}

/* Is the replication socket quiet (nothing more to read right now)? */
/* Metrics: how much the server may purge before it removes a binlog file sluice still
 * needs: the binlog files (and their bytes) older than the one holding the stored
 * bookmark. Published when that file changes and every HEADROOM_INTERVAL_MS, best
 * effort. */
#define HEADROOM_INTERVAL_MS 10000
static void publish_headroom(my_source_t *s)
{
    int64_t now = sl_now_ms();
    sl_pos_t d;
    if (!s->sql || !sl_pipe_durable(s->pipe, &d))
        return;
    uint32_t need = (uint32_t)(d.major >> 40);
    if (now - s->last_headroom_ms < HEADROOM_INTERVAL_MS && need == s->headroom_seq)
        return;
    s->last_headroom_ms = now;
    s->headroom_seq = need;
    char err[256];
    sl_err_t rc;
    MYSQL_RES *r = mys_query(s->sql, "SHOW BINARY LOGS", &rc, err, sizeof(err));
    if (!r)
        return;
    double files = 0, bytes = 0;
    MYSQL_ROW row;
    while ((row = mysql_fetch_row(r))) {
        char base[BASE_LEN];
        uint32_t seq;
        if (row[0] && row[1] && !split_file(row[0], strlen(row[0]), base, sizeof(base), &seq) &&
            seq < need) {
            files++;
            bytes += strtod(row[1], NULL);
        }
    }
    mysql_free_result(r);
    sl_pipe_gauge(s->pipe, "mysql_binlog_headroom_files",
                  "Binlog files on the server older than the one holding the stored "
                  "bookmark: a purge can remove this many before it removes one sluice needs.",
                  files);
    sl_pipe_gauge(s->pipe, "mysql_binlog_headroom_bytes",
                  "Bytes in the binlog files older than the one holding the stored bookmark.",
                  bytes);
}

static int stream_idle(my_source_t *s)
{
    struct pollfd pfd = {.fd = (int)mysql_get_socket(s->repl), .events = POLLIN};
    return poll(&pfd, 1, 0) == 0;
}

static sl_err_t on_event(my_source_t *s, sl_binlog_event_t *ev, uint64_t start,
                         uint64_t end, char *err, size_t errlen)
{
    sl_err_t rc = SL_OK;
    switch (ev->kind) {
    case SL_BINLOG_K_ROTATE: {
        char base[BASE_LEN];
        uint32_t seq;
        if (ev->u.rotate.file_len >= sizeof(s->file) ||
            split_file(ev->u.rotate.file, ev->u.rotate.file_len, base, sizeof(base),
                       &seq))
            return sl_err_set(err, errlen, SL_ERR_PROTOCOL,
                              "the server rotated to a binlog file named \"%.*s\", which "
                              "does not end in a sequence number",
                              (int)ev->u.rotate.file_len, ev->u.rotate.file);
        memcpy(s->file, ev->u.rotate.file, ev->u.rotate.file_len);
        s->file[ev->u.rotate.file_len] = 0;
        s->seq = seq;
        s->offset = ev->u.rotate.pos;
        pthread_mutex_lock(&s->mu);
        strcpy(s->base, base);
        pthread_mutex_unlock(&s->mu);
        return SL_OK;
    }
    case SL_BINLOG_K_MARIA_GTID:
        begin_tx(s, ev, start);
        s->tx_explicit = !(ev->u.mgtid.flags & FL_STANDALONE);
        sl_binlog_gtid_format(ev, &s->gtid);
        s->have_gtid = 1;
        s->pending_dom = 1;
        s->pending = (my_domain_t){ev->u.mgtid.domain_id, ev->u.mgtid.server_id,
                                   ev->u.mgtid.seq_no};
        set_txid(s);
        return SL_OK;
    case SL_BINLOG_K_GTID:
        begin_tx(s, ev, start);
        sl_binlog_gtid_format(ev, &s->gtid);
        s->have_gtid = ev->h.type == SL_BINLOG_GTID;
        if (s->have_gtid) {
            s->my_pending = 1;
            memcpy(s->my_sid, ev->u.gtid.sid, 16);
            s->my_gno = ev->u.gtid.gno;
        }
        set_txid(s);
        return SL_OK;
    case SL_BINLOG_K_PREVIOUS_GTIDS:
        /* MySQL: the set executed before this file. Known already, ours can only be
         * larger (after COM_BINLOG_DUMP_GTID the server sends the PREVIOUS_GTIDS of the
         * file it starts in, and then skips what our set has): add it. Else it is the
         * state from here on. */
        if (!s->in_tx && s->mysql_gtids) {
            char why[200];
            sl_gtid_set_t prev = SL_GTID_SET_INIT;
            if (sl_gtid_set_decode(&prev, ev->u.raw.p, ev->u.raw.len, why, sizeof(why)) !=
                SL_OK) {
                s->gtid_known = 0;
            } else {
                if (!s->gtid_known)
                    sl_gtid_set_clear(&s->mygtid);
                sl_gtid_set_merge(&s->mygtid, &prev);
                s->gtid_known = 1;
            }
            sl_gtid_set_free(&prev);
        }
        return SL_OK;
    case SL_BINLOG_K_GTID_LIST:
        /* the state at the start of a file: what we track, or the truth when we did not
         */
        if (sl_binlog_decoder_flavor(s->dec) == SL_BINLOG_MARIADB && !s->in_tx) {
            s->ndoms = 0;
            s->gtid_known = 1; /* unless gtid_state_set finds more domains than it keeps */
            for (uint32_t i = 0; i < ev->u.gtid_list.count; i++) {
                uint32_t d, sv;
                uint64_t q;
                sl_binlog_gtid_list_get(ev, i, &d, &sv, &q);
                gtid_state_set(s, d, sv, q);
            }
        }
        return SL_OK;
    case SL_BINLOG_K_QUERY:
        return on_query(s, ev, start, end, err, errlen);
    case SL_BINLOG_K_ROWS_QUERY:
        /* the statement of the row events that follow it, up to the next one or the
         * end of the transaction; escaped once, copied into each row's source.query */
        if (s->cfg->source.include_query) {
            sl_buf_reset(&s->query_json);
            sl_buf_put_json_str(&s->query_json, ev->u.text.s, ev->u.text.len);
            s->query_tx = s->tx_counter;
        }
        return SL_OK;
    case SL_BINLOG_K_XID:
    case SL_BINLOG_K_XA_PREPARE:
        end_tx(s, end);
        break;
    case SL_BINLOG_K_TABLE_MAP:
        return on_table_map(s, ev->u.table, err, errlen);
    case SL_BINLOG_K_ROWS:
        if (!s->in_tx) {
            begin_tx(s, ev, start);
            set_txid(s);
        }
        return on_rows(s, ev, err, errlen);
    case SL_BINLOG_K_PAYLOAD: {
        /* MySQL's compressed transaction: the inner events have no position of their
         * own, they all sit at the payload event's */
        for (;;) {
            sl_binlog_event_t inner;
            int have = 0;
            rc = sl_binlog_payload_next(s->dec, &inner, &have, err, errlen);
            if (rc || !have)
                return rc;
            rc = on_event(s, &inner, start, end, err, errlen);
            if (rc)
                return rc;
        }
    }
    case SL_BINLOG_K_HEARTBEAT:
        /* the server has nothing more: move a quiet connector's bookmark on */
        if (!s->in_tx && ev->u.heartbeat.file_len == strlen(s->file) &&
            memcmp(ev->u.heartbeat.file, s->file, ev->u.heartbeat.file_len) == 0 &&
            ev->u.heartbeat.pos > s->offset)
            s->offset = ev->u.heartbeat.pos;
        if (!s->in_tx) {
            rc = mysnap_reached(s, 0, err, errlen);
            if (rc)
                return rc;
            progress_before(s, s->offset);
        }
        return sl_pipe_flush(s->pipe);
    default:
        break;
    }
    return rc;
}

/* ---- the stream ---- */

static sl_err_t stream(my_source_t *s, char *err, size_t errlen)
{
    for (;;) {
        if (sl_pipe_stopping(s->pipe))
            return SL_ERR_STOPPED;
        if (!s->in_tx) {
            sl_err_t rc = mysnap_tick(s, err, errlen);
            if (rc)
                return rc;
            if (mysnap_finished(s))
                return SL_OK;
        }
        if (!s->in_tx && stream_idle(s)) {
            /* nothing buffered on the socket: hand over what we have before waiting */
            sl_err_t rc = sl_pipe_flush(s->pipe);
            if (rc)
                return rc;
            publish_headroom(s);
        }
        MARIADB_RPL_EVENT *e = mariadb_rpl_fetch(s->rpl, s->rev);
        if (!e) {
            /* on failure the client has already freed the event it was given */
            s->rev = NULL;
            if (sl_pipe_stopping(s->pipe))
                return SL_ERR_STOPPED; /* my_interrupt shut the socket down */
            unsigned no = mysql_errno(s->repl);
            if (no == ER_MASTER_FATAL_READING_BINLOG && s->by_gtid)
                return sl_err_set(err, errlen, SL_ERR_SOURCE,
                                  "the bookmark's binlog file is purged and the server "
                                  "cannot resume from its GTID state %s either: %s; the "
                                  "changes since the bookmark cannot be read: take a new "
                                  "snapshot ('sluice offsets reset', then run)",
                                  s->gtid_start, mysql_error(s->repl));
            if (no == ER_MASTER_FATAL_READING_BINLOG)
                return sl_err_set(err, errlen, SL_ERR_SOURCE,
                                  "the server stopped sending the binlog at %s:%" PRIu64
                                  ": %s",
                                  s->file, s->offset, mysql_error(s->repl));
            if (no == 0 && mariadb_rpl_errno(s->rpl))
                return sl_err_set(err, errlen, SL_ERR_RETRY,
                                  "reading the binlog at %s:%" PRIu64 " failed: %s",
                                  s->file, s->offset, mariadb_rpl_error(s->rpl));
            if (no == 0)
                return sl_err_set(err, errlen, SL_ERR_RETRY,
                                  "the server ended the binlog stream at %s:%" PRIu64,
                                  s->file, s->offset);
            return mys_error(s->repl, err, errlen, "lost the replication connection");
        }
        s->rev = e;
        const uint8_t *raw = e->raw_data;
        size_t n = e->raw_data_size;
        /* the client keeps the packet's leading OK byte (0x00) in raw_data */
        if (n > SL_BINLOG_HEADER_LEN && raw[0] == 0) {
            uint32_t size = (uint32_t)raw[10] | (uint32_t)raw[11] << 8 |
                            (uint32_t)raw[12] << 16 | (uint32_t)raw[13] << 24;
            if (size == n - 1) {
                raw++;
                n--;
            }
        }
        sl_binlog_event_t ev;
        sl_err_t rc = sl_binlog_decode(s->dec, raw, n, &ev, err, errlen);
        if (rc)
            return rc;
        uint64_t start = 0, end = 0;
        if (ev.h.log_pos && !(ev.h.flags & SL_BINLOG_F_ARTIFICIAL) &&
            ev.h.log_pos >= ev.h.event_size) {
            end = ev.h.log_pos;
            start = end - ev.h.event_size;
        } else {
            start = end = s->offset;
        }
        /* a snapshot chunk placed at or before this event goes out first */
        if (!s->in_tx && ev.kind != SL_BINLOG_K_ROTATE && end > start &&
            (rc = mysnap_reached(s, start, err, errlen)))
            return rc;
        rc = on_event(s, &ev, start, end, err, errlen);
        if (rc)
            return rc;
        if (s->by_gtid && s->in_tx) {
            /* positions must keep growing across the jump, or the skip logic and the
             * output's file names would take new changes for old ones; the one
             * transaction that may come again is the one delivered in part (the GTID
             * state is the last commit's, and the skip drops its delivered rows) */
            if (s->has_skip && (s->tx_major < s->skip.major ||
                                (s->tx_major == s->skip.major &&
                                 s->skip.index == SL_POS_DONE)))
                return sl_err_set(
                    err, errlen, SL_ERR_SOURCE,
                    "after resuming from GTID state %s the server is at "
                    "%s:%" PRIu64 ", before the bookmark's position (another "
                    "server, or binlog files renumbered): take a new snapshot "
                    "('sluice offsets reset', then run)",
                    s->gtid_start, s->file, s->tx_start);
            s->by_gtid = 0;
        }
        /* forward only: the FORMAT_DESCRIPTION the server sends first comes from the
         * start of the file even when the session starts further in */
        if (ev.kind != SL_BINLOG_K_ROTATE && ev.h.log_pos &&
            !(ev.h.flags & SL_BINLOG_F_ARTIFICIAL) && ev.h.log_pos > s->offset)
            s->offset = ev.h.log_pos;
    }
}

/* Can the server still serve everything after GTID state `gtid`? Compares it with the
 * state at the start of the oldest binlog file (MariaDB), or asks whether every purged
 * transaction is in the set (MySQL: GTID_SUBSET of gtid_purged; start gets gtid_purged). */
static int gtid_servable(my_source_t *s, MYSQL *m, const char *oldest, const char *gtid,
                         char *start, size_t n)
{
    if (!s->is_maria) {
        char ignored[256], yes[8];
        sl_buf_t q = SL_BUF_INIT;
        sl_buf_puts(&q, "SELECT GTID_SUBSET(@@GLOBAL.gtid_purged, ");
        mys_quote(m, gtid, &q);
        sl_buf_puts(&q, ")");
        int ok = mys_value(m, q.data, yes, sizeof(yes), ignored, sizeof(ignored)) == SL_OK &&
                 strcmp(yes, "1") == 0;
        sl_buf_free(&q);
        if (mys_value(m, "SELECT @@GLOBAL.gtid_purged", start, n, ignored,
                      sizeof(ignored)) != SL_OK)
            start[0] = 0;
        return ok;
    }
    char q[600], ignored[256];
    sl_buf_t esc = SL_BUF_INIT;
    mys_quote(m, oldest, &esc);
    snprintf(q, sizeof(q), "SELECT BINLOG_GTID_POS(%s, 4)", esc.data);
    sl_buf_free(&esc);
    if (mys_value(m, q, start, n, ignored, sizeof(ignored)) != SL_OK)
        return 0;
    return !gtid_state_ahead(start, gtid);
}

/* Refuse a server that cannot give sluice what it needs (same sentences as check). */
/* source.include_query needs the server to log each row event's statement: MariaDB's
 * binlog_annotate_row_events, MySQL's binlog_rows_query_log_events. NULL when it does,
 * else the variable's name. */
static const char *query_logging_off(const my_vars_t *v)
{
    int maria = strcasestr(v->version, "mariadb") != NULL;
    const char *val = maria ? v->annotate : v->rows_query;
    if (strcasecmp(val, "ON") == 0 || strcmp(val, "1") == 0)
        return NULL;
    return maria ? "binlog_annotate_row_events" : "binlog_rows_query_log_events";
}

static sl_err_t verify_server(my_source_t *s, const my_vars_t *v, char *err,
                              size_t errlen)
{
    if (strcasecmp(v->log_bin, "ON") != 0 && strcmp(v->log_bin, "1") != 0)
        return sl_err_set(err, errlen, SL_ERR_SOURCE,
                          "the server has no binary log (log_bin is OFF); start it with "
                          "log_bin (log-bin=mysql-bin in my.cnf)");
    if (strcasecmp(v->binlog_format, "ROW") != 0)
        return sl_err_set(err, errlen, SL_ERR_SOURCE,
                          "binlog_format is %s; sluice needs ROW (SET GLOBAL "
                          "binlog_format=ROW and in my.cnf)",
                          v->binlog_format[0] ? v->binlog_format : "unknown");
    if (strcasestr(v->value_options, "PARTIAL_JSON"))
        return sl_err_set(
            err, errlen, SL_ERR_SOURCE,
            "binlog_row_value_options is PARTIAL_JSON; sluice cannot rebuild "
            "rows from partial JSON updates (SET GLOBAL "
            "binlog_row_value_options='' and in my.cnf)");
    if (v->row_image[0] && strcasecmp(v->row_image, "FULL") != 0)
        sl_warn(s->cfg->name,
                "binlog_row_image is %s: columns left out of a row image are written as "
                "\"__debezium_unavailable_value\" (SET GLOBAL binlog_row_image=FULL)",
                v->row_image);
    const char *off = s->cfg->source.include_query ? query_logging_off(v) : NULL;
    if (off)
        sl_warn(s->cfg->name,
                "source.include_query is on, but the server does not log statements (%s "
                "is OFF): source.query stays null (SET GLOBAL %s=ON and in my.cnf)",
                off, off);
    return SL_OK;
}

static sl_err_t start_position(my_source_t *s, char *file, size_t n, uint64_t *off,
                               sl_pos_t *from_out, char *err, size_t errlen)
{
    sl_pos_t d;
    const sl_pos_t *from = NULL;
    memset(from_out, 0, sizeof(*from_out));
    if (s->renew)
        from = s->have_origin ? &s->origin : NULL; /* when_needed: the bookmark is gone */
    else if (s->has_last && sl_pipe_durable(s->pipe, &d))
        from = &d;
    else if (sl_pipe_resume(s->pipe))
        from = sl_pipe_resume(s->pipe);
    else if (s->have_origin)
        from = &s->origin;
    if (from) {
        char base[BASE_LEN];
        pthread_mutex_lock(&s->mu);
        strcpy(base, s->base);
        pthread_mutex_unlock(&s->mu);
        if (!base[0]) {
            pthread_mutex_lock(&parsed_mu);
            strcpy(base, parsed_base);
            pthread_mutex_unlock(&parsed_mu);
        }
        format_file(file, n, base, (uint32_t)(from->major >> OFFSET_BITS));
        *off = pos_resume_offset(from);
        *from_out = *from;
        return SL_OK;
    }
    /* no bookmark: start at the server's current position, and store it at once so a
     * crash before the first change does not move the start */
    sl_err_t rc;
    /* MySQL 8.4 renamed it (SHOW BINARY LOG STATUS) and removed the old name */
    MYSQL_RES *r = mys_query(s->sql, "SHOW MASTER STATUS", &rc, err, errlen);
    if (!r && rc == SL_ERR_SOURCE)
        r = mys_query(s->sql, "SHOW BINARY LOG STATUS", &rc, err, errlen);
    if (!r)
        return rc ? rc : SL_ERR_SOURCE;
    MYSQL_ROW row = mysql_fetch_row(r);
    if (!row || !row[0] || !row[1]) {
        mysql_free_result(r);
        return sl_err_set(err, errlen, SL_ERR_SOURCE,
                          "SHOW MASTER STATUS is empty: the server writes no binary log "
                          "(start it with log_bin)");
    }
    snprintf(file, n, "%s", row[0]);
    *off = strtoull(row[1], NULL, 10);
    /* MySQL's fifth column, Executed_Gtid_Set: the GTID state at this position */
    sl_buf_reset(&s->origin_gtid);
    if (mysql_num_fields(r) >= 5 && row[4])
        sl_buf_puts(&s->origin_gtid, row[4]);
    mysql_free_result(r);
    char base[BASE_LEN];
    uint32_t seq;
    if (split_file(file, strlen(file), base, sizeof(base), &seq) || *off < 4)
        return sl_err_set(err, errlen, SL_ERR_SOURCE,
                          "the server's binlog position %s:%" PRIu64 " is not usable",
                          file, *off);
    s->origin = (sl_pos_t){
        .major = mys_pos_major(seq, *off - 2), .minor = *off, .index = SL_POS_DONE};
    s->have_origin = 1;
    pthread_mutex_lock(&s->mu);
    strcpy(s->base, base);
    pthread_mutex_unlock(&s->mu);
    return SL_OK;
}

/* MySQL: COM_BINLOG_DUMP_GTID, the stream of every transaction not in the set gtid
 * (MySQL's rpl_source.cc com_binlog_dump_gtid). The client library opens only
 * COM_BINLOG_DUMP, so the command goes out through the connection's own command call and
 * the stream is then read with mariadb_rpl_fetch as usual (which learns the checksum and
 * the header length from the FORMAT_DESCRIPTION the server sends first, as after its own
 * open). */
static sl_err_t dump_gtid(my_source_t *s, const char *gtid, uint32_t server_id, char *err,
                          size_t errlen)
{
    char why[256];
    sl_err_t rc = sl_gtid_set_parse(&s->mygtid, gtid, why, sizeof(why));
    if (rc)
        return sl_err_set(err, errlen, SL_ERR_CORRUPT, "the bookmark's GTID set: %s", why);
    sl_buf_t pkt = SL_BUF_INIT;
    sl_gtid_dump_payload(&s->mygtid, server_id, &pkt);
    int failed = s->repl->methods->db_command(s->repl,
                                               (enum enum_server_command)SL_COM_BINLOG_DUMP_GTID,
                                               pkt.data, pkt.len, 1, NULL);
    sl_buf_free(&pkt);
    if (failed)
        return mys_error(s->repl, err, errlen, "COM_BINLOG_DUMP_GTID failed");
    return SL_OK;
}

/* Start COM_BINLOG_DUMP at file:off, or (gtid not NULL) after the GTID state: MariaDB's
 * @slave_connect_state, MySQL's COM_BINLOG_DUMP_GTID. */
static sl_err_t open_stream(my_source_t *s, const char *file, uint64_t off,
                            const char *gtid, const my_vars_t *v, char *err,
                            size_t errlen)
{
    char sql[160];
    sl_err_t rc;
    int64_t hb = s->cfg->source.heartbeat_ms;
    /* the heartbeat also bounds how long a stop waits for the blocking read */
    if (hb <= 0 || hb > MAX_HEARTBEAT_MS)
        hb = MAX_HEARTBEAT_MS;
    if ((rc = mys_exec(s->repl, "SET @master_binlog_checksum = @@global.binlog_checksum",
                      err, errlen)) ||
        (rc = mys_exec(s->repl, "SET @mariadb_slave_capability = 4", err, errlen)))
        return rc;
    snprintf(sql, sizeof(sql), "SET @master_heartbeat_period = %" PRId64,
             hb * INT64_C(1000000));
    if ((rc = mys_exec(s->repl, sql, err, errlen)))
        return rc;
    if (gtid && s->is_maria) {
        /* MariaDB GTID mode: the server ignores the file name and position and starts
         * after this state (the protocol still wants position 4) */
        sl_buf_t q = SL_BUF_INIT;
        sl_buf_puts(&q, "SET @slave_connect_state = ");
        mys_quote(s->repl, gtid, &q);
        rc = mys_exec(s->repl, q.data, err, errlen);
        sl_buf_free(&q);
        if (rc)
            return rc;
        file = "";
        off = 4;
    }
    sl_binlog_decoder_set_checksum(s->dec, strcasecmp(v->checksum, "CRC32") == 0
                                               ? SL_BINLOG_CHECKSUM_CRC32
                                               : SL_BINLOG_CHECKSUM_NONE);
    sl_binlog_decoder_reset_tables(s->dec);
    s->ntabs = 0;
    s->rpl = mariadb_rpl_init(s->repl);
    if (!s->rpl)
        return sl_err_set(err, errlen, SL_ERR_NOMEM, "cannot set up binlog replication");
    unsigned int server_id = s->cfg->source.server_id;
    if (mariadb_rpl_optionsv(s->rpl, MARIADB_RPL_FILENAME, file, strlen(file)) ||
        mariadb_rpl_optionsv(s->rpl, MARIADB_RPL_START, (unsigned long)off) ||
        mariadb_rpl_optionsv(s->rpl, MARIADB_RPL_SERVER_ID, server_id) ||
        mariadb_rpl_optionsv(s->rpl, MARIADB_RPL_FLAGS,
                             s->cfg->source.include_query
                                 ? MARIADB_RPL_BINLOG_SEND_ANNOTATE_ROWS
                                 : 0))
        return sl_err_set(err, errlen, SL_ERR_SOURCE, "cannot set binlog options: %s",
                          mariadb_rpl_error(s->rpl));
    if (gtid && !s->is_maria) {
        if ((rc = dump_gtid(s, gtid, server_id, err, errlen)))
            return rc;
        file = "";
        off = 4;
    } else if (mariadb_rpl_open(s->rpl)) {
        if (mysql_errno(s->repl))
            return mys_error(s->repl, err, errlen, "COM_BINLOG_DUMP failed");
        return sl_err_set(err, errlen, SL_ERR_RETRY, "COM_BINLOG_DUMP failed: %s",
                          mariadb_rpl_error(s->rpl));
    }
    snprintf(s->file, sizeof(s->file), "%s", file);
    s->offset = off;
    s->in_tx = 0;
    if (gtid)
        sl_info(s->cfg->name, "streaming the binlog after GTID state %s as server_id %u",
                gtid, server_id);
    else
        sl_info(s->cfg->name, "streaming the binlog from %s:%" PRIu64 " as server_id %u",
                file, off, server_id);
    return SL_OK;
}

/* The server's own collation ids into the decoder: MariaDB numbers collations of its own
 * from 256 up (latin1_swedish_nopad_ci is 1032, the uca1400 ones 2048 and more), which no
 * built-in table can follow. MariaDB 10.10+ lists every id in
 * COLLATION_CHARACTER_SET_APPLICABILITY (COLLATIONS has NULL for some); others in
 * COLLATIONS. Best effort: without it, ids from 256 up are taken as UTF-8. */
static void load_collations(my_source_t *s)
{
    static const char *const q[] = {
        "SELECT ID, CHARACTER_SET_NAME FROM "
        "information_schema.COLLATION_CHARACTER_SET_APPLICABILITY WHERE ID IS NOT NULL",
        "SELECT ID, CHARACTER_SET_NAME FROM information_schema.COLLATIONS WHERE ID IS NOT "
        "NULL",
    };
    char err[256];
    sl_err_t rc;
    MYSQL_RES *r = NULL;
    for (size_t i = 0; i < 2 && !r; i++)
        r = mys_query(s->sql, q[i], &rc, err, sizeof(err));
    if (!r) {
        sl_debug(s->cfg->name, "the server's collation ids are unknown: %s", err);
        return;
    }
    MYSQL_ROW row;
    while ((row = mysql_fetch_row(r)))
        if (row[0] && row[1])
            sl_binlog_decoder_set_collation(s->dec, (uint32_t)strtoul(row[0], NULL, 10),
                                            sl_my_charset_by_name(row[1]));
    mysql_free_result(r);
}

static sl_err_t my_run(void *ctx, char *err, size_t errlen)
{
    my_source_t *s = ctx;
    sl_err_t rc;
    my_vars_t v;
    char file[BASE_LEN + 16];
    uint64_t off = 0;
    s->sql = mys_connect(s, err, errlen, &rc);
    if (!s->sql)
        return rc;
    if ((rc = my_vars(s->sql, &v, err, errlen)) ||
        (rc = verify_server(s, &v, err, errlen)))
        goto out;
    load_collations(s);
    int first = !s->has_last && !sl_pipe_resume(s->pipe) && !s->have_origin;
    sl_pos_t from;
    char gtid[GTID_TEXT];
    int by_gtid = 0;
    if ((rc = start_position(s, file, sizeof(file), &off, &from, err, errlen)))
        goto out;
    int present;
    char oldest[256];
    if ((rc =
             binlog_present(s->sql, file, &present, oldest, sizeof(oldest), err, errlen)))
        goto out;
    char oldest_state[512] = "";
    s->is_maria = strcasestr(v.version, "MariaDB") != NULL;
    s->mysql_gtids = !s->is_maria && strcasecmp(v.gtid_mode, "ON") == 0;
    int have_gtid = !present && (s->is_maria || s->mysql_gtids) &&
                    from.index == SL_POS_DONE && gtid_for(s, &from, gtid);
    int renew = !present && s->cfg->source.snapshot == SL_SNAP_WHEN_NEEDED && !s->has_last;
    if (have_gtid &&
        !gtid_servable(s, s->sql, oldest, gtid, oldest_state, sizeof(oldest_state)))
        have_gtid = renew ? 0 : -1; /* the changes after the bookmark are purged */
    if (have_gtid < 0 && !s->is_maria) {
        rc = sl_err_set(err, errlen, SL_ERR_SOURCE,
                        "binlog file %s (the bookmark's position %s:%" PRIu64
                        ") is no longer on the server, and the server has purged "
                        "transactions (gtid_purged %s) that are not in the bookmark's GTID "
                        "set %s: they cannot be read; take a new snapshot ('sluice offsets "
                        "reset', then run)",
                        file, file, off, oldest_state[0] ? oldest_state : "unknown", gtid);
        goto out;
    }
    if (have_gtid < 0) {
        rc = sl_err_set(err, errlen, SL_ERR_SOURCE,
                        "binlog file %s (the bookmark's position %s:%" PRIu64
                        ") is no longer on the server, and the oldest file %s starts at "
                        "GTID state %s, past the bookmark's %s: the changes in between "
                        "were purged and cannot be read; take a new snapshot ('sluice "
                        "offsets reset', then run)",
                        file, file, off, oldest,
                        oldest_state[0] ? oldest_state : "unknown", gtid);
        goto out;
    }
    if (have_gtid) {
        /* the file is gone, but a finished position with a GTID state can be served
         * from a later file when nothing after the position was in the purged ones */
        sl_warn(
            s->cfg->name,
            "binlog file %s of the bookmark is no longer on the server (the oldest is "
            "%s); resuming from the bookmark's GTID state %s",
            file, oldest[0] ? oldest : "none", gtid);
        by_gtid = 1;
    } else if (renew) {
        /* the changes since the bookmark are gone: copy the tables again and stream from
         * where the server is */
        sl_warn(s->cfg->name,
                "binlog file %s (the bookmark's position %s:%" PRIu64 ") is no longer on the "
                "server (the oldest is %s); snapshot: when_needed takes a new snapshot from "
                "the server's current position",
                file, file, off, oldest[0] ? oldest : "none");
        s->renew = 1;
        s->have_origin = 0;
        if ((rc = start_position(s, file, sizeof(file), &off, &from, err, errlen)))
            goto out;
        first = 1;
    } else if (!present) {
        rc = sl_err_set(err, errlen, SL_ERR_SOURCE,
                        "binlog file %s (the bookmark's position %s:%" PRIu64
                        ") is no longer "
                        "on the server (purged; the oldest is %s): the changes since the "
                        "bookmark cannot be read; take a new snapshot ('sluice offsets "
                        "reset', then run) or restore the file",
                        file, file, off, oldest[0] ? oldest : "none");
        goto out;
    }
    if (!s->is_maria) {
        /* MySQL's executed set at the start: the bookmark's (by_gtid: the one resumed
         * from), the server's at a first start, else unknown until the next binlog file's
         * PREVIOUS_GTIDS */
        char ignored[256];
        if (!s->mysql_gtids)
            s->gtid_known = 0; /* gtid_mode is not ON: transactions may have none */
        else if (by_gtid || (!first && gtid_for(s, &from, gtid)))
            s->gtid_known =
                sl_gtid_set_parse(&s->mygtid, gtid, ignored, sizeof(ignored)) == SL_OK;
        else if (first && s->origin_gtid.data)
            s->gtid_known = sl_gtid_set_parse(&s->mygtid, s->origin_gtid.data, ignored,
                                              sizeof(ignored)) == SL_OK;
        else
            s->gtid_known = 0;
    } else if (by_gtid) {
        s->gtid_known = gtid_state_parse(s, gtid) == 0;
    } else {
        /* the GTID state at the start position, kept per commit for the bookmark */
        char q[BASE_LEN + 80], state[1024];
        sl_buf_t esc = SL_BUF_INIT;
        mys_quote(s->sql, file, &esc);
        snprintf(q, sizeof(q), "SELECT BINLOG_GTID_POS(%s, %" PRIu64 ")", esc.data, off);
        sl_buf_free(&esc);
        char ignored[256];
        if (mys_value(s->sql, q, state, sizeof(state), ignored, sizeof(ignored)) ==
                SL_OK &&
            gtid_state_parse(s, state) == 0)
            s->gtid_known = 1;
        else
            s->gtid_known = 0;
    }
    if (s->has_last) {
        /* a session after a dropped connection: skip what is already in the pipeline */
        s->skip = s->last;
        s->has_skip = 1;
    }
    s->repl = mys_connect(s, err, errlen, &rc);
    if (!s->repl)
        goto out;
    pthread_mutex_lock(&s->mu);
    s->repl_fd = (int)mysql_get_socket(s->repl);
    pthread_mutex_unlock(&s->mu);
    if ((rc = open_stream(s, file, off, by_gtid ? gtid : NULL, &v, err, errlen)))
        goto out;
    s->by_gtid = by_gtid;
    if (by_gtid)
        snprintf(s->gtid_start, sizeof(s->gtid_start), "%s", gtid);
    if ((rc = mysnap_prepare(s, first, err, errlen)))
        goto out;
    if (first) {
        progress(s, s->origin.major, s->origin.minor);
        if (s->plan.n) {
            /* the plan is stored with the first bookmark, so a crash continues it */
            sl_snap_checkpoint(s->pipe, &s->origin, &s->plan, &s->snapdoc);
        }
        sl_pipe_flush(s->pipe);
    }
    rc = stream(s, err, errlen);
    if (rc == SL_ERR_STOPPED && s->sql) {
        /* The server notices the closed replication socket only when it next writes to
         * it (a heartbeat later); until then the same server_id coming back, as after a
         * quick restart, is refused (error 4052). End its dump thread now; a user may
         * always kill its own connections. Only when the id is that dump thread on this
         * server: behind a proxy the two connections may reach different servers. */
        char q[160], cmd[64], ignored[128];
        unsigned long id = mysql_thread_id(s->repl);
        snprintf(q, sizeof(q),
                 "SELECT COMMAND FROM information_schema.PROCESSLIST WHERE ID = %lu", id);
        if (mys_value(s->sql, q, cmd, sizeof(cmd), ignored, sizeof(ignored)) == SL_OK &&
            strncmp(cmd, "Binlog Dump", 11) == 0) {
            snprintf(q, sizeof(q), "KILL CONNECTION %lu", id);
            if (mys_exec(s->sql, q, ignored, sizeof(ignored)) == SL_OK)
                sl_debug(s->cfg->name, "ended the server's dump thread %lu", id);
        }
    }
    if (rc == SL_ERR_STOPPED)
        sl_pipe_drain(s->pipe);
    if (rc == SL_OK) { /* snapshot: only, done */
        rc = sl_pipe_drain(s->pipe);
        if (!rc)
            sl_info(s->cfg->name, "snapshot: only: done");
    }
out:
    my_disconnect(s);
    return rc;
}

static void my_destroy(void *ctx)
{
    my_source_t *s = ctx;
    if (!s)
        return;
    my_disconnect(s);
    mysnap_free(s);
    sl_buf_free(&s->tmp);
    sl_binlog_decoder_free(s->dec);
    sl_arena_free(&s->arena);
    sl_buf_free(&s->extra);
    sl_buf_free(&s->rowsrc);
    sl_buf_free(&s->query_json);
    sl_buf_free(&s->txid);
    sl_buf_free(&s->gtid);
    sl_gtid_set_free(&s->mygtid);
    sl_buf_free(&s->gtid_text);
    sl_buf_free(&s->origin_gtid);
    forget_tables(s);
    free(s->tabs);
    free(s->names);
    free(s->ring);
    pthread_mutex_destroy(&s->mu);
    free(s);
}

/* Stop: shut the replication socket down, so a read that is waiting for the next event
 * (up to a heartbeat on a quiet server) returns at once; run then sees the stop flag. */
static void my_interrupt(void *ctx)
{
    my_source_t *s = ctx;
    pthread_mutex_lock(&s->mu);
    if (s->repl_fd >= 0)
        shutdown(s->repl_fd, SHUT_RDWR);
    pthread_mutex_unlock(&s->mu);
}

static sl_err_t my_create(const sl_connector_config_t *cfg, sl_source_env_t *env,
                          void **ctx, char *err, size_t errlen)
{
    my_source_t *s = calloc(1, sizeof(*s));
    if (!s)
        return sl_err_set(err, errlen, SL_ERR_NOMEM, "out of memory");
    s->cfg = cfg;
    s->pipe = env;
    pthread_mutex_init(&s->mu, NULL);
    s->repl_fd = -1;
    s->dec = sl_binlog_decoder_new();
    s->ring = calloc(RING_SIZE, sizeof(*s->ring));
    if (!s->ring) {
        my_destroy(s);
        return sl_err_set(err, errlen, SL_ERR_NOMEM, "out of memory");
    }
    const sl_pos_t *resume = sl_pipe_resume(env);
    if (resume) {
        s->skip = *resume;
        s->has_skip = 1;
        pthread_mutex_lock(&parsed_mu);
        strcpy(s->base, parsed_base);
        pthread_mutex_unlock(&parsed_mu);
    }
    *ctx = s;
    return SL_OK;
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

static sl_err_t my_check(void *ctx, sl_buf_t *out, char *err, size_t errlen)
{
    my_source_t *s = ctx;
    const sl_source_config_t *c = &s->cfg->source;
    sl_err_t rc;
    int failed = 0;
    my_vars_t v;
    s->sql = mys_connect(s, err, errlen, &rc);
    if (!s->sql)
        return rc ? rc : SL_ERR_SOURCE;
    if ((rc = my_vars(s->sql, &v, err, errlen))) {
        my_disconnect(s);
        return rc;
    }
    int maria = strcasestr(v.version, "MariaDB") != NULL;
    s->is_maria = maria;
    report(out, 1, "connected to %s %s at %s:%d as %s", maria ? "MariaDB" : "MySQL",
           v.version, c->host, c->port, c->user);

    int ok = strcasecmp(v.log_bin, "ON") == 0 || strcmp(v.log_bin, "1") == 0;
    failed |= !ok;
    report(out, ok, "log_bin=%s%s", v.log_bin[0] ? v.log_bin : "OFF",
           ok ? "" : " (start the server with log_bin: log-bin=mysql-bin in my.cnf)");
    ok = strcasecmp(v.binlog_format, "ROW") == 0;
    failed |= !ok;
    report(out, ok, "binlog_format=%s%s", v.binlog_format,
           ok ? "" : "; sluice needs ROW (SET GLOBAL binlog_format=ROW and in my.cnf)");
    ok = strcasecmp(v.row_image, "FULL") == 0;
    failed |= !ok;
    report(out, ok, "binlog_row_image=%s%s", v.row_image,
           ok ? ""
              : " (SET GLOBAL binlog_row_image=FULL and in my.cnf: other images leave "
                "columns out of updates and deletes)");
    if (strcasecmp(v.row_metadata, "FULL") == 0)
        report(out, 1, "binlog_row_metadata=FULL");
    else
        report(out, 1,
               "binlog_row_metadata=%s: column names and keys, ENUM/SET members%s are read "
               "from information_schema instead (as of now, not as of the event); SET "
               "GLOBAL binlog_row_metadata=FULL to have them in the binlog",
               v.row_metadata[0] ? v.row_metadata : "(not supported by this server)",
               strcasecmp(v.row_metadata, "MINIMAL") == 0
                   ? ""
                   : ", signedness and character sets");
    const char *qoff = c->include_query ? query_logging_off(&v) : NULL;
    if (c->include_query) {
        failed |= qoff != NULL;
        if (qoff)
            report(out, 0,
                   "%s=OFF: source.include_query gets no statements to put in "
                   "source.query (SET GLOBAL %s=ON and in my.cnf)",
                   qoff, qoff);
        else
            report(out, 1, "statements logged for source.include_query");
    }
    if (!maria) {
        ok = !strcasestr(v.value_options, "PARTIAL_JSON");
        failed |= !ok;
        report(out, ok, "binlog_row_value_options=%s%s",
               v.value_options[0] ? v.value_options : "''",
               ok ? ""
                  : " (sluice cannot rebuild partial JSON updates: SET GLOBAL "
                    "binlog_row_value_options='' and in my.cnf)");
    }

    /* server_id must be unique among the replicas (and differ from the server's own) */
    MYSQL_RES *r = mys_query(s->sql, "SHOW SLAVE HOSTS", &rc, err, errlen);
    if (!r && rc == SL_ERR_SOURCE) /* MySQL 8.4's name */
        r = mys_query(s->sql, "SHOW REPLICAS", &rc, err, errlen);
    int clash = strtoul(v.server_id, NULL, 10) == c->server_id;
    char clash_host[128] = "";
    if (r) {
        MYSQL_ROW row;
        while ((row = mysql_fetch_row(r)))
            if (row[0] && strtoul(row[0], NULL, 10) == c->server_id) {
                clash = 1;
                snprintf(clash_host, sizeof(clash_host), "%s:%s", row[1] ? row[1] : "?",
                         row[2] ? row[2] : "?");
            }
        mysql_free_result(r);
    }
    failed |= clash;
    if (!r && !clash)
        report(out, 1,
               "server_id %" PRIu32 " differs from the server's; the replicas cannot be "
               "listed (SHOW SLAVE HOSTS needs REPLICATION MASTER ADMIN): make sure none "
               "uses it",
               c->server_id);
    else
        report(out, !clash, "server_id %" PRIu32 " %s%s%s", c->server_id,
               clash ? "is already used by "
                     : "is unique among the server and its replicas",
               clash ? (clash_host[0] ? clash_host : "the server itself") : "",
               clash ? " (set source.server_id to an unused number)" : "");

    /* grants */
    r = mys_query(s->sql, "SHOW GRANTS", &rc, err, errlen);
    int all = 0, slave = 0, client = 0, sel = 0;
    if (r) {
        MYSQL_ROW row;
        while ((row = mysql_fetch_row(r))) {
            const char *g = row[0] ? row[0] : "";
            const char *on = strcasestr(g, " ON ");
            size_t head = on ? (size_t)(on - g) : strlen(g);
            char privs[1024];
            snprintf(privs, sizeof(privs), "%.*s", (int)head, g);
            int global = on && strncmp(on + 4, "*.*", 3) == 0;
            if (strcasestr(privs, "ALL PRIVILEGES") && global)
                all = 1;
            if (strcasestr(privs, "REPLICATION SLAVE") && global)
                slave = 1;
            /* MariaDB 10.5 renamed REPLICATION CLIENT to BINLOG MONITOR */
            if ((strcasestr(privs, "REPLICATION CLIENT") ||
                 strcasestr(privs, "BINLOG MONITOR") || strcasestr(privs, "SUPER")) &&
                global)
                client = 1;
            if (strcasestr(privs, "SELECT"))
                sel = 1;
        }
        mysql_free_result(r);
    }
    report(out, all || slave, "grant REPLICATION SLAVE%s",
           all || slave ? ""
                        : " is missing (GRANT REPLICATION SLAVE ON *.* TO the user)");
    report(out, all || client, "grant REPLICATION CLIENT%s",
           all || client ? ""
                         : " is missing (GRANT REPLICATION CLIENT ON *.* TO the user)");
    report(out, all || sel, "grant SELECT%s",
           all || sel ? ""
                      : " is missing (GRANT SELECT ON the captured databases TO the "
                        "user; it reads information_schema)");
    failed |= !(all || slave) || !(all || client) || !(all || sel);

    /* snapshots: what they need and what is left */
    const sl_pos_t *resume = sl_pipe_resume(s->pipe);
    const char *snapdoc = sl_pipe_resume_snapshot(s->pipe);
    if (c->snapshot != SL_SNAP_NEVER && (!resume || snapdoc)) {
        int reload = all;
        r = mys_query(s->sql, "SHOW GRANTS", &rc, err, errlen);
        for (MYSQL_ROW row; r && (row = mysql_fetch_row(r));)
            reload |= row[0] && (strcasestr(row[0], "RELOAD") != NULL);
        mysql_free_result(r);
        ok = maria || reload;
        failed |= !ok;
        report(out, ok, "snapshot: %s%s",
               snapdoc ? "one is in progress and continues after its last durable chunk"
                       : "every table is copied, chunk by chunk, while the binlog streams",
               maria ? " (each chunk in a consistent snapshot, no lock)"
               : reload ? " (each chunk takes FLUSH TABLES WITH READ LOCK for a moment)"
                        : "; MySQL needs RELOAD for it (GRANT RELOAD ON *.* TO the user) or "
                          "set snapshot: never");
        r = mys_query(s->sql,
                      "SELECT CONCAT(t.TABLE_SCHEMA, '.', t.TABLE_NAME) FROM "
                      "information_schema.TABLES t WHERE t.TABLE_TYPE = 'BASE TABLE' AND "
                      "t.TABLE_SCHEMA NOT IN ('mysql', 'information_schema', "
                      "'performance_schema', 'sys') AND NOT EXISTS (SELECT 1 FROM "
                      "information_schema.STATISTICS k WHERE k.TABLE_SCHEMA = t.TABLE_SCHEMA "
                      "AND k.TABLE_NAME = t.TABLE_NAME AND k.INDEX_NAME = 'PRIMARY') ORDER BY 1",
                      &rc, err, errlen);
        for (MYSQL_ROW row; r && (row = mysql_fetch_row(r));)
            if (row[0] && sl_config_table_wanted(c, row[0]))
                report(out, 1, "table %s has no primary key: its rows carry a null key, and "
                               "after a crash during its snapshot some may repeat (add a "
                               "primary key for exact results)",
                       row[0]);
        mysql_free_result(r);
    }

    if (resume) {
        char base[BASE_LEN], file[BASE_LEN + 16], oldest[256];
        int present = 0;
        pthread_mutex_lock(&parsed_mu);
        strcpy(base, parsed_base);
        pthread_mutex_unlock(&parsed_mu);
        format_file(file, sizeof(file), base, (uint32_t)(resume->major >> OFFSET_BITS));
        char gtid[GTID_TEXT], start[512] = "";
        if (binlog_present(s->sql, file, &present, oldest, sizeof(oldest), err, errlen) !=
            SL_OK) {
            failed = 1;
            report(out, 0, "cannot list the binary logs (SHOW BINARY LOGS): %s", err);
        } else if (present) {
            report(out, 1, "bookmark %s:%" PRIu64 " is still on the server", file,
                   pos_resume_offset(resume));
        } else if ((maria || strcasecmp(v.gtid_mode, "ON") == 0) &&
                   resume->index == SL_POS_DONE && gtid_for(s, resume, gtid) &&
                   gtid_servable(s, s->sql, oldest, gtid, start, sizeof(start))) {
            report(out, 1,
                   "bookmark %s:%" PRIu64 ": the file was purged, but nothing after the "
                   "bookmark's GTID state %s was (%s %s%s%s); run resumes from the GTID "
                   "state",
                   file, pos_resume_offset(resume), gtid,
                   maria ? "the oldest file" : "gtid_purged is", maria ? oldest : start,
                   maria ? " starts at " : "", maria ? start : "");
        } else {
            failed = 1;
            report(out, 0,
                   "bookmark %s:%" PRIu64
                   " is gone: the binlog file was purged (oldest is "
                   "%s) with changes after the bookmark; take a new snapshot ('sluice "
                   "offsets reset')",
                   file, pos_resume_offset(resume), oldest[0] ? oldest : "none");
        }
    }
    my_disconnect(s);
    if (failed)
        return sl_err_set(err, errlen, SL_ERR_SOURCE, "some checks failed");
    return SL_OK;
}

const sl_source_ops_t sl_source_mysql = {
    .name = "mysql",
    .connector = "mysql",
    .create = my_create,
    .check = my_check,
    .run = my_run,
    .interrupt = my_interrupt,
    .destroy = my_destroy,
    .bookmark_render = my_bookmark_render,
    .bookmark_parse = my_bookmark_parse,
};
