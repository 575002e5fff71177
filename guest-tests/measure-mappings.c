// SPDX-License-Identifier: GPL-2.0
/*
 * Measurements for run-vm.sh --report (not a test: it judges nothing).
 *
 * For each way of mapping wc-testdev's prefetchable BAR2 (sysfs resource2
 * and resource2_wc, the VFIO fixed offset, a UC and a WC mmap cookie, and
 * a 2 MiB-aligned WC cookie mapping), write one 4 KiB page with 512 8-byte
 * stores and print what the device counted (the drain reasons too), the
 * memory type the kernel's PAT bookkeeping recorded and the page-table
 * level of the mapping:
 *
 *   wctb-measure: mapping=NAME status=ok uc-writes=N ... pat=TYPE leaf=pte
 *   wctb-measure: mapping=NAME status=unavailable reason="..."
 *
 * Then the doorbell pattern of a userspace driver in the device's weak
 * order (FEAT_WEAK): the same page as 64 descriptors of one line each
 * through the WC cookie, each followed by a doorbell write to a UC cookie
 * page of the same BAR, once with an SFENCE before each doorbell
 * (doorbell-sfence) and once without (doorbell-no-fence):
 * doorbell-early counts the doorbells that overtook their descriptor.
 */
#include <errno.h>
#include <immintrin.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "wctb.h"

struct ctx {
	const char *bdf;
	struct wctb_vfio v;
	struct wctb_regs regs;
	uint64_t bar_start;	/* physical address of BAR2 */
	int cookies;		/* 1, or 0 with @why */
	uint64_t uc_off, wc_off, size;
	char why[128];
};

static void unavailable(const char *mapping, const char *why)
{
	printf(WCTB_PORT_MEASURE ": mapping=%s status=unavailable reason=\"%s\"\n",
	       mapping, why);
}

/*
 * Print what the device counted since the reset for the page at @p
 * (physical BAR2 offset @bar_off) of @mapping.
 */
static void print_measure(struct ctx *c, const char *mapping,
			  volatile uint8_t *p, uint64_t bar_off)
{
	static const unsigned int counters[] = {
		WC_TESTDEV_CNT_UC_WRITES, WC_TESTDEV_CNT_WC_STORES,
		WC_TESTDEV_CNT_FULL_BURSTS, WC_TESTDEV_CNT_PARTIAL_BURSTS,
		WC_TESTDEV_CNT_PARTIAL_BYTES, WC_TESTDEV_CNT_BUS_TXNS,
		WC_TESTDEV_CNT_BUS_BYTES, WC_TESTDEV_CNT_DRAIN_FENCE,
		WC_TESTDEV_CNT_DRAIN_SERIALIZE, WC_TESTDEV_CNT_DRAIN_LOCK,
		WC_TESTDEV_CNT_DRAIN_INTERRUPT, WC_TESTDEV_CNT_DRAIN_UC_OTHER,
		WC_TESTDEV_CNT_DRAIN_DEVICE, WC_TESTDEV_CNT_DRAIN_EVICT,
		WC_TESTDEV_CNT_DRAIN_FULL, WC_TESTDEV_CNT_DOORBELL_EARLY,
	};
	static const char *const names[] = WC_TESTDEV_COUNTER_NAMES;
	char pat[64] = "none", line[256] = "";
	unsigned int i;

	if (wctb_pat_memtype(c->bar_start + bar_off,
			     c->bar_start + bar_off + PAGE, pat, sizeof(pat)))
		snprintf(pat, sizeof(pat), "none");
	wctb_ptdump_line(p, line, sizeof(line));
	printf(WCTB_PORT_MEASURE ": mapping=%s status=ok", mapping);
	for (i = 0; i < sizeof(counters) / sizeof(counters[0]); i++)
		printf(" %s=%llu", names[counters[i]], (unsigned long long)
		       wctb_counter(&c->regs, AP, counters[i]));
	printf(" last-write-type=%s pat=%s leaf=%s\n",
	       wctb_memtype_name(wctb_counter(&c->regs, AP,
					      WC_TESTDEV_CNT_LAST_WRITE_TYPE)),
	       pat, strstr(line, " pmd") ? "pmd" : "pte");
}

/* Write the page at @p (physical BAR2 offset @bar_off) and print the line. */
static void measure(struct ctx *c, const char *mapping, volatile uint8_t *p,
		    uint64_t bar_off)
{
	unsigned int i;

	wctb_reset_counters(&c->regs);
	for (i = 0; i < PAGE / LINE; i++)
		wctb_store_line(p + LINE * i, i);
	print_measure(c, mapping, p, bar_off);
}

/*
 * In weak order: the page at BAR2 page 1 as 64 one-line descriptors
 * through the WC cookie, each followed by a doorbell write to BAR2 page 0
 * through the UC cookie, with an SFENCE in between if @fence.
 */
