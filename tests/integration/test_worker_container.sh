#!/usr/bin/env bash
# sluice integration: the container files without a Docker engine: shellcheck on the
# entrypoint, compose and Kubernetes files parsed and checked, the example worker configs
# validated, the Dockerfile's promises checked, and the entrypoint run outside a container
# (config from a mounted file and from $SLUICE_CONFIG, a worker probed by `sluice healthcheck`).
source "$(dirname "$0")/lib.sh"
D=$SLUICE_SOURCE_DIR/docker
command -v shellcheck >/dev/null || skip "shellcheck is not installed (apt-get install shellcheck)"
python3 -c 'import yaml' 2>/dev/null || skip "python3-yaml is not installed (apt-get install python3-yaml)"

note "shellcheck"
shellcheck "$D/entrypoint.sh" || fail "shellcheck found problems in docker/entrypoint.sh"

note "compose.yaml and k8s.yaml parse and say what they must"
python3 - "$D" <<'PY' || fail "the compose or Kubernetes file is not what it should be"
import sys, yaml
d = sys.argv[1]
c = yaml.safe_load(open(d + "/compose.yaml"))
s = c["services"]
for name in ("postgres", "mariadb", "kafka", "sluice"):
    assert name in s, "compose: no service " + name
    if name != "sluice":
        assert "healthcheck" in s[name], "compose: %s has no healthcheck" % name
assert "wal_level=logical" in " ".join(s["postgres"]["command"]), "postgres: wal_level"
my = " ".join(s["mariadb"]["command"])
for flag in ("--binlog-format=ROW", "--binlog-row-image=FULL", "--binlog-row-metadata=FULL",
             "--log-bin"):
    assert flag in my, "mariadb: " + flag
k = s["kafka"]["environment"]
assert "controller" in k["KAFKA_PROCESS_ROLES"], "kafka: not KRaft"
assert "zookeeper" not in yaml.safe_dump(s).lower(), "kafka: zookeeper"
w = s["sluice"]
assert w["build"]["dockerfile"] == "docker/Dockerfile"
assert any(v.endswith(":/etc/sluice/sluice.yaml:ro") for v in w["volumes"]), "config mount"
for dep in ("postgres", "mariadb", "kafka"):
    assert w["depends_on"][dep]["condition"] == "service_healthy", "depends_on " + dep
for v in s["postgres"]["volumes"] + s["mariadb"]["volumes"] + w["volumes"]:
    src = v.split(":")[0]
    if src.startswith("./"):
        open(d + "/" + src[2:]).close()  # every mounted file exists

docs = {x["kind"]: x for x in yaml.safe_load_all(open(d + "/k8s.yaml"))}
assert {"ConfigMap", "Deployment", "Secret"} <= set(docs), "k8s kinds: %s" % list(docs)
dep = docs["Deployment"]
assert dep["spec"]["replicas"] == 1 and dep["spec"]["strategy"]["type"] == "Recreate"
ct = dep["spec"]["template"]["spec"]["containers"][0]
assert ct["livenessProbe"]["httpGet"]["path"] == "/healthz"
assert ct["readinessProbe"]["httpGet"]["path"] == "/readyz"
assert dep["spec"]["template"]["spec"]["securityContext"]["runAsNonRoot"] is True
mounts = {m["mountPath"] for m in ct["volumeMounts"]}
assert "/etc/sluice" in mounts and "/var/lib/sluice" in mounts
PY

note "the example worker configurations are valid"
PG_PASSWORD=x MYSQL_PASSWORD=y "$SLUICE_BIN" validate -c "$D/sluice.yaml" ||
    fail "docker/sluice.yaml does not validate"
mkdir -p "$WORK/secrets" && echo pw >"$WORK/secrets/pg-password"
python3 - "$D/k8s.yaml" "$WORK" >"$WORK/k8s-sluice.yaml" <<'PY'
import sys, yaml
cm = next(x for x in yaml.safe_load_all(open(sys.argv[1])) if x["kind"] == "ConfigMap")
print(cm["data"]["sluice.yaml"].replace("/etc/sluice-secrets", sys.argv[2] + "/secrets"))
PY
"$SLUICE_BIN" validate -c "$WORK/k8s-sluice.yaml" || fail "the ConfigMap's sluice.yaml does not validate"

note "the Dockerfile"
F=$D/Dockerfile
grep -q '^FROM debian:bookworm AS build' "$F" || fail "no bookworm build stage"
grep -q '^FROM debian:bookworm-slim' "$F" || fail "no slim runtime stage"
[ "$(grep -c '^FROM ' "$F")" = 2 ] || fail "expected two stages"
grep -q '^USER 10001' "$F" || fail "the image does not switch to a non-root user"
grep -q '^HEALTHCHECK .*' "$F" && grep -q 'CMD \["/usr/local/bin/sluice", "healthcheck"\]' "$F" ||
    fail "no HEALTHCHECK with sluice healthcheck"
