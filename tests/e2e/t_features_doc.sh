# t_features_doc.sh — docs/FEATURES.md works as written (issue 22): its
# shell blocks, run in order in an empty directory, exit 0 without an error
# or a warning, and what they print and write is what the page shows.

test_features_doc_runs_as_written() {
	local top=$E2E_DIR/../..
	cp -r "$top/examples" "$T/examples"
	mkdir "$T/bin" && ln -s "$ENGRAM" "$T/bin/engram"
	awk '/^```sh$/ { code = 1; next } code && /^```$/ { code = 0; next }
	     code { print }' "$top/docs/FEATURES.md" >"$T/doc.sh"
	[ "$(grep -c '^engram ' "$T/doc.sh")" -ge 8 ] || fail "the page has only $(grep -c '^engram ' "$T/doc.sh") engram commands"
	(cd "$T" && unset ENGRAM_DIR && PATH="$T/bin:/usr/bin:/bin" bash -e -o pipefail doc.sh) >"$T/out" 2>"$T/err" ||
		fail "the page's commands stopped (exit $?): $(tail -n 3 "$T/err" | tr '\n' ' ')"
	local err
	err=$(<"$T/err")
	assert_not_contains "$err" "engram: error" "the page's stderr"
	assert_not_contains "$err" "engram: warning" "the page's stderr"
	# every line of the training sets printed (indented on the page) and
	# of the leakage report (in its json block) is on the page as shown
	local line
	while IFS= read -r line; do
		grep -qxF "    $line" "$top/docs/FEATURES.md" || fail "train.csv line not on the page: $line"
	done <"$T/train.csv"
	grep -q '^customer,label_time,predicted_at,' "$T/out" || fail "no --cutoff-known-at output"
	while IFS= read -r line; do
		case $line in
		customer,label_time,predicted_at,* | customer-00042,*,2025-03-10T09:00:00Z,*)
			grep -qxF "    $line" "$top/docs/FEATURES.md" || fail "--cutoff-known-at output not on the page: $line" ;;
		esac
	done <"$T/out"
	while IFS= read -r line; do
		grep -qxF "$line" "$top/docs/FEATURES.md" || fail "leakage report line not on the page: $(_short "$line")"
	done <"$T/leakage.ndjson"
	assert_contains "$(<"$T/out")" '{"check":"identical",' "--check after a later append"
	assert_contains "$(<"$T/out")" '{"entity":"customer-00042","at":"2025-03-10T00:00:00.000000Z","known_at":"2025-03-10T00:00:00.000000Z","orders_30d":2,' "serving"
	[ "$(wc -l <"$T/gen_train.csv")" -gt 100 ] || fail "gen_train.csv has $(wc -l <"$T/gen_train.csv") lines"
}
