// SPDX-License-Identifier: GPL-2.0
/*
 * The mission test: one BAR, two mmap cookies mapped at the same time, an
 * uncached doorbell page and a write-combining window, and wc-testdev
 * judges each by what arrives.  Plus the x86 overlap rule, pread/pwrite
 * and fixed offsets next to WC mappings, 2 MiB (PMD) WC mappings and the
 * REGION_INFO policy.
 *
 * Kernels without VFIO_DEVICE_GET_MMAP_COOKIE SKIP every test here.
 */
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "wctb-harness.h"
#include "wctb-fixture.h"

#define LINE_OFF	0x40		/* a line inside a page */

WCTB_SESSION_FIXTURE(vfio_cookie, 1)

static uint64_t cnt(struct _test_data_vfio_cookie *self, unsigned int c)
{
	return wctb_counter(&self->s.regs, AP, c);
}

static void log_counters(struct __test_metadata *_metadata,
			 struct _test_data_vfio_cookie *self, const char *what)
{
	char buf[512];

	TH_LOG("%s: %s", what, wctb_counters_summary(&self->s.regs, AP, buf,
						      sizeof(buf)));
}

/*
 * A UC doorbell page at offset 0 and a WC window after it, both live:
 * each store arrives as its cookie asked, and data crosses mappings.
 */
TEST_F(vfio_cookie, mission_uc_page_and_wc_window_of_one_bar)
{
	int fd = self->s.v.device;
	size_t wlen = self->s.size - PAGE;
	volatile uint8_t *uc, *wc;
	uint64_t buf[8];
	int i;

	uc = wctb_map(fd, self->s.uc_off, PAGE);
	ASSERT_NE(MAP_FAILED, uc) TH_LOG("UC cookie mmap: %s", strerror(errno));
	wc = wctb_map(fd, self->s.wc_off + PAGE, wlen);
	ASSERT_NE(MAP_FAILED, wc) TH_LOG("WC cookie mmap: %s", strerror(errno));

	wctb_reset_counters(&self->s.regs);
	wctb_store_line(wc + LINE_OFF, 0x1000);
	log_counters(_metadata, self, "WC window");
	EXPECT_EQ(8, cnt(self, WC_TESTDEV_CNT_WC_STORES));
	EXPECT_BURSTS(&self->s.regs, AP, 1, 0, LINE);
	EXPECT_EQ(0, cnt(self, WC_TESTDEV_CNT_UC_WRITES));
	EXPECT_EQ(WC_TESTDEV_MEMTYPE_WC, cnt(self, WC_TESTDEV_CNT_LAST_WRITE_TYPE));

	wctb_reset_counters(&self->s.regs);
	wctb_store_line(uc + LINE_OFF, 0x2000);
	log_counters(_metadata, self, "UC page");
	EXPECT_EQ(8, cnt(self, WC_TESTDEV_CNT_UC_WRITES));
	EXPECT_EQ(0, cnt(self, WC_TESTDEV_CNT_WC_STORES));
	EXPECT_EQ(0, cnt(self, WC_TESTDEV_CNT_FULL_BURSTS));
	EXPECT_EQ(WC_TESTDEV_MEMTYPE_UC_MINUS,
		  cnt(self, WC_TESTDEV_CNT_LAST_WRITE_TYPE));

	/* Each reads back its own data; then swap the mappings' types. */
	EXPECT_TRUE(wctb_line_matches(wc + LINE_OFF, 0x1000));
	EXPECT_TRUE(wctb_line_matches(uc + LINE_OFF, 0x2000));
	munmap((void *)wc, wlen);
	munmap((void *)uc, PAGE);
	uc = wctb_map(fd, self->s.uc_off + PAGE, PAGE);
	ASSERT_NE(MAP_FAILED, uc);
	EXPECT_TRUE(wctb_line_matches(uc + LINE_OFF, 0x1000))
		TH_LOG("WC-written data differs through a UC mapping");
	munmap((void *)uc, PAGE);
	wc = wctb_map(fd, self->s.wc_off, PAGE);
	ASSERT_NE(MAP_FAILED, wc);
	EXPECT_TRUE(wctb_line_matches(wc + LINE_OFF, 0x2000))
		TH_LOG("UC-written data differs through a WC mapping");
	munmap((void *)wc, PAGE);

	/* No WC mapping left: pread sees both lines. */
	ASSERT_EQ(sizeof(buf), pread(fd, buf, sizeof(buf),
				     WCTB_FIXED_OFFSET(BAR2) + PAGE + LINE_OFF));
	for (i = 0; i < 8; i++)
		EXPECT_EQ(0x1000u + i, buf[i]);
	ASSERT_EQ(sizeof(buf), pread(fd, buf, sizeof(buf),
				     WCTB_FIXED_OFFSET(BAR2) + LINE_OFF));
	EXPECT_EQ(0x2000u, buf[0]);
}

