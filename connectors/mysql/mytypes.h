/* sluice: MySQL/MariaDB binlog row values (one column of a row image) to sluice values.
 * The encodings chosen here are the "## MySQL / MariaDB" table of docs/types.md. */
#ifndef SL_MYTYPES_H
#define SL_MYTYPES_H

#include <stddef.h>
#include <stdint.h>
#include "core/arena.h"
#include "core/buf.h"
#include "core/err.h"
#include "core/schema.h"
#include "core/value.h"

/* Column type codes as they appear in TABLE_MAP (enum_field_types of MySQL's
 * field_types.h / MariaDB's mysql_com.h). */
enum {
    SL_MY_DECIMAL = 0, /* pre-5.0 DECIMAL: not supported */
    SL_MY_TINY = 1,
    SL_MY_SHORT = 2,
    SL_MY_LONG = 3,
    SL_MY_FLOAT = 4,
    SL_MY_DOUBLE = 5,
    SL_MY_NULL = 6,
    SL_MY_TIMESTAMP = 7, /* pre-5.6 format */
    SL_MY_LONGLONG = 8,
    SL_MY_INT24 = 9,
    SL_MY_DATE = 10,
    SL_MY_TIME = 11,     /* pre-5.6 format */
    SL_MY_DATETIME = 12, /* pre-5.6 format */
    SL_MY_YEAR = 13,
    SL_MY_NEWDATE = 14, /* internal, never in a binlog */
    SL_MY_VARCHAR = 15,
    SL_MY_BIT = 16,
    SL_MY_TIMESTAMP2 = 17,
    SL_MY_DATETIME2 = 18,
    SL_MY_TIME2 = 19,
    SL_MY_JSON = 245,
    SL_MY_NEWDECIMAL = 246,
    SL_MY_ENUM = 247, /* only as the real type of a STRING column */
    SL_MY_SET = 248,  /* only as the real type of a STRING column */
    SL_MY_TINY_BLOB = 249,
    SL_MY_MEDIUM_BLOB = 250,
    SL_MY_LONG_BLOB = 251,
    SL_MY_BLOB = 252,
    SL_MY_VAR_STRING = 253,
    SL_MY_STRING = 254,
    SL_MY_GEOMETRY = 255,
};

/* How a column's bytes become text, resolved from its collation id. */
typedef enum sl_my_cs {
    SL_MY_CS_UNKNOWN =
        0,           /* no charset known: text is taken as UTF-8 (see docs/types.md) */
    SL_MY_CS_UTF8,   /* utf8mb4, utf8mb3, ascii: passed through */
    SL_MY_CS_LATIN1, /* MySQL latin1 (= cp1252): converted to UTF-8 */
    SL_MY_CS_BINARY, /* binary: bytes, base64 in JSON */
    SL_MY_CS_UCS2,   /* converted to UTF-8 */
    SL_MY_CS_UTF16,
    SL_MY_CS_UTF16LE,
    SL_MY_CS_UTF32,
    SL_MY_CS_OTHER, /* a charset sluice does not convert: decoding such a value fails */
} sl_my_cs_t;

/* Built-in knowledge of MySQL/MariaDB collation ids (stable across servers for ids
 * below 256). Ids not known here give SL_MY_CS_UNKNOWN for ids >= 256 (taken as UTF-8
 * unless the connector resolves them from information_schema.COLLATIONS) and
 * SL_MY_CS_OTHER below 256. */
sl_my_cs_t sl_my_charset_of(uint32_t collation);
/* The same from a CHARACTER_SET_NAME of information_schema.COLLATIONS ("utf8mb4"...). */
sl_my_cs_t sl_my_charset_by_name(const char *name);

/* Text in charset cs appended to out as UTF-8 (UNKNOWN and UTF8 are copied as they are,
 * BINARY too). SL_ERR_UNSUPPORTED for SL_MY_CS_OTHER, SL_ERR_PROTOCOL for a length that
 * does not suit the encoding (odd UTF-16). */
sl_err_t sl_my_text_to_utf8(sl_my_cs_t cs, const uint8_t *p, size_t n, sl_buf_t *out,
                            char *err, size_t errlen);

typedef struct sl_my_str {
    const char *s;
    uint32_t len;
} sl_my_str_t;

/* Column flags. */
#define SL_MY_F_UNSIGNED 0x01 /* numeric column is UNSIGNED (TABLE_MAP SIGNEDNESS) */
#define SL_MY_F_NULLABLE 0x02
#define SL_MY_F_KEY 0x04 /* part of the primary key */
#define SL_MY_F_JSON_TEXT                                                                \
    0x08 /* JSON kept as text (MariaDB): passed through, not parsed */

/* What sl_my_decode needs to know about one column. Filled by the binlog decoder from
 * TABLE_MAP (and its optional metadata); a connector may fill gaps (charset, enum
 * strings) from information_schema. Pointers are borrowed. */
