/* sluice: MySQL GTID sets: intervals per server uuid, in MySQL's text and binary forms
 * (sql/rpl_gtid_set.cc: Gtid_set::to_string, encode, add_gtid_encoding). */
#include <stdlib.h>
#include <string.h>
#include "connectors/mysql/gtidset.h"

#define GNO_MAX ((uint64_t)INT64_MAX) /* MySQL's GNO_END: gnos are 1..2^63-1 */

static void *xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (!q)
        abort();
    return q;
}

void sl_gtid_set_clear(sl_gtid_set_t *s)
{
    for (size_t i = 0; i < s->n; i++)
        s->sid[i].n = 0;
    s->n = 0;
}

void sl_gtid_set_free(sl_gtid_set_t *s)
{
    for (size_t i = 0; i < s->cap; i++)
        free(s->sid[i].iv);
    free(s->sid);
    memset(s, 0, sizeof(*s));
}

/* The SID entry for uuid, inserted (empty) in order when absent. The array's spare slots
 * keep their interval storage for reuse after a clear. */
static sl_gtid_sid_t *sid_get(sl_gtid_set_t *s, const uint8_t uuid[16])
{
    size_t lo = 0, hi = s->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = memcmp(s->sid[mid].uuid, uuid, 16);
        if (c == 0)
            return &s->sid[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 4;
        s->sid = xrealloc(s->sid, cap * sizeof(*s->sid));
        memset(&s->sid[s->cap], 0, (cap - s->cap) * sizeof(*s->sid));
        s->cap = cap;
    }
    sl_gtid_sid_t spare = s->sid[s->n]; /* an unused slot, maybe with storage */
    memmove(&s->sid[lo + 1], &s->sid[lo], (s->n - lo) * sizeof(*s->sid));
    s->sid[lo] = spare;
    s->sid[lo].n = 0;
    memcpy(s->sid[lo].uuid, uuid, 16);
    s->n++;
    return &s->sid[lo];
}

/* Add [start, end) to the SID's intervals, merging what overlaps or touches. */
static void sid_add(sl_gtid_sid_t *d, uint64_t start, uint64_t end)
{
    size_t i = 0;
    while (i < d->n && d->iv[i].end < start)
        i++;
    size_t j = i;
    while (j < d->n && d->iv[j].start <= end) {
        if (d->iv[j].start < start)
            start = d->iv[j].start;
        if (d->iv[j].end > end)
            end = d->iv[j].end;
        j++;
    }
    if (j == i) { /* nothing to merge: insert at i */
        if (d->n == d->cap) {
            d->cap = d->cap ? d->cap * 2 : 4;
            d->iv = xrealloc(d->iv, d->cap * sizeof(*d->iv));
        }
        memmove(&d->iv[i + 1], &d->iv[i], (d->n - i) * sizeof(*d->iv));
        d->n++;
    } else if (j > i + 1) { /* i..j-1 become one */
        memmove(&d->iv[i + 1], &d->iv[j], (d->n - j) * sizeof(*d->iv));
        d->n -= j - i - 1;
    }
    d->iv[i].start = start;
    d->iv[i].end = end;
}

int sl_gtid_set_add(sl_gtid_set_t *s, const uint8_t uuid[16], uint64_t gno)
{
    if (gno == 0 || gno >= GNO_MAX)
        return -1;
    sid_add(sid_get(s, uuid), gno, gno + 1);
    return 0;
}

void sl_gtid_set_merge(sl_gtid_set_t *s, const sl_gtid_set_t *src)
{
    for (size_t i = 0; i < src->n; i++) {
        if (!src->sid[i].n)
            continue;
        sl_gtid_sid_t *d = sid_get(s, src->sid[i].uuid);
        for (size_t k = 0; k < src->sid[i].n; k++)
            sid_add(d, src->sid[i].iv[k].start, src->sid[i].iv[k].end);
    }
}

