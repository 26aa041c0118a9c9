/* sluice: table shapes and the schema cache that numbers their versions.
 * Version n of a table is the n-th distinct shape in its history, so numbers are stable. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>
#include "core/schema.h"
#include "core/hash.h"

static const char *const jtype_names[] = {"string", "int", "number", "boolean",
                                          "bytes",  "array", "json"};

const char *sl_jtype_name(sl_jtype_t t)
{
    return (unsigned)t < sizeof(jtype_names) / sizeof(jtype_names[0]) ? jtype_names[t]
                                                                       : "string";
}

static char *xstrdup(const char *s)
{
    if (!s)
        return NULL;
    char *d = strdup(s);
    if (!d)
        abort();
    return d;
}

sl_table_t *sl_table_new(const char *db, const char *schema, const char *name)
{
    sl_table_t *t = calloc(1, sizeof(*t));
    if (!t)
        abort();
    t->db = xstrdup(db);
    t->schema = xstrdup(schema);
    t->name = xstrdup(name);
    sl_buf_t q = SL_BUF_INIT;
    sl_buf_puts(&q, schema ? schema : (db ? db : ""));
    sl_buf_putc(&q, '.');
    sl_buf_puts(&q, name);
    t->qualified = sl_buf_steal(&q);
    sl_buf_puts(&q, ",\"db\":");
    sl_buf_put_json_str(&q, db ? db : "", db ? strlen(db) : 0);
    if (schema) {
        sl_buf_puts(&q, ",\"schema\":");
        sl_buf_put_json_str(&q, schema, strlen(schema));
    }
    sl_buf_puts(&q, ",\"table\":");
    sl_buf_put_json_str(&q, name, strlen(name));
    sl_buf_puts(&q, ",\"schema_version\":");
    t->json_source_len = q.len;
    t->json_source = sl_buf_steal(&q);
    return t;
}

void sl_table_add_column(sl_table_t *t, const char *name, const char *db_type,
                         uint32_t type_id, int32_t typmod, sl_jtype_t jtype, int nullable,
                         int key)
{
    sl_column_t *c = realloc(t->cols, (t->ncols + 1) * sizeof(*c));
    if (!c)
        abort();
    t->cols = c;
    c = &t->cols[t->ncols++];
    c->name = xstrdup(name);
    c->db_type = xstrdup(db_type ? db_type : "unknown");
    c->type_id = type_id;
    c->typmod = typmod;
    c->jtype = (uint8_t)jtype;
    c->nullable = (uint8_t)nullable;
    c->key = (uint8_t)(key != 0);
    sl_buf_t j = SL_BUF_INIT;
    sl_buf_put_json_str(&j, name ? name : "", name ? strlen(name) : 0);
    sl_buf_putc(&j, ':');
    c->json_name_len = j.len;
    c->json_name = sl_buf_steal(&j);
}

void sl_table_free(sl_table_t *t)
{
    if (!t)
        return;
    for (size_t i = 0; i < t->ncols; i++) {
        free(t->cols[i].name);
        free(t->cols[i].db_type);
        free(t->cols[i].json_name);
    }
    if (t->priv && t->priv_free)
        t->priv_free(t->priv);
    free(t->cols);
    free(t->db);
    free(t->schema);
    free(t->name);
    free(t->qualified);
    free(t->json_source);
    free(t);
}

size_t sl_table_nkeys(const sl_table_t *t)
{
    size_t n = 0;
    for (size_t i = 0; i < t->ncols; i++)
        n += t->cols[i].key;
    return n;
}

static void put_str_or_null(sl_buf_t *out, const char *s)
{
    if (s)
        sl_buf_put_json_str(out, s, strlen(s));
    else
        sl_buf_puts(out, "null");
}

void sl_table_to_json(const sl_table_t *t, sl_buf_t *out)
{
    sl_buf_puts(out, "{\"table\":");
    put_str_or_null(out, t->qualified);
    sl_buf_puts(out, ",\"db\":");
    put_str_or_null(out, t->db);
    sl_buf_puts(out, ",\"schema\":");
    put_str_or_null(out, t->schema);
    sl_buf_puts(out, ",\"name\":");
    put_str_or_null(out, t->name);
    sl_buf_printf(out, ",\"version\":%" PRIu32 ",\"fingerprint\":\"%016" PRIx64 "\"",
                  t->version, t->fingerprint);
    sl_buf_puts(out, ",\"columns\":[");
    for (size_t i = 0; i < t->ncols; i++) {
        const sl_column_t *c = &t->cols[i];
        if (i)
            sl_buf_putc(out, ',');
        sl_buf_puts(out, "{\"name\":");
        put_str_or_null(out, c->name);
        sl_buf_puts(out, ",\"type\":");
        put_str_or_null(out, c->db_type);
        sl_buf_printf(out, ",\"json_type\":\"%s\",\"nullable\":%s,\"key\":%s}",
                      sl_jtype_name((sl_jtype_t)c->jtype),
                      c->nullable == 2 ? "null" : (c->nullable ? "true" : "false"),
                      c->key ? "true" : "false");
    }
    sl_buf_puts(out, "],\"key\":[");
    int first = 1;
    for (size_t i = 0; i < t->ncols; i++) {
        if (!t->cols[i].key)
            continue;
        if (!first)
            sl_buf_putc(out, ',');
        first = 0;
        put_str_or_null(out, t->cols[i].name);
    }
    sl_buf_puts(out, "]}");
}

/* FNV-1a over everything that makes a shape; a field separator keeps ("ab","c") apart
 * from ("a","bc"). */
