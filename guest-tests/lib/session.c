// SPDX-License-Identifier: GPL-2.0
/* What the VFIO tests start from and end with; see session.h. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "wctb.h"

/*
 * The device still works and holds no write-combining page: all of BAR2
 * maps through a UC cookie of @device (EBUSY under any WC hold; the fixed
 * offset on kernels without cookies), and a line stored in its last page
 * arrives as 8 UC writes and reads back.  0 or -errno, the reason on
 * stderr.
 */
static int device_usable(int device, const struct wctb_regs *r)
{
	struct vfio_region_info info;
	uint32_t flags = 0;
	uint64_t uc, off;
	int ret, cookie;
	uint8_t *p;

	ret = wctb_region_info(device, VFIO_PCI_BAR2_REGION_INDEX, &info);
	if (ret) {
		fprintf(stderr, "REGION_INFO: %s\n", strerror(-ret));
		return ret;
	}
	/*
	 * All of it through a UC cookie of this file: EBUSY if some page is
	 * still held write-combining (a fixed offset never conflicts, so
	 * without cookies there is no hold to find).
	 */
	ret = wctb_mmap_cookie(device, VFIO_PCI_BAR2_REGION_INDEX, &flags, 0,
			       &off, NULL);
	cookie = !ret;
	if (ret == -ENOTTY) {
		off = info.offset;
	} else if (ret) {
		fprintf(stderr, "UC cookie of BAR2: %s\n", strerror(-ret));
		return ret;
	}
	p = wctb_map(device, off, info.size);
	if (p == MAP_FAILED) {
		ret = -errno;
		fprintf(stderr, "%s UC mmap of all of BAR2: %s%s\n",
			cookie ? "cookie" : "fixed-offset", strerror(-ret),
			ret == -EBUSY ? " (a write-combining hold leaked)" : "");
		return ret;
	}
	p += info.size - WCTB_LINE_SIZE;
	uc = wctb_counter(r, WC_TESTDEV_APERTURE_PREF, WC_TESTDEV_CNT_UC_WRITES);
	wctb_store_line(p, 0x600d);
	uc = wctb_counter(r, WC_TESTDEV_APERTURE_PREF,
			  WC_TESTDEV_CNT_UC_WRITES) - uc;
	ret = uc == WCTB_LINE_WORDS && wctb_line_matches(p, 0x600d) ? 0 : -EIO;
	if (ret)
		fprintf(stderr, "a UC line arrived as %lu UC writes, or did not "
			"read back\n", (unsigned long)uc);
	munmap(p - (info.size - WCTB_LINE_SIZE), info.size);
	return ret;
}

/* A warning in the kernel log, as a kernel bug would leave one. */
static void inject_kmsg_warning(void)
{
	static const char msg[] = "<4>WARNING: wctb: injected warning (WCTB_INJECT_KMSG)\n";
	int fd = open("/dev/kmsg", O_WRONLY);

	if (fd >= 0) {
		if (write(fd, msg, sizeof(msg) - 1) < 0)
			perror("/dev/kmsg");
		close(fd);
	}
}

static void session_undo(struct wctb_session *s)
{
	if (s->kmsg >= 0)
		close(s->kmsg);
	s->kmsg = -1;
	wctb_regs_unmap(&s->regs);
	wctb_vfio_close(&s->v);
}

int wctb_session_open(struct wctb_session *s, const char *path)
{
	uint32_t flags = 0;
	int ret;

	memset(s, 0, sizeof(*s));
	s->kmsg = -1;
	s->v.container = s->v.group = s->v.iommufd = s->v.device = -1;
	s->bdf = wctb_device();
	if (!s->bdf) {
		fprintf(stderr, "wc-testdev not found\n");
		return -ENODEV;
	}
	ret = wctb_vfio_open(&s->v, s->bdf, path);
	if (ret)
		return ret;
	ret = wctb_regs_map_sysfs(&s->regs, s->bdf);
	if (!ret) {
		s->kmsg = wctb_kmsg_open(0);
		ret = s->kmsg < 0 ? s->kmsg : 0;
	}
	if (!ret && getenv("WCTB_INJECT_KMSG"))	/* negative control */
		inject_kmsg_warning();
	if (!ret)
		ret = wctb_mmap_cookie(s->v.device, WC_TESTDEV_BAR_PREF, &flags,
				       0, &s->uc_off, &s->size);
	s->cookies = ret != -ENOTTY;
	if (ret == -ENOTTY)
		return 0;
	flags = VFIO_MMAP_FLAG_WC;
	if (!ret)
		ret = wctb_mmap_cookie(s->v.device, WC_TESTDEV_BAR_PREF, &flags,
				       0, &s->wc_off, NULL);
	if (!ret)
		return 0;
	fprintf(stderr, "session setup: %s\n", strerror(-ret));
	session_undo(s);
	return ret;
}

int wctb_session_close(struct wctb_session *s)
{
	char log[2048];
	int n = 0, ret = 0;

	if (s->regs.base && s->v.device >= 0)
		ret = device_usable(s->v.device, &s->regs);
	wctb_regs_unmap(&s->regs);
	wctb_vfio_close(&s->v);
	if (s->kmsg >= 0) {
		/* stderr: unbuffered, so it survives the harness's _exit(). */
		n = wctb_kmsg_read(s->kmsg, 0, log, sizeof(log), stderr, NULL);
		close(s->kmsg);
		s->kmsg = -1;
	}
	if (n > 0)
		fprintf(stderr, "kernel log during the test:\n%s", log);
	if (n < 0 && !ret)
		ret = n;
	return ret ? ret : n > 0 ? -EIO : 0;
}
