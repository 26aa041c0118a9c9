/* sluice: the YAML config loader (contract 3.4): parse, check, resolve ${env:}/${file:}.
 * Every key is declared once in keys[]; defaults, checks, dump and docs come from it. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml.h>
#include "config/config.h"
#include "core/log.h"

#define CONFIG_MAX_BYTES (16 << 20) /* a config file larger than this is a mistake */
#define REF_MAX_BYTES (1 << 20)     /* ${file:} secrets are small */
#define SHOW_MAX 60                 /* longest literal quoted back in an error */

/* ---- the key table ---- */

typedef enum {
    K_GROUP,    /* a mapping of further keys */
    K_LIST,     /* the connectors list */
    K_STRING,   /* char * */
    K_INT,      /* int, uint32_t or int64_t (by width) */
    K_BOOL,     /* int 0/1 */
    K_ENUM,     /* an int enum: index into choices */
    K_CHOICE,   /* char *, one of choices */
    K_DURATION, /* int64_t milliseconds */
    K_SIZE,     /* int64_t bytes */
    K_STRLIST,  /* sl_strlist_t */
    K_MAP,      /* sl_kv_t * at off, size_t count at off2 */
} ktype_t;

enum {
    F_SECRET = 1,   /* the value is never printed (passwords) */
    F_DYNDEF = 2,   /* default computed in finish_connector; def only documents it */
    F_NONEMPTY = 4, /* "" is rejected */
    F_IDENT = 8,    /* [A-Za-z0-9_-]+ */
    F_SLOT = 16,    /* a PostgreSQL replication slot name: [a-z0-9_]{1,63} */
    F_SHORTHAND = 32, /* K_GROUP: a scalar value stands for {mode: value} */
};

/* One configuration key. Offsets are into sl_config_t (conn == 0) or into
 * sl_connector_config_t (conn == 1). required: NULL = optional, "" = always,
 * "source.type=postgres" = when that key of the same connector has that value. */
typedef struct cfg_key {
    const char *path; /* "connectors[].source.port" */
    ktype_t type;
    int conn;
    size_t off, width;          /* where the value is stored and its size */
    size_t off2;                /* K_MAP: offset of the size_t count */
    const char *const *choices; /* K_ENUM, K_CHOICE: NULL-terminated */
    int64_t min, max;           /* K_INT, K_DURATION, K_SIZE: accepted range */
    const char *def;            /* as it would be written in the file; NULL = none */
    const char *required;
    unsigned flags;
    const char *desc;
} cfg_key_t;

#define WK(f)                                                                            \
    .conn = 0, .off = offsetof(sl_config_t, f), .width = sizeof(((sl_config_t *)0)->f)
#define CK(f)                                                                            \
    .conn = 1, .off = offsetof(sl_connector_config_t, f),                                \
    .width = sizeof(((sl_connector_config_t *)0)->f)

static const char *const log_formats[] = {"text", "json", NULL};
static const char *const log_levels[] = {"debug", "info", "warn", "error", NULL};
static const char *const source_types[] = {"postgres", "mysql", NULL};
static const char *const sink_types[] = {"files", "kafka", "stdout", NULL};
static const char *const snapshot_modes[] = {"initial", "never", "only", "when_needed",
                                             NULL};
static const char *const compressions[] = {"none", "gzip", "zstd", NULL};
static const char *const partitions[] = {"day", "hour", NULL};
static const char *const bookmark_stores[] = {"file", "kafka", NULL};

/* The enum values are the indexes of the choice arrays above. */
_Static_assert(SL_LOG_TEXT == 0 && SL_LOG_JSON == 1, "log_formats order");
_Static_assert(SL_SNAP_INITIAL == 0 && SL_SNAP_NEVER == 1 && SL_SNAP_ONLY == 2 &&
                   SL_SNAP_WHEN_NEEDED == 3,
               "snapshot_modes order");
_Static_assert(SL_COMP_NONE == 0 && SL_COMP_GZIP == 1 && SL_COMP_ZSTD == 2,
               "compressions");
_Static_assert(SL_PART_DAY == 0 && SL_PART_HOUR == 1, "partitions order");
_Static_assert(sizeof(sl_snapshot_mode_t) == sizeof(int) &&
                   sizeof(sl_log_format_t) == sizeof(int) &&
                   sizeof(sl_compression_t) == sizeof(int) &&
                   sizeof(sl_partition_t) == sizeof(int),
               "enums are stored as int");

