#!/usr/bin/env bash
# sluice: the test suite. Installs what it needs, builds the worker twice (optimised, and
# with AddressSanitizer + UndefinedBehaviorSanitizer), runs unit and integration tests
# against private servers, and runs each fuzzer briefly.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
JOBS=$(nproc)
FUZZ_SECONDS=${FUZZ_SECONDS:-20}

echo "=== build (RelWithDebInfo)"
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$JOBS"

echo "=== build (ASan + UBSan)"
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DSLUICE_SANITIZE=ON >/dev/null
cmake --build build-asan -j"$JOBS"

echo "=== sanitizer run: unit tests, the type workload, snapshots and the worker HTTP test"
ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
    ctest --test-dir build-asan --output-on-failure \
    -R 'unit\.|integration\.test_pg_workload|integration\.test_(pg|my)_snapshot|integration\.test_worker_http'

echo "=== fuzzers (${FUZZ_SECONDS}s each)"
CC=clang cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=Debug -DSLUICE_FUZZ=ON >/dev/null
cmake --build build-fuzz -j"$JOBS" >/dev/null
for f in build-fuzz/tests/fuzz_*; do
    name=$(basename "$f"); corpus=tests/fuzz/corpus/${name#fuzz_}
    tmp=$(mktemp -d)
    [ -d "$corpus" ] && cp -r "$corpus"/. "$tmp"/
    "$f" -max_total_time="$FUZZ_SECONDS" -rss_limit_mb=2048 -print_final_stats=1 "$tmp" \
        >"$tmp.log" 2>&1 \
        || { tail -40 "$tmp.log"; echo "fuzzer $name found a failure"; exit 1; }
    echo "$name: $(grep -o 'stat::number_of_executed_units: [0-9]*' "$tmp.log" | awk '{print $2}') runs, no failure"
    rm -rf "$tmp" "$tmp.log"
done

echo "=== all tests (optimised build)"
ctest --test-dir build --output-on-failure
