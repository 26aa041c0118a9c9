#!/usr/bin/env bash
# sluice benchmark: snapshots. One table of ROWS rows and 10 columns, in one run:
#  PostgreSQL: `psql -c "\copy (select * from bench) to /dev/null"` (the server's raw COPY)
#              against sluice `snapshot: {mode: only}` to files with parallelism 1 and 2;
#  MariaDB:    `mariadb --quick -e "select * from bench" > /dev/null` against sluice
#              `snapshot: {mode: only}` to files with chunk_rows CHUNK_ROWS and MY_CHUNK_ROWS
#              (chunks read while the binlog streams; parallelism does not apply there).
# sluice runs until it exits 0 by itself (mode only); /usr/bin/time times the whole process.
# Each reader runs twice in ABCCBA order; the best run counts. Prints a Markdown table for
# BENCHMARKS.md. Not run by CI.
# Usage: bash tests/bench/snapshot_bench.sh [ROWS]   (default 2000000; CHUNK_ROWS, default
#        8192, is chunk_rows for every reader, MY_CHUNK_ROWS, default 65536, for a second
#        MariaDB reader; HEARTBEAT, default 50ms; SLUICE_BIN, default build/sluice)
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROWS=${1:-2000000}
CHUNK=${CHUNK_ROWS:-8192}
MY_CHUNK=${MY_CHUNK_ROWS:-65536}
HEARTBEAT=${HEARTBEAT:-50ms}
missing=()
[ -x /usr/bin/time ] || missing+=(time)
command -v mariadb >/dev/null || missing+=(mariadb-client)
command -v mariadbd >/dev/null || [ -x /usr/sbin/mariadbd ] || missing+=(mariadb-server)
if [ ${#missing[@]} -gt 0 ]; then
    apt-get update -qq && apt-get install -y -qq "${missing[@]}" >/dev/null
fi
source "$HERE/../integration/lib.sh"
[ -x "$SLUICE_BIN" ] || fail "no $SLUICE_BIN (build sluice first)"
TIME=(/usr/bin/time -f "%e %U %S %M")

# The database server's CPU seconds so far, its exited children's included (PostgreSQL's
# backends, reaped by the postmaster): utime stime cutime cstime of /proc/SRV_PID/stat.
server_cpu() {
    awk -v hz="$(getconf CLK_TCK)" '{ sub(/^.*\) /, ""); printf "%.2f", ($12 + $13 + $14 + $15) / hz }' \
        "/proc/$SRV_PID/stat"
}
# timed TIME_FILE COMMAND...: TIME_FILE gets "elapsed user sys maxrss_kb server_cpu_s"
timed() {
    local out=$1 before rc=0
    shift
    before=$(server_cpu)
    "${TIME[@]}" -o "$out" "$@" || rc=$?
    sleep 0.3 # the postmaster reaps the exited backends
    echo "$(cat "$out") $(awk -v a="$before" -v b="$(server_cpu)" 'BEGIN { printf "%.2f", b - a }')" >"$out"
    return $rc
}

# run_sluice NAME YAML_SOURCE_LINES -> $WORK/sluice-NAME/time (as timed writes it);
# sluice must exit 0 by itself and have written exactly ROWS envelopes, which are then
# deleted (on a VM, never-touched guest memory is slow to get: see BENCHMARKS.md)
run_sluice() {
    local name=$1 source=$2 dir=$WORK/sluice-$1
    mkdir -p "$dir"
    cat >"$dir/bench.yaml" <<YAML
worker: {data_dir: $dir/var, log_level: info, http: "0"}
connectors:
  - name: $name
    source: {$source,
             heartbeat: $HEARTBEAT}
    sink: {type: files, path: $dir/out, rotate: {max_records: 200000, max_seconds: 1}}
YAML
    timed "$dir/time" "$SLUICE_BIN" run -c "$dir/bench.yaml" 2>"$dir/log" &
    local pid=$! i
    for ((i = 0; i < 6000; i++)); do # 10 minutes at most
        kill -0 $pid 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 $pid 2>/dev/null; then # $pid runs time, which runs sluice
        kill -TERM "$(pgrep -P "$(pgrep -P $pid)")"
        fail "sluice $name did not finish"
    fi
    wait $pid || { tail -5 "$dir/log"; fail "sluice $name did not exit 0"; }
    local n
    n=$(find "$dir/out" -path "$dir/out/$name.*" -name '*.jsonl' -exec cat {} + | wc -l)
    [ "$n" = "$ROWS" ] || fail "sluice $name wrote $n envelopes, expected $ROWS"
    du -sb "$dir/out" | cut -f1 >"$dir/bytes"
    rm -rf "$dir/out"
    echo "sluice $name: $(cat "$dir/time") (elapsed user sys maxrss_kb server_cpu)" >&2
}

best() { sort -n "$@" | head -1; }
RESULTS=$WORK/results.tsv
# result KEY LABEL TIME_FILE...: the best (least elapsed) of a reader's runs, for the table
result() {
    local key=$1 label=$2
    shift 2
    printf '%s\t%s\t%s\n' "$key" "$label" "$(best "$@")" >>"$RESULTS"
}
echo "load average at the start: $(cut -d' ' -f1-3 /proc/loadavg)" >&2

# ---------------- PostgreSQL
pg_start shared_buffers=1GB max_wal_size=4GB checkpoint_timeout=30min
SRV_PID=$(head -1 "$PG_DATA/postmaster.pid")
echo "PostgreSQL: loading $ROWS rows..." >&2
sql >/dev/null <<SQL
CREATE TABLE bench (id bigint PRIMARY KEY, a int, b bigint, c text, d numeric(12,2),
  e timestamptz, f bool, g float8, h uuid, i varchar(32));
INSERT INTO bench SELECT g, g % 1000, g * 7, md5(g::text), g / 100.0,
  '2026-01-01'::timestamptz + g * interval '1 second', g % 2 = 0, g / 3.0,
  md5(g::text)::uuid, 'row ' || g FROM generate_series(1, $ROWS) g;
CREATE PUBLICATION bench FOR TABLE bench;
SQL
# hint bits set and statistics (reltuples) known before any reader; no writeback left
sql -c "VACUUM (FREEZE, ANALYZE) bench" >/dev/null
sql -c "CHECKPOINT" >/dev/null
sync
echo "table: $(sql -c "SELECT pg_size_pretty(pg_table_size('bench'))")" >&2

run_copy() { # run_copy NAME -> $WORK/NAME.time
    timed "$WORK/$1.time" psql -X -v ON_ERROR_STOP=1 \
        -c "\\copy (select * from bench) to /dev/null" >"$WORK/$1.out"
    [ "$(cat "$WORK/$1.out")" = "COPY $ROWS" ] || fail "psql \\copy: $(cat "$WORK/$1.out")"
    echo "psql \\copy $1: $(cat "$WORK/$1.time")" >&2
}
run_pg() { # run_pg NAME PARALLELISM
    run_sluice "$1" "type: postgres, host: 127.0.0.1, port: $PGPORT, user: postgres,
             database: shop, publication: bench, create_publication: false,
             snapshot: {mode: only, parallelism: $2, chunk_rows: $CHUNK}"
    grep -q "$2 readers share exported snapshot" "$WORK/sluice-$1/log" \
        || fail "sluice $1: not $2 readers: $(grep snapshot "$WORK/sluice-$1/log" | head -3)"
    sql -c "SELECT pg_drop_replication_slot('sluice_$1')" >/dev/null
}

run_copy copy_a
run_pg pg1a 1
run_pg pg2a 2
run_pg pg2b 2
run_pg pg1b 1
run_copy copy_b
result copy '`psql -c "\copy (select * from bench) to /dev/null"`' \
    "$WORK/copy_a.time" "$WORK/copy_b.time"
result pg1 'sluice PostgreSQL `snapshot: only`, parallelism 1 → files' \
    "$WORK/sluice-pg1a/time" "$WORK/sluice-pg1b/time"
result pg2 'sluice PostgreSQL `snapshot: only`, parallelism 2 → files' \
    "$WORK/sluice-pg2a/time" "$WORK/sluice-pg2b/time"
PG_BYTES=$(cat "$WORK/sluice-pg1a/bytes")
# the server is not needed any more: the MariaDB runs get the machine to themselves
runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$PG_DATA" -m fast stop >/dev/null

# ---------------- MariaDB
my_start --innodb-buffer-pool-size=1G
SRV_PID=$MY_PID
echo "MariaDB: loading $ROWS rows..." >&2
my shop <<'SQL'
CREATE TABLE bench (id bigint PRIMARY KEY, a int, b bigint, c varchar(64), d decimal(12,2),
  e datetime(6), f bool, g double, h char(36), i varchar(32));
SQL
for ((s = 1; s <= ROWS; s += 100000)); do
    echo "INSERT INTO bench SELECT seq, seq % 1000, seq * 7, md5(seq), seq / 100,
          TIMESTAMP'2026-01-01 00:00:00' + INTERVAL seq SECOND, seq % 2 = 0, seq / 3,
          insert(insert(insert(insert(md5(seq), 9, 0, '-'), 14, 0, '-'), 19, 0, '-'), 24, 0, '-'),
          concat('row ', seq) FROM seq_${s}_to_$((s + 99999 < ROWS ? s + 99999 : ROWS));"
done | my shop
my shop -e "ANALYZE TABLE bench" >/dev/null
# the load's dirty pages flushed, so no reader competes with the writeback
my -e "SET GLOBAL innodb_max_dirty_pages_pct = 0"
for ((i = 0; i < 600; i++)); do
    [ "$(my -e "SHOW GLOBAL STATUS LIKE 'Innodb_buffer_pool_pages_dirty'" | cut -f2)" = 0 ] && break
    sleep 0.1
done
sync

MY_ARGS=(--no-defaults --host=127.0.0.1 --port="$MYPORT" --user=cdc --password=cdcpw
         --default-character-set=utf8mb4 --skip-ssl)
run_mysel() { # run_mysel NAME -> $WORK/NAME.time
    timed "$WORK/$1.time" mariadb "${MY_ARGS[@]}" --quick \
        -e "select * from bench" shop >/dev/null
    echo "mariadb --quick $1: $(cat "$WORK/$1.time")" >&2
}
export MYPW=cdcpw
run_my() { # run_my NAME CHUNK_ROWS
    run_sluice "$1" "type: mysql, host: 127.0.0.1, port: $MYPORT, user: cdc,
             password: '\${env:MYPW}', server_id: 5401,
             snapshot: {mode: only, chunk_rows: $2}"
}

run_mysel sel_a
run_my mya "$CHUNK"
run_my bigya "$MY_CHUNK"
run_my bigyb "$MY_CHUNK"
run_my myb "$CHUNK"
run_mysel sel_b
# the client saw every row (checked untimed: counting its output costs a pipe)
n=$(mariadb "${MY_ARGS[@]}" --quick -N -e "select * from bench" shop | wc -l)
[ "$n" = "$ROWS" ] || fail "mariadb --quick printed $n rows, expected $ROWS"
result sel '`mariadb --quick -e "select * from bench" > /dev/null`' \
    "$WORK/sel_a.time" "$WORK/sel_b.time"
result my "sluice MariaDB \`snapshot: only\`, chunk_rows $CHUNK → files" \
    "$WORK/sluice-mya/time" "$WORK/sluice-myb/time"
result bigy "sluice MariaDB \`snapshot: only\`, chunk_rows $MY_CHUNK → files" \
    "$WORK/sluice-bigya/time" "$WORK/sluice-bigyb/time"
MY_BYTES=$(cat "$WORK/sluice-mya/bytes")
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)" >&2

# the table, a row per reader of $RESULTS, and the ratios
python3 - "$RESULTS" "$ROWS" "$CHUNK" "$MY_CHUNK" "$PG_BYTES" "$MY_BYTES" <<'PY'
import sys
rows, chunk, my_chunk, pg_bytes, my_bytes = map(int, sys.argv[2:7])
wall = {}
print(f"{rows:,} rows of 10 columns; PostgreSQL chunk_rows {chunk}; best of two runs each "
      "(ABCCBA order):\n")
print("| reader | rows/s | wall s | CPU s | server CPU s | peak RSS MB |\n|---|---|---|---|---|---|")
for rec in open(sys.argv[1]):
    key, label, best = rec.rstrip("\n").split("\t")
    el, us, sy, kb, srv = map(float, best.split())
    wall[key] = el
    print(f"| {label} | {rows / el:,.0f} | {el:.2f} | {us + sy:.2f} | {srv:.2f} | {kb / 1024:.1f} |")
ratio = lambda raw, ours: f"**{wall[raw] / wall[ours]:.2f}×**"
print(f"\nsluice / psql \\copy: {ratio('copy', 'pg1')} (parallelism 1), {ratio('copy', 'pg2')} "
      f"(parallelism 2); sluice / mariadb --quick: {ratio('sel', 'my')} (chunk_rows {chunk}), "
      f"{ratio('sel', 'bigy')} (chunk_rows {my_chunk}). Envelopes written: "
      f"{pg_bytes / 1e6:,.0f} MB (PostgreSQL), {my_bytes / 1e6:,.0f} MB (MariaDB).")
PY
