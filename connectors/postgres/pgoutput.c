/* sluice: decoder for pgoutput logical replication messages, protocol version 1.
 * The bytes come from a server we do not control: every read is checked first. */

/*
 * Layout reference: PostgreSQL documentation, "Logical Replication Message Formats"
 * (https://www.postgresql.org/docs/current/protocol-logicalrep-message-formats.html).
 * Integers are big-endian; a String is NUL-terminated; TupleData is Int16 column count
 * followed by one Byte1 kind per column ('n' null, 'u' unchanged TOAST, 't' text,
 * 'b' binary), 't'/'b' followed by Int32 length and that many bytes.
 *
 * Only protocol version 1 is decoded: the streaming messages of version 2 ('S', 'E',
 * 'c', 'A') and the two-phase ones of version 3 are never requested, so they are errors.
 * The xid field of 'M', 'R', 'Y', 'I', 'U', 'D', 'T' exists only inside streamed
 * transactions (version 2+), so it is absent here.
 *
 * Timestamps (Begin and Commit commit_ts) are left as the server sends them:
 * microseconds since 2000-01-01 00:00:00 UTC (the PostgreSQL epoch), signed.
 */
#include <stdlib.h>
#include <string.h>
#include "connectors/postgres/pgoutput.h"

/* A cursor over one message; the first failure fills err and sticks, so decoders can
 * read a run of fields and check once. */
typedef struct reader {
    const uint8_t *p;
    size_t n, off;
    const char *msg; /* "Insert", ... for error sentences */
    char *err;
    size_t errlen;
    int failed;
} reader_t;

static int short_read(reader_t *r, const char *field, size_t need)
{
    if (!r->failed)
        sl_err_set(r->err, r->errlen, SL_ERR_PROTOCOL,
                   "pgoutput %s message is truncated: %s needs %zu bytes at offset %zu "
                   "but only %zu remain",
                   r->msg, field, need, r->off, r->n - r->off);
    r->failed = 1;
    return 0;
}

static int need(reader_t *r, const char *field, size_t k)
{
    if (r->failed)
        return 0;
    if (r->n - r->off < k)
        return short_read(r, field, k);
    return 1;
}

static uint8_t rd_u8(reader_t *r, const char *field)
{
    if (!need(r, field, 1))
        return 0;
    return r->p[r->off++];
}

static uint16_t rd_u16(reader_t *r, const char *field)
{
    if (!need(r, field, 2))
        return 0;
    const uint8_t *q = r->p + r->off;
    r->off += 2;
    return (uint16_t)((uint16_t)q[0] << 8 | q[1]);
}

static uint32_t rd_u32(reader_t *r, const char *field)
{
    if (!need(r, field, 4))
        return 0;
    const uint8_t *q = r->p + r->off;
    r->off += 4;
    return (uint32_t)q[0] << 24 | (uint32_t)q[1] << 16 | (uint32_t)q[2] << 8 | q[3];
}

static uint64_t rd_u64(reader_t *r, const char *field)
{
    if (!need(r, field, 8))
        return 0;
    uint64_t hi = rd_u32(r, field);
    uint64_t lo = rd_u32(r, field);
    return hi << 32 | lo;
}

/* A NUL-terminated string inside the message; returns a pointer into the bytes. */
static const char *rd_str(reader_t *r, const char *field)
{
    if (r->failed)
        return "";
    const uint8_t *start = r->p + r->off;
    const uint8_t *nul = memchr(start, 0, r->n - r->off);
    if (!nul) {
        sl_err_set(
            r->err, r->errlen, SL_ERR_PROTOCOL,
            "pgoutput %s message is malformed: %s at offset %zu has no terminating "
            "NUL before the end of the message",
            r->msg, field, r->off);
        r->failed = 1;
        return "";
    }
    r->off += (size_t)(nul - start) + 1;
    return (const char *)start;
}

static const char *rd_bytes(reader_t *r, const char *field, size_t k)
{
    if (!need(r, field, k))
        return NULL;
    const char *s = (const char *)r->p + r->off;
    r->off += k;
    return s;
}

