"""bench/peers/engram_follow.py — W4 of bench/compare.sh on engram's side:
`engram windows SPEC --follow` kept running while batches are appended.

  expect ENGRAM STORE SPEC OUT BATCH...
      untimed, on a scratch copy of the store: append the batches one by
      one, then read the changelog; OUT gets, per batch, the revisions that
      its events made, and OUT.lines those revisions as engram prints them
  follow ENGRAM STORE SPEC EXPECT OUT BATCH...
      timed: start the follower, then per batch `engram append` it and read
      the follower's output until it has printed the batch's revisions
      (EXPECT, from `expect`); OUT gets every revision it printed

The STORE's windows are built before either (the base's run is not
timed).  Prints one JSON line: append seconds, seconds from each append's
end until the follower had printed the batch's revisions, their sum.
"""
import json
import subprocess
import sys
import time

from common import main


def append(engram, store, batch):
    p = subprocess.run([engram, "-d", store, "--format", "ndjson", "append", batch],
                       check=True, capture_output=True, text=True)
    return json.loads(p.stdout)


def expect(engram, store, spec, out, batches):
    ranges = [(a["first_pos"], a["last_pos"]) for a in (append(engram, store, b) for b in batches)]
    p = subprocess.run([engram, "-d", store, "--format", "ndjson", "windows", spec, "--changelog"],
                       check=True, capture_output=True, text=True)
    lines = [l for l in p.stdout.splitlines() if json.loads(l)["pos"] >= ranges[0][0]]
    counts = [sum(1 for l in lines if lo <= json.loads(l)["pos"] <= hi) for lo, hi in ranges]
    if sum(counts) != len(lines):
        sys.exit("revisions after the batches' positions")
    with open(out, "w") as f:
        f.write("".join(f"{c}\n" for c in counts))
    with open(out + ".lines", "w") as f:
        f.write("".join(l + "\n" for l in lines))
    return {"revisions": len(lines)}


def follow(engram, store, spec, expect_file, out, batches):
    counts = [int(x) for x in open(expect_file)]
    if len(counts) != len(batches):
        sys.exit(f"{expect_file}: {len(counts)} counts for {len(batches)} batches")
    table = subprocess.run([engram, "-d", store, "--format", "ndjson", "windows", spec],
                           check=True, capture_output=True, text=True).stdout.count("\n")
    f = subprocess.Popen([engram, "-d", store, "--format", "ndjson", "windows", spec, "--follow"],
                         stdout=subprocess.PIPE, text=True)
    for _ in range(table):            # the report it starts with: the table as it is
        f.stdout.readline()
    got, app, catch = [], 0.0, 0.0
    for b, n in zip(batches, counts):
        t0 = time.perf_counter()
        append(engram, store, b)
        t1 = time.perf_counter()
        for _ in range(n):
            line = f.stdout.readline()
            if not line:
                sys.exit("the follower stopped")
            got.append(line)
        t2 = time.perf_counter()
        app += t1 - t0
        catch += t2 - t1
    f.terminate()
    f.wait()
    with open(out, "w") as o:
        o.write("".join(got))
    return {"append_s": app, "follow_s": catch, "s": app + catch, "revisions": len(got)}


main(__doc__, {"expect": (expect, 4, "batches"), "follow": (follow, 5, "batches")})
