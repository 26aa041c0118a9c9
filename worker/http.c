/* sluice: the HTTP API on libmicrohttpd (one internal thread; requests are small and
 * rare) and the plain-socket client behind `sluice healthcheck`. */
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <unistd.h>
#include <jansson.h>
#include <microhttpd.h>
#include "core/buf.h"
#include "core/fsio.h"
#include "core/log.h"
#include "worker/http.h"

#define BODY_MAX 4096 /* control requests take no body; anything bigger is a mistake */
#define CONN_LIMIT 64
#define CONN_TIMEOUT_S 10

struct sl_http {
    struct MHD_Daemon *d;
    sl_sup_t *sup;
    pthread_mutex_t mu; /* guards token */
    char *token;
    char address[300];
};

/* Per-request state, freed when the request completes. */
typedef struct req {
    size_t body_len;
    int body_bad; /* something other than whitespace or {} was sent */
    sl_buf_t body; /* the first BODY_MAX bytes (a snapshot request's document) */
} req_t;

int sl_http_parse_address(const char *text, char *host, size_t hostlen, char *port,
                          size_t portlen, char *err, size_t errlen)
{
    if (!text || !*text || strcmp(text, "0") == 0)
        return 1;
    const char *colon, *h = text;
    size_t hl;
    if (*text == '[') {
        const char *close = strchr(text, ']');
        if (!close || close[1] != ':')
            goto bad;
        h = text + 1;
        hl = (size_t)(close - h);
        colon = close + 1;
    } else {
        colon = strrchr(text, ':');
        if (!colon || memchr(text, ':', (size_t)(colon - text)))
            goto bad; /* no port, or a bare IPv6 address: it needs brackets */
        hl = (size_t)(colon - text);
    }
    const char *p = colon + 1;
    size_t pl = strlen(p);
    if (!pl || pl > 5 || strspn(p, "0123456789") != pl || atoi(p) > 65535)
        goto bad;
    if (hl >= hostlen || pl >= portlen)
        goto bad;
    memcpy(host, h, hl);
    host[hl] = 0;
    memcpy(port, p, pl + 1);
    return 0;
bad:
    snprintf(err, errlen,
             "worker.http: \"%s\" is not an address; write host:port (127.0.0.1:8083, "
             "0.0.0.0:8083, [::1]:8083), or \"0\" to turn the HTTP API off",
             text);
    return -1;
}

/* ---- responses ---- */

static enum MHD_Result respond(struct MHD_Connection *c, unsigned status,
                               const char *type, sl_buf_t *body, const char *allow,
                               int auth)
{
    /* a last line of defence: no registered secret ever leaves in a response, whatever
     * a server's error message or a connector's error quoted */
    size_t n = body->len;
    char *text = malloc(n + 1);
    if (!text)
        return MHD_NO;
    sl_log_redact(body->data ? body->data : "", text, n + 1);
    struct MHD_Response *r =
        MHD_create_response_from_buffer(strlen(text), text, MHD_RESPMEM_MUST_FREE);
    if (!r) {
        free(text);
        return MHD_NO;
    }
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    if (allow)
        MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, allow);
    if (auth)
        MHD_add_response_header(r, MHD_HTTP_HEADER_WWW_AUTHENTICATE,
                                "Bearer realm=\"sluice\"");
    enum MHD_Result rc = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return rc;
}

static enum MHD_Result json(struct MHD_Connection *c, unsigned status, sl_buf_t *body)
{
    sl_buf_putc(body, '\n');
    return respond(c, status, "application/json", body, NULL, 0);
}

