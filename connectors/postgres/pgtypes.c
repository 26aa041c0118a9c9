/* sluice: PostgreSQL text-format column values to sluice values, per docs/types.md.
 * Input is the walsender's output-function text; every byte is checked. */

/*
 * The text forms assumed here are those printed under the session settings the
 * replication client sets (connectors/postgres/postgres.c): TimeZone=UTC, DateStyle=ISO,
 * IntervalStyle=iso_8601, extra_float_digits=3, bytea_output=hex. A value in another
 * form (e.g. a US-style date) is refused with a sentence naming the setting, rather
 * than passed on in a shape consumers do not expect.
 *
 * Strings that need no change borrow the caller's bytes (txt); anything rewritten is
 * placed in the arena. Arrays are rendered as a JSON fragment in tmp, then copied once
 * into the arena.
 */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include "connectors/postgres/pgtypes.h"

/* How a builtin type is converted. */
enum {
    K_TEXT = 0, /* string as printed */
    K_INT2,
    K_INT4,
    K_INT8,
    K_U32, /* oid, xid, cid */
    K_U64, /* xid8 */
    K_FLOAT,
    K_NUMERIC,
    K_BOOL,
    K_BYTEA,
    K_JSON,
    K_DATE,
    K_TIME,
    K_TIMETZ,
    K_TS,
    K_TSTZ,
    K_INTERVAL,
};

typedef struct pg_builtin {
    uint32_t oid;
    uint32_t elem; /* for array types: the element type; 0 for scalars */
    uint8_t kind;  /* K_* (for arrays: K_TEXT, unused) */
    const char *name;
} pg_builtin_t;

/* Builtin types from PostgreSQL's src/include/catalog/pg_type.dat, sorted by oid (a unit
 * test checks the order, lookups are a binary search). Types not listed here are resolved
 * by the replication client through pg_type (domains, enums, arrays of those). */
static const pg_builtin_t builtins[] = {
    {16, 0, K_BOOL, "bool"},
    {17, 0, K_BYTEA, "bytea"},
    {18, 0, K_TEXT, "char"},
    {19, 0, K_TEXT, "name"},
    {20, 0, K_INT8, "int8"},
    {21, 0, K_INT2, "int2"},
    {22, 0, K_TEXT, "int2vector"},
    {23, 0, K_INT4, "int4"},
    {25, 0, K_TEXT, "text"},
    {26, 0, K_U32, "oid"},
    {27, 0, K_TEXT, "tid"},
    {28, 0, K_U32, "xid"},
    {29, 0, K_U32, "cid"},
    {30, 0, K_TEXT, "oidvector"},
    {114, 0, K_JSON, "json"},
    {142, 0, K_TEXT, "xml"},
    {143, 142, K_TEXT, "_xml"},
    {199, 114, K_TEXT, "_json"},
    {271, 5069, K_TEXT, "_xid8"},
    {600, 0, K_TEXT, "point"},
    {601, 0, K_TEXT, "lseg"},
    {602, 0, K_TEXT, "path"},
    {603, 0, K_TEXT, "box"},
    {604, 0, K_TEXT, "polygon"},
    {628, 0, K_TEXT, "line"},
    {629, 628, K_TEXT, "_line"},
    {650, 0, K_TEXT, "cidr"},
    {651, 650, K_TEXT, "_cidr"},
    {700, 0, K_FLOAT, "float4"},
    {701, 0, K_FLOAT, "float8"},
    {718, 0, K_TEXT, "circle"},
    {719, 718, K_TEXT, "_circle"},
    {774, 0, K_TEXT, "macaddr8"},
    {775, 774, K_TEXT, "_macaddr8"},
    {790, 0, K_TEXT, "money"},
    {791, 790, K_TEXT, "_money"},
    {829, 0, K_TEXT, "macaddr"},
    {869, 0, K_TEXT, "inet"},
    {1000, 16, K_TEXT, "_bool"},
    {1001, 17, K_TEXT, "_bytea"},
    {1002, 18, K_TEXT, "_char"},
    {1003, 19, K_TEXT, "_name"},
    {1005, 21, K_TEXT, "_int2"},
    {1007, 23, K_TEXT, "_int4"},
    {1009, 25, K_TEXT, "_text"},
    {1010, 27, K_TEXT, "_tid"},
    {1011, 28, K_TEXT, "_xid"},
    {1012, 29, K_TEXT, "_cid"},
    {1014, 1042, K_TEXT, "_bpchar"},
    {1015, 1043, K_TEXT, "_varchar"},
    {1016, 20, K_TEXT, "_int8"},
    {1017, 600, K_TEXT, "_point"},
    {1018, 601, K_TEXT, "_lseg"},
    {1019, 602, K_TEXT, "_path"},
    {1020, 603, K_TEXT, "_box"},
    {1021, 700, K_TEXT, "_float4"},
    {1022, 701, K_TEXT, "_float8"},
    {1027, 604, K_TEXT, "_polygon"},
    {1028, 26, K_TEXT, "_oid"},
    {1040, 829, K_TEXT, "_macaddr"},
    {1041, 869, K_TEXT, "_inet"},
    {1042, 0, K_TEXT, "bpchar"},
    {1043, 0, K_TEXT, "varchar"},
    {1082, 0, K_DATE, "date"},
    {1083, 0, K_TIME, "time"},
    {1114, 0, K_TS, "timestamp"},
    {1115, 1114, K_TEXT, "_timestamp"},
    {1182, 1082, K_TEXT, "_date"},
    {1183, 1083, K_TEXT, "_time"},
    {1184, 0, K_TSTZ, "timestamptz"},
    {1185, 1184, K_TEXT, "_timestamptz"},
    {1186, 0, K_INTERVAL, "interval"},
    {1187, 1186, K_TEXT, "_interval"},
    {1231, 1700, K_TEXT, "_numeric"},
    {1266, 0, K_TIMETZ, "timetz"},
    {1270, 1266, K_TEXT, "_timetz"},
    {1560, 0, K_TEXT, "bit"},
    {1561, 1560, K_TEXT, "_bit"},
    {1562, 0, K_TEXT, "varbit"},
    {1563, 1562, K_TEXT, "_varbit"},
    {1700, 0, K_NUMERIC, "numeric"},
    {1790, 0, K_TEXT, "refcursor"},
    {2201, 1790, K_TEXT, "_refcursor"},
    {2950, 0, K_TEXT, "uuid"},
    {2951, 2950, K_TEXT, "_uuid"},
    {3220, 0, K_TEXT, "pg_lsn"},
    {3221, 3220, K_TEXT, "_pg_lsn"},
    {3614, 0, K_TEXT, "tsvector"},
    {3615, 0, K_TEXT, "tsquery"},
    {3643, 3614, K_TEXT, "_tsvector"},
    {3645, 3615, K_TEXT, "_tsquery"},
    {3802, 0, K_JSON, "jsonb"},
    {3807, 3802, K_TEXT, "_jsonb"},
    {3904, 0, K_TEXT, "int4range"},
    {3905, 3904, K_TEXT, "_int4range"},
    {3906, 0, K_TEXT, "numrange"},
    {3907, 3906, K_TEXT, "_numrange"},
    {3908, 0, K_TEXT, "tsrange"},
    {3909, 3908, K_TEXT, "_tsrange"},
    {3910, 0, K_TEXT, "tstzrange"},
    {3911, 3910, K_TEXT, "_tstzrange"},
    {3912, 0, K_TEXT, "daterange"},
    {3913, 3912, K_TEXT, "_daterange"},
    {3926, 0, K_TEXT, "int8range"},
    {3927, 3926, K_TEXT, "_int8range"},
    {4072, 0, K_TEXT, "jsonpath"},
    {4073, 4072, K_TEXT, "_jsonpath"},
    {5069, 0, K_U64, "xid8"},
};

