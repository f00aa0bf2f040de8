"""kafka_check.py — what the Kafka export tests assert about a topic read
back with kcat (python3 standard library only; tests/e2e/t_kafka.sh and
tests/kafka/faults_export.sh).

    kafka_check.py plain MSGS NAME N          every position 1..N once
    kafka_check.py txn MSGS RECORDS NAME N    the same among committed
                                              transactions

MSGS is `kcat -C -f '%k|%h|%s\\n'` of the topic, RECORDS the same of the
companion topic T.engram-checkpoints.  Messages of other exports or other
producers (no engram-export NAME header) are left out.  Exits 1 naming
the first difference.

Transactional: librdkafka 2.0.2's mock cluster neither writes transaction
markers nor hides aborted transactions (docs/KAFKA-notes.md), so
read_committed is emulated from the checkpoint records: each names its
prev_pos; walking back from the last record (written by a clean run, so
committed), each step to the latest earlier record whose pos is that
prev_pos, gives the chain of committed transactions, as the export itself
would have found them at each start.  Messages whose engram-txn is on no
record of the chain belong to aborted (or never committed) transactions
and are ignored, as a read_committed consumer would not see them.
"""
import json
import sys


def messages(path, name):
    """Our messages as (headers dict, key, value) in file order."""
    out = []
    for line in open(path):
        line = line.rstrip("\n")
        if not line:
            continue
        key, hdrs, value = line.split("|", 2)
        h = dict(x.split("=", 1) for x in hdrs.split(",")) if hdrs else {}
        if h.get("engram-export") == name:
            out.append((h, key, value))
    return out


def fail(msg):
    print("kafka_check: " + msg)
    sys.exit(1)


def once(positions, n, what):
    seen = {}
    for p in positions:
        seen[p] = seen.get(p, 0) + 1
    twice = sorted(p for p, c in seen.items() if c > 1)
    missing = [p for p in range(1, n + 1) if p not in seen]
    extra = sorted(p for p in seen if p < 1 or p > n)
    if twice or missing or extra:
        fail("%s: %d positions twice (%s), %d missing (%s), %d beyond 1..%d" % (
            what, len(twice), twice[:5], len(missing), missing[:5], len(extra), n))


def plain(msgs_path, name, n):
    msgs = messages(msgs_path, name)
    once([int(h["engram-pos"]) for h, _, _ in msgs], n, "topic")
    print("ok: %d messages, every position 1..%d once" % (len(msgs), n))


def committed_chain(records_path, name):
    recs = []
    for line in open(records_path):
        line = line.rstrip("\n")
        if not line:
            continue
        key, value = line.split("|", 1)
        if key == name:
            recs.append(json.loads(value))
    if not recs:
        fail("no checkpoint record for %s" % name)
    chain = [len(recs) - 1]
    while recs[chain[-1]]["prev_pos"] > 0:
        want = recs[chain[-1]]["prev_pos"]
        prev = [i for i in range(chain[-1]) if recs[i]["pos"] == want]
        if not prev:
            fail("the chain breaks: no record with pos %d before record %d" % (want, chain[-1]))
        chain.append(prev[-1])
    return [recs[i] for i in reversed(chain)], len(recs)


def txn(msgs_path, records_path, name, n):
    chain, nrecs = committed_chain(records_path, name)
    ranges = {r["txn"]: (r["prev_pos"], r["pos"]) for r in chain}
    if len(ranges) != len(chain):
        fail("two committed records share a transaction number")
    msgs = messages(msgs_path, name)
    kept = []
    for h, _, _ in msgs:
        if "engram-txn" not in h:
            fail("a message without engram-txn: %r" % h)
        k = int(h["engram-txn"])
        if k in ranges:
            pos = int(h["engram-pos"])
            a, b = ranges[k]
            if not a < pos <= b:
                fail("position %d in transaction %d, which covers %d..%d" % (pos, k, a + 1, b))
            kept.append(pos)
    once(kept, n, "committed transactions")
    if chain[-1]["pos"] != n:
        fail("the last record is at %d, not %d" % (chain[-1]["pos"], n))
    print("ok: %d committed transactions (%d records), %d messages (%d of aborted ones), "
          "every position 1..%d once" % (len(chain), nrecs, len(msgs), len(msgs) - len(kept), n))


if __name__ == "__main__":
    a = sys.argv[1:]
    if a and a[0] == "plain" and len(a) == 4:
        plain(a[1], a[2], int(a[3]))
    elif a and a[0] == "txn" and len(a) == 5:
        txn(a[1], a[2], a[3], int(a[4]))
    else:
        print(__doc__)
        sys.exit(2)
