/* SPDX-License-Identifier: GPL-2.0 */
/* wc-testdev in /sys/bus/pci: finding it, binding it, its attributes. */
#ifndef WCTB_SYSFS_H
#define WCTB_SYSFS_H

#include <stddef.h>
#include <stdint.h>

/* Bus/device/function of the first wc-testdev, e.g. "0000:00:03.0". */
int wctb_find_device(char *bdf, size_t len);

/* The device's BDF: $WCTB_BDF if set, else a bus scan; NULL: none. */
const char *wctb_device(void);

/* Write @val to the sysfs (or debugfs) file @path: 0 or -errno. */
int wctb_write_attr(const char *path, const char *val);

/* Write @val to /sys/bus/pci/devices/BDF/@attr: 0 or -errno. */
int wctb_write_dev_attr(const char *bdf, const char *attr, const char *val);

/*
 * Bind @bdf to vfio-pci (driver_override, then drivers_probe) and keep it
 * out of runtime suspend (wctb_keep_awake()).  0 or -errno (-EBUSY: the
 * device ended up with another driver).
 */
int wctb_bind_vfio_pci(const char *bdf);

/*
 * Keep @bdf out of runtime suspend: power/control "on", then check that
 * runtime_status reads "active".  With runtime PM (CONFIG_PM) vfio-pci
 * lets a device nobody has open go to D3hot, where it decodes no BAR, and
 * every probe (a re-added device) sets "auto" again; init calls this
 * before each program, as a VMM holding the device would.  0 (also
 * without CONFIG_PM: no power/control) or -errno (-EIO: not active).
 */
int wctb_keep_awake(const char *bdf);

/* Read /sys/bus/pci/devices/BDF/ATTR as a number (hex or decimal). */
int wctb_sysfs_u64(const char *bdf, const char *attr, uint64_t *val);

/* The flags of a resource line (the kernel's include/linux/ioport.h). */
#define IORESOURCE_IO		0x00000100
#define IORESOURCE_MEM		0x00000200
#define IORESOURCE_PREFETCH	0x00002000
#define IORESOURCE_MEM_64	0x00100000

/* Line @bar of /sys/bus/pci/devices/BDF/resource: start, end, flags. */
int wctb_sysfs_resource(const char *bdf, int bar, uint64_t *start,
			uint64_t *end, uint64_t *flags);

/*
 * The last component of the target of symlink /sys/bus/pci/devices/BDF/
 * @link ("vfio-pci" for "driver", "7" for "iommu_group"): 0 or -errno.
 */
int wctb_sysfs_link_name(const char *bdf, const char *link, char *name,
			 size_t len);

/*
 * The first word of /sys/bus/pci/devices/BDF/ATTR into @buf ("" if it
 * cannot be read); returns @buf, for use in comparisons and messages.
 */
const char *wctb_sysfs_word(const char *bdf, const char *attr, char *buf,
			    size_t len);

/*
 * Open /sys/bus/pci/devices/BDF/@file (e.g. "resource2_wc", "config")
 * read/write: the fd, or -1 with errno set.
 */
int wctb_open_sysfs_file(const char *bdf, const char *file);

/*
 * Map all of /sys/bus/pci/devices/BDF/@file (e.g. "resource2_wc") shared;
 * *@size receives the length.  Like mmap(2): MAP_FAILED with errno set.
 */
void *wctb_map_sysfs_resource(const char *bdf, const char *file,
			      size_t *size);

/*
 * Map @len bytes at offset @off of /sys/bus/pci/devices/BDF/@file shared,
 * e.g. one page of "resource2_wc" next to another of "resource2": each
 * range keeps a PAT reservation of its own type.  Like mmap(2).
 */
void *wctb_map_sysfs_range(const char *bdf, const char *file, uint64_t off,
			   size_t len);

#endif /* WCTB_SYSFS_H */
