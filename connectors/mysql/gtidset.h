/* sluice: MySQL GTID sets, "uuid:1-5:7,uuid2:1-3": the transactions a MySQL server has
 * executed. The source keeps the set after each commit for the bookmark (PREVIOUS_GTIDS at
 * the start of each binlog file, then one GTID per transaction) and, when the bookmark's
 * binlog file is gone, resumes by sending it (COM_BINLOG_DUMP_GTID). MariaDB's GTIDs
 * ("domain-server-seq") are a different thing, kept in mysql.c. */
#ifndef SL_GTIDSET_H
#define SL_GTIDSET_H

#include <stddef.h>
#include <stdint.h>
#include "core/buf.h"
#include "core/err.h"

typedef struct sl_gtid_iv {
    uint64_t start, end; /* transactions start..end-1, as in the binary form */
} sl_gtid_iv_t;

typedef struct sl_gtid_sid {
    uint8_t uuid[16];
    size_t n, cap;
    sl_gtid_iv_t *iv; /* sorted, disjoint, not adjacent */
} sl_gtid_sid_t;

typedef struct sl_gtid_set {
    size_t n, cap;
    sl_gtid_sid_t *sid; /* sorted by uuid bytes */
} sl_gtid_set_t;

#define SL_GTID_SET_INIT {0, 0, NULL}

void sl_gtid_set_free(sl_gtid_set_t *s);
void sl_gtid_set_clear(sl_gtid_set_t *s); /* keeps the storage */
/* Add transaction gno (1..2^63-1) of server uuid. -1 for gno 0 or beyond. */
int sl_gtid_set_add(sl_gtid_set_t *s, const uint8_t uuid[16], uint64_t gno);
/* Add every transaction of src to s. */
void sl_gtid_set_merge(sl_gtid_set_t *s, const sl_gtid_set_t *src);
int sl_gtid_set_contains(const sl_gtid_set_t *s, const uint8_t uuid[16], uint64_t gno);
/* Replace s with the text form (what @@gtid_executed and bookmarks hold: blanks and
 * newlines between members allowed, hex in either case, "" the empty set).
 * SL_ERR_CONFIG with a sentence naming the bad part; s is then empty. */
sl_err_t sl_gtid_set_parse(sl_gtid_set_t *s, const char *text, char *err, size_t errlen);
/* Replace s with the binary form of PREVIOUS_GTIDS and COM_BINLOG_DUMP_GTID: n_sids (8),
 * then per SID its uuid (16), n_intervals (8) and [start, end) pairs (8 + 8), all little
 * endian. Every length is checked; SL_ERR_PROTOCOL for anything malformed. */
sl_err_t sl_gtid_set_decode(sl_gtid_set_t *s, const uint8_t *p, size_t len, char *err,
                            size_t errlen);
/* Append the text form ("" for the empty set), lower-case as MySQL writes it. */
void sl_gtid_set_format(const sl_gtid_set_t *s, sl_buf_t *out);
/* Append the binary form. */
void sl_gtid_set_encode(const sl_gtid_set_t *s, sl_buf_t *out);

/* MySQL's COM_BINLOG_DUMP_GTID (0x1e) and the payload that follows the command byte:
 * flags (2, BINLOG_THROUGH_GTID), server_id (4), binlog file name length (4, 0: the server
 * finds the file), the name (none), position (8, 4), data length (4), then the set's binary
 * form. Appended to out. */
#define SL_COM_BINLOG_DUMP_GTID 0x1e
void sl_gtid_dump_payload(const sl_gtid_set_t *s, uint32_t server_id, sl_buf_t *out);

#endif
