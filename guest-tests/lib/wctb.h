/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The wc-testbed guest library, split by job like selftests/vfio/lib:
 *   sysfs.h      the device in /sys/bus/pci: finding, binding, attributes
 *   vfio.h       VFIO access paths, cookies, REGION_INFO, mapping helpers
 *   device.h     wc-testdev's registers and counters
 *   kmsg.h       the kernel log, and the one rule for what fails a test
 *   session.h    what the VFIO tests start from and end with
 *   port.h       the results port and its protocol
 *   pace.h       time: the machine's pace, the run's depth, a clock
 *   introspect.h the kernel's own views: PAT list, page tables, meminfo
 *   list.h       the comment-titled lists (known warnings, differences)
 *
 * One error convention: a function that can fail returns 0 (or a
 * non-negative result) or -errno, and says what failed on stderr where
 * the errno alone would not.  The mapping helpers (wctb_map*()) are the
 * one exception: like mmap(2), they return MAP_FAILED with errno set.
 */
#ifndef WCTB_H
#define WCTB_H

#include <stddef.h>
#include <stdint.h>
#include <sys/mman.h>
#include <linux/vfio.h>

#include "wc-testdev.h"

#define WCTB_PAGE_SIZE		4096ul
#define WCTB_SZ_2M		(2ul << 20)
#define WCTB_LINE_SIZE		WC_TESTDEV_LINE_SIZE
/* The 8-byte stores that make up one line (wctb_store_line()). */
#define WCTB_LINE_WORDS		(WCTB_LINE_SIZE / 8)

/* The short names the tests use for the above and for the device. */
#define PAGE		WCTB_PAGE_SIZE
#define SZ_2M		WCTB_SZ_2M
#define LINE		WCTB_LINE_SIZE
#define RW		(PROT_READ | PROT_WRITE)
#define AP		WC_TESTDEV_APERTURE_PREF	/* BAR2's counters */
#define BAR2		WC_TESTDEV_BAR_PREF
#define BAR4		WC_TESTDEV_BAR_NONPREF

/* vfio-pci's fixed offset of region @index (what QEMU and DPDK use). */
#define WCTB_FIXED_OFFSET_SHIFT	40
#define WCTB_FIXED_OFFSET(index) \
	((uint64_t)(index) << WCTB_FIXED_OFFSET_SHIFT)
/*
 * Where kernel-patches/ hands out cookies (above every fixed offset).
 * This is the series' layout, not the uAPI contract: userspace must
 * treat a cookie as opaque; only tests that check the layout use it.
 */
#define WCTB_COOKIE_MIN		(1ull << 62)

#define WCTB_PCI_DEVICES	"/sys/bus/pci/devices"

#include "sysfs.h"
#include "vfio.h"
#include "device.h"
#include "kmsg.h"
#include "session.h"
#include "port.h"
#include "pace.h"
#include "introspect.h"
#include "list.h"

#endif /* WCTB_H */