/* A byte that is not one of the values allowed where it stands (just read). */
static sl_err_t fail(reader_t *r, const char *what, char c)
{
    unsigned char u = (unsigned char)c;
    sl_err_set(r->err, r->errlen, SL_ERR_PROTOCOL,
               "pgoutput %s message is malformed: %s '%c' (0x%02x) at offset %zu", r->msg,
               what, u >= 0x20 && u < 0x7f ? c : '?', u, r->off ? r->off - 1 : 0);
    r->failed = 1;
    return SL_ERR_PROTOCOL;
}

/* Grow a scratch array to at least want entries; memory stays for the next message. */
static int grow(void **arr, size_t *cap, size_t want, size_t elem)
{
    if (want <= *cap)
        return 1;
    size_t c = *cap ? *cap : 16;
    while (c < want)
        c *= 2;
    void *p = realloc(*arr, c * elem);
    if (!p)
        return 0;
    *arr = p;
    *cap = c;
    return 1;
}

static sl_err_t oom(reader_t *r, size_t entries)
{
    r->failed = 1;
    return sl_err_set(
        r->err, r->errlen, SL_ERR_NOMEM,
        "out of memory growing the pgoutput decoder's scratch to %zu entries", entries);
}

void sl_pgo_decoder_init(sl_pgo_decoder_t *d)
{
    memset(d, 0, sizeof(*d));
}

void sl_pgo_decoder_free(sl_pgo_decoder_t *d)
{
    if (!d)
        return;
    free(d->cols);
    free(d->relcols);
    free(d->relids);
    sl_pgo_decoder_init(d);
}

/* TupleData into d->cols[at..at+ncols); returns the column count via *ncols. */
static sl_err_t rd_tuple(reader_t *r, sl_pgo_decoder_t *d, size_t at, uint16_t *ncols)
{
    uint16_t k = rd_u16(r, "the tuple's column count");
    if (r->failed)
        return SL_ERR_PROTOCOL;
    /* every column takes at least its kind byte: refuse a count the bytes cannot hold
     * before sizing anything by it */
    if (k > r->n - r->off)
        return sl_err_set(r->err, r->errlen, SL_ERR_PROTOCOL,
                          "pgoutput %s message is truncated: its tuple claims %u columns "
                          "but only %zu bytes remain at offset %zu",
                          r->msg, (unsigned)k, r->n - r->off, r->off);
    /* at least one entry, so even an empty tuple gets a non-NULL array */
    if (!grow((void **)&d->cols, &d->cols_cap, at + k ? at + k : 1, sizeof(*d->cols)))
        return oom(r, at + k);
    for (uint16_t i = 0; i < k; i++) {
        sl_pgo_col_t *c = &d->cols[at + i];
        c->kind = (char)rd_u8(r, "a column kind");
        c->len = 0;
        c->data = NULL;
        if (r->failed)
            return SL_ERR_PROTOCOL;
        switch (c->kind) {
        case 'n':
        case 'u':
            break;
        case 't':
        case 'b':
            c->len = rd_u32(r, "a column value length");
            c->data = rd_bytes(r, "a column value", c->len);
            if (r->failed)
                return SL_ERR_PROTOCOL;
            break;
        default:
            return fail(r, "a tuple column kind must be 'n', 'u', 't' or 'b' but is",
                        c->kind);
        }
    }
    *ncols = k;
    return SL_OK;
}

