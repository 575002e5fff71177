#!/usr/bin/env bash
# wc-testbed: build what is stale, boot the regression VM, run the guest
# suite and report.  Exit status 0 only if every guest test passed.
set -euo pipefail

readonly REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
export WCTB_CACHE=${WCTB_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/wc-testbed}
readonly KNOWN_WARNINGS=$REPO/guest-tests/known-stock-warnings.txt
readonly KNOWN_DIFFERENCES=$REPO/guest-tests/known-selftest-differences.txt
readonly DEFAULT_KERNEL_BASE=7.3
# BAR2 in the --report boots: 1 GiB (wc-testdev's largest), so that
# wc-designs' 1 GiB case maps all of it.
readonly REPORT_BAR2_SIZE=1G

BUILD_DIR=$REPO/build
SERIES=patched
KERNEL_BASE=$DEFAULT_KERNEL_BASE
KERNEL=
USER_KERNEL=
STOCK_KERNEL=0
LINUX_SRC=
QEMU=
FILTER=
EXTRA_TESTS=()
APPEND=
QEMU_EXTRA=()
SHELL_MODE=0
USE_KVM=0
SMP=2
IOMMU=both
IOMMU_PATHS=both
DEBUG_KERNEL=0
TIMINGS=0
ALL_TESTS=0
BUILD_ONLY=0
REPORT_DIR=
JUNIT=
TIMEOUT=0
TEST_TIMEOUT=
DEPTH=quick
SLOW_DOWN=1
declare -A STAGE_SECONDS=()
BOOT_PIDS=()
STAGES=()
SELFTESTS=
SELFTESTS_FROM=

usage() {
	cat <<USAGE
Usage: $0 [options]

Build what is stale (QEMU with wc-testdev, the guest kernel, the guest
programs, the initramfs), boot a q35 guest under TCG, run the guest suite
and print a summary.  Exits 0 only if every test passed; 1 when a test
failed; 2 when the guest panicked, hung or never reported; 3 on a build or
usage error.

  --all-tests          run every test: host unit tests and the VM suite,
                       through 'meson test' (what CI runs)
  --build-only         build what is stale, then stop
  --bench [ARGS]       run the loop benchmark (host/bench.sh) with ARGS
                       (e.g. --no-cold --repeats 1; see its --help) and exit
  --report DIR         compare the WC designs: on every kernel (patched,
                       naive, none, each comparison series of
                       kernel-patches/alternatives/, and a --linux-src tree)
                       run wc-designs (every mapping provider the kernel
                       offers, through the same cases) and measure every
                       mapping of BAR2; write DIR/report.md (the verdict
                       matrix design x case first), designs.svg,
                       designs.json and report.svg.  The comparison series
                       also run the whole suite (reported, not judged)
  --junit FILE         also write the results as JUnit XML (the guest suite;
                       with --all-tests, meson's results of every test)
  --series NAME        kernel patch series: patched (default), naive, none,
                       or a comparison series (dmabuf-memattr, bar-wc-flag:
                       kernel-patches/alternatives/)
  --kernel-base VERSION
                       the kernel the series applies to: 7.3 (default) or
                       6.12 (stock only: --series none); with --kernel,
                       the uAPI headers the tests are built against
  --debug-kernel       build and boot the debug kernel (KASAN, lockdep,
                       DEBUG_VM, DEBUG_LIST, SLUB debug, kmemleak:
                       kernel-patches/config/debug.config); any report fails
  --kernel BZIMAGE     boot this prebuilt kernel instead of building one
  --stock-kernel       with --kernel: it is a stock kernel, so its known
                       warnings (guest-tests/known-stock-warnings.txt) are
                       tolerated (--linux-src trees are judged by whether
                       they carry the cookie uAPI; --series none is stock)
  --linux-src DIR      build this kernel tree as it is (out of tree, with our
                       config fragment merged); DIR is never modified
  --qemu BIN           use this qemu-system-x86_64 (must have wc-testdev)
  --filter GLOB        run only guest tests whose name matches GLOB
  --extra-test FILE    copy a static binary into the guest and run it as one
                       more TAP test (repeatable)
  --append ARGS        extra kernel command line arguments (repeatable)
  --qemu-arg ARG       one more QEMU argument (repeatable), e.g.
                       --qemu-arg -device --qemu-arg wc-testdev,wc-lines=0
  --shell              interactive busybox shell in the same VM (no tests)
  --iommu MODE         intel: boot with q35's emulated intel-iommu (VFIO
                       paths legacy-type1 and cdev-iommufd); none: no IOMMU,
                       VFIO in noiommu mode (legacy-noiommu, cdev-noiommu);
                       both (default): one boot of each
  --iommu-paths PATHS  the VFIO access paths of the intel-iommu boot:
                       both (default), legacy or cdev
  --smp N              the guest's vCPUs (default 2: wc-testdev keeps WC
                       buffers per vCPU; the guest kernel uses up to 4)
  --kvm                use KVM instead of TCG (memory types then read as
                       unknown at the device)
  --depth DEPTH        quick (default) or full: round counts of the heavy
                       cases (growth loop, racing threads, fuzzer); the
                       vm-suite of --all-tests runs full
  --test-timeout SECS  budget of each guest program at the reference pace
                       (default 120); the guest scales it by its measured
                       pace, and the host's watchdog follows
  --timeout SECS       a hard limit for each boot on top of that watchdog
                       (default: none; the deadline follows the guest's
                       progress, see README "Time limits")
  --slow-down N        run QEMU N times slower (SIGSTOP/SIGCONT duty
                       cycle), to see the suite pass on a slow machine
                       (not with --shell, which has no watchdog either)
  --build-dir DIR      build and log directory (default: ./build)
  --timings            print the seconds spent in each stage
  --help               this text

