// SPDX-License-Identifier: GPL-2.0
/*
 * The mapping providers of provider.h: what is common, and the designs
 * of the PCI core and of vfio-pci as it is (sysfs, fixed offset) and of
 * our series (cookie).  provider-alternatives.c has the comparison
 * designs.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "wctb.h"
#include "provider.h"
#include "provider-impl.h"

const char *wctb_want_name(enum wctb_want want)
{
	return want == WCTB_WANT_WC ? "WC" : "UC";
}

int wctb_provider_fail(struct wctb_provider *p, int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(p->why, sizeof(p->why), fmt, ap);
	va_end(ap);
	return err;
}

int wctb_provider_keep_fd(struct wctb_provider *p, int fd)
{
	if (p->nfds == WCTB_PROVIDER_MAX_FDS) {
		close(fd);
		return wctb_provider_fail(p, -EMFILE, "more than %d files open",
					  WCTB_PROVIDER_MAX_FDS);
	}
	p->fds[p->nfds++] = fd;
	return fd;
}

int wctb_provider_open_vfio(struct wctb_provider *p)
{
	int ret = wctb_vfio_open(&p->v, p->bdf, NULL);

	if (ret)
		return wctb_provider_fail(p, ret, "opening %s through VFIO: %s",
					  p->bdf, strerror(-ret));
	p->vfio_open = 1;
	return 0;
}

int wctb_provider_vfio_memory_enable(struct wctb_provider *p, int on)
{
	int ret = wctb_set_memory_enable(p->v.device, on);

	return ret ? wctb_provider_fail(p, ret, "memory enable=%d: %s", on,
					strerror(-ret)) : 0;
}

const char *wctb_provider_probe_vfio(const char *bdf, char *why, size_t len,
				     int (*check)(int device, const char **what),
				     const char *what)
{
	struct wctb_vfio v;
	int ret = wctb_vfio_open(&v, bdf, NULL);

	if (ret) {
		snprintf(why, len, "cannot open %s through VFIO: %s", bdf,
			 strerror(-ret));
		return why;
	}
	ret = check ? check(v.device, &what) : 0;
	wctb_vfio_close(&v);
	if (!ret)
		return NULL;
	snprintf(why, len, "%s: %s", what, strerror(-ret));
	return why;
}

/* --- sysfs: the PCI core's resource2 and resource2_wc --- */

static const char *sysfs_probe(const char *bdf, char *why, size_t len)
{
	char path[128];

	snprintf(path, sizeof(path), WCTB_PCI_DEVICES "/%s/resource%d_wc",
		 bdf, BAR2);
	if (!access(path, R_OK | W_OK))
		return NULL;
	snprintf(why, len, "%s: %s", path, strerror(errno));
	return why;
}

static int sysfs_open(struct wctb_provider *p)
{
	return 0;
}

static int sysfs_handle(struct wctb_provider *p, enum wctb_want want,
			uint64_t bar_off, size_t len, int *fd, uint64_t *off)
{
	const char *file = want == WCTB_WANT_WC ? "resource2_wc" : "resource2";
	int f = wctb_open_sysfs_file(p->bdf, file);

	if (f < 0)
		return wctb_provider_fail(p, -errno, "%s: %s", file,
					  strerror(errno));
	*fd = wctb_provider_keep_fd(p, f);
	*off = bar_off;
	return *fd < 0 ? *fd : 0;
}

/* The command register through the PCI core's config file. */
static int sysfs_memory_enable(struct wctb_provider *p, int on)
{
	int f = wctb_open_sysfs_file(p->bdf, "config"), ret;

	if (f < 0)
		return wctb_provider_fail(p, -errno, "config: %s", strerror(errno));
	ret = wctb_command_memory(f, 0, on);
	close(f);
	return ret ? wctb_provider_fail(p, ret, "config: memory enable=%d: %s",
					on, strerror(-ret)) : 0;
}

static const struct wctb_provider_ops sysfs_ops = {
	.name = "sysfs",
	.uapi = "PCI core: /sys/bus/pci/devices/BDF/resource2 (UC-) and resource2_wc",
	.probe = sysfs_probe,
	.open = sysfs_open,
	.handle = sysfs_handle,
	.memory_enable = sysfs_memory_enable,
};

/* --- fixed-offset: vfio-pci's index << 40, UC only --- */

static const char *fixed_probe(const char *bdf, char *why, size_t len)
{
	return wctb_provider_probe_vfio(bdf, why, len, NULL, NULL);
}

static int fixed_handle(struct wctb_provider *p, enum wctb_want want,
			uint64_t bar_off, size_t len, int *fd, uint64_t *off)
{
	*fd = p->v.device;
	*off = WCTB_FIXED_OFFSET(BAR2) + bar_off;
	return 0;
}

static const struct wctb_provider_ops fixed_ops = {
	.name = "fixed-offset",
	.uapi = "vfio-pci: mmap() at VFIO_PCI_INDEX_TO_OFFSET(2), UC only",
	.no_wc = "the fixed offset maps BARs UC only",
	.probe = fixed_probe,
	.open = wctb_provider_open_vfio,
	.handle = fixed_handle,
	.memory_enable = wctb_provider_vfio_memory_enable,
};

