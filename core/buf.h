/* sluice: the one growable byte buffer used for all encoding.
 * Appends never fail silently: on allocation failure the process aborts (sl_buf_oom). */
#ifndef SL_BUF_H
#define SL_BUF_H

#include <stddef.h>
#include <stdint.h>

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
void sl_buf_append(sl_buf_t *b, const void *p, size_t n);
void sl_buf_puts(sl_buf_t *b, const char *s);
static inline void sl_buf_putc(sl_buf_t *b, char c)
{
    if (b->len + 2 > b->cap)
        sl_buf_reserve(b, 1);
    b->data[b->len++] = c;
    b->data[b->len] = 0;
}
void sl_buf_printf(sl_buf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void sl_buf_put_i64(sl_buf_t *b, int64_t v);
void sl_buf_put_u64(sl_buf_t *b, uint64_t v);
/* Shortest round-trip text of a finite double ("1.5", "1e+300"); NaN/Inf as JSON strings. */
void sl_buf_put_double(sl_buf_t *b, double v);
/* A JSON string literal with quotes; invalid UTF-8 bytes become U+FFFD. */
void sl_buf_put_json_str(sl_buf_t *b, const char *s, size_t n);
/* Standard base64 (RFC 4648, with padding), no quotes. */
void sl_buf_put_base64(sl_buf_t *b, const void *p, size_t n);
/* Detach the storage: caller frees the returned pointer; b is left empty. */
char *sl_buf_steal(sl_buf_t *b);

#endif