Heavy builds are cached in \$WCTB_CACHE (default ~/.cache/wc-testbed).
Logs of every run are kept in BUILD_DIR/logs/ (latest: BUILD_DIR/logs/latest),
one directory per boot (iommu/, noiommu/).
USAGE
}

log() { printf 'run-vm: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 3; }

parse_args() {
	while (($#)); do
		case "$1" in
		--all-tests) ALL_TESTS=1 ;;
		--build-only) BUILD_ONLY=1 ;;
		--bench) shift; exec "$REPO/host/bench.sh" "$@" ;;
		--report) REPORT_DIR=${2:?--report needs a directory}; shift ;;
		--junit) JUNIT=${2:?--junit needs a file name}; shift ;;
		--series) SERIES=${2:?--series needs a name (patched, naive, none, or a comparison series)}; shift ;;
		--kernel-base) KERNEL_BASE=${2:?--kernel-base needs a version, e.g. 6.12}; shift ;;
		--debug-kernel) DEBUG_KERNEL=1 ;;
		--kernel) KERNEL=${2:?--kernel needs a bzImage}; USER_KERNEL=$KERNEL; shift ;;
		--stock-kernel) STOCK_KERNEL=1 ;;
		--linux-src) LINUX_SRC=${2:?--linux-src needs a directory}; shift ;;
		--qemu) QEMU=${2:?--qemu needs a binary}; shift ;;
		--filter) FILTER=${2:?--filter needs a pattern}; shift ;;
		--extra-test) EXTRA_TESTS+=("${2:?--extra-test needs a file}"); shift ;;
		--append) APPEND+=" ${2:?--append needs arguments}"; shift ;;
		--qemu-arg) QEMU_EXTRA+=("${2:?--qemu-arg needs an argument}"); shift ;;
		--shell) SHELL_MODE=1 ;;
		--iommu) IOMMU=${2:?--iommu needs intel, none or both}; shift ;;
		--iommu-paths) IOMMU_PATHS=${2:?--iommu-paths needs both, legacy or cdev}; shift ;;
		--kvm) USE_KVM=1 ;;
		--smp) SMP=${2:?--smp needs a number of vCPUs}; shift ;;
		--timeout) TIMEOUT=${2:?--timeout needs seconds}; shift ;;
		--depth) DEPTH=${2:?--depth needs quick or full}; shift ;;
		--slow-down) SLOW_DOWN=${2:?--slow-down needs a factor}; shift ;;
		--test-timeout) TEST_TIMEOUT=${2:?--test-timeout needs seconds}; shift ;;
		--build-dir) BUILD_DIR=${2:?--build-dir needs a directory}; shift ;;
		--timings) TIMINGS=1 ;;
		-h | --help) usage; exit 0 ;;
		*) usage >&2; die "unknown option '$1'" ;;
		esac
		shift
	done
}

# Every series build-kernel.sh knows: patched, naive, none, and the
# comparison series of kernel-patches/alternatives/.
known_series() {
	"$REPO/kernel-patches/build-kernel.sh" --list-series
}

# A comparison series (kernel-patches/alternatives/NAME).
alternative_series() {
	[[ -f $REPO/kernel-patches/alternatives/$1/series ]]
}

