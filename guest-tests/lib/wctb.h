/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Helpers shared by the wc-testbed guest programs: finding wc-testdev,
 * sysfs attributes, opening it through VFIO and reading its counters.
 */
#ifndef WCTB_H
#define WCTB_H

#include <stddef.h>
#include <stdint.h>
#include <linux/vfio.h>

#include "wc-testdev.h"

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

/* Bus/device/function of the first wc-testdev, e.g. "0000:00:03.0". */
int wctb_find_device(char *bdf, size_t len);

/* The device's BDF: $WCTB_BDF if set, else a bus scan.  NULL if absent. */
const char *wctb_device(void);

/* Write @val to the sysfs (or debugfs) file @path: 0 or -errno. */
int wctb_write_attr(const char *path, const char *val);

/*
 * Bind @bdf to vfio-pci (driver_override, then drivers_probe) and keep it
 * out of runtime suspend (power/control "on", where the kernel has
 * runtime PM).  Returns 0, or -1 with errno set.
 */
int wctb_bind_vfio_pci(const char *bdf);

/*
 * Keep @bdf out of runtime suspend: power/control "on", then check that
 * runtime_status reads "active".  With runtime PM (CONFIG_PM) vfio-pci
 * lets a device nobody has open go to D3hot, where it decodes no BAR, and
 * every probe (a re-added device) sets "auto" again; init calls this
 * before each program and before its audit, as a VMM holding the device
 * would.  0 (also without CONFIG_PM: no power/control), or -1 with errno.
 */
int wctb_keep_awake(const char *bdf);

/*
 * Ask the host to act on the VM: writes "wctb-host: <request>" to the
 * results port, where run-vm.sh's checker (host/check-counters.py)
 * runs it over QMP.  Requests: "device_del wctd", "device_add wctd".
 * Returns 0 or -errno.  The host does not answer; the guest watches for
 * the effect (a device request, the device leaving or coming back).
 */
int wctb_host_request(const char *request);

/* Read /sys/bus/pci/devices/BDF/ATTR as a number (hex or decimal). */
int wctb_sysfs_u64(const char *bdf, const char *attr, uint64_t *val);

/* Line @bar of /sys/bus/pci/devices/BDF/resource: start, end, flags. */
int wctb_sysfs_resource(const char *bdf, int bar, uint64_t *start,
			uint64_t *end, uint64_t *flags);

/*
 * How a test reaches the device: $WCTB_VFIO_PATH is "legacy" (group and
 * container: type1 under an IOMMU, or noiommu) or "cdev" (the device's
 * /dev/vfio/devices node bound to iommufd, attached to an IOAS unless
 * the device is in noiommu mode).  init runs each vfio-* test once per
 * path; without the variable, "legacy".
 */
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
	char why[256];		/* what failed, for SKIP/FAIL messages */
};

/*
 * Open @bdf through the access path that $WCTB_VFIO_PATH names.  Returns
 * 0, or -1 with v->why set; v is then closed again.
 */
int wctb_vfio_open(struct wctb_vfio *v, const char *bdf);
void wctb_vfio_close(struct wctb_vfio *v);

/* "legacy-type1", "legacy-noiommu", "cdev-iommufd" or "cdev-noiommu". */
const char *wctb_vfio_path_name(const struct wctb_vfio *v);

/*
 * Another device file of the open device, through the same path: a new
 * file with its own cookies.  Returns the fd or -errno.
 */
int wctb_vfio_open_device_file(struct wctb_vfio *v);

int wctb_region_info(int device, unsigned int index,
		     struct vfio_region_info *info);

/* vfio-pci's fixed offset of region @index (what QEMU and DPDK use). */
#define WCTB_FIXED_OFFSET(index)	((uint64_t)(index) << 40)

/* mmap(MAP_SHARED, read/write) of the device file; NULL with errno. */
volatile uint8_t *wctb_map(int device, uint64_t off, size_t len);

/*
 * Set or clear memory enable in the command register through the config
 * region (clearing it zaps every BAR mapping).  Returns 0 or -errno
 * (-EIO if the register does not read back as written).
 */
int wctb_set_memory_enable(int device, int on);

/*
 * VFIO_DEVICE_GET_MMAP_COOKIE for region @index with @mmap_flags.  With
 * @probe nothing is created: REGION_INFO says what the region accepts,
 * *@mmap_flags from its VFIO_REGION_INFO_CAP_MMAP_FLAGS capability (0
 * without one), *@size its size (-EINVAL if it cannot be mmapped).
 * Returns 0 or -errno; *@offset and *@size receive the cookie and its size.
 */
