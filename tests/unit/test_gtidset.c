/* sluice unit tests: MySQL GTID sets (connectors/mysql/gtidset.c): text and binary forms
 * after MySQL's Gtid_set::to_string and Gtid_set::encode, merging, hostile input. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include "connectors/mysql/gtidset.h"

static const uint8_t U1[16] = {0x3e, 0x11, 0xfa, 0x47, 0x71, 0xca, 0x11, 0xe1,
                               0x9e, 0x33, 0xc8, 0x0a, 0xa9, 0x42, 0x95, 0x62};
static const uint8_t U2[16] = {0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
                               0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01};
#define T1 "3e11fa47-71ca-11e1-9e33-c80aa9429562"
#define T2 "00000000-0000-0000-0000-000000000001"

static void check_text(const sl_gtid_set_t *s, const char *want)
{
    sl_buf_t b = SL_BUF_INIT;
    sl_gtid_set_format(s, &b);
    assert_string_equal(b.len ? b.data : "", want);
    sl_buf_free(&b);
}

static void test_add_merges(void **state)
{
    (void)state;
    sl_gtid_set_t s = SL_GTID_SET_INIT;
    check_text(&s, "");
    assert_int_equal(sl_gtid_set_add(&s, U1, 5), 0);
    assert_int_equal(sl_gtid_set_add(&s, U1, 7), 0);
    assert_int_equal(sl_gtid_set_add(&s, U1, 1), 0);
    check_text(&s, T1 ":1:5:7");
    assert_int_equal(sl_gtid_set_add(&s, U1, 6), 0); /* joins 5 and 7 */
    assert_int_equal(sl_gtid_set_add(&s, U1, 2), 0);
    assert_int_equal(sl_gtid_set_add(&s, U1, 2), 0); /* again: no change */
    check_text(&s, T1 ":1-2:5-7");
    assert_int_equal(sl_gtid_set_add(&s, U2, 3), 0); /* sorted by uuid: U2 first */
    check_text(&s, T2 ":3," T1 ":1-2:5-7");
    assert_true(sl_gtid_set_contains(&s, U1, 6));
    assert_false(sl_gtid_set_contains(&s, U1, 3));
    assert_false(sl_gtid_set_contains(&s, U1, 8));
    assert_true(sl_gtid_set_contains(&s, U2, 3));
    assert_int_equal(sl_gtid_set_add(&s, U1, 0), -1);
    assert_int_equal(sl_gtid_set_add(&s, U1, UINT64_C(1) << 63), -1);
    for (uint64_t g = 3; g <= 4; g++)
        sl_gtid_set_add(&s, U1, g);
    check_text(&s, T2 ":3," T1 ":1-7");
    /* merge: PREVIOUS_GTIDS added to what the stream kept */
    sl_gtid_set_t m = SL_GTID_SET_INIT;
    sl_gtid_set_add(&m, U1, 8);
    sl_gtid_set_add(&m, U1, 20);
    sl_gtid_set_add(&m, U2, 1);
    sl_gtid_set_merge(&s, &m);
    check_text(&s, T2 ":1:3," T1 ":1-8:20");
    sl_gtid_set_free(&m);
    sl_gtid_set_clear(&s);
    check_text(&s, "");
    sl_gtid_set_add(&s, U1, 9);
    check_text(&s, T1 ":9");
    sl_gtid_set_free(&s);
}

static void test_parse(void **state)
{
    (void)state;
    sl_gtid_set_t s = SL_GTID_SET_INIT;
    char err[256];
    /* as @@gtid_executed prints it: a newline after each comma, upper case accepted */
    assert_int_equal(sl_gtid_set_parse(&s,
                                       "3E11FA47-71CA-11E1-9E33-C80AA9429562:1-5:11-18,\n"
                                       T2 ":1-27",
                                       err, sizeof(err)),
                     SL_OK);
    check_text(&s, T2 ":1-27," T1 ":1-5:11-18");
    assert_true(sl_gtid_set_contains(&s, U1, 18));
    assert_false(sl_gtid_set_contains(&s, U1, 10));
    /* overlapping and out-of-order intervals are merged, as MySQL does */
    assert_int_equal(sl_gtid_set_parse(&s, T1 ":5-9:1-3:4 , " T1 ":20", err, sizeof(err)),
                     SL_OK);
    check_text(&s, T1 ":1-9:20");
    assert_int_equal(sl_gtid_set_parse(&s, "  ", err, sizeof(err)), SL_OK);
    check_text(&s, "");
    static const char *const bad[] = {
        "abc",
        T1,
        T1 ":",
        T1 ":0",
        T1 ":5-3",
        T1 ":1-",
        T1 ":x",
        T1 ":1;",
        T1 ":99999999999999999999",
        T1 ":9223372036854775807", /* 2^63-1 is GNO_END, not a transaction */
        "3e11fa47-71ca-11e1-9e33-c80aa942956:1",
        "3e11fa47x71ca-11e1-9e33-c80aa9429562:1",
        T1 ":1," T1,
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        err[0] = 0;
        assert_int_equal(sl_gtid_set_parse(&s, bad[i], err, sizeof(err)), SL_ERR_CORRUPT);
        assert_non_null(strstr(err, "is not a MySQL GTID set member"));
        check_text(&s, ""); /* nothing half-parsed is left */
    }
    assert_int_equal(sl_gtid_set_parse(&s, T1 ":9223372036854775806", err, sizeof(err)),
                     SL_OK);
    sl_gtid_set_free(&s);
}

static void put_le(sl_buf_t *b, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        sl_buf_putc(b, (char)(v >> (8 * i)));
}

