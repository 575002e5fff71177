// SPDX-License-Identifier: GPL-2.0
/* Helpers shared by the wc-testbed guest programs; see wctb.h. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <regex.h>
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <linux/iommufd.h>

#include "wctb.h"

#define PCI_DEVICES "/sys/bus/pci/devices"

int wctb_sysfs_u64(const char *bdf, const char *attr, uint64_t *val)
{
	char path[256], buf[64];
	FILE *f;
	int ok;

	snprintf(path, sizeof(path), PCI_DEVICES "/%s/%s", bdf, attr);
	f = fopen(path, "r");
	if (!f)
		return -errno;
	ok = fgets(buf, sizeof(buf), f) != NULL;
	fclose(f);
	if (!ok)
		return -EIO;
	*val = strtoull(buf, NULL, 0);
	return 0;
}

int wctb_find_device(char *bdf, size_t len)
{
	DIR *d = opendir(PCI_DEVICES);
	struct dirent *e;
	uint64_t vendor, device;
	int ret = -ENODEV;

	if (!d)
		return -errno;
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		if (wctb_sysfs_u64(e->d_name, "vendor", &vendor) ||
		    wctb_sysfs_u64(e->d_name, "device", &device))
			continue;
		if (vendor == WC_TESTDEV_VENDOR_ID &&
		    device == WC_TESTDEV_DEVICE_ID) {
			snprintf(bdf, len, "%s", e->d_name);
			ret = 0;
			break;
		}
	}
	closedir(d);
	return ret;
}

const char *wctb_device(void)
{
	static char bdf[32];
	const char *env = getenv("WCTB_BDF");

	if (env && *env)
		return env;
	if (!bdf[0] && wctb_find_device(bdf, sizeof(bdf)))
		return NULL;
	return bdf;
}

int wctb_write_attr(const char *path, const char *val)
{
	int fd = open(path, O_WRONLY), err;
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = write(fd, val, strlen(val));
	err = errno;
	close(fd);
	errno = err;		/* for callers that report errno */
	return n < 0 ? -err : 0;
}

int wctb_bind_vfio_pci(const char *bdf)
{
	char path[256], drv[256];
	ssize_t n;

	snprintf(path, sizeof(path), PCI_DEVICES "/%s/driver_override", bdf);
	if (wctb_write_attr(path, "vfio-pci"))
		return -1;
	snprintf(path, sizeof(path), PCI_DEVICES "/%s/driver/unbind", bdf);
	wctb_write_attr(path, bdf);	/* fails harmlessly when unbound */
	if (wctb_write_attr("/sys/bus/pci/drivers_probe", bdf))
		return -1;
	snprintf(path, sizeof(path), PCI_DEVICES "/%s/driver", bdf);
	n = readlink(path, drv, sizeof(drv) - 1);
	if (n < 0)
		return -1;
	drv[n] = '\0';
	if (strcmp(strrchr(drv, '/') + 1, "vfio-pci")) {
		errno = EBUSY;
		return -1;
	}
	return wctb_keep_awake(bdf);
}

const char *wctb_sysfs_word(const char *bdf, const char *attr, char *buf,
			    size_t len)
{
	char path[256], fmt[16];
	FILE *f;

	snprintf(path, sizeof(path), PCI_DEVICES "/%s/%s", bdf, attr);
	snprintf(fmt, sizeof(fmt), "%%%zus", len - 1);
	buf[0] = '\0';
	f = fopen(path, "r");
	if (f) {
		if (fscanf(f, fmt, buf) != 1)
			buf[0] = '\0';
		fclose(f);
	}
	return buf;
}

int wctb_keep_awake(const char *bdf)
{
	char path[256], status[32];

	snprintf(path, sizeof(path), PCI_DEVICES "/%s/power/control", bdf);
	if (access(path, F_OK))
		return 0;
	if (wctb_write_attr(path, "on"))
		return -1;
	/* "on" resumes the device before the write returns. */
	if (strcmp(wctb_sysfs_word(bdf, "power/runtime_status", status,
				   sizeof(status)), "active")) {
		errno = EIO;
		return -1;
	}
	return 0;
}

volatile uint8_t *wctb_map(int device, uint64_t off, size_t len)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, device,
		       off);

	return p == MAP_FAILED ? NULL : p;
}

