// SPDX-License-Identifier: GPL-2.0
/*
 * wctb-store: write one 64-byte line into BAR2 through a chosen mapping
 * and show what the device counted, for the --shell.
 *
 * Usage: wctb-store MAPPING [OFFSET]
 *   uc-fixed      VFIO, the fixed offset (index << 40): UC-
 *   uc-cookie     VFIO, a UC mmap cookie
 *   wc-cookie     VFIO, a WC mmap cookie (VFIO_MMAP_FLAG_WC)
 *   resource2     sysfs, the kernel's UC file
 *   resource2_wc  sysfs, the kernel's WC file
 * OFFSET (default 0x40) is rounded down to a line.  The counters are
 * reset first; the summary is read through BAR0 afterwards.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "wctb.h"

static void usage(const char *prog)
{
	fprintf(stderr, "usage: %s uc-fixed|uc-cookie|wc-cookie|resource2|"
		"resource2_wc [OFFSET]\n", prog);
}

/* Map BAR2 through VFIO at the offset @mapping names; MAP_FAILED on error. */
static void *map_vfio(struct wctb_vfio *v, const char *mapping, size_t *len)
{
	struct vfio_region_info info;
	uint32_t flags = strcmp(mapping, "wc-cookie") ? 0 : VFIO_MMAP_FLAG_WC;
	uint64_t off;
	int ret;

	ret = wctb_region_info(v->device, BAR2, &info);
	if (!ret && strcmp(mapping, "uc-fixed"))
		ret = wctb_mmap_cookie(v->device, BAR2, &flags, 0, &off, NULL);
	else
		off = info.offset;
	if (ret) {
		fprintf(stderr, "%s: %s\n", mapping, strerror(-ret));
		errno = -ret;
		return MAP_FAILED;
	}
	*len = info.size;
	return wctb_map(v->device, off, *len);
}

int main(int argc, char **argv)
{
	const char *bdf = wctb_device(), *mapping = argc > 1 ? argv[1] : "";
	int sysfs = !strncmp(mapping, "resource2", 9);
	uint64_t off = argc > 2 ? strtoull(argv[2], NULL, 0) : 0x40;
	struct wctb_vfio v = { .device = -1 };
	struct wctb_regs r;
	char sum[512];
	size_t len = 0;
	void *p;
	int ret;

	if (argc < 2 || argc > 3 ||
	    (!sysfs && strcmp(mapping, "uc-fixed") &&
	     strcmp(mapping, "uc-cookie") && strcmp(mapping, "wc-cookie")) ||
	    (sysfs && strcmp(mapping, "resource2") &&
	     strcmp(mapping, "resource2_wc"))) {
		usage(argv[0]);
		return 2;
	}
	if (!bdf) {
		fprintf(stderr, "wc-testdev not found\n");
		return 1;
	}
	ret = wctb_regs_map_sysfs(&r, bdf);
	if (!ret && !sysfs)
		ret = wctb_vfio_open(&v, bdf, NULL);
	if (ret) {
		fprintf(stderr, "%s: %s\n", bdf, strerror(-ret));
		return 1;
	}
	p = sysfs ? wctb_map_sysfs_resource(bdf, mapping, &len) :
		    map_vfio(&v, mapping, &len);
	if (p == MAP_FAILED) {
		fprintf(stderr, "mmap %s: %s\n", mapping, strerror(errno));
		return 1;
	}
	off &= ~(uint64_t)(LINE - 1);
	if (off + LINE > len) {
		fprintf(stderr, "offset %#llx is outside BAR2 (%zu bytes)\n",
			(unsigned long long)off, len);
		return 2;
	}
	wctb_reset_counters(&r);
	wctb_store_line((char *)p + off, 0x5743);
	printf("%s at %#llx%s%s: %s\n", mapping, (unsigned long long)off,
	       sysfs ? "" : ", VFIO path ", sysfs ? "" : wctb_vfio_path_name(&v),
	       wctb_counters_summary(&r, AP, sum, sizeof(sum)));
	munmap(p, len);
	wctb_vfio_close(&v);
	wctb_regs_unmap(&r);
	return 0;
}
