/* sluice: the partitioned file sink: JSON lines of envelopes, optionally gzip or zstd,
 * in <path>/<topic>/year=/month=/day=[/hour=]/ directories, with exactly-once files.
 *
 * How exactly-once works (contract 3.2):
 *  - Each topic has at most one open file. It is written under ".<first key>.jsonl.tmp"
 *    and, when complete (size, record count, age, a new partition directory, too many
 *    open files, flush), its compressor is finished, it is fsync'd, renamed to
 *    "<first key>_<last key>.jsonl[.gz|.zst]" and the directory is fsync'd. The keys
 *    are sl_pos_key() of the first and last record's positions, so names sort in
 *    stream order.
 *  - Completing a file (fsync, rename, fsync of the directory) happens on the sink's
 *    closer thread, so the sink thread goes on writing the next file meanwhile; at most
 *    CLOSING_MAX files wait for it, then the sink thread waits (the disk sets the pace).
 *    The closer completes files in the order they were handed over.
 *  - The durable point acked to the core is never inside an open or completing file: with
 *    such files it is the position seen just before the first record of the oldest of
 *    them; with none it is the last position seen (a record, or the batch end). Files the
 *    closer completed are acked from the sink thread, which the closer wakes
 *    (sl_sink_env_t.wake).
 *  - After a crash the source replays from the stored bookmark, which may lie before (or
 *    inside the range of) files another topic's open file kept unacknowledged. Before a
 *    record opens a new file, the directory's complete files (listed once per directory
 *    and cached) are searched for one whose [first, last] range holds the record's
 *    position; if found, that record and every following record of the topic up to the
 *    file's last position are already on disk and are skipped. A range test, not a
 *    "name starts with this key" test: the bookmark can fall inside a complete file (A's
 *    file took a1..a5 while B's file, opened after a1, held the ack at a1), and then the
 *    first replayed record of A is a2. Temp files found when a directory is first
 *    listed are from a crash and are deleted.
 *  - Records at or before the resume position are durable by definition and dropped; a
 *    record whose position is not after the last position seen (record or batch end) is
 *    a fatal error: that position may have been acked already, and equal positions
 *    would make two files with one name (a source bug either way).
 *
 * Schema documents: the first time a table version is seen,
 * <path>/_schemas/<enc(schema or db)>.<enc(table)>/v<version>.json is written atomically,
 * unless it exists.
 *
 * Memory: per open compressed file one 64 KiB buffer plus its compressor (gzip ~270 KB,
 * zstd level 3 up to ~3.6 MB); a plain file writes its lines straight from the batch
 * with writev (4 KiB of iovecs, emptied before each write call returns); at most
 * SL_FILES_MAX_OPEN files; a small entry per topic and table
 * version; directory listings for at most DIR_CACHE_MAX directories. Page cache: about
 * DROP_LAG_BYTES per open file, however big it grows (ffile_hint).
 *
 * Names: every component (topic prefix, schema or database, table) is percent-encoded on
 * its own (bytes outside [A-Za-z0-9_-] become %XX, an empty component is "%00") and the
 * components are joined with '.'. An encoded component never holds '.', '/' or '%'
 * unescaped, so the join is injective ("a.b"+"c" and "a"+"b.c" differ) and no name can be
 * "..", contain '/', or leave <path>; plain names ("shop.public.orders") stay readable.
 *
 * Threading: every callback runs on the sink thread. The closer thread shares only the
 * list of files handed to it, the list it completed and its failure (files_sink.cmu). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>
#include "config/config.h"
#include "core/hash.h"
#include "core/log.h"
#include "core/fsio.h"
#include "sinks/files/files.h"

#define OUTBUF_SIZE (64 * 1024) /* per open file: compressor output */
#define IOV_N 256 /* plain files: lines gathered for one writev, straight from the batch */
#define WRITEBACK_BYTES (2u << 20) /* a file's writeback starts this often (ffile_hint) */
#define DROP_LAG_BYTES (16u << 20) /* and is dropped from the cache this far behind */
#define DIR_CACHE_MAX 1024      /* directory listings kept (LRU beyond that) */
#define CLOSING_MAX 4           /* files handed to the closer thread and not yet complete */
#define HOUR_MS INT64_C(3600000)
#define DAY_MS INT64_C(86400000)
/* 0000-01-01 .. 9999-12-31: keeps partition arithmetic and gmtime in range */
#define TS_MIN INT64_C(-62167219200000)
#define TS_MAX INT64_C(253402300799999)

/* A complete file found in a directory listing: the range of positions it holds. */
typedef struct done_file {
    sl_pos_t first, last;
    char *name; /* owned, for the "skipping" log line */
} done_file_t;

/* One partition directory's listing, taken when the directory is first touched. */
typedef struct dir_entry {
    char *path; /* owned */
    uint64_t hash;
    done_file_t *files; /* owned, sorted by first */
    size_t nfiles;
    uint64_t used; /* LRU stamp */
} dir_entry_t;

typedef struct topic topic_t;

/* One open (temporary) file. */
typedef struct ffile {
    topic_t *topic;
    size_t slot;  /* index in sink->open */
    uint64_t seq; /* open order: the smallest is the oldest */
    int fd;
    int64_t part_lo, part_hi; /* ts_ms window of its partition directory */
    sl_pos_t prev;            /* the position seen just before its first record */
    int prev_valid;           /* 0: nothing was seen before it (fresh start) */
    sl_pos_t first, last;
    int64_t opened_ms;
    int64_t bytes, records; /* uncompressed bytes and lines written */
    sl_buf_t dir;           /* partition directory */
    sl_buf_t tmp;           /* full temp path */
    z_stream z;
    int z_init;
    ZSTD_CStream *zs;
    unsigned char *out; /* compressed: OUTBUF_SIZE bytes waiting for write(2) */
    size_t outlen;
    struct iovec *iov; /* plain: IOV_N pieces of the batch being written, for writev(2) */
    int niov;
    uint64_t written;         /* bytes written */
    uint64_t hinted, dropped; /* handed to writeback; then dropped (ffile_hint) */
    int no_hint;              /* no sync_file_range here: the fsync does it all */
    int wb_failed;            /* the failure was the kernel's writeback (ffile_hint) */
    sl_buf_t final;           /* the complete name, once handed to the closer */
    struct ffile *cnext;      /* closer lists */
} ffile_t;

struct topic {
    char *name; /* owned: the encoded topic, one path segment */
    uint64_t hash;
    topic_t *next; /* hash chain */
    ffile_t *open;
    /* replay: records up to skip_last are already in the complete file skip_file */
    int skipping;
    sl_pos_t skip_last;
    uint64_t skip_count;
    char *skip_file; /* owned while skipping */
};

