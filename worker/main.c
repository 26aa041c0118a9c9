/* sluice: the command line (contract 3.5): run, validate, check, offsets, healthcheck,
 * version. Exit codes: 0 ok, 1 runtime failure, 2 bad usage or configuration. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <jansson.h>
#include "config/config.h"
#include "core/bookmark.h"
#include "core/log.h"
#include "core/pipeline.h"
#include "worker/http.h"
#include "worker/registry.h"
#include "worker/supervisor.h"

#define EXIT_RUNTIME 1
#define EXIT_USAGE 2

static void usage(FILE *f)
{
    fprintf(f,
            "usage: sluice run -c FILE            stream until SIGTERM/SIGINT, then drain;\n"
            "                                     SIGHUP reloads the configuration\n"
            "       sluice validate -c FILE       check the configuration (no network)\n"
            "       sluice check -c FILE          preflight against the live servers\n"
            "       sluice offsets show|set|reset -c FILE --connector NAME [--position JSON]\n"
            "       sluice snapshot -c FILE --connector NAME --table SCHEMA.TABLE [--table ...]\n"
            "                       [--where SQL]  copy tables again while the worker streams\n"
            "       sluice healthcheck [-c FILE | --address HOST:PORT]\n"
            "                                     exit 0 when the worker's /healthz says ok\n"
            "       sluice config-reference       print the configuration keys (Markdown)\n"
            "       sluice version\n");
}

#define MAX_TABLES 64
typedef struct args {
    const char *cmd, *sub, *config, *connector, *position, *address, *where;
    const char *tables[MAX_TABLES];
    size_t ntables;
} args_t;

static int parse_args(int argc, char **argv, args_t *a)
{
    memset(a, 0, sizeof(*a));
    if (argc < 2)
        return -1;
    a->cmd = argv[1];
    int i = 2;
    if (strcmp(a->cmd, "offsets") == 0) {
        if (argc < 3)
            return -1;
        a->sub = argv[2];
        i = 3;
    }
    for (; i < argc; i++) {
        const char *o = argv[i];
        const char **dst = NULL;
        if (!strcmp(o, "-c") || !strcmp(o, "--config"))
            dst = &a->config;
        else if (!strcmp(o, "--connector"))
            dst = &a->connector;
        else if (!strcmp(o, "--position"))
            dst = &a->position;
        else if (!strcmp(o, "--address"))
            dst = &a->address;
        else if (!strcmp(o, "--where"))
            dst = &a->where;
        else if (!strcmp(o, "--table") && a->ntables < MAX_TABLES)
            dst = &a->tables[a->ntables++];
        else if (!strcmp(o, "-h") || !strcmp(o, "--help"))
            return -1;
        if (!dst || i + 1 >= argc) {
            fprintf(stderr, "sluice: unknown or incomplete option %s\n", o);
            return -1;
        }
        *dst = argv[++i];
    }
    return 0;
}

static sl_config_t *load_config(const args_t *a)
{
    char err[1024];
    if (!a->config) {
        fprintf(stderr, "sluice: %s needs -c FILE\n", a->cmd);
        return NULL;
    }
    sl_config_t *cfg = sl_config_load(a->config, err, sizeof(err));
    if (!cfg) {
        fprintf(stderr, "sluice: %s\n", err);
        return NULL;
    }
    int lvl = sl_log_level_parse(cfg->log_level ? cfg->log_level : "info");
    sl_log_setup(cfg->log_format == SL_LOG_JSON, lvl < 0 ? SL_LOG_INFO : (sl_log_level_t)lvl);
    return cfg;
}

/* Look up the source and sink of a connector; prints the problem and returns -1. */
static int resolve_ops(const sl_connector_config_t *c, const sl_source_ops_t **src,
                       const sl_sink_ops_t **sink)
{
    *src = sl_registry_source(c->source.type);
    *sink = sl_registry_sink(c->sink.type);
    if (!*src) {
        fprintf(stderr, "sluice: %s:%d: connector %s: source type %s is not built into this "
                        "worker\n", c->file, c->line, c->name, c->source.type);
        return -1;
    }
    if (!*sink) {
        fprintf(stderr, "sluice: %s:%d: connector %s: sink type %s is not built into this "
                        "worker\n", c->file, c->line, c->name, c->sink.type);
        return -1;
    }
    return 0;
}

