/* sluice: binlog event decoder (MySQL 5.6+/8.x and MariaDB 10.x), FORMAT_DESCRIPTION
 * state, TABLE_MAP cache, lazy row images and streaming TRANSACTION_PAYLOAD
 * decompression.
 *
 * Layouts follow MySQL's source documentation ("Binary log events", libbinlogevents
 * control_events.h / rows_event.h / statement_events.h, codecs/binary.cpp) and MariaDB's
 * Knowledge Base "Replication protocol" pages (GTID_EVENT, GTID_LIST_EVENT,
 * BINLOG_CHECKPOINT_EVENT, ANNOTATE_ROWS_EVENT, START_ENCRYPTION_EVENT,
 * ROWS_EVENT_V1/V2, "Compressing Events to Reduce Size of the Binary Log"). No server
 * code is copied; every length is checked before use. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>
#include <zstd.h>
#include "connectors/mysql/binlog.h"
#include "connectors/mysql/gtidset.h"

#define TABLE_CACHE_MAX                                                                  \
    1024                 /* entries kept before a transaction start clears the cache */
#define MAX_COLUMNS 4096 /* MySQL and MariaDB allow at most 4096 columns */

/* Optional metadata field types (MySQL rows_event.h, Optional_metadata_field_type). */
enum {
    OM_SIGNEDNESS = 1,
    OM_DEFAULT_CHARSET = 2,
    OM_COLUMN_CHARSET = 3,
    OM_COLUMN_NAME = 4,
    OM_SET_STR_VALUE = 5,
    OM_ENUM_STR_VALUE = 6,
    OM_GEOMETRY_TYPE = 7,
    OM_SIMPLE_PRIMARY_KEY = 8,
    OM_PRIMARY_KEY_WITH_PREFIX = 9,
    OM_ENUM_AND_SET_DEFAULT_CHARSET = 10,
    OM_ENUM_AND_SET_COLUMN_CHARSET = 11,
    OM_COLUMN_VISIBILITY = 12,
};

typedef struct tentry {
    sl_binlog_table_t t;
    sl_buf_t bytes; /* names and member strings; reserved up front so pointers hold */
    sl_my_col_t *cols;
    uint32_t *idx; /* scratch: column indexes, cols_cap entries */
    size_t cols_cap;
    sl_my_str_t *strs;
    size_t strs_cap, nstrs;
    uint32_t *pk; /* pk_cols then pk_prefix */
    size_t pk_cap;
    char unsup[240];
    struct tentry *next_free;
} tentry_t;

typedef struct coll_override {
    uint32_t id;
    uint8_t cs;
} coll_override_t;

struct sl_binlog_decoder {
    uint8_t checksum; /* for events after the last FORMAT_DESCRIPTION */
    uint8_t flavor;
    uint8_t header_len; /* common header length announced by the FORMAT_DESCRIPTION */
    uint8_t skip_crc;
    uint16_t ntypes; /* post-header lengths known from the FORMAT_DESCRIPTION */
    uint8_t post_header[256];

    tentry_t **slots; /* open addressing on table_id; never deleted one by one */
    size_t nslots, count;
    tentry_t *free_list;

    coll_override_t *coll;
    size_t ncoll, collcap;

    sl_value_t *before, *after;
    size_t vcap;
    sl_buf_t tmp;
    uint8_t *zbuf; /* the inflated part of a MariaDB compressed event (maria_inflate) */
    size_t zcap;

    size_t max_event;
    ZSTD_DCtx *zd;
    struct {
        int active;
        int raw;            /* compression NONE: the window is the payload itself */
        const uint8_t *src; /* compressed payload, borrowed from the caller */
        size_t src_len, src_pos;
        uint8_t *win;
        size_t cap, start,
            len;     /* decompressed bytes not yet handed out: win[start..+len) */
        size_t drop; /* bytes of the inner event handed out last time */
        uint64_t total, expect;
        int eof;            /* no more output will come */
        int frame_end;      /* the last zstd call finished a frame */
        uint32_t outer_pos; /* binlog position of the payload event, for messages */
    } pl;
};

/* ---------------------------------------------------------------------------------------
 * Small readers.
 */

static uint64_t le(const uint8_t *p, int n)
{
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

/* A bounds-checked cursor over part of an event. */
typedef struct cur {
    const uint8_t *base; /* the event start, for offsets in messages */
    const uint8_t *p;
    size_t n;
    int bad;
} cur_t;

static size_t c_off(const cur_t *c)
{
    return (size_t)(c->p - c->base);
}

static int c_need(cur_t *c, size_t k)
{
    if (c->bad || k > c->n) {
        c->bad = 1;
        return 0;
    }
    return 1;
}

static uint64_t c_int(cur_t *c, int k)
{
    if (!c_need(c, (size_t)k))
        return 0;
    uint64_t v = le(c->p, k);
    c->p += k;
    c->n -= (size_t)k;
    return v;
}

static const uint8_t *c_bytes(cur_t *c, size_t k)
{
    if (!c_need(c, k))
        return NULL;
    const uint8_t *r = c->p;
    c->p += k;
    c->n -= k;
    return r;
}

/* Packed ("length-encoded") integer: < 251 one byte, 252 + 2, 253 + 3, 254 + 8. */
static uint64_t c_packed(cur_t *c)
{
    if (!c_need(c, 1))
        return 0;
    uint8_t f = c->p[0];
    if (f < 251) {
        c->p++;
        c->n--;
        return f;
    }
    int k = f == 252 ? 2 : f == 253 ? 3 : f == 254 ? 8 : 0;
    if (!k) { /* 251 (NULL) and 255 have no meaning here */
        c->bad = 1;
        return 0;
    }
    if (!c_need(c, 1 + (size_t)k))
        return 0;
    uint64_t v = le(c->p + 1, k);
    c->p += 1 + k;
    c->n -= 1 + (size_t)k;
    return v;
}

/* ---------------------------------------------------------------------------------------
 * Names and messages.
 */

int sl_binlog_create_opens_tx(const char *sql, size_t len)
{
    static const char mark[] = "\n) START TRANSACTION";
    const size_t n = sizeof(mark) - 1;
    const char *p = sql, *end = sql + len;
    while ((p = memmem(p, (size_t)(end - p), mark, n))) {
        p += n;
        if (p == end || *p == ' ' || *p == '\n')
            return 1;
    }
    return 0;
}

const char *sl_binlog_type_name(uint8_t t)
{
    switch (t) {
    case SL_BINLOG_START_V3:
        return "START_V3";
    case SL_BINLOG_QUERY:
        return "QUERY";
    case SL_BINLOG_STOP:
        return "STOP";
    case SL_BINLOG_ROTATE:
        return "ROTATE";
    case SL_BINLOG_INTVAR:
        return "INTVAR";
    case SL_BINLOG_LOAD:
        return "LOAD";
    case SL_BINLOG_SLAVE:
        return "SLAVE";
    case SL_BINLOG_CREATE_FILE:
        return "CREATE_FILE";
    case SL_BINLOG_APPEND_BLOCK:
        return "APPEND_BLOCK";
    case SL_BINLOG_EXEC_LOAD:
        return "EXEC_LOAD";
    case SL_BINLOG_DELETE_FILE:
        return "DELETE_FILE";
    case SL_BINLOG_NEW_LOAD:
        return "NEW_LOAD";
    case SL_BINLOG_RAND:
        return "RAND";
    case SL_BINLOG_USER_VAR:
        return "USER_VAR";
    case SL_BINLOG_FORMAT_DESCRIPTION:
        return "FORMAT_DESCRIPTION";
    case SL_BINLOG_XID:
        return "XID";
    case SL_BINLOG_BEGIN_LOAD_QUERY:
        return "BEGIN_LOAD_QUERY";
    case SL_BINLOG_EXECUTE_LOAD_QUERY:
        return "EXECUTE_LOAD_QUERY";
    case SL_BINLOG_TABLE_MAP:
        return "TABLE_MAP";
    case SL_BINLOG_PRE_GA_WRITE_ROWS:
        return "PRE_GA_WRITE_ROWS";
    case SL_BINLOG_PRE_GA_UPDATE_ROWS:
        return "PRE_GA_UPDATE_ROWS";
    case SL_BINLOG_PRE_GA_DELETE_ROWS:
        return "PRE_GA_DELETE_ROWS";
    case SL_BINLOG_WRITE_ROWS_V1:
        return "WRITE_ROWS_V1";
    case SL_BINLOG_UPDATE_ROWS_V1:
        return "UPDATE_ROWS_V1";
    case SL_BINLOG_DELETE_ROWS_V1:
        return "DELETE_ROWS_V1";
    case SL_BINLOG_INCIDENT:
        return "INCIDENT";
    case SL_BINLOG_HEARTBEAT:
        return "HEARTBEAT";
    case SL_BINLOG_IGNORABLE:
        return "IGNORABLE";
    case SL_BINLOG_ROWS_QUERY:
        return "ROWS_QUERY";
    case SL_BINLOG_WRITE_ROWS:
        return "WRITE_ROWS";
    case SL_BINLOG_UPDATE_ROWS:
        return "UPDATE_ROWS";
    case SL_BINLOG_DELETE_ROWS:
        return "DELETE_ROWS";
    case SL_BINLOG_GTID:
        return "GTID";
    case SL_BINLOG_ANONYMOUS_GTID:
        return "ANONYMOUS_GTID";
    case SL_BINLOG_PREVIOUS_GTIDS:
        return "PREVIOUS_GTIDS";
    case SL_BINLOG_TRANSACTION_CONTEXT:
        return "TRANSACTION_CONTEXT";
    case SL_BINLOG_VIEW_CHANGE:
        return "VIEW_CHANGE";
    case SL_BINLOG_XA_PREPARE:
        return "XA_PREPARE";
    case SL_BINLOG_PARTIAL_UPDATE_ROWS:
        return "PARTIAL_UPDATE_ROWS";
    case SL_BINLOG_TRANSACTION_PAYLOAD:
        return "TRANSACTION_PAYLOAD";
    case SL_BINLOG_HEARTBEAT_V2:
        return "HEARTBEAT_V2";
    case SL_BINLOG_GTID_TAGGED:
        return "GTID_TAGGED";
    case SL_BINLOG_MARIA_ANNOTATE_ROWS:
        return "ANNOTATE_ROWS";
    case SL_BINLOG_MARIA_BINLOG_CHECKPOINT:
        return "BINLOG_CHECKPOINT";
    case SL_BINLOG_MARIA_GTID:
        return "MARIADB_GTID";
    case SL_BINLOG_MARIA_GTID_LIST:
        return "GTID_LIST";
    case SL_BINLOG_MARIA_START_ENCRYPTION:
        return "START_ENCRYPTION";
    case SL_BINLOG_MARIA_QUERY_COMPRESSED:
        return "QUERY_COMPRESSED";
    case SL_BINLOG_MARIA_WRITE_ROWS_COMPRESSED_V1:
        return "WRITE_ROWS_COMPRESSED_V1";
    case SL_BINLOG_MARIA_UPDATE_ROWS_COMPRESSED_V1:
        return "UPDATE_ROWS_COMPRESSED_V1";
    case SL_BINLOG_MARIA_DELETE_ROWS_COMPRESSED_V1:
        return "DELETE_ROWS_COMPRESSED_V1";
    case SL_BINLOG_MARIA_WRITE_ROWS_COMPRESSED:
        return "WRITE_ROWS_COMPRESSED";
    case SL_BINLOG_MARIA_UPDATE_ROWS_COMPRESSED:
        return "UPDATE_ROWS_COMPRESSED";
    case SL_BINLOG_MARIA_DELETE_ROWS_COMPRESSED:
        return "DELETE_ROWS_COMPRESSED";
    default:
        return "?";
    }
}

/* "at binlog position N" or why there is none. */
static void where(const sl_binlog_header_t *h, int inner, char *out, size_t n)
{
    if (inner)
        snprintf(out, n, "inside a TRANSACTION_PAYLOAD");
    else if (h->log_pos && h->log_pos >= h->event_size)
        snprintf(out, n, "at binlog position %u", h->log_pos - h->event_size);
    else
        snprintf(out, n, "(no binlog position)");
}

static sl_err_t everr(const sl_binlog_header_t *h, int inner, sl_err_t code, size_t off,
                      char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 7, 8)));

