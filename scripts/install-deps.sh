#!/usr/bin/env bash
# sluice: install what building, testing and the demo need on Debian 12 (as root).
# Runs `apt-get update` once and installs only the packages that are missing.
set -euo pipefail
PKGS=(build-essential cmake pkg-config clang libclang-rt-14-dev
      libpq-dev libyaml-dev libjansson-dev libcmocka-dev zlib1g-dev libzstd-dev
      postgresql postgresql-client python3 zstd jq procps
      librdkafka-dev kcat default-libmysqlclient-dev mariadb-server
      libmicrohttpd-dev curl shellcheck python3-yaml)
missing=()
for p in "${PKGS[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    if [ "$(id -u)" != 0 ]; then
        echo "install-deps: run as root to install: ${missing[*]}" >&2
        exit 1
    fi
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
