#!/usr/bin/env python3
"""tests/crash/crash.py ENGRAM ITERATIONS [SEED] — the crash loop.

Each iteration starts a producer that appends batches to one store with
`engram append --sync always` (a random 1 to 300 events over 16 streams,
one batch in eight of ~8 KB events),
now and then also runs a projection, a windows run, a sessions query, a
consumer, a metrics query and engram errors (each writes derived files or a
checkpoint of its own: a tenth of the events are metric samples and a
twentieth errors, a twentieth sign-ups whose email is personal, of new
subjects: keys made in the batch) and a new schema version, and now and
then forgets a subject; its appends use --quarantine against a schema for deposit
that refuses about half of them (a refused event goes to $quarantine in its
own batch); one append in ten is history with its own record times
(--keep-recorded, a new "recorded" every 7 lines, so many commits); the
appends roll 64k segments and seal each closed one on their background
thread (--seal always), and now and then `engram compact` seals the rest
(docs/STORAGE.md: a seal killed at any step leaves the segment plain or
sealed, and a stale NAME.seg.sealing that the next writer deletes), and then
kills the producer and whatever engram process it is running with SIGKILL
at a random moment.  The producer writes "intent K N" before batch K of N
events and "ack K FIRST LAST" after engram acknowledged it.  After each kill
the store is checked:

- `engram verify` is clean (exit 0);
- every sign-up reads its email back (its key was durable before its
  batch's commit), or null with "forgotten" when its subject was forgotten;
- every column block (idx/col/, built every 64 events here through
  ENGRAM_COL_BLOCK_EVENTS, by the writer's thread and by brief writers,
  so that kills land in the middle of builds) holds what the log gives
  for its events (ENGRAM_COLCHECK, `colscan_bench --check`, when given);
- positions are dense, 1 to the head, and no event id appears twice;
- every acknowledged batch is there, whole, at the positions engram
  answered; every other batch is there whole or not at all, except that
  of an append --keep-recorded a prefix of whole commits may be there;
- record time never decreases along the log, and an event appended with
  --keep-recorded has the record time it was given;
- what the store answers through its derived files (indexes, projection
  snapshots, window and session checkpoints) equals the answers of a copy
  whose idx/ was deleted and rebuilt (`engram reindex`, then every query
  from scratch); consumer checkpoints are at or below the head, and at or
  above what the consumer had acknowledged;
- the kept dataset (the producer now and then runs `engram dataset build`,
  which writes its table aside and renames it) opens, is never older than
  the last build the producer saw succeed, reads identically (rows --all)
  when it is that build, and is whole either way: its rows are those of
  the log up to the position it was built at, with the verdicts of its
  filters computed here; a build afterwards works, leaves no temporary
  file and puts manifest.json right; and a forced rebuild killed at a random moment of its run (timed
  by a whole one) leaves the kept table opening and reading the same.

Exit 0 when every iteration holds, 1 with the first failure described.
"""
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone

# Column blocks of 64 events, so that these small stores have column files
# (docs/FORMAT.md); ENGRAM_COLCHECK names the checker (bench/colscan_bench).
os.environ.setdefault("ENGRAM_COL_BLOCK_EVENTS", "64")
COLCHECK = os.environ.get("ENGRAM_COLCHECK")

STREAMS = 16
PROJ = {"name": "crash_counts", "key": "stream", "snapshot_every": 1000,
        "fields": {"n": {"count": True}, "total": {"sum": "data.v"}, "last": {"last": "data.v"}}}
# Deposits with v above 500 are refused by their schema (and quarantined).
DEPOSIT = {"type": "object", "properties": {"v": {"type": "integer", "maximum": 500}}}
# Sign-ups carry a personal email (docs/FORGETTING.md) of a new subject
# each: most batches make keys, which must be durable before the commit.
SIGNUP = {"type": "object", "x-subject": "/user",
          "properties": {"user": {"type": "string"}, "v": {"type": "integer"},
                         "email": {"type": "string", "x-personal": True}}}
