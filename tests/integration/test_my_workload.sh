#!/usr/bin/env bash
# sluice integration: a mixed workload with every MySQL/MariaDB column type through sluice
# to files (FLUSH LOGS mid-stream, TRUNCATE, a 5000-row transaction); each table rebuilt
# from the output must equal the table, row for row. MY_OPTS: more mariadbd options
# (test_my_compressed.sh runs it with log_bin_compress).
source "$(dirname "$0")/lib.sh"
# shellcheck disable=SC2086
my_start ${MY_OPTS:-}

my shop <<'SQL'
CREATE TABLE all_types (
  id int PRIMARY KEY AUTO_INCREMENT,
  ti tinyint, tiu tinyint unsigned, si smallint, siu smallint unsigned, mi mediumint,
  miu mediumint unsigned, i int, iu int unsigned, bi bigint, biu bigint unsigned,
  f float, d double, dec1 decimal(10,4), dec65 decimal(65,30), dt date, tm time,
  tm6 time(6), dtm datetime, dtm3 datetime(3), ts timestamp(6) NULL DEFAULT NULL, y year,
  b1 bit(1), b10 bit(10), b64 bit(64), e enum('red','green','blue'),
  st set('red','green','blue'), ch char(5), vc varchar(50), lat varchar(20) CHARACTER SET latin1,
  tx text, mtx mediumtext, bn binary(4), vb varbinary(20), bl blob, lbl longblob,
  j json, g geometry, pt point);
CREATE TABLE acct (id int PRIMARY KEY, v int NOT NULL, note varchar(40));
CREATE TABLE no_key (a int, b varchar(10));
CREATE TABLE skipped (id int PRIMARY KEY, s varchar(10) CHARACTER SET sjis);
CREATE TABLE `Odd.Name` (k varchar(10) PRIMARY KEY, v int);
SQL

HTTP_ADDR=127.0.0.1:$(free_port)
HTTP_ADDR=$HTTP_ADDR write_my_config "$WORK/shop.yaml" "tables: {exclude: [shop.skipped]}"
"$SLUICE_BIN" validate -c "$WORK/shop.yaml"
"$SLUICE_BIN" check -c "$WORK/shop.yaml" >"$WORK/check.out" || { cat "$WORK/check.out"; fail "check failed"; }
sluice_start "$WORK/shop.yaml"
wait_for_bookmark

my shop <<'SQL'
INSERT INTO all_types (ti, tiu, si, siu, mi, miu, i, iu, bi, biu, f, d, dec1, dec65, dt, tm, tm6,
  dtm, dtm3, ts, y, b1, b10, b64, e, st, ch, vc, lat, tx, mtx, bn, vb, bl, lbl, j, g, pt) VALUES
 (-128, 255, -32768, 65535, -8388608, 16777215, -2147483648, 4294967295,
  -9223372036854775808, 18446744073709551615, 1.1, -2.5e-300, -123456.7890,
  '-12345678901234567890123456789012345.123456789012345678901234567890', '2024-02-29',
  '-838:59:59', '-12:34:56.789012', '2020-07-31 07:06:13', '2020-07-31 07:06:13.120',
  '2020-07-31 07:06:13.654321', 2024, b'1', b'1010100101', b'1111111111111111111111111111111111111111111111111111111111111111',
  'green', 'red,blue', 'ab', 'quote " backslash \\ newline \n tab \t é 日本 😀', 'é€ÿ',
  REPEAT('t', 300), REPEAT('m', 70000), 'ab', x'00ff10', x'deadbeef', REPEAT('b', 100000),
  '{"a": [1, 2, {"b": null}]}', ST_GeomFromText('LINESTRING(0 0, 1 1, 2 5)'),
  ST_GeomFromText('POINT(1 2)', 4326)),
 (127, 0, 32767, 0, 8388607, 0, 2147483647, 0, 9223372036854775807, 0, -0.5, 3.141592653589793,
  0, 0, '0000-00-00', '838:59:59', '00:00:00.000001', '0000-00-00 00:00:00', '1970-01-01 00:00:01.001',
  '1970-01-01 00:00:01', 1901, b'0', b'0', b'0', 'red', '', 'x', '', '', '', '', x'', x'', x'', x'',
  '[]', ST_GeomFromText('POLYGON((0 0, 4 0, 4 4, 0 0))'), ST_GeomFromText('POINT(-1.5 2.25)')),
 (NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
  NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
  NULL, NULL, NULL, NULL, NULL, NULL),
 (1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1e38, 1.7976931348623157e308, 9.9999, 1, '9999-12-31',
  '24:00:01', '100:00:00.5', '9999-12-31 23:59:59', '2038-01-19 03:14:07.999',
  '2038-01-19 03:14:07.999999', 2155, b'1', b'1111111111', b'1', 'blue', 'red,green,blue',
  'abcde', 'x', 'x', 'x', 'x', 'abcd', x'00', x'0000', x'01', '{"k":"v"}', NULL, NULL);