/* A table version (schema cache pointer) that has been seen: its topic. */
typedef struct tver {
    const sl_table_t *table;
    topic_t *topic;
    struct tver *next;
} tver_t;

typedef struct files_sink {
    sl_sink_env_t *env;
    const char *conn; /* connector name for log lines, borrowed from env */
    char *root;       /* owned copy of cfg->path, no trailing '/' */
    char *prefix;     /* owned copy of the (unencoded) topic prefix */
    sl_compression_t comp;
    sl_partition_t part;
    int64_t max_bytes, max_records, max_ms; /* <= 0: no limit */

    topic_t **topics; /* hash by name */
    size_t ntopics, topic_buckets;
    tver_t **tvers; /* hash by table pointer */
    size_t ntvers, tver_buckets;
    const sl_table_t *last_table; /* one-entry cache in front of tvers */
    tver_t *last_tver;

    ffile_t *open[SL_FILES_MAX_OPEN];
    size_t nopen;
    uint64_t open_seq;

    dir_entry_t *dirs;
    size_t ndirs;
    uint64_t dir_clock;

    sl_pos_t resume;
    int has_resume;
    int had_record; /* a record after the resume point has arrived */
    sl_pos_t seen;  /* the last position handled (record or batch end) */
    int has_seen;
    sl_pos_t acked;
    int has_acked;
    uint64_t resume_skipped; /* records at or before the resume point (already durable) */

    sl_buf_t path;    /* scratch for building paths */
    sl_buf_t scratch; /* scratch for names and schema documents */

    sl_err_t broken; /* after an I/O failure nothing more is written or acked */
    char broken_msg[512];

    /* the closer thread: completes handed-over files in order (see the top of the file) */
    pthread_mutex_t cmu;
    pthread_cond_t ccv; /* work for the closer; room, or an empty list, for the sink */
    pthread_t closer;
    int closer_started, closer_stop;
    ffile_t *chead, *ctail; /* handed over, oldest first; the head may be in progress */
    size_t nclosing;
    ffile_t *cdone;         /* complete (or dropped after a failure), not yet freed */
    sl_err_t cerr;          /* the closer's first failure */
    char cerr_msg[512];
} files_sink_t;

/* ---------------------------------------------------------------- small helpers */

static char *xstrdup(const char *s)
{
    char *d = strdup(s);
    if (!d)
        abort();
    return d;
}

static void *xcalloc(size_t n, size_t sz)
{
    void *p = calloc(n, sz);
    if (!p)
        abort();
    return p;
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    if (a % b != 0 && (a < 0) != (b < 0))
        q--;
    return q;
}

/* Percent-encode one name component (see the top of the file for why per component). */
static void enc_component(sl_buf_t *out, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    if (!s || !*s) {
        /* "%00" cannot come from any non-empty C string, so "" stays distinct and a
         * name made only of separators can never be "." or ".." */
        sl_buf_puts(out, "%00");
        return;
    }
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        unsigned char c = *p;
        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
            c == '_' || c == '-') {
            sl_buf_putc(out, (char)c);
        } else {
            sl_buf_putc(out, '%');
            sl_buf_putc(out, hex[c >> 4]);
            sl_buf_putc(out, hex[c & 15]);
        }
    }
}

static const char *table_space(const sl_table_t *t)
{
    return t->schema ? t->schema : t->db;
}

static const char *comp_ext(sl_compression_t c)
{
    return c == SL_COMP_GZIP ? ".gz" : c == SL_COMP_ZSTD ? ".zst" : "";
}

/* Record the first fatal failure: from then on the sink neither writes nor acks, so a
 * full disk can never turn into an acknowledged-but-missing record. */
static sl_err_t fail(files_sink_t *s, sl_err_t rc, char *err, size_t errlen,
                     const char *fmt, ...) __attribute__((format(printf, 5, 6)));
static sl_err_t fail(files_sink_t *s, sl_err_t rc, char *err, size_t errlen,
                     const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char msg[sizeof(s->broken_msg)];
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (!s->broken) {
        s->broken = rc;
        snprintf(s->broken_msg, sizeof(s->broken_msg), "%s", msg);
    }
    return sl_err_set(err, errlen, rc, "%s", msg);
}

/* A write to f failed (errno says why): "cannot write", or "cannot write back" when the
 * kernel's writeback failed (ffile_hint). */
static sl_err_t fail_write(files_sink_t *s, const ffile_t *f, char *err, size_t errlen)
{
    return fail(s, SL_ERR_IO, err, errlen, "cannot %s %s: %s",
                f->wb_failed ? "write back" : "write", f->tmp.data, strerror(errno));
}


/* rename that refuses to replace: an existing final name means positions did not
 * increase, and overwriting would lose the file already there. */
static int rename_noreplace(const char *from, const char *to)
{
#ifdef RENAME_NOREPLACE
    if (renameat2(AT_FDCWD, from, AT_FDCWD, to, RENAME_NOREPLACE) == 0)
        return 0;
    if (errno != EINVAL && errno != ENOSYS && errno != ENOTSUP)
        return -1;
#endif
    struct stat st;
    if (lstat(to, &st) == 0) {
        errno = EEXIST;
        return -1;
    }
    return rename(from, to);
}

/* ---------------------------------------------------------------- topics and tables */

static void grow_topics(files_sink_t *s)
{
    size_t nb = s->topic_buckets ? s->topic_buckets * 2 : 64;
    topic_t **b = xcalloc(nb, sizeof(*b));
    for (size_t i = 0; i < s->topic_buckets; i++) {
        for (topic_t *t = s->topics[i], *next; t; t = next) {
            next = t->next;
            t->next = b[t->hash & (nb - 1)];
            b[t->hash & (nb - 1)] = t;
        }
    }
    free(s->topics);
    s->topics = b;
    s->topic_buckets = nb;
}

static void grow_tvers(files_sink_t *s)
{
    size_t nb = s->tver_buckets ? s->tver_buckets * 2 : 64;
    tver_t **b = xcalloc(nb, sizeof(*b));
    for (size_t i = 0; i < s->tver_buckets; i++) {
        for (tver_t *v = s->tvers[i], *next; v; v = next) {
            next = v->next;
            uint64_t h = sl_ptr_hash(v->table) & (nb - 1);
            v->next = b[h];
            b[h] = v;
        }
    }
    free(s->tvers);
    s->tvers = b;
    s->tver_buckets = nb;
}

