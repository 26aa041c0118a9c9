/* sluice: decoders for the column values of MySQL/MariaDB row images and binary JSON.
 * Every read is checked against the bytes that remain; servers and files are not trusted.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "connectors/mysql/mytypes.h"

/* ---------------------------------------------------------------------------------------
 * Little helpers. Row images store integers little-endian, except the packed temporal
 * types (TIME2, DATETIME2, TIMESTAMP2), BIT and DECIMAL, which are big-endian so that
 * they sort as byte strings (MySQL source, "Binary log events" / my_time.cc).
 */

static uint64_t le_n(const uint8_t *p, int n)
{
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

static uint64_t be_n(const uint8_t *p, int n)
{
    uint64_t v = 0;
    for (int i = 0; i < n; i++)
        v = (v << 8) | p[i];
    return v;
}

/* Sign-extend the low `bits` bits of v. */
static int64_t sext(uint64_t v, int bits)
{
    uint64_t m = (uint64_t)1 << (bits - 1);
    v &= (bits == 64) ? ~(uint64_t)0 : (((uint64_t)1 << bits) - 1);
    return (int64_t)((v ^ m) - m);
}

static sl_err_t short_value(const char *what, size_t need, size_t avail, char *err,
                            size_t errlen)
{
    return sl_err_set(err, errlen, SL_ERR_PROTOCOL,
                      "%s value needs %zu bytes but only %zu remain in the row image",
                      what, need, avail);
}

/* Put tmp's content into the arena and point out at it as a string. */
static void out_tmp_string(sl_buf_t *tmp, sl_arena_t *arena, sl_value_t *out)
{
    out->kind = SL_V_STRING;
    out->len = tmp->len;
    out->v.s = sl_arena_dup(arena, tmp->data ? tmp->data : "", tmp->len);
}

/* Append a code point as UTF-8 (surrogates and out-of-range become U+FFFD). */
static void put_utf8(sl_buf_t *b, uint32_t cp)
{
    char t[4];
    if ((cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
        cp = 0xfffd;
    if (cp < 0x80) {
        sl_buf_putc(b, (char)cp);
    } else if (cp < 0x800) {
        t[0] = (char)(0xc0 | (cp >> 6));
        t[1] = (char)(0x80 | (cp & 0x3f));
        sl_buf_append(b, t, 2);
    } else if (cp < 0x10000) {
        t[0] = (char)(0xe0 | (cp >> 12));
        t[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
        t[2] = (char)(0x80 | (cp & 0x3f));
        sl_buf_append(b, t, 3);
    } else {
        t[0] = (char)(0xf0 | (cp >> 18));
        t[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
        t[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
        t[3] = (char)(0x80 | (cp & 0x3f));
        sl_buf_append(b, t, 4);
    }
}

/* ---------------------------------------------------------------------------------------
 * Character sets. Collation ids below 256 are the same on MySQL and MariaDB
 * (information_schema.COLLATIONS); MySQL 8 numbers its utf8mb4_0900 family 255-323.
 */

static int in(uint32_t v, uint32_t lo, uint32_t hi)
{
    return v >= lo && v <= hi;
}

sl_my_cs_t sl_my_charset_of(uint32_t c)
{
    if (c == 0)
        return SL_MY_CS_UNKNOWN;
    if (c == 63)
        return SL_MY_CS_BINARY;
    /* utf8mb3: 33 general_ci, 83 bin, 192-215 unicode family, 223 general_mysql500,
     * 76 tolower_ci (MySQL 8); utf8mb4: 45, 46, 224-247, 255-323; ascii: 11, 65 */
    if (c == 33 || c == 83 || in(c, 192, 215) || c == 223 || c == 76 || c == 45 ||
        c == 46 || in(c, 224, 247) || in(c, 255, 323) || c == 11 || c == 65)
        return SL_MY_CS_UTF8;
    if (c == 5 || c == 8 || c == 15 || c == 31 || c == 47 || c == 48 || c == 49 ||
        c == 94)
        return SL_MY_CS_LATIN1;
    if (c == 35 || c == 90 || in(c, 128, 151) || c == 159)
        return SL_MY_CS_UCS2;
    if (c == 54 || c == 55 || in(c, 101, 124))
        return SL_MY_CS_UTF16;
    if (c == 56 || c == 62)
        return SL_MY_CS_UTF16LE;
    if (c == 60 || c == 61 || in(c, 160, 183))
        return SL_MY_CS_UTF32;
    return c < 256 ? SL_MY_CS_OTHER : SL_MY_CS_UNKNOWN;
}

sl_my_cs_t sl_my_charset_by_name(const char *n)
{
    if (!n)
        return SL_MY_CS_UNKNOWN;
    if (!strcmp(n, "utf8mb4") || !strcmp(n, "utf8mb3") || !strcmp(n, "utf8") ||
        !strcmp(n, "ascii"))
        return SL_MY_CS_UTF8;
    if (!strcmp(n, "latin1"))
        return SL_MY_CS_LATIN1;
    if (!strcmp(n, "binary"))
        return SL_MY_CS_BINARY;
    if (!strcmp(n, "ucs2"))
        return SL_MY_CS_UCS2;
    if (!strcmp(n, "utf16"))
        return SL_MY_CS_UTF16;
    if (!strcmp(n, "utf16le"))
        return SL_MY_CS_UTF16LE;
    if (!strcmp(n, "utf32"))
        return SL_MY_CS_UTF32;
    return SL_MY_CS_OTHER;
}

/* MySQL's latin1 is Windows-1252, with the five holes mapped to the C1 controls
 * (strings/ctype-latin1.c, cs_to_uni). Only 0x80-0x9F differ from ISO-8859-1. */
static const uint16_t cp1252_80[32] = {
    0x20ac, 0x0081, 0x201a, 0x0192, 0x201e, 0x2026, 0x2020, 0x2021,
    0x02c6, 0x2030, 0x0160, 0x2039, 0x0152, 0x008d, 0x017d, 0x008f,
    0x0090, 0x2018, 0x2019, 0x201c, 0x201d, 0x2022, 0x2013, 0x2014,
    0x02dc, 0x2122, 0x0161, 0x203a, 0x0153, 0x009d, 0x017e, 0x0178,
};

sl_err_t sl_my_text_to_utf8(sl_my_cs_t cs, const uint8_t *p, size_t n, sl_buf_t *out,
                            char *err, size_t errlen)
{
    size_t i;
    switch (cs) {
    case SL_MY_CS_UNKNOWN:
    case SL_MY_CS_UTF8:
    case SL_MY_CS_BINARY:
        sl_buf_append(out, p, n);
        return SL_OK;
    case SL_MY_CS_LATIN1:
        sl_buf_reserve(out, n);
        for (i = 0; i < n; i++)
            put_utf8(out, p[i] >= 0x80 && p[i] < 0xa0 ? cp1252_80[p[i] - 0x80] : p[i]);
        return SL_OK;
    case SL_MY_CS_UCS2:
    case SL_MY_CS_UTF16:
    case SL_MY_CS_UTF16LE:
        if (n % 2)
            return sl_err_set(err, errlen, SL_ERR_PROTOCOL,
                              "a UTF-16/UCS-2 string has an odd length (%zu bytes)", n);
        for (i = 0; i < n; i += 2) {
            uint32_t u = cs == SL_MY_CS_UTF16LE ? (uint32_t)le_n(p + i, 2)
                                                : (uint32_t)be_n(p + i, 2);
            if (cs != SL_MY_CS_UCS2 && u >= 0xd800 && u <= 0xdbff && i + 4 <= n) {
                uint32_t lo = cs == SL_MY_CS_UTF16LE ? (uint32_t)le_n(p + i + 2, 2)
                                                     : (uint32_t)be_n(p + i + 2, 2);
                if (lo >= 0xdc00 && lo <= 0xdfff) {
                    u = 0x10000 + ((u - 0xd800) << 10) + (lo - 0xdc00);
                    i += 2;
                }
            }
            put_utf8(out, u);
        }
        return SL_OK;
    case SL_MY_CS_UTF32:
        if (n % 4)
            return sl_err_set(err, errlen, SL_ERR_PROTOCOL,
                              "a UTF-32 string has a length (%zu bytes) that is not a "
                              "multiple of 4",
                              n);
        for (i = 0; i < n; i += 4)
            put_utf8(out, (uint32_t)be_n(p + i, 4));
        return SL_OK;
    case SL_MY_CS_OTHER:
    default:
        break;
    }
    return sl_err_set(
        err, errlen, SL_ERR_UNSUPPORTED,
        "the column's character set cannot be converted to UTF-8 by sluice "
        "(supported: utf8mb4, utf8mb3, ascii, latin1, ucs2, utf16, utf16le, "
        "utf32, binary); convert the column to utf8mb4");
}

/* Text of a character column as a value: UTF-8 (and ASCII-only latin1) borrowed, binary
 * as bytes, others converted into arena. */
static sl_err_t text_value(sl_my_cs_t cs, const uint8_t *p, size_t n, sl_arena_t *arena,
                           sl_buf_t *tmp, sl_value_t *out, char *err, size_t errlen)
{
    size_t i = 0;
    if (cs == SL_MY_CS_LATIN1)
        while (i < n && p[i] < 0x80)
            i++;
    if (cs == SL_MY_CS_UNKNOWN || cs == SL_MY_CS_UTF8 || cs == SL_MY_CS_BINARY ||
        (cs == SL_MY_CS_LATIN1 && i == n)) {
        out->kind = cs == SL_MY_CS_BINARY ? SL_V_BYTES : SL_V_STRING;
        out->len = n;
        out->v.s = (const char *)p;
        return SL_OK;
    }
    sl_buf_reset(tmp);
    sl_err_t e = sl_my_text_to_utf8(cs, p, n, tmp, err, errlen);
    if (e)
        return e;
    out_tmp_string(tmp, arena, out);
    return SL_OK;
}

/* ---------------------------------------------------------------------------------------
 * Metadata (MySQL rows_event.h, "Table_map_event column types": size and meaning of each
 * column's metadata).
 */

int sl_my_meta_size(uint8_t type)
{
    switch (type) {
    case SL_MY_TINY:
    case SL_MY_SHORT:
    case SL_MY_LONG:
    case SL_MY_LONGLONG:
    case SL_MY_INT24:
    case SL_MY_NULL:
    case SL_MY_TIMESTAMP:
    case SL_MY_DATE:
    case SL_MY_TIME:
    case SL_MY_DATETIME:
    case SL_MY_YEAR:
        return 0;
    case SL_MY_FLOAT:
    case SL_MY_DOUBLE:
    case SL_MY_BLOB:
    case SL_MY_TINY_BLOB:
    case SL_MY_MEDIUM_BLOB:
    case SL_MY_LONG_BLOB:
    case SL_MY_JSON:
    case SL_MY_GEOMETRY:
    case SL_MY_TIMESTAMP2:
    case SL_MY_DATETIME2:
    case SL_MY_TIME2:
        return 1;
    case SL_MY_VARCHAR:
    case SL_MY_VAR_STRING:
    case SL_MY_STRING:
    case SL_MY_ENUM:
    case SL_MY_SET:
    case SL_MY_NEWDECIMAL:
    case SL_MY_BIT:
        return 2;
    default:
        return -1;
    }
}

sl_err_t sl_my_parse_meta(uint8_t type, const uint8_t *p, uint8_t *real_type,
                          uint16_t *meta, char *err, size_t errlen)
{
    *real_type = type;
    *meta = 0;
    switch (type) {
    case SL_MY_TINY:
    case SL_MY_SHORT:
    case SL_MY_LONG:
    case SL_MY_LONGLONG:
    case SL_MY_INT24:
    case SL_MY_NULL:
    case SL_MY_TIMESTAMP:
    case SL_MY_DATE:
    case SL_MY_TIME:
    case SL_MY_DATETIME:
    case SL_MY_YEAR:
        return SL_OK;
    case SL_MY_FLOAT:
    case SL_MY_DOUBLE:
        *meta = p[0];
        if (p[0] != (type == SL_MY_FLOAT ? 4 : 8))
            return sl_err_set(err, errlen, SL_ERR_PROTOCOL,
                              "a %s column has pack length %u",
                              type == SL_MY_FLOAT ? "FLOAT" : "DOUBLE", p[0]);
        return SL_OK;
    case SL_MY_BLOB:
    case SL_MY_TINY_BLOB:
    case SL_MY_MEDIUM_BLOB:
    case SL_MY_LONG_BLOB:
    case SL_MY_JSON:
    case SL_MY_GEOMETRY:
        /* TABLE_MAP always says BLOB; the pack length tells TINY/-/MEDIUM/LONG apart */
        *real_type = type == SL_MY_JSON || type == SL_MY_GEOMETRY ? type : SL_MY_BLOB;
        *meta = p[0];
        if (p[0] < 1 || p[0] > 4)
            return sl_err_set(
                err, errlen, SL_ERR_PROTOCOL,
                "a BLOB/JSON/GEOMETRY column has a length prefix of %u bytes "
                "(1-4 expected)",
                p[0]);
        return SL_OK;
    case SL_MY_TIMESTAMP2:
    case SL_MY_DATETIME2:
    case SL_MY_TIME2:
        *meta = p[0];
        if (p[0] > 6)
            return sl_err_set(err, errlen, SL_ERR_PROTOCOL,
                              "a temporal column has %u fractional digits (0-6 expected)",
                              p[0]);
        return SL_OK;
    case SL_MY_VARCHAR:
    case SL_MY_VAR_STRING:
        *meta = (uint16_t)le_n(p, 2);
        return SL_OK;
    case SL_MY_NEWDECIMAL:
        *meta = (uint16_t)(p[0] << 8 | p[1]);
        if (!sl_my_decimal_size(p[0], p[1]))
            return sl_err_set(err, errlen, SL_ERR_PROTOCOL,
                              "a DECIMAL column has precision %u and scale %u", p[0],
                              p[1]);
        return SL_OK;
    case SL_MY_BIT:
        /* byte 0: bits beyond whole bytes, byte 1: whole bytes (Field_bit metadata) */
        *meta = (uint16_t)(p[1] << 8 | p[0]);
        if (p[0] > 7 || p[1] > 8 || p[1] * 8 + p[0] > 64 || p[1] * 8 + p[0] == 0)
            return sl_err_set(err, errlen, SL_ERR_PROTOCOL,
                              "a BIT column has metadata %u/%u (at most 64 bits)", p[0],
                              p[1]);
        return SL_OK;
    case SL_MY_STRING:
    case SL_MY_ENUM:
    case SL_MY_SET: {
        /* Byte 0 is the real type, byte 1 the length; CHAR columns longer than 255 bytes
         * keep the length's bits 8-9 inverted in bits 4-5 of the real type (Field_string
         * ::save_field_metadata, because the real type codes all have those bits set). */
        unsigned rt = p[0], len = p[1];
        if ((rt & 0x30) != 0x30) {
            len |= ((rt & 0x30) ^ 0x30) << 4;
            rt |= 0x30;
        }
        *real_type = (uint8_t)rt;
        *meta = (uint16_t)len;
        if (rt == SL_MY_STRING || rt == SL_MY_VAR_STRING) {
            *real_type = SL_MY_STRING;
            return SL_OK;
        }
        if (rt == SL_MY_ENUM) {
            if (len != 1 && len != 2)
                return sl_err_set(err, errlen, SL_ERR_PROTOCOL,
                                  "an ENUM column has pack length %u", len);
            return SL_OK;
        }
        if (rt == SL_MY_SET) {
            if (len < 1 || len > 8)
                return sl_err_set(err, errlen, SL_ERR_PROTOCOL,
                                  "a SET column has pack length %u", len);
            return SL_OK;
        }
        return sl_err_set(err, errlen, SL_ERR_PROTOCOL,
                          "a STRING column has real type %u in its metadata", rt);
    }
    case SL_MY_DECIMAL:
        return sl_err_set(
            err, errlen, SL_ERR_UNSUPPORTED,
            "the table has a pre-MySQL-5.0 DECIMAL column, which sluice cannot "
            "decode; ALTER TABLE ... FORCE rebuilds it as a current DECIMAL");
    default:
        return sl_err_set(
            err, errlen, SL_ERR_UNSUPPORTED,
            "the table has a column of binlog type %u, which sluice does not "
            "know",
            type);
    }
}

/* ---------------------------------------------------------------------------------------
 * DECIMAL. MySQL's binary format (strings/decimal.c, decimal2bin): the integer part and
 * the fraction are each cut into groups of 9 digits stored as 4-byte big-endian numbers;
 * a leftover group of k<9 digits takes dig2bytes[k] bytes (leading for the integer part,
 * trailing for the fraction). The first byte's top bit is inverted, and a negative number
 * has every byte inverted, so the bytes compare like the numbers.
 */

/* v as exactly k decimal digits at t, zero-padded (the hot paths avoid printf: a row of
 * a DECIMAL and a DATETIME column cost a third more with it) */
static void put_digits(char *t, uint32_t v, int k)
{
    for (int i = k - 1; i >= 0; i--) {
        t[i] = (char)('0' + v % 10);
        v /= 10;
    }
}

/* v in decimal with at least k digits at t, as printf's "%0*u"; returns the length */
static int put_uint_min(char *t, uint32_t v, int k)
{
    int n = 1;
    for (uint32_t x = v; x >= 10; x /= 10)
        n++;
    if (n < k)
        n = k;
    put_digits(t, v, n);
    return n;
}

static const int dig2bytes[10] = {0, 1, 1, 2, 2, 3, 3, 4, 4, 4};
static const uint32_t pow10_9[10] = {1,      10,      100,      1000,      10000,
                                     100000, 1000000, 10000000, 100000000, 1000000000};

/* Scale up to 38: MySQL allows 30, MariaDB (since 10.2.1) 38; precision is 65 in both. */
size_t sl_my_decimal_size(int precision, int scale)
{
    if (precision < 1 || precision > 65 || scale < 0 || scale > 38 || scale > precision)
        return 0;
    int intg = precision - scale;
    return (size_t)(intg / 9 * 4 + dig2bytes[intg % 9] + scale / 9 * 4 +
                    dig2bytes[scale % 9]);
}

sl_err_t sl_my_decimal_to_text(const uint8_t *p, size_t n, int precision, int scale,
                               size_t *used, sl_buf_t *out, char *err, size_t errlen)
{
    size_t size = sl_my_decimal_size(precision, scale);
    if (!size)
        return sl_err_set(err, errlen, SL_ERR_PROTOCOL,
                          "DECIMAL(%d,%d) is not a valid decimal type", precision, scale);
    if (size > n)
        return short_value("DECIMAL", size, n, err, errlen);
    uint8_t b[64]; /* at most 65 digits: 32 bytes (DECIMAL(65,30) takes 30) */
    memcpy(b, p, size);
    uint8_t mask = (b[0] & 0x80) ? 0 : 0xff; /* sign bit clear = negative */
    int neg = mask != 0;
    b[0] ^= 0x80;
    for (size_t i = 0; i < size; i++)
        b[i] ^= mask;

    int intg = precision - scale;
    int intg0 = intg / 9, intg0x = intg % 9, frac0 = scale / 9, frac0x = scale % 9;
    /* text[1] is room for a sign before a lone '0'; integer digits from text[2] on */
    char text[2 + 65 + 1]; /* intg + scale <= 65 digits */
    size_t ni = 2, pos = 0;
    for (int g = -1; g < intg0; g++) {
        int k = g < 0 ? intg0x : 9;
        if (!k)
            continue;
        int nb = g < 0 ? dig2bytes[k] : 4;
        uint32_t v = (uint32_t)be_n(b + pos, nb);
        pos += (size_t)nb;
        if (v >= pow10_9[k])
            goto bad;
        put_digits(text + ni, v, k);
        ni += (size_t)k;
    }
    size_t z = 2; /* the first digit written: leading zeros dropped, "0" for none */
    while (z < ni && text[z] == '0')
        z++;
    int nonzero = z < ni;
    if (!nonzero)
        text[--z] = '0';
    size_t end = ni;
    if (frac0 || frac0x)
        text[end++] = '.';
    for (int g = 0; g <= frac0; g++) {
        int k = g < frac0 ? 9 : frac0x;
        if (!k)
            continue;
        int nb = g < frac0 ? 4 : dig2bytes[k];
        uint32_t v = (uint32_t)be_n(b + pos, nb);
        pos += (size_t)nb;
        if (v >= pow10_9[k])
            goto bad;
        put_digits(text + end, v, k);
        nonzero = nonzero || v != 0;
        end += (size_t)k;
    }
    if (neg && nonzero)
        text[--z] = '-';
    sl_buf_append(out, text + z, end - z);
    *used = size;
    return SL_OK;
bad:
    return sl_err_set(err, errlen, SL_ERR_PROTOCOL,
                      "DECIMAL(%d,%d) value has a digit group out of range", precision,
                      scale);
}

/* ---------------------------------------------------------------------------------------
 * Temporal types. Formats from MySQL's my_time.cc (my_time_packed_from_binary,
 * my_datetime_packed_from_binary, my_timestamp_from_binary, TIME_from_longlong_*_packed).
 * Text is ISO-8601 with exactly the column's fractional digits (docs/types.md).
 */

/* Days since 1970-01-01 to a civil date (H. Hinnant's algorithm). */
static void civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    unsigned doe = (unsigned)(z - era * 146097);
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t yy = (int64_t)yoe + era * 400;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    unsigned mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = yy + (*m <= 2);
}

static void put_frac(sl_buf_t *b, uint32_t us, int fsp)
{
    if (fsp <= 0)
        return;
    char t[7];
    t[0] = '.';
    put_digits(t + 1, us % 1000000, 6);
    sl_buf_append(b, t, (size_t)fsp + 1);
}

static void put_datetime(sl_buf_t *b, unsigned y, unsigned mo, unsigned d, unsigned h,
                         unsigned mi, unsigned s, uint32_t us, int fsp, char sep)
{
    /* "%04u-%02u-%02u%c%02u:%02u:%02u" of the values modulo 10000 and 100 */
    char t[19];
    put_digits(t, y % 10000, 4);
    t[4] = '-';
    put_digits(t + 5, mo % 100, 2);
    t[7] = '-';
    put_digits(t + 8, d % 100, 2);
    t[10] = sep;
    put_digits(t + 11, h % 100, 2);
    t[13] = ':';
    put_digits(t + 14, mi % 100, 2);
    t[16] = ':';
    put_digits(t + 17, s % 100, 2);
    sl_buf_append(b, t, sizeof(t));
    put_frac(b, us, fsp);
}

/* Fractional part of TIME2/DATETIME2/TIMESTAMP2: (fsp+1)/2 bytes, big-endian, scaled to
 * microseconds. Signed for TIME2/DATETIME2, unsigned for TIMESTAMP2. */
static int64_t frac_read(const uint8_t *p, int fsp, int is_signed)
{
    switch (fsp) {
    case 1:
    case 2:
        return (is_signed ? sext(p[0], 8) : p[0]) * 10000;
    case 3:
    case 4:
        return (is_signed ? sext(be_n(p, 2), 16) : (int64_t)be_n(p, 2)) * 100;
    case 5:
    case 6:
        return is_signed ? sext(be_n(p, 3), 24) : (int64_t)be_n(p, 3);
    default:
        return 0;
    }
}

static sl_err_t bad_temporal(const char *what, char *err, size_t errlen)
{
    return sl_err_set(err, errlen, SL_ERR_PROTOCOL, "%s value is out of range", what);
}

static sl_err_t decode_time2(const uint8_t *p, int fsp, sl_buf_t *b, char *err,
                             size_t errlen)
{
    int64_t packed;
    if (fsp >= 5) {
        packed = (int64_t)be_n(p, 6) - (int64_t)0x800000000000LL;
    } else {
        int64_t intpart = (int64_t)be_n(p, 3) - 0x800000;
        int64_t frac = 0;
        /* the fraction is unsigned; a negative time stores 0x100 - frac (0x10000 - frac)
         * and one less in the integer part, so that the bytes sort like the times */
        if (fsp == 1 || fsp == 2) {
            frac = p[3];
            if (intpart < 0 && frac) {
                intpart++;
                frac -= 0x100;
            }
            frac *= 10000;
        } else if (fsp == 3 || fsp == 4) {
            frac = (int64_t)be_n(p + 3, 2);
            if (intpart < 0 && frac) {
                intpart++;
                frac -= 0x10000;
            }
            frac *= 100;
        }
        packed = intpart * ((int64_t)1 << 24) + frac;
    }
    int neg = packed < 0;
    uint64_t u = neg ? (uint64_t)0 - (uint64_t)packed : (uint64_t)packed;
    uint64_t hms = u >> 24, us = u & 0xffffff;
    unsigned hour = (unsigned)((hms >> 12) % 1024), min = (unsigned)((hms >> 6) % 64),
             sec = (unsigned)(hms % 64);
    if (us > 999999 || min > 59 || sec > 59)
        return bad_temporal("TIME", err, errlen);
    char t[16]; /* "-%02u:%02u:%02u", the hour below 1024 */
    int n = 0;
    if (neg)
        t[n++] = '-';
    n += put_uint_min(t + n, hour, 2);
    t[n++] = ':';
    put_digits(t + n, min, 2);
    t[n + 2] = ':';
    put_digits(t + n + 3, sec, 2);
    sl_buf_append(b, t, (size_t)n + 5);
    put_frac(b, (uint32_t)us, fsp);
    return SL_OK;
}

static sl_err_t decode_datetime2(const uint8_t *p, int fsp, sl_buf_t *b, char *err,
                                 size_t errlen)
{
    int64_t intpart = (int64_t)be_n(p, 5) - (int64_t)0x8000000000LL;
    int64_t frac = frac_read(p + 5, fsp, 1);
    if (intpart < 0 || frac < 0 || frac > 999999)
        return bad_temporal("DATETIME", err, errlen);
    uint64_t ymd = (uint64_t)intpart >> 17, hms = (uint64_t)intpart & 0x1ffff;
    uint64_t ym = ymd >> 5;
    unsigned day = (unsigned)(ymd & 31), month = (unsigned)(ym % 13),
             year = (unsigned)(ym / 13);
    unsigned sec = (unsigned)(hms & 63), min = (unsigned)((hms >> 6) & 63),
             hour = (unsigned)(hms >> 12);
    if (year > 9999 || hour > 23 || min > 59 || sec > 59)
        return bad_temporal("DATETIME", err, errlen);
    put_datetime(b, year, month, day, hour, min, sec, (uint32_t)frac, fsp, 'T');
    return SL_OK;
}

static sl_err_t decode_timestamp(uint64_t secs, uint32_t us, int fsp, sl_buf_t *b)
{
    if (secs == 0 && us == 0) { /* the zero timestamp '0000-00-00 00:00:00' */
        put_datetime(b, 0, 0, 0, 0, 0, 0, 0, fsp, 'T');
        sl_buf_putc(b, 'Z');
        return SL_OK;
    }
    int64_t y;
    unsigned m, d;
    civil_from_days((int64_t)(secs / 86400), &y, &m, &d);
    unsigned s = (unsigned)(secs % 86400);
    put_datetime(b, (unsigned)y, m, d, s / 3600, s / 60 % 60, s % 60, us, fsp, 'T');
    sl_buf_putc(b, 'Z');
    return SL_OK;
}

/* ---------------------------------------------------------------------------------------
 * Binary JSON (MySQL sql-common/json_binary.h, "The binary format"). The text is written
 * the way MySQL prints JSON: ", " between members, ": " after keys, strings escaped as
 * JSON, DATETIME/TIME/DATE opaque values as quoted strings with 6 fractional digits,
 * DECIMAL as a number and any other opaque value as "base64:typeNN:..."
 */

#define JSONB_SMALL_OBJECT 0x00
#define JSONB_LARGE_OBJECT 0x01
#define JSONB_SMALL_ARRAY 0x02
#define JSONB_LARGE_ARRAY 0x03
#define JSONB_LITERAL 0x04
#define JSONB_INT16 0x05
#define JSONB_UINT16 0x06
#define JSONB_INT32 0x07
#define JSONB_UINT32 0x08
#define JSONB_INT64 0x09
#define JSONB_UINT64 0x0a
#define JSONB_DOUBLE 0x0b
#define JSONB_STRING 0x0c
#define JSONB_OPAQUE 0x0f
#define JSONB_MAX_DEPTH 150 /* MySQL allows 100 levels */

typedef struct jctx {
    sl_buf_t *out;
    size_t limit; /* output bound: a hostile document could share sub-trees */
    char *err;
    size_t errlen;
} jctx_t;

static sl_err_t jbad(jctx_t *j, const char *what)
{
    return sl_err_set(j->err, j->errlen, SL_ERR_PROTOCOL, "binary JSON: %s", what);
}

/* data-length: 7 bits per byte, low bits first, high bit = more (at most 5 bytes). */
static int jvarlen(const uint8_t *p, size_t n, uint32_t *len, size_t *used)
{
    uint64_t v = 0;
    for (size_t i = 0; i < 5 && i < n; i++) {
        v |= (uint64_t)(p[i] & 0x7f) << (7 * i);
        if (!(p[i] & 0x80)) {
            if (v > UINT32_MAX)
                return -1;
            *len = (uint32_t)v;
            *used = i + 1;
            return 0;
        }
    }
    return -1;
}

static void jdouble(sl_buf_t *b, double d)
{
    char t[40];
    if (!isfinite(d)) { /* cannot be stored by MySQL; keep the text valid JSON */
        sl_buf_puts(b, "null");
        return;
    }
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(t, sizeof(t), "%.*g", prec, d);
        if (strtod(t, NULL) == d)
            break;
    }
    /* MySQL prints exponents without '+' and keeps a double looking like one ("1.0") */
    char o[48];
    size_t k = 0;
    int has_dot = 0, has_e = 0;
    for (size_t i = 0; t[i]; i++) {
        if (t[i] == '+')
            continue;
        if (t[i] == '.')
            has_dot = 1;
        if (t[i] == 'e')
            has_e = 1;
        o[k++] = t[i];
    }
    o[k] = 0;
    sl_buf_puts(b, o);
    if (!has_dot && !has_e)
        sl_buf_puts(b, ".0");
}

/* Packed temporal longlong of JSON opaque DATE/TIME/DATETIME/TIMESTAMP values
 * (TIME_to_longlong_*_packed in my_time.cc). */
static sl_err_t jtemporal(jctx_t *j, uint8_t ftype, const uint8_t *p, uint32_t n)
{
    if (n < 8)
        return jbad(j, "a temporal opaque value is shorter than 8 bytes");
    int64_t v = (int64_t)le_n(p, 8);
    int neg = v < 0;
    uint64_t u = neg ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    uint32_t us = (uint32_t)(u % (1 << 24));
    uint64_t hi = u >> 24;
    if (us > 999999)
        return jbad(j, "a temporal opaque value has microseconds out of range");
    sl_buf_putc(j->out, '"');
    if (ftype == SL_MY_TIME) {
        if (neg)
            sl_buf_putc(j->out, '-');
        sl_buf_printf(j->out, "%02u:%02u:%02u", (unsigned)((hi >> 12) % 1024),
                      (unsigned)((hi >> 6) % 64), (unsigned)(hi % 64));
        put_frac(j->out, us, 6);
    } else {
        uint64_t ymd = hi >> 17, hms = hi % (1 << 17), ym = ymd >> 5;
        unsigned y = (unsigned)(ym / 13 % 10000), mo = (unsigned)(ym % 13),
                 d = (unsigned)(ymd % 32);
        if (ftype == SL_MY_DATE) {
            sl_buf_printf(j->out, "%04u-%02u-%02u", y, mo, d);
        } else {
            put_datetime(j->out, y, mo, d, (unsigned)(hms >> 12),
                         (unsigned)((hms >> 6) % 64), (unsigned)(hms % 64), us, 6, ' ');
        }
    }
    sl_buf_putc(j->out, '"');
    return SL_OK;
}

static sl_err_t jvalue(jctx_t *j, uint8_t type, const uint8_t *p, size_t n, int depth);

/* An object or array; p points at its element count, n bytes are available. */
static sl_err_t jcontainer(jctx_t *j, uint8_t type, const uint8_t *p, size_t n, int depth)
{
    int large = type == JSONB_LARGE_OBJECT || type == JSONB_LARGE_ARRAY;
    int object = type == JSONB_SMALL_OBJECT || type == JSONB_LARGE_OBJECT;
    size_t osz = large ? 4 : 2;
    if (depth > JSONB_MAX_DEPTH)
        return jbad(j, "nesting is deeper than 150 levels");
    if (n < 2 * osz)
        return jbad(j, "a container header is truncated");
    uint64_t count = le_n(p, (int)osz), size = le_n(p + osz, (int)osz);
    if (size > n || size < 2 * osz)
        return jbad(j, "a container's size is larger than its space");
    size_t key_entry = osz + 2, val_entry = 1 + osz;
    uint64_t hdr = 2 * osz + count * (object ? key_entry : 0) + count * val_entry;
    if (hdr > size)
        return jbad(j, "a container's entries do not fit in it");
    sl_buf_putc(j->out, object ? '{' : '[');
    for (uint64_t i = 0; i < count; i++) {
        if (j->out->len > j->limit)
            return jbad(j, "the document expands beyond any stored document's size");
        if (i)
            sl_buf_puts(j->out, ", ");
        if (object) {
            const uint8_t *ke = p + 2 * osz + i * key_entry;
            uint64_t koff = le_n(ke, (int)osz), klen = le_n(ke + osz, 2);
            if (koff > size || klen > size - koff)
                return jbad(j, "a key lies outside its object");
            sl_buf_put_json_str(j->out, (const char *)p + koff, (size_t)klen);
            sl_buf_puts(j->out, ": ");
        }
        const uint8_t *ve =
            p + 2 * osz + (object ? count * key_entry : 0) + i * val_entry;
        uint8_t vt = ve[0];
        /* literals and 16-bit ints are inlined, 32-bit ints too in the large format */
        int inlined = vt == JSONB_LITERAL || vt == JSONB_INT16 || vt == JSONB_UINT16 ||
                      (large && (vt == JSONB_INT32 || vt == JSONB_UINT32));
        sl_err_t e;
        if (inlined) {
            e = jvalue(j, vt, ve + 1, osz, depth + 1);
        } else {
            uint64_t voff = le_n(ve + 1, (int)osz);
            if (voff >= size)
                return jbad(j, "a value lies outside its container");
            e = jvalue(j, vt, p + voff, (size_t)(size - voff), depth + 1);
        }
        if (e)
            return e;
    }
    sl_buf_putc(j->out, object ? '}' : ']');
    return SL_OK;
}

static sl_err_t jvalue(jctx_t *j, uint8_t type, const uint8_t *p, size_t n, int depth)
{
    char t[32];
    switch (type) {
    case JSONB_SMALL_OBJECT:
    case JSONB_LARGE_OBJECT:
    case JSONB_SMALL_ARRAY:
    case JSONB_LARGE_ARRAY:
        return jcontainer(j, type, p, n, depth);
    case JSONB_LITERAL:
        if (n < 1)
            return jbad(j, "a literal is truncated");
        if (p[0] > 2)
            return jbad(j, "an unknown literal");
        sl_buf_puts(j->out, p[0] == 0 ? "null" : p[0] == 1 ? "true" : "false");
        return SL_OK;
    case JSONB_INT16:
    case JSONB_UINT16:
        if (n < 2)
            return jbad(j, "a 16-bit integer is truncated");
        if (type == JSONB_INT16)
            sl_buf_put_i64(j->out, sext(le_n(p, 2), 16));
        else
            sl_buf_put_u64(j->out, le_n(p, 2));
        return SL_OK;
    case JSONB_INT32:
    case JSONB_UINT32:
        if (n < 4)
            return jbad(j, "a 32-bit integer is truncated");
        if (type == JSONB_INT32)
            sl_buf_put_i64(j->out, sext(le_n(p, 4), 32));
        else
            sl_buf_put_u64(j->out, le_n(p, 4));
        return SL_OK;
    case JSONB_INT64:
    case JSONB_UINT64:
        if (n < 8)
            return jbad(j, "a 64-bit integer is truncated");
        if (type == JSONB_INT64)
            sl_buf_put_i64(j->out, (int64_t)le_n(p, 8));
        else
            sl_buf_put_u64(j->out, le_n(p, 8));
        return SL_OK;
    case JSONB_DOUBLE: {
        if (n < 8)
            return jbad(j, "a double is truncated");
        uint64_t bits = le_n(p, 8);
        double d;
        memcpy(&d, &bits, sizeof d);
        jdouble(j->out, d);
        return SL_OK;
    }
    case JSONB_STRING: {
        uint32_t len;
        size_t used;
        if (jvarlen(p, n, &len, &used) || len > n - used)
            return jbad(j, "a string's length exceeds its space");
        sl_buf_put_json_str(j->out, (const char *)p + used, len);
        return SL_OK;
    }
    case JSONB_OPAQUE: {
        uint32_t len;
        size_t used;
        if (n < 1 || jvarlen(p + 1, n - 1, &len, &used) || len > n - 1 - used)
            return jbad(j, "an opaque value's length exceeds its space");
        uint8_t ft = p[0];
        const uint8_t *d = p + 1 + used;
        if (ft == SL_MY_NEWDECIMAL) {
            size_t dused;
            if (len < 2)
                return jbad(j, "a decimal opaque value is truncated");
            return sl_my_decimal_to_text(d + 2, len - 2, d[0], d[1], &dused, j->out,
                                         j->err, j->errlen);
        }
        if (ft == SL_MY_DATE || ft == SL_MY_TIME || ft == SL_MY_DATETIME ||
            ft == SL_MY_TIMESTAMP || ft == SL_MY_DATETIME2 || ft == SL_MY_TIMESTAMP2 ||
            ft == SL_MY_TIME2)
            return jtemporal(j, ft == SL_MY_TIME2 ? SL_MY_TIME : ft, d, len);
        snprintf(t, sizeof(t), "\"base64:type%u:", ft);
        sl_buf_puts(j->out, t);
        sl_buf_put_base64(j->out, d, len);
        sl_buf_putc(j->out, '"');
        return SL_OK;
    }
    default:
        snprintf(t, sizeof(t), "unknown value type 0x%02x", type);
        return jbad(j, t);
    }
}

sl_err_t sl_my_json_to_text(const uint8_t *p, size_t n, sl_buf_t *out, char *err,
                            size_t errlen)
{
    if (n == 0) { /* MySQL reads an empty JSON column value as the JSON null literal */
        sl_buf_puts(out, "null");
        return SL_OK;
    }
    jctx_t j = {out, out->len + 16 * n + 256, err, errlen};
    return jvalue(&j, p[0], p + 1, n - 1, 0);
}

/* ---------------------------------------------------------------------------------------
 * One value of a row image.
 */

static const char *col_what(uint8_t type)
{
    switch (type) {
    case SL_MY_TINY:
        return "TINYINT";
    case SL_MY_SHORT:
        return "SMALLINT";
    case SL_MY_INT24:
        return "MEDIUMINT";
    case SL_MY_LONG:
        return "INT";
    case SL_MY_LONGLONG:
        return "BIGINT";
    case SL_MY_FLOAT:
        return "FLOAT";
    case SL_MY_DOUBLE:
        return "DOUBLE";
    case SL_MY_NEWDECIMAL:
        return "DECIMAL";
    case SL_MY_DATE:
        return "DATE";
    case SL_MY_TIME:
        return "TIME";
    case SL_MY_TIME2:
        return "TIME";
    case SL_MY_DATETIME:
        return "DATETIME";
    case SL_MY_DATETIME2:
        return "DATETIME";
    case SL_MY_TIMESTAMP:
        return "TIMESTAMP";
    case SL_MY_TIMESTAMP2:
        return "TIMESTAMP";
    case SL_MY_YEAR:
        return "YEAR";
    case SL_MY_BIT:
        return "BIT";
    case SL_MY_ENUM:
        return "ENUM";
    case SL_MY_SET:
        return "SET";
    case SL_MY_STRING:
        return "CHAR";
    case SL_MY_VARCHAR:
    case SL_MY_VAR_STRING:
        return "VARCHAR";
    case SL_MY_BLOB:
        return "BLOB/TEXT";
    case SL_MY_JSON:
        return "JSON";
    case SL_MY_GEOMETRY:
        return "GEOMETRY";
    default:
        return "column";
    }
}

/* Read a little-endian length prefix of nb bytes followed by that many bytes. */
static sl_err_t length_prefixed(const sl_my_col_t *col, int nb, const uint8_t *p,
                                size_t avail, size_t *used, const uint8_t **data,
                                size_t *len, char *err, size_t errlen)
{
    if ((size_t)nb > avail)
        return short_value(col_what(col->type), (size_t)nb, avail, err, errlen);
    uint64_t l = le_n(p, nb);
    if (l > avail - (size_t)nb)
        return short_value(col_what(col->type), (size_t)nb + (size_t)l, avail, err,
                           errlen);
    *data = p + nb;
    *len = (size_t)l;
    *used = (size_t)nb + (size_t)l;
    return SL_OK;
}

static void set_int(sl_value_t *out, int64_t v)
{
    out->kind = SL_V_INT;
    out->len = 0;
    out->v.i = v;
}

static void set_uint(sl_value_t *out, uint64_t v)
{
    out->kind = SL_V_UINT;
    out->len = 0;
    out->v.u = v;
}

/* A finite float as the double of its shortest decimal text (1.1f is 1.1, not
 * 1.100000023841858), which is how MySQL prints it. */
static double float_shortest(float f, char *t, size_t n)
{
    for (int prec = 6; prec <= 9; prec++) {
        snprintf(t, n, "%.*g", prec, (double)f);
        if (strtof(t, NULL) == f)
            break;
    }
    return strtod(t, NULL);
}

sl_err_t sl_my_decode(const sl_my_col_t *col, const uint8_t *p, size_t avail,
                      size_t *used, sl_arena_t *arena, sl_buf_t *tmp, sl_value_t *out,
                      char *err, size_t errlen)
{
    int uns = (col->flags & SL_MY_F_UNSIGNED) != 0;
    int fsp = col->meta;
    size_t need = 0;
    sl_err_t e;
    const uint8_t *data;
    size_t len;

    switch (col->type) {
    case SL_MY_TINY:
        need = 1;
        break;
    case SL_MY_SHORT:
        need = 2;
        break;
    case SL_MY_INT24:
        need = 3;
        break;
    case SL_MY_LONG:
        need = 4;
        break;
    case SL_MY_LONGLONG:
        need = 8;
        break;
    case SL_MY_FLOAT:
        need = 4;
        break;
    case SL_MY_DOUBLE:
        need = 8;
        break;
    case SL_MY_YEAR:
        need = 1;
        break;
    case SL_MY_DATE:
        need = 3;
        break;
    case SL_MY_TIME:
        need = 3;
        break;
    case SL_MY_DATETIME:
        need = 8;
        break;
    case SL_MY_TIMESTAMP:
        need = 4;
        break;
    case SL_MY_TIME2:
        need = 3 + (size_t)(fsp + 1) / 2;
        break;
    case SL_MY_DATETIME2:
        need = 5 + (size_t)(fsp + 1) / 2;
        break;
    case SL_MY_TIMESTAMP2:
        need = 4 + (size_t)(fsp + 1) / 2;
        break;
    case SL_MY_BIT:
        need = (size_t)(col->meta >> 8) + ((col->meta & 0xff) ? 1 : 0);
        break;
    case SL_MY_ENUM:
    case SL_MY_SET:
        need = col->meta & 0xff;
        break;
    case SL_MY_NEWDECIMAL:
        need = sl_my_decimal_size(col->meta >> 8, col->meta & 0xff);
        if (!need)
            return sl_err_set(err, errlen, SL_ERR_PROTOCOL,
                              "DECIMAL column with impossible precision/scale metadata");
        break;
    case SL_MY_NULL:
        out->kind = SL_V_NULL;
        out->len = 0;
        *used = 0;
        return SL_OK;
    default:
        break; /* variable-length types below */
    }
    if (need > avail)
        return short_value(col_what(col->type), need, avail, err, errlen);
    *used = need;

    switch (col->type) {
    case SL_MY_TINY:
        if (uns)
            set_uint(out, p[0]);
        else
            set_int(out, sext(p[0], 8));
        return SL_OK;
    case SL_MY_SHORT:
    case SL_MY_INT24:
    case SL_MY_LONG:
    case SL_MY_LONGLONG: {
        uint64_t v = le_n(p, (int)need);
        if (uns)
            set_uint(out, v);
        else
            set_int(out, sext(v, (int)need * 8));
        return SL_OK;
    }
    case SL_MY_FLOAT: {
        /* The float's shortest decimal text read back as a double, so 1.1f prints as
         * 1.1 (as MySQL shows it), not as 1.100000023841858. */
        uint32_t bits = (uint32_t)le_n(p, 4);
        float f;
        char t[32];
        memcpy(&f, &bits, sizeof f);
        out->kind = SL_V_DOUBLE;
        out->len = 0;
        if (!isfinite(f)) {
            out->v.d = f;
            return SL_OK;
        }
        out->v.d = float_shortest(f, t, sizeof(t));
        return SL_OK;
    }
    case SL_MY_DOUBLE: {
        uint64_t bits = le_n(p, 8);
        out->kind = SL_V_DOUBLE;
        out->len = 0;
        memcpy(&out->v.d, &bits, sizeof(double));
        return SL_OK;
    }
    case SL_MY_YEAR:
        set_int(out, p[0] ? 1900 + p[0] : 0);
        return SL_OK;
    case SL_MY_NEWDECIMAL: {
        size_t u;
        sl_buf_reset(tmp);
        e = sl_my_decimal_to_text(p, avail, col->meta >> 8, col->meta & 0xff, &u, tmp,
                                  err, errlen);
        if (e)
            return e;
        out_tmp_string(tmp, arena, out);
        return SL_OK;
    }
    case SL_MY_DATE: {
        uint32_t v = (uint32_t)le_n(p, 3);
        char t[16]; /* "%04u-%02u-%02u"; the year is below 2^15 */
        int n = put_uint_min(t, v >> 9, 4);
        t[n] = '-';
        put_digits(t + n + 1, (v >> 5) & 15, 2);
        t[n + 3] = '-';
        put_digits(t + n + 4, v & 31, 2);
        sl_buf_reset(tmp);
        sl_buf_append(tmp, t, (size_t)n + 6);
        out_tmp_string(tmp, arena, out);
        return SL_OK;
    }
    case SL_MY_TIME: { /* pre-5.6: signed HHMMSS as an integer */
        int64_t v = sext(le_n(p, 3), 24);
        uint64_t a = v < 0 ? (uint64_t)-v : (uint64_t)v;
        sl_buf_reset(tmp);
        sl_buf_printf(tmp, "%s%02u:%02u:%02u", v < 0 ? "-" : "", (unsigned)(a / 10000),
                      (unsigned)(a / 100 % 100), (unsigned)(a % 100));
        out_tmp_string(tmp, arena, out);
        return SL_OK;
    }
    case SL_MY_DATETIME: { /* pre-5.6: YYYYMMDDhhmmss as an integer */
        uint64_t v = le_n(p, 8), d = v / 1000000, t = v % 1000000;
        if (d / 10000 > 9999)
            return bad_temporal("DATETIME", err, errlen);
        sl_buf_reset(tmp);
        put_datetime(tmp, (unsigned)(d / 10000), (unsigned)(d / 100 % 100),
                     (unsigned)(d % 100), (unsigned)(t / 10000),
                     (unsigned)(t / 100 % 100), (unsigned)(t % 100), 0, 0, 'T');
        out_tmp_string(tmp, arena, out);
        return SL_OK;
    }
    case SL_MY_TIMESTAMP:
        sl_buf_reset(tmp);
        decode_timestamp(le_n(p, 4), 0, 0, tmp);
        out_tmp_string(tmp, arena, out);
        return SL_OK;
    case SL_MY_TIME2:
        sl_buf_reset(tmp);
        if ((e = decode_time2(p, fsp, tmp, err, errlen)))
            return e;
        out_tmp_string(tmp, arena, out);
        return SL_OK;
    case SL_MY_DATETIME2:
        sl_buf_reset(tmp);
        if ((e = decode_datetime2(p, fsp, tmp, err, errlen)))
            return e;
        out_tmp_string(tmp, arena, out);
        return SL_OK;
    case SL_MY_TIMESTAMP2: {
        int64_t us = frac_read(p + 4, fsp, 0);
        if (us > 999999)
            return bad_temporal("TIMESTAMP", err, errlen);
        sl_buf_reset(tmp);
        decode_timestamp(be_n(p, 4), (uint32_t)us, fsp, tmp);
        out_tmp_string(tmp, arena, out);
        return SL_OK;
    }
    case SL_MY_BIT: {
        /* BIT(1) as a boolean, wider BIT(n) as an unsigned number (big-endian bytes) */
        uint64_t v = be_n(p, (int)need);
        unsigned bits = (col->meta >> 8) * 8 + (col->meta & 0xff);
        if (bits == 1) {
            out->kind = SL_V_BOOL;
            out->len = 0;
            out->v.i = v & 1;
        } else {
            set_uint(out, v);
        }
        return SL_OK;
    }
    case SL_MY_ENUM: {
        uint64_t idx = le_n(p, (int)need);
        if (!col->vals) { /* member strings unknown: the 1-based index */
            set_uint(out, idx);
            return SL_OK;
        }
        if (idx > col->nvals)
            return sl_err_set(err, errlen, SL_ERR_PROTOCOL,
                              "ENUM index %llu is beyond the column's %u members",
                              (unsigned long long)idx, col->nvals);
        out->kind = SL_V_STRING;
        if (idx == 0) { /* the "" error member MySQL stores for invalid input */
            out->v.s = "";
            out->len = 0;
        } else {
            out->v.s = col->vals[idx - 1].s;
            out->len = col->vals[idx - 1].len;
        }
        return SL_OK;
    }
    case SL_MY_SET: {
        uint64_t mask = le_n(p, (int)need);
        if (!col->vals) {
            set_uint(out, mask);
            return SL_OK;
        }
        if (col->nvals < 64 && (mask >> col->nvals))
            return sl_err_set(err, errlen, SL_ERR_PROTOCOL,
                              "SET value has bits beyond the column's %u members",
                              col->nvals);
        sl_buf_reset(tmp);
        int first = 1;
        for (uint32_t i = 0; i < col->nvals && i < 64; i++) {
            if (!(mask >> i & 1))
                continue;
            if (!first)
                sl_buf_putc(tmp, ',');
            first = 0;
            sl_buf_append(tmp, col->vals[i].s, col->vals[i].len);
        }
        out_tmp_string(tmp, arena, out);
        return SL_OK;
    }
    default:
        break;
    }

    /* Variable-length types. */
    switch (col->type) {
    case SL_MY_STRING: {
        /* CHAR(n): 1-byte length below 256 bytes, else 2. MySQL strips the pad bytes
         * (spaces, or zero bytes for BINARY) before logging (Field_string::pack);
         * BINARY(n) is padded back so the value equals what SELECT returns. */
        int nb = col->meta > 255 ? 2 : 1;
        if ((e = length_prefixed(col, nb, p, avail, used, &data, &len, err, errlen)))
            return e;
        if (col->cs == SL_MY_CS_BINARY && len < col->meta) {
            char *d = sl_arena_alloc(arena, col->meta);
            memcpy(d, data, len);
            memset(d + len, 0, col->meta - len);
            out->kind = SL_V_BYTES;
            out->v.s = d;
            out->len = col->meta;
            return SL_OK;
        }
        return text_value((sl_my_cs_t)col->cs, data, len, arena, tmp, out, err, errlen);
    }
    case SL_MY_VARCHAR:
    case SL_MY_VAR_STRING: {
        int nb = col->meta > 255 ? 2 : 1;
        if ((e = length_prefixed(col, nb, p, avail, used, &data, &len, err, errlen)))
            return e;
        return text_value((sl_my_cs_t)col->cs, data, len, arena, tmp, out, err, errlen);
    }
    case SL_MY_BLOB:
    case SL_MY_TINY_BLOB:
    case SL_MY_MEDIUM_BLOB:
    case SL_MY_LONG_BLOB:
        if (col->meta < 1 || col->meta > 4)
            return sl_err_set(err, errlen, SL_ERR_PROTOCOL,
                              "BLOB column with bad metadata");
        if ((e = length_prefixed(col, col->meta, p, avail, used, &data, &len, err,
                                 errlen)))
            return e;
        return text_value((sl_my_cs_t)col->cs, data, len, arena, tmp, out, err, errlen);
    case SL_MY_GEOMETRY:
        /* 4-byte SRID then WKB, kept together as bytes */
        if (col->meta < 1 || col->meta > 4)
            return sl_err_set(err, errlen, SL_ERR_PROTOCOL,
                              "GEOMETRY column with bad "
                              "metadata");
        if ((e = length_prefixed(col, col->meta, p, avail, used, &data, &len, err,
                                 errlen)))
            return e;
        out->kind = SL_V_BYTES;
        out->v.s = (const char *)data;
        out->len = len;
        return SL_OK;
    case SL_MY_JSON:
        if (col->meta < 1 || col->meta > 4)
            return sl_err_set(err, errlen, SL_ERR_PROTOCOL,
                              "JSON column with bad metadata");
        if ((e = length_prefixed(col, col->meta, p, avail, used, &data, &len, err,
                                 errlen)))
            return e;
        if (col->flags & SL_MY_F_JSON_TEXT) {
            out->kind = SL_V_STRING;
            out->v.s = (const char *)data;
            out->len = len;
            return SL_OK;
        }
        sl_buf_reset(tmp);
        if ((e = sl_my_json_to_text(data, len, tmp, err, errlen)))
            return e;
        out_tmp_string(tmp, arena, out);
        return SL_OK;
    default:
        return sl_err_set(err, errlen, SL_ERR_UNSUPPORTED,
                          "column type %u cannot be decoded by sluice", col->type);
    }
}

/* ---------------------------------------------------------------------------------------
 * Schema document helpers.
 */

const char *sl_my_type_name(const sl_my_col_t *c)
{
    int u = (c->flags & SL_MY_F_UNSIGNED) != 0;
    int bin = c->cs == SL_MY_CS_BINARY;
    switch (c->type) {
    case SL_MY_TINY:
        return u ? "tinyint unsigned" : "tinyint";
    case SL_MY_SHORT:
        return u ? "smallint unsigned" : "smallint";
    case SL_MY_INT24:
        return u ? "mediumint unsigned" : "mediumint";
    case SL_MY_LONG:
        return u ? "int unsigned" : "int";
    case SL_MY_LONGLONG:
        return u ? "bigint unsigned" : "bigint";
    case SL_MY_FLOAT:
        return "float";
    case SL_MY_DOUBLE:
        return "double";
    case SL_MY_NEWDECIMAL:
        return u ? "decimal unsigned" : "decimal";
    case SL_MY_DATE:
        return "date";
    case SL_MY_TIME:
    case SL_MY_TIME2:
        return "time";
    case SL_MY_DATETIME:
    case SL_MY_DATETIME2:
        return "datetime";
    case SL_MY_TIMESTAMP:
    case SL_MY_TIMESTAMP2:
        return "timestamp";
    case SL_MY_YEAR:
        return "year";
    case SL_MY_BIT:
        return "bit";
    case SL_MY_ENUM:
        return "enum";
    case SL_MY_SET:
        return "set";
    case SL_MY_STRING:
        return bin ? "binary" : "char";
    case SL_MY_VARCHAR:
    case SL_MY_VAR_STRING:
        return bin ? "varbinary" : "varchar";
    case SL_MY_BLOB:
    case SL_MY_TINY_BLOB:
    case SL_MY_MEDIUM_BLOB:
    case SL_MY_LONG_BLOB:
        if (c->flags & SL_MY_F_JSON_TEXT)
            return "json";
        switch (c->meta) {
        case 1:
            return bin ? "tinyblob" : "tinytext";
        case 2:
            return bin ? "blob" : "text";
        case 3:
            return bin ? "mediumblob" : "mediumtext";
        default:
            return bin ? "longblob" : "longtext";
        }
    case SL_MY_JSON:
        return "json";
    case SL_MY_GEOMETRY:
        return "geometry";
    case SL_MY_NULL:
        return "null";
    default:
        return "unknown";
    }
}

sl_jtype_t sl_my_jtype(const sl_my_col_t *c)
{
    switch (c->type) {
    case SL_MY_TINY:
    case SL_MY_SHORT:
    case SL_MY_INT24:
    case SL_MY_LONG:
    case SL_MY_LONGLONG:
    case SL_MY_YEAR:
        return SL_JT_INT;
    case SL_MY_FLOAT:
    case SL_MY_DOUBLE:
        return SL_JT_NUMBER;
    case SL_MY_BIT:
        return ((c->meta >> 8) * 8 + (c->meta & 0xff)) == 1 ? SL_JT_BOOL : SL_JT_INT;
    case SL_MY_ENUM:
    case SL_MY_SET:
        return c->vals ? SL_JT_STRING : SL_JT_INT;
    case SL_MY_STRING:
    case SL_MY_VARCHAR:
    case SL_MY_VAR_STRING:
    case SL_MY_BLOB:
    case SL_MY_TINY_BLOB:
    case SL_MY_MEDIUM_BLOB:
    case SL_MY_LONG_BLOB:
        if (c->flags & SL_MY_F_JSON_TEXT)
            return SL_JT_JSON;
        return c->cs == SL_MY_CS_BINARY ? SL_JT_BYTES : SL_JT_STRING;
    case SL_MY_GEOMETRY:
        return SL_JT_BYTES;
    case SL_MY_JSON:
        return SL_JT_JSON;
    default:
        return SL_JT_STRING;
    }
}

/* ---------------------------------------------------------------------------------------
 * Snapshot values: what SELECT returns (text protocol, session time_zone '+00:00', the
 * expressions of sl_my_select_expr) turned into exactly the value sl_my_decode gives for
 * the same row in the binlog, so a row reads the same from a snapshot and from a change.
 */

void sl_my_select_expr(const sl_my_col_t *col, const char *quoted, sl_buf_t *out)
{
    switch (col->type) {
    case SL_MY_FLOAT: /* the float's exact value; its own text has only 6 digits */
        sl_buf_printf(out, "CAST(%s AS DOUBLE)", quoted);
        return;
    case SL_MY_BIT:
        sl_buf_printf(out, "%s + 0", quoted);
        return;
    case SL_MY_ENUM:
    case SL_MY_SET:
        if (!col->vals) { /* no member strings: the index or bit mask, as the binlog has */
            sl_buf_printf(out, "%s + 0", quoted);
            return;
        }
        break;
    default:
        break;
    }
    sl_buf_puts(out, quoted);
}

static sl_err_t bad_text(const char *what, const char *txt, size_t len, char *err,
                         size_t errlen)
{
    return sl_err_set(err, errlen, SL_ERR_PROTOCOL, "the server returned \"%.*s\" for a %s",
                      (int)(len > 40 ? 40 : len), txt, what);
}

/* The text with one byte replaced and an optional suffix, as a string value. */
static void text_edit(const char *txt, size_t len, size_t at, char with, const char *suffix,
                      sl_arena_t *arena, sl_value_t *out)
{
    size_t sl = suffix ? strlen(suffix) : 0;
    char *d = sl_arena_alloc(arena, len + sl + 1);
    memcpy(d, txt, len);
    if (at < len)
        d[at] = with;
    memcpy(d + len, suffix ? suffix : "", sl);
    d[len + sl] = 0;
    out->kind = SL_V_STRING;
    out->v.s = d;
    out->len = len + sl;
}

sl_err_t sl_my_text_value(const sl_my_col_t *col, const char *txt, size_t len, int binary,
                          sl_arena_t *arena, sl_buf_t *tmp, sl_value_t *out, char *err,
                          size_t errlen)
{
    char num[64], *end;
    int uns = (col->flags & SL_MY_F_UNSIGNED) != 0;
    memset(out, 0, sizeof(*out));
    if (!txt) {
        out->kind = SL_V_NULL;
        return SL_OK;
    }
    int numeric = len < sizeof(num);
    if (numeric) {
        memcpy(num, txt, len);
        num[len] = 0;
    }
    switch (col->type) {
    case SL_MY_TINY:
    case SL_MY_SHORT:
    case SL_MY_INT24:
    case SL_MY_LONG:
    case SL_MY_LONGLONG:
    case SL_MY_YEAR:
    case SL_MY_BIT:
    case SL_MY_ENUM:
    case SL_MY_SET:
        if (col->type == SL_MY_ENUM || col->type == SL_MY_SET) {
            if (col->vals) { /* the member text (SET: in definition order, ','-joined) */
                out->kind = SL_V_STRING;
                out->v.s = sl_arena_dup(arena, txt, len);
                out->len = len;
                return SL_OK;
            }
            uns = 1;
        }
        if (col->type == SL_MY_BIT)
            uns = 1;
        if (!numeric || !len)
            return bad_text("number", txt, len, err, errlen);
        errno = 0;
        if (uns) {
            if (num[0] == '-')
                return bad_text("number", txt, len, err, errlen);
            uint64_t v = strtoull(num, &end, 10);
            if (*end || errno)
                return bad_text("number", txt, len, err, errlen);
            unsigned bits = (col->meta >> 8) * 8 + (col->meta & 0xff);
            if (col->type == SL_MY_BIT && bits == 1) {
                out->kind = SL_V_BOOL;
                out->v.i = v & 1;
            } else {
                set_uint(out, v);
            }
        } else {
            int64_t v = strtoll(num, &end, 10);
            if (*end || errno)
                return bad_text("number", txt, len, err, errlen);
            set_int(out, v);
        }
        return SL_OK;
    case SL_MY_FLOAT:
    case SL_MY_DOUBLE: {
        if (!numeric || !len)
            return bad_text("floating-point number", txt, len, err, errlen);
        double d = strtod(num, &end);
        if (*end)
            return bad_text("floating-point number", txt, len, err, errlen);
        out->kind = SL_V_DOUBLE;
        if (col->type == SL_MY_FLOAT) {
            float f = (float)d;
            out->v.d = isfinite(f) ? float_shortest(f, num, sizeof(num)) : f;
        } else {
            out->v.d = d;
        }
        return SL_OK;
    }
    case SL_MY_NEWDECIMAL:
    case SL_MY_DATE:
    case SL_MY_TIME:
    case SL_MY_TIME2:
        out->kind = SL_V_STRING; /* printed by the server as the decoder prints them */
        out->v.s = sl_arena_dup(arena, txt, len);
        out->len = len;
        return SL_OK;
    case SL_MY_DATETIME:
    case SL_MY_DATETIME2:
    case SL_MY_TIMESTAMP:
    case SL_MY_TIMESTAMP2:
        /* "YYYY-MM-DD hh:mm:ss[.f]" to ISO 8601; TIMESTAMP in UTC (the session's zone) */
        if (len < 19 || txt[10] != ' ')
            return bad_text("date and time", txt, len, err, errlen);
        text_edit(txt, len, 10, 'T',
                  col->type == SL_MY_TIMESTAMP || col->type == SL_MY_TIMESTAMP2 ? "Z" : NULL,
                  arena, out);
        return SL_OK;
    case SL_MY_GEOMETRY:
        binary = 1;
        /* fall through */
    default: {
        /* strings and blobs: the server converted text to utf8mb4 for the connection */
        const char *d = sl_arena_dup(arena, txt, len);
        out->kind = binary ? SL_V_BYTES : SL_V_STRING;
        out->v.s = d;
        out->len = len;
        (void)tmp;
        return SL_OK;
    }
    }
}

int sl_my_is_numeric(uint8_t t)
{
    switch (t) {
    case SL_MY_TINY:
    case SL_MY_SHORT:
    case SL_MY_INT24:
    case SL_MY_LONG:
    case SL_MY_LONGLONG:
    case SL_MY_NEWDECIMAL:
    case SL_MY_FLOAT:
    case SL_MY_DOUBLE:
        return 1;
    default:
        return 0;
    }
}
