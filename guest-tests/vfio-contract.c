// SPDX-License-Identifier: GPL-2.0
/*
 * The contract of VFIO_DEVICE_GET_MMAP_COOKIE and of mmap() on cookies,
 * case by case: every bad request fails with its documented errno, leaves
 * nothing in the kernel log, and the device still works afterwards (the
 * fixture's teardown checks both).  Also: the fixed offsets that QEMU and
 * DPDK compute keep working next to cookies.
 *
 * cdev/iommufd binds one file per device at a time, so cases that need a
 * second device file close the fixture's file and open a new one.
 *
 * Kernels without VFIO_DEVICE_GET_MMAP_COOKIE SKIP the cookie cases.
 */
#include <errno.h>
#include <stddef.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "wctb-harness.h"
#include "wctb.h"
#include "wctb-fixture.h"


WCTB_SESSION_FIXTURE(vfio_contract, 0)

#define NEED_COOKIES() do {						\
	if (!self->s.cookies)						\
		SKIP(return, WCTB_NO_COOKIES);				\
} while (0)

/* ioctl() with a raw argument; returns 0 or errno. */
static int cookie_ioctl(int device, void *arg)
{
	return ioctl(device, VFIO_DEVICE_GET_MMAP_COOKIE, arg) ? errno : 0;
}

/* A request for @index with @mmap_flags; returns 0 or errno. */
static int request(int device, uint32_t index, uint32_t mmap_flags)
{
	struct vfio_device_mmap_cookie mc = {
		.argsz = sizeof(mc), .index = index, .mmap_flags = mmap_flags,
	};

	return cookie_ioctl(device, &mc);
}


TEST_F(vfio_contract, argsz_too_small_is_einval)
{
	struct vfio_device_mmap_cookie mc = { .index = BAR2 };

	NEED_COOKIES();
	mc.argsz = 0;
	EXPECT_EQ(EINVAL, cookie_ioctl(self->s.v.device, &mc));
	mc.argsz = offsetof(struct vfio_device_mmap_cookie, size);
	EXPECT_EQ(EINVAL, cookie_ioctl(self->s.v.device, &mc))
		TH_LOG("argsz without room for the size field");
}

TEST_F(vfio_contract, larger_argsz_needs_a_zero_tail)
{
	struct {
		struct vfio_device_mmap_cookie mc;
		uint64_t tail[2];
	} big = { .mc = { .argsz = sizeof(big), .index = BAR2 } };

	NEED_COOKIES();
	EXPECT_EQ(0, cookie_ioctl(self->s.v.device, &big));
	EXPECT_EQ(self->s.uc_off, big.mc.offset)
		TH_LOG("a zero tail must not change the answer");
	big.mc.offset = 0;
	big.tail[1] = 1;
	EXPECT_EQ(E2BIG, cookie_ioctl(self->s.v.device, &big));
	EXPECT_EQ(0, big.mc.offset) TH_LOG("E2BIG must not write the result");
}

TEST_F(vfio_contract, unknown_flags_are_einval)
{
	struct vfio_device_mmap_cookie mc = {
		.argsz = sizeof(mc), .index = BAR2,
	};

	NEED_COOKIES();
	mc.flags = 1u << 0;
	EXPECT_EQ(EINVAL, cookie_ioctl(self->s.v.device, &mc))
		TH_LOG("flags must be 0 (no probe flag: REGION_INFO says)");
	mc.flags = 1u << 1;
	EXPECT_EQ(EINVAL, cookie_ioctl(self->s.v.device, &mc));
	mc.flags = 1u << 31;
	EXPECT_EQ(EINVAL, cookie_ioctl(self->s.v.device, &mc));
}

TEST_F(vfio_contract, unknown_mmap_flags_are_eopnotsupp)
{
	NEED_COOKIES();
	EXPECT_EQ(EOPNOTSUPP, request(self->s.v.device, BAR2, 1u << 1));
	EXPECT_EQ(EOPNOTSUPP, request(self->s.v.device, BAR2, 1u << 31));
}

TEST_F(vfio_contract, bad_region_index_is_einval)
{
	NEED_COOKIES();
	EXPECT_EQ(EINVAL, request(self->s.v.device, VFIO_PCI_NUM_REGIONS, 0));
	EXPECT_EQ(EINVAL, request(self->s.v.device, 99, 0));
	EXPECT_EQ(EINVAL, request(self->s.v.device, 0xffffffff, 0));
}

