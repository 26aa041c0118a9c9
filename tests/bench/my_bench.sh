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

# run_sluice NAME -> $WORK/sluice-NAME/time holds "elapsed user sys maxrss_kb"; reads
# FILE from START until its stored bookmark reaches END
run_sluice() {
    local dir=$WORK/sluice-$1
    mkdir -p "$dir"
    cat >"$dir/bench.yaml" <<YAML
worker: {data_dir: $dir/var, log_level: warn, http: 0}
connectors:
  - name: bench
    source: {type: mysql, host: 127.0.0.1, port: $MYPORT, user: bench, password: benchpw,
             server_id: 5401, snapshot: never, heartbeat: 0}
    sink: {type: files, path: $dir/out, rotate: {max_records: 200000, max_seconds: 500ms}}
YAML
    "$SLUICE_BIN" offsets set -c "$dir/bench.yaml" --connector bench \
        --position "{\"file\":\"$FILE\",\"pos\":$START}" >/dev/null
    "${TIME[@]}" -o "$dir/time" "$SLUICE_BIN" run -c "$dir/bench.yaml" 2>"$dir/log" &
    local pid=$! bm f p
    while sleep 0.05; do
        kill -0 $pid 2>/dev/null || { cat "$dir/log"; fail "sluice exited"; }
        bm=$(cat "$dir/var/bookmarks/bench.json" 2>/dev/null || true)
        f=$(grep -o '"file":"[^"]*"' <<<"$bm" | head -1 | cut -d'"' -f4 || true)
        p=$(grep -o '"pos":[0-9]*' <<<"$bm" | head -1 | cut -d: -f2 || true)
        # binlog names sort by number; a later file is past the end too
        [ -n "$p" ] && { [[ "$f" > "$FILE" ]] || { [ "$f" = "$FILE" ] && [ "$p" -ge "$END" ]; }; } && break
    done
    # GNU time does not pass signals on: stop sluice itself, time reports when it exits
    kill -TERM "$(pgrep -P $pid)"
    wait $pid || fail "sluice did not stop cleanly: $(tail -3 "$dir/log")"
    local n
    n=$(find "$dir/out" -name '*.jsonl' -exec cat {} + | wc -l)
    [ "$n" = "$ROWS" ] || fail "sluice wrote $n events, expected $ROWS"
    # free the page cache it filled: on a VM, first-touch of never-used guest memory can
    # cost more system time than the copy itself, which is not sluice's (see BENCHMARKS.md)
    rm -rf "$dir/out"
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

# ABBA order (here ABCCBA), best of two each: no reader gets only the cold or the warm cache
run_mb mb_a
run_zj zj_a
run_sluice a
run_sluice b
run_zj zj_b
run_mb mb_b
# mariadb-binlog saw every row (checked untimed: counting its output costs a pipe)
n=$(mariadb-binlog "${MB_ARGS[@]}" -v --start-position="$START" --stop-position="$END" "$FILE" \
    | grep -c '^### INSERT INTO')
[ "$n" = "$ROWS" ] || fail "mariadb-binlog decoded $n inserts, expected $ROWS"

best() { sort -n "$@" | head -1; }
read -r m_el m_us m_sy m_rss < <(best "$WORK/mb_a.time" "$WORK/mb_b.time")
read -r z_el z_us z_sy z_rss < <(best "$WORK/zj_a.time" "$WORK/zj_b.time")
read -r s_el s_us s_sy s_rss < <(best "$WORK/sluice-a/time" "$WORK/sluice-b/time")
echo "mariadb-binlog: $(cat "$WORK/mb_a.time") / $(cat "$WORK/mb_b.time");" \
     "zongji: $(cat "$WORK/zj_a.time") / $(cat "$WORK/zj_b.time");" \
     "sluice: $(cat "$WORK/sluice-a/time") / $(cat "$WORK/sluice-b/time")" \
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

python3 - "$ROWS" "$m_el" "$m_us" "$m_sy" "$m_rss" "$z_el" "$z_us" "$z_sy" "$z_rss" \
    "$s_el" "$s_us" "$s_sy" "$s_rss" "$o_el" "$o_us" "$o_sy" "$o_rss" <<'PY'
import sys
rows = int(sys.argv[1])
m, z, s, o = (list(map(float, sys.argv[i:i + 4])) for i in (2, 6, 10, 14))
def line(name, v):
    return f"| {name} | {rows / v[0]:,.0f} | {v[0]:.2f} | {v[1] + v[2]:.2f} | {v[3] / 1024:.1f} |"
print(f"MariaDB, {rows:,} inserts of 10 columns, 10k-row transactions, same binlog range "
      "(best of two runs each, ABCCBA order):\n")
print("| reader | events/s | wall s | CPU s | peak RSS MB |")
print("|---|---|---|---|---|")
print(line("`mariadb-binlog -R -v > /dev/null`", m))
print(line("`@vlasky/zongji` (counting rows)", z))
print(line("sluice → files (JSON envelopes, fsync'd)", s))
print(f"\nsluice / mariadb-binlog rate: **{m[0] / s[0]:.2f}×**; "
      f"sluice / zongji: **{z[0] / s[0]:.2f}×**\n")
print(f"One transaction of {rows:,} rows: sluice {rows / o[0]:,.0f} events/s, "
      f"peak RSS {o[3] / 1024:.1f} MB.")
PY
