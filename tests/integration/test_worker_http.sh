#!/usr/bin/env bash
# sluice integration: one worker, two connectors (two databases of a private PostgreSQL):
# every HTTP endpoint, metrics that move with a workload, pause/resume, a connector made to
# fail and retried while the other streams, a SIGHUP reload, and sentinel secrets (a source
# password and the API token) that appear in no log line and no response.
source "$(dirname "$0")/lib.sh"
command -v curl >/dev/null || skip "curl is not installed (apt-get install curl)"
command -v jq >/dev/null || skip "jq is not installed (apt-get install jq)"
pg_start
psql -qAt -c "CREATE DATABASE shop2" >/dev/null
sql -c "CREATE TABLE a_t (id int PRIMARY KEY, v text)"
sql -c "CREATE PUBLICATION pub_a FOR TABLE a_t"
sql -d shop2 -c "CREATE TABLE b_t (id int PRIMARY KEY, v text)"
sql -d shop2 -c "CREATE PUBLICATION pub_b FOR TABLE b_t"

SECRET='S3cr3t-Pg-Sentinel-41ab'   # a source password (trust auth ignores it)
TOKEN='T0ken-Http-Sentinel-77cd'   # the API's bearer token, from a ${file:}
export SLUICE_TEST_SECRET=$SECRET
printf '%s\n' "$TOKEN" >"$WORK/token"
HP=$(free_port)
H="http://127.0.0.1:$HP"
mkdir -p "$WORK/resp"

# write_config [extra connector yaml...]: alpha (shop.a_t) and beta (shop2.b_t) -> files
write_config() {
    cat >"$WORK/w.yaml" <<YAML
worker:
  name: it-http
  data_dir: $WORK/var
  http: 127.0.0.1:$HP
  http_token: \${file:$WORK/token}
connectors:
  - name: alpha
    source: {type: postgres, host: 127.0.0.1, port: $PGPORT, user: postgres,
             password: "\${env:SLUICE_TEST_SECRET}", database: shop, publication: pub_a,
             create_publication: false, snapshot: never, heartbeat: 1s}
    sink: {type: files, path: $WORK/out_a, rotate: {max_seconds: 1}}
  - name: beta
    source: {type: postgres, host: 127.0.0.1, port: $PGPORT, user: postgres,
             password: "\${env:SLUICE_TEST_SECRET}", database: shop2, publication: pub_b,
             create_publication: false, snapshot: never, heartbeat: ${BETA_HEARTBEAT:-1s}}
    sink: {type: files, path: $WORK/out_b, rotate: {max_seconds: 1}}
$(printf '%s\n' "$@")
YAML
}