/*
 * Config space, ROM, VGA and the unused BARs (the upper halves of the
 * 64-bit BARs) cannot be mmapped at all.
 */
TEST_F(vfio_contract, regions_that_cannot_be_mmapped_are_einval)
{
	static const uint32_t regions[] = {
		VFIO_PCI_CONFIG_REGION_INDEX, VFIO_PCI_ROM_REGION_INDEX,
		VFIO_PCI_VGA_REGION_INDEX,
		VFIO_PCI_BAR3_REGION_INDEX, VFIO_PCI_BAR5_REGION_INDEX,
	};
	unsigned int i;

	NEED_COOKIES();
	for (i = 0; i < sizeof(regions) / sizeof(regions[0]); i++) {
		EXPECT_EQ(EINVAL, request(self->s.v.device, regions[i], 0))
			TH_LOG("region %u, default attributes", regions[i]);
		EXPECT_EQ(EINVAL, request(self->s.v.device, regions[i],
					  VFIO_MMAP_FLAG_WC))
			TH_LOG("region %u, WC", regions[i]);
	}
}

/* Policy: WC only on prefetchable BARs; BAR0 and BAR4 get UC only. */
TEST_F(vfio_contract, wc_on_non_prefetchable_bars_is_eopnotsupp)
{
	NEED_COOKIES();
	EXPECT_EQ(EOPNOTSUPP, request(self->s.v.device, BAR4, VFIO_MMAP_FLAG_WC));
	EXPECT_EQ(EOPNOTSUPP, request(self->s.v.device, WC_TESTDEV_BAR_REGS,
				      VFIO_MMAP_FLAG_WC));
	EXPECT_EQ(0, request(self->s.v.device, BAR4, 0));
}

/*
 * REGION_INFO advertises the attributes (VFIO_REGION_INFO_CAP_MMAP_FLAGS)
 * and creates nothing: a new file's first cookie offset stays free.
 */
TEST_F(vfio_contract, region_info_advertises_mmap_flags_and_creates_nothing)
{
	uint32_t supported = 0;
	uint64_t first, size = 0;
	int fd;

	NEED_COOKIES();
	ASSERT_EQ(0, wctb_vfio_reopen_device(&self->s.v));
	fd = self->s.v.device;
	EXPECT_EQ(0, wctb_mmap_cookie(fd, BAR2, &supported, 1, NULL, &size));
	EXPECT_EQ(VFIO_MMAP_FLAG_WC, supported);
	EXPECT_EQ(self->s.size, size);
	EXPECT_EQ(-EINVAL, wctb_map_errno(fd, WCTB_COOKIE_MIN, PAGE, RW, MAP_SHARED))
		TH_LOG("REGION_INFO must not create a cookie");
	ASSERT_EQ(0, wctb_mmap_cookie(fd, BAR2, &(uint32_t){ 0 }, 0, &first,
				      NULL));
	EXPECT_EQ(WCTB_COOKIE_MIN, first) TH_LOG("the probe used up a cookie");
	EXPECT_EQ(0, wctb_map_errno(fd, first, PAGE, RW, MAP_SHARED));
}

/* One cookie per (region, attributes), each a disjoint range. */
TEST_F(vfio_contract, cookies_are_distinct_per_region_and_attributes)
{
	uint64_t off[3], size[3];
	uint32_t flags = 0;
	int i, j;

	NEED_COOKIES();
	off[0] = self->s.uc_off;
	size[0] = self->s.size;
	off[1] = self->s.wc_off;
	size[1] = self->s.size;
	ASSERT_EQ(0, wctb_mmap_cookie(self->s.v.device, BAR4, &flags, 0, &off[2],
				      &size[2]));
	for (i = 0; i < 3; i++) {
		EXPECT_EQ(0, off[i] % PAGE);
		EXPECT_LE(WCTB_COOKIE_MIN, off[i]);
		for (j = 0; j < i; j++)
			EXPECT_TRUE(off[i] + size[i] <= off[j] ||
				    off[j] + size[j] <= off[i])
				TH_LOG("cookies %d and %d overlap", i, j);
	}
	flags = VFIO_MMAP_FLAG_WC;
	ASSERT_EQ(0, wctb_mmap_cookie(self->s.v.device, BAR2, &flags, 0, &off[0],
				      NULL));
	EXPECT_EQ(self->s.wc_off, off[0]) TH_LOG("asking again gives a new cookie");
}

