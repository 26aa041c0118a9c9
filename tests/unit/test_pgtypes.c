/* sluice: unit tests of PostgreSQL text values to sluice values (docs/types.md), each
 * rendered as the envelope would write it, plus array literals good and malformed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>
#include "connectors/postgres/pgtypes.h"
#include "core/arena.h"
#include "core/buf.h"

/* Render a value the way the envelope encodes it (core/value.h). */
static void render(const sl_value_t *v, sl_buf_t *out)
{
    switch (v->kind) {
    case SL_V_NULL:
        sl_buf_puts(out, "null");
        break;
    case SL_V_BOOL:
        sl_buf_puts(out, v->v.i ? "true" : "false");
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
        sl_buf_put_json_str(out, SL_UNCHANGED_MARKER, strlen(SL_UNCHANGED_MARKER));
        break;
    default:
        fail_msg("unknown value kind %d", v->kind);
    }
}

static sl_arena_t arena = SL_ARENA_INIT;
static sl_buf_t tmp = SL_BUF_INIT, rendered = SL_BUF_INIT;
static char err[512];

static sl_pg_type_t ty(uint32_t oid)
{
    sl_pg_type_t t = {
        .oid = oid, .base_oid = oid, .elem_oid = sl_pg_array_elem(oid), .delim = ','};
    return t;
}

/* Convert txt (from an exact-size heap copy, so ASan sees over-reads); NULL on error. */
static const char *conv_t(const sl_pg_type_t *t, const char *txt, sl_err_t *rc_out)
{
    size_t n = strlen(txt);
    char *copy = malloc(n ? n : 1);
    assert_non_null(copy);
    memcpy(copy, txt, n);
    sl_value_t v;
    sl_arena_reset(&arena);
    err[0] = 0;
    sl_err_t rc = sl_pg_text_to_value(t, copy, n, &arena, &tmp, &v, err, sizeof(err));
    if (rc_out)
        *rc_out = rc;
    sl_buf_reset(&rendered);
    if (rc == SL_OK)
        render(&v, &rendered);
    free(copy);
    return rc == SL_OK ? rendered.data : NULL;
}

#define EXPECT_T(t, txt, want)                                                           \
    do {                                                                                 \
        sl_err_t rc_;                                                                    \
        const char *got_ = conv_t(t, txt, &rc_);                                         \
        if (!got_)                                                                       \
            fail_msg("%s: unexpected error %d: %s", txt, rc_, err);                      \
        assert_string_equal(got_, want);                                                 \
    } while (0)

#define EXPECT(oid, txt, want)                                                           \
    do {                                                                                 \
        sl_pg_type_t t_ = ty(oid);                                                       \
        EXPECT_T(&t_, txt, want);                                                        \
    } while (0)

#define REJECT_T(t, txt)                                                                 \
    do {                                                                                 \
        sl_err_t rc_;                                                                    \
        const char *got_ = conv_t(t, txt, &rc_);                                         \
        if (got_)                                                                        \
            fail_msg("%s: accepted as %s", txt, got_);                                   \
        assert_int_equal(rc_, SL_ERR_PROTOCOL);                                          \
        assert_true(strlen(err) > 20);                                                   \
    } while (0)

#define REJECT(oid, txt)                                                                 \
    do {                                                                                 \
        sl_pg_type_t t_ = ty(oid);                                                       \
        REJECT_T(&t_, txt);                                                              \
    } while (0)

static int teardown_all(void **state)
{
    sl_arena_free(&arena);
    sl_buf_free(&tmp);
    sl_buf_free(&rendered);
    return 0;
}

