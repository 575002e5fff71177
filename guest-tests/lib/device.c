// SPDX-License-Identifier: GPL-2.0
/* wc-testdev's registers and counters; see device.h. */
#include <errno.h>
#include <stdio.h>
#include <sys/mman.h>

#include "wctb.h"

int wctb_regs_map(struct wctb_regs *r, int device)
{
	struct vfio_region_info info;
	void *p;
	int ret;

	ret = wctb_region_info(device, VFIO_PCI_BAR0_REGION_INDEX, &info);
	if (ret)
		return ret;
	p = wctb_map(device, info.offset, info.size);
	if (p == MAP_FAILED)
		return -errno;
	r->base = p;
	r->size = info.size;
	return 0;
}

int wctb_regs_map_sysfs(struct wctb_regs *r, const char *bdf)
{
	void *p = wctb_map_sysfs_resource(bdf, "resource0", &r->size);

	if (p == MAP_FAILED)
		return -errno;
	r->base = p;
	return 0;
}

void wctb_regs_unmap(struct wctb_regs *r)
{
	if (r->base)
		munmap((void *)r->base, r->size);
	r->base = NULL;
}

uint32_t wctb_reg32(const struct wctb_regs *r, unsigned int off)
{
	return *(volatile uint32_t *)(r->base + off);
}

uint64_t wctb_reg64(const struct wctb_regs *r, unsigned int off)
{
	return *(volatile uint64_t *)(r->base + off);
}

void wctb_reset_counters(const struct wctb_regs *r)
{
	*(volatile uint32_t *)(r->base + WC_TESTDEV_REG_CONTROL) =
		WC_TESTDEV_CTRL_RESET_COUNTERS;
}

uint64_t wctb_counter(const struct wctb_regs *r, unsigned int aperture,
		      unsigned int counter)
{
	return wctb_reg64(r, WC_TESTDEV_REG_COUNTERS(aperture) + 8 * counter);
}

int wctb_device_sees_memtypes(const struct wctb_regs *r)
{
	return !!(wctb_reg32(r, WC_TESTDEV_REG_FEATURES) &
		  WC_TESTDEV_FEAT_MEMTYPE);
}

void wctb_store_line(volatile void *p, uint64_t seed)
{
	volatile uint64_t *q = p;
	unsigned int i;

	for (i = 0; i < WCTB_LINE_WORDS; i++)
		q[i] = seed + i;
}

int wctb_line_matches(const volatile void *p, uint64_t seed)
{
	const volatile uint64_t *q = p;
	unsigned int i;

	for (i = 0; i < WCTB_LINE_WORDS; i++)
		if (q[i] != seed + i)
			return 0;
	return 1;
}

const char *wctb_memtype_name(uint64_t type)
{
	static const char *const names[] = {
		[WC_TESTDEV_MEMTYPE_UNKNOWN] = "unknown",
		[WC_TESTDEV_MEMTYPE_UC] = "UC",
		[WC_TESTDEV_MEMTYPE_UC_MINUS] = "UC-",
		[WC_TESTDEV_MEMTYPE_WC] = "WC",
		[WC_TESTDEV_MEMTYPE_WT] = "WT",
		[WC_TESTDEV_MEMTYPE_WP] = "WP",
		[WC_TESTDEV_MEMTYPE_WB] = "WB",
	};

	return type < sizeof(names) / sizeof(names[0]) ? names[type] : "invalid";
}

const char *wctb_counters_summary(const struct wctb_regs *r,
				  unsigned int aperture, char *buf, size_t len)
{
	static const char *const names[] = WC_TESTDEV_COUNTER_NAMES;
	size_t used = 0;
	unsigned int c;
	uint64_t v;

	buf[0] = '\0';
	for (c = 0; c < WC_TESTDEV_NUM_COUNTERS && used < len; c++) {
		v = wctb_counter(r, aperture, c);
		if (c == WC_TESTDEV_CNT_LAST_WRITE_TYPE ||
		    c == WC_TESTDEV_CNT_LAST_READ_TYPE)
			used += snprintf(buf + used, len - used, "%s%s %s",
					 c ? " " : "", names[c],
					 wctb_memtype_name(v));
		else
			used += snprintf(buf + used, len - used, "%s%s %llu",
					 c ? " " : "", names[c],
					 (unsigned long long)v);
	}
	return buf;
}