TEST_F(vfio_contract, null_argument_is_efault)
{
	NEED_COOKIES();
	EXPECT_EQ(EFAULT, cookie_ioctl(self->s.v.device, NULL));
}

TEST_F(vfio_contract, map_private_is_einval)
{
	NEED_COOKIES();
	EXPECT_EQ(-EINVAL, wctb_map_errno(self->s.v.device, self->s.wc_off, PAGE, RW,
				    MAP_PRIVATE));
	EXPECT_EQ(-EINVAL, wctb_map_errno(self->s.v.device, self->s.uc_off, PAGE,
				    PROT_READ, MAP_PRIVATE));
}

TEST_F(vfio_contract, offset_in_the_cookie_range_but_no_cookie_is_einval)
{
	NEED_COOKIES();
	EXPECT_EQ(-EINVAL, wctb_map_errno(self->s.v.device, WCTB_COOKIE_MIN + (1ull << 50),
				    PAGE, RW, MAP_SHARED));
	EXPECT_EQ(-EINVAL, wctb_map_errno(self->s.v.device, self->s.wc_off + self->s.size,
				    PAGE, RW, MAP_SHARED))
		TH_LOG("just past the end of a cookie");
}

/*
 * A cookie that only another device file handed out means nothing here.
 * Legacy: both files open at once; cdev binds one file at a time, so there
 * the first file is closed before the second is bound.
 */
TEST_F(vfio_contract, cookie_of_another_device_file_is_einval)
{
	uint32_t flags = 0;
	uint64_t other;
	int fd = self->s.v.device, second;

	NEED_COOKIES();
	/* A third cookie on this file; a new file has only one. */
	ASSERT_EQ(0, wctb_mmap_cookie(fd, BAR4, &flags, 0, &other, NULL));
	EXPECT_EQ(0, wctb_map_errno(fd, other, PAGE, RW, MAP_SHARED));
	if (self->s.v.cdev) {
		ASSERT_EQ(0, wctb_vfio_reopen_device(&self->s.v));
		second = self->s.v.device;
	} else {
		second = wctb_vfio_open_device_file(&self->s.v);
		ASSERT_LE(0, second) TH_LOG("second file: %s", strerror(-second));
	}
	ASSERT_EQ(0, wctb_mmap_cookie(second, BAR2, &flags, 0, NULL, NULL));
	EXPECT_EQ(-EINVAL, wctb_map_errno(second, other, PAGE, RW, MAP_SHARED));
	if (!self->s.v.cdev) {
		EXPECT_EQ(0, wctb_map_errno(fd, other, PAGE, RW, MAP_SHARED))
			TH_LOG("the first file's cookie must still work there");
		close(second);
	}
}

TEST_F(vfio_contract, length_past_the_region_is_einval)
{
	NEED_COOKIES();
	EXPECT_EQ(-EINVAL, wctb_map_errno(self->s.v.device, self->s.wc_off,
				    self->s.size + PAGE, RW, MAP_SHARED));
	EXPECT_EQ(-EINVAL, wctb_map_errno(self->s.v.device, self->s.wc_off + PAGE,
				    self->s.size, RW, MAP_SHARED));
	EXPECT_EQ(-EINVAL, wctb_map_errno(self->s.v.device, self->s.uc_off,
				    2 * self->s.size, RW, MAP_SHARED));
}

/* mm behaviour, for completeness: mmap() itself rejects these. */
TEST_F(vfio_contract, unaligned_offset_is_einval)
{
	NEED_COOKIES();
	EXPECT_EQ(-EINVAL, wctb_map_errno(self->s.v.device, self->s.wc_off + 1, PAGE, RW,
				    MAP_SHARED));
	EXPECT_EQ(-EINVAL, wctb_map_errno(self->s.v.device, self->s.wc_off + PAGE / 2,
				    PAGE, RW, MAP_SHARED));
}

