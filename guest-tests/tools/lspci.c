// SPDX-License-Identifier: GPL-2.0
/*
 * wctb-lspci: an lspci-style listing for the --shell.  Runs busybox's
 * lspci where the busybox has one (/bin/lspci), else lists every PCI
 * device from sysfs: "BDF class VENDOR:DEVICE driver", then with -v its
 * memory BARs (address, size, 64-bit, prefetchable).
 */
#include <dirent.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "wctb.h"

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void show_bars(const char *bdf)
{
	uint64_t start, end, flags;
	int bar;

	for (bar = 0; bar < 6; bar++) {
		if (wctb_sysfs_resource(bdf, bar, &start, &end, &flags) ||
		    !(flags & (IORESOURCE_MEM | IORESOURCE_IO)) || !end)
			continue;
		printf("\tRegion %d: %s at %#" PRIx64 " [size=%" PRIu64 "K]%s%s\n",
		       bar, flags & IORESOURCE_MEM ? "Memory" : "I/O ports",
		       start, (end - start + 1) >> 10,
		       flags & IORESOURCE_MEM_64 ? " 64-bit" : "",
		       flags & IORESOURCE_MEM ? flags & IORESOURCE_PREFETCH ?
		       " prefetchable" : " non-prefetchable" : "");
	}
}

int main(int argc, char **argv)
{
	int verbose = argc > 1 && !strcmp(argv[1], "-v");
	uint64_t class, vendor, device;
	char *names[256], drv[64];
	struct dirent *e;
	int n = 0, i;
	DIR *d;

	if (!access("/bin/lspci", X_OK)) {
		execv("/bin/lspci", argv);
		perror("/bin/lspci");
	}
	d = opendir(WCTB_PCI_DEVICES);
	if (!d) {
		perror(WCTB_PCI_DEVICES);
		return 1;
	}
	while ((e = readdir(d)) && n < 256)
		if (e->d_name[0] != '.')
			names[n++] = strdup(e->d_name);
	closedir(d);
	qsort(names, n, sizeof(*names), name_cmp);
	for (i = 0; i < n; i++) {
		if (wctb_sysfs_u64(names[i], "class", &class) ||
		    wctb_sysfs_u64(names[i], "vendor", &vendor) ||
		    wctb_sysfs_u64(names[i], "device", &device))
			continue;
		if (wctb_sysfs_link_name(names[i], "driver", drv, sizeof(drv)))
			snprintf(drv, sizeof(drv), "-");
		printf("%s %04" PRIx64 ": %04" PRIx64 ":%04" PRIx64 " %s%s\n",
		       names[i], class >> 8, vendor, device, drv,
		       vendor == WC_TESTDEV_VENDOR_ID &&
		       device == WC_TESTDEV_DEVICE_ID ? " (wc-testdev)" : "");
		if (verbose)
			show_bars(names[i]);
	}
	return 0;
}
