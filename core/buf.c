/* sluice: growable byte buffer and the JSON/base64 primitives the envelope writer uses.
 * Written for the hot path: no allocation once the buffer has reached its working size. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>
#include "core/buf.h"

static void sl_buf_oom(size_t want)
{
    fprintf(stderr, "sluice: out of memory (wanted %zu bytes)\n", want);
    abort();
}

void sl_buf_init(sl_buf_t *b)
{
    b->data = NULL;
    b->len = b->cap = 0;
}

void sl_buf_free(sl_buf_t *b)
{
    free(b->data);
    sl_buf_init(b);
}

void sl_buf_reserve(sl_buf_t *b, size_t n)
{
    size_t need = b->len + n + 1;
    if (need <= b->cap)
        return;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < need)
        cap *= 2;
    char *p = realloc(b->data, cap);
    if (!p)
        sl_buf_oom(cap);
    b->data = p;
    b->cap = cap;
}

void sl_buf_printf(sl_buf_t *b, const char *fmt, ...)
{
    va_list ap;
    sl_buf_reserve(b, 64);
    va_start(ap, fmt);
    int n = vsnprintf(b->data + b->len, b->cap - b->len, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n >= b->cap - b->len) {
        sl_buf_reserve(b, (size_t)n);
        va_start(ap, fmt);
        vsnprintf(b->data + b->len, b->cap - b->len, fmt, ap);
        va_end(ap);
    }
    b->len += (size_t)n;
}

/* "00".."99": integers are written two digits per division. */
static const char digit_pairs[201] =
    "00010203040506070809101112131415161718192021222324252627282930313233343536373839"
    "40414243444546474849505152535455565758596061626364656667686970717273747576777879"
    "8081828384858687888990919293949596979899";

static const uint64_t pow10_u64[20] = {1ull,
                                       10ull,
                                       100ull,
                                       1000ull,
                                       10000ull,
                                       100000ull,
                                       1000000ull,
                                       10000000ull,
                                       100000000ull,
                                       1000000000ull,
                                       10000000000ull,
                                       100000000000ull,
                                       1000000000000ull,
                                       10000000000000ull,
                                       100000000000000ull,
                                       1000000000000000ull,
                                       10000000000000000ull,
                                       100000000000000000ull,
                                       1000000000000000000ull,
                                       10000000000000000000ull};

/* Writes the decimal digits of v backwards, ending just before end; returns the first. */
static char *u64_digits(char *end, uint64_t v)
{
    while (v >= 100) {
        unsigned d = (unsigned)(v % 100) * 2;
        v /= 100;
        *--end = digit_pairs[d + 1];
        *--end = digit_pairs[d];
    }
    if (v >= 10) {
        *--end = digit_pairs[v * 2 + 1];
        *--end = digit_pairs[v * 2];
    } else {
        *--end = (char)('0' + v);
    }
    return end;
}

/* The number of decimal digits of v: from its bit length, floor(log10) is t or t - 1. */
static unsigned u64_len(uint64_t v)
{
    unsigned t = (unsigned)(64 - __builtin_clzll(v | 1)) * 1233 >> 12;
    return t - (v < pow10_u64[t]) + 1 + (v == 0);
}

/* The digits go straight into the buffer: written into a scratch array and copied, the
 * copy's wide loads waited on the digits' byte stores (perf annotate, my_bench.sh). */
void sl_buf_put_u64(sl_buf_t *b, uint64_t v)
{
    unsigned n = u64_len(v);
    if (b->len + n + 1 > b->cap)
        sl_buf_reserve(b, n);
    u64_digits(b->data + b->len + n, v);
    b->len += n;
    b->data[b->len] = 0;
}

void sl_buf_put_i64(sl_buf_t *b, int64_t v)
{
    if (v < 0)
        sl_buf_putc(b, '-');
    sl_buf_put_u64(b, v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v);
}