# Features of each stream at a few cutoffs, one known at its cutoff (the
# table's record-time guard) and one long after; a projection field
# answered from the entity table.
FEAT = {"entity": "stream", "labels": {"entity": "stream", "cutoff": "at"},
        "features": {"n": {"count": True}, "clicks_6h": {"count": True, "types": ["click"], "window": "6h"},
                     "v": {"sum": "data.v"}, "hi": {"max": "data.v"}, "last": {"last": "data.v"},
                     "n_total": {"projection": "proj.json", "field": "n"}}}
LABELS = "stream,at,known\n" + "".join(
    "s%d,%s,%s\n" % (i, at, known) for i in range(STREAMS)
    for at, known in (("2025-01-02T12:00:00Z", "2025-01-02T12:00:00Z"), ("2025-01-04T00:00:00Z", "2100-01-01T00:00:00Z")))
# A dataset over the clicks and page views of six streams (a quarter of
# the log: its checks cost a few seconds in all): a filter on the payload,
# one on the stream, one that is NULL for some rows (a NULL verdict fails).
DS_STREAMS = ["s%d" % i for i in range(6)]
DS = {"name": "crash_ds", "key": "stream",
      "base": {"events": {"type": ["click", "page_view"], "stream": DS_STREAMS}},
      "filters": [{"name": "big", "sql": "json_extract(data, '$.v') > 300"},
                  {"name": "west", "sql": "stream IN ('s0', 's1', 's2')"},
                  {"name": "hist", "sql": "json_extract(data, '$.rec_ms') > 0 OR type = 'click'"}],
      "output": ["stream"], "distinct": True}
WIN = {"name": "crash_windows", "window": {"tumble": "1h"}, "group_by": ["stream"],
       "aggs": {"n": {"count": True}, "v": {"sum": "data.v"}}, "watermark": "10m",
       "allowed_lateness": "forever"}


def run(engram, store, *args, stdin=None):
    return subprocess.run([engram, "-d", store, "--format", "ndjson", *args], input=stdin,
                          capture_output=True, text=True)


def columns_disagree(store):
    """What the column files hold that the log does not, or None."""
    if not COLCHECK:
        return None
    r = subprocess.run([COLCHECK, "--check", store], capture_output=True, text=True)
    return None if r.returncode == 0 else (r.stdout + r.stderr).strip()[:300]


# History lines: a new record time every RUN lines.
RUN = 7


def history(rnd, it, k, n):
    """Lines of batch k with record times of their own, in the recent past:
    from now on, a millisecond per run of RUN lines, then wait until the
    last one has passed (record times may not be in the future)."""
    base = int(time.time() * 1000) + 1   # after the head's recorded, even in the same ms
    lines = []
    for j in range(n):
        ms = base + j // RUN
        lines.append(json.dumps({
            "id": f"i{it}-b{k}-e{j}", "stream": f"s{rnd.randrange(STREAMS)}",
            "type": rnd.choice(["page_view", "click"]), "recorded": ms,
            "data": {"v": rnd.randint(-50, 1000), "rec_ms": ms}}))
    while time.time() * 1000 <= base + n // RUN + 1:
        time.sleep(0.001)
    return lines


def rec_us(text):
    d = datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc)
    return (d - datetime(1970, 1, 1, tzinfo=timezone.utc)) // (datetime.resolution)