int sl_gtid_set_contains(const sl_gtid_set_t *s, const uint8_t uuid[16], uint64_t gno)
{
    for (size_t i = 0; i < s->n; i++) {
        if (memcmp(s->sid[i].uuid, uuid, 16) != 0)
            continue;
        for (size_t k = 0; k < s->sid[i].n; k++)
            if (gno >= s->sid[i].iv[k].start && gno < s->sid[i].iv[k].end)
                return 1;
        return 0;
    }
    return 0;
}

/* 36-character uuid text (8-4-4-4-12 hex digits) at p into u; 0 when it is one. */
static int parse_uuid(const char *p, uint8_t u[16])
{
    size_t k = 0;
    for (int i = 0; i < 36; i++) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (p[i] != '-')
                return -1;
            continue;
        }
        int h = sl_hex_value(p[i]);
        if (h < 0)
            return -1;
        if (k % 2 == 0)
            u[k / 2] = (uint8_t)(h << 4);
        else
            u[k / 2] |= (uint8_t)h;
        k++;
    }
    return 0;
}

/* A gno at *p (decimal, 1..2^63-1); advances *p. */
static int parse_gno(const char **p, uint64_t *out)
{
    const char *q = *p;
    uint64_t v = 0;
    if (*q < '0' || *q > '9')
        return -1;
    for (; *q >= '0' && *q <= '9'; q++) {
        if (v > (GNO_MAX - 1 - (uint64_t)(*q - '0')) / 10)
            return -1;
        v = v * 10 + (uint64_t)(*q - '0');
    }
    if (v == 0)
        return -1;
    *p = q;
    *out = v;
    return 0;
}

static const char *skip_blank(const char *p)
{
    while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
        p++;
    return p;
}

sl_err_t sl_gtid_set_parse(sl_gtid_set_t *s, const char *text, char *err, size_t errlen)
{
    sl_gtid_set_clear(s);
    const char *p = skip_blank(text);
    while (*p) {
        const char *member = p;
        uint8_t u[16];
        if (parse_uuid(p, u) != 0) /* stops at the first wrong byte, the NUL too */
            goto bad;
        p = skip_blank(p + 36);
        sl_gtid_sid_t *d = sid_get(s, u);
        if (*p != ':')
            goto bad;
        while (*p == ':') {
            uint64_t a, b;
            p = skip_blank(p + 1);
            if (parse_gno(&p, &a) != 0)
                goto bad;
            b = a;
            p = skip_blank(p);
            if (*p == '-') {
                p = skip_blank(p + 1);
                if (parse_gno(&p, &b) != 0 || b < a)
                    goto bad;
                p = skip_blank(p);
            }
            sid_add(d, a, b + 1);
        }
        if (*p == ',')
            p = skip_blank(p + 1);
        else if (*p)
            goto bad;
        continue;
    bad:
        sl_gtid_set_clear(s);
        return sl_err_set(err, errlen, SL_ERR_CORRUPT,
                          "'%.60s' is not a MySQL GTID set member (uuid:N or uuid:N-M, "
                          "intervals separated by ':', members by ',')",
                          member);
    }
    return SL_OK;
}

static uint64_t le64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

static void put_le64(sl_buf_t *b, uint64_t v)
{
    char t[8];
    for (int i = 0; i < 8; i++)
        t[i] = (char)(v >> (8 * i));
    sl_buf_append(b, t, 8);
}

