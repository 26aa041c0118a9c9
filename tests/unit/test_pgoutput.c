/* sluice: unit tests of the pgoutput decoder on hand-built protocol-1 messages.
 * Every valid message is also cut at every length and garbled; each must fail cleanly. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>
#include "connectors/postgres/pgoutput.h"
#include "core/buf.h"

/* ---- a tiny big-endian message builder ---- */

static void put8(sl_buf_t *b, uint8_t v)
{
    sl_buf_putc(b, (char)v);
}

static void put16(sl_buf_t *b, uint16_t v)
{
    put8(b, (uint8_t)(v >> 8));
    put8(b, (uint8_t)v);
}

static void put32(sl_buf_t *b, uint32_t v)
{
    put16(b, (uint16_t)(v >> 16));
    put16(b, (uint16_t)v);
}

static void put64(sl_buf_t *b, uint64_t v)
{
    put32(b, (uint32_t)(v >> 32));
    put32(b, (uint32_t)v);
}

static void putstr(sl_buf_t *b, const char *s)
{
    sl_buf_append(b, s, strlen(s) + 1);
}

static void putcol_t(sl_buf_t *b, const char *s)
{
    put8(b, 't');
    put32(b, (uint32_t)strlen(s));
    sl_buf_append(b, s, strlen(s));
}

/* Decode exactly n bytes from a heap copy of that size, so ASan sees any over-read. */
static sl_err_t decode_exact(sl_pgo_decoder_t *d, const void *p, size_t n,
                             sl_pgo_msg_t *m, char *err, size_t errlen)
{
    uint8_t *copy = malloc(n ? n : 1);
    assert_non_null(copy);
    if (n)
        memcpy(copy, p, n);
    sl_err_t rc = sl_pgo_decode(d, copy, n, m, err, errlen);
    free(copy);
    return rc;
}

/* Every strict prefix of a valid message is a truncated message; one extra byte is
 * trailing garbage. Neither may be accepted. */
static void check_truncations(const sl_buf_t *b)
{
    sl_pgo_decoder_t d;
    sl_pgo_decoder_init(&d);
    char err[256];
    sl_pgo_msg_t m;
    for (size_t n = 0; n < b->len; n++) {
        err[0] = 0;
        sl_err_t rc = decode_exact(&d, b->data, n, &m, err, sizeof(err));
        if (rc != SL_ERR_PROTOCOL)
            fail_msg("prefix of %zu/%zu bytes of '%c' gave %d", n, b->len, b->data[0],
                     rc);
        assert_true(strlen(err) > 10);
        assert_int_equal(m.type, 0);
    }
    sl_buf_t longer = SL_BUF_INIT;
    sl_buf_append(&longer, b->data, b->len);
    put8(&longer, 0);
    assert_int_equal(decode_exact(&d, longer.data, longer.len, &m, err, sizeof(err)),
                     SL_ERR_PROTOCOL);
    assert_non_null(strstr(err, "trailing"));
    sl_buf_free(&longer);
    sl_pgo_decoder_free(&d);
}

/* ---- valid messages ---- */

static void build_begin(sl_buf_t *b)
{
    put8(b, 'B');
    put64(b, 0x0000000116B3748ULL);
    put64(b, (uint64_t)(int64_t)-5); /* before 2000: negative microseconds */
    put32(b, 4242);
}

static void build_commit(sl_buf_t *b)
{
    put8(b, 'C');
    put8(b, 0);
    put64(b, 0x10);
    put64(b, 0x20);
    put64(b, 764000000000000ULL);
}

static void build_origin(sl_buf_t *b)
{
    put8(b, 'O');
    put64(b, 0xABCDEF0123ULL);
    putstr(b, "node_a");
}

static void build_relation(sl_buf_t *b)
{
    put8(b, 'R');
    put32(b, 16384);
    putstr(b, "public");
    putstr(b, "orders");
    put8(b, 'f');
    put16(b, 3);
    put8(b, 1);
    putstr(b, "id");
    put32(b, 23);
    put32(b, 0xFFFFFFFF); /* typmod -1 */
    put8(b, 0);
    putstr(b, "note");
    put32(b, 1043);
    put32(b, 68);
    put8(b, 0);
    putstr(b, "");   /* an empty name is still a valid String */
    put32(b, 99999); /* a user type */
    put32(b, 0xFFFFFFFF);
}

