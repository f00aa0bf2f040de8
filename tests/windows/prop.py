#!/usr/bin/python3
"""tests/windows/prop.py ENGRAM [--seed S] [--seeds N] [--big N] [--keep]
— the property test of windows and sessions on columns (issue 26,
docs/STORAGE.md "Engines on columns").

The oracle is the log path: `engram windows` and `engram sessions` read the
column files (idx/col/, and the log's tail after their last block, through
src/store/col.h) whenever those cover what the spec needs, and the log
otherwise.  ENGRAM_NO_COLUMNS=1 forces the log.  Every output, and every
derived file the runs leave (idx/win/, idx/sess/: state, change records,
groups, checkpoints), must be byte-identical between the two paths.

For each seed, one store of random events (3-9 streams, one of them empty;
types a, b, page_view, screen_view and heartbeats; event times in a few
hours, many late by minutes to hours; data.v of mixed types at one path:
ints (also 19-digit ones), 1.0, -0, 1e3, strings, null, true, objects,
arrays, absent; data.n.x nested under values that are sometimes no object;
data.page_url with unicode and escapes; duplicate member names; a client
session field or none), appended with --keep-recorded in 2-4 parts.
After each part, random windows specs (tumble, hop, session windows; group
by data paths, type, stream, session, time; every aggregate over data,
envelope numbers and texts; watermarks including "heartbeats"; lateness
0 to forever; types or none; upcast on or off; now and then a path the
columns lack, such as actor or meta.x: then both read the log) and session
option sets (gap, types, page types, --known-at) run once per path, each
path with its own derived files (swapped in and out of idx/), so that each
run resumes from its own path's checkpoint: runs from columns after runs
from columns, from the log after the log.  The columns path must say
"path":"columns" in --explain when it is covered, the log path "log".

Column blocks are made small for these stores (ENGRAM_COL_BLOCK_EVENTS,
the column files' test knob: 37, 64 or 256 events), so that they have
column files and a tail after the last block.  --big N: one more store of
N events (default 70000: more than a block of the real 65536) with a few
specs.  Seeded: the seed is printed first; on a mismatch
the seed, the spec and the first differing line are printed.  Exit 0 when
every seed agrees, 1 otherwise.  About 5 s of CPU with the defaults (4
seeds and the big store; 8-20 s of wall time on a loaded machine).
"""
import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile

E = None
T0 = 1735689600 * 10**6          # 2025-01-01T00:00:00Z in µs
R0 = 1704067200 * 10**6          # recorded from 2024-01-01 (the past)
MIN = 60 * 10**6
HOUR = 60 * MIN


def ts(us):
    s, u = divmod(us, 10**6)
    import time
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(s)) + ".%06dZ" % u


def jq(s):
    return json.dumps(s, ensure_ascii=False)


# ------------------------------------------------------------------ data

URLS = ["/", "/a", "/b?q=1", "/caf\u00e9", "/\u65e5\u672c", "/tab\there", "/quote\"d",
        "/back\\slash", "/e\u0301", "/emoji\U0001F600"]
SESSIONS = ["", "s-1", "s-2", "caf\u00e9-s", "s-\u00e9\u00e9", "8b6f650e-ef66-4fd6-b21e-062b121bf70f"]


def rand_v(r):
    k = r.random()
    if k < 0.30:
        return str(r.randint(-50, 50))
    if k < 0.35:
        return r.choice(["1.0", "-0", "1e3", "0.5", "-2.25", "9223372036854775807",
                         "-9223372036854775808", "12345678901234567890", "1000000000000000000"])
    if k < 0.50:
        return jq(r.choice(["x", "y", "\u00e9", "", "a\"b"]))
    if k < 0.58:
        return "null"
    if k < 0.62:
        return r.choice(["true", "false"])
    if k < 0.66:
        return r.choice(['{"x":1}', "[1,2]", "{}", "[]"])
    return None                  # absent