/* Device memory is not code: PROT_EXEC is EPERM, and cannot be added. */
TEST_F(vfio_contract, prot_exec_is_refused)
{
	void *p;

	NEED_COOKIES();
	EXPECT_EQ(-EPERM, wctb_map_errno(self->s.v.device, self->s.wc_off, PAGE,
				   PROT_READ | PROT_EXEC, MAP_SHARED));
	EXPECT_EQ(-EPERM, wctb_map_errno(self->s.v.device, self->s.uc_off, PAGE,
				   RW | PROT_EXEC, MAP_SHARED));
	p = mmap(NULL, PAGE, RW, MAP_SHARED, self->s.v.device, self->s.wc_off);
	ASSERT_NE(MAP_FAILED, p);
	EXPECT_EQ(-1, mprotect(p, PAGE, PROT_READ | PROT_EXEC));
	EXPECT_EQ(EACCES, errno);
	munmap(p, PAGE);
}

/* An offset inside a cookie maps that part of the region, with its type. */
TEST_F(vfio_contract, offset_inside_a_cookie_maps_that_part_of_the_region)
{
	uint64_t fixed = WCTB_FIXED_OFFSET(BAR2), val[8];
	volatile uint8_t *wc;
	int i;

	NEED_COOKIES();
	wc = mmap(NULL, PAGE, RW, MAP_SHARED, self->s.v.device,
		  self->s.wc_off + 5 * PAGE);
	ASSERT_NE(MAP_FAILED, wc);
	wctb_reset_counters(&self->s.regs);
	wctb_store_line(wc + 0x80, 0xc0de);
	EXPECT_EQ(8, wctb_counter(&self->s.regs, AP, WC_TESTDEV_CNT_WC_STORES));
	EXPECT_BURSTS(&self->s.regs, AP, 1, 0, LINE);
	munmap((void *)wc, PAGE);
	/* pread (no WC mapping left) finds the line at page 5 of BAR2. */
	ASSERT_EQ(sizeof(val), pread(self->s.v.device, val, sizeof(val),
				     fixed + 5 * PAGE + 0x80));
	for (i = 0; i < 8; i++)
		EXPECT_EQ(0xc0deu + i, val[i]);
}

/*
 * What QEMU and DPDK do, unchanged: REGION_INFO offsets are index << 40,
 * a whole-BAR mmap and pread/pwrite work there, before and after the
 * file asked for cookies, and the mapping is uncached.
 */
TEST_F(vfio_contract, fixed_offsets_work_as_before_next_to_cookies)
{
	static const uint32_t bars[] = { WC_TESTDEV_BAR_REGS, BAR2, BAR4 };
	struct vfio_region_info info;
	uint64_t val = 0x1234abcd, back = 0;
	volatile uint64_t *p;
	unsigned int i;
	int fd;

	ASSERT_EQ(0, wctb_vfio_reopen_device(&self->s.v));	/* no cookies */
	fd = self->s.v.device;
	for (i = 0; i < 3; i++) {
		ASSERT_EQ(0, wctb_region_info(fd, bars[i], &info));
		EXPECT_EQ(WCTB_FIXED_OFFSET(bars[i]), info.offset);
		EXPECT_TRUE(info.flags & VFIO_REGION_INFO_FLAG_MMAP);
	}
	ASSERT_EQ(0, wctb_region_info(fd, BAR2, &info));
	p = mmap(NULL, info.size, RW, MAP_SHARED, fd, info.offset);
	ASSERT_NE(MAP_FAILED, p) TH_LOG("whole-BAR mmap: %s", strerror(errno));
	wctb_reset_counters(&self->s.regs);
	p[64] = val;
	EXPECT_EQ(1, wctb_counter(&self->s.regs, AP, WC_TESTDEV_CNT_UC_WRITES));
	munmap((void *)p, info.size);
	EXPECT_EQ(sizeof(back), pread(fd, &back, sizeof(back), info.offset + 512));
	EXPECT_EQ(val, back);
	if (self->s.cookies) {
		ASSERT_EQ(0, request(fd, BAR2, VFIO_MMAP_FLAG_WC));
		EXPECT_EQ(sizeof(val), pwrite(fd, &val, sizeof(val),
					      info.offset + 520))
			TH_LOG("pwrite with an unmapped WC cookie: %s",
			       strerror(errno));
		EXPECT_EQ(0, wctb_map_errno(fd, info.offset, info.size, RW,
				       MAP_SHARED));
	}
}

TEST_HARNESS_MAIN
