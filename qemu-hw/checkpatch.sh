#!/usr/bin/env bash
# Run QEMU's scripts/checkpatch.pl on our QEMU patches and on the device
# sources at the paths they take in the QEMU tree.
set -euo pipefail

readonly HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
QEMU_SRC=

usage() {
	cat <<USAGE
Usage: $0 --qemu-src DIR [--help]

Checks every patch in qemu-hw/patches/series and every file of the
overlay that build-qemu.sh copies into the QEMU tree, with
DIR/scripts/checkpatch.pl
(DIR: the prepared tree, 'qemu-hw/build-qemu.sh --print-src').
Prints TAP; exits non-zero on any error or warning.
USAGE
}

die() { printf 'checkpatch: error: %s\n' "$*" >&2; exit 2; }

# Problems checkpatch reports, less the MAINTAINERS reminder for new files
# under directories that MAINTAINERS already covers (target/i386/).
problems() {
	grep -E '^(ERROR|WARNING):' | grep -v 'does MAINTAINERS need updating' || true
}

# check N NAME DIR ARGS...: one TAP line; checkpatch, run in DIR, must
# report no problems.
check() {
	local n=$1 name=$2 dir=$3 out bad
	shift 3
	out=$(cd "$dir" && perl "$QEMU_SRC/scripts/checkpatch.pl" "$@" 2>&1) || true
	bad=$(problems <<<"$out")
	if [[ -z $bad ]] && grep -q '^total: 0 errors' <<<"$out"; then
		echo "ok $n $name"
		return 0
	fi
	echo "not ok $n $name"
	grep -E -A2 '^(ERROR|WARNING):' <<<"$out" | sed 's/^/# /'
	return 1
}

main() {
	while (($#)); do
		case "$1" in
		--qemu-src) QEMU_SRC=${2:?}; shift ;;
		-h | --help) usage; exit 0 ;;
		*) usage >&2; die "unknown option '$1'" ;;
		esac
		shift
	done
	[[ -f $QEMU_SRC/scripts/checkpatch.pl ]] || die "--qemu-src must name a prepared QEMU tree"
	QEMU_SRC=$(cd "$QEMU_SRC" && pwd)

	local patches files f p n=0 failed=0
	mapfile -t patches < <("$HERE/build-qemu.sh" --print-patches)
	mapfile -t files < <("$HERE/build-qemu.sh" --print-overlay)
	echo "1..$((${#patches[@]} + ${#files[@]}))"
	for p in "${patches[@]}"; do
		n=$((n + 1))
		check "$n" "${p##*/}" "$QEMU_SRC" "$p" || failed=1
	done
	for f in "${files[@]}"; do
		n=$((n + 1))
		# checkpatch judges a file by its path in the tree (tests/ rules).
		check "$n" "$f" "$HERE" --no-tree -f "$f" || failed=1
	done
	return "$failed"
}

main "$@"