static void build_type(sl_buf_t *b)
{
    put8(b, 'Y');
    put32(b, 99999);
    putstr(b, "shop");
    putstr(b, "mood");
}

static void build_insert(sl_buf_t *b)
{
    put8(b, 'I');
    put32(b, 16384);
    put8(b, 'N');
    put16(b, 4);
    putcol_t(b, "42");
    put8(b, 'n');
    put8(b, 'u');
    put8(b, 'b');
    put32(b, 3);
    sl_buf_append(b, "\x00\x01\x02", 3);
}

static void build_update(sl_buf_t *b, char old_kind)
{
    put8(b, 'U');
    put32(b, 16384);
    if (old_kind) {
        put8(b, (uint8_t)old_kind);
        put16(b, 2);
        putcol_t(b, "41");
        if (old_kind == 'K')
            put8(b, 'n');
        else
            putcol_t(b, "old note");
    }
    put8(b, 'N');
    put16(b, 2);
    putcol_t(b, "42");
    put8(b, 'u');
}

static void build_delete(sl_buf_t *b, char old_kind)
{
    put8(b, 'D');
    put32(b, 16384);
    put8(b, (uint8_t)old_kind);
    put16(b, 2);
    putcol_t(b, "7");
    if (old_kind == 'K')
        put8(b, 'n');
    else
        putcol_t(b, "");
}

static void build_truncate(sl_buf_t *b)
{
    put8(b, 'T');
    put32(b, 3);
    put8(b, 3);
    put32(b, 16384);
    put32(b, 16390);
    put32(b, 0xFFFFFFF0);
}

static void build_message(sl_buf_t *b)
{
    put8(b, 'M');
    put8(b, 1);
    put64(b, 0x99);
    putstr(b, "sluice_heartbeat");
    put32(b, 5);
    sl_buf_append(b, "\x00\xff\x00z\n", 5);
}

typedef struct fixture {
    sl_pgo_decoder_t d;
    sl_pgo_msg_t m;
    sl_buf_t b;
    uint8_t
        *copy; /* the decoded bytes: m borrows them, so they live until the next dec */
    char err[256];
} fixture_t;

static int setup(void **state)
{
    fixture_t *f = calloc(1, sizeof(*f));
    sl_pgo_decoder_init(&f->d);
    sl_buf_init(&f->b);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture_t *f = *state;
    sl_pgo_decoder_free(&f->d);
    sl_buf_free(&f->b);
    free(f->copy);
    free(f);
    return 0;
}

/* Decode f->b from an exact-size heap copy (ASan catches over-reads) kept alive for the
 * assertions that follow. */
static sl_err_t dec(fixture_t *f)
{
    f->err[0] = 0;
    free(f->copy);
    f->copy = malloc(f->b.len ? f->b.len : 1);
    assert_non_null(f->copy);
    if (f->b.len)
        memcpy(f->copy, f->b.data, f->b.len);
    return sl_pgo_decode(&f->d, f->copy, f->b.len, &f->m, f->err, sizeof(f->err));
}

/* A fresh decoder given an empty tuple still hands back a (zero-length) array. */
static void test_empty_tuple_cold(void **state)
{
    fixture_t *f = *state;
    put8(&f->b, 'I');
    put32(&f->b, 1);
    put8(&f->b, 'N');
    put16(&f->b, 0);
    assert_int_equal(dec(f), SL_OK);
    assert_int_equal(f->m.u.change.nnew, 0);
    assert_non_null(f->m.u.change.new);
    sl_buf_reset(&f->b);
    put8(&f->b, 'D');
    put32(&f->b, 1);
    put8(&f->b, 'K');
    put16(&f->b, 0);
    assert_int_equal(dec(f), SL_OK);
    assert_non_null(f->m.u.change.old);
    assert_null(f->m.u.change.new);
}

