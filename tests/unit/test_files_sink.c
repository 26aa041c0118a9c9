/* sluice: unit tests of the file sink (paths, rotation, compression, acks, crash + replay
 * exactly-once, hostile names, schema documents) and of the stdout sink. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>
#include "config/config.h"
#include "core/batch.h"
#include "core/buf.h"
#include "core/log.h"
#include "core/plugin.h"
#include "core/pos.h"
#include "core/schema.h"
#include "sinks/files/files.h"
#include "sinks/stdout/stdout.h"

#define HOUR INT64_C(3600000)
#define T0 INT64_C(1709622489000) /* 2024-03-05T07:08:09Z */

/* ---------------------------------------------------------------- a recorded stream */

typedef struct srec {
    sl_pos_t pos;
    int table;
    int64_t ts;
    char *val; /* NULL: tombstone */
} srec_t;

typedef struct stream {
    srec_t *v;
    size_t n;
} stream_t;

/* ------------------------------------------------------------ the test environment */

typedef struct tenv {
    sl_sink_env_t env; /* first: the callback casts back */
    sl_pos_t ack;
    int has_ack;
    size_t nacks;
    sl_pos_t *hist; /* every ack, in order */
    size_t nhist;
    /* when set, every ack is checked against the files on disk */
    const char *check_root;
    const stream_t *check_stream;
} tenv_t;

typedef struct rline {
    char *topic;
    char *fname; /* base name */
    size_t seq;  /* line number within its file */
    char *text;
} rline_t;

typedef struct rset {
    rline_t *v;
    size_t n, cap;
    size_t ntmp;
    size_t nfiles;
} rset_t;

static void rset_free(rset_t *rs)
{
    for (size_t i = 0; i < rs->n; i++) {
        free(rs->v[i].topic);
        free(rs->v[i].fname);
        free(rs->v[i].text);
    }
    free(rs->v);
    memset(rs, 0, sizeof(*rs));
}

static void read_file(const char *path, sl_buf_t *out)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    char tmp[65536];
    size_t n;
    while ((n = fread(tmp, 1, sizeof(tmp), f)) > 0)
        sl_buf_append(out, tmp, n);
    fclose(f);
}

static int ends_with(const char *s, const char *suf)
{
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && strcmp(s + a - b, suf) == 0;
}

/* The uncompressed content of a complete file, checking its format by magic bytes. */
static void read_content(const char *path, sl_buf_t *out)
{
    sl_buf_t raw = SL_BUF_INIT;
    read_file(path, &raw);
    if (ends_with(path, ".gz")) {
        assert_true(raw.len >= 2);
        assert_int_equal((unsigned char)raw.data[0], 0x1f);
        assert_int_equal((unsigned char)raw.data[1], 0x8b);
        gzFile g = gzopen(path, "rb");
        assert_non_null(g);
        char tmp[65536];
        int n;
        while ((n = gzread(g, tmp, sizeof(tmp))) > 0)
            sl_buf_append(out, tmp, (size_t)n);
        assert_int_equal(n, 0);
        assert_int_equal(gzclose(g), Z_OK);
    } else if (ends_with(path, ".zst")) {
        assert_true(raw.len >= 4);
        assert_int_equal(memcmp(raw.data, "\x28\xb5\x2f\xfd", 4), 0);
        ZSTD_DStream *ds = ZSTD_createDStream();
        ZSTD_inBuffer in = {raw.data, raw.len, 0};
        char tmp[65536];
        for (;;) {
            ZSTD_outBuffer o = {tmp, sizeof(tmp), 0};
            size_t left = ZSTD_decompressStream(ds, &o, &in);
            assert_false(ZSTD_isError(left));
            sl_buf_append(out, tmp, o.pos);
            if (left == 0 && in.pos == in.size)
                break; /* a complete frame, all input used */
            if (in.pos == in.size && o.pos < o.size)
                fail_msg("%s: truncated zstd frame", path);
        }
        ZSTD_freeDStream(ds);
    } else {
        sl_buf_append(out, raw.data, raw.len); /* .jsonl, or any other plain file */
    }
    sl_buf_free(&raw);
}

static int is_done_name(const char *name, sl_pos_t *first, sl_pos_t *last)
{
    if (strlen(name) < 2 * SL_POS_KEY_LEN + 1 || name[SL_POS_KEY_LEN] != '_')
        return 0;
    const char *ext = name + 2 * SL_POS_KEY_LEN + 1;
    if (strcmp(ext, ".jsonl") && strcmp(ext, ".jsonl.gz") && strcmp(ext, ".jsonl.zst"))
        return 0;
    return sl_pos_key_parse(name, SL_POS_KEY_LEN, first) == 0 &&
           sl_pos_key_parse(name + SL_POS_KEY_LEN + 1, SL_POS_KEY_LEN, last) == 0;
}

static int line_pos(const char *text, sl_pos_t *p)
{
    const char *k = strstr(text, "\"p\":\"");
    if (!k)
        return -1;
    return sl_pos_key_parse(k + 5, strlen(k + 5), p);
}

/* Walk <root>/<topic>/... collecting every line of every complete file; counts temp
 * files. Also checks that a file's name matches the first and last line it holds. */
static void walk(const char *dir, const char *topic, rset_t *rs)
{
    DIR *d = opendir(dir);
    assert_non_null(d);
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
            continue;
        sl_buf_t p = SL_BUF_INIT;
        sl_buf_printf(&p, "%s/%s", dir, de->d_name);
        struct stat st;
        if (lstat(p.data, &st) < 0) {
            /* the sink's closer thread renamed it (a temp file) since readdir saw it */
            assert_int_equal(errno, ENOENT);
            assert_true(ends_with(de->d_name, ".tmp"));
            sl_buf_free(&p);
            continue;
        }
        if (S_ISDIR(st.st_mode)) {
            if (!topic && !strcmp(de->d_name, "_schemas")) {
                sl_buf_free(&p);
                continue;
            }
            walk(p.data, topic ? topic : de->d_name, rs);
        } else if (ends_with(de->d_name, ".tmp")) {
            rs->ntmp++;
        } else {
            sl_pos_t first, last;
            assert_non_null(topic);
            if (!is_done_name(de->d_name, &first, &last))
                fail_msg("unexpected file %s", p.data);
            rs->nfiles++;
            sl_buf_t c = SL_BUF_INIT;
            read_content(p.data, &c);
            assert_true(c.len > 0);
            assert_int_equal(c.data[c.len - 1], '\n');
            size_t seq = 0;
            char *save = NULL;
            sl_pos_t lp = {0}, fp = {0};
            for (char *ln = strtok_r(c.data, "\n", &save); ln;
                 ln = strtok_r(NULL, "\n", &save)) {
                if (rs->n == rs->cap) {
                    rs->cap = rs->cap ? rs->cap * 2 : 64;
                    rs->v = realloc(rs->v, rs->cap * sizeof(*rs->v));
                }
                rline_t *l = &rs->v[rs->n++];
                l->topic = strdup(topic);
                l->fname = strdup(de->d_name);
                l->seq = seq;
                l->text = strdup(ln);
                if (line_pos(ln, &lp) == 0 && seq == 0)
                    fp = lp;
                seq++;
            }
            if (line_pos(rs->v[rs->n - 1].text, &lp) == 0) {
                /* the name is derived from the first and last record */
                assert_int_equal(sl_pos_cmp(&fp, &first), 0);
                assert_int_equal(sl_pos_cmp(&lp, &last), 0);
            }
            sl_buf_free(&c);
        }
        sl_buf_free(&p);
    }
    closedir(d);
}

static void collect(const char *root, rset_t *rs)
{
    memset(rs, 0, sizeof(*rs));
    walk(root, NULL, rs);
}

static size_t count_text(const rset_t *rs, const char *text)
{
    size_t c = 0;
    for (size_t i = 0; i < rs->n; i++)
        if (!strcmp(rs->v[i].text, text))
            c++;
    return c;
}

/* The ack contract: every record at or before the acked position is in a complete file
 * exactly once, and acks only move forward. */
