// SPDX-License-Identifier: GPL-2.0
/* The device through VFIO; see vfio.h. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <linux/iommufd.h>

#include "wctb.h"

/* Report step @what of opening @v failing with @err, close @v: -@err. */
static int open_failed(struct wctb_vfio *v, const char *what, int err)
{
	fprintf(stderr, "wctb: opening %s through VFIO: %s: %s\n", v->bdf,
		what, strerror(err));
	wctb_vfio_close(v);
	return -err;
}

/* /dev/vfio/N or /dev/vfio/noiommu-N for the device's IOMMU group. */
static int group_path(const char *bdf, char *path, size_t len, int *noiommu)
{
	char group[32];
	int ret;

	ret = wctb_sysfs_link_name(bdf, "iommu_group", group, sizeof(group));
	if (ret)
		return ret;
	snprintf(path, len, "/dev/vfio/%s", group);
	if (!access(path, F_OK)) {
		*noiommu = 0;
		return 0;
	}
	snprintf(path, len, "/dev/vfio/noiommu-%s", group);
	*noiommu = 1;
	return access(path, F_OK) ? -errno : 0;
}

static int open_legacy(struct wctb_vfio *v)
{
	struct vfio_group_status status = { .argsz = sizeof(status) };
	char path[128];
	int ret;

	ret = group_path(v->bdf, path, sizeof(path), &v->noiommu);
	if (ret)
		return open_failed(v, "no VFIO group for the device", -ret);
	v->container = open("/dev/vfio/vfio", O_RDWR);
	if (v->container < 0)
		return open_failed(v, "open /dev/vfio/vfio", errno);
	if (ioctl(v->container, VFIO_GET_API_VERSION) != VFIO_API_VERSION)
		return open_failed(v, "VFIO_GET_API_VERSION", EINVAL);
	v->group = open(path, O_RDWR);
	if (v->group < 0)
		return open_failed(v, path, errno);
	if (ioctl(v->group, VFIO_GROUP_GET_STATUS, &status))
		return open_failed(v, "VFIO_GROUP_GET_STATUS", errno);
	if (!(status.flags & VFIO_GROUP_FLAGS_VIABLE))
		return open_failed(v, "group not viable", EBUSY);
	if (ioctl(v->group, VFIO_GROUP_SET_CONTAINER, &v->container))
		return open_failed(v, "VFIO_GROUP_SET_CONTAINER", errno);
	if (ioctl(v->container, VFIO_SET_IOMMU,
		  v->noiommu ? VFIO_NOIOMMU_IOMMU : VFIO_TYPE1v2_IOMMU))
		return open_failed(v, "VFIO_SET_IOMMU", errno);
	v->device = wctb_vfio_open_device_file(v);
	if (v->device < 0)
		return open_failed(v, "VFIO_GROUP_GET_DEVICE_FD", -v->device);
	return 0;
}

/* /dev/vfio/devices/vfioN of the device, from its vfio-dev directory. */
static int cdev_path(struct wctb_vfio *v)
{
	char dir[128];
	struct dirent *e;
	DIR *d;

	snprintf(dir, sizeof(dir), WCTB_PCI_DEVICES "/%s/vfio-dev", v->bdf);
	d = opendir(dir);
	if (!d)
		return -errno;
	while ((e = readdir(d)) && strncmp(e->d_name, "vfio", 4))
		;
	if (e)
		snprintf(v->cdev_path, sizeof(v->cdev_path),
			 "/dev/vfio/devices/%.40s", e->d_name);
	closedir(d);
	return e ? 0 : -ENOENT;
}