static void test_begin_commit_origin(void **state)
{
    fixture_t *f = *state;
    build_begin(&f->b);
    assert_int_equal(dec(f), SL_OK);
    assert_int_equal(f->m.type, 'B');
    assert_true(f->m.u.begin.final_lsn == 0x0000000116B3748ULL);
    assert_true(f->m.u.begin.commit_ts == -5);
    assert_int_equal(f->m.u.begin.xid, 4242);
    check_truncations(&f->b);

    sl_buf_reset(&f->b);
    build_commit(&f->b);
    assert_int_equal(dec(f), SL_OK);
    assert_int_equal(f->m.type, 'C');
    assert_int_equal(f->m.u.commit.flags, 0);
    assert_true(f->m.u.commit.commit_lsn == 0x10);
    assert_true(f->m.u.commit.end_lsn == 0x20);
    assert_true(f->m.u.commit.commit_ts == 764000000000000LL);
    check_truncations(&f->b);

    sl_buf_reset(&f->b);
    build_origin(&f->b);
    assert_int_equal(dec(f), SL_OK);
    assert_int_equal(f->m.type, 'O');
    assert_true(f->m.u.origin.lsn == 0xABCDEF0123ULL);
    assert_string_equal(f->m.u.origin.name, "node_a");
    check_truncations(&f->b);
}

static void test_relation_and_type(void **state)
{
    fixture_t *f = *state;
    build_relation(&f->b);
    assert_int_equal(dec(f), SL_OK);
    assert_int_equal(f->m.type, 'R');
    assert_int_equal(f->m.u.rel.relid, 16384);
    assert_string_equal(f->m.u.rel.nspname, "public");
    assert_string_equal(f->m.u.rel.relname, "orders");
    assert_int_equal(f->m.u.rel.replident, 'f');
    assert_int_equal(f->m.u.rel.natts, 3);
    assert_int_equal(f->m.u.rel.cols[0].flags, 1);
    assert_string_equal(f->m.u.rel.cols[0].name, "id");
    assert_int_equal(f->m.u.rel.cols[0].type_oid, 23);
    assert_int_equal(f->m.u.rel.cols[0].typmod, -1);
    assert_string_equal(f->m.u.rel.cols[1].name, "note");
    assert_int_equal(f->m.u.rel.cols[1].typmod, 68);
    assert_string_equal(f->m.u.rel.cols[2].name, "");
    assert_int_equal(f->m.u.rel.cols[2].type_oid, 99999);
    check_truncations(&f->b);

    sl_buf_reset(&f->b);
    build_type(&f->b);
    assert_int_equal(dec(f), SL_OK);
    assert_int_equal(f->m.type, 'Y');
    assert_int_equal(f->m.u.type.oid, 99999);
    assert_string_equal(f->m.u.type.nspname, "shop");
    assert_string_equal(f->m.u.type.name, "mood");
    check_truncations(&f->b);
}

static void test_insert(void **state)
{
    fixture_t *f = *state;
    build_insert(&f->b);
    assert_int_equal(dec(f), SL_OK);
    assert_int_equal(f->m.type, 'I');
    assert_int_equal(f->m.u.change.relid, 16384);
    assert_int_equal(f->m.u.change.old_kind, 0);
    assert_null(f->m.u.change.old);
    assert_int_equal(f->m.u.change.nnew, 4);
    const sl_pgo_col_t *c = f->m.u.change.new;
    assert_int_equal(c[0].kind, 't');
    assert_int_equal(c[0].len, 2);
    assert_memory_equal(c[0].data, "42", 2);
    assert_int_equal(c[1].kind, 'n');
    assert_int_equal(c[2].kind, 'u');
    assert_int_equal(c[3].kind, 'b');
    assert_int_equal(c[3].len, 3);
    assert_memory_equal(c[3].data, "\x00\x01\x02", 3);
    check_truncations(&f->b);
}

