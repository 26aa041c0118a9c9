#!/usr/bin/env bash
# sluice integration: MariaDB snapshots. 200k pre-loaded rows in tables of five shapes
# (integer key, composite text key, every column type, a unique key but no primary key,
# no key at all).
#  1. snapshot: only: exits 0 by itself, every row once as op r, each table rebuilt from
#     the files equals the table, one schema version per table (the snapshot's column
#     description matches what TABLE_MAP says);
#  2. snapshot: initial while a writer inserts, updates and deletes, killed with -9 at
#     least 10 times during the snapshot: it resumes after the last durable chunk and
#     never reads a finished table or a durable chunk again; afterwards the keyed tables
#     equal the database and no change is lost or repeated;
#  3. an on-demand snapshot (`sluice snapshot --table ... --where ...`) while streaming.
source "$(dirname "$0")/lib.sh"
my_start
KILLS=${KILLS:-10}
CMP="$SLUICE_SOURCE_DIR/tests/integration/my_compare.py"

my shop <<'SQL'
CREATE TABLE big (id int PRIMARY KEY, v int NOT NULL, pad varchar(60));
INSERT INTO big SELECT seq, 0, REPEAT('x', 50) FROM seq_1_to_150000;
CREATE TABLE comp (code varchar(10), seq int, note varchar(20), PRIMARY KEY (code, seq));
INSERT INTO comp SELECT CONCAT('k', seq % 7), seq, CONCAT('n', seq) FROM seq_1_to_30000;
CREATE TABLE typed (id int PRIMARY KEY, ti tinyint, biu bigint unsigned, f float, d double,
  dec1 decimal(10,4), dt date, tm6 time(6), dtm3 datetime(3), ts timestamp(6) NULL DEFAULT NULL,
  y year, b1 bit(1), b10 bit(10), e enum('red','green','blue'), st set('a','b','c'),
  ch char(5), vc varchar(50), lat varchar(20) CHARACTER SET latin1, tx text, bn binary(4),
  vb varbinary(20), bl blob, j json, pt point);
INSERT INTO typed SELECT seq, seq % 128, 18446744073709551615 - seq, seq / 3, seq / 7,
  seq / 9, '2020-02-29' + INTERVAL seq DAY, SEC_TO_TIME(seq) + INTERVAL seq MICROSECOND,
  '2024-01-01 00:00:00' + INTERVAL seq SECOND, '2024-01-01 00:00:00' + INTERVAL seq MINUTE,
  1901 + seq % 250, seq % 2, seq % 1024, ELT(1 + seq % 3, 'red', 'green', 'blue'),
  ELT(1 + seq % 4, '', 'a', 'a,c', 'b,c'), LEFT(MD5(seq), 3),
  CONCAT('quote " back \\ é 日本 ', seq), 'é€ÿ', REPEAT('t', seq % 300), UNHEX(LPAD(HEX(seq), 8, '0')),
  UNHEX(MD5(seq)), REPEAT(UNHEX('00ff'), seq % 50), JSON_OBJECT('s', seq, 'k', 'v'),
  POINT(seq, -seq) FROM seq_1_to_5000;
CREATE TABLE uniq (code varchar(20) NOT NULL, v int, UNIQUE KEY (code));
INSERT INTO uniq SELECT CONCAT('u', seq), seq FROM seq_1_to_10000;
CREATE TABLE nokey (n int, t varchar(20));
INSERT INTO nokey SELECT seq, CONCAT('row ', seq) FROM seq_1_to_5000;
ANALYZE TABLE big, comp, typed, uniq, nokey;
SQL
TABLES="shop.big shop.comp shop.typed shop.uniq shop.nokey"

# ---- 1. snapshot: only
MY_SNAPSHOT="{mode: only, chunk_rows: 5000}" write_my_config "$WORK/only.yaml"
sed -i "s|data_dir: $WORK/var|data_dir: $WORK/var1|; s|path: $WORK/out|path: $WORK/out1|" \
    "$WORK/only.yaml"
timeout 120 "$SLUICE_BIN" run -c "$WORK/only.yaml" 2>"$WORK/only.log" \
    || { tail -20 "$WORK/only.log"; fail "snapshot: only did not exit 0"; }
python3 "$SLUICE_SOURCE_DIR/tests/integration/reconstruct.py" "$WORK/out1" "$WORK/rebuilt1" \
    | tee "$WORK/stats1.json"
python3 - "$WORK/stats1.json" "$WORK/out1" <<'PY'
import glob, json, os, sys
s = json.load(open(sys.argv[1]))
assert s["ops"] == {"r": 200000}, s["ops"]
assert s["snapshot_repeats"] == 0 and s["duplicates"] == 0, s
for d in glob.glob(sys.argv[2] + "/_schemas/*"):
    assert len(os.listdir(d)) == 1, f"{d}: {os.listdir(d)}"
