/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The kernel log, read from /dev/kmsg, and the one rule for what in it
 * fails a test.  A record fails the test during which it was logged when
 *   - it reports a bug (a warning, BUG, Oops,
 *     KASAN, UBSAN, lockdep, kmemleak, list corruption or x86 PAT
 *     conflict report), at any level (some are logged at info level), or
 *   - it is logged at warning level or worse,
 * except
 *   - the notices VFIO prints by design for every noiommu device (its
 *     taint at binding, "vfio-noiommu device opened by user"), and
 *   - on a stock kernel, a warning (never a bug report) listed in
 *     known-stock-warnings.txt: tolerated, reported as WCTB_PORT_TOLERATED.
 * The session (each case) and init (each program, the audit) apply it.
 * The kernel's own boot is no test: its warning-level chatter (TSC
 * calibration, ACPI, cpufreq) precedes them all, so there only bug
 * reports count (WCTB_KMSG_BOOT).
 */
#ifndef WCTB_KMSG_H
#define WCTB_KMSG_H

#include <stddef.h>
#include <stdio.h>

/*
 * A /dev/kmsg fd positioned at the end of the log (@from_boot: at its
 * start), or -errno.
 */
int wctb_kmsg_open(int from_boot);

/*
 * The records logged since the last read of @fd that fail a test, one
 * per line into @buf (what fits); returns how many, or -errno.  Each
 * tolerated known stock-kernel warning is written to @tolerated as a
 * WCTB_PORT_TOLERATED "RECORD (ENTRY)" line and counted in *@ntolerated (when
 * not NULL).
 */
#define WCTB_KMSG_BOOT	1	/* @flags: the boot's records, bug reports only */
int wctb_kmsg_read(int fd, int flags, char *buf, size_t len, FILE *tolerated,
		   int *ntolerated);

/*
 * Known warnings of stock kernels (guest-tests/known-stock-warnings.txt,
 * README "Known warnings of stock kernels").  init exports the list's path
 * as $WCTB_KNOWN_WARNINGS only when the booted kernel is stock; only then
 * does the rule above tolerate anything (WCTB_PORT_TOLERATED: port.h).
 */

#endif /* WCTB_KMSG_H */
