/* sluice: a pure, length-checked decoder of MySQL/MariaDB binlog events (no I/O).
 * It keeps the FORMAT_DESCRIPTION state and the TABLE_MAP cache; rows decode lazily. */
#ifndef SL_BINLOG_H
#define SL_BINLOG_H

#include <stddef.h>
#include <stdint.h>
#include "core/arena.h"
#include "core/buf.h"
#include "core/err.h"
#include "core/value.h"
#include "connectors/mysql/mytypes.h"

/* Event type codes (MySQL binlog_event.h Log_event_type; MariaDB log_event.h). */
enum {
    SL_BINLOG_UNKNOWN = 0,
    SL_BINLOG_START_V3 = 1,
    SL_BINLOG_QUERY = 2,
    SL_BINLOG_STOP = 3,
    SL_BINLOG_ROTATE = 4,
    SL_BINLOG_INTVAR = 5,
    SL_BINLOG_LOAD = 6,
    SL_BINLOG_SLAVE = 7,
    SL_BINLOG_CREATE_FILE = 8,
    SL_BINLOG_APPEND_BLOCK = 9,
    SL_BINLOG_EXEC_LOAD = 10,
    SL_BINLOG_DELETE_FILE = 11,
    SL_BINLOG_NEW_LOAD = 12,
    SL_BINLOG_RAND = 13,
    SL_BINLOG_USER_VAR = 14,
    SL_BINLOG_FORMAT_DESCRIPTION = 15,
    SL_BINLOG_XID = 16,
    SL_BINLOG_BEGIN_LOAD_QUERY = 17,
    SL_BINLOG_EXECUTE_LOAD_QUERY = 18,
    SL_BINLOG_TABLE_MAP = 19,
    SL_BINLOG_PRE_GA_WRITE_ROWS = 20,
    SL_BINLOG_PRE_GA_UPDATE_ROWS = 21,
    SL_BINLOG_PRE_GA_DELETE_ROWS = 22,
    SL_BINLOG_WRITE_ROWS_V1 = 23,
    SL_BINLOG_UPDATE_ROWS_V1 = 24,
    SL_BINLOG_DELETE_ROWS_V1 = 25,
    SL_BINLOG_INCIDENT = 26,
    SL_BINLOG_HEARTBEAT = 27,
    SL_BINLOG_IGNORABLE = 28,
    SL_BINLOG_ROWS_QUERY = 29,
    SL_BINLOG_WRITE_ROWS = 30,
    SL_BINLOG_UPDATE_ROWS = 31,
    SL_BINLOG_DELETE_ROWS = 32,
    SL_BINLOG_GTID = 33,
    SL_BINLOG_ANONYMOUS_GTID = 34,
    SL_BINLOG_PREVIOUS_GTIDS = 35,
    SL_BINLOG_TRANSACTION_CONTEXT = 36,
    SL_BINLOG_VIEW_CHANGE = 37,
    SL_BINLOG_XA_PREPARE = 38,
    SL_BINLOG_PARTIAL_UPDATE_ROWS = 39,
    SL_BINLOG_TRANSACTION_PAYLOAD = 40,
    SL_BINLOG_HEARTBEAT_V2 = 41,
    SL_BINLOG_GTID_TAGGED = 42,
    SL_BINLOG_MARIA_ANNOTATE_ROWS = 160,
    SL_BINLOG_MARIA_BINLOG_CHECKPOINT = 161,
    SL_BINLOG_MARIA_GTID = 162,
    SL_BINLOG_MARIA_GTID_LIST = 163,
    SL_BINLOG_MARIA_START_ENCRYPTION = 164,
    SL_BINLOG_MARIA_QUERY_COMPRESSED = 165,
    SL_BINLOG_MARIA_WRITE_ROWS_COMPRESSED_V1 = 166,
    SL_BINLOG_MARIA_UPDATE_ROWS_COMPRESSED_V1 = 167,
    SL_BINLOG_MARIA_DELETE_ROWS_COMPRESSED_V1 = 168,
    SL_BINLOG_MARIA_WRITE_ROWS_COMPRESSED = 169,
    SL_BINLOG_MARIA_UPDATE_ROWS_COMPRESSED = 170,
    SL_BINLOG_MARIA_DELETE_ROWS_COMPRESSED = 171,
};