static void test_catalog(void **state)
{
    /* scalar oid, its array oid (pg_type.dat) */
    static const uint32_t pairs[][2] = {
        {16, 1000},   {17, 1001},   {18, 1002},   {19, 1003},   {20, 1016},
        {21, 1005},   {23, 1007},   {25, 1009},   {26, 1028},   {114, 199},
        {142, 143},   {600, 1017},  {603, 1020},  {650, 651},   {700, 1021},
        {701, 1022},  {774, 775},   {790, 791},   {829, 1040},  {869, 1041},
        {1042, 1014}, {1043, 1015}, {1082, 1182}, {1083, 1183}, {1114, 1115},
        {1184, 1185}, {1186, 1187}, {1266, 1270}, {1560, 1561}, {1562, 1563},
        {1700, 1231}, {2950, 2951}, {3614, 3643}, {3802, 3807}, {3904, 3905},
        {5069, 271},
    };
    for (size_t i = 0; i < sizeof(pairs) / sizeof(pairs[0]); i++) {
        assert_true(sl_pg_type_is_builtin(pairs[i][0]));
        assert_true(sl_pg_type_is_builtin(pairs[i][1]));
        assert_int_equal(sl_pg_array_elem(pairs[i][0]), 0);
        assert_int_equal(sl_pg_array_elem(pairs[i][1]), pairs[i][0]);
        const char *s = sl_pg_type_name(pairs[i][0]), *a = sl_pg_type_name(pairs[i][1]);
        assert_int_equal(a[0], '_');
        assert_string_equal(a + 1, s);
    }
    assert_string_equal(sl_pg_type_name(23), "int4");
    assert_string_equal(sl_pg_type_name(1007), "_int4");
    assert_string_equal(sl_pg_type_name(3802), "jsonb");
    assert_string_equal(sl_pg_type_name(1184), "timestamptz");
    assert_false(sl_pg_type_is_builtin(0));
    assert_false(sl_pg_type_is_builtin(99999));
    assert_string_equal(sl_pg_type_name(99999), "unknown");
    assert_int_equal(sl_pg_array_elem(99999), 0);

    /* the binary search finds every entry only if the table is sorted: count them all.
     * 108 is the number of rows in pgtypes.c's builtins[]; change both together. */
    size_t found = 0;
    for (uint32_t oid = 0; oid < 10000; oid++)
        found += sl_pg_type_is_builtin(oid) ? 1 : 0;
    assert_int_equal(found, 108);

    struct {
        uint32_t oid;
        sl_jtype_t jt;
    } jts[] = {
        {16, SL_JT_BOOL},     {17, SL_JT_BYTES},   {20, SL_JT_INT},
        {21, SL_JT_INT},      {23, SL_JT_INT},     {26, SL_JT_INT},
        {700, SL_JT_NUMBER},  {701, SL_JT_NUMBER}, {1700, SL_JT_STRING},
        {25, SL_JT_STRING},   {114, SL_JT_JSON},   {3802, SL_JT_JSON},
        {1184, SL_JT_STRING}, {1007, SL_JT_ARRAY}, {3807, SL_JT_ARRAY},
        {2950, SL_JT_STRING},
    };
    for (size_t i = 0; i < sizeof(jts) / sizeof(jts[0]); i++) {
        sl_pg_type_t t = ty(jts[i].oid);
        assert_int_equal(sl_pg_jtype(&t), jts[i].jt);
    }
    /* an enum column (resolved by the client to text) and an array of a domain */
    sl_pg_type_t e = {.oid = 70000, .base_oid = 25, .elem_oid = 0, .delim = ','};
    assert_int_equal(sl_pg_jtype(&e), SL_JT_STRING);
    sl_pg_type_t da = {.oid = 70001, .base_oid = 1009, .elem_oid = 23, .delim = ','};
    assert_int_equal(sl_pg_jtype(&da), SL_JT_ARRAY);
}

static void test_integers(void **state)
{
    EXPECT(21, "32767", "32767");
    EXPECT(21, "-32768", "-32768");
    REJECT(21, "32768");
    REJECT(21, "-32769");
    EXPECT(23, "-2147483648", "-2147483648");
    EXPECT(23, "2147483647", "2147483647");
    REJECT(23, "2147483648");
    EXPECT(20, "9223372036854775807", "9223372036854775807");
    EXPECT(20, "-9223372036854775808", "-9223372036854775808");
    REJECT(20, "9223372036854775808");
    REJECT(20, "-9223372036854775809");
    REJECT(20, "99999999999999999999999");
    EXPECT(20, "0", "0");
    EXPECT(20, "007", "7");
    REJECT(23, "");
    REJECT(23, "-");
    REJECT(23, "+1");
    REJECT(23, " 1");
    REJECT(23, "1 ");
    REJECT(23, "1.0");
    REJECT(23, "0x10");
    EXPECT(26, "4294967295", "4294967295");
    REJECT(26, "4294967296");
    REJECT(26, "-1");
    EXPECT(5069, "18446744073709551615", "18446744073709551615");
    REJECT(5069, "18446744073709551616");
}