/* What the loader cannot know: every type is built in, worker.http is an address.
 * Returns -1 with the sentence in err. */
static int config_problem(const sl_config_t *cfg, char *err, size_t errlen)
{
    for (size_t i = 0; i < cfg->nconnectors; i++) {
        const sl_connector_config_t *c = &cfg->connectors[i];
        int no_src = !sl_registry_source(c->source.type);
        if (no_src || !sl_registry_sink(c->sink.type)) {
            snprintf(err, errlen,
                     "%s:%d: connector %s: %s type %s is not built into this worker", c->file,
                     c->line, c->name, no_src ? "source" : "sink",
                     no_src ? c->source.type : c->sink.type);
            return -1;
        }
    }
    char host[256], port[8];
    if (cfg->http && sl_http_parse_address(cfg->http, host, sizeof(host), port,
                                           sizeof(port), err, errlen) < 0)
        return -1;
    return 0;
}

static int cmd_validate(const args_t *a)
{
    char err[1024];
    sl_config_t *cfg = load_config(a);
    if (!cfg)
        return EXIT_USAGE;
    if (config_problem(cfg, err, sizeof(err))) {
        fprintf(stderr, "sluice: %s\n", err);
        sl_config_free(cfg);
        return EXIT_USAGE;
    }
    printf("%s: ok (%zu connector%s)\n", a->config, cfg->nconnectors,
           cfg->nconnectors == 1 ? "" : "s");
    sl_config_free(cfg);
    return 0;
}

static int cmd_check(const args_t *a)
{
    sl_config_t *cfg = load_config(a);
    if (!cfg)
        return EXIT_USAGE;
    int rc = 0;
    for (size_t i = 0; i < cfg->nconnectors; i++) {
        const sl_connector_config_t *c = &cfg->connectors[i];
        if (a->connector && strcmp(a->connector, c->name) != 0)
            continue;
        const sl_source_ops_t *src;
        const sl_sink_ops_t *sink;
        char err[1024] = "";
        sl_err_t e;
        if (resolve_ops(c, &src, &sink)) {
            rc = EXIT_USAGE;
            continue;
        }
        printf("connector %s (%s -> %s)\n", c->name, src->name, sink->name);
        sl_bookmark_store_t *store =
            sl_registry_bookmark_store(cfg, c, &e, err, sizeof(err));
        sl_pipeline_t *p =
            store ? sl_pipeline_create_store(c, store, src, sink, &e, err, sizeof(err))
                  : NULL;
        if (!p) {
            printf("FAIL: %s\n", err);
            rc = EXIT_RUNTIME;
            continue;
        }
        sl_buf_t report = SL_BUF_INIT;
        e = sl_pipeline_check(p, &report, err, sizeof(err));
        fputs(report.data ? report.data : "", stdout);
        if (e) {
            if (!report.len || strcmp(err, "some checks failed") != 0)
                printf("FAIL: %s\n", err);
            rc = EXIT_RUNTIME;
        }
        sl_buf_free(&report);
        sl_pipeline_destroy(p);
    }
    sl_config_free(cfg);
    return rc;
}

/* The HTTP API as configured. An address the operator wrote that cannot be bound is
 * fatal (*fatal set); the default address, when taken (a second worker on one machine),
 * is only a warning. Returns NULL when the API is off or could not start. */
static sl_http_t *start_http(const sl_config_t *cfg, sl_sup_t *sup, int *fatal)
{
    char err[1024], host[256], port[8];
    int in_use = 0;
    const char *addr = cfg->http ? cfg->http : SL_HTTP_DEFAULT_ADDRESS;
    *fatal = 0;
    if (sl_http_parse_address(addr, host, sizeof(host), port, sizeof(port), err,
                              sizeof(err)) > 0) {
        sl_info(NULL, "HTTP API turned off (worker.http: \"%s\")", addr);
        return NULL;
    }
    sl_http_t *h = sl_http_start(addr, cfg->http_token, sup, &in_use, err, sizeof(err));
    if (h) {
        sl_info(NULL, "HTTP API on http://%s/ (%s)", sl_http_address(h),
                cfg->http_token ? "bearer token required" : "no token");
        return h;
    }
    if (!cfg->http && in_use) {
        sl_warn(NULL, "%s; running without the HTTP API (set worker.http to a free address "
                      "to have it)", err);
        return NULL;
    }
    sl_error(NULL, "%s", err);
    *fatal = 1;
    return NULL;
}