validate_args() {
	grep -qxF -- "$SERIES" <<<"$(known_series)" ||
		die "--series must be one of: $(known_series | tr '\n' ' ')(not '$SERIES')"
	case "$IOMMU" in intel | none | both) ;; *) die "--iommu must be intel, none or both, not '$IOMMU'" ;; esac
	case "$IOMMU_PATHS" in both | legacy | cdev) ;; *) die "--iommu-paths must be both, legacy or cdev, not '$IOMMU_PATHS'" ;; esac
	[[ -z $KERNEL || -z $LINUX_SRC ]] || die "--kernel and --linux-src exclude each other"
	validate_kernel_base
	[[ -z $KERNEL || -f $KERNEL ]] || die "--kernel $KERNEL: no such file"
	((!STOCK_KERNEL)) || [[ -n $USER_KERNEL ]] ||
		die "--stock-kernel describes a --kernel bzImage; without --kernel the build says what the kernel is"
	[[ -z $LINUX_SRC || -d $LINUX_SRC ]] || die "--linux-src $LINUX_SRC: no such directory"
	[[ -z $QEMU || -x $QEMU ]] || die "--qemu $QEMU: not an executable"
	[[ $FILTER != *[[:space:]]* ]] || die "--filter must not contain white space"
	[[ $TIMEOUT =~ ^[0-9]+$ ]] || die "--timeout must be a number of seconds (0: no hard limit)"
	[[ $SMP =~ ^[1-9][0-9]*$ ]] || die "--smp must be a number of vCPUs >= 1, not '$SMP'"
	[[ -z $TEST_TIMEOUT || $TEST_TIMEOUT =~ ^[1-9][0-9]*$ ]] ||
		die "--test-timeout must be a positive number of seconds"
	case "$DEPTH" in quick | full) ;; *) die "--depth must be quick or full, not '$DEPTH'" ;; esac
	[[ $SLOW_DOWN =~ ^[1-9][0-9]*(\.[0-9]+)?$ ]] || die "--slow-down must be a factor >= 1, e.g. 4"
	[[ -z $JUNIT || -d $(dirname "$JUNIT") ]] || die "--junit $JUNIT: no such directory"
	[[ -z $REPORT_DIR ]] || ((!SHELL_MODE)) || die "--report and --shell exclude each other"
	[[ $SLOW_DOWN == 1 && $TIMEOUT == 0 ]] || ((!SHELL_MODE)) ||
		die "--slow-down and --timeout act through the watchdog, which --shell does not run"
	if ((USE_KVM)); then
		[[ -r /dev/kvm && -w /dev/kvm ]] || die "--kvm: /dev/kvm is missing or not accessible; drop --kvm to use TCG"
	fi
	local t
	for t in "${EXTRA_TESTS[@]}"; do
		check_static_binary "$t"
	done
}

# BUILD_DIR exists, is writable and is absolute from here on.
ensure_build_dir() {
	mkdir -p "$BUILD_DIR" 2>/dev/null && [[ -w $BUILD_DIR && -x $BUILD_DIR ]] ||
		die "--build-dir $BUILD_DIR: cannot create it or write to it; pick a directory you can write (default: ./build)"
	BUILD_DIR=$(cd "$BUILD_DIR" && pwd)
}

# A --qemu binary must be a QEMU that has wc-testdev.
check_user_qemu() {
	local devices
	devices=$(timeout 20 "$QEMU" -machine none -nodefaults -device help 2>&1) ||
		die "--qemu $QEMU: '$QEMU -device help' failed; is it a qemu-system-x86_64? ($(head -1 <<<"$devices"))"
	grep -q '"wc-testdev"' <<<"$devices" ||
		die "--qemu $QEMU: this QEMU has no wc-testdev device; build one with qemu-hw/build-qemu.sh, or drop --qemu"
}

# A --filter must match a program the initramfs carries (init matches
# the same names with fnmatch(3)).
check_filter() {
	local root=$1 f name
	[[ -n $FILTER ]] || return 0
	for f in "$root"/tests/* "$root"/vfio-selftests/*; do
		[[ -f $f ]] || continue
		name=${f##*/}
		[[ $f != */vfio-selftests/* ]] || name=selftests/vfio/$name
		# shellcheck disable=SC2053	# a glob, as init matches it
		[[ $name == $FILTER || ${f##*/} == $FILTER ]] && return 0
	done
	die "--filter '$FILTER' matches no guest test; the tests are: $(cd "$root/tests" && printf '%s ' *)$(cd "$root" && [[ -d vfio-selftests ]] && printf 'selftests/vfio/%s ' $(ls vfio-selftests))"
}

# A base is a file of kernel-patches/bases/.  It picks the kernel of one
# suite run; --all-tests and --report pick theirs per test.
validate_kernel_base() {
	[[ -f $REPO/kernel-patches/bases/$KERNEL_BASE ]] ||
		die "--kernel-base must be one of: $(cd "$REPO/kernel-patches/bases" && printf '%s ' *)(not '$KERNEL_BASE')"
	[[ $KERNEL_BASE != "$DEFAULT_KERNEL_BASE" ]] || return 0
	[[ -z $LINUX_SRC ]] || die "--kernel-base and --linux-src exclude each other (your tree is its own base)"
	if ((ALL_TESTS)) || [[ -n $REPORT_DIR ]]; then
		die "--kernel-base applies to one suite run; --all-tests and --report choose the kernel of each test themselves"
	fi
	[[ $SERIES == none ]] ||
		die "--kernel-base $KERNEL_BASE: the series are written for $DEFAULT_KERNEL_BASE; add --series none for the stock $KERNEL_BASE kernel"
}