def rand_data(r):
    """The data object as text: members in random order, sometimes a
    duplicate name (the last wins on both paths)."""
    m = []
    if r.random() < 0.85:
        m.append(("page_url", jq(r.choice(URLS)) if r.random() < 0.9 else rand_v(r) or "null"))
    v = rand_v(r)
    if v is not None:
        m.append(("v", v))
    k = r.random()
    if k < 0.5:
        x = rand_v(r)
        m.append(("n", "{%s}" % ('"x":' + x if x is not None else '"y":1')))
    elif k < 0.6:
        m.append(("n", rand_v(r) or "3"))
    if r.random() < 0.05 and m:
        name, _ = r.choice(m)
        m.insert(0, (name, rand_v(r) or "0"))     # a duplicate before: the last wins
    r.shuffle(m) if r.random() < 0.3 else None
    return "{" + ",".join('"%s":%s' % (n, t) for n, t in m) + "}"


def make_events(r, n):
    streams = ["u%d" % i for i in range(r.randint(3, 9))] + [""]
    lines, t, rec = [], T0, R0
    for i in range(n):
        t += r.randint(0, 3 * MIN)
        rec += r.randint(0, 2) * 1000
        et = t
        if r.random() < 0.15:
            et -= r.randint(1, 5 * HOUR)          # late
        if r.random() < 0.03:
            lines.append('{"id":"hb-%d","stream":"engram.heartbeat","type":"engram.heartbeat",'
                         '"time":"%s","recorded":"%s"}' % (i, ts(et - 10 * MIN), ts(rec)))
            continue
        typ = r.choice(["a", "b", "page_view", "page_view", "screen_view"])
        ev = '{"id":"e-%d","stream":%s,"type":"%s","time":"%s","recorded":"%s"' % (
            i, jq(r.choice(streams)), typ, ts(et), ts(rec))
        s = r.choice(SESSIONS)
        if s:
            ev += ',"session":%s' % jq(s)
        if r.random() < 0.3:
            ev += ',"actor":"act-%d"' % r.randint(0, 3)
        if r.random() < 0.2:
            ev += ',"meta":{"x":%d}' % r.randint(0, 3)
        ev += ',"data":%s}' % rand_data(r)
        lines.append(ev)
    return lines


# ------------------------------------------------------------------ specs

DATA_PATHS = ["data.page_url", "data.v", "data.n.x", "data.n"]
GROUP_PATHS = DATA_PATHS + ["type", "stream", "session", "time"]
NUM_PATHS = ["data.v", "data.n.x", "time", "recorded", "pos", "stream", "data.page_url"]
TEXT_PATHS = ["stream", "data.page_url", "data.v", "session", "type", "recorded", "pos"]
UNCOVERED = ["actor", "meta.x", "id", "version"]


def rand_spec(r, i):
    k = r.random()
    if k < 0.45:
        win = {"tumble": r.choice(["10m", "1h", "3h"])}
    elif k < 0.7:
        win = {"hop": "1h", "every": r.choice(["20m", "30m", "1h"])}
    else:
        win = {"session": r.choice(["5m", "20m", "1h"])}
    spec = {"name": "p%d" % i, "window": win}
    g = r.sample(GROUP_PATHS, r.choice([0, 1, 1, 1, 2, 3]))
    if "time" in g and len(g) > 1:
        g.remove("time")
    spec["group_by"] = g
    aggs = {"n": {"count": True}}
    for j in range(r.randint(0, 4)):
        a = r.choice(["sum", "min", "max", "avg", "p50", "p95", "count_distinct"])
        p = r.choice(TEXT_PATHS if a == "count_distinct" else NUM_PATHS)
        aggs["a%d" % j] = {a: p}
    uncovered = r.random() < 0.12
    if uncovered:
        u = r.choice(UNCOVERED)
        if r.random() < 0.5 and u != "version":
            spec["group_by"] = spec["group_by"][:2] + [u]
        else:
            a = r.choice(["count_distinct", "sum"])
            aggs["u"] = {a: u}
            # a number at actor or id is never one: read from nothing
            uncovered = a == "count_distinct" or u in ("meta.x", "version")
    spec["aggs"] = aggs
    if r.random() < 0.4:
        spec["types"] = r.sample(["a", "b", "page_view", "screen_view"], r.randint(1, 3))
    spec["watermark"] = r.choice(["0s", "5m", "1h", "heartbeats"])
    spec["allowed_lateness"] = r.choice(["0s", "30m", "2h", "forever"])
    if r.random() < 0.3:
        spec["upcast"] = False
    return spec, uncovered


