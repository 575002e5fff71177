/* SPDX-License-Identifier: GPL-2.0 */
/* wc-testdev's BAR0: registers, counters and what they mean. */
#ifndef WCTB_DEVICE_H
#define WCTB_DEVICE_H

#include <stddef.h>
#include <stdint.h>

/* BAR0 mapped through VFIO or sysfs, for the counters and registers. */
struct wctb_regs {
	volatile uint8_t *base;
	size_t size;
};

/* BAR0 of VFIO device file @device: 0 or -errno. */
int wctb_regs_map(struct wctb_regs *r, int device);
/* BAR0 through /sys/bus/pci/devices/BDF/resource0: 0 or -errno. */
int wctb_regs_map_sysfs(struct wctb_regs *r, const char *bdf);
void wctb_regs_unmap(struct wctb_regs *r);
uint32_t wctb_reg32(const struct wctb_regs *r, unsigned int off);
uint64_t wctb_reg64(const struct wctb_regs *r, unsigned int off);
void wctb_reg32_write(const struct wctb_regs *r, unsigned int off,
		      uint32_t val);
void wctb_reg64_write(const struct wctb_regs *r, unsigned int off,
		      uint64_t val);
void wctb_reset_counters(const struct wctb_regs *r);
uint64_t wctb_counter(const struct wctb_regs *r, unsigned int aperture,
		      unsigned int counter);
/* All WC_TESTDEV_NUM_COUNTERS counters of @aperture into @c, by index. */
void wctb_counters_read(const struct wctb_regs *r, unsigned int aperture,
			uint64_t *c);

/*
 * 1 if the device counts writes by memory type (FEATURES.MEMTYPE: the
 * accelerator computes memory types, i.e. TCG), 0 if every write counts
 * as of unknown type (KVM).
 */
int wctb_device_sees_memtypes(const struct wctb_regs *r);
/* 1 if the device has FEATURES bit @feat (WC_TESTDEV_FEAT_*). */
int wctb_device_has(const struct wctb_regs *r, uint32_t feat);

/*
 * Weak ordering (FEAT_WEAK, WC_TESTDEV_WEAK_ORDER): a UC write to an
 * aperture no longer drains the writing vCPU's WC buffers first, so WC
 * data without a fence arrives after it (DOORBELL_EARLY).  @seed orders
 * the late lines; a test that turns it on turns it off in its teardown.
 */
void wctb_set_weak_order(const struct wctb_regs *r, int on, uint64_t seed);

/*
 * Deliveries of WC data drained by an event of the CPU (DRAIN_FENCE,
 * _SERIALIZE, _LOCK, _INTERRUPT, _UC_OTHER) in a counter block @c
 * (wctb_counters_read()): not by an access to the device, an eviction or
 * a line completed.
 */
uint64_t wctb_cpu_drains(const uint64_t *c);
/* All DRAIN_* counters of @c: one per delivery, full or partial burst. */
uint64_t wctb_drains(const uint64_t *c);

/*
 * How a thread's WC stores to @aperture since the counters were reset
 * arrived, judged from the counters as this thread reads them now (which
 * drains its vCPU's buffers first): 0 if they are @full_lines whole lines
 * and @partial_lines partial ones (each in a line of its own), @bytes in
 * all, except where a drain event of the CPU (an interrupt, a fault,
 * kernel code on that vCPU, a migration's interrupt) cut a line into
 * pieces, which the counters must account for exactly:
 *   - FULL_BURSTS * 64 + PARTIAL_BYTES == @bytes, always;
 *   - at most @full_lines full bursts; each line short of that was cut
 *     (split), so it arrived as at least two partial bursts;
 *   - with FEAT_DRAIN_EVENTS, every delivery has one reason
 *     (FULL_BURSTS + PARTIAL_BURSTS == the DRAIN_* sum), the full bursts
 *     are DRAIN_FULL, and each piece beyond the last of its line was sent
 *     by a drain event of the CPU: PARTIAL_BURSTS - @partial_lines -
 *     split <= wctb_cpu_drains();
 *   - without FEAT_DRAIN_EVENTS only accesses to the device drain:
 *     exactly @full_lines full and @partial_lines partial bursts.
 * Not for weak ordering, where full lines wait for a drain event too.
 * -1 otherwise.  @why receives what arrived either way (and what is
 * wrong), for the test log.
 */
int wctb_check_bursts(const struct wctb_regs *r, unsigned int aperture,
		      unsigned int full_lines, unsigned int partial_lines,
		      uint64_t bytes, char *why, size_t len);

/* Eight 8-byte stores covering the 64-byte line at @p: @seed, @seed+1.. */
void wctb_store_line(volatile void *p, uint64_t seed);
/* 1 if the line at @p holds what wctb_store_line(@p, @seed) stored. */
int wctb_line_matches(const volatile void *p, uint64_t seed);

/* Name of a WC_TESTDEV_MEMTYPE_* value, for messages. */
const char *wctb_memtype_name(uint64_t type);

/*
 * One line with the counters of @aperture, for test logs, named as in
 * WC_TESTDEV_COUNTER_NAMES: "reads 0 read-bytes 0 writes 8 ...".
 */
const char *wctb_counters_summary(const struct wctb_regs *r,
				  unsigned int aperture, char *buf, size_t len);

#endif /* WCTB_DEVICE_H */