int wctb_set_memory_enable(int device, int on)
{
	uint64_t off = WCTB_FIXED_OFFSET(VFIO_PCI_CONFIG_REGION_INDEX) + 4;
	uint16_t cmd;

	if (pread(device, &cmd, 2, off) != 2)
		return -errno;
	cmd = on ? cmd | 0x2 : cmd & ~0x2;	/* PCI_COMMAND_MEMORY */
	if (pwrite(device, &cmd, 2, off) != 2 ||
	    pread(device, &cmd, 2, off) != 2)
		return -errno;
	return on == !!(cmd & 0x2) ? 0 : -EIO;
}

int wctb_host_request(const char *request)
{
	char line[128];
	int fd, len, err;
	ssize_t n;

	len = snprintf(line, sizeof(line), "wctb-host: %s\n", request);
	if (len < 0 || len >= (int)sizeof(line))
		return -E2BIG;
	fd = open("/dev/ttyS1", O_WRONLY | O_NOCTTY);
	if (fd < 0)
		return -errno;
	n = write(fd, line, len);
	err = errno;
	close(fd);
	if (n < 0)
		return -err;
	return n == len ? 0 : -EIO;
}

int wctb_sysfs_resource(const char *bdf, int bar, uint64_t *start,
			uint64_t *end, uint64_t *flags)
{
	char path[256], line[256];
	FILE *f;
	int i, ret = -EINVAL;

	snprintf(path, sizeof(path), PCI_DEVICES "/%s/resource", bdf);
	f = fopen(path, "r");
	if (!f)
		return -errno;
	for (i = 0; fgets(line, sizeof(line), f); i++) {
		if (i != bar)
			continue;
		if (sscanf(line, "%" SCNx64 " %" SCNx64 " %" SCNx64,
			   start, end, flags) == 3)
			ret = 0;
		break;
	}
	fclose(f);
	return ret;
}

static int fail(struct wctb_vfio *v, const char *what)
{
	int err = errno;

	snprintf(v->why, sizeof(v->why), "%s: %s", what, strerror(err));
	wctb_vfio_close(v);
	errno = err;
	return -1;
}

/* /dev/vfio/N or /dev/vfio/noiommu-N for the device's IOMMU group. */
static int group_path(const char *bdf, char *path, size_t len, int *noiommu)
{
	char link[256], target[256];
	ssize_t n;

	snprintf(link, sizeof(link), PCI_DEVICES "/%s/iommu_group", bdf);
	n = readlink(link, target, sizeof(target) - 1);
	if (n < 0)
		return -1;
	target[n] = '\0';
	snprintf(path, len, "/dev/vfio/%s", basename(target));
	if (!access(path, F_OK)) {
		*noiommu = 0;
		return 0;
	}
	snprintf(path, len, "/dev/vfio/noiommu-%s", basename(target));
	*noiommu = 1;
	return access(path, F_OK);
}

static int open_legacy(struct wctb_vfio *v)
{
	struct vfio_group_status status = { .argsz = sizeof(status) };
	char path[128];

	if (group_path(v->bdf, path, sizeof(path), &v->noiommu))
		return fail(v, "no VFIO group for the device");
	v->container = open("/dev/vfio/vfio", O_RDWR);
	if (v->container < 0)
		return fail(v, "open /dev/vfio/vfio");
	if (ioctl(v->container, VFIO_GET_API_VERSION) != VFIO_API_VERSION)
		return fail(v, "VFIO_GET_API_VERSION");
	v->group = open(path, O_RDWR);
	if (v->group < 0)
		return fail(v, path);
	if (ioctl(v->group, VFIO_GROUP_GET_STATUS, &status))
		return fail(v, "VFIO_GROUP_GET_STATUS");
	if (!(status.flags & VFIO_GROUP_FLAGS_VIABLE)) {
		errno = EBUSY;
		return fail(v, "group not viable");
	}
	if (ioctl(v->group, VFIO_GROUP_SET_CONTAINER, &v->container))
		return fail(v, "VFIO_GROUP_SET_CONTAINER");
	if (ioctl(v->container, VFIO_SET_IOMMU,
		  v->noiommu ? VFIO_NOIOMMU_IOMMU : VFIO_TYPE1v2_IOMMU))
		return fail(v, "VFIO_SET_IOMMU");
	v->device = wctb_vfio_open_device_file(v);
	if (v->device < 0) {
		errno = -v->device;
		return fail(v, "VFIO_GROUP_GET_DEVICE_FD");
	}
	return 0;
}