if sed -n '/^FROM debian:bookworm-slim/,$p' "$F" | grep -v '^ *#' | grep -q -- '-dev\b\|curl'; then
    fail "the runtime stage installs -dev packages or curl"
fi
# every path COPY'd from the build context exists
for src in $(sed -n 's/^COPY \([^-][^ ]*\) .*/\1/p' "$F"); do
    [ "$src" = . ] || [ -e "$SLUICE_SOURCE_DIR/$src" ] || fail "Dockerfile copies $src, which does not exist"
done
# the build-stage -dev packages cover every pkg-config module the build asks for
for mod in $(sed -n 's/^pkg_check_modules([A-Z_]* REQUIRED IMPORTED_TARGET \([^)]*\))/\1/p' \
             "$SLUICE_SOURCE_DIR/CMakeLists.txt"); do
    mod=${mod%%[<>=]*} # "zlib>=1.2.9": the module's name
    pkg=$(dpkg -S "$(pkg-config --variable=pcfiledir "$mod")/$mod.pc" 2>/dev/null | cut -d: -f1)
    [ -n "$pkg" ] || continue
    grep -q -- "$pkg" "$F" || fail "the build stage lacks $pkg (pkg-config $mod)"
done

note "the entrypoint: no configuration"
E=$D/entrypoint.sh
export SLUICE_BIN SLUICE_RUNTIME_DIR=$WORK/rt
rc=0
out=$(SLUICE_CONFIG_FILE=$WORK/none.yaml sh "$E" validate 2>&1) || rc=$?
[ "$rc" = 2 ] && echo "$out" | grep -q 'mount it at' || fail "no config: rc=$rc $out"
sh "$E" version | grep -q '^sluice ' || fail "entrypoint version"

pg_start
sql -c "CREATE TABLE t (id int PRIMARY KEY)"
HP=$(free_port)
SECRET='S3cr3t-Entrypoint-3b7e'
export SLUICE_TEST_SECRET=$SECRET
cat >"$WORK/c.yaml" <<YAML
worker: {data_dir: $WORK/var, http: "0.0.0.0:$HP"}
connectors:
  - name: box
    source: {type: postgres, host: 127.0.0.1, port: $PGPORT, user: postgres, database: shop,
             password: "\${env:SLUICE_TEST_SECRET}", snapshot: never}
    sink: {type: files, path: $WORK/out, rotate: {max_seconds: 1}}
YAML

note "the entrypoint: a mounted file"
SLUICE_CONFIG_FILE=$WORK/c.yaml sh "$E" validate | grep -q 'ok (1 connector)' ||
    fail "validate through the entrypoint with a mounted file"

note "the entrypoint: the text in SLUICE_CONFIG, then run, probe, stop"
SLUICE_CONFIG=$(cat "$WORK/c.yaml") SLUICE_CONFIG_FILE=$WORK/none.yaml \
    sh "$E" >"$WORK/sluice.out" 2>"$WORK/sluice.log" &
SLUICE_PID=$!
CLEANUPS+=("kill -9 $SLUICE_PID 2>/dev/null") # a failing check must not leave it running
[ "$(stat -c %a "$WORK/rt")" = 700 ] || sleep 0.5
[ "$(stat -c %a "$WORK/rt")" = 700 ] || fail "the runtime directory is not private"
[ "$(stat -c %a "$WORK/rt/sluice.yaml")" = 600 ] || fail "the written config is readable by others"
wait_for_slot sluice_box
# the entrypoint execs: the process we started is the worker itself (PID 1 in a container)
[ "$(cat /proc/$SLUICE_PID/comm)" = sluice ] || fail "the entrypoint did not exec sluice"
for i in $(seq 50); do
    SLUICE_HEALTHCHECK_ADDRESS=127.0.0.1:$HP "$SLUICE_BIN" healthcheck >/dev/null 2>&1 && break
    sleep 0.2
done
SLUICE_HEALTHCHECK_ADDRESS=127.0.0.1:$HP "$SLUICE_BIN" healthcheck >/dev/null ||
    fail "sluice healthcheck with SLUICE_HEALTHCHECK_ADDRESS"
sh "$E" healthcheck --address "0.0.0.0:$HP" >/dev/null || fail "healthcheck of a wildcard address"
SLUICE_CONFIG_FILE=$WORK/c.yaml sh "$E" healthcheck -c "$WORK/c.yaml" >/dev/null ||
    fail "healthcheck -c FILE"
sql -c "INSERT INTO t SELECT generate_series(1, 10)"
wait_for_output '"op":"c"'
kill -TERM "$SLUICE_PID"
wait "$SLUICE_PID" || fail "the worker did not stop cleanly on SIGTERM"
out=$(SLUICE_CONFIG=$(cat "$WORK/c.yaml") sh "$E" offsets show --connector box)
echo "$out" | jq -e .lsn >/dev/null || fail "offsets through the entrypoint: $out"
if grep -qF -- "$SECRET" "$WORK/sluice.log" "$WORK/sluice.out"; then
    fail "the secret was printed"
fi
echo "PASS: container files checked, entrypoint exercised"