#define NBUILTINS (sizeof(builtins) / sizeof(builtins[0]))
#define BOXOID 603
#define MAXDIM 6 /* PostgreSQL's own limit on array dimensions */

/* Built-in oids are small: a direct index (built once) instead of a search, which the
 * converters make several times per value. */
#define BUILTIN_OID_LIMIT 8192
static uint16_t builtin_index[BUILTIN_OID_LIMIT]; /* entry + 1, 0 = none */
static pthread_once_t builtin_once = PTHREAD_ONCE_INIT;

static void build_builtin_index(void)
{
    for (size_t i = 0; i < NBUILTINS; i++)
        if (builtins[i].oid < BUILTIN_OID_LIMIT)
            builtin_index[builtins[i].oid] = (uint16_t)(i + 1);
}

static const pg_builtin_t *find_builtin(uint32_t oid)
{
    pthread_once(&builtin_once, build_builtin_index);
    if (oid < BUILTIN_OID_LIMIT)
        return builtin_index[oid] ? &builtins[builtin_index[oid] - 1] : NULL;
    size_t lo = 0, hi = NBUILTINS;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (builtins[mid].oid == oid)
            return &builtins[mid];
        if (builtins[mid].oid < oid)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

int sl_pg_type_is_builtin(uint32_t oid)
{
    return find_builtin(oid) != NULL;
}

uint32_t sl_pg_array_elem(uint32_t oid)
{
    const pg_builtin_t *b = find_builtin(oid);
    return b ? b->elem : 0;
}

const char *sl_pg_type_name(uint32_t builtin_oid)
{
    const pg_builtin_t *b = find_builtin(builtin_oid);
    return b ? b->name : "unknown";
}

/* Conversion kind of a scalar type; anything unknown (enums, user types) is text. */
static int scalar_kind(uint32_t oid)
{
    const pg_builtin_t *b = find_builtin(oid);
    return b && !b->elem ? b->kind : K_TEXT;
}

/* For an array column, the element type converted; 0 when the column is not an array. */
static uint32_t array_elem_of(const sl_pg_type_t *t)
{
    uint32_t e = sl_pg_array_elem(t->base_oid);
    if (!e)
        return 0;
    return t->elem_oid ? t->elem_oid : e;
}

sl_jtype_t sl_pg_jtype(const sl_pg_type_t *t)
{
    if (!t)
        return SL_JT_STRING;
    if (array_elem_of(t))
        return SL_JT_ARRAY;
    switch (scalar_kind(t->base_oid)) {
    case K_INT2:
    case K_INT4:
    case K_INT8:
    case K_U32:
    case K_U64:
        return SL_JT_INT;
    case K_FLOAT:
        return SL_JT_NUMBER;
    case K_BOOL:
        return SL_JT_BOOL;
    case K_BYTEA:
        return SL_JT_BYTES;
    case K_JSON:
        return SL_JT_JSON;
    default:
        return SL_JT_STRING;
    }
}

/* ---- errors ---- */

/* The error sentence quotes the start of the value (printable ASCII only) so the user
 * can find the row; it is cut short because values can be large. */
/* The value itself is left out of the sentence: it is row data, which does not belong
 * in logs. */
static sl_err_t bad(const char *tname, const char *txt, size_t len, const char *why,
                    char *err, size_t errlen)
{
    (void)txt;
    return sl_err_set(err, errlen, SL_ERR_PROTOCOL,
                      "cannot convert a PostgreSQL %s value (%zu bytes): %s", tname, len, why);
}

/* ---- numbers ---- */

static int is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* Strict decimal integer: optional '-', digits only, within [min, max]. */
static int parse_int(const char *s, size_t n, int64_t min, int64_t max, int64_t *out)
{
    size_t i = 0;
    int neg = 0;
    if (i < n && s[i] == '-') {
        neg = 1;
        i++;
    }
    if (i == n)
        return 0;
    uint64_t limit = neg ? (uint64_t)0 - (uint64_t)min : (uint64_t)max;
    uint64_t v = 0;
    for (; i < n; i++) {
        if (!is_digit(s[i]))
            return 0;
        uint64_t d = (uint64_t)(s[i] - '0');
        if (v > (limit - d) / 10)
            return 0;
        v = v * 10 + d;
    }
    if (neg)
        *out = v == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)v;
    else
        *out = (int64_t)v;
    return 1;
}

