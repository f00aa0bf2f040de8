#!/usr/bin/env python3
"""col_estimate.py -- issue 26 spike (docs/STORAGE-notes.md): which data paths
occur in a file of NDJSON events, their types and distinct counts, and an
estimate of the bytes per event of a column form (pos, time, recorded, stream
id, type id, kind, and the data paths in >= 50% of events), each column
written raw per block of BLOCK events and compressed with the zstd command.

    col_estimate.py EVENTS.ndjson [OUTDIR] [BLOCK] [MIN_FRACTION]

MIN_FRACTION (default 0.5): the paths occurring in at least that fraction of
events get a column.
"""
import json, os, struct, subprocess, sys
from array import array
from datetime import datetime

src = sys.argv[1]
out = sys.argv[2] if len(sys.argv) > 2 else "/tmp/col_est"
BLOCK = int(sys.argv[3]) if len(sys.argv) > 3 else 65536
MINF = float(sys.argv[4]) if len(sys.argv) > 4 else 0.5
os.makedirs(out, exist_ok=True)

def tname(v):
    if v is None: return "null"
    if isinstance(v, bool): return "bool"
    if isinstance(v, int): return "int"
    if isinstance(v, float): return "float"
    if isinstance(v, str): return "string"
    if isinstance(v, list): return "array"
    return "object"

def flat(prefix, obj, acc):
    for k, v in obj.items():
        p = prefix + "." + k
        if isinstance(v, dict) and v:
            flat(p, v, acc)
        else:
            acc[p] = v

def us(t):
    if t is None: return 0
    if isinstance(t, (int, float)): return int(t * 1000)
    d = datetime.fromisoformat(t.replace("Z", "+00:00"))
    return int(d.timestamp()) * 1000000 + d.microsecond

rows = []
count = {}; types = {}; distinct = {}
streams = {}; typesd = {}
n = 0
with open(src) as f:
    for line in f:
        e = json.loads(line)
        n += 1
        acc = {}
        flat("data", e.get("data") or {}, acc)
        for p, v in acc.items():
            count[p] = count.get(p, 0) + 1
            types.setdefault(p, {}).setdefault(tname(v), 0)
            types[p][tname(v)] += 1
            d = distinct.setdefault(p, set())
            if len(d) <= 2000000:
                d.add(json.dumps(v))
        rows.append((us(e.get("time")), e.get("stream", ""), e.get("type", ""), e.get("kind", "event"), acc))

print(f"# {n} events, {len(count)} distinct data paths")
print("| path | fraction | types | distinct |")
print("|---|---|---|---|")
top = sorted(count.items(), key=lambda kv: -kv[1])
for p, c in top[:30]:
    ts = ", ".join(f"{t} {v/c:.0%}" if len(types[p]) > 1 else t for t, v in sorted(types[p].items(), key=lambda kv: -kv[1]))
    print(f"| `{p}` | {c/n:.3f} | {ts} | {len(distinct[p])} |")

cols = [p for p, c in top if c / n >= MINF]
print(f"\n# column paths (>= {MINF:.0%}): {cols}")

# raw columns, block by block
def zsize(path, level=3):
    r = subprocess.run(["zstd", "-q", "-c", f"-{level}", path], capture_output=True, check=True)
    return len(r.stdout)

sizes = {}   # column -> (raw, z)
def emit(name, data):
    fn = os.path.join(out, "blk.bin")
    with open(fn, "wb") as fo: fo.write(data)
    raw, z = len(data), zsize(fn)
    r0, z0 = sizes.get(name, (0, 0))
    sizes[name] = (r0 + raw, z0 + z)

sid = {}; tid = {}; dicts = {p: {} for p in cols}
for b0 in range(0, n, BLOCK):
    blk = rows[b0:b0 + BLOCK]
    emit("pos (first + count)", struct.pack("<QI", b0 + 1, len(blk)))
    emit("recorded (per batch)", struct.pack("<q", 0))
    prev = blk[0][0]; ta = array("q")
    for r in blk: ta.append(r[0] - prev); prev = r[0]
    emit("time (delta i64)", ta.tobytes())
    sa = array("I"); tya = array("B"); ka = array("B")
    for r in blk:
        sa.append(sid.setdefault(r[1], len(sid)))
        tya.append(tid.setdefault(r[2], len(tid)))
        ka.append({"event": 0, "metric": 1, "error": 2}.get(r[3], 0))
    emit("stream id (u32)", sa.tobytes()); emit("type id (u8)", tya.tobytes()); emit("kind (u8)", ka.tobytes())
    for p in cols:
        kinds = types[p]
        numeric = all(t in ("int", "float", "null") for t in kinds)
        mask = bytearray((len(blk) + 7) // 8)
        if numeric:
            isint = all(t in ("int", "null") for t in kinds)
            va = array("q" if isint else "d")
            for i, r in enumerate(blk):
                v = r[4].get(p)
                if v is not None: mask[i >> 3] |= 1 << (i & 7)
                va.append(v if v is not None else 0)
            emit(f"{p} ({'i64' if isint else 'f64'})", va.tobytes())
        else:
            d = dicts[p]; va = array("I")
            for i, r in enumerate(blk):
                if p in r[4]: mask[i >> 3] |= 1 << (i & 7)
                va.append(d.setdefault(json.dumps(r[4].get(p)), len(d)) if p in r[4] else 0xffffffff)
            emit(f"{p} (dict id u32)", va.tobytes())
        emit(f"{p} mask", bytes(mask))

# dictionaries, once per store (store-wide ids)
def dict_bytes(keys): return "\n".join(keys).encode()
emit("dict: streams", dict_bytes(sid.keys()))
emit("dict: types", dict_bytes(tid.keys()))
for p in cols:
    if dicts[p]: emit(f"dict: {p}", dict_bytes(dicts[p].keys()))

print(f"\n# column form, blocks of {BLOCK} events, zstd -3 per column per block")
print("| column | raw B/event | zstd-3 B/event |")
print("|---|---|---|")
tr = tz = 0
for k, (r, z) in sizes.items():
    tr += r; tz += z
    print(f"| {k} | {r/n:.2f} | {z/n:.2f} |")
print(f"| **total** | {tr/n:.2f} | {tz/n:.2f} |")