static int same_str(const char *a, const char *b)
{
    return a == b || (a && b && strcmp(a, b) == 0);
}

/* The HTTP settings in force, to tell what a reload changed. */
typedef struct http_state {
    sl_http_t *h;
    char *address; /* cfg->http as configured (NULL = absent) */
    char *token;
} http_state_t;

static void http_state_clear(http_state_t *hs)
{
    free(hs->address);
    if (hs->token)
        explicit_bzero(hs->token, strlen(hs->token));
    free(hs->token);
    hs->address = hs->token = NULL;
}

static void http_state_set(http_state_t *hs, const sl_config_t *cfg)
{
    http_state_clear(hs);
    hs->address = cfg->http ? strdup(cfg->http) : NULL;
    hs->token = cfg->http_token ? strdup(cfg->http_token) : NULL;
}

/* SIGHUP: load the file again; on any problem keep running as before. Connectors are
 * compared one by one in the supervisor; only changed ones are restarted. */
static void reload(const args_t *a, sl_sup_t *sup, http_state_t *hs)
{
    char err[1024];
    sl_info(NULL, "SIGHUP: reloading %s", a->config);
    sl_config_t *cfg = sl_config_load(a->config, err, sizeof(err));
    if (!cfg || config_problem(cfg, err, sizeof(err))) {
        sl_error(NULL, "%s; keeping the running configuration", err);
        sl_config_free(cfg);
        return;
    }
    int lvl = sl_log_level_parse(cfg->log_level ? cfg->log_level : "info");
    sl_log_setup(cfg->log_format == SL_LOG_JSON, lvl < 0 ? SL_LOG_INFO : (sl_log_level_t)lvl);
    if (!same_str(hs->address, cfg->http)) {
        int fatal;
        sl_http_stop(hs->h);
        hs->h = start_http(cfg, sup, &fatal); /* on failure: logged, the API stays off */
    } else if (hs->h && !same_str(hs->token, cfg->http_token)) {
        sl_http_set_token(hs->h, cfg->http_token);
        sl_info(NULL, "HTTP API token %s", cfg->http_token ? "changed" : "removed");
    }
    http_state_set(hs, cfg);
    sl_sup_apply(sup, cfg);
}

static int cmd_run(const args_t *a)
{
    char err[1024];
    sl_config_t *cfg = load_config(a);
    if (!cfg)
        return EXIT_USAGE;
    if (config_problem(cfg, err, sizeof(err))) {
        fprintf(stderr, "sluice: %s\n", err);
        sl_config_free(cfg);
        return EXIT_USAGE;
    }
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    /* threads inherit the mask: only this thread takes the signals, with sigtimedwait */
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);

    sl_sup_t *sup = sl_sup_new();
    http_state_t hs = {0};
    int fatal;
    hs.h = start_http(cfg, sup, &fatal);
    if (fatal) {
        sl_config_free(cfg);
        sl_sup_free(sup);
        return EXIT_RUNTIME;
    }
    http_state_set(&hs, cfg);
    sl_sup_apply(sup, cfg); /* the supervisor owns cfg from here */

    /* supervise until a signal, or until there is nothing left to do */
    int rc = 0;
    for (;;) {
        sl_sup_tick(sup);
        if (sl_sup_done(sup, &rc)) {
            if (rc)
                sl_error(NULL, "every connector failed before it could stream; giving up "
                               "(fix what the errors above say and start again)");
            else
                sl_info(NULL, "every connector has finished");
            break;
        }
        struct timespec ts = {0, 250000000L};
        int sig = sigtimedwait(&set, NULL, &ts);
        if (sig == SIGTERM || sig == SIGINT) {
            sl_info(NULL, "received %s: draining and committing",
                    sig == SIGTERM ? "SIGTERM" : "SIGINT");
            break;
        }
        if (sig == SIGHUP)
            reload(a, sup, &hs);
    }
    /* the API answers while the connectors drain; it goes last */
    int failed = sl_sup_shutdown(sup);
    if (!rc && failed)
        rc = EXIT_RUNTIME;
    sl_http_stop(hs.h);
    sl_sup_free(sup);
    http_state_clear(&hs);
    return rc;
}

