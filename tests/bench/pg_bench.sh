#!/usr/bin/env bash
# sluice benchmark: the same slot content read by pg_recvlogical (the server's raw rate)
# and by sluice to files, in one run. Prints a Markdown table for BENCHMARKS.md.
# Usage: bash tests/bench/pg_bench.sh [ROWS]   (default 1000000, 10k-row transactions)
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROWS=${1:-1000000}
TX=${TX_ROWS:-10000}
command -v /usr/bin/time >/dev/null || apt-get install -y -qq time >/dev/null
source "$HERE/../integration/lib.sh"
pg_start max_wal_size=4GB checkpoint_timeout=30min

sql >/dev/null <<'SQL'
CREATE TABLE bench (id bigint PRIMARY KEY, a int, b bigint, c text, d numeric(12,2),
  e timestamptz, f bool, g float8, h uuid, i varchar(32));
CREATE PUBLICATION bench FOR TABLE bench;
SELECT 1 FROM pg_create_logical_replication_slot('recv_a', 'pgoutput');
SELECT 1 FROM pg_create_logical_replication_slot('sluice_a', 'pgoutput');
SELECT 1 FROM pg_create_logical_replication_slot('sluice_b', 'pgoutput');
SELECT 1 FROM pg_create_logical_replication_slot('recv_b', 'pgoutput');
SQL


load() { # load FIRST_ID COUNT TX_ROWS
    local first=$1 count=$2 tx=$3 s
    for ((s = first; s < first + count; s += tx)); do
        echo "INSERT INTO bench SELECT g, g % 1000, g * 7, md5(g::text), g / 100.0,
              '2026-01-01'::timestamptz + g * interval '1 second', g % 2 = 0, g / 3.0,
              md5(g::text)::uuid, 'row ' || g FROM generate_series($s, $((s + tx - 1))) g;"
    done | psql -qX -v ON_ERROR_STOP=1 >/dev/null
}

# run_sluice SLOT END_LSN -> $WORK/sluice-SLOT/time holds "elapsed user sys maxrss_kb"
run_sluice() {
    local slot=$1 end=$2 dir=$WORK/sluice-$1
    mkdir -p "$dir"
    cat >"$dir/bench.yaml" <<YAML
worker: {data_dir: $dir/var, log_level: warn}
connectors:
  - name: bench
    source: {type: postgres, host: 127.0.0.1, port: $PGPORT, user: postgres, database: shop,
             slot: $slot, publication: bench, create_slot: false, create_publication: false,
             heartbeat: 0, snapshot: never}
    sink: {type: files, path: $dir/out, rotate: {max_records: 200000, max_seconds: 500ms}}
YAML
    /usr/bin/time -f "%e %U %S %M" -o "$dir/time" "$SLUICE_BIN" run -c "$dir/bench.yaml" \
        2>"$dir/log" &
    local pid=$!
    watch_bookmark $pid "$dir/var/bookmarks/bench.json" lsn_past "$end" \
        || { cat "$dir/log"; fail "sluice exited"; }
    stop_timed $pid || fail "sluice did not stop cleanly: $(tail -3 "$dir/log")"
    local n
    n=$(find "$dir/out" -name '*.jsonl' -exec cat {} + | wc -l)
    [ "$n" = "$ROWS" ] || fail "sluice wrote $n events, expected $ROWS"
}

run_recv() { # run_recv SLOT END_LSN -> $WORK/recv.time
    /usr/bin/time -f "%e %U %S %M" -o "$WORK/recv.time" "$PG_BIN/pg_recvlogical" -d shop \
        --slot "$1" --start -E "$2" -o proto_version=1 -o publication_names=bench \
        -f /dev/null --no-loop
}

echo "loading $ROWS rows in $TX-row transactions..." >&2
load 1 "$ROWS" "$TX"
# the end marker: a logical message after the load (pg_current_wal_lsn() is the *write*
# position, which lags the last commit when synchronous_commit is off)
END=$(sql -c "SELECT pg_logical_emit_message(false, 'bench_end', '')")

# ABBA order, best of two each: neither reader gets the cold cache or the warm one only
run_recv recv_a "$END"; cp "$WORK/recv.time" "$WORK/recv_a.time"
run_sluice sluice_a "$END"
run_sluice sluice_b "$END"
run_recv recv_b "$END"; cp "$WORK/recv.time" "$WORK/recv_b.time"
best() { sort -n "$@" | head -1; }
read -r r_el r_us r_sy r_rss < <(best "$WORK/recv_a.time" "$WORK/recv_b.time")
read -r s_el s_us s_sy s_rss < <(best "$WORK/sluice-sluice_a/time" "$WORK/sluice-sluice_b/time")
echo "pg_recvlogical: $(cat "$WORK/recv_a.time") / $(cat "$WORK/recv_b.time");" \
     "sluice: $(cat "$WORK/sluice-sluice_a/time") / $(cat "$WORK/sluice-sluice_b/time")" \
     "(elapsed user sys maxrss_kb)" >&2

# one transaction of all rows: memory must stay bounded
sql -c "TRUNCATE bench" >/dev/null
sql -c "SELECT 1 FROM pg_create_logical_replication_slot('sluice_one', 'pgoutput')" >/dev/null
echo "loading $ROWS rows in one transaction..." >&2
load 1 "$ROWS" "$ROWS"
END1=$(sql -c "SELECT pg_logical_emit_message(false, 'bench_end', '')")
run_sluice sluice_one "$END1"
read -r o_el o_us o_sy o_rss <"$WORK/sluice-sluice_one/time"

python3 - "$ROWS" "$r_el" "$r_us" "$r_sy" "$r_rss" "$s_el" "$s_us" "$s_sy" "$s_rss" \
    "$o_el" "$o_us" "$o_sy" "$o_rss" <<'PY'
import sys
rows = int(sys.argv[1])
r = list(map(float, sys.argv[2:6])); s = list(map(float, sys.argv[6:10])); o = list(map(float, sys.argv[10:14]))
def line(name, v):
    return (f"| {name} | {rows / v[0]:,.0f} | {v[0]:.2f} | {v[1] + v[2]:.2f} | {v[3] / 1024:.1f} |")
print(f"PostgreSQL 15, {rows:,} inserts of 10 columns, 10k-row transactions, same slot content "
      "(best of two runs each, ABBA order):\n")
print("| reader | events/s | wall s | CPU s | peak RSS MB |")
print("|---|---|---|---|---|")
print(line("pg_recvlogical -f /dev/null (pgoutput, raw)", r))
print(line("sluice → files (JSON envelopes, fsync'd)", s))
print(f"\nsluice / pg_recvlogical rate: **{r[0] / s[0]:.2f}×**\n")
print(f"One transaction of {rows:,} rows: sluice {rows / o[0]:,.0f} events/s, "
      f"peak RSS {o[3] / 1024:.1f} MB.")
PY