static int parse_u64(const char *s, size_t n, uint64_t max, uint64_t *out)
{
    if (n == 0)
        return 0;
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (!is_digit(s[i]))
            return 0;
        uint64_t d = (uint64_t)(s[i] - '0');
        if (v > (max - d) / 10)
            return 0;
        v = v * 10 + d;
    }
    *out = v;
    return 1;
}

static int span_eq(const char *s, size_t n, const char *lit)
{
    size_t k = strlen(lit);
    return n == k && memcmp(s, lit, k) == 0;
}

/* float4/float8 text: decimal or exponent notation, or NaN / Infinity / -Infinity.
 * strtod needs a terminated string: s is copied into tmp, or, when tmp is NULL, s must
 * be writable scratch with a NUL at s[n]. */
static int parse_float(const char *s, size_t n, sl_buf_t *tmp, double *out)
{
    if (span_eq(s, n, "NaN")) {
        *out = NAN;
        return 1;
    }
    if (span_eq(s, n, "Infinity")) {
        *out = INFINITY;
        return 1;
    }
    if (span_eq(s, n, "-Infinity")) {
        *out = -INFINITY;
        return 1;
    }
    /* strtod would also take "inf", hex floats and leading blanks: only let through
     * what float8out prints. The worker never calls setlocale, so the decimal point is
     * '.' as in PostgreSQL's output (core/buf.c relies on the same). */
    int digits = 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (is_digit(c))
            digits = 1;
        else if (c != '-' && c != '+' && c != '.' && c != 'e' && c != 'E')
            return 0;
    }
    if (!digits || !(is_digit(s[0]) || s[0] == '-' || s[0] == '.'))
        return 0;
    const char *z = s;
    if (tmp) {
        sl_buf_reset(tmp);
        sl_buf_append(tmp, s, n);
        z = tmp->data;
    }
    char *end;
    errno = 0;
    double d = strtod(z, &end);
    if (end != z + n || !isfinite(d))
        return 0;
    *out = d;
    return 1;
}

/* numeric_out: [-]digits[.digits], or NaN / Infinity / -Infinity (kept as text). */
static int valid_numeric(const char *s, size_t n)
{
    if (span_eq(s, n, "NaN") || span_eq(s, n, "Infinity") || span_eq(s, n, "-Infinity"))
        return 1;
    size_t i = 0;
    if (i < n && s[i] == '-')
        i++;
    size_t d0 = i;
    while (i < n && is_digit(s[i]))
        i++;
    if (i == d0)
        return 0;
    if (i < n && s[i] == '.') {
        i++;
        size_t f0 = i;
        while (i < n && is_digit(s[i]))
            i++;
        if (i == f0)
            return 0;
    }
    return i == n;
}

/* ---- bytea ---- */

