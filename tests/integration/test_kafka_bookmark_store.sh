#!/usr/bin/env bash
# sluice integration: the Kafka bookmark store (bookmarks: {store: kafka}) with a files sink
# and nothing on disk: kill -9 restarts (every change present, per-key order, the bookmark
# documents in the compacted topic), offsets show/reset/set against it, a corrupt message
# under the connector's key stops the connector (exit 1), brokers down at start are waited
# for. librdkafka's mock cluster in its own process; kcat is the independent reader.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/kafka_lib.sh"
KILLS=${KILLS:-8}
TOPIC=it.__bookmarks   # <worker.name>.__bookmarks
kafka_start 3
pg_start

sql <<'SQL'
CREATE TABLE acct (id int PRIMARY KEY, v int NOT NULL, payload text);
CREATE TABLE evt (id bigserial PRIMARY KEY, k int, note text);
SQL
ROTATE_RECORDS=3000 ROTATE_SECONDS=1 write_pg_config "$WORK/shop.yaml"
echo "    bookmarks: {store: kafka, brokers: \"$BOOTSTRAP\"}" >>"$WORK/shop.yaml"
"$SLUICE_BIN" validate -c "$WORK/shop.yaml"

# no_disk_bookmark: the store keeps nothing under data_dir/bookmarks
no_disk_bookmark() {
    [ ! -e "$WORK/var/bookmarks" ] || { ls -la "$WORK/var/bookmarks"; fail "a bookmark file under data_dir: $(ls "$WORK/var/bookmarks")"; }
}
# kafka_bookmarks: every message of the bookmark topic as "key<TAB>value" lines (NULL for
# a tombstone), oldest first
kafka_bookmarks() {
    kcat -C -b "$BOOTSTRAP" -t "$TOPIC" -p 0 -o beginning -e -q -K '\t' -Z
}
# last_kafka_bookmark: the value of the last message keyed shop
last_kafka_bookmark() {
    kafka_bookmarks >"$WORK/bm.tsv"
    awk -F'\t' '$1 == "shop" { v = $2 } END { print v }' "$WORK/bm.tsv"
}
expect_exit() { # CODE TEXT -- command...: the command exits CODE and prints TEXT (stderr)
    local code=$1 text=$2 rc=0
    shift 3
    "$@" >"$WORK/expect.out" 2>&1 || rc=$?
    [ "$rc" = "$code" ] || { cat "$WORK/expect.out"; fail "expected exit $code, got $rc: $*"; }
    grep -qF -- "$text" "$WORK/expect.out" || { cat "$WORK/expect.out"; fail "no '$text' from: $*"; }
}

[ "$("$SLUICE_BIN" offsets show -c "$WORK/shop.yaml")" = '{"connector":"shop","bookmark":null}' ] \
    || fail "a bookmark before the first run"

# ---- phase 1: kill -9 the worker at random moments while ~30k changes stream
workload() {
    local r i
    for r in $(seq 0 5); do
        echo "BEGIN;"
        echo "INSERT INTO acct SELECT g, 0, md5(g::text) FROM generate_series($((r*3000+1)), $((r*3000+3000))) g;"
        echo "COMMIT;"
        echo "UPDATE acct SET v = v + 1 WHERE id % 10 = $r;"
        for i in $(seq 1 100); do
            echo "INSERT INTO evt (k, note) VALUES ($i, 'r$r');"
        done
        echo "UPDATE evt SET note = note || '+' WHERE k % 7 = $r;"
        echo "BEGIN;"
        echo "UPDATE acct SET v = v + 1 WHERE id <= $((r*3000+3000)) AND id % 3 = 0;"
        echo "DELETE FROM acct WHERE id % 97 = $r;"
        echo "COMMIT;"
        echo "SELECT pg_sleep(2);"
    done
    echo "UPDATE acct SET v = v + 1, payload = 'big';"
}
workload >"$WORK/workload.sql"
sluice_start "$WORK/shop.yaml"
wait_for_slot
psql -X -v ON_ERROR_STOP=1 -f "$WORK/workload.sql" >"$WORK/workload.out" 2>&1 &
WPID=$!
CLEANUPS+=("kill $WPID 2>/dev/null")
: >"$WORK/kill_bookmarks.txt"
kills=0
while [ $kills -lt "$KILLS" ]; do
    [ $kills = 0 ] || sluice_start "$WORK/shop.yaml"
    sleep "$(python3 -c 'import random; print(round(random.uniform(1.0, 2.5), 2))')"
    if ! kill -0 "$SLUICE_PID" 2>/dev/null; then
        tail -20 "$WORK/sluice.log"; fail "sluice died by itself"
    fi
    kill -9 "$SLUICE_PID"
    wait "$SLUICE_PID" 2>/dev/null || true
    no_disk_bookmark
    last_kafka_bookmark >>"$WORK/kill_bookmarks.txt"   # where the next start resumes
    kills=$((kills + 1))
done
note "killed sluice $kills times"
wait $WPID || { tail "$WORK/workload.out"; fail "workload failed"; }
sluice_start "$WORK/shop.yaml"
sql -c "INSERT INTO evt (k, note) VALUES (-1, 'marker')"
wait_for_output '"note":"marker"' 120
sleep 2   # a bookmark stored after the marker
sluice_stop || { tail -20 "$WORK/sluice.log"; fail "sluice did not stop cleanly"; }
no_disk_bookmark