static const cfg_key_t keys[] = {
    {.path = "worker",
     .type = K_GROUP,
     .conn = 0,
     .desc = "Settings of this worker process."},
    {.path = "worker.name",
     .type = K_STRING,
     WK(worker_name),
     .def = "sluice",
     .flags = F_NONEMPTY,
     .desc = "Name of the worker, used in logs and metrics."},
    {.path = "worker.data_dir",
     .type = K_STRING,
     WK(data_dir),
     .def = "./var",
     .flags = F_NONEMPTY,
     .desc = "Directory for local state; the file bookmark store lives in "
             "`<data_dir>/bookmarks/`."},
    {.path = "worker.http",
     .type = K_STRING,
     WK(http),
     .def = "127.0.0.1:8083",
     .flags = F_DYNDEF,
     .desc = "Address (`host:port`, `[v6]:port`) of the HTTP API (health, metrics, "
             "control); `0` or empty turns it off. An address written here that cannot be "
             "bound stops the worker; when the key is absent and the default port is "
             "taken, the worker runs without the API and says so."},
    {.path = "worker.http_token",
     .type = K_STRING,
     WK(http_token),
     .flags = F_SECRET | F_NONEMPTY,
     .desc = "Bearer token the HTTP API then requires (`Authorization: Bearer <token>`) "
             "on every endpoint but `/healthz` and `/readyz`; a secret, best given as "
             "`${env:NAME}` or `${file:PATH}`. Unset = no token."},
    {.path = "worker.log_format",
     .type = K_ENUM,
     WK(log_format),
     .choices = log_formats,
     .def = "text",
     .desc = "Log line format on stderr."},
    {.path = "worker.log_level",
     .type = K_CHOICE,
     WK(log_level),
     .choices = log_levels,
     .def = "info",
     .desc = "Lowest level that is logged."},
    {.path = "connectors",
     .type = K_LIST,
     .conn = 0,
     .required = "",
     .desc =
         "The connectors this worker runs (at least one); each moves one source to one "
         "sink."},

    {.path = "connectors[].name",
     .type = K_STRING,
     CK(name),
     .required = "",
     .flags = F_IDENT | F_NONEMPTY,
     .desc =
         "Unique name of the connector (letters, digits, `_`, `-`); names its bookmark."},

    {.path = "connectors[].source",
     .type = K_GROUP,
     .conn = 1,
     .desc = "The database changes are read from."},
    {.path = "connectors[].source.type",
     .type = K_CHOICE,
     CK(source.type),
     .choices = source_types,
     .required = "",
     .desc = "Kind of source database."},
    {.path = "connectors[].source.host",
     .type = K_STRING,
     CK(source.host),
     .def = "127.0.0.1",
     .flags = F_NONEMPTY,
     .desc = "Host name or address of the database server."},
    {.path = "connectors[].source.port",
     .type = K_INT,
     CK(source.port),
     .min = 1,
     .max = 65535,
     .def = "5432 (postgres), 3306 (mysql)",
     .flags = F_DYNDEF,
     .desc = "TCP port of the server."},
    {.path = "connectors[].source.user",
     .type = K_STRING,
     CK(source.user),
     .required = "",
     .flags = F_NONEMPTY,
     .desc = "User to connect as (needs replication rights)."},
    {.path = "connectors[].source.password",
     .type = K_STRING,
     CK(source.password),
     .flags = F_SECRET,
     .desc = "Password; a secret, never printed. Best given as `${env:NAME}` or "
             "`${file:PATH}`."},
    {.path = "connectors[].source.database",
     .type = K_STRING,
     CK(source.database),
     .required = "source.type=postgres",
     .flags = F_NONEMPTY,
     .desc = "PostgreSQL: database to stream from."},
    {.path = "connectors[].source.slot",
     .type = K_STRING,
     CK(source.slot),
     .def = "sluice_<name>",
     .flags = F_DYNDEF | F_SLOT,
     .desc = "PostgreSQL: logical replication slot (`[a-z0-9_]`, at most 63 bytes); the "
             "default lower-cases the connector name and turns `-` into `_`."},
    {.path = "connectors[].source.publication",
     .type = K_STRING,
     CK(source.publication),
     .def = "sluice_<name>",
     .flags = F_DYNDEF | F_NONEMPTY,
     .desc =
         "PostgreSQL: publication naming the streamed tables (default as for `slot`)."},
    {.path = "connectors[].source.create_slot",
     .type = K_BOOL,
     CK(source.create_slot),
     .def = "true",
     .desc = "PostgreSQL: create the slot when missing; false = it must exist."},
    {.path = "connectors[].source.create_publication",
     .type = K_BOOL,
     CK(source.create_publication),
     .def = "true",
     .desc = "PostgreSQL: create the publication when missing; false = it must exist."},
    {.path = "connectors[].source.server_id",
     .type = K_INT,
     CK(source.server_id),
     .min = 1,
     .max = UINT32_MAX,
     .def = "5400 + connector index",
     .flags = F_DYNDEF,
     .desc = "MySQL: replica server id, unique among all replicas of the server."},
    {.path = "connectors[].source.include_query",
     .type = K_BOOL,
     CK(source.include_query),
     .def = "false",
     .desc = "MySQL: put the SQL statement that changed each row into `source.query` "
             "(MariaDB: its ANNOTATE_ROWS events, `binlog_annotate_row_events=ON`; "
             "MySQL: ROWS_QUERY, `binlog_rows_query_log_events=ON`); false: `null`."},
    {.path = "connectors[].source.tables",
     .type = K_GROUP,
     .conn = 1,
     .desc = "Which tables are streamed."},
    {.path = "connectors[].source.tables.include",
     .type = K_STRLIST,
     CK(source.include),
     .def = "[]",
     .desc = "Tables to stream (`schema.table` / `db.table`); empty = all."},
    {.path = "connectors[].source.tables.exclude",
     .type = K_STRLIST,
     CK(source.exclude),
     .def = "[]",
     .desc = "Tables never streamed, even when included."},
    {.path = "connectors[].source.snapshot",
     .type = K_GROUP,
     .conn = 1,
     .flags = F_SHORTHAND,
     .desc = "How existing rows are copied (`op: r`); `snapshot: only` is short for "
             "`snapshot: {mode: only}`. See docs/snapshots.md."},
    {.path = "connectors[].source.snapshot.mode",
     .type = K_ENUM,
     CK(source.snapshot),
     .choices = snapshot_modes,
     .def = "initial",
     .desc = "When existing rows are copied: `initial` once before streaming, `never`, "
             "`only` (snapshot then stop, exit 0), `when_needed` (when there is no "
             "bookmark, and also when the bookmark can no longer be served)."},
    {.path = "connectors[].source.snapshot.parallelism",
     .type = K_INT,
     CK(source.snapshot_parallelism),
     .min = 1,
     .max = 16,
     .def = "1",
     .desc = "Readers (each its own database connection) copying tables, and key ranges "
             "of one large table, at the same time."},
    {.path = "connectors[].source.snapshot.chunk_rows",
     .type = K_INT,
     CK(source.snapshot_chunk_rows),
     .min = 1,
     .max = 1000000,
     .def = "8192",
     .desc = "Rows read per chunk (one query in primary-key order); the bookmark records "
             "the last key of each finished chunk, and memory is bounded by it."},
    {.path = "connectors[].source.heartbeat",
     .type = K_DURATION,
     CK(source.heartbeat_ms),
     .min = 0,
     .max = INT64_C(86400000),
     .def = "10s",
     .desc =
         "Interval of heartbeats that move the position on a quiet database; 0 = off."},

    {.path = "connectors[].sink",
     .type = K_GROUP,
     .conn = 1,
     .desc = "Where change events are written."},
    {.path = "connectors[].sink.type",
     .type = K_CHOICE,
     CK(sink.type),
     .choices = sink_types,
     .required = "",
     .desc = "Kind of sink."},
    {.path = "connectors[].sink.path",
     .type = K_STRING,
     CK(sink.path),
     .required = "sink.type=files",
     .flags = F_NONEMPTY,
     .desc = "files: directory the event files are written under."},
    {.path = "connectors[].sink.topic_prefix",
     .type = K_STRING,
     CK(sink.topic_prefix),
     .def = "<name>",
     .flags = F_DYNDEF | F_NONEMPTY,
     .desc = "files, kafka: prefix of topic (and directory) names; default = connector "
             "name."},
    {.path = "connectors[].sink.compression",
     .type = K_ENUM,
     CK(sink.compression),
     .choices = compressions,
     .def = "none",
     .desc = "files: compression of closed files."},
    {.path = "connectors[].sink.rotate",
     .type = K_GROUP,
     .conn = 1,
     .desc =
         "files: when a file is closed and a new one started (whichever comes first)."},
    {.path = "connectors[].sink.rotate.max_bytes",
     .type = K_SIZE,
     CK(sink.rotate_max_bytes),
     .min = 1,
     .max = INT64_MAX,
     .def = "64MiB",
     .desc = "files: size limit; an integer of bytes or with KiB, MiB, GiB, KB, MB, GB."},
    {.path = "connectors[].sink.rotate.max_seconds",
     .type = K_DURATION,
     CK(sink.rotate_max_ms),
     .min = 1,
     .max = INT64_C(31536000000),
     .def = "60",
     .desc = "files: age limit; seconds, or a duration like `500ms`, `10s`, `5m`, `1h`."},
    {.path = "connectors[].sink.rotate.max_records",
     .type = K_INT,
     CK(sink.rotate_max_records),
     .min = 1,
     .max = INT64_MAX,
     .def = "100000",
     .desc = "files: record count limit."},
    {.path = "connectors[].sink.partition",
     .type = K_ENUM,
     CK(sink.partition),
     .choices = partitions,
     .def = "hour",
     .desc = "files: directory partitioning by time."},
    {.path = "connectors[].sink.brokers",
     .type = K_STRING,
     CK(sink.brokers),
     .required = "sink.type=kafka",
     .flags = F_NONEMPTY,
     .desc = "kafka: bootstrap brokers, `host:port[,host:port...]`."},
    {.path = "connectors[].sink.exactly_once",
     .type = K_BOOL,
     CK(sink.exactly_once),
     .def = "false",
     .desc = "kafka: transactional producer, bookmarks committed with the data."},
    {.path = "connectors[].sink.tombstones",
     .type = K_BOOL,
     CK(sink.tombstones),
     .def = "true",
     .desc = "kafka: follow each delete with a null-value record for log compaction."},
    {.path = "connectors[].sink.create_topics",
     .type = K_BOOL,
     CK(sink.create_topics),
     .def = "true",
     .desc = "kafka: create missing topics (Admin API) with `topic_partitions` and "
             "`topic_replication`; false = a missing topic is an error."},
    {.path = "connectors[].sink.topic_partitions",
     .type = K_INT,
     CK(sink.topic_partitions),
     .min = -1,
     .max = 100000,
     .def = "-1",
     .desc = "kafka: partitions of a created table topic; -1 = the broker's "
             "`num.partitions` (brokers 2.4 and later)."},
    {.path = "connectors[].sink.topic_replication",
     .type = K_INT,
     CK(sink.topic_replication),
     .min = -1,
     .max = 32767,
     .def = "-1",
     .desc = "kafka: replication factor of created topics; -1 = the broker's "
             "`default.replication.factor` (brokers 2.4 and later)."},
    {.path = "connectors[].sink.kafka",
     .type = K_MAP,
     CK(sink.kafka),
     .off2 = offsetof(sl_connector_config_t, sink.nkafka),
     .def = "{}",
     .desc = "kafka: any librdkafka property (`{sasl.password: \"${env:KAFKA_PW}\"}`); "
             "values "
             "from references and keys naming a password or secret are never printed."},

    {.path = "connectors[].bookmarks",
     .type = K_GROUP,
     .conn = 1,
     .desc = "Where the connector's position is stored."},
    {.path = "connectors[].bookmarks.store",
     .type = K_CHOICE,
     CK(bookmark_store),
     .choices = bookmark_stores,
     .def = "file",
     .desc = "`file` (under data_dir) or `kafka` (a compacted topic, for workers that keep "
             "no disk; [`docs/kafka.md`](kafka.md))."},
    {.path = "connectors[].bookmarks.topic",
     .type = K_STRING,
     CK(bookmark_topic),
     .def = "<worker.name>.__bookmarks",
     .flags = F_DYNDEF | F_NONEMPTY,
     .desc = "kafka store: the compacted topic holding the bookmarks, one message per "
             "connector keyed by its name (any number of connectors and workers may share "
             "it); created with one partition when missing. In the default, bytes Kafka "
             "does not allow in topic names become `_`."},
    {.path = "connectors[].bookmarks.brokers",
     .type = K_STRING,
     CK(bookmark_brokers),
     .def = "<sink.brokers>",
     .flags = F_DYNDEF | F_NONEMPTY,
     .desc = "kafka store: bootstrap brokers, `host:port[,host:port...]`; required unless "
             "the sink is kafka, whose brokers (and `security.*`, `sasl.*`, `ssl.*` "
             "properties of `sink.kafka`) are the default."},
    {.path = "connectors[].bookmarks.kafka",
     .type = K_MAP,
     CK(bookmark_kafka),
     .off2 = offsetof(sl_connector_config_t, nbookmark_kafka),
     .def = "{}",
     .desc = "kafka store: any librdkafka property (TLS, SASL, ...), applied last; secrets "
             "are masked as in `sink.kafka`."},
};

#define NKEYS (sizeof(keys) / sizeof(keys[0]))
#define CONN_PREFIX "connectors[]"

/* Loader-private part of a config: which values must never be printed. */
struct sl_config_priv {
    size_t nscopes;         /* 1 (worker) + nconnectors */
    unsigned char *secret;  /* nscopes * NKEYS: the value is a secret */
    unsigned char **mapsec; /* nscopes * NKEYS: K_MAP per-entry secret flags */
};

/* ---- parse context and errors ---- */

typedef struct ctx {
    const char *name; /* file name used in messages */
    yaml_document_t *doc;
    sl_config_t *cfg;
    int *lines; /* nscopes * NKEYS: >0 line set, <0 line given as null, 0 absent */
    char *err;
    size_t errlen;
} ctx_t;

/* A scalar after ${...} resolution. */
typedef struct val {
    char *s; /* owned */
    int line;
    int secret;      /* never print s */
    const char *ref; /* the ${...} text when resolved from a reference, else NULL */
} val_t;