/*
 * Doubles. The text has always been the first of "%.15g", "%.16g", "%.17g" whose strtod
 * gives the value back; consumers and the files already written hold that text, so the
 * fast path below computes exactly what printf and strtod would, with integers:
 *
 * v = m * 2^e (m the 53-bit significand). With d = floor(floor(log2 v) * log10 2), which
 * is floor(log10 v) or one less, and K = 17 - d, v * 10^K = X + r/den with X an integer
 * of 18 or 19 digits and r/den the exact fraction left over. X rounded to P digits (half to
 * even, r breaking ties as printf does with the exact value) is printf's "%.Pg" digits;
 * that decimal reads back to v exactly when its distance from v is below half the gap to
 * the neighbouring double (equal: v wins when m is even, as strtod rounds half to even;
 * below a power of two the gap is half as wide). All of it fits in 128 bits while
 * 5^|K| fits in 64, i.e. K in -27..27: about 1e-10 <= |v| < 1e45. Other magnitudes and
 * subnormals go to printf itself.
 */
__extension__ typedef unsigned __int128 u128;


static uint64_t pow5_u64(int k) /* k in 0..27 */
{
    uint64_t p = 1;
    while (k >= 4) {
        p *= 625;
        k -= 4;
    }
    while (k--)
        p *= 5;
    return p;
}

/* Writes "%.<prec>g" of the value digits * 10^(exp10 - ndigits + 1) (digits has ndigits
 * digits, the first non-zero) to out, with sign; returns the length. */
static size_t format_g(char *out, int neg, uint64_t digits, int ndigits, int exp10, int prec)
{
    while (ndigits > 1 && digits % 10 == 0) {
        digits /= 10;
        ndigits--;
    }
    char dig[24];
    u64_digits(dig + ndigits, digits);
    char *o = out;
    if (neg)
        *o++ = '-';
    if (exp10 < -4 || exp10 >= prec) {
        *o++ = dig[0];
        if (ndigits > 1) {
            *o++ = '.';
            memcpy(o, dig + 1, (size_t)ndigits - 1);
            o += ndigits - 1;
        }
        *o++ = 'e';
        *o++ = exp10 < 0 ? '-' : '+';
        unsigned x = (unsigned)(exp10 < 0 ? -exp10 : exp10);
        if (x >= 100)
            *o++ = (char)('0' + x / 100);
        *o++ = digit_pairs[x % 100 * 2];
        *o++ = digit_pairs[x % 100 * 2 + 1];
    } else if (exp10 >= 0) {
        int ip = exp10 + 1; /* digits before the point */
        if (ndigits <= ip) {
            memcpy(o, dig, (size_t)ndigits);
            o += ndigits;
            memset(o, '0', (size_t)(ip - ndigits));
            o += ip - ndigits;
        } else {
            memcpy(o, dig, (size_t)ip);
            o += ip;
            *o++ = '.';
            memcpy(o, dig + ip, (size_t)(ndigits - ip));
            o += ndigits - ip;
        }
    } else {
        *o++ = '0';
        *o++ = '.';
        memset(o, '0', (size_t)(-exp10 - 1));
        o += -exp10 - 1;
        memcpy(o, dig, (size_t)ndigits);
        o += ndigits;
    }
    return (size_t)(o - out);
}

/* The fast path: writes the text of v (finite) to out and returns its length, or returns 0
 * when v is outside the range it handles exactly. */