def produce(engram, store, log, it, seed):
    """The producer (a process of its own, killed from outside)."""
    rnd = random.Random(seed)
    fd = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    t0 = 1735689600 + it * 86400          # a day of event time per iteration
    run(engram, store, "schema", "add", "deposit", "deposit.json", "--compat", "none")
    run(engram, store, "schema", "add", "signup", "signup.json", "--compat", "none")
    for k in range(1_000_000):
        n = rnd.randint(1, 300)
        # One batch in eight has ~8 KB events: a few MB, more than the
        # log's 1 MiB spool buffers, so that kills find the writer thread
        # (log.c) hashing and writing one buffer while the next fills.
        pad = {"pad": "x" * 8000} if rnd.random() < 0.125 else {}
        lines = []
        for j in range(n):
            t = t0 + rnd.randint(0, 86399)
            e = {"id": f"i{it}-b{k}-e{j}", "stream": f"s{rnd.randrange(STREAMS)}",
                 "type": rnd.choice(["page_view", "click", "deposit"]),
                 "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t)),
                 "data": {"v": rnd.randint(-50, 1000), **pad}}
            kind = rnd.random()
            if kind < 0.1:
                # a metric sample and an error: the rollups (idx/metrics)
                # and the error groups (idx/errors) of their queries below
                e.update(kind="metric", type="lat",
                         data={"value": e["data"]["v"], "tags": {"s": e["stream"]}})
            elif kind < 0.15:
                e.update(kind="error", type="Boom",
                         data={"message": f"boom {e['data']['v']}", "service": e["stream"]})
            elif kind < 0.2:
                u = f"u{it}-{k}-{j % 3}"
                e.update(type="signup", data={"user": u, "v": e["data"]["v"], "email": u + "@example.com"})
            lines.append(json.dumps(e))
        if rnd.random() < 0.1:
            lines, args = history(rnd, it, k, n), ["--keep-recorded"]
            os.write(fd, f"intentr i{it}-b{k} {n}\n".encode())
        else:
            args = ["--quarantine"]
            os.write(fd, f"intent i{it}-b{k} {n}\n".encode())
        r = run(engram, store, "--segment-size", "64k", "--seal", "always", "append", "--sync", "always",
                *args, stdin="\n".join(lines) + "\n")
        if r.returncode:
            sys.exit(f"append failed: {r.stderr}")
        a = json.loads(r.stdout)
        os.write(fd, f"ack i{it}-b{k} {a['first_pos']} {a['last_pos']}\n".encode())
        roll = rnd.random()
        if roll < 0.15:
            run(engram, store, "project", "proj.json")
        elif roll < 0.3:
            run(engram, store, "windows", "win.json")
        elif roll < 0.4:
            run(engram, store, "sessions")
        elif roll < 0.55:
            r = run(engram, store, "consume", "c1", "--limit", str(rnd.randint(1, 500)))
            if r.returncode == 0 and r.stdout:
                last = json.loads(r.stdout.splitlines()[-1])["pos"]
                os.write(fd, f"consumed c1 {last}\n".encode())
        elif roll < 0.6:
            # the next version of click's schema (its description differs)
            with open(f"click{it}-{k}.json", "w") as f:
                json.dump({"description": f"v{it}-{k}", "type": "object",
                           "properties": {"v": {"type": "integer"}}}, f)
            run(engram, store, "schema", "add", "click", f"click{it}-{k}.json")
        elif roll < 0.68:
            # the entity table of the features spec, built or caught up
            run(engram, store, "features", "feat.json", "--labels", "labels.csv",
                "--cutoff-known-at", "known")
        elif roll < 0.72:
            run(engram, store, "compact", "--block-size", rnd.choice(["4k", "16k", "256k"]))
        elif roll < 0.74 and k:
            # a subject of the batch before forgotten (its keys zeroed,
            # the derived state dropped): killed at any step of it too
            os.write(fd, b"forgetintent\n")   # it drops the kept dataset
            run(engram, store, "forget", f"u{it}-{k - 1}-{rnd.randrange(3)}")
        elif roll < 0.8:
            os.write(fd, b"dsintent\n")
            if run(engram, store, "dataset", "build", "ds.json").returncode == 0:
                ds_note(engram, store, fd)
        elif roll < 0.86:
            run(engram, store, *METRICS)
        elif roll < 0.9:
            run(engram, store, "errors")


def ds_note(engram, store, fd):
    """After a build that succeeded: its rows, kept beside the log (aside
    and renamed, so a kill leaves none half-written), then "dsack HEAD"."""
    r = run(engram, store, "dataset", "show", DS["name"])
    head = json.loads(r.stdout)["head"]
    rows = run(engram, store, "dataset", "rows", DS["name"], "--all").stdout
    with open("dsrows.tmp", "w") as f:
        f.write(rows)
    os.rename("dsrows.tmp", f"dsrows.{head}")
    os.write(fd, f"dsack {head}\n".encode())


class Failure(Exception):
    pass


def must(ok, what):
    if not ok:
        raise Failure(what)


# A metrics query that reads every level of the rollups: the hour cells,
# the minute cells for its edges off the hour, and sketches.
METRICS = ["metrics", "--every", "1h", "--since", "2025-01-01T00:30:00Z",
           "--agg", "count,sum,min,max,last,p50,p99"]


