/* sluice: writes Debezium-shaped change envelopes (contract 3.1) as JSON text.
 * Field names and order follow Debezium's JSON converter with schemas disabled. */
#include <string.h>
#include "core/envelope.h"

void sl_value_to_json(const sl_value_t *v, sl_buf_t *out)
{
    switch ((sl_vkind_t)v->kind) {
    case SL_V_NULL:
        sl_buf_append(out, "null", 4);
        break;
    case SL_V_BOOL:
        if (v->v.i)
            sl_buf_append(out, "true", 4);
        else
            sl_buf_append(out, "false", 5);
        break;
    case SL_V_INT:
        sl_buf_put_i64(out, v->v.i);
        break;
    case SL_V_UINT:
        sl_buf_put_u64(out, v->v.u);
        break;
    case SL_V_DOUBLE:
        sl_buf_put_double(out, v->v.d);
        break;
    case SL_V_STRING:
        sl_buf_put_json_str(out, v->v.s, v->len);
        break;
    case SL_V_BYTES:
        sl_buf_putc(out, '"');
        sl_buf_put_base64(out, v->v.s, v->len);
        sl_buf_putc(out, '"');
        break;
    case SL_V_JSON:
        sl_buf_append(out, v->v.s, v->len);
        break;
    case SL_V_UNCHANGED:
        sl_buf_puts(out, "\"" SL_UNCHANGED_MARKER "\"");
        break;
    default:
        sl_buf_append(out, "null", 4);
    }
}

static void put_name(sl_buf_t *out, const char *s)
{
    sl_buf_put_json_str(out, s, strlen(s));
}

static void put_row(const sl_table_t *t, const sl_value_t *row, sl_buf_t *out)
{
    if (!row) {
        sl_buf_append(out, "null", 4);
        return;
    }
    sl_buf_putc(out, '{');
    for (size_t i = 0; i < t->ncols; i++) {
        if (i)
            sl_buf_putc(out, ',');
        sl_buf_append(out, t->cols[i].json_name, t->cols[i].json_name_len);
        sl_value_to_json(&row[i], out);
    }
    sl_buf_putc(out, '}');
}

int sl_envelope_key(const sl_change_t *c, sl_buf_t *out)
{
    const sl_table_t *t = c->table;
    const sl_value_t *row = c->op == 'd' ? c->before : c->after;
    if (!row || !sl_table_nkeys(t))
        return 0;
    sl_buf_putc(out, '{');
    int first = 1;
    for (size_t i = 0; i < t->ncols; i++) {
        if (!t->cols[i].key)
            continue;
        if (!first)
            sl_buf_putc(out, ',');
        first = 0;
        sl_buf_append(out, t->cols[i].json_name, t->cols[i].json_name_len);
        sl_value_to_json(&row[i], out);
    }
    sl_buf_putc(out, '}');
    return 1;
}

int sl_envelope_keys_equal(const sl_table_t *t, const sl_value_t *a, const sl_value_t *b)
{
    for (size_t i = 0; i < t->ncols; i++) {
        if (!t->cols[i].key)
            continue;
        if (a[i].kind != b[i].kind)
            return 0;
        switch (a[i].kind) {
        case SL_V_STRING:
        case SL_V_BYTES:
        case SL_V_JSON:
            if (a[i].len != b[i].len || memcmp(a[i].v.s, b[i].v.s, a[i].len) != 0)
                return 0;
            break;
        case SL_V_NULL:
        case SL_V_UNCHANGED:
            break;
        default:
            if (a[i].v.u != b[i].v.u)
                return 0;
        }
    }
    return 1;
}

void sl_envelope_value(const sl_envelope_t *env, const sl_change_t *c, int64_t now_ms,
                       sl_buf_t *out)
{
    const sl_table_t *t = c->table;
    sl_buf_puts(out, "{\"before\":");
    put_row(t, c->before, out);
    sl_buf_puts(out, ",\"after\":");
    put_row(t, c->after, out);
    sl_buf_puts(out, ",\"source\":{\"version\":\"" SLUICE_VERSION "\",\"connector\":");
    put_name(out, env->connector);
    sl_buf_puts(out, ",\"name\":");
    put_name(out, env->name);
    sl_buf_puts(out, ",\"ts_ms\":");
    sl_buf_put_i64(out, c->commit_ts_ms);
    sl_buf_puts(out, ",\"snapshot\":\"");
    sl_buf_puts(out, c->snapshot ? c->snapshot : "false");
    sl_buf_putc(out, '"');
    sl_buf_append(out, t->json_source, t->json_source_len);
    sl_buf_put_u64(out, t->version);
    if (c->source_extra && c->source_extra_len) {
        sl_buf_putc(out, ',');
        sl_buf_append(out, c->source_extra, c->source_extra_len);
    }
    sl_buf_puts(out, "},\"op\":\"");
    sl_buf_putc(out, c->op);
    sl_buf_puts(out, "\",\"ts_ms\":");
    sl_buf_put_i64(out, now_ms);
    sl_buf_puts(out, ",\"transaction\":");
    if (c->tx_id) {
        sl_buf_puts(out, "{\"id\":");
        put_name(out, c->tx_id);
        sl_buf_puts(out, ",\"total_order\":");
        sl_buf_put_u64(out, c->total_order);
        sl_buf_puts(out, ",\"data_collection_order\":");
        sl_buf_put_u64(out, c->data_collection_order);
        sl_buf_putc(out, '}');
    } else {
        sl_buf_append(out, "null", 4);
    }
    sl_buf_putc(out, '}');
}