/* The topic for a table: "<enc(prefix)>.<enc(schema or db)>.<enc(name)>". */
static topic_t *topic_for(files_sink_t *s, const sl_table_t *table)
{
    sl_buf_reset(&s->scratch);
    enc_component(&s->scratch, s->prefix);
    sl_buf_putc(&s->scratch, '.');
    enc_component(&s->scratch, table_space(table));
    sl_buf_putc(&s->scratch, '.');
    enc_component(&s->scratch, table->name);
    uint64_t h = sl_fnv64(SL_FNV64_INIT, s->scratch.data, s->scratch.len);
    if (s->topic_buckets) {
        for (topic_t *t = s->topics[h & (s->topic_buckets - 1)]; t; t = t->next)
            if (t->hash == h && strcmp(t->name, s->scratch.data) == 0)
                return t;
    }
    if (s->ntopics >= s->topic_buckets)
        grow_topics(s);
    topic_t *t = xcalloc(1, sizeof(*t));
    t->name = xstrdup(s->scratch.data);
    t->hash = h;
    t->next = s->topics[h & (s->topic_buckets - 1)];
    s->topics[h & (s->topic_buckets - 1)] = t;
    s->ntopics++;
    return t;
}

/* Publish the schema document of a table version once:
 * <path>/_schemas/<enc(schema or db)>.<enc(table)>/v<version>.json. An existing document
 * is left alone (a restart, or the same version from a replay). */
static sl_err_t write_schema(files_sink_t *s, const sl_table_t *t, char *err,
                             size_t errlen)
{
    /* once per table version: plain allocations are fine here */
    sl_buf_t dir = SL_BUF_INIT, final = SL_BUF_INIT, tmp = SL_BUF_INIT, doc = SL_BUF_INIT;
    sl_err_t rc = SL_OK;
    sl_buf_puts(&dir, s->root);
    sl_buf_puts(&dir, "/_schemas/");
    enc_component(&dir, table_space(t));
    sl_buf_putc(&dir, '.');
    enc_component(&dir, t->name);
    if (sl_mkdir_p(dir.data) < 0) {
        rc = fail(s, SL_ERR_IO, err, errlen, "cannot create the schema directory %s: %s",
                  dir.data, strerror(errno));
        goto out;
    }
    sl_buf_printf(&final, "%s/v%" PRIu32 ".json", dir.data, t->version);
    struct stat st;
    if (stat(final.data, &st) == 0)
        goto out;
    sl_buf_printf(&tmp, "%s/.v%" PRIu32 ".json.tmp", dir.data, t->version);
    sl_table_to_json(t, &doc);
    sl_buf_putc(&doc, '\n');
    struct iovec v = {doc.data, doc.len};
    if (sl_write_atomic(dir.data, tmp.data, final.data, &v, 1) < 0)
        rc = fail(s, SL_ERR_IO, err, errlen, "cannot write the schema document %s: %s",
                  final.data, strerror(errno));
out:
    sl_buf_free(&dir);
    sl_buf_free(&final);
    sl_buf_free(&tmp);
    sl_buf_free(&doc);
    return rc;
}

/* The table version's entry; the first sighting of a version publishes its schema. */
static sl_err_t tver_for(files_sink_t *s, const sl_table_t *table, tver_t **out,
                         char *err, size_t errlen)
{
    if (table == s->last_table) {
        *out = s->last_tver;
        return SL_OK;
    }
    uint64_t h = sl_ptr_hash(table);
    if (s->tver_buckets) {
        for (tver_t *v = s->tvers[h & (s->tver_buckets - 1)]; v; v = v->next) {
            if (v->table == table) {
                s->last_table = table;
                s->last_tver = *out = v;
                return SL_OK;
            }
        }
    }
    sl_err_t rc = write_schema(s, table, err, errlen);
    if (rc)
        return rc;
    if (s->ntvers >= s->tver_buckets)
        grow_tvers(s);
    tver_t *v = xcalloc(1, sizeof(*v));
    v->table = table;
    v->topic = topic_for(s, table);
    v->next = s->tvers[h & (s->tver_buckets - 1)];
    s->tvers[h & (s->tver_buckets - 1)] = v;
    s->ntvers++;
    s->last_table = table;
    s->last_tver = *out = v;
    return SL_OK;
}

/* ---------------------------------------------------------------- directory listings */

/* "<16 hex>-<8 hex>_<16 hex>-<8 hex>.jsonl[.gz|.zst]" -> its range. */
static int parse_done_name(const char *name, sl_pos_t *first, sl_pos_t *last)
{
    size_t n = strlen(name);
    const size_t k = SL_POS_KEY_LEN;
    if (n < 2 * k + 1 + 6 || name[k] != '_')
        return -1;
    const char *ext = name + 2 * k + 1;
    if (strcmp(ext, ".jsonl") != 0 && strcmp(ext, ".jsonl.gz") != 0 &&
        strcmp(ext, ".jsonl.zst") != 0)
        return -1;
    if (sl_pos_key_parse(name, k, first) < 0 ||
        sl_pos_key_parse(name + k + 1, k, last) < 0)
        return -1;
    return 0;
}

static int is_temp_name(const char *name)
{
    size_t n = strlen(name);
    return name[0] == '.' && n > 5 && strcmp(name + n - 4, ".tmp") == 0;
}

static int done_cmp(const void *a, const void *b)
{
    return sl_pos_cmp(&((const done_file_t *)a)->first, &((const done_file_t *)b)->first);
}

static void dir_entry_clear(dir_entry_t *d)
{
    for (size_t i = 0; i < d->nfiles; i++)
        free(d->files[i].name);
    free(d->files);
    free(d->path);
    memset(d, 0, sizeof(*d));
}

/* Is `name` in `dir` the temp file of one of our own open files? */
static int is_our_temp(files_sink_t *s, const char *dir, const char *name)
{
    size_t dl = strlen(dir);
    for (size_t i = 0; i < s->nopen; i++) {
        const sl_buf_t *t = &s->open[i]->tmp;
        if (t->len > dl && memcmp(t->data, dir, dl) == 0 && t->data[dl] == '/' &&
            strcmp(t->data + dl + 1, name) == 0)
            return 1;
    }
    return 0;
}

/* List a directory once: delete stale temp files (a crash's leftovers, never complete)
 * and remember the complete files that may hold replayed records (last > resume). */