# A list in the format of known-stock-warnings.txt: every entry right
# after its comment, and valid for CHECK (a function: entry -> 0 or a
# reason on stdout).  WHY says what the comment must tell.
check_list() {
	local file=$1 why=$2 check=$3 line prev='' n=0 bad
	while IFS= read -r line; do
		n=$((n + 1))
		if [[ -n $line && $line != '#'* ]]; then
			[[ $prev == '#'* ]] || die "$file:$n: an entry without a comment ($why)"
			bad=$("$check" "$line") || die "$file:$n: $bad: $line"
		fi
		prev=$line
	done <"$file"
}

# A known warning is a valid extended regular expression.
known_warning_ok() {
	local status=0
	grep -qE -- "$1" </dev/null 2>/dev/null || status=$?
	((status < 2)) || { echo "not a valid extended regular expression"; return 1; }
}

# A known selftest difference is "KERNEL PROGRAM -T|-V|-F NAME".
known_difference_ok() {
	[[ $1 =~ ^[0-9]+\.[0-9]+\ [A-Za-z0-9_]+\ -[TVF]\ [A-Za-z0-9_]+$ ]] ||
		{ echo "not 'KERNEL PROGRAM -T|-V|-F NAME' (e.g. '6.12 vfio_dma_mapping_test -T overflow')"; return 1; }
}

check_known_lists() {
	check_list "$KNOWN_WARNINGS" "which kernel, why, which upstream gap" known_warning_ok
	check_list "$KNOWN_DIFFERENCES" "which kernel, which case, why" known_difference_ok
}

# Stock kernels (ours unpatched, or one we did not build) may log the
# known warnings of KNOWN_WARNINGS; our series not.  The booted kernel's
# vfio-pci is stock, so the known warnings of stock kernels are
# tolerated: --series none; --series naive (stock vfio-pci plus a
# pgprot-only WC hack: its reset path, which logs them, is stock's, and it
# fails on its semantics); a comparison series (stock vfio-pci plus
# another design's patch, measured, not judged); a --linux-src tree without the cookie uAPI (a
# plain upstream tree; one carrying the series is judged strictly); a
# --kernel bzImage only with --stock-kernel (nothing tells otherwise).
stock_kernel() {
	if [[ -z $USER_KERNEL && -z $LINUX_SRC ]]; then
		[[ $SERIES == none || $SERIES == naive ]] || alternative_series "$SERIES"
		return
	fi
	if [[ -n $LINUX_SRC ]]; then
		! grep -qs VFIO_DEVICE_GET_MMAP_COOKIE "$LINUX_SRC/include/uapi/linux/vfio.h"
		return
	fi
	[[ -n $USER_KERNEL ]] && ((STOCK_KERNEL))
}

check_static_binary() {
	local f=$1
	[[ -f $f && -x $f ]] || die "--extra-test $f: not an executable file"
	readelf -h "$f" >/dev/null 2>&1 || die "--extra-test $f: not an ELF binary"
	! readelf -l "$f" 2>/dev/null | grep -q 'INTERP' ||
		die "--extra-test $f: dynamically linked; the guest has no libc, build it with -static"
}

# Run a stage and remember how long it took: stage NAME FUNCTION [ARGS].
# Returns the function's status.
stage() {
	local name=$1 start status=0
	shift
	start=$(date +%s.%N)
	"$@" || status=$?
	STAGE_SECONDS[$name]=$(echo "$(date +%s.%N) - $start" | bc)
	STAGES+=("$name")
	return "$status"
}

print_timings() {
	((TIMINGS)) || return 0
	local name
	printf 'timings (seconds):\n' >&2
	for name in "${STAGES[@]}"; do
		printf '  %-10s %7.2f\n' "$name" "${STAGE_SECONDS[$name]}" >&2
	done
}

ensure_host() {
	"$REPO/.ci/setup-host.sh" --check 2>/dev/null && return
	log "host not ready; running .ci/setup-host.sh"
	"$REPO/.ci/setup-host.sh" || die "host setup failed (see above)"
}

# Sets QEMU (unless --qemu), QEMU_SRC and QEMU_BUILD (for the host tests),
# and with --all-tests QEMU_SANITIZED (ASan + UBSan, for the device fuzzer).
build_qemu() {
	local built
	QEMU_SANITIZED=
	QEMU_SRC=$("$REPO/qemu-hw/build-qemu.sh" --print-src) || die "preparing the QEMU source failed (see above)"
	if [[ -n $QEMU ]] && ((!ALL_TESTS)); then
		QEMU_BUILD=
		check_user_qemu
		return
	fi
	built=$("$REPO/qemu-hw/build-qemu.sh") || die "building QEMU failed (see above)"
	QEMU_BUILD=$(dirname "$built")
	QEMU=${QEMU:-$built}
	((ALL_TESTS)) || return 0
	QEMU_SANITIZED=$("$REPO/qemu-hw/build-qemu.sh" --sanitize) ||
		die "building QEMU with ASan and UBSan failed (see above)"
}

