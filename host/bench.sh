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

Measures, on this machine, and prints each figure with its target:
  cold build      QEMU, QEMU with ASan+UBSan and the kernel from an empty
                  cache (fresh ccache); ratio ASan / normal QEMU build
  warm no-op      run-vm.sh with nothing changed, to the final verdict
  bare boot       one boot running one program (--iommu none --filter
                  enumerate); ratio main job / bare boot
  kernel edit     a one-line code change in one kernel patch, to the verdict
  boot            QEMU start to the guest's first TAP line, and the whole
                  guest suite, under TCG
  debug suite     both boots + whole suite on the debug kernel; ratio
                  debug / normal suite (both warm, measured here)
  MMIO            guest stores per second, WC model on vs counting only
                  (host/bench-mmio.sh)
Work happens in a temporary clone and cache copies; the checkout and its
cache are left as they were (the patched kernel tree is re-applied once).

  --repeats N   repeats of the warm measurements (default $REPEATS)
  --no-cold     skip the cold builds (about 25 minutes); the ASan/normal
                ratio then comes from the cached builds' recorded times
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

median() { sort -g | awk '{ v[NR] = $1 } END { printf "%.2f\n", v[int((NR + 1) / 2)] }'; }

declare -A MEDIAN=()

# report NAME TARGET TIMES...: one figure line, its median kept for ratios.
report() {
	local name=$1 target=$2
	shift 2
	MEDIAN[$name]=$(printf '%s\n' "$@" | median)
	printf '%-34s %s  %s\n' "$name" "$(printf '%s\n' "$@" | stats)" "$target"
}

# ratio NAME A B TARGET: MEDIAN[A] / MEDIAN[B].
ratio() {
	printf '%-34s %.2f  %s\n' "$1" "$(echo "scale=4; ${MEDIAN[$2]} / ${MEDIAN[$3]}" | bc)" "$4"
}

time_cmd() {
	local t0
	t0=$(now)
	"$@" >>"$WORK/bench.log" 2>&1 || die "'$*' failed; see $WORK/bench.log"
	elapsed "$t0"
}

# repeat N CMD...: the seconds of N runs in TIMES (in this shell, so that
# a failing run stops the bench).
TIMES=()
repeat() {
	local n=$1 i t
	shift
	TIMES=()
	for ((i = 0; i < n; i++)); do
		t=$(time_cmd "$@") || exit 1
		TIMES+=("$t")
	done
}

cold_builds() {
	local cache=$WORK/cold-cache t
	mkdir -p "$cache/src"
	cp "${WCTB_CACHE:-$HOME/.cache/wc-testbed}"/src/qemu_*.orig.tar.xz "$cache/src/" 2>/dev/null || true
	t=$(time_cmd env WCTB_CACHE="$cache" "$REPO/qemu-hw/build-qemu.sh") || exit 1
	report "cold build: QEMU" "" "$t"
	t=$(time_cmd env WCTB_CACHE="$cache" "$REPO/qemu-hw/build-qemu.sh" --sanitize) || exit 1
	report "cold build: QEMU ASan+UBSan" "" "$t"
	t=$(time_cmd env WCTB_CACHE="$cache" "$REPO/kernel-patches/build-kernel.sh") || exit 1
	report "cold build: kernel" "" "$t"
	rm -rf "$cache"
	ratio "ratio ASan / normal QEMU build" "cold build: QEMU ASan+UBSan" "cold build: QEMU" "(printed)"
}

# Without cold builds: the build times the cached QEMU builds recorded
# (both builds must exist; run-vm.sh --all-tests makes them).
recorded_builds() {
	local normal sanitized
	normal=$(cat "$(dirname "$("$REPO/qemu-hw/build-qemu.sh")")/.wctb-build-seconds" 2>/dev/null) || normal=
	sanitized=$(cat "$(dirname "$("$REPO/qemu-hw/build-qemu.sh" --sanitize)")/.wctb-build-seconds" 2>/dev/null) || sanitized=
	if [[ -z $normal || -z $sanitized ]]; then
		echo "ratio ASan / normal QEMU build    n/a (no recorded build times; run without --no-cold)"
		return
	fi
	report "recorded build: QEMU" "" "$normal"
	report "recorded build: QEMU ASan+UBSan" "" "$sanitized"
	ratio "ratio ASan / normal QEMU build" "recorded build: QEMU ASan+UBSan" "recorded build: QEMU" "(printed)"
}