static void val_free(val_t *v)
{
    free(v->s);
    v->s = NULL;
}

static int fail(ctx_t *x, int line, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Fill the error (first error wins) and return -1. */
static int fail(ctx_t *x, int line, const char *path, const char *fmt, ...)
{
    if (!x->err || !x->errlen || x->err[0])
        return -1;
    sl_buf_t b = SL_BUF_INIT;
    if (line > 0)
        sl_buf_printf(&b, "%s:%d: ", x->name, line);
    else
        sl_buf_printf(&b, "%s: ", x->name);
    if (path && *path)
        sl_buf_printf(&b, "%s: ", path);
    va_list ap;
    va_start(ap, fmt);
    char *msg = NULL;
    if (vasprintf(&msg, fmt, ap) < 0)
        msg = NULL;
    va_end(ap);
    sl_buf_puts(&b, msg ? msg : fmt);
    free(msg);
    /* the message is built from non-secret parts only; masking registered secrets as well
     * covers a literal that happens to equal one (a name written in clear elsewhere) */
    sl_log_redact(b.data, x->err, x->errlen);
    sl_buf_free(&b);
    return -1;
}

/* Append text for a message: non-printable bytes escaped, long text cut. */
static void put_shown(sl_buf_t *b, const char *s, size_t n)
{
    size_t shown = n > SHOW_MAX ? SHOW_MAX : n;
    for (size_t i = 0; i < shown; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c == 0x7f || c == '"' || c == '\\')
            sl_buf_printf(b, "\\x%02x", c);
        else
            sl_buf_putc(b, (char)c);
    }
    if (shown < n)
        sl_buf_puts(b, "...");
}

/* ", got \"abc\"" for a literal; nothing about the value when it is a secret. */
static void put_got(sl_buf_t *b, const val_t *v)
{
    if (v->ref) {
        sl_buf_puts(b, " (the value of ");
        put_shown(b, v->ref, strlen(v->ref));
        sl_buf_puts(b, " is not shown)");
    } else if (!v->secret) {
        sl_buf_puts(b, ", got \"");
        put_shown(b, v->s, strlen(v->s));
        sl_buf_putc(b, '"');
    }
}

static int fail_value(ctx_t *x, const val_t *v, const char *path, const char *expected)
{
    sl_buf_t b = SL_BUF_INIT;
    sl_buf_puts(&b, expected);
    put_got(&b, v);
    fail(x, v->line, path, "%s", b.data);
    sl_buf_free(&b);
    return -1;
}

static int node_line(const yaml_node_t *n)
{
    return n ? (int)n->start_mark.line + 1 : 1;
}

/* ---- key table helpers ---- */

static int find_key(const char *path)
{
    for (size_t i = 0; i < NKEYS; i++)
        if (strcmp(keys[i].path, path) == 0)
            return (int)i;
    return -1;
}

/* Length of the parent part of a path ("a.b.c" -> 3), 0 for a top-level key. */
static size_t parent_len(const char *path)
{
    const char *dot = strrchr(path, '.');
    return dot ? (size_t)(dot - path) : 0;
}

static const char *last_part(const char *path)
{
    const char *dot = strrchr(path, '.');
    return dot ? dot + 1 : path;
}

/* Levenshtein distance, or a large number for long strings. */
static size_t edit_distance(const char *a, size_t la, const char *b)
{
    size_t lb = strlen(b);
    size_t row[65];
    if (la > 64 || lb > 64)
        return 1000;
    for (size_t j = 0; j <= lb; j++)
        row[j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t up = row[j];
            size_t best = diag + (a[i - 1] == b[j - 1] ? 0 : 1);
            if (up + 1 < best)
                best = up + 1;
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[lb];
}

/* The closest of candidates to word when it is close enough to be a likely typo. */
static const char *closest(const char *word, size_t wl, const char *const *cand, size_t n)
{
    const char *best = NULL;
    size_t bestd = (size_t)-1;
    for (size_t i = 0; i < n; i++) {
        size_t d = edit_distance(word, wl, cand[i]);
        size_t cl = strlen(cand[i]);
        size_t limit = cl <= 3 ? 1 : cl <= 8 ? 2 : 3;
        if (d <= limit && d < bestd) {
            best = cand[i];
            bestd = d;
        }
    }
    return best;
}

/* The known keys under a schema prefix, for "did you mean". */
static const char *suggest_key(const char *prefix, const char *word, size_t wl)
{
    const char *cand[NKEYS];
    size_t n = 0, pl = strlen(prefix);
    for (size_t i = 0; i < NKEYS; i++)
        if (parent_len(keys[i].path) == pl && strncmp(keys[i].path, prefix, pl) == 0)
            cand[n++] = last_part(keys[i].path);
    return closest(word, wl, cand, n);
}

static size_t nchoices(const char *const *c)
{
    size_t n = 0;
    while (c[n])
        n++;
    return n;
}

/* ---- scalar conversions ---- */

static int is_null(const yaml_node_t *n)
{
    if (n->type != YAML_SCALAR_NODE || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
        return 0;
    const char *s = (const char *)n->data.scalar.value;
    size_t l = n->data.scalar.length;
    return l == 0 || (l == 1 && s[0] == '~') ||
           (l == 4 &&
            (!memcmp(s, "null", 4) || !memcmp(s, "Null", 4) || !memcmp(s, "NULL", 4)));
}

/* Decimal integer, optional sign, nothing else. */
static int parse_i64(const char *s, int64_t *out, const char **end)
{
    int neg = 0;
    uint64_t v = 0;
    if (*s == '+' || *s == '-')
        neg = *s++ == '-';
    if (*s < '0' || *s > '9')
        return -1;
    while (*s >= '0' && *s <= '9') {
        unsigned d = (unsigned)(*s++ - '0');
        if (v > (UINT64_MAX - d) / 10)
            return -1;
        v = v * 10 + d;
    }
    if (v > (uint64_t)INT64_MAX + (neg ? 1u : 0u))
        return -1;
    *out = neg ? (int64_t)(0 - v) : (int64_t)v;
    if (end)
        *end = s;
    else if (*s)
        return -1;
    return 0;
}

typedef struct unit {
    const char *name;
    int64_t mult;
} unit_t;

static const unit_t size_units[] = {
    {"", 1},
    {"B", 1},
    {"KiB", INT64_C(1) << 10},
    {"MiB", INT64_C(1) << 20},
    {"GiB", INT64_C(1) << 30},
    {"TiB", INT64_C(1) << 40},
    {"KB", 1000},
    {"MB", 1000000},
    {"GB", 1000000000},
    {"TB", INT64_C(1000000000000)},
    {NULL, 0},
};
static const unit_t duration_units[] = {
    {"", 1000}, {"ms", 1}, {"s", 1000}, {"m", 60000}, {"h", 3600000}, {NULL, 0},
};

/* "<integer>[ ]<unit>" with a unit from the table; non-negative; overflow-checked. */
static int parse_units(const char *s, const unit_t *units, int64_t *out)
{
    const char *end;
    int64_t v;
    if (*s == '-' || *s == '+' || parse_i64(s, &v, &end))
        return -1;
    if (*end == ' ')
        end++;
    for (const unit_t *u = units; u->name; u++) {
        if (strcmp(end, u->name) == 0) {
            if (v > INT64_MAX / u->mult)
                return -1;
            *out = v * u->mult;
            return 0;
        }
    }
    return -1;
}

static int parse_bool(const char *s, int *out)
{
    static const char *const yes[] = {"true", "yes", "on", NULL};
    static const char *const no[] = {"false", "no", "off", NULL};
    for (int i = 0; yes[i]; i++) {
        if (strcasecmp(s, yes[i]) == 0) {
            *out = 1;
            return 0;
        }
        if (strcasecmp(s, no[i]) == 0) {
            *out = 0;
            return 0;
        }
    }
    return -1;
}

static int is_ident(const char *s)
{
    if (!*s)
        return 0;
    for (; *s; s++) {
        char c = *s;
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              (c >= '0' && c <= '9') || c == '_' || c == '-'))
            return 0;
    }
    return 1;
}

static int is_slot_name(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 63)
        return 0;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '_'))
            return 0;
    return 1;
}

/* ---- ${env:NAME} and ${file:PATH} ---- */

/* Read at most cap bytes of a file into a NUL-terminated string; errno on failure
 * (EFBIG when larger than cap, EINVAL for embedded NUL, EISDIR/ENODEV for non-regular
 * files when regular_only). */
static char *read_capped(const char *path, size_t cap, int regular_only, size_t *lenp)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | (regular_only ? O_NONBLOCK : 0));
    if (fd < 0)
        return NULL;
    sl_buf_t b = SL_BUF_INIT;
    struct stat st;
    if (regular_only) {
        if (fstat(fd, &st) != 0)
            goto error;
        if (!S_ISREG(st.st_mode)) {
            errno = S_ISDIR(st.st_mode) ? EISDIR : ENODEV;
            goto error;
        }
    }
    for (;;) {
        sl_buf_reserve(&b, 65536);
        ssize_t r = read(fd, b.data + b.len, 65536);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            goto error;
        if (r == 0)
            break;
        b.len += (size_t)r;
        b.data[b.len] = 0;
        if (b.len > cap) {
            errno = EFBIG;
            goto error;
        }
    }
    close(fd);
    if (memchr(b.data ? b.data : "", 0, b.len)) {
        sl_buf_free(&b);
        errno = EINVAL;
        return NULL;
    }
    *lenp = b.len;
    if (!b.data)
        return strdup("");
    return sl_buf_steal(&b);