# Sets SELFTESTS, the upstream VFIO selftests (tools/testing/selftests/
# vfio) to run: those of the kernel's own tree (build-kernel.sh), and for
# a base whose tree has none (6.12) those of stock $DEFAULT_KERNEL_BASE,
# less the cases of KNOWN_DIFFERENCES (SELFTESTS_FROM says so).  A
# --kernel bzImage has no tree to build them from, and a --linux-src tree
# is built as it is: without its own, they run none.
pick_vfio_selftests() {
	SELFTESTS= SELFTESTS_FROM=
	[[ -z $USER_KERNEL ]] || return 0
	if [[ -d $KERNEL_ART/vfio-selftests ]]; then
		SELFTESTS=$KERNEL_ART/vfio-selftests
		return 0
	fi
	[[ -z $LINUX_SRC && $KERNEL_BASE != "$DEFAULT_KERNEL_BASE" ]] || return 0
	SELFTESTS=$("$REPO/kernel-patches/build-kernel.sh" --series none \
		--base "$DEFAULT_KERNEL_BASE" --selftests-only) ||
		die "building the upstream VFIO selftests of stock $DEFAULT_KERNEL_BASE failed (see above)"
	SELFTESTS=$SELFTESTS/vfio-selftests
	SELFTESTS_FROM="stock $DEFAULT_KERNEL_BASE (the $KERNEL_BASE tree has none)"
}

# Sets KERNEL_ART (headers, kselftest harness, vfio-selftests/) and
# KERNEL (bzImage).
build_kernel() {
	local args=(--series "$SERIES" --base "$KERNEL_BASE")
	[[ -z $LINUX_SRC ]] || args=(--linux-src "$LINUX_SRC")
	((!DEBUG_KERNEL)) || args+=(--debug)
	[[ -z $KERNEL ]] || args+=(--headers-only)
	KERNEL_ART=$("$REPO/kernel-patches/build-kernel.sh" "${args[@]}") ||
		die "building the kernel failed (see above)"
	[[ -n $KERNEL ]] || KERNEL=$KERNEL_ART/bzImage
	pick_vfio_selftests
}

build_guest() {
	local mdir=$BUILD_DIR/meson
	local opts=(-Dkernel_headers="$KERNEL_ART/headers/include" -Dkselftest_dir="$KERNEL_ART/selftests"
		-Dqemu_src="$QEMU_SRC" -Dqemu_build="$QEMU_BUILD" -Dqemu_sanitized="$QEMU_SANITIZED")
	if [[ ! -f $mdir/build.ninja ]]; then
		meson setup "$mdir" "$REPO" "${opts[@]}" >"$BUILD_DIR/meson-setup.log" 2>&1 ||
			die "meson setup failed; log in $BUILD_DIR/meson-setup.log"
	elif [[ $(cat "$mdir/.wctb-options" 2>/dev/null) != "${opts[*]}" ]]; then
		meson configure "$mdir" "${opts[@]}" >"$BUILD_DIR/meson-setup.log" 2>&1 ||
			die "meson configure failed; log in $BUILD_DIR/meson-setup.log"
	fi
	echo "${opts[*]}" >"$mdir/.wctb-options"
	meson compile -C "$mdir" >"$mdir/compile.log" 2>&1 || {
		grep -E 'error|warning' "$mdir/compile.log" | head -20 >&2
		die "building the guest programs failed; log in $mdir/compile.log"
	}
}

# The guest programs of KIND (tests: /tests; tools: /bin), as meson lists them.
guest_programs() {
	sed -n "s/^guest_$1=//p" "$BUILD_DIR/meson/guest-tests.txt" | tr ' ' '\n'
}

