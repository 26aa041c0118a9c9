/* sluice: unit tests of the core: buffer primitives, envelope golden output, schema cache
 * versions, the file bookmark store (incl. a corrupt file), positions and the queue. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <pthread.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "core/arena.h"
#include "core/batch.h"
#include "core/bookmark.h"
#include "core/buf.h"
#include "core/envelope.h"
#include "core/log.h"
#include "core/pos.h"
#include "core/schema.h"

static void test_json_string_escapes(void **state)
{
    sl_buf_t b = SL_BUF_INIT;
    const char in[] = "a\"b\\c\n\t\x01 \xc3\xa9 \xff end";
    sl_buf_put_json_str(&b, in, sizeof(in) - 1);
    assert_string_equal(b.data, "\"a\\\"b\\\\c\\n\\t\\u0001 \xc3\xa9 \xef\xbf\xbd end\"");
    sl_buf_reset(&b);
    /* overlong encodings and surrogates are not valid UTF-8 */
    sl_buf_put_json_str(&b, "\xc0\xaf\xed\xa0\x80", 5);
    assert_string_equal(b.data, "\"\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\"");
    sl_buf_free(&b);
}

static void test_base64_and_numbers(void **state)
{
    sl_buf_t b = SL_BUF_INIT;
    sl_buf_put_base64(&b, "", 0);
    sl_buf_putc(&b, '|');
    sl_buf_put_base64(&b, "f", 1);
    sl_buf_putc(&b, '|');
    sl_buf_put_base64(&b, "fo", 2);
    sl_buf_putc(&b, '|');
    sl_buf_put_base64(&b, "foobar", 6);
    assert_string_equal(b.data, "|Zg==|Zm8=|Zm9vYmFy");
    sl_buf_reset(&b);
    sl_buf_put_i64(&b, INT64_MIN);
    sl_buf_putc(&b, ' ');
    sl_buf_put_u64(&b, UINT64_MAX);
    sl_buf_putc(&b, ' ');
    sl_buf_put_i64(&b, INT64_MAX);
    sl_buf_putc(&b, ' ');
    sl_buf_put_i64(&b, -1);
    sl_buf_putc(&b, ' ');
    sl_buf_put_u64(&b, 0);
    sl_buf_putc(&b, ' ');
    sl_buf_put_u64(&b, 9);
    sl_buf_putc(&b, ' ');
    sl_buf_put_u64(&b, 10);
    sl_buf_putc(&b, ' ');
    sl_buf_put_u64(&b, 100);
    sl_buf_putc(&b, ' ');
    sl_buf_put_double(&b, 0.1);
    sl_buf_putc(&b, ' ');
    sl_buf_put_double(&b, NAN);
    sl_buf_putc(&b, ' ');
    sl_buf_put_double(&b, -INFINITY);
    assert_string_equal(b.data,
                        "-9223372036854775808 18446744073709551615 9223372036854775807 -1 0 9 "
                        "10 100 0.1 \"NaN\" \"-Infinity\"");
    sl_buf_free(&b);
}

/* sl_buf_put_double's text is printf's: the first of %.15g, %.16g, %.17g that reads back.
 * Most doubles take an integer path that never calls printf; these are its edges. */
/* Appends of every length up to past the small-copy cut (32), at every alignment of the
 * source and of the buffer's end: each byte lands once, in order, and the NUL follows. */
static void test_buf_append_lengths(void **state)
{
    (void)state;
    char src[80];
    for (int i = 0; i < 80; i++)
        src[i] = (char)('A' + i % 50);
    for (size_t pre = 0; pre < 9; pre++) {
        for (size_t off = 0; off < 9; off++) {
            for (size_t n = 0; n <= 40; n++) {
                sl_buf_t b = SL_BUF_INIT;
                sl_buf_append(&b, "0123456789", pre);
                sl_buf_append(&b, src + off, n);
                sl_buf_append(&b, src + off + 1, n);
                assert_int_equal(b.len, pre + 2 * n);
                assert_memory_equal(b.data, "0123456789", pre);
                if (n) {
                    assert_memory_equal(b.data + pre, src + off, n);
                    assert_memory_equal(b.data + pre + n, src + off + 1, n);
                }
                assert_int_equal(b.data[b.len], 0);
                sl_buf_free(&b);
            }
        }
    }
}