error:;
    int e = errno;
    close(fd);
    sl_buf_free(&b);
    errno = e;
    return NULL;
}

/* Resolve a scalar node into v: a literal, or the value behind ${env:} / ${file:}.
 * secret_key: the key's values are secrets even when literal. */
static int resolve(ctx_t *x, const yaml_node_t *n, const char *path, int secret_key,
                   val_t *v)
{
    const char *s = (const char *)n->data.scalar.value;
    size_t len = n->data.scalar.length;
    memset(v, 0, sizeof(*v));
    v->line = node_line(n);
    if (memchr(s, 0, len))
        return fail(x, v->line, path, "the value contains a NUL byte");
    if (len >= 3 && s[0] == '$' && s[1] == '{' && s[len - 1] == '}') {
        v->ref = s;
        const char *in = s + 2;
        size_t inl = len - 3;
        if (inl > 4 && !memcmp(in, "env:", 4)) {
            const char *name = in + 4;
            size_t nl = inl - 4;
            for (size_t i = 0; i < nl; i++) {
                char c = name[i];
                if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
                      (i > 0 && c >= '0' && c <= '9')))
                    return fail(x, v->line, path,
                                "%s: not a valid environment variable name", s);
            }
            char *var = strndup(name, nl);
            const char *val = var ? getenv(var) : NULL;
            if (!val) {
                fail(x, v->line, path, "environment variable %s is not set",
                     var ? var : s);
                free(var);
                return -1;
            }
            free(var);
            v->s = strdup(val);
        } else if (inl > 5 && !memcmp(in, "file:", 5)) {
            char *fpath = strndup(in + 5, inl - 5);
            size_t fl = 0;
            char *content = fpath ? read_capped(fpath, REF_MAX_BYTES, 1, &fl) : NULL;
            if (!content) {
                int e = errno;
                fail(x, v->line, path, "cannot read %s: %s", s,
                     e == EFBIG    ? "larger than 1 MiB"
                     : e == EINVAL ? "it contains a NUL byte"
                     : e == ENODEV ? "not a regular file"
                                   : strerror(e));
                free(fpath);
                return -1;
            }
            free(fpath);
            if (fl && content[fl - 1] == '\n') {
                content[--fl] = 0;
                if (fl && content[fl - 1] == '\r')
                    content[--fl] = 0;
            }
            v->s = content;
        } else {
            return fail(x, v->line, path,
                        "%s: unknown reference; use ${env:NAME} or ${file:PATH}", s);
        }
        if (!v->s)
            return fail(x, v->line, path, "out of memory");
        v->secret = 1;
        sl_log_add_secret(v->s);
        return 0;
    }
    v->s = strndup(s, len);
    if (!v->s)
        return fail(x, v->line, path, "out of memory");
    v->secret = secret_key;
    if (secret_key)
        sl_log_add_secret(v->s);
    return 0;
}

/* ---- storing values ---- */

static void store_int(void *p, size_t width, int64_t v)
{
    if (width == sizeof(int64_t)) {
        memcpy(p, &v, sizeof(v));
    } else if (v > INT32_MAX) { /* uint32_t fields */
        uint32_t u = (uint32_t)v;
        memcpy(p, &u, sizeof(u));
    } else {
        int32_t i = (int32_t)v;
        memcpy(p, &i, sizeof(i));
    }
}

static int64_t load_int(const cfg_key_t *k, const void *p)
{
    if (k->width == sizeof(int64_t)) {
        int64_t v;
        memcpy(&v, p, sizeof(v));
        return v;
    }
    if (k->max > INT32_MAX) {
        uint32_t u;
        memcpy(&u, p, sizeof(u));
        return u;
    }
    int32_t i;
    memcpy(&i, p, sizeof(i));
    return i;
}

static void free_strlist(sl_strlist_t *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i]);
    free(l->v);
    l->v = NULL;
    l->n = 0;
}

/* Keys of librdkafka properties whose values are secrets even when written literally. */
static int secret_prop(const char *key)
{
    return strstr(key, "password") || strstr(key, "secret") || strstr(key, "key.pem") ||
           strstr(key, "sasl.oauthbearer.config");
}

/* Convert a resolved scalar for key k and store it at p. Takes ownership of v->s. */
static int store_scalar(ctx_t *x, const cfg_key_t *k, void *p, val_t *v, const char *path)
{
    int64_t n;
    int b;
    switch (k->type) {
    case K_STRING:
        if ((k->flags & F_NONEMPTY) && !v->s[0])
            return fail(x, v->line, path, "must not be empty");
        if ((k->flags & F_IDENT) && !is_ident(v->s))
            return fail_value(x, v, path,
                              "invalid name: use only letters, digits, '_' and '-'");
        if ((k->flags & F_SLOT) && !is_slot_name(v->s))
            return fail_value(x, v, path,
                              "invalid replication slot name: use only lower-case "
                              "letters, digits and '_', at most 63 bytes");
        free(*(char **)p);
        *(char **)p = v->s;
        v->s = NULL;
        return 0;
    case K_INT:
        if (parse_i64(v->s, &n, NULL) || n < k->min || n > k->max) {
            sl_buf_t m = SL_BUF_INIT;
            sl_buf_printf(&m, "expected an integer between %lld and %lld",
                          (long long)k->min, (long long)k->max);
            fail_value(x, v, path, m.data);
            sl_buf_free(&m);
            return -1;
        }
        store_int(p, k->width, n);
        return 0;
    case K_BOOL:
        if (parse_bool(v->s, &b))
            return fail_value(x, v, path, "expected true or false");
        *(int *)p = b;
        return 0;
    case K_DURATION:
        if (parse_units(v->s, duration_units, &n) || n < k->min || n > k->max)
            return fail_value(x, v, path,
                              "expected a duration: seconds, or a number with ms, "
                              "s, m or h (\"500ms\", \"10s\", \"5m\", \"1h\")");
        memcpy(p, &n, sizeof(n));
        return 0;
    case K_SIZE:
        if (parse_units(v->s, size_units, &n) || n < k->min || n > k->max)
            return fail_value(x, v, path,
                              "expected a size: bytes, or a number with KiB, MiB, "
                              "GiB, KB, MB or GB (\"64MiB\")");
        memcpy(p, &n, sizeof(n));
        return 0;
    case K_ENUM:
    case K_CHOICE: {
        size_t nc = nchoices(k->choices);
        for (size_t i = 0; i < nc; i++) {
            if (strcmp(v->s, k->choices[i]) == 0) {
                if (k->type == K_ENUM) {
                    *(int *)p = (int)i;
                } else {
                    free(*(char **)p);
                    *(char **)p = v->s;
                    v->s = NULL;
                }
                return 0;
            }
        }
        sl_buf_t m = SL_BUF_INIT;
        sl_buf_puts(&m, "unknown value");
        if (v->ref) {
            put_got(&m, v);
        } else if (!v->secret) {
            sl_buf_puts(&m, " \"");
            put_shown(&m, v->s, strlen(v->s));
            sl_buf_putc(&m, '"');
        }
        sl_buf_puts(&m, " (expected ");
        for (size_t i = 0; i < nc; i++)
            sl_buf_printf(&m, "%s%s",
                          i == 0        ? ""
                          : i + 1 == nc ? " or "
                                        : ", ",
                          k->choices[i]);
        const char *dym = v->secret ? NULL : closest(v->s, strlen(v->s), k->choices, nc);
        if (dym)
            sl_buf_printf(&m, "; did you mean \"%s\"?", dym);
        sl_buf_putc(&m, ')');
        fail(x, v->line, path, "%s", m.data);
        sl_buf_free(&m);
        return -1;
    }
    default:
        return fail(x, v->line, path, "internal error: key type %d", (int)k->type);
    }
}

/* ---- the tree walk ---- */

typedef struct scope {
    size_t index; /* 0 worker, 1 + i connector i */
    char *base;   /* sl_config_t or sl_connector_config_t */
} scope_t;

static const char *kind_name(const yaml_node_t *n)
{
    return n->type == YAML_SEQUENCE_NODE  ? "a list"
           : n->type == YAML_MAPPING_NODE ? "a mapping"
                                          : "a value";
}

static int grow_scopes(ctx_t *x, size_t nscopes)
{
    struct sl_config_priv *pv = x->cfg->priv;
    size_t old = pv->nscopes;
    unsigned char *sec = realloc(pv->secret, nscopes * NKEYS);
    if (sec)
        pv->secret = sec;
    unsigned char **ms = realloc(pv->mapsec, nscopes * NKEYS * sizeof(*ms));
    if (ms)
        pv->mapsec = ms;
    int *ln = realloc(x->lines, nscopes * NKEYS * sizeof(*ln));
    if (ln)
        x->lines = ln;
    if (!sec || !ms || !ln)
        return -1;
    memset(sec + old * NKEYS, 0, (nscopes - old) * NKEYS);
    memset(ms + old * NKEYS, 0, (nscopes - old) * NKEYS * sizeof(*ms));
    memset(ln + old * NKEYS, 0, (nscopes - old) * NKEYS * sizeof(*ln));
    pv->nscopes = nscopes;
    return 0;
}

static int walk_map(ctx_t *x, const yaml_node_t *map, const char *prefix,
                    const char *dprefix, scope_t sc);

