#!/usr/bin/env bash
# Benchmark: guest MMIO store rate through wc-testdev's WC and UC mappings,
# with the write-combining model on and off, from one VM run.
set -euo pipefail

readonly REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD_DIR=$REPO/build
SECONDS_PER=2

usage() {
	cat <<USAGE
Usage: $0 [--seconds N] [--build-dir DIR] [--help]

Boots the regression VM with two wc-testdev devices, one with the WC model
(wc-lines=4) and one that only counts (wc-lines=0), runs
guest-tests/bench/mmio-store-rate in it and prints guest MMIO stores per
second for each device and mapping, and the model's cost as a ratio.
A benchmark: it prints figures and fails only if the run itself fails.

  --seconds N      seconds per measurement (default $SECONDS_PER)
  --build-dir DIR  run-vm.sh build directory (default: ./build)
USAGE
}

die() { printf 'bench-mmio: error: %s\n' "$*" >&2; exit 1; }

run_guest() {
	local bin=$BUILD_DIR/meson/guest-tests/mmio-store-rate
	"$REPO/run-vm.sh" --build-dir "$BUILD_DIR" --build-only >&2 || die "build failed"
	"$REPO/run-vm.sh" --build-dir "$BUILD_DIR" --iommu none --extra-test "$bin" --filter 'extra-*' \
		--append "WCTB_BENCH_SECONDS=$SECONDS_PER" \
		--qemu-arg -device --qemu-arg wc-testdev,wc-lines=0,id=wctd-count-only >&2 ||
		die "the benchmark VM run failed; see $BUILD_DIR/logs/latest/"
	grep -a '^# bench:' "$BUILD_DIR/logs/latest/noiommu/results.tap" | sed 's/^# bench: //'
}

# field NAME LINE: the value of NAME=... in LINE.
field() { sed -n "s/.* $1=\\([^ ]*\\).*/\\1/p" <<<" $2"; }

report() {
	local lines=$1 mapping on off l
	printf '%-14s %-10s %14s\n' mapping wc-lines stores/s
	while IFS= read -r l; do
		printf '%-14s %-10s %14s\n' "$(field mapping "$l")" "$(field wc-lines "$l")" \
			"$(field stores_per_s "$l")"
	done <<<"$lines"
	for mapping in resource2_wc resource2; do
		on=$(grep "mapping=$mapping " <<<"$lines" | grep -v 'wc-lines=0 ' | head -1)
		off=$(grep "mapping=$mapping " <<<"$lines" | grep 'wc-lines=0 ' | head -1)
		[[ -n $on && -n $off ]] || die "missing figures for $mapping"
		echo "$mapping: model on / counting only = $(echo "scale=3; $(field stores_per_s "$on") / $(field stores_per_s "$off")" | bc)"
	done
}

main() {
	while (($#)); do
		case "$1" in
		--seconds) SECONDS_PER=${2:?}; shift ;;
		--build-dir) BUILD_DIR=${2:?}; shift ;;
		-h | --help) usage; exit 0 ;;
		*) usage >&2; die "unknown option '$1'" ;;
		esac
		shift
	done
	local lines
	lines=$(run_guest)
	[[ -n $lines ]] || die "the guest printed no figures; see $BUILD_DIR/logs/latest/noiommu/results.tap"
	report "$lines"
}

main "$@"
