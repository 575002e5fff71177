// SPDX-License-Identifier: GPL-2.0
/*
 * The comparison designs of provider.h, as their authors posted them
 * (kernel-patches/alternatives/ ports them to Linux 7.3):
 *
 *   dmabuf-memattr  Matt Evans, "vfio/pci: Add mmap() for DMABUFs" v4
 *                   (2026-07-01): export the range as a vfio DMABUF
 *                   (VFIO_DEVICE_FEATURE_DMA_BUF, mainline), SET
 *                   VFIO_DEVICE_FEATURE_DMA_BUF_MEMATTR to WC on it, mmap()
 *                   the DMABUF fd.  UC: a DMABUF left at its default, NC.
 *   bar-wc-flag     Keith Busch, "[PATCH rfc] vfio-pci: Allow write
 *                   combining" (2024-07-31): VFIO_DEVICE_SET_REGION_FLAGS
 *                   with VFIO_REGION_FLAG_WRITE_COMBINE on BAR2, then the
 *                   fixed offset; later mmap()s of the BAR are WC.  UC:
 *                   clear the flag first (mappings made while it was set
 *                   stay WC, the reading most favourable to the design).
 *
 * The uAPI is defined here when the kernel headers lack it, so that the
 * suite builds against every kernel; the providers probe for it.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "wctb.h"
#include "provider.h"
#include "provider-impl.h"

#ifndef VFIO_DEVICE_FEATURE_DMA_BUF
#define VFIO_DEVICE_FEATURE_DMA_BUF	11
struct vfio_region_dma_range {
	__u64 offset;
	__u64 length;
};

struct vfio_device_feature_dma_buf {
	__u32 region_index;
	__u32 open_flags;
	__u32 flags;
	__u32 nr_ranges;
	struct vfio_region_dma_range dma_ranges[];
};
#endif

#ifndef VFIO_DEVICE_FEATURE_DMA_BUF_MEMATTR
#define VFIO_DEVICE_FEATURE_DMA_BUF_MEMATTR	14
enum vfio_device_dma_buf_memattr {
	VFIO_DEVICE_FEATURE_DMA_BUF_MEMATTR_NC = 0,
	VFIO_DEVICE_FEATURE_DMA_BUF_MEMATTR_WC = 1,
};

struct vfio_device_feature_dma_buf_memattr {
	__s32 dmabuf_fd;
	__u32 memattr;
};
#endif

#ifndef VFIO_DEVICE_SET_REGION_FLAGS
struct vfio_region_flags {
	__u32 index;
	__u32 flags;
#define VFIO_REGION_FLAG_WRITE_COMBINE	(1 << 0)
};
#define VFIO_DEVICE_SET_REGION_FLAGS	_IO(VFIO_TYPE, VFIO_BASE + 21)
#endif

/* --- dmabuf-memattr --- */

/*
 * VFIO_DEVICE_FEATURE @flags with @len bytes of @payload: the ioctl's
 * return value (the new fd for DMA_BUF) or -errno.
 */
static int device_feature(int device, uint32_t flags, const void *payload,
			  size_t len)
{
	struct vfio_device_feature *f;
	int ret;

	f = calloc(1, sizeof(*f) + len);
	if (!f)
		return -ENOMEM;
	f->argsz = sizeof(*f) + len;
	f->flags = flags;
	if (len)
		memcpy(f->data, payload, len);
	ret = ioctl(device, VFIO_DEVICE_FEATURE, f);
	if (ret < 0)
		ret = -errno;
	free(f);
	return ret;
}

/* SET DMA_BUF_MEMATTR @memattr on DMABUF @buf: 0 or -errno. */
static int memattr_set(int device, int buf, uint32_t memattr)
{
	struct vfio_device_feature_dma_buf_memattr ma = {
		.dmabuf_fd = buf,
		.memattr = memattr,
	};

	return device_feature(device, VFIO_DEVICE_FEATURE_SET |
			      VFIO_DEVICE_FEATURE_DMA_BUF_MEMATTR, &ma, sizeof(ma));
}

/*
 * A DMABUF of BAR2's [@bar_off, @bar_off + @len) on @device: its fd or
 * -errno.
 */
static int dmabuf_export_fd(int device, uint64_t bar_off, size_t len)
{
	struct {
		struct vfio_device_feature_dma_buf db;
		struct vfio_region_dma_range range;
	} req = {
		.db = { .region_index = BAR2, .open_flags = O_RDWR | O_CLOEXEC,
			.nr_ranges = 1 },
		.range = { .offset = bar_off, .length = len },
	};

	return device_feature(device, VFIO_DEVICE_FEATURE_GET |
			      VFIO_DEVICE_FEATURE_DMA_BUF, &req, sizeof(req));
}

/*
 * The uAPI as posted, not just a feature numbered 14: DMA_BUF export,
 * MEMATTR SET probes, and its documented errors (EBADF for a file that is
 * no DMABUF, ENOENT for an unknown attribute).  0 or -errno, -EPROTO when
 * feature 14 answers but not as MEMATTR does.
 */