int wctb_mmap_cookie(int device, unsigned int index, uint32_t *mmap_flags,
		     int probe, uint64_t *offset, uint64_t *size);

/* Close the device file and open a new one (e.g. to drop its cookies). */
int wctb_vfio_reopen_device(struct wctb_vfio *v);

/* BAR0 mapped through VFIO, for the counters and control registers. */
struct wctb_regs {
	volatile uint8_t *base;
	size_t size;
};

int wctb_regs_map(struct wctb_regs *r, int device);
/* BAR0 mapped through /sys/bus/pci/devices/BDF/resource0 instead. */
int wctb_regs_map_sysfs(struct wctb_regs *r, const char *bdf);
void wctb_regs_unmap(struct wctb_regs *r);
uint32_t wctb_reg32(const struct wctb_regs *r, unsigned int off);
uint64_t wctb_reg64(const struct wctb_regs *r, unsigned int off);
void wctb_reset_counters(const struct wctb_regs *r);
uint64_t wctb_counter(const struct wctb_regs *r, unsigned int aperture,
		      unsigned int counter);

/*
 * Map all of /sys/bus/pci/devices/BDF/@file (e.g. "resource2_wc") shared;
 * returns MAP_FAILED with errno set.  *@size receives the length.
 */
void *wctb_map_sysfs_resource(const char *bdf, const char *file, size_t *size);

/* Eight 8-byte stores covering the 64-byte line at @p. */
void wctb_store_line(volatile void *p, uint64_t seed);

/*
 * The signal (SIGBUS, SIGSEGV) an 8-byte store (@store) or load at @p
 * raises, or 0 when the access goes through.  Not thread-safe: it swaps
 * the process's handlers and jumps through one static buffer.
 */
int wctb_access_signal(volatile uint64_t *p, int store);

/*
 * The memory type the kernel's PAT bookkeeping records for physical range
 * [@start, @end), from /sys/kernel/debug/x86/pat_memtype_list: e.g.
 * "write-combining" or "uncached-minus".  Returns 0, -ENOENT if no entry
 * covers the range, or another -errno.
 */
int wctb_pat_memtype(uint64_t start, uint64_t end, char *type, size_t len);

/*
 * The line of /sys/kernel/debug/page_tables/current_kernel that describes
 * virtual address @va of the calling process, e.g.
 * "0x...-0x...  4M USR RW  PCD PSE  NX pmd".  Returns 0 or -errno.
 */
int wctb_ptdump_line(const volatile void *va, char *line, size_t len);

/*
 * One line with the write counters of @aperture, for test logs:
 * "uc-writes 8 wc-stores 0 full-bursts 0 ... last type UC-".
 */
const char *wctb_counters_summary(const struct wctb_regs *r,
				  unsigned int aperture, char *buf, size_t len);

/*
 * 1 if a kernel log text reports a bug: a warning, BUG, Oops, KASAN,
 * UBSAN, lockdep, kmemleak, list corruption or x86 PAT conflict report
 * (some of these are logged at info level).  init fails the test during
 * which one appears.
 */
int wctb_kernel_finding(const char *text);

/*
 * The kernel log from now on: wctb_kmsg_open() returns a /dev/kmsg fd
 * positioned at the end; wctb_kmsg_new() collects the records logged since
 * that are warnings or worse or report a bug (wctb_kernel_finding()) into
 * @buf and returns their number, or -errno.  Ignored: other notice, info
 * and debug records (boot-time chatter such as the TSC calibration), the
 * "vfio-noiommu device opened by user" warning that every noiommu open
 * prints by design.  (run-vm.sh boots with tsc=reliable, so a busy host
 * does not make the clocksource watchdog warn.)
 */
int wctb_kmsg_open(void);
int wctb_kmsg_new(int fd, char *buf, size_t len);

/*
 * Known warnings of stock kernels (guest-tests/known-stock-warnings.txt,
 * README "Known warnings of stock kernels").  init exports the list's path
 * as $WCTB_KNOWN_WARNINGS only when the booted kernel is stock; then
 * wctb_kmsg_new() does not count a warning-level record whose first line
 * matches an entry (a bug report never counts as one) and prints
 * WCTB_TOLERATED "LINE (ENTRY)" on stderr instead, which init shows as a
 * TAP diagnostic and counts in its "wctb-result:" line.
 * wctb_known_warning() returns the name of the entry @line matches
 * ("known-stock-warnings.txt:29: Linux 7.3: ..."), or NULL: no list, no
 * match, or a list that does not parse (reported once, nothing matches).
 */
