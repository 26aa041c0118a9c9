/* sluice: the worker's HTTP API (libmicrohttpd): health, readiness, Prometheus metrics,
 * connector status and control, and the tiny client behind `sluice healthcheck`. */
#ifndef SL_HTTP_H
#define SL_HTTP_H

#include "core/buf.h"

#include <stddef.h>
#include "worker/supervisor.h"

typedef struct sl_http sl_http_t;

#define SL_HTTP_DEFAULT_ADDRESS "127.0.0.1:8083"

/* Split "host:port", "[v6]:port" or ":port" (all interfaces) into host and port
 * (caller-sized buffers). Returns 1 when text is "0" or empty (API off), 0 when parsed,
 * -1 with a sentence in err when it is not an address. */
int sl_http_parse_address(const char *text, char *host, size_t hostlen, char *port,
                          size_t portlen, char *err, size_t errlen);

/* Listen on address and serve the API of sup (borrowed; must outlive the server) from
 * the server's own thread. token: NULL or the bearer token (copied). Returns NULL with a
 * sentence in err when the address cannot be bound; *in_use is then set when it failed
 * only because the port is taken. */
sl_http_t *sl_http_start(const char *address, const char *token, sl_sup_t *sup,
                         int *in_use, char *err, size_t errlen);
/* The address actually bound ("127.0.0.1:8083"; the real port when 0 was asked). */
const char *sl_http_address(const sl_http_t *h);
/* Replace the bearer token (NULL = none); thread-safe. */
void sl_http_set_token(sl_http_t *h, const char *token);
/* Stop serving and free; in-flight requests are finished first. NULL-safe. */
void sl_http_stop(sl_http_t *h);

/* One HTTP/1.0 request to address (a wildcard host is asked on loopback) within
 * timeout_ms: token (may be NULL) as a bearer token, body (may be NULL) as JSON. *status
 * gets the answer's status and answer (may be NULL) its body. Returns 0 when an answer
 * came, else -1 with a sentence in err. */
int sl_http_request(const char *address, const char *method, const char *path,
                    const char *token, const char *body, int timeout_ms, int *status,
                    sl_buf_t *answer, char *err, size_t errlen);
/* GET path from address within timeout_ms. Returns 0 on HTTP 200; else -1 with a
 * sentence in err. */
int sl_http_probe(const char *address, const char *path, int timeout_ms, char *err,
                  size_t errlen);

#endif