static void on_ack(sl_sink_env_t *env, const sl_pos_t *p)
{
    tenv_t *te = (tenv_t *)env;
    if (te->has_ack)
        assert_true(sl_pos_cmp(p, &te->ack) > 0);
    te->ack = *p;
    te->has_ack = 1;
    te->nacks++;
    te->hist = realloc(te->hist, (te->nhist + 1) * sizeof(*te->hist));
    te->hist[te->nhist++] = *p;
    if (te->check_root) {
        rset_t rs;
        collect(te->check_root, &rs);
        for (size_t i = 0; i < te->check_stream->n; i++) {
            const srec_t *r = &te->check_stream->v[i];
            if (!r->val)
                continue;
            size_t c = count_text(&rs, r->val);
            if (sl_pos_cmp(&r->pos, p) <= 0 && c != 1)
                fail_msg("acked past %s which is in %zu complete files", r->val, c);
            if (c > 1)
                fail_msg("%s is in %zu complete files", r->val, c);
        }
        rset_free(&rs);
    }
}

static void tenv_init(tenv_t *te)
{
    memset(te, 0, sizeof(*te));
    te->env.ack = on_ack;
    te->env.connector_name = "test";
}

static void tenv_reset_acks(tenv_t *te)
{
    te->has_ack = 0;
    te->nacks = 0;
    free(te->hist);
    te->hist = NULL;
    te->nhist = 0;
}

static void tenv_free(tenv_t *te)
{
    free(te->hist);
    te->hist = NULL;
}

/* ---------------------------------------------------------------- helpers */

static char *mktemp_dir(void)
{
    char tmpl[] = "/tmp/sluice-files-XXXXXX";
    char *d = mkdtemp(tmpl);
    assert_non_null(d);
    return strdup(d);
}

static void rm_rf(const char *path)
{
    struct stat st;
    if (lstat(path, &st) < 0)
        return;
    if (S_ISDIR(st.st_mode)) {
        DIR *d = opendir(path);
        struct dirent *de;
        while (d && (de = readdir(d)) != NULL) {
            if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
                continue;
            sl_buf_t p = SL_BUF_INIT;
            sl_buf_printf(&p, "%s/%s", path, de->d_name);
            rm_rf(p.data);
            sl_buf_free(&p);
        }
        if (d)
            closedir(d);
        rmdir(path);
    } else {
        unlink(path);
    }
}

static sl_sink_config_t mkcfg(const char *path)
{
    sl_sink_config_t c;
    memset(&c, 0, sizeof(c));
    c.type = "files";
    c.path = (char *)path;
    c.topic_prefix = "shop";
    c.compression = SL_COMP_NONE;
    c.rotate_max_bytes = 64 << 20;
    c.rotate_max_ms = 60000;
    c.rotate_max_records = 100000;
    c.partition = SL_PART_HOUR;
    return c;
}

static void *sink_new(const sl_sink_ops_t *ops, sl_sink_config_t *cfg, tenv_t *te,
                      const sl_pos_t *resume)
{
    void *ctx = NULL;
    char err[512] = "";
    sl_err_t rc = ops->create(cfg, &te->env, resume, &ctx, err, sizeof(err));
    if (rc)
        fail_msg("create failed: %s", err);
    assert_non_null(ctx);
    return ctx;
}

static void sink_write(const sl_sink_ops_t *ops, void *ctx, const sl_batch_t *b)
{
    char err[512] = "";
    sl_err_t rc = ops->write(ctx, b, err, sizeof(err));
    if (rc)
        fail_msg("write failed: %s", err);
    if (ops == &sl_sink_files)
        sl_files_sink_settle(ctx); /* files the write completed are on disk and acked */
}

static void sink_flush(const sl_sink_ops_t *ops, void *ctx)
{
    char err[512] = "";
    sl_err_t rc = ops->flush(ctx, err, sizeof(err));
    if (rc)
        fail_msg("flush failed: %s", err);
}

static sl_pos_t P(uint64_t major, uint32_t index)
{
    sl_pos_t p = {.major = major, .index = index};
    return p;
}

static void add(sl_batch_t *b, const sl_table_t *t, sl_pos_t pos, int64_t ts,
                const char *val)
{
    size_t off = b->arena.len;
    if (val)
        sl_buf_append(&b->arena, val, strlen(val));
    sl_record_t *r = sl_batch_add(b);
    r->table = t;
    r->key_off = r->val_off = off;
    r->key_len = 0;
    r->val_len = val ? strlen(val) : 0;
    r->ts_ms = ts;
    r->pos = pos;
    r->op = val ? 'c' : 'd';
}

static char *keyed_val(const char *tag, sl_pos_t pos)
{
    char k[SL_POS_KEY_LEN + 1];
    sl_pos_key(&pos, k);
    sl_buf_t v = SL_BUF_INIT;
    sl_buf_printf(&v, "{\"t\":\"%s\",\"p\":\"%s\"}", tag, k);
    return sl_buf_steal(&v);
}

static int file_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

