/* sluice unit tests: the MySQL source's bookmark document (render and parse round trip,
 * hand-typed positions, inconsistent documents) without a server. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>
#include "connectors/mysql/mysql.h"
#include "core/buf.h"
#include "core/err.h"

static sl_err_t parse(const char *doc, sl_pos_t *pos)
{
    char err[256];
    return sl_source_mysql.bookmark_parse(doc, strlen(doc), pos, err, sizeof(err));
}

/* render(NULL, pos) inside braces, into a static buffer */
static const char *render(const sl_pos_t *pos)
{
    static char out[512];
    sl_buf_t b = SL_BUF_INIT;
    sl_buf_putc(&b, '{');
    sl_source_mysql.bookmark_render(NULL, pos, &b);
    sl_buf_putc(&b, '}');
    snprintf(out, sizeof(out), "%s", b.data);
    sl_buf_free(&b);
    return out;
}

static void test_done_round_trip(void **state)
{
    (void)state;
    const char *doc = "{\"file\":\"mysql-bin.000042\",\"pos\":4711,\"tx_pos\":4390,"
                      "\"row\":\"done\",\"gtid_set\":\"0-1-1042,1-2-7\"}";
    sl_pos_t p;
    assert_int_equal(parse(doc, &p), SL_OK);
    assert_int_equal(p.index, SL_POS_DONE);
    assert_true(p.major == ((uint64_t)42 << 40 | 4390));
    assert_true(p.minor == 4711);
    /* without a running source the base name and GTID state come from the parsed doc */
    assert_string_equal(render(&p), doc);
}

/* MySQL: the executed GTID set rides in the same member */
static void test_mysql_gtid_set(void **state)
{
    (void)state;
    const char *doc = "{\"file\":\"binlog.000007\",\"pos\":900,\"tx_pos\":800,"
                      "\"row\":\"done\",\"gtid_set\":"
                      "\"3e11fa47-71ca-11e1-9e33-c80aa9429562:1-5:11-18\"}";
    sl_pos_t p;
    assert_int_equal(parse(doc, &p), SL_OK);
    assert_string_equal(render(&p), doc);
    const char *none = "{\"file\":\"binlog.000007\",\"pos\":900,\"tx_pos\":800,"
                       "\"row\":\"done\",\"gtid_set\":\"\"}";
    assert_int_equal(parse(none, &p), SL_OK);
}

static void test_mid_transaction(void **state)
{
    (void)state;
    const char *doc =
        "{\"file\":\"binlog.000003\",\"pos\":1005,\"tx_pos\":1005,\"row\":17}";
    sl_pos_t p, q;
    assert_int_equal(parse(doc, &p), SL_OK);
    assert_int_equal(p.index, 17);
    assert_true(p.major == ((uint64_t)3 << 40 | 1005));
    assert_string_equal(render(&p), doc);
    /* a later row of the same transaction sorts after it; the next transaction too */
    q = p;
    q.index = 18;
    assert_true(sl_pos_cmp(&p, &q) < 0);
    assert_int_equal(parse("{\"file\":\"binlog.000003\",\"pos\":2000,\"tx_pos\":1005,"
                           "\"row\":\"done\"}",
                           &q),
                     SL_OK);
    assert_true(sl_pos_cmp(&p, &q) < 0);
    /* a partly delivered transaction resumes at its start: pos must equal tx_pos */
    assert_int_equal(parse("{\"file\":\"binlog.000004\",\"pos\":5,\"tx_pos\":4,"
                           "\"row\":1}",
                           &q),
                     SL_ERR_CORRUPT);
    /* a file rotation sorts after everything in the older file */
    assert_int_equal(parse("{\"file\":\"binlog.000004\",\"pos\":4,\"tx_pos\":4,"
                           "\"row\":1}",
                           &q),
                     SL_OK);
    assert_true(sl_pos_cmp(&p, &q) < 0);
}

static void test_hand_typed(void **state)
{
    (void)state;
    sl_pos_t p;
    assert_int_equal(parse("{\"file\":\"binlog.000007\",\"pos\":1234}", &p), SL_OK);
    assert_int_equal(p.index, SL_POS_DONE);
    assert_true(p.minor == 1234);
    /* a finished position sorts two below pos: a snapshot chunk placed at pos takes
     * pos - 1 and must come after it */
    assert_string_equal(render(&p), "{\"file\":\"binlog.000007\",\"pos\":1234,"
                                    "\"tx_pos\":1232,\"row\":\"done\"}");
    /* an older bookmark said pos - 1 for an idle position: read the same way */
    assert_int_equal(parse("{\"file\":\"binlog.000007\",\"pos\":1234,\"tx_pos\":1233,"
                           "\"row\":\"done\"}",
                           &p),
                     SL_OK);
    sl_pos_t chunk = {.major = p.major + 1, .index = 1};
    assert_true(sl_pos_cmp(&p, &chunk) < 0);
    assert_true((p.major & 0xFFFFFFFFFFull) == 1232);
}

static void test_bad_documents(void **state)
{
    (void)state;
    sl_pos_t p;
    const char *bad[] = {
        "",
        "[]",
        "{\"lsn\":\"0/1\",\"commit_lsn\":\"0/1\",\"event\":\"done\"}",
        "{\"file\":\"binlog\",\"pos\":4}",
        "{\"file\":\"binlog.00000x\",\"pos\":4}",
        "{\"file\":\"binlog.000001\",\"pos\":\"4\"}",
        "{\"file\":\"binlog.000001\",\"pos\":3}",
        "{\"file\":\"binlog.000001\",\"pos\":10,\"tx_pos\":10,\"row\":\"done\"}",
        "{\"file\":\"binlog.000001\",\"pos\":10,\"tx_pos\":9,\"row\":-1}",
        "{\"file\":\"binlog.000001\",\"pos\":10,\"tx_pos\":9,\"row\":true}",
        "{\"file\":\"binlog.000001\",\"pos\":10,\"gtid_set\":7}",
        "{\"file\":\"binlog.000001\",\"pos\":10,\"gtid_set\":\"0-1\"}",
        "{\"file\":\"binlog.000001\",\"pos\":10,\"gtid_set\":\"0-1-5,\"}",
        "{\"file\":\"binlog.000001\",\"pos\":10,\"gtid_set\":\"0-1-5;\"}",
        "{\"file\":\"binlog.000001\",\"pos\":10,\"gtid_set\":\"3e11fa47:1-5\"}",
        "{\"file\":\"binlog.000001\",\"pos\":10,\"gtid_set\":\"3e11fa47-71ca-11e1-9e33-c80aa9429562:0\"}",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (parse(bad[i], &p) != SL_ERR_CORRUPT)
            fail_msg("accepted %s", bad[i]);
    /* a gtid_set longer than any sluice writes */
    char doc[2048];
    int n = snprintf(doc, sizeof(doc), "{\"file\":\"binlog.000001\",\"pos\":10,\"gtid_set\":\"");
    for (int k = 0; k < 200; k++)
        n += snprintf(doc + n, sizeof(doc) - (size_t)n, "%s%d-1-1", k ? "," : "", k);
    snprintf(doc + n, sizeof(doc) - (size_t)n, "\"}");
    assert_int_equal(parse(doc, &p), SL_ERR_CORRUPT);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_done_round_trip),
        cmocka_unit_test(test_mid_transaction),
        cmocka_unit_test(test_mysql_gtid_set),
        cmocka_unit_test(test_hand_typed),
        cmocka_unit_test(test_bad_documents),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
