/* sluice: error codes, their names, and the errbuf helper.
 * Every failing function fills a caller-owned buffer with a sentence a user can act on. */
#include <stdarg.h>
#include <stdio.h>
#include <stddef.h>
#include "core/err.h"

static const char *const names[] = {
    [SL_OK] = "ok",           [SL_ERR_RETRY] = "retry",     [SL_ERR_CONFIG] = "config",
    [SL_ERR_IO] = "io",       [SL_ERR_PROTOCOL] = "protocol", [SL_ERR_SOURCE] = "source",
    [SL_ERR_SINK] = "sink",   [SL_ERR_CORRUPT] = "corrupt", [SL_ERR_NOMEM] = "nomem",
    [SL_ERR_STOPPED] = "stopped", [SL_ERR_UNSUPPORTED] = "unsupported",
};

const char *sl_err_str(sl_err_t e)
{
    if ((unsigned)e < sizeof(names) / sizeof(names[0]) && names[e])
        return names[e];
    return "unknown";
}

int sl_err_is_transient(sl_err_t e)
{
    return e == SL_ERR_RETRY;
}

sl_err_t sl_err_set(char *errbuf, size_t n, sl_err_t e, const char *fmt, ...)
{
    if (errbuf && n) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(errbuf, n, fmt, ap);
        va_end(ap);
    }
    return e;
}
