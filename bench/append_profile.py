#!/usr/bin/env python3
"""bench/append_profile.py PERF_DATA — where an `engram append` spends its
CPU, by stage and by thread, from a `perf record` of it (bench/append.sh).

Prints one JSON object: {"total_s": …, "threads": {name: s}, "stages":
{stage: s}}.  Seconds are samples × period (perf's cpu-clock event, so the
"Event count" is nanoseconds).  A symbol's stage is the first pattern below
that its thread, library or name matches; the parsing thread is one stage
(its work is the JSON scan of each line)."""
import json, re, subprocess, sys

STAGES = [
    ("parse (reader thread)", lambda c, d, s: c == "engram-read"),
    ("SHA-256 of the chain", lambda c, d, s: "libcrypto" in d),
    ("kernel: writes, page cache, faults", lambda c, d, s: d == "[kernel.kallsyms]"),
    ("id and key hash tables", lambda c, d, s: re.search(
        r"htab|key_match|id_match|eg_index_key|eg_index_id|withSeed|eg_id_hash|eg_key_hash", s)),
    ("record checks (XXH3: per record, per block)", lambda c, d, s: re.search(
        r"XXH3|XXH64|rec_hasher|eg_rec_check|xxhash", s + d)),
    ("record encoding, UUID parse, copies", lambda c, d, s: re.search(
        r"encode|uuid|add_event|memmove|memcpy|add_chunk|add_lines", s)),
    ("index: keys, postings, blocks", lambda c, d, s: re.search(
        r"touch_key|pend_add|flush_postings|note_event|push_block|write_blocks|write_keys|realloc", s)),
]


def main():
    out = subprocess.run(["perf", "report", "-i", sys.argv[1], "--no-children", "--stdio",
                          "--sort", "comm,dso,sym", "-g", "none", "--percent-limit", "0"],
                         capture_output=True, text=True).stdout
    total = 0.0
    threads, stages = {}, {name: 0.0 for name, _ in STAGES}
    stages["other"] = 0.0
    rows = []
    for line in out.splitlines():
        m = re.match(r"# Event count \(approx\.\): (\d+)", line)
        if m:
            total = int(m.group(1)) / 1e9
        m = re.match(r"\s+([\d.]+)%\s+(\S+)\s+(\S+)\s+\[.\]\s+(.*)$", line)
        if m:
            rows.append((float(m.group(1)), m.group(2), m.group(3), m.group(4).strip()))
    for pct, comm, dso, sym in rows:
        s = pct / 100 * total
        name = "main" if comm not in ("engram-read", "engram-write") else comm
        threads[name] = threads.get(name, 0) + s
        stage = next((n for n, f in STAGES if f(comm, dso, sym)), "other")
        stages[stage] += s
    print(json.dumps({"total_s": round(total, 3),
                      "threads": {k: round(v, 3) for k, v in threads.items()},
                      "stages": {k: round(v, 3) for k, v in stages.items()}}))


main()
