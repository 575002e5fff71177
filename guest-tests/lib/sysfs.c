// SPDX-License-Identifier: GPL-2.0
/* wc-testdev in /sys/bus/pci; see sysfs.h. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "wctb.h"

int wctb_sysfs_u64(const char *bdf, const char *attr, uint64_t *val)
{
	char path[256], buf[64];
	FILE *f;
	int ok;

	snprintf(path, sizeof(path), WCTB_PCI_DEVICES "/%s/%s", bdf, attr);
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
	DIR *d = opendir(WCTB_PCI_DEVICES);
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
	int fd = open(path, O_WRONLY), ret = 0;

	if (fd < 0)
		return -errno;
	if (write(fd, val, strlen(val)) < 0)
		ret = -errno;
	close(fd);
	return ret;
}

int wctb_write_dev_attr(const char *bdf, const char *attr, const char *val)
{
	char path[256];

	snprintf(path, sizeof(path), WCTB_PCI_DEVICES "/%s/%s", bdf, attr);
	return wctb_write_attr(path, val);
}

int wctb_sysfs_link_name(const char *bdf, const char *link, char *name,
			 size_t len)
{
	char path[256], target[256];
	ssize_t n;

	snprintf(path, sizeof(path), WCTB_PCI_DEVICES "/%s/%s", bdf, link);
	n = readlink(path, target, sizeof(target) - 1);
	if (n < 0)
		return -errno;
	target[n] = '\0';
	snprintf(name, len, "%s", strrchr(target, '/') ? strrchr(target, '/') + 1 :
		 target);
	return 0;
}

int wctb_bind_vfio_pci(const char *bdf)
{
	char drv[64];
	int ret;

	ret = wctb_write_dev_attr(bdf, "driver_override", "vfio-pci");
	if (ret)
		return ret;
	wctb_write_dev_attr(bdf, "driver/unbind", bdf);	/* fails when unbound */
	ret = wctb_write_attr("/sys/bus/pci/drivers_probe", bdf);
	if (ret)
		return ret;
	ret = wctb_sysfs_link_name(bdf, "driver", drv, sizeof(drv));
	if (ret)
		return ret;
	if (strcmp(drv, "vfio-pci"))
		return -EBUSY;
	return wctb_keep_awake(bdf);
}

const char *wctb_sysfs_word(const char *bdf, const char *attr, char *buf,
			    size_t len)
{
	char path[256], fmt[16];
	FILE *f;

	snprintf(path, sizeof(path), WCTB_PCI_DEVICES "/%s/%s", bdf, attr);
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
	int ret;

	snprintf(path, sizeof(path), WCTB_PCI_DEVICES "/%s/power/control", bdf);
	if (access(path, F_OK))
		return 0;
	ret = wctb_write_attr(path, "on");
	if (ret)
		return ret;
	/* "on" resumes the device before the write returns. */
	if (strcmp(wctb_sysfs_word(bdf, "power/runtime_status", status,
				   sizeof(status)), "active"))
		return -EIO;
	return 0;
}

int wctb_sysfs_resource(const char *bdf, int bar, uint64_t *start,
			uint64_t *end, uint64_t *flags)
{
	char path[256], line[256];
	FILE *f;
	int i, ret = -EINVAL;

	snprintf(path, sizeof(path), WCTB_PCI_DEVICES "/%s/resource", bdf);
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

/* Open /sys/bus/pci/devices/BDF/@file for mapping: an fd or -1 (errno). */
int wctb_open_sysfs_file(const char *bdf, const char *file)
{
	char path[256];

	snprintf(path, sizeof(path), WCTB_PCI_DEVICES "/%s/%s", bdf, file);
	return open(path, O_RDWR | O_SYNC);
}

/* Map @len bytes of @fd at @off and close it; like mmap(2). */
static void *map_and_close(int fd, uint64_t off, size_t len)
{
	void *p = wctb_map(fd, off, len);
	int err = errno;

	close(fd);
	errno = err;
	return p;
}

void *wctb_map_sysfs_resource(const char *bdf, const char *file, size_t *size)
{
	int fd = wctb_open_sysfs_file(bdf, file);
	struct stat st;

	if (fd < 0)
		return MAP_FAILED;
	if (fstat(fd, &st)) {
		close(fd);
		return MAP_FAILED;
	}
	*size = st.st_size;
	return map_and_close(fd, 0, *size);
}

void *wctb_map_sysfs_range(const char *bdf, const char *file, uint64_t off,
			   size_t len)
{
	int fd = wctb_open_sysfs_file(bdf, file);

	return fd < 0 ? MAP_FAILED : map_and_close(fd, off, len);
}