/* {"error": "..."} with the given status; extra headers for 401 and 405. */
static enum MHD_Result error(struct MHD_Connection *c, unsigned status, const char *allow,
                             const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static enum MHD_Result error(struct MHD_Connection *c, unsigned status, const char *allow,
                             const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *msg = NULL;
    if (vasprintf(&msg, fmt, ap) < 0)
        msg = NULL;
    va_end(ap);
    sl_buf_t b = SL_BUF_INIT;
    sl_buf_puts(&b, "{\"error\":");
    sl_buf_put_json_str(&b, msg ? msg : "error", msg ? strlen(msg) : 5);
    sl_buf_puts(&b, "}\n");
    free(msg);
    enum MHD_Result rc = respond(c, status, "application/json", &b, allow,
                                 status == MHD_HTTP_UNAUTHORIZED);
    sl_buf_free(&b);
    return rc;
}

/* ---- routing ---- */

/* Constant-time comparison, so the time taken reveals nothing about the token. */
static int token_ok(sl_http_t *h, const char *header)
{
    pthread_mutex_lock(&h->mu);
    int ok = 1;
    if (h->token) {
        static const char prefix[] = "Bearer ";
        size_t tl = strlen(h->token);
        const char *given = header && strncmp(header, prefix, sizeof(prefix) - 1) == 0
                                ? header + sizeof(prefix) - 1
                                : "";
        size_t gl = strlen(given);
        unsigned char diff = gl != tl;
        for (size_t i = 0; i < tl; i++)
            diff |= (unsigned char)(h->token[i] ^ (i < gl ? given[i] : 0));
        ok = diff == 0;
    }
    pthread_mutex_unlock(&h->mu);
    return ok;
}

static int is_get(const char *m)
{
    return strcmp(m, MHD_HTTP_METHOD_GET) == 0 || strcmp(m, MHD_HTTP_METHOD_HEAD) == 0;
}

/* POST /connectors/{name}/snapshot {"tables":["schema.table",...],"where":"..."}: an
 * on-demand snapshot of those tables, taken incrementally while the connector streams. */
static enum MHD_Result snapshot(sl_http_t *h, struct MHD_Connection *c, const char *method,
                                const char *name, req_t *rq)
{
    if (strcmp(method, MHD_HTTP_METHOD_POST) != 0)
        return error(c, MHD_HTTP_METHOD_NOT_ALLOWED, "POST",
                     "/connectors/%s/snapshot takes POST", name);
    if (rq->body_len > BODY_MAX)
        return error(c, MHD_HTTP_CONTENT_TOO_LARGE, NULL,
                     "a snapshot request is at most %d bytes", BODY_MAX);
    json_error_t jerr;
    json_t *doc = json_loadb(rq->body.data ? rq->body.data : "", rq->body.len, 0, &jerr);
    json_t *tables = json_object_get(doc, "tables"), *where = json_object_get(doc, "where");
    const char *why = !json_is_object(doc) ? "the body must be a JSON object"
                      : !json_is_array(tables) || !json_array_size(tables)
                          ? "\"tables\" must be a non-empty array of \"schema.table\" names"
                      : where && !json_is_null(where) && !json_is_string(where)
                          ? "\"where\" must be a string (an SQL condition)"
                          : NULL;
    for (size_t i = 0; !why && i < json_array_size(tables); i++) {
        const char *t = json_string_value(json_array_get(tables, i));
        if (!t || !strchr(t, '.') || t[0] == '.')
            why = "\"tables\" must be a non-empty array of \"schema.table\" names";
    }
    const char *key;
    json_t *v;
    json_object_foreach(doc, key, v) if (!why && strcmp(key, "tables") && strcmp(key, "where"))
        why = "a snapshot request takes only \"tables\" and \"where\"";
    if (why) {
        json_decref(doc);
        return error(c, MHD_HTTP_BAD_REQUEST, NULL, "%s", why);
    }
    char *req = json_dumps(doc, JSON_COMPACT);
    json_decref(doc);
    sl_buf_t b = SL_BUF_INIT;
    int r = req ? sl_sup_snapshot(h->sup, name, req, &b) : -3;
    free(req);
    enum MHD_Result rc;
    if (r == -1)
        rc = error(c, MHD_HTTP_NOT_FOUND, NULL,
                   "no connector named \"%s\"; GET /connectors lists them", name);
    else if (r == -2)
        rc = error(c, MHD_HTTP_CONFLICT, NULL,
                   "connector %s is not running; a snapshot can be asked of a running "
                   "connector only",
                   name);
    else if (r)
        rc = error(c, MHD_HTTP_INTERNAL_SERVER_ERROR, NULL, "out of memory");
    else
        rc = json(c, MHD_HTTP_ACCEPTED, &b);
    sl_buf_free(&b);
    return rc;
}

static enum MHD_Result route(sl_http_t *h, struct MHD_Connection *c, const char *url,
                             const char *method, req_t *rq)
{
    char path[512];
    size_t n = strlen(url);
    if (n >= sizeof(path))
        return error(c, MHD_HTTP_NOT_FOUND, NULL, "no such path");
    memcpy(path, url, n + 1);
    while (n > 1 && path[n - 1] == '/') /* "/connectors/" is "/connectors" */
        path[--n] = 0;
    sl_buf_t b = SL_BUF_INIT;
    enum MHD_Result rc;

    /* probes stay open: an orchestrator cannot hold a secret, and they say only "up" */
    if (!strcmp(path, "/healthz") || !strcmp(path, "/readyz")) {
        if (!is_get(method))
            return error(c, MHD_HTTP_METHOD_NOT_ALLOWED, "GET, HEAD", "%s takes GET",
                         path);
        int ok;
        if (path[1] == 'h') {
            ok = sl_sup_alive(h->sup);
            sl_buf_puts(&b,
                        ok ? "{\"status\":\"ok\"}"
                           : "{\"status\":\"stalled\",\"error\":\"the supervision loop "
                             "has not run for two minutes\"}");
        } else {
            ok = sl_sup_ready(h->sup, &b);
        }
        rc = json(c, ok ? MHD_HTTP_OK : MHD_HTTP_SERVICE_UNAVAILABLE, &b);
        sl_buf_free(&b);
        return rc;
    }
    if (!token_ok(h, MHD_lookup_connection_value(c, MHD_HEADER_KIND,
                                                 MHD_HTTP_HEADER_AUTHORIZATION)))
        return error(
            c, MHD_HTTP_UNAUTHORIZED, NULL,
            "missing or wrong bearer token: send the header 'Authorization: Bearer "
            "<worker.http_token>'");

    if (!strcmp(path, "/")) {
        if (!is_get(method))
            return error(c, MHD_HTTP_METHOD_NOT_ALLOWED, "GET, HEAD", "/ takes GET");
        sl_buf_puts(
            &b, "{\"endpoints\":[\"GET /healthz\",\"GET /readyz\",\"GET /metrics\","
                "\"GET /connectors\",\"GET /connectors/{name}\","
                "\"POST /connectors/{name}/pause\",\"POST /connectors/{name}/resume\","
                "\"POST /connectors/{name}/restart\",\"POST /connectors/{name}/snapshot\"]}");
        rc = json(c, MHD_HTTP_OK, &b);
        sl_buf_free(&b);
        return rc;
    }
    if (!strcmp(path, "/metrics")) {
        if (!is_get(method))
            return error(c, MHD_HTTP_METHOD_NOT_ALLOWED, "GET, HEAD",
                         "/metrics takes GET");
        sl_sup_metrics(h->sup, &b);
        rc = respond(c, MHD_HTTP_OK, "text/plain; version=0.0.4; charset=utf-8", &b, NULL,
                     0);
        sl_buf_free(&b);
        return rc;
    }
    if (!strcmp(path, "/connectors")) {
        if (!is_get(method))
            return error(c, MHD_HTTP_METHOD_NOT_ALLOWED, "GET, HEAD",
                         "/connectors takes GET");
        sl_sup_list(h->sup, &b);
        rc = json(c, MHD_HTTP_OK, &b);
        sl_buf_free(&b);
        return rc;
    }
    if (strncmp(path, "/connectors/", 12) != 0)
        return error(
            c, MHD_HTTP_NOT_FOUND, NULL,
            "no such path; the API has /healthz, /readyz, /metrics, /connectors, "
            "/connectors/{name} and /connectors/{name}/pause|resume|restart|snapshot");

    char name[256];
    const char *rest = path + 12, *slash = strchr(rest, '/');
    size_t nl = slash ? (size_t)(slash - rest) : strlen(rest);
    if (!nl || nl >= sizeof(name) ||
        strspn(rest, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnop"
                     "qrstuvwxyz0123456789_-") != nl)
        return error(c, MHD_HTTP_NOT_FOUND, NULL,
                     "no connector by that name; GET /connectors lists them");
    memcpy(name, rest, nl);
    name[nl] = 0;
    const char *action = slash ? slash + 1 : NULL;

    if (!action) {
        if (!is_get(method))
            return error(c, MHD_HTTP_METHOD_NOT_ALLOWED, "GET, HEAD",
                         "/connectors/%s takes GET; its actions are POST "
                         "/connectors/%s/pause|resume|restart|snapshot",
                         name, name);
        if (sl_sup_describe(h->sup, name, &b) < 0) {
            sl_buf_free(&b);
            return error(c, MHD_HTTP_NOT_FOUND, NULL,
                         "no connector named \"%s\"; GET /connectors lists them", name);
        }
        rc = json(c, MHD_HTTP_OK, &b);
        sl_buf_free(&b);
        return rc;
    }
    sl_sup_action_t act;
    if (!strcmp(action, "pause"))
        act = SL_SUP_PAUSE;
    else if (!strcmp(action, "resume"))
        act = SL_SUP_RESUME;
    else if (!strcmp(action, "restart"))
        act = SL_SUP_RESTART;
    else if (!strcmp(action, "snapshot"))
        return snapshot(h, c, method, name, rq);
    else
        return error(
            c, MHD_HTTP_NOT_FOUND, NULL,
            "unknown action \"%s\"; a connector takes POST pause, resume, restart or "
            "snapshot",
            action);
    if (strcmp(method, MHD_HTTP_METHOD_POST) != 0)
        return error(c, MHD_HTTP_METHOD_NOT_ALLOWED, "POST",
                     "/connectors/%s/%s takes POST", name, action);
    if (rq->body_len > BODY_MAX)
        return error(c, MHD_HTTP_CONTENT_TOO_LARGE, NULL,
                     "this request takes no body; send nothing or {}");
    if (rq->body_bad)
        return error(c, MHD_HTTP_BAD_REQUEST, NULL,
                     "this request takes no body; send nothing or {}");
    if (sl_sup_control(h->sup, name, act, &b) < 0) {
        sl_buf_free(&b);
        return error(c, MHD_HTTP_NOT_FOUND, NULL,
                     "no connector named \"%s\"; GET /connectors lists them", name);
    }
    /* a restart happens in the supervision loop a moment later: accepted, not done */
    rc = json(c, act == SL_SUP_RESTART ? MHD_HTTP_ACCEPTED : MHD_HTTP_OK, &b);
    sl_buf_free(&b);
    return rc;
}

/* Whitespace and one empty JSON object are the only bodies accepted. */
static void body_acceptable(req_t *rq, const char *data, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char ch = data[i];
        if (ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n')
            continue;
        if (ch == '{' && rq->body_bad == 0) {
            rq->body_bad = -1; /* saw "{" */
            continue;
        }
        if (ch == '}' && rq->body_bad == -1) {
            rq->body_bad = -2; /* saw "{}" */
            continue;
        }
        rq->body_bad = 1;
    }
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *c, const char *url,
                              const char *method, const char *version,
                              const char *upload_data, size_t *upload_data_size,
                              void **req_cls)
{
    sl_http_t *h = cls;
    req_t *rq = *req_cls;
    if (!rq) {
        /* first call: headers only; the body (if any) follows in further calls */
        rq = calloc(1, sizeof(*rq));
        if (!rq)
            return MHD_NO;
        *req_cls = rq;
        return MHD_YES;
    }
    if (*upload_data_size) {
        rq->body_len += *upload_data_size;
        if (rq->body_len <= BODY_MAX) {
            body_acceptable(rq, upload_data, *upload_data_size);
            sl_buf_append(&rq->body, upload_data, *upload_data_size);
        }
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (rq->body_bad == -1) /* "{" without its "}" */
        rq->body_bad = 1;
    else if (rq->body_bad < 0)
        rq->body_bad = 0;
    return route(h, c, url, method, rq);
}

static void completed(void *cls, struct MHD_Connection *c, void **req_cls,
                      enum MHD_RequestTerminationCode toe)
{
    req_t *rq = *req_cls;
    if (rq)
        sl_buf_free(&rq->body);
    free(rq);
    *req_cls = NULL;
}

/* libmicrohttpd's format strings are its own literals; the attribute lets the compiler
 * check this forwarding like a printf */
static void mhd_log(void *cls, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));
static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    char msg[512];
    vsnprintf(msg, sizeof(msg), fmt, ap);
    msg[strcspn(msg, "\n")] = 0;
    sl_warn(NULL, "http: %s", msg);
}

