#!/usr/bin/env bash
# demo.sh — `make demo`: a tour of engram on generated bank events, in a
# store at ./engram-data (or $ENGRAM_DIR).  Running it again appends the
# same events again: every one is then reported as a duplicate.
set -euo pipefail
cd "$(dirname "$0")"
E=bin/engram
export ENGRAM_DIR=${ENGRAM_DIR:-./engram-data}
mkdir -p build/demo
say() { printf '\n\033[1m# %s\033[0m\n' "$*"; }
run() { printf '\033[36m$ engram %s\033[0m\n' "$*" >&2; "$E" "$@"; }

say "Generate 100,000 realistic bank events (deterministic: same seed, same bytes)"
run gen bank --events 100000 --accounts 2000 --seed 42 > build/demo/bank.ndjson
head -c 300 build/demo/bank.ndjson; echo " ..."

say "Append them as one atomic, fsync'ed batch"
run append build/demo/bank.ndjson

say "Read: the first events, one account's history, the latest fees"
run --format table read --limit 5
stream=$("$E" --format ndjson read --limit 1 --type deposit | sed 's/.*"stream":"\([^"]*\)".*/\1/')
run --format table read --stream "$stream" --limit 8
run --format table read --type fee --reverse --limit 3

say "Time ranges use the block index: events of one afternoon"
run --format table read --since 2025-01-02T14:00:00Z --until 2025-01-02T14:10:00Z --limit 5

say "What is in the store"
run --format table stats
run --format table types

say "Appending the same file again changes nothing: ids are idempotency keys"
run append build/demo/bank.ndjson

say "Bad input is refused with its line and field, and nothing is written"
printf '%s\n' '{"id":"ok-1","stream":"account-x","type":"deposit","data":{"amount":5}}' \
	'{"id":"bad-1","stream":"account-x","type":"deposit","time":"yesterday"}' > build/demo/bad.ndjson
run append build/demo/bad.ndjson || echo "(exit code $?)"

say "A durable consumer: at-least-once, from its own checkpoint"
run --format table consume demo-mailer --type account_opened --limit 2
run --format table consume demo-mailer --type account_opened --limit 2
run --format table consumers

say "Projections: state folded from events by a spec (examples/balances.json)"
run --format table project examples/balances.json > build/demo/balances.txt
head -n 6 build/demo/balances.txt; echo "... ($(($(wc -l < build/demo/balances.txt) - 1)) accounts)"

say "The same account now, and as of a past date (event time)"
run --format table project examples/balances.json --key "$stream"
run --format table project examples/balances.json --key "$stream" --as-of 2025-01-02T12:00:00Z

say "A late event: a deposit of 1000 made on 2025-01-02 at 09:00 arrives only now"
printf '{"id":"demo-late-deposit","stream":"%s","type":"deposit","time":"2025-01-02T09:00:00Z","data":{"amount":1000.00}}\n' \
	"$stream" > build/demo/late.ndjson
run append build/demo/late.ndjson
recorded=$("$E" --format ndjson read --stream "$stream" --type deposit --since 2025-01-02T09:00:00Z \
	--until 2025-01-02T09:00:00Z | sed 's/.*"recorded":"\([^"]*\)".*/\1/')
known=$(($(date -d "$recorded" +%s%3N) - 1))   # just before it arrived (epoch ms)
run --format table project examples/balances.json --key "$stream" --as-of 2025-01-02T12:00:00Z
run --format table project examples/balances.json --key "$stream" --as-of 2025-01-02T12:00:00Z --known-at "$known"
echo "As of noon on Jan 2 the balance includes the late deposit (it happened at 09:00); known at"
echo "the moment before it arrived, the store believed 1000 less: same event time, another record time."

say "History: one row per change of that account (valid_from, valid_to)"
run --format table history examples/balances.json --key "$stream" > build/demo/history.txt
head -n 6 build/demo/history.txt; echo "..."

say "Tamper evidence: keep the head; verify proves the log still matches it"
run head
run verify