static sl_err_t dir_scan(files_sink_t *s, dir_entry_t *d, char *err, size_t errlen)
{
    DIR *dh = opendir(d->path);
    if (!dh)
        return fail(s, SL_ERR_IO, err, errlen, "cannot list the directory %s: %s",
                    d->path, strerror(errno));
    size_t cap = 0;
    struct dirent *de;
    errno = 0;
    while ((de = readdir(dh)) != NULL) {
        sl_pos_t first, last;
        if (is_temp_name(de->d_name)) {
            /* after an LRU eviction the directory is listed again: keep our own temps */
            if (is_our_temp(s, d->path, de->d_name))
                continue;
            if (unlinkat(dirfd(dh), de->d_name, 0) == 0)
                sl_info(s->conn,
                        "removed the stale temporary file %s/%s (left by a crash)",
                        d->path, de->d_name);
            else if (errno != ENOENT)
                sl_warn(s->conn, "cannot remove the stale temporary file %s/%s: %s",
                        d->path, de->d_name, strerror(errno));
        } else if (parse_done_name(de->d_name, &first, &last) == 0) {
            if (s->has_resume && sl_pos_cmp(&last, &s->resume) <= 0)
                continue; /* wholly before the resume point: cannot be replayed into */
            if (d->nfiles == cap) {
                cap = cap ? cap * 2 : 16;
                done_file_t *f = realloc(d->files, cap * sizeof(*f));
                if (!f)
                    abort();
                d->files = f;
            }
            d->files[d->nfiles].first = first;
            d->files[d->nfiles].last = last;
            d->files[d->nfiles].name = xstrdup(de->d_name);
            d->nfiles++;
        }
        errno = 0;
    }
    int e = errno;
    closedir(dh);
    if (e)
        return fail(s, SL_ERR_IO, err, errlen, "cannot list the directory %s: %s",
                    d->path, strerror(e));
    if (d->nfiles > 1)
        qsort(d->files, d->nfiles, sizeof(*d->files), done_cmp);
    return SL_OK;
}

/* The cached listing of dir, creating the directory and listing it on first touch. */
static sl_err_t dir_touch(files_sink_t *s, const char *dir, dir_entry_t **out, char *err,
                          size_t errlen)
{
    uint64_t h = sl_fnv64(SL_FNV64_INIT, dir, strlen(dir));
    size_t victim = 0;
    for (size_t i = 0; i < s->ndirs; i++) {
        if (s->dirs[i].path && s->dirs[i].hash == h &&
            strcmp(s->dirs[i].path, dir) == 0) {
            s->dirs[i].used = ++s->dir_clock;
            *out = &s->dirs[i];
            return SL_OK;
        }
        if (s->dirs[i].used < s->dirs[victim].used)
            victim = i;
    }
    dir_entry_t *d;
    if (s->ndirs < DIR_CACHE_MAX) {
        if (!s->dirs)
            s->dirs = xcalloc(DIR_CACHE_MAX, sizeof(*s->dirs));
        d = &s->dirs[s->ndirs++];
    } else {
        d = &s->dirs[victim];
        dir_entry_clear(d);
    }
    d->path = xstrdup(dir);
    d->hash = h;
    d->used = ++s->dir_clock;
    if (sl_mkdir_p(d->path) < 0) {
        sl_err_t rc =
            fail(s, SL_ERR_IO, err, errlen, "cannot create the directory %s: %s", d->path,
                 strerror(errno));
        dir_entry_clear(d); /* an empty slot (path NULL) never matches */
        return rc;
    }
    sl_err_t rc = dir_scan(s, d, err, errlen);
    if (rc) {
        dir_entry_clear(d);
        return rc;
    }
    *out = d;
    return SL_OK;
}

/* The complete file in d whose range holds pos, or NULL. */
static const done_file_t *dir_find(const dir_entry_t *d, const sl_pos_t *pos)
{
    size_t lo = 0, hi = d->nfiles; /* find the last file with first <= pos */
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (sl_pos_cmp(&d->files[mid].first, pos) <= 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo == 0)
        return NULL;
    const done_file_t *f = &d->files[lo - 1];
    return sl_pos_cmp(pos, &f->last) <= 0 ? f : NULL;
}

/* ---------------------------------------------------------------- open files */

static void ffile_free(ffile_t *f)
{
    if (!f)
        return;
    if (f->fd >= 0)
        close(f->fd);
    if (f->z_init)
        deflateEnd(&f->z);
    ZSTD_freeCStream(f->zs);
    free(f->out);
    free(f->iov);
    sl_buf_free(&f->dir);
    sl_buf_free(&f->tmp);
    sl_buf_free(&f->final);
    free(f);
}

#ifdef SYNC_FILE_RANGE_WRITE
static int unsupported(int e)
{
    return e == EINVAL || e == ENOSYS || e == ESPIPE || e == EOPNOTSUPP;
}
#endif

/* A streaming writer's page cache (the pattern of PostgreSQL's flush-after settings):
 * every WRITEBACK_BYTES, start the kernel's writeback of what was written, without
 * waiting for it, so the disk is busy all along and the fsync that completes the file
 * has little left to do; and once a range was handed over DROP_LAG_BYTES ago (its
 * writeback is done by then, so the wait seldom waits), wait for it and drop it from
 * the page cache. A file's cached pages thus stay near DROP_LAG_BYTES instead of growing
 * with everything written: in a container the page cache counts against the memory
 * limit, and the kernel reuses the same warm pages instead of taking (on a VM,
 * first-touching) fresh ones and reclaiming old ones later, which cost more system time
 * than the copy itself (BENCHMARKS.md, MariaDB, "page cache").
 * Starting writeback never waits and never fails the write: it may refuse under memory
 * pressure (ENOMEM), and what it finds wrong stays for the fsync to report. The wait
 * reports a failed writeback and uses up that report for this descriptor (a later fsync
 * would not see it again), so its failure fails the write (f->wb_failed says which).
 * Where the calls are not supported (EINVAL, ENOSYS, ESPIPE, EOPNOTSUPP) the pages stay
 * until the fsync. Returns -1 with errno set on a writeback failure. */
static int ffile_hint(ffile_t *f)
{
#ifdef SYNC_FILE_RANGE_WRITE
    if (f->no_hint || f->written - f->hinted < WRITEBACK_BYTES)
        return 0;
    if (sync_file_range(f->fd, (off_t)f->hinted, (off_t)(f->written - f->hinted),
                        SYNC_FILE_RANGE_WRITE) < 0 &&
        unsupported(errno)) {
        f->no_hint = 1;
        return 0;
    }
    f->hinted = f->written;
    if (f->hinted - f->dropped < DROP_LAG_BYTES + WRITEBACK_BYTES)
        return 0;
    uint64_t end = f->hinted - DROP_LAG_BYTES; /* the latest windows stay in flight */
    if (sync_file_range(f->fd, (off_t)f->dropped, (off_t)(end - f->dropped),
                        SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WRITE |
                            SYNC_FILE_RANGE_WAIT_AFTER) < 0) {
        if (unsupported(errno)) {
            f->no_hint = 1;
            return 0;
        }
        f->wb_failed = 1;
        return -1;
    }
    (void)posix_fadvise(f->fd, (off_t)f->dropped, (off_t)(end - f->dropped),
                        POSIX_FADV_DONTNEED); /* only a hint: pages stay if it fails */
    f->dropped = end;
    return 0;
#else
    (void)f;
    return 0;
#endif
}