/* A 2 MiB-aligned WC mapping faults in as a PMD and still combines. */
TEST_F(vfio_cookie, wc_pmd_mapping_arrives_as_full_bursts)
{
	volatile uint8_t *p;
	char line[256];

	if (self->s.size < 2 * SZ_2M)
		SKIP(return, "BAR2 smaller than 4 MiB");
	p = wctb_map_aligned(self->s.v.device, self->s.wc_off, self->s.size,
			     SZ_2M);
	ASSERT_NE(MAP_FAILED, p) TH_LOG("%s", strerror(errno));

	wctb_reset_counters(&self->s.regs);
	wctb_store_line(p + SZ_2M + LINE_OFF, 0x3000);
	ASSERT_EQ(0, wctb_ptdump_line(p + SZ_2M, line, sizeof(line)));
	TH_LOG("page table: %s", line);
	log_counters(_metadata, self, "2 MiB WC");
	EXPECT_NE(NULL, strstr(line, " pmd"));
	EXPECT_NE(NULL, strstr(line, "PWT")) TH_LOG("not a WC PAT index");
	EXPECT_EQ(8, cnt(self, WC_TESTDEV_CNT_WC_STORES));
	EXPECT_BURSTS(&self->s.regs, AP, 1, 0, LINE);
	EXPECT_EQ(0, cnt(self, WC_TESTDEV_CNT_UC_WRITES));
	munmap((void *)p, self->s.size);
}

/*
 * x86 rule for cookies: one memory type per page at a time, a second
 * cookie mapping of another type fails with EBUSY.  The fixed offset is
 * not a cookie: it keeps mapping, and takes the page's current type.
 */
TEST_F(vfio_cookie, overlapping_uc_and_wc_cookie_mappings_are_refused)
{
	int fd = self->s.v.device;
	volatile uint8_t *wc, *uc;

	wc = wctb_map(fd, self->s.wc_off + PAGE, PAGE);
	ASSERT_NE(MAP_FAILED, wc);
	EXPECT_EQ(-EBUSY, wctb_map_rw_errno(fd, self->s.uc_off + PAGE, PAGE));
	EXPECT_EQ(-EBUSY, wctb_map_rw_errno(fd, self->s.uc_off, 2 * PAGE));
	EXPECT_EQ(0, wctb_map_rw_errno(fd, WCTB_FIXED_OFFSET(BAR2), self->s.size))
		TH_LOG("a fixed-offset mapping must work as on a stock kernel");
	EXPECT_EQ(0, wctb_map_rw_errno(fd, self->s.uc_off + 2 * PAGE, PAGE));
	EXPECT_EQ(0, wctb_map_rw_errno(fd, self->s.wc_off + PAGE, PAGE))
		TH_LOG("same type may overlap");
	munmap((void *)wc, PAGE);

	uc = wctb_map(fd, self->s.uc_off + PAGE, PAGE);
	ASSERT_NE(MAP_FAILED, uc);
	EXPECT_EQ(-EBUSY, wctb_map_rw_errno(fd, self->s.wc_off + PAGE, PAGE));
	munmap((void *)uc, PAGE);
	EXPECT_EQ(0, wctb_map_rw_errno(fd, self->s.wc_off + PAGE, PAGE))
		TH_LOG("the page is free again after munmap");
}

/*
 * No sticky rule: pread/pwrite work while a WC cookie maps the page, on a
 * UC page next to it, and a WC mapping works after them.
 */