/* Decode byteaout text into dst (room for n bytes; dst may equal s: the output never
 * overtakes the input). Hex format "\x0a0b" is what bytea_output=hex gives; the older
 * escape format is accepted too so a server default of 'escape' still decodes. */
static const char *decode_bytea(const char *s, size_t n, char *dst, size_t *outlen)
{
    size_t o = 0;
    if (n >= 2 && s[0] == '\\' && s[1] == 'x') {
        if ((n - 2) % 2)
            return "the hex digits come in an odd number";
        for (size_t i = 2; i < n; i += 2) {
            int hi = sl_hex_value(s[i]), lo = sl_hex_value(s[i + 1]);
            if (hi < 0 || lo < 0)
                return "a character after \\x is not a hex digit";
            dst[o++] = (char)(hi << 4 | lo);
        }
        *outlen = o;
        return NULL;
    }
    for (size_t i = 0; i < n;) {
        if (s[i] != '\\') {
            dst[o++] = s[i++];
        } else if (i + 1 < n && s[i + 1] == '\\') {
            dst[o++] = '\\';
            i += 2;
        } else if (i + 3 < n && s[i + 1] >= '0' && s[i + 1] <= '3' && s[i + 2] >= '0' &&
                   s[i + 2] <= '7' && s[i + 3] >= '0' && s[i + 3] <= '7') {
            dst[o++] =
                (char)((s[i + 1] - '0') << 6 | (s[i + 2] - '0') << 3 | (s[i + 3] - '0'));
            i += 4;
        } else {
            return "a backslash is followed by neither \\ nor three octal digits";
        }
    }
    *outlen = o;
    return NULL;
}

/* ---- dates and times ---- */

typedef struct ymd {
    int64_t y; /* astronomical: 1 BC is 0 */
    int m, d;
} ymd_t;

static int two_digits(const char *s, size_t n, size_t i, int *out)
{
    if (i + 2 > n || !is_digit(s[i]) || !is_digit(s[i + 1]))
        return 0;
    *out = (s[i] - '0') * 10 + (s[i + 1] - '0');
    return 1;
}

/* "YYYY-MM-DD" (4 to 7 year digits) at s[*i]; the " BC" suffix is handled by callers. */
static int parse_date_part(const char *s, size_t n, size_t *i, ymd_t *out)
{
    size_t k = *i;
    int64_t y = 0;
    size_t y0 = k;
    while (k < n && is_digit(s[k]) && k - y0 < 7)
        y = y * 10 + (s[k++] - '0');
    if (k - y0 < 4 || k >= n || s[k] != '-')
        return 0;
    k++;
    if (!two_digits(s, n, k, &out->m) || k + 2 >= n || s[k + 2] != '-')
        return 0;
    k += 3;
    if (!two_digits(s, n, k, &out->d))
        return 0;
    k += 2;
    if (out->m < 1 || out->m > 12 || out->d < 1 || out->d > 31)
        return 0;
    out->y = y;
    *i = k;
    return 1;
}

/* " BC" at s[*i]: turns the year astronomical (PostgreSQL prints 1 BC as year 1). */
static int take_bc(const char *s, size_t n, size_t *i)
{
    if (n - *i >= 3 && memcmp(s + *i, " BC", 3) == 0) {
        *i += 3;
        return 1;
    }
    return 0;
}

typedef struct hms {
    int h, m, s;
    const char *frac; /* ".123456" including the dot, or NULL */
    size_t frac_len;
    const char *text; /* the whole HH:MM:SS[.f] as printed */
    size_t text_len;
} hms_t;

static int parse_time_part(const char *s, size_t n, size_t *i, hms_t *out)
{
    size_t k = *i;
    if (!two_digits(s, n, k, &out->h) || k + 2 >= n || s[k + 2] != ':' ||
        !two_digits(s, n, k + 3, &out->m) || k + 5 >= n || s[k + 5] != ':' ||
        !two_digits(s, n, k + 6, &out->s))
        return 0;
    if (out->h > 24 || out->m > 59 || out->s > 60)
        return 0;
    k += 8;
    out->frac = NULL;
    out->frac_len = 0;
    if (k < n && s[k] == '.') {
        size_t f0 = k++;
        while (k < n && is_digit(s[k]))
            k++;
        if (k == f0 + 1)
            return 0;
        out->frac = s + f0;
        out->frac_len = k - f0;
    }
    out->text = s + *i;
    out->text_len = k - *i;
    *i = k;
    return 1;
}

/* "+HH", "+HH:MM" or "+HH:MM:SS" (also '-'): seconds east of UTC. */
static int parse_offset(const char *s, size_t n, size_t *i, int32_t *out)
{
    size_t k = *i;
    if (k >= n || (s[k] != '+' && s[k] != '-'))
        return 0;
    int sign = s[k] == '-' ? -1 : 1;
    int h, m = 0, sec = 0;
    if (!two_digits(s, n, k + 1, &h))
        return 0;
    k += 3;
    if (k < n && s[k] == ':') {
        if (!two_digits(s, n, k + 1, &m))
            return 0;
        k += 3;
        if (k < n && s[k] == ':') {
            if (!two_digits(s, n, k + 1, &sec))
                return 0;
            k += 3;
        }
    }
    if (h > 23 || m > 59 || sec > 59)
        return 0;
    *out = sign * (h * 3600 + m * 60 + sec);
    *i = k;
    return 1;
}