/* Bind a cdev file to iommufd and attach it to a fresh IOAS. */
static int bind_cdev(struct wctb_vfio *v, int fd)
{
	struct vfio_device_bind_iommufd bind = {
		.argsz = sizeof(bind), .iommufd = v->iommufd,
	};
	struct iommu_ioas_alloc ioas = { .size = sizeof(ioas) };
	struct vfio_device_attach_iommufd_pt attach = {
		.argsz = sizeof(attach),
	};

	if (ioctl(fd, VFIO_DEVICE_BIND_IOMMUFD, &bind))
		return -errno;
	if (v->noiommu)		/* noiommu devices have nothing to attach */
		return 0;
	if (!v->ioas) {
		if (ioctl(v->iommufd, IOMMU_IOAS_ALLOC, &ioas))
			return -errno;
		v->ioas = ioas.out_ioas_id;
	}
	attach.pt_id = v->ioas;
	return ioctl(fd, VFIO_DEVICE_ATTACH_IOMMUFD_PT, &attach) ? -errno : 0;
}

static int open_cdev(struct wctb_vfio *v)
{
	char path[128];
	int ret;

	ret = cdev_path(v);
	if (ret)
		return open_failed(v, "no /sys/bus/pci/devices/BDF/vfio-dev/vfioN "
				   "(CONFIG_VFIO_DEVICE_CDEV)", -ret);
	ret = group_path(v->bdf, path, sizeof(path), &v->noiommu);
	if (ret)
		return open_failed(v, "no VFIO group for the device", -ret);
	v->iommufd = open("/dev/iommu", O_RDWR);
	if (v->iommufd < 0)
		return open_failed(v, "open /dev/iommu", errno);
	v->device = wctb_vfio_open_device_file(v);
	if (v->device < 0)
		return open_failed(v, "open and bind the VFIO cdev", -v->device);
	return 0;
}

const char *const wctb_vfio_paths[WCTB_VFIO_NUM_PATHS] = {
	"legacy_type1", "legacy_noiommu", "cdev_iommufd",
};

/* The boot option wctb.vfio-paths= ("legacy", "cdev"), or "" (both). */
static const char *boot_vfio_paths(char *buf, size_t len)
{
	char line[4096], *tok, *save;
	FILE *f = fopen("/proc/cmdline", "r");

	buf[0] = '\0';
	if (!f)
		return buf;
	if (fgets(line, sizeof(line), f))
		for (tok = strtok_r(line, " \n", &save); tok;
		     tok = strtok_r(NULL, " \n", &save))
			if (!strncmp(tok, "wctb.vfio-paths=", 16) &&
			    strcmp(tok + 16, "both"))
				snprintf(buf, len, "%s", tok + 16);
	fclose(f);
	return buf;
}

const char *wctb_vfio_path_missing(const char *bdf, const char *path)
{
	static char why[128];
	char group[64], only[16];
	int noiommu, cdev = !strncmp(path, "cdev", 4);
	struct wctb_vfio v = { .cdev = 1 };

	boot_vfio_paths(only, sizeof(only));
	if (only[0] && strncmp(path, only, strlen(only))) {
		snprintf(why, sizeof(why), "VFIO path %s left out by "
			 "wctb.vfio-paths=%s (run-vm.sh --iommu-paths)", path,
			 only);
		return why;
	}
	if (group_path(bdf, group, sizeof(group), &noiommu))
		return "no VFIO group for the device";
	if (!strcmp(path, "legacy_type1") && noiommu)
		return "the device has no IOMMU (noiommu group): no type1 container";
	if (!strcmp(path, "legacy_noiommu") && !noiommu)
		return "the device is behind an IOMMU: no noiommu group";
	if (!cdev)
		return NULL;
	if (noiommu)	/* none in 6.12; none in 7.3 without IOMMUFD_NOIOMMU */
		return "no cdev/iommufd path for a noiommu device";
	snprintf(v.bdf, sizeof(v.bdf), "%s", bdf);
	if (cdev_path(&v))
		return "no /sys/bus/pci/devices/BDF/vfio-dev/vfioN "
		       "(CONFIG_VFIO_DEVICE_CDEV)";
	if (access("/dev/iommu", F_OK))
		return "no /dev/iommu (CONFIG_IOMMUFD)";
	return NULL;
}

