/* sluice: stderr logging (text or JSON lines) with secret redaction.
 * Secrets are registered by the config loader as they are resolved; every line is masked. */
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "core/buf.h"
#include "core/log.h"

static int log_json;
static sl_log_level_t log_min = SL_LOG_INFO;
static pthread_mutex_t log_mu = PTHREAD_MUTEX_INITIALIZER;
static char **secrets;
static size_t nsecrets;

static const char *const level_names[] = {"debug", "info", "warn", "error"};

void sl_log_setup(int json, sl_log_level_t level)
{
    log_json = json;
    log_min = level;
}

int sl_log_is_json(void)
{
    return log_json;
}

int sl_log_level_parse(const char *s)
{
    for (int i = 0; i < 4; i++)
        if (strcmp(s, level_names[i]) == 0)
            return i;
    return -1;
}

void sl_log_add_secret(const char *value)
{
    if (!value || strlen(value) < 3)
        return;
    pthread_mutex_lock(&log_mu);
    for (size_t i = 0; i < nsecrets; i++) {
        if (strcmp(secrets[i], value) == 0) {
            pthread_mutex_unlock(&log_mu);
            return;
        }
    }
    char **v = realloc(secrets, (nsecrets + 1) * sizeof(*v));
    char *copy = strdup(value);
    if (v && copy) {
        secrets = v;
        secrets[nsecrets++] = copy;
    } else {
        /* cannot remember the secret: refuse to run rather than risk printing it */
        fprintf(stderr, "sluice: out of memory registering a secret\n");
        abort();
    }
    pthread_mutex_unlock(&log_mu);
}

/* Mask secrets in b in place (call with log_mu held). */
static void redact_locked(sl_buf_t *b)
{
    for (size_t i = 0; i < nsecrets; i++) {
        size_t sl = strlen(secrets[i]);
        char *p;
        size_t from = 0;
        while (from < b->len && (p = memmem(b->data + from, b->len - from, secrets[i], sl))) {
            size_t at = (size_t)(p - b->data);
            sl_buf_t out = SL_BUF_INIT;
            sl_buf_append(&out, b->data, at);
            sl_buf_puts(&out, "***");
            sl_buf_append(&out, b->data + at + sl, b->len - at - sl);
            sl_buf_free(b);
            *b = out;
            from = at + 3;
        }
    }
}

void sl_log_redact(const char *src, char *dst, size_t n)
{
    if (!n)
        return;
    sl_buf_t b = SL_BUF_INIT;
    sl_buf_puts(&b, src);
    pthread_mutex_lock(&log_mu);
    redact_locked(&b);
    pthread_mutex_unlock(&log_mu);
    snprintf(dst, n, "%s", b.data);
    sl_buf_free(&b);
}

void sl_log(sl_log_level_t level, const char *connector, const char *fmt, ...)
{
    if (level < log_min)
        return;
    sl_buf_t msg = SL_BUF_INIT, line = SL_BUF_INIT;
    va_list ap;
    va_start(ap, fmt);
    char *text = NULL;
    if (vasprintf(&text, fmt, ap) < 0)
        text = NULL;
    va_end(ap);
    sl_buf_puts(&msg, text ? text : fmt);
    free(text);

    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    char when[40];
    strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);

    pthread_mutex_lock(&log_mu);
    redact_locked(&msg);
    if (log_json) {
        sl_buf_printf(&line, "{\"ts\":\"%s.%03ldZ\",\"level\":\"%s\"", when,
                      ts.tv_nsec / 1000000, level_names[level]);
        if (connector) {
            sl_buf_puts(&line, ",\"connector\":");
            sl_buf_put_json_str(&line, connector, strlen(connector));
        }
        sl_buf_puts(&line, ",\"msg\":");
        sl_buf_put_json_str(&line, msg.data, msg.len);
        sl_buf_puts(&line, "}\n");
    } else {
        sl_buf_printf(&line, "%s.%03ldZ %-5s ", when, ts.tv_nsec / 1000000,
                      level_names[level]);
        if (connector)
            sl_buf_printf(&line, "[%s] ", connector);
        sl_buf_append(&line, msg.data, msg.len);
        sl_buf_putc(&line, '\n');
    }
    fwrite(line.data, 1, line.len, stderr);
    pthread_mutex_unlock(&log_mu);
    sl_buf_free(&msg);
    sl_buf_free(&line);
}
