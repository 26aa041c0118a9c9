#!/usr/bin/env bash
# sluice integration: a MariaDB that cannot serve sluice ends in one clear sentence and the
# right exit code: binlog_format=STATEMENT (check and run), a bookmark whose binlog file
# was purged (resumed by GTID when nothing after it was lost, else refused by check and
# run), a wrong password (never printed).
source "$(dirname "$0")/lib.sh"
my_start
my shop -e "CREATE TABLE t (id int PRIMARY KEY, v varchar(20))"

expect() { # expect CODE PATTERN -- command...
    local code=$1 pattern=$2; shift 3
    local out rc=0
    out=$("$@" 2>&1) || rc=$?
    echo "$out" | sed 's/^/    | /'
    [ "$rc" = "$code" ] || fail "exit code $rc, expected $code: $*"
    echo "$out" | grep -q -- "$pattern" || fail "output lacks '$pattern'"
    if echo "$out" | grep -q -- "cdcpw\|S3cr3t"; then fail "the password was printed"; fi
}

write_my_config "$WORK/shop.yaml"

note "binlog_format=STATEMENT"
my -e "SET GLOBAL binlog_format = 'STATEMENT'"
expect 1 'FAIL: binlog_format=STATEMENT; sluice needs ROW (SET GLOBAL binlog_format=ROW and in my.cnf)' \
    -- "$SLUICE_BIN" check -c "$WORK/shop.yaml"
expect 1 'binlog_format is STATEMENT; sluice needs ROW (SET GLOBAL binlog_format=ROW and in my.cnf)' \
    -- "$SLUICE_BIN" run -c "$WORK/shop.yaml"
[ ! -e "$WORK/var/bookmarks/shop.json" ] || fail "a bookmark was written"
my -e "SET GLOBAL binlog_format = 'ROW'"

note "a wrong password"
MYPW=S3cr3t-wrong expect 1 'Access denied' -- "$SLUICE_BIN" run -c "$WORK/shop.yaml"

# purge_until FILE [TO]: PURGE BINARY LOGS TO the file TO (default the newest) until FILE
# is gone (the server keeps a file until its transactions are checkpointed in InnoDB).
purge_until() {
    local i newest
    for ((i=0; i<100; i++)); do
        newest=${2:-$(my -e "SHOW MASTER STATUS" | cut -f1)}
        my -e "PURGE BINARY LOGS TO '$newest'"
        my -e "SHOW BINARY LOGS" | cut -f1 | grep -qx "$1" || return 0
        sleep 0.2
    done
    fail "the server kept $1"
}

note "a bookmark whose binlog file was purged with nothing after it: resumed by GTID"
sluice_start "$WORK/shop.yaml"
wait_for_bookmark
my shop -e "INSERT INTO t VALUES (1, 'one')"
wait_for_output '"v":"one"' 30
sluice_stop || fail "sluice did not stop cleanly"
bm=$("$SLUICE_BIN" offsets show -c "$WORK/shop.yaml" --connector shop)
[[ "$bm" == *'"file":"binlog.000001"'* && "$bm" == *'"gtid_set":"0-1-'* ]] || fail "unexpected bookmark $bm"
my shop -e "FLUSH LOGS; INSERT INTO t VALUES (2, 'two'); FLUSH LOGS"
purge_until binlog.000001 binlog.000002 # 'two', in binlog.000002, stays
expect 0 "ok:   bookmark binlog.000001:[0-9]*: the file was purged, but nothing after the bookmark's GTID state 0-1-[0-9]* was" \
    -- "$SLUICE_BIN" check -c "$WORK/shop.yaml"
sluice_start "$WORK/shop.yaml"
wait_for_output '"v":"two"' 30
sluice_stop || fail "sluice did not stop cleanly"
grep -q "resuming from the bookmark's GTID state" "$WORK/sluice.log" || fail "no GTID resume in the log"
[ "$(cat $(find "$WORK/out" -name '*.jsonl') | grep -c '"op":"c"')" = 2 ] || fail "expected 'one' and 'two' once each"

