#!/usr/bin/env python3
# sluice integration tests: rebuild each table from the file sink's output, and check
# exactly-once delivery and per-key order. Writes <dest>/<schema>.<table>.json row arrays.
import base64, glob, gzip, json, os, re, subprocess, sys
from collections import defaultdict

MARKER = "__debezium_unavailable_value"

def pg_era(v):
    """ISO-8601 years <= 0 (astronomical: 0000 is 1 BC) back to PostgreSQL's 'BC' form."""
    m = re.match(r"^(-?\d{4,})(-.*)$", v)
    if not m or int(m.group(1)) > 0:
        return v
    return f"{1 - int(m.group(1)):04d}{m.group(2).replace('T', ' ')} BC"

def read_lines(path):
    if path.endswith(".gz"):
        with gzip.open(path, "rt", encoding="utf-8") as f:
            return f.read().splitlines()
    if path.endswith(".zst"):
        return subprocess.run(["zstd", "-dcq", path], check=True, capture_output=True,
                              text=True).stdout.splitlines()
    with open(path, encoding="utf-8") as f:
        return f.read().splitlines()

def main():
    out, dest = sys.argv[1], sys.argv[2]
    os.makedirs(dest, exist_ok=True)
    schemas = {}
    for p in glob.glob(os.path.join(out, "_schemas", "*", "v*.json")):
        with open(p) as f:
            doc = json.load(f)
        schemas[(doc["table"], doc["version"])] = doc
    tables = defaultdict(dict)       # qualified -> key -> row
    last_pos = {}                    # (qualified, key) -> (commit_lsn, total_order)
    seen = set()
    stats = defaultdict(int)
    dups = order_bad = 0
    topics = [d for d in os.listdir(out) if not d.startswith("_")]
    for topic in sorted(topics):
        files = [p for p in glob.glob(os.path.join(out, topic, "**", "*"), recursive=True)
                 if os.path.isfile(p) and not os.path.basename(p).startswith(".")]
        # names start with the first position: sorting by name is stream order
        for path in sorted(files, key=os.path.basename):
            for line in read_lines(path):
                ev = json.loads(line)
                src, tx = ev["source"], ev["transaction"]
                q = src["schema"] + "." + src["table"]
                xid, commit = tx["id"].split(":")
                ident = (tx["id"], tx["total_order"])
                if ident in seen:
                    dups += 1
                    continue
                seen.add(ident)
                stats[ev["op"]] += 1
                schema = schemas[(q, src["schema_version"])]
                keycols = schema["key"]
                types = {c["name"]: c["type"] for c in schema["columns"]}
                if ev["op"] == "t":
                    tables[q] = {}
                    continue
                tables[q].setdefault("__types__", types)
                if not keycols:
                    # no key: the table is a multiset of whole rows (REPLICA IDENTITY FULL)
                    bag = tables[q].setdefault("__bag__", {})
                    if ev["before"] is not None and ev["op"] in ("u", "d"):
                        k = json.dumps(ev["before"], sort_keys=True)
                        if bag.get(k, 0) == 0:
                            raise SystemExit(f"{q}: delete of a row that is not there: {k}")
                        bag[k] -= 1
                    if ev["after"] is not None:
                        k = json.dumps(ev["after"], sort_keys=True)
                        bag[k] = bag.get(k, 0) + 1
                    continue
                row = ev["after"] if ev["op"] in ("c", "u", "r") else ev["before"]
                key = json.dumps([row[k] for k in keycols])
                pos = (int(commit), tx["total_order"])
                if (q, key) in last_pos and last_pos[(q, key)] >= pos:
                    order_bad += 1
                last_pos[(q, key)] = pos
                if ev["op"] == "d":
                    tables[q].pop(key, None)
                    continue
                old = tables[q].get(key)
                new = {}
                for k, v in row.items():
                    if v == MARKER:
                        if old is None:
                            raise SystemExit(f"unchanged TOAST value for {q} {key} with no "
                                             "earlier row")
                        v = old[k]
                    new[k] = v
                tables[q][key] = new
    for q, rows in tables.items():
        types = rows.pop("__types__", {})
        bag = rows.pop("__bag__", {})
        for k, n in bag.items():
            for i in range(n):
                rows[k + "#" + str(i)] = json.loads(k)
        conv = []
        for r in rows.values():
            c = {}
            for k, v in r.items():
                t = types.get(k, "")
                if v is not None and t == "bytea":
                    v = "\\x" + base64.b64decode(v).hex()
                elif v is not None and t == "_bytea":
                    v = ["\\x" + base64.b64decode(x).hex() if x is not None else None for x in v]
                elif isinstance(v, str) and t in ("date", "timestamp", "timestamptz"):
                    v = pg_era(v)
                elif v is not None and t in ("json", "jsonb"):
                    v = json.loads(v)
                c[k] = v
            conv.append(c)
        with open(os.path.join(dest, q + ".json"), "w") as f:
            json.dump(conv, f)
    total = sum(stats.values())
    print(json.dumps({"events": total, "ops": dict(stats), "duplicates": dups,
                      "order_violations": order_bad,
                      "tables": {q: len(r) for q, r in tables.items()}}))

main()