#define WCTB_TOLERATED "known stock-kernel warning tolerated: "
const char *wctb_known_warning(const char *line);

/*
 * The entries of a list in the format of known-stock-warnings.txt: each
 * line that is neither blank nor a comment, with the first line of the
 * comment right above it as its title ("" without one).  @fn returns 0 to
 * go on, non-zero to stop; the result is that value, or -errno when @path
 * cannot be read.
 */
typedef int (*wctb_list_fn)(void *ctx, int lineno, const char *title,
			    const char *entry);
int wctb_list_entries(const char *path, wctb_list_fn fn, void *ctx);

/*
 * The first word of /sys/bus/pci/devices/BDF/ATTR into @buf ("" if it
 * cannot be read); returns @buf.
 */
const char *wctb_sysfs_word(const char *bdf, const char *attr, char *buf,
			    size_t len);

/* One number from /proc/meminfo, in KiB ("Slab", "MemAvailable"), or -1. */
long wctb_meminfo_kib(const char *field);

/*
 * The device still works and holds no write-combining page: all of BAR2
 * maps through a UC cookie of @device (EBUSY under any WC hold; the fixed
 * offset on kernels without cookies), and a line stored in its last page
 * arrives as 8 UC writes and reads back.  Returns 0, or -1 with a reason
 * in @why.
 */
int wctb_device_usable(int device, const struct wctb_regs *r, char *why,
		       size_t len);

/*
 * What the contract and lifetime tests start from: the device open on
 * the path of $WCTB_VFIO_PATH, its counters through sysfs (so that device
 * files can come and go), the kernel log watched from now on, and a UC
 * and a WC cookie of BAR2 (unless the kernel lacks the cookie ioctl).
 * $WCTB_INJECT_KMSG writes a warning to the kernel log right after the
 * watch starts: the negative control of the kernel log check.
 */
struct wctb_session {
	const char *bdf;
	struct wctb_vfio v;
	struct wctb_regs regs;
	int kmsg;
	int cookies;		/* 0: the kernel has no cookie ioctl */
	uint64_t uc_off, wc_off, size;
};

/* Returns 0, or -1 with the reason in @why (then nothing is left open). */
int wctb_session_open(struct wctb_session *s, char *why, size_t len);

/*
 * The end of every case: the device still usable (all of BAR2 maps UC:
 * no memory type hold leaked), everything closed, and then no warning or
 * bug report in the kernel log (so release paths count too).  Returns 0,
 * or -1 with what went wrong in @why.
 */
int wctb_session_close(struct wctb_session *s, char *why, size_t len);

/*
 * Offset of capability @id in @device's config space (read through the
 * VFIO config region), or -errno (-ENODEV without one).
 */
int wctb_config_cap(int device, uint8_t id);

/* Name of a WC_TESTDEV_MEMTYPE_* value, for messages. */
const char *wctb_memtype_name(uint64_t type);

/*
 * The pace of this machine and the depth of this run, as init measured and
 * chose them (it exports $WCTB_PACE and $WCTB_DEPTH to every program).
 * wctb_pace() is how many times slower than the reference machine this
 * guest runs (>= 1; 1 without init); every time limit of a test, the
 * harness's per-case limit included, is a reference figure scaled by it,
 * so that a slow host gets a slow pass and not a timeout.
 */
double wctb_pace(void);
/* @seconds at the reference pace, scaled to this machine (rounded up). */
int wctb_paced_seconds(int seconds);
/* 1 when $WCTB_DEPTH is "full" (--all-tests), 0 for "quick" or unset. */
int wctb_depth_full(void);
/* @full rounds at full depth, @quick rounds otherwise. */
int wctb_depth_rounds(int quick, int full);
/*
 * 1 on the debug kernel (build-kernel.sh --debug: kmemleak's debugfs file
 * exists).  Its checkers see a path the first time it runs, and each
 * round costs some 34 times more there (the calibration pace): stress loops run fewer rounds.
 */
int wctb_debug_kernel(void);

#endif /* WCTB_H */