/* Integers at every digit-count boundary (10^k - 1, 10^k, 10^k + 1) and at powers of two,
 * signed and unsigned, read the same as printf's. */
static void test_integer_boundaries(void **state)
{
    (void)state;
    char want[32];
    uint64_t vals[200];
    size_t n = 0;
    for (uint64_t p = 1;; p *= 10) {
        vals[n++] = p - 1;
        vals[n++] = p;
        vals[n++] = p + 1;
        if (p > UINT64_MAX / 10)
            break;
    }
    for (int k = 0; k < 64; k++)
        vals[n++] = (uint64_t)1 << k;
    vals[n++] = UINT64_MAX;
    for (size_t i = 0; i < n; i++) {
        sl_buf_t b = SL_BUF_INIT;
        sl_buf_put_u64(&b, vals[i]);
        snprintf(want, sizeof(want), "%" PRIu64, vals[i]);
        assert_string_equal(b.data, want);
        sl_buf_reset(&b);
        int64_t sv = (int64_t)vals[i];
        sl_buf_put_i64(&b, sv);
        snprintf(want, sizeof(want), "%" PRId64, sv);
        assert_string_equal(b.data, want);
        sl_buf_reset(&b);
        int64_t nv = (int64_t)(0 - vals[i]); /* the negation, without signed overflow */
        sl_buf_put_i64(&b, nv);
        snprintf(want, sizeof(want), "%" PRId64, nv);
        assert_string_equal(b.data, want);
        sl_buf_free(&b);
    }
}

static void test_double_text(void **state)
{
    static const struct {
        double v;
        const char *text;
    } cases[] = {
        {0.0, "0"},
        {-0.0, "-0"},
        {1.0, "1"},
        {-1.5, "-1.5"},
        {0.5, "0.5"},
        {100, "100"},
        {0.1, "0.1"},
        {0.1 + 0.2, "0.30000000000000004"}, /* 17 digits */
        {1 / 3.0, "0.3333333333333333"},    /* 16 digits */
        {104885 / 3.0, "34961.666666666664"},
        {0.30000000000000004 * 3, "0.9000000000000001"},
        {123456789012345.0, "123456789012345"},   /* 15 digits, still fixed */
        {1234567890123456.0, "1234567890123456"}, /* 16 digits, fixed under %.16g */
        {1000000000000005.0, "1000000000000005"}, /* %.15g ties to even: 1e+15, no */
        {9007199254740992.0, "9007199254740992"}, /* 2^53 */
        {4503599627370497.0, "4503599627370497"},
        {1e15, "1e+15"},
        {1e16, "1e+16"},
        {1e17, "1e+17"},
        {123456789012345680.0, "1.2345678901234568e+17"},
        {18446744073709551616.0, "1.8446744073709552e+19"}, /* 2^64 */
        {1e21, "1e+21"},
        {1e22, "1e+22"},
        {1e23, "1e+23"}, /* 9.999...92e22: 15 digits round up to 10^15 and read back */
        {-7e22, "-7e+22"},
        {999999999999999.9, "999999999999999.9"}, /* rounds up to 1e+15, which does not */
        {0.99999999999999989, "0.9999999999999999"},
        {9999999999999998.0, "9999999999999998"},
        {0.0001, "0.0001"},   /* fixed down to 1e-4 */
        {0.000123, "0.000123"},
        {1e-5, "1e-05"},      /* then exponents, two digits at least */
        {1.5e-7, "1.5e-07"},
        {1e-10, "1e-10"},     /* the edges of the integer path */
        {7e-11, "7e-11"},
        {1.2345678901234567e-10, "1.2345678901234568e-10"},
        {1.2e-11, "1.2e-11"},
        {1e45, "1e+45"},
        {3e46, "3e+46"},
        /* an exact midpoint between two doubles: strtod rounds it to the even one */
        {27668023541595272.0, "2.766802354159527e+16"}, /* even: 16 digits read back */
        {69936874059005736.0, "69936874059005736"},     /* odd: they do not */
        /* below a power of two the gap to the next double is half as wide */
        {73786976294838206464.0, "7.378697629483821e+19"}, /* 2^66 */
        {5.9604644775390625e-08, "5.9604644775390625e-08"}, /* 2^-24 */
        /* printf itself: subnormals and the far ends */
        {5e-324, "4.94065645841247e-324"},
        {2.2250738585072014e-308, "2.2250738585072014e-308"},
        {1.7976931348623157e308, "1.7976931348623157e+308"},
        {1e300, "1e+300"},
        {-2.5e-300, "-2.5e-300"},
    };
    sl_buf_t b = SL_BUF_INIT;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        sl_buf_reset(&b);
        sl_buf_put_double(&b, cases[i].v);
        assert_string_equal(b.data, cases[i].text);
    }
    sl_buf_reset(&b);
    sl_buf_put_double(&b, INFINITY);
    assert_string_equal(b.data, "\"Infinity\"");
    /* random doubles of every magnitude against printf and strtod themselves */
    uint64_t x = 0x9e3779b97f4a7c15ull;
    char want[32];
    for (int i = 0; i < 200000; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        uint64_t bits = i % 2 ? x : (x & 0x800fffffffffffffull) | (uint64_t)(980 + i % 200) << 52;
        double v;
        memcpy(&v, &bits, sizeof(v));
        if (isnan(v) || isinf(v))
            continue;
        int prec = 15;
        for (; prec < 17; prec++) {
            snprintf(want, sizeof(want), "%.*g", prec, v);
            if (strtod(want, NULL) == v)
                break;
        }
        snprintf(want, sizeof(want), "%.*g", prec, v);
        sl_buf_reset(&b);
        sl_buf_put_double(&b, v);
        assert_string_equal(b.data, want);
    }
    sl_buf_free(&b);
}

