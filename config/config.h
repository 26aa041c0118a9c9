/* sluice: the typed configuration (contract 3.4) and its YAML loader.
 * Keys are declared once in a table in config.c; the README reference is generated from it. */
#ifndef SL_CONFIG_H
#define SL_CONFIG_H

#include <stddef.h>
#include <stdint.h>
#include "core/err.h"
#include "core/buf.h"

typedef struct sl_strlist {
    char **v; /* owned */
    size_t n;
} sl_strlist_t;

typedef struct sl_kv {
    char *key;   /* owned */
    char *value; /* owned; may hold a resolved secret */
} sl_kv_t;

typedef enum { SL_SNAP_INITIAL, SL_SNAP_NEVER, SL_SNAP_ONLY, SL_SNAP_WHEN_NEEDED } sl_snapshot_mode_t;
typedef enum { SL_COMP_NONE, SL_COMP_GZIP, SL_COMP_ZSTD } sl_compression_t;
typedef enum { SL_PART_DAY, SL_PART_HOUR } sl_partition_t;
typedef enum { SL_LOG_TEXT, SL_LOG_JSON } sl_log_format_t;

typedef struct sl_source_config {
    char *type;        /* "postgres" | "mysql" (required) */
    char *host;        /* default 127.0.0.1 */
    int port;          /* default 5432 postgres, 3306 mysql */
    char *user;        /* required */
    char *password;    /* may be NULL; a secret */
    char *database;    /* postgres: required */
    char *slot;        /* postgres: default sluice_<connector name> */
    char *publication; /* postgres: default sluice_<connector name> */
    int create_slot;        /* default 1 */
    int create_publication; /* default 1 */
    uint32_t server_id;     /* mysql: default 5400 + connector index */
    int include_query;      /* mysql: source.query from ANNOTATE_ROWS/ROWS_QUERY, default 0 */
    sl_strlist_t include;   /* tables.include: "schema.table"; empty = all */
    sl_strlist_t exclude;   /* tables.exclude */
    sl_snapshot_mode_t snapshot; /* snapshot.mode, default initial */
    int snapshot_parallelism;    /* snapshot.parallelism, default 1 */
    int64_t snapshot_chunk_rows; /* snapshot.chunk_rows, default 8192 */
    int64_t heartbeat_ms;   /* heartbeat: default 10s; 0 = off */
} sl_source_config_t;

typedef struct sl_sink_config {
    char *type;            /* "files" | "kafka" | "stdout" (required) */
    char *path;            /* files: required */
    char *topic_prefix;    /* default = connector name */
    sl_compression_t compression;
    int64_t rotate_max_bytes;   /* default 64 MiB */
    int64_t rotate_max_ms;      /* rotate.max_seconds, default 60 s (stored in ms) */
    int64_t rotate_max_records; /* default 100000 */
    sl_partition_t partition;   /* default hour */
    char *brokers;              /* kafka: required */
    int exactly_once;           /* kafka, default 0 */
    int tombstones;             /* kafka, default 1 */
    int create_topics;          /* kafka, default 1 */
    int topic_partitions;       /* kafka, default -1 (broker default), never 0 */
    int topic_replication;      /* kafka, default -1 (broker default), never 0 */
    sl_kv_t *kafka;             /* kafka: librdkafka properties, values may be secrets */
    size_t nkafka;
} sl_sink_config_t;

typedef struct sl_connector_config {
    char *name;   /* required, [A-Za-z0-9_-]+ */
    sl_source_config_t source;
    sl_sink_config_t sink;
    char *bookmark_store;    /* bookmarks.store: "file" (default) | "kafka" */
    char *bookmark_topic;    /* kafka store: default "<worker.name>.__bookmarks" */
    char *bookmark_brokers;  /* kafka store: default sink.brokers of a kafka sink */
    sl_kv_t *bookmark_kafka; /* kafka store: librdkafka properties (may be secrets) */
    size_t nbookmark_kafka;
    /* the file and line where this connector was declared, for later error messages */
    char *file;
    int line;
} sl_connector_config_t;

struct sl_config_priv; /* loader-private: which values are secrets (for sl_config_dump) */

typedef struct sl_config {
    char *worker_name;  /* default "sluice" */
    char *data_dir;     /* default "./var" */
    char *http;         /* NULL when absent: the worker then tries 127.0.0.1:8083 and runs
                           without the API if that is taken; "0" or "" = off */
    char *http_token;   /* NULL = no token; a secret */
    sl_log_format_t log_format; /* default text */
    char *log_level;    /* debug|info|warn|error, default info */
    sl_connector_config_t *connectors;
    size_t nconnectors;
    struct sl_config_priv *priv; /* owned; set by the loader, NULL when built by hand */
} sl_config_t;

/* Load and validate a YAML file. Returns NULL and fills err with one sentence naming the
 * file, line and key ("shop.yaml:12: connectors[0].source.prot: unknown key") on any error.
 * ${env:NAME} and ${file:PATH} are resolved; their values are registered with
 * sl_log_add_secret and never appear in err. Caller frees with sl_config_free. */
sl_config_t *sl_config_load(const char *path, char *err, size_t errlen);
/* The same from memory; `name` is used in messages in place of a file path. */
sl_config_t *sl_config_parse(const char *name, const char *yaml, size_t len, char *err,
                             size_t errlen);
void sl_config_free(sl_config_t *c); /* NULL-safe */
/* Find a connector by name, or NULL. Borrowed. */
const sl_connector_config_t *sl_config_connector(const sl_config_t *c, const char *name);
/* The config with every secret replaced by "***", as YAML-ish text (for dumps). */
void sl_config_dump(const sl_config_t *c, sl_buf_t *out);
/* Non-zero when two connectors have the same settings, key by key from the table
 * (secret values included, so a rotated ${file:} password counts as a change; the file
 * and line they were declared at do not). A config reload restarts only connectors for
 * which this is 0. */
int sl_config_connector_same(const sl_connector_config_t *a, const sl_connector_config_t *b);
/* Does tables.include/exclude let `qualified` ("schema.table" / "db.table") through?
 * An empty include list means every table; "*" matches any; exclude wins. */
int sl_config_table_wanted(const sl_source_config_t *c, const char *qualified);
/* The same as a refusal: 0 when wanted, else -1 with the sentence in err. */
int sl_config_table_refused(const sl_source_config_t *c, const char *qualified, char *err,
                            size_t errlen);
/* Markdown table of every key (name, type, default, required, description). */
void sl_config_reference(sl_buf_t *out);

#endif
