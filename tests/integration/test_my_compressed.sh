#!/usr/bin/env bash
# sluice integration: test_my_workload.sh against a MariaDB that compresses its binlog
# events (log_bin_compress, from 10 bytes of query text or row data on): every column
# type, updates, deletes, DDL and a 5000-row transaction, read from QUERY_COMPRESSED and
# *_ROWS_COMPRESSED events, must rebuild the same tables.
MY_OPTS="--log-bin-compress --log-bin-compress-min-len=10" \
    exec bash "$(dirname "$0")/test_my_workload.sh"