/* `sluice healthcheck`: a probe for container HEALTHCHECKs, so the image needs no curl.
 * The address comes from --address, else from the config's worker.http, else from
 * $SLUICE_HEALTHCHECK_ADDRESS, else the default. */
static int cmd_healthcheck(const args_t *a)
{
    char err[1024];
    const char *addr = a->address;
    sl_config_t *cfg = NULL;
    if (!addr && a->config) {
        cfg = sl_config_load(a->config, err, sizeof(err));
        if (!cfg) {
            fprintf(stderr, "sluice: %s\n", err);
            return EXIT_USAGE;
        }
        addr = cfg->http;
    }
    if (!addr) {
        const char *env = getenv("SLUICE_HEALTHCHECK_ADDRESS");
        addr = env && *env ? env : SL_HTTP_DEFAULT_ADDRESS;
    }
    int rc = sl_http_probe(addr, "/healthz", 3000, err, sizeof(err));
    if (rc)
        fprintf(stderr, "sluice: healthcheck: %s\n", err);
    else
        printf("ok\n");
    sl_config_free(cfg);
    return rc ? EXIT_RUNTIME : 0;
}

/* `sluice snapshot`: ask the running worker (its HTTP API) for an on-demand snapshot. */
static int cmd_snapshot(const args_t *a)
{
    sl_config_t *cfg = load_config(a);
    if (!cfg)
        return EXIT_USAGE;
    int rc = EXIT_USAGE;
    char err[1024];
    json_t *req = NULL, *tables = NULL;
    char *body = NULL;
    sl_buf_t path = SL_BUF_INIT, answer = SL_BUF_INIT;
    const sl_connector_config_t *c = a->connector ? sl_config_connector(cfg, a->connector)
                                                  : (cfg->nconnectors == 1 ? cfg->connectors
                                                                           : NULL);
    if (!c) {
        fprintf(stderr, "sluice: snapshot needs --connector NAME (one of the config's "
                        "connectors)\n");
        goto out;
    }
    if (!a->ntables) {
        fprintf(stderr, "sluice: snapshot needs --table SCHEMA.TABLE (once per table)\n");
        goto out;
    }
    req = json_object();
    tables = json_array();
    for (size_t i = 0; i < a->ntables; i++) {
        if (!strchr(a->tables[i], '.')) {
            fprintf(stderr, "sluice: --table %s: name it as schema.table (db.table)\n",
                    a->tables[i]);
            goto out;
        }
        json_array_append_new(tables, json_string(a->tables[i]));
    }
    json_object_set(req, "tables", tables);
    if (a->where)
        json_object_set_new(req, "where", json_string(a->where));
    body = json_dumps(req, JSON_COMPACT);
    const char *addr = cfg->http ? cfg->http : SL_HTTP_DEFAULT_ADDRESS;
    sl_buf_printf(&path, "/connectors/%s/snapshot", c->name);
    int status;
    if (!body || sl_http_request(addr, "POST", path.data, cfg->http_token, body, 10000,
                                 &status, &answer, err, sizeof(err))) {
        fprintf(stderr, "sluice: snapshot: %s\n", body ? err : "out of memory");
        rc = EXIT_RUNTIME;
        goto out;
    }
    if (status == 202) {
        printf("snapshot of %zu table(s) requested from %s; progress: GET %s/connectors/%s "
               "(\"snapshot\") or the worker's log\n",
               a->ntables, c->name, addr, c->name);
        rc = 0;
    } else {
        char red[1024];
        sl_log_redact(answer.data ? answer.data : "", red, sizeof(red));
        red[strcspn(red, "\n")] = 0;
        fprintf(stderr, "sluice: snapshot: the worker answered HTTP %d: %s\n", status, red);
        rc = status == 400 || status == 404 ? EXIT_USAGE : EXIT_RUNTIME;
    }
out:
    free(body);
    json_decref(tables);
    json_decref(req);
    sl_buf_free(&path);
    sl_buf_free(&answer);
    sl_config_free(cfg);
    return rc;
}