static char *slurp_path(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *slurp_path(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *path = NULL;
    assert_true(vasprintf(&path, fmt, ap) > 0);
    va_end(ap);
    if (!file_exists(path)) {
        print_error("missing: %s\n", path);
        free(path);
        return NULL;
    }
    sl_buf_t b = SL_BUF_INIT;
    read_content(path, &b);
    free(path);
    if (!b.data)
        return strdup("");
    return sl_buf_steal(&b);
}

static sl_table_t *mktable(const char *db, const char *schema, const char *name,
                           uint32_t version)
{
    sl_table_t *t = sl_table_new(db, schema, name);
    sl_table_add_column(t, "id", "int4", 23, -1, SL_JT_INT, 0, 1);
    sl_table_add_column(t, "note", "text", 25, -1, SL_JT_STRING, 1, 0);
    t->version = version;
    return t;
}

/* ------------------------------------------------------------ paths and partitions */

static void test_paths_and_partitions(void **state)
{
    char *tmp = mktemp_dir();
    sl_buf_t root = SL_BUF_INIT;
    sl_buf_printf(&root, "%s/out", tmp); /* created by the sink */
    tenv_t te;
    tenv_init(&te);
    sl_sink_config_t cfg = mkcfg(root.data);
    sl_table_t *orders = mktable("shop", "public", "orders", 1);
    sl_table_t *items = mktable("inv", NULL, "items", 1);

    void *s = sink_new(&sl_sink_files, &cfg, &te, NULL);
    sl_batch_t *b = sl_batch_new();
    add(b, orders, P(1, 1), T0, "{\"a\":1}");
    add(b, orders, P(1, 2), T0 + 1000, "{\"a\":2}");
    add(b, orders, P(2, 1), INT64_C(1709625600000), "{\"a\":3}"); /* 08:00:00: new hour */
    sink_write(&sl_sink_files, s, b);
    /* the 07h file is complete; the 08h file is open and starts after (1,2) */
    char *c = slurp_path("%s/shop.public.orders/year=2024/month=03/day=05/hour=07/"
                         "0000000000000001-00000001_0000000000000001-00000002.jsonl",
                         root.data);
    assert_non_null(c);
    assert_string_equal(c, "{\"a\":1}\n{\"a\":2}\n");
    free(c);
    assert_true(te.has_ack);
    assert_int_equal(sl_pos_cmp(&te.ack, &(sl_pos_t){.major = 1, .index = 2}), 0);
    sink_flush(&sl_sink_files, s);
    c = slurp_path("%s/shop.public.orders/year=2024/month=03/day=05/hour=08/"
                   "0000000000000002-00000001_0000000000000002-00000001.jsonl",
                   root.data);
    assert_non_null(c);
    assert_string_equal(c, "{\"a\":3}\n");
    free(c);
    assert_int_equal(sl_pos_cmp(&te.ack, &(sl_pos_t){.major = 2, .index = 1}), 0);
    sl_sink_files.destroy(s);

    /* day partitions: no hour directory; a MySQL table (no schema) is named by its db;
     * a time before 1970 still lands on its UTC day */
    sl_buf_t root2 = SL_BUF_INIT;
    sl_buf_printf(&root2, "%s/day/", tmp); /* trailing slash tolerated */
    cfg = mkcfg(root2.data);
    cfg.partition = SL_PART_DAY;
    cfg.topic_prefix = NULL; /* defaults to the connector name */
    s = sink_new(&sl_sink_files, &cfg, &te, NULL);
    sl_batch_clear(b);
    add(b, items, P(3, 1), INT64_C(-1800000), "{\"b\":1}"); /* 1969-12-31T23:30Z */
    add(b, items, P(3, 2), INT64_C(1735689599000),
        "{\"b\":2}"); /* 2024-12-31T23:59:59Z */
    add(b, orders, P(3, 3), INT64_C(1735689599000), "{\"b\":3}");
    sink_write(&sl_sink_files, s, b);
    sink_flush(&sl_sink_files, s);
    sl_sink_files.destroy(s);
    c = slurp_path("%s/day/test.inv.items/year=1969/month=12/day=31/"
                   "0000000000000003-00000001_0000000000000003-00000001.jsonl",
                   tmp);
    assert_non_null(c);
    assert_string_equal(c, "{\"b\":1}\n");
    free(c);
    c = slurp_path("%s/day/test.inv.items/year=2024/month=12/day=31/"
                   "0000000000000003-00000002_0000000000000003-00000002.jsonl",
                   tmp);
    assert_non_null(c);
    assert_string_equal(c, "{\"b\":2}\n");
    free(c);
    c = slurp_path("%s/day/test.public.orders/year=2024/month=12/day=31/"
                   "0000000000000003-00000003_0000000000000003-00000003.jsonl",
                   tmp);
    assert_non_null(c);
    free(c);
    /* nothing else was written besides schema documents */
    rset_t rs;
    sl_buf_reset(&root2);
    sl_buf_printf(&root2, "%s/day", tmp);
    collect(root2.data, &rs);
    assert_int_equal(rs.nfiles, 3);
    assert_int_equal(rs.ntmp, 0);
    rset_free(&rs);

    sl_batch_free(b);
    sl_table_free(orders);
    sl_table_free(items);
    tenv_free(&te);
    rm_rf(tmp);
    free(tmp);
    sl_buf_free(&root);
    sl_buf_free(&root2);
}

/* ---------------------------------------------------------------- rotation */

static void list_names(const char *dir, sl_buf_t *out)
{
    /* sorted base names of complete files, ';'-joined */
    struct dirent **nl = NULL;
    int n = scandir(dir, &nl, NULL, alphasort);
    assert_true(n >= 0);
    for (int i = 0; i < n; i++) {
        if (nl[i]->d_name[0] != '.') {
            sl_buf_puts(out, nl[i]->d_name);
            sl_buf_putc(out, ';');
        }
        free(nl[i]);
    }
    free(nl);
}

static void test_rotation_records_and_bytes(void **state)
{
    char *tmp = mktemp_dir();
    tenv_t te;
    tenv_init(&te);
    sl_table_t *t = mktable("shop", "public", "orders", 1);
    sl_buf_t dir = SL_BUF_INIT, names = SL_BUF_INIT;
    sl_batch_t *b = sl_batch_new();

    /* by record count: 7 records, 3 per file */
    sl_sink_config_t cfg = mkcfg(tmp);
    cfg.rotate_max_records = 3;
    void *s = sink_new(&sl_sink_files, &cfg, &te, NULL);
    for (uint32_t i = 1; i <= 7; i++)
        add(b, t, P(10, i), T0, "{\"x\":1}");
    sink_write(&sl_sink_files, s, b);
    sl_buf_printf(&dir, "%s/shop.public.orders/year=2024/month=03/day=05/hour=07", tmp);
    list_names(dir.data, &names);
    assert_string_equal(names.data,
                        "000000000000000a-00000001_000000000000000a-00000003.jsonl;"
                        "000000000000000a-00000004_000000000000000a-00000006.jsonl;");
    /* the 7th record is in an open file: the ack stops just before it */
    assert_int_equal(sl_pos_cmp(&te.ack, &(sl_pos_t){.major = 10, .index = 6}), 0);
    sink_flush(&sl_sink_files, s);
    sl_sink_files.destroy(s);
    sl_buf_reset(&names);
    list_names(dir.data, &names);
    assert_string_equal(names.data,
                        "000000000000000a-00000001_000000000000000a-00000003.jsonl;"
                        "000000000000000a-00000004_000000000000000a-00000006.jsonl;"
                        "000000000000000a-00000007_000000000000000a-00000007.jsonl;");
    assert_int_equal(sl_pos_cmp(&te.ack, &(sl_pos_t){.major = 10, .index = 7}), 0);

    /* by bytes: 9-byte lines (8 + newline), limit 25 -> 3 lines per file */
    rm_rf(tmp);
    tenv_reset_acks(&te);
    cfg = mkcfg(tmp);
    cfg.rotate_max_bytes = 25;
    s = sink_new(&sl_sink_files, &cfg, &te, NULL);
    sl_batch_clear(b);
    for (uint32_t i = 1; i <= 7; i++)
        add(b, t, P(11, i), T0, "{\"y\":12}");
    sink_write(&sl_sink_files, s, b);
    sink_flush(&sl_sink_files, s);
    sl_sink_files.destroy(s);
    sl_buf_reset(&names);
    list_names(dir.data, &names);
    assert_string_equal(names.data,
                        "000000000000000b-00000001_000000000000000b-00000003.jsonl;"
                        "000000000000000b-00000004_000000000000000b-00000006.jsonl;"
                        "000000000000000b-00000007_000000000000000b-00000007.jsonl;");
    char *c = slurp_path("%s/000000000000000b-00000004_000000000000000b-00000006.jsonl",
                         dir.data);
    assert_string_equal(c, "{\"y\":12}\n{\"y\":12}\n{\"y\":12}\n");
    free(c);

    sl_batch_free(b);
    sl_table_free(t);
    tenv_free(&te);
    rm_rf(tmp);
    free(tmp);
    sl_buf_free(&dir);
    sl_buf_free(&names);
}

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void test_rotation_age(void **state)
{
    char *tmp = mktemp_dir();
    tenv_t te;
    tenv_init(&te);
    sl_table_t *t = mktable("shop", "public", "orders", 1);
    sl_sink_config_t cfg = mkcfg(tmp);
    cfg.rotate_max_ms = 10000;
    sl_pos_t resume = P(5, SL_POS_DONE);
    void *s = sink_new(&sl_sink_files, &cfg, &te, &resume);
    sl_batch_t *b = sl_batch_new();
    add(b, t, P(6, 1), T0, "{\"z\":1}");
    add(b, t, P(6, 2), T0, "{\"z\":2}");
    int64_t opened = wall_ms();
    sink_write(&sl_sink_files, s, b);
    assert_false(te.has_ack); /* the resume point itself is never re-acked */
    /* tick is due when the file reaches its age limit */
    int64_t due = sl_sink_files.due(s);
    assert_true(due >= opened + 10000 && due <= wall_ms() + 10000);
    char err[256];
    assert_int_equal(sl_sink_files.tick(s, opened + 5000, err, sizeof(err)), SL_OK);
    rset_t rs;
    collect(tmp, &rs);
    assert_int_equal(rs.nfiles, 0);
    assert_int_equal(rs.ntmp, 1);
    rset_free(&rs);
    assert_false(te.has_ack);
    assert_int_equal(sl_sink_files.tick(s, opened + 10001 + 1000, err, sizeof(err)),
                     SL_OK);
    assert_int_equal(sl_sink_files.due(s), INT64_MAX); /* nothing open */
    sl_files_sink_settle(s);
    collect(tmp, &rs);
    assert_int_equal(rs.nfiles, 1);
    assert_int_equal(rs.ntmp, 0);
    assert_int_equal(rs.n, 2);
    assert_string_equal(rs.v[0].fname,
                        "0000000000000006-00000001_0000000000000006-00000002.jsonl");
    rset_free(&rs);
    assert_true(te.has_ack);
    assert_int_equal(sl_pos_cmp(&te.ack, &(sl_pos_t){.major = 6, .index = 2}), 0);
    sl_sink_files.destroy(s);
    sl_batch_free(b);
    sl_table_free(t);
    tenv_free(&te);
    rm_rf(tmp);
    free(tmp);
}

/* ---------------------------------------------------------------- compression */

/* Lines big enough to push the compressors past their 64 KiB output buffer: pseudo-random
 * text does not compress much. */
static char *big_line(unsigned seed, size_t n, sl_pos_t pos)
{
    char k[SL_POS_KEY_LEN + 1];
    sl_pos_key(&pos, k);
    sl_buf_t v = SL_BUF_INIT;
    sl_buf_printf(&v, "{\"p\":\"%s\",\"pad\":\"", k);
    uint32_t x = seed * 2654435761u + 1;
    for (size_t i = 0; i < n; i++) {
        x = x * 1103515245u + 12345u;
        sl_buf_putc(
            &v,
            "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"[(x >> 16) &
                                                                               63]);
    }
    sl_buf_puts(&v, "\"}");
    return sl_buf_steal(&v);
}

static void check_compressed(sl_compression_t comp, const char *ext)
{
    char *tmp = mktemp_dir();
    tenv_t te;
    tenv_init(&te);
    sl_table_t *t = mktable("shop", "public", "orders", 1);
    sl_sink_config_t cfg = mkcfg(tmp);
    cfg.compression = comp;
    cfg.rotate_max_records = 4;
    void *s = sink_new(&sl_sink_files, &cfg, &te, NULL);
    sl_batch_t *b = sl_batch_new();
    char *vals[10];
    for (uint32_t i = 0; i < 10; i++) {
        /* one line of 300 KB, the others small and repetitive */
        vals[i] =
            i == 5 ? big_line(i, 300000, P(20, i + 1)) : keyed_val("c", P(20, i + 1));
        add(b, t, P(20, i + 1), T0, vals[i]);
    }
    sink_write(&sl_sink_files, s, b);
    sink_flush(&sl_sink_files, s);
    sl_sink_files.destroy(s);

    sl_buf_t dir = SL_BUF_INIT, names = SL_BUF_INIT, want = SL_BUF_INIT;
    sl_buf_printf(&dir, "%s/shop.public.orders/year=2024/month=03/day=05/hour=07", tmp);
    list_names(dir.data, &names);
    sl_buf_printf(&want,
                  "0000000000000014-00000001_0000000000000014-00000004.jsonl%s;"
                  "0000000000000014-00000005_0000000000000014-00000008.jsonl%s;"
                  "0000000000000014-00000009_0000000000000014-0000000a.jsonl%s;",
                  ext, ext, ext);
    assert_string_equal(names.data, want.data);
    /* each file decompresses (magic checked in read_content) to exactly its lines */
    for (int f = 0; f < 3; f++) {
        sl_buf_t exp = SL_BUF_INIT;
        for (int i = f * 4; i < f * 4 + 4 && i < 10; i++) {
            sl_buf_puts(&exp, vals[i]);
            sl_buf_putc(&exp, '\n');
        }
        char k1[SL_POS_KEY_LEN + 1], k2[SL_POS_KEY_LEN + 1];
        sl_pos_t a = P(20, (uint32_t)f * 4 + 1),
                 z = P(20, f == 2 ? 10 : (uint32_t)f * 4 + 4);
        sl_pos_key(&a, k1);
        sl_pos_key(&z, k2);
        char *c = slurp_path("%s/%s_%s.jsonl%s", dir.data, k1, k2, ext);
        assert_non_null(c);
        assert_int_equal(strlen(c), exp.len);
        assert_memory_equal(c, exp.data, exp.len);
        free(c);
        sl_buf_free(&exp);
    }
    for (int i = 0; i < 10; i++)
        free(vals[i]);
    sl_buf_free(&dir);
    sl_buf_free(&names);
    sl_buf_free(&want);
    sl_batch_free(b);
    sl_table_free(t);
    tenv_free(&te);
    rm_rf(tmp);
    free(tmp);
}

static void test_gzip(void **state)
{
    check_compressed(SL_COMP_GZIP, ".gz");
}

static void test_zstd(void **state)
{
    check_compressed(SL_COMP_ZSTD, ".zst");
}

static void test_plain_big_line(void **state)
{
    check_compressed(SL_COMP_NONE, "");
}

/* ------------------------------------------------------------ page cache */

/* The path of the one temp file in dir ("" if none). */
static void find_tmp(const char *dir, sl_buf_t *out)
{
    DIR *d = opendir(dir);
    assert_non_null(d);
    struct dirent *de;
    while ((de = readdir(d)) != NULL)
        if (ends_with(de->d_name, ".tmp"))
            sl_buf_printf(out, "%s/%s", dir, de->d_name);
    closedir(d);
}

/* Of the first n bytes of the file, the fraction the page cache holds (mincore). */
static double cached_fraction(const char *path, size_t n)
{
    int fd = open(path, O_RDONLY);
    assert_true(fd >= 0);
    void *m = mmap(NULL, n, PROT_READ, MAP_SHARED, fd, 0);
    assert_true(m != MAP_FAILED);
    long pg = sysconf(_SC_PAGESIZE);
    size_t npages = (n + (size_t)pg - 1) / (size_t)pg, in = 0;
    unsigned char *vec = malloc(npages);
    assert_int_equal(mincore(m, n, vec), 0);
    for (size_t i = 0; i < npages; i++)
        in += vec[i] & 1;
    free(vec);
    munmap(m, n);
    close(fd);
    return (double)in / (double)npages;
}

/* Does this filesystem drop a written-back file's pages when asked? tmpfs, ramfs and
 * overlayfs (a container's /tmp) keep them whatever one asks. */
static int drops_cache(const char *dir)
{
    sl_buf_t path = SL_BUF_INIT;
    sl_buf_printf(&path, "%s/probe", dir);
    int fd = open(path.data, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    assert_true(fd >= 0);
    char block[65536];
    memset(block, 'p', sizeof(block));
    for (int i = 0; i < 16; i++)
        assert_int_equal(write(fd, block, sizeof(block)), (ssize_t)sizeof(block));
    assert_int_equal(fdatasync(fd), 0);
    (void)posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
    close(fd);
    double f = cached_fraction(path.data, sizeof(block) * 16);
    unlink(path.data);
    sl_buf_free(&path);
    return f < 0.5;
}

/* A big file does not keep what it wrote in the page cache: once written back, ranges
 * well behind the end are dropped (ffile_hint), and the complete file still holds every
 * line. Where the filesystem keeps its pages anyway (drops_cache), only the content is
 * checked. */
static void test_page_cache_bounded(void **state)
{
    char *tmp = mktemp_dir();
    tenv_t te;
    tenv_init(&te);
    sl_table_t *t = mktable("shop", "public", "orders", 1);
    sl_sink_config_t cfg = mkcfg(tmp);
    void *s = sink_new(&sl_sink_files, &cfg, &te, NULL);
    enum { LINE = 4096, NREC = 12 * 1024 }; /* 48 MiB in one file */
    char *val = malloc(LINE);
    memset(val, 'x', LINE - 1);
    val[LINE - 1] = '\0';
    sl_batch_t *b = sl_batch_new();
    for (uint32_t i = 1; i <= NREC;) {
        sl_batch_clear(b);
        for (int k = 0; k < 256 && i <= NREC; k++, i++) {
            snprintf(val, 16, "%08" PRIu32, i); /* a line number, then the x's */
            val[8] = 'x';
            add(b, t, P(1, i), T0, val);
        }
        sink_write(&sl_sink_files, s, b);
    }
    sl_buf_t dir = SL_BUF_INIT, path = SL_BUF_INIT;
    sl_buf_printf(&dir, "%s/shop.public.orders/year=2024/month=03/day=05/hour=07", tmp);
    find_tmp(dir.data, &path);
    assert_true(path.len > 0);
    if (drops_cache(tmp)) {
        /* the first 24 MiB lie more than 16 MiB behind the end: written back and dropped
         * but for a page at the edge of each range; without the drop all would be
         * cached (memory pressure can only lower this) */
        double f = cached_fraction(path.data, (size_t)24 << 20);
        if (f > 0.05)
            fail_msg("%.1f%% of the file's first 24 MiB is still in the page cache",
                     f * 100);
    } else {
        print_message("[ SKIPPED  ] page cache residency: %s keeps written pages\n", tmp);
    }
    sink_flush(&sl_sink_files, s);
    sl_sink_files.destroy(s);
    rset_t rs;
    collect(tmp, &rs);
    assert_int_equal(rs.nfiles, 1);
    assert_int_equal(rs.n, NREC);
    for (size_t i = 0; i < rs.n; i++) {
        char want[24];
        snprintf(want, sizeof(want), "%08zu", i + 1);
        assert_int_equal(strlen(rs.v[i].text), LINE - 1);
        assert_memory_equal(rs.v[i].text, want, 8);
    }
    rset_free(&rs);
    free(val);
    sl_batch_free(b);
    sl_table_free(t);
    tenv_free(&te);
    rm_rf(tmp);
    free(tmp);
    sl_buf_free(&dir);
    sl_buf_free(&path);
}

/* ---------------------------------------------------------------- streams for
 * acks/replay */

static uint32_t rnd(uint32_t *x)
{
    *x = *x * 1103515245u + 12345u;
    return (*x >> 16) & 0x7fff;
}

static const char *const tags[] = {"A", "B", "C"};

/* n records over 3 tables: A common, B rare (its open file holds the ack back while A's
 * files complete), C in between; transactions of 1-3 records; a new hour every 17
 * records; some tombstones. */
static void gen_stream(stream_t *st, size_t n, uint32_t seed)
{
    st->v = calloc(n, sizeof(*st->v));
    st->n = n;
    uint32_t x = seed;
    uint64_t major = 0x100;
    uint32_t idx = 0;
    for (size_t i = 0; i < n; i++) {
        if (idx == 0 || rnd(&x) % 3 == 0) {
            major += 1 + rnd(&x) % 3;
            idx = 1;
        } else {
            idx++;
        }
        srec_t *r = &st->v[i];
        r->pos = P(major, idx);
        r->pos.minor = major * 7; /* carried through to acks untouched */
        uint32_t w = rnd(&x) % 10;
        r->table = w < 6 ? 0 : w < 8 ? 2 : 1;
        r->ts = T0 + (int64_t)(i / 17) * HOUR;
        r->val = rnd(&x) % 13 == 0 ? NULL : keyed_val(tags[r->table], r->pos);
    }
}

static void stream_free(stream_t *st)
{
    for (size_t i = 0; i < st->n; i++)
        free(st->v[i].val);
    free(st->v);
}

/* Send records [from, to) in batches of 1-5; a batch that ends a transaction carries an
 * end position (major, DONE) like a commit does. */
static void send_range(void *s, const stream_t *st, sl_table_t **tables, size_t from,
                       size_t to, uint32_t *x)
{
    sl_batch_t *b = sl_batch_new();
    size_t i = from;
    while (i < to) {
        sl_batch_clear(b);
        size_t k = 1 + rnd(x) % 5;
        for (; k > 0 && i < to; k--, i++) {
            const srec_t *r = &st->v[i];
            add(b, tables[r->table], r->pos, r->ts, r->val);
        }
        const sl_pos_t *lastp = &st->v[i - 1].pos;
        if (i == st->n || st->v[i].pos.major != lastp->major) {
            b->has_end = 1;
            b->end = P(lastp->major, SL_POS_DONE);
            b->end.minor = lastp->major * 7 + 3;
        }
        sink_write(&sl_sink_files, s, b);
    }
    sl_batch_free(b);
}

/* Everything in the stream is in the complete files exactly once, in order per topic,
 * and no temp file is left. */
static void verify_exactly_once(const char *root, const stream_t *st)
{
    rset_t rs;
    collect(root, &rs);
    assert_int_equal(rs.ntmp, 0);
    size_t want = 0;
    for (size_t i = 0; i < st->n; i++) {
        if (!st->v[i].val)
            continue;
        want++;
        size_t c = count_text(&rs, st->v[i].val);
        if (c != 1)
            fail_msg("%s is in the files %zu times", st->v[i].val, c);
    }
    assert_int_equal(rs.n, want);
    /* per topic, in name order then line order, positions increase */
    for (size_t t = 0; t < 3; t++) {
        sl_buf_t topic = SL_BUF_INIT;
        sl_buf_printf(&topic, "shop.public.%s", tags[t]);
        sl_pos_t prev = {0};
        int has_prev = 0;
        /* names sort in stream order: walk the lines grouped by file name order */
        for (;;) {
            const char *next_name = NULL;
            for (size_t i = 0; i < rs.n; i++) {
                if (strcmp(rs.v[i].topic, topic.data))
                    continue;
                sl_pos_t p;
                assert_int_equal(line_pos(rs.v[i].text, &p), 0);
                if (has_prev && sl_pos_cmp(&p, &prev) <= 0)
                    continue;
                if (!next_name || strcmp(rs.v[i].fname, next_name) < 0)
                    next_name = rs.v[i].fname;
            }
            if (!next_name)
                break;
            size_t seq = 0;
            for (;; seq++) {
                size_t j;
                for (j = 0; j < rs.n; j++)
                    if (!strcmp(rs.v[j].topic, topic.data) &&
                        !strcmp(rs.v[j].fname, next_name) && rs.v[j].seq == seq)
                        break;
                if (j == rs.n)
                    break;
                sl_pos_t p;
                assert_int_equal(line_pos(rs.v[j].text, &p), 0);
                if (has_prev && sl_pos_cmp(&p, &prev) <= 0)
                    fail_msg("%s: out of order in %s", topic.data, next_name);
                prev = p;
                has_prev = 1;
            }
            assert_true(seq > 0);
        }
        sl_buf_free(&topic);
    }
    rset_free(&rs);
}

static void mk_tables(sl_table_t **t)
{
    t[0] = mktable("shop", "public", "A", 1);
    t[1] = mktable("shop", "public", "B", 1);
    t[2] = mktable("shop", "public", "C", 1);
}

/* ---------------------------------------------------------------- acks */

static void test_acks_never_inside_open_files(void **state)
{
    char *tmp = mktemp_dir();
    stream_t st;
    gen_stream(&st, 80, 7);
    sl_table_t *tables[3];
    mk_tables(tables);
    tenv_t te;
    tenv_init(&te);
    te.check_root = tmp;
    te.check_stream = &st;
    sl_sink_config_t cfg = mkcfg(tmp);
    cfg.rotate_max_records = 3;
    void *s = sink_new(&sl_sink_files, &cfg, &te, NULL);
    uint32_t x = 99;
    send_range(s, &st, tables, 0, st.n, &x);
    size_t before_flush = te.nacks;
    assert_true(before_flush > 3); /* acks flowed while files were still open */
    sink_flush(&sl_sink_files, s);
    sl_sink_files.destroy(s);
    /* after flush the last end position is durable, minor carried through */
    assert_int_equal(te.ack.major, st.v[st.n - 1].pos.major);
    assert_int_equal(te.ack.index, SL_POS_DONE);
    assert_int_equal(te.ack.minor, st.v[st.n - 1].pos.major * 7 + 3);
    verify_exactly_once(tmp, &st);
    for (int i = 0; i < 3; i++)
        sl_table_free(tables[i]);
    stream_free(&st);
    tenv_free(&te);
    rm_rf(tmp);
    free(tmp);
}

static void test_batch_end_and_tombstones(void **state)
{
    char *tmp = mktemp_dir();
    tenv_t te;
    tenv_init(&te);
    sl_table_t *t = mktable("shop", "public", "orders", 1);
    sl_sink_config_t cfg = mkcfg(tmp);
    void *s = sink_new(&sl_sink_files, &cfg, &te, NULL);
    sl_batch_t *b = sl_batch_new();
    /* a keepalive: nothing open, so the end is durable at once */
    b->has_end = 1;
    b->end = P(5, SL_POS_DONE);
    b->end.minor = 777;
    sink_write(&sl_sink_files, s, b);
    assert_true(te.has_ack);
    assert_int_equal(sl_pos_cmp(&te.ack, &b->end), 0);
    assert_int_equal(te.ack.minor, 777);
    /* a tombstone alone: not written, durable at once */
    sl_batch_clear(b);
    add(b, t, P(6, 1), T0, NULL);
    sink_write(&sl_sink_files, s, b);
    assert_int_equal(sl_pos_cmp(&te.ack, &(sl_pos_t){.major = 6, .index = 1}), 0);
    /* a record opens a file: no ack moves past (6,1) until it completes */
    sl_batch_clear(b);
    add(b, t, P(7, 1), T0, "{\"k\":1}");
    add(b, t, P(7, 2), T0, NULL);
    b->has_end = 1;
    b->end = P(7, SL_POS_DONE);
    size_t n = te.nacks;
    sink_write(&sl_sink_files, s, b);
    assert_int_equal(te.nacks, n);
    sink_flush(&sl_sink_files, s);
    assert_int_equal(sl_pos_cmp(&te.ack, &(sl_pos_t){.major = 7, .index = SL_POS_DONE}),
                     0);
    sl_sink_files.destroy(s);
    rset_t rs;
    collect(tmp, &rs);
    assert_int_equal(rs.n, 1);
    assert_string_equal(rs.v[0].text, "{\"k\":1}");
    rset_free(&rs);
    sl_batch_free(b);
    sl_table_free(t);
    tenv_free(&te);
    rm_rf(tmp);
    free(tmp);
}

/* ---------------------------------------------------------------- crash and replay */

static void replay_case(sl_compression_t comp, const stream_t *st, sl_table_t **tables,
                        size_t crash1, size_t crash2, uint32_t seed, size_t *saw_tmp,
                        size_t *saw_skip)
{
    char *tmp = mktemp_dir();
    sl_sink_config_t cfg = mkcfg(tmp);
    cfg.compression = comp;
    cfg.rotate_max_records = 3;
    uint32_t x = seed;
    tenv_t te;
    tenv_init(&te);
    te.check_root = tmp;
    te.check_stream = st;

    /* run 1: records [0, crash1), then "kill -9": destroy without flush */
    void *s = sink_new(&sl_sink_files, &cfg, &te, NULL);
    send_range(s, st, tables, 0, crash1, &x);
    sl_sink_files.destroy(s);
    rset_t rs;
    collect(tmp, &rs);
    *saw_tmp += rs.ntmp;
    size_t complete_lines = rs.n;
    rset_free(&rs);

    /* runs 2 (and 3 after a second crash): resume from some acked position (the
     * committer may have stored any of them, not only the newest) */
    size_t stop = crash2 ? crash2 : st->n;
    sl_pos_t resume;
    const sl_pos_t *rp = NULL;
    for (int run = 0; run < (crash2 ? 2 : 1); run++) {
        if (te.nhist) { /* else the bookmark stays where the previous run left it */
            size_t pick = te.nhist - 1 - rnd(&x) % (te.nhist < 3 ? te.nhist : 3);
            resume = te.hist[pick];
            rp = &resume;
        }
        tenv_reset_acks(&te);
        size_t from = 0;
        while (rp && from < st->n && sl_pos_cmp(&st->v[from].pos, rp) <= 0)
            from++;
        /* records already in complete files are replayed too */
        if (complete_lines && from < crash1)
            (*saw_skip)++;
        s = sink_new(&sl_sink_files, &cfg, &te, rp);
        if (run == 0 && crash2) {
            send_range(s, st, tables, from, stop > from ? stop : from, &x);
            sl_sink_files.destroy(s); /* second crash */
            continue;
        }
        send_range(s, st, tables, from, st->n, &x);
        sink_flush(&sl_sink_files, s);
        sl_sink_files.destroy(s);
    }
    verify_exactly_once(tmp, st);
    tenv_free(&te);
    rm_rf(tmp);
    free(tmp);
}

/* Crash after every step-th record (all of them when step is 1). */
static void replay_all(sl_compression_t comp, size_t n, size_t step, int double_crash)
{
    stream_t st;
    gen_stream(&st, n, 12345);
    sl_table_t *tables[3];
    mk_tables(tables);
    size_t saw_tmp = 0, saw_skip = 0;
    size_t cases = 0;
    for (size_t k = 1; k <= n; k += step) {
        cases++;
        if (double_crash) {
            for (size_t k2 = k + 2; k2 <= n; k2 += 7)
                replay_case(comp, &st, tables, k, k2, (uint32_t)(k * 31 + k2), &saw_tmp,
                            &saw_skip);
        } else {
            replay_case(comp, &st, tables, k, 0, (uint32_t)k, &saw_tmp, &saw_skip);
        }
    }
    /* the scenarios really happened: crashes left temp files behind, and replays went
     * over records that were already in complete files */
    assert_true(saw_tmp > cases / 2);
    assert_true(saw_skip > cases / 4);
    for (int i = 0; i < 3; i++)
        sl_table_free(tables[i]);
    stream_free(&st);
}

static void test_replay_exactly_once(void **state)
{
    replay_all(SL_COMP_NONE, 40, 1, 0);
}

static void test_replay_exactly_once_gzip_zstd(void **state)
{
    replay_all(SL_COMP_GZIP, 30, 4, 0);
    replay_all(SL_COMP_ZSTD, 30, 4, 0);
}

static void test_replay_double_crash(void **state)
{
    replay_all(SL_COMP_NONE, 30, 3, 1);
}

/* Replay when the bookmark lies inside a complete file's range (another topic's open file
 * held the ack back at the first record of that file). */
static void test_replay_resume_inside_file(void **state)
{
    char *tmp = mktemp_dir();
    tenv_t te;
    tenv_init(&te);
    sl_table_t *a = mktable("shop", "public", "A", 1),
               *bt = mktable("shop", "public", "B", 1);
    sl_sink_config_t cfg = mkcfg(tmp);
    cfg.rotate_max_records = 3;
    void *s = sink_new(&sl_sink_files, &cfg, &te, NULL);
    sl_batch_t *b = sl_batch_new();
    char *v[8];
    /* a1 b1 a2 a3 (A's file [a1..a3] completes) a4 */
    const int tab[] = {0, 1, 0, 0, 0};
    for (int i = 0; i < 5; i++) {
        v[i] = keyed_val(tab[i] ? "B" : "A", P(30 + (uint64_t)i, 1));
        add(b, tab[i] ? bt : a, P(30 + (uint64_t)i, 1), T0, v[i]);
    }
    sink_write(&sl_sink_files, s, b);
    /* durable: just before b1, i.e. a1 = (30,1) — inside A's complete file */
    assert_int_equal(sl_pos_cmp(&te.ack, &(sl_pos_t){.major = 30, .index = 1}), 0);
    sl_sink_files.destroy(s);

    sl_pos_t resume = te.ack;
    tenv_reset_acks(&te);
    s = sink_new(&sl_sink_files, &cfg, &te, &resume);
    sl_batch_clear(b);
    for (int i = 1; i < 5; i++)
        add(b, tab[i] ? bt : a, P(30 + (uint64_t)i, 1), T0, v[i]);
    sink_write(&sl_sink_files, s, b);
    sink_flush(&sl_sink_files, s);
    sl_sink_files.destroy(s);
    rset_t rs;
    collect(tmp, &rs);
    assert_int_equal(rs.ntmp, 0);
    assert_int_equal(rs.n, 5);
    for (int i = 0; i < 5; i++)
        assert_int_equal(count_text(&rs, v[i]), 1);
    rset_free(&rs);
    for (int i = 0; i < 5; i++)
        free(v[i]);
    sl_batch_free(b);
    sl_table_free(a);
    sl_table_free(bt);
    tenv_free(&te);
    rm_rf(tmp);
    free(tmp);
}

/* ---------------------------------------------------------------- names */

static size_t count_files_under(const char *dir)
{
    size_t n = 0;
    DIR *d = opendir(dir);
    if (!d)
        return 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
            continue;
        sl_buf_t p = SL_BUF_INIT;
        sl_buf_printf(&p, "%s/%s", dir, de->d_name);
        struct stat st;
        if (lstat(p.data, &st) == 0)
            n += S_ISDIR(st.st_mode) ? count_files_under(p.data) : 1;
        sl_buf_free(&p);
    }
    closedir(d);
    return n;
}

static void test_hostile_names(void **state)
{
    char *tmp = mktemp_dir();
    sl_buf_t root = SL_BUF_INIT;
    sl_buf_printf(&root, "%s/a/b/out", tmp);
    tenv_t te;
    tenv_init(&te);
    struct {
        const char *schema, *name, *dir;
    } cases[] = {
        {"../../etc", "passwd", "shop.%2E%2E%2F%2E%2E%2Fetc.passwd"},
        {"a.b", "c", "shop.a%2Eb.c"},
        {"a", "b.c", "shop.a.b%2Ec"},
        {"x/y", "z", "shop.x%2Fy.z"},
        {"public", "\xc3\xbcn\xc3\xaf", "shop.public.%C3%BCn%C3%AF"},
        {"", "", "shop.%00.%00"},
        {"%41", "x", "shop.%2541.x"},
        {"A", "x", "shop.A.x"},
        {"..", "..", "shop.%2E%2E.%2E%2E"},
    };
    const size_t nc = sizeof(cases) / sizeof(cases[0]);
    sl_table_t *t[16];
    sl_sink_config_t cfg = mkcfg(root.data);
    void *s = sink_new(&sl_sink_files, &cfg, &te, NULL);
    sl_batch_t *b = sl_batch_new();
    char *v[16];
    for (size_t i = 0; i < nc; i++) {
        t[i] = mktable("shop", cases[i].schema, cases[i].name, 1);
        v[i] = keyed_val("h", P(40, (uint32_t)i + 1));
        add(b, t[i], P(40, (uint32_t)i + 1), T0, v[i]);
    }
    sink_write(&sl_sink_files, s, b);
    sink_flush(&sl_sink_files, s);
    sl_sink_files.destroy(s);

    /* everything stayed under <root>: nothing anywhere else in the temp dir */
    assert_int_equal(count_files_under(tmp), count_files_under(root.data));
    rset_t rs;
    collect(root.data, &rs);
    assert_int_equal(rs.nfiles, nc);
    assert_int_equal(rs.n, nc);
    for (size_t i = 0; i < nc; i++) {
        /* each table has its own topic directory, with exactly its line */
        size_t found = 0;
        for (size_t j = 0; j < rs.n; j++) {
            if (!strcmp(rs.v[j].topic, cases[i].dir)) {
                found++;
                assert_string_equal(rs.v[j].text, v[i]);
            }
        }
        if (found != 1)
            fail_msg("topic directory %s holds %zu lines", cases[i].dir, found);
        /* and its schema document, named the same way */
        sl_buf_t p = SL_BUF_INIT;
        sl_buf_printf(&p, "%s/_schemas/%s/v1.json", root.data, cases[i].dir + 5);
        if (!file_exists(p.data))
            fail_msg("missing %s", p.data);
        sl_buf_free(&p);
    }
    rset_free(&rs);
    for (size_t i = 0; i < nc; i++) {
        sl_table_free(t[i]);
        free(v[i]);
    }
    sl_batch_free(b);
    tenv_free(&te);
    rm_rf(tmp);
    free(tmp);
    sl_buf_free(&root);
}

/* ---------------------------------------------------------------- schema documents */

static void test_schema_documents(void **state)
{
    char *tmp = mktemp_dir();
    tenv_t te;
    tenv_init(&te);
    sl_table_t *v1 = mktable("shop", "public", "orders", 1);
    sl_table_t *v2 = mktable("shop", "public", "orders", 2);
    sl_table_add_column(v2, "extra", "bool", 16, -1, SL_JT_BOOL, 2, 0);
    sl_table_t *my = mktable("inv", NULL, "items", 3);
    sl_sink_config_t cfg = mkcfg(tmp);
    void *s = sink_new(&sl_sink_files, &cfg, &te, NULL);
    sl_batch_t *b = sl_batch_new();
    add(b, v1, P(1, 1), T0, "{}");
    add(b, my, P(1, 2), T0, NULL); /* a tombstone still publishes its schema */
    sink_write(&sl_sink_files, s, b);

    sl_buf_t want = SL_BUF_INIT;
    sl_table_to_json(v1, &want);
    sl_buf_putc(&want, '\n');
    char *c = slurp_path("%s/_schemas/public.orders/v1.json", tmp);
    assert_non_null(c);
    assert_string_equal(c, want.data);
    free(c);
    sl_buf_reset(&want);
    sl_table_to_json(my, &want);
    sl_buf_putc(&want, '\n');
    c = slurp_path("%s/_schemas/inv.items/v3.json", tmp);
    assert_non_null(c);
    assert_string_equal(c, want.data);
    free(c);

    /* written once per version: overwrite v1 and see it left alone, in this sink (the
     * version was seen) and in the next one (the document exists) */
    sl_buf_t p = SL_BUF_INIT;
    sl_buf_printf(&p, "%s/_schemas/public.orders/v1.json", tmp);
    FILE *f = fopen(p.data, "w");
    fputs("sentinel", f);
    fclose(f);
    sl_batch_clear(b);
    add(b, v1, P(2, 1), T0, "{}");
    add(b, v2, P(2, 2), T0, "{}");
    sink_write(&sl_sink_files, s, b);
    sink_flush(&sl_sink_files, s);
    sl_sink_files.destroy(s);
    c = slurp_path("%s/_schemas/public.orders/v1.json", tmp);
    assert_string_equal(c, "sentinel");
    free(c);
    sl_buf_reset(&want);
    sl_table_to_json(v2, &want);
    sl_buf_putc(&want, '\n');
    c = slurp_path("%s/_schemas/public.orders/v2.json", tmp);
    assert_non_null(c);
    assert_string_equal(c, want.data);
    free(c);

    s = sink_new(&sl_sink_files, &cfg, &te, NULL);
    sl_batch_clear(b);
    add(b, v1, P(3, 1), T0, "{}");
    sink_write(&sl_sink_files, s, b);
    sink_flush(&sl_sink_files, s);
    sl_sink_files.destroy(s);
    c = slurp_path("%s/_schemas/public.orders/v1.json", tmp);
    assert_string_equal(c, "sentinel");
    free(c);
    /* no temp file left next to the documents */
    sl_buf_reset(&p);
    sl_buf_printf(&p, "%s/_schemas/public.orders", tmp);
    sl_buf_t names = SL_BUF_INIT;
    list_names(p.data, &names);
    assert_string_equal(names.data, "v1.json;v2.json;");
    DIR *d = opendir(p.data);
    struct dirent *de;
    while ((de = readdir(d)) != NULL)
        assert_false(ends_with(de->d_name, ".tmp"));
    closedir(d);

    sl_buf_free(&names);
    sl_buf_free(&p);
    sl_buf_free(&want);
    sl_batch_free(b);
    sl_table_free(v1);
    sl_table_free(v2);
    sl_table_free(my);
    tenv_free(&te);
    rm_rf(tmp);
    free(tmp);
}

/* ---------------------------------------------------------------- bounds and errors */

static void test_open_file_cap(void **state)
{
    char *tmp = mktemp_dir();
    tenv_t te;
    tenv_init(&te);
    enum { NT = SL_FILES_MAX_OPEN + 44 };
    sl_table_t **t = calloc(NT, sizeof(*t));
    sl_sink_config_t cfg = mkcfg(tmp);
    void *s = sink_new(&sl_sink_files, &cfg, &te, NULL);
    sl_batch_t *b = sl_batch_new();
    for (int i = 0; i < NT; i++) {
        char name[32];
        snprintf(name, sizeof(name), "t%03d", i);
        t[i] = mktable("shop", "public", name, 1);
        add(b, t[i], P(50, (uint32_t)i + 1), T0, "{}");
    }
    sink_write(&sl_sink_files, s, b);
    rset_t rs;
    collect(tmp, &rs);
    assert_int_equal(rs.nfiles, NT - SL_FILES_MAX_OPEN); /* the oldest were completed */
    assert_int_equal(rs.ntmp, SL_FILES_MAX_OPEN);
    rset_free(&rs);
    /* durable up to just before the oldest open file's first record */
    assert_int_equal(
        sl_pos_cmp(&te.ack, &(sl_pos_t){.major = 50, .index = NT - SL_FILES_MAX_OPEN}),
        0);
    sink_flush(&sl_sink_files, s);
    sl_sink_files.destroy(s);
    collect(tmp, &rs);
    assert_int_equal(rs.nfiles, NT);
    assert_int_equal(rs.ntmp, 0);
    rset_free(&rs);
    for (int i = 0; i < NT; i++)
        sl_table_free(t[i]);
    free(t);
    sl_batch_free(b);
    tenv_free(&te);
    rm_rf(tmp);
    free(tmp);
}

static void test_errors(void **state)
{
    char *tmp = mktemp_dir();
    tenv_t te;
    tenv_init(&te);
    char err[512] = "";
    void *s = NULL;

    /* the output path is a regular file */
    sl_buf_t p = SL_BUF_INIT;
    sl_buf_printf(&p, "%s/plain", tmp);
    FILE *f = fopen(p.data, "w");
    fclose(f);
    sl_sink_config_t cfg = mkcfg(p.data);
    assert_int_equal(sl_sink_files.create(&cfg, &te.env, NULL, &s, err, sizeof(err)),
                     SL_ERR_IO);
    assert_null(s);
    assert_non_null(strstr(err, p.data));
    /* no path at all */
    cfg.path = NULL;
    assert_int_equal(sl_sink_files.create(&cfg, &te.env, NULL, &s, err, sizeof(err)),
                     SL_ERR_CONFIG);

    /* positions going backwards are a loud error, never an overwrite, and sticky */
    sl_buf_reset(&p);
    sl_buf_printf(&p, "%s/out", tmp);
    cfg = mkcfg(p.data);
    s = sink_new(&sl_sink_files, &cfg, &te, NULL);
    sl_table_t *t = mktable("shop", "public", "orders", 1);
    sl_batch_t *b = sl_batch_new();
    add(b, t, P(9, 2), T0, "{}");
    add(b, t, P(9, 1), T0, "{}");
    assert_int_equal(sl_sink_files.write(s, b, err, sizeof(err)), SL_ERR_SINK);
    assert_non_null(strstr(err, "not after"));
    err[0] = 0;
    assert_int_equal(sl_sink_files.flush(s, err, sizeof(err)), SL_ERR_SINK);
    assert_non_null(strstr(err, "not after"));
    assert_false(te.has_ack);
    sl_sink_files.destroy(s);

    /* a batch end claims (12, DONE) is complete, then a record (12, 1) arrives: the end
     * may have been acked, so the record could be lost by a crash; that is a loud error
     * (a PostgreSQL keepalive at the next commit's LSN once produced exactly this) */
    {
        sl_buf_t p2 = SL_BUF_INIT;
        sl_buf_printf(&p2, "%s/out2", tmp);
        sl_sink_config_t cfg2 = mkcfg(p2.data);
        tenv_t te2;
        tenv_init(&te2);
        void *s2 = sink_new(&sl_sink_files, &cfg2, &te2, NULL);
        sl_batch_clear(b);
        b->has_end = 1;
        b->end = P(12, SL_POS_DONE);
        sink_write(&sl_sink_files, s2, b);
        sl_batch_clear(b);
        add(b, t, P(12, 1), T0, "{}");
        assert_int_equal(sl_sink_files.write(s2, b, err, sizeof(err)), SL_ERR_SINK);
        assert_non_null(strstr(err, "not after"));
        sl_sink_files.destroy(s2);
        tenv_free(&te2);
        sl_buf_free(&p2);
    }

    /* records at or before the resume point are durable already: not written again */
    sl_pos_t resume = P(9, 5);
    s = sink_new(&sl_sink_files, &cfg, &te, &resume);
    sl_batch_clear(b);
    add(b, t, P(9, 4), T0, "{\"old\":1}");
    add(b, t, P(9, 5), T0, "{\"old\":2}");
    add(b, t, P(9, 6), T0, "{\"new\":1}");
    sink_write(&sl_sink_files, s, b);
    sink_flush(&sl_sink_files, s);
    sl_sink_files.destroy(s);
    rset_t rs;
    collect(p.data, &rs);
    assert_int_equal(rs.n, 1);
    assert_string_equal(rs.v[0].text, "{\"new\":1}");
    assert_int_equal(rs.ntmp,
                     0); /* the broken sink's temp file was cleaned by this run */
    rset_free(&rs);

    sl_buf_free(&p);
    sl_batch_free(b);
    sl_table_free(t);
    tenv_free(&te);
    rm_rf(tmp);
    free(tmp);
}

/* ---------------------------------------------------------------- stdout sink */

static void test_stdout_sink(void **state)
{
    char *tmp = mktemp_dir();
    sl_buf_t p = SL_BUF_INIT;
    sl_buf_printf(&p, "%s/stdout.txt", tmp);
    fflush(stdout);
    int saved = dup(1);
    int fd = open(p.data, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    assert_true(saved >= 0 && fd >= 0);
    dup2(fd, 1);
    close(fd);

    tenv_t te;
    tenv_init(&te);
    sl_sink_config_t cfg = mkcfg(tmp);
    cfg.type = "stdout";
    sl_table_t *t = mktable("shop", "public", "orders", 1);
    void *s = sink_new(&sl_sink_stdout, &cfg, &te, NULL);
    sl_batch_t *b = sl_batch_new();
    add(b, t, P(1, 1), T0, "{\"a\":1}");
    add(b, t, P(1, 2), T0, NULL);
    add(b, t, P(1, 3), T0, "{\"a\":2}");
    sink_write(&sl_sink_stdout, s, b);
    int acked1 =
        te.has_ack && sl_pos_cmp(&te.ack, &(sl_pos_t){.major = 1, .index = 3}) == 0;
    sl_batch_clear(b);
    b->has_end = 1;
    b->end = P(1, SL_POS_DONE);
    sink_write(&sl_sink_stdout, s, b);
    int acked2 = sl_pos_cmp(&te.ack, &b->end) == 0;
    size_t nacks = te.nacks;
    sink_flush(&sl_sink_stdout, s); /* nothing new: no repeated ack */
    int acked3 = te.nacks == nacks;
    sl_sink_stdout.destroy(s);

    fflush(stdout);
    dup2(saved, 1);
    close(saved);
    assert_true(acked1);
    assert_true(acked2);
    assert_true(acked3);
    char *c = slurp_path("%s", p.data);
    assert_string_equal(c, "{\"a\":1}\n{\"a\":2}\n");
    free(c);
    sl_buf_free(&p);
    sl_batch_free(b);
    sl_table_free(t);
    tenv_free(&te);
    rm_rf(tmp);
    free(tmp);
}

int main(void)
{
    /* the sink logs replays and cleanups at info; keep test output readable */
    sl_log_setup(0, SL_LOG_WARN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_paths_and_partitions),
        cmocka_unit_test(test_rotation_records_and_bytes),
        cmocka_unit_test(test_rotation_age),
        cmocka_unit_test(test_gzip),
        cmocka_unit_test(test_zstd),
        cmocka_unit_test(test_plain_big_line),
        cmocka_unit_test(test_page_cache_bounded),
        cmocka_unit_test(test_acks_never_inside_open_files),
        cmocka_unit_test(test_batch_end_and_tombstones),
        cmocka_unit_test(test_replay_resume_inside_file),
        cmocka_unit_test(test_replay_exactly_once),
        cmocka_unit_test(test_replay_exactly_once_gzip_zstd),
        cmocka_unit_test(test_replay_double_crash),
        cmocka_unit_test(test_hostile_names),
        cmocka_unit_test(test_schema_documents),
        cmocka_unit_test(test_open_file_cap),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_stdout_sink),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