static sl_err_t everr(const sl_binlog_header_t *h, int inner, sl_err_t code, size_t off,
                      char *err, size_t errlen, const char *fmt, ...)
{
    char msg[320], w[64];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    where(h, inner, w, sizeof(w));
    const char *name = sl_binlog_type_name(h->type);
    if (name[0] == '?')
        return sl_err_set(err, errlen, code,
                          "event of type %u %s, byte %zu of the event: %s", h->type, w,
                          off, msg);
    return sl_err_set(err, errlen, code, "%s event %s, byte %zu of the event: %s", name,
                      w, off, msg);
}

/* ---------------------------------------------------------------------------------------
 * Decoder life cycle and options.
 */

static void *xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (!q) {
        fprintf(stderr, "sluice: out of memory (%zu bytes in the binlog decoder)\n", n);
        abort();
    }
    return q;
}

sl_binlog_decoder_t *sl_binlog_decoder_new(void)
{
    sl_binlog_decoder_t *d = xrealloc(NULL, sizeof(*d));
    memset(d, 0, sizeof(*d));
    d->header_len = SL_BINLOG_HEADER_LEN;
    d->max_event = (size_t)1 << 30;
    sl_buf_init(&d->tmp);
    return d;
}

static void tentry_free(tentry_t *e)
{
    sl_buf_free(&e->bytes);
    free(e->cols);
    free(e->idx);
    free(e->strs);
    free(e->pk);
    free(e);
}

void sl_binlog_decoder_reset_tables(sl_binlog_decoder_t *d)
{
    for (size_t i = 0; i < d->nslots; i++) {
        if (d->slots[i]) {
            d->slots[i]->next_free = d->free_list;
            d->free_list = d->slots[i];
            d->slots[i] = NULL;
        }
    }
    d->count = 0;
}

void sl_binlog_decoder_free(sl_binlog_decoder_t *d)
{
    if (!d)
        return;
    sl_binlog_decoder_reset_tables(d);
    while (d->free_list) {
        tentry_t *n = d->free_list->next_free;
        tentry_free(d->free_list);
        d->free_list = n;
    }
    free(d->slots);
    free(d->coll);
    free(d->before);
    free(d->after);
    sl_buf_free(&d->tmp);
    free(d->zbuf);
    free(d->pl.win);
    ZSTD_freeDCtx(d->zd);
    free(d);
}

void sl_binlog_decoder_set_checksum(sl_binlog_decoder_t *d, sl_binlog_checksum_t alg)
{
    d->checksum = (uint8_t)alg;
}

void sl_binlog_decoder_skip_crc(sl_binlog_decoder_t *d, int skip)
{
    d->skip_crc = skip != 0;
}

void sl_binlog_decoder_set_max_event(sl_binlog_decoder_t *d, size_t bytes)
{
    d->max_event = bytes < 64 ? 64 : bytes;
}

/* First index whose id is >= collation (the table is kept sorted: a server lists about a
 * thousand collations, and every character column of every TABLE_MAP looks one up). */