static int cmd_offsets(const args_t *a)
{
    sl_config_t *cfg = load_config(a);
    if (!cfg)
        return EXIT_USAGE;
    int rc = 0;
    char err[1024];
    sl_err_t e;
    const sl_connector_config_t *c = a->connector ? sl_config_connector(cfg, a->connector)
                                                  : (cfg->nconnectors == 1 ? cfg->connectors
                                                                           : NULL);
    if (!c) {
        fprintf(stderr, "sluice: offsets needs --connector NAME (one of the config's "
                        "connectors)\n");
        sl_config_free(cfg);
        return EXIT_USAGE;
    }
    /* bookmarks.store: the file store, or a Kafka topic (reset = a tombstone) */
    sl_bookmark_store_t *st = sl_registry_bookmark_store(cfg, c, &e, err, sizeof(err));
    if (!st) {
        fprintf(stderr, "sluice: %s\n", err);
        sl_config_free(cfg);
        return e == SL_ERR_CONFIG ? EXIT_USAGE : EXIT_RUNTIME;
    }
    if (!strcmp(a->sub, "show")) {
        char *doc = NULL;
        int64_t stored_ms;
        if (st->ops->load(st->ctx, c->name, &doc, &stored_ms, err, sizeof(err))) {
            fprintf(stderr, "sluice: %s\n", err);
            rc = EXIT_RUNTIME;
        } else if (!doc) {
            printf("{\"connector\":\"%s\",\"bookmark\":null}\n", c->name);
        } else {
            size_t n = strlen(doc);
            /* the file holds a newline after the document; a Kafka message does not */
            printf("%s%s", doc, n && doc[n - 1] == '\n' ? "" : "\n");
        }
        free(doc);
    } else if (!strcmp(a->sub, "reset")) {
        if (st->ops->remove(st->ctx, c->name, err, sizeof(err))) {
            fprintf(stderr, "sluice: %s\n", err);
            rc = EXIT_RUNTIME;
        } else {
            printf("bookmark of %s removed; the next run starts as configured by "
                   "'snapshot'\n", c->name);
        }
    } else if (!strcmp(a->sub, "set")) {
        const sl_source_ops_t *src;
        const sl_sink_ops_t *sink;
        sl_pos_t pos;
        if (!a->position) {
            fprintf(stderr, "sluice: offsets set needs --position JSON\n");
            rc = EXIT_USAGE;
        } else if (resolve_ops(c, &src, &sink)) {
            rc = EXIT_USAGE;
        } else if (src->bookmark_parse(a->position, strlen(a->position), &pos, err,
                                       sizeof(err))) {
            fprintf(stderr, "sluice: --position: %s\n", err);
            rc = EXIT_USAGE;
        } else {
            sl_buf_t doc = SL_BUF_INIT;
            sl_buf_putc(&doc, '{');
            src->bookmark_render(NULL, &pos, &doc);
            sl_buf_puts(&doc, ",\"schemas\":{},\"snapshot\":null}");
            if (st->ops->store(st->ctx, c->name, doc.data, doc.len, err, sizeof(err))) {
                fprintf(stderr, "sluice: %s\n", err);
                rc = EXIT_RUNTIME;
            } else {
                printf("%s\n", doc.data);
            }
            sl_buf_free(&doc);
        }
    } else {
        fprintf(stderr, "sluice: offsets takes show, set or reset\n");
        rc = EXIT_USAGE;
    }
    sl_bookmark_store_destroy(st);
    sl_config_free(cfg);
    return rc;
}

int main(int argc, char **argv)
{
    args_t a;
    if (parse_args(argc, argv, &a) != 0) {
        usage(stderr);
        return EXIT_USAGE;
    }
    if (!strcmp(a.cmd, "version")) {
        printf("sluice %s\n", SLUICE_VERSION);
        return 0;
    }
    if (!strcmp(a.cmd, "config-reference")) {
        sl_buf_t b = SL_BUF_INIT;
        sl_config_reference(&b);
        fputs(b.data ? b.data : "", stdout);
        sl_buf_free(&b);
        return 0;
    }
    if (!strcmp(a.cmd, "validate"))
        return cmd_validate(&a);
    if (!strcmp(a.cmd, "check"))
        return cmd_check(&a);
    if (!strcmp(a.cmd, "run"))
        return cmd_run(&a);
    if (!strcmp(a.cmd, "offsets"))
        return cmd_offsets(&a);
    if (!strcmp(a.cmd, "healthcheck"))
        return cmd_healthcheck(&a);
    if (!strcmp(a.cmd, "snapshot"))
        return cmd_snapshot(&a);
    fprintf(stderr, "sluice: unknown command %s\n", a.cmd);
    usage(stderr);
    return EXIT_USAGE;
}
