#!/usr/bin/env bash
# sluice integration: kill -9 the worker at random moments (at least 20 times) while a
# ~100k-change MariaDB workload runs (with binlog rotations); afterwards every change is in
# the files exactly once, in per-key order, and the rebuilt tables equal the database.
source "$(dirname "$0")/lib.sh"
my_start
KILLS=${KILLS:-25}

my shop <<'SQL'
CREATE TABLE acct (id int PRIMARY KEY, v int NOT NULL, payload varchar(40));
CREATE TABLE evt (id bigint PRIMARY KEY AUTO_INCREMENT, k int, note varchar(200));
SQL
ROTATE_RECORDS=3000 ROTATE_SECONDS=1 write_my_config "$WORK/shop.yaml"

# The workload's client runs with -vvv, so each statement reports the rows it changed.
workload() {
    local r i
    for r in $(seq 0 9); do
        echo "BEGIN;"
        echo "INSERT INTO acct SELECT seq, 0, MD5(seq) FROM seq_$((r*3000+1))_to_$((r*3000+3000));"
        echo "COMMIT;"
        echo "UPDATE acct SET v = v + 1 WHERE id % 10 = $r;"
        for i in $(seq 1 150); do
            echo "INSERT INTO evt (k, note) VALUES ($i, 'r$r');"
        done
        echo "UPDATE evt SET note = CONCAT(note, '+') WHERE k % 7 = $r;"
        echo "BEGIN;"
        echo "UPDATE acct SET v = v + 1 WHERE id <= $((r*3000+3000)) AND id % 3 = 0;"
        echo "DELETE FROM acct WHERE id % 97 = $r;"
        echo "COMMIT;"
        [ $((r % 3)) = 1 ] && echo "FLUSH LOGS;"
        echo "SELECT SLEEP(2);"
    done
    # one large transaction, so that kills land in the middle of it
    echo "UPDATE acct SET v = v + 1, payload = 'big';"
}
workload >"$WORK/workload.sql"
# the first bookmark holds the start position: without it a restart would start later
sluice_start "$WORK/shop.yaml"
wait_for_bookmark
my -vvv shop <"$WORK/workload.sql" >"$WORK/workload.out" 2>&1 &
WPID=$!
CLEANUPS+=("kill $WPID 2>/dev/null")

kills=0
while [ $kills -lt "$KILLS" ]; do
    [ $kills = 0 ] || sluice_start "$WORK/shop.yaml"
    sleep "$(python3 -c 'import random; print(round(random.uniform(0.3, 1.6), 2))')"
    if ! kill -0 "$SLUICE_PID" 2>/dev/null; then
        tail -20 "$WORK/sluice.log"; fail "sluice died by itself"
    fi
    kill -9 "$SLUICE_PID"
    wait "$SLUICE_PID" 2>/dev/null || true
    kills=$((kills + 1))
done
note "killed sluice $kills times"
wait $WPID || { tail -20 "$WORK/workload.out"; fail "workload failed"; }
note "workload finished"

sluice_start "$WORK/shop.yaml"
my shop -e "INSERT INTO evt (k, note) VALUES (-1, 'marker')"
wait_for_output '"note":"marker"' 120
# a dropped replication connection: the worker reconnects by itself and skips what it
# already handed over
dump=$(my -e "SELECT ID FROM information_schema.PROCESSLIST WHERE COMMAND = 'Binlog Dump'")
[ -n "$dump" ] || fail "no binlog dump thread on the server"
my -e "KILL $dump"
my shop -e "INSERT INTO evt (k, note) VALUES (-2, 'marker2')"
wait_for_output '"note":"marker2"' 120
grep -q "reconnecting" "$WORK/sluice.log" || fail "the dropped connection was not noticed"
sluice_stop || fail "sluice did not stop cleanly"

expected=$(grep -Eo 'Query OK, [0-9]+ rows? affected' "$WORK/workload.out" \
           | awk '{s += $3} END {print s + 2}')
python3 "$SLUICE_SOURCE_DIR/tests/integration/reconstruct.py" "$WORK/out" "$WORK/rebuilt" \
    | tee "$WORK/stats.json"
python3 - "$WORK/stats.json" "$expected" <<'PY'
import json, sys
s = json.load(open(sys.argv[1])); expected = int(sys.argv[2])
assert s["duplicates"] == 0, f"{s['duplicates']} duplicate events in the files"
assert s["order_violations"] == 0, f"{s['order_violations']} per-key order violations"
assert s["events"] == expected, f"{s['events']} events in the files, {expected} changes made"
print(f"crash test: {expected} changes, each exactly once, per-key order kept")
PY
compare_my_tables "$WORK/rebuilt" shop.acct shop.evt
[ -z "$(find "$WORK/out" -name '.*.tmp')" ] || fail "temporary files left after a clean stop"
echo "PASS: $kills kill -9 restarts and a dropped connection, nothing lost, nothing duplicated"
