#!/usr/bin/env bash
# sluice integration: a MariaDB with binlog_row_metadata=MINIMAL (no column names, keys or
# ENUM/SET members in TABLE_MAP), then NO_LOG (no signedness or character sets either): what
# is missing comes from information_schema, re-read after DDL.
source "$(dirname "$0")/lib.sh"
my_start --binlog-row-metadata=MINIMAL
my shop -e "CREATE TABLE t (id int PRIMARY KEY, v varchar(20), n int unsigned)"
write_my_config "$WORK/shop.yaml"
"$SLUICE_BIN" check -c "$WORK/shop.yaml" >"$WORK/check.out" || { cat "$WORK/check.out"; fail "check failed"; }
grep -q 'ok:   binlog_row_metadata=MINIMAL: column names and keys, ENUM/SET members are read from information_schema' \
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

note "MINIMAL leaves out ENUM/SET members, NO_LOG signedness and character sets too, and"
note "MariaDB's own collation ids (1032: latin1_swedish_nopad_ci) come from the server:"
note "information_schema fills them in, so the values equal SELECT's"
my shop <<'SQL'
CREATE TABLE typed (id int PRIMARY KEY, tu tinyint unsigned, iu int unsigned,
  bu bigint unsigned, bs bigint, e enum('red','green','blue'), st set('a','b','c'),
  lat varchar(20) CHARACTER SET latin1, ch char(4), bn binary(4), vb varbinary(8), bl blob,
  tx text, j json, d38 decimal(65,38),
  np varchar(10) CHARACTER SET latin1 COLLATE latin1_swedish_nopad_ci);
SQL
write_my_config "$WORK/shop.yaml"
: >"$WORK/sluice.log"
sluice_start "$WORK/shop.yaml"
my shop <<'SQL'
INSERT INTO typed VALUES (1, 255, 4294967295, 18446744073709551615, -1, 'blue', 'a,c',
  'café é€', 'ab', 'ab', x'00ff', x'deadbeef', 'text é', '{"k": [1, "é"]}',
  '-123456789012345678901234567.12345678901234567890123456789012345678', 'nopad é');
SQL
my -e "SET GLOBAL binlog_row_metadata = NO_LOG"
"$SLUICE_BIN" check -c "$WORK/shop.yaml" | grep -q 'ok:   binlog_row_metadata=NO_LOG: column names and keys, ENUM/SET members, signedness and character sets are read from information_schema' \
    || fail "check does not explain the NO_LOG fallback"
my shop <<'SQL'
INSERT INTO typed VALUES (2, 200, 3000000000, 18446744073709551614, -9223372036854775808,
  'green', 'b', 'ÿ€', 'cd', x'01', x'', x'00', '', '[]', 0.5, '€'),
  (3, 0, 0, 0, 0, 'red', '', '', '', x'', x'ff', x'', 'x', 'null', NULL, NULL);
UPDATE typed SET bu = 9223372036854775808, e = 'red', lat = 'é' WHERE id = 1;
DELETE FROM typed WHERE id = 3;
SQL
# FULL metadata names collation 1032 and nothing is read from information_schema
my -e "SET GLOBAL binlog_row_metadata = FULL"
my shop -e "INSERT INTO typed (id, np, tx) VALUES (4, 'full é€', 'marker')"
my -e "SET GLOBAL binlog_row_metadata = MINIMAL"
wait_for_output '"tx":"marker"' 60
sluice_stop || fail "sluice did not stop cleanly"
python3 "$SLUICE_SOURCE_DIR/tests/integration/reconstruct.py" "$WORK/out" "$WORK/rebuilt" \
    >"$WORK/stats.json"
compare_my_tables "$WORK/rebuilt" shop.typed
[ -n "$(first_event "$WORK/out/shop.shop.typed" '"bu":18446744073709551614,')" ] \
    || fail "NO_LOG: an unsigned maximum is not read as unsigned"
[ -n "$(first_event "$WORK/out/shop.shop.typed" '"e":"green","st":"b"')" ] \
    || fail "NO_LOG: ENUM/SET members are not read"
grep -q '"bigint unsigned"' "$WORK/out/_schemas/shop.typed/v1.json" \
    || { cat "$WORK/out/_schemas/shop.typed/v1.json"; fail "the schema does not say unsigned"; }
note "XA: rows come at XA PREPARE (where the binlog has them); a later XA ROLLBACK is said, once"
# files that stay open for a minute keep the bookmark before the XA transactions, so a
# dropped connection re-reads them: the warning must not come again
ROTATE_SECONDS=60 ROTATE_RECORDS=100000 write_my_config "$WORK/xa.yaml"
: >"$WORK/sluice.log"
sluice_start "$WORK/xa.yaml"
my shop <<'SQL'
XA START 'kept'; INSERT INTO t VALUES (70, 'xa kept', 70, 'x'); XA END 'kept'; XA PREPARE 'kept';
XA COMMIT 'kept';
XA START 'undone'; INSERT INTO t VALUES (71, 'xa undone', 71, 'x'); XA END 'undone';
XA PREPARE 'undone';
XA ROLLBACK 'undone';
INSERT INTO t VALUES (72, 'after xa', 72, 'x');
SQL
for ((i = 0; i < 300; i++)); do grep -q 'XA ROLLBACK' "$WORK/sluice.log" && break; sleep 0.1; done
dump=$(my -e "SELECT ID FROM information_schema.PROCESSLIST WHERE COMMAND LIKE 'Binlog Dump%'")
[ -n "$dump" ] || fail "no dump thread to drop"
my -e "KILL CONNECTION $dump"
for ((i = 0; i < 300; i++)); do
    [ "$(grep -c 'streaming the binlog from' "$WORK/sluice.log")" -ge 2 ] && break
    sleep 0.1
done
[ "$(grep -c 'streaming the binlog from' "$WORK/sluice.log")" -ge 2 ] \
    || { cat "$WORK/sluice.log"; fail "sluice did not reconnect after its dump thread was killed"; }
sluice_stop || fail "sluice did not stop cleanly"
[ "$(cat $(find "$WORK/out" -name '*.jsonl') | grep -c '"v":"after xa"')" = 1 ] \
    || fail "the row after the XA transactions is not there exactly once after the reconnect"
[ -n "$(first_event "$WORK/out/shop.shop.t" '"v":"xa kept"')" ] || fail "the committed XA row is missing"
# the server writes the xid in hex: 'undone'
grep -q "XA ROLLBACK X'756e646f6e65',X'',1 at binlog.[0-9]*:[0-9]*: its rows were delivered when it was prepared" \
    "$WORK/sluice.log" || { cat "$WORK/sluice.log"; fail "the XA ROLLBACK after PREPARE was not said"; }
[ "$(grep -c 'XA ROLLBACK' "$WORK/sluice.log")" = 1 ] || fail "XA ROLLBACK said other than once (again on the re-read, or an XA COMMIT taken for one)"
echo "PASS: names, keys, signedness, character sets and members from information_schema; source.query; XA"