static size_t coll_find(const sl_binlog_decoder_t *d, uint32_t collation)
{
    size_t lo = 0, hi = d->ncoll;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (d->coll[mid].id < collation)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

void sl_binlog_decoder_set_collation(sl_binlog_decoder_t *d, uint32_t collation,
                                     sl_my_cs_t cs)
{
    size_t i = coll_find(d, collation);
    if (i < d->ncoll && d->coll[i].id == collation) {
        d->coll[i].cs = (uint8_t)cs;
        return;
    }
    if (d->ncoll == d->collcap) {
        d->collcap = d->collcap ? d->collcap * 2 : 16;
        d->coll = xrealloc(d->coll, d->collcap * sizeof(*d->coll));
    }
    memmove(&d->coll[i + 1], &d->coll[i], (d->ncoll - i) * sizeof(*d->coll));
    d->coll[i].id = collation;
    d->coll[i].cs = (uint8_t)cs;
    d->ncoll++;
}

sl_binlog_flavor_t sl_binlog_decoder_flavor(const sl_binlog_decoder_t *d)
{
    return (sl_binlog_flavor_t)d->flavor;
}

sl_binlog_checksum_t sl_binlog_decoder_checksum(const sl_binlog_decoder_t *d)
{
    return (sl_binlog_checksum_t)d->checksum;
}

static sl_my_cs_t resolve_cs(const sl_binlog_decoder_t *d, uint32_t collation)
{
    size_t i = coll_find(d, collation);
    if (i < d->ncoll && d->coll[i].id == collation)
        return (sl_my_cs_t)d->coll[i].cs;
    return sl_my_charset_of(collation);
}

/* ---------------------------------------------------------------------------------------
 * TABLE_MAP cache.
 */

static size_t slot_of(const sl_binlog_decoder_t *d, uint64_t id)
{
    uint64_t h = id * 0x9e3779b97f4a7c15ULL;
    return (size_t)(h >> 20) & (d->nslots - 1);
}

const sl_binlog_table_t *sl_binlog_table(const sl_binlog_decoder_t *d, uint64_t id)
{
    if (!d->nslots)
        return NULL;
    for (size_t i = slot_of(d, id);; i = (i + 1) & (d->nslots - 1)) {
        if (!d->slots[i])
            return NULL;
        if (d->slots[i]->t.table_id == id)
            return &d->slots[i]->t;
    }
}

/* The entry for id, reused when present, else a fresh one inserted in the cache. */
static tentry_t *table_slot(sl_binlog_decoder_t *d, uint64_t id)
{
    if (d->nslots) {
        for (size_t i = slot_of(d, id);; i = (i + 1) & (d->nslots - 1)) {
            if (!d->slots[i])
                break;
            if (d->slots[i]->t.table_id == id)
                return d->slots[i];
        }
    }
    if ((d->count + 1) * 2 > d->nslots) {
        size_t old = d->nslots;
        tentry_t **os = d->slots;
        d->nslots = old ? old * 2 : 64;
        d->slots = xrealloc(NULL, d->nslots * sizeof(*d->slots));
        memset(d->slots, 0, d->nslots * sizeof(*d->slots));
        for (size_t i = 0; i < old; i++) {
            if (!os[i])
                continue;
            size_t j = slot_of(d, os[i]->t.table_id);
            while (d->slots[j])
                j = (j + 1) & (d->nslots - 1);
            d->slots[j] = os[i];
        }
        free(os);
    }
    tentry_t *e = d->free_list;
    if (e) {
        d->free_list = e->next_free;
    } else {
        e = xrealloc(NULL, sizeof(*e));
        memset(e, 0, sizeof(*e));
        sl_buf_init(&e->bytes);
    }
    e->t.table_id = id;
    size_t j = slot_of(d, id);
    while (d->slots[j])
        j = (j + 1) & (d->nslots - 1);
    d->slots[j] = e;
    d->count++;
    return e;
}

/* A transaction starts: a safe point to bound the cache (every statement of a
 * transaction is preceded by the TABLE_MAPs of the tables it touches). */
static void transaction_start(sl_binlog_decoder_t *d)
{
    if (d->count > TABLE_CACHE_MAX)
        sl_binlog_decoder_reset_tables(d);
}

/* Copy bytes into the entry's reserved storage; the reservation made in decode_table_map
 * guarantees no reallocation, so earlier pointers stay valid. */
static const char *store(tentry_t *e, const void *p, size_t n, int nul)
{
    size_t at = e->bytes.len;
    if (n + 2 > e->bytes.cap - at) /* only a malformed event can get here */
        return NULL;
    sl_buf_append(&e->bytes, p, n);
    if (nul)
        sl_buf_putc(&e->bytes, 0);
    return e->bytes.data + at;
}

/* Character columns as counted by DEFAULT_CHARSET/COLUMN_CHARSET: MySQL's
 * is_character_type() over real types; MariaDB also counts GEOMETRY ("base class is blob
 * for geom type", MariaDB log_event_client.cc). */
static int is_character(uint8_t t, int maria)
{
    switch (t) {
    case SL_MY_STRING:
    case SL_MY_VAR_STRING:
    case SL_MY_VARCHAR:
    case SL_MY_BLOB:
        return 1;
    case SL_MY_GEOMETRY:
        return maria;
    default:
        return 0;
    }
}

static int is_enum_set(uint8_t t)
{
    return t == SL_MY_ENUM || t == SL_MY_SET;
}

/* Indexes of the character (or ENUM/SET) columns, which charset fields count in;
 * returns how many. */
static uint32_t charset_columns(tentry_t *e, int maria, int enumset)
{
    uint32_t n = 0;
    for (uint32_t i = 0; i < e->t.ncols; i++) {
        uint8_t t = e->cols[i].type;
        if (enumset ? is_enum_set(t) : is_character(t, maria))
            e->idx[n++] = i;
    }
    return n;
}

/* Parse the optional metadata TLV fields (MySQL rows_event.h, "Table_map_event optional
 * metadata types"; Table_map_event::Optional_metadata_fields). */
static sl_err_t parse_optional(sl_binlog_decoder_t *d, tentry_t *e, cur_t *c,
                               const sl_binlog_header_t *h, int inner, char *err,
                               size_t errlen)
{
    int maria = d->flavor == SL_BINLOG_MARIADB;
    while (c->n) {
        size_t at = c_off(c);
        uint8_t type = (uint8_t)c_int(c, 1);
        uint64_t len = c_packed(c);
        if (c->bad || len > c->n)
            return everr(h, inner, SL_ERR_PROTOCOL, at, err, errlen,
                         "optional metadata field %u runs past the event", type);
        cur_t f = {c->base, c->p, (size_t)len, 0};
        c->p += len;
        c->n -= (size_t)len;
        switch (type) {
        case OM_SIGNEDNESS: {
            /* one bit per numeric column, most significant bit first */
            uint64_t k = 0;
            for (uint32_t i = 0; i < e->t.ncols; i++) {
                if (!sl_my_is_numeric(e->cols[i].type))
                    continue;
                if (k / 8 < len && (f.p[k / 8] & (0x80 >> (k % 8))))
                    e->cols[i].flags |= SL_MY_F_UNSIGNED;
                k++;
            }
            e->t.has_signedness = 1;
            break;
        }
        case OM_DEFAULT_CHARSET:
        case OM_ENUM_AND_SET_DEFAULT_CHARSET: {
            int es = type == OM_ENUM_AND_SET_DEFAULT_CHARSET;
            uint32_t n = charset_columns(e, maria, es);
            uint64_t def = c_packed(&f);
            if (f.bad || def > UINT32_MAX)
                goto bad;
            for (uint32_t k = 0; k < n; k++)
                e->cols[e->idx[k]].collation = (uint32_t)def;
            /* then (index among those columns, collation) for the exceptions */
            while (f.n) {
                uint64_t k = c_packed(&f), coll = c_packed(&f);
                if (f.bad || coll > UINT32_MAX || k >= n)
                    goto bad;
                e->cols[e->idx[k]].collation = (uint32_t)coll;
            }
            if (!es)
                e->t.has_charsets = 1;
            break;
        }
        case OM_COLUMN_CHARSET:
        case OM_ENUM_AND_SET_COLUMN_CHARSET: {
            int es = type == OM_ENUM_AND_SET_COLUMN_CHARSET;
            uint32_t n = charset_columns(e, maria, es);
            for (uint32_t k = 0; f.n; k++) {
                uint64_t coll = c_packed(&f);
                if (f.bad || coll > UINT32_MAX || k >= n)
                    goto bad;
                e->cols[e->idx[k]].collation = (uint32_t)coll;
            }
            if (!es)
                e->t.has_charsets = 1;
            break;
        }
        case OM_COLUMN_NAME:
            for (uint32_t i = 0; i < e->t.ncols && f.n; i++) {
                uint64_t l = c_packed(&f);
                const uint8_t *s = f.bad ? NULL : c_bytes(&f, (size_t)l);
                if (!s)
                    goto bad;
                if (!(e->cols[i].name = store(e, s, (size_t)l, 1)))
                    goto bad; /* e.g. a repeated field */
                e->cols[i].name_len = (uint32_t)l;
            }
            e->t.has_names = 1;
            break;
        case OM_SET_STR_VALUE:
        case OM_ENUM_STR_VALUE: {
            uint8_t want = type == OM_SET_STR_VALUE ? SL_MY_SET : SL_MY_ENUM;
            for (uint32_t i = 0; i < e->t.ncols && f.n; i++) {
                if (e->cols[i].type != want)
                    continue;
                uint64_t cnt = c_packed(&f);
                if (f.bad || cnt > f.n || e->nstrs + cnt > e->strs_cap)
                    goto bad;
                size_t first = e->nstrs;
                for (uint64_t k = 0; k < cnt; k++) {
                    uint64_t l = c_packed(&f);
                    const uint8_t *s = f.bad ? NULL : c_bytes(&f, (size_t)l);
                    if (!s)
                        goto bad;
                    e->strs[e->nstrs].s = (const char *)s; /* converted in finish_table */
                    e->strs[e->nstrs].len = (uint32_t)l;
                    e->nstrs++;
                }
                e->cols[i].vals = e->strs + first;
                e->cols[i].nvals = (uint32_t)cnt;
            }
            break;
        }
        case OM_GEOMETRY_TYPE:
            for (uint32_t i = 0; i < e->t.ncols && f.n; i++) {
                if (e->cols[i].type != SL_MY_GEOMETRY)
                    continue;
                uint64_t g = c_packed(&f);
                if (f.bad)
                    goto bad;
                e->cols[i].geom_type = (uint8_t)(g > 255 ? 0 : g);
            }
            break;
        case OM_SIMPLE_PRIMARY_KEY:
        case OM_PRIMARY_KEY_WITH_PREFIX: {
            int prefix = type == OM_PRIMARY_KEY_WITH_PREFIX;
            uint32_t npk = 0;
            uint32_t *cols = e->pk, *pre = e->pk + e->pk_cap / 2;
            while (f.n) {
                uint64_t idx = c_packed(&f), pl = prefix ? c_packed(&f) : 0;
                if (f.bad || idx >= e->t.ncols || npk >= e->pk_cap / 2 || pl > UINT32_MAX)
                    goto bad;
                cols[npk] = (uint32_t)idx;
                pre[npk] = (uint32_t)pl;
                e->cols[idx].flags |= SL_MY_F_KEY;
                npk++;
            }
            e->t.npk = npk;
            e->t.pk_cols = cols;
            e->t.pk_prefix = pre;
            e->t.has_pk = 1;
            break;
        }
        default:
            break; /* COLUMN_VISIBILITY, VECTOR_DIMENSIONALITY and future fields */
        }
        continue;
    bad:
        return everr(h, inner, SL_ERR_PROTOCOL, at, err, errlen,
                     "optional metadata field %u is malformed", type);
    }
    return SL_OK;
}

/* Resolve charsets and bring ENUM/SET member strings to UTF-8 inside the entry. The
 * reservation made in decode_table_map (4x the event body) covers the worst case, 3 UTF-8
 * bytes per source byte; should it not, the table is refused rather than reallocated. */
static void finish_table(sl_binlog_decoder_t *d, tentry_t *e)
{
    for (uint32_t i = 0; i < e->t.ncols; i++) {
        sl_my_col_t *c = &e->cols[i];
        c->cs = (uint8_t)(c->collation ? resolve_cs(d, c->collation) : SL_MY_CS_UNKNOWN);
        for (uint32_t k = 0; c->vals && k < c->nvals; k++) {
            sl_my_str_t *s = (sl_my_str_t *)&c->vals[k];
            char why[160];
            const char *stored = NULL;
            sl_buf_reset(&d->tmp);
            if (sl_my_text_to_utf8((sl_my_cs_t)c->cs, (const uint8_t *)s->s, s->len,
                                   &d->tmp, why, sizeof(why)) == SL_OK)
                stored = store(e, d->tmp.data ? d->tmp.data : "", d->tmp.len, 0);
            if (!stored) {
                /* rows of this table are refused rather than given unconverted text */
                if (!e->t.unsupported) {
                    snprintf(e->unsup, sizeof(e->unsup),
                             "the ENUM/SET members of column %u of `%s`.`%s` cannot be "
                             "converted to UTF-8",
                             i + 1, e->t.db, e->t.name);
                    e->t.unsupported = e->unsup;
                }
                s->s = "";
                s->len = 0;
                continue;
            }
            s->s = stored;
            s->len = (uint32_t)d->tmp.len;
        }
    }
}

static sl_err_t decode_table_map(sl_binlog_decoder_t *d, const uint8_t *ev, size_t hl,
                                 size_t ph, size_t end, sl_binlog_event_t *out, int inner,
                                 char *err, size_t errlen)
{
    const sl_binlog_header_t *h = &out->h;
    if (ph != 6 && ph < 8)
        return everr(h, inner, SL_ERR_PROTOCOL, hl, err, errlen,
                     "post-header of %zu bytes (6 or 8 expected)", ph);
    /* table_id is 6 bytes since MySQL 5.1.4 (post-header 8), 4 bytes before */
    uint64_t id = ph == 6 ? le(ev + hl, 4) : le(ev + hl, 6);
    uint16_t tflags = (uint16_t)le(ev + hl + (ph == 6 ? 4 : 6), 2);
    cur_t c = {ev, ev + hl + ph, end - hl - ph, 0};
    size_t body_len = c.n;

    size_t dblen = (size_t)c_int(&c, 1);
    const uint8_t *db = c_bytes(&c, dblen + 1);
    size_t tlen = (size_t)c_int(&c, 1);
    const uint8_t *tbl = c_bytes(&c, tlen + 1);
    size_t at_cols = c_off(&c);
    uint64_t ncols = c_packed(&c);
    if (c.bad)
        return everr(h, inner, SL_ERR_PROTOCOL, c_off(&c), err, errlen,
                     "the database/table names run past the event");
    if (ncols == 0 || ncols > MAX_COLUMNS || ncols > c.n)
        return everr(h, inner, SL_ERR_PROTOCOL, at_cols, err, errlen,
                     "column count %llu is impossible", (unsigned long long)ncols);
    const uint8_t *types = c_bytes(&c, (size_t)ncols);
    size_t at_meta = c_off(&c);
    uint64_t mlen = c_packed(&c);
    const uint8_t *meta = c.bad || mlen > c.n ? NULL : c_bytes(&c, (size_t)mlen);
    const uint8_t *nullbits = meta ? c_bytes(&c, ((size_t)ncols + 7) / 8) : NULL;
    if (!types || !meta || !nullbits)
        return everr(h, inner, SL_ERR_PROTOCOL, at_meta, err, errlen,
                     "the column types/metadata/null bitmap run past the event");

    tentry_t *e = table_slot(d, id);
    memset(&e->t, 0, sizeof(e->t));
    e->t.table_id = id;
    e->t.flags = tflags;
    sl_buf_reset(&e->bytes);
    /* every string comes from this body; 4x leaves room for charset conversion */
    sl_buf_reserve(&e->bytes, 4 * body_len + 64);
    if (e->cols_cap < ncols) {
        e->cols_cap = (size_t)ncols;
        e->cols = xrealloc(e->cols, e->cols_cap * sizeof(*e->cols));
        e->idx = xrealloc(e->idx, e->cols_cap * sizeof(*e->idx));
    }
    size_t optlen = c.n;
    if (e->strs_cap < optlen + 1) {
        e->strs_cap = optlen + 1;
        e->strs = xrealloc(e->strs, e->strs_cap * sizeof(*e->strs));
    }
    e->nstrs = 0;
    if (e->pk_cap < 2 * (optlen + 1)) {
        e->pk_cap = 2 * (optlen + 1);
        e->pk = xrealloc(e->pk, e->pk_cap * sizeof(*e->pk));
    }
    e->unsup[0] = 0;
    e->t.db = store(e, db, dblen, 1);
    e->t.db_len = dblen;
    e->t.name = store(e, tbl, tlen, 1);
    e->t.name_len = tlen;
    e->t.ncols = (uint32_t)ncols;
    e->t.cols = e->cols;
    memset(e->cols, 0, (size_t)ncols * sizeof(*e->cols));
    out->kind = SL_BINLOG_K_TABLE_MAP;
    out->u.table = &e->t;

    cur_t m = {ev, meta, (size_t)mlen, 0};
    sl_err_t r = SL_OK;
    for (uint32_t i = 0; i < ncols; i++) {
        sl_my_col_t *col = &e->cols[i];
        col->type = types[i];
        if (nullbits[i / 8] & (1u << (i % 8)))
            col->flags |= SL_MY_F_NULLABLE;
        int ms = sl_my_meta_size(types[i]);
        char why[200];
        if (ms < 0) {
            /* Without its metadata size the rest of the block cannot be read: keep the
             * table known (names) but refuse its rows. */
            snprintf(
                e->unsup, sizeof(e->unsup),
                "column %u of `%.*s`.`%.*s` has binlog type %u, which sluice does not "
                "know",
                i + 1, (int)dblen, (const char *)db, (int)tlen, (const char *)tbl,
                types[i]);
            e->t.unsupported = e->unsup;
            return SL_OK;
        }
        size_t mat = c_off(&m);
        const uint8_t *mp = c_bytes(&m, (size_t)ms);
        if (!mp) {
            r = everr(h, inner, SL_ERR_PROTOCOL, mat, err, errlen,
                      "metadata of column %u runs past the metadata block", i + 1);
            goto broken;
        }
        uint8_t rt;
        uint16_t mv;
        r = sl_my_parse_meta(types[i], mp, &rt, &mv, why, sizeof(why));
        if (r == SL_ERR_UNSUPPORTED) {
            if (!e->t.unsupported) {
                snprintf(e->unsup, sizeof(e->unsup), "column %u of `%.*s`.`%.*s`: %s",
                         i + 1, (int)dblen, (const char *)db, (int)tlen,
                         (const char *)tbl, why);
                e->t.unsupported = e->unsup;
            }
            continue;
        }
        if (r) {
            r = everr(h, inner, SL_ERR_PROTOCOL, mat, err, errlen, "column %u: %s", i + 1,
                      why);
            goto broken;
        }
        col->type = rt;
        col->meta = mv;
    }
    if (m.n) {
        r = everr(h, inner, SL_ERR_PROTOCOL, at_meta, err, errlen,
                  "metadata block is %llu bytes but the columns use %llu",
                  (unsigned long long)mlen, (unsigned long long)(mlen - m.n));
        goto broken;
    }
    r = parse_optional(d, e, &c, h, inner, err, errlen);
    if (r)
        goto broken;
    finish_table(d, e);
    return SL_OK;
broken:
    /* Keep no pointer into this event: later rows for the id fail with a reason. */
    for (uint32_t i = 0; i < e->t.ncols; i++) {
        e->cols[i].vals = NULL;
        e->cols[i].nvals = 0;
    }
    snprintf(e->unsup, sizeof(e->unsup), "the TABLE_MAP of table id %llu was malformed",
             (unsigned long long)id);
    e->t.unsupported = e->unsup;
    return r;
}

/* ---------------------------------------------------------------------------------------
 * Rows events.
 */

static int rows_op(uint8_t t)
{
    switch (t) {
    case SL_BINLOG_WRITE_ROWS_V1:
    case SL_BINLOG_WRITE_ROWS:
        return SL_BINLOG_INSERT;
    case SL_BINLOG_UPDATE_ROWS_V1:
    case SL_BINLOG_UPDATE_ROWS:
        return SL_BINLOG_UPDATE;
    case SL_BINLOG_DELETE_ROWS_V1:
    case SL_BINLOG_DELETE_ROWS:
        return SL_BINLOG_DELETE;
    default:
        return 0;
    }
}

/* MariaDB's compressed events (log_bin_compress): the query text of a QUERY_COMPRESSED
 * event, or the row images of a *_ROWS_COMPRESSED event (after its column bitmaps), are
 * replaced by a header byte 0x80 | n (bits 4-6 name the algorithm: 0, zlib, is the only
 * one), the uncompressed length in n = 1..4 big-endian bytes, and a zlib stream that
 * fills the rest of the event. Inflates into d->zbuf: the result must be exactly the
 * stated length, at most max_event bytes, and use the whole stream. NULL with why set
 * when the block is malformed. */
static const uint8_t *maria_inflate(sl_binlog_decoder_t *d, const uint8_t *p, size_t n,
                                    size_t *outlen, char *why, size_t whylen)
{
    if (n < 1) {
        snprintf(why, whylen, "the compressed block is empty");
        return NULL;
    }
    if ((p[0] & 0xf8) != 0x80 || (p[0] & 0x07) < 1 || (p[0] & 0x07) > 4) {
        snprintf(why, whylen,
                 "the compressed block's header byte 0x%02x is not 0x81-0x84", p[0]);
        return NULL;
    }
    size_t nl = p[0] & 0x07;
    if (n < 1 + nl) {
        snprintf(why, whylen, "the compressed block's length runs past the event");
        return NULL;
    }
    uint64_t want = 0;
    for (size_t i = 0; i < nl; i++)
        want = want << 8 | p[1 + i];
    if (want > d->max_event) {
        snprintf(why, whylen,
                 "the block would inflate to %llu bytes, more than the %zu-byte event "
                 "limit",
                 (unsigned long long)want, d->max_event);
        return NULL;
    }
    /* deflate expands at most 1032:1, so a larger claim is a lie: refuse it before
     * allocating for it */
    if (want > (uint64_t)(n - 1 - nl) * 1032 + 64) {
        snprintf(why, whylen,
                 "the block claims %llu bytes, more than %zu compressed bytes can "
                 "inflate to",
                 (unsigned long long)want, n - 1 - nl);
        return NULL;
    }
    if (d->zcap < want || !d->zbuf) {
        d->zbuf = xrealloc(d->zbuf, (size_t)want);
        d->zcap = (size_t)want;
    }
    uLongf got = (uLongf)want;
    uLong used = (uLong)(n - 1 - nl);
    int zr = uncompress2(d->zbuf, &got, p + 1 + nl, &used);
    if (zr == Z_OK && got < want) {
        snprintf(why, whylen,
                 "the compressed block inflates to %llu bytes, not its stated %llu",
                 (unsigned long long)got, (unsigned long long)want);
        return NULL;
    }
    if (zr != Z_OK || used != n - 1 - nl) {
        snprintf(why, whylen,
                 "the compressed block does not inflate to its stated %llu bytes (%s)",
                 (unsigned long long)want,
                 zr == Z_BUF_ERROR    ? "the stream does not end there"
                 : zr == Z_DATA_ERROR ? "corrupt or cut-short zlib data"
                 : zr == Z_OK         ? "bytes follow the zlib stream"
                                      : "zlib failed");
        return NULL;
    }
    *outlen = (size_t)want;
    return d->zbuf;
}

/* The plain rows event type a MariaDB compressed one stands for (itself otherwise). */
static uint8_t rows_base_type(uint8_t t)
{
    switch (t) {
    case SL_BINLOG_MARIA_WRITE_ROWS_COMPRESSED_V1:
        return SL_BINLOG_WRITE_ROWS_V1;
    case SL_BINLOG_MARIA_UPDATE_ROWS_COMPRESSED_V1:
        return SL_BINLOG_UPDATE_ROWS_V1;
    case SL_BINLOG_MARIA_DELETE_ROWS_COMPRESSED_V1:
        return SL_BINLOG_DELETE_ROWS_V1;
    case SL_BINLOG_MARIA_WRITE_ROWS_COMPRESSED:
        return SL_BINLOG_WRITE_ROWS;
    case SL_BINLOG_MARIA_UPDATE_ROWS_COMPRESSED:
        return SL_BINLOG_UPDATE_ROWS;
    case SL_BINLOG_MARIA_DELETE_ROWS_COMPRESSED:
        return SL_BINLOG_DELETE_ROWS;
    default:
        return t;
    }
}

static sl_err_t decode_rows(sl_binlog_decoder_t *d, const uint8_t *ev, size_t hl,
                            size_t ph, size_t end, sl_binlog_event_t *out, int inner,
                            char *err, size_t errlen)
{
    const sl_binlog_header_t *h = &out->h;
    uint8_t base = rows_base_type(h->type);
    int v2 = base >= SL_BINLOG_WRITE_ROWS;
    if ((v2 && ph < 10) || (!v2 && ph != 6 && ph < 8))
        return everr(h, inner, SL_ERR_PROTOCOL, hl, err, errlen,
                     "post-header of %zu bytes is too short", ph);
    sl_binlog_rows_t *r = &out->u.rows;
    memset(r, 0, sizeof(*r));
    r->op = (uint8_t)rows_op(base);
    r->table_id = ph == 6 ? le(ev + hl, 4) : le(ev + hl, 6);
    r->flags = (uint16_t)le(ev + hl + (ph == 6 ? 4 : 6), 2);
    cur_t c = {ev, ev + hl + ph, end - hl - ph, 0};
    if (v2) {
        /* the 2-byte extra-data length (itself included) ends the v2 post-header */
        size_t xl = (size_t)le(ev + hl + 8, 2);
        if (xl < 2 || xl - 2 > c.n)
            return everr(h, inner, SL_ERR_PROTOCOL, hl + 8, err, errlen,
                         "extra row data length %zu is impossible", xl);
        r->extra_len = xl - 2;
        r->extra = r->extra_len ? c_bytes(&c, r->extra_len) : NULL;
    }
    size_t at = c_off(&c);
    uint64_t width = c_packed(&c);
    if (c.bad || width == 0 || width > MAX_COLUMNS)
        return everr(h, inner, SL_ERR_PROTOCOL, at, err, errlen,
                     "column count %llu is impossible", (unsigned long long)width);
    size_t nb = ((size_t)width + 7) / 8;
    const uint8_t *b1 = c_bytes(&c, nb);
    const uint8_t *b2 = r->op == SL_BINLOG_UPDATE ? c_bytes(&c, nb) : b1;
    if (!b1 || !b2)
        return everr(h, inner, SL_ERR_PROTOCOL, at, err, errlen,
                     "column bitmaps run past the event");
    r->width = (uint32_t)width;
    r->cols_before = r->op == SL_BINLOG_INSERT ? NULL : b1;
    r->cols_after = r->op == SL_BINLOG_DELETE ? NULL : b2;
    for (uint32_t i = 0; i < r->width; i++) {
        r->nbefore += (b1[i / 8] >> (i % 8)) & 1;
        r->nafter += (b2[i / 8] >> (i % 8)) & 1;
    }
    r->data = c.p;
    r->data_len = c.n;
    r->ev_off = c_off(&c);
    if (base != h->type) {
        char why[160];
        r->data = maria_inflate(d, c.p, c.n, &r->data_len, why, sizeof(why));
        if (!r->data) {
            r->data_len = 0; /* no rows to iterate */
            return everr(h, inner, SL_ERR_PROTOCOL, r->ev_off, err, errlen, "%s", why);
        }
        r->inflated = 1;
        r->ev_off = 0; /* offsets in messages are into the inflated rows */
    }
    r->ev_type = h->type;
    r->ev_pos = inner ? UINT64_MAX
                      : (h->log_pos && h->log_pos >= h->event_size
                             ? (uint64_t)(h->log_pos - h->event_size)
                             : UINT64_MAX);
    out->kind = SL_BINLOG_K_ROWS;
    const sl_binlog_table_t *t = sl_binlog_table(d, r->table_id);
    if (!t) {
        if (r->data_len == 0)
            return SL_OK; /* an empty statement-end marker needs no table */
        return everr(h, inner, SL_ERR_PROTOCOL, hl, err, errlen,
                     "no TABLE_MAP was seen for table id %llu",
                     (unsigned long long)r->table_id);
    }
    r->table = t;
    if (t->unsupported)
        return everr(h, inner, SL_ERR_UNSUPPORTED, hl, err, errlen, "%s", t->unsupported);
    if (t->ncols != width)
        return everr(h, inner, SL_ERR_PROTOCOL, at, err, errlen,
                     "%llu columns but the TABLE_MAP of `%s`.`%s` has %u",
                     (unsigned long long)width, t->db, t->name, t->ncols);
    return SL_OK;
}

/* "at binlog position P, byte B of the event" for the row data at offset off */
static void rows_err_where(const sl_binlog_rows_t *r, size_t off, char *w, size_t n)
{
    const char *of = r->inflated ? "its inflated rows" : "the event";
    if (r->ev_pos != UINT64_MAX)
        snprintf(w, n, "at binlog position %llu, byte %zu of %s",
                 (unsigned long long)r->ev_pos, r->ev_off + off, of);
    else
        snprintf(w, n, "inside a TRANSACTION_PAYLOAD or without position, byte %zu of %s",
                 r->ev_off + off, of);
}

/* One row image (before or after) at p; fills vals[0..width). */
static sl_err_t row_image(sl_binlog_decoder_t *d, sl_binlog_rows_t *r,
                          const uint8_t *present, uint32_t npresent, sl_value_t *vals,
                          sl_arena_t *arena, char *err, size_t errlen)
{
    const sl_binlog_table_t *t = r->table;
    const uint8_t *p = r->data + r->pos;
    size_t avail = r->data_len - r->pos;
    size_t nnull = (npresent + 7) / 8;
    char w[128], msg[256];
    if (nnull > avail) {
        rows_err_where(r, r->pos, w, sizeof(w));
        return sl_err_set(err, errlen, SL_ERR_PROTOCOL,
                          "%s event %s: the row's NULL bitmap runs past the event",
                          sl_binlog_type_name(r->ev_type), w);
    }
    const uint8_t *nulls = p;
    size_t off = nnull;
    uint32_t j = 0;
    for (uint32_t i = 0; i < r->width; i++) {
        sl_value_t *v = &vals[i];
        if (!((present[i / 8] >> (i % 8)) & 1)) {
            v->kind = SL_V_UNCHANGED;
            v->len = 0;
            continue;
        }
        int isnull = (nulls[j / 8] >> (j % 8)) & 1;
        j++;
        if (isnull) {
            v->kind = SL_V_NULL;
            v->len = 0;
            continue;
        }
        size_t used = 0;
        sl_err_t e = sl_my_decode(&t->cols[i], p + off, avail - off, &used, arena,
                                  &d->tmp, v, msg, sizeof(msg));
        if (e) {
            const sl_my_col_t *c = &t->cols[i];
            rows_err_where(r, r->pos + off, w, sizeof(w));
            return sl_err_set(
                err, errlen, e, "%s event %s: table `%s`.`%s` column %u%s%.*s%s: %s",
                sl_binlog_type_name(r->ev_type), w, t->db, t->name, i + 1,
                c->name ? " (`" : "", c->name ? (int)c->name_len : 0,
                c->name ? c->name : "", c->name ? "`)" : "", msg);
        }
        off += used;
    }
    r->pos += off;
    return SL_OK;
}

sl_err_t sl_binlog_rows_next(sl_binlog_decoder_t *d, sl_binlog_rows_t *r,
                             sl_arena_t *arena, sl_binlog_row_t *row, char *err,
                             size_t errlen)
{
    row->ncols = 0;
    row->before = row->after = NULL;
    if (!sl_binlog_rows_more(r))
        return sl_err_set(err, errlen, SL_ERR_PROTOCOL, "no more rows in this event");
    if (!r->table)
        return sl_err_set(err, errlen, SL_ERR_PROTOCOL,
                          "rows event for table id %llu without a TABLE_MAP",
                          (unsigned long long)r->table_id);
    if (d->vcap < r->width) {
        d->vcap = r->width;
        d->before = xrealloc(d->before, d->vcap * sizeof(sl_value_t));
        d->after = xrealloc(d->after, d->vcap * sizeof(sl_value_t));
    }
    sl_err_t e;
    size_t start = r->pos;
    if (r->cols_before) {
        if ((e = row_image(d, r, r->cols_before, r->nbefore, d->before, arena, err,
                           errlen)))
            goto fail;
        row->before = d->before;
    }
    if (r->cols_after) {
        if (r->op == SL_BINLOG_UPDATE && !sl_binlog_rows_more(r)) {
            char w[128];
            rows_err_where(r, r->pos, w, sizeof(w));
            e = sl_err_set(err, errlen, SL_ERR_PROTOCOL,
                           "%s event %s: an update has no after image",
                           sl_binlog_type_name(r->ev_type), w);
            goto fail;
        }
        if ((e = row_image(d, r, r->cols_after, r->nafter, d->after, arena, err, errlen)))
            goto fail;
        row->after = d->after;
    }
    if (r->pos == start) {
        /* no column present: such rows would repeat forever over the remaining bytes */
        char w[128];
        rows_err_where(r, r->pos, w, sizeof(w));
        e = sl_err_set(err, errlen, SL_ERR_PROTOCOL,
                       "%s event %s: a row with no columns is followed by more data",
                       sl_binlog_type_name(r->ev_type), w);
        goto fail;
    }
    row->ncols = r->width;
    return SL_OK;
fail:
    r->pos = r->data_len; /* a broken event yields no further rows */
    row->before = row->after = NULL;
    return e;
}

/* ---------------------------------------------------------------------------------------
 * GTIDs.
 */

static void put_uuid(sl_buf_t *b, const uint8_t *u)
{
    static const char hx[] = "0123456789abcdef";
    char t[36];
    size_t k = 0;
    for (int i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            t[k++] = '-';
        t[k++] = hx[u[i] >> 4];
        t[k++] = hx[u[i] & 15];
    }
    sl_buf_append(b, t, k);
}

void sl_binlog_gtid_format(const sl_binlog_event_t *ev, sl_buf_t *out)
{
    if (ev->kind == SL_BINLOG_K_GTID) {
        if (ev->h.type == SL_BINLOG_ANONYMOUS_GTID) {
            sl_buf_puts(out, "ANONYMOUS");
            return;
        }
        put_uuid(out, ev->u.gtid.sid);
        sl_buf_putc(out, ':');
        sl_buf_put_u64(out, ev->u.gtid.gno);
    } else if (ev->kind == SL_BINLOG_K_MARIA_GTID) {
        sl_buf_put_u64(out, ev->u.mgtid.domain_id);
        sl_buf_putc(out, '-');
        sl_buf_put_u64(out, ev->u.mgtid.server_id);
        sl_buf_putc(out, '-');
        sl_buf_put_u64(out, ev->u.mgtid.seq_no);
    }
}

/* PREVIOUS_GTIDS body (Previous_gtids_event / Gtid_set::encode): the binary GTID set
 * form, see gtidset.h. */
sl_err_t sl_binlog_gtid_set_format(const uint8_t *p, size_t len, sl_buf_t *out, char *err,
                                   size_t errlen)
{
    sl_gtid_set_t set = SL_GTID_SET_INIT;
    char why[200];
    sl_err_t rc = sl_gtid_set_decode(&set, p, len, why, sizeof(why));
    if (rc)
        rc = sl_err_set(err, errlen, rc, "PREVIOUS_GTIDS: %s", why);
    else if (out)
        sl_gtid_set_format(&set, out);
    sl_gtid_set_free(&set);
    return rc;
}

void sl_binlog_gtid_list_get(const sl_binlog_event_t *ev, uint32_t i, uint32_t *domain,
                             uint32_t *server, uint64_t *seq)
{
    const uint8_t *e = ev->u.gtid_list.entries + (size_t)i * 16;
    *domain = (uint32_t)le(e, 4);
    *server = (uint32_t)le(e + 4, 4);
    *seq = le(e + 8, 8);
}

/* MySQL GTID / ANONYMOUS_GTID (control_events.h Gtid_event): flags (1), sid (16),
 * gno (8), then optionally lt_type (1) = 2, last_committed (8), sequence_number (8),
 * immediate_commit_timestamp (7; top bit = original timestamp follows), original (7),
 * transaction_length (packed), server versions (4 [+4])... read as far as present. */
static sl_err_t decode_gtid(const uint8_t *ev, size_t hl, size_t end,
                            sl_binlog_event_t *out, int inner, char *err, size_t errlen)
{
    cur_t c = {ev, ev + hl, end - hl, 0};
    out->u.gtid.flags = (uint8_t)c_int(&c, 1);
    const uint8_t *sid = c_bytes(&c, 16);
    out->u.gtid.gno = c_int(&c, 8);
    if (c.bad)
        return everr(&out->h, inner, SL_ERR_PROTOCOL, hl, err, errlen,
                     "the GTID (25 bytes) runs past the event");
    memcpy(out->u.gtid.sid, sid, 16);
    out->u.gtid.last_committed = out->u.gtid.sequence_number = -1;
    out->kind = SL_BINLOG_K_GTID;
    if (c.n && c.p[0] == 2 && c.n >= 17) {
        c_int(&c, 1);
        out->u.gtid.last_committed = (int64_t)c_int(&c, 8);
        out->u.gtid.sequence_number = (int64_t)c_int(&c, 8);
        if (c.n >= 7) {
            uint64_t imm = c_int(&c, 7);
            uint64_t orig = imm;
            if (imm & ((uint64_t)1 << 55)) {
                imm &= ~((uint64_t)1 << 55);
                orig = c.n >= 7 ? c_int(&c, 7) : imm;
            }
            out->u.gtid.immediate_commit_us = imm;
            out->u.gtid.original_commit_us = orig;
        }
    }
    return SL_OK;
}

/* MariaDB GTID_EVENT (KB "GTID_EVENT"): seq_no (8), domain_id (4), flags (1), then
 * commit_id (8) when FL_GROUP_COMMIT_ID, else XA info or 6 zero bytes; newer servers
 * append extra flags, which sluice does not need. */
static sl_err_t decode_maria_gtid(const uint8_t *ev, size_t hl, size_t end,
                                  sl_binlog_event_t *out, int inner, char *err,
                                  size_t errlen)
{
    cur_t c = {ev, ev + hl, end - hl, 0};
    out->u.mgtid.seq_no = c_int(&c, 8);
    out->u.mgtid.domain_id = (uint32_t)c_int(&c, 4);
    out->u.mgtid.flags = (uint8_t)c_int(&c, 1);
    if (!c.bad && (out->u.mgtid.flags & 2))
        out->u.mgtid.commit_id = c_int(&c, 8);
    if (c.bad)
        return everr(&out->h, inner, SL_ERR_PROTOCOL, hl, err, errlen,
                     "the GTID runs past the event");
    out->u.mgtid.server_id = out->h.server_id;
    out->kind = SL_BINLOG_K_MARIA_GTID;
    return SL_OK;
}

/* ---------------------------------------------------------------------------------------
 * FORMAT_DESCRIPTION (control_events.h Format_description_event): binlog_version (2),
 * server_version (50), create_timestamp (4), common header length (1), one post-header
 * length per event type; checksum-aware servers (MySQL >= 5.6.1, MariaDB >= 5.3) append
 * the checksum algorithm (1) and the checksum (4), and compute the CRC as if the
 * LOG_EVENT_BINLOG_IN_USE_F flag were clear.
 */

static int version_at_least(const char *v, int a, int b, int c)
{
    int x = 0, y = 0, z = 0;
    if (sscanf(v, "%d.%d.%d", &x, &y, &z) < 2)
        return 0;
    if (x != a)
        return x > a;
    if (y != b)
        return y > b;
    return z >= c;
}

static uint32_t event_crc(const uint8_t *ev, size_t n, int mask_in_use)
{
    uLong crc = crc32(0L, Z_NULL, 0);
    if (mask_in_use) {
        uint8_t fl[2] = {(uint8_t)(ev[17] & ~SL_BINLOG_F_IN_USE), ev[18]};
        crc = crc32(crc, ev, 17);
        crc = crc32(crc, fl, 2);
        crc = crc32(crc, ev + 19, (uInt)(n - 19));
    } else {
        crc = crc32(crc, ev, (uInt)n);
    }
    return (uint32_t)crc;
}

static sl_err_t decode_fde(sl_binlog_decoder_t *d, const uint8_t *ev,
                           sl_binlog_event_t *out, int inner, char *err, size_t errlen)
{
    const sl_binlog_header_t *h = &out->h;
    size_t size = h->event_size;
    if (inner)
        return everr(h, inner, SL_ERR_PROTOCOL, 0, err, errlen,
                     "a FORMAT_DESCRIPTION cannot be inside a TRANSACTION_PAYLOAD");
    if (size < 19 + 57)
        return everr(h, inner, SL_ERR_PROTOCOL, 19, err, errlen,
                     "%zu bytes are too few for a FORMAT_DESCRIPTION", size);
    const uint8_t *p = ev + 19;
    uint16_t ver = (uint16_t)le(p, 2);
    char sv[51];
    size_t k = 0;
    for (; k < 50 && p[2 + k]; k++)
        sv[k] = (p[2 + k] >= 0x20 && p[2 + k] < 0x7f) ? (char)p[2 + k] : '?';
    sv[k] = 0;
    uint32_t created = (uint32_t)le(p + 52, 4);
    uint8_t hlen = p[56];
    int maria = strstr(sv, "MariaDB") != NULL;
    int aware = maria ? version_at_least(sv, 5, 3, 0) : version_at_least(sv, 5, 6, 1);
    size_t rest = size - 19 - 57;
    uint8_t alg = SL_BINLOG_CHECKSUM_NONE;
    /* Servers before checksums (MySQL 5.6.1, MariaDB 5.3) are long out of support, and
     * refusing them means a damaged version string cannot switch the CRC check off. */
    if (!aware)
        return everr(
            h, inner, SL_ERR_UNSUPPORTED, 21, err, errlen,
            "server version '%s' predates binlog checksums (MySQL 5.6.1, MariaDB "
            "5.3) and is not supported",
            sv);
    {
        if (rest < 5)
            return everr(h, inner, SL_ERR_PROTOCOL, size, err, errlen,
                         "the checksum algorithm byte is missing");
        uint8_t a = ev[size - 5];
        if (a == 1) {
            alg = SL_BINLOG_CHECKSUM_CRC32;
            uint32_t want = (uint32_t)le(ev + size - 4, 4);
            if (!d->skip_crc && event_crc(ev, size - 4, 1) != want)
                return everr(h, inner, SL_ERR_PROTOCOL, size - 4, err, errlen,
                             "CRC32 mismatch (stored 0x%08x, computed 0x%08x): the event "
                             "is corrupt",
                             want, event_crc(ev, size - 4, 1));
        } else if (a != 0 && a != 255) {
            return everr(h, inner, SL_ERR_UNSUPPORTED, size - 5, err, errlen,
                         "checksum algorithm %u is not known (only CRC32)", a);
        }
        rest -= 5;
    }
    /* only now that the checksum holds do the fields mean anything */
    if (ver != 4)
        return everr(h, inner, SL_ERR_UNSUPPORTED, 19, err, errlen,
                     "binlog format version %u (MySQL < 5.0) is not supported", ver);
    if (hlen < SL_BINLOG_HEADER_LEN)
        return everr(h, inner, SL_ERR_PROTOCOL, 19 + 56, err, errlen,
                     "common header length %u is below 19", hlen);
    d->ntypes = (uint16_t)(rest > 255 ? 255 : rest);
    memset(d->post_header, 0, sizeof(d->post_header));
    memcpy(d->post_header + 1, p + 57, d->ntypes);
    d->header_len = hlen;
    d->checksum = alg;
    d->flavor = maria ? SL_BINLOG_MARIADB : SL_BINLOG_MYSQL;
    /* a new binlog file (or a new stream) starts: nothing refers to older table ids */
    sl_binlog_decoder_reset_tables(d);
    out->kind = SL_BINLOG_K_FORMAT;
    out->u.fde.binlog_version = ver;
    memcpy(out->u.fde.server_version, sv, k + 1);
    out->u.fde.create_timestamp = created;
    out->u.fde.checksum = alg;
    out->u.fde.flavor = d->flavor;
    return SL_OK;
}

/* ---------------------------------------------------------------------------------------
 * TRANSACTION_PAYLOAD (control_events.h Transaction_payload_event, codecs/binary.cpp):
 * TLV fields (type, length, value as packed integers) until OTW_PAYLOAD_HEADER_END_MARK
 * (0): PAYLOAD_SIZE (1), COMPRESSION_TYPE (2: 0 = ZSTD, 255 = NONE), UNCOMPRESSED_SIZE
 * (3); then the payload: the transaction's events back to back, without checksums.
 */

static sl_err_t decode_payload(sl_binlog_decoder_t *d, const uint8_t *ev, size_t hl,
                               size_t ph, size_t end, sl_binlog_event_t *out, int inner,
                               char *err, size_t errlen)
{
    const sl_binlog_header_t *h = &out->h;
    if (inner)
        return everr(h, inner, SL_ERR_PROTOCOL, 0, err, errlen,
                     "a TRANSACTION_PAYLOAD cannot be nested");
    cur_t c = {ev, ev + hl + ph, end - hl - ph, 0};
    int have_size = 0, have_type = 0;
    uint64_t psize = 0, usize = 0, ctype = 0;
    for (;;) {
        size_t at = c_off(&c);
        uint64_t type = c_packed(&c);
        if (c.bad)
            return everr(h, inner, SL_ERR_PROTOCOL, at, err, errlen,
                         "the payload header has no end mark");
        if (type == 0)
            break;
        uint64_t len = c_packed(&c);
        if (c.bad || len > c.n)
            return everr(h, inner, SL_ERR_PROTOCOL, at, err, errlen,
                         "payload header field %llu runs past the event",
                         (unsigned long long)type);
        cur_t f = {ev, c.p, (size_t)len, 0};
        c.p += len;
        c.n -= (size_t)len;
        if (type == 1 || type == 2 || type == 3) {
            uint64_t v = c_packed(&f);
            if (f.bad)
                return everr(h, inner, SL_ERR_PROTOCOL, at, err, errlen,
                             "payload header field %llu is malformed",
                             (unsigned long long)type);
            if (type == 1) {
                psize = v;
                have_size = 1;
            } else if (type == 2) {
                ctype = v;
                have_type = 1;
            } else {
                usize = v;
            }
        }
    }
    if (!have_size || !have_type || psize > c.n)
        return everr(h, inner, SL_ERR_PROTOCOL, c_off(&c), err, errlen,
                     "the payload header lacks its size or compression type, or the size "
                     "(%llu) exceeds the event",
                     (unsigned long long)psize);
    if (ctype != 0 && ctype != 255)
        return everr(h, inner, SL_ERR_UNSUPPORTED, c_off(&c), err, errlen,
                     "compression type %llu is not known (zstd or none expected)",
                     (unsigned long long)ctype);
    out->kind = SL_BINLOG_K_PAYLOAD;
    out->u.payload.payload_size = psize;
    out->u.payload.uncompressed_size = usize;
    out->u.payload.compression = (uint8_t)ctype;
    d->pl.src_pos = d->pl.start = d->pl.len = d->pl.drop = 0;
    d->pl.total = 0;
    d->pl.eof = d->pl.frame_end = 0;
    d->pl.active = 1;
    d->pl.raw = ctype == 255;
    d->pl.src = c.p;
    d->pl.src_len = (size_t)psize;
    d->pl.expect = usize;
    d->pl.outer_pos = h->log_pos >= h->event_size ? h->log_pos - h->event_size : 0;
    if (!d->pl.raw) {
        if (!d->zd) {
            d->zd = ZSTD_createDCtx();
            if (!d->zd) {
                fprintf(stderr, "sluice: out of memory (zstd context)\n");
                abort();
            }
        }
        ZSTD_DCtx_reset(d->zd, ZSTD_reset_session_only);
    }
    return SL_OK;
}

/* ---------------------------------------------------------------------------------------
 * One event.
 */

/* Post-header lengths when the FORMAT_DESCRIPTION does not list a type (its array ends
 * before newer types): MySQL's enum_post_header_length and MariaDB's. */
static size_t default_post_header(uint8_t t)
{
    switch (t) {
    case SL_BINLOG_QUERY:
    case SL_BINLOG_MARIA_QUERY_COMPRESSED:
        return 13;
    case SL_BINLOG_ROTATE:
        return 8;
    case SL_BINLOG_APPEND_BLOCK:
    case SL_BINLOG_DELETE_FILE:
    case SL_BINLOG_BEGIN_LOAD_QUERY:
        return 4;
    case SL_BINLOG_EXECUTE_LOAD_QUERY:
        return 26;
    case SL_BINLOG_TABLE_MAP:
        return 8;
    case SL_BINLOG_WRITE_ROWS_V1:
    case SL_BINLOG_UPDATE_ROWS_V1:
    case SL_BINLOG_DELETE_ROWS_V1:
    case SL_BINLOG_MARIA_WRITE_ROWS_COMPRESSED_V1:
    case SL_BINLOG_MARIA_UPDATE_ROWS_COMPRESSED_V1:
    case SL_BINLOG_MARIA_DELETE_ROWS_COMPRESSED_V1:
        return 8;
    case SL_BINLOG_WRITE_ROWS:
    case SL_BINLOG_UPDATE_ROWS:
    case SL_BINLOG_DELETE_ROWS:
    case SL_BINLOG_PARTIAL_UPDATE_ROWS:
    case SL_BINLOG_MARIA_WRITE_ROWS_COMPRESSED:
    case SL_BINLOG_MARIA_UPDATE_ROWS_COMPRESSED:
    case SL_BINLOG_MARIA_DELETE_ROWS_COMPRESSED:
        return 10;
    case SL_BINLOG_INCIDENT:
        return 2;
    case SL_BINLOG_GTID:
    case SL_BINLOG_ANONYMOUS_GTID:
        return 42;
    case SL_BINLOG_TRANSACTION_CONTEXT:
        return 18;
    case SL_BINLOG_VIEW_CHANGE:
        return 52;
    case SL_BINLOG_MARIA_GTID:
        return 19;
    case SL_BINLOG_MARIA_GTID_LIST:
    case SL_BINLOG_MARIA_BINLOG_CHECKPOINT:
        return 4;
    default:
        return 0;
    }
}

static void parse_header(const uint8_t *b, sl_binlog_header_t *h)
{
    h->timestamp = (uint32_t)le(b, 4);
    h->type = b[4];
    h->server_id = (uint32_t)le(b + 5, 4);
    h->event_size = (uint32_t)le(b + 9, 4);
    h->log_pos = (uint32_t)le(b + 13, 4);
    h->flags = (uint16_t)le(b + 17, 2);
}

static sl_err_t decode_event(sl_binlog_decoder_t *d, const uint8_t *buf, size_t len,
                             sl_binlog_event_t *ev, int inner, char *err, size_t errlen)
{
    memset(ev, 0, sizeof(*ev));
    if (len < SL_BINLOG_HEADER_LEN)
        return sl_err_set(err, errlen, SL_ERR_PROTOCOL,
                          "binlog event truncated: %zu bytes, the common header needs 19",
                          len);
    sl_binlog_header_t *h = &ev->h;
    parse_header(buf, h);
    ev->raw = buf;
    size_t size = h->event_size;
    if (size < SL_BINLOG_HEADER_LEN || size > len)
        return everr(h, inner, SL_ERR_PROTOCOL, 9, err, errlen,
                     "event size %zu does not fit the %zu bytes available", size, len);
    if (h->type == SL_BINLOG_FORMAT_DESCRIPTION)
        return decode_fde(d, buf, ev, inner, err, errlen);

    size_t hl = d->header_len;
    size_t end = size;
    if (!inner && d->checksum == SL_BINLOG_CHECKSUM_CRC32) {
        if (size < hl + 4)
            return everr(h, inner, SL_ERR_PROTOCOL, size, err, errlen,
                         "%zu bytes cannot hold the header and a CRC32", size);
        end = size - 4;
        uint32_t want = (uint32_t)le(buf + end, 4);
        if (!d->skip_crc) {
            uint32_t got = event_crc(buf, end, 0);
            if (got != want)
                return everr(
                    h, inner, SL_ERR_PROTOCOL, end, err, errlen,
                    "CRC32 mismatch (stored 0x%08x, computed 0x%08x): the event is "
                    "corrupt",
                    want, got);
        }
    }
    if (end < hl)
        return everr(h, inner, SL_ERR_PROTOCOL, end, err, errlen,
                     "%zu bytes are shorter than the %zu-byte common header", end, hl);
    uint8_t t = h->type;
    size_t ph = (t && t <= d->ntypes) ? d->post_header[t] : default_post_header(t);
    if (ph > end - hl)
        return everr(h, inner, SL_ERR_PROTOCOL, hl, err, errlen,
                     "the %zu-byte post-header runs past the event", ph);
    const uint8_t *body = buf + hl + ph;
    size_t blen = end - hl - ph;
    cur_t c = {buf, body, blen, 0};

    switch (t) {
    case SL_BINLOG_QUERY:
    case SL_BINLOG_MARIA_QUERY_COMPRESSED:
    case SL_BINLOG_EXECUTE_LOAD_QUERY: {
        /* thread_id (4), exec_time (4), db_len (1), error_code (2), status_vars_len (2);
         * body: status variables (skipped by length), db, NUL, query text (compressed
         * in QUERY_COMPRESSED: maria_inflate) */
        size_t minph = t == SL_BINLOG_EXECUTE_LOAD_QUERY ? 26 : 11;
        if (ph < minph)
            return everr(h, inner, SL_ERR_PROTOCOL, hl, err, errlen,
                         "post-header of %zu bytes (%zu needed)", ph, minph);
        const uint8_t *q = buf + hl;
        ev->u.query.thread_id = (uint32_t)le(q, 4);
        ev->u.query.exec_time = (uint32_t)le(q + 4, 4);
        size_t dblen = q[8];
        ev->u.query.error_code = (uint16_t)le(q + 9, 2);
        size_t svlen = ph >= 13 ? (size_t)le(q + 11, 2) : 0;
        const uint8_t *db = c_bytes(&c, svlen) ? c_bytes(&c, dblen + 1) : NULL;
        if (!db)
            return everr(h, inner, SL_ERR_PROTOCOL, hl + ph, err, errlen,
                         "status variables (%zu bytes) and database name (%zu bytes) run "
                         "past the event",
                         svlen, dblen);
        ev->u.query.db = (const char *)db;
        ev->u.query.db_len = dblen;
        ev->u.query.sql = (const char *)c.p;
        ev->u.query.sql_len = c.n;
        if (t == SL_BINLOG_MARIA_QUERY_COMPRESSED) {
            char why[160];
            size_t at = c_off(&c);
            const uint8_t *sql = maria_inflate(d, c.p, c.n, &ev->u.query.sql_len, why,
                                               sizeof(why));
            if (!sql)
                return everr(h, inner, SL_ERR_PROTOCOL, at, err, errlen, "%s", why);
            ev->u.query.sql = (const char *)sql;
        }
        ev->kind = SL_BINLOG_K_QUERY;
        if (ev->u.query.sql_len == 5 && !memcmp(ev->u.query.sql, "BEGIN", 5))
            transaction_start(d);
        return SL_OK;
    }
    case SL_BINLOG_ROTATE:
        if (ph < 8)
            return everr(h, inner, SL_ERR_PROTOCOL, hl, err, errlen,
                         "post-header of %zu bytes (8 needed)", ph);
        ev->u.rotate.pos = le(buf + hl, 8);
        ev->u.rotate.file = (const char *)body;
        ev->u.rotate.file_len = blen;
        ev->kind = SL_BINLOG_K_ROTATE;
        return SL_OK;
    case SL_BINLOG_STOP:
        ev->kind = SL_BINLOG_K_STOP;
        return SL_OK;
    case SL_BINLOG_XID:
        ev->u.xid = c_int(&c, 8);
        if (c.bad)
            return everr(h, inner, SL_ERR_PROTOCOL, hl + ph, err, errlen,
                         "the 8-byte XID runs past the event");
        ev->kind = SL_BINLOG_K_XID;
        return SL_OK;
    case SL_BINLOG_INTVAR:
        ev->u.intvar.type = (uint8_t)c_int(&c, 1);
        ev->u.intvar.value = c_int(&c, 8);
        if (c.bad)
            return everr(h, inner, SL_ERR_PROTOCOL, hl + ph, err, errlen,
                         "the 9-byte INTVAR body runs past the event");
        ev->kind = SL_BINLOG_K_INTVAR;
        return SL_OK;
    case SL_BINLOG_RAND:
        ev->u.rand.seed1 = c_int(&c, 8);
        ev->u.rand.seed2 = c_int(&c, 8);
        if (c.bad)
            return everr(h, inner, SL_ERR_PROTOCOL, hl + ph, err, errlen,
                         "the two 8-byte seeds run past the event");
        ev->kind = SL_BINLOG_K_RAND;
        return SL_OK;
    case SL_BINLOG_USER_VAR: {
        /* name_len (4), name, is_null (1); unless NULL: type (1), charset (4),
         * value_len (4), value; newer servers may add a flags byte */
        size_t nl = (size_t)c_int(&c, 4);
        const uint8_t *name = c_bytes(&c, nl);
        uint8_t isnull = (uint8_t)c_int(&c, 1);
        if (c.bad)
            return everr(h, inner, SL_ERR_PROTOCOL, hl + ph, err, errlen,
                         "the variable name runs past the event");
        ev->u.user_var.name = (const char *)name;
        ev->u.user_var.name_len = nl;
        ev->u.user_var.is_null = isnull;
        if (!isnull) {
            ev->u.user_var.type = (uint8_t)c_int(&c, 1);
            ev->u.user_var.charset = (uint32_t)c_int(&c, 4);
            size_t vl = (size_t)c_int(&c, 4);
            ev->u.user_var.value = c_bytes(&c, vl);
            ev->u.user_var.value_len = vl;
            if (c.bad)
                return everr(h, inner, SL_ERR_PROTOCOL, c_off(&c), err, errlen,
                             "the variable's value runs past the event");
        }
        ev->kind = SL_BINLOG_K_USER_VAR;
        return SL_OK;
    }
    case SL_BINLOG_BEGIN_LOAD_QUERY:
    case SL_BINLOG_APPEND_BLOCK:
    case SL_BINLOG_DELETE_FILE:
        if (ph < 4)
            return everr(h, inner, SL_ERR_PROTOCOL, hl, err, errlen,
                         "post-header of %zu bytes (4 needed)", ph);
        ev->u.load.file_id = (uint32_t)le(buf + hl, 4);
        ev->u.load.data = body;
        ev->u.load.len = blen;
        ev->kind = SL_BINLOG_K_LOAD_BLOCK;
        return SL_OK;
    case SL_BINLOG_TABLE_MAP:
        return decode_table_map(d, buf, hl, ph, end, ev, inner, err, errlen);
    case SL_BINLOG_WRITE_ROWS_V1:
    case SL_BINLOG_UPDATE_ROWS_V1:
    case SL_BINLOG_DELETE_ROWS_V1:
    case SL_BINLOG_WRITE_ROWS:
    case SL_BINLOG_UPDATE_ROWS:
    case SL_BINLOG_DELETE_ROWS:
    case SL_BINLOG_MARIA_WRITE_ROWS_COMPRESSED_V1:
    case SL_BINLOG_MARIA_UPDATE_ROWS_COMPRESSED_V1:
    case SL_BINLOG_MARIA_DELETE_ROWS_COMPRESSED_V1:
    case SL_BINLOG_MARIA_WRITE_ROWS_COMPRESSED:
    case SL_BINLOG_MARIA_UPDATE_ROWS_COMPRESSED:
    case SL_BINLOG_MARIA_DELETE_ROWS_COMPRESSED:
        return decode_rows(d, buf, hl, ph, end, ev, inner, err, errlen);
    case SL_BINLOG_ROWS_QUERY:
        /* a length byte (truncated at 255, so ignored) then the statement text */
        if (!c_bytes(&c, 1))
            return everr(h, inner, SL_ERR_PROTOCOL, hl + ph, err, errlen,
                         "the length byte is missing");
        ev->u.text.s = (const char *)c.p;
        ev->u.text.len = c.n;
        ev->kind = SL_BINLOG_K_ROWS_QUERY;
        return SL_OK;
    case SL_BINLOG_MARIA_ANNOTATE_ROWS:
        ev->u.text.s = (const char *)body;
        ev->u.text.len = blen;
        ev->kind = SL_BINLOG_K_ROWS_QUERY;
        return SL_OK;
    case SL_BINLOG_GTID:
    case SL_BINLOG_ANONYMOUS_GTID:
        transaction_start(d);
        return decode_gtid(buf, hl, end, ev, inner, err, errlen);
    case SL_BINLOG_PREVIOUS_GTIDS: {
        char why[200];
        if (sl_binlog_gtid_set_format(body, blen, NULL, why, sizeof(why)))
            return everr(h, inner, SL_ERR_PROTOCOL, hl + ph, err, errlen, "%s", why);
        ev->u.raw.p = body;
        ev->u.raw.len = blen;
        ev->kind = SL_BINLOG_K_PREVIOUS_GTIDS;
        return SL_OK;
    }
    case SL_BINLOG_MARIA_GTID:
        transaction_start(d);
        return decode_maria_gtid(buf, hl, end, ev, inner, err, errlen);
    case SL_BINLOG_MARIA_GTID_LIST: {
        /* count (4: low 28 bits count, high 4 bits flags) then domain, server, seq */
        cur_t g = {buf, buf + hl, end - hl, 0};
        uint32_t n = (uint32_t)c_int(&g, 4) & 0x0fffffff;
        if (g.bad || n > g.n / 16)
            return everr(h, inner, SL_ERR_PROTOCOL, hl, err, errlen,
                         "%u GTIDs do not fit in the event", n);
        ev->u.gtid_list.count = n;
        ev->u.gtid_list.entries = g.p;
        ev->kind = SL_BINLOG_K_GTID_LIST;
        return SL_OK;
    }
    case SL_BINLOG_MARIA_BINLOG_CHECKPOINT: {
        cur_t g = {buf, buf + hl, end - hl, 0};
        size_t n = (size_t)c_int(&g, 4);
        if (ph < 4 || g.bad || n > blen)
            return everr(h, inner, SL_ERR_PROTOCOL, hl, err, errlen,
                         "the file name length runs past the event");
        ev->u.text.s = (const char *)body;
        ev->u.text.len = n;
        ev->kind = SL_BINLOG_K_CHECKPOINT;
        return SL_OK;
    }
    case SL_BINLOG_HEARTBEAT:
        ev->u.heartbeat.file = (const char *)body;
        ev->u.heartbeat.file_len = blen;
        ev->u.heartbeat.pos = h->log_pos;
        ev->kind = SL_BINLOG_K_HEARTBEAT;
        return SL_OK;
    case SL_BINLOG_HEARTBEAT_V2:
        /* TLV (codecs/binary.cpp Heartbeat::decode): 1 = log file name, 2 = position
         * (packed), 0 = end */
        ev->u.heartbeat.pos = h->log_pos;
        while (c.n) {
            size_t at = c_off(&c);
            uint64_t ft = c_packed(&c);
            if (!c.bad && ft == 0)
                break;
            uint64_t fl = c_packed(&c);
            if (c.bad || fl > c.n)
                return everr(h, inner, SL_ERR_PROTOCOL, at, err, errlen,
                             "heartbeat field runs past the event");
            cur_t f = {buf, c.p, (size_t)fl, 0};
            if (ft == 1) {
                ev->u.heartbeat.file = (const char *)c.p;
                ev->u.heartbeat.file_len = (size_t)fl;
            } else if (ft == 2) {
                ev->u.heartbeat.pos = c_packed(&f);
                if (f.bad)
                    return everr(h, inner, SL_ERR_PROTOCOL, at, err, errlen,
                                 "heartbeat position is malformed");
            }
            c.p += fl;
            c.n -= (size_t)fl;
        }
        ev->kind = SL_BINLOG_K_HEARTBEAT;
        return SL_OK;
    case SL_BINLOG_XA_PREPARE: {
        /* one_phase (1), format_id (4), gtrid_length (4), bqual_length (4), data */
        ev->u.xa.one_phase = (uint8_t)c_int(&c, 1);
        ev->u.xa.format_id = (int32_t)(uint32_t)c_int(&c, 4);
        uint32_t gl = (uint32_t)c_int(&c, 4), bl = (uint32_t)c_int(&c, 4);
        if (c.bad || gl > 64 || bl > 64 || (size_t)gl + bl > c.n)
            return everr(h, inner, SL_ERR_PROTOCOL, hl + ph, err, errlen,
                         "the XA transaction id runs past the event");
        ev->u.xa.gtrid = c_bytes(&c, gl);
        ev->u.xa.gtrid_len = gl;
        ev->u.xa.bqual = c_bytes(&c, bl);
        ev->u.xa.bqual_len = bl;
        ev->kind = SL_BINLOG_K_XA_PREPARE;
        return SL_OK;
    }
    case SL_BINLOG_TRANSACTION_PAYLOAD:
        return decode_payload(d, buf, hl, ph, end, ev, inner, err, errlen);

    /* Known events that are refused with the reason. */
    case SL_BINLOG_PARTIAL_UPDATE_ROWS:
        return everr(
            h, inner, SL_ERR_UNSUPPORTED, 4, err, errlen,
            "binlog_row_value_options=PARTIAL_JSON is not supported; set it to ''");
    case SL_BINLOG_INCIDENT: {
        /* incident type (2), message length (1), message */
        uint16_t it = ph >= 2 ? (uint16_t)le(buf + hl, 2) : 0;
        size_t ml = blen ? body[0] : 0;
        if (ml + 1 > blen)
            ml = blen ? blen - 1 : 0;
        return everr(
            h, inner, SL_ERR_SOURCE, hl, err, errlen,
            "the server logged incident %u (%.*s): changes may be missing from the "
            "binlog; re-snapshot the affected tables",
            it, (int)ml, blen ? (const char *)body + 1 : "");
    }
    case SL_BINLOG_GTID_TAGGED:
        return everr(h, inner, SL_ERR_UNSUPPORTED, 4, err, errlen,
                     "tagged GTIDs (MySQL 8.3+) are not supported yet; skipping it would "
                     "lose the transaction's GTID");
    case SL_BINLOG_MARIA_START_ENCRYPTION:
        return everr(
            h, inner, SL_ERR_UNSUPPORTED, 4, err, errlen,
            "the binlog file is encrypted (encrypt_binlog=ON); read it through the "
            "server's replication stream, which sends it decrypted");
    case SL_BINLOG_START_V3:
    case SL_BINLOG_LOAD:
    case SL_BINLOG_SLAVE:
    case SL_BINLOG_CREATE_FILE:
    case SL_BINLOG_EXEC_LOAD:
    case SL_BINLOG_NEW_LOAD:
    case SL_BINLOG_PRE_GA_WRITE_ROWS:
    case SL_BINLOG_PRE_GA_UPDATE_ROWS:
    case SL_BINLOG_PRE_GA_DELETE_ROWS:
        return everr(h, inner, SL_ERR_UNSUPPORTED, 4, err, errlen,
                     "this pre-MySQL-5.1 event type is not supported");

    /* known_harmless: events that carry no data change and no position a CDC reader
     * needs. IGNORABLE is by definition skippable; TRANSACTION_CONTEXT and VIEW_CHANGE
     * are Group Replication certification/membership records. */
    case SL_BINLOG_IGNORABLE:
    case SL_BINLOG_TRANSACTION_CONTEXT:
    case SL_BINLOG_VIEW_CHANGE:
        ev->kind = SL_BINLOG_K_SKIPPED;
        return SL_OK;
    default:
        /* The server marks with LOG_EVENT_IGNORABLE_F the events a replica that does not
         * know them may skip without changing its data; any other unknown type could
         * carry rows, so stop rather than lose them. */
        if (h->flags & SL_BINLOG_F_IGNORABLE) {
            ev->kind = SL_BINLOG_K_SKIPPED;
            return SL_OK;
        }
        return everr(h, inner, SL_ERR_UNSUPPORTED, 4, err, errlen,
                     "unknown event type %u; it may carry row changes, so sluice stops "
                     "rather than skip it",
                     t);
    }
}

sl_err_t sl_binlog_decode(sl_binlog_decoder_t *d, const uint8_t *buf, size_t len,
                          sl_binlog_event_t *ev, char *err, size_t errlen)
{
    d->pl.active = 0;
    return decode_event(d, buf, len, ev, 0, err, errlen);
}

/* ---------------------------------------------------------------------------------------
 * Inner events of a TRANSACTION_PAYLOAD.
 */

static sl_err_t pl_err(sl_binlog_decoder_t *d, char *err, size_t errlen, const char *fmt,
                       ...) __attribute__((format(printf, 4, 5)));

static sl_err_t pl_err(sl_binlog_decoder_t *d, char *err, size_t errlen, const char *fmt,
                       ...)
{
    char msg[240];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    d->pl.active = 0;
    return sl_err_set(
        err, errlen, SL_ERR_PROTOCOL,
        "TRANSACTION_PAYLOAD event at binlog position %u, %llu bytes into the "
        "payload: %s",
        d->pl.outer_pos, (unsigned long long)d->pl.total, msg);
}

/* Make at least `want` decompressed bytes available in the window (fewer at the end). */
static sl_err_t pl_fill(sl_binlog_decoder_t *d, size_t want, char *err, size_t errlen)
{
    if (d->pl.len >= want || d->pl.eof)
        return SL_OK;
    if (want > d->pl.cap) {
        if (d->pl.start) { /* compact first */
            memmove(d->pl.win, d->pl.win + d->pl.start, d->pl.len);
            d->pl.start = 0;
        }
        if (want > d->pl.cap) {
            size_t cap = d->pl.cap ? d->pl.cap : 65536;
            while (cap < want)
                cap *= 2;
            d->pl.win = xrealloc(d->pl.win, cap);
            d->pl.cap = cap;
        }
    } else if (d->pl.start + want > d->pl.cap) {
        memmove(d->pl.win, d->pl.win + d->pl.start, d->pl.len);
        d->pl.start = 0;
    }
    while (d->pl.len < want) {
        ZSTD_inBuffer in = {d->pl.src, d->pl.src_len, d->pl.src_pos};
        size_t at = d->pl.start + d->pl.len;
        ZSTD_outBuffer out = {d->pl.win + at, d->pl.cap - at, 0};
        size_t before = in.pos;
        size_t r = ZSTD_decompressStream(d->zd, &out, &in);
        if (ZSTD_isError(r))
            return pl_err(d, err, errlen, "zstd: %s", ZSTD_getErrorName(r));
        d->pl.src_pos = in.pos;
        d->pl.len += out.pos;
        /* 0 means a frame was completely decoded and flushed; a later call with no input
         * left returns a size hint for a next frame, so remember it */
        if (r == 0)
            d->pl.frame_end = 1;
        else if (in.pos > before || out.pos > 0)
            d->pl.frame_end = 0;
        if (out.pos == 0 && in.pos == in.size) {
            /* input used up and nothing more came out: the end, or a truncated frame */
            if (!d->pl.frame_end)
                return pl_err(d, err, errlen, "the zstd frame is truncated");
            d->pl.eof = 1;
            break;
        }
    }
    return SL_OK;
}

sl_err_t sl_binlog_payload_next(sl_binlog_decoder_t *d, sl_binlog_event_t *inner,
                                int *have, char *err, size_t errlen)
{
    *have = 0;
    if (!d->pl.active)
        return sl_err_set(err, errlen, SL_ERR_PROTOCOL,
                          "no TRANSACTION_PAYLOAD is being read");
    /* drop the event handed out last time */
    d->pl.total += d->pl.drop;
    if (!d->pl.raw) {
        d->pl.start += d->pl.drop;
        d->pl.len -= d->pl.drop;
    }
    d->pl.drop = 0;
    const uint8_t *evp;
    size_t avail;
    if (d->pl.raw) {
        size_t off = (size_t)d->pl.total;
        avail = d->pl.src_len - off;
        evp = d->pl.src + off;
    } else {
        sl_err_t e = pl_fill(d, SL_BINLOG_HEADER_LEN, err, errlen);
        if (e)
            return e;
        avail = d->pl.len;
        evp = d->pl.win + d->pl.start;
    }
    if (avail == 0) {
        if (d->pl.expect && d->pl.total != d->pl.expect)
            return pl_err(
                d, err, errlen, "%llu bytes decompressed but the header says %llu",
                (unsigned long long)d->pl.total, (unsigned long long)d->pl.expect);
        d->pl.active = 0;
        return SL_OK;
    }
    if (avail < SL_BINLOG_HEADER_LEN)
        return pl_err(d, err, errlen, "%zu bytes left, less than an event header", avail);
    size_t size = (size_t)le(evp + 9, 4);
    if (size < SL_BINLOG_HEADER_LEN || size > d->max_event)
        return pl_err(d, err, errlen, "inner event size %zu is impossible (limit %zu)",
                      size, d->max_event);
    if (!d->pl.raw) {
        sl_err_t e = pl_fill(d, size, err, errlen);
        if (e)
            return e;
        avail = d->pl.len;
        evp = d->pl.win + d->pl.start;
    }
    if (size > avail)
        return pl_err(d, err, errlen, "inner event of %zu bytes is truncated (%zu left)",
                      size, avail);
    if (d->pl.expect && d->pl.total + size > d->pl.expect)
        return pl_err(d, err, errlen, "more bytes than the %llu the header announced",
                      (unsigned long long)d->pl.expect);
    d->pl.drop = size;
    sl_err_t e = decode_event(d, evp, size, inner, 1, err, errlen);
    if (e) {
        d->pl.active = 0;
        return e;
    }
    *have = 1;
    return SL_OK;
}
