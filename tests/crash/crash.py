#!/usr/bin/env python3
"""tests/crash/crash.py ENGRAM ITERATIONS [SEED] — the crash loop.

Each iteration starts a producer that appends batches to one store with
`engram append --sync always` (a random 1 to 300 events over 16 streams),
now and then also runs a projection, a windows run, a sessions query, a
consumer (each writes derived files or a checkpoint of its own) and a new
schema version; its appends use --quarantine against a schema for deposit
that refuses about half of them (a refused event goes to $quarantine in its
own batch); one append in ten is history with its own record times
(--keep-recorded, a new "recorded" every 7 lines, so many commits), and then
kills the producer and whatever engram process it is running with SIGKILL
at a random moment.  The producer writes "intent K N" before batch K of N
events and "ack K FIRST LAST" after engram acknowledged it.  After each kill
the store is checked:

- `engram verify` is clean (exit 0);
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
  above what the consumer had acknowledged.

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

STREAMS = 16
PROJ = {"name": "crash_counts", "key": "stream", "snapshot_every": 1000,
        "fields": {"n": {"count": True}, "total": {"sum": "data.v"}, "last": {"last": "data.v"}}}
# Deposits with v above 500 are refused by their schema (and quarantined).
DEPOSIT = {"type": "object", "properties": {"v": {"type": "integer", "maximum": 500}}}
WIN = {"name": "crash_windows", "window": {"tumble": "1h"}, "group_by": ["stream"],
       "aggs": {"n": {"count": True}, "v": {"sum": "data.v"}}, "watermark": "10m",
       "allowed_lateness": "forever"}


def run(engram, store, *args, stdin=None):
    return subprocess.run([engram, "-d", store, "--format", "ndjson", *args], input=stdin,
                          capture_output=True, text=True)


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
    for k in range(1_000_000):
        n = rnd.randint(1, 300)
        lines = []
        for j in range(n):
            t = t0 + rnd.randint(0, 86399)
            lines.append(json.dumps({
                "id": f"i{it}-b{k}-e{j}", "stream": f"s{rnd.randrange(STREAMS)}",
                "type": rnd.choice(["page_view", "click", "deposit"]),
                "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t)),
                "data": {"v": rnd.randint(-50, 1000)}}))
        if rnd.random() < 0.1:
            lines, args = history(rnd, it, k, n), ["--keep-recorded"]
            os.write(fd, f"intentr i{it}-b{k} {n}\n".encode())
        else:
            args = ["--quarantine"]
            os.write(fd, f"intent i{it}-b{k} {n}\n".encode())
        r = run(engram, store, "append", "--sync", "always", *args,
                stdin="\n".join(lines) + "\n")
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


class Failure(Exception):
    pass


def must(ok, what):
    if not ok:
        raise Failure(what)


def answers(engram, store):
    """What the store answers through its derived files, as text."""
    out = {}
    for name, args in (("streams", ["streams"]), ("types", ["types"]),
                       ("project", ["project", "proj.json"]),
                       ("windows", ["windows", "win.json", "--include-open"]),
                       ("sessions", ["sessions"]),
                       ("stream s3", ["read", "--stream", "s3"]),
                       ("schemas", ["schema", "list"]),
                       ("quarantine", ["quarantine", "list"]),
                       ("type click", ["read", "--type", "click"])):
        r = run(engram, store, *args)
        must(r.returncode == 0, f"{name}: exit {r.returncode}: {r.stderr.strip()}")
        out[name] = r.stdout
    return out


def check(engram, store, log, work):
    if not os.path.isdir(os.path.join(store, "log")):   # killed before its first append
        must(not os.path.exists(log) or "ack " not in open(log).read(), "acknowledged, but no store")
        return 0, 0
    r = run(engram, store, "verify")
    must(r.returncode == 0, f"verify: exit {r.returncode}: {r.stdout}{r.stderr}")
    r = run(engram, store, "read")
    must(r.returncode == 0, f"read: {r.stderr}")
    events = [json.loads(l) for l in r.stdout.splitlines()]
    pos = [e["pos"] for e in events]
    must(pos == list(range(1, len(pos) + 1)), "positions are not dense from 1")
    ids = [e["id"] for e in events]
    must(len(set(ids)) == len(ids), "an event id appears twice")
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
    got = answers(engram, store)
    copy = os.path.join(work, "rebuilt")
    shutil.rmtree(copy, ignore_errors=True)
    shutil.copytree(store, copy, ignore=shutil.ignore_patterns("idx"))
    r = run(engram, copy, "reindex")
    must(r.returncode == 0, f"reindex: {r.stderr}")
    want = answers(engram, copy)
    for k in got:
        must(got[k] == want[k], f"{k}: the store's answer differs from a rebuild from the log")
    return len(events), len(acks)


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
    store, log = os.path.join(work, "store"), os.path.join(work, "acks")
    events = acked = 0
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
            events, acked = check(engram, store, log, work)
    except Failure as f:
        print(f"crash: iteration {it} (seed {seed}): {f}; the store is kept in {work}", file=sys.stderr)
        sys.exit(1)
    print(f"crash: {iters} iterations, seed {seed}: {events} events, {acked} batches acknowledged, "
          f"every check held ({time.time() - t0:.0f} s)")
    shutil.rmtree(work)


if __name__ == "__main__":
    main()
