#!/usr/bin/env python3
"""tests/fault/sweep.py LIBFAULT ENGRAM [--every] [--only WORKLOAD] — the fault sweep.

Runs each workload below (an append, a projection, a windows run, ...) on a
copy of a small store with one kind of call failing: the Nth pwrite,
fdatasync, fsync, rename, mmap, munmap, ftruncate, open or allocation of
the process (or, "disk-full", the Nth pwrite and every later one), through libfault.so (LD_PRELOAD; tests/fault/libfault.c).  N
goes over every call the workload makes (--every, `make fault`; for
allocations a spread of 400) or over a spread of 7 (`make fault-check`,
in `make test`: the first four and the last three calls of a kind, all of
them when it is made at most 7 times).  After each run:

- the process did not die of a signal and exited 0 or 1; on exit 1 it
  printed one "engram: error: ..." line, which for a failed I/O call names
  the system's reason (e.g. "No space left on device");
- an append that met a failed fdatasync did not exit 0 (it must not
  acknowledge what may not be on disk), and a command that exited 0 anyway
  printed what it prints without the fault;
- then, with no fault: `engram verify` is clean, the column files (blocks
  of 64 events here, crash.py) hold what the log gives, positions are dense, every
  batch of the workload is in the log whole or not at all, and in order;
  what the store answers through its derived files equals the answers of a
  copy rebuilt from the log alone (tests/crash/crash.py's answers()); and
  the store takes a new append;
- for the dataset build (the base keeps the dataset of an earlier head):
  the kept table opens and reads (rows --all) as the previous one or the
  new one, the new one when the build exited 0; a build without the
  fault then gives the new one, leaves no temporary file, and
  manifest.json beside it is the table's manifest.

Exit 0 when every case holds, 1 listing the cases that failed.
"""
import errno
import json
import os
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "crash"))
from crash import DS, FEAT, LABELS, METRICS, PROJ, WIN, Failure, answers, columns_disagree  # noqa: E402

OPS = ["pwrite", "fdatasync", "fsync", "rename", "mmap", "munmap", "ftruncate", "open", "malloc",
       "disk-full"]
# disk-full: the Nth pwrite and every one after it fail with ENOSPC
FAULT = {"disk-full": "pwrite:{n}:ENOSPC:sticky"}
COUNTED_AS = {"disk-full": "pwrite"}
REASON = {"pwrite": errno.ENOSPC, "disk-full": errno.ENOSPC, "ftruncate": errno.ENOSPC, "fdatasync": errno.EIO,
          "fsync": errno.EIO, "rename": errno.EIO, "open": errno.EIO, "mmap": errno.ENOMEM}
BATCH = 25


