/* sluice: PostgreSQL text-format values to typed sluice values (docs/types.md).
 * The replication session runs with TimeZone=UTC, DateStyle=ISO, IntervalStyle=iso_8601,
 * extra_float_digits=3, bytea_output=hex, so the text forms below are the ones we get. */
#ifndef SL_PGTYPES_H
#define SL_PGTYPES_H

#include <stddef.h>
#include <stdint.h>
#include "core/err.h"
#include "core/value.h"
#include "core/schema.h"
#include "core/arena.h"
#include "core/buf.h"

/* How to convert one column, resolved once per relation column. */
typedef struct sl_pg_type {
    uint32_t oid;      /* the column's type as in the Relation message */
    uint32_t base_oid; /* builtin type converted: a domain's base type; TEXTOID for enums
                          and other user types without a builtin base */
    uint32_t elem_oid; /* for arrays (base is an array type): builtin element type, after
                          domain/enum resolution; else 0 */
    char delim;        /* array element delimiter (',' except box: ';') */
} sl_pg_type_t;

/* Does the converter know this builtin oid (scalar or array)? */
int sl_pg_type_is_builtin(uint32_t oid);
/* For a builtin array type oid, its element oid; 0 when oid is not a builtin array. */
uint32_t sl_pg_array_elem(uint32_t oid);
/* Type name for the schema document ("int4", "_int4" for arrays, "text"). Static. */
const char *sl_pg_type_name(uint32_t builtin_oid);
/* JSON type of the converted value. */
sl_jtype_t sl_pg_jtype(const sl_pg_type_t *t);

/* Convert a text-format value. txt is not NUL-terminated. Results that need new bytes
 * are placed in arena (valid until it is reset); tmp is scratch. Values that are not
 * representable (e.g. a malformed array literal) give SL_ERR_PROTOCOL with a sentence. */
sl_err_t sl_pg_text_to_value(const sl_pg_type_t *t, const char *txt, size_t len,
                             sl_arena_t *arena, sl_buf_t *tmp, sl_value_t *out, char *err,
                             size_t errlen);

#endif