/* The escaper skips plain ASCII eight bytes at a time: a byte to escape or check must be
 * found at every offset in and across those blocks. */
static void test_json_string_blocks(void **state)
{
    static const struct {
        const char *in, *out;
        size_t inlen;
    } specials[] = {
        {"\"", "\\\"", 1},
        {"\\", "\\\\", 1},
        {"\x1f", "\\u001f", 1},
        {"\0", "\\u0000", 1},
        {"\x7f", "\x7f", 1}, /* DEL is printable as far as JSON goes */
        {" ", " ", 1},
        {"\x80", "\xef\xbf\xbd", 1},
        {"\xc3\xa9", "\xc3\xa9", 2},
        {"\xf0\x9f\x98\x80", "\xf0\x9f\x98\x80", 4},
        {"\xe2\x82", "\xef\xbf\xbd\xef\xbf\xbd", 2}, /* cut short */
    };
    const char plain[] = "abcdefghijklmnopqrstuvwxyz0123"; /* 30 bytes */
    sl_buf_t b = SL_BUF_INIT;
    char want[96];
    char *in = NULL; /* exactly as long as the text, so that ASan sees any read past it */
    for (size_t k = 0; k < sizeof(specials) / sizeof(specials[0]); k++) {
        for (size_t at = 0; at <= 20; at++) {
            size_t tail = 30 - at - (at % 3); /* lengths around the block edges */
            size_t n = at + specials[k].inlen + tail;
            in = realloc(in, n);
            assert_non_null(in);
            memcpy(in, plain, at);
            memcpy(in + at, specials[k].in, specials[k].inlen);
            memcpy(in + at + specials[k].inlen, plain + at, tail);
            snprintf(want, sizeof(want), "\"%.*s%s%.*s\"", (int)at, plain, specials[k].out,
                     (int)tail, plain + at);
            sl_buf_reset(&b);
            sl_buf_put_json_str(&b, in, n);
            assert_string_equal(b.data, want);
        }
    }
    /* plain text of every length up to 30, ending at the end of its allocation */
    for (size_t n = 0; n <= 30; n++) {
        in = realloc(in, n ? n : 1);
        assert_non_null(in);
        memcpy(in, plain, n);
        snprintf(want, sizeof(want), "\"%.*s\"", (int)n, plain);
        sl_buf_reset(&b);
        sl_buf_put_json_str(&b, in, n);
        assert_string_equal(b.data, want);
    }
    free(in);
    /* every byte value alone, and after a block of plain text */
    for (int c = 0; c < 256; c++) {
        char one = (char)c;
        sl_buf_reset(&b);
        sl_buf_put_json_str(&b, &one, 1);
        if (c == '"' || c == '\\')
            snprintf(want, sizeof(want), "\"\\%c\"", c);
        else if (c == '\b' || c == '\f' || c == '\n' || c == '\r' || c == '\t')
            snprintf(want, sizeof(want), "\"\\%c\"", "btnfr"[c == '\b'   ? 0
                                                              : c == '\t' ? 1
                                                              : c == '\n' ? 2
                                                              : c == '\f' ? 3
                                                                          : 4]);
        else if (c < 0x20)
            snprintf(want, sizeof(want), "\"\\u%04x\"", c);
        else if (c >= 0x80)
            snprintf(want, sizeof(want), "\"\xef\xbf\xbd\"");
        else
            snprintf(want, sizeof(want), "\"%c\"", c);
        assert_string_equal(b.data, want);
    }
    sl_buf_reset(&b);
    sl_buf_put_json_str(&b, "", 0);
    assert_string_equal(b.data, "\"\"");
    sl_buf_reset(&b);
    sl_buf_put_json_str(&b, "0123456789abcdef0123456789abcdef", 32);
    assert_string_equal(b.data, "\"0123456789abcdef0123456789abcdef\"");
    sl_buf_free(&b);
}