static uint64_t fnv_str(uint64_t h, const char *s)
{
    if (s)
        h = sl_fnv64(h, s, strlen(s) + 1);
    else
        h = sl_fnv64(h, "\xff", 1);
    return h;
}

static uint64_t table_fingerprint(const sl_table_t *t)
{
    uint64_t h = SL_FNV64_INIT;
    h = fnv_str(h, t->db);
    h = fnv_str(h, t->schema);
    h = fnv_str(h, t->name);
    for (size_t i = 0; i < t->ncols; i++) {
        const sl_column_t *c = &t->cols[i];
        h = fnv_str(h, c->name);
        h = fnv_str(h, c->db_type);
        h = sl_fnv64(h, &c->type_id, sizeof(c->type_id));
        h = sl_fnv64(h, &c->typmod, sizeof(c->typmod));
        uint8_t flags[3] = {c->jtype, c->nullable, c->key};
        h = sl_fnv64(h, flags, sizeof(flags));
    }
    return h;
}

typedef struct entry {
    char *qualified;
    uint64_t *fps;       /* history: fps[v-1] is version v */
    sl_table_t **tables; /* the shape of each version seen by this process, or NULL */
    size_t n;
    size_t latest;       /* index of the newest version interned in this process + 1 */
} entry_t;

struct sl_schema_cache {
    pthread_mutex_t mu;
    entry_t *e;
    size_t n, cap;
};

sl_schema_cache_t *sl_schema_cache_new(void)
{
    sl_schema_cache_t *c = calloc(1, sizeof(*c));
    if (!c)
        abort();
    pthread_mutex_init(&c->mu, NULL);
    return c;
}

void sl_schema_cache_free(sl_schema_cache_t *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->n; i++) {
        for (size_t v = 0; v < c->e[i].n; v++)
            sl_table_free(c->e[i].tables[v]);
        free(c->e[i].tables);
        free(c->e[i].fps);
        free(c->e[i].qualified);
    }
    free(c->e);
    pthread_mutex_destroy(&c->mu);
    free(c);
}

static entry_t *find_entry(sl_schema_cache_t *c, const char *qualified, int create)
{
    for (size_t i = 0; i < c->n; i++)
        if (strcmp(c->e[i].qualified, qualified) == 0)
            return &c->e[i];
    if (!create)
        return NULL;
    if (c->n == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 16;
        entry_t *e = realloc(c->e, cap * sizeof(*e));
        if (!e)
            abort();
        c->e = e;
        c->cap = cap;
    }
    entry_t *e = &c->e[c->n++];
    memset(e, 0, sizeof(*e));
    e->qualified = xstrdup(qualified);
    return e;
}