static int set_strlist(ctx_t *x, const cfg_key_t *k, scope_t sc, const yaml_node_t *vn,
                       const char *path)
{
    sl_strlist_t *l = (sl_strlist_t *)(sc.base + k->off);
    if (vn->type != YAML_SEQUENCE_NODE)
        return fail(x, node_line(vn), path, "expected a list like [a, b], got %s",
                    kind_name(vn));
    size_t n = (size_t)(vn->data.sequence.items.top - vn->data.sequence.items.start);
    free_strlist(l);
    l->v = calloc(n ? n : 1, sizeof(char *));
    if (!l->v)
        return fail(x, node_line(vn), path, "out of memory");
    for (size_t i = 0; i < n; i++) {
        yaml_node_t *it =
            yaml_document_get_node(x->doc, vn->data.sequence.items.start[i]);
        sl_buf_t ip = SL_BUF_INIT;
        sl_buf_printf(&ip, "%s[%zu]", path, i);
        int rc = -1;
        val_t v;
        if (!it || it->type != YAML_SCALAR_NODE || is_null(it)) {
            fail(x, node_line(it ? it : vn), ip.data, "expected a non-empty value");
        } else if (resolve(x, it, ip.data, 0, &v) == 0) {
            if (!v.s[0]) {
                fail(x, v.line, ip.data, "must not be empty");
                val_free(&v);
            } else {
                if (v.secret)
                    x->cfg->priv->secret[sc.index * NKEYS + (size_t)(k - keys)] = 1;
                l->v[l->n++] = v.s;
                rc = 0;
            }
        }
        sl_buf_free(&ip);
        if (rc)
            return -1;
    }
    return 0;
}

static int set_map(ctx_t *x, const cfg_key_t *k, scope_t sc, const yaml_node_t *vn,
                   const char *path)
{
    sl_kv_t **kvp = (sl_kv_t **)(sc.base + k->off);
    size_t *np = (size_t *)(sc.base + k->off2);
    unsigned char **secp = &x->cfg->priv->mapsec[sc.index * NKEYS + (size_t)(k - keys)];
    if (vn->type != YAML_MAPPING_NODE)
        return fail(x, node_line(vn), path,
                    "expected a mapping like {key: value}, got %s", kind_name(vn));
    size_t n = (size_t)(vn->data.mapping.pairs.top - vn->data.mapping.pairs.start);
    *kvp = calloc(n ? n : 1, sizeof(sl_kv_t));
    *secp = calloc(n ? n : 1, 1);
    if (!*kvp || !*secp)
        return fail(x, node_line(vn), path, "out of memory");
    for (size_t i = 0; i < n; i++) {
        yaml_node_pair_t *pr = &vn->data.mapping.pairs.start[i];
        yaml_node_t *kn = yaml_document_get_node(x->doc, pr->key);
        yaml_node_t *it = yaml_document_get_node(x->doc, pr->value);
        if (!kn || !it || kn->type != YAML_SCALAR_NODE || is_null(kn) ||
            memchr(kn->data.scalar.value, 0, kn->data.scalar.length))
            return fail(x, node_line(kn ? kn : vn), path, "keys must be non-empty text");
        const char *key = (const char *)kn->data.scalar.value;
        sl_buf_t ip = SL_BUF_INIT;
        sl_buf_printf(&ip, "%s.", path);
        put_shown(&ip, key, kn->data.scalar.length);
        int rc = -1;
        val_t v = {0};
        for (size_t j = 0; j < *np; j++) {
            if (strcmp((*kvp)[j].key, key) == 0) {
                fail(x, node_line(kn), ip.data, "duplicate key");
                goto next;
            }
        }
        if (it->type != YAML_SCALAR_NODE || is_null(it)) {
            fail(x, node_line(it), ip.data, "expected a value (text, number or boolean)");
            goto next;
        }
        if (resolve(x, it, ip.data, secret_prop(key), &v))
            goto next;
        (*kvp)[*np].key = strdup(key);
        if (!(*kvp)[*np].key) {
            fail(x, v.line, ip.data, "out of memory");
            goto next;
        }
        (*kvp)[*np].value = v.s;
        v.s = NULL;
        (*secp)[*np] = (unsigned char)v.secret;
        (*np)++;
        rc = 0;
    next:
        val_free(&v);
        sl_buf_free(&ip);
        if (rc)
            return -1;
    }
    return 0;
}

static int set_connectors(ctx_t *x, const yaml_node_t *vn, const char *path)
{
    sl_config_t *cfg = x->cfg;
    size_t n = 0;
    if (!is_null(vn)) {
        if (vn->type != YAML_SEQUENCE_NODE)
            return fail(x, node_line(vn), path, "expected a list of connectors, got %s",
                        kind_name(vn));
        n = (size_t)(vn->data.sequence.items.top - vn->data.sequence.items.start);
    }
    if (n == 0)
        return fail(x, node_line(vn), path, "at least one connector is required");
    cfg->connectors = calloc(n, sizeof(*cfg->connectors));
    if (!cfg->connectors || grow_scopes(x, n + 1))
        return fail(x, node_line(vn), path, "out of memory");
    cfg->nconnectors = n;
    for (size_t i = 0; i < n; i++) {
        yaml_node_t *it =
            yaml_document_get_node(x->doc, vn->data.sequence.items.start[i]);
        sl_connector_config_t *c = &cfg->connectors[i];
        sl_buf_t dp = SL_BUF_INIT;
        sl_buf_printf(&dp, "connectors[%zu]", i);
        int rc;
        c->line = node_line(it ? it : vn);
        c->file = strdup(x->name);
        if (!c->file)
            rc = fail(x, c->line, dp.data, "out of memory");
        else if (!it || it->type != YAML_MAPPING_NODE)
            rc = fail(x, c->line, dp.data,
                      "expected a mapping with name, source and sink, got %s",
                      it ? kind_name(it) : "nothing");
        else
            rc = walk_map(x, it, CONN_PREFIX, dp.data, (scope_t){i + 1, (char *)c});
        sl_buf_free(&dp);
        if (rc)
            return -1;
    }
    return 0;
}

/* Walk one mapping: every key must be in the table under prefix. */
/* Store a scalar node into key idx (display path dpath); null leaves the default. */
static int set_scalar(ctx_t *x, int idx, scope_t sc, const yaml_node_t *vn,
                      const char *dpath)
{
    const cfg_key_t *k = &keys[idx];
    if (is_null(vn))
        return 0;
    if (vn->type != YAML_SCALAR_NODE)
        return fail(x, node_line(vn), dpath, "expected a single value, got %s",
                    kind_name(vn));
    val_t v;
    if (resolve(x, vn, dpath, (k->flags & F_SECRET) != 0, &v) != 0)
        return -1;
    int rc = store_scalar(x, k, sc.base + k->off, &v, dpath);
    if (rc == 0 && v.secret)
        x->cfg->priv->secret[sc.index * NKEYS + (size_t)idx] = 1;
    val_free(&v);
    return rc;
}

static int walk_map(ctx_t *x, const yaml_node_t *map, const char *prefix,
                    const char *dprefix, scope_t sc)
{
    for (yaml_node_pair_t *pr = map->data.mapping.pairs.start;
         pr < map->data.mapping.pairs.top; pr++) {
        yaml_node_t *kn = yaml_document_get_node(x->doc, pr->key);
        yaml_node_t *vn = yaml_document_get_node(x->doc, pr->value);
        if (!kn || !vn || kn->type != YAML_SCALAR_NODE)
            return fail(x, node_line(kn ? kn : map), dprefix,
                        "keys must be plain text, got %s",
                        kn ? kind_name(kn) : "nothing");
        const char *key = (const char *)kn->data.scalar.value;
        size_t kl = kn->data.scalar.length;
        int line = node_line(kn);
        sl_buf_t sp = SL_BUF_INIT, dp = SL_BUF_INIT;
        if (*prefix)
            sl_buf_printf(&sp, "%s.", prefix);
        sl_buf_append(&sp, key, kl);
        if (*dprefix)
            sl_buf_printf(&dp, "%s.", dprefix);
        put_shown(&dp, key, kl);
        int rc = -1;
        /* a key is one path component: "worker.name: x" at the top is unknown, not a
         * shortcut (it would also store into the wrong struct) */
        int idx = memchr(key, 0, kl) || memchr(key, '.', kl) || memchr(key, '[', kl)
                      ? -1
                      : find_key(sp.data);
        if (idx >= 0 && keys[idx].conn != (sc.index > 0))
            idx = -1;
        if (idx < 0) {
            const char *dym = suggest_key(prefix, key, kl);
            if (dym)
                fail(x, line, dp.data, "unknown key (did you mean \"%s\"?)", dym);
            else
                fail(x, line, dp.data, "unknown key");
            goto next;
        }
        const cfg_key_t *k = &keys[idx];
        int *lp = &x->lines[sc.index * NKEYS + (size_t)idx];
        if (*lp) {
            fail(x, line, dp.data, "duplicate key (first given on line %d)",
                 *lp < 0 ? -*lp : *lp);
            goto next;
        }
        *lp = is_null(vn) ? -line : line;
        switch (k->type) {
        case K_GROUP:
            if (is_null(vn)) {
                rc = 0;
            } else if (vn->type == YAML_SCALAR_NODE && (k->flags & F_SHORTHAND)) {
                /* "snapshot: only" stands for "snapshot: {mode: only}" */
                sl_buf_puts(&sp, ".mode");
                int mi = find_key(sp.data);
                x->lines[sc.index * NKEYS + (size_t)mi] = line;
                rc = set_scalar(x, mi, sc, vn, dp.data);
            } else if (vn->type != YAML_MAPPING_NODE)
                fail(x, node_line(vn), dp.data, "expected a mapping, got %s",
                     kind_name(vn));
            else
                rc = walk_map(x, vn, sp.data, dp.data, sc);
            break;
        case K_LIST:
            rc = set_connectors(x, vn, dp.data);
            break;
        case K_STRLIST:
            rc = is_null(vn) ? 0 : set_strlist(x, k, sc, vn, dp.data);
            break;
        case K_MAP:
            rc = is_null(vn) ? 0 : set_map(x, k, sc, vn, dp.data);
            break;
        default:
            rc = set_scalar(x, idx, sc, vn, dp.data);
            break;
        }
    next:
        sl_buf_free(&sp);
        sl_buf_free(&dp);
        if (rc)
            return -1;
    }
    return 0;
}

