/* sluice: the stdout sink: each record's envelope as one JSON line on standard output.
 * Logs go to stderr, so `sluice run -c x.yaml | jq .` sees only envelopes. The lines are
 * written from where they lie in the batch, IOV_N pieces per writev: through stdio each
 * line was copied once more and written 4 KiB at a time. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>
#include "config/config.h"
#include "core/fsio.h"
#include "sinks/stdout/stdout.h"

#define IOV_N 1024 /* IOV_MAX on Linux: 512 lines per writev */

typedef struct stdout_sink {
    sl_sink_env_t *env;
    int fd; /* standard output */
    struct iovec iov[IOV_N];
    int niov;
    sl_pos_t seen; /* the last position handed to us */
    int has_seen;
    sl_pos_t acked; /* the last position acked: acks never go backwards */
    int has_acked;
} stdout_sink_t;

static void advance(sl_pos_t *to, int *has, const sl_pos_t *p)
{
    if (!*has || sl_pos_cmp(p, to) > 0) {
        *to = *p;
        *has = 1;
    }
}

/* Write the gathered lines. Nothing is acked until every byte is in the pipe or file:
 * there is nothing more this process can do to keep them. */
static sl_err_t write_lines(stdout_sink_t *s, char *err, size_t errlen)
{
    int n = s->niov;
    s->niov = 0;
    if (sl_writev_all(s->fd, s->iov, n, NULL) != 0)
        /* SL_ERR_SINK, not RETRY: a retry would write the batch's first lines twice */
        return sl_err_set(err, errlen, SL_ERR_SINK, "cannot write to standard output: %s",
                          strerror(errno));
    return SL_OK;
}

static sl_err_t flush_and_ack(stdout_sink_t *s, char *err, size_t errlen)
{
    sl_err_t rc = write_lines(s, err, errlen);
    if (rc)
        return rc;
    if (s->has_seen && (!s->has_acked || sl_pos_cmp(&s->seen, &s->acked) > 0)) {
        s->acked = s->seen;
        s->has_acked = 1;
        s->env->ack(s->env, &s->acked);
    }
    return SL_OK;
}

static sl_err_t stdout_create(const struct sl_sink_config *cfg, sl_sink_env_t *env,
                              const sl_pos_t *resume, void **ctx, char *err,
                              size_t errlen)
{
    stdout_sink_t *s = calloc(1, sizeof(*s));
    if (!s)
        return sl_err_set(err, errlen, SL_ERR_NOMEM,
                          "out of memory creating the stdout sink");
    s->env = env;
    s->fd = STDOUT_FILENO;
    if (resume) {
        /* the resume point is already stored: never ack anything before it */
        s->seen = s->acked = *resume;
        s->has_seen = s->has_acked = 1;
    }
    *ctx = s;
    return SL_OK;
}

static sl_err_t stdout_write(void *ctx, const sl_batch_t *b, char *err, size_t errlen)
{
    stdout_sink_t *s = ctx;
    for (size_t i = 0; i < b->n; i++) {
        const sl_record_t *r = &b->recs[i];
        if (r->val_len) {
            static const char nl = '\n';
            if (s->niov + 2 > IOV_N) {
                sl_err_t rc = write_lines(s, err, errlen);
                if (rc)
                    return rc;
            }
            s->iov[s->niov++] = (struct iovec){(void *)(uintptr_t)sl_record_value(b, r),
                                               r->val_len};
            s->iov[s->niov++] = (struct iovec){(void *)(uintptr_t)&nl, 1};
        }
        advance(&s->seen, &s->has_seen, &r->pos);
    }
    if (b->has_end)
        advance(&s->seen, &s->has_seen, &b->end);
    return flush_and_ack(s, err, errlen);
}

static sl_err_t stdout_tick(void *ctx, int64_t now_ms, char *err, size_t errlen)
{
    return SL_OK;
}

static sl_err_t stdout_flush(void *ctx, char *err, size_t errlen)
{
    return flush_and_ack(ctx, err, errlen);
}

static void stdout_destroy(void *ctx)
{
    free(ctx);
}

const sl_sink_ops_t sl_sink_stdout = {
    .name = "stdout",
    .create = stdout_create,
    .write = stdout_write,
    .tick = stdout_tick,
    .flush = stdout_flush,
    .destroy = stdout_destroy,
};