print("only: 200000 rows once each, one schema version per table")
PY
python3 "$CMP" "$MYSOCK" "$WORK/rebuilt1" $TABLES || fail "snapshot: only differs"
grep -q '"snapshot":null' "$WORK/var1/bookmarks/shop.json" || fail "only: bookmark not done"

# ---- 2. snapshot: initial, with a writer and kill -9 during the snapshot
HTTP_ADDR=127.0.0.1:$(free_port) ROTATE_SECONDS=200ms \
    MY_SNAPSHOT="{mode: initial, chunk_rows: 40}" write_my_config "$WORK/shop.yaml"
writer() {
    local i
    for i in $(seq 1 500); do
        echo "UPDATE big SET v = v + 1 WHERE id % 500 = $((i % 500));"
        echo "INSERT INTO big VALUES ($((200000 + i)), $i, 'new');"
        echo "DELETE FROM big WHERE id = $((i * 251));"
        echo "UPDATE comp SET seq = -seq WHERE seq = $((i * 53));"
        echo "UPDATE typed SET d = d + 1, j = JSON_SET(j, '$.u', $i) WHERE id = $((i * 9 % 5000 + 1));"
        echo "UPDATE uniq SET v = v + 1 WHERE code = 'u$((i * 17))';"
        echo "INSERT INTO nokey VALUES ($((50000 + i)), 'new $i');"
        echo "DO SLEEP(0.02);"
    done
}
writer >"$WORK/writer.sql"
bookmark() { cat "$WORK/var/bookmarks/shop.json" 2>/dev/null || true; }
snapshot_running() { bookmark | grep -q '"snapshot":{'; }

sluice_start "$WORK/shop.yaml"
my shop <"$WORK/writer.sql" >"$WORK/writer.out" 2>&1 &
WPID=$!
CLEANUPS+=("kill $WPID 2>/dev/null")
wait_for_bookmark
kills=0
mkdir -p "$WORK/bm"
while :; do
    sleep "$(python3 -c 'import random; print(round(random.uniform(0.05, 0.5), 2))')"
    kill -9 "$SLUICE_PID"
    wait "$SLUICE_PID" 2>/dev/null || true
    kills=$((kills + 1))
    bookmark >"$WORK/bm/$kills.json"
    snapshot_running || break
    [ $kills -lt "$KILLS" ] || break
    before=$(bookmark)
    sluice_start "$WORK/shop.yaml"
    for i in $(seq 1 100); do [ "$(bookmark)" != "$before" ] && break; sleep 0.05; done
done
[ $kills -ge "$KILLS" ] || fail "the snapshot finished after $kills kills; it must outlast $KILLS"
note "killed sluice $kills times during the snapshot"
sluice_start "$WORK/shop.yaml"
wait $WPID || { cat "$WORK/writer.out"; fail "writer failed"; }
for i in $(seq 1 1200); do snapshot_running || break; sleep 0.1; done
snapshot_running && { tail -5 "$WORK/sluice.log"; fail "the snapshot did not finish"; }
my shop -e "INSERT INTO big VALUES (0, 0, 'marker')"
wait_for_output '"pad":"marker"' 60

python3 "$SLUICE_SOURCE_DIR/tests/integration/reconstruct.py" "$WORK/out" "$WORK/rebuilt" \
    | tee "$WORK/stats.json"
python3 - "$WORK/stats.json" "$WORK/out" "$WORK/bm" <<'PY'
import glob, json, os, sys
stats = json.load(open(sys.argv[1])); out, bmdir = sys.argv[2], sys.argv[3]
assert stats["duplicates"] == 0, f"{stats['duplicates']} changes delivered twice"
assert stats["order_violations"] == 0, f"{stats['order_violations']} per-key order violations"
rows = []  # (table, key row, (file, pos) of its place in the stream)
for p in glob.glob(out + "/shop.*/**/*.jsonl", recursive=True):
    for line in open(p):
        ev = json.loads(line)
        if ev["op"] == "r":
            src = ev["source"]
            rows.append((src["db"] + "." + src["table"], ev["after"], (src["file"], src["pos"])))
# chunking key columns in index order (the keys here are ASCII: byte order)
KEYS = {"shop.big": (["id"], [int]), "shop.comp": (["code", "seq"], [str, int]),
        "shop.typed": (["id"], [int]), "shop.uniq": (["code"], [str])}
