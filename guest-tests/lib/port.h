/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The results port and its protocol, written down once.
 *
 * The port is the guest's second UART (/dev/ttyS1, raw), which carries
 * the run's results to the host and nothing else: the host's verdict
 * comes from it alone.  On the host it is a socket chardev owned by
 * host/vm.py, which saves it as results.tap (and each line's arrival as
 * results.times) in the boot's log directory.  It is ASCII text, one record per line ending in
 * "\n", never longer than 4095 bytes.  A record is one of:
 *
 * TAP 13, written by init, one test per program (and "kernel-log"):
 *	TAP version 13
 *	1..N
 *	ok N NAME
 *	ok N NAME # SKIP REASON
 *	not ok N NAME # REASON
 *	# TEXT
 *   read by host/tap-to-junit.py (JUnit), the host's verdict and
 *   host/negative-controls.sh.  NAME is the program's file name
 *   (extra-NAME for run-vm.sh --extra-test, selftests/vfio/NAME for the
 *   upstream VFIO selftests); it holds no space and no "#".
 *   "# TEXT" lines are diagnostics: everything a program prints (its own
 *   kselftest TAP included, "# ok 3 vfio_cookie.cdev_iommufd.NAME")
 *   comes through as "# " + the line, so a program's output can never
 *   pass for one of the records below.  Some diagnostics have a meaning
 *   of their own (prefixes below): WCTB_PORT_KNOWN_DIFFERENCE,
 *   WCTB_PORT_TOLERATED, WCTB_PORT_MEASURE and WCTB_PORT_BENCH lines.
 *
 * "wctb-" records, KEY: FIELD=VALUE ..., fields separated by one space,
 * values without spaces (run-vm.sh's names and numbers) unless noted:
 *
 * WCTB_PORT_PACE: pace=P idle=S calibration-ms=MS runs=N depth=D
 *   init, first line.  P: how many times slower than the reference this
 *   guest runs (two decimals); S: seconds the host allows init between
 *   steps.  Read by the host's watchdog (its boot budget ends here).
 * WCTB_PORT_START: NAME budget=S
 *   init, before each program and step: NAME may run S seconds.  Read by
 *   the watchdog and tap-to-junit.py (the step that was running).
 * WCTB_PORT_END: NAME seconds=T
 *   init, after it: T (two decimals) it took.  Read by the watchdog and
 *   tap-to-junit.py (durations).
 * WCTB_PORT_LEDGER: bar2-writes=N bar2-write-bytes=N bar4-writes=0 ...
 *   the audit (guest-tests/audit.c): what it wrote, per aperture and
 *   counter name (WC_TESTDEV_APERTURE_NAMES "-" WC_TESTDEV_COUNTER_NAMES);
 *   when the device sees memory types, also bar2-uc-writes=N
 *   bar2-wc-stores=N bar2-full-bursts=N.  Read by host/vm.py,
 *   which compares it with the device's QOM counters.
 * WCTB_PORT_COUNTERS: bar2-reads=N ... bar4-last-read-type=N
 *   the audit: every counter as read through BAR0, named as above.  Read
 *   by vm.py (must equal the QOM counters).
 * WCTB_PORT_HOST: REQUEST
 *   any program (wctb_host_request()): a request the host runs over QMP,
 *   WCTB_PORT_HOST_DEVICE_DEL or WCTB_PORT_HOST_DEVICE_ADD.  Read by
 *   vm.py.  No answer: the guest watches for the effect.
 * WCTB_PORT_RESULT: PASS|FAIL passed=N failed=N skipped=N tolerated=N
 *   init, last line: the run's own summary (tolerated: known stock-kernel
 *   warnings, README "Known warnings of stock kernels").  Read by the
 *   host (the run ended) and tap-to-junit.py.
 *
 * Diagnostics with a meaning, after the "# " of every diagnostic:
 * WCTB_PORT_KNOWN_DIFFERENCE K: PROG OPT ARG left out: TITLE
 *   init: an upstream selftest case left out on kernel K
 *   (known-selftest-differences.txt).  For people; nothing parses it.
 * WCTB_PORT_TOLERATED RECORD (FILE:LINE: TITLE)
 *   lib/kmsg.c (a test's session) and init ("# kernel: " before it): a
 *   known stock-kernel warning tolerated.  negative-controls.sh reads it.
 * WCTB_PORT_MEASURE: mapping=NAME status=ok COUNTER=N ... pat=T leaf=L
 * WCTB_PORT_MEASURE: mapping=NAME status=unavailable reason="TEXT"
 *   measure-mappings (run-vm.sh --report; TEXT holds no '"').  Read by
 *   host/make-report.py.
 * WCTB_PORT_BENCH: device=BDF wc-lines=N mapping=FILE rounds=N ...
 *   bench/mmio-store-rate (host/bench-mmio.sh reads it).
 *
 * The keys are plain string defines: the host's Python takes them from
 * this file (host/cheader.py read_defines()), so keep every define here
 * a plain constant.
 */
#ifndef WCTB_PORT_H
#define WCTB_PORT_H

#define WCTB_PORT_DEVICE		"/dev/ttyS1"

#define WCTB_PORT_PACE			"wctb-pace"
#define WCTB_PORT_START			"wctb-start"
#define WCTB_PORT_END			"wctb-end"
#define WCTB_PORT_LEDGER		"wctb-ledger"
#define WCTB_PORT_COUNTERS		"wctb-counters"
#define WCTB_PORT_HOST			"wctb-host"
#define WCTB_PORT_RESULT		"wctb-result"
#define WCTB_PORT_TAP_VERSION		"TAP version 13"
#define WCTB_PORT_DIAGNOSTIC		"# "

/* wc-testdev's QOM id, which host/vm.py gives it on QEMU's command line */
#define WCTB_PORT_DEVICE_ID		"wctd"
#define WCTB_PORT_HOST_DEVICE_DEL	"device_del " WCTB_PORT_DEVICE_ID
#define WCTB_PORT_HOST_DEVICE_ADD	"device_add " WCTB_PORT_DEVICE_ID

#define WCTB_PORT_KNOWN_DIFFERENCE	"known kernel difference on "
#define WCTB_PORT_TOLERATED		"known stock-kernel warning tolerated: "
#define WCTB_PORT_MEASURE		"wctb-measure"
#define WCTB_PORT_DESIGN		"wctb-design"
#define WCTB_PORT_BENCH			"bench"

/* init: open the results port (raw); 0 or -errno (then the console only). */
int wctb_port_open(void);

/* init: text to the console and the results port. */
void wctb_port_emit(const char *fmt, ...)
	__attribute__((format(printf, 1, 2)));

/*
 * Any program: a WCTB_PORT_HOST record with @request, written straight
 * to the port.  0 or -errno.
 */
int wctb_host_request(const char *request);

/*
 * Any program (the audit): one record, written straight to the port and
 * echoed on stdout (which init shows as a diagnostic).  0 or -errno.
 */
int wctb_port_record(const char *fmt, ...)
	__attribute__((format(printf, 1, 2)));

#endif /* WCTB_PORT_H */
