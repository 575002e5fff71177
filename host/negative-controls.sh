#!/usr/bin/env bash
# Negative controls: prove that the checks can fail.  Harness faults (a
# failing test, a kernel panic, a hung guest) and semantic controls (the WC
# checks pointed at an uncached mapping) must each make run-vm.sh fail with
# a clear message.
set -euo pipefail

readonly REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD_DIR=$REPO/build
ALWAYS_FAIL=
HANG=
KERNEL_WARNING=
FAILURES=0
COUNT=0	# controls run; the TAP plan follows them
ONLY=	# --only: run only the controls whose name matches

usage() {
	cat <<USAGE
Usage: $0 --always-fail BIN --hang BIN --kernel-warning BIN [--build-dir DIR]
          [--only REGEX] [--help]

Runs run-vm.sh once per control and checks its exit status and what it
reported (its output and the run's results.tap):
  failing test    --extra-test BIN (a test that always fails)     exit 1
  kernel warning  --extra-test BIN (passes, but logs a WARNING):
                  the kernel log verdict fails it                  exit 1
  hung program    --extra-test BIN (never ends) --test-timeout 5:
                  init kills it at its paced budget, the run goes on exit 1
  kernel panic    --append wctb.inject=panic                      exit 2
  hung guest      --append wctb.inject=hang: the host's watchdog
                  ends the run one idle allowance after the guest's
                  last line (no --timeout)                         exit 2
  slow hung guest the same with QEMU slowed down 4x: the allowance
                  grows with the measured pace, the hang still ends
                  the run                                          exit 2
  sysfs WC checks WCTB_SYSFS_WC_FILE=resource2: every WC check of
                  sysfs-memtype must fail against the UC file     exit 1
  naive series    --series naive: the mission test must fail      exit 1
  designs         --series naive: the cookie column of wc-designs
                  (WC cells, the same-page rule) must fail         exit 1
  fuzzer          --series naive: the cookie fuzzer must report a
                  departure from its model, with its seed          exit 1
  stock 7.3       --series none: cookie tests SKIP with a reason,
                  the known stock-kernel warnings are tolerated
                  and reported, the upstream VFIO selftests run,
                  everything else passes                          exit 0
  stock warnings  --series none with the kernel not marked stock
                  (wctb.kernel=series): the same known warnings
                  fail the contract cases                         exit 1
  runtime PM      WCTB_PM_STAY_AWAKE=1: vfio-runtime-pm keeps the
                  device out of runtime suspend; its D3hot and
                  wakeup checks fail                               exit 1
  no revocation   WCTB_PM_SKIP_ENTRY=1: LOW_POWER_ENTRY is skipped;
                  the SIGBUS and nothing-arrives checks fail       exit 1
  known diffs     stock 6.12 with wctb.known-differences=0: the
                  upstream selftest cases the list leaves out fail
                  (no stale entry)                                 exit 1
  lying guest     wctb.inject=lie: the guest reports a counter one
                  higher than it read; the host's QMP check fails  exit 1
  lost write      wctb.inject=lost-write: the audit claims a store
                  it never made; the host's ledger check fails     exit 1
  no combining    wc-testdev.wc-lines=0 (the WC model off): the
                  audit's WC half arrives without bursts; the
                  audit's own check fails the boot                 exit 1
  kernel warning  WCTB_INJECT_KMSG=1: a warning in the kernel log
                  during each contract case fails that case        exit 1
  leaked memory   WCTB_INJECT_LEAK=1: the growth loop keeps its
                  mappings; the slab growth check fails            exit 1
  QEMU crash      SIGSEGV to QEMU while the guest waits           exit 2
  QEMU killed     SIGKILL to QEMU while the guest waits           exit 2
  host ignores    WCTB_HOST_IGNORE_REQUESTS=1: the host never runs
                  the guest's device_del; the hot-unplug case fails exit 1
  missing tool    a PATH without bc: the run stops before building,
                  naming the command and its package               exit 3
  corrupt cache   the cached bzImage and QEMU binary truncated:
                  both rebuilt (not trusted), then the run passes  exit 0
  bad input       a --filter that matches no test, an unwritable
                  --build-dir, a --qemu without wc-testdev: each a
                  usage error naming the option                    exit 3
The series controls use their own build directories (control-naive,
control-none) below the main one.  --only REGEX runs the controls whose
name matches the extended regular expression (while changing one).
Prints TAP; exits non-zero if any control did not fail as it must.
USAGE
}

die() { printf 'negative-controls: error: %s\n' "$*" >&2; exit 2; }

selected() { [[ -z $ONLY ]] || grep -qE -- "$ONLY" <<<"$1"; }

# expect NAME STATUS DIR REGEX... -- run-vm.sh ARGS...: run-vm.sh with
# build directory DIR must exit STATUS, and every REGEX must match its
# output or the run's results.tap.
expect() {
	local name=$1 want=$2 dir=$3 out status=0 regex ok=1
	local regexes=()
	shift 3
	while [[ $1 != -- ]]; do regexes+=("$1"); shift; done
	shift
	selected "$name" || return 0
	rm -f "$dir/logs/latest"	# no earlier run's logs if this one boots none
	local t0=$SECONDS
	out=$("$REPO/run-vm.sh" --build-dir "$dir" "$@" 2>&1) || status=$?
	local took=$((SECONDS - t0))
	out+=$'\n'$(cat "$dir"/logs/latest/*/results.tap "$dir"/logs/latest/*/vm.log 2>/dev/null || true)
	for regex in "${regexes[@]}"; do
		grep -qE -- "$regex" <<<"$out" || ok=0
	done
	COUNT=$((COUNT + 1))
	if ((status == want && ok)); then
		echo "ok - $name (exit $status, ${took} s)"
		return
	fi
	FAILURES=$((FAILURES + 1))
	echo "not ok - $name: wanted exit $want and /${regexes[*]}/, got exit $status after ${took} s"
	sed 's/^/# /' <<<"$out"
}

# qemu_of RUN: the pid of the QEMU that run-vm.sh process RUN
# started, once its guest is waiting
# (wctb.inject=hang: PID 1 says so on the results port, then waits).
qemu_of() {
	local run=$1 pidfile pid
	for pidfile in "$BUILD_DIR"/logs/*-"$run"/*/qemu.pid; do
		[[ -s $pidfile ]] || continue
		grep -q 'wctb.inject=hang' "${pidfile%/*}/results.tap" 2>/dev/null || continue
		pid=$(<"$pidfile")
		[[ $(cat "/proc/$pid/comm" 2>/dev/null) == qemu-system-x86 ]] || continue
		echo "$pid"
		return 0
	done
	return 1
}

# expect_signal NAME SIGNAL REGEX -- ARGS: a run whose QEMU gets SIGNAL
# while the guest waits must exit 2 and say so (REGEX), long before the
# host-side timeout.
expect_signal() {
	local name=$1 sig=$2 regex=$3 out=$BUILD_DIR/control-signal.out pid run status=0 i
	shift 4
	selected "$name" || return 0
	COUNT=$((COUNT + 1))
	"$REPO/run-vm.sh" --build-dir "$BUILD_DIR" "$@" >"$out" 2>&1 &
	run=$!
	for ((i = 0; i < 1200; i++)); do
		pid=$(qemu_of "$run") && break
		sleep 0.05
	done
	if [[ -z ${pid:-} ]]; then
		kill "$run" 2>/dev/null || true
		wait "$run" || true
		FAILURES=$((FAILURES + 1))
		echo "not ok - $name: found no waiting QEMU of run $run under $BUILD_DIR/logs/ within 60 s"
		sed 's/^/# /' "$out"
		return
	fi
	kill "-$sig" "$pid"
	wait "$run" || status=$?
	if ((status == 2)) && grep -qE -- "$regex" "$out"; then
		echo "ok - $name (exit $status)"
		return
	fi
	FAILURES=$((FAILURES + 1))
	echo "not ok - $name: wanted exit 2 and /$regex/, got exit $status"
	sed 's/^/# /' "$out"
}

# path_without CMD DIR: fill DIR with links to every command on PATH but
# CMD, for a PATH on which CMD is missing.
path_without() {
	local cmd=$1 dir=$2 d f
	local -a dirs
	IFS=: read -ra dirs <<<"$PATH"
	for d in "${dirs[@]}"; do
		for f in "$d"/*; do
			[[ -x $f && ${f##*/} != "$cmd" && ! -e $dir/${f##*/} ]] || continue
			ln -s "$f" "$dir/${f##*/}"
		done
	done
}

# Truncate the cached kernel and QEMU binaries the next run would use.
corrupt_caches() {
	local art qemu
	art=$("$REPO/kernel-patches/build-kernel.sh" --series patched 2>/dev/null) &&
		qemu=$("$REPO/qemu-hw/build-qemu.sh" 2>/dev/null) ||
		die "the cached kernel and QEMU must exist before the corrupt-cache control"
	truncate -s 4096 "$art/bzImage" "$qemu"
}

main() {
	while (($#)); do
		case "$1" in
		--always-fail) ALWAYS_FAIL=${2:?}; shift ;;
		--hang) HANG=${2:?}; shift ;;
		--kernel-warning) KERNEL_WARNING=${2:?}; shift ;;
		--build-dir) BUILD_DIR=${2:?}; shift ;;
		--only) ONLY=${2:?--only needs a regular expression}; shift ;;
		-h | --help) usage; exit 0 ;;
		*) usage >&2; die "unknown option '$1'" ;;
		esac
		shift
	done
	[[ -x $ALWAYS_FAIL ]] || die "--always-fail must name the built always-fail program"
	[[ -x $KERNEL_WARNING ]] || die "--kernel-warning must name the built kernel-warning program"
	[[ -x $HANG ]] || die "--hang must name the built hang program"

	expect "a failing guest test fails the run" 1 "$BUILD_DIR" \
		'not ok 1 extra-always-fail # exit code 1' 'FAIL: passed=1 failed=1' -- \
		--extra-test "$ALWAYS_FAIL" --filter 'extra-*'
	expect "a warning in the kernel log fails the test that caused it" 1 "$BUILD_DIR" \
		'not ok [0-9]+ extra-kernel-warning # kernel reported: WARNING: CPU: 0 PID: 1 at wctb-harness' \
		'(^|# |\] )ok [0-9]+ kernel-log' -- \
		--iommu none --extra-test "$KERNEL_WARNING" --filter 'extra-*'
	expect "a program that never ends is killed at its budget" 1 "$BUILD_DIR" \
		'not ok 1 extra-hang # TIMEOUT after [0-9]+ s' '(^|# |\] )ok 2 kernel-log' 'FAIL: passed=1 failed=1' -- \
		--iommu none --extra-test "$HANG" --filter 'extra-*' --test-timeout 5
	expect "a guest kernel panic fails the run" 2 "$BUILD_DIR" 'guest kernel panicked' -- \
		--append wctb.inject=panic
	expect "a hung guest fails the run one idle allowance after its last line" 2 "$BUILD_DIR" \
		'the guest hung: nothing on the results port for [0-9]+s after .# wctb.inject=hang' -- \
		--iommu none --append wctb.inject=hang
	expect "a hung guest slowed down 4x still fails the run" 2 "$BUILD_DIR" \
		'the guest hung: nothing on the results port for [0-9]+s after' \
		'QEMU slowed down 4x' -- \
		--iommu none --append wctb.inject=hang --slow-down 4
	expect "sysfs WC checks fail against the UC file" 1 "$BUILD_DIR" \
		'not ok [0-9]+ sysfs_memtype.wc_line_arrives_as_one_full_burst' \
		'not ok [0-9]+ sysfs_memtype.wc_partial_line_is_flushed_by_a_counter_read' \
		'not ok [0-9]+ sysfs_memtype.pat_alias_wc_first_turns_the_uc_mapping_wc' \
		'not ok [0-9]+ sysfs_memtype.page_through_wc_is_64_full_bursts' \
		'(^|# |\] )ok [0-9]+ sysfs_memtype.uc_line_arrives_as_eight_uc_writes' -- \
		--filter sysfs-memtype --append WCTB_SYSFS_WC_FILE=resource2
	expect "the naive pgprot-only WC patch fails the mission test" 1 \
		"$BUILD_DIR/control-naive" \
		'not ok [0-9]+ vfio_cookie\.[a-z_]+\.mission_uc_page_and_wc_window_of_one_bar' \
		'not ok [0-9]+ vfio_cookie\.[a-z_]+\.wc_pmd_mapping_arrives_as_full_bursts' -- \
		--series naive --filter vfio-cookie
	expect "the naive patch fails the cookie column of the design comparison" 1 \
		"$BUILD_DIR/control-naive" \
		'not ok [0-9]+ design\.cookie\.wc_page' \
		'not ok [0-9]+ design\.cookie\.doorbell_and_window' \
		'not ok [0-9]+ design\.cookie\.uc_then_wc_same_page' \
		'(^|# |\] )ok [0-9]+ design\.cookie\.uc_page' -- \
		--series naive --iommu intel --filter wc-designs
	expect "the cookie fuzzer finds where the naive patch departs from the model" 1 \
		"$BUILD_DIR/control-naive" \
		'not ok [0-9]+ vfio_fuzz.legacy_noiommu.random_sequences_match_the_model' 'seed 1, legacy-noiommu, operation [0-9]+' -- \
		--series naive --iommu none --filter 'vfio-fuzz*'
	expect "stock 7.3 skips the cookie tests, tolerates its known warnings visibly, passes the rest" 0 \
		"$BUILD_DIR/control-none" \
		'(^|# |\] )ok [0-9]+ vfio_cookie\.[a-z_]+\.mission_uc_page_and_wc_window_of_one_bar # SKIP VFIO_DEVICE_GET_MMAP_COOKIE not supported' \
		'(^|# |\] )ok [0-9]+ vfio-fixed-offset' '(^|# |\] )ok [0-9]+ sysfs-memtype' \
		'# known stock-kernel warning tolerated: vfio-pci [0-9a-f:.]+: resetting \(known-stock-warnings.txt:[0-9]+: ' \
		'PASS: passed=[0-9]+ failed=0 skipped=[0-9]+ tolerated=[1-9]' \
		'(^|\] )ok [0-9]+ selftests/vfio/vfio_pci_device_test' -- \
		--series none
	expect "the known stock-kernel warnings fail a case on a kernel not marked stock" 1 \
		"$BUILD_DIR/control-none" \
		'not ok [0-9]+ vfio-contract # exit code 1' \
		'kernel log during the test:' '# vfio-pci [0-9a-f:.]+: resetting' 'tolerated=0' -- \
		--series none --iommu none --filter 'vfio-contract*' --append wctb.kernel=series
	expect "a device kept out of runtime suspend fails the runtime PM checks" 1 "$BUILD_DIR" \
		'not ok [0-9]+ vfio_runtime_pm.legacy_noiommu.low_power_entry_revokes_and_exit_refaults_with_types' \
		'not ok [0-9]+ vfio_runtime_pm.legacy_noiommu.wakeup_eventfd_fires_when_the_device_is_used' \
		"runtime_status stays 'active'" -- \
		--iommu none --filter 'vfio-runtime-pm*' --append WCTB_PM_STAY_AWAKE=1
	expect "mappings that low power does not revoke fail the runtime PM checks" 1 "$BUILD_DIR" \
		'not ok [0-9]+ vfio_runtime_pm.legacy_noiommu.low_power_entry_revokes_and_exit_refaults_with_types' \
		'fixed offset \(UC-\) still maps the device in low power' \
		'WC cookie still maps the device in low power' \
		'stores in low power reached the device' -- \
		--iommu none --filter 'vfio-runtime-pm*' --append WCTB_PM_SKIP_ENTRY=1
	expect "stock 6.12 fails the upstream selftest cases its known differences leave out" 1 \
		"$BUILD_DIR/stock-6.12" \
		'not ok [0-9]+ vfio_dma_map_limit_test.vfio_type1_iommu.overflow' \
		'not ok [0-9]+ selftests/vfio/vfio_dma_mapping_test # exit code 1' -- \
		--series none --kernel-base 6.12 --iommu intel \
		--filter 'selftests/vfio/vfio_dma_mapping_test' --append wctb.known-differences=0
	expect "a guest that lies about a counter fails the run" 1 "$BUILD_DIR" \
		'MISMATCH counters: guest says bar2-uc-writes=[0-9]+, the device counted' -- \
		--iommu none --filter enumerate --append wctb.inject=lie
	expect "a lost write fails the run" 1 "$BUILD_DIR" \
		'MISMATCH ledger: guest says bar2-writes=1024, the device counted 1023' -- \
		--iommu none --filter enumerate --append wctb.inject=lost-write
	expect "a WC half that does not combine fails the audit and the boot" 1 "$BUILD_DIR" \
		'audit: the WC half did not combine: the bytes do not add up' \
		'# audit: exit code 1' 'FAIL: passed=2 failed=1' -- \
		--iommu none --filter enumerate --qemu-arg -global --qemu-arg wc-testdev.wc-lines=0
	expect "a kernel warning during a contract case fails it" 1 "$BUILD_DIR" \
		'not ok [0-9]+ vfio_contract.legacy_noiommu.map_private_is_einval' \
		'not ok [0-9]+ vfio-contract # exit code 1; kernel reported: WARNING: wctb: injected warning' -- \
		--iommu none --filter vfio-contract --append WCTB_INJECT_KMSG=1
	expect "leaked mappings fail the memory growth check" 1 "$BUILD_DIR" \
		'not ok [0-9]+ vfio_lifetime.legacy_noiommu.thousands_of_cookies_and_mappings_do_not_grow_memory' \
		'(^|# |\] )ok [0-9]+ vfio_lifetime.legacy_noiommu.threads_racing_requests_mappings_and_closes' -- \
		--iommu none --filter vfio-lifetime --append WCTB_INJECT_LEAK=1
	expect_signal "a QEMU crash ends the run with a clear message" SEGV \
		'QEMU died from signal 11 \(SEGV\) before the guest reported a result' -- \
		--iommu none --append wctb.inject=hang --timeout 120
	expect_signal "QEMU killed from outside ends the run with a clear message" KILL \
		'QEMU died from signal 9 \(KILL\) before the guest reported a result' -- \
		--iommu none --append wctb.inject=hang --timeout 120
	WCTB_HOST_IGNORE_REQUESTS=1 expect "the hot-unplug case fails when the host ignores device_del" 1 \
		"$BUILD_DIR" \
		'not ok [0-9]+ vfio_unplug_hotplug.legacy_noiommu.unplug_with_live_mappings_then_readd' \
		'no device request within [0-9]+ s of device_del' \
		"ignoring the guest's request 'device_del wctd'" \
		'(^|# |\] )ok [0-9]+ vfio_unplug.legacy_noiommu.vfio_device_reset_under_writers' -- \
		--iommu none --filter 'vfio-unplug*'
	rm -rf "$BUILD_DIR/no-bc" && mkdir -p "$BUILD_DIR/no-bc"
	path_without bc "$BUILD_DIR/no-bc"
	PATH=$BUILD_DIR/no-bc expect "a missing build tool stops the run with a clear message" 3 \
		"$BUILD_DIR" 'packages installed, but not on PATH: bc \(package bc\)' \
		'run-vm: error: host setup failed' -- --iommu none --filter enumerate
	! selected "corrupt cache entries are rebuilt, not trusted" || corrupt_caches
	expect "corrupt cache entries are rebuilt, not trusted" 0 "$BUILD_DIR" \
		'build-kernel: cached .* is corrupt \(checksum mismatch\); rebuilding it' \
		'build-qemu: cached QEMU build in .* is corrupt \(checksum mismatch\); rebuilding it' \
		'PASS: passed=2' -- \
		--iommu none --filter enumerate
	expect "a filter that matches no test is a usage error" 3 "$BUILD_DIR" \
		"--filter 'no-such-test' matches no guest test; the tests are: .*enumerate" -- \
		--iommu none --filter no-such-test
	expect "an unwritable build directory is a usage error" 3 /proc/wctb-build \
		'--build-dir /proc/wctb-build: cannot create it or write to it' -- \
		--build-only
	expect "a --qemu without wc-testdev is a usage error" 3 "$BUILD_DIR" \
		"--qemu /bin/true: '/bin/true -device help' failed|--qemu /bin/true: this QEMU has no wc-testdev" -- \
		--build-only --qemu /bin/true
	echo "1..$COUNT"
	((FAILURES == 0))
}

main "$@"
