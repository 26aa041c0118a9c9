#!/usr/bin/env bash
# sluice integration: bad input ends in one clear sentence and the right exit code, with
# nothing written to the bookmark; secrets never appear in any output.
source "$(dirname "$0")/lib.sh"
pg_start
sql -c "CREATE TABLE t (id int PRIMARY KEY, v text)"
SENTINEL='S3cr3t-Sentinel-9f8e'
export SLUICE_TEST_SECRET=$SENTINEL

expect() { # expect CODE PATTERN -- command...
    local code=$1 pattern=$2; shift 3
    local out rc=0
    out=$("$@" 2>&1) || rc=$?
    echo "$out" | sed 's/^/    | /'
    [ "$rc" = "$code" ] || fail "exit code $rc, expected $code: $*"
    echo "$out" | grep -q -- "$pattern" || fail "output lacks '$pattern'"
    if echo "$out" | grep -q -- "$SENTINEL"; then fail "the secret was printed"; fi
}
no_bookmark() {
    [ ! -e "$WORK/var/bookmarks/shop.json" ] || fail "a bookmark was written"
}

note "a typo in a key"
write_pg_config "$WORK/typo.yaml" "password: \${env:SLUICE_TEST_SECRET}"
sed -i 's/^      port:/      prot:/' "$WORK/typo.yaml"
expect 2 "typo.yaml:[0-9]*.*prot" -- "$SLUICE_BIN" validate -c "$WORK/typo.yaml"
expect 2 "prot" -- "$SLUICE_BIN" run -c "$WORK/typo.yaml"

note "a secret in a key of the wrong type"
write_pg_config "$WORK/wrongtype.yaml"
sed -i 's/^      port:.*/      port: ${env:SLUICE_TEST_SECRET}/' "$WORK/wrongtype.yaml"
expect 2 "port" -- "$SLUICE_BIN" validate -c "$WORK/wrongtype.yaml"

note "an unreadable \${file:}"
write_pg_config "$WORK/nofile.yaml" "password: \${file:$WORK/no-such-secret}"
expect 2 "no-such-secret" -- "$SLUICE_BIN" validate -c "$WORK/nofile.yaml"

note "a missing publication that sluice may not create"
write_pg_config "$WORK/nopub.yaml" "create_publication: false" "password: \${env:SLUICE_TEST_SECRET}"
expect 1 'publication "sluice_shop" does not exist' -- "$SLUICE_BIN" run -c "$WORK/nopub.yaml"
expect 1 "publication sluice_shop does not exist" -- "$SLUICE_BIN" check -c "$WORK/nopub.yaml"
no_bookmark

note "a missing slot that sluice may not create"
write_pg_config "$WORK/noslot.yaml" "create_slot: false"
expect 1 'slot "sluice_shop" does not exist' -- "$SLUICE_BIN" run -c "$WORK/noslot.yaml"
no_bookmark

note "check on a good set-up"
write_pg_config "$WORK/good.yaml" "password: \${env:SLUICE_TEST_SECRET}"
expect 0 "wal_level=logical" -- "$SLUICE_BIN" check -c "$WORK/good.yaml"

note "the slot in use by another worker"
sluice_start "$WORK/good.yaml"
for i in $(seq 50); do
    [ "$(sql -c "SELECT count(*) FROM pg_replication_slots WHERE active")" = 1 ] && break
    sleep 0.2
done
expect 1 "in use by another process" -- "$SLUICE_BIN" run -c "$WORK/good.yaml"
sluice_stop
if grep -q -- "$SENTINEL" "$WORK/sluice.log"; then fail "the secret is in the log"; fi

note "a corrupt bookmark is refused and left untouched"
printf '{"lsn": "0/1' >"$WORK/var/bookmarks/shop.json"
cp "$WORK/var/bookmarks/shop.json" "$WORK/corrupt.copy"
expect 1 "corrupt" -- "$SLUICE_BIN" run -c "$WORK/good.yaml"
cmp "$WORK/var/bookmarks/shop.json" "$WORK/corrupt.copy" || fail "the corrupt bookmark was changed"

note "a slot that is gone while a bookmark exists"
"$SLUICE_BIN" offsets set -c "$WORK/good.yaml" --connector shop \
    --position '{"lsn":"0/1000","commit_lsn":"0/1000","event":"done"}' >/dev/null
sql -c "SELECT pg_drop_replication_slot('sluice_shop')" >/dev/null
expect 1 "is gone but the bookmark is at 0/1000" -- "$SLUICE_BIN" run -c "$WORK/good.yaml"
expect 1 "missing although a bookmark exists" -- "$SLUICE_BIN" check -c "$WORK/good.yaml"

note "the same with snapshot: when_needed: a new slot and a new snapshot"
sql -c "INSERT INTO t VALUES (42, 'kept')" >/dev/null
write_pg_config "$WORK/renew.yaml" "password: \${env:SLUICE_TEST_SECRET}" "snapshot: when_needed"
sluice_start "$WORK/renew.yaml"
wait_for_output '"v":"kept"' 30
sluice_stop || fail "sluice did not stop cleanly"
grep -q "when_needed creates it again and takes a new snapshot" "$WORK/sluice.log" \
    || fail "no new snapshot in the log"
grep -rqs --include='*.jsonl' '"op":"r".*"v":"kept"\|"v":"kept".*"op":"r"' "$WORK/out" \
    || fail "the row is not in the new snapshot"
note "a snapshot in the bookmark names a table that was dropped since: skipped"
python3 - "$WORK/var/bookmarks/shop.json" public.gone <<'PY'
import json, sys
p, table = sys.argv[1], sys.argv[2]
d = json.load(open(p))
d["snapshot"] = {"phase": "incremental", "rows": 0, "estimate": 0,
                 "tables": [{"table": table, "rows": 0, "done": False}]}
open(p, "w").write(json.dumps(d))
PY
sluice_start "$WORK/renew.yaml"
for i in $(seq 1 200); do grep -q '"snapshot":null' "$WORK/var/bookmarks/shop.json" && break; sleep 0.1; done
sluice_stop || fail "sluice did not stop cleanly"
grep -q "public.gone no longer exists; it is skipped" "$WORK/sluice.log" || fail "the dropped table was not skipped"
grep -q '"snapshot":null' "$WORK/var/bookmarks/shop.json" || fail "the snapshot did not end"
sql -c "SELECT pg_drop_replication_slot('sluice_shop')" >/dev/null

note "wal_level=replica"
runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$PG_DATA" -m fast stop >/dev/null
rm -rf "$WORK/var"
opts="-c listen_addresses=127.0.0.1 -c port=$PGPORT -c unix_socket_directories=$WORK -c wal_level=replica"
runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$PG_DATA" -o "$opts" -l "$WORK/pg.log" -w start >/dev/null
expect 1 "wal_level=replica" -- "$SLUICE_BIN" run -c "$WORK/good.yaml"
expect 1 "set wal_level=logical" -- "$SLUICE_BIN" check -c "$WORK/good.yaml"
no_bookmark
echo "PASS: every bad input gave a clear sentence"
