#!/usr/bin/env bash
# sluice integration: PostgreSQL snapshots. 200k pre-loaded rows in tables of four shapes.
#  1. snapshot: only, two readers (key ranges of the big table): exits 0 by itself, every
#     row once as op r, the tables rebuilt from the files equal the database;
#  2. snapshot: initial while a writer inserts, updates and deletes, killed with -9 at
#     least 10 times during the snapshot: it resumes mid-table (incrementally, with
#     watermarks) and never reads a finished table or a durable chunk again; afterwards the
#     keyed tables equal the database and no change is lost or repeated;
#  3. an on-demand snapshot (`sluice snapshot --table ... --where ...`) while streaming.
source "$(dirname "$0")/lib.sh"
pg_start
KILLS=${KILLS:-10}

sql <<'SQL'
CREATE TABLE big (id int PRIMARY KEY, v int NOT NULL, pad text);
INSERT INTO big SELECT g, 0, repeat('x', 50) FROM generate_series(1, 150000) g;
CREATE TABLE comp (code text, seq int, note text, PRIMARY KEY (code, seq));
INSERT INTO comp SELECT 'k' || (g % 7), g, 'n' || g FROM generate_series(1, 30000) g;
CREATE TABLE typed (id uuid PRIMARY KEY, j jsonb, b bytea, arr int[], ts timestamptz,
                    n numeric(12,3), t text, d date, flag bool, f float8);
INSERT INTO typed SELECT md5(g::text)::uuid, jsonb_build_object('g', g, 's', 'é' || g),
       decode(md5(g::text), 'hex'), ARRAY[g, g + 1, NULL], '2026-01-01'::timestamptz + g * interval '1 min',
       g / 7.0, E'tab\there "q" \\ back' || g, '2020-02-29'::date + g, g % 2 = 0, g / 3.0
  FROM generate_series(1, 10000) g;
CREATE TABLE nokey (n int, t text);
INSERT INTO nokey SELECT g, 'row ' || g FROM generate_series(1, 10000) g;
ANALYZE;
SQL
TABLES="public.big public.comp public.typed public.nokey"

# ---- 1. snapshot: only, parallelism 2
cat >"$WORK/only.yaml" <<YAML
worker: {data_dir: $WORK/var1, http: "0"}
connectors:
  - name: only1
    source: {type: postgres, host: 127.0.0.1, port: $PGPORT, user: postgres, database: shop,
             snapshot: {mode: only, parallelism: 2, chunk_rows: 5000}}
    sink: {type: files, path: $WORK/out1, rotate: {max_records: 20000, max_seconds: 1}}
YAML
timeout 120 "$SLUICE_BIN" run -c "$WORK/only.yaml" 2>"$WORK/only.log" \
    || { tail -20 "$WORK/only.log"; fail "snapshot: only did not exit 0"; }
grep -q "2 readers share exported snapshot" "$WORK/only.log" || fail "not two readers"
python3 "$SLUICE_SOURCE_DIR/tests/integration/reconstruct.py" "$WORK/out1" "$WORK/rebuilt1" \
    | tee "$WORK/stats1.json"
python3 - "$WORK/stats1.json" "$WORK/out1" <<'PY'
import glob, json, os, sys
s = json.load(open(sys.argv[1]))
assert s["ops"] == {"r": 200000}, s["ops"]
assert s["snapshot_repeats"] == 0 and s["duplicates"] == 0, s
lines = [l for p in glob.glob(sys.argv[2] + "/only1.*/**/*.jsonl", recursive=True) for l in open(p)]
last = [l for l in lines if '"snapshot":"last"' in l]
assert len(last) == 1, f"{len(last)} rows labelled last"
for d in glob.glob(sys.argv[2] + "/_schemas/*"):
    assert len(os.listdir(d)) == 1, f"{d}: {os.listdir(d)}"
print("only: 200000 rows once each, one labelled last, one schema version per table")
PY
compare_tables "$WORK/rebuilt1" $TABLES
grep -q '"snapshot":null' "$WORK/var1/bookmarks/only1.json" || fail "only: bookmark not done"
sql -c "SELECT pg_drop_replication_slot('sluice_only1')" >/dev/null

# ---- 2. snapshot: initial, with a writer and kill -9 during the snapshot
cat >"$WORK/shop.yaml" <<YAML
worker: {data_dir: $WORK/var, http: "127.0.0.1:$(free_port)"}
connectors:
  - name: shop
    source: {type: postgres, host: 127.0.0.1, port: $PGPORT, user: postgres, database: shop,
             heartbeat: 1s, snapshot: {mode: initial, chunk_rows: 40}}
    sink: {type: files, path: $WORK/out, rotate: {max_records: 5000, max_seconds: 200ms}}