static void entry_append(entry_t *e, uint64_t fp)
{
    uint64_t *fps = realloc(e->fps, (e->n + 1) * sizeof(*fps));
    sl_table_t **tables = realloc(e->tables, (e->n + 1) * sizeof(*tables));
    if (!fps || !tables)
        abort();
    e->fps = fps;
    e->tables = tables;
    e->fps[e->n] = fp;
    e->tables[e->n] = NULL;
    e->n++;
}

const sl_table_t *sl_schema_cache_intern(sl_schema_cache_t *c, sl_table_t *t)
{
    t->fingerprint = table_fingerprint(t);
    pthread_mutex_lock(&c->mu);
    entry_t *e = find_entry(c, t->qualified, 1);
    size_t idx = e->n;
    for (size_t i = 0; i < e->n; i++)
        if (e->fps[i] == t->fingerprint) {
            idx = i;
            break;
        }
    if (idx == e->n)
        entry_append(e, t->fingerprint);
    const sl_table_t *res;
    if (e->tables[idx]) {
        sl_table_free(t);
        res = e->tables[idx];
    } else {
        t->version = (uint32_t)(idx + 1);
        e->tables[idx] = t;
        res = t;
    }
    e->latest = idx + 1;
    pthread_mutex_unlock(&c->mu);
    return res;
}

const sl_table_t *sl_schema_cache_latest(sl_schema_cache_t *c, const char *qualified)
{
    pthread_mutex_lock(&c->mu);
    entry_t *e = find_entry(c, qualified, 0);
    const sl_table_t *t = e && e->latest ? e->tables[e->latest - 1] : NULL;
    pthread_mutex_unlock(&c->mu);
    return t;
}

void sl_schema_cache_dump(sl_schema_cache_t *c, sl_buf_t *out)
{
    pthread_mutex_lock(&c->mu);
    sl_buf_putc(out, '{');
    for (size_t i = 0; i < c->n; i++) {
        if (i)
            sl_buf_putc(out, ',');
        sl_buf_put_json_str(out, c->e[i].qualified, strlen(c->e[i].qualified));
        sl_buf_puts(out, ":[");
        for (size_t v = 0; v < c->e[i].n; v++)
            sl_buf_printf(out, "%s\"%016" PRIx64 "\"", v ? "," : "", c->e[i].fps[v]);
        sl_buf_putc(out, ']');
    }
    sl_buf_putc(out, '}');
    pthread_mutex_unlock(&c->mu);
}

sl_err_t sl_schema_cache_load(sl_schema_cache_t *c, const char *json, size_t len, char *err,
                              size_t errlen)
{
    json_error_t jerr;
    json_t *root = json_loadb(json, len, 0, &jerr);
    if (!root || !json_is_object(root)) {
        json_decref(root);
        return sl_err_set(err, errlen, SL_ERR_CORRUPT,
                          "the stored schema history is not a JSON object");
    }
    const char *key;
    json_t *arr;
    sl_err_t rc = SL_OK;
    pthread_mutex_lock(&c->mu);
    json_object_foreach(root, key, arr)
    {
        if (!json_is_array(arr)) {
            rc = sl_err_set(err, errlen, SL_ERR_CORRUPT,
                            "the stored schema history of %s is not a list", key);
            break;
        }
        entry_t *e = find_entry(c, key, 1);
        if (e->n) {
            rc = sl_err_set(err, errlen, SL_ERR_CORRUPT,
                            "the stored schema history names %s twice", key);
            break;
        }
        size_t i;
        json_t *fpj;
        json_array_foreach(arr, i, fpj)
        {
            const char *s = json_string_value(fpj);
            char *end = NULL;
            uint64_t fp = s ? strtoull(s, &end, 16) : 0;
            if (!s || strlen(s) != 16 || !end || *end) {
                rc = sl_err_set(err, errlen, SL_ERR_CORRUPT,
                                "the stored schema history of %s has a bad fingerprint", key);
                break;
            }
            entry_append(e, fp);
        }
        if (rc)
            break;
    }
    pthread_mutex_unlock(&c->mu);
    json_decref(root);
    return rc;
}
