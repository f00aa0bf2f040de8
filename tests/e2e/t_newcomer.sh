# t_newcomer.sh — what a new user hits first (issue 18): follow modes on a
# terminal, table cells, help, repeated flags.

# ev N [TYPE]: N events of stream s, ids e1..eN (type t unless TYPE).
ev() {
	local i
	for i in $(seq 1 "$1"); do
		echo "{\"id\":\"e$i\",\"stream\":\"s\",\"type\":\"${2:-t}\",\"data\":{\"n\":$i}}"
	done
}

# A consumer following on a terminal prints every event it consumes, and
# its checkpoint never passes an event that is not on the screen yet.
test_consume_follow_on_a_terminal_prints_before_the_checkpoint_moves() {
	"$ENGRAM" gen bank --events 20 >"$T/a.ndjson"
	"$ENGRAM" gen bank --events 10 --seed 5 >"$T/b.ndjson"
	ok eg append "$T/a.ndjson"
	py "$ENGRAM" "$STORE" "$T/b.ndjson" <<'PYEOF'
import re, subprocess, sys, time
from e2e import *
from term import Term
engram, store, more = sys.argv[1:4]

def shown(text):
    return {int(m) for m in re.findall(r"^(\d+)\s", text, re.M)}

def ckpt():
    out = subprocess.run([engram, "-d", store, "consumers"], capture_output=True, text=True).stdout
    rows = [loads(l) for l in out.splitlines()]
    return int(plain(dict(rows[0])["pos"])) if rows else 0

t = Term([engram, "-d", store, "consume", "x", "--follow"], cols=250)
t.wait_for(lambda s: len(shown(s)) >= 20, what="the first 20 events")
check("pos" in t.text().splitlines()[0], "no table header: %r" % t.text()[:200])
subprocess.run([engram, "-d", store, "append", more], check=True, capture_output=True)
# Read the checkpoint first, then the screen: whatever the checkpoint
# covers must already be on it.
deadline = time.time() + 20
while time.time() < deadline:
    pos = ckpt()
    on_screen = shown(t.drain(0.0))
    missing = set(range(1, pos + 1)) - on_screen
    check(not missing, "checkpoint at %d but events %s not shown" % (pos, sorted(missing)[:5]))
    if pos == 30 and len(on_screen) == 30:
        break
    time.sleep(0.02)
check(ckpt() == 30, "checkpoint %d after 30 events" % ckpt())
t.interrupt()
check(shown(t.text()) == set(range(1, 31)), "shown %s" % sorted(shown(t.text())))
PYEOF
}

# read --follow on a terminal shows each event as it is appended, not
# after hundreds have piled up.
test_read_follow_on_a_terminal_shows_rows_as_they_arrive() {
	ev 2 >"$T/two.ndjson"
	ok eg append "$T/two.ndjson"
	py "$ENGRAM" "$STORE" <<'PYEOF'
import subprocess, sys
from e2e import *
from term import Term
engram, store = sys.argv[1:3]
t = Term([engram, "-d", store, "read", "--follow"], cols=200)
t.wait_for(lambda s: "e2" in s, what="the two stored events")
for i in (3, 4):
    line = '{"id":"e%d","stream":"s","type":"t"}\n' % i
    subprocess.run([engram, "-d", store, "append"], input=line, text=True, check=True,
                   capture_output=True)
    t.wait_for(lambda s: "e%d " % i in s, seconds=10, what="event e%d" % i)
lines = [l for l in t.text().splitlines() if l.strip()]
check(lines[0].split()[:3] == ["pos", "id", "stream"], "header %r" % lines[0])
check(len(lines) == 5, "%d lines, expected the header and 4 rows: %r" % (len(lines), lines))
t.interrupt()
PYEOF
}

# windows --changelog --follow on a terminal shows a revision as soon as
# the events that make it are appended.
test_windows_changelog_follow_on_a_terminal_shows_revisions() {
	cat >"$T/w.json" <<'JSON'
{"name": "w", "types": ["t"], "window": {"tumble": "1h"},
 "aggs": {"n": {"count": true}}, "watermark": "0s", "allowed_lateness": "0s"}
JSON
	ok eg append <<<'{"id":"a","type":"t","time":"2025-01-01T10:10:00Z"}'
	py "$ENGRAM" "$STORE" "$T/w.json" <<'PYEOF'
import subprocess, sys, time
from e2e import *
from term import Term
engram, store, spec = sys.argv[1:4]
t = Term([engram, "-d", store, "windows", spec, "--changelog", "--follow"], cols=200)
time.sleep(1)   # nothing to show yet: let it start following
# an event an hour later closes the 10:00 window: revision 1, n = 1
subprocess.run([engram, "-d", store, "append"], input='{"id":"b","type":"t","time":"2025-01-01T11:30:00Z"}\n',
               text=True, check=True, capture_output=True)
text = t.wait_for(lambda s: "2025-01-01T10:00:00" in s, seconds=10, what="the 10:00 revision")
check("revision" in text, "no header: %r" % text)
t.interrupt()
PYEOF
}