# api METHOD PATH [curl args...]: sets CODE; every body is kept in $WORK/resp for the
# final secret check, the last one also in $WORK/body (headers in $WORK/head).
N=0
api() {
    local m=$1 p=$2; shift 2
    N=$((N + 1))
    CODE=$(curl -sS -o "$WORK/resp/$N" -D "$WORK/resp/$N.h" -w '%{http_code}' -X "$m" \
        -H "Authorization: Bearer $TOKEN" "$@" "$H$p")
    cp "$WORK/resp/$N" "$WORK/body"
    cp "$WORK/resp/$N.h" "$WORK/head"
}
expect_status() { # expect_status CODE METHOD PATH [curl args...]
    local want=$1; shift
    api "$@"
    [ "$CODE" = "$want" ] || { cat "$WORK/body"; fail "$1 $2 gave $CODE, expected $want"; }
}
state_of() { expect_status 200 GET "/connectors/$1" >&2; jq -r .state "$WORK/body"; }
wait_state() { # wait_state NAME STATE [seconds]
    local i s
    for ((i = 0; i < ${3:-30} * 5; i++)); do
        s=$(state_of "$1")
        [ "$s" = "$2" ] && return 0
        kill -0 "$SLUICE_PID" 2>/dev/null || { tail -20 "$WORK/sluice.log"; fail "sluice exited"; }
        sleep 0.2
    done
    cat "$WORK/body"; tail -20 "$WORK/sluice.log"
    fail "connector $1 is $s, not $2"
}
# scrape: /metrics as "name|label=value,... value" lines (labels sorted) in $WORK/metrics
scrape() {
    expect_status 200 GET /metrics
    grep -qi '^Content-Type: text/plain; version=0.0.4' "$WORK/head" || fail "metrics type"
    python3 - "$WORK/body" >"$WORK/metrics" <<'PY'
import re, sys
sample = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$')
label = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"(,|$)')
families = []
for line in open(sys.argv[1]):
    line = line.rstrip("\n")
    if line.startswith("# TYPE "):
        name = line.split()[2]
        assert name not in families, "family twice: " + name
        families.append(name)
        continue
    if line.startswith("#") or not line:
        continue
    m = sample.match(line)
    assert m, "not a sample line: " + line
    labels = label.findall(m.group(2) or "")
    assert "".join('%s="%s"%s' % l for l in labels) == (m.group(2) or ""), "labels: " + line
    assert any(m.group(1) == f or m.group(1).startswith(f + "_") for f in families), line
    float(m.group(3).replace("Inf", "inf"))
    print(m.group(1) + "|" + ",".join("%s=%s" % (k, v) for k, v, _ in sorted(labels)),
          m.group(3))
PY
}
metric() { # metric 'name|labels' -> value (0 when absent)
    awk -v k="$1" '$1 == k { print $2; found = 1 } END { if (!found) print 0 }' "$WORK/metrics"
}
count_rows() { # count_rows DIR TEXT: output lines containing TEXT
    find "$1" -name '*.jsonl' -exec cat {} + 2>/dev/null | grep -c -- "$2" || true
}
wait_rows() { # wait_rows DIR TEXT N
    local i
    for ((i = 0; i < 300; i++)); do
        [ "$(count_rows "$1" "$2")" -ge "$3" ] && return 0
        sleep 0.1
    done
    tail -20 "$WORK/sluice.log"
    fail "expected $3 rows with $2 in $1, found $(count_rows "$1" "$2")"
}

write_config
sluice_start "$WORK/w.yaml"
CLEANUPS+=("kill -9 $SLUICE_PID 2>/dev/null") # a failing check must not leave it running
for i in $(seq 100); do
    curl -s -o /dev/null "$H/healthz" && break
    kill -0 "$SLUICE_PID" 2>/dev/null || { cat "$WORK/sluice.log"; fail "sluice exited"; }
    sleep 0.1
done

note "probes need no token; everything else does"
[ "$(curl -s -o "$WORK/resp/h" -w '%{http_code}' "$H/healthz")" = 200 ] || fail "/healthz"
jq -e '.status == "ok"' "$WORK/resp/h" >/dev/null || fail "/healthz body"
wait_state alpha running
wait_state beta running
[ "$(curl -s -o "$WORK/resp/r" -w '%{http_code}' "$H/readyz")" = 200 ] || fail "/readyz"
for p in /metrics /connectors /connectors/alpha; do
    code=$(curl -s -o "$WORK/resp/u$N" -D "$WORK/resp/u$N.h" -w '%{http_code}' "$H$p")
    [ "$code" = 401 ] || fail "$p without a token gave $code"
    grep -qi '^WWW-Authenticate: Bearer' "$WORK/resp/u$N.h" || fail "no WWW-Authenticate"
    N=$((N + 1))
done
code=$(curl -s -o "$WORK/resp/wrong" -w '%{http_code}' -H "Authorization: Bearer ${TOKEN}x" \
       -X POST "$H/connectors/alpha/pause")
[ "$code" = 401 ] || fail "a wrong token gave $code"
jq -e '.error | test("bearer token")' "$WORK/resp/wrong" >/dev/null || fail "401 body"

note "the connector list and one connector"
expect_status 200 GET /connectors
jq -e '.worker == "it-http" and ([.connectors[].name] == ["alpha","beta"])' "$WORK/body" \
    >/dev/null || { cat "$WORK/body"; fail "/connectors"; }
expect_status 200 GET /connectors/alpha
jq -e '.state == "running" and .source == "postgres" and .sink == "files" and
       .paused == false and .last_error == null and (.lag_seconds | type) == "number"' \
    "$WORK/body" >/dev/null || { cat "$WORK/body"; fail "/connectors/alpha"; }
grep -qi '^Content-Type: application/json' "$WORK/head" || fail "JSON content type"