/* Common header flags. */
#define SL_BINLOG_F_IN_USE 0x0001     /* binlog file not closed properly (FDE only) */
#define SL_BINLOG_F_ARTIFICIAL 0x0020 /* made up by the server (fake ROTATE) */
#define SL_BINLOG_F_IGNORABLE                                                            \
    0x0080 /* a replica that does not know the type may skip it */

/* Rows event flags. */
#define SL_BINLOG_ROWS_STMT_END 0x0001

#define SL_BINLOG_HEADER_LEN 19
#define SL_BINLOG_MAGIC                                                                  \
    "\xfe"                                                                               \
    "bin" /* the 4 bytes that start a binlog file */

typedef enum sl_binlog_checksum {
    SL_BINLOG_CHECKSUM_NONE = 0,
    SL_BINLOG_CHECKSUM_CRC32 = 1,
} sl_binlog_checksum_t;

typedef enum sl_binlog_flavor {
    SL_BINLOG_MYSQL = 0,
    SL_BINLOG_MARIADB = 1,
} sl_binlog_flavor_t;

/* What a decoded event is, beyond its type code. */
typedef enum sl_binlog_kind {
    SL_BINLOG_K_SKIPPED = 0, /* known to carry nothing a CDC reader needs (listed in
                                binlog.c: known_harmless); its header is still valid */
    SL_BINLOG_K_FORMAT,      /* u.fde */
    SL_BINLOG_K_ROTATE,      /* u.rotate */
    SL_BINLOG_K_QUERY,       /* u.query (also EXECUTE_LOAD_QUERY) */
    SL_BINLOG_K_XID,         /* u.xid */
    SL_BINLOG_K_STOP,
    SL_BINLOG_K_INTVAR,     /* u.intvar */
    SL_BINLOG_K_RAND,       /* u.rand */
    SL_BINLOG_K_USER_VAR,   /* u.user_var */
    SL_BINLOG_K_LOAD_BLOCK, /* BEGIN_LOAD_QUERY / APPEND_BLOCK / DELETE_FILE: u.load */
    SL_BINLOG_K_TABLE_MAP,  /* u.table */
    SL_BINLOG_K_ROWS,       /* u.rows: iterate with sl_binlog_rows_next */
    SL_BINLOG_K_ROWS_QUERY, /* ROWS_QUERY or MariaDB ANNOTATE_ROWS: u.text */
    SL_BINLOG_K_GTID,       /* MySQL GTID or ANONYMOUS_GTID: u.gtid */
    SL_BINLOG_K_PREVIOUS_GTIDS, /* u.raw (format with sl_binlog_gtid_set_format) */
    SL_BINLOG_K_MARIA_GTID,     /* u.mgtid */
    SL_BINLOG_K_GTID_LIST,      /* u.gtid_list (sl_binlog_gtid_list_get) */
    SL_BINLOG_K_CHECKPOINT,     /* MariaDB BINLOG_CHECKPOINT: u.text is the file name */
    SL_BINLOG_K_HEARTBEAT,      /* u.heartbeat */
    SL_BINLOG_K_XA_PREPARE,     /* u.xa */
    SL_BINLOG_K_PAYLOAD, /* TRANSACTION_PAYLOAD: iterate with sl_binlog_payload_next */
} sl_binlog_kind_t;