warm_noop() {
	"$REPO/run-vm.sh" --build-dir "$WORK/build" >>"$WORK/bench.log" 2>&1 ||
		die "the VM run failed; see $WORK/bench.log"
	repeat "$REPEATS" "$REPO/run-vm.sh" --build-dir "$WORK/build"
	report "warm no-op run to verdict" "target <= 15 s (slow machine), <= 4 s (fast)" "${TIMES[@]}"
	repeat "$REPEATS" "$REPO/run-vm.sh" --build-dir "$WORK/build" --iommu none --filter enumerate
	report "bare boot (one boot, one program)" "" "${TIMES[@]}"
	ratio "ratio main job / bare boot" "warm no-op run to verdict" "bare boot (one boot, one program)" "target <= 3"
}

# One-line code change in patch 0001 (a constant in vfio_main.c), in a
# clone: the kernel recompiles that file and relinks.  Each edit uses a
# value not built before, so no cached artifact answers for it; the
# artifacts it made are removed afterwards.
kernel_edit() {
	local clone=$WORK/clone out=${WCTB_CACHE:-$HOME/.cache/wc-testbed}/kernel/out
	local patch i value before times=()
	before=$(ls "$out" 2>/dev/null || true)
	git clone -q "$REPO" "$clone"
	patch=$(ls "$clone"/kernel-patches/0001-*.patch)
	"$clone/run-vm.sh" --build-dir "$WORK/build-clone" >>"$WORK/bench.log" 2>&1 ||
		die "the VM run in the clone failed; see $WORK/bench.log"
	for ((i = 0; i < REPEATS; i++)); do
		value=$((1000 + 10#$(date +%N) % 100000))
		sed -i "s|^+#define VFIO_MMAP_COOKIES_MAX\t\t[0-9]*|+#define VFIO_MMAP_COOKIES_MAX\t\t$value|" "$patch"
		grep -q "COOKIES_MAX.*$value" "$patch" || die "the bench edit did not apply to $patch"
		times+=("$(time_cmd "$clone/run-vm.sh" --build-dir "$WORK/build-clone")") || exit 1
	done
	report "one-line patch edit to verdict" "target <= 60 s (slow machine)" "${times[@]}"
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
	local i times=()
	for ((i = 0; i < REPEATS; i++)); do times+=("$(boot_once)"); done
	report "boot to first test line" "" "${times[@]}"
}

# The boot stage (both boots and the whole suite) of run-vm.sh --timings.
suite_time() {
	local out
	out=$("$REPO/run-vm.sh" --timings "$@" 2>&1) || die "run-vm.sh --timings $* failed; see $WORK/bench.log"
	echo "$out" >>"$WORK/bench.log"
	awk '$1 == "boot" { print $2 }' <<<"$out"
}

suite_times() {
	local i normal=() debug=()
	"$REPO/run-vm.sh" --build-dir "$WORK/build-debug" --debug-kernel --build-only >>"$WORK/bench.log" 2>&1 ||
		die "building for the debug-kernel run failed; see $WORK/bench.log"
	for ((i = 0; i < REPEATS; i++)); do
		normal+=("$(suite_time --build-dir "$WORK/build")") || exit 1
		debug+=("$(suite_time --build-dir "$WORK/build-debug" --debug-kernel)") || exit 1
	done
	report "2 boots + whole suite" "" "${normal[@]}"
	report "2 boots + whole suite, debug kernel" "" "${debug[@]}"
	ratio "ratio debug / normal suite" "2 boots + whole suite, debug kernel" "2 boots + whole suite" "(printed)"
}

machine() {
	printf '%s, %s cores, %s GiB, %s' "$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)" \
		"$(nproc)" "$(free -g | awk '/Mem:/ {print $2}')" "$(. /etc/os-release && echo "$PRETTY_NAME")"
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
	echo "wc-testbed bench, $(date -u +%Y-%m-%d), $(machine); log: $WORK/bench.log"
	if ((COLD)); then cold_builds; else recorded_builds; fi
	warm_noop
	kernel_edit
	boot_times
	suite_times
	echo "MMIO stores per second (host/bench-mmio.sh):"
	"$REPO/host/bench-mmio.sh" --build-dir "$WORK/build" 2>>"$WORK/bench.log" | sed 's/^/  /'
}

main "$@"
