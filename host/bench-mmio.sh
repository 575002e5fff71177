#!/usr/bin/env bash
# Benchmark: guest MMIO store rate through wc-testdev's WC and UC mappings,
# with the write-combining model on and off, from one VM run; or the same,
# and the main job's time, for two QEMU binaries side by side.
set -euo pipefail

readonly REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD_DIR=$REPO/build
SECONDS_PER=2
ROUNDS=2
QEMUS=()

usage() {
	cat <<USAGE
Usage: $0 [--seconds N] [--build-dir DIR] [--qemu A --qemu B [--rounds N]]
       [--help]

Boots the regression VM with two wc-testdev devices, one with the WC model
(wc-lines=4) and one that only counts (wc-lines=0), runs
guest-tests/bench/mmio-store-rate in it and prints guest MMIO stores per
second for each device and mapping, and the model's cost as a ratio.
A benchmark: it prints figures and fails only if the run itself fails.

With two --qemu binaries (e.g. one without the drain-event patch, one
with it), runs the store-rate VM and the main job (./run-vm.sh) with each,
alternating, --rounds times, and prints each figure per binary and the
ratios B / A: store rates per mapping, and main-job seconds.

  --seconds N      seconds per measurement (default $SECONDS_PER)
  --build-dir DIR  run-vm.sh build directory (default: ./build)
  --qemu PATH      a QEMU to compare (give it twice: A, then B)
  --rounds N       alternating rounds in the comparison (default $ROUNDS)
USAGE
}

die() { printf 'bench-mmio: error: %s\n' "$*" >&2; exit 1; }

# run_guest [RUN-VM ARGS...]: the store-rate figures, one line each.
run_guest() {
	local bin=$BUILD_DIR/meson/guest-tests/mmio-store-rate
	"$REPO/run-vm.sh" --build-dir "$BUILD_DIR" --build-only >&2 || die "build failed"
	"$REPO/run-vm.sh" --build-dir "$BUILD_DIR" "$@" --iommu none --extra-test "$bin" --filter 'extra-*' \
		--append "WCTB_BENCH_SECONDS=$SECONDS_PER" \
		--qemu-arg -device --qemu-arg wc-testdev,wc-lines=0,id=wctd-count-only >&2 || {
		# 1: a verdict other than PASS (an older QEMU's device fails the
		# host's counter check); its figures still count.
		local rc=$?
		((rc == 1)) || die "the benchmark VM run failed; see $BUILD_DIR/logs/latest/"
	}
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

# main_job_seconds QEMU: wall seconds of the main job with that QEMU.  A
# verdict other than PASS is reported, not fatal: an older QEMU may fail
# tests of newer device features, and its time still counts.
main_job_seconds() {
	local start rc=0
	start=$(date +%s.%N)
	"$REPO/run-vm.sh" --build-dir "$BUILD_DIR" --qemu "$1" >/dev/null 2>&1 || rc=$?
	((rc <= 1)) || die "the main job could not run with $1 (exit $rc); see $BUILD_DIR/logs/latest/"
	((rc == 0)) || echo "bench-mmio: note: the main job failed with $1 (timed anyway)" >&2
	echo "$(date +%s.%N) - $start" | bc
}

# median VALUES...: the median of the numbers given.
median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

# compare: both QEMUs alternately, each figure's median per QEMU, ratios.
compare() {
	local r i l key
	declare -A fig
	for ((r = 0; r < ROUNDS; r++)); do
		for i in 0 1; do
			while IFS= read -r l; do
				key="$(field mapping "$l")/wc-lines=$(field wc-lines "$l")"
				fig["$i $key"]+=" $(field stores_per_s "$l")"
			done < <(run_guest --qemu "${QEMUS[$i]}")
			fig["$i main-job-s"]+=" $(main_job_seconds "${QEMUS[$i]}")"
		done
	done
	echo "A: ${QEMUS[0]}"
	echo "B: ${QEMUS[1]}"
	printf '%-26s %14s %14s %8s\n' figure A B 'B / A'
	for key in $(printf '%s\n' "${!fig[@]}" | cut -d' ' -f2- | sort -u); do
		local a b
		# shellcheck disable=SC2086 # the lists are whitespace-separated
		a=$(median ${fig["0 $key"]}) b=$(median ${fig["1 $key"]})
		printf '%-26s %14s %14s %8s\n' "$key" "$a" "$b" "$(echo "scale=3; $b / $a" | bc)"
	done
	echo "(medians of $ROUNDS alternating rounds; store rates in stores/s)"
}

main() {
	while (($#)); do
		case "$1" in
		--seconds) SECONDS_PER=${2:?}; shift ;;
		--build-dir) BUILD_DIR=${2:?}; shift ;;
		--qemu) QEMUS+=("${2:?}"); shift ;;
		--rounds) ROUNDS=${2:?}; shift ;;
		-h | --help) usage; exit 0 ;;
		*) usage >&2; die "unknown option '$1'" ;;
		esac
		shift
	done
	local lines
	if ((${#QEMUS[@]})); then
		((${#QEMUS[@]} == 2)) || die "--qemu takes exactly two binaries to compare, got ${#QEMUS[@]}"
		[[ $ROUNDS =~ ^[1-9][0-9]*$ ]] || die "--rounds takes a positive number, got '$ROUNDS'"
		compare
		return
	fi
	lines=$(run_guest)
	[[ -n $lines ]] || die "the guest printed no figures; see $BUILD_DIR/logs/latest/noiommu/results.tap"
	report "$lines"
}

main "$@"