static sl_table_t *orders_table(void)
{
    sl_table_t *t = sl_table_new("shop", "public", "orders");
    sl_table_add_column(t, "id", "int4", 23, -1, SL_JT_INT, 0, 1);
    sl_table_add_column(t, "note", "text", 25, -1, SL_JT_STRING, 1, 0);
    sl_table_add_column(t, "blob", "bytea", 17, -1, SL_JT_BYTES, 1, 0);
    return t;
}

/* The key and the value of one change, each against its exact text. */
static void assert_envelope(const sl_envelope_t *env, const sl_change_t *ch, int64_t now_ms,
                            const char *key, const char *value)
{
    sl_buf_t b = SL_BUF_INIT;
    assert_int_equal(sl_envelope_key(ch, &b), 1);
    assert_string_equal(b.data, key);
    sl_buf_reset(&b);
    sl_envelope_value(env, ch, now_ms, &b);
    assert_string_equal(b.data, value);
    sl_buf_free(&b);
}

static void test_envelope_golden(void **state)
{
    sl_schema_cache_t *c = sl_schema_cache_new();
    const sl_table_t *t = sl_schema_cache_intern(c, orders_table());
    sl_value_t before[3] = {{.kind = SL_V_INT, .v.i = 42},
                            {.kind = SL_V_UNCHANGED},
                            {.kind = SL_V_NULL}};
    sl_value_t after[3] = {{.kind = SL_V_INT, .v.i = 42},
                           {.kind = SL_V_STRING, .len = 5, .v.s = "h\"llo"},
                           {.kind = SL_V_BYTES, .len = 3, .v.s = "\x00\x01\x02"}};
    const char extra[] = "\"lsn\":123";
    sl_change_t ch = {.op = 'u',
                      .table = t,
                      .before = before,
                      .after = after,
                      .commit_ts_ms = 1700000000123,
                      .snapshot = "false",
                      .source_extra = extra,
                      .source_extra_len = sizeof(extra) - 1,
                      .tx_id = "7:99",
                      .total_order = 2,
                      .data_collection_order = 1};
    sl_envelope_t env = {"postgresql", "shop"};
    assert_envelope(
        &env, &ch, 1700000000999, "{\"id\":42}",
        "{\"before\":{\"id\":42,\"note\":\"__debezium_unavailable_value\",\"blob\":null},"
        "\"after\":{\"id\":42,\"note\":\"h\\\"llo\",\"blob\":\"AAEC\"},"
        "\"source\":{\"version\":\"" SLUICE_VERSION "\",\"connector\":\"postgresql\","
        "\"name\":\"shop\",\"ts_ms\":1700000000123,\"snapshot\":\"false\",\"db\":\"shop\","
        "\"schema\":\"public\",\"table\":\"orders\",\"schema_version\":1,\"lsn\":123},"
        "\"op\":\"u\",\"ts_ms\":1700000000999,"
        "\"transaction\":{\"id\":\"7:99\",\"total_order\":2,\"data_collection_order\":1}}");
    /* a delete takes its key from before; a table without key has a null key */
    ch.op = 'd';
    ch.after = NULL;
    sl_buf_t b = SL_BUF_INIT;
    assert_int_equal(sl_envelope_key(&ch, &b), 1);
    sl_table_t *nokey = sl_table_new("shop", "public", "log");
    sl_table_add_column(nokey, "line", "text", 25, -1, SL_JT_STRING, 1, 0);
    const sl_table_t *nk = sl_schema_cache_intern(c, nokey);
    sl_change_t ch2 = {.op = 'c', .table = nk, .after = after + 1};
    sl_buf_reset(&b);
    assert_int_equal(sl_envelope_key(&ch2, &b), 0);
    assert_int_equal(b.len, 0);
    sl_buf_reset(&b);
    sl_envelope_value(&env, &ch2, 5, &b);
    assert_non_null(strstr(b.data, "\"before\":null,\"after\":{\"line\":\"h\\\"llo\"}"));
    assert_non_null(strstr(b.data, "\"snapshot\":\"false\""));
    assert_non_null(strstr(b.data, "\"transaction\":null}"));
    sl_buf_free(&b);
    sl_schema_cache_free(c);
}