TEST_F(vfio_cookie, pread_and_pwrite_work_next_to_wc_mappings)
{
	int fd = self->s.v.device;
	uint64_t off = WCTB_FIXED_OFFSET(BAR2), val = 0x77, back;
	volatile uint8_t *wc;

	EXPECT_EQ(sizeof(val), pread(fd, &back, sizeof(back), off));
	wc = wctb_map(fd, self->s.wc_off, PAGE);
	ASSERT_NE(MAP_FAILED, wc) TH_LOG("WC mmap after pread: %s", strerror(errno));
	EXPECT_EQ(sizeof(val), pwrite(fd, &val, sizeof(val),
				      off + LINE_OFF)) TH_LOG("%s", strerror(errno));
	EXPECT_EQ(sizeof(back), pread(fd, &back, sizeof(back),
				      off + LINE_OFF)) TH_LOG("%s", strerror(errno));
	EXPECT_EQ(val, back);
	EXPECT_EQ(val, *(volatile uint64_t *)(wc + LINE_OFF))
		TH_LOG("pwrite data not visible through the WC mapping");
	EXPECT_EQ(sizeof(val), pwrite(fd, &val, sizeof(val),
				      off + PAGE + LINE_OFF));
	wctb_store_line(wc + LINE_OFF, 0x9000);
	EXPECT_EQ(sizeof(back), pread(fd, &back, sizeof(back),
				      off + LINE_OFF));
	EXPECT_EQ(0x9000u, back) TH_LOG("WC data not visible to pread");
	munmap((void *)wc, PAGE);
}

/* Policy: REGION_INFO advertises WC on the prefetchable BAR only. */
TEST_F(vfio_cookie, region_info_reports_wc_on_prefetchable_bars_only)
{
	int fd = self->s.v.device;
	uint32_t flags;
	uint64_t size;

	ASSERT_EQ(0, wctb_mmap_cookie(fd, WC_TESTDEV_BAR_PREF,
				      &flags, 1, NULL, &size));
	EXPECT_EQ(VFIO_MMAP_FLAG_WC, flags);
	EXPECT_EQ(self->s.size, size);
	ASSERT_EQ(0, wctb_mmap_cookie(fd, WC_TESTDEV_BAR_NONPREF,
				      &flags, 1, NULL, NULL));
	EXPECT_EQ(0, flags);
	flags = VFIO_MMAP_FLAG_WC;
	EXPECT_EQ(-EOPNOTSUPP, wctb_mmap_cookie(fd,
						WC_TESTDEV_BAR_NONPREF, &flags,
						0, NULL, NULL));
	EXPECT_EQ(-EINVAL, wctb_mmap_cookie(fd,
					    VFIO_PCI_CONFIG_REGION_INDEX,
					    &flags, 1, NULL, NULL));
}

/* Bad requests fail with the documented errno and change nothing. */
TEST_F(vfio_cookie, bad_requests_fail_with_documented_errnos)
{
	int fd = self->s.v.device;
	struct vfio_device_mmap_cookie mc = {
		.argsz = sizeof(mc), .index = WC_TESTDEV_BAR_PREF,
	};
	uint32_t flags = 0x80;

	mc.flags = 0x2;		/* unknown flag */
	EXPECT_EQ(-1, ioctl(fd, VFIO_DEVICE_GET_MMAP_COOKIE, &mc));
	EXPECT_EQ(EINVAL, errno);
	mc.flags = 0;
	mc.argsz = 8;		/* shorter than the known structure */
	EXPECT_EQ(-1, ioctl(fd, VFIO_DEVICE_GET_MMAP_COOKIE, &mc));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(-EOPNOTSUPP, wctb_mmap_cookie(fd,
						WC_TESTDEV_BAR_PREF, &flags, 0,
						NULL, NULL)) TH_LOG("unknown mmap flag");
	flags = 0;
	EXPECT_EQ(-EINVAL, wctb_mmap_cookie(fd, 99, &flags, 0,
					    NULL, NULL)) TH_LOG("no such region");
	EXPECT_EQ(-EINVAL, wctb_mmap_cookie(fd,
					    VFIO_PCI_ROM_REGION_INDEX, &flags,
					    0, NULL, NULL)) TH_LOG("ROM");
	mc.argsz = sizeof(mc);
	mc.flags = 1;		/* v1's probe flag: gone, REGION_INFO says */
	mc.mmap_flags = 0;
	EXPECT_EQ(-1, ioctl(fd, VFIO_DEVICE_GET_MMAP_COOKIE, &mc));
	EXPECT_EQ(EINVAL, errno);
	/* An offset in the cookie range that no cookie covers. */
	EXPECT_EQ(-EINVAL, wctb_map_rw_errno(fd, self->s.wc_off + self->s.size, PAGE));
	EXPECT_EQ(-EINVAL, wctb_map_rw_errno(fd, self->s.wc_off, self->s.size + PAGE));
}