typedef struct sl_my_col {
    uint8_t type;            /* TABLE_MAP type; for STRING columns the real type from the
                                metadata (SL_MY_STRING, SL_MY_ENUM or SL_MY_SET) */
    uint8_t flags;           /* SL_MY_F_* */
    uint8_t cs;              /* sl_my_cs_t for character columns */
    uint8_t geom_type;       /* GEOMETRY_TYPE metadata, 0 when unknown */
    uint16_t meta;           /* type metadata, see sl_my_parse_meta */
    uint32_t collation;      /* collation id, 0 when unknown */
    uint32_t nvals;          /* ENUM/SET member count; 0 when the strings are unknown */
    const sl_my_str_t *vals; /* ENUM/SET member strings in definition order */
    const char *name;        /* column name or NULL when unknown (no full row metadata) */
    uint32_t name_len;
} sl_my_col_t;

/* Number of metadata bytes a column of this TABLE_MAP type has in the metadata block,
 * or -1 for a type code sluice does not know. */
int sl_my_meta_size(uint8_t type);
/* 1 for the types TABLE_MAP's SIGNEDNESS metadata has a bit for. */
int sl_my_is_numeric(uint8_t type);

/* Decode a column's metadata bytes p[0..sl_my_meta_size(type)) into the real type and the
 * meta value kept in sl_my_col_t:
 *   FLOAT/DOUBLE: pack length;  NEWDECIMAL: precision << 8 | scale;
 *   VARCHAR/VAR_STRING: maximum length in bytes;  STRING/ENUM/SET: length in bytes
 *   (ENUM/SET: pack length 1-2 / 1-8);  BLOB/JSON/GEOMETRY: bytes of the length prefix;
 *   BIT: whole bytes << 8 | extra bits;  TIME2/DATETIME2/TIMESTAMP2: fractional digits.
 * Returns SL_ERR_PROTOCOL with a sentence when the metadata is impossible (e.g. a decimal
 * precision above 65) and SL_ERR_UNSUPPORTED for types sluice cannot decode. */
sl_err_t sl_my_parse_meta(uint8_t type, const uint8_t *p, uint8_t *real_type,
                          uint16_t *meta, char *err, size_t errlen);

/* Decode one non-NULL value of col from p[0..avail) (a row image); *used is set to the
 * number of bytes it occupies. Text in UTF-8 columns and binary values borrow p;
 * converted values are placed in arena (valid until it is reset); tmp is scratch. A value
 * that does not fit in avail, or is malformed, gives SL_ERR_PROTOCOL with a sentence; a
 * charset sluice cannot convert gives SL_ERR_UNSUPPORTED. Allocates nothing but arena
 * space. */
sl_err_t sl_my_decode(const sl_my_col_t *col, const uint8_t *p, size_t avail,
                      size_t *used, sl_arena_t *arena, sl_buf_t *tmp, sl_value_t *out,
                      char *err, size_t errlen);

/* Bytes a NEWDECIMAL(precision, scale) value occupies; 0 for impossible arguments. */
size_t sl_my_decimal_size(int precision, int scale);
/* Exact decimal text ("-12.3400") of the packed binary decimal at p (n bytes available)
 * appended to out; *used its size. */
sl_err_t sl_my_decimal_to_text(const uint8_t *p, size_t n, int precision, int scale,
                               size_t *used, sl_buf_t *out, char *err, size_t errlen);

/* MySQL's binary JSON document p[0..n) as JSON text appended to out, formatted as MySQL
 * prints it ({"a": 1, "b": [true, null]}); an empty document is "null". Malformed
 * documents give SL_ERR_PROTOCOL; out may then hold a partial text. */
sl_err_t sl_my_json_to_text(const uint8_t *p, size_t n, sl_buf_t *out, char *err,
                            size_t errlen);

/* The SELECT expression a snapshot reads column col with (quoted: its quoted name),
 * appended to out: the column itself, or a form whose text keeps everything the binlog
 * has (a FLOAT's exact value, a BIT's number). */
void sl_my_select_expr(const sl_my_col_t *col, const char *quoted, sl_buf_t *out);
/* The text a snapshot's SELECT returned for col (txt NULL for SQL NULL; binary: the
 * result column's charset is binary) as the same value sl_my_decode gives for that row's
 * binlog image. The session must use time_zone '+00:00' and utf8mb4. Values go to arena;
 * SL_ERR_PROTOCOL when the text is not of the column's type. */
sl_err_t sl_my_text_value(const sl_my_col_t *col, const char *txt, size_t len, int binary,
                          sl_arena_t *arena, sl_buf_t *tmp, sl_value_t *out, char *err,
                          size_t errlen);

/* Database type name for the schema document ("int unsigned", "varchar", "json").
 * Static string. */
const char *sl_my_type_name(const sl_my_col_t *col);
/* JSON type of the values sl_my_decode produces for col. */
sl_jtype_t sl_my_jtype(const sl_my_col_t *col);

#endif