static void put_2d(sl_buf_t *b, int v)
{
    sl_buf_putc(b, (char)('0' + v / 10));
    sl_buf_putc(b, (char)('0' + v % 10));
}

/* ISO 8601 date with an astronomical year (1 BC is 0000, 2 BC is -0001), at least four
 * year digits as ISO 8601 and PostgreSQL both print them. */
static void put_date(sl_buf_t *b, const ymd_t *d)
{
    uint64_t y = d->y < 0 ? (uint64_t)0 - (uint64_t)d->y : (uint64_t)d->y;
    if (d->y < 0)
        sl_buf_putc(b, '-');
    for (uint64_t p = 1000; p > 1 && y < p; p /= 10)
        sl_buf_putc(b, '0');
    sl_buf_put_u64(b, y);
    sl_buf_putc(b, '-');
    put_2d(b, d->m);
    sl_buf_putc(b, '-');
    put_2d(b, d->d);
}

static void put_hms(sl_buf_t *b, int64_t secs, const hms_t *t)
{
    put_2d(b, (int)(secs / 3600));
    sl_buf_putc(b, ':');
    put_2d(b, (int)(secs / 60 % 60));
    sl_buf_putc(b, ':');
    put_2d(b, (int)(secs % 60));
    sl_buf_append(b, t->frac, t->frac_len);
}

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's civil algorithm). */
static int64_t days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static void civil_from_days(int64_t z, ymd_t *out)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    out->d = (int)(doy - (153 * mp + 2) / 5 + 1);
    out->m = (int)(mp < 10 ? mp + 3 : mp - 9);
    out->y = yoe + era * 400 + (out->m <= 2);
}

static const char *const date_hint =
    "expected ISO form YYYY-MM-DD (the session needs DateStyle=ISO)";

/* The temporal formatters append their result to out, or return a reason. */

static const char *fmt_date(const char *s, size_t n, sl_buf_t *out)
{
    if (span_eq(s, n, "infinity") || span_eq(s, n, "-infinity")) {
        sl_buf_append(out, s, n);
        return NULL;
    }
    size_t i = 0;
    ymd_t d;
    if (!parse_date_part(s, n, &i, &d))
        return date_hint;
    if (take_bc(s, n, &i))
        d.y = 1 - d.y;
    if (i != n)
        return date_hint;
    put_date(out, &d);
    return NULL;
}

static const char *fmt_time(const char *s, size_t n, sl_buf_t *out)
{
    size_t i = 0;
    hms_t t;
    if (!parse_time_part(s, n, &i, &t) || i != n)
        return "expected HH:MM:SS[.ffffff]";
    sl_buf_append(out, s, n);
    return NULL;
}

static const char *fmt_timetz(const char *s, size_t n, sl_buf_t *out)
{
    size_t i = 0;
    hms_t t;
    int32_t off;
    if (!parse_time_part(s, n, &i, &t) || !parse_offset(s, n, &i, &off) || i != n)
        return "expected HH:MM:SS[.ffffff]+HH[:MM[:SS]]";
    if (off == 0) {
        /* nothing to shift: keep the text (this also keeps 24:00:00) */
        sl_buf_append(out, t.text, t.text_len);
    } else {
        /* a time of day has no date: shifting it to UTC wraps around midnight */
        int64_t secs = (int64_t)t.h * 3600 + t.m * 60 + t.s - off;
        secs %= 86400;
        if (secs < 0)
            secs += 86400;
        put_hms(out, secs, &t);
    }
    sl_buf_putc(out, 'Z');
    return NULL;
}

/* timestamp and timestamptz share one parser; with_tz requires the offset and ends the
 * result with 'Z' after shifting to UTC. */
static const char *fmt_ts(const char *s, size_t n, int with_tz, sl_buf_t *out)
{
    if (span_eq(s, n, "infinity") || span_eq(s, n, "-infinity")) {
        sl_buf_append(out, s, n);
        return NULL;
    }
    const char *why = with_tz
                          ? "expected YYYY-MM-DD HH:MM:SS[.ffffff]+HH (the session "
                            "needs DateStyle=ISO)"
                          : "expected YYYY-MM-DD HH:MM:SS[.ffffff] (the session needs "
                            "DateStyle=ISO)";
    size_t i = 0;
    ymd_t d;
    hms_t t;
    int32_t off = 0;
    if (!parse_date_part(s, n, &i, &d) || i >= n || s[i] != ' ')
        return why;
    i++;
    if (!parse_time_part(s, n, &i, &t))
        return why;
    if (with_tz && !parse_offset(s, n, &i, &off))
        return why;
    if (take_bc(s, n, &i))
        d.y = 1 - d.y;
    if (i != n)
        return why;
    if (off == 0) {
        put_date(out, &d);
        sl_buf_putc(out, 'T');
        sl_buf_append(out, t.text, t.text_len);
    } else {
        /* only when the session's TimeZone was not UTC after all: shift by hand */
        int64_t secs = days_from_civil(d.y, d.m, d.d) * 86400 + (int64_t)t.h * 3600 +
                       t.m * 60 + t.s - off;
        int64_t days = secs >= 0 ? secs / 86400 : -((-secs + 86399) / 86400);
        civil_from_days(days, &d);
        put_date(out, &d);
        sl_buf_putc(out, 'T');
        put_hms(out, secs - days * 86400, &t);
    }
    if (with_tz)
        sl_buf_putc(out, 'Z');
    return NULL;
}

