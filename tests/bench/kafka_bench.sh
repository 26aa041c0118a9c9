#!/usr/bin/env bash
# sluice benchmark: Kafka, in one run against librdkafka's mock cluster: (1) PostgreSQL ->
# Kafka end to end vs pg_recvlogical reading the same slot content; (2) the same envelopes
# produced from a file by `kcat -P` vs by sluice's Kafka sink alone. Prints Markdown.
# Usage: bash tests/bench/kafka_bench.sh [ROWS]   (default 1000000, 10k-row transactions)
# Needs the build's sluice, tests/sluice_kafka_mock and tests/sluice_kafka_sink_bench
# (SLUICE_BUILD_DIR, default: the directory of SLUICE_BIN).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROWS=${1:-1000000}
TX=${TX_ROWS:-10000}
BROKERS=${BROKERS:-1}
command -v /usr/bin/time >/dev/null || apt-get install -y -qq time >/dev/null
source "$HERE/../integration/lib.sh"
source "$HERE/../integration/kafka_lib.sh"
SINK_BENCH=${SINK_BENCH:-$SLUICE_BUILD_DIR/tests/sluice_kafka_sink_bench}
[ -x "$SINK_BENCH" ] || fail "no $SINK_BENCH (build the sluice_kafka_sink_bench target)"
kafka_start "$BROKERS"
pg_start max_wal_size=4GB checkpoint_timeout=30min

sql <<'SQL'
CREATE TABLE bench (id bigint PRIMARY KEY, a int, b bigint, c text, d numeric(12,2),
  e timestamptz, f bool, g float8, h uuid, i varchar(32));
CREATE PUBLICATION bench FOR TABLE bench;
SELECT 1 FROM pg_create_logical_replication_slot('recv_many', 'pgoutput');
SELECT 1 FROM pg_create_logical_replication_slot('sluice_many', 'pgoutput');
SELECT 1 FROM pg_create_logical_replication_slot('dump_many', 'pgoutput');
SQL

