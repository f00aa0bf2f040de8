# t_forget.sh — forgetting (crypto-shredding, docs/FORGETTING.md): a
# contract marks email, name and address.street personal with the subject
# /customer_id; after engram forget c2 no file of the store holds c2's
# plaintext (sealed segments and column files decompressed), reads show
# null with "forgotten": true, answers over plain paths are unchanged and
# verify passes; a lost key file reads "unavailable"; bad schemas and
# subjects are refused.

forget_schema() {
	cat >"$T/order.json" <<'JSON'
{"type": "object", "x-subject": "/customer_id", "required": ["customer_id"],
 "properties": {
   "customer_id": {"type": ["string", "integer"]},
   "email": {"type": "string", "x-personal": true},
   "name": {"type": "string", "x-personal": true},
   "address": {"type": "object", "properties": {
       "street": {"type": "string", "x-personal": true},
       "city": {"type": "string"}}},
   "amount": {"type": "integer"}}}
JSON
}

# 20 customers, 1500 events: orders with personal values, page views
# without; c2's personal values are all "SECRET-c2-..." strings.
forget_events() {
	py "$T/ev.ndjson" <<'PY'
import json, random, sys
r = random.Random(28)
with open(sys.argv[1], "w") as f:
    for i in range(1500):
        c = "c%d" % r.randrange(1, 21)
        t = "2025-01-%02dT%02d:%02d:00Z" % (1 + i // 600, (i // 25) % 24, i % 60)
        if r.random() < 0.6:
            d = {"customer_id": c, "email": "SECRET-%s-mail-%d@example.com" % (c, i),
                 "name": "SECRET-%s-name" % c,
                 "address": {"street": "SECRET-%s-street %d" % (c, i % 7), "city": ["Oslo", "Rome", "Lima"][i % 3]},
                 "amount": r.randrange(1, 100)}
            ev = {"stream": "order-%d" % i, "type": "order", "time": t, "data": d}
        else:
            ev = {"stream": "web-" + c, "type": "page_view", "time": t,
                  "data": {"customer_id": c, "page": "/p%d" % (i % 5), "ms": r.randrange(10, 500)}}
        f.write(json.dumps(ev) + "\n")
PY
}

forget_specs() {
	cat >"$T/plain.json" <<'JSON'
{"name": "spend", "key": "data.customer_id", "types": ["order"],
 "fields": {"orders": {"count": true}, "spent": {"sum": "data.amount"},
            "max": {"max": "data.amount"}}}
JSON
	cat >"$T/personal.json" <<'JSON'
{"name": "contact", "key": "data.customer_id", "types": ["order"],
 "fields": {"email": {"last": "data.email"}, "street": {"first": "data.address.street"},
            "orders": {"count": true}}}
JSON
	cat >"$T/win.json" <<'JSON'
{"name": "cities", "types": ["order"], "window": {"tumble": "1d"},
 "group_by": ["data.address.city"],
 "aggs": {"orders": {"count": true}, "amount": {"sum": "data.amount"}},
 "watermark": "1h", "allowed_lateness": "1h"}
JSON
	cat >"$T/feat.json" <<'JSON'
{"entity": "data.customer_id", "labels": {"entity": "customer_id", "cutoff": "at"},
 "features": {"orders": {"count": true, "types": ["order"]},
              "spend": {"sum": "data.amount"},
              "last_name": {"last": "data.name"}}}
JSON
	cat >"$T/plainfeat.json" <<'JSON'
{"entity": "data.customer_id", "labels": {"entity": "customer_id", "cutoff": "at"},
 "features": {"orders": {"count": true, "types": ["order"]},
              "spend": {"sum": "data.amount"}}}
JSON
	cat >"$T/dset.json" <<'JSON'
{"name": "big_orders", "key": "customer_id",
 "base": "SELECT json_extract(data, '$.customer_id') AS customer_id, json_extract(data, '$.email') AS email, json_extract(data, '$.amount') AS amount FROM events WHERE type = 'order'",
 "filters": [{"name": "big", "sql": "amount >= 90", "why": "a small order"}],
 "output": ["customer_id", "email"], "distinct": true}
JSON
	printf 'customer_id,at\n' >"$T/labels.csv"
	for c in $(seq 1 20); do printf 'c%d,2099-01-01T00:00:00Z\n' "$c"; done >>"$T/labels.csv"
}

forget_store() {
	# small column blocks, so that column files exist to look into
	export ENGRAM_COL_BLOCK_EVENTS=512
	forget_schema
	forget_events
	forget_specs
	ok eg schema add order "$T/order.json"
	ok eg --segment-size 64k append "$T/ev.ndjson"
	ok eg compact
}

# The answers over plain paths, into $T/$1.*
plain_answers() {
	ok_to "$T/$1.proj" eg --format ndjson project "$T/plain.json"
	ok_to "$T/$1.win" eg --format ndjson windows "$T/win.json"
	ok_to "$T/$1.feat" eg --format csv features "$T/plainfeat.json" --labels "$T/labels.csv"
	ok_to "$T/$1.sql" eg --format csv sql "SELECT json_extract(data, '$.customer_id') AS c, count(*), sum(json_extract(data, '$.amount')) FROM events WHERE type = 'order' GROUP BY 1 ORDER BY 1"
	ok_to "$T/$1.views" eg --format ndjson read --type page_view
}

# Every file under the store, and every zstd frame in it decompressed
# (sealed segments, column files; through libzstd, which engram links),
# searched for each needle's bytes: prints "NEEDLE FILE" (FILE marked
# "(zstd)" when found decompressed).
files_holding() {
	py "$STORE" "$@" <<'PY'
import ctypes, ctypes.util, os, sys
root, needles = sys.argv[1], [n.encode() for n in sys.argv[2:]]
z = ctypes.CDLL(ctypes.util.find_library("zstd") or "libzstd.so.1")
z.ZSTD_findFrameCompressedSize.restype = ctypes.c_size_t
z.ZSTD_getFrameContentSize.restype = ctypes.c_ulonglong
z.ZSTD_isError.restype = ctypes.c_uint
z.ZSTD_decompress.restype = ctypes.c_size_t
MAGIC = b"\x28\xb5\x2f\xfd"

def frame(b, i):
    src = b[i:]
    n = z.ZSTD_findFrameCompressedSize(src, ctypes.c_size_t(len(src)))
    if z.ZSTD_isError(n):
        return b""                     # the magic bytes by chance
    size = z.ZSTD_getFrameContentSize(src, ctypes.c_size_t(n))
    assert size < 1 << 32, "a frame of unknown size in %s at %d: cannot look into it" % (p, i)
    out = ctypes.create_string_buffer(size or 1)
    r = z.ZSTD_decompress(out, ctypes.c_size_t(size), src, ctypes.c_size_t(n))
    assert not z.ZSTD_isError(r), "a damaged frame in %s at %d" % (p, i)
    return out.raw[:r]

for d, _, names in os.walk(root):
    for name in names:
        p = os.path.join(d, name)
        b = open(p, "rb").read()
        plain, i = [], b.find(MAGIC)
        while i >= 0:
            plain.append(frame(b, i))
            i = b.find(MAGIC, i + 4)
        zb = b"".join(plain)
        for x in needles:
            if x in b:
                print(x.decode(), p)
            elif x in zb:
                print(x.decode(), p, "(zstd)")
PY
}

test_forget_leaves_no_plaintext_and_keeps_plain_answers() {
	forget_store
	ok eg --format ndjson read --type order --limit 1
	assert_contains "$OUT" '"email":"SECRET-' "personal values read back decrypted"
	ok eg windows "$T/win.json" --explain
	assert_contains "$ERR" '"path":"columns"' "plain paths from the column files"
	local f; f=$(files_holding SECRET-c1-name SECRET-c1-mail Oslo)
	assert_not_contains "$f" SECRET "plaintext in the store before any derived state"
	assert_contains "$f" "idx/col/" "a plain value found in the column files"
	assert_contains "$f" ".seg (zstd)" "a plain value found in sealed segments"
	# derived state built from decrypted values: projections, windows,
	# features, a dataset, SQL
	ok eg project "$T/personal.json" --key c2
	assert_contains "$OUT" 'SECRET-c2-mail' "a projection over a personal path"
	plain_answers before
	ok eg features "$T/feat.json" --labels "$T/labels.csv" --format csv
	assert_contains "$OUT" 'SECRET-c2-name' "a feature over a personal path"
	ok eg dataset build "$T/dset.json"
	assert_contains "$OUT" 'SECRET-c2-mail' "a dataset over a personal path"
	f=$(files_holding SECRET-c2-mail SECRET-c2-name)
	assert_contains "$f" "SECRET-c2-mail $STORE/datasets/" "c2's plaintext in a dataset before forget"
	assert_contains "$f" "SECRET-c2-name $STORE/idx/feat/" "c2's plaintext in features before forget"
	ok eg head   # the Merkle tree, which covers the records as stored
	local root
	root=$(jget "$OUT" root)
	ok eg forget c2
	assert_eq c2 "$(jget "$OUT" subject)" "forget's row"
	assert_not_contains "$(jget "$OUT" dropped)" tree "forget keeps the tree (ciphertext only)"
	[ -n "$(ls "$STORE/idx/tree/"*/ 2>/dev/null)" ] || fail "idx/tree was dropped by forget"
	assert_eq false "$(jget "$OUT" already)" "forgotten now"
	assert_contains "$(jget "$OUT" dropped)" projection
	ok eg head
	assert_eq "$root" "$(jget "$OUT" root)" "the tree's root after forget"
	# (1) no file holds c2's plaintext, by raw bytes or decompressed
	assert_eq "" "$(files_holding SECRET-c2-mail SECRET-c2-name SECRET-c2-street)" \
		"files holding c2's plaintext"
	# (2) reads: null and forgotten for c2's orders, others unchanged
	ok_to "$T/read.ndjson" eg --format ndjson read --type order
	py "$T/ev.ndjson" "$T/read.ndjson" <<'PY'
import json, sys
src = [json.loads(l) for l in open(sys.argv[1])]
orders = [e for e in src if e["type"] == "order"]
got = [json.loads(l) for l in open(sys.argv[2])]
assert len(got) == len(orders), (len(got), len(orders))
for g, e in zip(got, orders):
    d = dict(e["data"]); d["address"] = dict(d["address"])
    if d["customer_id"] == "c2":
        d["email"] = d["name"] = d["address"]["street"] = None
        assert g.get("forgotten") is True, g
    else:
        assert "forgotten" not in g, g
    assert g["data"] == d, (g["data"], d)
PY
	# (3) the same answers over plain paths
	plain_answers after
	for k in proj win feat sql views; do
		assert_files_eq "$T/before.$k" "$T/after.$k"
	done
	ok eg project "$T/personal.json" --key c2
	assert_contains "$OUT" '"email":null' "the personal projection rebuilt"
	# (4) the chain still verifies
	ok eg verify
	# (5) the list, without data
	ok eg forget --list
	assert_eq c2 "$(jget "$OUT" subject)" "--list"
	assert_not_contains "$OUT" SECRET
	# twice: exit 0 and a warning; never seen: exit 1
	ok eg forget c2
	assert_eq true "$(jget "$OUT" already)" "forgotten before"
	assert_contains "$ERR" "forgotten before"
	assert_exit 1 eg forget c99
	assert_contains "$ERR" '"c99"'
}

test_forget_lost_key_file_reads_unavailable() {
	forget_schema
	ok eg schema add order "$T/order.json"
	ok eg append <<'EV'
{"type":"order","data":{"customer_id":"c1","email":"a@x","name":"A","address":{"street":"S1","city":"Oslo"},"amount":1}}
{"type":"order","data":{"customer_id":7,"email":"b@x","name":"B","address":{"city":"Rome"},"amount":2}}
EV
	ok eg --format ndjson read --type order
	assert_contains "$OUT" '"email":"b@x"' "an integer subject"
	[ "$(stat -c %a "$STORE/keys")" = 600 ] || fail "DIR/keys is not 0600"
	local want=$OUT
	# reindex leaves the key file alone; backup copies it
	ok eg reindex
	ok eg backup "$T/copy"
	[ "$(stat -c %a "$T/copy/keys")" = 600 ] || fail "the copy's keys is not 0600"
	ok "$ENGRAM" -d "$T/copy" --format ndjson read --type order
	assert_eq "$want" "$OUT" "the backup reads the personal values"
	# a damaged entry: its values are unavailable, the others read
	py "$STORE/keys" <<'PY'
import sys
p = sys.argv[1]; b = bytearray(open(p, "rb").read())
b[64 + 40] ^= 0xff     # a key byte of entry 1 (c1)
open(p, "wb").write(b)
PY
	ok eg --format ndjson read --type order
	assert_contains "$(head -1 <<<"$OUT")" '"email":null,"name":null,"address":{"street":null,"city":"Oslo"},"amount":1},"meta":null,"unavailable":true}'
	assert_contains "$(tail -1 <<<"$OUT")" '"email":"b@x"'
	rm "$STORE/keys"
	ok eg --format ndjson read --type order
	assert_contains "$(tail -1 <<<"$OUT")" '"email":null,"name":null,"address":{"city":"Rome"},"amount":2},"meta":null,"unavailable":true}'
	ok eg verify
	assert_exit 1 eg forget c1
}

test_forget_refuses_bad_schemas_and_subjects() {
	ok eg append <<<'{"type":"x"}'
	printf '{"type":"object","properties":{"email":{"x-personal":true}}}' >"$T/s1.json"
	assert_exit 1 eg schema add t "$T/s1.json"
	assert_contains "$ERR" '/properties/email/x-personal: personal properties need "x-subject"'
	printf '{"type":"object","x-subject":"/id","properties":{"email":{"x-personal":"yes"}}}' >"$T/s2.json"
	assert_exit 1 eg schema add t "$T/s2.json"
	assert_contains "$ERR" '/properties/email/x-personal: expected true or false'
	printf '{"type":"object","x-subject":"id","properties":{"email":{"x-personal":true}}}' >"$T/s3.json"
	assert_exit 1 eg schema add t "$T/s3.json"
	assert_contains "$ERR" '/x-subject: expected a JSON pointer'
	printf '{"type":"object","x-subject":"/id","properties":{"id":{"x-personal":true}}}' >"$T/s4.json"
	assert_exit 1 eg schema add t "$T/s4.json"
	assert_contains "$ERR" 'cannot itself be personal'
	printf '{"type":"object","x-subject":"/id","items":{"x-personal":true}}' >"$T/s5.json"
	assert_exit 1 eg schema add t "$T/s5.json"
	assert_contains "$ERR" '/items/x-personal: expected on a property of data'
	printf '{"type":"object","x-subject":"/customer_id","properties":{"email":{"x-personal":true}}}' >"$T/visit.json"
	ok eg schema add visit "$T/visit.json"
	forget_schema
	ok eg schema add order "$T/order.json"
	# a subject missing, or neither a string nor an integer: the line is
	# invalid and nothing of the batch is written
	local head; head=$(eg head)
	assert_exit 1 eg append <<'EV'
{"type":"visit","data":{"customer_id":"c1","email":"a@x"}}
{"type":"visit","data":{"email":"a@x"}}
EV
	assert_contains "$ERR" 'line 2: field "data/customer_id": missing'
	assert_exit 1 eg append <<<'{"type":"visit","data":{"customer_id":1.5,"email":"a@x"}}'
	assert_contains "$ERR" 'field "data/customer_id": expected a string'
	# engram's own form of an encrypted value, given in data: refused (a
	# reader would take it for one and read the real values unavailable)
	assert_exit 1 eg append <<<'{"type":"visit","data":{"customer_id":"c1","email":"a@x","note":{"$enc":1}}}'
	assert_contains "$ERR" 'field "data": expected no object with a "$enc" member first'
	# $quarantine would keep personal values in the clear: refused
	assert_exit 1 eg append --quarantine <<<'{"type":"order","data":{"customer_id":"c1","email":"a@x","amount":"x"}}'
	assert_contains "$ERR" 'personal properties'
	assert_eq "$head" "$(eg head)" "nothing written"
	assert_exit 2 eg forget
	assert_exit 2 eg forget --list c1
	# a writer holds the lock: exit 4
	mkfifo "$T/fifo" || fail "mkfifo failed"
	exec 7<>"$T/fifo"
	"$ENGRAM" -d "$STORE" append "$T/fifo" >/dev/null 2>&1 7>&- &
	local holder=$!
	trap 'kill $holder 2>/dev/null; exec 7>&-' EXIT
	wait_for 3 lock_held_by $holder || fail "the writer did not take the lock"
	assert_exit 4 eg forget c1
	exec 7>&-
	wait $holder
}