sl_err_t sl_gtid_set_decode(sl_gtid_set_t *s, const uint8_t *p, size_t len, char *err,
                            size_t errlen)
{
    sl_gtid_set_clear(s);
    size_t at = 0;
    if (len < 8)
        goto short_set;
    uint64_t nsids = le64(p);
    at = 8;
    /* each SID takes at least 24 bytes: a count past that cannot be real */
    if (nsids > (len - at) / 24)
        return sl_err_set(err, errlen, SL_ERR_PROTOCOL,
                          "GTID set: %llu SIDs do not fit in %zu bytes",
                          (unsigned long long)nsids, len);
    for (uint64_t i = 0; i < nsids; i++) {
        if (len - at < 24)
            goto short_set;
        sl_gtid_sid_t *d = sid_get(s, p + at);
        uint64_t nint = le64(p + at + 16);
        at += 24;
        if (nint > (len - at) / 16) {
            sl_gtid_set_clear(s);
            return sl_err_set(err, errlen, SL_ERR_PROTOCOL,
                              "GTID set: SID %llu has intervals past the end",
                              (unsigned long long)i + 1);
        }
        for (uint64_t k = 0; k < nint; k++, at += 16) {
            uint64_t a = le64(p + at), b = le64(p + at + 8);
            if (a == 0 || b <= a || b > GNO_MAX) {
                sl_gtid_set_clear(s);
                return sl_err_set(err, errlen, SL_ERR_PROTOCOL,
                                  "GTID set: interval [%llu, %llu) is empty or invalid",
                                  (unsigned long long)a, (unsigned long long)b);
            }
            sid_add(d, a, b);
        }
    }
    return SL_OK;
short_set:
    sl_gtid_set_clear(s);
    return sl_err_set(err, errlen, SL_ERR_PROTOCOL, "GTID set: %zu bytes end inside it",
                      len);
}

void sl_gtid_set_format(const sl_gtid_set_t *s, sl_buf_t *out)
{
    static const char hx[] = "0123456789abcdef";
    int first = 1;
    for (size_t i = 0; i < s->n; i++) {
        const sl_gtid_sid_t *d = &s->sid[i];
        if (!d->n)
            continue;
        char t[37];
        size_t k = 0;
        if (!first)
            t[k++] = ',';
        first = 0;
        for (int b = 0; b < 16; b++) {
            if (b == 4 || b == 6 || b == 8 || b == 10)
                t[k++] = '-';
            t[k++] = hx[d->uuid[b] >> 4];
            t[k++] = hx[d->uuid[b] & 15];
        }
        sl_buf_append(out, t, k);
        for (size_t v = 0; v < d->n; v++) {
            sl_buf_putc(out, ':');
            sl_buf_put_u64(out, d->iv[v].start);
            if (d->iv[v].end - 1 != d->iv[v].start) {
                sl_buf_putc(out, '-');
                sl_buf_put_u64(out, d->iv[v].end - 1);
            }
        }
    }
}

void sl_gtid_set_encode(const sl_gtid_set_t *s, sl_buf_t *out)
{
    uint64_t n = 0;
    for (size_t i = 0; i < s->n; i++)
        n += s->sid[i].n != 0;
    put_le64(out, n);
    for (size_t i = 0; i < s->n; i++) {
        const sl_gtid_sid_t *d = &s->sid[i];
        if (!d->n)
            continue;
        sl_buf_append(out, d->uuid, 16);
        put_le64(out, d->n);
        for (size_t v = 0; v < d->n; v++) {
            put_le64(out, d->iv[v].start);
            put_le64(out, d->iv[v].end);
        }
    }
}

void sl_gtid_dump_payload(const sl_gtid_set_t *s, uint32_t server_id, sl_buf_t *out)
{
    enum { BINLOG_THROUGH_GTID = 0x04 };
    char h[2 + 4 + 4 + 8 + 4];
    size_t start = out->len;
    h[0] = BINLOG_THROUGH_GTID, h[1] = 0;
    for (int i = 0; i < 4; i++)
        h[2 + i] = (char)(server_id >> (8 * i));
    memset(h + 6, 0, 4);       /* no file name */
    memset(h + 10, 0, 8);
    h[10] = 4;                 /* position 4 */
    sl_buf_append(out, h, sizeof(h));
    size_t data = out->len;
    sl_gtid_set_encode(s, out);
    uint32_t n = (uint32_t)(out->len - data);
    for (int i = 0; i < 4; i++)
        out->data[start + 18 + i] = (char)(n >> (8 * i));
}
