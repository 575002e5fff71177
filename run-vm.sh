#!/usr/bin/env bash
# wc-testbed: build what is stale, boot the regression VM, run the guest
# suite and report.  Exit status 0 only if every guest test passed.
set -euo pipefail

readonly REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
export WCTB_CACHE=${WCTB_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/wc-testbed}
readonly BIOS_DIRS=(/usr/share/qemu /usr/share/seabios)
readonly QBOOT=/usr/share/qemu/qboot.rom
readonly KNOWN_WARNINGS=$REPO/guest-tests/known-stock-warnings.txt
readonly KNOWN_DIFFERENCES=$REPO/guest-tests/known-selftest-differences.txt
readonly DEFAULT_KERNEL_BASE=7.3

BUILD_DIR=$REPO/build
HOTPLUG_BUS=wctb-rp
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
  --report DIR         measure every mapping of BAR2 (sysfs, VFIO fixed offset,
                       UC/WC cookies, 2 MiB WC) on each series (patched,
                       naive, none) and write DIR/report.md and report.svg
  --junit FILE         also write the results as JUnit XML (the guest suite;
                       with --all-tests, meson's results of every test)
  --series NAME        kernel patch series: patched (default), naive, none
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
		--series) SERIES=${2:?--series needs patched, naive or none}; shift ;;
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

