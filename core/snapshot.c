/* sluice: snapshot plans and their bookmark form, key text, row positions, chunk buffers
 * with the key index the watermark method needs, and progress reporting. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <jansson.h>
#include "core/hash.h"
#include "core/log.h"
#include "core/pipeline.h"
#include "core/snapshot.h"

#define PROGRESS_LOG_MS 10000
#define PROGRESS_TTY_MS 1000

static char *xstrdup(const char *s)
{
    if (!s)
        return NULL;
    char *d = strdup(s);
    if (!d)
        abort();
    return d;
}

/* ---- plans ---- */

void sl_snap_plan_init(sl_snap_plan_t *p)
{
    memset(p, 0, sizeof(*p));
}

static void unit_free(sl_snap_unit_t *u)
{
    free(u->table);
    free(u->where);
    free(u->lo);
    free(u->hi);
    free(u->last_key);
}

void sl_snap_plan_free(sl_snap_plan_t *p)
{
    for (size_t i = 0; i < p->n; i++)
        unit_free(&p->units[i]);
    free(p->units);
    free(p->at);
    sl_snap_plan_init(p);
}

sl_snap_unit_t *sl_snap_plan_add(sl_snap_plan_t *p, const char *table, const char *where,
                                 const char *lo, const char *hi)
{
    if (p->n == p->cap) {
        size_t cap = p->cap ? p->cap * 2 : 16;
        sl_snap_unit_t *v = realloc(p->units, cap * sizeof(*v));
        if (!v)
            abort();
        p->units = v;
        p->cap = cap;
    }
    sl_snap_unit_t *u = &p->units[p->n++];
    memset(u, 0, sizeof(*u));
    u->table = xstrdup(table);
    u->where = xstrdup(where);
    u->lo = xstrdup(lo);
    u->hi = xstrdup(hi);
    return u;
}

int sl_snap_plan_has_table(const sl_snap_plan_t *p, const char *table)
{
    for (size_t i = 0; i < p->n; i++)
        if (!p->units[i].done && strcmp(p->units[i].table, table) == 0)
            return 1;
    return 0;
}

size_t sl_snap_plan_remaining(const sl_snap_plan_t *p)
{
    size_t n = 0;
    for (size_t i = 0; i < p->n; i++)
        n += !p->units[i].done;
    return n;
}

static void put_opt_str(sl_buf_t *out, const char *name, const char *v)
{
    if (!v)
        return;
    sl_buf_printf(out, ",\"%s\":", name);
    sl_buf_put_json_str(out, v, strlen(v));
}

void sl_snap_plan_to_json(const sl_snap_plan_t *p, sl_buf_t *out)
{
    sl_buf_puts(out, "{\"phase\":");
    sl_buf_puts(out, p->phase == SL_SNAP_PHASE_INITIAL ? "\"initial\"" : "\"incremental\"");
    put_opt_str(out, "at", p->at);
    sl_buf_printf(out, ",\"started_ms\":%" PRId64 ",\"rows\":%" PRIu64
                       ",\"estimate\":%" PRIu64 ",\"tables\":[",
                  p->started_ms, p->rows, p->estimate);
    for (size_t i = 0; i < p->n; i++) {
        const sl_snap_unit_t *u = &p->units[i];
        if (i)
            sl_buf_putc(out, ',');
        sl_buf_puts(out, "{\"table\":");
        sl_buf_put_json_str(out, u->table, strlen(u->table));
        put_opt_str(out, "where", u->where);
        put_opt_str(out, "lo", u->lo);
        put_opt_str(out, "hi", u->hi);
        if (u->last_key) {
            sl_buf_puts(out, ",\"last_key\":");
            sl_buf_puts(out, u->last_key);
        }
        sl_buf_printf(out, ",\"rows\":%" PRIu64 ",\"done\":%s}", u->rows,
                      u->done ? "true" : "false");
    }
    sl_buf_puts(out, "]}");
}

static int opt_string(json_t *o, const char *name, char **out)
{
    json_t *v = json_object_get(o, name);
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_string(v))
        return -1;
    *out = xstrdup(json_string_value(v));
    return 0;
}

