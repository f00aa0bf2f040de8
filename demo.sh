#!/usr/bin/env bash
# demo.sh — `make demo`: a tour of engram on generated bank events, in a
# store at ./engram-data (or $ENGRAM_DIR).  Running it again appends the
# same events again: every one is then reported as a duplicate.
set -euo pipefail
cd "$(dirname "$0")"
E=bin/engram
export ENGRAM_DIR=${ENGRAM_DIR:-./engram-data}
ENGRAM_DIR_DEMO=$ENGRAM_DIR
mkdir -p build/demo
say() { printf '\n\033[1m# %s\033[0m\n' "$*"; }
show() { printf '\033[36m$ engram %s\033[0m\n' "$*" >&2; }
run() { show "$@"; "$E" "$@"; }

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

say "Windows by event time: hourly page views of clickstream with late mobile events"
run gen clickstream --events 20000 --late 0.05 --seed 7 > build/demo/click.ndjson
head -n 15000 build/demo/click.ndjson > build/demo/click1.ndjson
tail -n +15001 build/demo/click.ndjson > build/demo/click2.ndjson
# the spec of examples/pageviews_hourly.json, with 1h of allowed lateness
sed 's/"allowed_lateness": "6h"/"allowed_lateness": "1h"/' examples/pageviews_hourly.json \
	> build/demo/pageviews.json
cat build/demo/pageviews.json
export ENGRAM_DIR=build/demo/click-store
rm -rf "$ENGRAM_DIR"
run append build/demo/click1.ndjson
yesterday=$("$E" --format ndjson read --reverse --limit 1 | sed 's/.*"recorded":"\([^"]*\)".*/\1/')
run --format table windows build/demo/pageviews.json > build/demo/windows.txt
head -n 4 build/demo/windows.txt; echo "... ($(($(wc -l < build/demo/windows.txt) - 1)) rows)"
sleep 0.01
run append build/demo/click2.ndjson
show --format table windows build/demo/pageviews.json --explain
"$E" --format table windows build/demo/pageviews.json --explain 2>&1 >/dev/null | grep '"plan"'
why() { sed 's/.*"window_start":"\([^"]*\)".*"data.page_url":"\([^"]*\)".*"why":"\([^"]*\)".*/\1 \2: \3/'; }
echo "Why did the dashboard change since the first batch?  (--explain-diff, one row each)"
run --format ndjson windows build/demo/pageviews.json --explain-diff "$yesterday" 2099-01-01T00:00:00Z \
	> build/demo/diff.ndjson
echo "  a correction:     $(grep -m1 'late event.* recorded after' build/demo/diff.ndjson | why)"
echo "  a too-late event: $(grep -m1 'too late to count' build/demo/diff.ndjson | why)"
echo "($(wc -l < build/demo/diff.ndjson) rows changed; each lists the events that changed it)"
run --format ndjson windows build/demo/pageviews.json --late > build/demo/late.ndjson
tail -n 1 build/demo/late.ndjson | sed 's/.*"pos":\([0-9]*\).*"type":"\([^"]*\)".*"time":"\([^"]*\)".*"window_start":"\([^"]*\)".*"window_end":"\([^"]*\)".*/  event \1 (\2 at \3) came after the watermark passed \5 + 1h: counted in too_late of \4, never dropped/'