/* A change stashed (several into one buffer, which grows and moves meanwhile) and
 * unstashed gives the very envelope the original gives: every kind of value, rows and
 * strings present and absent, source_extra without a NUL of its own. */
static void test_change_stash(void **state)
{
    (void)state;
    sl_schema_cache_t *c = sl_schema_cache_new();
    const sl_table_t *t = sl_schema_cache_intern(c, orders_table());
    char longtext[3000];
    memset(longtext, 'x', sizeof(longtext));
    sl_value_t rows[][3] = {
        {{.kind = SL_V_INT, .v.i = -42}, {.kind = SL_V_UNCHANGED}, {.kind = SL_V_NULL}},
        {{.kind = SL_V_UINT, .v.u = UINT64_MAX},
         {.kind = SL_V_STRING, .len = 5, .v.s = "h\"llo"},
         {.kind = SL_V_BYTES, .len = 3, .v.s = "\x00\x01\x02"}},
        {{.kind = SL_V_DOUBLE, .v.d = 0.1},
         {.kind = SL_V_STRING, .len = 0, .v.s = NULL},
         {.kind = SL_V_JSON, .len = 7, .v.s = "[1,2,3]"}},
        {{.kind = SL_V_BOOL, .v.i = 1},
         {.kind = SL_V_STRING, .len = sizeof(longtext), .v.s = longtext},
         {.kind = SL_V_BYTES, .len = 0, .v.s = ""}},
    };
    const char extra[] = "\"lsn\":123XXXX"; /* only the first 9 bytes are the member */
    sl_change_t ch[6] = {
        {.op = 'u', .table = t, .before = rows[0], .after = rows[1], .commit_ts_ms = 17,
         .snapshot = "false", .source_extra = extra, .source_extra_len = 9,
         .tx_id = "7:99", .total_order = 2, .data_collection_order = 1},
        {.op = 'c', .table = t, .after = rows[2], .commit_ts_ms = -1},
        {.op = 'd', .table = t, .before = rows[3], .snapshot = "last", .tx_id = ""},
        {.op = 'r', .table = t, .after = rows[3], .snapshot = "true",
         .source_extra = extra, .source_extra_len = 0},
        {.op = 't', .table = t, .commit_ts_ms = 5, .tx_id = "tx"},
        {.op = 'c', .table = t, .after = rows[1], .total_order = UINT64_MAX},
    };
    sl_envelope_t env = {"mysql", "shop"};
    sl_buf_t raw = SL_BUF_INIT;
    size_t off[6];
    for (int round = 0; round < 40; round++) /* many, so that raw is reallocated */
        for (int i = 0; i < 6; i++)
            off[i] = sl_change_stash(&ch[i], 1000 + i, &raw);
    for (int i = 0; i < 6; i++) {
        assert_int_equal(off[i] % 8, 0);
        sl_change_t u;
        int64_t now = 0;
        sl_change_unstash(raw.data, off[i], t, &u, &now);
        assert_int_equal(now, 1000 + i);
        sl_buf_t want = SL_BUF_INIT, got = SL_BUF_INIT;
        assert_int_equal(sl_envelope_key(&u, &got), sl_envelope_key(&ch[i], &want));
        sl_envelope_value(&env, &ch[i], 1000 + i, &want);
        sl_envelope_value(&env, &u, now, &got);
        assert_string_equal(got.data, want.data);
        assert_true((u.snapshot == NULL) == (ch[i].snapshot == NULL));
        assert_true((u.tx_id == NULL) == (ch[i].tx_id == NULL));
        sl_buf_free(&want);
        sl_buf_free(&got);
    }
    sl_buf_free(&raw);
    sl_schema_cache_free(c);
}