/* IntervalStyle=iso_8601 prints "P1Y2M3DT4H5M6.5S", "PT0S", "P-1Y-2M"; PostgreSQL 17
 * adds "infinity" and "-infinity". The text is kept as printed. */
static const char *fmt_interval(const char *s, size_t n, sl_buf_t *out)
{
    static const char why[] =
        "expected an ISO 8601 duration such as P1DT2H (the session needs "
        "IntervalStyle=iso_8601)";
    if (!(span_eq(s, n, "infinity") || span_eq(s, n, "-infinity"))) {
        if (n < 2 || s[0] != 'P')
            return why;
        for (size_t i = 1; i < n; i++)
            if (!is_digit(s[i]) && (!s[i] || !strchr("-.YMWDTHS", s[i])))
                return why;
    }
    sl_buf_append(out, s, n);
    return NULL;
}

static const char *fmt_temporal(int kind, const char *s, size_t n, sl_buf_t *out)
{
    switch (kind) {
    case K_DATE:
        return fmt_date(s, n, out);
    case K_TIME:
        return fmt_time(s, n, out);
    case K_TIMETZ:
        return fmt_timetz(s, n, out);
    case K_TS:
        return fmt_ts(s, n, 0, out);
    case K_TSTZ:
        return fmt_ts(s, n, 1, out);
    default:
        return fmt_interval(s, n, out);
    }
}

/* ---- scalars ---- */

static sl_err_t scalar_to_value(uint32_t oid, const char *txt, size_t len,
                                sl_arena_t *arena, sl_buf_t *tmp, sl_value_t *out,
                                char *err, size_t errlen)
{
    int kind = scalar_kind(oid);
    const char *tname = sl_pg_type_is_builtin(oid) ? sl_pg_type_name(oid) : "text";
    int64_t i;
    uint64_t u;
    switch (kind) {
    case K_INT2:
    case K_INT4:
    case K_INT8: {
        int64_t lim = kind == K_INT2 ? INT16_MAX : kind == K_INT4 ? INT32_MAX : INT64_MAX;
        if (!parse_int(txt, len, -lim - 1, lim, &i))
            return bad(tname, txt, len, "not a decimal integer in the type's range", err,
                       errlen);
        out->kind = SL_V_INT;
        out->v.i = i;
        return SL_OK;
    }
    case K_U32:
    case K_U64:
        if (!parse_u64(txt, len, kind == K_U32 ? UINT32_MAX : UINT64_MAX, &u))
            return bad(tname, txt, len,
                       "not an unsigned decimal integer in the type's range", err,
                       errlen);
        if (kind == K_U32) {
            out->kind = SL_V_INT;
            out->v.i = (int64_t)u;
        } else {
            out->kind = SL_V_UINT;
            out->v.u = u;
        }
        return SL_OK;
    case K_FLOAT:
        if (!parse_float(txt, len, tmp, &out->v.d))
            return bad(tname, txt, len, "not a floating-point number, NaN or Infinity",
                       err, errlen);
        out->kind = SL_V_DOUBLE;
        return SL_OK;
    case K_BOOL:
        if (len != 1 || (txt[0] != 't' && txt[0] != 'f'))
            return bad(tname, txt, len, "expected t or f", err, errlen);
        out->kind = SL_V_BOOL;
        out->v.i = txt[0] == 't';
        return SL_OK;
    case K_NUMERIC:
        if (!valid_numeric(txt, len))
            return bad(tname, txt, len, "not a decimal number, NaN or Infinity", err,
                       errlen);
        break; /* exact text, borrowed */
    case K_BYTEA: {
        char *dst = sl_arena_alloc(arena, len);
        size_t n;
        const char *why = decode_bytea(txt, len, dst, &n);
        if (why)
            return bad(tname, txt, len, why, err, errlen);
        out->kind = SL_V_BYTES;
        out->v.s = dst;
        out->len = n;
        return SL_OK;
    }
    case K_DATE:
    case K_TIME:
    case K_TIMETZ:
    case K_TS:
    case K_TSTZ:
    case K_INTERVAL: {
        sl_buf_reset(tmp);
        const char *why = fmt_temporal(kind, txt, len, tmp);
        if (why)
            return bad(tname, txt, len, why, err, errlen);
        out->kind = SL_V_STRING;
        out->v.s = sl_arena_dup(arena, tmp->data, tmp->len);
        out->len = tmp->len;
        return SL_OK;
    }
    default: /* K_TEXT, K_JSON: the text itself */
        break;
    }
    out->kind = SL_V_STRING;
    out->v.s = txt;
    out->len = len;
    return SL_OK;
}

