/* sluice: libFuzzer target for the pgoutput decoder and the text-value converters.
 * Byte 0 picks column types; the rest is one message (bit 7 of byte 0 set: one value). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>
#include "connectors/postgres/pgoutput.h"
#include "connectors/postgres/pgtypes.h"

/* Column types to try: builtin scalars and arrays, plus the shapes the replication client
 * builds for user types (enum as text, an array of a domain over int4 with ';'). */
static const sl_pg_type_t types[] = {
    {16, 16, 0, ','},        {17, 17, 0, ','},        {20, 20, 0, ','},
    {21, 21, 0, ','},        {23, 23, 0, ','},        {26, 26, 0, ','},
    {700, 700, 0, ','},      {701, 701, 0, ','},      {1700, 1700, 0, ','},
    {25, 25, 0, ','},        {114, 114, 0, ','},      {3802, 3802, 0, ','},
    {1082, 1082, 0, ','},    {1083, 1083, 0, ','},    {1266, 1266, 0, ','},
    {1114, 1114, 0, ','},    {1184, 1184, 0, ','},    {1186, 1186, 0, ','},
    {5069, 5069, 0, ','},    {1000, 1000, 16, ','},   {1001, 1001, 17, ','},
    {1005, 1005, 21, ','},   {1007, 1007, 23, ','},   {1009, 1009, 25, ','},
    {1016, 1016, 20, ','},   {1021, 1021, 700, ','},  {1022, 1022, 701, ','},
    {1231, 1231, 1700, ','}, {1182, 1182, 1082, ','}, {1183, 1183, 1083, ','},
    {1270, 1270, 1266, ','}, {1115, 1115, 1114, ','}, {1185, 1185, 1184, ','},
    {1187, 1187, 1186, ','}, {1020, 1020, 603, ','},  {3807, 3807, 3802, ','},
    {70000, 25, 0, ','},     {70001, 1009, 23, ';'},  {70002, 1009, 25, 0},
};
#define NTYPES (sizeof(types) / sizeof(types[0]))

static sl_pgo_decoder_t dec;
static sl_arena_t arena = SL_ARENA_INIT;
static sl_buf_t tmp = SL_BUF_INIT;
static int ready;

/* A converted array must be valid JSON whatever the input was. */
static void check_value(const sl_value_t *v)
{
    if (v->kind == SL_V_JSON) {
        json_error_t je;
        json_t *j = json_loadb(v->v.s, v->len, JSON_DECODE_ANY | JSON_ALLOW_NUL, &je);
        if (!j || !json_is_array(j))
            abort();
        json_decref(j);
    }
    if ((v->kind == SL_V_STRING || v->kind == SL_V_BYTES || v->kind == SL_V_JSON) &&
        v->len && !v->v.s)
        abort();
}

static void convert(uint8_t sel, const char *txt, size_t len)
{
    char err[256];
    sl_value_t v;
    const sl_pg_type_t *t = &types[sel % NTYPES];
    sl_err_t rc = sl_pg_text_to_value(t, txt, len, &arena, &tmp, &v, err, sizeof(err));
    if (rc == SL_OK)
        check_value(&v);
    else if (rc != SL_ERR_PROTOCOL || !err[0])
        abort();
}

static void convert_tuple(uint8_t sel, const sl_pgo_col_t *cols, uint16_t n)
{
    for (uint16_t i = 0; i < n; i++)
        if (cols[i].kind == 't')
            convert((uint8_t)(sel + i), cols[i].data, cols[i].len);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!ready) {
        sl_pgo_decoder_init(&dec);
        ready = 1;
    }
    if (size < 1)
        return 0;
    uint8_t sel = data[0];
    sl_arena_reset(&arena);
    if (sel & 0x80) {
        /* one value straight into the converters: reaches them without a valid message */
        char *copy = malloc(size - 1 ? size - 1 : 1);
        memcpy(copy, data + 1, size - 1);
        convert(sel & 0x7f, copy, size - 1);
        free(copy);
        return 0;
    }
    sl_pgo_msg_t m;
    char err[256];
    sl_err_t rc = sl_pgo_decode(&dec, data + 1, size - 1, &m, err, sizeof(err));
    if (rc != SL_OK) {
        if (rc != SL_ERR_PROTOCOL || !err[0])
            abort();
        return 0;
    }
    switch (m.type) {
    case 'I':
    case 'U':
    case 'D':
        if (m.u.change.old)
            convert_tuple(sel, m.u.change.old, m.u.change.nold);
        if (m.u.change.new)
            convert_tuple(sel, m.u.change.new, m.u.change.nnew);
        break;
    case 'R':
        for (uint16_t i = 0; i < m.u.rel.natts; i++)
            if (!m.u.rel.cols[i].name)
                abort();
        break;
    case 'T':
        for (uint32_t i = 0; i < m.u.truncate.nrels; i++)
            (void)m.u.truncate.relids[i];
        break;
    default:
        break;
    }
    return 0;
}
