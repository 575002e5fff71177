/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The device through VFIO: the access paths (group/container, cdev and
 * iommufd), REGION_INFO, mmap cookies and the mapping helpers.
 */
#ifndef WCTB_VFIO_H
#define WCTB_VFIO_H

#include <stddef.h>
#include <stdint.h>
#include <linux/vfio.h>

/*
 * The mmap cookie uAPI of kernel-patches/0001; defined here too so that
 * the suite builds against kernels without it (the cookie tests SKIP).
 */
#ifndef VFIO_DEVICE_GET_MMAP_COOKIE
struct vfio_device_mmap_cookie {
	__u32	argsz;
	__u32	flags;
	__u32	index;
	__u32	mmap_flags;
#define VFIO_MMAP_FLAG_WC		(1 << 0)
	__aligned_u64	offset;
	__aligned_u64	size;
};
#define VFIO_DEVICE_GET_MMAP_COOKIE	_IO(VFIO_TYPE, VFIO_BASE + 22)
#endif
#ifndef VFIO_REGION_INFO_CAP_MMAP_FLAGS
#define VFIO_REGION_INFO_CAP_MMAP_FLAGS		6
struct vfio_region_info_cap_mmap_flags {
	struct vfio_info_cap_header header;
	__u32 flags;
	__u32 reserved;
};
#endif

/* Why cookie tests SKIP on kernels without the series. */
#define WCTB_NO_COOKIES "VFIO_DEVICE_GET_MMAP_COOKIE not supported (ENOTTY): " \
	"kernel without the mmap cookie series"

/*
 * The VFIO access paths, each test's fixture variants (as selftests/vfio
 * has its IOMMU modes):
 *   legacy_type1    group and container, VFIO_TYPE1v2_IOMMU (an IOMMU)
 *   legacy_noiommu  group and container, VFIO_NOIOMMU_IOMMU (no IOMMU)
 *   cdev_iommufd    /dev/vfio/devices/vfioN bound to iommufd and
 *                   attached to an IOAS (an IOMMU)
 * A test file defines FIXTURE_VARIANT_ADD_VFIO_PATH(path, ...) for its
 * fixture, with .vfio_path = #path, and calls
 * FIXTURE_VARIANT_ADD_ALL_VFIO_PATHS(...); each variant SKIPs where the
 * boot lacks its path (wctb_vfio_path_missing()).
 */
#define FIXTURE_VARIANT_ADD_ALL_VFIO_PATHS(...)					FIXTURE_VARIANT_ADD_VFIO_PATH(legacy_type1, ##__VA_ARGS__);		FIXTURE_VARIANT_ADD_VFIO_PATH(legacy_noiommu, ##__VA_ARGS__);		FIXTURE_VARIANT_ADD_VFIO_PATH(cdev_iommufd, ##__VA_ARGS__)

/* The paths' names, in that order. */
#define WCTB_VFIO_NUM_PATHS	3
extern const char *const wctb_vfio_paths[WCTB_VFIO_NUM_PATHS];

struct wctb_vfio {
	int container;		/* legacy: /dev/vfio/vfio */
	int group;		/* legacy: /dev/vfio/N or noiommu-N */
	int iommufd;		/* cdev: /dev/iommu */
	unsigned int ioas;	/* cdev: the IOAS every file attaches to */
	int device;
	int cdev;		/* opened through /dev/vfio/devices */
	int noiommu;		/* the device has no IOMMU behind it */
	char bdf[32];
	char cdev_path[64];
};

/*
 * Why this boot cannot reach @bdf through access path @path (one of the
 * names above), for a SKIP: the device's IOMMU setup lacks it, the kernel
 * lacks the cdev, or the boot option wctb.vfio-paths=legacy|cdev (from
 * run-vm.sh --iommu-paths) leaves it out.  NULL if it can.
 */
const char *wctb_vfio_path_missing(const char *bdf, const char *path);

/*
 * Open @bdf through access path @path, or with @path NULL through the
 * first one this boot offers (for programs that test no path).  0 or
 * -errno, with the step that failed on stderr; v is then closed again.
 */
int wctb_vfio_open(struct wctb_vfio *v, const char *bdf, const char *path);
void wctb_vfio_close(struct wctb_vfio *v);

/* "legacy-type1", "legacy-noiommu", "cdev-iommufd" or "cdev-noiommu". */
const char *wctb_vfio_path_name(const struct wctb_vfio *v);

/*
 * Another device file of the open device, through the same path: a new
 * file with its own cookies.  Returns the fd or -errno.
 */
int wctb_vfio_open_device_file(struct wctb_vfio *v);

/* Close the device file and open a new one (e.g. to drop its cookies). */
int wctb_vfio_reopen_device(struct wctb_vfio *v);

int wctb_region_info(int device, unsigned int index,
		     struct vfio_region_info *info);

/*
 * Offset of capability @id in @device's config space (read through the
 * VFIO config region), or -errno (-ENODEV without one).
 */
int wctb_config_cap(int device, uint8_t id);

/*
 * Set or clear memory enable in the command register through the config
 * region (clearing it zaps every BAR mapping).  Returns 0 or -errno
 * (-EIO if the register does not read back as written).
 */
int wctb_set_memory_enable(int device, int on);

/*
 * The same through any file whose offset @config_off is config space
 * offset 0 (the VFIO config region, sysfs's config file).
 */
int wctb_command_memory(int fd, uint64_t config_off, int on);

/*
 * VFIO_DEVICE_GET_MMAP_COOKIE for region @index with @mmap_flags.  With
 * @probe nothing is created: REGION_INFO says what the region accepts,
 * *@mmap_flags from its VFIO_REGION_INFO_CAP_MMAP_FLAGS capability (0
 * without one), *@size its size (-EINVAL if it cannot be mmapped).
 * Returns 0 or -errno; *@offset and *@size receive the cookie and its size.
 */
int wctb_mmap_cookie(int device, unsigned int index, uint32_t *mmap_flags,
		     int probe, uint64_t *offset, uint64_t *size);

/*
 * The mapping helpers.  Like mmap(2), they return the address or
 * MAP_FAILED with errno set (the library's one exception to -errno).
 *
 * wctb_map(): mmap(MAP_SHARED, read/write) of @len bytes of @fd at @off.
 * wctb_map_aligned(): the same at an address aligned to @align (a power
 * of two, e.g. WCTB_SZ_2M for PMD mappings); munmap(@len) frees it.
 */
void *wctb_map(int fd, uint64_t off, size_t len);
void *wctb_map_aligned(int fd, uint64_t off, size_t len, size_t align);

/*
 * What mmap(NULL, @len, @prot, @flags, @fd, @off) returns, as 0 (the
 * mapping worked; it is unmapped again) or -errno.
 */
int wctb_map_errno(int fd, uint64_t off, size_t len, int prot, int flags);

/* wctb_map_errno() of a shared read/write mapping. */
#define wctb_map_rw_errno(fd, off, len) \
	wctb_map_errno(fd, off, len, PROT_READ | PROT_WRITE, MAP_SHARED)

/*
 * Call @fn(@arg) with SIGBUS and SIGSEGV caught: the signal that ended
 * it, or 0 when it returned.  Not thread-safe: it swaps the process's
 * handlers and jumps through one static buffer.
 */
int wctb_guarded(void (*fn)(void *arg), void *arg);

/*
 * The signal (SIGBUS, SIGSEGV) an 8-byte store (@store) or load at @p
 * raises, or 0 when the access goes through (wctb_guarded()).
 */
int wctb_access_signal(volatile uint64_t *p, int store);

#endif /* WCTB_VFIO_H */