/* ---- server ---- */

static int listen_on(const char *host, const char *port, int *in_use, char *bound,
                     size_t boundlen, char *err, size_t errlen, const char *text)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC,
                             .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
    struct addrinfo *res = NULL;
    int gai = getaddrinfo(*host ? host : NULL, port, &hints, &res);
    if (gai) {
        snprintf(err, errlen,
                 "worker.http: cannot resolve \"%s\": %s; write an address or a "
                 "resolvable host name",
                 host, gai_strerror(gai));
        return -1;
    }
    int fd = -1, e = 0;
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
        if (fd < 0) {
            e = errno;
            continue;
        }
        int one = 1;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && listen(fd, 64) == 0)
            break;
        e = errno;
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    if (fd < 0) {
        *in_use = e == EADDRINUSE;
        snprintf(
            err, errlen, "worker.http: cannot listen on %s: %s; %s", text, strerror(e),
            e == EADDRINUSE ? "another process uses the port: choose another one, or "
                              "\"0\" to turn the HTTP API off"
                            : "check the address");
        return -1;
    }
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    char hbuf[NI_MAXHOST], pbuf[NI_MAXSERV];
    if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0 &&
        getnameinfo((struct sockaddr *)&ss, sl, hbuf, sizeof(hbuf), pbuf, sizeof(pbuf),
                    NI_NUMERICHOST | NI_NUMERICSERV) == 0)
        snprintf(bound, boundlen, ss.ss_family == AF_INET6 ? "[%s]:%s" : "%s:%s", hbuf,
                 pbuf);
    else
        snprintf(bound, boundlen, "%s", text);
    return fd;
}

