#!/usr/bin/env bash
# sluice integration: a MariaDB with binlog_row_metadata=MINIMAL (no column names or keys in
# TABLE_MAP): names and keys come from information_schema, re-read after DDL.
source "$(dirname "$0")/lib.sh"
my_start --binlog-row-metadata=MINIMAL
my shop -e "CREATE TABLE t (id int PRIMARY KEY, v varchar(20), n int unsigned)"
write_my_config "$WORK/shop.yaml"
"$SLUICE_BIN" check -c "$WORK/shop.yaml" >"$WORK/check.out" || { cat "$WORK/check.out"; fail "check failed"; }
grep -q 'ok:   binlog_row_metadata=MINIMAL: column names and keys are read from information_schema' \
    "$WORK/check.out" || { cat "$WORK/check.out"; fail "check does not explain the fallback"; }
sluice_start "$WORK/shop.yaml"
wait_for_bookmark
my shop <<'SQL'
INSERT INTO t VALUES (1, 'one', 4294967295), (2, 'two', 0);
UPDATE t SET v = 'uno' WHERE id = 1;
UPDATE t SET id = 3 WHERE id = 2;
ALTER TABLE t ADD COLUMN extra varchar(10);  -- NULL in existing rows, as rebuilt
INSERT INTO t VALUES (4, 'four', 4, 'e');
DELETE FROM t WHERE id = 1;
INSERT INTO t VALUES (5, 'marker', 5, 'm');
SQL
wait_for_output '"v":"marker"' 60
sluice_stop || fail "sluice did not stop cleanly"
python3 "$SLUICE_SOURCE_DIR/tests/integration/reconstruct.py" "$WORK/out" "$WORK/rebuilt" \
    | tee "$WORK/stats.json"
compare_my_tables "$WORK/rebuilt" shop.t
[ -f "$WORK/out/_schemas/shop.t/v2.json" ] || fail "no v2 schema after ALTER TABLE"
grep -q '"key":\["id"\]' "$WORK/out/_schemas/shop.t/v1.json" \
    || { cat "$WORK/out/_schemas/shop.t/v1.json"; fail "the key was not read from information_schema"; }
[ -n "$(first_event "$WORK/out/shop.shop.t" '"after":{"id":3,')" ] || fail "a key change is not a create of the new key"

note "source.include_query: each row's statement in source.query"
grep -q '"query":null' <(cat $(find "$WORK/out" -name '*.jsonl')) || fail "query is not null when off"
write_my_config "$WORK/shop.yaml" "include_query: true"
"$SLUICE_BIN" check -c "$WORK/shop.yaml" >"$WORK/check.out" || { cat "$WORK/check.out"; fail "check failed"; }
grep -q 'ok:   statements logged for source.include_query' "$WORK/check.out" \
    || { cat "$WORK/check.out"; fail "check does not confirm the statements are logged"; }
sluice_start "$WORK/shop.yaml"
my shop <<'SQL'
BEGIN;
INSERT INTO t VALUES (6, 'six "6"', 6, 'q');
UPDATE t SET v = 'seis' WHERE id = 6;
COMMIT;
SQL
wait_for_output '"v":"seis"' 60
sluice_stop || fail "sluice did not stop cleanly"
[ -n "$(first_event "$WORK/out/shop.shop.t" '"query":"INSERT INTO t VALUES (6, '"'"'six \\"6\\"'"'"', 6, '"'"'q'"'"')"')" ] \
    || fail "the insert does not carry its statement"
[ -n "$(first_event "$WORK/out/shop.shop.t" '"query":"UPDATE t SET v = '"'"'seis'"'"' WHERE id = 6"')" ] \
    || fail "the update does not carry its statement"
note "source.include_query without statements in the binlog: check fails, run warns"
my -e "SET GLOBAL binlog_annotate_row_events = OFF"
expect_fail=$("$SLUICE_BIN" check -c "$WORK/shop.yaml" 2>&1) && fail "check passed without statements"
grep -q 'FAIL: binlog_annotate_row_events=OFF: source.include_query gets no statements' <<<"$expect_fail" \
    || { echo "$expect_fail"; fail "check does not say why"; }
: >"$WORK/sluice.log"
sluice_start "$WORK/shop.yaml"
for ((i = 0; i < 100; i++)); do
    grep -q 'source.include_query is on, but the server does not log statements (binlog_annotate_row_events is OFF)' \
        "$WORK/sluice.log" && break
    sleep 0.1
done
sluice_stop || fail "sluice did not stop cleanly"
grep -q 'source.include_query is on, but the server does not log statements' "$WORK/sluice.log" \
    || { cat "$WORK/sluice.log"; fail "run does not warn"; }
my -e "SET GLOBAL binlog_annotate_row_events = ON"
echo "PASS: column names and keys from information_schema; source.query"