static int count(json_t *o, const char *name, uint64_t *out)
{
    json_t *v = json_object_get(o, name);
    if (!v)
        return 0;
    if (!json_is_integer(v) || json_integer_value(v) < 0)
        return -1;
    *out = (uint64_t)json_integer_value(v);
    return 0;
}

/* A key array: each element a string or {"hex": "..."}. */
static int valid_key(json_t *k)
{
    if (!json_is_array(k) || json_array_size(k) == 0)
        return 0;
    for (size_t i = 0; i < json_array_size(k); i++) {
        json_t *e = json_array_get(k, i);
        if (json_is_string(e))
            continue;
        json_t *h = json_object_get(e, "hex");
        if (!json_is_object(e) || !json_is_string(h) || json_string_length(h) % 2)
            return 0;
    }
    return 1;
}

sl_err_t sl_snap_plan_parse(const char *json, size_t len, sl_snap_plan_t *p, char *err,
                            size_t errlen)
{
    json_error_t jerr;
    json_t *root = json_loadb(json, len, 0, &jerr);
    const char *why = NULL;
    uint64_t started = 0;
    if (!json_is_object(root)) {
        why = "not a JSON object";
        goto bad;
    }
    const char *phase = json_string_value(json_object_get(root, "phase"));
    if (!phase || (strcmp(phase, "initial") && strcmp(phase, "incremental"))) {
        why = "\"phase\" must be \"initial\" or \"incremental\"";
        goto bad;
    }
    p->phase = strcmp(phase, "initial") == 0 ? SL_SNAP_PHASE_INITIAL
                                             : SL_SNAP_PHASE_INCREMENTAL;
    json_t *tables = json_object_get(root, "tables");
    if (opt_string(root, "at", &p->at) || count(root, "started_ms", &started) ||
        count(root, "rows", &p->rows) || count(root, "estimate", &p->estimate) ||
        !json_is_array(tables)) {
        why = "\"at\", \"started_ms\", \"rows\", \"estimate\" or \"tables\" has the wrong "
              "type";
        goto bad;
    }
    p->started_ms = (int64_t)started;
    for (size_t i = 0; i < json_array_size(tables); i++) {
        json_t *t = json_array_get(tables, i);
        const char *name = json_string_value(json_object_get(t, "table"));
        json_t *done = json_object_get(t, "done");
        json_t *key = json_object_get(t, "last_key");
        if (!json_is_object(t) || !name || (done && !json_is_boolean(done)) ||
            (key && !json_is_null(key) && !valid_key(key))) {
            why = "a \"tables\" entry needs \"table\", a boolean \"done\" and a key array "
                  "\"last_key\"";
            goto bad;
        }
        sl_snap_unit_t *u = sl_snap_plan_add(p, name, NULL, NULL, NULL);
        u->done = json_is_true(done);
        if (opt_string(t, "where", &u->where) || opt_string(t, "lo", &u->lo) ||
            opt_string(t, "hi", &u->hi) || count(t, "rows", &u->rows)) {
            why = "\"where\", \"lo\", \"hi\" or \"rows\" of a table has the wrong type";
            goto bad;
        }
        if (key && !json_is_null(key)) {
            u->last_key = json_dumps(key, JSON_COMPACT);
            if (!u->last_key)
                abort();
        }
    }
    json_decref(root);
    return SL_OK;
bad:
    json_decref(root);
    sl_snap_plan_free(p);
    return sl_err_set(err, errlen, SL_ERR_CORRUPT,
                      "the bookmark's snapshot progress is corrupt (%s); repair it, or "
                      "remove the bookmark with 'sluice offsets reset' to start over",
                      why ? why : jerr.text);
}

/* ---- key text ---- */

static int plain_utf8(const unsigned char *s, size_t n)
{
    for (size_t i = 0; i < n;) {
        unsigned c = s[i];
        size_t k = c < 0x80 ? 0 : (c & 0xE0) == 0xC0 ? 1 : (c & 0xF0) == 0xE0 ? 2
                                 : (c & 0xF8) == 0xF0 ? 3 : 9;
        if (c == 0 || k == 9 || (k == 1 && c < 0xC2) || i + k >= n)
            return 0;
        for (size_t j = 1; j <= k; j++)
            if ((s[i + j] & 0xC0) != 0x80)
                return 0;
        if (k == 2 && ((c == 0xE0 && s[i + 1] < 0xA0) || (c == 0xED && s[i + 1] >= 0xA0)))
            return 0; /* overlong, surrogate */
        if (k == 3 && ((c == 0xF0 && s[i + 1] < 0x90) || c > 0xF4 ||
                       (c == 0xF4 && s[i + 1] >= 0x90)))
            return 0;
        i += k + 1;
    }
    return 1;
}

