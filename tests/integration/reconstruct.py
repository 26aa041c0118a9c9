#!/usr/bin/env python3
# sluice integration tests: rebuild each table from the file sink's output (or from Kafka
# topics dumped by kcat), and check delivery and per-key order. Writes
# <dest>/<schema>.<table>.json row arrays.
#   reconstruct.py OUT DEST                         file sink output directory
#   reconstruct.py --kafka DUMP DEST [BOOKMARKS]    DUMP/<topic>.jsonl from `kcat -C -J`,
#       DUMP/_metadata.json from `kcat -L -J`; also checks Java murmur2 partitions,
#       tombstones after deletes, and (with BOOKMARKS, lines "<commit_lsn> <event>") that
#       every duplicate lies after a stored bookmark.
# MySQL envelopes (source.db, no source.schema) are ordered and deduplicated by
# (file, pos, row) and written as sluice encoded them (compared by my_compare.py).
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

class Rebuild:
    """Tables rebuilt from envelopes applied in stream order."""

    def __init__(self, schemas):
        self.schemas = schemas
        self.tables = defaultdict(dict)   # qualified -> key -> row
        self.last_pos = {}                # (qualified, key) -> (commit_lsn, total_order)
        self.seen = set()
        self.stats = defaultdict(int)
        self.dups = self.order_bad = 0
        self.mysql = set()                # tables written as sluice encoded them
        self.snap_repeats = 0             # snapshot rows seen again (same place, same row)
        self.snap_keys = set()            # (qualified, key) of every snapshot row

    @staticmethod
    def ident(ev):
        src = ev["source"]
        if ev["op"] == "r":
            # snapshot rows carry no transaction; after a crash a chunk is read again
            # (at least once), so they are identified by where and what they are
            return ("r", Rebuild.pos(ev), json.dumps(ev["after"], sort_keys=True))
        if src["connector"] == "mysql":
            # MySQL transaction ids are GTIDs or file:pos; (file, pos, row) is unique
            return (src["file"], src["pos"], src["row"])
        return (ev["transaction"]["id"], ev["transaction"]["total_order"])

    @staticmethod
    def pos(ev):
        src = ev["source"]
        if ev["op"] == "r":
            # placed just before the changes that commit at or after its stream position
            if src["connector"] == "mysql":
                return (src["file"], src["pos"], 0)
            return (src["lsn"], 0)
        if src["connector"] == "mysql":
            # binlog order: file (fixed-width sequence), transaction start, row in it
            return (src["file"], src["pos"], src["row"])
        tx = ev["transaction"]
        return (int(tx["id"].split(":")[1]), tx["total_order"])

    @staticmethod
    def qualified(src):
        """schema.table for PostgreSQL, db.table for MySQL (which has no source.schema)."""
        return (src.get("schema") or src["db"]) + "." + src["table"]

    def keyof(self, ev):
        """(qualified, key text) of a keyed table's event; None for keyless or truncate."""
        src = ev["source"]
        q = self.qualified(src)
        keycols = self.schemas[(q, src["schema_version"])]["key"]
        if ev["op"] == "t" or not keycols:
            return None
        row = ev["after"] if ev["op"] in ("c", "u", "r") else ev["before"]
        return (q, json.dumps([row[k] for k in keycols]))

    def event(self, ev):
        """Dedupe, check per-key order, apply (the file sink's stream order)."""
        ident = self.ident(ev)
        if ident in self.seen:
            if ev["op"] == "r":
                self.snap_repeats += 1  # a snapshot row delivered again after a crash
            else:
                self.dups += 1
            return
        self.seen.add(ident)
        k = self.keyof(ev)
        if k is not None:
            pos = self.pos(ev)
            if ev["op"] == "r":
                self.snap_keys.add(k)
                if k in self.last_pos and self.last_pos[k] > pos:
                    self.order_bad += 1
            elif k in self.last_pos and self.last_pos[k] >= pos:
                self.order_bad += 1
            self.last_pos[k] = pos
        self.apply(ev)

    def apply(self, ev):
        src = ev["source"]
        q = self.qualified(src)
        tables = self.tables
        self.stats[ev["op"]] += 1
        if src["connector"] == "mysql":
            self.mysql.add(q)
        schema = self.schemas[(q, src["schema_version"])]
        keycols = schema["key"]
        types = {c["name"]: c["type"] for c in schema["columns"]}
        if ev["op"] == "t":
            tables[q] = {}
            return
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
            return
        row = ev["after"] if ev["op"] in ("c", "u", "r") else ev["before"]
        key = json.dumps([row[k] for k in keycols])
        if ev["op"] == "d":
            tables[q].pop(key, None)
            return
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

    def write(self, dest, extra=None):
        os.makedirs(dest, exist_ok=True)
        for q, rows in self.tables.items():
            types = rows.pop("__types__", {})
            bag = rows.pop("__bag__", {})
            for k, n in bag.items():
                for i in range(n):
                    rows[k + "#" + str(i)] = json.loads(k)
            conv = []
            if q in self.mysql:
                # kept as encoded: tests/integration/my_compare.py reads them
                conv, rows = list(rows.values()), {}
            for r in rows.values():
                c = {}
                for k, v in r.items():
                    t = types.get(k, "")
                    if v is not None and t == "bytea":
                        v = "\\x" + base64.b64decode(v).hex()
                    elif v is not None and t == "_bytea":
                        v = ["\\x" + base64.b64decode(x).hex() if x is not None else None
                             for x in v]
                    elif isinstance(v, str) and t in ("date", "timestamp", "timestamptz"):
                        v = pg_era(v)
                    elif v is not None and t in ("json", "jsonb"):
                        v = json.loads(v)
                    c[k] = v
                conv.append(c)
            with open(os.path.join(dest, q + ".json"), "w") as f:
                json.dump(conv, f)
        total = sum(self.stats.values())
        out = {"events": total, "ops": dict(self.stats), "duplicates": self.dups,
               "order_violations": self.order_bad,
               "snapshot_repeats": self.snap_repeats, "snapshot_keys": len(self.snap_keys),
               "tables": {q: len(r) for q, r in self.tables.items()}}
        out.update(extra or {})
        print(json.dumps(out))