note "clear 4xx errors"
expect_status 404 GET /connectors/nope
jq -e '.error | test("no connector named \"nope\"")' "$WORK/body" >/dev/null || fail "404 body"
expect_status 404 POST /connectors/nope/pause
expect_status 404 GET /nowhere
expect_status 404 POST /connectors/alpha/explode
expect_status 405 GET /connectors/alpha/pause
grep -qi '^Allow: POST' "$WORK/head" || fail "405 without Allow"
expect_status 405 DELETE /connectors/alpha
expect_status 405 POST /metrics
expect_status 400 POST /connectors/alpha/pause -d 'please'
head -c 10000 /dev/zero | tr '\0' ' ' >"$WORK/big"
expect_status 413 POST /connectors/alpha/pause --data-binary "@$WORK/big"
expect_status 400 POST /connectors/alpha/snapshot
jq -e '.error | test("JSON object")' "$WORK/body" >/dev/null || fail "snapshot 400 body"
expect_status 400 POST /connectors/alpha/snapshot -d '{"tables":["public.a_t"],"limit":5}'
expect_status 405 GET /connectors/alpha/snapshot
head -c 5000 /dev/zero | tr '\0' ' ' >"$WORK/big2"
expect_status 413 POST /connectors/alpha/snapshot --data-binary "@$WORK/big2"
expect_status 404 POST /connectors/nope/snapshot -d '{"tables":["public.a_t"]}'
expect_status 202 POST /connectors/alpha/snapshot -d '{"tables":["public.no_such_table"]}'
jq -e '.name == "alpha"' "$WORK/body" >/dev/null || fail "snapshot 202 body"

note "metrics move with a workload"
scrape
grep -q '^sluice_build_info|version=.*,worker=it-http 1$' "$WORK/metrics" || fail "build_info"
[ "$(metric 'sluice_connector_state|connector=alpha,state=running')" = 1 ] || fail "state metric"
c0=$(metric 'sluice_connector_events_total|connector=alpha,op=c,table=public.a_t')
sql -c "INSERT INTO a_t SELECT g, 'w' || g FROM generate_series(1, 200) g"
sql -c "UPDATE a_t SET v = v || '+' WHERE id <= 50"
sql -c "DELETE FROM a_t WHERE id > 180"
sql -d shop2 -c "INSERT INTO b_t SELECT g, 'b' || g FROM generate_series(1, 30) g"
wait_rows "$WORK/out_a" '"op":"d"' 20
wait_rows "$WORK/out_b" '"op":"c"' 30
sleep 1.5 # one more rotation: everything acknowledged and the bookmark stored
scrape
c1=$(metric 'sluice_connector_events_total|connector=alpha,op=c,table=public.a_t')
u1=$(metric 'sluice_connector_events_total|connector=alpha,op=u,table=public.a_t')
d1=$(metric 'sluice_connector_events_total|connector=alpha,op=d,table=public.a_t')
b1=$(metric 'sluice_connector_events_total|connector=beta,op=c,table=public.b_t')
note "alpha c=$((c1 - c0)) u=$u1 d=$d1, beta c=$b1"
[ "$((c1 - c0))" = 200 ] && [ "$u1" = 50 ] && [ "$d1" = 20 ] && [ "$b1" = 30 ] ||
    fail "event counters do not match the workload"
python3 -c "import sys; sys.exit(0 if float('$(metric 'sluice_connector_event_bytes_total|connector=alpha,op=c,table=public.a_t')') > 200 * 50 else 1)" ||
    fail "event bytes did not move"
[ "$(metric 'sluice_connector_delivery_latency_seconds_count|connector=alpha')" -ge 270 ] ||
    fail "delivery latency observed nothing"
[ "$(metric 'sluice_connector_inflight_events|connector=alpha')" = 0 ] || fail "events left in flight"
[ "$(metric 'sluice_connector_lag_seconds|connector=alpha')" = 0 ] || fail "lag after catching up"
age=$(metric 'sluice_connector_bookmark_age_seconds|connector=alpha')
python3 -c "import sys; sys.exit(0 if 0 <= $age < 10 else 1)" || fail "bookmark age $age"
grep -q '^sluice_postgres_slot_lag_bytes|connector=alpha ' "$WORK/metrics" ||
    fail "the PostgreSQL slot lag gauge is missing"
grep -q '^sluice_connector_delivery_latency_seconds_bucket|connector=alpha,le=+Inf ' \
    "$WORK/metrics" || fail "histogram +Inf bucket"