/* /dev/vfio/devices/vfioN of the device, from its vfio-dev directory. */
static int cdev_path(struct wctb_vfio *v)
{
	char dir[128];
	struct dirent *e;
	DIR *d;

	snprintf(dir, sizeof(dir), PCI_DEVICES "/%s/vfio-dev", v->bdf);
	d = opendir(dir);
	if (!d)
		return -1;
	while ((e = readdir(d)) && strncmp(e->d_name, "vfio", 4))
		;
	if (e)
		snprintf(v->cdev_path, sizeof(v->cdev_path),
			 "/dev/vfio/devices/%s", e->d_name);
	closedir(d);
	if (!e)
		errno = ENOENT;
	return e ? 0 : -1;
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

	if (cdev_path(v))
		return fail(v, "no /sys/bus/pci/devices/BDF/vfio-dev/vfioN "
			    "(CONFIG_VFIO_DEVICE_CDEV)");
	if (group_path(v->bdf, path, sizeof(path), &v->noiommu))
		return fail(v, "no VFIO group for the device");
	v->iommufd = open("/dev/iommu", O_RDWR);
	if (v->iommufd < 0)
		return fail(v, "open /dev/iommu");
	v->device = wctb_vfio_open_device_file(v);
	if (v->device < 0) {
		errno = -v->device;
		return fail(v, "open and bind the VFIO cdev");
	}
	return 0;
}

int wctb_vfio_open(struct wctb_vfio *v, const char *bdf)
{
	const char *path = getenv("WCTB_VFIO_PATH");

	v->container = v->group = v->iommufd = v->device = -1;
	v->ioas = 0;
	v->why[0] = '\0';
	snprintf(v->bdf, sizeof(v->bdf), "%s", bdf);
	v->cdev = path && !strcmp(path, "cdev");
	if (path && *path && !v->cdev && strcmp(path, "legacy")) {
		errno = EINVAL;
		return fail(v, "WCTB_VFIO_PATH must be legacy or cdev");
	}
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

int wctb_regs_map(struct wctb_regs *r, int device)
{
	struct vfio_region_info info;
	void *p;
	int ret;

	ret = wctb_region_info(device, VFIO_PCI_BAR0_REGION_INDEX, &info);
	if (ret)
		return ret;
	p = mmap(NULL, info.size, PROT_READ | PROT_WRITE, MAP_SHARED, device,
		 info.offset);
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

void wctb_reset_counters(const struct wctb_regs *r)
{
	*(volatile uint32_t *)(r->base + WC_TESTDEV_REG_CONTROL) =
		WC_TESTDEV_CTRL_RESET_COUNTERS;
}

uint64_t wctb_counter(const struct wctb_regs *r, unsigned int aperture,
		      unsigned int counter)
{
	return wctb_reg64(r, WC_TESTDEV_REG_COUNTERS(aperture) + 8 * counter);
}

void *wctb_map_sysfs_resource(const char *bdf, const char *file, size_t *size)
{
	char path[256];
	struct stat st;
	void *p;
	int fd;

	snprintf(path, sizeof(path), PCI_DEVICES "/%s/%s", bdf, file);
	fd = open(path, O_RDWR | O_SYNC);
	if (fd < 0)
		return MAP_FAILED;
	if (fstat(fd, &st)) {
		close(fd);
		return MAP_FAILED;
	}
	*size = st.st_size;
	p = mmap(NULL, *size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	return p;
}

void wctb_store_line(volatile void *p, uint64_t seed)
{
	volatile uint64_t *q = p;
	unsigned int i;

	for (i = 0; i < 8; i++)
		q[i] = seed + i;
}

static sigjmp_buf access_jmp;

static void on_access_signal(int sig)
{
	siglongjmp(access_jmp, sig);
}

int wctb_access_signal(volatile uint64_t *p, int store)
{
	struct sigaction sa = { .sa_handler = on_access_signal };
	struct sigaction old_segv, old_bus;
	int sig;

	sigaction(SIGSEGV, &sa, &old_segv);
	sigaction(SIGBUS, &sa, &old_bus);
	sig = sigsetjmp(access_jmp, 1);
	if (!sig) {
		if (store)
			*p = 0x5a5a5a5a5a5a5a5aull;
		else
			(void)*p;
	}
	sigaction(SIGSEGV, &old_segv, NULL);
	sigaction(SIGBUS, &old_bus, NULL);
	return sig;
}

int wctb_pat_memtype(uint64_t start, uint64_t end, char *type, size_t len)
{
	unsigned long long s, e;
	char line[256], name[64];
	int ret = -ENOENT;
	FILE *f;

	f = fopen("/sys/kernel/debug/x86/pat_memtype_list", "r");
	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "PAT: [mem 0x%llx-0x%llx] %63s", &s, &e, name) != 3)
			continue;
		if (s <= start && end <= e) {
			snprintf(type, len, "%s", name);
			ret = 0;
			break;
		}
	}
	fclose(f);
	return ret;
}

