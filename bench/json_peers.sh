#!/usr/bin/env bash
# bench/json_peers.sh [FILE]
#
# Our JSON scanner (src/util/json.c) against cJSON, yajl and jansson, doing
# engram's per-line work on 1M lines of `engram gen bank` (or FILE), one
# core, best of 3; then five invalid lines through each.  Prints markdown.
# The numbers and the choice they support are kept in docs/JSON.md.
set -euo pipefail
cd "$(dirname "$0")/.."
die() { echo "json_peers: $*" >&2; exit 1; }

# --- the peers, from Debian 12 (pkg-config names: libcjson, yajl, jansson)
DEBS="libcjson-dev libyajl-dev libjansson-dev pkg-config"
missing=""
for p in $DEBS; do dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"; done
if [ -n "$missing" ]; then
	[ "$(id -u)" = 0 ] || die "missing:$missing; run: sudo apt-get install -y$missing"
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >/dev/null
fi
PKGS="libcjson yajl jansson"
pkg-config --exists $PKGS || die "pkg-config does not find: $PKGS"

# --- build: our scanner compiled in, the peers as Debian ships them (-O2)
mkdir -p build
# shellcheck disable=SC2046
cc -O2 -std=c11 -Wall -Wextra -Isrc/util $(pkg-config --cflags $PKGS) \
	bench/json_peers.c src/util/json.c -o build/json_peers $(pkg-config --libs $PKGS)

CPU=$(grep -m1 '^model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')
echo "Machine: ${CPU:-unknown CPU}, $(nproc) cores, $(uname -sr); $(cc --version | head -1)."
echo
build/json_peers "$@"