/* A MySQL-style table (no schema) whose names all need escaping. */
static sl_table_t *odd_names_table(void)
{
    sl_table_t *t = sl_table_new("sh\"op", NULL, "t\\ab\xff");
    sl_table_add_column(t, "i\"d", "int", 3, 0, SL_JT_INT, 0, 1);
    sl_table_add_column(t, "caf\xc3\xa9\n", "text", 252, 0, SL_JT_STRING, 1, 0);
    sl_table_add_column(t, "g", "double", 5, 0, SL_JT_NUMBER, 1, 0);
    return t;
}

/* Column names and the table's source members are escaped once, when the shape is built;
 * the envelope copies them. */
static void test_envelope_cached_names(void **state)
{
    sl_schema_cache_t *c = sl_schema_cache_new();
    const sl_table_t *t = sl_schema_cache_intern(c, odd_names_table());
    /* the cached text is not part of the shape: stored histories keep matching (the value
     * sluice computed before the cache existed; little-endian, as the hash reads type_id) */
    assert_int_equal(t->fingerprint, 0xc60da9bdacb04749ull);
    assert_string_equal(t->cols[0].json_name, "\"i\\\"d\":");
    assert_int_equal(t->cols[0].json_name_len, 7);
    assert_string_equal(t->cols[1].json_name, "\"caf\xc3\xa9\\n\":");
    assert_string_equal(t->json_source,
                        ",\"db\":\"sh\\\"op\",\"table\":\"t\\\\ab\xef\xbf\xbd\",\"schema_version\":");
    sl_value_t after[3] = {{.kind = SL_V_INT, .v.i = -7},
                           {.kind = SL_V_STRING, .len = 2, .v.s = "\"x"},
                           {.kind = SL_V_DOUBLE, .v.d = -2.5e-300}};
    sl_change_t ch = {.op = 'c', .table = t, .after = after, .commit_ts_ms = 0};
    sl_envelope_t env = {"mysql", "n\"m"};
    assert_envelope(
        &env, &ch, 9, "{\"i\\\"d\":-7}",
        "{\"before\":null,\"after\":{\"i\\\"d\":-7,\"caf\xc3\xa9\\n\":\"\\\"x\",\"g\":-2.5e-300},"
        "\"source\":{\"version\":\"" SLUICE_VERSION "\",\"connector\":\"mysql\","
        "\"name\":\"n\\\"m\",\"ts_ms\":0,\"snapshot\":\"false\",\"db\":\"sh\\\"op\","
        "\"table\":\"t\\\\ab\xef\xbf\xbd\",\"schema_version\":1},"
        "\"op\":\"c\",\"ts_ms\":9,\"transaction\":null}");
    sl_schema_cache_free(c);
}

