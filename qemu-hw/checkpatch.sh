#!/usr/bin/env bash
# Run QEMU's scripts/checkpatch.pl on our QEMU series as it would be sent:
# the complete patches that build-qemu.sh --export-patches writes.
set -euo pipefail

readonly HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
QEMU_SRC=

usage() {
	cat <<USAGE
Usage: $0 --qemu-src DIR [--help]

Exports the QEMU series (qemu-hw/build-qemu.sh --export-patches: every
patch of qemu-hw/patches/series with the overlay files it adds) and
checks each patch with DIR/scripts/checkpatch.pl (DIR: the prepared
tree, 'qemu-hw/build-qemu.sh --print-src').  Prints TAP; exits non-zero
on any error or warning.
USAGE
}

die() { printf 'checkpatch: error: %s\n' "$*" >&2; exit 2; }

# check N PATCH: one TAP line; checkpatch must report no problem at all.
check() {
	local n=$1 patch=$2 out
	out=$(cd "$QEMU_SRC" && perl scripts/checkpatch.pl "$patch" 2>&1) || true
	if ! grep -qE '^(ERROR|WARNING):' <<<"$out" &&
		grep -q '^total: 0 errors, 0 warnings' <<<"$out"; then
		echo "ok $n ${patch##*/}"
		return 0
	fi
	echo "not ok $n ${patch##*/}"
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

	local out patches p n=0 failed=0
	out=$(mktemp -d)
	# shellcheck disable=SC2064 # expanded now
	trap "rm -rf $(printf %q "$out")" EXIT
	"$HERE/build-qemu.sh" --export-patches "$out" || die "exporting the series failed"
	mapfile -t patches < <(find "$out" -name '*.patch' | LC_ALL=C sort)
	((${#patches[@]})) || die "the export wrote no patch"
	echo "1..${#patches[@]}"
	for p in "${patches[@]}"; do
		n=$((n + 1))
		check "$n" "$p" || failed=1
	done
	return "$failed"
}

main "$@"
