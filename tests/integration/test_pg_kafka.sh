#!/usr/bin/env bash
# sluice integration: PostgreSQL -> Kafka (librdkafka's mock cluster in its own process),
# read back with kcat: tables rebuilt row for row, Java partitions, tombstones, schemas;
# all brokers down mid-stream (nothing lost, no ack past undelivered records), then kill -9
# the worker at least 20 times (at-least-once; duplicates only after a stored bookmark).
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/kafka_lib.sh"
DOWN_SECS=${DOWN_SECS:-30}
KILLS=${KILLS:-22}
kafka_start 3
# the busy tables get more partitions than the mock's 4: room for the whole stream
kafka_topic shop.public.acct 16
kafka_topic shop.public.evt 8
pg_start

sql <<'SQL'
CREATE TABLE acct (id int PRIMARY KEY, v int NOT NULL, payload text);
CREATE TABLE evt (id bigserial PRIMARY KEY, k int, note text);
CREATE TABLE "Odd.Name" (k text PRIMARY KEY, v int);
CREATE TABLE no_key (a int, b text);
ALTER TABLE no_key REPLICA IDENTITY FULL;
CREATE TABLE later (id int PRIMARY KEY, a int);
SQL
write_pg_kafka_config "$WORK/shop.yaml"
"$SLUICE_BIN" validate -c "$WORK/shop.yaml"
sluice_start "$WORK/shop.yaml"
wait_for_slot

# psql prints a command tag per statement; the expected event count is their sum
run_sql() { psql -X -v ON_ERROR_STOP=1 -f "$1" >>"$WORK/workload.out" 2>&1 || { cat "$WORK/workload.out"; fail "workload $1 failed"; }; }
expected() { awk '/^(INSERT 0|UPDATE|DELETE) / {s += $NF} /^TRUNCATE TABLE/ {s += 1} END {print s + 0}' "$WORK/workload.out"; }

# ---- phase 1: a mixed workload, with every broker down for DOWN_SECS in the middle
cat >"$WORK/a.sql" <<'SQL'
INSERT INTO acct SELECT g, 0, md5(g::text) FROM generate_series(1, 5000) g;
UPDATE acct SET v = v + 1 WHERE id % 3 = 0;
DELETE FROM acct WHERE id % 7 = 0;
BEGIN;
INSERT INTO "Odd.Name" VALUES ('a/../b', 1), ('..', 2), ('%2E', 3), ('ü', 4);
UPDATE "Odd.Name" SET v = v + 10;
DELETE FROM "Odd.Name" WHERE k = '..';
COMMIT;
INSERT INTO no_key VALUES (1, 'a'), (2, 'b'), (1, 'a');
DELETE FROM no_key WHERE b = 'b';
INSERT INTO later VALUES (1, 1);
ALTER TABLE later ADD COLUMN b text;
INSERT INTO later VALUES (2, 2, 'two');
SQL
cat >"$WORK/b.sql" <<'SQL'
INSERT INTO evt (k, note) SELECT g % 100, 'down' FROM generate_series(1, 3000) g;
UPDATE acct SET v = v + 1, payload = 'while down' WHERE id % 5 = 0;
DELETE FROM acct WHERE id % 11 = 0;
UPDATE later SET b = 'one' WHERE id = 1;
SQL
cat >"$WORK/c.sql" <<'SQL'
TRUNCATE later;
INSERT INTO later VALUES (3, 3, 'three');
INSERT INTO no_key VALUES (3, 'c');
UPDATE evt SET note = 'up again' WHERE k % 9 = 0;
INSERT INTO evt (k, note) VALUES (-1, 'marker1');
SQL
run_sql "$WORK/a.sql"
wait_for_kafka shop.public.later '"b":"two"' 60
kafka_cmd down -1
note "all brokers down for $DOWN_SECS s"
run_sql "$WORK/b.sql"
sleep "$DOWN_SECS"
kill -0 "$SLUICE_PID" 2>/dev/null || { tail -20 "$WORK/sluice.log"; fail "sluice died while the brokers were down"; }
bookmark_pos >"$WORK/bm_down.txt"   # checked below against the first record sent while down
kafka_cmd up -1
note "brokers up again"
run_sql "$WORK/c.sql"
wait_for_kafka shop.public.evt marker1 120
sluice_stop || { tail -20 "$WORK/sluice.log"; fail "sluice did not stop cleanly"; }
grep -q "bookmark committed" "$WORK/sluice.log" || fail "no final commit in the log"

kafka_dump "$WORK/dump1" shop.
python3 "$SLUICE_SOURCE_DIR/tests/integration/reconstruct.py" --kafka "$WORK/dump1" \
    "$WORK/rebuilt1" | tee "$WORK/stats1.json"