static void test_schema_versions(void **state)
{
    sl_schema_cache_t *c = sl_schema_cache_new();
    const sl_table_t *v1 = sl_schema_cache_intern(c, orders_table());
    assert_int_equal(v1->version, 1);
    /* the same shape again is the same version object */
    assert_ptr_equal(sl_schema_cache_intern(c, orders_table()), v1);
    sl_table_t *t2 = orders_table();
    sl_table_add_column(t2, "extra", "int8", 20, -1, SL_JT_INT, 1, 0);
    const sl_table_t *v2 = sl_schema_cache_intern(c, t2);
    assert_int_equal(v2->version, 2);
    assert_ptr_equal(sl_schema_cache_latest(c, "public.orders"), v2);
    /* going back to the first shape reuses version 1 */
    assert_int_equal(sl_schema_cache_intern(c, orders_table())->version, 1);

    sl_buf_t dump = SL_BUF_INIT;
    sl_schema_cache_dump(c, &dump);
    sl_schema_cache_t *c2 = sl_schema_cache_new();
    char err[256];
    assert_int_equal(sl_schema_cache_load(c2, dump.data, dump.len, err, sizeof(err)), SL_OK);
    /* after a restart the stored history gives the same numbers, in any order */
    sl_table_t *again2 = orders_table();
    sl_table_add_column(again2, "extra", "int8", 20, -1, SL_JT_INT, 1, 0);
    assert_int_equal(sl_schema_cache_intern(c2, again2)->version, 2);
    assert_int_equal(sl_schema_cache_intern(c2, orders_table())->version, 1);
    assert_int_equal(sl_schema_cache_load(c2, "[1]", 3, err, sizeof(err)), SL_ERR_CORRUPT);

    sl_buf_t js = SL_BUF_INIT;
    sl_table_to_json(v2, &js);
    assert_non_null(strstr(js.data, "\"version\":2"));
    assert_non_null(strstr(js.data, "\"key\":[\"id\"]"));
    assert_non_null(strstr(js.data, "{\"name\":\"extra\",\"type\":\"int8\",\"json_type\":\"int\","
                                    "\"nullable\":true,\"key\":false}"));
    sl_buf_free(&js);
    sl_buf_free(&dump);
    sl_schema_cache_free(c);
    sl_schema_cache_free(c2);
}

static char *tmpdir(void)
{
    char *d = strdup("/tmp/sluice-test-XXXXXX");
    assert_non_null(mkdtemp(d));
    return d;
}

static void rm_rf(const char *d)
{
    char cmd[512];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", d);
    assert_int_equal(system(cmd), 0);
}

static void test_bookmark_store(void **state)
{
    char *d = tmpdir();
    char err[512], *doc = NULL;
    assert_int_equal(sl_bookmark_load(d, "shop", &doc, err, sizeof(err)), SL_OK);
    assert_null(doc);
    const char *v1 = "{\"lsn\":\"0/10\"}";
    assert_int_equal(sl_bookmark_store(d, "shop", v1, strlen(v1), err, sizeof(err)), SL_OK);
    assert_int_equal(sl_bookmark_load(d, "shop", &doc, err, sizeof(err)), SL_OK);
    assert_non_null(doc);
    assert_non_null(strstr(doc, "0/10"));
    free(doc);
    /* no temp file is left behind */
    char tmp[512];
    snprintf(tmp, sizeof(tmp), "%s/bookmarks/.shop.json.tmp", d);
    assert_int_not_equal(access(tmp, F_OK), 0);

    /* a corrupt file is refused with a sentence naming it, and left as it was */
    char path[512];
    snprintf(path, sizeof(path), "%s/bookmarks/shop.json", d);
    FILE *f = fopen(path, "w");
    fputs("{\"lsn\": \"0/1", f);
    fclose(f);
    doc = NULL;
    assert_int_equal(sl_bookmark_load(d, "shop", &doc, err, sizeof(err)), SL_ERR_CORRUPT);
    assert_null(doc);
    assert_non_null(strstr(err, path));
    assert_non_null(strstr(err, "corrupt"));
    f = fopen(path, "r");
    char back[64] = "";
    assert_non_null(fgets(back, sizeof(back), f));
    fclose(f);
    assert_string_equal(back, "{\"lsn\": \"0/1");
    /* valid JSON that is not an object is corrupt too */
    f = fopen(path, "w");
    fputs("[1,2]", f);
    fclose(f);
    assert_int_equal(sl_bookmark_load(d, "shop", &doc, err, sizeof(err)), SL_ERR_CORRUPT);

    assert_int_equal(sl_bookmark_remove(d, "shop", err, sizeof(err)), SL_OK);
    assert_int_equal(sl_bookmark_load(d, "shop", &doc, err, sizeof(err)), SL_OK);
    assert_null(doc);
    /* an unwritable place is an error, not a silent loss */
    assert_int_equal(sl_bookmark_store("/proc/nonexistent", "x", "{}", 2, err, sizeof(err)),
                     SL_ERR_IO);
    rm_rf(d);
    free(d);
}