stage_initramfs_tree() {
	local root=$1 mdir=$BUILD_DIR/meson t
	rm -rf "$root"
	mkdir -p "$root/bin" "$root/tests" "$root/dev"
	cp "$mdir/guest-tests/init" "$root/init"
	# Only the interactive shell needs busybox (2 MB less to unpack).
	((!SHELL_MODE)) || cp /bin/busybox "$root/bin/busybox"
	for t in $(guest_programs tests); do
		cp "$mdir/guest-tests/$t" "$root/tests/$t"
	done
	for t in $(guest_programs tools); do
		cp "$mdir/guest-tests/$t" "$root/bin/$t"
	done
	# No debug info in the guest: a smaller initramfs unpacks faster.
	strip --strip-debug "$root/init" "$root"/tests/* "$root"/bin/wctb-* ||
		die "strip failed on the guest programs in $root (binutils installed?)"
	for t in "${EXTRA_TESTS[@]}"; do
		cp "$t" "$root/tests/extra-$(basename "$t")"
	done
	# init applies the list only when the kernel line says stock.
	mkdir -p "$root/etc/wctb"
	cp "$KNOWN_WARNINGS" "$root/etc/wctb/known-stock-warnings.txt"
	cp "$KNOWN_DIFFERENCES" "$root/etc/wctb/known-selftest-differences.txt"
	stage_vfio_selftests "$root/vfio-selftests"
}

# Copies the upstream VFIO selftests that pick_vfio_selftests chose into
# DIR; init runs them in the intel-iommu boot.
stage_vfio_selftests() {
	local dir=$1
	[[ -n $SELFTESTS ]] || return 0
	mkdir -p "$dir" && cp "$SELFTESTS"/* "$dir/" ||
		die "copying the VFIO selftests of $SELFTESTS into $dir failed"
	strip --strip-debug "$dir"/* || die "strip failed on the VFIO selftests in $dir"
}

log_vfio_selftests() {
	local dir=$1
	if ! have_vfio_selftests; then
		log "upstream VFIO selftests: none for this kernel (a --kernel bzImage, or a --linux-src tree without tools/testing/selftests/vfio)"
	elif [[ " $(boot_configs) " == *" iommu "* ]]; then
		log "upstream VFIO selftests: $(find "$dir" -type f | wc -l) programs${SELFTESTS_FROM:+ from $SELFTESTS_FROM}, run in the intel-iommu boot"
	else
		log "upstream VFIO selftests: not run (they need the intel-iommu boot, see --iommu)"
	fi
}

# Whether this run's initramfs carries upstream VFIO selftests.
have_vfio_selftests() {
	[[ -n $(ls -A "$BUILD_DIR/initramfs.d/vfio-selftests" 2>/dev/null) ]]
}

# Rebuilt only when the content of the tree changed.
build_initramfs() {
	local root=$BUILD_DIR/initramfs.d out=$BUILD_DIR/initramfs.cpio sum
	((!SHELL_MODE)) || [[ -x /bin/busybox ]] ||
		die "/bin/busybox missing; install busybox-static (.ci/setup-host.sh)"
	check_known_lists
	stage_initramfs_tree "$root"
	check_filter "$root"
	log_vfio_selftests "$root/vfio-selftests"
	sum=$(cd "$root" && find . -type f -print0 | sort -z | xargs -0 sha256sum | sha256sum)
	if [[ -f $out && $(cat "$out.sum" 2>/dev/null) == "$sum" ]]; then
		return
	fi
	(cd "$root" && find . -print0 | sort -z |
		cpio --null -o -H newc --owner=0:0 --quiet) >"$out.tmp" ||
		die "cpio failed while writing $out"
	mv "$out.tmp" "$out"
	echo "$sum" >"$out.sum"
}

# A fresh log directory per run; the newest 20 are kept.
new_log_dir() {
	LOG_DIR=$BUILD_DIR/logs/$(date +%Y%m%d-%H%M%S)-$$
	mkdir -p "$LOG_DIR"
	ln -sfn "$(basename "$LOG_DIR")" "$BUILD_DIR/logs/latest"
	find "$BUILD_DIR/logs" -mindepth 1 -maxdepth 1 -type d -printf '%f\n' |
		sort -r | tail -n +21 | sed "s|^|$BUILD_DIR/logs/|" | xargs -r rm -rf
}

# The boots of one run: "iommu" (emulated intel-iommu) and/or "noiommu".
boot_configs() {
	case "$IOMMU" in
	intel) echo iommu ;;
	none) echo noiommu ;;
	both) ((SHELL_MODE)) && echo iommu || echo iommu noiommu ;;
	esac
}

# vm_args BOOT DIR: host/vm.py's options for one boot of this run.
vm_args() {
	local boot=$1 dir=$2 a
	a=(--qemu "$QEMU" --qemu-python "$QEMU_SRC/python" --kernel "$KERNEL"
		--initrd "$BUILD_DIR/initramfs.cpio" --log-dir "$dir" --boot "$boot"
		--depth "$DEPTH" --iommu-paths "$IOMMU_PATHS" --timeout "$TIMEOUT" --smp "$SMP"
		--slow-down "$SLOW_DOWN" --known-warnings "$(basename "$KNOWN_WARNINGS")")
	((!USE_KVM)) || a+=(--kvm)
	((!DEBUG_KERNEL)) || a+=(--debug-kernel)
	! stock_kernel || a+=(--stock)
	! have_vfio_selftests || a+=(--selftests)
	((!SHELL_MODE)) || a+=(--shell)
	[[ -z $FILTER ]] || a+=(--filter "$FILTER")
	[[ -z $TEST_TIMEOUT ]] || a+=(--test-timeout "$TEST_TIMEOUT")
	[[ -z $APPEND ]] || a+=(--append "$APPEND")
	for q in "${QEMU_EXTRA[@]}"; do a+=("--qemu-arg=$q"); done
	printf '%s\n' "${a[@]}"
}

# One boot, owned by host/vm.py (QEMU, its deadline, the results port,
# the host requests, the counter check, the verdict); what it says goes
# to DIR/verdict.txt, its exit status is the boot's.  Run in the
# background, it becomes vm.py (exec), so that stop_boots reaches it.
boot_and_judge() {
	local boot=$1 dir=$2 args
	mapfile -t args < <(vm_args "$boot" "$dir")
	log "[$boot] booting the guest (console: $dir/console.log)"
	exec python3 "$REPO/host/vm.py" "${args[@]}" 2>"$dir/verdict.txt"
}

# run-vm.sh itself interrupted or ended: no boot of it keeps running.
# Each boot's vm.py ends its QEMU on TERM; a QEMU whose vm.py is already
# gone goes by its pidfile.
stop_boots() {
	local f pid
	((${#BOOT_PIDS[@]} == 0)) || kill -TERM "${BOOT_PIDS[@]}" 2>/dev/null || true
	for f in "$LOG_DIR"/*/qemu.pid; do
		[[ -s $f ]] || continue
		pid=$(<"$f")
		[[ $(cat "/proc/$pid/comm" 2>/dev/null) == qemu-system-x86 ]] || continue
		kill -CONT "$pid" 2>/dev/null || true
		kill -KILL "$pid" 2>/dev/null || true
	done
}