UPDATE all_types SET i = 42, vc = 'changed', j = '{"changed": true}' WHERE id = 1;
UPDATE all_types SET dec65 = '0.000000000000000000000000000001', e = 'blue' WHERE id = 2;
DELETE FROM all_types WHERE id = 3;
UPDATE all_types SET id = 100000 WHERE id = 4;
INSERT INTO acct VALUES (1, 1, 'a'), (2, 2, 'b'), (3, 3, 'c');
FLUSH LOGS;
UPDATE acct SET v = v * 10;
DELETE FROM acct WHERE id = 3;
BEGIN;
INSERT INTO `Odd.Name` VALUES ('a/../b', 1), ('..', 2), ('%2E', 3);
UPDATE `Odd.Name` SET v = v + 10;
DELETE FROM `Odd.Name` WHERE k = '..';
COMMIT;
INSERT INTO no_key VALUES (1, 'a'), (2, 'b'), (1, 'a');
DELETE FROM no_key WHERE b = 'b' LIMIT 1;
INSERT INTO skipped VALUES (1, 'ｱｲ'), (2, NULL);  -- sjis, which sluice does not convert
CREATE TABLE later (id int PRIMARY KEY, a int);
INSERT INTO later VALUES (1, 1);
ALTER TABLE later ADD COLUMN b varchar(10);
INSERT INTO later VALUES (2, 2, 'two');
UPDATE later SET b = 'one' WHERE id = 1;
TRUNCATE later;
INSERT INTO later VALUES (3, 3, 'three');
FLUSH LOGS;
SQL
# one 5000-row transaction
{
    echo "BEGIN;"
    seq 1000 5999 | awk '{printf "INSERT INTO acct VALUES (%d, %d, \"n%d\");\n", $1, $1, $1}'
    echo "UPDATE acct SET note = 'big' WHERE id >= 5000;"
    echo "COMMIT;"
    echo "INSERT INTO acct VALUES (999999, 0, 'marker');"
} | my shop

wait_for_output '"note":"marker"' 60
if [[ "${MY_OPTS:-}" == *--log-bin-compress* ]]; then
    # the server did compress: queries and row events of every kind
    mariadb-binlog --no-defaults "$MY_DATA"/binlog.[0-9]* >"$WORK/binlog.txt" 2>&1
    for kind in Query_compressed Write_compressed_rows Update_compressed_rows \
                Delete_compressed_rows; do
        grep -q "$kind" "$WORK/binlog.txt" || fail "the binlog has no $kind event"
    done
fi
# the retention gauges: binlog files older than the bookmark's (two FLUSH LOGS above)
older=$(( $(my -e "SHOW BINARY LOGS" | wc -l) - 1 ))
for i in $(seq 50); do
    got=$(curl -fsS "http://$HTTP_ADDR/metrics" | awk '/^sluice_mysql_binlog_headroom_files/ {print $2}')
    [ "$got" = "$older" ] && break
    sleep 0.2
done
[ "$got" = "$older" ] || fail "sluice_mysql_binlog_headroom_files is '$got', expected $older"
curl -fsS "http://$HTTP_ADDR/metrics" | grep -q '^sluice_mysql_binlog_headroom_bytes' \
    || fail "no sluice_mysql_binlog_headroom_bytes gauge"
note "binlog headroom gauge: $got older files"
sluice_stop || fail "sluice did not stop cleanly"
grep -q "bookmark committed" "$WORK/sluice.log" || fail "no final commit in the log"

python3 "$SLUICE_SOURCE_DIR/tests/integration/reconstruct.py" "$WORK/out" "$WORK/rebuilt" \
    | tee "$WORK/stats.json"
python3 - "$WORK/stats.json" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
assert s["duplicates"] == 0, s
assert s["order_violations"] == 0, s
assert s["ops"].get("t") == 1, s
PY
compare_my_tables "$WORK/rebuilt" shop.all_types shop.acct shop.Odd.Name shop.no_key shop.later

