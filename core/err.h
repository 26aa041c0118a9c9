/* sluice: the one error type shared by every module.
 * Transient vs fatal is part of the code, so callers never parse log text to decide. */
#ifndef SL_ERR_H
#define SL_ERR_H

typedef enum sl_err {
    SL_OK = 0,
    SL_ERR_RETRY = 1,    /* transient: try again later (queue full, server gone) */
    SL_ERR_CONFIG = 2,   /* the user's configuration is wrong: exit code 2 */
    SL_ERR_IO = 3,       /* local file system failure */
    SL_ERR_PROTOCOL = 4, /* malformed or unexpected bytes from a server */
    SL_ERR_SOURCE = 5,   /* the source database refuses or is misconfigured */
    SL_ERR_SINK = 6,     /* the sink failed fatally */
    SL_ERR_CORRUPT = 7,  /* a stored file (bookmark) cannot be trusted */
    SL_ERR_NOMEM = 8,
    SL_ERR_STOPPED = 9,  /* a stop was requested; not a failure */
    SL_ERR_UNSUPPORTED = 10,
} sl_err_t;

/* Static string naming the code ("retry", "config", ...). */
const char *sl_err_str(sl_err_t e);

/* Non-zero when the failure may go away by itself (retry with backoff). */
int sl_err_is_transient(sl_err_t e);

/* Fill errbuf (size n, always NUL-terminated) and return e; for one-line error returns. */
sl_err_t sl_err_set(char *errbuf, size_t n, sl_err_t e, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#endif