# Every boot of the run, at the same time: each is one VM with a device of
# its own, and a TCG guest keeps one core busy.  Their verdicts are shown
# in boot order; the worst outcome wins (a boot ended by a signal counts
# as a harness fault, 2).
run_boots() {
	local boot status=0 one boots
	boots=$(boot_configs)
	for boot in $boots; do
		mkdir -p "$LOG_DIR/$boot"
	done
	if ((SHELL_MODE)); then	# one boot (boot_configs)
		local args
		mapfile -t args < <(vm_args "$boots" "$LOG_DIR/$boots")
		python3 "$REPO/host/vm.py" "${args[@]}" || true
		return 0
	fi
	trap 'stop_boots; exit 2' INT TERM HUP
	for boot in $boots; do
		boot_and_judge "$boot" "$LOG_DIR/$boot" &
		BOOT_PIDS+=($!)
	done
	for boot in $boots; do
		one=0
		wait "${BOOT_PIDS[0]}" || one=$?
		BOOT_PIDS=("${BOOT_PIDS[@]:1}")
		cat "$LOG_DIR/$boot/verdict.txt" >&2
		((one <= 3)) || one=2
		((one <= status)) || status=$one
	done
	trap - INT TERM HUP
	BOOT_PIDS=()
	return "$status"
}

run_all_tests() {
	local status=0
	log "running every test with meson test"
	meson test -C "$BUILD_DIR/meson" --print-errorlogs --num-processes 1 || status=$?
	return "$status"
}

# One closing line a CI system can read: "N passed, N failed, N skipped",
# after the seconds each meson test took (from meson's own test log).
summarize_meson_log() {
	local json=$BUILD_DIR/meson/meson-logs/testlog.json
	[[ -f $json ]] || return 0
	python3 - "$json" <<-'PY' || true
		import json, sys
		tests = [json.loads(line) for line in open(sys.argv[1])]
		print("meson tests (seconds):")
		for t in tests:
		    print("  %-38s %8.1f  %s" % (t["name"], t["duration"], t["result"]))
		def count(*results):
		    return sum(t["result"] in results for t in tests)
		print("wc-testbed: %d passed, %d failed, %d skipped" % (
		    count("OK", "EXPECTEDFAIL"),
		    count("FAIL", "UNEXPECTEDPASS", "TIMEOUT", "ERROR"), count("SKIP")))
	PY
}