static void test_update_variants(void **state)
{
    fixture_t *f = *state;
    /* no old tuple (REPLICA IDENTITY DEFAULT, key unchanged) */
    build_update(&f->b, 0);
    assert_int_equal(dec(f), SL_OK);
    assert_int_equal(f->m.type, 'U');
    assert_int_equal(f->m.u.change.old_kind, 0);
    assert_null(f->m.u.change.old);
    assert_int_equal(f->m.u.change.nnew, 2);
    assert_memory_equal(f->m.u.change.new[0].data, "42", 2);
    assert_int_equal(f->m.u.change.new[1].kind, 'u');
    check_truncations(&f->b);

    /* 'K': key columns only, the rest null */
    sl_buf_reset(&f->b);
    build_update(&f->b, 'K');
    assert_int_equal(dec(f), SL_OK);
    assert_int_equal(f->m.u.change.old_kind, 'K');
    assert_int_equal(f->m.u.change.nold, 2);
    assert_memory_equal(f->m.u.change.old[0].data, "41", 2);
    assert_int_equal(f->m.u.change.old[1].kind, 'n');
    assert_int_equal(f->m.u.change.nnew, 2);
    assert_memory_equal(f->m.u.change.new[0].data, "42", 2);
    check_truncations(&f->b);

    /* 'O': the whole old row (REPLICA IDENTITY FULL) */
    sl_buf_reset(&f->b);
    build_update(&f->b, 'O');
    assert_int_equal(dec(f), SL_OK);
    assert_int_equal(f->m.u.change.old_kind, 'O');
    assert_int_equal(f->m.u.change.old[1].len, 8);
    assert_memory_equal(f->m.u.change.old[1].data, "old note", 8);
    assert_int_equal(f->m.u.change.new[1].kind, 'u');
    check_truncations(&f->b);
}

static void test_delete_variants(void **state)
{
    fixture_t *f = *state;
    build_delete(&f->b, 'K');
    assert_int_equal(dec(f), SL_OK);
    assert_int_equal(f->m.type, 'D');
    assert_int_equal(f->m.u.change.old_kind, 'K');
    assert_int_equal(f->m.u.change.nold, 2);
    assert_memory_equal(f->m.u.change.old[0].data, "7", 1);
    assert_int_equal(f->m.u.change.old[1].kind, 'n');
    assert_null(f->m.u.change.new);
    assert_int_equal(f->m.u.change.nnew, 0);
    check_truncations(&f->b);

    sl_buf_reset(&f->b);
    build_delete(&f->b, 'O');
    assert_int_equal(dec(f), SL_OK);
    assert_int_equal(f->m.u.change.old_kind, 'O');
    assert_int_equal(f->m.u.change.old[1].kind, 't');
    assert_int_equal(f->m.u.change.old[1].len, 0);
    check_truncations(&f->b);
}

static void test_truncate_and_message(void **state)
{
    fixture_t *f = *state;
    build_truncate(&f->b);
    assert_int_equal(dec(f), SL_OK);
    assert_int_equal(f->m.type, 'T');
    assert_int_equal(f->m.u.truncate.nrels, 3);
    assert_int_equal(f->m.u.truncate.options, 3);
    assert_int_equal(f->m.u.truncate.relids[0], 16384);
    assert_int_equal(f->m.u.truncate.relids[1], 16390);
    assert_int_equal(f->m.u.truncate.relids[2], 0xFFFFFFF0);
    check_truncations(&f->b);

    sl_buf_reset(&f->b);
    build_message(&f->b);
    assert_int_equal(dec(f), SL_OK);
    assert_int_equal(f->m.type, 'M');
    assert_int_equal(f->m.u.message.flags, 1);
    assert_true(f->m.u.message.lsn == 0x99);
    assert_string_equal(f->m.u.message.prefix, "sluice_heartbeat");
    assert_int_equal(f->m.u.message.len, 5);
    assert_memory_equal(f->m.u.message.content, "\x00\xff\x00z\n", 5);
    check_truncations(&f->b);

    /* empty content is valid */
    sl_buf_reset(&f->b);
    put8(&f->b, 'M');
    put8(&f->b, 0);
    put64(&f->b, 1);
    putstr(&f->b, "p");
    put32(&f->b, 0);
    assert_int_equal(dec(f), SL_OK);
    assert_int_equal(f->m.u.message.len, 0);
}