static int memattr_probe_device(int device, const char **step)
{
	int ret, buf;

	*step = "PROBE of VFIO_DEVICE_FEATURE_DMA_BUF (11, DMABUF export)";
	ret = device_feature(device, VFIO_DEVICE_FEATURE_PROBE |
			     VFIO_DEVICE_FEATURE_GET | VFIO_DEVICE_FEATURE_DMA_BUF,
			     NULL, 0);
	if (ret)
		return ret;
	*step = "PROBE of SET VFIO_DEVICE_FEATURE_DMA_BUF_MEMATTR (14)";
	ret = device_feature(device, VFIO_DEVICE_FEATURE_PROBE |
			     VFIO_DEVICE_FEATURE_SET |
			     VFIO_DEVICE_FEATURE_DMA_BUF_MEMATTR, NULL, 0);
	if (ret)
		return ret;
	*step = "SET DMA_BUF_MEMATTR with dmabuf_fd -1 (posted: EBADF)";
	if (memattr_set(device, -1, VFIO_DEVICE_FEATURE_DMA_BUF_MEMATTR_WC) != -EBADF)
		return -EPROTO;
	*step = "exporting a one-page DMABUF of BAR2";
	buf = dmabuf_export_fd(device, 0, WCTB_PAGE_SIZE);
	if (buf < 0)
		return buf;
	*step = "SET DMA_BUF_MEMATTR with an unknown attribute (posted: ENOENT)";
	ret = memattr_set(device, buf, ~0u) == -ENOENT ? 0 : -EPROTO;
	close(buf);
	return ret;
}

static const char *memattr_probe(const char *bdf, char *why, size_t len)
{
	return wctb_provider_probe_vfio(bdf, why, len, memattr_probe_device,
					"DMA_BUF_MEMATTR probe");
}

/* A DMABUF of BAR2's range, kept for the teardown: its fd or -errno. */
static int dmabuf_export(struct wctb_provider *p, uint64_t bar_off, size_t len)
{
	int fd = dmabuf_export_fd(p->v.device, bar_off, len);

	if (fd < 0)
		return wctb_provider_fail(p, fd, "VFIO_DEVICE_FEATURE_DMA_BUF(BAR2, 0x%llx+0x%zx): %s",
					  (unsigned long long)bar_off, len,
					  strerror(-fd));
	return wctb_provider_keep_fd(p, fd);
}

static int memattr_handle(struct wctb_provider *p, enum wctb_want want,
			  uint64_t bar_off, size_t len, int *fd, uint64_t *off)
{
	int buf = dmabuf_export(p, bar_off, len), ret;

	if (buf < 0)
		return buf;
	if (want == WCTB_WANT_WC) {
		ret = memattr_set(p->v.device, buf,
				  VFIO_DEVICE_FEATURE_DMA_BUF_MEMATTR_WC);
		if (ret)
			return wctb_provider_fail(p, ret, "SET DMA_BUF_MEMATTR WC: %s",
						  strerror(-ret));
	}
	*fd = buf;
	*off = 0;
	return 0;
}

const struct wctb_provider_ops wctb_dmabuf_memattr_ops = {
	.name = "dmabuf-memattr",
	.uapi = "VFIO_DEVICE_FEATURE_DMA_BUF (11) + SET VFIO_DEVICE_FEATURE_DMA_BUF_MEMATTR (14) WC, mmap() the DMABUF",
	.probe = memattr_probe,
	.open = wctb_provider_open_vfio,
	.handle = memattr_handle,
	.memory_enable = wctb_provider_vfio_memory_enable,
};

/* --- bar-wc-flag --- */

static int set_region_flags_of(int device, uint32_t index, uint32_t flags)
{
	/* Room for a longer struct: others posted VFIO_BASE + 21 too. */
	union {
		struct vfio_region_flags rf;
		uint8_t room[32];
	} u = { .rf = { .index = index, .flags = flags } };

	return ioctl(device, VFIO_DEVICE_SET_REGION_FLAGS, &u) ? -errno : 0;
}

static int set_region_flags(int device, uint32_t flags)
{
	return set_region_flags_of(device, BAR2, flags);
}

/*
 * The probe: clearing the flag changes nothing (ENOTTY without the RFC);
 * then the RFC's documented errors, EINVAL for an index that is no BAR
 * and for WC on BAR4 (not prefetchable); -EPROTO when the ioctl answers
 * otherwise.
 */
static int flag_check(int device, const char **what)
{
	/* The calls that change nothing first: they identify the uAPI. */
	int ret = set_region_flags_of(device, 6, 0);

	if (ret == -ENOTTY)
		return ret;
	if (ret != -EINVAL ||
	    set_region_flags_of(device, BAR4, VFIO_REGION_FLAG_WRITE_COMBINE) != -EINVAL)
		return -EPROTO;
	return set_region_flags(device, 0);
}

static const char *flag_probe(const char *bdf, char *why, size_t len)
{
	return wctb_provider_probe_vfio(bdf, why, len, flag_check,
					"VFIO_DEVICE_SET_REGION_FLAGS as posted (EINVAL for index 6 and for WC on BAR4)");
}

static int flag_handle(struct wctb_provider *p, enum wctb_want want,
		       uint64_t bar_off, size_t len, int *fd, uint64_t *off)
{
	int wc = want == WCTB_WANT_WC, ret;

	if (p->wc_flag_set != wc) {
		ret = set_region_flags(p->v.device,
				       wc ? VFIO_REGION_FLAG_WRITE_COMBINE : 0);
		if (ret)
			return wctb_provider_fail(p, ret,
						  "VFIO_DEVICE_SET_REGION_FLAGS(BAR2, %s): %s",
						  wc ? "WRITE_COMBINE" : "0",
						  strerror(-ret));
		p->wc_flag_set = wc;
	}
	*fd = p->v.device;
	*off = WCTB_FIXED_OFFSET(BAR2) + bar_off;
	return 0;
}

const struct wctb_provider_ops wctb_bar_wc_flag_ops = {
	.name = "bar-wc-flag",
	.uapi = "VFIO_DEVICE_SET_REGION_FLAGS(BAR2, VFIO_REGION_FLAG_WRITE_COMBINE), then the fixed offset",
	.probe = flag_probe,
	.open = wctb_provider_open_vfio,
	.handle = flag_handle,
	.memory_enable = wctb_provider_vfio_memory_enable,
};