void sl_snap_key_put(sl_buf_t *out, const char *raw, size_t len)
{
    if (plain_utf8((const unsigned char *)raw, len)) {
        sl_buf_put_json_str(out, raw, len);
        return;
    }
    static const char hex[] = "0123456789abcdef";
    sl_buf_puts(out, "{\"hex\":\"");
    for (size_t i = 0; i < len; i++) {
        sl_buf_putc(out, hex[(unsigned char)raw[i] >> 4]);
        sl_buf_putc(out, hex[(unsigned char)raw[i] & 15]);
    }
    sl_buf_puts(out, "\"}");
}

static int hexval(char c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
                                          : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

int sl_snap_key_get(const char *json, size_t i, sl_buf_t *out)
{
    json_t *k = json_loads(json, 0, NULL);
    int rc = -1;
    sl_buf_reset(out);
    if (!valid_key(k) || i >= json_array_size(k))
        goto out;
    json_t *e = json_array_get(k, i);
    if (json_is_string(e)) {
        sl_buf_append(out, json_string_value(e), json_string_length(e));
    } else {
        const char *h = json_string_value(json_object_get(e, "hex"));
        for (size_t j = 0; h[j]; j += 2) {
            int a = hexval(h[j]), b = hexval(h[j + 1]);
            if (a < 0 || b < 0)
                goto out;
            sl_buf_putc(out, (char)(a << 4 | b));
        }
    }
    rc = 0;
out:
    json_decref(k);
    if (!out->data)
        sl_buf_puts(out, "");
    return rc;
}

/* ---- positions ---- */

int sl_snap_row_pos(uint64_t base, uint32_t span, uint64_t n, uint64_t resume_at,
                    sl_pos_t *out)
{
    if (n == 0)
        return -1;
    uint64_t k = (n - 1) / SL_SNAP_INDEX_MAX;
    if (k >= span)
        return -1;
    out->major = base + 1 + k;
    out->index = (uint32_t)((n - 1) % SL_SNAP_INDEX_MAX) + 1;
    out->minor = resume_at;
    out->flags = SL_POS_F_SNAPSHOT;
    return 0;
}

/* ---- chunks ---- */

sl_snap_chunk_t *sl_snap_chunk_new(size_t unit, const sl_table_t *table)
{
    sl_snap_chunk_t *c = calloc(1, sizeof(*c));
    if (!c)
        abort();
    c->unit = unit;
    c->table = table;
    c->ncols = table ? table->ncols : 0;
    return c;
}

void sl_snap_chunk_free(sl_snap_chunk_t *c)
{
    if (!c)
        return;
    free(c->vals);
    sl_arena_free(&c->arena);
    sl_buf_free(&c->last_key);
    free(c);
}

sl_value_t *sl_snap_chunk_row(sl_snap_chunk_t *c)
{
    if (c->nrows == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 256;
        sl_value_t *v = realloc(c->vals, cap * (c->ncols ? c->ncols : 1) * sizeof(*v));
        if (!v)
            abort();
        c->vals = v;
        c->cap = cap;
    }
    sl_value_t *row = c->vals + c->nrows * c->ncols;
    memset(row, 0, c->ncols * sizeof(*row));
    c->nrows++;
    return row;
}

/* ---- key sets ---- */

static size_t key_slot(const sl_snap_keyset_t *k, const char *key, size_t n)
{
    return (size_t)sl_fnv64(SL_FNV64_INIT, key, n) & (k->nslots - 1);
}

int sl_snap_keyset_has(const sl_snap_keyset_t *k, const char *key, size_t n)
{
    if (!k->n)
        return 0;
    for (size_t h = key_slot(k, key, n); k->slots[h]; h = (h + 1) & (k->nslots - 1)) {
        size_t e = k->slots[h] - 1;
        if (k->len[e] == n && memcmp(k->keys.data + k->off[e], key, n) == 0)
            return 1;
    }
    return 0;
}

void sl_snap_keyset_add(sl_snap_keyset_t *k, const char *key, size_t n)
{
    if (sl_snap_keyset_has(k, key, n))
        return;
    if (k->n == k->cap) {
        size_t cap = k->cap ? k->cap * 2 : 64;
        size_t *o = realloc(k->off, cap * sizeof(*o)), *l = realloc(k->len, cap * sizeof(*l));
        if (!o || !l)
            abort();
        k->off = o;
        k->len = l;
        k->cap = cap;
    }
    if ((k->n + 1) * 2 > k->nslots) {
        size_t ns = k->nslots ? k->nslots * 2 : 128;
        free(k->slots);
        k->slots = calloc(ns, sizeof(uint32_t));
        if (!k->slots)
            abort();
        k->nslots = ns;
        for (size_t e = 0; e < k->n; e++) {
            size_t h = key_slot(k, k->keys.data + k->off[e], k->len[e]);
            while (k->slots[h])
                h = (h + 1) & (ns - 1);
            k->slots[h] = (uint32_t)e + 1;
        }
    }
    k->off[k->n] = k->keys.len;
    k->len[k->n] = n;
    sl_buf_append(&k->keys, key, n);
    size_t h = key_slot(k, key, n);
    while (k->slots[h])
        h = (h + 1) & (k->nslots - 1);
    k->slots[h] = (uint32_t)k->n + 1;
    k->n++;
}

void sl_snap_keyset_clear(sl_snap_keyset_t *k)
{
    if (k->slots)
        memset(k->slots, 0, k->nslots * sizeof(uint32_t));
    sl_buf_reset(&k->keys);
    k->n = 0;
}

void sl_snap_keyset_free(sl_snap_keyset_t *k)
{
    sl_buf_free(&k->keys);
    free(k->off);
    free(k->len);
    free(k->slots);
    memset(k, 0, sizeof(*k));
}

/* ---- emitting and requests ---- */

sl_err_t sl_snap_emit_row(sl_pipeline_t *p, const sl_table_t *t, const sl_value_t *row,
                          const sl_pos_t *pos, int64_t ts_ms, const char *label,
                          const char *extra, size_t n, char *err, size_t errlen)
{
    sl_change_t c = {
        .op = 'r',
        .table = t,
        .after = row,
        .commit_ts_ms = ts_ms,
        .snapshot = label,
        .source_extra = extra,
        .source_extra_len = n,
    };
    sl_err_t rc = sl_pipe_emit(p, &c, pos);
    return rc ? sl_err_set(err, errlen, rc, "stopping") : SL_OK;
}

void sl_snap_checkpoint(sl_pipeline_t *p, const sl_pos_t *pos, const sl_snap_plan_t *plan,
                        sl_buf_t *scratch)
{
    sl_buf_reset(scratch);
    if (sl_snap_plan_remaining(plan))
        sl_snap_plan_to_json(plan, scratch);
    sl_pipe_checkpoint(p, pos, scratch->len ? scratch->data : NULL, scratch->len);
}

void sl_snap_finish(sl_pipeline_t *p, sl_snap_plan_t *plan, sl_snap_progress_t *pr)
{
    sl_snap_progress_report(pr, p, plan, 1);
    sl_info(sl_pipe_name(p), "snapshot: complete, %" PRIu64 " rows in %.1f s", plan->rows,
            (double)(sl_now_ms() - plan->started_ms) / 1000.0);
    sl_snap_plan_free(plan);
}

size_t sl_snap_take_requests(sl_pipeline_t *p, sl_snap_plan_t *plan, sl_snap_progress_t *pr,
                             sl_snap_accept_fn accept, void *ctx)
{
    char *req;
    size_t total = 0;
    while ((req = sl_pipe_take_snapshot_request(p))) {
        json_t *doc = json_loads(req, 0, NULL);
        json_t *tables = json_object_get(doc, "tables");
        const char *where = json_string_value(json_object_get(doc, "where"));
        size_t added = 0;
        if (!plan->n) {
            sl_snap_plan_free(plan);
            plan->phase = SL_SNAP_PHASE_INCREMENTAL;
            plan->started_ms = sl_now_ms();
            sl_snap_progress_start(pr, plan);
        }
        for (size_t i = 0; i < json_array_size(tables); i++) {
            const char *q = json_string_value(json_array_get(tables, i));
            char err[512];
            uint64_t est = 0;
            if (!q)
                continue;
            if (accept(ctx, q, &est, err, sizeof(err))) {
                sl_warn(sl_pipe_name(p), "snapshot of %s not taken: %s", q, err);
                continue;
            }
            sl_snap_plan_add(plan, q, where, NULL, NULL)->estimate = est;
            plan->estimate += est;
            added++;
        }
        if (added)
            sl_info(sl_pipe_name(p), "snapshot: %zu table(s) added on demand%s%s", added,
                    where ? " where " : "", where ? where : "");
        else if (!sl_snap_plan_remaining(plan))
            sl_snap_plan_free(plan);
        json_decref(doc);
        free(req);
        total += added;
    }
    return total;
}

/* ---- progress ---- */

void sl_snap_progress_start(sl_snap_progress_t *pr, const sl_snap_plan_t *plan)
{
    memset(pr, 0, sizeof(*pr));
    pr->start_ms = sl_now_ms();
    pr->last_ms = pr->start_ms;
    pr->start_rows = plan->rows;
}

void sl_snap_progress_report(sl_snap_progress_t *pr, sl_pipeline_t *p,
                             const sl_snap_plan_t *plan, int force)
{
    int64_t now = sl_now_ms();
    int tty = isatty(2) && !sl_log_is_json();
    if (!force && now - pr->last_ms < (tty ? PROGRESS_TTY_MS : PROGRESS_LOG_MS))
        return;
    pr->last_ms = now;
    size_t left = sl_snap_plan_remaining(plan);
    size_t tables = 0, tables_left = 0;
    for (size_t i = 0; i < plan->n; i++) {
        int first = 1; /* count tables, not key ranges */
        for (size_t j = 0; j < i && first; j++)
            first = strcmp(plan->units[j].table, plan->units[i].table) != 0;
        if (!first)
            continue;
        tables++;
        tables_left += sl_snap_plan_has_table(plan, plan->units[i].table);
    }
    sl_pipe_gauge(p, "snapshot_rows", "Rows the snapshot in progress has emitted (op r).",
                  (double)plan->rows);
    sl_pipe_gauge(p, "snapshot_rows_estimated",
                  "Rows the snapshot in progress is expected to emit (table statistics).",
                  (double)(plan->estimate > plan->rows ? plan->estimate : plan->rows));
    sl_pipe_gauge(p, "snapshot_tables_remaining",
                  "Tables (or key ranges) the snapshot in progress has still to finish.",
                  (double)left);
    double secs = (double)(now - pr->start_ms) / 1000.0;
    double rate = secs > 0 ? (double)(plan->rows - pr->start_rows) / secs : 0;
    char line[256], eta[48] = "";
    if (left && rate > 0 && plan->estimate > plan->rows)
        snprintf(eta, sizeof(eta), ", ETA %.0fs", (double)(plan->estimate - plan->rows) / rate);
    if (plan->estimate)
        snprintf(line, sizeof(line),
                 "snapshot: %" PRIu64 " of ~%" PRIu64 " rows (%.0f%%), %zu of %zu tables "
                 "done, %.0f rows/s%s",
                 plan->rows, plan->estimate,
                 plan->estimate ? 100.0 * (double)plan->rows / (double)plan->estimate : 0.0,
                 tables - tables_left, tables, rate, eta);
    else
        snprintf(line, sizeof(line),
                 "snapshot: %" PRIu64 " rows, %zu of %zu tables done, %.0f rows/s",
                 plan->rows, tables - tables_left, tables, rate);
    if (tty && !force) {
        fprintf(stderr, "\r%s\033[K", line);
        pr->live = 1;
        return;
    }
    if (pr->live)
        fputc('\n', stderr);
    pr->live = 0;
    sl_info(sl_pipe_name(p), "%s", line);
}
