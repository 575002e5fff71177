// SPDX-License-Identifier: GPL-2.0
/*
 * Benchmark, not a test: guest MMIO store rate to every wc-testdev in the
 * VM, through its sysfs WC and UC mappings of BAR2.  Run by
 * qemu-hw/bench-mmio.sh with one device that models WC buffers and one that
 * only counts (wc-lines=0), so both figures come from the same run.
 * Prints one "bench:" line per device and mapping; WCTB_BENCH_SECONDS
 * (kernel command line) sets the time per measurement, default 2 s.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <time.h>

#include "wctb.h"

#define WINDOW	(64 << 10)	/* bytes written per pass */

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* 8-byte stores over a 64 KiB window until @seconds have passed. */
static void measure(const char *bdf, const char *file, unsigned int lines,
		    double seconds)
{
	volatile uint64_t *p;
	uint64_t stores = 0;
	double start, elapsed;
	size_t size, i;
	void *map;

	map = wctb_map_sysfs_resource(bdf, file, &size);
	if (map == MAP_FAILED) {
		printf("# %s %s: mmap failed\n", bdf, file);
		return;
	}
	p = map;
	start = now();
	do {
		for (i = 0; i < WINDOW / 8; i++)
			p[i] = i;
		stores += WINDOW / 8;
		elapsed = now() - start;
	} while (elapsed < seconds);
	printf("bench: device=%s wc-lines=%u mapping=%s stores=%llu seconds=%.3f "
	       "stores_per_s=%.0f\n", bdf, lines, file,
	       (unsigned long long)stores, elapsed, stores / elapsed);
	munmap(map, size);
}

int main(void)
{
	const char *env = getenv("WCTB_BENCH_SECONDS");
	double seconds = env ? atof(env) : 2.0;
	struct wctb_regs regs;
	struct dirent *e;
	uint64_t v, d;
	DIR *dir;

	dir = opendir("/sys/bus/pci/devices");
	if (!dir)
		return 1;
	while ((e = readdir(dir))) {
		if (e->d_name[0] == '.' ||
		    wctb_sysfs_u64(e->d_name, "vendor", &v) ||
		    wctb_sysfs_u64(e->d_name, "device", &d) ||
		    v != WC_TESTDEV_VENDOR_ID || d != WC_TESTDEV_DEVICE_ID)
			continue;
		if (wctb_regs_map_sysfs(&regs, e->d_name))
			continue;
		v = wctb_reg32(&regs, WC_TESTDEV_REG_WC_LINES);
		wctb_regs_unmap(&regs);
		measure(e->d_name, "resource2_wc", v, seconds);
		measure(e->d_name, "resource2", v, seconds);
	}
	closedir(dir);
	return 0;
}