note "a bookmark whose changes were purged: refused"
my shop -e "INSERT INTO t VALUES (3, 'three')"   # sluice is stopped: not delivered
bm=$("$SLUICE_BIN" offsets show -c "$WORK/shop.yaml" --connector shop)
gone=$(my -e "SHOW MASTER STATUS" | cut -f1)
my -e "FLUSH LOGS"
purge_until "$gone"
expect 1 "FAIL: bookmark binlog.[0-9]*:[0-9]* is gone: the binlog file was purged" \
    -- "$SLUICE_BIN" check -c "$WORK/shop.yaml"
expect 1 "is no longer on the server, and the oldest file binlog.[0-9]* starts at GTID state 0-1-[0-9]*, past the bookmark's 0-1-[0-9]*: the changes in between were purged.*sluice offsets reset" \
    -- "$SLUICE_BIN" run -c "$WORK/shop.yaml"
[[ "$("$SLUICE_BIN" offsets show -c "$WORK/shop.yaml" --connector shop)" == "$bm" ]] \
    || fail "the refused run moved the bookmark"

note "the same purged bookmark with snapshot: when_needed: a new snapshot instead"
sed -i 's/snapshot: never/snapshot: when_needed/' "$WORK/shop.yaml"
sluice_start "$WORK/shop.yaml"
for i in $(seq 1 200); do
    grep -q '"snapshot":null' "$WORK/var/bookmarks/shop.json" && ! grep -q "$bm" \
        <(cat "$WORK/var/bookmarks/shop.json") && break
    sleep 0.1
done
my shop -e "INSERT INTO t VALUES (4, 'four')"
wait_for_output '"v":"four"' 30
sluice_stop || fail "sluice did not stop cleanly"
grep -q "snapshot: when_needed takes a new snapshot" "$WORK/sluice.log" || fail "no new snapshot"
r3=$(cat $(find "$WORK/out" -name '*.jsonl') | grep '"op":"r"' | grep -c '"v":"three"')
[ "$r3" = 1 ] || fail "the purged change 'three' is not in the new snapshot ($r3 times)"

note "a snapshot in the bookmark names a table that was dropped since: skipped"
python3 - "$WORK/var/bookmarks/shop.json" shop.gone <<'PY'
import json, sys
p, table = sys.argv[1], sys.argv[2]
d = json.load(open(p))
d["snapshot"] = {"phase": "incremental", "rows": 0, "estimate": 0,
                 "tables": [{"table": table, "rows": 0, "done": False}]}
open(p, "w").write(json.dumps(d))
PY
sluice_start "$WORK/shop.yaml"
for i in $(seq 1 200); do grep -q "shop.gone no longer exists" "$WORK/sluice.log" && break; sleep 0.1; done
# the finished plan is stored with the next bookmark: a quiet server's next change
my shop -e "INSERT INTO t VALUES (5, 'five')"
for i in $(seq 1 200); do grep -q '"snapshot":null' "$WORK/var/bookmarks/shop.json" && break; sleep 0.1; done
sluice_stop || fail "sluice did not stop cleanly"
grep -q "shop.gone no longer exists; it is skipped" "$WORK/sluice.log" || fail "the dropped table was not skipped"
grep -q '"snapshot":null' "$WORK/var/bookmarks/shop.json" || fail "the snapshot did not end"
note "more GTID domains than a bookmark keeps: no GTID state in it, never an older one"
sluice_start "$WORK/shop.yaml"
for ((d = 1; d <= 40; d++)); do
    echo "SET SESSION gtid_domain_id = $d; INSERT INTO t VALUES ($((100 + d)), 'domain $d');"
done | my shop
my shop -e "INSERT INTO t VALUES (200, 'after the domains')"
wait_for_output '"v":"after the domains"' 30
sluice_stop || fail "sluice did not stop cleanly"
bm=$("$SLUICE_BIN" offsets show -c "$WORK/shop.yaml" --connector shop)
[[ "$bm" != *'"gtid_set"'* ]] || fail "the bookmark claims a GTID state it cannot hold: $bm"
echo "PASS: bad MariaDB settings and a purged bookmark are refused with a clear sentence"