static void test_binary(void **state)
{
    (void)state;
    sl_gtid_set_t s = SL_GTID_SET_INIT, t = SL_GTID_SET_INIT;
    char err[256];
    /* the documented layout by hand: 2 SIDs; U1 [1,6) [7,8); U2 [1,4) */
    sl_buf_t b = SL_BUF_INIT;
    put_le(&b, 2);
    sl_buf_append(&b, U1, 16);
    put_le(&b, 2);
    put_le(&b, 1), put_le(&b, 6), put_le(&b, 7), put_le(&b, 8);
    sl_buf_append(&b, U2, 16);
    put_le(&b, 1);
    put_le(&b, 1), put_le(&b, 4);
    assert_int_equal(sl_gtid_set_decode(&s, (const uint8_t *)b.data, b.len, err, sizeof(err)),
                     SL_OK);
    check_text(&s, T2 ":1-3," T1 ":1-5:7");
    /* encode gives the sorted form back; decoding it gives the same set */
    sl_buf_t e = SL_BUF_INIT;
    sl_gtid_set_encode(&s, &e);
    assert_int_equal(e.len, b.len);
    assert_int_equal(sl_gtid_set_decode(&t, (const uint8_t *)e.data, e.len, err, sizeof(err)),
                     SL_OK);
    check_text(&t, T2 ":1-3," T1 ":1-5:7");
    /* U2 is first in the encoding (sorted), its single interval [1,4) */
    assert_memory_equal(e.data + 8, U2, 16);
    assert_int_equal((uint8_t)e.data[24], 1);
    assert_int_equal((uint8_t)e.data[32], 1);
    assert_int_equal((uint8_t)e.data[40], 4);
    /* the empty set is 8 zero bytes */
    sl_gtid_set_clear(&s);
    sl_buf_reset(&e);
    sl_gtid_set_encode(&s, &e);
    assert_int_equal(e.len, 8);
    assert_int_equal(sl_gtid_set_decode(&s, (const uint8_t *)e.data, e.len, err, sizeof(err)),
                     SL_OK);
    check_text(&s, "");

    /* every truncation of the good form is refused, and leaves the set empty */
    for (size_t n = 0; n < b.len; n++) {
        assert_int_equal(sl_gtid_set_decode(&s, (const uint8_t *)b.data, n, err, sizeof(err)),
                         SL_ERR_PROTOCOL);
        check_text(&s, "");
    }
    /* hostile counts and intervals */
    sl_buf_t h = SL_BUF_INIT;
    put_le(&h, UINT64_MAX); /* n_sids */
    sl_buf_append(&h, U1, 16);
    put_le(&h, 1);
    assert_int_equal(sl_gtid_set_decode(&s, (const uint8_t *)h.data, h.len, err, sizeof(err)),
                     SL_ERR_PROTOCOL);
    sl_buf_reset(&h);
    put_le(&h, 1);
    sl_buf_append(&h, U1, 16);
    put_le(&h, UINT64_MAX / 8); /* n_intervals */
    put_le(&h, 1), put_le(&h, 2);
    assert_int_equal(sl_gtid_set_decode(&s, (const uint8_t *)h.data, h.len, err, sizeof(err)),
                     SL_ERR_PROTOCOL);
    static const uint64_t ivs[][2] = {{0, 5}, {5, 5}, {6, 5}, {1, UINT64_MAX}};
    for (size_t i = 0; i < 4; i++) {
        sl_buf_reset(&h);
        put_le(&h, 1);
        sl_buf_append(&h, U1, 16);
        put_le(&h, 1);
        put_le(&h, ivs[i][0]), put_le(&h, ivs[i][1]);
        assert_int_equal(
            sl_gtid_set_decode(&s, (const uint8_t *)h.data, h.len, err, sizeof(err)),
            SL_ERR_PROTOCOL);
        assert_non_null(strstr(err, "empty or invalid"));
    }
    sl_buf_free(&h);
    sl_buf_free(&b);
    sl_buf_free(&e);
    sl_gtid_set_free(&s);
    sl_gtid_set_free(&t);
}

/* COM_BINLOG_DUMP_GTID's payload after the command byte, field by field */
static void test_dump_payload(void **state)
{
    (void)state;
    sl_gtid_set_t s = SL_GTID_SET_INIT;
    sl_gtid_set_add(&s, U1, 1);
    sl_gtid_set_add(&s, U1, 2);
    sl_buf_t b = SL_BUF_INIT;
    sl_gtid_dump_payload(&s, 0x01020304, &b);
    static const uint8_t head[] = {
        0x04, 0x00,                                     /* flags: BINLOG_THROUGH_GTID */
        0x04, 0x03, 0x02, 0x01,                         /* server_id */
        0x00, 0x00, 0x00, 0x00,                         /* file name length: none */
        0x04, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, /* position 4 */
        48,   0x00, 0x00, 0x00,                         /* data length */
    };
    assert_int_equal(b.len, sizeof(head) + 48);
    assert_memory_equal(b.data, head, sizeof(head));
    const uint8_t *d = (const uint8_t *)b.data + sizeof(head);
    assert_int_equal(d[0], 1);           /* one SID */
    assert_memory_equal(d + 8, U1, 16);
    assert_int_equal(d[24], 1);          /* one interval */
    assert_int_equal(d[32], 1);          /* [1, */
    assert_int_equal(d[40], 3);          /* 3) */
    sl_buf_free(&b);
    sl_gtid_set_free(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_add_merges),
        cmocka_unit_test(test_parse),
        cmocka_unit_test(test_binary),
        cmocka_unit_test(test_dump_payload),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