/* Write the pieces in full (retrying short writes and EINTR), then hint writeback. */
static int ffile_writev(ffile_t *f, struct iovec *v, int n)
{
    if (sl_writev_all(f->fd, v, n, &f->written) < 0)
        return -1;
    return ffile_hint(f);
}

static int ffile_write(ffile_t *f, const void *p, size_t n)
{
    struct iovec v = {(void *)(uintptr_t)p, n};
    return ffile_writev(f, &v, 1);
}

/* Plain files: write the gathered lines (pointers into the batch, so this runs before
 * files_write returns). */
static int ffile_write_lines(ffile_t *f)
{
    int n = f->niov;
    f->niov = 0;
    return ffile_writev(f, f->iov, n);
}

/* One line of a plain file, written from where it lies (the batch) at the next writev. */
static int ffile_line(ffile_t *f, const char *p, size_t n)
{
    static const char nl = '\n';
    if (f->niov + 2 > IOV_N && ffile_write_lines(f) < 0)
        return -1;
    f->iov[f->niov++] = (struct iovec){(void *)(uintptr_t)p, n};
    f->iov[f->niov++] = (struct iovec){(void *)(uintptr_t)&nl, 1};
    return 0;
}

static int ffile_drain(ffile_t *f)
{
    if (f->outlen && ffile_write(f, f->out, f->outlen) < 0)
        return -1;
    f->outlen = 0;
    return 0;
}

/* Feed bytes through the file's compressor (or straight into its buffer).
 * Returns -1 with errno set on a write failure; compressor failures set EIO. */
static int ffile_put(ffile_t *f, const void *p, size_t n, int finish)
{
    if (f->z_init) {
        f->z.next_in = (Bytef *)(uintptr_t)p;
        f->z.avail_in = (uInt)n;
        for (;;) {
            f->z.next_out = f->out + f->outlen;
            f->z.avail_out = (uInt)(OUTBUF_SIZE - f->outlen);
            int zr = deflate(&f->z, finish ? Z_FINISH : Z_NO_FLUSH);
            f->outlen = OUTBUF_SIZE - f->z.avail_out;
            if (zr == Z_STREAM_ERROR) {
                errno = EIO;
                return -1;
            }
            if (f->outlen == OUTBUF_SIZE && ffile_drain(f) < 0)
                return -1;
            if (finish ? zr == Z_STREAM_END : f->z.avail_in == 0 && f->z.avail_out > 0)
                return 0;
        }
    }
    if (f->zs) {
        ZSTD_inBuffer in = {p, n, 0};
        for (;;) {
            ZSTD_outBuffer out = {f->out, OUTBUF_SIZE, f->outlen};
            size_t left = ZSTD_compressStream2(f->zs, &out, &in,
                                               finish ? ZSTD_e_end : ZSTD_e_continue);
            f->outlen = out.pos;
            if (ZSTD_isError(left)) {
                errno = EIO;
                return -1;
            }
            if (f->outlen == OUTBUF_SIZE && ffile_drain(f) < 0)
                return -1;
            if (finish ? left == 0 : in.pos == in.size)
                return 0;
        }
    }
    if (n == 0)
        return 0; /* finishing a plain file: nothing is buffered inside a compressor */
    if (f->outlen + n > OUTBUF_SIZE && ffile_drain(f) < 0)
        return -1;
    if (n >= OUTBUF_SIZE)
        return ffile_write(f, p, n); /* a huge line: skip the copy */
    memcpy(f->out + f->outlen, p, n);
    f->outlen += n;
    return 0;
}

static void open_remove(files_sink_t *s, ffile_t *f)
{
    size_t i = f->slot;
    s->open[i] = s->open[--s->nopen];
    s->open[i]->slot = i;
    s->open[s->nopen] = NULL;
    f->topic->open = NULL;
}

/* The closer thread's part of completing a file: fsync, close, rename to the final name,
 * fsync the directory. msg gets the failure. */
static sl_err_t ffile_finish_io(ffile_t *f, char *msg, size_t msglen)
{
    if (fsync(f->fd) < 0)
        return sl_err_set(msg, msglen, SL_ERR_IO, "cannot fsync %s: %s", f->tmp.data,
                          strerror(errno));
    int rc = close(f->fd);
    f->fd = -1;
    if (rc < 0)
        return sl_err_set(msg, msglen, SL_ERR_IO, "cannot close %s: %s", f->tmp.data,
                          strerror(errno));
    if (rename_noreplace(f->tmp.data, f->final.data) < 0) {
        if (errno == EEXIST)
            return sl_err_set(
                msg, msglen, SL_ERR_SINK,
                "cannot complete %s: the file already exists, so record positions "
                "did not increase (a source bug); nothing was overwritten",
                f->final.data);
        return sl_err_set(msg, msglen, SL_ERR_IO, "cannot rename %s to %s: %s",
                          f->tmp.data, f->final.data, strerror(errno));
    }
    if (sl_fsync_dir(f->dir.data) < 0)
        return sl_err_set(msg, msglen, SL_ERR_IO, "cannot fsync the directory %s: %s",
                          f->dir.data, strerror(errno));
    return SL_OK;
}

static void *closer_main(void *arg)
{
    files_sink_t *s = arg;
    char msg[sizeof(s->cerr_msg)];
    pthread_mutex_lock(&s->cmu);
    for (;;) {
        while (!s->chead && !s->closer_stop)
            pthread_cond_wait(&s->ccv, &s->cmu);
        ffile_t *f = s->chead;
        if (!f)
            break; /* stopping, and nothing is left */
        sl_err_t rc = s->cerr; /* after a failure the rest stay temporary, as in a crash */
        pthread_mutex_unlock(&s->cmu);
        if (!rc) {
            rc = ffile_finish_io(f, msg, sizeof(msg));
            if (!rc)
                sl_debug(s->conn, "completed %s (%" PRId64 " records, %" PRId64 " bytes)",
                         f->final.data, f->records, f->bytes);
        }
        pthread_mutex_lock(&s->cmu);
        if (rc && !s->cerr) {
            s->cerr = rc;
            memcpy(s->cerr_msg, msg, sizeof(msg));
        }
        s->chead = f->cnext;
        if (!s->chead)
            s->ctail = NULL;
        s->nclosing--;
        f->cnext = s->cdone;
        s->cdone = f;
        pthread_cond_broadcast(&s->ccv);
        pthread_mutex_unlock(&s->cmu);
        if (s->env->wake)
            s->env->wake(s->env); /* the sink thread acks it */
        pthread_mutex_lock(&s->cmu);
    }
    pthread_mutex_unlock(&s->cmu);
    return NULL;
}