static void test_floats_numeric_bool(void **state)
{
    EXPECT(701, "1.5", "1.5");
    EXPECT(701, "0.1", "0.1");
    EXPECT(701, "-2.5e-300", "-2.5e-300");
    EXPECT(701, "1e+300", "1e+300");
    EXPECT(701, "NaN", "\"NaN\"");
    EXPECT(701, "Infinity", "\"Infinity\"");
    EXPECT(701, "-Infinity", "\"-Infinity\"");
    EXPECT(700, "3.4028235e+38", "3.4028235e+38");
    EXPECT(700, "1.1", "1.1");
    REJECT(701, "nan");
    REJECT(701, "inf");
    REJECT(701, "0x1p3");
    REJECT(701, " 1");
    REJECT(701, "1.5abc");
    REJECT(701, "");
    REJECT(701, "e");
    REJECT(701, "1e999");

    EXPECT(1700, "123.4500", "\"123.4500\"");
    EXPECT(1700, "-0.5", "\"-0.5\"");
    EXPECT(1700, "12345678901234567890123456789.000000000000000001",
           "\"12345678901234567890123456789.000000000000000001\"");
    EXPECT(1700, "NaN", "\"NaN\"");
    EXPECT(1700, "Infinity", "\"Infinity\"");
    EXPECT(1700, "-Infinity", "\"-Infinity\"");
    REJECT(1700, "1e5");
    REJECT(1700, "1.");
    REJECT(1700, ".5");
    REJECT(1700, "");
    REJECT(1700, "--1");

    EXPECT(16, "t", "true");
    EXPECT(16, "f", "false");
    REJECT(16, "true");
    REJECT(16, "");
    REJECT(16, "x");
}

static void test_strings_and_json(void **state)
{
    EXPECT(25, "hello \"x\"\n\\", "\"hello \\\"x\\\"\\n\\\\\"");
    EXPECT(25, "", "\"\"");
    EXPECT(25, "caf\xc3\xa9", "\"caf\xc3\xa9\"");
    EXPECT(1043, "v", "\"v\"");
    EXPECT(1042, "ab   ", "\"ab   \"");
    EXPECT(19, "pg_class", "\"pg_class\"");
    EXPECT(18, "c", "\"c\"");
    EXPECT(2950, "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11",
           "\"a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11\"");
    EXPECT(869, "192.168.0.1/24", "\"192.168.0.1/24\"");
    EXPECT(650, "10.0.0.0/8", "\"10.0.0.0/8\"");
    EXPECT(829, "08:00:2b:01:02:03", "\"08:00:2b:01:02:03\"");
    EXPECT(774, "08:00:2b:01:02:03:04:05", "\"08:00:2b:01:02:03:04:05\"");
    EXPECT(790, "$1,000.00", "\"$1,000.00\"");
    EXPECT(1560, "101", "\"101\"");
    EXPECT(1562, "10101", "\"10101\"");
    EXPECT(3614, "'a' 'b'", "\"'a' 'b'\"");
    EXPECT(600, "(1,2)", "\"(1,2)\"");
    EXPECT(142, "<a>x</a>", "\"<a>x</a>\"");
    EXPECT(3904, "[1,5)", "\"[1,5)\"");
    EXPECT(114, "{\"a\": [1, 2]}", "\"{\\\"a\\\": [1, 2]}\"");
    EXPECT(3802, "{\"a\": 1, \"b\": null}", "\"{\\\"a\\\": 1, \\\"b\\\": null}\"");
    EXPECT(3802, "\"just a string\"", "\"\\\"just a string\\\"\"");

    /* an enum and an unknown user type: their text */
    sl_pg_type_t e = {.oid = 70000, .base_oid = 25, .delim = ','};
    EXPECT_T(&e, "happy", "\"happy\"");
    sl_pg_type_t u = {.oid = 70002, .base_oid = 70002, .delim = ','};
    EXPECT_T(&u, "(1,\"x\")", "\"(1,\\\"x\\\")\"");
}

static void test_bytea(void **state)
{
    EXPECT(17, "\\x0a0b", "\"Cgs=\"");
    EXPECT(17, "\\x", "\"\"");
    EXPECT(17, "\\xDEADbeef", "\"3q2+7w==\"");
    EXPECT(17, "\\x000102", "\"AAEC\"");
    /* the escape format, if a server still printed it */
    EXPECT(17, "ab\\\\\\001", "\"YWJcAQ==\"");
    REJECT(17, "\\x0");
    REJECT(17, "\\xzz");
    REJECT(17, "\\q");
    REJECT(17, "\\");
    REJECT(17, "\\01");
}