TEST_F(vfio_cookie, same_request_returns_the_same_cookie)
{
	int fd = self->s.v.device;
	uint32_t flags = VFIO_MMAP_FLAG_WC;
	uint64_t again;

	ASSERT_EQ(0, wctb_mmap_cookie(fd, WC_TESTDEV_BAR_PREF,
				      &flags, 0, &again, NULL));
	EXPECT_EQ(self->s.wc_off, again);
	EXPECT_NE(self->s.uc_off, self->s.wc_off);
	EXPECT_EQ(0, self->s.uc_off % PAGE);
}

/*
 * Clearing memory enable zaps cookie mappings like fixed ones: accesses
 * fault with SIGBUS, and after re-enabling they refault with their type.
 */
TEST_F(vfio_cookie, memory_disable_zaps_and_refaults_cookie_mappings)
{
	int fd = self->s.v.device;
	volatile uint8_t *uc, *wc;

	uc = wctb_map(fd, self->s.uc_off, PAGE);
	ASSERT_NE(MAP_FAILED, uc);
	wc = wctb_map(fd, self->s.wc_off + PAGE, PAGE);
	ASSERT_NE(MAP_FAILED, wc);
	wctb_store_line(wc + LINE_OFF, 0x4000);
	wctb_store_line(uc + LINE_OFF, 0x5000);

	ASSERT_EQ(0, wctb_set_memory_enable(fd, 0));
	EXPECT_EQ(SIGBUS, wctb_access_signal((volatile uint64_t *)(uc + LINE_OFF), 1));
	EXPECT_EQ(SIGBUS, wctb_access_signal((volatile uint64_t *)(wc + LINE_OFF), 1));
	ASSERT_EQ(0, wctb_set_memory_enable(fd, 1));

	EXPECT_TRUE(wctb_line_matches(wc + LINE_OFF, 0x4000));
	EXPECT_TRUE(wctb_line_matches(uc + LINE_OFF, 0x5000));
	wctb_reset_counters(&self->s.regs);
	wctb_store_line(wc + LINE_OFF, 0x6000);
	/* The refaulted WC mapping must still combine. */
	EXPECT_BURSTS(&self->s.regs, AP, 1, 0, LINE);
	wctb_reset_counters(&self->s.regs);
	wctb_store_line(uc + LINE_OFF, 0x7000);
	EXPECT_EQ(8, cnt(self, WC_TESTDEV_CNT_UC_WRITES));
	munmap((void *)wc, PAGE);
	munmap((void *)uc, PAGE);
}

/* fork(): the child's copy of a WC mapping is still write-combining. */
TEST_F(vfio_cookie, forked_child_keeps_the_memory_type)
{
	int fd = self->s.v.device;
	volatile uint8_t *wc;
	int status;
	pid_t pid;

	wc = wctb_map(fd, self->s.wc_off, PAGE);
	ASSERT_NE(MAP_FAILED, wc);
	wctb_reset_counters(&self->s.regs);
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		wctb_store_line(wc + LINE_OFF, 0x8000);
		_exit(0);
	}
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	EXPECT_EQ(8, cnt(self, WC_TESTDEV_CNT_WC_STORES));
	EXPECT_BURSTS(&self->s.regs, AP, 1, 0, LINE);
	munmap((void *)wc, PAGE);
}

TEST_HARNESS_MAIN