def lines(prefix, n, t0, pad=0):
    out = []
    for i in range(n):
        data = {"v": i * 7 % 101, "page_url": "/p%d" % (i % 4)}
        if pad:
            data["pad"] = "x" * pad
        e = {"id": f"{prefix}{i // BATCH}-e{i}", "stream": f"s{i % 5}",
             "type": ["page_view", "click", "deposit"][i % 3],
             "time": "2025-01-01T%02d:%02d:00Z" % (t0 + i // 60 % 12, i % 60),
             "data": data}
        # a metric sample and an error in ten: for the rollups of engram
        # metrics and the groups of engram errors
        if i % 10 == 4:
            e.update(kind="metric", type="lat", data={"value": data["v"], "tags": {"s": e["stream"]}})
        elif i % 10 == 8:
            e.update(kind="error", type="Boom", data={"message": "boom %d" % data["v"]})
        out.append(json.dumps(e))
    return "\n".join(out) + "\n"


def history(prefix, n, t0):
    """lines() with a record time of their own, one per batch of BATCH:
    for append --keep-recorded, each batch is then one commit."""
    out = []
    for i, l in enumerate(lines(prefix, n, t0).splitlines()):
        e = json.loads(l)
        e["recorded"] = "2025-01-02T00:%02d:00Z" % (i // BATCH)
        out.append(json.dumps(e))
    return "\n".join(out) + "\n"


# name: (arguments, standard input, store to start from: "base",
# "schemas" (base with a schema for deposit), "sealed" (base after engram
# compact --block-size 4k) or "none")
WORKLOADS = {
    "append": (["append", "--batch", str(BATCH)], lines("n", 60, 2), "base"),
    "append-new-store": (["append", "--batch", str(BATCH)], lines("n", 60, 2), "none"),
    # rolling 4k segments, each closed one sealed on the writer's
    # background thread (docs/STORAGE.md)
    "append-rolls-segments": (["--segment-size", "4k", "--seal", "always", "append", "--batch", str(BATCH)],
                              lines("n", 60, 2), "base"),
    # ~1.2 MB batches: more than a 1 MiB spool buffer, so that faults
    # reach the writer thread (log.c), which hashes and writes one buffer
    # while the next fills.  (--every or --only: ~40 s more for fault-check)
    "append-spool": (["append", "--batch", str(BATCH)], lines("n", 60, 2, pad=48000), "base"),
    "project": (["project", "proj.json"], None, "base"),
    # a spec the base has no state for, snapshotting every 10 events: the
    # derived-state writer's files (tmp, fdatasync, rename, directory fsync)
    "project-snapshots": (["project", "proj-snap.json"], None, "base"),
    "windows": (["windows", "win.json"], None, "base"),
    "sessions": (["sessions"], None, "base"),
    # another gap is another state: its first run saves a checkpoint
    "sessions-new-state": (["sessions", "--gap", "10m"], None, "base"),
    "consume": (["consume", "c1", "--limit", "50"], None, "base"),
    "reindex": (["reindex"], None, "base"),
    "read": (["read", "--stream", "s3"], None, "base"),
    # contracts: a schema version is an event of $schemas, checked against
    # the stored events first; a quarantined event goes to $quarantine in
    # its batch (the base "schemas" has a schema some deposits fail)
    "schema-add": (["schema", "add", "click", "click.json"], None, "base"),
    "append-quarantine": (["append", "--batch", str(BATCH), "--quarantine"], lines("n", 60, 2),
                          "schemas"),
    "verify": (["verify"], None, "base"),
    # history with its own record times: a commit per record time, synced
    # once at the end, over segments that roll
    "append-keep-recorded": (["--segment-size", "4k", "append", "--keep-recorded"],
                             history("n", 60, 2), "none"),
    # a features table built and written (derived state), and a training
    # set written through a temporary file with its manifest
    "features": (["features", "feat.json", "--labels", "labels.csv", "--cutoff-known-at", "known",
                  "--out", "train.csv"], None, "base"),
    # a dataset built anew over the one the base keeps (of an earlier
    # head): its table written aside and renamed, manifest.json and
    # spec.json beside it
    "dataset": (["dataset", "build", "ds.json"], None, "base"),
    # sealed segments (docs/STORAGE.md): compact seals the base's segment
    # (tmp file, fdatasync, rename over it, directory fsync, read it back);
    # a read of a sealed store maps the file and decompresses its blocks
    "compact": (["compact", "--block-size", "4k"], None, "base"),
    "read-sealed": (["read", "--stream", "s3"], None, "sealed"),
    # the metric rollups (idx/metrics: the series table, parts and their
    # deltas) and the error groups (idx/errors/vN/groups), caught up past
    # the base's third batch and saved
    "metrics": (METRICS, None, "base"),
    "errors": (["errors"], None, "base"),
}


# Workloads that only --every and --only run (make fault, not fault-check).
LONG = {"append-spool"}

# The answer each of those workloads leaves state for, checked against a
# rebuild from the log like answers() (which covers the others).
EXTRA = {"features": ["features", "feat.json", "--labels", "labels.csv", "--cutoff-known-at", "known",
                      "--leakage-report"],
         "project-snapshots": ["project", "proj-snap.json"],
         "sessions-new-state": ["sessions", "--gap", "10m"],
         "metrics": METRICS, "errors": ["errors"]}


def run(engram, store, args, stdin=None, env=None):
    return subprocess.run([engram, "-d", store, "--format", "ndjson", *args], input=stdin,
                          capture_output=True, text=True, env=env)


class Sweep:
    def __init__(self, libfault, engram, work):
        self.lib, self.engram, self.work = libfault, engram, work
        self.rebuilt = {}   # log contents -> answers of a copy rebuilt from it
        self.failures = []
        self.cases = self.injected = 0
        with open(os.path.join(work, "proj.json"), "w") as f:
            json.dump(PROJ, f)
        with open(os.path.join(work, "win.json"), "w") as f:
            json.dump(WIN, f)
        with open(os.path.join(work, "feat.json"), "w") as f:
            json.dump(FEAT, f)
        with open(os.path.join(work, "labels.csv"), "w") as f:
            f.write(LABELS)
        with open(os.path.join(work, "ds.json"), "w") as f:
            json.dump(DS, f)
        with open(os.path.join(work, "proj-snap.json"), "w") as f:
            json.dump(dict(PROJ, name="crash_counts_snap", snapshot_every=10), f)
        with open(os.path.join(work, "click.json"), "w") as f:
            json.dump({"type": "object", "properties": {"v": {"type": "integer"},
                                                        "page_url": {"type": "string"}},
                       "required": ["v"]}, f)
        with open(os.path.join(work, "deposit.json"), "w") as f:
            json.dump({"type": "object", "properties": {"v": {"type": "integer", "maximum": 60}}}, f)
        # the base: two batches with derived files built, a third after them
        # (so that the queries bring their files up to date from a checkpoint)
        self.base = os.path.join(work, "base")
        for k, text in enumerate((lines("a", 50, 0), lines("b", 50, 1))):
            self.must_ok(run(engram, self.base, ["append", "--batch", str(BATCH)], text))
            if k == 0:
                for args in (["project", "proj.json"], ["windows", "win.json"], ["sessions"],
                             ["consume", "c1", "--limit", "20"], ["dataset", "build", "ds.json"],
                             METRICS, ["errors"]):
                    self.must_ok(run(engram, self.base, args))
        self.ds_before = self.ds_rows(self.base)
        self.ds_after = None   # the rows a build in a copy of the base gives
        self.schemas = os.path.join(work, "schemas")
        shutil.copytree(self.base, self.schemas)
        self.must_ok(run(engram, self.schemas, ["schema", "add", "deposit", "deposit.json", "--force"]))
        self.sealed = os.path.join(work, "sealed")
        shutil.copytree(self.base, self.sealed)
        self.must_ok(run(engram, self.sealed, ["compact", "--block-size", "4k"]))

    def ds_rows(self, store):
        return self.must_ok(run(self.engram, store, ["dataset", "rows", DS["name"], "--all"])).stdout

    def check_dataset(self, store, r):
        """After a build that met a fault: the kept table is the previous
        one or the new one (the new one if the build said so); a build
        without the fault makes the new one, whole and alone."""
        got = run(self.engram, store, ["dataset", "rows", DS["name"], "--all"])
        if got.returncode:
            return [f"the kept dataset does not read: {got.stderr.strip()[:300]}"]
        if got.stdout not in (self.ds_before, self.ds_after):
            return ["the kept dataset is neither the previous one nor the new one"]
        if r.returncode == 0 and got.stdout != self.ds_after:
            return ["the build exited 0 but the previous dataset is kept"]
        b = run(self.engram, store, ["dataset", "build", "ds.json"])
        if b.returncode:
            return [f"a build afterwards: exit {b.returncode}: {b.stderr.strip()[:300]}"]
        if self.ds_rows(store) != self.ds_after:
            return ["a build afterwards does not give the new dataset"]
        d = os.path.join(store, "datasets", DS["name"])
        left = [n for n in os.listdir(d) if n.endswith(".tmp")]
        # (at the head the failed build saw: this one reuses its table)
        if left:
            return [f"temporary files left after a build: {left}"]
        show = self.must_ok(run(self.engram, store, ["dataset", "show", DS["name"]])).stdout
        with open(os.path.join(d, "manifest.json")) as f:
            if f.read() != show:
                return ["manifest.json is not the kept table's manifest after a build"]
        return []

    def must_ok(self, r):
        if r.returncode:
            sys.exit(f"sweep: setting up failed: {r.args}: {r.stderr}")
        return r

    def env(self, fault, log):
        e = dict(os.environ, LD_PRELOAD=self.lib, EG_FAULT_LOG=log)
        e.pop("EG_FAULT", None)
        if fault:
            e["EG_FAULT"] = fault
        return e

    def fresh(self, start):
        store = os.path.join(self.work, "store")
        shutil.rmtree(store, ignore_errors=True)
        if start in ("base", "schemas", "sealed"):
            shutil.copytree({"base": self.base, "schemas": self.schemas, "sealed": self.sealed}[start],
                            store)
        return store

    def counts(self, name):
        args, stdin, start = WORKLOADS[name]
        store = self.fresh(start)
        log = os.path.join(self.work, "fault.log")
        if os.path.exists(log):
            os.unlink(log)
        r = run(self.engram, store, args, stdin, self.env(None, log))
        self.must_ok(r)
        if name == "dataset":
            self.ds_after = self.ds_rows(store)
            if self.ds_after == self.ds_before:
                sys.exit("sweep: the dataset workload builds what the base keeps already")
        n = {}
        for line in open(log):
            f = line.split()
            if len(f) == 2:
                n[f[0]] = int(f[1])
        return r.stdout, n

    def log_key(self, store):
        d = os.path.join(store, "log")
        parts = []
        for name in sorted(os.listdir(d)) if os.path.isdir(d) else []:
            with open(os.path.join(d, name), "rb") as f:
                parts.append(name.encode() + b"\0" + f.read())
        return b"\1".join(parts)

    def case(self, name, op, nth, want_out):
        args, stdin, start = WORKLOADS[name]
        store = self.fresh(start)
        log = os.path.join(self.work, "fault.log")
        if os.path.exists(log):
            os.unlink(log)
        fault = FAULT.get(op, "{op}:{n}").format(op=op, n=nth)
        r = run(self.engram, store, args, stdin, self.env(fault, log))
        self.cases += 1
        hit = [l.split(None, 3)[3].strip() for l in open(log)
               if l.startswith("injected ")] if os.path.exists(log) else []
        injected = bool(hit)
        self.injected += injected
        what = f"{name} with {op} #{nth} failing"
        bad = []
        err = r.stderr.strip().splitlines()
        if r.returncode < 0 or r.returncode not in (0, 1):
            bad.append(f"exit {r.returncode}: {r.stderr.strip()[-300:]}")
        elif r.returncode == 1:
            if not err or not err[-1].startswith("engram: error: ") or len(err[-1]) < 20:
                bad.append(f"exit 1 without a clear error: {r.stderr.strip()[-300:]!r}")
            elif op in REASON and os.strerror(REASON[op]) not in r.stderr:
                bad.append(f"the error does not say {os.strerror(REASON[op])!r}: {err[-1]}")
        else:
            if (injected and op in ("fdatasync", "fsync", "pwrite", "disk-full") and not hit[0].endswith("/LOCK")
                  and "engram: warning: " not in r.stderr):
                bad.append(f"exit 0 without a word after a failed {op} of {hit[0]}")
            elif same_output(r.stdout) != same_output(want_out):
                bad.append(f"exit 0 but printed {r.stdout[:200]!r}, not {want_out[:200]!r}")
        # the dataset first: check_store appends, which moves the head
        if not bad and name == "dataset":
            bad += self.check_dataset(store, r)
        if not bad:
            bad += self.check_store(store, name)
        if bad:
            self.failures.append(f"{what}: " + "; ".join(bad))

    def answers(self, store, name):
        out = answers(self.engram, store)
        if name in EXTRA:
            r = run(self.engram, store, EXTRA[name])
            if r.returncode:
                raise Failure(f"{' '.join(EXTRA[name])}: exit {r.returncode}: {r.stderr.strip()}")
            out[name] = r.stdout
        return out

    def check_store(self, store, name):
        if not os.path.isdir(os.path.join(store, "log")):
            return [] if WORKLOADS[name][2] == "none" else ["the store is gone"]
        bad = []
        r = run(self.engram, store, ["verify"])
        if r.returncode:
            return [f"verify afterwards: exit {r.returncode}: {(r.stdout + r.stderr).strip()[:300]}"]
        if (why := columns_disagree(store)):
            return [f"column files afterwards: {why}"]
        r = run(self.engram, store, ["read"])
        if r.returncode:
            return [f"read afterwards: exit {r.returncode}: {r.stderr.strip()}"]
        events = [json.loads(l) for l in r.stdout.splitlines()]
        if [e["pos"] for e in events] != list(range(1, len(events) + 1)):
            bad.append("positions are not dense afterwards")
        batches = []
        for e in events:
            if e["stream"] == "$schemas":
                continue
            # a quarantined event is in its batch still, under its own id
            eid = e["data"]["event"]["id"] if e["stream"] == "$quarantine" else e["id"]
            b = eid.split("-e")[0]
            if not batches or batches[-1][0] != b:
                batches.append([b, 0])
            batches[-1][1] += 1
        seen = [b for b, _ in batches]
        if len(set(seen)) != len(seen):
            bad.append(f"a batch is split: {seen}")
        for b, n in batches:
            want = 10 if b == "n2" else BATCH
            if n != want:
                bad.append(f"batch {b} has {n} of its {want} events")
        if [b for b in seen if b.startswith("n")] != ["n0", "n1", "n2"][:sum(b.startswith("n") for b in seen)]:
            bad.append(f"batches out of order: {seen}")
        if bad:
            return bad
        try:
            got = self.answers(store, name)
        except Failure as e:
            return [f"a query afterwards failed: {e}"]
        key = (self.log_key(store), name if name in EXTRA else None)
        if key not in self.rebuilt:
            copy = os.path.join(self.work, "rebuilt")
            shutil.rmtree(copy, ignore_errors=True)
            shutil.copytree(store, copy, ignore=shutil.ignore_patterns("idx"))
            self.must_ok(run(self.engram, copy, ["reindex"]))
            self.rebuilt[key] = self.answers(copy, name)
        for k, v in got.items():
            if v != self.rebuilt[key][k]:
                bad.append(f"{k}: answers differ from a rebuild from the log")
        r = run(self.engram, store, ["append"], '{"id":"after","type":"t"}\n')
        if r.returncode:
            bad.append(f"the store takes no append afterwards: {r.stderr.strip()}")
        return bad


def same_output(text):
    """What a run printed, less the head hash of an append (it covers the
    recording times, which differ from run to run)."""
    rows = []
    for line in text.splitlines():
        row = json.loads(line)
        if isinstance(row, dict) and "appended" in row:
            row.pop("head", None)
        if isinstance(row, dict) and "sealed" in row:   # compact's time
            row.pop("seconds", None)
        rows.append(row)
    return rows


def spread(count, points):
    """Which calls of count to fail: every one up to points, else the first
    and last three and an even spread between."""
    if count <= points:
        return list(range(1, count + 1))
    picks = {1, 2, 3, count - 2, count - 1, count}
    step = max(1, count // (points - 6))
    picks.update(range(4, count, step))
    return sorted(picks)


def main():
    argv = sys.argv[1:]
    every = "--every" in argv
    only = argv[argv.index("--only") + 1] if "--only" in argv else None
    # --part K/N: the workloads K, K + N, K + 2N, ... (1-based) of the
    # list, so that N processes share the sweep (make fault-check runs two,
    # one a core)
    part = argv[argv.index("--part") + 1] if "--part" in argv else "1/1"
    k, n = (int(x) for x in part.split("/"))
    pos = [a for a in argv if not a.startswith("--") and a not in (only, part)]
    if len(pos) != 2:
        sys.exit(__doc__)
    lib, engram = (os.path.abspath(p) for p in pos)
    work = tempfile.mkdtemp(prefix="engram-fault-")
    os.chdir(work)   # the specs of answers() are relative
    try:
        s = Sweep(lib, engram, work)
        for i, name in enumerate(WORKLOADS):
            if only and name != only or not (only or every) and name in LONG or i % n != k - 1:
                continue
            want_out, counts = s.counts(name)
            before = len(s.failures), s.cases
            for op in OPS:
                # every call with --every (allocations: a spread of 400,
                # most of them OpenSSL's start-up), else a spread of 7
                points = (400 if op == "malloc" else 10 ** 9) if every else 7
                for nth in spread(counts.get(COUNTED_AS.get(op, op), 0), points):
                    s.case(name, op, nth, want_out)
            print(f"  {name}: {s.cases - before[1]} cases, "
                  + ", ".join(f"{op} {counts.get(op, 0)}" for op in OPS if counts.get(op)),
                  f"- {len(s.failures) - before[0]} failed" if len(s.failures) > before[0] else "",
                  flush=True)
        print(f"fault sweep: {s.cases} cases, {s.injected} faults injected, "
              f"{len(s.failures)} failed")
        for f in s.failures[:40]:
            print("FAIL -", f)
        return 1 if s.failures else 0
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