expected=$(awk '/^(INSERT 0|UPDATE|DELETE) / {s += $NF} END {print s + 1}' "$WORK/workload.out")
python3 "$SLUICE_SOURCE_DIR/tests/integration/reconstruct.py" "$WORK/out" "$WORK/rebuilt" \
    | tee "$WORK/stats.json"
python3 - "$WORK/stats.json" "$expected" <<'PY'
import json, sys
s = json.load(open(sys.argv[1])); expected = int(sys.argv[2])
assert s["order_violations"] == 0, f"{s['order_violations']} per-key order violations"
assert s["events"] >= expected, f"{s['events']} events in the files, {expected} changes made"
# the file sink's replay skips complete files whatever the store: still exactly once
assert s["duplicates"] == 0, f"{s['duplicates']} duplicate events in the files"
print(f"crash test: {expected} changes, all present, per-key order kept")
PY
compare_tables "$WORK/rebuilt" public.acct public.evt

# the topic holds the bookmark documents, keyed by the connector, and they moved
kafka_bookmarks >"$WORK/bm.tsv"
python3 - "$WORK/bm.tsv" "$WORK/kill_bookmarks.txt" <<'PY'
import json, sys
docs = []
for line in open(sys.argv[1], encoding="utf-8"):
    key, _, val = line.rstrip("\n").partition("\t")
    assert key == "shop", f"a bookmark message keyed {key!r}"
    d = json.loads(val)
    assert set(d) >= {"lsn", "commit_lsn", "event", "schemas", "snapshot"}, d.keys()
    docs.append(d)
assert len(docs) >= 10, f"only {len(docs)} bookmark documents in the topic"
assert "public.acct" in docs[-1]["schemas"] and "public.evt" in docs[-1]["schemas"], docs[-1]
lsn = lambda d: tuple(int(x, 16) for x in d["lsn"].split("/"))
assert lsn(docs[-1]) > lsn(docs[0]), "the bookmark never moved"
at_kills = {l.strip() for l in open(sys.argv[2]) if l.strip()}
assert len(at_kills) >= 3, f"the bookmark moved only {len(at_kills)} times across the kills"
print(f"{len(docs)} bookmark documents in the topic, {len(at_kills)} distinct at the kills")
PY

# ---- phase 2: offsets show, reset (a tombstone), set
"$SLUICE_BIN" offsets show -c "$WORK/shop.yaml" >"$WORK/show.json"
[ "$(cat "$WORK/show.json")" = "$(last_kafka_bookmark)" ] || fail "offsets show is not the last message: $(cat "$WORK/show.json")"
pos=$(python3 -c 'import json,sys; d = json.load(open(sys.argv[1])); print(json.dumps({k: d[k] for k in ("lsn", "commit_lsn", "event")}, separators=(",", ":")))' "$WORK/show.json")
"$SLUICE_BIN" offsets reset -c "$WORK/shop.yaml"
[ "$(kafka_bookmarks | tail -1)" = "shop	NULL" ] || fail "reset wrote no tombstone: $(kafka_bookmarks | tail -1)"
[ "$("$SLUICE_BIN" offsets show -c "$WORK/shop.yaml")" = '{"connector":"shop","bookmark":null}' ] \
    || fail "a bookmark after the reset"
"$SLUICE_BIN" offsets set -c "$WORK/shop.yaml" --position "$pos" >/dev/null
"$SLUICE_BIN" offsets show -c "$WORK/shop.yaml" | grep -qF "${pos%\}}" || fail "offsets set did not store $pos"
no_disk_bookmark
note "offsets show, reset and set work on the Kafka store"

# ---- phase 3: a corrupt document under the connector's key stops the connector
printf 'shop|{"lsn": garbage\n' | kcat -P -b "$BOOTSTRAP" -t "$TOPIC" -p 0 -K '|'
sentence="bookmark of connector shop in Kafka topic $TOPIC (partition 0, offset"
expect_exit 1 "$sentence" -- "$SLUICE_BIN" offsets show -c "$WORK/shop.yaml"
expect_exit 1 "is corrupt" -- timeout 60 "$SLUICE_BIN" run -c "$WORK/shop.yaml"
grep -qF "$sentence" "$WORK/expect.out" || { cat "$WORK/expect.out"; fail "run did not name the corrupt bookmark"; }
grep -qF "it was left untouched" "$WORK/expect.out" || fail "no repair hint"
"$SLUICE_BIN" offsets set -c "$WORK/shop.yaml" --position "$pos" >/dev/null
note "a corrupt bookmark stops the connector with exit code 1"

# ---- phase 4: every broker down at start: retried until they answer, then streams
before=$(last_kafka_bookmark)
kafka_cmd down -1
: >"$WORK/sluice.log"
sluice_start "$WORK/shop.yaml"
sleep 12
kill -0 "$SLUICE_PID" 2>/dev/null || { tail -20 "$WORK/sluice.log"; fail "sluice gave up while the brokers were down"; }
grep -q "trying again in" "$WORK/sluice.log" || { tail -20 "$WORK/sluice.log"; fail "no retry while the brokers were down"; }
sql -c "INSERT INTO evt (k, note) VALUES (-2, 'after the outage')"
kafka_cmd up -1
note "brokers up again"
wait_for_output '"note":"after the outage"' 120
sleep 2
sluice_stop || { tail -20 "$WORK/sluice.log"; fail "sluice did not stop cleanly after the outage"; }
after=$(last_kafka_bookmark)
[ "$after" != "$before" ] || fail "no bookmark stored after the outage"
no_disk_bookmark
echo "PASS: $kills kill -9 restarts with the Kafka store, offsets show/reset/set, corrupt bookmark refused, brokers down at start waited for"