static size_t double_fast(double v, char *out)
{
    uint64_t bits;
    memcpy(&bits, &v, sizeof(bits));
    int neg = (int)(bits >> 63);
    int bexp = (int)(bits >> 52 & 0x7ff);
    uint64_t frac = bits & ((1ull << 52) - 1);
    if (bexp == 0) {
        if (frac)
            return 0; /* subnormal */
        return format_g(out, neg, 0, 1, 0, 15); /* "0", "-0" */
    }
    uint64_t m = frac | 1ull << 52;
    int e = bexp - 1075;  /* v = m * 2^e */
    int e2 = e + 52;      /* floor(log2 v) */
    /* floor(e2 * log10 2); the decimal exponent of v is this or one more */
    int d = e2 >= 0 ? (e2 * 78913) >> 18 : -((-e2 * 78913 + (1 << 18) - 1) >> 18);
    int K = 17 - d;
    if (K > 27 || K < -27)
        return 0;
    u128 q;      /* floor(v * 10^K) */
    u128 r, den; /* v * 10^K - q = r / den */
    u128 ulp;    /* the gap to the next double, times 10^K, in units of 1/den */
    if (K >= 0) {
        /* v * 10^K = m * 5^K * 2^(e+K) */
        uint64_t p5 = pow5_u64(K);
        u128 n = (u128)m * p5;
        int sh = e + K;
        if (sh >= 0) {
            if (sh > 63)
                return 0;
            q = n << sh;
            r = 0;
            den = 1;
            ulp = (u128)p5 << sh;
        } else {
            if (-sh > 64) /* keeps dist * 4 below in 128 bits */
                return 0;
            den = (u128)1 << -sh;
            q = n >> -sh;
            r = n & (den - 1);
            ulp = p5;
        }
    } else {
        /* v * 10^K = m * 2^(e+K) / 5^-K */
        uint64_t p5 = pow5_u64(-K);
        int sh = e + K;
        if (sh < 0 || sh > 74)
            return 0;
        u128 n = (u128)m << sh;
        q = n / p5;
        r = n % p5;
        den = p5;
        ulp = (u128)1 << sh;
    }
    if (q < pow10_u64[17] || q >= pow10_u64[19])
        return 0; /* cannot happen: d is exact in this range (checked for |e2| <= 1100) */
    uint64_t X = (uint64_t)q;
    int ndig = X >= pow10_u64[18] ? 19 : 18;
    /* the gap below is half as wide when v is a power of two above the subnormals */
    int narrow_below = frac == 0 && bexp > 1;
    for (int prec = 15; prec <= 17; prec++) {
        int j = ndig - prec; /* digits dropped: 1..4 */
        uint64_t pw = pow10_u64[j];
        uint64_t D = X / pw, rem = X % pw, half = pw / 2;
        if (rem > half || (rem == half && (r != 0 || (D & 1))))
            D++;
        uint64_t Y = D * pw; /* the rounded value times 10^K; at most 10^19 */
        if (prec < 17) {
            /* dist: |Y - v * 10^K| in units of 1/den; below: Y is less than v */
            u128 dist;
            int below;
            if (Y >= X) {
                u128 a = (u128)(Y - X) * den;
                below = a < r;
                dist = below ? r - a : a - r;
            } else {
                below = 1;
                dist = (u128)(X - Y) * den + r;
            }
            u128 twice = dist * ((below && narrow_below) ? 4 : 2);
            if (twice > ulp || (twice == ulp && (m & 1)))
                continue; /* reads back as a neighbour: one more digit */
        }
        int exp10 = ndig - 1 - K;
        if (D == pow10_u64[prec]) { /* rounded up to 10^prec */
            D = pow10_u64[prec - 1];
            exp10++;
        }
        return format_g(out, neg, D, prec, exp10, prec);
    }
    return 0; /* not reached: 17 digits always read back */
}

void sl_buf_put_double(sl_buf_t *b, double v)
{
    if (isnan(v)) {
        sl_buf_puts(b, "\"NaN\"");
        return;
    }
    if (isinf(v)) {
        sl_buf_puts(b, v > 0 ? "\"Infinity\"" : "\"-Infinity\"");
        return;
    }
    /* straight into the buffer too (see sl_buf_put_u64); at most 25 bytes */
    if (b->len + 33 > b->cap)
        sl_buf_reserve(b, 32);
    size_t n = double_fast(v, b->data + b->len);
    if (n) {
        b->len += n;
        b->data[b->len] = 0;
        return;
    }
    b->data[b->len] = 0;
    char tmp[32];
    /* the shortest of %.15g..%.17g that reads back to the same double */
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(tmp, sizeof(tmp), "%.*g", prec, v);
        if (strtod(tmp, NULL) == v)
            break;
    }
    sl_buf_puts(b, tmp);
}

static const char hexdig[] = "0123456789abcdef";

/* Length of the valid UTF-8 sequence at s (remaining n), or 0 when invalid. */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
    unsigned char c = s[0];
    size_t len;
    uint32_t cp;
    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf) {
        len = 2;
        cp = c & 0x1f;
    } else if (c >= 0xe0 && c <= 0xef) {
        len = 3;
        cp = c & 0x0f;
    } else if (c >= 0xf0 && c <= 0xf4) {
        len = 4;
        cp = c & 0x07;
    } else {
        return 0;
    }
    if (n < len)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3f);
    }
    if ((len == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
        (len == 4 && (cp < 0x10000 || cp > 0x10ffff)))
        return 0;
    return len;
}

/* Index of the first byte at or after i that is not printable ASCII other than '"' and
 * '\\' (a control, a quote, a backslash or a byte >= 0x80), or n. Eight bytes at a time:
 * per byte lane, with t the byte less its top bit, t + 0x60 carries into the top bit when
 * t >= 0x20, and (t ^ c) + 0x7f when t != c; no lane carries into the next. */