/* ---- defaults, required keys, cross-key checks ---- */

static int apply_defaults(ctx_t *x, scope_t sc, int conn)
{
    for (size_t i = 0; i < NKEYS; i++) {
        const cfg_key_t *k = &keys[i];
        if (k->conn != conn || !k->def || (k->flags & F_DYNDEF) ||
            x->lines[sc.index * NKEYS + i] > 0)
            continue;
        if (k->type == K_STRLIST || k->type == K_MAP || k->type == K_GROUP ||
            k->type == K_LIST)
            continue; /* empty by default */
        val_t v = {.s = strdup(k->def), .line = 0};
        if (!v.s)
            return fail(x, 0, k->path, "out of memory");
        int rc = store_scalar(x, k, sc.base + k->off, &v, k->path);
        val_free(&v);
        if (rc)
            return -1;
    }
    return 0;
}

/* The display path of key k in a scope ("connectors[2].source.user"). */
static void display_path(sl_buf_t *b, const cfg_key_t *k, scope_t sc)
{
    if (k->conn)
        sl_buf_printf(b, "connectors[%zu]%s", sc.index - 1,
                      k->path + strlen(CONN_PREFIX));
    else
        sl_buf_puts(b, k->path);
}

/* The line to blame for a missing key: the closest enclosing key that was written. */
static int missing_line(ctx_t *x, const cfg_key_t *k, scope_t sc, int fallback)
{
    sl_buf_t p = SL_BUF_INIT;
    sl_buf_puts(&p, k->path);
    int line = fallback;
    for (;;) {
        size_t pl = parent_len(p.data);
        if (!pl)
            break;
        p.len = pl;
        p.data[pl] = 0;
        int idx = find_key(p.data);
        if (idx < 0)
            break;
        int l = x->lines[sc.index * NKEYS + (size_t)idx];
        if (l) {
            line = l < 0 ? -l : l;
            break;
        }
    }
    sl_buf_free(&p);
    return line;
}

/* Is a conditional requirement ("source.type=postgres") met in this scope? */
static int condition_holds(const char *cond, scope_t sc)
{
    if (!*cond)
        return 1;
    const char *eq = strchr(cond, '=');
    sl_buf_t p = SL_BUF_INIT;
    sl_buf_printf(&p, "%s.%.*s", CONN_PREFIX, (int)(eq - cond), cond);
    int idx = find_key(p.data);
    sl_buf_free(&p);
    if (idx < 0)
        return 0;
    const char *val = *(char **)(sc.base + keys[idx].off);
    return val && strcmp(val, eq + 1) == 0;
}

static int check_required(ctx_t *x, scope_t sc, int conn, int fallback_line)
{
    for (size_t i = 0; i < NKEYS; i++) {
        const cfg_key_t *k = &keys[i];
        if (k->conn != conn || !k->required || k->type == K_LIST)
            continue;
        if (*(char **)(sc.base + k->off) || !condition_holds(k->required, sc))
            continue;
        sl_buf_t p = SL_BUF_INIT;
        display_path(&p, k, sc);
        int line = x->lines[sc.index * NKEYS + i];
        line = line ? (line < 0 ? -line : line) : missing_line(x, k, sc, fallback_line);
        if (*k->required)
            fail(x, line, p.data, "required key is missing (needed when %s)",
                 k->required);
        else
            fail(x, line, p.data, "required key is missing");
        sl_buf_free(&p);
        return -1;
    }
    return 0;
}

/* "sluice_" + the name lower-cased with '-' as '_' (a valid slot name when short enough).
 */
static char *default_slot(const char *name)
{
    sl_buf_t b = SL_BUF_INIT;
    sl_buf_puts(&b, "sluice_");
    for (const char *p = name; *p; p++)
        sl_buf_putc(&b, *p == '-'                  ? '_'
                        : (*p >= 'A' && *p <= 'Z') ? (char)(*p + 32)
                                                   : *p);
    return sl_buf_steal(&b);
}

