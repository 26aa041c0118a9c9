/* sluice: decoder for PostgreSQL's pgoutput logical replication messages (protocol 1).
 * Pure byte decoding, every length checked; no libpq, no allocation per row. */
#ifndef SL_PGOUTPUT_H
#define SL_PGOUTPUT_H

#include <stddef.h>
#include <stdint.h>
#include "core/err.h"

/* One column of a TupleData: kind 'n' null, 'u' unchanged TOAST, 't' text, 'b' binary. */
typedef struct sl_pgo_col {
    char kind;
    uint32_t len;
    const char *data; /* borrowed from the message bytes; NOT NUL-terminated */
} sl_pgo_col_t;

typedef struct sl_pgo_relcol {
    uint8_t flags;      /* 1 = part of the replica identity key */
    const char *name;   /* borrowed, NUL-terminated inside the message */
    uint32_t type_oid;
    int32_t typmod;
} sl_pgo_relcol_t;

typedef struct sl_pgo_msg {
    char type; /* 'B','C','O','R','Y','I','U','D','T','M' */
    union {
        struct { uint64_t final_lsn; int64_t commit_ts; uint32_t xid; } begin;
        struct { uint8_t flags; uint64_t commit_lsn, end_lsn; int64_t commit_ts; } commit;
        struct { uint64_t lsn; const char *name; } origin;
        struct {
            uint32_t relid;
            const char *nspname, *relname;
            char replident; /* 'd' default, 'n' nothing, 'f' full, 'i' index */
            uint16_t natts;
            sl_pgo_relcol_t *cols; /* natts entries, in the decoder's scratch */
        } rel;
        struct { uint32_t oid; const char *nspname, *name; } type;
        struct {
            uint32_t relid;
            char old_kind;    /* 0 none, 'K' key columns only, 'O' full old row */
            uint16_t nold, nnew;
            sl_pgo_col_t *old; /* nold entries or NULL */
            sl_pgo_col_t *new; /* nnew entries or NULL (delete) */
        } change; /* 'I', 'U', 'D' */
        struct {
            uint32_t nrels;
            uint8_t options; /* 1 CASCADE, 2 RESTART IDENTITY */
            const uint32_t *relids; /* nrels entries, in the decoder's scratch */
        } truncate;
        struct {
            uint8_t flags; /* 1 transactional */
            uint64_t lsn;
            const char *prefix;
            uint32_t len;
            const char *content; /* len bytes, not NUL-terminated */
        } message;
    } u;
} sl_pgo_msg_t;

/* Reusable scratch for column arrays; decode borrows the message bytes, so the
 * decoded msg is valid until the bytes or the decoder change. */
typedef struct sl_pgo_decoder {
    sl_pgo_col_t *cols;
    size_t cols_cap;
    sl_pgo_relcol_t *relcols;
    size_t relcols_cap;
    uint32_t *relids;
    size_t relids_cap;
} sl_pgo_decoder_t;

void sl_pgo_decoder_init(sl_pgo_decoder_t *d);
void sl_pgo_decoder_free(sl_pgo_decoder_t *d);

/* Decode one pgoutput message (the bytes after the 25-byte XLogData header, starting
 * with the message type byte). Returns SL_OK, or SL_ERR_PROTOCOL with a sentence in err
 * naming the message type and what was wrong (truncated, unknown type, bad tuple kind,
 * trailing bytes). Unknown message types are errors, never skipped. */
sl_err_t sl_pgo_decode(sl_pgo_decoder_t *d, const uint8_t *p, size_t n, sl_pgo_msg_t *out,
                       char *err, size_t errlen);

#endif