typedef struct sl_binlog_header {
    uint32_t timestamp; /* seconds since the epoch when the statement started */
    uint8_t type;
    uint32_t server_id;
    uint32_t event_size; /* whole event: header, post-header, body, checksum */
    uint32_t log_pos;    /* position just after this event in its binlog file; 0 for
                            artificial events and events inside a TRANSACTION_PAYLOAD */
    uint16_t flags;
} sl_binlog_header_t;

/* One decoded table definition from TABLE_MAP. Owned by the decoder's cache. */
typedef struct sl_binlog_table {
    uint64_t table_id;
    uint16_t flags;
    const char *db; /* NUL-terminated */
    size_t db_len;
    const char *name; /* NUL-terminated */
    size_t name_len;
    uint32_t ncols;
    sl_my_col_t *cols;
    uint32_t npk; /* primary key columns from the optional metadata, 0 if none */
    const uint32_t *pk_cols;   /* column indexes in key order */
    const uint32_t *pk_prefix; /* prefix length per key column, 0 = whole value */
    uint8_t has_names;         /* COLUMN_NAME present (binlog_row_metadata=FULL) */
    uint8_t has_signedness;    /* SIGNEDNESS present */
    uint8_t has_charsets;      /* DEFAULT_CHARSET or COLUMN_CHARSET present */
    uint8_t has_pk;            /* SIMPLE_PRIMARY_KEY or PRIMARY_KEY_WITH_PREFIX present */
    /* Set when rows of this table cannot be decoded (e.g. an unknown column type); rows
     * events for it fail with this sentence, other tables are unaffected. */
    const char *unsupported;
} sl_binlog_table_t;

typedef enum sl_binlog_rows_op {
    SL_BINLOG_INSERT = 1,
    SL_BINLOG_UPDATE = 2,
    SL_BINLOG_DELETE = 3,
} sl_binlog_rows_op_t;

typedef struct sl_binlog_rows {
    uint8_t op; /* sl_binlog_rows_op_t */
    uint16_t flags;
    uint64_t table_id;
    const sl_binlog_table_t *table; /* NULL only for an empty event of an unknown table */
    uint32_t width;
    const uint8_t *cols_before; /* present-column bitmaps ((width+7)/8 bytes each) */
    const uint8_t *cols_after;
    uint32_t nbefore, nafter; /* number of present columns in each bitmap */
    const uint8_t *extra;     /* v2 extra row data, may be NULL */
    size_t extra_len;
    const uint8_t *data; /* the row images */
    size_t data_len;
    size_t pos; /* iterator state: offset in data */
    /* for error messages: */
    size_t ev_off;   /* offset of data within the event */
    uint8_t inflated; /* data was inflated (a MariaDB compressed event); ev_off is 0 */
    uint8_t ev_type; /* the event's type */
    uint64_t ev_pos; /* the event's binlog position, UINT64_MAX when unknown */
} sl_binlog_rows_t;

typedef struct sl_binlog_row {
    size_t ncols;
    sl_value_t *before; /* ncols values (update, delete) or NULL (insert) */
    sl_value_t *after;  /* ncols values (insert, update) or NULL (delete) */
} sl_binlog_row_t;