static size_t plain_run_end(const unsigned char *s, size_t i, size_t n)
{
    const uint64_t ones = 0x0101010101010101ull, high = 0x8080808080808080ull;
    while (i + 8 <= n) {
        uint64_t w;
        memcpy(&w, s + i, sizeof(w));
        uint64_t t = w & ~high;
        uint64_t special = w | ~(t + 0x60 * ones) | ~((t ^ ('"' * ones)) + 0x7f * ones) |
                           ~((t ^ ('\\' * ones)) + 0x7f * ones);
        special &= high;
        if (special) {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
            return i + (size_t)(__builtin_ctzll(special) >> 3);
#else
            break;
#endif
        }
        i += 8;
    }
    while (i < n && s[i] >= 0x20 && s[i] < 0x80 && s[i] != '"' && s[i] != '\\')
        i++;
    return i;
}

void sl_buf_put_json_str(sl_buf_t *b, const char *str, size_t n)
{
    const unsigned char *s = (const unsigned char *)str;
    if (b->len + n + 3 > b->cap)
        sl_buf_reserve(b, n + 2);
    size_t i = plain_run_end(s, 0, n);
    char *o = b->data + b->len;
    *o++ = '"';
    if (i)
        memcpy(o, s, i);
    if (i == n) { /* the common case: nothing to escape */
        o[n] = '"';
        b->len += n + 2;
        b->data[b->len] = 0;
        return;
    }
    b->len += 1 + i;
    size_t run = i; /* start of the pending run of bytes that need no escaping */
    do {
        unsigned char c = s[i];
        size_t seq = c >= 0x80 ? utf8_seq(s + i, n - i) : 0;
        if (seq) {
            i += seq;
            continue;
        }
        sl_buf_append(b, s + run, i - run);
        switch (c) {
        case '"': sl_buf_append(b, "\\\"", 2); break;
        case '\\': sl_buf_append(b, "\\\\", 2); break;
        case '\n': sl_buf_append(b, "\\n", 2); break;
        case '\r': sl_buf_append(b, "\\r", 2); break;
        case '\t': sl_buf_append(b, "\\t", 2); break;
        case '\b': sl_buf_append(b, "\\b", 2); break;
        case '\f': sl_buf_append(b, "\\f", 2); break;
        default:
            if (c < 0x20) {
                char e[6] = {'\\', 'u', '0', '0', hexdig[c >> 4], hexdig[c & 15]};
                sl_buf_append(b, e, 6);
            } else {
                sl_buf_append(b, "\xef\xbf\xbd", 3); /* invalid UTF-8 byte */
            }
        }
        i++;
        run = i;
    } while ((i = plain_run_end(s, i, n)) < n);
    sl_buf_append(b, s + run, n - run);
    sl_buf_putc(b, '"');
}

void sl_buf_put_base64(sl_buf_t *b, const void *p, size_t n)
{
    static const char tbl[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const unsigned char *s = p;
    sl_buf_reserve(b, (n + 2) / 3 * 4);
    char *o = b->data + b->len;
    size_t i = 0;
    for (; i + 3 <= n; i += 3) {
        uint32_t v = (uint32_t)s[i] << 16 | (uint32_t)s[i + 1] << 8 | s[i + 2];
        *o++ = tbl[v >> 18];
        *o++ = tbl[(v >> 12) & 63];
        *o++ = tbl[(v >> 6) & 63];
        *o++ = tbl[v & 63];
    }
    if (n - i == 1) {
        uint32_t v = (uint32_t)s[i] << 16;
        *o++ = tbl[v >> 18];
        *o++ = tbl[(v >> 12) & 63];
        *o++ = '=';
        *o++ = '=';
    } else if (n - i == 2) {
        uint32_t v = (uint32_t)s[i] << 16 | (uint32_t)s[i + 1] << 8;
        *o++ = tbl[v >> 18];
        *o++ = tbl[(v >> 12) & 63];
        *o++ = tbl[(v >> 6) & 63];
        *o++ = '=';
    }
    b->len = (size_t)(o - b->data);
    b->data[b->len] = 0;
}

char *sl_buf_steal(sl_buf_t *b)
{
    char *p = b->data;
    if (!p) {
        p = calloc(1, 1);
        if (!p)
            sl_buf_oom(1);
    }
    sl_buf_init(b);
    return p;
}