expect_status 200 GET /connectors/alpha
jq -e '.bookmark.lsn and .events >= 270 and .bookmark_age_seconds < 10' "$WORK/body" \
    >/dev/null || { cat "$WORK/body"; fail "status after the workload"; }

note "pause stops the flow, resume delivers what waited"
expect_status 200 POST /connectors/alpha/pause
jq -e '.state == "paused" and .paused == true' "$WORK/body" >/dev/null || fail "pause reply"
bm_paused=$(jq -c .bookmark "$WORK/body")
sql -c "INSERT INTO a_t SELECT g, 'while-paused' FROM generate_series(1001, 1050) g"
sql -d shop2 -c "INSERT INTO b_t SELECT g, 'beta-during-pause' FROM generate_series(101, 110) g"
wait_rows "$WORK/out_b" 'beta-during-pause' 10 # the other connector is not paused
sleep 3
[ "$(count_rows "$WORK/out_a" while-paused)" = 0 ] || fail "rows flowed while paused"
[ "$(state_of alpha)" = paused ] || fail "not reported paused"
[ "$(curl -s -o /dev/null -w '%{http_code}' "$H/readyz")" = 200 ] || fail "paused is ready"
scrape
[ "$(metric 'sluice_connector_state|connector=alpha,state=paused')" = 1 ] || fail "paused metric"
expect_status 200 POST /connectors/alpha/resume -d '{}'
jq -e '.paused == false' "$WORK/body" >/dev/null || fail "resume reply"
wait_rows "$WORK/out_a" while-paused 50
wait_state alpha running
sleep 1.5
expect_status 200 GET /connectors/alpha
[ "$(jq -c .bookmark "$WORK/body")" != "$bm_paused" ] || fail "the bookmark did not move on"

note "a failing connector is reported and retried; the other keeps streaming"
sql -d shop2 -c "SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots
                 WHERE slot_name = 'sluice_beta'" >/dev/null
sql -d shop2 -c "DROP PUBLICATION pub_b"
wait_state beta failed 30
jq -e '.last_error.message | test("publication \"pub_b\" does not exist")' "$WORK/body" \
    >/dev/null || { cat "$WORK/body"; fail "beta's last error"; }
[ "$(curl -s -o "$WORK/resp/nr" -w '%{http_code}' "$H/readyz")" = 503 ] || fail "/readyz with a failed connector"
jq -e '.connectors.beta' "$WORK/resp/nr" >/dev/null || fail "/readyz does not name beta"
sql -c "INSERT INTO a_t SELECT g, 'during-failure' FROM generate_series(2001, 2040) g"
wait_rows "$WORK/out_a" during-failure 40
[ "$(state_of alpha)" = running ] || fail "alpha was disturbed"
for i in $(seq 150); do # retried with backoff: 1 s, 2 s, ...
    expect_status 200 GET /connectors/beta
    [ "$(jq .restarts "$WORK/body")" -ge 2 ] && break
    sleep 0.2
done
[ "$(jq .restarts "$WORK/body")" -ge 2 ] || { cat "$WORK/body"; fail "beta was not retried"; }
grep -q '\[beta\] restarting in' "$WORK/sluice.log" || fail "no restart was logged"
scrape
[ "$(metric 'sluice_connector_errors_total|connector=beta,kind=fatal')" -ge 2 ] || fail "fatal errors metric"
[ "$(metric 'sluice_connector_restarts_total|connector=beta')" -ge 2 ] || fail "restarts metric"
[ "$(metric 'sluice_connector_restarts_total|connector=alpha')" = 0 ] || fail "alpha restarted"
note "fixing the cause lets the next retry succeed"
sql -d shop2 -c "CREATE PUBLICATION pub_b FOR TABLE b_t"
wait_state beta running 90
sql -d shop2 -c "INSERT INTO b_t SELECT g, 'after-recovery' FROM generate_series(201, 220) g"
wait_rows "$WORK/out_b" after-recovery 20

note "restart drains and starts again"
expect_status 202 POST /connectors/alpha/restart
wait_state alpha running
for i in $(seq 50); do
    [ "$(jq .restarts "$WORK/body")" = 1 ] && break
    sleep 0.2; expect_status 200 GET /connectors/alpha
done
[ "$(jq .restarts "$WORK/body")" = 1 ] || { cat "$WORK/body"; fail "restart not counted"; }
grep -q '\[alpha\] drained; bookmark committed; starting again' "$WORK/sluice.log" ||
    fail "restart did not drain"