python3 - "$WORK/stats1.json" "$(expected)" <<'PY'
import json, sys
s = json.load(open(sys.argv[1])); expected = int(sys.argv[2])
assert s["events"] == expected, f"{s['events']} events in Kafka, {expected} changes made"
assert s["duplicates"] == 0, f"{s['duplicates']} duplicates without any crash"
assert s["order_violations"] == 0, s
assert s["partition_violations"] == 0, "keys not in their Java murmur2 partition"
assert s["missing_tombstones"] == 0 and s["stray_tombstones"] == 0, s
assert s["tombstones"] == s["ops"]["d"] - 1, s  # the keyless delete gets none
assert s["ops"].get("t") == 1, s
print(f"phase 1: {expected} changes, all in Kafka once, {s['tombstones']} tombstones")
PY
# while the brokers were down the bookmark stayed before the first record they never had
python3 - "$WORK/dump1/shop.public.evt.jsonl" "$WORK/bm_down.txt" <<'PY'
import json, sys
first = min(tuple(int(x) for x in (e["transaction"]["id"].split(":")[1], e["transaction"]["total_order"]))
            for m in map(json.loads, open(sys.argv[1])) if m["payload"]
            for e in [json.loads(m["payload"])] if e["after"] and e["after"]["note"] == "down")
bm = open(sys.argv[2]).read().split()
if bm:
    hi, lo = bm[0].split("/")
    pos = ((int(hi, 16) << 32) | int(lo, 16), 1 << 62 if bm[1] == "done" else int(bm[1]))
    assert pos < first, f"bookmark {bm} stored past {first}, which Kafka did not have yet"
print(f"bookmark during the outage: {bm}, first record sent while down at {first}")
PY
compare_tables "$WORK/rebuilt1" public.acct public.evt public.Odd.Name public.no_key public.later
grep -q '"key":"public.later:v2"' "$WORK/dump1/shop.__schemas.jsonl" || fail "no v2 schema of the altered table"
[ -f "$WORK/dump1/shop.public.Odd.Name.jsonl" ] || fail "no topic for the dotted table name"

# ---- phase 2: kill -9 the worker at random moments while ~60k changes stream
workload() {
    local r i
    for r in $(seq 0 7); do
        echo "BEGIN;"
        echo "INSERT INTO acct SELECT g, 0, md5(g::text) FROM generate_series($((10000 + r*3000 + 1)), $((10000 + r*3000 + 3000))) g;"
        echo "COMMIT;"
        echo "UPDATE acct SET v = v + 1 WHERE id % 10 = $r;"
        for i in $(seq 1 100); do
            echo "INSERT INTO evt (k, note) VALUES ($i, 'r$r');"
        done
        echo "UPDATE evt SET note = note || '+' WHERE k % 7 = $r;"
        echo "BEGIN;"
        echo "UPDATE acct SET v = v + 1 WHERE id % 3 = 0 AND id > 10000;"
        echo "DELETE FROM acct WHERE id % 97 = $r;"
        echo "COMMIT;"
        echo "SELECT pg_sleep(2);"
    done
    echo "UPDATE acct SET v = v + 1, payload = 'big';"
}
workload >"$WORK/crash.sql"
: >"$WORK/bookmarks.txt"
sluice_start "$WORK/shop.yaml"
wait_for_slot
psql -X -v ON_ERROR_STOP=1 -f "$WORK/crash.sql" >>"$WORK/workload.out" 2>&1 &
WPID=$!
CLEANUPS+=("kill $WPID 2>/dev/null")
kills=0
while [ $kills -lt "$KILLS" ]; do
    [ $kills = 0 ] || sluice_start "$WORK/shop.yaml"
    sleep "$(python3 -c 'import random; print(round(random.uniform(0.4, 1.6), 2))')"
    if ! kill -0 "$SLUICE_PID" 2>/dev/null; then
        tail -20 "$WORK/sluice.log"; fail "sluice died by itself"
    fi
    kill -9 "$SLUICE_PID"
    wait "$SLUICE_PID" 2>/dev/null || true
    bookmark_pos >>"$WORK/bookmarks.txt"   # where the next start resumes
    kills=$((kills + 1))
done
note "killed sluice $kills times"
wait $WPID || { tail "$WORK/workload.out"; fail "workload failed"; }
sluice_start "$WORK/shop.yaml"
sql -c "INSERT INTO evt (k, note) VALUES (-2, 'marker2')"
wait_for_kafka shop.public.evt marker2 180
sluice_stop || { tail -20 "$WORK/sluice.log"; fail "sluice did not stop cleanly"; }

kafka_dump "$WORK/dump2" shop.
python3 "$SLUICE_SOURCE_DIR/tests/integration/reconstruct.py" --kafka "$WORK/dump2" \
    "$WORK/rebuilt2" "$WORK/bookmarks.txt" | tee "$WORK/stats2.json"
python3 - "$WORK/stats2.json" "$(($(expected) + 1))" <<'PY'
import json, sys
s = json.load(open(sys.argv[1])); expected = int(sys.argv[2])
assert s["events"] == expected, f"{s['events']} distinct events in Kafka, {expected} changes made"
assert s["duplicates_before_bookmark"] == 0, \
    f"{s['duplicates_before_bookmark']} duplicates at or before a stored bookmark"
assert s["order_violations"] == 0, s
assert s["partition_violations"] == 0, s
assert s["missing_tombstones"] == 0, s
print(f"phase 2: {s['kills']} kills, {expected} changes all present, "
      f"{s['duplicates']} duplicates, all after a stored bookmark")
PY
compare_tables "$WORK/rebuilt2" public.acct public.evt public.Odd.Name public.no_key public.later
echo "PASS: PostgreSQL -> Kafka: brokers down ${DOWN_SECS}s and $kills kill -9 restarts, nothing lost"