[ ! -e "$WORK/out/shop.shop.skipped" ] || fail "an excluded table was written"
# MySQL updates carry the whole before image
first_event "$WORK/out/shop.shop.acct" '"op":"u"' | grep -q '"before":{"id":1,"v":1,"note":"a"}' \
    || fail "an update lacks its before image"
[ -n "$(first_event "$WORK/out/shop.shop.all_types" '"after":{"id":100000,')" ] || fail "no create for the new key"
[ -f "$WORK/out/_schemas/shop.later/v2.json" ] || fail "no v2 schema for the altered table"
grep -q '"name":"j","type":"json"' "$WORK/out/_schemas/shop.all_types/v1.json" \
    || { cat "$WORK/out/_schemas/shop.all_types/v1.json"; fail "MariaDB JSON column not typed json"; }
[ -d "$WORK/out/shop.shop.Odd%2EName" ] || { ls "$WORK/out"; fail "bad encoding of a table name"; }
# documented encodings, spot-checked against docs/types.md
ev=$(first_event "$WORK/out/shop.shop.all_types" '"op":"c"')
for want in '"biu":18446744073709551615' '"f":1.1' '"tm":"-838:59:59"' '"dtm3":"2020-07-31T07:06:13.120"' \
            '"ts":"2020-07-31T07:06:13.654321Z"' '"b10":677' '"b1":true' '"st":"red,blue"' \
            '"lat":"é€ÿ"' '"bn":"YWIAAA=="' '"dec1":"-123456.7890"' '"gtid":"0-1-'; do
    [[ "$ev" == *"$want"* ]] || { echo "$ev"; fail "first all_types event lacks $want"; }
done
# the 5000-row transaction spans output files; the bookmark is at a boundary after a clean stop
bm=$("$SLUICE_BIN" offsets show -c "$WORK/shop.yaml" --connector shop)
[[ "$bm" == *'"row":"done"'* && "$bm" == *'"file":"binlog.000003"'* && "$bm" == *'"gtid_set":"0-1-'* ]] \
    || fail "unexpected bookmark after a clean stop: $bm"
# restart: nothing new is written (exactly once across a clean restart)
before=$(cat $(find "$WORK/out" -name '*.jsonl') | wc -l)
sluice_start "$WORK/shop.yaml"
sleep 1
my shop -e "INSERT INTO acct VALUES (1000000, 0, 'marker2')"
wait_for_output '"note":"marker2"' 60
sluice_stop
after=$(cat $(find "$WORK/out" -name '*.jsonl') | wc -l)
[ "$after" = "$((before + 1))" ] || fail "restart wrote $((after - before)) lines, expected 1"

note "a stop on a quiet stream is prompt, and a restart right after it streams at once"
# the stream waits in a read for the next event or heartbeat (1 s here): a stop cuts that
# read short, and ends the server's dump thread, which would otherwise refuse the same
# server_id coming back (error 4052) until its next heartbeat write fails
: >"$WORK/sluice.log"
sed -i 's/log_level: info/log_level: debug/' "$WORK/shop.yaml"
for round in 1 2 3; do
    sluice_start "$WORK/shop.yaml"
    for ((i = 0; i < 100; i++)); do
        [ "$(grep -c 'streaming the binlog' "$WORK/sluice.log")" -ge "$round" ] && break
        sleep 0.1
    done
    sleep 0.3
    t0=$(date +%s%N)
    sluice_stop || fail "sluice did not stop cleanly"
    ms=$((($(date +%s%N) - t0) / 1000000))
    [ "$ms" -lt 500 ] || fail "stopping took $ms ms on a quiet stream"
    note "stop $round: $ms ms"
done
[ "$(grep -c "ended the server's dump thread" "$WORK/sluice.log")" = 3 ] \
    || { cat "$WORK/sluice.log"; fail "a stop left its dump thread on the server"; }
sed -i 's/log_level: debug/log_level: info/' "$WORK/shop.yaml"
my shop -e "INSERT INTO acct VALUES (1000001, 0, 'marker3')"
sluice_start "$WORK/shop.yaml"
wait_for_output '"note":"marker3"' 60
sluice_stop
if grep -q "error\|restarting" "$WORK/sluice.log"; then
    cat "$WORK/sluice.log"; fail "a quick restart failed first"
fi
echo "PASS: workload of every type reconstructed exactly"