YAML
writer() {
    local i
    for i in $(seq 1 600); do
        echo "UPDATE big SET v = v + 1 WHERE id % 600 = $((i % 600));"
        echo "INSERT INTO big VALUES ($((200000 + i)), $i, 'new');"
        echo "DELETE FROM big WHERE id = $((i * 211));"
        echo "UPDATE comp SET seq = -seq WHERE seq = $((i * 41));"
        echo "UPDATE typed SET n = n + 1, j = j || '{\"u\": 1}' WHERE id = md5('$((i * 13))')::uuid;"
        echo "INSERT INTO nokey VALUES ($((50000 + i)), 'new $i');"
        echo "SELECT pg_sleep(0.02);"
    done
}
writer >"$WORK/writer.sql"
bookmark() { cat "$WORK/var/bookmarks/shop.json" 2>/dev/null || true; }
snapshot_running() { bookmark | grep -q '"snapshot":{'; }

sluice_start "$WORK/shop.yaml"
# the first kill lands in the initial phase (the exported snapshot), once its plan is stored
for i in $(seq 1 300); do snapshot_running && break; sleep 0.05; done
snapshot_running || { tail -5 "$WORK/sluice.log"; fail "no snapshot plan stored"; }
# the writer starts once the slot exists (the plan is stored after it): a change committed
# before the slot is in the snapshot's rows, not in the stream, and the count below wants
# every one of the writer's changes as an event (a slow start, as under ASan, once lost
# the writer's first transactions to the snapshot and failed the count)
psql -X -v ON_ERROR_STOP=1 -f "$WORK/writer.sql" >"$WORK/writer.out" 2>&1 &
WPID=$!
CLEANUPS+=("kill $WPID 2>/dev/null")
kills=0
mkdir -p "$WORK/bm"
while :; do
    kill -9 "$SLUICE_PID"
    wait "$SLUICE_PID" 2>/dev/null || true
    kills=$((kills + 1))
    bookmark >"$WORK/bm/$kills.json"
    snapshot_running || break
    [ $kills -lt "$KILLS" ] || break
    before=$(bookmark)
    sluice_start "$WORK/shop.yaml"
    # the next kill after the bookmark moved on, at a random moment
    for i in $(seq 1 100); do [ "$(bookmark)" != "$before" ] && break; sleep 0.05; done
    sleep "$(python3 -c 'import random; print(round(random.uniform(0.02, 0.15), 2))')"
done
[ $kills -ge "$KILLS" ] || fail "the snapshot finished after $kills kills; it must outlast $KILLS"
note "killed sluice $kills times during the snapshot"
sluice_start "$WORK/shop.yaml"
wait $WPID || { cat "$WORK/writer.out"; fail "writer failed"; }
for i in $(seq 1 1200); do snapshot_running || break; sleep 0.1; done
snapshot_running && { tail -5 "$WORK/sluice.log"; fail "the snapshot did not finish"; }
sql -c "INSERT INTO big VALUES (0, 0, 'marker')"
wait_for_output '"pad":"marker"' 60
grep -q "resuming after a restart" "$WORK/sluice.log" || fail "no resumed snapshot in the log"

python3 "$SLUICE_SOURCE_DIR/tests/integration/reconstruct.py" "$WORK/out" "$WORK/rebuilt" \
    | tee "$WORK/stats.json"
expected=$(awk '/^(INSERT 0|UPDATE|DELETE) / {s += $NF} END {print s + 1}' "$WORK/writer.out")
# a key change is a delete and a create
keychanges=$(grep -c "UPDATE comp SET seq = -seq" "$WORK/writer.sql")
python3 - "$WORK/stats.json" "$WORK/out" "$WORK/bm" "$expected" <<'PY'
import glob, json, os, sys
stats = json.load(open(sys.argv[1])); out, bmdir, expected = sys.argv[2], sys.argv[3], int(sys.argv[4])
assert stats["duplicates"] == 0, f"{stats['duplicates']} changes delivered twice"
assert stats["order_violations"] == 0, f"{stats['order_violations']} per-key order violations"
changes = sum(v for k, v in stats["ops"].items() if k != "r")
assert changes >= expected, f"{changes} changes in the files, at least {expected} made"
def lsn(s):
    hi, lo = s.split("/"); return int(hi, 16) << 32 | int(lo, 16)
# every snapshot row: (table, key, lsn of its place in the stream)
rows = []
for p in glob.glob(out + "/shop.*/**/*.jsonl", recursive=True):
    for line in open(p):
        ev = json.loads(line)
        if ev["op"] == "r":
            src = ev["source"]
            rows.append((src["schema"] + "." + src["table"], ev["after"], src["lsn"]))