validate_args() {
	case "$SERIES" in patched | naive | none) ;; *) die "--series must be patched, naive or none, not '$SERIES'" ;; esac
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
# known warnings of KNOWN_WARNINGS; our series and the naive control not.
# The booted kernel is stock, so the known warnings of stock kernels are
# tolerated: --series none; a --linux-src tree without the cookie uAPI
# (a plain upstream tree; one carrying the series is judged strictly);
# a --kernel bzImage only with --stock-kernel (nothing tells otherwise).
stock_kernel() {
	[[ $SERIES == none ]] && [[ -z $USER_KERNEL && -z $LINUX_SRC ]] && return 0
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

# The guest programs that go into /tests, as listed by meson.
guest_test_names() {
	sed -n 's/^guest_tests=//p' "$BUILD_DIR/meson/guest-tests.txt" | tr ' ' '\n'
}

stage_initramfs_tree() {
	local root=$1 mdir=$BUILD_DIR/meson t
	rm -rf "$root"
	mkdir -p "$root/bin" "$root/tests" "$root/dev"
	cp "$mdir/guest-tests/init" "$root/init"
	# Only the interactive shell needs busybox (2 MB less to unpack).
	((!SHELL_MODE)) || cp /bin/busybox "$root/bin/busybox"
	for t in $(guest_test_names); do
		cp "$mdir/guest-tests/$t" "$root/tests/$t"
	done
	# No debug info in the guest: a smaller initramfs unpacks faster.
	strip --strip-debug "$root/init" "$root"/tests/* ||
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

kernel_cmdline() {
	local boot=$1 cmdline="console=ttyS0 panic=-1 oops=panic loglevel=4"
	# An emulated CPU on a busy host makes the clocksource watchdog
	# complain (warnings, not bugs of the code under test): trust the TSC.
	cmdline+=" tsc=reliable"
	# ... and do not test the timer IRQ through the IO-APIC: on a slow or
	# throttled host the test misses its window and, with interrupt
	# remapping on, panics ("timer doesn't work through Interrupt-remapped
	# IO-APIC"), seen under --slow-down 4.
	cmdline+=" no_timer_check"
	if [[ $boot == iommu ]]; then
		cmdline+=" intel_iommu=on wctb.vfio-paths=$IOMMU_PATHS"
		! have_vfio_selftests || cmdline+=" wctb.vfio-selftests=1"
	else
		cmdline+=" vfio.enable_unsafe_noiommu_mode=1"
	fi
	# The debug kernel pages with 4 levels: under -cpu max it would use 5
	# (LA57), and Linux 7.3 with KASAN then reports a wild access when an
	# interrupt lands while identify_cpu() has the boot CPU's feature bits
	# cleared (pgtable_l5_enabled() reads false for that window, so KASAN
	# judges a 5-level direct-map address by the 4-level layout).  Seen
	# once in 17 debug boots, at 2 s, in __common_interrupt; upstream's, not
	# the series'.  With 4 levels the debug suite also runs about 3 times
	# faster under TCG.  The normal kernels keep 5 levels: both are tested.
	((!DEBUG_KERNEL)) || cmdline+=" no5lvl"
	[[ -z $TEST_TIMEOUT ]] || cmdline+=" wctb.timeout=$TEST_TIMEOUT"
	cmdline+=" wctb.depth=$DEPTH"
	[[ -z $FILTER ]] || cmdline+=" wctb.filter=$FILTER"
	((USE_KVM)) || cmdline+=" wctb.memtypes=1"
	! stock_kernel || cmdline+=" wctb.kernel=stock"
	((!SHELL_MODE)) || cmdline+=" wctb.shell=1"
	((SHELL_MODE)) || cmdline+=" wctb.hold=1"
	[[ -z $APPEND ]] || cmdline+=" $APPEND"
	echo "$cmdline"
}

qemu_args() {
	local boot=$1 dir=$2
	# 1 GiB: below 512 MiB of RAM the kernel turns THP (and so PMD faults) off.
	local args=(-M q35 -m 1G -smp 1 -nodefaults -no-reboot -display none)
	local d
	for d in "${BIOS_DIRS[@]}"; do args+=(-L "$d"); done
	# qboot (qemu-system-data) loads the kernel straight from fw_cfg:
	# a few tenths of a second less than SeaBIOS per boot under TCG.
	args+=(-bios "$QBOOT")
	if ((USE_KVM)); then
		args+=(-accel kvm -cpu host)
	else
		args+=(-accel tcg -cpu max)
	fi
	args+=(-kernel "$KERNEL" -initrd "$BUILD_DIR/initramfs.cpio")
	args+=(-append "$(kernel_cmdline "$boot")")
	# The IOMMU must come before the devices it translates for.  Interrupt
	# remapping, or type1 and iommufd refuse the device (MSI isolation).
	if [[ $boot == iommu ]]; then
		((!USE_KVM)) || args+=(-M q35,kernel-irqchip=split)
		args+=(-device intel-iommu,intremap=on)
	fi
	# wc-testdev sits in a hot-plug slot of its own, so that device_del
	# and device_add from the checker reach the guest's vfio-pci.
	args+=(-device "pcie-root-port,id=$HOTPLUG_BUS,chassis=1,slot=1")
	args+=(-device "wc-testdev,id=wctd,bus=$HOTPLUG_BUS")
	args+=(-qmp "unix:$dir/qmp.sock,server=on,wait=off" -pidfile "$dir/qemu.pid")
	args+=("${QEMU_EXTRA[@]}")
	if ((SHELL_MODE)); then
		args+=(-serial mon:stdio -serial "file:$dir/results.tap")
	else
		args+=(-serial "file:$dir/console.log" -serial "file:$dir/results.tap")
	fi
	printf '%s\n' "${args[@]}"
}

# Reference seconds from QEMU's start to the guest's first line; the
# checker scales them by the host's pace.  KASAN and friends boot slower.
boot_budget() {
	((DEBUG_KERNEL)) && echo 480 || echo 120
}

# Boots the guest once; sets QEMU_STATUS and CHECK_STATUS
# (host/check-counters.py: it owns the deadline, killing QEMU when the
# guest stops making progress, status 3; the guest holds after its result
# until the checker has read the device over QMP and quit QEMU).
boot_guest() {
	local boot=$1 dir=$2 args pid cpid
	[[ -f $QBOOT ]] || die "$QBOOT missing; install qemu-system-data (.ci/setup-host.sh)"
	mapfile -t args < <(qemu_args "$boot" "$dir")
	printf '%q ' "$QEMU" "${args[@]}" >"$dir/qemu-cmdline.txt"
	QEMU_STATUS=0
	CHECK_STATUS=0
	if ((SHELL_MODE)); then
		"$QEMU" "${args[@]}" || QEMU_STATUS=$?
		return
	fi
	log "[$boot] booting the guest (console: $dir/console.log)"
	"$QEMU" "${args[@]}" >"$dir/qemu-stdout.log" 2>"$dir/qemu-stderr.log" &
	pid=$!
	"$REPO/host/check-counters.py" --qmp "$dir/qmp.sock" \
		--results "$dir/results.tap" --pid "$pid" --timeout "$TIMEOUT" \
		--boot-budget "$(boot_budget)" --slow-down "$SLOW_DOWN" \
		--hotplug-bus "$HOTPLUG_BUS" \
		>"$dir/host-check.txt" 2>&1 &
	cpid=$!
	# Ended from outside: the checker first (it continues a stopped QEMU),
	# then QEMU.
	trap 'kill -TERM "$cpid" 2>/dev/null; kill -CONT "$pid" 2>/dev/null; kill -KILL "$pid" 2>/dev/null' EXIT
	wait "$cpid" || CHECK_STATUS=$?
	# The checker quits QEMU; if it could not, end it (continued first, in
	# case the checker died while QEMU was stopped by --slow-down).
	if ! sleep_until_gone "$pid" 10; then
		kill -CONT "$pid" 2>/dev/null || true
		kill "$pid" 2>/dev/null || true
		sleep_until_gone "$pid" 5 || kill -KILL "$pid" 2>/dev/null || true
	fi
	wait "$pid" 2>/dev/null || QEMU_STATUS=$?
	trap - EXIT
	rm -f "$dir/qemu.pid"	# its pid may be another process's from now on
}

# sleep_until_gone PID SECS: 0 once PID has exited, 1 after SECS.
sleep_until_gone() {
	local pid=$1 i
	for ((i = 0; i < $2 * 20; i++)); do
		kill -0 "$pid" 2>/dev/null || return 0
		sleep 0.05
	done
	return 1
}

# The host's check of the guest's counters: 0 when they agree, 1 when
# they disagree, 2 when nothing could be checked.
host_check() {
	local boot=$1 dir=$2
	if ((CHECK_STATUS == 0)); then
		log "[$boot] $(tail -1 "$dir/host-check.txt")"
		return 0
	fi
	sed "s/^/run-vm: [$boot] /" "$dir/host-check.txt" >&2
	if ((CHECK_STATUS == 1)); then
		log "[$boot] FAIL: the device's counters (QMP) disagree with the guest's report"
		return 1
	fi
	log "[$boot] FAIL: the host could not check the device's counters"
	return 2
}

# The known stock-kernel warnings a boot tolerated, never silently.
report_tolerated() {
	local boot=$1 line=$2 results=$3 n
	n=$(sed -n 's/.* tolerated=\([0-9]*\).*/\1/p' <<<"$line")
	((${n:-0} > 0)) || return 0
	log "[$boot] $n known stock-kernel warning(s) tolerated ($(basename "$KNOWN_WARNINGS")):"
	grep -a '^# known stock-kernel warning tolerated: ' "$results" | tr -d '\r' |
		sort | uniq -c | sed "s/^/run-vm: [$boot]   /" >&2 || true
}

# Decide one boot's outcome from its results port, never from the console.
verdict() {
	local boot=$1 dir=$2 line
	local results=$dir/results.tap console=$dir/console.log
	line=$(grep -a '^wctb-result: ' "$results" 2>/dev/null | tail -1 | tr -d '\r') || true
	grep -a -E '^(not )?ok [0-9]+ ' "$results" 2>/dev/null | tr -d '\r' | sed "s/^/[$boot] /" >&2 || true
	report_tolerated "$boot" "$line" "$results"
	if [[ $line == "wctb-result: PASS "* ]]; then
		host_check "$boot" "$dir" || return $?
		log "[$boot] PASS: ${line#wctb-result: PASS }"
		return 0
	fi
	if [[ $line == "wctb-result: FAIL "* ]]; then
		host_check "$boot" "$dir" || true
		log "[$boot] FAIL: ${line#wctb-result: FAIL }; the failing tests' output is in $results"
		return 1
	fi
	if grep -aq 'Kernel panic' "$console" 2>/dev/null; then
		log "[$boot] FAIL: the guest kernel panicked: $(grep -a -m1 'Kernel panic' "$console" | tr -d '\r')"
		log "console log: $console"
		return 2
	fi
	if ((CHECK_STATUS == 3)); then
		log "[$boot] FAIL: $(grep -m1 'the guest hung' "$dir/host-check.txt" | sed 's/^check-counters: //'); console log: $console"
		return 2
	fi
	if ((QEMU_STATUS > 128)); then
		log "[$boot] FAIL: QEMU died from signal $((QEMU_STATUS - 128)) ($(kill -l $((QEMU_STATUS - 128)))) before the guest reported a result"
	else
		log "[$boot] FAIL: the guest never reported a result (QEMU exit status $QEMU_STATUS)"
	fi
	log "QEMU stderr: $(tail -3 "$dir/qemu-stderr.log" 2>/dev/null)"
	log "console log: $console"
	return 2
}

# One boot and its verdict, what it says going to $dir/verdict.txt.
boot_and_judge() {
	local boot=$1 dir=$2
	boot_guest "$boot" "$dir"
	verdict "$boot" "$dir" 2>"$dir/verdict.txt"
}

# run-vm.sh itself interrupted or ended: no boot of it keeps running.  Each
# boot's subshell ends its checker and QEMU (boot_guest's EXIT trap); a
# QEMU whose subshell is already gone goes by its pidfile.
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
		boot_guest "$boots" "$LOG_DIR/$boots"
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
# after the seconds each meson test took.
summarize_meson_log() {
	local json=$BUILD_DIR/meson/meson-logs/testlog.json passed failed skipped
	[[ -f $json ]] || return 0
	python3 -c 'import json, sys
print("meson tests (seconds):")
for line in open(sys.argv[1]):
    t = json.loads(line)
    print("  %-38s %8.1f  %s" % (t["name"], t["duration"], t["result"]))' "$json" || true
	passed=$(grep -cE '"result": "(OK|EXPECTEDFAIL)"' "$json" || true)
	failed=$(grep -cE '"result": "(FAIL|UNEXPECTEDPASS|TIMEOUT|ERROR)"' "$json" || true)
	skipped=$(grep -c '"result": "SKIP"' "$json" || true)
	echo "wc-testbed: $passed passed, $failed failed, $skipped skipped"
}

# The guest suite's JUnit XML, from every boot's results port.
write_junit() {
	local boot args=()
	for boot in $(boot_configs); do
		[[ -f $LOG_DIR/$boot/results.tap ]] || continue
		args+=("$boot=$LOG_DIR/$boot/results.tap")
		[[ ! -f $LOG_DIR/$boot/host-check.txt ]] ||
			args+=(--host-check "$boot=$LOG_DIR/$boot/host-check.txt")
	done
	((${#args[@]})) || return 0
	python3 "$REPO/host/tap-to-junit.py" --output "$LOG_DIR/junit.xml" "${args[@]}" ||
		log "warning: writing JUnit XML failed"
	[[ -z $JUNIT ]] || cp "$LOG_DIR/junit.xml" "$JUNIT"
}

# One measurement run on SERIES; prints its wctb-measure lines.
measure_series() {
	local series=$1 dir=$BUILD_DIR
	[[ $series == patched ]] || dir=$BUILD_DIR/control-$series
	"$REPO/run-vm.sh" --build-dir "$dir" --series "$series" --iommu intel \
		--extra-test "$BUILD_DIR/meson/guest-tests/measure-mappings" \
		--filter 'extra-*' >&2 || die "the measurement run on series $series failed; logs in $dir/logs/latest/"
	grep -a '^# wctb-measure: ' "$dir/logs/latest/iommu/results.tap" | tr -d '\r' |
		sed "s/^# wctb-measure: /wctb-measure: series=$series /"
}

# --report: the same measurements on every series, as report.md and an SVG.
make_report() {
	local series
	mkdir -p "$REPORT_DIR"
	for series in patched naive none; do
		log "measuring the mappings on series $series"
		measure_series "$series" >"$REPORT_DIR/measure-$series.txt"
		(($(wc -l <"$REPORT_DIR/measure-$series.txt") == 6)) ||
			die "series $series: expected 6 measurements, got $REPORT_DIR/measure-$series.txt"
	done
	python3 "$REPO/host/make-report.py" --output-dir "$REPORT_DIR" \
		"$REPORT_DIR"/measure-{patched,naive,none}.txt ||
		die "make-report.py failed on $REPORT_DIR/measure-*.txt"
	log "report: $REPORT_DIR/report.md, $REPORT_DIR/report.svg"
}

main() {
	parse_args "$@"
	validate_args
	mkdir -p "$BUILD_DIR"
	BUILD_DIR=$(cd "$BUILD_DIR" && pwd)
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