sql -c "INSERT INTO a_t SELECT g, 'after-restart' FROM generate_series(3001, 3010) g"
wait_rows "$WORK/out_a" after-restart 10

note "SIGHUP: a changed connector restarts, an added one starts, the others are untouched"
sql -d shop2 -c "CREATE TABLE g_t (id int PRIMARY KEY)"
BETA_HEARTBEAT=2s write_config "  - name: gamma
    source: {type: postgres, host: 127.0.0.1, port: $PGPORT, user: postgres, database: shop2,
             tables: {include: [public.g_t]}, snapshot: never}
    sink: {type: files, path: $WORK/out_g, rotate: {max_seconds: 1}}"
expect_status 200 GET /connectors/beta
beta_restarts=$(jq .restarts "$WORK/body")
kill -HUP "$SLUICE_PID"
wait_state gamma running
for i in $(seq 100); do
    expect_status 200 GET /connectors/beta
    [ "$(jq .restarts "$WORK/body")" -gt "$beta_restarts" ] && [ "$(jq -r .state "$WORK/body")" = running ] && break
    sleep 0.2
done
[ "$(jq .restarts "$WORK/body")" = $((beta_restarts + 1)) ] || { cat "$WORK/body"; fail "beta was not restarted once"; }
expect_status 200 GET /connectors/alpha
[ "$(jq .restarts "$WORK/body")" = 1 ] || fail "alpha was restarted by a reload that did not change it"
grep -q '\[beta\] configuration changed' "$WORK/sluice.log" || fail "change not logged"
sql -d shop2 -c "INSERT INTO g_t VALUES (1), (2)"
wait_rows "$WORK/out_g" '"op":"c"' 2
note "removing a connector drains and drops it"
write_config
kill -HUP "$SLUICE_PID"
for i in $(seq 100); do
    expect_status 200 GET /connectors
    [ "$(jq '.connectors | length' "$WORK/body")" = 2 ] && break
    sleep 0.2
done
[ "$(jq -c '[.connectors[].name]' "$WORK/body")" = '["alpha","beta"]' ] || fail "gamma not removed"
expect_status 404 GET /connectors/gamma
note "a broken file is refused and the running configuration kept"
echo "worker: {" >"$WORK/w.yaml"
kill -HUP "$SLUICE_PID"
sleep 1
grep -q 'keeping the running configuration' "$WORK/sluice.log" || fail "bad reload not refused"
[ "$(state_of alpha)" = running ] || fail "a bad reload disturbed alpha"

note "the token can be changed by a reload"
TOKEN2='T0ken-Http-Second-5e9f'
write_config
printf '%s\n' "$TOKEN2" >"$WORK/token"
kill -HUP "$SLUICE_PID"
for i in $(seq 50); do
    [ "$(curl -s -o /dev/null -w '%{http_code}' "$H/connectors")" = 401 ] || break
    code=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $TOKEN2" "$H/connectors")
    [ "$code" = 200 ] && break
    sleep 0.2
done
[ "$code" = 200 ] || fail "the new token is not accepted"
api GET /connectors
[ "$CODE" = 401 ] || fail "the old token is still accepted"

note "healthcheck subcommand"
"$SLUICE_BIN" healthcheck --address "127.0.0.1:$HP" >/dev/null || fail "sluice healthcheck"
if "$SLUICE_BIN" healthcheck --address "127.0.0.1:$(free_port)" 2>"$WORK/hc.err"; then
    fail "healthcheck of nothing passed"
fi
grep -q 'cannot connect' "$WORK/hc.err" || fail "healthcheck error: $(cat "$WORK/hc.err")"

sluice_stop || fail "sluice did not stop cleanly"
grep -q '\[alpha\] stopped; bookmark committed' "$WORK/sluice.log" || fail "no final commit"

note "no secret anywhere"
for s in "$SECRET" "$TOKEN" "$TOKEN2"; do
    if grep -rqF -- "$s" "$WORK/sluice.log" "$WORK/sluice.out" "$WORK/resp" "$WORK/metrics" \
        "$WORK/body"; then
        grep -rlF -- "$s" "$WORK/sluice.log" "$WORK/sluice.out" "$WORK/resp"
        fail "a secret was printed"
    fi
done
echo "PASS: HTTP API, metrics, pause/resume, failure isolation and retry, reload, no secrets"