# key columns in index order, and how key text compares (C collation: byte order)
KEYS = {"public.big": (["id"], [int]), "public.comp": (["code", "seq"], [str, int]),
        "public.typed": (["id"], [str])}
mid = 0
for path in sorted(glob.glob(bmdir + "/*.json"), key=lambda p: int(os.path.basename(p)[:-5])):
    text = open(path).read()
    if not text.strip():
        continue
    bm = json.loads(text)
    snap = bm.get("snapshot")
    if not snap:
        continue
    at = lsn(bm["lsn"])
    for u in snap["tables"]:
        later = [r for r in rows if r[0] == u["table"] and r[2] > at]
        if u["done"]:
            assert not later, f"{u['table']} was finished at {bm['lsn']} but read again"
        elif u.get("last_key") and u["table"] in KEYS:
            mid += 1
            names, conv = KEYS[u["table"]]
            k = tuple(c(v) for c, v in zip(conv, u["last_key"]))
            again = [r for r in later if tuple(c(r[1][n]) for c, n in zip(conv, names)) <= k]
            assert not again, f"{u['table']} rows up to {k} were durable at {bm['lsn']} but read again"
assert mid > 0, "no kill landed in the middle of a keyed table"
print(f"resume: {mid} kills left a table part-way; no finished table or durable chunk read again")
PY
compare_tables "$WORK/rebuilt" public.big public.comp public.typed
# a keyless table has nothing to tell its rows apart across views: each row at least once
python3 - "$WORK/out" "$(sql -c "SELECT json_agg(n) FROM nokey")" <<'PY'
import collections, glob, json, sys
have = collections.Counter()
for p in glob.glob(sys.argv[1] + "/shop.public.nokey/**/*.jsonl", recursive=True):
    for line in open(p):
        ev = json.loads(line)
        if ev["after"]:
            have[ev["after"]["n"]] += 1
missing = [n for n in json.loads(sys.argv[2]) if have[n] == 0]
assert not missing, f"keyless rows missing: {missing[:10]}"
print(f"nokey: every row present ({sum(have.values())} row events)")
PY

# ---- 3. on-demand snapshot while streaming
before=$(find "$WORK/out/shop.public.comp" -name '*.jsonl' -exec cat {} + | grep -c '"op":"r"')
completes=$(grep -c "snapshot: complete" "$WORK/sluice.log" || true)
"$SLUICE_BIN" snapshot -c "$WORK/shop.yaml" --connector shop --table public.comp \
    --where "seq > 29000" || fail "sluice snapshot failed"
# the request is durable and then done
# done when the log says so once more (the stored bookmark shows the new plan only once
# it is durable, so "no snapshot in the bookmark" could be before as well as after)
for i in $(seq 1 600); do
    [ "$(grep -c 'snapshot: complete' "$WORK/sluice.log")" -gt "$completes" ] && break; sleep 0.1
done
grep -q "added on demand" "$WORK/sluice.log" || fail "the on-demand snapshot never started"
[ "$(grep -c 'snapshot: complete' "$WORK/sluice.log")" -gt "$completes" ] \
    || fail "the on-demand snapshot did not complete"
sql -c "INSERT INTO big VALUES (-1, 0, 'marker2')"
wait_for_output '"pad":"marker2"' 60
after=$(find "$WORK/out/shop.public.comp" -name '*.jsonl' -exec cat {} + | grep -c '"op":"r"')
want=$(sql -c "SELECT count(*) FROM comp WHERE seq > 29000")
[ $((after - before)) = "$want" ] || fail "on-demand snapshot gave $((after - before)) rows, expected $want"
note "on-demand snapshot: $want rows of public.comp where seq > 29000"
# the API refuses what it cannot do, in a sentence
addr=$(sed -n 's/.*http: "\([^"]*\)".*/\1/p' "$WORK/shop.yaml")
code=$(curl -s -o "$WORK/bad.json" -w '%{http_code}' -X POST -d '{"tables":"x"}' \
       "http://$addr/connectors/shop/snapshot")
[ "$code" = 400 ] && grep -q '"error"' "$WORK/bad.json" || fail "bad request answered $code"
code=$(curl -s -o /dev/null -w '%{http_code}' -X POST -d '{"tables":["public.comp"]}' \
       "http://$addr/connectors/nope/snapshot")
[ "$code" = 404 ] || fail "unknown connector answered $code"
sluice_stop || fail "sluice did not stop cleanly"
python3 "$SLUICE_SOURCE_DIR/tests/integration/reconstruct.py" "$WORK/out" "$WORK/rebuilt2" >/dev/null
compare_tables "$WORK/rebuilt2" public.big public.comp public.typed
echo "PASS: PostgreSQL snapshots: only (2 readers), initial through $kills kill -9, on demand"