typedef struct sl_binlog_event {
    sl_binlog_header_t h;
    uint8_t kind;       /* sl_binlog_kind_t */
    const uint8_t *raw; /* the whole event (borrowed from the caller's buffer) */
    union {
        struct {
            uint16_t binlog_version;
            char server_version[51];
            uint32_t create_timestamp;
            uint8_t checksum; /* sl_binlog_checksum_t */
            uint8_t flavor;   /* sl_binlog_flavor_t */
        } fde;
        struct {
            uint64_t pos;
            const char *file;
            size_t file_len;
        } rotate;
        struct {
            uint32_t thread_id;
            uint32_t exec_time;
            uint16_t error_code;
            const char *db;
            size_t db_len;
            const char *sql;
            size_t sql_len;
        } query;
        uint64_t xid;
        struct {
            uint8_t type; /* 1 LAST_INSERT_ID, 2 INSERT_ID */
            uint64_t value;
        } intvar;
        struct {
            uint64_t seed1, seed2;
        } rand;
        struct {
            const char *name;
            size_t name_len;
            uint8_t is_null;
            uint8_t type;
            uint32_t charset;
            const uint8_t *value;
            size_t value_len;
        } user_var;
        struct {
            uint32_t file_id;
            const uint8_t *data;
            size_t len;
        } load;
        const sl_binlog_table_t *table;
        sl_binlog_rows_t rows;
        struct {
            const char *s;
            size_t len;
        } text;
        struct {
            uint8_t flags;
            uint8_t sid[16];
            uint64_t gno;
            int64_t last_committed;       /* -1 when absent */
            int64_t sequence_number;      /* -1 when absent */
            uint64_t immediate_commit_us; /* 0 when absent (MySQL < 8.0.1) */
            uint64_t original_commit_us;
        } gtid;
        struct {
            const uint8_t *p; /* PREVIOUS_GTIDS body */
            size_t len;
        } raw;
        struct {
            uint64_t seq_no;
            uint32_t domain_id;
            uint32_t server_id; /* from the header */
            uint8_t flags;
            uint64_t commit_id; /* when flags & 2 (FL_GROUP_COMMIT_ID) */
        } mgtid;
        struct {
            uint32_t count;
            const uint8_t *entries; /* count * 16 bytes */
        } gtid_list;
        struct {
            const char *file;
            size_t file_len;
            uint64_t pos; /* from the header (v1) or the event (v2) */
        } heartbeat;
        struct {
            uint8_t one_phase;
            int32_t format_id;
            const uint8_t *gtrid;
            uint32_t gtrid_len;
            const uint8_t *bqual;
            uint32_t bqual_len;
        } xa;
        struct {
            uint64_t payload_size;
            uint64_t uncompressed_size; /* 0 when not given */
            uint8_t compression;        /* 0 zstd, 255 none */
        } payload;
    } u;
} sl_binlog_event_t;

typedef struct sl_binlog_decoder sl_binlog_decoder_t;

/* A decoder with no FORMAT_DESCRIPTION seen yet: checksums off, binlog v4 header.
 * Never NULL (aborts on OOM). Free with sl_binlog_decoder_free (NULL is a no-op). */
sl_binlog_decoder_t *sl_binlog_decoder_new(void);
void sl_binlog_decoder_free(sl_binlog_decoder_t *d);

/* The checksum algorithm the server announced (@master_binlog_checksum) for the events
 * that come before the first FORMAT_DESCRIPTION (the fake ROTATE of a replication
 * stream). Each FORMAT_DESCRIPTION then sets it from its own content. */
void sl_binlog_decoder_set_checksum(sl_binlog_decoder_t *d, sl_binlog_checksum_t alg);
/* Do not verify CRC32 (the checksum bytes are still expected and stripped). For fuzzing.
 */
void sl_binlog_decoder_skip_crc(sl_binlog_decoder_t *d, int skip);
/* Largest event accepted inside a TRANSACTION_PAYLOAD (the decompression window never
 * grows beyond it). Default 1 GiB, the largest max_allowed_packet. */
void sl_binlog_decoder_set_max_event(sl_binlog_decoder_t *d, size_t bytes);
/* Charset for a collation id, as the server's information_schema lists it (it wins over
 * the built-in table). Applies to TABLE_MAPs decoded afterwards. */
void sl_binlog_decoder_set_collation(sl_binlog_decoder_t *d, uint32_t collation,
                                     sl_my_cs_t cs);
/* Flavor from the last FORMAT_DESCRIPTION (server version contains "MariaDB"). */
sl_binlog_flavor_t sl_binlog_decoder_flavor(const sl_binlog_decoder_t *d);
sl_binlog_checksum_t sl_binlog_decoder_checksum(const sl_binlog_decoder_t *d);

