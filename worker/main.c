/* sluice: the command line (contract 3.5): run, validate, check, offsets, version.
 * Exit codes: 0 ok, 1 runtime failure, 2 bad usage or configuration. */
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
#include "worker/registry.h"

#define EXIT_RUNTIME 1
#define EXIT_USAGE 2

static void usage(FILE *f)
{
    fprintf(f,
            "usage: sluice run -c FILE            stream until SIGTERM/SIGINT, then drain\n"
            "       sluice validate -c FILE       check the configuration (no network)\n"
            "       sluice check -c FILE          preflight against the live servers\n"
            "       sluice offsets show|set|reset -c FILE --connector NAME [--position JSON]\n"
            "       sluice config-reference       print the configuration keys (Markdown)\n"
            "       sluice version\n");
}

typedef struct args {
    const char *cmd, *sub, *config, *connector, *position;
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

static int cmd_validate(const args_t *a)
{
    sl_config_t *cfg = load_config(a);
    if (!cfg)
        return EXIT_USAGE;
    for (size_t i = 0; i < cfg->nconnectors; i++) {
        const sl_source_ops_t *src;
        const sl_sink_ops_t *sink;
        if (resolve_ops(&cfg->connectors[i], &src, &sink)) {
            sl_config_free(cfg);
            return EXIT_USAGE;
        }
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
        sl_pipeline_t *p = sl_pipeline_create(c, cfg->data_dir, src, sink, &e, err,
                                              sizeof(err));
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

static int cmd_run(const args_t *a)
{
    sl_config_t *cfg = load_config(a);
    if (!cfg)
        return EXIT_USAGE;
    size_t n = cfg->nconnectors;
    sl_pipeline_t **pipes = calloc(n ? n : 1, sizeof(*pipes));
    int rc = 0;
    char err[1024];
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    /* threads inherit the mask: only this thread takes the signals, with sigtimedwait */
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);

    for (size_t i = 0; i < n && !rc; i++) {
        const sl_connector_config_t *c = &cfg->connectors[i];
        const sl_source_ops_t *src;
        const sl_sink_ops_t *sink;
        sl_err_t e;
        if (resolve_ops(c, &src, &sink)) {
            rc = EXIT_USAGE;
            break;
        }
        pipes[i] = sl_pipeline_create(c, cfg->data_dir, src, sink, &e, err, sizeof(err));
        if (!pipes[i]) {
            sl_error(c->name, "%s", err);
            rc = e == SL_ERR_CONFIG ? EXIT_USAGE : EXIT_RUNTIME;
            break;
        }
        e = sl_pipeline_start(pipes[i], err, sizeof(err));
        if (e) {
            sl_error(c->name, "%s", err);
            rc = e == SL_ERR_CONFIG ? EXIT_USAGE : EXIT_RUNTIME;
            break;
        }
        sl_info(c->name, "started (%s -> %s)", src->name, sink->name);
    }

    /* wait for a signal or for every connector to end */
    int stopping = rc != 0;
    while (!stopping) {
        struct timespec ts = {0, 250000000L};
        int sig = sigtimedwait(&set, NULL, &ts);
        if (sig == SIGTERM || sig == SIGINT) {
            sl_info(NULL, "received %s: draining and committing",
                    sig == SIGTERM ? "SIGTERM" : "SIGINT");
            stopping = 1;
        } else if (sig == SIGHUP) {
            sl_info(NULL, "SIGHUP: configuration reload is not supported yet; ignored");
        }
        size_t done = 0;
        for (size_t i = 0; i < n; i++)
            if (sl_pipeline_finished(pipes[i]))
                done++;
        if (done) /* one connector ended (failed or finished): stop the others too */
            stopping = 1;
    }
    for (size_t i = 0; i < n; i++)
        if (pipes[i])
            sl_pipeline_stop(pipes[i]);
    for (size_t i = 0; i < n; i++) {
        if (!pipes[i])
            continue;
        err[0] = 0;
        if (sl_pipeline_wait(pipes[i], err, sizeof(err))) {
            sl_error(cfg->connectors[i].name, "%s", err);
            if (!rc)
                rc = EXIT_RUNTIME;
        } else {
            sl_info(cfg->connectors[i].name, "stopped; bookmark committed");
        }
        sl_pipeline_destroy(pipes[i]);
    }
    free(pipes);
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
    const sl_connector_config_t *c = a->connector ? sl_config_connector(cfg, a->connector)
                                                  : (cfg->nconnectors == 1 ? cfg->connectors
                                                                           : NULL);
    if (!c) {
        fprintf(stderr, "sluice: offsets needs --connector NAME (one of the config's "
                        "connectors)\n");
        sl_config_free(cfg);
        return EXIT_USAGE;
    }
    if (!strcmp(a->sub, "show")) {
        char *doc = NULL;
        if (sl_bookmark_load(cfg->data_dir, c->name, &doc, err, sizeof(err))) {
            fprintf(stderr, "sluice: %s\n", err);
            rc = EXIT_RUNTIME;
        } else if (!doc) {
            printf("{\"connector\":\"%s\",\"bookmark\":null}\n", c->name);
        } else {
            printf("%s", doc);
        }
        free(doc);
    } else if (!strcmp(a->sub, "reset")) {
        if (sl_bookmark_remove(cfg->data_dir, c->name, err, sizeof(err))) {
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
            if (sl_bookmark_store(cfg->data_dir, c->name, doc.data, doc.len, err,
                                  sizeof(err))) {
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
    fprintf(stderr, "sluice: unknown command %s\n", a.cmd);
    usage(stderr);
    return EXIT_USAGE;
}