int wctb_vfio_open(struct wctb_vfio *v, const char *bdf, const char *path)
{
	unsigned int i;

	v->container = v->group = v->iommufd = v->device = -1;
	v->ioas = 0;
	snprintf(v->bdf, sizeof(v->bdf), "%s", bdf);
	for (i = 0; !path && i < WCTB_VFIO_NUM_PATHS; i++)
		if (!wctb_vfio_path_missing(bdf, wctb_vfio_paths[i]))
			path = wctb_vfio_paths[i];
	if (!path)
		return open_failed(v, "no VFIO path in this boot", ENODEV);
	v->cdev = !strncmp(path, "cdev", 4);
	return v->cdev ? open_cdev(v) : open_legacy(v);
}

const char *wctb_vfio_path_name(const struct wctb_vfio *v)
{
	if (v->cdev)
		return v->noiommu ? "cdev-noiommu" : "cdev-iommufd";
	return v->noiommu ? "legacy-noiommu" : "legacy-type1";
}

int wctb_vfio_open_device_file(struct wctb_vfio *v)
{
	int fd, ret;

	if (!v->cdev) {
		fd = ioctl(v->group, VFIO_GROUP_GET_DEVICE_FD, v->bdf);
		return fd < 0 ? -errno : fd;
	}
	fd = open(v->cdev_path, O_RDWR);
	if (fd < 0)
		return -errno;
	ret = bind_cdev(v, fd);
	if (ret) {
		close(fd);
		return ret;
	}
	return fd;
}

int wctb_vfio_reopen_device(struct wctb_vfio *v)
{
	if (v->device >= 0)
		close(v->device);
	v->device = wctb_vfio_open_device_file(v);
	return v->device < 0 ? v->device : 0;
}

void wctb_vfio_close(struct wctb_vfio *v)
{
	if (v->device >= 0)
		close(v->device);
	if (v->group >= 0)
		close(v->group);
	if (v->container >= 0)
		close(v->container);
	if (v->iommufd >= 0)
		close(v->iommufd);
	v->container = v->group = v->iommufd = v->device = -1;
}

int wctb_region_info(int device, unsigned int index,
		     struct vfio_region_info *info)
{
	memset(info, 0, sizeof(*info));
	info->argsz = sizeof(*info);
	info->index = index;
	return ioctl(device, VFIO_DEVICE_GET_REGION_INFO, info) ? -errno : 0;
}

int wctb_config_cap(int device, uint8_t id)
{
	const uint64_t cfg = WCTB_FIXED_OFFSET(VFIO_PCI_CONFIG_REGION_INDEX);
	uint8_t ptr = 0, got;
	int guard = 48;		/* a config space holds at most 48 capabilities */

	if (pread(device, &ptr, 1, cfg + 0x34) != 1)
		return -errno;
	for (ptr &= ~3; ptr && guard--; ptr &= ~3) {
		if (pread(device, &got, 1, cfg + ptr) != 1)
			return -errno;
		if (got == id)
			return ptr;
		if (pread(device, &ptr, 1, cfg + ptr + 1) != 1)
			return -errno;
	}
	return -ENODEV;
}

int wctb_set_memory_enable(int device, int on)
{
	return wctb_command_memory(device,
				   WCTB_FIXED_OFFSET(VFIO_PCI_CONFIG_REGION_INDEX), on);
}

int wctb_command_memory(int fd, uint64_t config_off, int on)
{
	uint64_t off = config_off + 4;	/* PCI_COMMAND */
	uint16_t cmd;

	if (pread(fd, &cmd, 2, off) != 2)
		return -errno;
	cmd = on ? cmd | 0x2 : cmd & ~0x2;	/* PCI_COMMAND_MEMORY */
	if (pwrite(fd, &cmd, 2, off) != 2 ||
	    pread(fd, &cmd, 2, off) != 2)
		return -errno;
	return on == !!(cmd & 0x2) ? 0 : -EIO;
}