/* ---- arrays ---- */

static int is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

/* One element (already unescaped into writable scratch, NUL at s[n]) appended to the
 * JSON array; returns a reason when it is not a value of its type. */
static const char *encode_elem(int kind, char *s, size_t n, sl_buf_t *out)
{
    int64_t i;
    uint64_t u;
    double d;
    switch (kind) {
    case K_INT2:
    case K_INT4:
    case K_INT8: {
        int64_t lim = kind == K_INT2 ? INT16_MAX : kind == K_INT4 ? INT32_MAX : INT64_MAX;
        if (!parse_int(s, n, -lim - 1, lim, &i))
            return "an element is not a decimal integer in the type's range";
        sl_buf_put_i64(out, i);
        return NULL;
    }
    case K_U32:
    case K_U64:
        if (!parse_u64(s, n, kind == K_U32 ? UINT32_MAX : UINT64_MAX, &u))
            return "an element is not an unsigned decimal integer in the type's range";
        sl_buf_put_u64(out, u);
        return NULL;
    case K_FLOAT:
        if (!parse_float(s, n, NULL, &d))
            return "an element is not a floating-point number, NaN or Infinity";
        sl_buf_put_double(out, d);
        return NULL;
    case K_BOOL:
        if (n != 1 || (s[0] != 't' && s[0] != 'f'))
            return "an element is not t or f";
        sl_buf_puts(out, s[0] == 't' ? "true" : "false");
        return NULL;
    case K_NUMERIC:
        if (!valid_numeric(s, n))
            return "an element is not a decimal number, NaN or Infinity";
        sl_buf_put_json_str(out, s, n);
        return NULL;
    case K_BYTEA: {
        size_t k;
        const char *why = decode_bytea(s, n, s, &k);
        if (why)
            return why;
        sl_buf_putc(out, '"');
        sl_buf_put_base64(out, s, k);
        sl_buf_putc(out, '"');
        return NULL;
    }
    case K_DATE:
    case K_TIME:
    case K_TIMETZ:
    case K_TS:
    case K_TSTZ:
    case K_INTERVAL: {
        /* the formatters only emit [0-9A-Za-z:.+-], nothing to escape */
        size_t mark = out->len;
        sl_buf_putc(out, '"');
        const char *why = fmt_temporal(kind, s, n, out);
        if (why) {
            out->len = mark;
            return why;
        }
        sl_buf_putc(out, '"');
        return NULL;
    }
    default:
        sl_buf_put_json_str(out, s, n);
        return NULL;
    }
}

/* Skip the "[lb:ub][lb:ub]=" dimension decoration array_out prints when a lower bound is
 * not 1. The bounds are not kept: a JSON array always starts at its first element. */
static int skip_bounds(const char *s, size_t n, size_t *i)
{
    size_t k = *i;
    if (k >= n || s[k] != '[')
        return 1;
    int dims = 0;
    while (k < n && s[k] == '[') {
        if (++dims > MAXDIM)
            return 0;
        k++;
        for (int part = 0; part < 2; part++) {
            if (k < n && (s[k] == '-' || s[k] == '+'))
                k++;
            size_t d0 = k;
            while (k < n && is_digit(s[k]))
                k++;
            if (k == d0)
                return 0;
            if (part == 0 && k < n && s[k] == ':') {
                k++;
                continue;
            }
            break;
        }
        if (k >= n || s[k] != ']')
            return 0;
        k++;
    }
    if (k >= n || s[k] != '=')
        return 0;
    *i = k + 1;
    return 1;
}

/*
 * array_out's literal ('{1,2,NULL}', '{{1,2},{3,4}}', '{"a b","q\"x"}') to a JSON array.
 * Quoted elements may contain any byte with \ escaping the next one; unquoted elements
 * end at the delimiter or '}', have surrounding blanks trimmed and are SQL NULL when they
 * spell NULL in any case. Each element is unescaped into scratch (never longer than the
 * literal) and encoded like a scalar of the element type.
 */
