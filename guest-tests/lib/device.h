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
void wctb_reset_counters(const struct wctb_regs *r);
uint64_t wctb_counter(const struct wctb_regs *r, unsigned int aperture,
		      unsigned int counter);

/*
 * 1 if the device counts writes by memory type (FEATURES.MEMTYPE: the
 * accelerator computes memory types, i.e. TCG), 0 if every write counts
 * as of unknown type (KVM).
 */
int wctb_device_sees_memtypes(const struct wctb_regs *r);

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
