# t_proofs.sh — Merkle proofs (docs/PROOFS.md): every leaf's data folds to
# the head's root by RFC 9162's definition; inclusion and consistency proofs
# of random positions and sizes pass tests/proofs/rfc9162_check.py (written
# from the RFC) and engram proof check, also after compact, reindex and a
# damaged tree file; tampered proofs fail both; check needs no store; signed
# heads; bad arguments.

CHECK=$E2E_DIR/../proofs/rfc9162_check.py

# head_root: the store's head; sets SIZE and ROOT (no python: it is called
# often).
head_root() {
	ok eg --format ndjson head
	[[ $OUT =~ \"size\":([0-9]+),\"root\":\"([0-9a-f]{64})\" ]] || fail "head: $OUT"
	SIZE=${BASH_REMATCH[1]}
	ROOT=${BASH_REMATCH[2]}
}

# Three batches of bank events; OLD_SIZE/OLD_ROOT: the head after the first.
three_batches() {
	"$ENGRAM" gen bank --events 300 --seed 7 >"$T/all.ndjson" || fail "gen failed"
	sed -n 1,120p "$T/all.ndjson" >"$T/a.ndjson"
	sed -n 121,121p "$T/all.ndjson" >"$T/b.ndjson"
	sed -n '122,$p' "$T/all.ndjson" >"$T/c.ndjson"
	ok eg append "$T/a.ndjson"
	head_root
	OLD_SIZE=$SIZE
	OLD_ROOT=$ROOT
	ok eg append "$T/b.ndjson"
	ok eg append "$T/c.ndjson"
	head_root
	assert_eq 120 "$OLD_SIZE" "size after the first batch"
	assert_eq 300 "$SIZE" "size"
	assert_contains "$OUT" '{"pos":300,' "size is the head position"
}

# every_proof FILE ROOT: every line of FILE (proof inclusion --positions of
# all positions) verifies by the independent checker, its leaf_data folds
# to ROOT, and is the record's bytes as they lie in the log (when plain).
every_proof() {
	py "$1" "$2" "$CHECK" "$STORE" <<'EOF'
import base64, glob, json, sys, importlib.util
spec = importlib.util.spec_from_file_location("rfc", sys.argv[3])
rfc = importlib.util.module_from_spec(spec); spec.loader.exec_module(rfc)
root = bytes.fromhex(sys.argv[2])
proofs = [json.loads(l) for l in open(sys.argv[1])]
leaves = []
for i, p in enumerate(proofs):
    assert p["leaf_index"] == i and p["pos"] == i + 1 and p["event"]["pos"] == i + 1, p
    data = base64.b64decode(p["leaf_data"])
    assert rfc.leaf_hash(data) == bytes.fromhex(p["leaf_hash"]), i
    why = rfc.verify_inclusion(i, p["tree_size"], bytes.fromhex(p["leaf_hash"]),
                               [bytes.fromhex(x) for x in p["audit_path"]], root)
    assert why is None, (i, why)
    leaves.append(data)
assert rfc.mth(leaves) == root, "the leaves do not fold to the head's root"
log = b"".join(open(f, "rb").read() for f in sorted(glob.glob(sys.argv[4] + "/log/*.seg")))
if log.startswith(b"ENGRAMSG"):
    for i, d in enumerate(leaves):
        assert d in log, "leaf %d is not a record's bytes in the log" % i
EOF
}

test_every_leaf_folds_to_the_head_root_and_proofs_verify() {
	three_batches
	seq 1 "$SIZE" >"$T/all.pos"
	ok_to "$T/all.proofs" eg proof inclusion --positions "$T/all.pos"
	every_proof "$T/all.proofs" "$ROOT"
	# random positions and (old, new) pairs through both checkers: engram
	# here, the python checker at once below
	local p m n i
	: >"$T/list"
	for i in 1 2 3 4 5; do
		p=$(( (RANDOM % SIZE) + 1 ))
		ok_to "$T/i$i.json" eg proof inclusion "$p"
		ok "$ENGRAM" proof check "$T/i$i.json" --root "$ROOT"
		assert_contains "$OUT" '"ok":true,"kind":"inclusion"'
		n=$(( (RANDOM % SIZE) + 1 ))
		m=$(( RANDOM % (n + 1) ))
		ok_to "$T/c$i.json" eg proof consistency "$m" "$n"
		ok_to "$T/r$i.json" eg proof inclusion "$n" --size "$n"
		[[ $(<"$T/r$i.json") =~ \"root\":\"([0-9a-f]{64})\" ]] || fail "no root in r$i.json"
		ok "$ENGRAM" proof check "$T/c$i.json" --root "${BASH_REMATCH[1]}"
		printf '%s %s %s\n' "$i" "$m" "$n" >>"$T/list"
	done
	ok_to "$T/c0.json" eg proof consistency "$OLD_SIZE" "$SIZE"
	ok "$ENGRAM" proof check - --old-root "$OLD_ROOT" --root "$ROOT" <"$T/c0.json"
	ok_to "$T/i0.json" eg proof inclusion 17 --size "$OLD_SIZE"
	ok_to "$T/id.json" eg proof inclusion --id "$(jget "$(eg --format ndjson read --from 99 --to 99)" id)"
	py "$T" "$CHECK" "$ROOT" "$OLD_ROOT" "$SIZE" "$OLD_SIZE" <<'PY'
import json, sys, importlib.util
spec = importlib.util.spec_from_file_location("rfc", sys.argv[2])
rfc = importlib.util.module_from_spec(spec); spec.loader.exec_module(rfc)
t, root, old_root = sys.argv[1], bytes.fromhex(sys.argv[3]), bytes.fromhex(sys.argv[4])
size, old_size = int(sys.argv[5]), int(sys.argv[6])
H = bytes.fromhex
def load(n):
    return json.load(open("%s/%s.json" % (t, n)))
for line in open(t + "/list"):
    i, m, n = map(int, line.split())
    p = load("i%d" % i)
    assert rfc.verify_inclusion(p["leaf_index"], p["tree_size"], H(p["leaf_hash"]),
                                [H(x) for x in p["audit_path"]], root) is None, p["pos"]
    c, r = load("c%d" % i), load("r%d" % i)
    assert (c["first_size"], c["second_size"]) == (m, n)
    assert c["second_root"] == r["root"], (m, n)
    assert rfc.verify_consistency(m, n, H(c["first_root"]), H(c["second_root"]),
                                  [H(x) for x in c["consistency_path"]]) is None, (m, n)
    # the second root is the root of the first n leaves: another proof's
    assert rfc.verify_inclusion(n - 1, n, H(r["leaf_hash"]), [H(x) for x in r["audit_path"]],
                                H(c["second_root"])) is None, (m, n)
c = load("c0")
assert rfc.verify_consistency(old_size, size, old_root, root,
                              [H(x) for x in c["consistency_path"]]) is None, "old head to new"
p = load("i0")
assert rfc.verify_inclusion(16, old_size, H(p["leaf_hash"]), [H(x) for x in p["audit_path"]],
                            old_root) is None, "a proof at the old size"
assert load("id")["leaf_index"] == 98, "--id"
PY
}

test_proofs_survive_compact_reindex_and_a_damaged_tree() {
	three_batches
	seq 1 "$SIZE" >"$T/all.pos"
	ok_to "$T/before" eg proof inclusion --positions "$T/all.pos"
	ok eg compact
	local root=$ROOT
	head_root
	assert_eq "$root" "$ROOT" "root after compact"
	ok_to "$T/after" eg proof inclusion --positions "$T/all.pos"
	every_proof "$T/after" "$ROOT"
	ok eg reindex
	ok_to "$T/after" eg proof inclusion --positions "$T/all.pos"
	assert_files_eq "$T/before" "$T/after" "proofs before compact and after reindex"
	local nodes=$STORE/idx/tree/rfc9162/nodes
	[ -f "$nodes" ] || fail "no tree file $nodes"
	# a damaged node, a torn file, a missing file: rebuilt, never trusted
	flip_byte "$nodes" 4000
	ok_to "$T/after" eg proof inclusion --positions "$T/all.pos"
	assert_files_eq "$T/before" "$T/after" "proofs after a damaged node"
	truncate -s 1000 "$nodes"
	head_root
	assert_eq "$root" "$ROOT" "root after a torn tree file"
	flip_byte "$STORE/idx/tree/rfc9162/state" 20
	rm -f "$nodes"
	ok_to "$T/after" eg proof inclusion --positions "$T/all.pos"
	assert_files_eq "$T/before" "$T/after" "proofs after deleting the tree file"
	ok eg --format ndjson stats
	assert_match "$OUT" '"tree_bytes":[1-9]'
	# four readers building the tree at once: one builds, the others wait
	# for its lock and catch up from it
	rm -rf "$STORE/idx/tree"
	local k
	for k in 1 2 3 4; do
		"$ENGRAM" -d "$STORE" head >"$T/h$k" 2>&1 &
	done
	wait
	for k in 1 2 3 4; do
		assert_contains "$(cat "$T/h$k")" "\"root\":\"$root\"" "concurrent head $k"
	done
	# a tree file that cannot be written: the answer from memory, a warning
	rm -f "$nodes" "$STORE/idx/tree/rfc9162/state"
	mkdir "$nodes.tmp"
	head_root
	assert_eq "$root" "$ROOT" "root built in memory"
	assert_contains "$ERR" "warning: cannot write the Merkle tree"
	rmdir "$nodes.tmp"
}

# tamper SRC KIND ROOT OLD EXPR...: for each python expression (p: the
# proof SRC as a dict) a changed copy $T/bad.N.json; both checkers refuse
# each: the python one in one run, engram proof check (exit 3) in turn.
tamper() {
	local src=$1 kind=$2 root=$3 old=$4
	shift 4
	py "$src" "$T" "$CHECK" "$kind" "$root" "$old" "$@" <<'PY'
import json, sys, importlib.util
spec = importlib.util.spec_from_file_location("rfc", sys.argv[3])
rfc = importlib.util.module_from_spec(spec); spec.loader.exec_module(rfc)
src, t, kind, root, old = sys.argv[1:6]
def flip(h, i=5):
    return h[:i] + ("0" if h[i] != "0" else "1") + h[i + 1:]
for k, expr in enumerate(sys.argv[7:]):
    p = json.load(open(src))
    exec(expr)
    f = "%s/bad.%d.json" % (t, k)
    open(f, "w").write(json.dumps(p) if not isinstance(p, str) else p)
    args = ["x", kind, f, root] if kind == "inclusion" else ["x", kind, f, old, root]
    assert rfc.main(args) == 1, "the python checker accepts: " + expr
PY
	local k=0 e
	for e in "$@"; do
		if [ "$kind" = inclusion ]; then
			assert_exit 3 "$ENGRAM" proof check "$T/bad.$k.json" --root "$root"
		else
			assert_exit 3 "$ENGRAM" proof check "$T/bad.$k.json" --root "$root" --old-root "$old"
		fi
		assert_contains "$ERR" "proof check failed" "$e"
		printf '%s\n' "$ERR" >>"$T/errors"
		k=$((k + 1))
	done
}

test_tampered_proofs_fail_both_checkers() {
	"$ENGRAM" gen bank --events 100 --seed 3 >"$T/a.ndjson" || fail "gen failed"
	ok eg append "$T/a.ndjson"
	head_root
	ok_to "$T/p.json" eg proof inclusion 37
	local zero
	zero=$(printf '%064d' 0)
	tamper "$T/p.json" inclusion "$ROOT" - \
		"p['audit_path'][0] = flip(p['audit_path'][0], 0)" \
		"p['audit_path'][1] = flip(p['audit_path'][1], 9)" \
		"p['audit_path'][2] = flip(p['audit_path'][2], 18)" \
		"p['audit_path'][3] = flip(p['audit_path'][3], 27)" \
		"p['audit_path'][4] = flip(p['audit_path'][4], 36)" \
		"p['audit_path'][5] = flip(p['audit_path'][5], 45)" \
		"p['audit_path'][6] = flip(p['audit_path'][6], 63)" \
		"p['leaf_hash'] = flip(p['leaf_hash'])" \
		"p['audit_path'][1] = p['audit_path'][1][:63]" \
		"p['tree_size'] = 64" \
		"p['leaf_index'] = 37" \
		"p['audit_path'].pop()" \
		"p['leaf_data'] = 'AAAA' + p['leaf_data'][4:]" \
		"p['leaf_index'] = '36'" \
		"p = json.dumps(p)[:40]"
	local errs
	errs=$(cat "$T/errors")
	assert_contains "$errs" "64 hex digits" "a truncated hash"
	assert_contains "$errs" "wrong length" "a short path"
	assert_contains "$errs" "leaf_data does not hash to leaf_hash" "other leaf data"
	assert_contains "$errs" "field leaf_index" "a string index"
	assert_contains "$errs" "malformed JSON" "a cut proof"
	assert_exit 3 "$ENGRAM" proof check "$T/p.json" --root "$zero"
	assert_contains "$ERR" "root"
	# consistency
	ok_to "$T/c.json" eg proof consistency 41 100
	local old
	old=$(jget "$(cat "$T/c.json")" first_root)
	tamper "$T/c.json" consistency "$ROOT" "$old" \
		"p['consistency_path'][2] = flip(p['consistency_path'][2])" \
		"p['first_size'] = 40; del p['first_root']" \
		"p['consistency_path'] = p['consistency_path'][:-1]"
	assert_exit 2 "$ENGRAM" proof check "$T/c.json" --root 12ab
}

test_check_needs_no_store() {
	"$ENGRAM" gen bank --events 30 --seed 2 >"$T/a.ndjson" || fail "gen failed"
	ok eg append "$T/a.ndjson"
	head_root
	ok_to "$T/p.json" eg proof inclusion 30
	ok_to "$T/c.json" eg proof consistency 7 30
	rm -rf "$STORE"
	mkdir "$T/empty"
	cd "$T/empty" || fail "cd"
	ok "$ENGRAM" -d "$T/nothing-here" proof check "$T/p.json" --root "$ROOT"
	ok "$ENGRAM" proof check - --root "$ROOT" <"$T/c.json"
	assert_contains "$OUT" '"kind":"consistency"'
	[ ! -e "$T/nothing-here" ] && [ ! -e "$T/empty/engram-data" ] || fail "proof check made a store"
}

test_signed_heads() {
	command -v openssl >/dev/null || fail "openssl is needed"
	openssl genpkey -algorithm ed25519 -out "$T/k.pem" 2>/dev/null || fail "genpkey"
	openssl pkey -in "$T/k.pem" -pubout -out "$T/k.pub" 2>/dev/null || fail "pubout"
	openssl genpkey -algorithm ed25519 -out "$T/other.pem" 2>/dev/null || fail "genpkey"
	openssl pkey -in "$T/other.pem" -pubout -out "$T/other.pub" 2>/dev/null || fail "pubout"
	"$ENGRAM" gen bank --events 40 --seed 4 >"$T/a.ndjson" || fail "gen failed"
	ok eg append "$T/a.ndjson"
	ok_to "$T/head.json" eg --format ndjson head --sign "$T/k.pem"
	assert_match "$(cat "$T/head.json")" '"public_key":"[0-9a-f]{64}","signature":"[0-9a-f]{128}"'
	ok "$ENGRAM" proof check "$T/head.json" --pubkey "$T/k.pub"
	assert_contains "$OUT" '"kind":"head"'
	ok_to "$T/p.json" eg proof inclusion 12
	ok "$ENGRAM" proof check "$T/p.json" --pubkey "$T/k.pub" --head "$T/head.json"
	assert_contains "$OUT" '"kind":"inclusion"'
	assert_exit 3 "$ENGRAM" proof check "$T/head.json" --pubkey "$T/other.pub"
	assert_contains "$ERR" "bad signature"
	sed 's/"size":40/"size":39/' "$T/head.json" >"$T/bad.json"
	assert_exit 3 "$ENGRAM" proof check "$T/bad.json" --pubkey "$T/k.pub"
	assert_contains "$ERR" "bad signature"
	# a proof of an older tree is not a proof against the signed head
	ok_to "$T/p.json" eg proof inclusion 12 --size 20
	assert_exit 3 "$ENGRAM" proof check "$T/p.json" --pubkey "$T/k.pub" --head "$T/head.json"
	# the signature checks without engram: openssl over the documented statement
	python3 - "$T/head.json" "$T/stmt" "$T/sig" <<'EOF' || fail "statement"
import json, sys
h = json.load(open(sys.argv[1]))
open(sys.argv[2], "w").write("engram-head v1\nsize %d\nroot %s\npos %d\nhash %s\n"
                             % (h["size"], h["root"], h["pos"], h["hash"]))
open(sys.argv[3], "wb").write(bytes.fromhex(h["signature"]))
EOF
	openssl pkeyutl -verify -pubin -inkey "$T/k.pub" -rawin -in "$T/stmt" -sigfile "$T/sig" >/dev/null 2>&1 ||
		fail "openssl does not verify the head's signature"
	assert_exit 2 eg head --sign "$T/k.pub"
	assert_contains "$ERR" "Ed25519 private key"
	assert_exit 2 eg head --sign "$T/no-such.pem"
}

test_bad_arguments_name_what_is_wrong() {
	"$ENGRAM" gen bank --events 20 --seed 5 >"$T/a.ndjson" || fail "gen failed"
	ok eg append "$T/a.ndjson"
	assert_exit 2 eg proof inclusion 0
	assert_exit 2 eg proof inclusion x
	assert_exit 1 eg proof inclusion 21
	assert_contains "$ERR" "no event at position 21"
	assert_exit 1 eg proof inclusion --id no-such-id
	assert_exit 2 eg proof inclusion 5 --size 21
	assert_contains "$ERR" "--size 21"
	assert_exit 2 eg proof inclusion 5 --size 4
	assert_contains "$ERR" "--size 4"
	assert_exit 2 eg proof consistency 6 5
	assert_contains "$ERR" "OLD 6"
	assert_exit 2 eg proof consistency 5 21
	assert_contains "$ERR" "NEW 21"
	assert_exit 2 eg proof check
	assert_exit 2 eg proof frobnicate
	ok eg proof consistency 0 20
	ok eg proof consistency 20 20
	# --positions: proven in log order, printed in the file's; a bad line
	# stops it after the proofs of the lines before
	printf '9\n2\n9\n' >"$T/pos"
	ok eg proof inclusion --positions "$T/pos"
	assert_eq "9 2 9" "$(grep -o '"pos":[0-9]*,"leaf_data"' <<<"$OUT" | tr -dc '0-9\n' | tr '\n' ' ' | sed 's/ $//')" "order of --positions"
	printf '4\n0\n3\n' >"$T/pos"
	assert_exit 2 eg proof inclusion --positions "$T/pos"
	assert_contains "$ERR" "--positions line 2"
	assert_eq 1 "$(grep -c leaf_index <<<"$OUT")" "proofs before the bad line"
}

test_the_worked_proof_of_the_docs_is_what_engram_prints() {
	local doc=$E2E_DIR/../../docs/PROOFS.md root
	grep -E '^    \{"id":"e[0-9]' "$doc" | sed 's/^    //' >"$T/five.ndjson"
	assert_eq 5 "$(count_lines "$T/five.ndjson")" "events of the worked example"
	ok eg append "$T/five.ndjson"
	ok eg --format ndjson head
	root=$(jget "$OUT" root)
	assert_contains "$(cat "$doc")" "\"size\":5,\"root\":\"$root\"" "the doc's root"
	ok eg proof inclusion 3
	py "$OUT" "$doc" <<'PY'
import json, sys
p, doc = json.loads(sys.argv[1]), open(sys.argv[2]).read()
for h in p["audit_path"] + [p["leaf_hash"], p["leaf_data"]]:
    assert h in doc, "the doc lacks " + h
PY
}

test_heads_taken_while_a_writer_appends_are_prefixes_of_the_final_tree() {
	"$ENGRAM" gen bank --events 2000 --seed 9 >"$T/all.ndjson" || fail "gen failed"
	split -l 100 "$T/all.ndjson" "$T/part."
	ok eg append "$T/part.aa"
	(for f in "$T"/part.a[b-t]; do "$ENGRAM" -d "$STORE" append "$f" >/dev/null || exit 1; done) &
	local w=$! k
	: >"$T/heads"
	for k in 1 2 3 4 5 6 7 8; do
		"$ENGRAM" -d "$STORE" --format ndjson head >>"$T/heads" || fail "head while appending"
	done
	wait $w || fail "the appends failed"
	head_root
	# each head seen: its root is the root of the final tree's prefix
	while read -r line; do
		[[ $line =~ \"size\":([0-9]+),\"root\":\"([0-9a-f]{64})\" ]] || fail "head: $line"
		ok_to "$T/c.json" eg proof consistency "${BASH_REMATCH[1]}" "$SIZE"
		ok "$ENGRAM" proof check "$T/c.json" --old-root "${BASH_REMATCH[2]}" --root "$ROOT"
	done <"$T/heads"
}
