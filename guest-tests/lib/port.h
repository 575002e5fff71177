/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The results port: the guest's second UART (/dev/ttyS1), a socket of
 * host/vm.py on the host.  This comment is its specification; the keys
 * below are the only spelling of its line types, in C and (through
 * host/cheader.py, host/results_port.py) in the host's Python.
 *
 * Lines end in "\n" (the UART may add "\r"; readers drop it).  Nothing
 * else writes to the port.  Line types:
 *
 *   TAP ("TAP version 13", "1..N", "ok N NAME", "not ok N NAME # why",
 *   "# text")
 *	init: one "ok"/"not ok" per program, a program's own output as
 *	"# " lines before it (its nested kselftest TAP).  Read by
 *	host/tap-to-junit.py (JUnit), vm.py (the listing of the verdict).
 *   WCTB_PORT_PACE: "pace=P idle=S calibration-ms=M runs=N depth=D"
 *	init, first line.  P: this guest's slowdown against the reference
 *	machine; S: the idle allowance in seconds.  vm.py's watchdog.
 *   WCTB_PORT_START: "NAME budget=S"   WCTB_PORT_END: "NAME seconds=T"
 *	init, around each program or step.  vm.py's watchdog gives NAME S
 *	seconds plus the idle allowance; tap-to-junit.py takes T.
 *   WCTB_PORT_HOST: "REQUEST"
 *	a test (wctb_host_request()), then it waits for the effect: vm.py
 *	runs "device_del ID" or "device_add ID" over QMP, in order.
 *   WCTB_PORT_COUNTERS: "NAME=N ..." (every counter, as read via BAR0)
 *   WCTB_PORT_LEDGER: "NAME=N ..." (what the audit wrote)
 *	the audit, after the tests.  vm.py compares both with the device's
 *	counters read over QMP.
 *   WCTB_PORT_RESULT: "PASS|FAIL passed=N failed=N skipped=N tolerated=N"
 *	init, last; then the guest holds (wctb.hold=1) until vm.py, having
 *	read the device, quits QEMU.  vm.py's verdict starts from it.
 *   "# " WCTB_PORT_MEASURE ": NAME=VALUE ..." (inside a program's log)
 *	measure-mappings; read by run-vm.sh --report and make-report.py.
 *   "# " WCTB_PORT_TOLERATED ": LINE (FILE:N: WHY)"
 *	a test that tolerated a known stock-kernel warning; vm.py counts
 *	and lists them.
 */
#ifndef WCTB_PORT_H
#define WCTB_PORT_H

#define WCTB_PORT_PACE		"wctb-pace"
#define WCTB_PORT_START		"wctb-start"
#define WCTB_PORT_END		"wctb-end"
#define WCTB_PORT_RESULT	"wctb-result"
#define WCTB_PORT_COUNTERS	"wctb-counters"
#define WCTB_PORT_LEDGER	"wctb-ledger"
#define WCTB_PORT_HOST		"wctb-host"
#define WCTB_PORT_MEASURE	"wctb-measure"
#define WCTB_PORT_TOLERATED	"known stock-kernel warning tolerated"

#endif
