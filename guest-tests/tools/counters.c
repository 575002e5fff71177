// SPDX-License-Identifier: GPL-2.0
/*
 * wctb-counters: print wc-testdev's counters, for the --shell.
 *
 * Usage: wctb-counters [--reset]
 * Reads BAR0 through sysfs resource0 (a read drains the WC buffers
 * first), one line per aperture and counter: "bar2 uc-writes 8".
 * --reset clears the counters after printing them.
 */
#include <stdio.h>
#include <string.h>

#include "wctb.h"

int main(int argc, char **argv)
{
	static const char *const cnames[] = WC_TESTDEV_COUNTER_NAMES;
	static const char *const anames[] = WC_TESTDEV_APERTURE_NAMES;
	int reset = argc == 2 && !strcmp(argv[1], "--reset");
	const char *bdf = wctb_device();
	struct wctb_regs r;
	unsigned int a, c;
	uint64_t v;
	int ret;

	if (argc > 1 && !reset) {
		fprintf(stderr, "usage: %s [--reset]\n", argv[0]);
		return 2;
	}
	if (!bdf) {
		fprintf(stderr, "wc-testdev not found\n");
		return 1;
	}
	ret = wctb_regs_map_sysfs(&r, bdf);
	if (ret) {
		fprintf(stderr, "%s resource0: %s\n", bdf, strerror(-ret));
		return 1;
	}
	printf("%s features %#x%s\n", bdf,
	       wctb_reg32(&r, WC_TESTDEV_REG_FEATURES),
	       wctb_device_sees_memtypes(&r) ? " (sees memory types)" : "");
	for (a = 0; a < WC_TESTDEV_NUM_APERTURES; a++)
		for (c = 0; c < WC_TESTDEV_NUM_COUNTERS; c++) {
			v = wctb_counter(&r, a, c);
			if (c == WC_TESTDEV_CNT_LAST_WRITE_TYPE ||
			    c == WC_TESTDEV_CNT_LAST_READ_TYPE)
				printf("%s %s %s\n", anames[a], cnames[c],
				       wctb_memtype_name(v));
			else
				printf("%s %s %llu\n", anames[a], cnames[c],
				       (unsigned long long)v);
		}
	if (reset)
		wctb_reset_counters(&r);
	wctb_regs_unmap(&r);
	return 0;
}