/* What REGION_INFO says of region @index for cookie mappings. */
static int region_mmap_flags(int device, unsigned int index,
			     uint32_t *mmap_flags, uint64_t *size)
{
	union {
		struct vfio_region_info info;
		char buf[4096];
	} u = { .info = { .argsz = sizeof(u), .index = index } };
	const struct vfio_info_cap_header *hdr;
	uint32_t off;

	if (ioctl(device, VFIO_DEVICE_GET_REGION_INFO, &u.info))
		return -errno;
	if (!(u.info.flags & VFIO_REGION_INFO_FLAG_MMAP) || !u.info.size)
		return -EINVAL;
	*mmap_flags = 0;
	if (size)
		*size = (u.info.size + WCTB_PAGE_SIZE - 1) & ~(WCTB_PAGE_SIZE - 1);
	if (!(u.info.flags & VFIO_REGION_INFO_FLAG_CAPS))
		return 0;
	for (off = u.info.cap_offset;
	     off && off + sizeof(struct vfio_region_info_cap_mmap_flags) <= sizeof(u);
	     off = hdr->next) {
		hdr = (const void *)(u.buf + off);
		if (hdr->id == VFIO_REGION_INFO_CAP_MMAP_FLAGS && hdr->version == 1)
			*mmap_flags = ((const struct vfio_region_info_cap_mmap_flags *)hdr)->flags;
		if (hdr->next <= off)
			break;
	}
	return 0;
}

int wctb_mmap_cookie(int device, unsigned int index, uint32_t *mmap_flags,
		     int probe, uint64_t *offset, uint64_t *size)
{
	struct vfio_device_mmap_cookie mc = {
		.argsz = sizeof(mc),
		.index = index,
		.mmap_flags = probe ? 0 : *mmap_flags,
	};

	if (probe)
		return region_mmap_flags(device, index, mmap_flags, size);
	if (ioctl(device, VFIO_DEVICE_GET_MMAP_COOKIE, &mc))
		return -errno;
	if (offset)
		*offset = mc.offset;
	if (size)
		*size = mc.size;
	return 0;
}

void *wctb_map(int fd, uint64_t off, size_t len)
{
	return mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, off);
}

void *wctb_map_aligned(int fd, uint64_t off, size_t len, size_t align)
{
	uintptr_t start;
	void *resv, *p;
	int err;

	resv = mmap(NULL, len + align, PROT_NONE,
		    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (resv == MAP_FAILED)
		return MAP_FAILED;
	start = ((uintptr_t)resv + align - 1) & ~(uintptr_t)(align - 1);
	p = mmap((void *)start, len, PROT_READ | PROT_WRITE,
		 MAP_SHARED | MAP_FIXED, fd, off);
	if (p == MAP_FAILED) {
		err = errno;
		munmap(resv, len + align);
		errno = err;
		return MAP_FAILED;
	}
	/* Give back the reservation around it. */
	if (start > (uintptr_t)resv)
		munmap(resv, start - (uintptr_t)resv);
	munmap((char *)p + len, (uintptr_t)resv + align - start);
	return p;
}

int wctb_map_errno(int fd, uint64_t off, size_t len, int prot, int flags)
{
	void *p = mmap(NULL, len, prot, flags, fd, off);

	if (p == MAP_FAILED)
		return -errno;
	munmap(p, len);
	return 0;
}

static sigjmp_buf access_jmp;

static void on_access_signal(int sig)
{
	siglongjmp(access_jmp, sig);
}

int wctb_guarded(void (*fn)(void *arg), void *arg)
{
	struct sigaction sa = { .sa_handler = on_access_signal };
	struct sigaction old_segv, old_bus;
	int sig;

	sigaction(SIGSEGV, &sa, &old_segv);
	sigaction(SIGBUS, &sa, &old_bus);
	sig = sigsetjmp(access_jmp, 1);
	if (!sig)
		fn(arg);
	sigaction(SIGSEGV, &old_segv, NULL);
	sigaction(SIGBUS, &old_bus, NULL);
	return sig;
}

struct access {
	volatile uint64_t *p;
	int store;
};

static void access_once(void *arg)
{
	struct access *a = arg;

	if (a->store)
		*a->p = 0x5a5a5a5a5a5a5a5aull;
	else
		(void)*a->p;
}

int wctb_access_signal(volatile uint64_t *p, int store)
{
	struct access a = { .p = p, .store = store };

	return wctb_guarded(access_once, &a);
}
