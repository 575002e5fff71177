#!/usr/bin/env bash
# Prove that every patch of the series stands on its own: after each one
# the kernel builds, scripts/checkpatch.pl --strict is clean, and the
# files it touches have no more W=1 or kernel-doc warnings than before.
set -euo pipefail

readonly HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=kernel-patches/kernel-tree.sh
source "$HERE/kernel-tree.sh"
SERIES=patched
JOBS=$(nproc)
SRC=
OUT=

usage() {
	cat <<USAGE
Usage: $0 [--series NAME] [--cache DIR] [-j N] [--help]

Applies the patches of a series one at a time to Linux 7.3 (in
\$WCTB_CACHE/kernel/src/7.3/series-check) and checks after each one:
  - bzImage builds (tinyconfig + our fragment, incremental);
  - scripts/checkpatch.pl --strict reports no error, warning or check;
  - no touched C file gains W=1 warnings, no touched file gains
    kernel-doc warnings (scripts/kernel-doc -none -Wall).
Prints TAP, one line per patch.  The report is cached by a hash of the
series, the fragment and this script: a second run prints it again.

  --series NAME   patched (default) or naive
USAGE
}

log() { printf 'check-series: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 2; }

# make in the tree under check (kernel-tree.sh's kmake).
tmake() { kmake "$SRC" "$OUT" "$@"; }

# Files a patch touches, from its diff.
touched_files() { git -C "$SRC" apply --numstat "$1" | cut -f3; }

# W=1 warnings when compiling one C file that our config builds.
w1_warnings() {
	local c=$1 obj=${1%.c}.o
	[[ $c == *.c && -f $OUT/$obj ]] || { echo 0; return; }
	rm -f "$OUT/$obj"
	tmake -s W=1 "$obj" 2>&1 | grep -c 'warning:' || true
}

kdoc_warnings() {
	[[ -f $SRC/$1 && $1 == *.[ch] ]] || { echo 0; return; }
	"$SRC/scripts/kernel-doc" -none -Wall "$SRC/$1" 2>&1 | grep -c 'warning' || true
}

# Warning counts of the files in $@, one "file w1 kdoc" line each.
warning_counts() {
	local f
	for f in "$@"; do
		echo "$f $(w1_warnings "$f") $(kdoc_warnings "$f")"
	done
}

# Files @1 creates that no MAINTAINERS entry covers (get_maintainer.pl
# names only the catch-all list for them).
uncovered_new_files() {
	local f
	for f in $(git -C "$SRC" apply --summary "$1" | sed -n 's/^ create mode [0-7]* //p'); do
		(cd "$SRC" && ./scripts/get_maintainer.pl --nogit --nogit-fallback --norolestats -f "$f" 2>/dev/null) |
			grep -qv '^linux-kernel@vger.kernel.org$' || echo "$f"
	done
}

# checkpatch --strict's findings.  It asks "does MAINTAINERS need
# updating?" of every patch that adds a file; that question is answered,
# and dropped, when MAINTAINERS already covers each added file.
checkpatch_problems() {
	local out
	out=$( (cd "$SRC" && ./scripts/checkpatch.pl --strict --no-summary --terse "$1" 2>&1) |
		grep -E 'ERROR|WARNING|CHECK' || true)
	if [[ $out == *"does MAINTAINERS need updating"* && -z $(uncovered_new_files "$1") ]]; then
		out=$(grep -v 'does MAINTAINERS need updating' <<<"$out" || true)
	fi
	printf '%s\n' "$out" | sed '/^$/d'
}

# check_patch N PATCH: apply it, build, compare; one TAP line.
check_patch() {
	local n=$1 patch=$2 name files before after problems="" f b a
	name=$(basename "$patch")
	mapfile -t files < <(touched_files "$patch")
	before=$(warning_counts "${files[@]}")
	git -C "$SRC" -c user.name=wc-testbed -c user.email=wc-testbed@localhost \
		am -q "$patch" >&2 || { echo "not ok $n $name # does not apply"; return 1; }
	if ! tmake -s -j"$JOBS" bzImage >"$OUT/check-$n.log" 2>&1; then
		echo "not ok $n $name # build failed"
		grep -E 'error' "$OUT/check-$n.log" | head -10 | sed 's/^/# /'
		return 1
	fi
	after=$(warning_counts "${files[@]}")
	while read -r f b_w b_k && read -r _ a_w a_k <&3; do
		((a_w <= b_w)) || problems+="# W=1 warnings in $f: $b_w -> $a_w"$'\n'
		((a_k <= b_k)) || problems+="# kernel-doc warnings in $f: $b_k -> $a_k"$'\n'
	done < <(echo "$before") 3< <(echo "$after")
	problems+=$(checkpatch_problems "$patch" | sed 's/^/# checkpatch: /')
	if [[ -n ${problems//$'\n'/} ]]; then
		echo "not ok $n $name"
		printf '%s\n' "$problems" | sed '/^$/d'
		return 1
	fi
	echo "ok $n $name # builds, checkpatch --strict clean, no new W=1/kernel-doc warnings"
}

run_checks() {
	local patches=("$@") n=0 failed=0 p
	SRC=$(src_root)/series-check
	OUT=$SRC/$BUILD_SUBDIR
	prepare_base_tree "$SRC"
	reset_to_base "$SRC"
	mkdir -p "$OUT"
	configure_kernel "$SRC" "$OUT"
	log "building the unpatched base (log: $OUT/check-0.log)"
	tmake -s -j"$JOBS" bzImage >"$OUT/check-0.log" 2>&1 || die "the base does not build; see $OUT/check-0.log"
	echo "1..${#patches[@]}"
	for p in "${patches[@]}"; do
		n=$((n + 1))
		log "patch $n/${#patches[@]}: $(basename "$p")"
		check_patch "$n" "$p" || failed=1
	done
	return "$failed"
}

main() {
	while (($#)); do
		case "$1" in
		--series) SERIES=${2:?}; shift ;;
		--cache) CACHE=${2:?}; shift ;;
		-j) JOBS=${2:?}; shift ;;
		-h | --help) usage; exit 0 ;;
		*) usage >&2; die "unknown option '$1'" ;;
		esac
		shift
	done
	command -v ccache >/dev/null || die "ccache not found; run .ci/setup-host.sh"
	local sfile list patches key report status=0
	resolve_tarball
	sfile=$(series_file "$SERIES")
	list=$(series_patches "$sfile") || exit "$?"
	mapfile -t patches <<<"$list"
	[[ -n $list ]] || patches=()
	((${#patches[@]})) || die "series $SERIES has no patches"
	key=$( (tarball_hash; sha256sum "$FRAGMENT" "$DMABUF_FRAGMENT" "${BASH_SOURCE[0]}" "$HERE/kernel-tree.sh" \
		"${patches[@]}" | cut -d' ' -f1) | sha256sum | cut -c1-16)
	report=$CACHE/kernel/series-check-$SERIES-$key.tap
	if [[ -f $report ]]; then
		log "inputs unchanged since the last check; its report:"
		cat "$report"
		return 0
	fi
	run_checks "${patches[@]}" | tee "$report.tmp" || status=$?
	if ((status == 0)); then
		mv "$report.tmp" "$report"
	else
		rm -f "$report.tmp"
	fi
	return "$status"
}

main "$@"
