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

void wctb_reg32_write(const struct wctb_regs *r, unsigned int off,
		      uint32_t val)
{
	*(volatile uint32_t *)(r->base + off) = val;
}

void wctb_reg64_write(const struct wctb_regs *r, unsigned int off,
		      uint64_t val)
{
	*(volatile uint64_t *)(r->base + off) = val;
}

void wctb_reset_counters(const struct wctb_regs *r)
{
	wctb_reg32_write(r, WC_TESTDEV_REG_CONTROL,
			 WC_TESTDEV_CTRL_RESET_COUNTERS);
}

uint64_t wctb_counter(const struct wctb_regs *r, unsigned int aperture,
		      unsigned int counter)
{
	return wctb_reg64(r, WC_TESTDEV_REG_COUNTERS(aperture) + 8 * counter);
}

void wctb_counters_read(const struct wctb_regs *r, unsigned int aperture,
			uint64_t *c)
{
	unsigned int i;

	for (i = 0; i < WC_TESTDEV_NUM_COUNTERS; i++)
		c[i] = wctb_counter(r, aperture, i);
}

int wctb_device_has(const struct wctb_regs *r, uint32_t feat)
{
	return (wctb_reg32(r, WC_TESTDEV_REG_FEATURES) & feat) == feat;
}

int wctb_device_sees_memtypes(const struct wctb_regs *r)
{
	return wctb_device_has(r, WC_TESTDEV_FEAT_MEMTYPE);
}

void wctb_set_weak_order(const struct wctb_regs *r, int on, uint64_t seed)
{
	wctb_reg64_write(r, WC_TESTDEV_REG_WEAK_SEED, seed);
	wctb_reg32_write(r, WC_TESTDEV_REG_WEAK, on ? WC_TESTDEV_WEAK_ORDER : 0);
}

uint64_t wctb_cpu_drains(const uint64_t *c)
{
	return c[WC_TESTDEV_CNT_DRAIN_FENCE] + c[WC_TESTDEV_CNT_DRAIN_SERIALIZE] +
	       c[WC_TESTDEV_CNT_DRAIN_LOCK] + c[WC_TESTDEV_CNT_DRAIN_INTERRUPT] +
	       c[WC_TESTDEV_CNT_DRAIN_UC_OTHER];
}

uint64_t wctb_drains(const uint64_t *c)
{
	return wctb_cpu_drains(c) + c[WC_TESTDEV_CNT_DRAIN_DEVICE] +
	       c[WC_TESTDEV_CNT_DRAIN_EVICT] + c[WC_TESTDEV_CNT_DRAIN_FULL];
}

/* What is wrong with counters @c against the expectation, or NULL. */
static const char *bursts_wrong(const uint64_t *c, int drain_events,
				unsigned int full_lines,
				unsigned int partial_lines, uint64_t bytes)
{
	uint64_t full = c[WC_TESTDEV_CNT_FULL_BURSTS];
	uint64_t partial = c[WC_TESTDEV_CNT_PARTIAL_BURSTS];
	uint64_t split;

	if (full * WCTB_LINE_SIZE + c[WC_TESTDEV_CNT_PARTIAL_BYTES] != bytes)
		return "the bytes do not add up";
	if (full > full_lines)
		return "more full bursts than whole lines stored";
	if (!drain_events)
		return full == full_lines && partial == partial_lines ? NULL :
		       "lines cut up, but only device accesses drain here";
	split = full_lines - full;
	if (full + partial != wctb_drains(c))
		return "deliveries and drain reasons do not match";
	if (c[WC_TESTDEV_CNT_DRAIN_FULL] != full)
		return "a full burst was not sent as a completed line";
	if (partial < partial_lines + 2 * split)
		return "a cut line arrived in fewer than two pieces";
	if (partial - partial_lines - split > wctb_cpu_drains(c))
		return "more pieces than drain events of the CPU explain";
	return NULL;
}

int wctb_check_bursts(const struct wctb_regs *r, unsigned int aperture,
		      unsigned int full_lines, unsigned int partial_lines,
		      uint64_t bytes, char *why, size_t len)
{
	int drain_events = wctb_device_has(r, WC_TESTDEV_FEAT_DRAIN_EVENTS);
	uint64_t c[WC_TESTDEV_NUM_COUNTERS];
	const char *wrong;

	wctb_counters_read(r, aperture, c);
	wrong = bursts_wrong(c, drain_events, full_lines, partial_lines, bytes);
	snprintf(why, len, "%s%sexpected %u full + %u partial lines (%llu "
		 "bytes), got %llu full + %llu partial bursts (%llu bytes); "
		 "drains: fence %llu serialize %llu lock %llu interrupt %llu "
		 "uc-other %llu device %llu evict %llu full %llu",
		 wrong ?: "", wrong ? ": " : "", full_lines, partial_lines,
		 (unsigned long long)bytes,
		 (unsigned long long)c[WC_TESTDEV_CNT_FULL_BURSTS],
		 (unsigned long long)c[WC_TESTDEV_CNT_PARTIAL_BURSTS],
		 (unsigned long long)c[WC_TESTDEV_CNT_PARTIAL_BYTES],
		 (unsigned long long)c[WC_TESTDEV_CNT_DRAIN_FENCE],
		 (unsigned long long)c[WC_TESTDEV_CNT_DRAIN_SERIALIZE],
		 (unsigned long long)c[WC_TESTDEV_CNT_DRAIN_LOCK],
		 (unsigned long long)c[WC_TESTDEV_CNT_DRAIN_INTERRUPT],
		 (unsigned long long)c[WC_TESTDEV_CNT_DRAIN_UC_OTHER],
		 (unsigned long long)c[WC_TESTDEV_CNT_DRAIN_DEVICE],
		 (unsigned long long)c[WC_TESTDEV_CNT_DRAIN_EVICT],
		 (unsigned long long)c[WC_TESTDEV_CNT_DRAIN_FULL]);
	return wrong ? -1 : 0;
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
