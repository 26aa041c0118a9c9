#!/usr/bin/env bash
# sluice demo: builds sluice, starts a private PostgreSQL with some rows, copies them (a
# snapshot, op r), streams the changes made after to Hive-partitioned files, and shows
# what arrived. Output is kept in ./demo-out.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
bash scripts/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$(nproc)" >/dev/null
export SLUICE_BIN=$ROOT/build/sluice SLUICE_SOURCE_DIR=$ROOT
source tests/integration/lib.sh
trap - EXIT
trap 'cleanup' EXIT

echo "== starting a private PostgreSQL 15 (wal_level=logical)"
pg_start
echo "   127.0.0.1:$PGPORT, data in $PG_DATA"
sql <<'SQL'
CREATE TABLE customers (id serial PRIMARY KEY, name text, email text, since date);
CREATE TABLE orders (id bigserial PRIMARY KEY, customer int REFERENCES customers,
                     amount numeric(10,2), placed timestamptz DEFAULT now(), items jsonb);
-- rows that exist before sluice starts: the snapshot copies them
INSERT INTO customers (name, email, since) VALUES
  ('Ada', 'ada@example.com', '2020-01-01'), ('Grace', 'grace@example.com', '2021-06-15');
INSERT INTO orders (customer, amount, items) VALUES (1, 19.99, '[{"sku": "A1", "qty": 1}]');
SQL
write_pg_config "$WORK/demo.yaml" "snapshot: initial"
echo "== config:"; sed 's/^/   /' "$WORK/demo.yaml"
"$SLUICE_BIN" validate -c "$WORK/demo.yaml"
"$SLUICE_BIN" check -c "$WORK/demo.yaml"
echo "== sluice run (streaming to $WORK/out)"
sluice_start "$WORK/demo.yaml"
wait_for_slot
sql <<'SQL'
INSERT INTO orders (customer, amount, items) VALUES (2, 250.00, '[{"sku": "B7", "qty": 5}]');
UPDATE customers SET email = 'ada@lovelace.org' WHERE id = 1;
DELETE FROM orders WHERE id = 2;
INSERT INTO orders (customer, amount) SELECT 1, g FROM generate_series(1, 1000) g;
SQL
wait_for_output '"amount":"1000.00"' 30
sluice_stop
echo "== files written:"
(cd "$WORK/out" && find . -type f | sort | sed 's/^/   /')
echo "== the customers: the snapshot (op r), then the change, one envelope per line:"
cat $(find "$WORK/out/shop.public.customers" -name '*.jsonl' | sort) \
    | jq -c '{op, snapshot: .source.snapshot, before, after, lsn: .source.lsn}'
echo "== bookmark:"
"$SLUICE_BIN" offsets show -c "$WORK/demo.yaml" --connector shop
rm -rf "$ROOT/demo-out" && cp -r "$WORK/out" "$ROOT/demo-out"
echo "== output kept in $ROOT/demo-out"