sl_http_t *sl_http_start(const char *address, const char *token, sl_sup_t *sup,
                         int *in_use, char *err, size_t errlen)
{
    char host[256], port[8];
    *in_use = 0;
    int r = sl_http_parse_address(address, host, sizeof(host), port, sizeof(port), err,
                                  errlen);
    if (r) {
        if (r > 0)
            snprintf(err, errlen, "worker.http: the HTTP API is turned off");
        return NULL;
    }
    sl_http_t *h = calloc(1, sizeof(*h));
    if (!h) {
        snprintf(err, errlen, "out of memory starting the HTTP API");
        return NULL;
    }
    pthread_mutex_init(&h->mu, NULL);
    h->sup = sup;
    sl_http_set_token(h, token);
    int fd = listen_on(host, port, in_use, h->address, sizeof(h->address), err, errlen,
                       address);
    if (fd < 0) {
        sl_http_stop(h);
        return NULL;
    }
    h->d = MHD_start_daemon(MHD_USE_AUTO_INTERNAL_THREAD | MHD_USE_ERROR_LOG, 0, NULL,
                            NULL, handle, h, MHD_OPTION_EXTERNAL_LOGGER, mhd_log, h,
                            MHD_OPTION_LISTEN_SOCKET, fd, MHD_OPTION_CONNECTION_LIMIT,
                            (unsigned)CONN_LIMIT, MHD_OPTION_CONNECTION_TIMEOUT,
                            (unsigned)CONN_TIMEOUT_S, MHD_OPTION_NOTIFY_COMPLETED,
                            completed, h, MHD_OPTION_END);
    if (!h->d) {
        close(fd);
        snprintf(err, errlen, "worker.http: cannot start the HTTP server on %s", address);
        sl_http_stop(h);
        return NULL;
    }
    return h;
}