/* A Kafka topic name part: bytes Kafka does not allow become '_' (as the sink does). */
static void put_kafka_name(sl_buf_t *b, const char *s)
{
    for (; *s; s++) {
        char c = *s;
        int ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                 (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
        sl_buf_putc(b, ok ? c : '_');
    }
}

/* The bookmarks.* keys of connector i: defaults and checks of the Kafka store. */
static int finish_bookmarks(ctx_t *x, size_t i)
{
    sl_connector_config_t *c = &x->cfg->connectors[i];
    scope_t sc = {i + 1, (char *)c};
    static const char *const kafka_only[] = {"topic", "brokers", "kafka"};
    sl_buf_t p = SL_BUF_INIT, name = SL_BUF_INIT;
    int rc = -1;
    int kafka_sink = strcmp(c->sink.type, "kafka") == 0;
    if (strcmp(c->bookmark_store, "kafka") != 0) {
        /* a Kafka setting with the file store is most likely a forgotten store: kafka,
         * which a container without a disk would pay for with its bookmarks */
        const int given[] = {c->bookmark_topic != NULL, c->bookmark_brokers != NULL,
                             c->nbookmark_kafka > 0};
        for (size_t k = 0; k < sizeof(kafka_only) / sizeof(kafka_only[0]); k++) {
            sl_buf_reset(&p);
            sl_buf_printf(&p, CONN_PREFIX ".bookmarks.%s", kafka_only[k]);
            int line = x->lines[sc.index * NKEYS + (size_t)find_key(p.data)];
            if (given[k]) {
                sl_buf_reset(&p);
                sl_buf_printf(&p, "connectors[%zu].bookmarks.%s", i, kafka_only[k]);
                fail(x, line, p.data,
                     "only used with bookmarks.store: kafka (the %s store keeps the "
                     "bookmarks under data_dir); set store: kafka or remove this key",
                     c->bookmark_store);
                goto out;
            }
        }
        rc = 0;
        goto out;
    }
    int bline = x->lines[sc.index * NKEYS + (size_t)find_key(CONN_PREFIX ".bookmarks")];
    if (!c->bookmark_brokers) {
        if (!kafka_sink) {
            sl_buf_printf(&p, "connectors[%zu].bookmarks.brokers", i);
            fail(x, bline > 0 ? bline : c->line, p.data,
                 "required key is missing (needed when bookmarks.store is kafka and the "
                 "sink is not kafka)");
            goto out;
        }
        if (!(c->bookmark_brokers = strdup(c->sink.brokers)))
            goto oom;
    }
    if (!c->bookmark_topic) {
        put_kafka_name(&name, x->cfg->worker_name);
        sl_buf_puts(&name, ".__bookmarks");
        if (!(c->bookmark_topic = sl_buf_steal(&name)))
            goto oom;
    }
    size_t tl = strlen(c->bookmark_topic);
    int tline =
        x->lines[sc.index * NKEYS + (size_t)find_key(CONN_PREFIX ".bookmarks.topic")];
    sl_buf_printf(&p, "connectors[%zu].bookmarks.topic", i);
    if (tl > 249 ||
        strspn(c->bookmark_topic, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRS"
                                  "TUVWXYZ0123456789._-") != tl) {
        fail(x, tline > 0 ? tline : c->line, p.data,
             "not a Kafka topic name: use at most 249 letters, digits, '.', '_' and '-'");
        goto out;
    }
    /* the exactly-once sink keys its own records by connector name in
     * <topic_prefix>.__bookmarks: the two documents must not meet in one topic */
    sl_buf_reset(&name);
    put_kafka_name(&name, c->sink.topic_prefix);
    sl_buf_puts(&name, ".__bookmarks");
    if (kafka_sink && c->sink.exactly_once && strcmp(name.data, c->bookmark_topic) == 0 &&
        strcmp(c->sink.brokers, c->bookmark_brokers) == 0) {
        fail(x, tline > 0 ? tline : (bline > 0 ? bline : c->line), p.data,
             "%s is also where the exactly-once sink keeps its own bookmarks; choose "
             "another bookmarks.topic",
             c->bookmark_topic);
        goto out;
    }
    rc = 0;
    goto out;
oom:
    fail(x, c->line, NULL, "out of memory");
out:
    sl_buf_free(&p);
    sl_buf_free(&name);
    return rc;
}

static int finish_connector(ctx_t *x, size_t i)
{
    sl_connector_config_t *c = &x->cfg->connectors[i];
    scope_t sc = {i + 1, (char *)c};
    sl_buf_t p = SL_BUF_INIT;
    int rc = -1;
    if (apply_defaults(x, sc, 1) || check_required(x, sc, 1, c->line))
        goto out;
    int pg = strcmp(c->source.type, "postgres") == 0;
    if (x->lines[sc.index * NKEYS + (size_t)find_key(CONN_PREFIX ".source.port")] <= 0)
        c->source.port = pg ? 5432 : 3306;
    if (x->lines[sc.index * NKEYS + (size_t)find_key(CONN_PREFIX ".source.server_id")] <=
        0)
        c->source.server_id = (uint32_t)(5400 + i);
    if (!c->sink.topic_prefix && !(c->sink.topic_prefix = strdup(c->name)))
        goto oom;
    if (pg && !c->source.publication && !(c->source.publication = default_slot(c->name)))
        goto oom;
    if (pg && !c->source.slot) {
        if (!(c->source.slot = default_slot(c->name)))
            goto oom;
        if (!is_slot_name(c->source.slot)) {
            sl_buf_printf(&p, "connectors[%zu].source.slot", i);
            fail(x, c->line, p.data,
                 "the default slot name %s is longer than 63 bytes; set "
                 "slot explicitly",
                 c->source.slot);
            goto out;
        }
    }
    for (size_t j = 0; j < i; j++) {
        const sl_connector_config_t *o = &x->cfg->connectors[j];
        if (strcmp(o->name, c->name) == 0) {
            sl_buf_printf(&p, "connectors[%zu].name", i);
            size_t ni = (size_t)find_key(CONN_PREFIX ".name");
            int line = x->lines[sc.index * NKEYS + ni];
            if (x->cfg->priv->secret[sc.index * NKEYS + ni])
                fail(x, line, p.data,
                     "duplicate connector name (also used by connectors[%zu] "
                     "on line %d)",
                     j, o->line);
            else
                fail(x, line, p.data,
                     "duplicate connector name \"%s\" (also used by "
                     "connectors[%zu] on line %d)",
                     c->name, j, o->line);
            goto out;
        }
    }
    rc = finish_bookmarks(x, i);
    goto out;
oom:
    fail(x, c->line, NULL, "out of memory");
out:
    sl_buf_free(&p);
    return rc;
}

/* ---- public API ---- */

static void syntax_error(ctx_t *x, yaml_parser_t *p, const char *yaml, size_t len)
{
    int line;
    if (p->error == YAML_READER_ERROR) {
        line = 1;
        for (size_t i = 0; i < p->problem_offset && i < len; i++)
            line += yaml[i] == '\n';
    } else {
        line = (int)p->problem_mark.line + 1;
    }
    if (p->error == YAML_MEMORY_ERROR)
        fail(x, line, NULL, "out of memory while parsing YAML");
    else if (p->context)
        fail(x, line, NULL, "YAML syntax error: %s (%s on line %d)",
             p->problem ? p->problem : "unknown problem", p->context,
             (int)p->context_mark.line + 1);
    else
        fail(x, line, NULL, "YAML syntax error: %s",
             p->problem ? p->problem : "unknown problem");
}

sl_config_t *sl_config_parse(const char *name, const char *yaml, size_t len, char *err,
                             size_t errlen)
{
    char dummy[1];
    if (!err || !errlen) {
        err = dummy;
        errlen = sizeof(dummy);
    }
    err[0] = 0;
    ctx_t x = {.name = name ? name : "<config>", .err = err, .errlen = errlen};
    yaml_parser_t parser;
    yaml_document_t doc;
    int have_parser = 0, have_doc = 0;
    x.cfg = calloc(1, sizeof(*x.cfg));
    if (!x.cfg || !(x.cfg->priv = calloc(1, sizeof(*x.cfg->priv))) ||
        grow_scopes(&x, 1)) {
        fail(&x, 0, NULL, "out of memory");
        goto error;
    }
    if (!yaml_parser_initialize(&parser)) {
        fail(&x, 0, NULL, "out of memory");
        goto error;
    }
    have_parser = 1;
    yaml_parser_set_input_string(&parser, (const unsigned char *)(yaml ? yaml : ""),
                                 yaml ? len : 0);
    if (!yaml_parser_load(&parser, &doc)) {
        syntax_error(&x, &parser, yaml, len);
        goto error;
    }
    have_doc = 1;
    x.doc = &doc;
    yaml_document_t extra;
    if (!yaml_parser_load(&parser, &extra)) {
        syntax_error(&x, &parser, yaml, len);
        goto error;
    }
    int more = yaml_document_get_root_node(&extra) != NULL;
    int more_line = (int)extra.start_mark.line + 1;
    yaml_document_delete(&extra);
    if (more) {
        fail(&x, more_line, NULL, "only one YAML document is allowed (remove the '---')");
        goto error;
    }

    yaml_node_t *root = yaml_document_get_root_node(&doc);
    scope_t top = {0, (char *)x.cfg};
    if (root && !is_null(root)) {
        if (root->type != YAML_MAPPING_NODE) {
            fail(&x, node_line(root), NULL,
                 "expected a mapping with worker and connectors at "
                 "the top, got %s",
                 kind_name(root));
            goto error;
        }
        if (walk_map(&x, root, "", "", top))
            goto error;
    }
    if (apply_defaults(&x, top, 0))
        goto error;
    if (!x.cfg->nconnectors) {
        fail(&x, root ? node_line(root) : 1, "connectors",
             "required key is missing (at least "
             "one connector)");
        goto error;
    }
    for (size_t i = 0; i < x.cfg->nconnectors; i++)
        if (finish_connector(&x, i))
            goto error;
    yaml_document_delete(&doc);
    yaml_parser_delete(&parser);
    free(x.lines);
    return x.cfg;
error:
    if (have_doc)
        yaml_document_delete(&doc);
    if (have_parser)
        yaml_parser_delete(&parser);
    free(x.lines);
    sl_config_free(x.cfg);
    if (!err[0] && errlen > 1)
        snprintf(err, errlen, "%s: invalid configuration", x.name);
    return NULL;
}

sl_config_t *sl_config_load(const char *path, char *err, size_t errlen)
{
    size_t len = 0;
    char *text = read_capped(path, CONFIG_MAX_BYTES, 0, &len);
    if (!text) {
        int e = errno;
        if (err && errlen)
            snprintf(err, errlen, "%s: cannot read the configuration: %s", path,
                     e == EFBIG    ? "larger than 16 MiB"
                     : e == EINVAL ? "it contains a NUL byte"
                                   : strerror(e));
        return NULL;
    }
    sl_config_t *c = sl_config_parse(path, text, len, err, errlen);
    free(text);
    return c;
}

/* Free every value of one scope, guided by the table. */
static void free_scope(char *base, int conn)
{
    for (size_t i = 0; i < NKEYS; i++) {
        const cfg_key_t *k = &keys[i];
        if (k->conn != conn)
            continue;
        if (k->type == K_STRING || k->type == K_CHOICE) {
            free(*(char **)(base + k->off));
            *(char **)(base + k->off) = NULL;
        } else if (k->type == K_STRLIST) {
            free_strlist((sl_strlist_t *)(base + k->off));
        } else if (k->type == K_MAP) {
            sl_kv_t *kv = *(sl_kv_t **)(base + k->off);
            size_t n = *(size_t *)(base + k->off2);
            for (size_t j = 0; kv && j < n; j++) {
                free(kv[j].key);
                free(kv[j].value);
            }
            free(kv);
            *(sl_kv_t **)(base + k->off) = NULL;
            *(size_t *)(base + k->off2) = 0;
        }
    }
}

void sl_config_free(sl_config_t *c)
{
    if (!c)
        return;
    for (size_t i = 0; c->connectors && i < c->nconnectors; i++) {
        free_scope((char *)&c->connectors[i], 1);
        free(c->connectors[i].file);
    }
    free(c->connectors);
    free_scope((char *)c, 0);
    if (c->priv) {
        for (size_t i = 0; c->priv->mapsec && i < c->priv->nscopes * NKEYS; i++)
            free(c->priv->mapsec[i]);
        free(c->priv->mapsec);
        free(c->priv->secret);
        free(c->priv);
    }
    free(c);
}

const sl_connector_config_t *sl_config_connector(const sl_config_t *c, const char *name)
{
    if (!c || !name)
        return NULL;
    for (size_t i = 0; i < c->nconnectors; i++)
        if (c->connectors[i].name && strcmp(c->connectors[i].name, name) == 0)
            return &c->connectors[i];
    return NULL;
}

/* ---- dump and reference ---- */

/* A string as a YAML scalar: plain when unambiguous, else double-quoted. */
static void put_yaml_str(sl_buf_t *out, const char *s)
{
    int plain = *s && strcmp(s, "null") && strcmp(s, "Null") && strcmp(s, "NULL") &&
                strcmp(s, "~") && *s != '-' && *s != ':';
    for (const char *p = s; plain && *p; p++) {
        char c = *p;
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '.' || c == '/' ||
              c == '<' || c == '>' || (c == ':' && p[1] && p[1] != ' ')))
            plain = 0;
    }
    if (plain)
        sl_buf_puts(out, s);
    else
        sl_buf_put_json_str(out, s, strlen(s));
}

static void put_units(sl_buf_t *out, int64_t v, const unit_t *units,
                      const char *const *pref)
{
    for (const char *const *p = pref; *p; p++) {
        for (const unit_t *u = units; u->name; u++) {
            if (strcmp(u->name, *p) == 0 && v != 0 && v % u->mult == 0) {
                sl_buf_put_i64(out, v / u->mult);
                sl_buf_puts(out, u->name);
                return;
            }
        }
    }
    sl_buf_put_i64(out, v);
}