/* Decode the event at buf (len bytes available, at least the event's event_size; more is
 * fine, e.g. a whole file: advance by ev->h.event_size). ev borrows buf and the decoder:
 * it is valid until the next call that decodes an event. TABLE_MAPs go into the cache.
 * Errors: SL_ERR_PROTOCOL (truncated or malformed, CRC32 mismatch), SL_ERR_UNSUPPORTED
 * (an event that can carry rows sluice cannot decode, an encrypted binlog file),
 * SL_ERR_SOURCE (an INCIDENT: the server says changes may be missing); err gets a
 * sentence naming the event type and offset. After an error ev->h is valid when
 * len >= 19, so the caller can say where. */
sl_err_t sl_binlog_decode(sl_binlog_decoder_t *d, const uint8_t *buf, size_t len,
                          sl_binlog_event_t *ev, char *err, size_t errlen);

/* Rows of a SL_BINLOG_K_ROWS event, one by one. Values borrow the event bytes or are put
 * in arena (valid until it is reset); the before/after arrays belong to the decoder and
 * are overwritten by the next call. Columns not present in the image (binlog_row_image
 * other than FULL) are SL_V_UNCHANGED. */
static inline int sl_binlog_rows_more(const sl_binlog_rows_t *r)
{
    return r->pos < r->data_len;
}
sl_err_t sl_binlog_rows_next(sl_binlog_decoder_t *d, sl_binlog_rows_t *rows,
                             sl_arena_t *arena, sl_binlog_row_t *row, char *err,
                             size_t errlen);

/* After a SL_BINLOG_K_PAYLOAD event: decode its next inner event into inner (*have = 1),
 * or set *have = 0 at the end. The payload event's buffer must stay valid meanwhile; an
 * inner event (and its rows) is valid until the next call. Decompression is streaming
 * into a window that only ever holds one inner event. */
sl_err_t sl_binlog_payload_next(sl_binlog_decoder_t *d, sl_binlog_event_t *inner,
                                int *have, char *err, size_t errlen);

/* Forget the TABLE_MAP cache (e.g. after reconnecting). */
void sl_binlog_decoder_reset_tables(sl_binlog_decoder_t *d);
/* A cached table by id, or NULL. */
const sl_binlog_table_t *sl_binlog_table(const sl_binlog_decoder_t *d, uint64_t table_id);

/* "QUERY", "WRITE_ROWS", ... for messages; "UNKNOWN(n)" is not produced: unknown -> "?".
 */
const char *sl_binlog_type_name(uint8_t type);

/* Does the QUERY text of a CREATE TABLE open a transaction that its rows and an XID end?
 * MySQL 8.0.21+ logs CREATE TABLE ... SELECT into an atomic-DDL engine as one
 * transaction: the generated CREATE TABLE carries "\n) START TRANSACTION" after its
 * column list (sql_show.cc, store_create_info), and the inserted rows follow. */
int sl_binlog_create_opens_tx(const char *sql, size_t len);

/* GTID texts: MySQL "uuid:gno" for SL_BINLOG_K_GTID ("ANONYMOUS" for anonymous ones),
 * MariaDB "domain-server-seq" for SL_BINLOG_K_MARIA_GTID. Appended to out. */
void sl_binlog_gtid_format(const sl_binlog_event_t *ev, sl_buf_t *out);
/* A PREVIOUS_GTIDS body as a MySQL GTID set text ("uuid:1-5:7,uuid2:1-3"). */
sl_err_t sl_binlog_gtid_set_format(const uint8_t *p, size_t len, sl_buf_t *out, char *err,
                                   size_t errlen);
/* Entry i of a GTID_LIST event. */
void sl_binlog_gtid_list_get(const sl_binlog_event_t *ev, uint32_t i, uint32_t *domain,
                             uint32_t *server, uint64_t *seq);

#endif
