# sluice integration tests: Kafka helpers (the mock cluster helper process, kcat dumps).
# Sourced after lib.sh by the Kafka tests and benchmarks; skips (77) without the helper.

SLUICE_BUILD_DIR=${SLUICE_BUILD_DIR:-$(dirname "$SLUICE_BIN")}
KAFKA_MOCK_BIN=${KAFKA_MOCK_BIN:-$SLUICE_BUILD_DIR/tests/sluice_kafka_mock}

# kafka_start [BROKERS]: librdkafka's mock cluster in its own process; sets BOOTSTRAP.
# Commands go to it through a FIFO held open here (EOF on its stdin stops it).
kafka_start() {
    [ -x "$KAFKA_MOCK_BIN" ] || skip "no $KAFKA_MOCK_BIN (build the sluice_kafka_mock target)"
    command -v kcat >/dev/null || skip "kcat is not installed (apt-get install kcat)"
    mkfifo "$WORK/mock.in"
    "$KAFKA_MOCK_BIN" "${1:-3}" <"$WORK/mock.in" >"$WORK/mock.out" 2>"$WORK/mock.log" &
    KAFKA_MOCK_PID=$!
    exec {KAFKA_MOCK_FD}>"$WORK/mock.in"
    CLEANUPS+=("kill $KAFKA_MOCK_PID 2>/dev/null; wait $KAFKA_MOCK_PID 2>/dev/null")
    # a failing test leaves no worker behind (evaluated at exit: the last SLUICE_PID)
    CLEANUPS+=('[ -z "${SLUICE_PID:-}" ] || kill -9 "$SLUICE_PID" 2>/dev/null')
    local i
    BOOTSTRAP=
    for ((i=0; i<100; i++)); do
        BOOTSTRAP=$(head -1 "$WORK/mock.out" 2>/dev/null || true)
        [ -n "$BOOTSTRAP" ] && break
        sleep 0.05
    done
    [ -n "$BOOTSTRAP" ] || { cat "$WORK/mock.log"; skip "the Kafka mock cluster did not start"; }
    note "Kafka mock cluster at $BOOTSTRAP"
}

# kafka_cmd COMMAND...: send a command ("down -1", "up -1", "topic NAME N") and wait for
# the helper's "ok" for it.
kafka_cmd() {
    local before i
    before=$(grep -cxF "ok $*" "$WORK/mock.out" || true)
    echo "$*" >&"$KAFKA_MOCK_FD"
    for ((i=0; i<100; i++)); do
        [ "$(grep -cxF "ok $*" "$WORK/mock.out" || true)" -gt "$before" ] && return 0
        grep -q "^error: $*" "$WORK/mock.out" && fail "mock command failed: $*"
        sleep 0.05
    done
    fail "the Kafka mock did not answer: $*"
}

# write_pg_kafka_config FILE [extra yaml for the source...]: postgres -> kafka, connector
# "shop", topic prefix "shop". KAFKA_PROPS: extra flow-style librdkafka properties.
write_pg_kafka_config() {
    local file=$1; shift
    cat >"$file" <<YAML
worker:
  name: it
  data_dir: $WORK/var
  log_level: ${LOG_LEVEL:-info}
connectors:
  - name: shop
    source:
      type: postgres
      host: 127.0.0.1
      port: $PGPORT
      user: postgres
      database: shop
      heartbeat: 1s
$(printf '%s\n' "$@" | sed 's/^/      /')
    sink:
      type: kafka
      brokers: $BOOTSTRAP
      exactly_once: ${EXACTLY_ONCE:-false}
      kafka: {${KAFKA_PROPS:-}}
YAML
}

# kafka_topic NAME PARTITIONS: create a topic on the mock (it has no CreateTopics API;
# more partitions also hold more: the mock keeps ~5 MB per partition).
kafka_topic() {
    kafka_cmd topic "$1" "$2"
}

# kafka_topics PREFIX: the cluster's topic names starting with PREFIX, one a line.
kafka_topics() {
    kcat -L -b "$BOOTSTRAP" -J | python3 -c '
import json, sys
for t in json.load(sys.stdin)["topics"]:
    if t["topic"].startswith(sys.argv[1]):
        print(t["topic"])' "$1"
}

# kafka_dump DIR PREFIX [kcat options...]: every topic starting with PREFIX as
# DIR/<topic>.jsonl (kcat -J lines) and the cluster metadata as DIR/_metadata.json, for
# reconstruct.py --kafka. E.g. `-X isolation.level=read_committed`.
kafka_dump() {
    local dir=$1 prefix=$2 t
    shift 2
    rm -rf "$dir"
    mkdir -p "$dir"
    kcat -L -b "$BOOTSTRAP" -J >"$dir/_metadata.json"
    for t in $(kafka_topics "$prefix"); do
        kcat -C -b "$BOOTSTRAP" -t "$t" -o beginning -e -q -J "$@" >"$dir/$t.jsonl"
    done
    # the log start offsets: the mock keeps only ~5 MB per partition and drops the oldest
    # messages beyond that, which reconstruct.py must report rather than call a gap
    python3 - "$dir/_metadata.json" "$prefix" >"$dir/_queries" <<'PY'
import json, sys
for t in json.load(open(sys.argv[1]))["topics"]:
    if t["topic"].startswith(sys.argv[2]):
        for p in t["partitions"]:
            print(f"-t {t['topic']}:{p['partition']}:-2")
PY
    # shellcheck disable=SC2046
    kcat -Q -b "$BOOTSTRAP" $(cat "$dir/_queries") >"$dir/_low.txt"
}

# wait_for_kafka TOPIC TEXT [seconds]: until a message of TOPIC contains TEXT.
wait_for_kafka() {
    local topic=$1 text=$2 secs=${3:-60} i
    for ((i=0; i<secs; i++)); do
        # via a file: `kcat | grep -q` fails under pipefail when grep quits early
        kcat -C -b "$BOOTSTRAP" -t "$topic" -o beginning -e -q >"$WORK/wait.out" \
            2>/dev/null || true
        grep -qF -- "$text" "$WORK/wait.out" && return 0
        if [ -n "${SLUICE_PID:-}" ] && ! kill -0 "$SLUICE_PID" 2>/dev/null; then
            tail -20 "$WORK/sluice.log"; fail "sluice exited while waiting for $text"
        fi
        sleep 1
    done
    tail -20 "$WORK/sluice.log"
    fail "timed out waiting for $text in Kafka topic $topic"
}

# bookmark_pos: "<commit_lsn> <event>" of the stored bookmark of connector shop, or nothing.
bookmark_pos() {
    local f=$WORK/var/bookmarks/shop.json
    [ -f "$f" ] || return 0
    python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
print(d["commit_lsn"], d["event"])' "$f"
}