static void test_dates_and_times(void **state)
{
    EXPECT(1082, "2024-01-15", "\"2024-01-15\"");
    EXPECT(1082, "infinity", "\"infinity\"");
    EXPECT(1082, "-infinity", "\"-infinity\"");
    EXPECT(1082, "0044-03-15 BC", "\"-0043-03-15\"");
    EXPECT(1082, "0001-01-01 BC", "\"0000-01-01\"");
    EXPECT(1082, "4713-01-01 BC", "\"-4712-01-01\"");
    EXPECT(1082, "10000-01-01", "\"10000-01-01\"");
    EXPECT(1082, "5874897-12-31", "\"5874897-12-31\"");
    REJECT(1082, "01/15/2024");
    REJECT(1082, "2024-13-01");
    REJECT(1082, "2024-01-32");
    REJECT(1082, "2024-1-15");
    REJECT(1082, "2024-01-15 AD");
    REJECT(1082, "");
    assert_non_null(strstr(err, "DateStyle"));

    EXPECT(1083, "10:30:00", "\"10:30:00\"");
    EXPECT(1083, "10:30:00.123456", "\"10:30:00.123456\"");
    EXPECT(1083, "24:00:00", "\"24:00:00\"");
    REJECT(1083, "10:30");
    REJECT(1083, "10:30:00.");
    REJECT(1083, "25:00:00");
    REJECT(1083, "10:30:00+00");

    EXPECT(1266, "10:00:00+02", "\"08:00:00Z\"");
    EXPECT(1266, "01:00:00+02", "\"23:00:00Z\"");
    EXPECT(1266, "23:30:00-01", "\"00:30:00Z\"");
    EXPECT(1266, "10:00:00.5+05:30", "\"04:30:00.5Z\"");
    EXPECT(1266, "10:00:00+00:00:30", "\"09:59:30Z\"");
    EXPECT(1266, "24:00:00+00", "\"24:00:00Z\"");
    EXPECT(1266, "12:00:00.000001-12", "\"00:00:00.000001Z\"");
    REJECT(1266, "10:00:00");
    REJECT(1266, "10:00:00+2");
    REJECT(1266, "10:00:00+02:");

    EXPECT(1114, "2024-01-15 10:30:00", "\"2024-01-15T10:30:00\"");
    EXPECT(1114, "2024-01-15 10:30:00.123456", "\"2024-01-15T10:30:00.123456\"");
    EXPECT(1114, "infinity", "\"infinity\"");
    EXPECT(1114, "0044-03-15 10:00:00 BC", "\"-0043-03-15T10:00:00\"");
    REJECT(1114, "2024-01-15T10:30:00");
    REJECT(1114, "2024-01-15 10:30:00+00");
    REJECT(1114, "Mon Jan 15 10:30:00 2024");

    EXPECT(1184, "2024-01-15 10:30:00+00", "\"2024-01-15T10:30:00Z\"");
    EXPECT(1184, "2024-01-15 10:30:00.5+00", "\"2024-01-15T10:30:00.5Z\"");
    EXPECT(1184, "-infinity", "\"-infinity\"");
    EXPECT(1184, "0044-03-15 10:00:00+00 BC", "\"-0043-03-15T10:00:00Z\"");
    /* a session that is not UTC after all is still shifted right */
    EXPECT(1184, "2024-01-01 01:00:00+02", "\"2023-12-31T23:00:00Z\"");
    EXPECT(1184, "2024-02-28 23:00:00.25-05", "\"2024-02-29T04:00:00.25Z\"");
    EXPECT(1184, "2023-02-28 23:00:00-05", "\"2023-03-01T04:00:00Z\"");
    EXPECT(1184, "0001-01-01 00:30:00+01 BC", "\"-0001-12-31T23:30:00Z\"");
    EXPECT(1184, "1900-03-01 00:00:00+00:53:28", "\"1900-02-28T23:06:32Z\"");
    REJECT(1184, "2024-01-15 10:30:00");
    REJECT(1184, "2024-01-15 10:30:00 UTC");

    EXPECT(1186, "P1Y2M3DT4H5M6.5S", "\"P1Y2M3DT4H5M6.5S\"");
    EXPECT(1186, "PT0S", "\"PT0S\"");
    EXPECT(1186, "P-1Y-2M3DT-4H", "\"P-1Y-2M3DT-4H\"");
    EXPECT(1186, "infinity", "\"infinity\"");
    REJECT(1186, "1 year 2 mons");
    assert_non_null(strstr(err, "IntervalStyle"));
    REJECT(1186, "@ 1 year");
    REJECT(1186, "P");
    REJECT(1186, "P1Y 2M");
}

