#!/usr/bin/env bash
# sluice integration: kill -9 the worker at random moments (at least 20 times) while a
# ~100k-change workload runs; afterwards every change is in the files exactly once, in
# per-key order, and the rebuilt tables equal the database.
source "$(dirname "$0")/lib.sh"
pg_start
KILLS=${KILLS:-25}

sql <<'SQL'
CREATE TABLE acct (id int PRIMARY KEY, v int NOT NULL, payload text);
CREATE TABLE evt (id bigserial PRIMARY KEY, k int, note text);
SQL
ROTATE_RECORDS=3000 ROTATE_SECONDS=1 write_pg_config "$WORK/shop.yaml"

# The workload counts the rows each statement changed (psql's command tags).
workload() {
    local r
    for r in $(seq 0 9); do
        echo "BEGIN;"
        echo "INSERT INTO acct SELECT g, 0, md5(g::text) FROM generate_series($((r*3000+1)), $((r*3000+3000))) g;"
        echo "COMMIT;"
        echo "UPDATE acct SET v = v + 1 WHERE id % 10 = $r;"
        local i
        for i in $(seq 1 150); do
            echo "INSERT INTO evt (k, note) VALUES ($i, 'r$r');"
        done
        echo "UPDATE evt SET note = note || '+' WHERE k % 7 = $r;"
        echo "BEGIN;"
        echo "UPDATE acct SET v = v + 1 WHERE id <= $((r*3000+3000)) AND id % 3 = 0;"
        echo "DELETE FROM acct WHERE id % 97 = $r;"
        echo "COMMIT;"
        echo "SELECT pg_sleep(2);"
    done
    # one large transaction, so that kills land in the middle of it
    echo "UPDATE acct SET v = v + 1, payload = 'big';"
}
workload >"$WORK/workload.sql"
# the slot must exist before the first change, or that change is not in the stream at all
sluice_start "$WORK/shop.yaml"
wait_for_slot
psql -X -v ON_ERROR_STOP=1 -f "$WORK/workload.sql" >"$WORK/workload.out" 2>&1 &
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
wait $WPID || { cat "$WORK/workload.out"; fail "workload failed"; }
note "workload finished"

sluice_start "$WORK/shop.yaml"
sql -c "INSERT INTO evt (k, note) VALUES (-1, 'marker')"
wait_for_output '"note":"marker"' 120
sluice_stop || fail "sluice did not stop cleanly"

expected=$(awk '/^(INSERT 0|UPDATE|DELETE) / {s += $NF} END {print s + 1}' "$WORK/workload.out")
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
compare_tables "$WORK/rebuilt" public.acct public.evt
[ -z "$(find "$WORK/out" -name '.*.tmp')" ] || fail "temporary files left after a clean stop"
echo "PASS: $kills kill -9 restarts, nothing lost, nothing duplicated"