static void test_unknown_and_garbled(void **state)
{
    fixture_t *f = *state;
    put8(&f->b, 'X');
    assert_int_equal(dec(f), SL_ERR_PROTOCOL);
    assert_non_null(strstr(f->err, "unknown pgoutput message type"));

    sl_buf_reset(&f->b);
    put8(&f->b, 'S');
    put32(&f->b, 1);
    put8(&f->b, 1);
    assert_int_equal(dec(f), SL_ERR_PROTOCOL);
    assert_non_null(strstr(f->err, "streamed"));

    /* an Insert whose tuple kind is 'K' */
    sl_buf_reset(&f->b);
    put8(&f->b, 'I');
    put32(&f->b, 1);
    put8(&f->b, 'K');
    put16(&f->b, 0);
    assert_int_equal(dec(f), SL_ERR_PROTOCOL);
    assert_non_null(strstr(f->err, "Insert"));

    /* a Delete with only a new tuple */
    sl_buf_reset(&f->b);
    put8(&f->b, 'D');
    put32(&f->b, 1);
    put8(&f->b, 'N');
    put16(&f->b, 0);
    assert_int_equal(dec(f), SL_ERR_PROTOCOL);
    assert_non_null(strstr(f->err, "Delete"));

    /* an Update whose old tuple is followed by something other than 'N' */
    sl_buf_reset(&f->b);
    put8(&f->b, 'U');
    put32(&f->b, 1);
    put8(&f->b, 'O');
    put16(&f->b, 0);
    put8(&f->b, 'O');
    put16(&f->b, 0);
    assert_int_equal(dec(f), SL_ERR_PROTOCOL);

    /* an Update with an unknown tuple kind */
    sl_buf_reset(&f->b);
    put8(&f->b, 'U');
    put32(&f->b, 1);
    put8(&f->b, 'Q');
    put16(&f->b, 0);
    assert_int_equal(dec(f), SL_ERR_PROTOCOL);

    /* a bad column kind */
    sl_buf_reset(&f->b);
    put8(&f->b, 'I');
    put32(&f->b, 1);
    put8(&f->b, 'N');
    put16(&f->b, 1);
    put8(&f->b, 'x');
    assert_int_equal(dec(f), SL_ERR_PROTOCOL);
    assert_non_null(strstr(f->err, "column kind"));

    /* natts huge with few bytes: refused before any scratch is sized by it */
    sl_buf_reset(&f->b);
    put8(&f->b, 'I');
    put32(&f->b, 1);
    put8(&f->b, 'N');
    put16(&f->b, 65535);
    put8(&f->b, 'n');
    put8(&f->b, 'n');
    assert_int_equal(dec(f), SL_ERR_PROTOCOL);
    assert_true(f->d.cols_cap < 65535);

    sl_buf_reset(&f->b);
    put8(&f->b, 'R');
    put32(&f->b, 1);
    putstr(&f->b, "s");
    putstr(&f->b, "t");
    put8(&f->b, 'd');
    put16(&f->b, 65535);
    put8(&f->b, 0);
    assert_int_equal(dec(f), SL_ERR_PROTOCOL);
    assert_true(f->d.relcols_cap < 65535);

    sl_buf_reset(&f->b);
    put8(&f->b, 'T');
    put32(&f->b, 0xFFFFFFFF);
    put8(&f->b, 0);
    put32(&f->b, 1);
    assert_int_equal(dec(f), SL_ERR_PROTOCOL);
    assert_true(f->d.relids_cap < 1000);

    /* a column length far beyond the message */
    sl_buf_reset(&f->b);
    put8(&f->b, 'I');
    put32(&f->b, 1);
    put8(&f->b, 'N');
    put16(&f->b, 1);
    put8(&f->b, 't');
    put32(&f->b, 0x7FFFFFFF);
    sl_buf_append(&f->b, "abc", 3);
    assert_int_equal(dec(f), SL_ERR_PROTOCOL);
    assert_non_null(strstr(f->err, "truncated"));

    sl_buf_reset(&f->b);
    put8(&f->b, 'I');
    put32(&f->b, 1);
    put8(&f->b, 'N');
    put16(&f->b, 1);
    put8(&f->b, 't');
    put32(&f->b, 0xFFFFFFFF);
    assert_int_equal(dec(f), SL_ERR_PROTOCOL);

    /* a String without its NUL */
    sl_buf_reset(&f->b);
    put8(&f->b, 'Y');
    put32(&f->b, 5);
    putstr(&f->b, "public");
    sl_buf_append(&f->b, "mood", 4);
    assert_int_equal(dec(f), SL_ERR_PROTOCOL);
    assert_non_null(strstr(f->err, "NUL"));

    /* unknown replica identity */
    sl_buf_reset(&f->b);
    put8(&f->b, 'R');
    put32(&f->b, 1);
    putstr(&f->b, "s");
    putstr(&f->b, "t");
    put8(&f->b, 'z');
    put16(&f->b, 0);
    assert_int_equal(dec(f), SL_ERR_PROTOCOL);

    /* empty input */
    assert_int_equal(sl_pgo_decode(&f->d, NULL, 0, &f->m, f->err, sizeof(f->err)),
                     SL_ERR_PROTOCOL);
}