def answers(engram, store, kinds=False):
    """What the store answers through its derived files, as text (kinds:
    also the metric rollups and the error groups)."""
    out = {}
    more = (("metrics", METRICS), ("metrics by tag", METRICS + ["--by", "s"]),
            ("errors", ["errors"])) if kinds else ()
    for name, args in more + (("streams", ["streams"]), ("types", ["types"]),
                       ("project", ["project", "proj.json"]),
                       ("windows", ["windows", "win.json", "--include-open"]),
                       ("sessions", ["sessions"]),
                       ("stream s3", ["read", "--stream", "s3"]),
                       ("schemas", ["schema", "list"]),
                       ("quarantine", ["quarantine", "list"]),
                       ("type click", ["read", "--type", "click"]),
                       ("features", ["features", "feat.json", "--labels", "labels.csv",
                                     "--cutoff-known-at", "known"])):
        r = run(engram, store, *args)
        must(r.returncode == 0, f"{name}: exit {r.returncode}: {r.stderr.strip()}")
        out[name] = r.stdout
    return out


def ds_want(events, head):
    """The dataset's rows at head, as (pos, id, f_big, f_west, f_hist,
    keep), computed from the events read back."""
    out = []
    for e in events[:head]:
        if e["type"] not in ("click", "page_view") or e["stream"] not in DS_STREAMS:
            continue
        d = e["data"]
        big = int(d["v"] > 300)
        west = int(e["stream"] in ("s0", "s1", "s2"))
        hist = int("rec_ms" in d or e["type"] == "click")   # else NULL: fails
        out.append((e["pos"], e["id"], big, west, hist, big & west & hist))
    return out


def ds_got(text):
    return [(r["pos"], r["id"], r["f_big"], r["f_west"], r["f_hist"], r["keep"])
            for r in map(json.loads, text.splitlines())]


DS_TIME = [0.0]   # seconds spent in check_dataset, for the summary


def check_dataset(engram, store, log, events, rnd):
    """The kept dataset after a kill: whole, and never older than the last
    build that succeeded; then a build works.  Returns (was a build cut
    short, was it cut while writing the table: table.tmp is there)."""
    acked, last, forgot = 0, None, 0
    for line in open(log):
        f = line.split()
        if f and f[0] in ("dsintent", "dsack"):
            last = f[0]
            if f[0] == "dsack":
                acked, forgot = int(f[1]), 0
        elif f and f[0] == "forgetintent":
            forgot = 1
    d = os.path.join(store, "datasets", DS["name"])
    writing = int(os.path.exists(os.path.join(d, "table.tmp")))
    if os.path.exists(os.path.join(d, "table")):
        r = run(engram, store, "dataset", "show", DS["name"])
        must(r.returncode == 0, f"dataset show: exit {r.returncode}: {r.stderr.strip()}")
        head = json.loads(r.stdout)["head"]
        r = run(engram, store, "dataset", "rows", DS["name"], "--all")
        must(r.returncode == 0, f"dataset rows: exit {r.returncode}: {r.stderr.strip()}")
        must(head >= acked, f"the kept dataset is at {head}, older than the build at {acked} "
             "that succeeded")
        if head == acked:
            must(r.stdout == open(f"dsrows.{acked}").read(),
                 f"the kept dataset built at {acked} reads differently after the kill")
        must(ds_got(r.stdout) == ds_want(events, head),
             f"the kept dataset built at {head} is not the log's rows up to {head}")
    else:
        must(not acked or forgot, f"the dataset built at {acked} is gone (and no forget since)")
    r = run(engram, store, "dataset", "build", "ds.json")
    must(r.returncode == 0, f"dataset build afterwards: exit {r.returncode}: {r.stderr.strip()}")
    r = run(engram, store, "dataset", "rows", DS["name"], "--all")
    must(ds_got(r.stdout) == ds_want(events, len(events)),
         "a dataset built afterwards is not the log's rows")
    left = [n for n in os.listdir(d) if n.endswith(".tmp")]
    must(not left, f"temporary files left after a build: {left}")
    show = run(engram, store, "dataset", "show", DS["name"]).stdout
    must(open(os.path.join(d, "manifest.json")).read() == show,
         "manifest.json is not the kept table's manifest after a build")
    with open(log, "a") as f:
        f.write(f"dsack {len(events)}\n")
    with open(f"dsrows.{len(events)}", "w") as f:
        f.write(r.stdout)
    # a forced rebuild at the same head, killed while it runs: the table
    # it replaces and the one it writes read the same
    args = [engram, "-d", store, "dataset", "build", "ds.json", "--force"]
    t0 = time.time()
    must(subprocess.run(args, capture_output=True).returncode == 0, "dataset build --force failed")
    took = time.time() - t0
    p = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(rnd.uniform(0, took))
    p.kill()
    p.wait()
    writing += os.path.exists(os.path.join(d, "table.tmp"))
    again = run(engram, store, "dataset", "rows", DS["name"], "--all")
    must(again.returncode == 0 and again.stdout == r.stdout,
         f"a rebuild killed after {took:.3f} s at most changed the kept dataset: {again.stderr.strip()}")
    return last == "dsintent", writing