# Hashes and ids are never cut; other wide cells are cut to fit the
# terminal; an empty table says so.
test_table_never_cuts_hashes_or_ids() {
	local id
	id=$(printf 'x%.0s' $(seq 1 64))
	ok eg append <<<"{\"id\":\"$id\",\"stream\":\"s\",\"type\":\"t\",\"data\":{\"text\":\"$(printf 'long %.0s' $(seq 1 60))\"}}"
	ok eg append <<<'{"stream":"s","type":"t"}'
	local hash
	hash=$(head_of | cut -d' ' -f2)
	COLUMNS=60 run eg --format table head
	assert_contains "$OUT" "$hash" "head as a table on 60 columns"
	COLUMNS=60 run eg --format table verify
	assert_contains "$OUT" "$hash" "verify as a table on 60 columns"
	COLUMNS=250 run eg --format table read
	assert_contains "$OUT" "$id" "read as a table: the 64-byte id"
	assert_match "$OUT" '\{"text":"long long [a-z ]*\.\.\.' "read as a table: the data cut to fit"
	local w
	w=$(printf '%s\n' "$OUT" | awk '{ if (length($0) > m) m = length($0) } END { print m }')
	[ "$w" -le 250 ] || fail "a table line is $w wide on a 250-column terminal"
	# one row too wide for the terminal: a line per column, nothing cut
	COLUMNS=80 run eg --format table stats
	assert_match "$OUT" $'^events +2\n' "stats as a table on 80 columns"
	assert_match "$OUT" $'\ntime_min +2025-[0-9T:.-]+Z\n' "stats as a table on 80 columns"
	# without a terminal width nothing is cut
	run eg --format table read
	assert_contains "$OUT" "$(printf 'long %.0s' $(seq 1 60))" "read as a table to a file"
}

test_empty_table_says_0_rows() {
	ok eg append <<<'{"type":"t"}'
	ok eg --format table read --type nosuch
	assert_eq "0 rows" "$OUT" "an empty table"
	ok eg --format ndjson read --type nosuch
	assert_eq "" "$OUT" "an empty ndjson result"
}

# Every command's help has an example and describes every option its
# usage line shows.
test_help_has_an_example_and_every_option_described() {
	ok "$ENGRAM" help
	py "$ENGRAM" "$OUT" <<'PYEOF'
import re, subprocess, sys
from e2e import *
engram, listing = sys.argv[1:3]
cmds = re.findall(r"^  ([a-z]+)  ", listing.split("Commands:")[1].split("Global")[0], re.M)
check(len(cmds) >= 17, "commands listed: %r" % cmds)
for c in cmds:
    h = subprocess.run([engram, "help", c], capture_output=True, text=True)
    check(h.returncode == 0, "engram help %s exited %d" % (c, h.returncode))
    usage, _, details = h.stdout.partition("\n\n")
    ex = details.split("Example:\n")
    check(len(ex) == 2 and re.match(r"  engram ", ex[1]), "engram help %s has no example" % c)
    for o in sorted(set(re.findall(r"--[a-z][a-z-]*", usage))):
        check(re.search(r"^\s+(--[a-z-]+[^\n]*, )?%s\b" % re.escape(o), ex[0], re.M),
              "engram help %s: option %s is not described" % (c, o))
PYEOF
	ok "$ENGRAM" help help
	assert_contains "$OUT" "usage: engram [-d DIR] help" "engram help help"
	ok "$ENGRAM" help
	assert_contains "$OUT" "--version" "engram help"
}

test_mistyped_command_and_misplaced_dir_are_explained() {
	assert_exit 2 "$ENGRAM" raed
	assert_contains "$ERR" "did you mean 'read'?" "a mistyped command"
	assert_exit 2 "$ENGRAM" consumer
	assert_contains "$ERR" "did you mean 'consume" "a mistyped command"
	assert_exit 2 "$ENGRAM" xyzzy
	assert_not_contains "$ERR" "did you mean" "a command like none"
	assert_exit 2 "$ENGRAM" read -d "$STORE"
	assert_contains "$ERR" "-d DIR is a global option: give it before the command" "-d after read"
	assert_exit 2 "$ENGRAM" --format csv gen bank --events 1
	assert_contains "$ERR" "gen writes events as NDJSON" "--format csv gen"
	assert_exit 2 "$ENGRAM" gen bank --events 1 --format csv
	assert_contains "$ERR" "gen writes events as NDJSON" "gen --format csv"
	[ ! -e "$STORE" ] || fail "a usage error created the store"
}

test_repeated_type_flags_combine() {
	{ ev 3 a; ev 3 b | sed 's/"e/"f/'; ev 3 c | sed 's/"e/"g/'; } >"$T/abc.ndjson"
	ok eg append "$T/abc.ndjson"
	ok eg read --type a --type c
	local two=$OUT
	assert_eq 6 "$(printf '%s\n' "$two" | grep -c .)" "read --type a --type c"
	ok eg read --type a,c
	assert_eq "$OUT" "$two" "--type a --type c vs --type a,c"
	ok eg consume k --type b --type c
	assert_eq 6 "$(printf '%s\n' "$OUT" | grep -c '"type":"[bc]"')" "consume --type b --type c"
	ok eg sessions --type a --type b
	assert_eq 6 "$(jget "$OUT" events)" "sessions --type a --type b"
}