def rand_sess(r):
    o = []
    if r.random() < 0.6:
        o += ["--gap", r.choice(["5m", "30m", "2h"])]
    if r.random() < 0.3:
        o += ["--type", ",".join(r.sample(["a", "b", "page_view", "screen_view"], 2))]
    if r.random() < 0.3:
        o += ["--page-types", r.choice(["a", "page_view,b", "screen_view"])]
    return o


# ------------------------------------------------------------------ runs

class Mismatch(Exception):
    pass


BLOCK = None                     # ENGRAM_COL_BLOCK_EVENTS of the store at hand


def engram_env():
    env = dict(os.environ)
    env.pop("ENGRAM_COL_BLOCK_EVENTS", None)
    if BLOCK:
        env["ENGRAM_COL_BLOCK_EVENTS"] = str(BLOCK)
    return env


def run(store, args, log, check=True):
    env = engram_env()
    env.pop("ENGRAM_NO_COLUMNS", None)
    if log:
        env["ENGRAM_NO_COLUMNS"] = "1"
    p = subprocess.run([E, "-d", store, "--format", "ndjson"] + args, env=env,
                       capture_output=True, text=True)
    if check and p.returncode:
        raise Mismatch("engram %s exited %d: %s" % (" ".join(args), p.returncode, p.stderr))
    return p


def swap(store, mode, into):
    """Move the derived dirs of mode (cols, log) into idx/ (into) or out."""
    for d in ("win", "sess"):
        live, kept = os.path.join(store, "idx", d), os.path.join(store, "idx.%s.%s" % (mode, d))
        src, dst = (kept, live) if into else (live, kept)
        if os.path.exists(dst):
            shutil.rmtree(dst)
        if os.path.exists(src):
            os.rename(src, dst)


def files(store, mode):
    out = {}
    for d in ("win", "sess"):
        top = os.path.join(store, "idx.%s.%s" % (mode, d))
        for root, _, names in os.walk(top):
            for n in names:
                if n == "lock":
                    continue
                p = os.path.join(root, n)
                with open(p, "rb") as f:
                    out[os.path.relpath(p, top) + "@" + d] = f.read()
    return out


def explain_path(stderr, kind):
    for line in stderr.splitlines():
        try:
            j = json.loads(line)
        except ValueError:
            continue
        if j.get("explain") == kind:
            return j.get("path"), j
    return None, None


def first_diff(a, b):
    la, lb = a.splitlines(), b.splitlines()
    for i in range(max(len(la), len(lb))):
        x = la[i] if i < len(la) else "<end>"
        y = lb[i] if i < len(lb) else "<end>"
        if x != y:
            return "line %d:\n  columns: %s\n  log:     %s" % (i + 1, x[:400], y[:400])
    return "(same lines)"


STATS = {"runs": 0, "from_columns": 0, "session_log": 0}


def both(store, args, what, kind, covered, session=False):
    """Run args on each path with its own derived files; outputs equal.
    covered: the column path must read columns; session: it needs the
    client session field, which column files may lack (then the log, and
    the reason says so)."""
    outs = {}
    for mode in ("cols", "log"):
        swap(store, mode, True)
        try:
            p = run(store, args + ["--explain"], mode == "log")
        finally:
            swap(store, mode, False)
        path, j = explain_path(p.stderr, kind)
        want = "log" if mode == "log" or not covered else "columns"
        if (path is not None and path != want and not
                (session and path == "log" and "session" in j.get("log_reason", ""))):
            raise Mismatch("%s: %s path read %r, expected %r: %s" % (what, mode, path, want, j))
        if mode == "cols" and j:
            STATS["runs"] += 1
            STATS["from_columns"] += j.get("events_from_columns", 0) > 0
            STATS["session_log"] += path == "log" and "session" in j.get("log_reason", "")
        outs[mode] = p.stdout
    if outs["cols"] != outs["log"]:
        raise Mismatch("%s: outputs differ, %s" % (what, first_diff(outs["cols"], outs["log"])))