def check(engram, store, log, work, rnd):
    if not os.path.isdir(os.path.join(store, "log")):   # killed before its first append
        must(not os.path.exists(log) or "ack " not in open(log).read(), "acknowledged, but no store")
        return 0, 0, (0, 0)
    r = run(engram, store, "verify")
    must(r.returncode == 0, f"verify: exit {r.returncode}: {r.stdout}{r.stderr}")
    bad = columns_disagree(store)
    must(bad is None, f"column files: {bad}")
    r = run(engram, store, "read")
    must(r.returncode == 0, f"read: {r.stderr}")
    events = [json.loads(l) for l in r.stdout.splitlines()]
    pos = [e["pos"] for e in events]
    must(pos == list(range(1, len(pos) + 1)), "positions are not dense from 1")
    ids = [e["id"] for e in events]
    must(len(set(ids)) == len(ids), "an event id appears twice")
    r = run(engram, store, "forget", "--list")
    must(r.returncode == 0, f"forget --list: {r.stderr}")
    forgotten = {json.loads(l)["subject"] for l in r.stdout.splitlines()}
    for e in events:
        if e["type"] != "signup" or e["stream"].startswith("$"):
            continue
        u = e["data"]["user"]
        must("unavailable" not in e, f"event {e['id']}: the key of {u} is not in the key file")
        if u in forgotten:
            must(e["data"]["email"] is None and e.get("forgotten"), f"event {e['id']}: {u} forgotten, yet {e}")
        else:
            must(e["data"]["email"] == u + "@example.com" and "forgotten" not in e,
                 f"event {e['id']}: email {e['data']['email']} for {u}")
    recs = [rec_us(e["recorded"]) for e in events]
    must(all(a <= b for a, b in zip(recs, recs[1:])), "record time decreases along the log")
    for e, r in zip(events, recs):
        if "rec_ms" in e["data"]:
            must(r == e["data"]["rec_ms"] * 1000, f"event {e['id']} recorded {e['recorded']}, "
                 f"given {e['data']['rec_ms']} ms")
    where = {}
    for e in events:
        if e["stream"] == "$schemas":
            continue
        # a quarantined event is in its batch still, under its own id
        eid = e["data"]["event"]["id"] if e["stream"] == "$quarantine" else e["id"]
        b = eid.rsplit("-e", 1)[0]
        where.setdefault(b, []).append(e["pos"])
    intents, acks, consumed, history_batches = {}, {}, 0, set()
    for line in open(log):
        f = line.split()
        if len(f) == 3 and f[0] in ("intent", "intentr"):
            intents[f[1]] = int(f[2])
            if f[0] == "intentr":
                history_batches.add(f[1])
        elif len(f) == 4 and f[0] == "ack":
            acks[f[1]] = (int(f[2]), int(f[3]))
        elif len(f) == 3 and f[0] == "consumed":
            consumed = max(consumed, int(f[2]))
    for b, ps in where.items():
        must(b in intents, f"batch {b} in the log was never written")
        must(ps == list(range(ps[0], ps[0] + len(ps))), f"batch {b} is not contiguous")
        if b in history_batches and b not in acks:
            # commits of RUN events each: a prefix of them may be there
            m = len(ps)
            must(m == intents[b] or m % RUN == 0,
                 f"history batch {b}: {m} of its {intents[b]} events visible, not whole commits")
            must([events[p - 1]["id"] for p in ps] == [f"{b}-e{j}" for j in range(m)],
                 f"history batch {b}: what is visible is not a prefix")
            continue
        must(len(ps) == intents[b], f"batch {b}: {len(ps)} of its {intents[b]} events visible")
    for b, (first, last) in acks.items():
        must(b in where, f"acknowledged batch {b} is lost")
        must((where[b][0], where[b][-1]) == (first, last),
             f"acknowledged batch {b} at {where[b][0]}..{where[b][-1]}, engram said {first}..{last}")
    r = run(engram, store, "consumers")
    must(r.returncode == 0, f"consumers: {r.stderr}")
    for c in (json.loads(l) for l in r.stdout.splitlines()):
        must(c["pos"] <= len(events), f"consumer {c['consumer']} beyond the head")
        must(c["pos"] >= consumed, f"consumer {c['consumer']} at {c['pos']}; it had handed out {consumed}")
    # the derived files against a rebuild from the log alone
    got = answers(engram, store, kinds=True)
    copy = os.path.join(work, "rebuilt")
    shutil.rmtree(copy, ignore_errors=True)
    shutil.copytree(store, copy, ignore=shutil.ignore_patterns("idx"))
    r = run(engram, copy, "reindex")
    must(r.returncode == 0, f"reindex: {r.stderr}")
    want = answers(engram, copy, kinds=True)
    for k in got:
        must(got[k] == want[k], f"{k}: the store's answer differs from a rebuild from the log")
    t0 = time.time()
    cut = check_dataset(engram, store, log, events, rnd)
    DS_TIME[0] += time.time() - t0
    return len(events), len(acks), cut


