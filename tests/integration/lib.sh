# sluice integration tests: shared helpers to start private servers in temp dirs.
# Sourced by test_*.sh; a server that cannot be started makes the test exit 77 (skipped).
set -euo pipefail

SLUICE_BIN=${SLUICE_BIN:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)/build/sluice}
SLUICE_SOURCE_DIR=${SLUICE_SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
PG_BIN=${PG_BIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)}

skip() { echo "SKIP: $*"; exit 77; }
# lsn_num X/Y: LSN_N = the PostgreSQL LSN as a number (no fork: the benchmarks poll with it)
lsn_num() { LSN_N=$(( (16#${1%/*} << 32) | 16#${1#*/} )); }
# lsn_past BOOKMARK END: the PostgreSQL bookmark (its JSON text) is at or after LSN END
lsn_past() {
    [[ $1 =~ \"lsn\":\"([0-9A-Fa-f]+/[0-9A-Fa-f]+)\" ]] || return 1
    lsn_num "${BASH_REMATCH[1]}"
    local at=$LSN_N
    lsn_num "$2"
    [ "$at" -ge "$LSN_N" ]
}
# watch_bookmark PID FILE PAST [ARGS...]: wait until PAST (a function), given the text of
# the bookmark file FILE and ARGS, succeeds; returns 1 when PID exits first. The
# benchmarks time sluice with it, so it polls every 50 ms with bash builtins only: forking
# grep or sed that often took up to half a core from sluice on a 2-core machine (read -t
# on a silent pipe sleeps).
watch_bookmark() {
    local pid=$1 file=$2 past=$3 bm tick rc=0
    shift 3
    exec {tick}<> <(:)
    while ! read -r -t 0.05 -u "$tick"; do
        kill -0 "$pid" 2>/dev/null || { rc=1; break; }
        bm=
        [ -r "$file" ] && read -r bm <"$file" || true
        [ -n "$bm" ] && "$past" "$bm" "$@" && break
    done
    exec {tick}<&-
    return $rc
}
# stop_timed PID: stop the program that /usr/bin/time (PID) runs, and wait for time to
# report (GNU time does not pass signals on; it reports when its child exits)
stop_timed() {
    kill -TERM "$(pgrep -P "$1")"
    wait "$1"
}
fail() { echo "FAIL: $*"; exit 1; }
note() { echo "--- $*"; }

free_port() {
    python3 - <<'PY'
import socket
s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()
PY
}

# A scratch directory removed on exit (servers are stopped first by the traps below).
WORK=$(mktemp -d /tmp/sluice-it-XXXXXX)
chmod 755 "$WORK"
CLEANUPS=()
cleanup() {
    local i
    for ((i=${#CLEANUPS[@]}-1; i>=0; i--)); do eval "${CLEANUPS[$i]}" || true; done
    rm -rf "$WORK"
}
trap cleanup EXIT
[ -n "${KEEP_WORK:-}" ] && trap - EXIT

# pg_start [extra postgres -c options...]: a private PostgreSQL with wal_level=logical.
# Sets PGPORT, PGHOST, PGUSER=postgres, PGDATABASE=shop, PG_DATA.
pg_start() {
    [ -x "$PG_BIN/initdb" ] || skip "PostgreSQL server binaries not found (apt-get install postgresql)"
    id postgres >/dev/null 2>&1 || skip "no postgres user to run initdb as"
    PG_DATA=$WORK/pgdata
    mkdir -p "$PG_DATA" && chown postgres "$PG_DATA" "$WORK"
    runuser -u postgres -- "$PG_BIN/initdb" -D "$PG_DATA" -U postgres -A trust -E UTF8 \
        --locale=C.UTF-8 >"$WORK/initdb.log" 2>&1 || { cat "$WORK/initdb.log"; skip "initdb failed"; }
    PGPORT=$(free_port)
    local opts="-c listen_addresses=127.0.0.1 -c port=$PGPORT -c unix_socket_directories=$WORK"
    opts="$opts -c wal_level=${PG_WAL_LEVEL:-logical} -c max_replication_slots=10 -c max_wal_senders=10"
    opts="$opts -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c lc_monetary=C"
    for o in "$@"; do opts="$opts -c $o"; done
    runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$PG_DATA" -o "$opts" -l "$WORK/pg.log" -w start \
        >/dev/null || { cat "$WORK/pg.log"; skip "PostgreSQL did not start"; }
    CLEANUPS+=("runuser -u postgres -- '$PG_BIN/pg_ctl' -D '$PG_DATA' -m immediate stop >/dev/null 2>&1")
    export PGHOST=127.0.0.1 PGPORT PGUSER=postgres PGDATABASE=postgres
    psql -qAt -c "CREATE DATABASE shop" >/dev/null
    export PGDATABASE=shop
}

sql() { psql -qAtX -v ON_ERROR_STOP=1 "$@"; }

# write_config FILE [extra yaml for the source] — a postgres -> files connector "shop".
write_pg_config() {
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
      type: files
      path: $WORK/out
      rotate: {max_records: ${ROTATE_RECORDS:-5000}, max_seconds: ${ROTATE_SECONDS:-1}}
      partition: hour
      compression: ${COMPRESSION:-none}
YAML
}

# Start sluice in the background; SLUICE_PID is set.
sluice_start() {
    "$SLUICE_BIN" run -c "$1" >>"$WORK/sluice.out" 2>>"$WORK/sluice.log" &
    SLUICE_PID=$!
}

sluice_stop() {
    kill -TERM "$SLUICE_PID" 2>/dev/null || true
    local rc=0
    wait "$SLUICE_PID" || rc=$?
    return $rc
}

# wait_for_marker TABLE_TOPIC_DIR VALUE [seconds]: wait until a file line contains VALUE.
wait_for_output() {
    local pattern=$1 secs=${2:-60} i
    for ((i=0; i<secs*10; i++)); do
        if grep -rqs --include='*.jsonl' -- "$pattern" "$WORK/out" 2>/dev/null; then return 0; fi
        if [ -n "${SLUICE_PID:-}" ] && ! kill -0 "$SLUICE_PID" 2>/dev/null; then
            tail -20 "$WORK/sluice.log"; fail "sluice exited while waiting for $pattern"
        fi
        sleep 0.1
    done
    tail -20 "$WORK/sluice.log"
    fail "timed out waiting for $pattern in the output"
}

# compare_tables DEST SCHEMA.TABLE...: each table equals the rows rebuilt from the output
# (reconstruct.py wrote DEST/<schema>.<table>.json); compared as jsonb, row for row.
compare_tables() {
    local dest=$1; shift
    local q t diff
    for q in "$@"; do
        local f="$dest/$q.json"
        t="\"${q%%.*}\".\"${q#*.}\""   # schema.table, split at the first dot, quoted
        [ -f "$f" ] || echo '[]' >"$f"
        chmod 644 "$f"
        diff=$(sql <<SQL
CREATE TEMP TABLE shadow AS SELECT * FROM $t WHERE false;
INSERT INTO shadow SELECT * FROM json_populate_recordset(NULL::$t, pg_read_file('$f')::json);
SELECT (SELECT count(*) FROM (SELECT to_jsonb(x) FROM $t x EXCEPT ALL
                              SELECT to_jsonb(y) FROM shadow y) a)
     + (SELECT count(*) FROM (SELECT to_jsonb(y) FROM shadow y EXCEPT ALL
                              SELECT to_jsonb(x) FROM $t x) b);
SQL
)
        if [ "$diff" != "0" ]; then
            sql <<SQL | head -20
CREATE TEMP TABLE shadow AS SELECT * FROM $t WHERE false;
INSERT INTO shadow SELECT * FROM json_populate_recordset(NULL::$t, pg_read_file('$f')::json);
SELECT 'db  ', to_jsonb(x) FROM (SELECT * FROM $t EXCEPT ALL SELECT * FROM shadow) x;
SELECT 'out ', to_jsonb(y) FROM (SELECT * FROM shadow EXCEPT ALL SELECT * FROM $t) y;
SQL
            fail "table $t differs from the output in $diff rows"
        fi
        note "table $t: $(sql -c "SELECT count(*) FROM $t") rows match the output"
    done
}

# wait_for_slot [name]: the worker has created its slot and is streaming from it.
wait_for_slot() {
    local slot=${1:-sluice_shop} i
    for ((i=0; i<300; i++)); do
        [ "$(sql -c "SELECT count(*) FROM pg_replication_slots WHERE slot_name = '$slot' AND active")" = 1 ] && return 0
        if [ -n "${SLUICE_PID:-}" ] && ! kill -0 "$SLUICE_PID" 2>/dev/null; then
            tail -20 "$WORK/sluice.log"; fail "sluice exited before streaming"
        fi
        sleep 0.1
    done
    fail "slot $slot never became active"
}

# first_event DIR TEXT: the first envelope under DIR, in stream order, that contains TEXT.
# (awk reads the files itself: no pipe for pipefail to trip on.)
first_event() {
    local files
    files=$(find "$1" -type f -name '*.jsonl' -printf '%f %p\n' | sort | cut -d' ' -f2)
    [ -n "$files" ] || return 0
    # shellcheck disable=SC2086
    awk -v p="$2" 'index($0, p) { print; exit }' $files
}

# my_start [extra mariadbd options...]: a private MariaDB with a ROW binlog and full row
# metadata, and a user cdc/cdcpw with the grants sluice needs. Sets MYPORT, MYSOCK, MY_DATA.
my_start() {
    command -v mariadbd >/dev/null 2>&1 || [ -x /usr/sbin/mariadbd ] \
        || skip "mariadbd not found (apt-get install mariadb-server)"
    command -v mariadb-install-db >/dev/null 2>&1 || skip "mariadb-install-db not found"
    local bin=$(command -v mariadbd || echo /usr/sbin/mariadbd)
    MY_DATA=$WORK/mydata
    MYSOCK=$WORK/my.sock
    mkdir -p "$MY_DATA"
    mariadb-install-db --no-defaults --datadir="$MY_DATA" --user=root \
        --auth-root-authentication-method=normal >"$WORK/my-install.log" 2>&1 \
        || { cat "$WORK/my-install.log"; skip "mariadb-install-db failed"; }
    MYPORT=$(free_port)
    "$bin" --no-defaults --datadir="$MY_DATA" --socket="$MYSOCK" --port="$MYPORT" \
        --bind-address=127.0.0.1 --log-bin="$MY_DATA/binlog" --binlog-format=ROW \
        --binlog-row-metadata=FULL --server-id=1 --character-set-server=utf8mb4 \
        --skip-name-resolve --user=root --pid-file="$WORK/my.pid" \
        --log-error="$WORK/my.log" --innodb-flush-log-at-trx-commit=2 --sync-binlog=0 \
        "$@" >/dev/null 2>&1 &
    MY_PID=$!
    CLEANUPS+=("kill $MY_PID 2>/dev/null; wait $MY_PID 2>/dev/null")
    local i
    for ((i=0; i<300; i++)); do
        mariadb --no-defaults -uroot -S "$MYSOCK" -e 'SELECT 1' >/dev/null 2>&1 && break
        kill -0 "$MY_PID" 2>/dev/null || { cat "$WORK/my.log"; skip "mariadbd did not start"; }
        sleep 0.1
    done
    [ $i -lt 300 ] || { cat "$WORK/my.log"; skip "mariadbd did not start in 30 s"; }
    my -e "CREATE USER cdc@'%' IDENTIFIED BY 'cdcpw';
           GRANT REPLICATION SLAVE, REPLICATION CLIENT, SELECT ON *.* TO cdc@'%';
           CREATE DATABASE shop CHARACTER SET utf8mb4;"
}

# my [mariadb client args...]: run SQL as root over the private socket.
my() { mariadb --no-defaults --default-character-set=utf8mb4 -uroot -S "$MYSOCK" --batch \
    --skip-column-names "$@"; }

# write_my_config FILE [extra yaml for the source] — a mysql -> files connector "shop".
write_my_config() {
    local file=$1; shift
    cat >"$file" <<YAML
worker:
  name: it
  data_dir: $WORK/var
  log_level: ${LOG_LEVEL:-info}
  http: ${HTTP_ADDR:-0}
connectors:
  - name: shop
    source:
      type: mysql
      host: 127.0.0.1
      port: $MYPORT
      user: cdc
      password: \${env:MYPW}
      server_id: 5401
      snapshot: ${MY_SNAPSHOT:-never}
      heartbeat: 1s
$(printf '%s\n' "$@" | sed 's/^/      /')
    sink:
      type: files
      path: $WORK/out
      rotate: {max_records: ${ROTATE_RECORDS:-5000}, max_seconds: ${ROTATE_SECONDS:-1}}
      partition: hour
      compression: ${COMPRESSION:-none}
YAML
    export MYPW=cdcpw
}

# wait_for_bookmark: the worker has stored its first bookmark (its start position).
wait_for_bookmark() {
    local i
    for ((i=0; i<300; i++)); do
        [ -n "$(ls "$WORK/var/bookmarks/" 2>/dev/null)" ] && return 0
        if [ -n "${SLUICE_PID:-}" ] && ! kill -0 "$SLUICE_PID" 2>/dev/null; then
            tail -20 "$WORK/sluice.log"; fail "sluice exited before storing a bookmark"
        fi
        sleep 0.1
    done
    tail -20 "$WORK/sluice.log"; fail "no bookmark stored after 30 s"
}

# compare_my_tables DEST DB.TABLE...: each MariaDB table equals the rows rebuilt from the
# output (reconstruct.py wrote DEST/<db>.<table>.json), row for row.
compare_my_tables() {
    python3 "$SLUICE_SOURCE_DIR/tests/integration/my_compare.py" "$MYSOCK" "$@" \
        || fail "tables differ from the output"
}