static sl_err_t dec_relation(reader_t *r, sl_pgo_decoder_t *d, sl_pgo_msg_t *m)
{
    m->u.rel.relid = rd_u32(r, "the relation id");
    m->u.rel.nspname = rd_str(r, "the namespace");
    m->u.rel.relname = rd_str(r, "the relation name");
    m->u.rel.replident = (char)rd_u8(r, "the replica identity");
    m->u.rel.natts = rd_u16(r, "the column count");
    m->u.rel.cols = NULL;
    if (r->failed)
        return SL_ERR_PROTOCOL;
    switch (m->u.rel.replident) {
    case 'd':
    case 'n':
    case 'f':
    case 'i':
        break;
    default:
        return fail(r, "the replica identity must be 'd', 'n', 'f' or 'i' but is",
                    m->u.rel.replident);
    }
    uint16_t natts = m->u.rel.natts;
    /* a column is at least flags + empty name + oid + typmod = 10 bytes */
    if ((size_t)natts * 10 > r->n - r->off)
        return sl_err_set(r->err, r->errlen, SL_ERR_PROTOCOL,
                          "pgoutput Relation message is truncated: it claims %u columns "
                          "but only %zu bytes remain at offset %zu",
                          (unsigned)natts, r->n - r->off, r->off);
    if (!grow((void **)&d->relcols, &d->relcols_cap, natts, sizeof(*d->relcols)))
        return oom(r, natts);
    for (uint16_t i = 0; i < natts; i++) {
        sl_pgo_relcol_t *c = &d->relcols[i];
        c->flags = rd_u8(r, "a column's flags");
        c->name = rd_str(r, "a column name");
        c->type_oid = rd_u32(r, "a column's type oid");
        c->typmod = (int32_t)rd_u32(r, "a column's type modifier");
        if (r->failed)
            return SL_ERR_PROTOCOL;
    }
    m->u.rel.cols = natts ? d->relcols : NULL;
    return SL_OK;
}

/* 'I', 'U' and 'D' share one shape: relid, optional old tuple, optional new tuple. */
static sl_err_t dec_change(reader_t *r, sl_pgo_decoder_t *d, sl_pgo_msg_t *m)
{
    m->u.change.relid = rd_u32(r, "the relation id");
    m->u.change.old_kind = 0;
    m->u.change.nold = m->u.change.nnew = 0;
    m->u.change.old = m->u.change.new = NULL;
    char kind = (char)rd_u8(r, "the tuple kind");
    if (r->failed)
        return SL_ERR_PROTOCOL;
    sl_err_t rc;
    if (m->type == 'I') {
        if (kind != 'N')
            return fail(r, "tuple kind must be 'N' but is", kind);
    } else if (kind == 'K' || kind == 'O') {
        m->u.change.old_kind = kind;
        if ((rc = rd_tuple(r, d, 0, &m->u.change.nold)))
            return rc;
        if (m->type == 'D')
            goto done;
        kind = (char)rd_u8(r, "the new tuple's kind");
        if (r->failed)
            return SL_ERR_PROTOCOL;
        if (kind != 'N')
            return fail(r, "after the old tuple the kind must be 'N' but is", kind);
    } else if (m->type == 'D') {
        return fail(r, "tuple kind must be 'K' or 'O' but is", kind);
    } else if (kind != 'N') {
        return fail(r, "tuple kind must be 'K', 'O' or 'N' but is", kind);
    }
    if ((rc = rd_tuple(r, d, m->u.change.nold, &m->u.change.nnew)))
        return rc;
done:
    /* pointers are taken only now: rd_tuple may have moved the scratch array */
    if (m->u.change.old_kind)
        m->u.change.old = d->cols;
    if (m->type != 'D')
        m->u.change.new = d->cols + m->u.change.nold;
    return SL_OK;
}

static sl_err_t dec_truncate(reader_t *r, sl_pgo_decoder_t *d, sl_pgo_msg_t *m)
{
    uint32_t nrels = rd_u32(r, "the relation count");
    m->u.truncate.options = rd_u8(r, "the options");
    m->u.truncate.nrels = 0;
    m->u.truncate.relids = NULL;
    if (r->failed)
        return SL_ERR_PROTOCOL;
    if ((uint64_t)nrels * 4 > r->n - r->off)
        return sl_err_set(
            r->err, r->errlen, SL_ERR_PROTOCOL,
            "pgoutput Truncate message is truncated: it claims %u relations "
            "but only %zu bytes remain at offset %zu",
            nrels, r->n - r->off, r->off);
    if (!grow((void **)&d->relids, &d->relids_cap, nrels, sizeof(*d->relids)))
        return oom(r, nrels);
    for (uint32_t i = 0; i < nrels; i++)
        d->relids[i] = rd_u32(r, "a relation id");
    m->u.truncate.nrels = nrels;
    m->u.truncate.relids = nrels ? d->relids : NULL;
    return SL_OK;
}

