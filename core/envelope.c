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