static void test_arrays(void **state)
{
    EXPECT(1007, "{1,2,NULL}", "[1,2,null]");
    EXPECT(1007, "{{1,2},{3,4}}", "[[1,2],[3,4]]");
    EXPECT(1007, "{{{1},{2}},{{3},{4}}}", "[[[1],[2]],[[3],[4]]]");
    EXPECT(1007, "[0:1]={5,6}", "[5,6]");
    EXPECT(1007, "[1:2][-1:0]={{1,2},{3,4}}", "[[1,2],[3,4]]");
    EXPECT(1007, "{}", "[]");
    EXPECT(1007, "{{{{{{1}}}}}}", "[[[[[[1]]]]]]");
    EXPECT(1016, "{-9223372036854775808,9223372036854775807}",
           "[-9223372036854775808,9223372036854775807]");
    EXPECT(1009, "{\"a b\",\"q\\\"x\",\"back\\\\slash\",NULL,\"NULL\",null,plain}",
           "[\"a b\",\"q\\\"x\",\"back\\\\slash\",null,\"NULL\",null,\"plain\"]");
    EXPECT(1009, "{ a , b }", "[\"a\",\"b\"]");
    EXPECT(1009, "{a b}", "[\"a b\"]");
    EXPECT(1009, "{a\\,b,\\NULL}", "[\"a,b\",\"NULL\"]");
    EXPECT(1009, "{\"\",\" x \"}", "[\"\",\" x \"]");
    EXPECT(1009, "{caf\xc3\xa9,\"{}\"}", "[\"caf\xc3\xa9\",\"{}\"]");
    EXPECT(1009, "{\"line\nbreak\"}", "[\"line\\nbreak\"]");
    EXPECT(1000, "{t,f,NULL}", "[true,false,null]");
    EXPECT(1022, "{1.5,NaN,-Infinity,Infinity,0.1}",
           "[1.5,\"NaN\",\"-Infinity\",\"Infinity\",0.1]");
    EXPECT(1021, "{1.1}", "[1.1]");
    EXPECT(1231, "{1.10,NaN,-3}", "[\"1.10\",\"NaN\",\"-3\"]");
    EXPECT(1001, "{\"\\\\x0a0b\",NULL,\"\\\\x\"}", "[\"Cgs=\",null,\"\"]");
    EXPECT(1182, "{2024-01-15,infinity,\"0044-03-15 BC\"}",
           "[\"2024-01-15\",\"infinity\",\"-0043-03-15\"]");
    EXPECT(1183, "{10:30:00.5}", "[\"10:30:00.5\"]");
    EXPECT(1270, "{10:00:00+02}", "[\"08:00:00Z\"]");
    EXPECT(1115, "{\"2024-01-15 10:30:00\"}", "[\"2024-01-15T10:30:00\"]");
    EXPECT(1185, "{\"2024-01-15 10:30:00+00\",\"2024-01-15 11:00:00.25+00\"}",
           "[\"2024-01-15T10:30:00Z\",\"2024-01-15T11:00:00.25Z\"]");
    EXPECT(1187, "{P1D,PT0S}", "[\"P1D\",\"PT0S\"]");
    EXPECT(3807, "{\"{\\\"a\\\": 1}\",\"[1, 2]\"}", "[\"{\\\"a\\\": 1}\",\"[1, 2]\"]");
    EXPECT(199, "{\"{}\"}", "[\"{}\"]");
    EXPECT(2951, "{a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11}",
           "[\"a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11\"]");
    EXPECT(1028, "{1,4294967295}", "[1,4294967295]");
    EXPECT(1005, "{{1,NULL},{NULL,3}}", "[[1,null],[null,3]]");
    /* box text contains commas, so its arrays use ';' */
    EXPECT(1020, "{(1,1),(0,0);(2,2),(1,1)}", "[\"(1,1),(0,0)\",\"(2,2),(1,1)\"]");
    EXPECT(1017, "{\"(1,2)\",\"(3,4)\"}", "[\"(1,2)\",\"(3,4)\"]");

    /* user types resolved by the client: an enum array and an array of a domain over int4
     */
    sl_pg_type_t ea = {.oid = 70010, .base_oid = 1009, .elem_oid = 25, .delim = ','};
    EXPECT_T(&ea, "{happy,sad,NULL}", "[\"happy\",\"sad\",null]");
    sl_pg_type_t da = {.oid = 70011, .base_oid = 1009, .elem_oid = 23, .delim = ','};
    EXPECT_T(&da, "{1,2}", "[1,2]");
    REJECT_T(&da, "{1,x}");
    /* a domain over int4[]: base _int4, element from the catalog */
    sl_pg_type_t d2 = {.oid = 70012, .base_oid = 1007, .elem_oid = 0, .delim = 0};
    EXPECT_T(&d2, "{7}", "[7]");
    /* a custom delimiter */
    sl_pg_type_t semi = {.oid = 70013, .base_oid = 1009, .elem_oid = 25, .delim = ';'};
    EXPECT_T(&semi, "{a,b;c}", "[\"a,b\",\"c\"]");
}