static void dump_value(sl_buf_t *out, const cfg_key_t *k, const char *base, int secret,
                       const unsigned char *mapsec)
{
    const void *p = base + k->off;
    static const char *const size_pref[] = {"GiB", "MiB", "KiB", NULL};
    static const char *const dur_pref[] = {"h", "m", "s", "ms", NULL};
    switch (k->type) {
    case K_STRING:
    case K_CHOICE: {
        const char *s = *(char *const *)p;
        if (!s)
            sl_buf_puts(out, "~");
        else if (secret || (k->flags & F_SECRET))
            sl_buf_puts(out, "\"***\"");
        else
            put_yaml_str(out, s);
        break;
    }
    case K_INT:
        if (secret)
            sl_buf_puts(out, "\"***\"");
        else
            sl_buf_put_i64(out, load_int(k, p));
        break;
    case K_BOOL:
        sl_buf_puts(out, secret ? "\"***\"" : *(const int *)p ? "true" : "false");
        break;
    case K_ENUM: {
        int i = *(const int *)p;
        sl_buf_puts(out, secret                                       ? "\"***\""
                         : i >= 0 && (size_t)i < nchoices(k->choices) ? k->choices[i]
                                                                      : "~");
        break;
    }
    case K_DURATION:
    case K_SIZE: {
        int64_t v;
        memcpy(&v, p, sizeof(v));
        if (secret)
            sl_buf_puts(out, "\"***\"");
        else if (k->type == K_SIZE)
            put_units(out, v, size_units, size_pref);
        else
            put_units(out, v, duration_units, dur_pref);
        break;
    }
    case K_STRLIST: {
        const sl_strlist_t *l = p;
        if (secret && l->n) {
            sl_buf_puts(out, "\"***\"");
            break;
        }
        sl_buf_putc(out, '[');
        for (size_t i = 0; i < l->n; i++) {
            if (i)
                sl_buf_puts(out, ", ");
            put_yaml_str(out, l->v[i]);
        }
        sl_buf_putc(out, ']');
        break;
    }
    case K_MAP: {
        const sl_kv_t *kv = *(sl_kv_t *const *)p;
        size_t n = *(const size_t *)(base + k->off2);
        sl_buf_putc(out, '{');
        for (size_t i = 0; i < n; i++) {
            if (i)
                sl_buf_puts(out, ", ");
            put_yaml_str(out, kv[i].key);
            sl_buf_puts(out, ": ");
            if ((mapsec && mapsec[i]) || secret_prop(kv[i].key))
                sl_buf_puts(out, "\"***\"");
            else
                put_yaml_str(out, kv[i].value);
        }
        sl_buf_putc(out, '}');
        break;
    }
    default:
        break;
    }
}

static void dump_scope(sl_buf_t *out, const sl_config_t *c, size_t scope, int conn,
                       const char *base)
{
    const struct sl_config_priv *pv = c->priv;
    int first = 1;
    for (size_t i = 0; i < NKEYS; i++) {
        const cfg_key_t *k = &keys[i];
        if (k->conn != conn)
            continue;
        const char *rel = conn ? k->path + strlen(CONN_PREFIX) + 1 : k->path;
        size_t depth = 0;
        for (const char *q = rel; *q; q++)
            depth += *q == '.';
        size_t indent = (conn ? 4 : 0) + 2 * depth;
        if (conn && first) {
            sl_buf_puts(out, "  - ");
            first = 0;
        } else {
            for (size_t j = 0; j < indent; j++)
                sl_buf_putc(out, ' ');
        }
        sl_buf_printf(out, "%s:", last_part(rel));
        if (k->type == K_GROUP) {
            sl_buf_putc(out, '\n');
            continue;
        }
        if (k->type == K_LIST) {
            sl_buf_putc(out, '\n');
            for (size_t j = 0; j < c->nconnectors; j++)
                dump_scope(out, c, j + 1, 1, (const char *)&c->connectors[j]);
            continue;
        }
        int secret = pv && scope < pv->nscopes && pv->secret[scope * NKEYS + i];
        const unsigned char *ms =
            pv && scope < pv->nscopes ? pv->mapsec[scope * NKEYS + i] : NULL;
        sl_buf_putc(out, ' ');
        dump_value(out, k, base, secret, ms);
        sl_buf_putc(out, '\n');
    }
}

void sl_config_dump(const sl_config_t *c, sl_buf_t *out)
{
    if (!c || !out)
        return;
    dump_scope(out, c, 0, 0, (const char *)c);
}

static int same_str(const char *a, const char *b)
{
    return a == b || (a && b && strcmp(a, b) == 0);
}

int sl_config_connector_same(const sl_connector_config_t *a, const sl_connector_config_t *b)
{
    const char *pa = (const char *)a, *pb = (const char *)b;
    for (size_t i = 0; i < NKEYS; i++) {
        const cfg_key_t *k = &keys[i];
        if (k->conn != 1 || k->type == K_GROUP || k->type == K_LIST)
            continue;
        switch (k->type) {
        case K_STRING:
        case K_CHOICE:
            if (!same_str(*(char *const *)(pa + k->off), *(char *const *)(pb + k->off)))
                return 0;
            break;
        case K_STRLIST: {
            const sl_strlist_t *x = (const void *)(pa + k->off);
            const sl_strlist_t *y = (const void *)(pb + k->off);
            if (x->n != y->n)
                return 0;
            for (size_t j = 0; j < x->n; j++)
                if (!same_str(x->v[j], y->v[j]))
                    return 0;
            break;
        }
        case K_MAP: {
            const sl_kv_t *x = *(sl_kv_t *const *)(pa + k->off);
            const sl_kv_t *y = *(sl_kv_t *const *)(pb + k->off);
            size_t n = *(const size_t *)(pa + k->off2);
            if (n != *(const size_t *)(pb + k->off2))
                return 0;
            for (size_t j = 0; j < n; j++)
                if (!same_str(x[j].key, y[j].key) || !same_str(x[j].value, y[j].value))
                    return 0;
            break;
        }
        default: /* scalars stored in place: ints, bools, enums, durations, sizes */
            if (memcmp(pa + k->off, pb + k->off, k->width) != 0)
                return 0;
            break;
        }
    }
    return 1;
}

/* Markdown table cell text: '|' escaped, newlines flattened. */
static void put_cell(sl_buf_t *out, const char *s)
{
    for (; *s; s++) {
        if (*s == '|')
            sl_buf_puts(out, "\\|");
        else if (*s == '\n')
            sl_buf_putc(out, ' ');
        else
            sl_buf_putc(out, *s);
    }
}

void sl_config_reference(sl_buf_t *out)
{
    static const char *const type_names[] = {
        [K_STRING] = "string", [K_INT] = "integer",
        [K_BOOL] = "boolean",  [K_DURATION] = "duration",
        [K_SIZE] = "size",     [K_STRLIST] = "list of strings",
        [K_MAP] = "map",       [K_LIST] = "list of connectors",
    };
    if (!out)
        return;
    sl_buf_puts(out, "| Key | Type | Default | Required | Description |\n"
                     "|-----|------|---------|----------|-------------|\n");
    for (size_t i = 0; i < NKEYS; i++) {
        const cfg_key_t *k = &keys[i];
        if (k->type == K_GROUP)
            continue;
        sl_buf_printf(out, "| `%s` | ", k->path);
        if (k->type == K_ENUM || k->type == K_CHOICE) {
            for (size_t j = 0; k->choices[j]; j++)
                sl_buf_printf(out, "%s`%s`", j ? " \\| " : "", k->choices[j]);
        } else {
            sl_buf_puts(out, type_names[k->type]);
            if (k->type == K_INT)
                sl_buf_printf(out, " (%lld–%lld)", (long long)k->min, (long long)k->max);
        }
        sl_buf_puts(out, " | ");
        if (k->def) {
            sl_buf_putc(out, '`');
            put_cell(out, k->def);
            sl_buf_putc(out, '`');
        } else {
            sl_buf_puts(out, "—");
        }
        sl_buf_puts(out, " | ");
        if (!k->required) {
            sl_buf_puts(out, "no");
        } else if (!*k->required) {
            sl_buf_puts(out, "yes");
        } else {
            sl_buf_puts(out, "when `");
            put_cell(out, k->required);
            sl_buf_putc(out, '`');
        }
        sl_buf_puts(out, " | ");
        put_cell(out, k->desc);
        if (k->flags & F_SECRET)
            sl_buf_puts(out, " (secret)");
        sl_buf_puts(out, " |\n");
    }
    sl_buf_puts(
        out, "\nEvery value may be `${env:NAME}` or `${file:PATH}` (the whole value; one "
             "trailing newline of the file is dropped); such values are secrets and are "
             "never printed. Inside `{...}` or `[...]` quote them: `\"${env:NAME}\"`.\n");
}

static int list_has(const sl_strlist_t *l, const char *q)
{
    for (size_t i = 0; i < l->n; i++)
        if (strcmp(l->v[i], q) == 0 || strcmp(l->v[i], "*") == 0)
            return 1;
    return 0;
}

int sl_config_table_wanted(const sl_source_config_t *c, const char *qualified)
{
    if (c->include.n && !list_has(&c->include, qualified))
        return 0;
    return !list_has(&c->exclude, qualified);
}

int sl_config_table_refused(const sl_source_config_t *c, const char *qualified, char *err,
                            size_t errlen)
{
    if (sl_config_table_wanted(c, qualified))
        return 0;
    snprintf(err, errlen, "the connector does not stream it (tables.include / "
                          "tables.exclude)");
    return -1;
}
