#!/bin/sh
# sluice: container entrypoint: finds the configuration (a file mounted at
# /etc/sluice/sluice.yaml, or its text in $SLUICE_CONFIG) and execs the worker on it.
#
#   run | validate | check [args]   the command with -c <config> added (default: run)
#   offsets show|set|reset [args]   the same for offsets
#   anything else                   passed to sluice as it is (version, healthcheck, ...)
#
# SLUICE_CONFIG_FILE moves the mounted path; SLUICE_RUNTIME_DIR is where the text of
# SLUICE_CONFIG is written (default $TMPDIR/sluice); SLUICE_BIN the binary (for tests).
# A reload (SIGHUP) re-reads the file: with SLUICE_CONFIG that is the same text, so
# mount a file (a Kubernetes ConfigMap volume is updated in place) to reload changes.
set -eu

bin=${SLUICE_BIN:-/usr/local/bin/sluice}
config=${SLUICE_CONFIG_FILE:-/etc/sluice/sluice.yaml}

if [ -n "${SLUICE_CONFIG:-}" ]; then
    # the text may hold secrets: write it where only this user can read it
    dir=${SLUICE_RUNTIME_DIR:-${TMPDIR:-/tmp}/sluice}
    mkdir -p "$dir"
    chmod 700 "$dir"
    config=$dir/sluice.yaml
    (umask 077 && printf '%s\n' "$SLUICE_CONFIG" >"$config")
fi

cmd=${1:-run}
if [ $# -gt 0 ]; then
    shift
fi

need_config() {
    if [ ! -r "$config" ]; then
        echo "sluice: no configuration: mount it at $config or put its text in SLUICE_CONFIG" >&2
        exit 2
    fi
}

case $cmd in
run | validate | check)
    need_config
    exec "$bin" "$cmd" -c "$config" "$@"
    ;;
offsets)
    need_config
    sub=${1:-show}
    if [ $# -gt 0 ]; then
        shift
    fi
    exec "$bin" offsets "$sub" -c "$config" "$@"
    ;;
*)
    exec "$bin" "$cmd" "$@"
    ;;
esac
