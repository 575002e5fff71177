/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Mapping providers: each proposed uAPI for write-combining BAR mappings
 * behind one interface, "give me a UC or a WC mapping of this range of
 * BAR2, or tell me why not", so that wc-designs.c runs the same cases
 * through every design the running kernel offers:
 *
 *   sysfs           /sys/bus/pci/devices/BDF/resource2 and resource2_wc
 *                   (the PCI core's files: code nobody here wrote)
 *   fixed-offset    vfio-pci's fixed offset (index << 40): UC only
 *   cookie          VFIO_DEVICE_GET_MMAP_COOKIE (kernel-patches/, ours)
 *   dmabuf-memattr  a vfio DMABUF of the range (VFIO_DEVICE_FEATURE_DMA_BUF)
 *                   with VFIO_DEVICE_FEATURE_DMA_BUF_MEMATTR, mmapped
 *                   (kernel-patches/alternatives/dmabuf-memattr/)
 *   bar-wc-flag     a per-BAR write-combining switch, then the fixed
 *                   offset (kernel-patches/alternatives/bar-wc-flag/)
 *
 * Each provider probes for its uAPI (by ioctl, never by kernel version),
 * so a --linux-src kernel with a real upstream series gets its rows.
 */
#ifndef WCTB_PROVIDER_H
#define WCTB_PROVIDER_H

#include <stddef.h>
#include <stdint.h>

#include "vfio.h"

enum wctb_want {
	WCTB_WANT_UC,
	WCTB_WANT_WC,
};

/* "UC" or "WC". */
const char *wctb_want_name(enum wctb_want want);

#define WCTB_PROVIDER_MAX_FDS	16

struct wctb_provider {
	const struct wctb_provider_ops *ops;
	const char *bdf;
	uint64_t bar_size;		/* BAR2 */
	struct wctb_vfio v;		/* the VFIO providers' device */
	int vfio_open;
	/* Files the provider opened for mappings (sysfs files, DMABUFs). */
	int fds[WCTB_PROVIDER_MAX_FDS];
	unsigned int nfds;
	/* cookie: BAR2's UC and WC cookies */
	uint64_t uc_cookie, wc_cookie;
	/* bar-wc-flag: the flag was set on BAR2 */
	int wc_flag_set;
	/*
	 * The last wctb_provider_map() asked for WC of a design without WC
	 * mappings (ops->no_wc): errno EOPNOTSUPP then means n/a, not a
	 * refusal.
	 */
	int na;
	/* Why the last call failed, for the test log. */
	char why[192];
};

struct wctb_provider_ops {
	const char *name;
	/* One line: the uAPI, for the report. */
	const char *uapi;
	/* Why the design has no WC mappings at all, or NULL (it has). */
	const char *no_wc;
	/*
	 * NULL if the running kernel offers this uAPI for BAR2, or why not
	 * (for a SKIP).  Leaves nothing open.
	 */
	const char *(*probe)(const char *bdf, char *why, size_t len);
	/* Open what the mappings need.  0 or -errno (why in p->why). */
	int (*open)(struct wctb_provider *p);
	/*
	 * The file and offset to mmap() for a @want mapping of BAR2's
	 * [@bar_off, @bar_off + @len), creating what the uAPI needs for it
	 * (a DMABUF, the BAR's flag).  0 or -errno (why in p->why).  Not
	 * called for WC when ops->no_wc is set.
	 */
	int (*handle)(struct wctb_provider *p, enum wctb_want want,
		      uint64_t bar_off, size_t len, int *fd, uint64_t *off);
	/*
	 * Set or clear memory enable in the command register through the
	 * design's own path.  0 or -errno.
	 */
	int (*memory_enable)(struct wctb_provider *p, int on);
};

/* Every provider, in report order; NULL-terminated. */
extern const struct wctb_provider_ops *const wctb_providers[];

/* The provider named @name, or NULL. */
const struct wctb_provider_ops *wctb_provider_find(const char *name);

/* Open @ops on device @bdf.  0 or -errno (why in p->why). */
int wctb_provider_open(struct wctb_provider *p,
		       const struct wctb_provider_ops *ops, const char *bdf);

/*
 * mmap() a @want mapping of BAR2's [@bar_off, @bar_off + @len) at an
 * address aligned to @align (0: any).  Like mmap(2): MAP_FAILED with
 * errno set, and p->why says which step failed.
 */
void *wctb_provider_map(struct wctb_provider *p, enum wctb_want want,
			uint64_t bar_off, size_t len, size_t align);

/*
 * Close every file the provider holds (device file, DMABUFs, sysfs
 * files); mappings stay.  Safe to call twice.
 */
void wctb_provider_close_files(struct wctb_provider *p);

/* The VFIO device file, or -1 for a provider without one (sysfs). */
int wctb_provider_device(const struct wctb_provider *p);

#endif /* WCTB_PROVIDER_H */