int wctb_ptdump_line(const volatile void *va, char *line, size_t len)
{
	unsigned long s, e, addr = (unsigned long)va;
	char buf[256];
	int ret = -ENOENT;
	FILE *f;

	f = fopen("/sys/kernel/debug/page_tables/current_kernel", "r");
	if (!f)
		return -errno;
	while (fgets(buf, sizeof(buf), f)) {
		if (sscanf(buf, "0x%lx-0x%lx", &s, &e) != 2)
			continue;
		if (s <= addr && addr < e) {
			buf[strcspn(buf, "\n")] = '\0';
			snprintf(line, len, "%s", buf);
			ret = 0;
			break;
		}
	}
	fclose(f);
	return ret;
}

int wctb_config_cap(int device, uint8_t id)
{
	const uint64_t cfg = (uint64_t)VFIO_PCI_CONFIG_REGION_INDEX << 40;
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
		*size = (u.info.size + 4095) & ~4095ull;
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

int wctb_vfio_reopen_device(struct wctb_vfio *v)
{
	if (v->device >= 0)
		close(v->device);
	v->device = wctb_vfio_open_device_file(v);
	return v->device < 0 ? v->device : 0;
}

const char *wctb_counters_summary(const struct wctb_regs *r,
				  unsigned int aperture, char *buf, size_t len)
{
#define C(x) ((unsigned long)wctb_counter(r, aperture, WC_TESTDEV_CNT_##x))
	snprintf(buf, len, "uc-writes %lu wc-stores %lu full-bursts %lu "
		 "partial-bursts %lu partial-bytes %lu bus-txns %lu bus-bytes %lu "
		 "last type %s", C(UC_WRITES), C(WC_STORES), C(FULL_BURSTS),
		 C(PARTIAL_BURSTS), C(PARTIAL_BYTES), C(BUS_TXNS), C(BUS_BYTES),
		 wctb_memtype_name(C(LAST_WRITE_TYPE)));
#undef C
	return buf;
}

int wctb_kernel_finding(const char *text)
{
	static const char *const findings[] = {
		"WARNING:", "BUG:", "Oops", "general protection fault",
		"KASAN:", "UBSAN:", "possible circular locking",
		"possible recursive locking", "inconsistent lock state",
		"suspicious RCU usage", "suspected memory leak",
		"conflicting memory types", "expected mapping type",
		"invalid memtype", "list_add corruption", "list_del corruption",
	};
	unsigned int i;

	for (i = 0; i < sizeof(findings) / sizeof(findings[0]); i++)
		if (strstr(text, findings[i]))
			return 1;
	return 0;
}

/* The known warnings of stock kernels, loaded once per process. */
#define KNOWN_MAX	32

struct known_warning {
	regex_t re;
	char name[160];		/* file:line: first line of its comment */
};

static struct known_warning known[KNOWN_MAX];
static int known_count = -1;	/* -1: not loaded yet */

/* "# text" is a comment line; returns its text, or NULL. */
static const char *comment_text(const char *line)
{
	if (line[0] != '#')
		return NULL;
	line++;
	return line + strspn(line, " \t");
}

int wctb_list_entries(const char *path, wctb_list_fn fn, void *ctx)
{
	char line[512], title[128] = "";
	const char *c;
	FILE *f = fopen(path, "r");
	int lineno = 0, ret = 0;

	if (!f)
		return -errno;
	while (!ret && fgets(line, sizeof(line), f)) {
		lineno++;
		line[strcspn(line, "\n")] = '\0';
		c = comment_text(line);
		if (c) {
			if (!title[0])
				snprintf(title, sizeof(title), "%s", c);
			continue;
		}
		if (line[0])
			ret = fn(ctx, lineno, title, line);
		title[0] = '\0';	/* an entry or a blank line ends a comment */
	}
	fclose(f);
	return ret;
}

struct known_load {
	const char *base;
	int n;
};

/* One entry of the known-warnings list: 0, or 1 (stop) on a bad entry. */
static int load_known_entry(void *ctx, int lineno, const char *title,
			    const char *entry)
{
	struct known_load *l = ctx;
	const char *why = !title[0] ? "an entry without a comment" :
			  l->n == KNOWN_MAX ? "too many entries" : NULL;

	if (!why && regcomp(&known[l->n].re, entry, REG_EXTENDED | REG_NOSUB))
		why = "not a valid regular expression";
	if (why) {
		fprintf(stderr, "known stock-kernel warnings: %s:%d: %s; none tolerated\n",
			l->base, lineno, why);
		return 1;
	}
	snprintf(known[l->n].name, sizeof(known[l->n].name), "%s:%d: %s",
		 l->base, lineno, title);
	l->n++;
	return 0;
}

/*
 * Parse the list at @path into known[]; on any error report it and keep
 * no entry at all, so that nothing is tolerated by mistake.
 */
static void load_known_warnings(const char *path)
{
	struct known_load l = {
		.base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path,
	};
	int ret;

	known_count = 0;
	ret = wctb_list_entries(path, load_known_entry, &l);
	if (ret) {
		if (ret < 0)
			fprintf(stderr, "known stock-kernel warnings: %s: %s; none tolerated\n",
				path, strerror(-ret));
		while (l.n)
			regfree(&known[--l.n].re);
	}
	known_count = l.n;
}

const char *wctb_known_warning(const char *line)
{
	const char *path = getenv("WCTB_KNOWN_WARNINGS");
	int i;

	if (!path || !path[0])
		return NULL;
	if (known_count < 0)
		load_known_warnings(path);
	for (i = 0; i < known_count; i++)
		if (!regexec(&known[i].re, line, 0, NULL, 0))
			return known[i].name;
	return NULL;
}

/*
 * A known stock-kernel warning (never a bug report): say so in the test's
 * output, where init finds and counts it, and return 1.
 */
static int tolerated(const char *text)
{
	char line[512];
	const char *entry;

	snprintf(line, sizeof(line), "%.*s", (int)strcspn(text, "\n"), text);
	if (wctb_kernel_finding(line))
		return 0;
	entry = wctb_known_warning(line);
	if (!entry)
		return 0;
	/* stderr: unbuffered, so it survives the harness's _exit(). */
	fprintf(stderr, WCTB_TOLERATED "%s (%s)\n", line, entry);
	return 1;
}

int wctb_kmsg_open(void)
{
	int fd = open("/dev/kmsg", O_RDONLY | O_NONBLOCK);

	if (fd < 0)
		return -errno;
	if (lseek(fd, 0, SEEK_END) < 0) {
		close(fd);
		return -errno;
	}
	return fd;
}

int wctb_kmsg_new(int fd, char *buf, size_t len)
{
	char rec[1024], *text;
	size_t used = 0;
	ssize_t n;
	int count = 0;

	buf[0] = '\0';
	for (;;) {
		n = read(fd, rec, sizeof(rec) - 1);
		if (n < 0 && errno == EPIPE)	/* overwritten: keep reading */
			continue;
		if (n < 0)
			return errno == EAGAIN ? count : -errno;
		rec[n] = '\0';
		text = strchr(rec, ';');
		text = text ? text + 1 : rec;
		if ((atoi(rec) & 7) > 4 && !wctb_kernel_finding(text))
			continue;	/* notice, info, debug */
		if (strstr(text, "vfio-noiommu device opened by user"))
			continue;
		if (tolerated(text))
			continue;
		count++;
		if (used < len)
			used += snprintf(buf + used, len - used, "%s", text);
	}
}

long wctb_meminfo_kib(const char *field)
{
	char line[128];
	size_t flen = strlen(field);
	long val = -1;
	FILE *f = fopen("/proc/meminfo", "r");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, field, flen) && line[flen] == ':') {
			val = strtol(line + flen + 1, NULL, 10);
			break;
		}
	fclose(f);
	return val;
}