static const char *msg_name(char t)
{
    switch (t) {
    case 'B':
        return "Begin";
    case 'C':
        return "Commit";
    case 'O':
        return "Origin";
    case 'R':
        return "Relation";
    case 'Y':
        return "Type";
    case 'I':
        return "Insert";
    case 'U':
        return "Update";
    case 'D':
        return "Delete";
    case 'T':
        return "Truncate";
    case 'M':
        return "Message";
    default:
        return NULL;
    }
}

sl_err_t sl_pgo_decode(sl_pgo_decoder_t *d, const uint8_t *p, size_t n, sl_pgo_msg_t *out,
                       char *err, size_t errlen)
{
    memset(out, 0, sizeof(*out));
    if (n == 0 || !p)
        return sl_err_set(err, errlen, SL_ERR_PROTOCOL,
                          "empty pgoutput message (no message type byte)");
    char t = (char)p[0];
    reader_t r = {
        .p = p, .n = n, .off = 1, .msg = msg_name(t), .err = err, .errlen = errlen};
    if (!r.msg) {
        if (t == 'S' || t == 'E' || t == 'c' || t == 'A')
            return sl_err_set(
                err, errlen, SL_ERR_PROTOCOL,
                "pgoutput message type '%c' belongs to streamed transactions "
                "(protocol version 2), which sluice does not request",
                t);
        return sl_err_set(err, errlen, SL_ERR_PROTOCOL,
                          "unknown pgoutput message type 0x%02x ('%c'); sluice decodes "
                          "protocol version 1 and does not skip messages it cannot read",
                          (unsigned char)t, t >= 0x20 && t < 0x7f ? t : '?');
    }
    out->type = t;
    sl_err_t rc = SL_OK;
    switch (t) {
    case 'B':
        out->u.begin.final_lsn = rd_u64(&r, "the final LSN");
        out->u.begin.commit_ts = (int64_t)rd_u64(&r, "the commit timestamp");
        out->u.begin.xid = rd_u32(&r, "the xid");
        break;
    case 'C':
        out->u.commit.flags = rd_u8(&r, "the flags");
        out->u.commit.commit_lsn = rd_u64(&r, "the commit LSN");
        out->u.commit.end_lsn = rd_u64(&r, "the end LSN");
        out->u.commit.commit_ts = (int64_t)rd_u64(&r, "the commit timestamp");
        break;
    case 'O':
        out->u.origin.lsn = rd_u64(&r, "the origin commit LSN");
        out->u.origin.name = rd_str(&r, "the origin name");
        break;
    case 'R':
        rc = dec_relation(&r, d, out);
        break;
    case 'Y':
        out->u.type.oid = rd_u32(&r, "the type oid");
        out->u.type.nspname = rd_str(&r, "the namespace");
        out->u.type.name = rd_str(&r, "the type name");
        break;
    case 'I':
    case 'U':
    case 'D':
        rc = dec_change(&r, d, out);
        break;
    case 'T':
        rc = dec_truncate(&r, d, out);
        break;
    case 'M':
        out->u.message.flags = rd_u8(&r, "the flags");
        out->u.message.lsn = rd_u64(&r, "the message LSN");
        out->u.message.prefix = rd_str(&r, "the prefix");
        out->u.message.len = rd_u32(&r, "the content length");
        out->u.message.content = rd_bytes(&r, "the content", out->u.message.len);
        break;
    }
    if (rc == SL_OK && r.failed)
        rc = SL_ERR_PROTOCOL;
    if (rc == SL_OK && r.off != n)
        rc = sl_err_set(err, errlen, SL_ERR_PROTOCOL,
                        "pgoutput %s message has %zu trailing bytes after its end at "
                        "offset %zu",
                        r.msg, n - r.off, r.off);
    if (rc != SL_OK) {
        /* never hand back half-filled pointers */
        memset(out, 0, sizeof(*out));
    }
    return rc;
}