say "A quiet source: a heartbeat recorded in the log moves the watermark"
"$E" --format ndjson windows build/demo/pageviews.json --include-open > build/demo/open.ndjson
last=$(tail -n 1 build/demo/open.ndjson)
echo "the newest hour waits for the watermark: $(echo "$last" | sed 's/.*"window_start":"\([^"]*\)".*"revision":\([0-9]*\).*/\1 revision \2/')"
end=$(echo "$last" | sed 's/.*"window_end":"\([^"]*\)".*/\1/')
run append --heartbeat "$end"
run --format ndjson windows build/demo/pageviews.json --changelog > build/demo/changelog.ndjson
tail -n 1 build/demo/changelog.ndjson | sed 's/.*"window_start":"\([^"]*\)".*"views":\([0-9]*\).*"revision":\([0-9]*\).*"pos":\([0-9]*\).*/  \1: views \2, revision \3, made by the heartbeat at position \4/'

say "Clickstream as producers send it: Segment messages, imported with --map segment"
run gen clickstream --events 2000 --seed 7 --format segment > build/demo/segment.ndjson
head -c 300 build/demo/segment.ndjson; echo " ..."
rm -rf build/demo/segment-store
run -d build/demo/segment-store append --map segment build/demo/segment.ndjson
run -d build/demo/segment-store --format ndjson read --type "Product Clicked" --limit 1 | cut -c1-300; echo " ..."

say "Sessions by event time (30 minutes of inactivity ends one), whatever the arrival order"
run --format table sessions --explain > build/demo/sessions.txt 2> build/demo/sessions.err
head -n 4 build/demo/sessions.txt; echo "... ($(($(wc -l < build/demo/sessions.txt) - 1)) sessions)"
grep -o '"events_read":[0-9]*,"checkpoints_saved":[0-9]*' build/demo/sessions.err
show sessions --explain "(again: from the checkpoint, nothing read)"
"$E" sessions --explain 2>&1 >/dev/null | grep -o '"checkpoint_pos":[0-9]*,"events_read":[0-9]*'

say "A late event closes a gap: two sessions of one visitor become one"
# a visitor whose two sessions are between 30 and 60 minutes apart: an app
# event queued offline in between arrives only now
"$E" --format ndjson sessions > build/demo/sessions.ndjson
read -r user mid < <(python3 - build/demo/sessions.ndjson <<'EOF'
import json, sys, datetime
rows = [json.loads(l) for l in open(sys.argv[1])]
t = lambda s: datetime.datetime.strptime(s, "%Y-%m-%dT%H:%M:%S.%fZ")
for a, b in zip(rows, rows[1:]):
    if a["stream"] == b["stream"] and (t(b["start"]) - t(a["end"])).total_seconds() < 3000:
        m = t(a["end"]) + (t(b["start"]) - t(a["end"])) / 2
        print(a["stream"], m.strftime("%Y-%m-%dT%H:%M:%S.%fZ"))
        break
EOF
)
run --format table sessions --stream "$user"
known=$("$E" --format ndjson read --reverse --limit 1 | sed 's/.*"recorded":"\([^"]*\)".*/\1/')
sleep 0.01
echo "{\"stream\":\"$user\",\"type\":\"screen_view\",\"time\":\"$mid\",\"data\":{\"page_url\":\"https://shop.example.com/deals\",\"device\":\"ios\"}}" \
	> build/demo/late-view.ndjson
cat build/demo/late-view.ndjson
run append build/demo/late-view.ndjson
run --format table sessions --stream "$user"
echo "As the store knew it before that event arrived (--known-at), the two sessions:"
run --format table sessions --stream "$user" --known-at "$known"

say "A funnel (as ClickHouse's windowFunnel): how far visitors get within an hour"
run --format table funnel --steps page_view,product_click,add_to_cart,checkout,purchase --within 1h
run --format table funnel --steps product_click,add_to_cart,checkout,purchase --within 1h --by data.device

say "Contracts: a versioned schema per event type, checked at append (docs/CONTRACTS.md)"
orders=build/demo/orders-store
rm -rf "$orders"
run gen orders --events 5000 --seed 3 > build/demo/orders.ndjson
run -d "$orders" schema add order_placed examples/order_placed.v1.json
run -d "$orders" append build/demo/orders.ndjson
echo '{"id":"o-bad","stream":"order-x","type":"order_placed","data":{"customer":"customer-7","amount":-5,"currency":"EUR","items":1}}' \
	> build/demo/bad-order.ndjson
run -d "$orders" append build/demo/bad-order.ndjson || echo "(exit code $?)"
run -d "$orders" append build/demo/bad-order.ndjson --quarantine
run -d "$orders" --format table quarantine list
echo "Version 2 renames items to item_count: without an upcast, old events would break it"
run -d "$orders" schema add order_placed examples/order_placed.v2.json || echo "(exit code $?)"
run -d "$orders" schema add order_placed examples/order_placed.v2.json --upcast examples/order_placed.v1-to-v2.json
run -d "$orders" --format table schema diff order_placed 1 2
echo "A version 1 event as stored, and as a reader of version 2 sees it (schema_version, data):"
data() { sed 's/.*"schema_version":\([0-9]*\).*"data":\({.*}\),"meta".*/\1 \2/'; }
run -d "$orders" --format ndjson read --type order_placed --limit 1 | data
run -d "$orders" --format ndjson read --type order_placed --limit 1 --upcast | data

say "Training sets without leakage: features as known at each cutoff (docs/FEATURES.md)"
shop=build/demo/shop-store
rm -rf "$shop"
echo "Orders as the shop's store received them: loaded every 10 minutes, one in five a few hours late"
run gen orders --events 200000 --late 0.2 --loads 10m --seed 4 > build/demo/shop.ndjson
run -d "$shop" append --keep-recorded build/demo/shop.ndjson
echo "Labels: every 7 days per customer, did they order again within 30 days?"
run gen labels --from orders --events 200000 --seed 4 --every 7d > build/demo/labels.csv
head -3 build/demo/labels.csv
run -d "$shop" features examples/features.json --labels build/demo/labels.csv --out build/demo/train.csv \
	--leakage-out build/demo/leakage.ndjson
head -3 build/demo/train.csv
echo "What a join on event time alone would have leaked, per feature (rows that differ):"
sed 's/^{"feature":"\([^"]*\)","rows":\([0-9]*\),"rows_differ":\([0-9]*\).*/  \1: \3 of \2 rows/' build/demo/leakage.ndjson
echo "Appending more does not change the training set: its manifest bounds what is read"
echo '{"type":"order_placed","time":"2025-01-20T12:00:00Z","data":{"customer":"customer-00042","amount":10}}' |
	"$E" -d "$shop" append > /dev/null
run -d "$shop" --format table features --check build/demo/train.csv.manifest.json
run -d "$shop" --format table features examples/features.json --entity customer-00042 --at 2025-02-01

say "Filter on the last step: every filter a column, attrition and why (docs/DATASETS.md)"
crm=build/demo/crm-store
rm -rf "$crm"
run -d "$crm" append examples/datasets/events.ndjson
run -d "$crm" --format table dataset build examples/datasets/west_recent_buyers.json
run -d "$crm" --format table dataset rows west_recent_buyers --all
run -d "$crm" --format table dataset explain west_recent_buyers
run -d "$crm" --format table dataset explain west_recent_buyers --by state
run -d "$crm" --format table dataset why west_recent_buyers 44

say "Metrics: name, time, value and tags; rollups at 1m, 1h and 1d answer the queries (docs/METRICS.md)"
ops=build/demo/ops-store
rm -rf "$ops"
run gen metrics --series 30 --days 2 --seed 5 > build/demo/metrics.ndjson
head -n 2 build/demo/metrics.ndjson
run -d "$ops" append build/demo/metrics.ndjson
run -d "$ops" --format table metrics --tags
run -d "$ops" --format table metrics http_request_duration_ms --by endpoint --every 1h --agg count,avg,p99 \
	--since 2026-01-05T09:00:00Z --until 2026-01-05T11:00:00Z
echo "StatsD and Prometheus text go in through --map; this gauge sample of 10:30 arrives late:"
printf '# TYPE queue_depth gauge\nqueue_depth{region="us-east"} 400 1767609000000\n' > build/demo/late.prom
cat build/demo/late.prom
run -d "$ops" append --map prometheus build/demo/late.prom
run -d "$ops" --format table metrics queue_depth --where region=us-east --every 1h --agg count,max,last \
	--since 2026-01-05T09:00:00Z --until 2026-01-05T12:00:00Z
echo "The 10:00 hour counts the late sample (max 400): the rollups took it in, no refresh needed."
echo "A StatsD counter of 2 sampled 1 time in 2 (@0.5) stands for 4 requests:"
echo 'checkout.orders:2|c|@0.5|#region:us-east|T1767609000' > build/demo/orders.statsd
cat build/demo/orders.statsd
run -d "$ops" append --map statsd build/demo/orders.statsd
run -d "$ops" --format table sql "SELECT time, name, tags, count, sum FROM metrics('checkout.orders', '1d')"
echo "A value that is not a finite number is refused, naming the line; nothing is written:"
echo 'queue_depth{region="us-east"} NaN 1767609000000' > build/demo/nan.prom
run -d "$ops" append --map prometheus build/demo/nan.prom || echo "(exit code $?)"

say "Errors: grouped by fingerprint, as Sentry does (docs/ERRORS.md)"
run gen errors --events 2000 --seed 5 > build/demo/errors.ndjson
run -d "$ops" append --map stacks build/demo/errors.ndjson
run -d "$ops" --format table errors
fp=$("$E" -d "$ops" --format ndjson errors | sed -n '1s/^{"fingerprint":"\([0-9a-f]*\)".*/\1/p')
echo "The biggest group's latest occurrence (errors show takes 6 or more digits of a fingerprint):"
run -d "$ops" --format ndjson errors show "${fp:0:8}" --limit 1
run -d "$ops" --format table sql "SELECT title, count, users, first_release FROM errors() WHERE regressed"

export ENGRAM_DIR=${ENGRAM_DIR_DEMO:-./engram-data}

say "Tamper evidence: keep the head; verify proves the log still matches it"
run head
run verify

say "Merkle proofs (RFC 9162): one event against the head's root, checked without the store (docs/PROOFS.md)"
root=$("$E" --format ndjson head | sed 's/.*"root":"\([0-9a-f]*\)".*/\1/')
run proof inclusion 42 > build/demo/proof.json
cut -c1-300 build/demo/proof.json
run proof check build/demo/proof.json --root "$root"
echo "One hex digit of the path changed, and the proof no longer reaches the root:"
sed -E 's/("audit_path":\[")0/\11/; t; s/("audit_path":\[")[0-9a-f]/\10/' build/demo/proof.json > build/demo/bad-proof.json
run proof check build/demo/bad-proof.json --root "$root" || echo "(exit code $?)"

say "Forgetting a person: personal values encrypted per subject, the key destroyed (docs/FORGETTING.md)"
trust=build/demo/trust-store
rm -rf "$trust"
cat examples/customer_signed_up.json
run -d "$trust" schema add customer_signed_up examples/customer_signed_up.json
run -d "$trust" append examples/trust.ndjson
echo "The log holds the emails as ciphertext only: $(cat "$trust"/log/*.seg | grep -c 'grace@example.com' || true) match of grace@example.com in it"
run -d "$trust" --format table read --type customer_signed_up
run -d "$trust" forget c2
run -d "$trust" --format table read --type customer_signed_up
run -d "$trust" verify

say "Conditional appends across streams (DCB): the last seat of a course is booked once (docs/CONSISTENCY.md)"
q='types=seat_booked,seat_released tags=course:7'
run -d "$trust" read --query "$q"
after=$("$E" -d "$trust" read --query "$q" | tail -n 1 | tr -dc 0-9)
echo "Two customers saw the seat free at position $after; each books it on that condition:"
echo '{"stream":"customer-c1","type":"seat_booked","tags":["customer:c1","course:7"]}' |
	run -d "$trust" append --fail-if "$q" --after "$after"
echo '{"stream":"customer-c3","type":"seat_booked","tags":["customer:c3","course:7"]}' |
	run -d "$trust" append --fail-if "$q" --after "$after" || echo "(exit code $?: c3 must read again)"