double wctb_pace(void)
{
	const char *env = getenv("WCTB_PACE");
	double pace = env ? strtod(env, NULL) : 1.0;

	return pace >= 1.0 ? pace : 1.0;
}

int wctb_paced_seconds(int seconds)
{
	double paced = seconds * wctb_pace();

	return (int)paced + (paced > (int)paced);
}

int wctb_depth_full(void)
{
	const char *env = getenv("WCTB_DEPTH");

	return env && !strcmp(env, "full");
}

int wctb_depth_rounds(int quick, int full)
{
	return wctb_depth_full() ? full : quick;
}

int wctb_debug_kernel(void)
{
	return !access("/sys/kernel/debug/kmemleak", F_OK);
}

int wctb_device_usable(int device, const struct wctb_regs *r, char *why,
		       size_t len)
{
	struct vfio_region_info info;
	volatile uint64_t *line;
	uint32_t flags = 0;
	uint64_t uc, off;
	int ret, i, cookie;
	uint8_t *p;

	ret = wctb_region_info(device, VFIO_PCI_BAR2_REGION_INDEX, &info);
	if (ret) {
		snprintf(why, len, "REGION_INFO: %s", strerror(-ret));
		return -1;
	}
	/*
	 * All of it through a UC cookie of this file: EBUSY if some page is
	 * still held write-combining (a fixed offset never conflicts, so
	 * without cookies there is no hold to find).
	 */
	ret = wctb_mmap_cookie(device, VFIO_PCI_BAR2_REGION_INDEX, &flags, 0,
			       &off, NULL);
	cookie = !ret;
	if (ret == -ENOTTY)
		off = info.offset;
	else if (ret) {
		snprintf(why, len, "UC cookie of BAR2: %s", strerror(-ret));
		return -1;
	}
	p = mmap(NULL, info.size, PROT_READ | PROT_WRITE, MAP_SHARED, device, off);
	if (p == MAP_FAILED) {
		snprintf(why, len, "%s UC mmap of all of BAR2: %s%s",
			 cookie ? "cookie" : "fixed-offset", strerror(errno),
			 errno == EBUSY ? " (a write-combining hold leaked)" : "");
		return -1;
	}
	line = (volatile uint64_t *)(p + info.size - 64);
	uc = wctb_counter(r, WC_TESTDEV_APERTURE_PREF, WC_TESTDEV_CNT_UC_WRITES);
	wctb_store_line(line, 0x600d);
	uc = wctb_counter(r, WC_TESTDEV_APERTURE_PREF,
			  WC_TESTDEV_CNT_UC_WRITES) - uc;
	ret = uc == 8 ? 0 : -1;
	for (i = 0; i < 8 && !ret; i++)
		ret = line[i] == 0x600du + i ? 0 : -1;
	if (ret)
		snprintf(why, len, "a UC line arrived as %lu UC writes, or "
			 "did not read back", (unsigned long)uc);
	munmap(p, info.size);
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

int wctb_session_open(struct wctb_session *s, char *why, size_t len)
{
	uint32_t flags = 0;
	int ret;

	memset(s, 0, sizeof(*s));
	s->kmsg = -1;
	s->v.container = s->v.group = s->v.iommufd = s->v.device = -1;
	s->bdf = wctb_device();
	if (!s->bdf) {
		snprintf(why, len, "wc-testdev not found");
		return -1;
	}
	if (wctb_vfio_open(&s->v, s->bdf)) {
		snprintf(why, len, "%s", s->v.why);
		return -1;
	}
	ret = wctb_regs_map_sysfs(&s->regs, s->bdf);
	if (!ret) {
		s->kmsg = wctb_kmsg_open();
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
	snprintf(why, len, "session setup: %s", strerror(-ret));
	if (s->kmsg >= 0)
		close(s->kmsg);
	wctb_regs_unmap(&s->regs);
	wctb_vfio_close(&s->v);
	return -1;
}

int wctb_session_close(struct wctb_session *s, char *why, size_t len)
{
	char log[2048];
	int n = 0, ret = 0;

	why[0] = '\0';
	if (s->regs.base && s->v.device >= 0 &&
	    wctb_device_usable(s->v.device, &s->regs, why, len))
		ret = -1;
	wctb_regs_unmap(&s->regs);
	wctb_vfio_close(&s->v);
	if (s->kmsg >= 0) {
		n = wctb_kmsg_new(s->kmsg, log, sizeof(log));
		close(s->kmsg);
	}
	if (n && !ret)
		snprintf(why, len, "kernel log during the test:\n%s", log);
	return n ? -1 : ret;
}