def files_main(out, dest):
    schemas = {}
    for p in glob.glob(os.path.join(out, "_schemas", "*", "v*.json")):
        with open(p) as f:
            doc = json.load(f)
        schemas[(doc["table"], doc["version"])] = doc
    rb = Rebuild(schemas)
    topics = [d for d in os.listdir(out) if not d.startswith("_")]
    for topic in sorted(topics):
        files = [p for p in glob.glob(os.path.join(out, topic, "**", "*"), recursive=True)
                 if os.path.isfile(p) and not os.path.basename(p).startswith(".")]
        # names start with the first position: sorting by name is stream order
        for path in sorted(files, key=os.path.basename):
            for line in read_lines(path):
                rb.event(json.loads(line))
    rb.write(dest)


def murmur2(data):
    """org.apache.kafka.common.utils.Utils.murmur2 (the Java default partitioner's)."""
    m, r, mask = 0x5BD1E995, 24, 0xFFFFFFFF
    n = len(data)
    h = (0x9747B28C ^ n) & mask
    for i in range(n // 4):
        k = int.from_bytes(data[i * 4:i * 4 + 4], "little")
        k = (k * m) & mask
        k ^= k >> r
        k = (k * m) & mask
        h = (h * m) & mask
        h ^= k
    rest = n % 4
    o = n - rest
    if rest == 3:
        h ^= data[o + 2] << 16
    if rest >= 2:
        h ^= data[o + 1] << 8
    if rest >= 1:
        h ^= data[o]
        h = (h * m) & mask
    h ^= h >> 13
    h = (h * m) & mask
    h ^= h >> 15
    return h


def parse_lsn(s):
    hi, lo = s.split("/")
    return (int(hi, 16) << 32) | int(lo, 16)


def kafka_main(dump, dest, bookmarks_file=None):
    with open(os.path.join(dump, "_metadata.json")) as f:
        md = json.load(f)
    nparts = {t["topic"]: len(t["partitions"]) for t in md["topics"]}
    low = os.path.join(dump, "_low.txt")
    if os.path.exists(low):
        for line in open(low):  # "<topic> [<partition>] offset <n>"
            if line.strip() and int(line.split()[-1]) != 0:
                raise SystemExit(f"the cluster no longer holds the oldest messages ({line.strip()}):"
                                 " the mock keeps ~5 MB per partition; use more partitions")
    schemas = {}
    msgs = {}
    for path in glob.glob(os.path.join(dump, "*.jsonl")):
        topic = os.path.basename(path)[:-len(".jsonl")]
        with open(path, encoding="utf-8") as f:
            ms = [json.loads(line) for line in f if line.strip()]
        if topic.endswith(".__schemas"):
            for m in ms:
                doc = json.loads(m["payload"])
                if m["key"] != f'{doc["table"]}:v{doc["version"]}':
                    raise SystemExit(f"schema document under the wrong key {m['key']}")
                schemas[(doc["table"], doc["version"])] = doc
        elif not topic.endswith(".__bookmarks"):
            msgs[topic] = ms
    rb = Rebuild(schemas)
    copies = defaultdict(int)
    partition_bad = tomb_missing = tomb_stray = tombstones = 0
    for topic, ms in sorted(msgs.items()):
        ms.sort(key=lambda m: (m["partition"], m["offset"]))
        firsts = []
        pending = {}  # (partition, key) -> True after a first-seen delete, until its tombstone
        for m in ms:
            if m["key"] is not None:
                want = murmur2(m["key"].encode()) & 0x7FFFFFFF
                if m["partition"] != want % nparts[topic]:
                    partition_bad += 1
            pk = (m["partition"], m["key"])
            if m["payload"] is None:
                tombstones += 1
                if m["key"] is None or not pending.pop(pk, False):
                    # a replayed delete's tombstone again, or a stray one
                    if m["key"] is None:
                        tomb_stray += 1
                continue
            ev = json.loads(m["payload"])
            ident = rb.ident(ev)
            copies[ident] += 1
            if copies[ident] > 1:
                rb.dups += 1
                continue
            k = rb.keyof(ev)
            if k is not None:
                if json.dumps(json.loads(m["key"]), sort_keys=True) != json.dumps(
                        dict(zip(schemas[(k[0], ev["source"]["schema_version"])]["key"],
                                 json.loads(k[1]))), sort_keys=True):
                    raise SystemExit(f"{topic}: message key {m['key']} is not the row's key")
                if pending.get(pk):
                    tomb_missing += 1  # a new event of a deleted key before its tombstone
                    pending.pop(pk)
                pos = rb.pos(ev)
                if k in rb.last_pos and rb.last_pos[k] >= pos:
                    rb.order_bad += 1
                rb.last_pos[k] = pos
                if ev["op"] == "d":
                    pending[pk] = True
            firsts.append(ev)
        tomb_missing += len(pending)
        # across partitions only positions order events (truncates, keyless rows)
        firsts.sort(key=rb.pos)
        for ev in firsts:
            rb.seen.add(rb.ident(ev))
            rb.apply(ev)
    extra = {"partition_violations": partition_bad, "tombstones": tombstones,
             "missing_tombstones": tomb_missing, "stray_tombstones": tomb_stray}
    if bookmarks_file:
        bms = []
        with open(bookmarks_file) as f:
            for line in f:
                if line.strip():
                    lsn, event = line.split()
                    bms.append((parse_lsn(lsn), 1 << 62 if event == "done" else int(event)))
        bad = 0
        for ident, n in copies.items():
            if n > 1:
                pos = (int(ident[0].split(":")[1]), ident[1])
                allowed = sum(1 for b in bms if b < pos)
                bad += max(0, n - 1 - allowed)
        extra["duplicates_before_bookmark"] = bad
        extra["kills"] = len(bms)
    rb.write(dest, extra)


def main():
    if sys.argv[1] == "--kafka":
        kafka_main(sys.argv[2], sys.argv[3], sys.argv[4] if len(sys.argv) > 4 else None)
    else:
        files_main(sys.argv[1], sys.argv[2])

main()