def main():
    if len(sys.argv) == 7 and sys.argv[1] == "produce":
        produce(sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]), int(sys.argv[6]))
        return
    if len(sys.argv) not in (3, 4):
        sys.exit(__doc__)
    engram, iters = os.path.abspath(sys.argv[1]), int(sys.argv[2])
    seed = int(sys.argv[3]) if len(sys.argv) == 4 else int(time.time())
    rnd = random.Random(seed)
    work = tempfile.mkdtemp(prefix="engram-crash.")
    os.chdir(work)
    json.dump(PROJ, open("proj.json", "w"))
    json.dump(WIN, open("win.json", "w"))
    json.dump(DEPOSIT, open("deposit.json", "w"))
    json.dump(SIGNUP, open("signup.json", "w"))
    json.dump(FEAT, open("feat.json", "w"))
    json.dump(DS, open("ds.json", "w"))
    open("labels.csv", "w").write(LABELS)
    store, log = os.path.join(work, "store"), os.path.join(work, "acks")
    events = acked = cut = writing = 0
    t0 = time.time()
    try:
        for it in range(iters):
            p = subprocess.Popen([sys.executable, os.path.abspath(__file__), "produce", engram,
                                  store, log, str(it), str(rnd.randrange(1 << 30))],
                                 start_new_session=True, stderr=subprocess.PIPE, text=True)
            time.sleep(rnd.uniform(0.01, 0.4))
            if p.poll() is not None:
                raise Failure(f"the producer stopped: {p.stderr.read()}")
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()
            # a killed process ends its current system call first: check
            # only once none of the session is left
            while subprocess.run(["pgrep", "-s", str(p.pid)], capture_output=True).returncode == 0:
                time.sleep(0.01)
            events, acked, c = check(engram, store, log, work, rnd)
            cut, writing = cut + c[0], writing + c[1]
    except Failure as f:
        print(f"crash: iteration {it} (seed {seed}): {f}; the store is kept in {work}", file=sys.stderr)
        sys.exit(1)
    logdir = os.path.join(store, "log")
    segs = [n for n in os.listdir(logdir) if n.endswith(".seg")]
    sealed = sum(open(os.path.join(logdir, n), "rb").read(8) == b"ENGRAMSZ" for n in segs)
    print(f"crash: {iters} iterations, seed {seed}: {events} events in {len(segs)} segments "
          f"({sealed} sealed), {acked} batches acknowledged, "
          f"{cut} of the producer's dataset builds cut short, {writing} kills left a table.tmp ({DS_TIME[0]:.1f} s of dataset checks), every check held ({time.time() - t0:.0f} s)")
    shutil.rmtree(work)


if __name__ == "__main__":
    main()