static void test_pos_keys(void **state)
{
    sl_pos_t a = {.major = 0x1a2b3c, .index = 7}, b = {.major = 0x1a2b3c, .index = 8};
    sl_pos_t done = {.major = 0x1a2b3c, .index = SL_POS_DONE};
    char ka[SL_POS_KEY_LEN + 1], kb[SL_POS_KEY_LEN + 1], kd[SL_POS_KEY_LEN + 1];
    sl_pos_key(&a, ka);
    sl_pos_key(&b, kb);
    sl_pos_key(&done, kd);
    assert_string_equal(ka, "00000000001a2b3c-00000007");
    assert_true(strcmp(ka, kb) < 0 && strcmp(kb, kd) < 0);
    assert_true(sl_pos_cmp(&a, &b) < 0 && sl_pos_cmp(&b, &done) < 0);
    sl_pos_t back;
    assert_int_equal(sl_pos_key_parse(kb, strlen(kb), &back), 0);
    assert_int_equal(sl_pos_cmp(&back, &b), 0);
    assert_int_equal(sl_pos_key_parse("00000000001a2b3c_00000007", 25, &back), -1);
    assert_int_equal(sl_pos_key_parse("short", 5, &back), -1);
}

typedef struct {
    sl_queue_t *q;
    int n;
} prod_t;

static void *producer(void *arg)
{
    prod_t *p = arg;
    for (int i = 0; i < p->n; i++) {
        sl_batch_t *b = sl_queue_get_free(p->q);
        sl_record_t *r = sl_batch_add(b);
        r->pos.major = (uint64_t)i;
        assert_int_equal(sl_queue_push(p->q, b), SL_OK);
    }
    sl_queue_close(p->q);
    return NULL;
}

static void test_queue_order_and_backpressure(void **state)
{
    sl_queue_t *q = sl_queue_new(2);
    prod_t p = {q, 1000};
    pthread_t th;
    pthread_create(&th, NULL, producer, &p);
    usleep(20000);
    /* the producer is blocked: never more than the capacity queued */
    assert_true(sl_queue_depth(q) <= 2);
    int expect = 0;
    sl_batch_t *b;
    while ((b = sl_queue_pop(q, 1000)) != NULL) {
        assert_int_equal((int)b->recs[0].pos.major, expect);
        expect++;
        sl_queue_put_free(q, b);
    }
    assert_int_equal(expect, 1000);
    pthread_join(th, NULL);
    assert_true(sl_queue_closed(q));
    sl_batch_t *late = sl_batch_new();
    assert_int_equal(sl_queue_push(q, late), SL_ERR_STOPPED);
    sl_batch_free(late);
    assert_null(sl_queue_pop(q, 10));
    sl_queue_free(q);
}

static void test_arena(void **state)
{
    sl_arena_t a = SL_ARENA_INIT;
    char *x = sl_arena_dup(&a, "hello", 5);
    char *big = sl_arena_alloc(&a, 1 << 20);
    memset(big, 'x', 1 << 20);
    char *y = sl_arena_dup(&a, "world", 5);
    assert_string_equal(x, "hello"); /* earlier allocations never move */
    assert_string_equal(y, "world");
    sl_arena_reset(&a);
    for (int i = 0; i < 10000; i++)
        sl_arena_alloc(&a, 100);
    sl_arena_free(&a);
}

static void test_log_redaction(void **state)
{
    sl_log_add_secret("hunter2-sentinel");
    char out[128];
    sl_log_redact("password=hunter2-sentinel; again hunter2-sentinel", out, sizeof(out));
    assert_string_equal(out, "password=***; again ***");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_json_string_escapes),
        cmocka_unit_test(test_base64_and_numbers),
        cmocka_unit_test(test_buf_append_lengths),
        cmocka_unit_test(test_integer_boundaries),
        cmocka_unit_test(test_double_text),
        cmocka_unit_test(test_json_string_blocks),
        cmocka_unit_test(test_envelope_golden),
        cmocka_unit_test(test_envelope_cached_names),
        cmocka_unit_test(test_change_stash),
        cmocka_unit_test(test_schema_versions),
        cmocka_unit_test(test_bookmark_store),
        cmocka_unit_test(test_pos_keys),
        cmocka_unit_test(test_queue_order_and_backpressure),
        cmocka_unit_test(test_arena),
        cmocka_unit_test(test_log_redaction),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