# The guest suite's JUnit XML, from every boot's results port.
write_junit() {
	local boot args=()
	for boot in $(boot_configs); do
		[[ -f $LOG_DIR/$boot/results.tap ]] || continue
		args+=("$boot=$LOG_DIR/$boot/results.tap")
		[[ ! -f $LOG_DIR/$boot/vm.log ]] ||
			args+=(--host-check "$boot=$LOG_DIR/$boot/vm.log")
	done
	((${#args[@]})) || return 0
	python3 "$REPO/host/tap-to-junit.py" --output "$LOG_DIR/junit.xml" "${args[@]}" ||
		log "warning: writing JUnit XML failed"
	[[ -z $JUNIT ]] || cp "$LOG_DIR/junit.xml" "$JUNIT"
}

# The kernels --report measures: our series, its controls, each
# comparison series, and a --linux-src tree (named linux-src).
report_kernels() {
	known_series
	[[ -z $LINUX_SRC ]] || echo linux-src
}

# One measurement boot on KERNEL (a series, or linux-src), on this run's
# QEMU and vCPUs: measure-mappings and wc-designs, both built against that
# kernel's own uAPI headers, in the intel-iommu boot, with a BAR2 of
# REPORT_BAR2_SIZE (room for an aligned 1 GiB mapping).  A comparison
# series runs the whole suite too (it must boot and complete it; its
# failures are reported, not judged).  Writes
# REPORT_DIR/measure-KERNEL.txt, designs-KERNEL.txt and suite-KERNEL.txt
# (the boot's verdict line); dies when the boot did not complete, or when
# a kernel that must pass (patched, none) failed a test.
measure_kernel() {
	local kernel=$1 dir=$BUILD_DIR status=0 args tap verdict mdir
	[[ $kernel == patched ]] || dir=$BUILD_DIR/control-$kernel
	mdir=$dir/meson/guest-tests
	args=(--build-dir "$dir" --qemu "$QEMU")
	if [[ $kernel == linux-src ]]; then
		args+=(--linux-src "$LINUX_SRC")
	else
		args+=(--series "$kernel")
	fi
	"$REPO/run-vm.sh" "${args[@]}" --build-only >&2 ||
		die "building the kernel and guest programs for $kernel failed"
	args+=(--iommu intel --smp "$SMP" --extra-test "$mdir/measure-mappings"
		--qemu-arg -global --qemu-arg "wc-testdev.bar2-size=$REPORT_BAR2_SIZE")
	if ! alternative_series "$kernel"; then
		args+=(--extra-test "$mdir/wc-designs" --filter 'extra-*')
	fi
	"$REPO/run-vm.sh" "${args[@]}" >&2 || status=$?
	tap=$dir/logs/latest/iommu/results.tap
	verdict=$(grep -aoE '(PASS|FAIL): .*' "$dir/logs/latest/iommu/verdict.txt" 2>/dev/null | tail -1 || true)
	((status <= 1)) && [[ -f $tap ]] ||
		die "the measurement boot on $kernel did not complete (exit $status); logs in $dir/logs/latest/"
	case "$kernel" in
	patched | none)
		((status == 0)) ||
			die "the measurement boot on $kernel failed a test (${verdict:-no verdict}); our series' design cells are asserted there (wc-designs), logs in $dir/logs/latest/" ;;
	esac
	# Our series offers cookies: a cookie case that SKIPs there is a
	# check that did not run.
	if [[ $kernel == patched ]] && grep -aqE 'ok [0-9]+ design\.cookie\.[a-z0-9_]+ # SKIP' "$tap"; then
		die "wc-designs skipped the cookie design on the patched kernel: $(grep -aom1 'design\.cookie\.[a-z0-9_]* # SKIP.*' "$tap")"
	fi
	printf '%s exit=%d %s\n' "$kernel" "$status" "${verdict:-no verdict}" >"$REPORT_DIR/suite-$kernel.txt"
	grep -a '^# wctb-measure: ' "$tap" | tr -d '\r' |
		sed "s/^# wctb-measure: /wctb-measure: series=$kernel /" >"$REPORT_DIR/measure-$kernel.txt" || true
	grep -a '^# wctb-design: ' "$tap" | tr -d '\r' |
		sed "s/^# wctb-design: /wctb-design: kernel=$kernel /" >"$REPORT_DIR/designs-$kernel.txt" || true
	[[ -s $REPORT_DIR/designs-$kernel.txt ]] ||
		die "the boot on $kernel printed no wctb-design line (did wc-designs run?); see $tap"
}

# --report: the measurements and the design comparison on every kernel,
# as report.md, report.svg, designs.svg and designs.json.
make_report() {
	local kernel kernels designs suites
	mkdir -p "$REPORT_DIR"
	rm -f "$REPORT_DIR"/{measure,designs,suite}-*.txt
	mapfile -t kernels < <(report_kernels)
	for kernel in "${kernels[@]}"; do
		log "measuring the mappings and the designs on $kernel"
		measure_kernel "$kernel"
	done
	for kernel in patched naive none; do
		(($(wc -l <"$REPORT_DIR/measure-$kernel.txt") == 8)) ||
			die "series $kernel: expected 8 measurements, got $REPORT_DIR/measure-$kernel.txt"
	done
	designs=() suites=()
	for kernel in "${kernels[@]}"; do
		designs+=("$REPORT_DIR/designs-$kernel.txt")
		suites+=("$REPORT_DIR/suite-$kernel.txt")
	done
	python3 "$REPO/host/make-report.py" --output-dir "$REPORT_DIR" \
		"$REPORT_DIR"/measure-{patched,naive,none}.txt \
		--designs "${designs[@]}" --suites "${suites[@]}" ||
		die "make-report.py failed on $REPORT_DIR/*.txt"
	log "report: $REPORT_DIR/report.md (matrix first), report.svg, designs.svg, designs.json"
}

main() {
	parse_args "$@"
	validate_args
	ensure_build_dir
	stage setup ensure_host
	stage qemu build_qemu
	stage kernel build_kernel
	stage guest build_guest
	if ((ALL_TESTS)); then
		local status=0
		TIMINGS=1	# CI's log shows where the time went
		stage tests run_all_tests || status=$?
		[[ -z $JUNIT ]] || cp "$BUILD_DIR/meson/meson-logs/testlog.junit.xml" "$JUNIT" ||
			log "warning: meson wrote no JUnit XML"
		print_timings
		summarize_meson_log
		return "$status"
	fi
	if [[ -n $REPORT_DIR ]]; then
		make_report
		return 0
	fi
	stage initramfs build_initramfs
	if ((BUILD_ONLY)); then
		print_timings
		return 0
	fi
	new_log_dir
	local status=0
	stage boot run_boots || status=$?
	((SHELL_MODE)) || write_junit
	print_timings
	return "$status"
}

main "$@"
