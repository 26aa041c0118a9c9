/* sluice test helper: hosts librdkafka's mock cluster (a real Kafka-protocol broker on
 * loopback) in its own process, prints the bootstrap address, obeys commands on stdin.
 *
 * Usage: sluice_kafka_mock [BROKERS]   (default 3)
 * stdout: first line is the bootstrap list ("127.0.0.1:PORT,..."); each command is
 * answered with one line "ok ..." or "error: ...".
 * stdin commands, one per line:
 *   down ID | up ID          broker ID (1..BROKERS, -1 = all) refuses / accepts
 * connections rtt ID MS                add MS milliseconds of round trip to broker ID
 *   topic NAME PARTITIONS    create a topic (the mock has no CreateTopics API)
 *   error NAME CODE          make metadata requests for topic NAME fail with CODE
 *   quit                     exit
 * The process exits on quit, on end of input, on SIGTERM and on SIGINT. */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
    (void)sig;
    stop = 1;
}

/* One command line; returns 0 to go on, 1 to quit. Replies on stdout. */
static int command(rd_kafka_mock_cluster_t *mc, char *line)
{
    char name[512];
    int a, b;
    rd_kafka_resp_err_t e;
    line[strcspn(line, "\r\n")] = 0;
    if (!*line)
        return 0;
    if (strcmp(line, "quit") == 0)
        return 1;
    if (sscanf(line, "down %d", &a) == 1) {
        e = rd_kafka_mock_broker_set_down(mc, a);
    } else if (sscanf(line, "up %d", &a) == 1) {
        e = rd_kafka_mock_broker_set_up(mc, a);
    } else if (sscanf(line, "rtt %d %d", &a, &b) == 2) {
        e = rd_kafka_mock_broker_set_rtt(mc, a, b);
    } else if (sscanf(line, "topic %511s %d", name, &a) == 2) {
        e = rd_kafka_mock_topic_create(mc, name, a, 1);
    } else if (sscanf(line, "error %511s %d", name, &a) == 2) {
        rd_kafka_mock_topic_set_error(mc, name, (rd_kafka_resp_err_t)a);
        e = RD_KAFKA_RESP_ERR_NO_ERROR;
    } else {
        printf("error: unknown command: %s\n", line);
        fflush(stdout);
        return 0;
    }
    if (e)
        printf("error: %s: %s\n", line, rd_kafka_err2str(e));
    else
        printf("ok %s\n", line);
    fflush(stdout);
    return 0;
}

int main(int argc, char **argv)
{
    int nbrokers = argc > 1 ? atoi(argv[1]) : 3;
    if (nbrokers < 1 || nbrokers > 64) {
        fprintf(stderr, "usage: %s [BROKERS 1..64]\n", argv[0]);
        return 2;
    }
    char errstr[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    /* the handle only anchors the cluster; it never connects anywhere */
    if (rd_kafka_conf_set(conf, "bootstrap.servers", "", errstr, sizeof(errstr)) !=
        RD_KAFKA_CONF_OK) {
        fprintf(stderr, "kafka_mock: %s\n", errstr);
        return 1;
    }
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
    if (!rk) {
        fprintf(stderr, "kafka_mock: cannot create a librdkafka handle: %s\n", errstr);
        return 1;
    }
    rd_kafka_mock_cluster_t *mc = rd_kafka_mock_cluster_new(rk, nbrokers);
    if (!mc) {
        fprintf(stderr, "kafka_mock: cannot create the mock cluster\n");
        rd_kafka_destroy(rk);
        return 1;
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    printf("%s\n", rd_kafka_mock_cluster_bootstraps(mc));
    fflush(stdout);

    /* stdin is read by hand (not stdio) so a signal is noticed within the poll timeout */
    char line[1024];
    size_t len = 0;
    while (!stop) {
        struct pollfd pfd = {.fd = 0, .events = POLLIN};
        int n = poll(&pfd, 1, 200);
        if (n < 0 && errno != EINTR)
            break;
        if (n <= 0)
            continue;
        ssize_t r = read(0, line + len, sizeof(line) - 1 - len);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break; /* end of input: whoever started us is gone */
        len += (size_t)r;
        line[len] = 0;
        char *nl;
        int quit = 0;
        while (!quit && (nl = strchr(line, '\n')) != NULL) {
            *nl = 0;
            quit = command(mc, line);
            size_t used = (size_t)(nl + 1 - line);
            memmove(line, nl + 1, len - used + 1);
            len -= used;
        }
        if (quit)
            break;
        if (len == sizeof(line) - 1)
            len = 0; /* an absurdly long line: drop it */
    }
    rd_kafka_mock_cluster_destroy(mc);
    rd_kafka_destroy(rk);
    return 0;
}