/* Free what the closer finished and take on its failure. Sink thread. */
static sl_err_t closer_reap(files_sink_t *s, char *err, size_t errlen)
{
    if (!s->closer_started)
        return SL_OK;
    pthread_mutex_lock(&s->cmu);
    ffile_t *done = s->cdone;
    s->cdone = NULL;
    sl_err_t rc = s->cerr;
    char msg[sizeof(s->cerr_msg)];
    if (rc)
        memcpy(msg, s->cerr_msg, sizeof(msg));
    pthread_mutex_unlock(&s->cmu);
    while (done) {
        ffile_t *next = done->cnext;
        ffile_free(done);
        done = next;
    }
    if (rc)
        return fail(s, rc, err, errlen, "%s", msg);
    return SL_OK;
}

/* Wait until the closer has no file left, then reap. Sink thread. */
static sl_err_t closer_drain(files_sink_t *s, char *err, size_t errlen)
{
    if (!s->closer_started)
        return SL_OK;
    pthread_mutex_lock(&s->cmu);
    while (s->nclosing)
        pthread_cond_wait(&s->ccv, &s->cmu);
    pthread_mutex_unlock(&s->cmu);
    return closer_reap(s, err, errlen);
}

/* Finish the file's compressor and write what is left, then hand it to the closer thread
 * (fsync, rename to the final name, fsync the directory), waiting while CLOSING_MAX files
 * are ahead of it. From here on it is not open: its records stay unacknowledged until
 * the closer has completed it. On failure the sink is broken and the file stays open
 * (and temporary) until destroy. */
static sl_err_t ffile_complete(files_sink_t *s, ffile_t *f, char *err, size_t errlen)
{
    if ((f->niov && ffile_write_lines(f) < 0) || ffile_put(f, NULL, 0, 1) < 0 ||
        ffile_drain(f) < 0)
        return fail_write(s, f, err, errlen);
    if (!s->closer_started) {
        if (pthread_create(&s->closer, NULL, closer_main, s) != 0)
            return fail(s, SL_ERR_NOMEM, err, errlen,
                        "cannot start the files sink's closer thread");
        s->closer_started = 1;
    }
    char k1[SL_POS_KEY_LEN + 1], k2[SL_POS_KEY_LEN + 1];
    sl_pos_key(&f->first, k1);
    sl_pos_key(&f->last, k2);
    sl_buf_reset(&f->final);
    sl_buf_append(&f->final, f->dir.data, f->dir.len);
    sl_buf_printf(&f->final, "/%s_%s.jsonl%s", k1, k2, comp_ext(s->comp));
    /* the compressor and the buffer are done with: a waiting file holds only its fd */
    if (f->z_init)
        deflateEnd(&f->z);
    f->z_init = 0;
    ZSTD_freeCStream(f->zs);
    f->zs = NULL;
    free(f->out);
    f->out = NULL;
    free(f->iov);
    f->iov = NULL;
    pthread_mutex_lock(&s->cmu);
    while (s->nclosing >= CLOSING_MAX && !s->cerr)
        pthread_cond_wait(&s->ccv, &s->cmu);
    open_remove(s, f);
    f->cnext = NULL;
    if (s->ctail)
        s->ctail->cnext = f;
    else
        s->chead = f;
    s->ctail = f;
    s->nclosing++;
    pthread_cond_broadcast(&s->ccv);
    pthread_mutex_unlock(&s->cmu);
    return closer_reap(s, err, errlen);
}

static ffile_t *oldest_open(files_sink_t *s)
{
    ffile_t *o = NULL;
    for (size_t i = 0; i < s->nopen; i++)
        if (!o || s->open[i]->seq < o->seq)
            o = s->open[i];
    return o;
}

