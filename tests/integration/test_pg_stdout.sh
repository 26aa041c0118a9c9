#!/usr/bin/env bash
# sluice integration: the stdout sink (one envelope per line, for jq) with JSON logs, and
# a dropped replication connection that sluice must survive without losing a change.
source "$(dirname "$0")/lib.sh"
pg_start
sql -c "CREATE TABLE t (id int PRIMARY KEY, v text)"
cat >"$WORK/cli.yaml" <<YAML
worker: {data_dir: $WORK/var, log_format: json}
connectors:
  - name: cli
    source: {type: postgres, host: 127.0.0.1, port: $PGPORT, user: postgres, database: shop,
             snapshot: never}
    sink: {type: stdout}
YAML
"$SLUICE_BIN" run -c "$WORK/cli.yaml" >"$WORK/stdout.jsonl" 2>"$WORK/sluice.log" &
SLUICE_PID=$!
wait_for_slot sluice_cli
sql -c "INSERT INTO t SELECT g, 'v' || g FROM generate_series(1, 500) g"
for i in 1 2 3; do
    # cut the replication connection under it: sluice reconnects and resumes
    sql -c "SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots WHERE slot_name = 'sluice_cli'" >/dev/null
    sql -c "UPDATE t SET v = v || '+$i' WHERE id % 5 = $i"
    sleep 0.5
done
sql -c "DELETE FROM t WHERE id > 400"
for i in $(seq 100); do
    [ "$(grep -c '"op":"d"' "$WORK/stdout.jsonl" || true)" = 100 ] && break
    sleep 0.2
done
kill -TERM $SLUICE_PID; wait $SLUICE_PID || fail "sluice did not stop cleanly"
jq -e . "$WORK/stdout.jsonl" >/dev/null || fail "stdout is not JSON lines"
jq -e . "$WORK/sluice.log" >/dev/null || fail "logs are not JSON lines"
grep -q '"level":"warn".*reconnecting' "$WORK/sluice.log" || fail "no reconnect was logged"
counts=$(jq -r .op "$WORK/stdout.jsonl" | sort | uniq -c | awk '{printf "%s=%s ", $2, $1}')
note "ops: $counts"
[ "$counts" = "c=500 d=100 u=300 " ] || fail "expected c=500 d=100 u=300, got $counts"
# the rebuilt table equals the database
python3 - "$WORK/stdout.jsonl" >"$WORK/rows.json" <<'PY'
import json, sys
rows = {}
for line in open(sys.argv[1]):
    e = json.loads(line)
    if e["op"] == "d": rows.pop(e["before"]["id"])
    else: rows[e["after"]["id"]] = e["after"]
print(json.dumps(list(rows.values())))
PY
mkdir -p "$WORK/rebuilt" && cp "$WORK/rows.json" "$WORK/rebuilt/public.t.json"
compare_tables "$WORK/rebuilt" public.t
echo "PASS: stdout sink, JSON logs, 3 dropped connections survived"