const char *sl_http_address(const sl_http_t *h)
{
    return h->address;
}

void sl_http_set_token(sl_http_t *h, const char *token)
{
    char *copy = token ? strdup(token) : NULL;
    if (token && !copy)
        abort(); /* running without the token the operator asked for is not an option */
    pthread_mutex_lock(&h->mu);
    char *old = h->token;
    h->token = copy;
    pthread_mutex_unlock(&h->mu);
    if (old) {
        explicit_bzero(old, strlen(old));
        free(old);
    }
}

void sl_http_stop(sl_http_t *h)
{
    if (!h)
        return;
    if (h->d)
        MHD_stop_daemon(h->d); /* closes the listening socket too */
    sl_http_set_token(h, NULL);
    pthread_mutex_destroy(&h->mu);
    free(h);
}

/* ---- the healthcheck client ---- */

int sl_http_request(const char *address, const char *method, const char *path,
                    const char *token, const char *body, int timeout_ms, int *status,
                    sl_buf_t *answer, char *err, size_t errlen)
{
    char host[256], port[8];
    *status = 0;
    int r = sl_http_parse_address(address, host, sizeof(host), port, sizeof(port), err,
                                  errlen);
    if (r > 0) {
        snprintf(err, errlen,
                 "the HTTP API is turned off (worker.http: \"0\"); nothing to "
                 "ask");
        return -1;
    }
    if (r < 0)
        return -1;
    /* a wildcard listener answers on loopback */
    if (!*host || !strcmp(host, "0.0.0.0"))
        snprintf(host, sizeof(host), "127.0.0.1");
    else if (!strcmp(host, "::"))
        snprintf(host, sizeof(host), "::1");
    struct addrinfo hints = {
        .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV};
    struct addrinfo *res = NULL;
    int gai = getaddrinfo(host, port, &hints, &res);
    if (gai) {
        snprintf(err, errlen, "cannot resolve %s: %s", host, gai_strerror(gai));
        return -1;
    }
    int fd = socket(res->ai_family, res->ai_socktype | SOCK_CLOEXEC, res->ai_protocol);
    if (fd < 0) {
        snprintf(err, errlen, "socket: %s", strerror(errno));
        freeaddrinfo(res);
        return -1;
    }
    struct timeval tv = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)); /* bounds connect() too */
    int rc = -1;
    sl_buf_t req = SL_BUF_INIT, in = SL_BUF_INIT;
    if (connect(fd, res->ai_addr, res->ai_addrlen) != 0) {
        snprintf(err, errlen,
                 "cannot connect to %s: %s (is the worker running, with "
                 "worker.http at this address?)",
                 address, strerror(errno));
        goto out;
    }
    sl_buf_printf(&req, "%s %s HTTP/1.0\r\nHost: %s%s%s\r\nConnection: close\r\n", method,
                  path, strchr(host, ':') ? "[" : "", host, strchr(host, ':') ? "]" : "");
    if (token)
        sl_buf_printf(&req, "Authorization: Bearer %s\r\n", token);
    if (body)
        sl_buf_printf(&req, "Content-Type: application/json\r\nContent-Length: %zu\r\n",
                      strlen(body));
    sl_buf_puts(&req, "\r\n");
    if (body)
        sl_buf_puts(&req, body);
    if (sl_write_all(fd, req.data, req.len) != 0) {
        snprintf(err, errlen, "cannot send to %s: %s", address, strerror(errno));
        goto out;
    }
    char buf[4096];
    for (;;) {
        ssize_t k = read(fd, buf, sizeof(buf));
        if (k <= 0)
            break;
        sl_buf_append(&in, buf, (size_t)k);
        if (in.len > (1u << 20))
            break;
        if (!answer && memchr(in.data, '\n', in.len))
            break; /* the status line is all a probe needs */
    }
    if (!in.data || sscanf(in.data, "HTTP/%*d.%*d %d", status) != 1) {
        snprintf(err, errlen, "no HTTP answer from %s within %d ms", address, timeout_ms);
        goto out;
    }
    if (answer) {
        const char *sep = strstr(in.data, "\r\n\r\n");
        if (sep)
            sl_buf_puts(answer, sep + 4);
    }
    rc = 0;
out:
    sl_buf_free(&req);
    sl_buf_free(&in);
    close(fd);
    freeaddrinfo(res);
    return rc;
}

int sl_http_probe(const char *address, const char *path, int timeout_ms, char *err,
                  size_t errlen)
{
    int status;
    if (sl_http_request(address, "GET", path, NULL, NULL, timeout_ms, &status, NULL, err,
                        errlen))
        return -1;
    if (status != 200) {
        snprintf(err, errlen, "%s%s answered HTTP %d", address, path, status);
        return -1;
    }
    return 0;
}
