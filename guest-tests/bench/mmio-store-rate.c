// SPDX-License-Identifier: GPL-2.0
/*
 * Benchmark, not a test: guest MMIO store rate to every wc-testdev in the
 * VM, through its sysfs WC and UC mappings of BAR2.  Run by
 * host/bench-mmio.sh with one device that models WC buffers and one that
 * only counts (wc-lines=0), so both figures come from the same run.
 * Prints one "bench:" line per device and mapping, the median of 5
 * interleaved rounds; WCTB_BENCH_SECONDS (kernel command line) sets the
 * time per device and mapping, default 2 s.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <time.h>

#include "wctb.h"

#define WINDOW	(64 << 10)	/* bytes written per pass */

#define ROUNDS		5	/* interleaved, so that drift hits all alike */
#define MAX_DEVICES	4

static const char *const files[] = { "resource2_wc", "resource2" };

struct target {
	char bdf[32];
	unsigned int lines;
	double rate[2][ROUNDS];
};

/* 8-byte stores over a 64 KiB window for @seconds; returns stores/s. */
static double measure(const char *bdf, const char *file, double seconds)
{
	volatile uint64_t *p;
	uint64_t stores = 0;
	double start, elapsed;
	size_t size, i;
	void *map;

	map = wctb_map_sysfs_resource(bdf, file, &size);
	if (map == MAP_FAILED) {
		printf("# %s %s: mmap failed\n", bdf, file);
		return 0;
	}
	p = map;
	start = (wctb_now_ms() / 1e3);
	do {
		for (i = 0; i < WINDOW / 8; i++)
			p[i] = i;
		stores += WINDOW / 8;
		elapsed = (wctb_now_ms() / 1e3) - start;
	} while (elapsed < seconds);
	munmap(map, size);
	return stores / elapsed;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static int find_targets(struct target *t)
{
	struct wctb_regs regs;
	struct dirent *e;
	uint64_t v, d;
	int n = 0;
	DIR *dir;

	dir = opendir("/sys/bus/pci/devices");
	if (!dir)
		return 0;
	while ((e = readdir(dir)) && n < MAX_DEVICES) {
		if (e->d_name[0] == '.' ||
		    wctb_sysfs_u64(e->d_name, "vendor", &v) ||
		    wctb_sysfs_u64(e->d_name, "device", &d) ||
		    v != WC_TESTDEV_VENDOR_ID || d != WC_TESTDEV_DEVICE_ID)
			continue;
		if (wctb_regs_map_sysfs(&regs, e->d_name))
			continue;
		snprintf(t[n].bdf, sizeof(t[n].bdf), "%s", e->d_name);
		t[n].lines = wctb_reg32(&regs, WC_TESTDEV_REG_WC_LINES);
		wctb_regs_unmap(&regs);
		n++;
	}
	closedir(dir);
	return n;
}

int main(void)
{
	const char *env = getenv("WCTB_BENCH_SECONDS");
	double seconds = (env ? atof(env) : 2.0) / ROUNDS;
	struct target t[MAX_DEVICES];
	int n, r, i, f;

	n = find_targets(t);
	for (r = 0; r < ROUNDS; r++)
		for (i = 0; i < n; i++)
			for (f = 0; f < 2; f++)
				t[i].rate[f][r] = measure(t[i].bdf, files[f], seconds);
	for (i = 0; i < n; i++) {
		for (f = 0; f < 2; f++) {
			qsort(t[i].rate[f], ROUNDS, sizeof(double), cmp_double);
			printf(WCTB_PORT_BENCH ": device=%s wc-lines=%u mapping=%s rounds=%d "
			       "stores_per_s=%.0f\n", t[i].bdf, t[i].lines, files[f],
			       ROUNDS, t[i].rate[f][ROUNDS / 2]);
		}
	}
	return n ? 0 : 1;
}