static void doorbell(struct ctx *c, const char *name, int fence)
{
	volatile uint8_t *uc = wctb_map(c->v.device, c->uc_off, PAGE);
	volatile uint8_t *wc = wctb_map(c->v.device, c->wc_off + PAGE, PAGE);
	char why[96];
	unsigned int i;

	if (uc == MAP_FAILED || wc == MAP_FAILED) {
		snprintf(why, sizeof(why), "mmap: %s", strerror(errno));
		unavailable(name, why);
	} else {
		wctb_set_weak_order(&c->regs, 1, 1);
		wctb_reset_counters(&c->regs);
		for (i = 0; i < PAGE / LINE; i++) {
			wctb_store_line(wc + LINE * i, i);
			if (fence)
				_mm_sfence();
			*(volatile uint64_t *)uc = i;
		}
		print_measure(c, name, wc, PAGE);
		wctb_set_weak_order(&c->regs, 0, 0);
	}
	if (wc != MAP_FAILED)
		munmap((void *)wc, PAGE);
	if (uc != MAP_FAILED)
		munmap((void *)uc, PAGE);
}

static void sysfs_mapping(struct ctx *c, const char *file)
{
	size_t size;
	void *p = wctb_map_sysfs_resource(c->bdf, file, &size);

	if (p == MAP_FAILED) {
		unavailable(file, strerror(errno));
		return;
	}
	measure(c, file, p, 0);
	munmap(p, size);
}

static void vfio_mapping(struct ctx *c, const char *name, uint64_t off,
			 int huge)
{
	size_t len = huge ? c->size : PAGE;
	uint64_t page = huge ? SZ_2M : 0;
	char why[96];
	void *p;

	if (huge && c->size < 2 * SZ_2M) {
		unavailable(name, "BAR2 smaller than 4 MiB");
		return;
	}
	/* Huge: a 2 MiB-aligned address, so that PMDs can map it. */
	p = huge ? wctb_map_aligned(c->v.device, off, len, SZ_2M) :
		   wctb_map(c->v.device, off, len);
	if (p == MAP_FAILED) {
		snprintf(why, sizeof(why), "mmap: %s", strerror(errno));
		unavailable(name, why);
		return;
	}
	measure(c, name, (volatile uint8_t *)p + page, page);
	munmap(p, len);
}

static int setup(struct ctx *c)
{
	uint64_t end, flags;
	uint32_t mflags = 0;
	int ret;

	c->bdf = wctb_device();
	if (!c->bdf || wctb_sysfs_resource(c->bdf, WC_TESTDEV_BAR_PREF,
					   &c->bar_start, &end, &flags)) {
		fprintf(stderr, "wc-testdev not found\n");
		return -1;
	}
	ret = wctb_vfio_open(&c->v, c->bdf, NULL);
	if (!ret)
		ret = wctb_regs_map_sysfs(&c->regs, c->bdf);
	if (ret) {
		fprintf(stderr, "opening wc-testdev: %s\n", strerror(-ret));
		return ret;
	}
	ret = wctb_mmap_cookie(c->v.device, WC_TESTDEV_BAR_PREF, &mflags, 0,
			       &c->uc_off, &c->size);
	mflags = VFIO_MMAP_FLAG_WC;
	if (!ret)
		ret = wctb_mmap_cookie(c->v.device, WC_TESTDEV_BAR_PREF,
				       &mflags, 0, &c->wc_off, NULL);
	c->cookies = !ret;
	if (ret) {
		snprintf(c->why, sizeof(c->why), "VFIO_DEVICE_GET_MMAP_COOKIE: %s",
			 strerror(-ret));
		c->size = end - c->bar_start + 1;
	}
	return 0;
}

int main(void)
{
	struct ctx c = { 0 };

	if (setup(&c))
		return 1;
	/* Each mapping alone, so that no PAT aliasing mixes them up. */
	sysfs_mapping(&c, "resource2");
	sysfs_mapping(&c, "resource2_wc");
	vfio_mapping(&c, "vfio-legacy", WCTB_FIXED_OFFSET(BAR2), 0);
	if (c.cookies) {
		vfio_mapping(&c, "uc-cookie", c.uc_off, 0);
		vfio_mapping(&c, "wc-cookie", c.wc_off, 0);
		vfio_mapping(&c, "wc-cookie-2m", c.wc_off, 1);
	} else {
		unavailable("uc-cookie", c.why);
		unavailable("wc-cookie", c.why);
		unavailable("wc-cookie-2m", c.why);
	}
	if (!wctb_device_has(&c.regs, WC_TESTDEV_FEAT_WEAK)) {
		unavailable("doorbell-sfence", "device without FEAT_WEAK");
		unavailable("doorbell-no-fence", "device without FEAT_WEAK");
	} else if (c.cookies) {
		doorbell(&c, "doorbell-sfence", 1);
		doorbell(&c, "doorbell-no-fence", 0);
	} else {
		unavailable("doorbell-sfence", c.why);
		unavailable("doorbell-no-fence", c.why);
	}
	wctb_regs_unmap(&c.regs);
	wctb_vfio_close(&c.v);
	return 0;
}
