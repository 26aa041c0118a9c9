#!/usr/bin/env python3
# sluice integration tests: compare MariaDB tables with the rows reconstruct.py rebuilt from
# the output (DEST/<db>.<table>.json), row for row, through one canonical text per value.
#   my_compare.py SOCKET DEST db.table...
# Each value becomes text the same way on both sides: the database side in SQL (HEX of the
# bytes for strings and binaries, CAST for the rest, UTC session), the output side in Python
# from sluice's documented encoding (docs/types.md), so no client escaping is involved.
import base64, json, os, struct, subprocess, sys
from collections import Counter

SOCK, DEST, TABLES = sys.argv[1], sys.argv[2], sys.argv[3:]
TEXT = {"char", "varchar", "tinytext", "text", "mediumtext", "longtext", "enum", "set",
        "json"}
BINARY = {"binary", "varbinary", "tinyblob", "blob", "mediumblob", "longblob", "geometry",
          "point", "linestring", "polygon", "multipoint", "multilinestring", "multipolygon",
          "geometrycollection"}


def query(sql):
    out = subprocess.run(["mariadb", "--no-defaults", "--default-character-set=utf8mb4", "-uroot", "-S", SOCK, "--batch",
                          "--skip-column-names", "-e", "SET time_zone='+00:00';" + sql],
                         check=True, capture_output=True, text=True).stdout
    return [line.split("\t") for line in out.splitlines()]


def columns(db, table):
    return query("SELECT COLUMN_NAME, DATA_TYPE, COLUMN_TYPE FROM information_schema.COLUMNS "
                 f"WHERE TABLE_SCHEMA='{db}' AND TABLE_NAME='{table}' ORDER BY ORDINAL_POSITION")


def sql_expr(name, dtype):
    c = f"`{name}`"
    if dtype in TEXT:
        e = f"HEX(CONVERT({c} USING utf8mb4))"
    elif dtype in BINARY:
        e = f"HEX({c})"
    elif dtype == "bit":
        e = f"CAST({c} + 0 AS CHAR)"
    elif dtype in ("float", "double"):
        e = f"CAST({c} AS DOUBLE)"
    else:
        e = f"CAST({c} AS CHAR)"
    return f"IFNULL({e}, '<null>')"


def canon_db(v, dtype, ctype):
    if v == "<null>":
        return None
    if dtype == "float":
        return "%.6g" % struct.unpack("f", struct.pack("f", float(v)))[0]
    if dtype == "double":
        return "%.15g" % float(v)
    if dtype == "bit" and ctype == "bit(1)":
        return str(int(v) != 0)
    return v


def canon_out(v, dtype, ctype):
    if v is None:
        return None
    if dtype in TEXT:
        return v.encode("utf-8").hex().upper()
    if dtype in BINARY:
        return base64.b64decode(v).hex().upper()
    if dtype == "float":
        return "%.6g" % struct.unpack("f", struct.pack("f", float(v)))[0]
    if dtype == "double":
        return "%.15g" % float(v)
    if dtype == "bit" and ctype == "bit(1)":
        return str(bool(v))
    if dtype in ("datetime", "timestamp"):
        return v.replace("T", " ").rstrip("Z")
    return str(v)


bad = 0
for q in TABLES:
    db, table = q.split(".", 1)
    cols = columns(db, table)
    exprs = ", ".join(sql_expr(n, d) for n, d, _ in cols)
    db_rows = Counter(tuple(canon_db(v, d, ct) for v, (_, d, ct) in zip(r, cols))
                      for r in query(f"SELECT {exprs} FROM `{db}`.`{table}`"))
    path = os.path.join(DEST, q + ".json")
    rebuilt = json.load(open(path)) if os.path.exists(path) else []
    out_rows = Counter(tuple(canon_out(r.get(n), d, ct) for n, d, ct in cols) for r in rebuilt)
    if db_rows != out_rows:
        only_db, only_out = db_rows - out_rows, out_rows - db_rows
        print(f"FAIL: {q}: {sum(only_db.values())} rows only in the database, "
              f"{sum(only_out.values())} only in the output")
        names = [n for n, _, _ in cols]
        for r in list(only_db)[:3]:
            print("  db :", dict(zip(names, r)))
        for r in list(only_out)[:3]:
            print("  out:", dict(zip(names, r)))
        bad += 1
    else:
        print(f"--- table {q}: {sum(db_rows.values())} rows match the output")
sys.exit(1 if bad else 0)