static void test_malformed_arrays(void **state)
{
    static const char *const bad_int[] = {
        "",
        "{",
        "}",
        "{1,2",
        "1,2}",
        "{1,,2}",
        "{,1}",
        "{1,}",
        "{{1},2}",
        "{1,{2}}",
        "{abc}",
        "{1}x",
        "{}}",
        "{{}",
        "[1:2={1}",
        "[1:2]{1}",
        "[a:2]={1}",
        "[1:2]",
        "{99999999999}",
        "{1 2}",
        "{\"1\"x}",
        "{1\\",
        "{{{{{{{1}}}}}}}",
        "[1][2][3][4][5][6][7]={1}",
        "{NULLx}",
        "{1;2}",
        " ",
        "{1}}",
    };
    for (size_t i = 0; i < sizeof(bad_int) / sizeof(bad_int[0]); i++)
        REJECT(1007, bad_int[i]);
    static const char *const bad_text[] = {
        "{\"abc}", "{\"a\"b}",  "{a\"b}",   "{a{b}",
        "{\"a\\",  "{\"a\\\"}", "{a,\"b\"", "x{a}",
    };
    for (size_t i = 0; i < sizeof(bad_text) / sizeof(bad_text[0]); i++)
        REJECT(1009, bad_text[i]);
    REJECT(1000, "{true}");
    REJECT(1022, "{1.5x}");
    REJECT(1231, "{1e5}");
    REJECT(1001, "{\"\\\\xzz\"}");
    REJECT(1182, "{01/02/2024}");
    REJECT(1185, "{\"2024-01-15 10:30:00\"}");
    REJECT(1187, "{\"1 day\"}");
    /* a quoted NULL element in an int array is the string NULL, not a number */
    REJECT(1007, "{\"NULL\"}");
}

/* Once warm, converting the same row again does not grow the scratch buffer. */
static void test_scratch_stays_warm(void **state)
{
    sl_pg_type_t t = ty(1009);
    const char *lit = "{\"a b\",c,NULL,\"d\\\"e\"}";
    sl_value_t v;
    sl_arena_reset(&arena);
    assert_int_equal(
        sl_pg_text_to_value(&t, lit, strlen(lit), &arena, &tmp, &v, err, sizeof(err)),
        SL_OK);
    char *data = tmp.data;
    size_t cap = tmp.cap;
    for (int i = 0; i < 1000; i++) {
        sl_arena_reset(&arena);
        assert_int_equal(
            sl_pg_text_to_value(&t, lit, strlen(lit), &arena, &tmp, &v, err, sizeof(err)),
            SL_OK);
    }
    assert_ptr_equal(tmp.data, data);
    assert_int_equal(tmp.cap, cap);
    /* a borrowed scalar points into the caller's bytes */
    sl_pg_type_t tt = ty(25);
    const char *txt = "borrowed";
    assert_int_equal(sl_pg_text_to_value(&tt, txt, 8, &arena, &tmp, &v, err, sizeof(err)),
                     SL_OK);
    assert_ptr_equal(v.v.s, txt);
    /* a zero-length value with a NULL pointer is an empty string */
    assert_int_equal(
        sl_pg_text_to_value(&tt, NULL, 0, &arena, &tmp, &v, err, sizeof(err)), SL_OK);
    assert_int_equal(v.kind, SL_V_STRING);
    assert_int_equal(v.len, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_catalog),
        cmocka_unit_test(test_integers),
        cmocka_unit_test(test_floats_numeric_bool),
        cmocka_unit_test(test_strings_and_json),
        cmocka_unit_test(test_bytea),
        cmocka_unit_test(test_dates_and_times),
        cmocka_unit_test(test_arrays),
        cmocka_unit_test(test_malformed_arrays),
        cmocka_unit_test(test_scratch_stays_warm),
    };
    return cmocka_run_group_tests(tests, NULL, teardown_all);
}