mid = 0
for path in sorted(glob.glob(bmdir + "/*.json"), key=lambda p: int(os.path.basename(p)[:-5])):
    text = open(path).read()
    if not text.strip():
        continue
    bm = json.loads(text)
    snap = bm.get("snapshot")
    if not snap:
        continue
    at = (bm["file"], bm["pos"])
    for u in snap["tables"]:
        later = [r for r in rows if r[0] == u["table"] and r[2] > at]
        if u["done"]:
            assert not later, f"{u['table']} was finished at {at} but read again"
        elif u.get("last_key") and u["table"] in KEYS:
            mid += 1
            names, conv = KEYS[u["table"]]
            k = tuple(c(v) for c, v in zip(conv, u["last_key"]))
            again = [r for r in later if tuple(c(r[1][n]) for c, n in zip(conv, names)) <= k]
            assert not again, f"{u['table']} rows up to {k} were durable at {at} but read again"
assert mid > 0, "no kill landed in the middle of a keyed table"
print(f"resume: {mid} kills left a table part-way; no finished table or durable chunk read again")
PY
python3 "$CMP" "$MYSOCK" "$WORK/rebuilt" shop.big shop.comp shop.typed \
    || fail "the rebuilt tables differ"
# no primary key (uniq is chunked by its unique key, nokey read whole): the envelope key
# is null, so a chunk read again after a crash cannot be told from new rows; every row
# of the table is in the output at least once, in its final state
my -N shop -e "SELECT JSON_ARRAYAGG(JSON_ARRAY(n, t)) FROM nokey" >"$WORK/nokey.db"
my -N shop -e "SELECT JSON_ARRAYAGG(JSON_ARRAY(code, v)) FROM uniq" >"$WORK/uniq.db"
python3 - "$WORK/rebuilt" "$WORK/nokey.db" "$WORK/uniq.db" <<'PY'
import collections, json, sys
for table, cols, path in (("nokey", ("n", "t"), sys.argv[2]), ("uniq", ("code", "v"), sys.argv[3])):
    want = open(path).read()
    have = collections.Counter(tuple(r[c] for c in cols)
                               for r in json.load(open(f"{sys.argv[1]}/shop.{table}.json")))
    missing = [tuple(w) for w in json.loads(want) if have[tuple(w)] == 0]
    assert not missing, f"{table}: rows missing from the output: {missing[:5]}"
    print(f"{table}: every row present in its final state ({sum(have.values())} rows rebuilt)")
PY

# ---- 3. on-demand snapshot while streaming
count_r() { find "$WORK/out/shop.shop.comp" -name '*.jsonl' -exec cat {} + | grep -c '"op":"r"'; }
before=$(count_r)
completes=$(grep -c "snapshot: complete" "$WORK/sluice.log" || true)
"$SLUICE_BIN" snapshot -c "$WORK/shop.yaml" --connector shop --table shop.comp \
    --where "seq > 29000" || fail "sluice snapshot failed"
# done when the log says so once more (the stored bookmark shows the new plan only once
# it is durable, so "no snapshot in the bookmark" could be before as well as after)
for i in $(seq 1 600); do
    [ "$(grep -c 'snapshot: complete' "$WORK/sluice.log")" -gt "$completes" ] && break; sleep 0.1
done
grep -q "added on demand" "$WORK/sluice.log" || fail "the on-demand snapshot never started"
[ "$(grep -c 'snapshot: complete' "$WORK/sluice.log")" -gt "$completes" ] \
    || fail "the on-demand snapshot did not complete"
my shop -e "INSERT INTO big VALUES (-1, 0, 'marker2')"
wait_for_output '"pad":"marker2"' 60
after=$(count_r)
want=$(my -N shop -e "SELECT count(*) FROM comp WHERE seq > 29000")
[ $((after - before)) = "$want" ] || fail "on-demand snapshot gave $((after - before)) rows, expected $want"
note "on-demand snapshot: $want rows of shop.comp where seq > 29000"
"$SLUICE_BIN" snapshot -c "$WORK/shop.yaml" --connector shop --table nodot 2>"$WORK/bad.err" \
    && fail "a table without its database was accepted"
grep -q "schema.table" "$WORK/bad.err" || fail "no sentence for a bad table name"
sluice_stop || fail "sluice did not stop cleanly"
python3 "$SLUICE_SOURCE_DIR/tests/integration/reconstruct.py" "$WORK/out" "$WORK/rebuilt2" >/dev/null
python3 "$CMP" "$MYSOCK" "$WORK/rebuilt2" shop.big shop.comp shop.typed \
    || fail "the rebuilt tables differ after the on-demand snapshot"
echo "PASS: MariaDB snapshots: only, initial through $kills kill -9, on demand"
