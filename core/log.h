/* sluice: logging to stderr as text or JSON lines, with secret redaction.
 * Every message passes through the redactor, so a registered secret is never printed. */
#ifndef SL_LOG_H
#define SL_LOG_H

#include <stddef.h>

typedef enum { SL_LOG_DEBUG = 0, SL_LOG_INFO, SL_LOG_WARN, SL_LOG_ERROR } sl_log_level_t;

/* json: non-zero for JSON lines. level: the lowest level printed. */
void sl_log_setup(int json, sl_log_level_t level);
/* Non-zero when lines are JSON (sl_log_setup). */
int sl_log_is_json(void);
/* Parse "debug"/"info"/"warn"/"error"; returns -1 when unknown. */
int sl_log_level_parse(const char *s);
/* Register a secret value (copied); every later log line and sl_log_redact output
 * has it replaced by "***". Values shorter than 3 bytes are ignored. Thread-safe. */
void sl_log_add_secret(const char *value);
/* Copy src into dst (size n, NUL-terminated) with every registered secret masked. */
void sl_log_redact(const char *src, char *dst, size_t n);
/* connector may be NULL (worker-level line). */
void sl_log(sl_log_level_t level, const char *connector, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define sl_debug(c, ...) sl_log(SL_LOG_DEBUG, c, __VA_ARGS__)
#define sl_info(c, ...) sl_log(SL_LOG_INFO, c, __VA_ARGS__)
#define sl_warn(c, ...) sl_log(SL_LOG_WARN, c, __VA_ARGS__)
#define sl_error(c, ...) sl_log(SL_LOG_ERROR, c, __VA_ARGS__)

#endif