/* --- cookie: VFIO_DEVICE_GET_MMAP_COOKIE (kernel-patches/) --- */

static int cookie_get(int device, uint32_t flags, uint64_t *offset)
{
	return wctb_mmap_cookie(device, BAR2, &flags, 0, offset, NULL);
}

/* The probe: a UC cookie of BAR2 (ENOTTY without the series). */
static int cookie_check(int device, const char **what)
{
	uint64_t off;

	return cookie_get(device, 0, &off);
}

static const char *cookie_probe(const char *bdf, char *why, size_t len)
{
	return wctb_provider_probe_vfio(bdf, why, len, cookie_check,
					"VFIO_DEVICE_GET_MMAP_COOKIE(BAR2, UC)");
}

static int cookie_open(struct wctb_provider *p)
{
	int ret = wctb_provider_open_vfio(p);

	if (!ret)
		ret = cookie_get(p->v.device, 0, &p->uc_cookie);
	return ret < 0 && !p->why[0] ?
	       wctb_provider_fail(p, ret, "UC cookie of BAR2: %s", strerror(-ret)) :
	       ret;
}

static int cookie_handle(struct wctb_provider *p, enum wctb_want want,
			 uint64_t bar_off, size_t len, int *fd, uint64_t *off)
{
	int ret;

	if (want == WCTB_WANT_WC && !p->wc_cookie) {
		ret = cookie_get(p->v.device, VFIO_MMAP_FLAG_WC, &p->wc_cookie);
		if (ret)
			return wctb_provider_fail(p, ret,
						  "VFIO_DEVICE_GET_MMAP_COOKIE(BAR2, WC): %s",
						  strerror(-ret));
	}
	*fd = p->v.device;
	*off = (want == WCTB_WANT_WC ? p->wc_cookie : p->uc_cookie) + bar_off;
	return 0;
}

static const struct wctb_provider_ops cookie_ops = {
	.name = "cookie",
	.uapi = "VFIO_DEVICE_GET_MMAP_COOKIE(index, VFIO_MMAP_FLAG_WC) -> mmap offset",
	.probe = cookie_probe,
	.open = cookie_open,
	.handle = cookie_handle,
	.memory_enable = wctb_provider_vfio_memory_enable,
};

/* --- what every provider shares --- */

const struct wctb_provider_ops *const wctb_providers[] = {
	&sysfs_ops, &fixed_ops, &cookie_ops,
	&wctb_dmabuf_memattr_ops, &wctb_bar_wc_flag_ops, NULL,
};

const struct wctb_provider_ops *wctb_provider_find(const char *name)
{
	unsigned int i;

	for (i = 0; wctb_providers[i]; i++)
		if (!strcmp(wctb_providers[i]->name, name))
			return wctb_providers[i];
	return NULL;
}

int wctb_provider_open(struct wctb_provider *p,
		       const struct wctb_provider_ops *ops, const char *bdf)
{
	uint64_t start, end, flags;
	int ret;

	memset(p, 0, sizeof(*p));
	p->ops = ops;
	p->bdf = bdf;
	ret = wctb_sysfs_resource(bdf, BAR2, &start, &end, &flags);
	if (ret)
		return wctb_provider_fail(p, ret, "%s: no BAR2", bdf);
	p->bar_size = end - start + 1;
	ret = ops->open(p);
	if (ret)
		wctb_provider_close_files(p);
	return ret;
}

void *wctb_provider_map(struct wctb_provider *p, enum wctb_want want,
			uint64_t bar_off, size_t len, size_t align)
{
	uint64_t off;
	void *va;
	int fd, ret;

	p->why[0] = 0;
	p->na = want == WCTB_WANT_WC && p->ops->no_wc;
	if (p->na) {
		wctb_provider_fail(p, -EOPNOTSUPP, "%s", p->ops->no_wc);
		errno = EOPNOTSUPP;
		return MAP_FAILED;
	}
	ret = p->ops->handle(p, want, bar_off, len, &fd, &off);
	if (ret) {
		errno = -ret;
		return MAP_FAILED;
	}
	va = align ? wctb_map_aligned(fd, off, len, align) : wctb_map(fd, off, len);
	if (va == MAP_FAILED) {
		ret = errno;
		wctb_provider_fail(p, -ret, "mmap(%s, offset 0x%llx, %zu bytes): %s",
				   wctb_want_name(want), (unsigned long long)off,
				   len, strerror(ret));
		errno = ret;
	}
	return va;
}

void wctb_provider_close_files(struct wctb_provider *p)
{
	while (p->nfds)
		close(p->fds[--p->nfds]);
	if (p->vfio_open)
		wctb_vfio_close(&p->v);
	p->vfio_open = 0;
}

int wctb_provider_device(const struct wctb_provider *p)
{
	return p->vfio_open ? p->v.device : -1;
}
