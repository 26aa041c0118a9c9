#!/usr/bin/env bash
# sluice benchmark: one MariaDB binlog range read, in one run, by `mariadb-binlog -v` (the
# server's own client decoding the rows to pseudo-SQL, to /dev/null), by @vlasky/zongji
# (npm, counting the rows) and by sluice to files; then sluice's memory on one transaction
# of all the rows. Prints a Markdown table for BENCHMARKS.md. Not run by CI.
# Usage: bash tests/bench/my_bench.sh [ROWS]   (default 1000000, 10k-row transactions)
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROWS=${1:-1000000}
TX=${TX_ROWS:-10000}
missing=()
[ -x /usr/bin/time ] || missing+=(time)
command -v node >/dev/null || missing+=(nodejs)
command -v npm >/dev/null || missing+=(npm)
command -v mariadb-binlog >/dev/null || missing+=(mariadb-client)
command -v zstd >/dev/null || missing+=(zstd)
command -v mariadbd >/dev/null || [ -x /usr/sbin/mariadbd ] || missing+=(mariadb-server)
if [ ${#missing[@]} -gt 0 ]; then
    apt-get update -qq && apt-get install -y -qq "${missing[@]}" >/dev/null
fi
source "$HERE/../integration/lib.sh"
[ -x "$SLUICE_BIN" ] || fail "no $SLUICE_BIN (build sluice first)"

echo "installing @vlasky/zongji..." >&2
ZJ=$WORK/zongji
mkdir -p "$ZJ"
npm install --prefix "$ZJ" --no-audit --no-fund --loglevel=error @vlasky/zongji >/dev/null
# count.mjs PORT FILE POS ROWS: stream from FILE:POS, exit 0 after exactly ROWS inserted rows
cat >"$ZJ/count.mjs" <<'JS'
import ZongJi from '@vlasky/zongji';
const [port, filename, position, want] = process.argv.slice(2).map((v, i) => i === 1 ? v : Number(v));
const zj = new ZongJi({host: '127.0.0.1', port, user: 'bench', password: 'benchpw'});
let rows = 0, events = 0;
zj.on('error', (e) => { console.error(e); process.exit(1); });
zj.on('binlog', (ev) => {
  if (ev.getEventName() !== 'writerows') return;
  events++;
  rows += ev.rows.length;
  if (rows >= want) {
    console.error(`zongji: ${events} row events, ${rows} rows`);
    process.exit(rows === want ? 0 : 1);
  }
});
zj.start({serverId: 5499, filename, position, includeEvents: ['tablemap', 'writerows']});
JS

my_start --innodb-buffer-pool-size=1G --max-binlog-size=1G
# zongji's driver needs an auth plugin it speaks: mysql_native_password for everyone
my -e "CREATE USER bench@'%' IDENTIFIED VIA mysql_native_password USING PASSWORD('benchpw');
       GRANT REPLICATION SLAVE, REPLICATION CLIENT, SELECT ON *.* TO bench@'%';"
my shop <<'SQL'
CREATE TABLE bench (id bigint PRIMARY KEY, a int, b bigint, c text, d decimal(12,2),
  e timestamp(6) NULL DEFAULT NULL, f bool, g double, h char(36), i varchar(32));
SQL

load() { # load FIRST_ID COUNT TX_ROWS: one INSERT (= one transaction) per TX_ROWS rows
    local first=$1 count=$2 tx=$3 s
    for ((s = first; s < first + count; s += tx)); do
        echo "INSERT INTO bench SELECT seq, seq % 1000, seq * 7, md5(seq), seq / 100,
              TIMESTAMP'2026-01-01 00:00:00' + INTERVAL seq SECOND, seq % 2 = 0, seq / 3,
              insert(insert(insert(insert(md5(seq), 9, 0, '-'), 14, 0, '-'), 19, 0, '-'), 24, 0, '-'),
              concat('row ', seq) FROM seq_${s}_to_$((s + tx - 1));"
    done | my shop
}

# mark: a new binlog file; FILE and START are where the next load begins
mark() { read -r FILE START < <(my -e "FLUSH BINARY LOGS; SHOW MASTER STATUS" | cut -f1,2); }
# end_of_load: END is the position after the load's last commit, in FILE
end_of_load() {
    local f
    read -r f END < <(my -e "SHOW MASTER STATUS" | cut -f1,2)
    [ "$f" = "$FILE" ] || fail "the load spans binlog files ($FILE to $f): raise --max-binlog-size"
    sync # the load's writeback is not left to compete with the first reader
}

TIME=(/usr/bin/time -f "%e %U %S %M")

# Files close at 64 MiB or after max_seconds, whichever comes first: the bookmark passes
# the end only once the last file is complete, so max_seconds is how long the last rows
# wait to be durable. AGE=500ms measures with a longer wait.
AGE=${AGE:-100ms}
SERVER_ID=5400

# binlog_past BOOKMARK FILE END: the bookmark (its JSON text) is at or after FILE:END;
# binlog names sort by number, so a later file is past the end too
binlog_past() {
    [[ $1 =~ \"file\":\"([^\"]*)\",\"pos\":([0-9]+) ]] || return 1
    [[ "${BASH_REMATCH[1]}" > "$2" ]] || { [ "${BASH_REMATCH[1]}" = "$2" ] && [ "${BASH_REMATCH[2]}" -ge "$3" ]; }
}

# run_sluice NAME [stdout [OUT]] -> $WORK/sluice-NAME/time holds "elapsed user sys
# maxrss_kb"; reads FILE from START until its stored bookmark reaches END. With stdout, the
# envelopes go to standard output, into OUT (default /dev/null, as mariadb-binlog's do).
run_sluice() {
    local dir=$WORK/sluice-$1 kind=${2:-files} out=${3:-/dev/null} sink
    mkdir -p "$dir"
    # a server_id per run: the server drops the previous run's dump thread only when it
    # next writes to it (a heartbeat later), and a replica that comes back with the same
    # id before then is refused (error 4052)
    SERVER_ID=$((SERVER_ID + 1))
    sink="{type: files, path: $dir/out, rotate: {max_bytes: 64MiB, max_seconds: $AGE}}"
    [ "$kind" = stdout ] && sink="{type: stdout}"
    cat >"$dir/bench.yaml" <<YAML
worker: {data_dir: $dir/var, log_level: warn, http: 0}
connectors:
  - name: bench
    source: {type: mysql, host: 127.0.0.1, port: $MYPORT, user: bench, password: benchpw,
             server_id: $SERVER_ID, snapshot: never, heartbeat: 0}
    sink: $sink
YAML
    "$SLUICE_BIN" offsets set -c "$dir/bench.yaml" --connector bench \
        --position "{\"file\":\"$FILE\",\"pos\":$START}" >/dev/null
    "${TIME[@]}" -o "$dir/time" "$SLUICE_BIN" run -c "$dir/bench.yaml" >"$out" 2>"$dir/log" &
    local pid=$!
    watch_bookmark $pid "$dir/var/bookmarks/bench.json" binlog_past "$FILE" "$END" \
        || { cat "$dir/log"; fail "sluice exited"; }
    stop_timed $pid || fail "sluice did not stop cleanly: $(tail -3 "$dir/log")"
    [ "$kind" = stdout ] && return 0
    local n
    n=$(find "$dir/out" -name '*.jsonl' -exec cat {} + | wc -l)
    [ "$n" = "$ROWS" ] || fail "sluice wrote $n events, expected $ROWS"
    [ "$1" = a ] && floors "$dir/out"
    # free the page cache it filled: on a VM, first-touch of never-used guest memory can
    # cost more system time than the copy itself, which is not sluice's (see BENCHMARKS.md)
    rm -rf "$dir/out"
}

# floors DIR: what this machine needs, with no decoding at all, to store the bytes sluice
# wrote: the disk's own write rate (dd with O_DIRECT in 16 MiB blocks, then fsync: the
# device's bandwidth, best of two), or compressing them first (zstd -1 on both cores;
# sluice's own compression option is zstd). -> $WORK/floor: "bytes dd_s zstd_s"
floors() {
    local bytes dd_t t zs_t i
    bytes=$(find "$1" -name '*.jsonl' -printf '%s\n' | awk '{ n += $1 } END { print n }')
    sync
    for i in 1 2; do
        t=$( { /usr/bin/time -f %e dd if=/dev/zero of="$WORK/floor.bin" bs=16M \
            count=$(( (bytes + 16777215) / 16777216 )) oflag=direct conv=fsync status=none; } 2>&1 )
        rm -f "$WORK/floor.bin"
        dd_t=$(printf '%s\n' ${dd_t:-} "$t" | sort -n | head -1)
    done
    zs_t=$( { find "$1" -name '*.jsonl' -exec cat {} + \
        | /usr/bin/time -f %e zstd -q -1 -T2 -c >/dev/null; } 2>&1 )
    echo "$bytes $dd_t $zs_t" >"$WORK/floor"
}

MB_ARGS=(--no-defaults --read-from-remote-server --host=127.0.0.1 --port="$MYPORT" --user=bench
         --password=benchpw --skip-ssl)
run_mb() { # run_mb NAME -> $WORK/NAME.time
    "${TIME[@]}" -o "$WORK/$1.time" mariadb-binlog "${MB_ARGS[@]}" -v --start-position="$START" \
        --stop-position="$END" "$FILE" >/dev/null
}

run_zj() { # run_zj NAME -> $WORK/NAME.time
    "${TIME[@]}" -o "$WORK/$1.time" node "$ZJ/count.mjs" "$MYPORT" "$FILE" "$START" "$ROWS" \
        2>"$WORK/$1.log" || { cat "$WORK/$1.log"; fail "zongji failed"; }
}

echo "loading $ROWS rows in $TX-row transactions..." >&2
mark
load 1 "$ROWS" "$TX"
end_of_load
echo "binlog range $FILE:$START-$END ($(( (END - START) / 1048576 )) MiB)" >&2

# ABBA order (here ABCDDCBA), best of two each: no reader gets only the cold or the warm cache
run_mb mb_a
run_zj zj_a
run_sluice a
run_sluice so_a stdout
run_sluice so_b stdout
run_sluice b
run_zj zj_b
run_mb mb_b
# the stdout runs wrote every row (checked untimed, into a file)
run_sluice so_check stdout "$WORK/so_check.jsonl"
n=$(wc -l <"$WORK/so_check.jsonl")
[ "$n" = "$ROWS" ] || fail "sluice to stdout wrote $n events, expected $ROWS"
rm -f "$WORK/so_check.jsonl"
# mariadb-binlog saw every row (checked untimed: counting its output costs a pipe)
n=$(mariadb-binlog "${MB_ARGS[@]}" -v --start-position="$START" --stop-position="$END" "$FILE" \
    | grep -c '^### INSERT INTO')
[ "$n" = "$ROWS" ] || fail "mariadb-binlog decoded $n inserts, expected $ROWS"

best() { sort -n "$@" | head -1; }
read -r m_el m_us m_sy m_rss < <(best "$WORK/mb_a.time" "$WORK/mb_b.time")
read -r z_el z_us z_sy z_rss < <(best "$WORK/zj_a.time" "$WORK/zj_b.time")
read -r s_el s_us s_sy s_rss < <(best "$WORK/sluice-a/time" "$WORK/sluice-b/time")
read -r t_el t_us t_sy t_rss < <(best "$WORK/sluice-so_a/time" "$WORK/sluice-so_b/time")
echo "mariadb-binlog: $(cat "$WORK/mb_a.time") / $(cat "$WORK/mb_b.time");" \
     "zongji: $(cat "$WORK/zj_a.time") / $(cat "$WORK/zj_b.time");" \
     "sluice: $(cat "$WORK/sluice-a/time") / $(cat "$WORK/sluice-b/time");" \
     "sluice to stdout: $(cat "$WORK/sluice-so_a/time") / $(cat "$WORK/sluice-so_b/time")" \
     "(elapsed user sys maxrss_kb)" >&2

# one transaction of all rows: memory must stay bounded
my shop -e "TRUNCATE bench"
echo "loading $ROWS rows in one transaction..." >&2
mark
load 1 "$ROWS" "$ROWS"
end_of_load
run_sluice one
read -r o_el o_us o_sy o_rss <"$WORK/sluice-one/time"
echo "sluice, one transaction: $(cat "$WORK/sluice-one/time")" >&2

read -r f_bytes f_dd f_zs <"$WORK/floor"
echo "floors: $f_bytes bytes; dd oflag=direct $f_dd s; zstd -1 -T2 $f_zs s" >&2
python3 - "$ROWS" "$m_el" "$m_us" "$m_sy" "$m_rss" "$z_el" "$z_us" "$z_sy" "$z_rss" \
    "$s_el" "$s_us" "$s_sy" "$s_rss" "$o_el" "$o_us" "$o_sy" "$o_rss" "$AGE" \
    "$t_el" "$t_us" "$t_sy" "$t_rss" "$f_bytes" "$f_dd" "$f_zs" <<'PY'
import sys
rows = int(sys.argv[1])
age = sys.argv[18]
m, z, s, o, t = (list(map(float, sys.argv[i:i + 4])) for i in (2, 6, 10, 14, 19))
f_bytes, f_dd, f_zs = int(sys.argv[23]), float(sys.argv[24]), float(sys.argv[25])
def line(name, v):
    return f"| {name} | {rows / v[0]:,.0f} | {v[0]:.2f} | {v[1] + v[2]:.2f} | {v[3] / 1024:.1f} |"
print(f"MariaDB, {rows:,} inserts of 10 columns, 10k-row transactions, same binlog range "
      "(best of two runs each, ABCDDCBA order):\n")
print("| reader | events/s | wall s | CPU s | peak RSS MB |")
print("|---|---|---|---|---|")
print(line("`mariadb-binlog -R -v > /dev/null`", m))
print(line("`@vlasky/zongji` (counting rows)", z))
print(line(f"sluice → files (JSON envelopes, fsync'd; max_seconds {age})", s))
print(line("sluice → stdout > /dev/null (JSON envelopes)", t))
print(f"\nsluice → files / mariadb-binlog rate: **{m[0] / s[0]:.2f}×**; "
      f"/ zongji: **{z[0] / s[0]:.2f}×**")
print(f"sluice → stdout / mariadb-binlog rate: **{m[0] / t[0]:.2f}×**; "
      f"/ zongji: **{z[0] / t[0]:.2f}×**\n")
print(f"One transaction of {rows:,} rows: sluice {rows / o[0]:,.0f} events/s, "
      f"peak RSS {o[3] / 1024:.1f} MB.")
print(f"\nFloors for the {f_bytes / 1e6:,.0f} MB of envelopes sluice wrote, with no decoding: "
      f"the disk writes them in {f_dd:.2f} s (`dd oflag=direct`), `zstd -1 -T2` compresses "
      f"them in {f_zs:.2f} s; "
      f"10x zongji's rate would be {z[0] / 10:.2f} s.")
PY
