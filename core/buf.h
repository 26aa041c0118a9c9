/* sluice: the one growable byte buffer used for all encoding.
 * Appends never fail silently: on allocation failure the process aborts (sl_buf_oom). */
#ifndef SL_BUF_H
#define SL_BUF_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

typedef struct sl_buf {
    char *data;   /* owned; always NUL-terminated after any append (data[len] == 0) */
    size_t len;
    size_t cap;
} sl_buf_t;

#define SL_BUF_INIT {NULL, 0, 0}

void sl_buf_init(sl_buf_t *b);
/* Frees the storage; the struct may be reused after sl_buf_init. */
void sl_buf_free(sl_buf_t *b);
/* Keeps the storage, drops the content. */
static inline void sl_buf_reset(sl_buf_t *b)
{
    b->len = 0;
    if (b->data)
        b->data[0] = 0;
}
/* Make room for n more bytes (plus the terminating NUL). */
void sl_buf_reserve(sl_buf_t *b, size_t n);
/* Keep the first len bytes (len <= b->len). */
static inline void sl_buf_truncate(sl_buf_t *b, size_t len)
{
    if (b->data) {
        b->len = len;
        b->data[len] = 0;
    }
}
/* Copy n <= 32 bytes with two fixed-size moves that overlap in the middle: the
 * compiler turns each into one load and one store. Envelopes are made of short
 * pieces (names, numbers, punctuation), and a call into the C library's memcpy for
 * each cost a fifth of the encoding time (perf, tests/bench/my_bench.sh). Every byte
 * read lies within [s, s + n); gcc's bounds warning does not see which branch a
 * short constant n takes, hence the pragma (to the end of sl_buf_append). */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Warray-bounds"
#if __GNUC__ >= 11
#pragma GCC diagnostic ignored "-Wstringop-overread"
#endif
#endif
static inline void sl_copy_small(char *d, const char *s, size_t n)
{
    if (n >= 16) {
        char a[16], z[16];
        memcpy(a, s, 16);
        memcpy(z, s + n - 16, 16);
        memcpy(d, a, 16);
        memcpy(d + n - 16, z, 16);
    } else if (n >= 8) {
        uint64_t a, z;
        memcpy(&a, s, 8);
        memcpy(&z, s + n - 8, 8);
        memcpy(d, &a, 8);
        memcpy(d + n - 8, &z, 8);
    } else if (n >= 4) {
        uint32_t a, z;
        memcpy(&a, s, 4);
        memcpy(&z, s + n - 4, 4);
        memcpy(d, &a, 4);
        memcpy(d + n - 4, &z, 4);
    } else if (n) {
        char a = s[0], m = s[n / 2], z = s[n - 1];
        d[0] = a;
        d[n / 2] = m;
        d[n - 1] = z;
    }
}
/* Inline so that the common case (it fits) is a compare and a copy, and so that
 * sl_buf_puts of a string literal costs no strlen at run time. */
static inline void sl_buf_append(sl_buf_t *b, const void *p, size_t n)
{
    if (b->len + n + 1 > b->cap)
        sl_buf_reserve(b, n);
    if (n <= 32)
        sl_copy_small(b->data + b->len, p, n);
    else
        memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = 0;
}
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif
static inline void sl_buf_puts(sl_buf_t *b, const char *s)
{
    sl_buf_append(b, s, strlen(s));
}
static inline void sl_buf_putc(sl_buf_t *b, char c)
{
    if (b->len + 2 > b->cap)
        sl_buf_reserve(b, 1);
    b->data[b->len++] = c;
    b->data[b->len] = 0;
}
/* The value of one hex digit (either case), -1 for any other byte. */
static inline int sl_hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}
void sl_buf_printf(sl_buf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void sl_buf_put_i64(sl_buf_t *b, int64_t v);
void sl_buf_put_u64(sl_buf_t *b, uint64_t v);
/* The text of a double that reads back to the same value: the first of printf's "%.15g",
 * "%.16g", "%.17g" that does ("0.1", "1e+300", "-0", "0.30000000000000004"), byte for
 * byte, though printf runs only for subnormals and magnitudes outside about 1e-10..1e45.
 * NaN and infinities as the JSON strings "NaN", "Infinity", "-Infinity". */
void sl_buf_put_double(sl_buf_t *b, double v);
/* A JSON string literal with quotes; invalid UTF-8 bytes become U+FFFD. */
void sl_buf_put_json_str(sl_buf_t *b, const char *s, size_t n);
/* Standard base64 (RFC 4648, with padding), no quotes. */
void sl_buf_put_base64(sl_buf_t *b, const void *p, size_t n);
/* Detach the storage: caller frees the returned pointer; b is left empty. */
char *sl_buf_steal(sl_buf_t *b);

#endif