static sl_err_t ffile_open(files_sink_t *s, topic_t *t, const char *dir, int64_t lo,
                           int64_t hi, const sl_pos_t *first, int64_t now, char *err,
                           size_t errlen)
{
    if (s->nopen == SL_FILES_MAX_OPEN) {
        /* bounded memory: one compressor per open file */
        sl_err_t rc = ffile_complete(s, oldest_open(s), err, errlen);
        if (rc)
            return rc;
    }
    ffile_t *f = xcalloc(1, sizeof(*f));
    f->fd = -1;
    f->topic = t;
    f->seq = ++s->open_seq;
    f->part_lo = lo;
    f->part_hi = hi;
    f->prev = s->seen;
    f->prev_valid = s->has_seen;
    f->first = f->last = *first;
    f->opened_ms = now;
    sl_buf_puts(&f->dir, dir);
    char k[SL_POS_KEY_LEN + 1];
    sl_pos_key(first, k);
    sl_buf_printf(&f->tmp, "%s/.%s.jsonl%s.tmp", dir, k, comp_ext(s->comp));
    if (s->comp == SL_COMP_NONE)
        f->iov = malloc(IOV_N * sizeof(*f->iov));
    else
        f->out = malloc(OUTBUF_SIZE);
    if (!f->iov && !f->out)
        abort();
    if (s->comp == SL_COMP_GZIP) {
        /* windowBits 15 + 16: a gzip wrapper, which zcat and data lake tools read */
        if (deflateInit2(&f->z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8,
                         Z_DEFAULT_STRATEGY) != Z_OK) {
            ffile_free(f);
            return fail(s, SL_ERR_NOMEM, err, errlen, "cannot start a gzip stream for %s",
                        dir);
        }
        f->z_init = 1;
    } else if (s->comp == SL_COMP_ZSTD) {
        f->zs = ZSTD_createCStream();
        if (!f->zs || ZSTD_isError(ZSTD_CCtx_setParameter(f->zs, ZSTD_c_compressionLevel,
                                                          ZSTD_CLEVEL_DEFAULT))) {
            ffile_free(f);
            return fail(s, SL_ERR_NOMEM, err, errlen, "cannot start a zstd stream for %s",
                        dir);
        }
    }
    f->fd = open(f->tmp.data, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (f->fd < 0) {
        sl_err_t rc = fail(s, SL_ERR_IO, err, errlen, "cannot create %s: %s", f->tmp.data,
                           strerror(errno));
        ffile_free(f);
        return rc;
    }
    f->slot = s->nopen;
    s->open[s->nopen++] = f;
    t->open = f;
    return SL_OK;
}

/* ---------------------------------------------------------------- durability */

static void advance_seen(files_sink_t *s, const sl_pos_t *p)
{
    if (!s->has_seen || sl_pos_cmp(p, &s->seen) > 0) {
        s->seen = *p;
        s->has_seen = 1;
    }
}

/* Ack the durable point if it moved forward (see the top of the file). */
static void ack_durable(files_sink_t *s)
{
    char err[8];
    if (closer_reap(s, err, sizeof(err)) || s->broken)
        return;
    /* the oldest file not yet complete, open or with the closer */
    const ffile_t *o = s->nopen ? oldest_open(s) : NULL;
    if (s->closer_started) {
        pthread_mutex_lock(&s->cmu);
        for (const ffile_t *c = s->chead; c; c = c->cnext)
            if (!o || c->seq < o->seq)
                o = c;
        pthread_mutex_unlock(&s->cmu);
    }
    const sl_pos_t *d = NULL;
    if (o) {
        if (o->prev_valid)
            d = &o->prev;
    } else if (s->has_seen) {
        d = &s->seen;
    }
    if (!d || (s->has_acked && sl_pos_cmp(d, &s->acked) <= 0))
        return;
    s->acked = *d;
    s->has_acked = 1;
    s->env->ack(s->env, &s->acked);
}

static void end_skip(files_sink_t *s, topic_t *t)
{
    if (!t->skipping)
        return;
    sl_info(s->conn, "skipping %" PRIu64 " records already in %s", t->skip_count,
            t->skip_file);
    free(t->skip_file);
    t->skip_file = NULL;
    t->skipping = 0;
    t->skip_count = 0;
}

static sl_err_t age_rotate(files_sink_t *s, int64_t now, char *err, size_t errlen)
{
    if (s->max_ms <= 0)
        return SL_OK;
    for (size_t i = s->nopen; i-- > 0;) {
        if (i >= s->nopen)
            continue;
        ffile_t *f = s->open[i];
        if (now - f->opened_ms >= s->max_ms) {
            sl_err_t rc = ffile_complete(s, f, err, errlen);
            if (rc)
                return rc;
        }
    }
    return SL_OK;
}

/* ---------------------------------------------------------------- the record path */

static void partition_dir(files_sink_t *s, const topic_t *t, int64_t lo, sl_buf_t *out)
{
    time_t secs = (time_t)floor_div(lo, 1000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    sl_buf_reset(out);
    sl_buf_puts(out, s->root);
    sl_buf_putc(out, '/');
    sl_buf_puts(out, t->name);
    sl_buf_printf(out, "/year=%04d/month=%02d/day=%02d", tm.tm_year + 1900, tm.tm_mon + 1,
                  tm.tm_mday);
    if (s->part == SL_PART_HOUR)
        sl_buf_printf(out, "/hour=%02d", tm.tm_hour);
}

static sl_err_t put_record(files_sink_t *s, const sl_batch_t *b, const sl_record_t *r,
                           int64_t now, char *err, size_t errlen)
{
    if (!s->had_record && s->has_resume && sl_pos_cmp(&r->pos, &s->resume) <= 0) {
        s->resume_skipped++; /* at or before the stored bookmark: durable already */
        return SL_OK;
    }
    if (s->has_seen && sl_pos_cmp(&r->pos, &s->seen) <= 0) {
        /* Everything up to `seen` (a record, a batch end, the resume point) may have been
         * acked already; a record there could be lost by a crash, so stop loudly. */
        char k1[SL_POS_KEY_LEN + 1], k2[SL_POS_KEY_LEN + 1];
        sl_pos_key(&r->pos, k1);
        sl_pos_key(&s->seen, k2);
        return fail(
            s, SL_ERR_SINK, err, errlen,
            "record position %s is not after %s, which was already handed over as "
            "complete; positions must increase (a source bug)",
            k1, k2);
    }
    s->had_record = 1;

    tver_t *v;
    sl_err_t rc = tver_for(s, r->table, &v, err, errlen);
    if (rc)
        return rc;
    if (r->val_len == 0) { /* tombstones only mean something to Kafka compaction */
        advance_seen(s, &r->pos);
        return SL_OK;
    }
    topic_t *t = v->topic;
    if (t->skipping) {
        int c = sl_pos_cmp(&r->pos, &t->skip_last);
        if (c <= 0) {
            t->skip_count++;
            advance_seen(s, &r->pos);
            if (c == 0)
                end_skip(s, t);
            return SL_OK;
        }
        end_skip(s, t);
    }

    int64_t ts = r->ts_ms < TS_MIN ? TS_MIN : r->ts_ms > TS_MAX ? TS_MAX : r->ts_ms;
    ffile_t *f = t->open;
    if (f && (ts < f->part_lo || ts >= f->part_hi)) {
        /* a new hour or day: the topic's old file is done */
        rc = ffile_complete(s, f, err, errlen);
        if (rc)
            return rc;
        f = NULL;
    }
    if (!f) {
        int64_t unit = s->part == SL_PART_HOUR ? HOUR_MS : DAY_MS;
        int64_t lo = floor_div(ts, unit) * unit;
        partition_dir(s, t, lo, &s->path);
        dir_entry_t *d = NULL;
        rc = dir_touch(s, s->path.data, &d, err, errlen);
        if (rc)
            return rc;
        const done_file_t *df = dir_find(d, &r->pos);
        if (df) {
            /* a replay: this record and the topic's next ones up to df->last are
             * on disk already */
            t->skipping = 1;
            t->skip_last = df->last;
            t->skip_count = 1;
            sl_buf_reset(&s->scratch);
            sl_buf_printf(&s->scratch, "%s/%s", d->path, df->name);
            t->skip_file = xstrdup(s->scratch.data);
            advance_seen(s, &r->pos);
            if (sl_pos_cmp(&r->pos, &df->last) == 0)
                end_skip(s, t);
            return SL_OK;
        }
        /* d->path, not s->path: completing the oldest file on the way reuses s->path */
        rc = ffile_open(s, t, d->path, lo, lo + unit, &r->pos, now, err, errlen);
        if (rc)
            return rc;
        f = t->open;
    }
    if (f->iov ? ffile_line(f, sl_record_value(b, r), r->val_len) < 0
               : ffile_put(f, sl_record_value(b, r), r->val_len, 0) < 0 ||
                     ffile_put(f, "\n", 1, 0) < 0)
        return fail_write(s, f, err, errlen);
    f->bytes += (int64_t)r->val_len + 1;
    f->records++;
    f->last = r->pos;
    advance_seen(s, &r->pos);
    if ((s->max_bytes > 0 && f->bytes >= s->max_bytes) ||
        (s->max_records > 0 && f->records >= s->max_records))
        return ffile_complete(s, f, err, errlen);
    return SL_OK;
}

/* ---------------------------------------------------------------- the sink interface */

static void files_destroy(void *ctx);

static sl_err_t files_create(const struct sl_sink_config *cfg, sl_sink_env_t *env,
                             const sl_pos_t *resume, void **ctx, char *err, size_t errlen)
{
    *ctx = NULL;
    if (!cfg->path || !*cfg->path)
        return sl_err_set(err, errlen, SL_ERR_CONFIG,
                          "the files sink needs sink.path (the output directory)");
    files_sink_t *s = xcalloc(1, sizeof(*s));
    pthread_mutex_init(&s->cmu, NULL);
    pthread_cond_init(&s->ccv, NULL);
    s->env = env;
    s->conn = env->connector_name;
    size_t n = strlen(cfg->path);
    while (n > 1 && cfg->path[n - 1] == '/')
        n--;
    s->root = strndup(cfg->path, n);
    if (!s->root)
        abort();
    s->prefix = xstrdup(cfg->topic_prefix     ? cfg->topic_prefix
                        : env->connector_name ? env->connector_name
                                              : "");
    s->comp = cfg->compression;
    s->part = cfg->partition;
    s->max_bytes = cfg->rotate_max_bytes;
    s->max_records = cfg->rotate_max_records;
    s->max_ms = cfg->rotate_max_ms;
    if (resume) {
        s->resume = *resume;
        s->has_resume = 1;
        /* the resume point is durable already: the first ack must be past it */
        s->seen = s->acked = *resume;
        s->has_seen = s->has_acked = 1;
    }
    struct stat st;
    int e = 0;
    if (sl_mkdir_p(s->root) < 0 || stat(s->root, &st) < 0)
        e = errno;
    else if (!S_ISDIR(st.st_mode))
        e = ENOTDIR;
    if (e) {
        sl_err_t rc = sl_err_set(err, errlen, SL_ERR_IO,
                                 "cannot use %s as the files sink directory: %s", s->root,
                                 strerror(e));
        files_destroy(s);
        return rc;
    }
    *ctx = s;
    return SL_OK;
}

static sl_err_t files_write(void *ctx, const sl_batch_t *b, char *err, size_t errlen)
{
    files_sink_t *s = ctx;
    if (closer_reap(s, err, errlen) || s->broken)
        return sl_err_set(err, errlen, s->broken, "%s", s->broken_msg);
    int64_t now = now_ms();
    for (size_t i = 0; i < b->n; i++) {
        sl_err_t rc = put_record(s, b, &b->recs[i], now, err, errlen);
        if (rc) {
            for (size_t j = 0; j < s->nopen; j++)
                s->open[j]->niov = 0; /* they point into b; the sink is broken anyway */
            return rc;
        }
    }
    /* the lines gathered point into b, which is only lent to this call */
    for (size_t j = 0; j < s->nopen; j++) {
        ffile_t *f = s->open[j];
        if (f->niov && ffile_write_lines(f) < 0)
            return fail_write(s, f, err, errlen);
    }
    if (b->has_end)
        advance_seen(s, &b->end);
    sl_err_t rc = age_rotate(s, now, err, errlen);
    if (rc)
        return rc;
    ack_durable(s);
    return SL_OK;
}

static sl_err_t files_tick(void *ctx, int64_t now, char *err, size_t errlen)
{
    files_sink_t *s = ctx;
    if (closer_reap(s, err, errlen) || s->broken)
        return sl_err_set(err, errlen, s->broken, "%s", s->broken_msg);
    sl_err_t rc = age_rotate(s, now, err, errlen);
    if (rc)
        return rc;
    ack_durable(s);
    return SL_OK;
}

static sl_err_t files_flush(void *ctx, char *err, size_t errlen)
{
    files_sink_t *s = ctx;
    if (closer_reap(s, err, errlen) || s->broken)
        return sl_err_set(err, errlen, s->broken, "%s", s->broken_msg);
    while (s->nopen) {
        sl_err_t rc = ffile_complete(s, oldest_open(s), err, errlen);
        if (rc)
            return rc;
    }
    sl_err_t rc = closer_drain(s, err, errlen);
    if (rc)
        return rc;
    ack_durable(s);
    return SL_OK;
}

void sl_files_sink_settle(void *ctx)
{
    files_sink_t *s = ctx;
    char err[8];
    if (closer_drain(s, err, sizeof(err)) == SL_OK)
        ack_durable(s);
}

/* The next age limit of an open file: tick is due then. */
static int64_t files_due(void *ctx)
{
    files_sink_t *s = ctx;
    int64_t due = INT64_MAX;
    if (s->max_ms <= 0 || s->broken)
        return due;
    for (size_t i = 0; i < s->nopen; i++)
        if (s->open[i]->opened_ms + s->max_ms < due)
            due = s->open[i]->opened_ms + s->max_ms;
    return due;
}

/* Drops open files as they are: their temp files stay on disk, exactly like after a
 * crash, and are removed by the next run (flush first for a clean shutdown). */
static void files_destroy(void *ctx)
{
    files_sink_t *s = ctx;
    if (!s)
        return;
    if (s->closer_started) {
        /* it completes what it was handed (or drops it after a failure), then exits */
        pthread_mutex_lock(&s->cmu);
        s->closer_stop = 1;
        pthread_cond_broadcast(&s->ccv);
        pthread_mutex_unlock(&s->cmu);
        pthread_join(s->closer, NULL);
        for (ffile_t *f = s->cdone, *next; f; f = next) {
            next = f->cnext;
            ffile_free(f);
        }
    }
    pthread_mutex_destroy(&s->cmu);
    pthread_cond_destroy(&s->ccv);
    for (size_t i = 0; i < s->nopen; i++)
        ffile_free(s->open[i]);
    for (size_t i = 0; i < s->topic_buckets; i++) {
        for (topic_t *t = s->topics[i], *next; t; t = next) {
            next = t->next;
            end_skip(s, t);
            free(t->name);
            free(t);
        }
    }
    free(s->topics);
    for (size_t i = 0; i < s->tver_buckets; i++) {
        for (tver_t *v = s->tvers[i], *next; v; v = next) {
            next = v->next;
            free(v);
        }
    }
    free(s->tvers);
    for (size_t i = 0; i < s->ndirs; i++)
        dir_entry_clear(&s->dirs[i]);
    free(s->dirs);
    if (s->resume_skipped)
        sl_info(s->conn, "skipped %" PRIu64 " records at or before the resume point",
                s->resume_skipped);
    sl_buf_free(&s->path);
    sl_buf_free(&s->scratch);
    free(s->root);
    free(s->prefix);
    free(s);
}

const sl_sink_ops_t sl_sink_files = {
    .name = "files",
    .create = files_create,
    .write = files_write,
    .tick = files_tick,
    .due = files_due,
    .flush = files_flush,
    .destroy = files_destroy,
    .encode_on_source = 1, /* BENCHMARKS.md: an encoder thread measured slower here */
};
