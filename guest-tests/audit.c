// SPDX-License-Identifier: GPL-2.0
/*
 * The counter audit, run by init after the tests (not a test itself):
 * reset the counters, write AUDIT_LINES lines through sysfs resource2
 * (UC) and as many through resource2_wc (WC), and report that ledger and
 * every counter as read through BAR0 (which drains the WC buffers first)
 * on the results port, as WCTB_PORT_LEDGER and WCTB_PORT_COUNTERS
 * records (lib/port.h).  The host compares both with the device's own
 * counters over QMP.  When the device sees memory types
 * (FEATURES.MEMTYPE: TCG), the ledger also claims the type of each half
 * (UC writes; WC stores and bytes), and the audit checks that the WC half
 * combined into 64-byte lines: all of them, or pieces that drain events
 * account for (wctb_check_bursts(): on an SMP guest a timer interrupt in
 * the middle of a line sends it in two; the host still compares every
 * counter the audit read).
 *
 * Usage: wctb-audit [--inject lie|lost-write]
 *   lie         report BAR2's uc-writes one higher than read
 *   lost-write  claim one store more than it made
 * (the host's negative controls: its checks must notice both).
 * Exit status 0, or 1 if the device could not be mapped or the WC half
 * did not combine (init fails the boot; the records are written anyway).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

#include "wctb.h"

#define AUDIT_LINES	64	/* per mapping: 512 stores of 8 bytes each */

/* Store @lines lines into BAR2 page @page through sysfs file @file. */
static int audit_write(const char *bdf, const char *file, int page, int lines,
		       int drop_last)
{
	volatile uint64_t *p;
	size_t size;
	int i, n = lines * WCTB_LINE_WORDS;
	void *base = wctb_map_sysfs_resource(bdf, file, &size);

	if (base == MAP_FAILED) {
		fprintf(stderr, "audit: mmap %s: %s\n", file, strerror(errno));
		return -errno;
	}
	p = (volatile uint64_t *)((char *)base + page * PAGE);
	for (i = 0; i < n - drop_last; i++)
		p[i] = 0xa0d17000u + i;
	munmap(base, size);
	return 0;
}

static int report_counters(const struct wctb_regs *r, int lie)
{
	static const char *const cnames[] = WC_TESTDEV_COUNTER_NAMES;
	static const char *const anames[] = WC_TESTDEV_APERTURE_NAMES;
	char line[4096];
	size_t used = 0;
	unsigned int a, c;
	uint64_t v;

	for (a = 0; a < WC_TESTDEV_NUM_APERTURES; a++) {
		for (c = 0; c < WC_TESTDEV_NUM_COUNTERS; c++) {
			v = wctb_counter(r, a, c);
			if (lie && a == WC_TESTDEV_APERTURE_PREF &&
			    c == WC_TESTDEV_CNT_UC_WRITES)
				v++;
			used += snprintf(line + used, sizeof(line) - used,
					 " %s-%s=%llu", anames[a], cnames[c],
					 (unsigned long long)v);
		}
	}
	return wctb_port_record(WCTB_PORT_COUNTERS ":%s\n", line);
}

int main(int argc, char **argv)
{
	const char *inject = argc == 3 && !strcmp(argv[1], "--inject") ?
			     argv[2] : "";
	int lie = !strcmp(inject, "lie"), lost = !strcmp(inject, "lost-write");
	const char *bdf = wctb_device();
	char memtypes[160] = "", why[512] = "";
	int ret, combined = 1;
	struct wctb_regs r;

	if (argc != 1 && !lie && !lost) {
		fprintf(stderr, "usage: %s [--inject lie|lost-write]\n", argv[0]);
		return 2;
	}
	if (!bdf) {
		fprintf(stderr, "audit: wc-testdev not found\n");
		return 1;
	}
	ret = wctb_regs_map_sysfs(&r, bdf);
	if (ret) {
		fprintf(stderr, "audit: mmap resource0: %s\n", strerror(-ret));
		return 1;
	}
	wctb_reset_counters(&r);
	if (audit_write(bdf, "resource2", 0, AUDIT_LINES, 0) ||
	    audit_write(bdf, "resource2_wc", 1, AUDIT_LINES, lost)) {
		wctb_regs_unmap(&r);
		return 1;
	}
	/*
	 * Each half as its mapping says.  Not how many full bursts: an
	 * interrupt in the middle of a line splits it (the device counts
	 * that as drain-interrupt), so bursts are a result, not a claim.
	 * The audit checks the result itself: whole lines, or pieces that
	 * the drain counters account for.
	 */
	if (wctb_device_sees_memtypes(&r)) {
		snprintf(memtypes, sizeof(memtypes),
			 " bar2-uc-writes=%d bar2-wc-stores=%d bar2-wc-bytes=%d",
			 AUDIT_LINES * WCTB_LINE_WORDS,
			 AUDIT_LINES * WCTB_LINE_WORDS, AUDIT_LINES * LINE);
		combined = !wctb_check_bursts(&r, WC_TESTDEV_APERTURE_PREF,
					      AUDIT_LINES - lost, lost,
					      AUDIT_LINES * LINE - 8 * lost,
					      why, sizeof(why));
		fprintf(combined ? stdout : stderr, "audit: %s: %s\n",
			combined ? "the WC half combined" :
			"the WC half did not combine", why);
	}
	ret = wctb_port_record(WCTB_PORT_LEDGER ": bar2-writes=%d "
			       "bar2-write-bytes=%d bar4-writes=0 "
			       "bar4-write-bytes=0%s\n",
			       2 * AUDIT_LINES * WCTB_LINE_WORDS,
			       2 * AUDIT_LINES * LINE, memtypes);
	if (!ret)
		ret = report_counters(&r, lie);
	if (ret)
		fprintf(stderr, "audit: writing to the results port: %s\n",
			strerror(-ret));
	wctb_regs_unmap(&r);
	return ret || !combined ? 1 : 0;
}