static sl_err_t array_to_json(const sl_pg_type_t *t, uint32_t elem, const char *s,
                              size_t n, sl_arena_t *arena, sl_buf_t *tmp, sl_value_t *out,
                              char *err, size_t errlen)
{
    const char *tname =
        sl_pg_type_is_builtin(t->base_oid) ? sl_pg_type_name(t->base_oid) : "array";
    int kind = scalar_kind(elem);
    char delim = t->delim ? t->delim : ',';
    if (elem == BOXOID)
        delim = ';'; /* box text contains commas, so box arrays use ';' */
    const char *why = NULL;
    size_t i = 0;
    char *scratch = NULL;
    uint8_t level_kind[MAXDIM + 1]; /* 0 empty so far, 1 elements, 2 sub-arrays */
    size_t count[MAXDIM + 1];
    int depth = 0;
    int expect_item = 1, after_delim = 0;

    sl_buf_reset(tmp);
    while (i < n && is_space(s[i]))
        i++;
    if (!skip_bounds(s, n, &i)) {
        why = "the dimension decoration before '=' is malformed";
        goto fail;
    }
    while (i < n && is_space(s[i]))
        i++;
    if (i >= n || s[i] != '{') {
        why = "an array literal must start with '{'";
        goto fail;
    }
    i++;
    depth = 1;
    level_kind[1] = 0;
    count[1] = 0;
    sl_buf_putc(tmp, '[');
    for (;;) {
        while (i < n && is_space(s[i]))
            i++;
        if (i >= n) {
            why = "the literal ends before its closing '}'";
            goto fail;
        }
        char c = s[i];
        if (!expect_item) {
            if (c == delim) {
                i++;
                expect_item = after_delim = 1;
                continue;
            }
            if (c != '}') {
                why = "an element is followed by neither the delimiter nor '}'";
                goto fail;
            }
        } else if (c == '}') {
            if (after_delim || count[depth]) {
                why = "an element is missing between a delimiter and '}'";
                goto fail;
            }
        } else if (c == '{') {
            if (level_kind[depth] == 1) {
                why = "a sub-array is mixed with plain elements";
                goto fail;
            }
            if (depth == MAXDIM) {
                why = "the array has more than 6 dimensions";
                goto fail;
            }
            level_kind[depth] = 2;
            if (count[depth]++)
                sl_buf_putc(tmp, ',');
            sl_buf_putc(tmp, '[');
            depth++;
            level_kind[depth] = 0;
            count[depth] = 0;
            after_delim = 0;
            i++;
            continue;
        } else {
            /* one element */
            if (level_kind[depth] == 2) {
                why = "a plain element is mixed with sub-arrays";
                goto fail;
            }
            level_kind[depth] = 1;
            if (count[depth]++)
                sl_buf_putc(tmp, ',');
            if (!scratch)
                scratch = sl_arena_alloc(arena, n + 1);
            size_t k = 0, keep = 0; /* keep: length without trailing unescaped blanks */
            int quoted = c == '"', escaped_any = 0;
            if (quoted) {
                i++;
                for (;;) {
                    if (i >= n) {
                        why = "a quoted element has no closing quote";
                        goto fail;
                    }
                    char e = s[i++];
                    if (e == '"')
                        break;
                    if (e == '\\') {
                        if (i >= n) {
                            why = "a backslash ends the literal";
                            goto fail;
                        }
                        e = s[i++];
                    }
                    scratch[k++] = e;
                }
                keep = k;
            } else {
                while (i < n && s[i] != delim && s[i] != '}') {
                    char e = s[i++];
                    if (e == '{' || e == '"') {
                        why = "an unquoted element contains '{' or '\"'";
                        goto fail;
                    }
                    if (e == '\\') {
                        if (i >= n) {
                            why = "a backslash ends the literal";
                            goto fail;
                        }
                        scratch[k++] = s[i++];
                        keep = k;
                        escaped_any = 1;
                        continue;
                    }
                    scratch[k++] = e;
                    if (!is_space(e))
                        keep = k;
                }
            }
            if (!quoted && k == 0) {
                why = "an element is empty";
                goto fail;
            }
            scratch[keep] = 0;
            if (!quoted && !escaped_any && keep == 4 &&
                strncasecmp(scratch, "NULL", 4) == 0) {
                sl_buf_puts(tmp, "null");
            } else if ((why = encode_elem(kind, scratch, keep, tmp))) {
                goto fail;
            }
            expect_item = 0;
            after_delim = 0;
            continue;
        }
        /* c == '}' closes the current level */
        i++;
        sl_buf_putc(tmp, ']');
        if (--depth == 0)
            break;
        expect_item = 0;
        after_delim = 0;
    }
    while (i < n && is_space(s[i]))
        i++;
    if (i != n) {
        why = "bytes follow the closing '}'";
        goto fail;
    }
    out->kind = SL_V_JSON;
    out->v.s = sl_arena_dup(arena, tmp->data, tmp->len);
    out->len = tmp->len;
    return SL_OK;

fail:
    return bad(tname, s, n, why, err, errlen);
}

sl_err_t sl_pg_text_to_value(const sl_pg_type_t *t, const char *txt, size_t len,
                             sl_arena_t *arena, sl_buf_t *tmp, sl_value_t *out, char *err,
                             size_t errlen)
{
    memset(out, 0, sizeof(*out));
    if (!txt && len)
        return sl_err_set(err, errlen, SL_ERR_PROTOCOL,
                          "a PostgreSQL value has no bytes");
    if (!txt)
        txt = "";
    uint32_t elem = array_elem_of(t);
    if (elem)
        return array_to_json(t, elem, txt, len, arena, tmp, out, err, errlen);
    return scalar_to_value(t->base_oid, txt, len, arena, tmp, out, err, errlen);
}
