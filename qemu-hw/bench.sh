#!/usr/bin/env bash
# Benchmark of the developer loop: prints seconds (min/median/max over
# repeats where that makes sense) and MMIO store rates.  Figures only:
# it fails only when a run it measures fails.
set -euo pipefail

readonly REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
REPEATS=3
COLD=1
WORK=

usage() {
	cat <<USAGE
Usage: $0 [--repeats N] [--no-cold] [--help]

Measures, on this machine:
  cold build      QEMU and the kernel from an empty cache (fresh ccache)
  warm no-op      run-vm.sh with nothing changed, to the final verdict
  kernel edit     a one-line code change in one kernel patch, to the verdict
  boot            QEMU start to the guest's first TAP line, and the whole
                  guest suite, under TCG
  MMIO            guest stores per second, WC model on vs counting only
                  (qemu-hw/bench-mmio.sh)
Work happens in a temporary clone and cache copies; the checkout and its
cache are left as they were (the patched kernel tree is re-applied once).

  --repeats N   repeats of the warm measurements (default $REPEATS)
  --no-cold     skip the cold builds (they take about 8 minutes)
USAGE
}

die() { printf 'bench: error: %s\n' "$*" >&2; exit 1; }

now() { date +%s.%N; }
elapsed() { echo "$(now) - $1" | bc; }

# min/median/max of the numbers on stdin.
stats() {
	sort -g | awk '{ v[NR] = $1 } END {
		printf "min %.2f  median %.2f  max %.2f  (n=%d)\n", v[1], v[int((NR + 1) / 2)], v[NR], NR }'
}

time_cmd() {
	local t0
	t0=$(now)
	"$@" >>"$WORK/bench.log" 2>&1 || die "'$*' failed; see $WORK/bench.log"
	elapsed "$t0"
}

cold_builds() {
	local cache=$WORK/cold-cache
	mkdir -p "$cache/src"
	cp "${WCTB_CACHE:-$HOME/.cache/wc-testbed}"/src/qemu_*.orig.tar.xz "$cache/src/" 2>/dev/null || true
	printf '%-28s %8.1f s\n' "cold build: QEMU" \
		"$(time_cmd env WCTB_CACHE="$cache" "$REPO/qemu-hw/build-qemu.sh")"
	printf '%-28s %8.1f s\n' "cold build: kernel" \
		"$(time_cmd env WCTB_CACHE="$cache" "$REPO/kernel-patches/build-kernel.sh")"
	rm -rf "$cache"
}

warm_noop() {
	local i
	"$REPO/run-vm.sh" --build-dir "$WORK/build" >>"$WORK/bench.log" 2>&1 ||
		die "the VM run failed; see $WORK/bench.log"
	for ((i = 0; i < REPEATS; i++)); do
		time_cmd "$REPO/run-vm.sh" --build-dir "$WORK/build"
	done | stats | sed 's/^/warm no-op run to verdict   /'
}

# One-line code change in patch 0001 (a constant in vfio_main.c), in a
# clone: the kernel recompiles that file and relinks.  Each edit uses a
# value not built before, so no cached artifact answers for it; the
# artifacts it made are removed afterwards.
kernel_edit() {
	local clone=$WORK/clone out=${WCTB_CACHE:-$HOME/.cache/wc-testbed}/kernel/out
	local patch i value before
	before=$(ls "$out" 2>/dev/null || true)
	git clone -q "$REPO" "$clone"
	patch=$(ls "$clone"/kernel-patches/0001-*.patch)
	"$clone/run-vm.sh" --build-dir "$WORK/build-clone" >>"$WORK/bench.log" 2>&1 ||
		die "the VM run in the clone failed; see $WORK/bench.log"
	for ((i = 0; i < REPEATS; i++)); do
		value=$((1000 + 10#$(date +%N) % 100000))
		sed -i "s|^+#define VFIO_MMAP_COOKIES_MAX\t\t[0-9]*|+#define VFIO_MMAP_COOKIES_MAX\t\t$value|" "$patch"
		grep -q "COOKIES_MAX.*$value" "$patch" || die "the bench edit did not apply to $patch"
		time_cmd "$clone/run-vm.sh" --build-dir "$WORK/build-clone"
	done | stats | sed 's/^/one-line patch edit        /'
	"$REPO/kernel-patches/build-kernel.sh" >>"$WORK/bench.log" 2>&1 || true
	comm -13 <(echo "$before") <(ls "$out") | sed "s|^|$out/|" | xargs -r rm -rf
}

# Seconds from QEMU start to the first TAP line on the results port.
boot_once() {
	local build=$WORK/build t0="" t1="" pid dir=$WORK/build/logs/latest/iommu
	rm -rf "$build/logs"
	"$REPO/run-vm.sh" --build-dir "$build" >>"$WORK/bench.log" 2>&1 &
	pid=$!
	while kill -0 "$pid" 2>/dev/null; do
		if [[ -z $t0 && -e $dir/qemu-cmdline.txt ]]; then t0=$(now); fi
		if [[ -n $t0 && -z $t1 ]] && grep -q '^TAP version' "$dir/results.tap" 2>/dev/null; then
			t1=$(now)
		fi
		sleep 0.01
	done
	wait "$pid" || die "the VM run failed; see $WORK/bench.log"
	echo "$t1 - $t0" | bc
}

boot_times() {
	local i
	for ((i = 0; i < REPEATS; i++)); do boot_once; done |
		stats | sed 's/^/boot to first test line    /'
}

suite_times() {
	local i
	for ((i = 0; i < REPEATS; i++)); do
		"$REPO/run-vm.sh" --build-dir "$WORK/build" --timings 2>&1 | grep '^  boot' | awk '{print $2}'
	done | stats | sed 's/^/2 boots + whole guest suite/'
}

main() {
	while (($#)); do
		case "$1" in
		--repeats) REPEATS=${2:?}; shift ;;
		--no-cold) COLD=0 ;;
		-h | --help) usage; exit 0 ;;
		*) usage >&2; die "unknown option '$1'" ;;
		esac
		shift
	done
	[[ $REPEATS =~ ^[1-9][0-9]*$ ]] || die "--repeats must be a positive number"
	WORK=$(mktemp -d /tmp/wctb-bench.XXXXXX)
	echo "wc-testbed bench, $(date -u +%Y-%m-%d), $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB; log: $WORK/bench.log"
	((COLD == 0)) || cold_builds
	warm_noop
	kernel_edit
	boot_times
	suite_times
	echo "MMIO stores per second (qemu-hw/bench-mmio.sh):"
	"$REPO/qemu-hw/bench-mmio.sh" --build-dir "$WORK/build" 2>>"$WORK/bench.log" | sed 's/^/  /'
}

main "$@"
