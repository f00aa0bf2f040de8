#!/usr/bin/env bash
# layers.sh BUILD_DIR — lower layers never call up (docs/LAYOUT.md): no
# object of src/util/ uses a symbol defined in store/, engine/, gen/ or
# sql/, none of src/store/ one defined in engine/, gen/ or sql/, and none
# of src/engine/ one defined in gen/ or sql/.  The include paths of
# the build already keep headers apart; this catches a declaration written
# by hand.  Exits 1 naming each such use.
set -u
B=${1:-build}
defs() { for d in "$@"; do for o in "$B"/src/"$d"/*.o; do nm -g --defined-only "$o" | awk 'NF == 3 { print $3 }'; done; done | sort -u; }
uses() { for o in "$B"/src/"$1"/*.o; do nm -u "$o" | awk -v o="${o#"$B"/}" '{ print $2, o }'; done | sort -u; }
bad=0
check() {
	local low=$1
	shift
	local up
	up=$(defs "$@")
	while read -r sym obj; do
		if grep -qxF "$sym" <<<"$up"; then
			echo "layers: $obj uses $sym, defined in a layer above it ($*)"
			bad=1
		fi
	done < <(uses "$low")
}
check util store engine gen sql
check store engine gen sql
check engine gen sql
[ $bad = 0 ] && echo "layers: util, store and engine call nothing above them"
exit $bad