/* sl_change_stash's layout: this header, the before and after values (ncols each, when
 * present), then the bytes of snapshot, tx_id (each with its NUL), source_extra and the
 * values' strings, whose pointers are kept as offsets from raw's start until unstashed. */
typedef struct stash {
    int64_t commit_ts_ms, now_ms;
    uint64_t total_order, data_collection_order;
    size_t extra_len;
    uint32_t snapshot_len, tx_id_len; /* UINT32_MAX: NULL */
    char op;
    uint8_t has_before, has_after;
} stash_t;

static int has_bytes(const sl_value_t *v)
{
    return v->kind == SL_V_STRING || v->kind == SL_V_BYTES || v->kind == SL_V_JSON;
}

static size_t row_bytes(const sl_value_t *row, size_t n)
{
    size_t sum = 0;
    for (size_t i = 0; row && i < n; i++)
        if (has_bytes(&row[i]))
            sum += row[i].len;
    return sum;
}

/* Copy row's values to raw + at and their strings to raw + *heap on. */
static void stash_row(char *raw, size_t at, size_t *heap, const sl_value_t *row, size_t n)
{
    sl_value_t *dst = (sl_value_t *)(void *)(raw + at);
    for (size_t i = 0; i < n; i++) {
        dst[i] = row[i];
        if (has_bytes(&row[i])) {
            if (row[i].len)
                memcpy(raw + *heap, row[i].v.s, row[i].len);
            dst[i].v.u = *heap;
            *heap += row[i].len;
        }
    }
}

size_t sl_change_stash(const sl_change_t *c, int64_t now_ms, sl_buf_t *raw)
{
    size_t ncols = c->table ? c->table->ncols : 0;
    size_t snap_len = c->snapshot ? strlen(c->snapshot) : 0;
    size_t tx_len = c->tx_id ? strlen(c->tx_id) : 0;
    size_t extra_len = c->source_extra ? c->source_extra_len : 0;
    size_t nrows = (c->before != NULL) + (c->after != NULL);
    size_t start = (raw->len + 7) & ~(size_t)7;
    size_t vals = start + sizeof(stash_t);
    size_t heap = vals + nrows * ncols * sizeof(sl_value_t);
    size_t total = heap + snap_len + 1 + tx_len + 1 + extra_len +
                   row_bytes(c->before, ncols) + row_bytes(c->after, ncols);
    sl_buf_reserve(raw, total - raw->len);
    char *base = raw->data;
    /* field by field in place: a header built on the stack and copied was read back in
     * wide loads right after its narrow stores, a stall per row (perf annotate) */
    stash_t *h = (stash_t *)(void *)(base + start);
    h->commit_ts_ms = c->commit_ts_ms;
    h->now_ms = now_ms;
    h->total_order = c->total_order;
    h->data_collection_order = c->data_collection_order;
    h->extra_len = extra_len;
    h->snapshot_len = c->snapshot ? (uint32_t)snap_len : UINT32_MAX;
    h->tx_id_len = c->tx_id ? (uint32_t)tx_len : UINT32_MAX;
    h->op = c->op;
    h->has_before = c->before != NULL;
    h->has_after = c->after != NULL;
    if (snap_len)
        memcpy(base + heap, c->snapshot, snap_len);
    base[heap + snap_len] = 0;
    heap += snap_len + 1;
    if (tx_len)
        memcpy(base + heap, c->tx_id, tx_len);
    base[heap + tx_len] = 0;
    heap += tx_len + 1;
    if (extra_len)
        memcpy(base + heap, c->source_extra, extra_len);
    heap += extra_len;
    if (c->before) {
        stash_row(base, vals, &heap, c->before, ncols);
        vals += ncols * sizeof(sl_value_t);
    }
    if (c->after)
        stash_row(base, vals, &heap, c->after, ncols);
    raw->len = total;
    base[total] = 0;
    return start;
}

static sl_value_t *unstash_row(char *raw, char **at, size_t n)
{
    sl_value_t *row = (sl_value_t *)(void *)*at;
    for (size_t i = 0; i < n; i++)
        if (has_bytes(&row[i]))
            row[i].v.s = raw + row[i].v.u;
    *at += n * sizeof(sl_value_t);
    return row;
}

void sl_change_unstash(char *raw, size_t off, const sl_table_t *t, sl_change_t *c,
                       int64_t *now_ms)
{
    const stash_t h = *(const stash_t *)(const void *)(raw + off);
    size_t ncols = t ? t->ncols : 0;
    char *vals = raw + off + sizeof(stash_t);
    char *heap = vals + ((size_t)h.has_before + h.has_after) * ncols * sizeof(sl_value_t);
    memset(c, 0, sizeof(*c));
    c->op = h.op;
    c->table = t;
    c->commit_ts_ms = h.commit_ts_ms;
    c->total_order = h.total_order;
    c->data_collection_order = h.data_collection_order;
    *now_ms = h.now_ms;
    size_t snap_len = h.snapshot_len == UINT32_MAX ? 0 : h.snapshot_len;
    size_t tx_len = h.tx_id_len == UINT32_MAX ? 0 : h.tx_id_len;
    c->snapshot = h.snapshot_len == UINT32_MAX ? NULL : heap;
    heap += snap_len + 1;
    c->tx_id = h.tx_id_len == UINT32_MAX ? NULL : heap;
    heap += tx_len + 1;
    c->source_extra = h.extra_len ? heap : NULL;
    c->source_extra_len = h.extra_len;
    c->before = h.has_before ? unstash_row(raw, &vals, ncols) : NULL;
    c->after = h.has_after ? unstash_row(raw, &vals, ncols) : NULL;
}