# hw_sum TOPIC: messages ever produced to TOPIC (sum of the partitions' end offsets). The
# mock cluster keeps only ~5 MB per partition, so counts come from offsets, not reads.
hw_sum() {
    local n args=()
    n=$(kcat -L -b "$BOOTSTRAP" -t "$1" -J | python3 -c '
import json, sys; print(len(json.load(sys.stdin)["topics"][0]["partitions"]))')
    for ((p = 0; p < n; p++)); do args+=(-t "$1:$p:-1"); done
    kcat -Q -b "$BOOTSTRAP" "${args[@]}" | awk '{s += $NF} END {print s + 0}'
}

# run_sluice SLOT SINK_YAML: until the bookmark reaches END; "elapsed user sys rss" goes
# to the last line of $WORK/sluice-SLOT/time
run_sluice() {
    local slot=$1 sink=$2 dir=$WORK/sluice-$1 pid lsn
    mkdir -p "$dir"
    cat >"$dir/bench.yaml" <<YAML
worker: {data_dir: $dir/var, log_level: warn}
connectors:
  - name: bench
    source: {type: postgres, host: 127.0.0.1, port: $PGPORT, user: postgres, database: shop,
             slot: $slot, publication: bench, create_slot: false,
             create_publication: false, heartbeat: 0, snapshot: never}
    sink: $sink
YAML
    /usr/bin/time -f "%e %U %S %M" -o "$dir/time" "$SLUICE_BIN" run -c "$dir/bench.yaml" \
        >"$dir/stdout" 2>"$dir/log" &
    pid=$!
    CLEANUPS+=("kill -9 $pid 2>/dev/null")
    watch_bookmark $pid "$dir/var/bookmarks/bench.json" lsn_past "$END" \
        || { cat "$dir/log" >&2; fail "sluice exited"; }
    stop_timed $pid || true
}

echo "loading $ROWS rows in $TX-row transactions..." >&2
for ((s = 1; s <= ROWS; s += TX)); do
    echo "INSERT INTO bench SELECT g, g % 1000, g * 7, md5(g::text), g / 100.0,
          '2026-01-01'::timestamptz + g * interval '1 second', g % 2 = 0, g / 3.0,
          md5(g::text)::uuid, 'row ' || g FROM generate_series($s, $((s + TX - 1))) g;"
done | psql -qX -v ON_ERROR_STOP=1 >/dev/null
END=$(sql -c "SELECT pg_current_wal_lsn()")
sql -c "SELECT pg_logical_emit_message(false, 'bench_end', '')" >/dev/null

# pg_recvlogical: the server's raw rate for this slot content
/usr/bin/time -f "%e %U %S %M" -o "$WORK/recv.time" "$PG_BIN/pg_recvlogical" -d shop \
    --slot recv_many --start -E "$END" -o proto_version=1 -o publication_names=bench \
    -f /dev/null --no-loop
read -r r_el r_us r_sy r_rss < <(tail -1 "$WORK/recv.time")

# sluice PostgreSQL -> Kafka: done when the bookmark (advanced only by delivery reports)
# reaches the end, i.e. every envelope is acknowledged by the broker
run_sluice sluice_many "{type: kafka, brokers: \"$BOOTSTRAP\", topic_prefix: e2e}"
read -r s_el s_us s_sy s_rss < <(tail -1 "$WORK/sluice-sluice_many/time")
n=$(hw_sum e2e.public.bench)
[ "$n" = "$ROWS" ] || fail "sluice produced $n envelopes, expected $ROWS"

# the same envelopes (stdout sink, untimed) as key<TAB>value lines for both producers
run_sluice dump_many "{type: stdout}"
python3 - "$WORK/sluice-dump_many/stdout" "$WORK/envelopes.tsv" <<'PY'
import json, sys
with open(sys.argv[1]) as f, open(sys.argv[2], "w") as out:
    for line in f:
        ev = json.loads(line)
        out.write('{"id":%d}\t%s' % (ev["after"]["id"], line))
PY
n=$(wc -l <"$WORK/envelopes.tsv")
[ "$n" = "$ROWS" ] || fail "the stdout sink wrote $n envelopes, expected $ROWS"
bytes=$(stat -c %s "$WORK/envelopes.tsv")

# kcat -P with the producer settings sluice uses (idempotent, acks=all, lz4, linger 20 ms)
/usr/bin/time -f "%e %U %S %M" -o "$WORK/kcat.time" kcat -P -b "$BOOTSTRAP" -t kcat.in \
    -K '\t' -X enable.idempotence=true -X acks=all -X compression.type=lz4 \
    -X linger.ms=20 -X partitioner=murmur2_random <"$WORK/envelopes.tsv"
read -r k_el k_us k_sy k_rss < <(tail -1 "$WORK/kcat.time")
kn=$(hw_sum kcat.in)
[ "$kn" = "$ROWS" ] || fail "kcat produced $kn messages, expected $ROWS"

# sluice's Kafka sink alone, the same file in pipeline-sized batches
/usr/bin/time -f "%e %U %S %M" -o "$WORK/sink.time" "$SINK_BENCH" "$BOOTSTRAP" sink \
    "$WORK/envelopes.tsv" >"$WORK/sink.out"
read -r k2_el k2_us k2_sy k2_rss < <(tail -1 "$WORK/sink.time")
sn=$(hw_sum sink.public.bench)
[ "$sn" = "$ROWS" ] || fail "the sink bench produced $sn messages, expected $ROWS"

python3 - "$ROWS" "$bytes" "$r_el" "$r_us" "$r_sy" "$r_rss" "$s_el" "$s_us" "$s_sy" "$s_rss" \
    "$k_el" "$k_us" "$k_sy" "$k_rss" "$k2_el" "$k2_us" "$k2_sy" "$k2_rss" <<'PY'
import sys
rows, size = int(sys.argv[1]), int(sys.argv[2])
v = list(map(float, sys.argv[3:]))
r, s, k, k2 = v[0:4], v[4:8], v[8:12], v[12:16]
def line(name, x):
    return (f"| {name} | {rows / x[0]:,.0f} | {x[0]:.2f} | {x[1] + x[2]:.2f} | "
            f"{x[3] / 1024:.1f} |")
print(f"librdkafka mock cluster; {rows:,} inserts of 10 columns in 10k-row transactions; "
      f"envelopes average {size / rows:.0f} bytes with their keys.\n")
print("| run | events/s | wall s | CPU s | peak RSS MB |")
print("|---|---|---|---|---|")
print(line("pg_recvlogical -f /dev/null (pgoutput, raw)", r))
print(line("sluice PostgreSQL → Kafka (until every envelope is acked)", s))
print(line("kcat -P from a file (idempotent, acks=all, lz4)", k))
print(line("sluice Kafka sink alone, same file", k2))
print(f"\nsluice end to end / pg_recvlogical: **{r[0] / s[0]:.2f}×** (target ≥ 0.9)  ")
print(f"sluice sink / kcat -P: **{k[0] / k2[0]:.2f}×** (target ≥ 0.8)  ")
print(f"sluice end-to-end peak RSS: **{s[3] / 1024:.1f} MB** (target ≤ 64)")
PY