/* Scratch arrays grow once and are then reused: no allocation per row when warm. */
static void test_scratch_reuse(void **state)
{
    fixture_t *f = *state;
    build_update(&f->b, 'O');
    assert_int_equal(dec(f), SL_OK);
    sl_pgo_col_t *cols = f->d.cols;
    size_t cap = f->d.cols_cap;
    for (int i = 0; i < 100; i++) {
        assert_int_equal(dec(f), SL_OK);
        assert_ptr_equal(f->d.cols, cols);
        assert_int_equal(f->d.cols_cap, cap);
    }
    /* a wider row grows the scratch, and the old/new pointers follow it */
    sl_buf_reset(&f->b);
    put8(&f->b, 'U');
    put32(&f->b, 1);
    put8(&f->b, 'O');
    put16(&f->b, 40);
    for (int i = 0; i < 40; i++)
        putcol_t(&f->b, "o");
    put8(&f->b, 'N');
    put16(&f->b, 40);
    for (int i = 0; i < 40; i++)
        putcol_t(&f->b, "n");
    assert_int_equal(dec(f), SL_OK);
    assert_true(f->d.cols_cap >= 80);
    assert_ptr_equal(f->m.u.change.old, f->d.cols);
    assert_ptr_equal(f->m.u.change.new, f->d.cols + 40);
    assert_memory_equal(f->m.u.change.old[39].data, "o", 1);
    assert_memory_equal(f->m.u.change.new[39].data, "n", 1);
    /* an empty tuple is fine */
    sl_buf_reset(&f->b);
    put8(&f->b, 'I');
    put32(&f->b, 1);
    put8(&f->b, 'N');
    put16(&f->b, 0);
    assert_int_equal(dec(f), SL_OK);
    assert_int_equal(f->m.u.change.nnew, 0);
}

static void build_update_o(sl_buf_t *b)
{
    build_update(b, 'O');
}

static void build_delete_k(sl_buf_t *b)
{
    build_delete(b, 'K');
}

/* Single-byte corruption of every valid message never crashes (ASan checks reads). */
static void test_bitflips(void **state)
{
    fixture_t *f = *state;
    void (*builders[])(sl_buf_t *) = {
        build_begin,  build_commit,   build_origin,  build_relation, build_type,
        build_insert, build_truncate, build_message, build_update_o, build_delete_k};
    for (size_t k = 0; k < sizeof(builders) / sizeof(builders[0]); k++) {
        sl_buf_reset(&f->b);
        builders[k](&f->b);
        for (size_t i = 0; i < f->b.len; i++) {
            for (int v = 0; v < 256; v += 17) {
                char saved = f->b.data[i];
                f->b.data[i] = (char)v;
                sl_err_t rc = dec(f);
                assert_true(rc == SL_OK || rc == SL_ERR_PROTOCOL);
                f->b.data[i] = saved;
            }
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_empty_tuple_cold, setup, teardown),
        cmocka_unit_test_setup_teardown(test_begin_commit_origin, setup, teardown),
        cmocka_unit_test_setup_teardown(test_relation_and_type, setup, teardown),
        cmocka_unit_test_setup_teardown(test_insert, setup, teardown),
        cmocka_unit_test_setup_teardown(test_update_variants, setup, teardown),
        cmocka_unit_test_setup_teardown(test_delete_variants, setup, teardown),
        cmocka_unit_test_setup_teardown(test_truncate_and_message, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unknown_and_garbled, setup, teardown),
        cmocka_unit_test_setup_teardown(test_scratch_reuse, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bitflips, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