def check_store(r, tmp, name, lines, nspecs, nsess, parts):
    store = os.path.join(tmp, name)
    specs = []
    for i in range(nspecs):
        spec, unc = rand_spec(r, i)
        f = os.path.join(tmp, "%s-spec%d.json" % (name, i))
        with open(f, "w") as fp:
            json.dump(spec, fp, ensure_ascii=False)
        specs.append((f, spec, unc))
    sess = [rand_sess(r) for _ in range(nsess)]
    cuts = sorted(r.sample(range(1, len(lines)), parts - 1)) if parts > 1 else []
    bounds = [0] + cuts + [len(lines)]
    for k in range(len(bounds) - 1):
        part = os.path.join(tmp, "%s-part%d.ndjson" % (name, k))
        with open(part, "w") as fp:
            fp.write("\n".join(lines[bounds[k]:bounds[k + 1]]) + "\n")
        p = subprocess.run([E, "-d", store, "append", "--keep-recorded", "--sync", "none", part],
                           capture_output=True, text=True, env=engram_env())
        if p.returncode:
            raise Mismatch("append: %s" % p.stderr)
        for f, spec, unc in specs:
            what = "windows %s" % json.dumps(spec, ensure_ascii=False)
            last = k == len(bounds) - 2
            uses = "session" in spec["group_by"] or any(
                a.get("count_distinct") == "session" for a in spec["aggs"].values())
            for extra in (["--include-open"], ["--changelog"], ["--late"])[:3 if last else 1]:
                both(store, ["windows", f] + extra, what + " " + extra[0], "plan", not unc, uses)
        for o in sess:
            both(store, ["sessions"] + o, "sessions %s" % " ".join(o), "sessions", True, True)
            if k == len(bounds) - 2:
                rec = json.loads(lines[r.randrange(len(lines))])["recorded"]
                both(store, ["sessions", "--known-at", rec] + o,
                     "sessions --known-at %s %s" % (rec, " ".join(o)), "sessions", True, True)
    a, b = files(store, "cols"), files(store, "log")
    if sorted(a) != sorted(b):
        raise Mismatch("derived files differ: %s vs %s" % (sorted(a), sorted(b)))
    for k in a:
        if a[k] != b[k]:
            raise Mismatch("derived file %s differs between the paths" % k)
    return len(a)


def main():
    global E, BLOCK
    ap = argparse.ArgumentParser()
    ap.add_argument("engram")
    ap.add_argument("--seed", type=int)
    ap.add_argument("--seeds", type=int, default=4)
    ap.add_argument("--big", type=int, default=70000)
    ap.add_argument("--keep", action="store_true")
    a = ap.parse_args()
    E = os.path.abspath(a.engram)
    base = a.seed if a.seed is not None else random.randrange(1 << 30)
    print("tests/windows/prop.py: seed %d" % base, flush=True)
    # on tmpfs where there is one: the runs sync their derived files
    shm = "/dev/shm" if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK) else None
    tmp = tempfile.mkdtemp(prefix="eg-winprop-", dir=shm)
    seeds = [base] if a.seed is not None and a.seeds == 1 else [base + i for i in range(a.seeds)]
    bad = 0
    try:
        for s in seeds:
            r = random.Random(s)
            BLOCK = r.choice([37, 64, 256])     # column blocks: most stores have some
            lines = make_events(r, r.randint(200, 2500))
            try:
                n = check_store(r, tmp, "s%d" % s, lines, r.randint(3, 6), 2, r.randint(2, 4))
                print("seed %d: %d events, same outputs and %d derived files" % (s, len(lines), n))
            except Mismatch as m:
                bad += 1
                print("seed %d: MISMATCH %s" % (s, m))
        if a.big:
            BLOCK = None
            r = random.Random(base)
            lines = make_events(r, a.big)
            try:
                n = check_store(r, tmp, "big", lines, 3, 1, 2)
                print("big (seed %d): %d events, same outputs and %d derived files" % (base, len(lines), n))
            except Mismatch as m:
                bad += 1
                print("big (seed %d): MISMATCH %s" % (base, m))
        print("column path runs: %d, of which %d read column files, %d read the log for "
              "want of the session field" % (STATS["runs"], STATS["from_columns"],
                                            STATS["session_log"]))
    finally:
        if a.keep:
            print("kept", tmp)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
