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
#include "wctb.h"

#define PAGE		4096ul
#define SZ_2M		(2ul << 20)
#define LINE_OFF	0x40		/* a line inside a page */
#define AP		WC_TESTDEV_APERTURE_PREF

FIXTURE(cookie) {
	const char *bdf;
	struct wctb_vfio v;
	struct wctb_regs regs;
	uint64_t uc_off, wc_off, size;
};

FIXTURE_SETUP(cookie)
{
	uint32_t flags = 0;
	int ret;

	self->regs.base = NULL;
	self->bdf = wctb_device();
	ASSERT_NE(NULL, self->bdf);
	ASSERT_EQ(0, wctb_vfio_open(&self->v, self->bdf))
		TH_LOG("%s", self->v.why);
	ASSERT_EQ(0, wctb_regs_map(&self->regs, self->v.device));
	ret = wctb_mmap_cookie(self->v.device, WC_TESTDEV_BAR_PREF, &flags, 0,
			       &self->uc_off, &self->size);
	if (ret == -ENOTTY)
		SKIP(return, "VFIO_DEVICE_GET_MMAP_COOKIE not supported (%s): "
		     "kernel without the mmap cookie series", strerror(-ret));
	ASSERT_EQ(0, ret);
	flags = VFIO_MMAP_FLAG_WC;
	ASSERT_EQ(0, wctb_mmap_cookie(self->v.device, WC_TESTDEV_BAR_PREF,
				      &flags, 0, &self->wc_off, NULL));
}

FIXTURE_TEARDOWN(cookie)
{
	wctb_regs_unmap(&self->regs);
	wctb_vfio_close(&self->v);
}

static uint64_t cnt(struct _test_data_cookie *self, unsigned int c)
{
	return wctb_counter(&self->regs, AP, c);
}

static volatile uint8_t *map_at(struct _test_data_cookie *self, void *addr,
				uint64_t cookie, uint64_t off, size_t len)
{
	void *p = mmap(addr, len, PROT_READ | PROT_WRITE,
		       MAP_SHARED | (addr ? MAP_FIXED : 0), self->v.device,
		       cookie + off);

	return p == MAP_FAILED ? NULL : p;
}

static int map_errno(struct _test_data_cookie *self, uint64_t cookie,
		     uint64_t off, size_t len)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED,
		       self->v.device, cookie + off);

	if (p != MAP_FAILED) {
		munmap(p, len);
		return 0;
	}
	return errno;
}

static int line_matches(volatile uint8_t *p, uint64_t seed)
{
	volatile uint64_t *q = (volatile uint64_t *)p;
	int i;

	for (i = 0; i < 8; i++)
		if (q[i] != seed + i)
			return 0;
	return 1;
}

static void log_counters(struct __test_metadata *_metadata,
			 struct _test_data_cookie *self, const char *what)
{
	char buf[256];

	TH_LOG("%s: %s", what, wctb_counters_summary(&self->regs, AP, buf,
						      sizeof(buf)));
}

/*
 * A UC doorbell page at offset 0 and a WC window after it, both live:
 * each store arrives as its cookie asked, and data crosses mappings.
 */
TEST_F(cookie, mission_uc_page_and_wc_window_of_one_bar)
{
	size_t wlen = self->size - PAGE;
	volatile uint8_t *uc, *wc;
	uint64_t buf[8];
	int i;

	uc = map_at(self, NULL, self->uc_off, 0, PAGE);
	ASSERT_NE(NULL, uc) TH_LOG("UC cookie mmap: %s", strerror(errno));
	wc = map_at(self, NULL, self->wc_off, PAGE, wlen);
	ASSERT_NE(NULL, wc) TH_LOG("WC cookie mmap: %s", strerror(errno));

	wctb_reset_counters(&self->regs);
	wctb_store_line(wc + LINE_OFF, 0x1000);
	log_counters(_metadata, self, "WC window");
	EXPECT_EQ(8, cnt(self, WC_TESTDEV_CNT_WC_STORES));
	EXPECT_EQ(1, cnt(self, WC_TESTDEV_CNT_FULL_BURSTS));
	EXPECT_EQ(0, cnt(self, WC_TESTDEV_CNT_UC_WRITES));
	EXPECT_EQ(WC_TESTDEV_MEMTYPE_WC, cnt(self, WC_TESTDEV_CNT_LAST_WRITE_TYPE));

	wctb_reset_counters(&self->regs);
	wctb_store_line(uc + LINE_OFF, 0x2000);
	log_counters(_metadata, self, "UC page");
	EXPECT_EQ(8, cnt(self, WC_TESTDEV_CNT_UC_WRITES));
	EXPECT_EQ(0, cnt(self, WC_TESTDEV_CNT_WC_STORES));
	EXPECT_EQ(0, cnt(self, WC_TESTDEV_CNT_FULL_BURSTS));
	EXPECT_EQ(WC_TESTDEV_MEMTYPE_UC_MINUS,
		  cnt(self, WC_TESTDEV_CNT_LAST_WRITE_TYPE));

	/* Each reads back its own data; then swap the mappings' types. */
	EXPECT_TRUE(line_matches(wc + LINE_OFF, 0x1000));
	EXPECT_TRUE(line_matches(uc + LINE_OFF, 0x2000));
	munmap((void *)wc, wlen);
	munmap((void *)uc, PAGE);
	uc = map_at(self, NULL, self->uc_off, PAGE, PAGE);
	ASSERT_NE(NULL, uc);
	EXPECT_TRUE(line_matches(uc + LINE_OFF, 0x1000))
		TH_LOG("WC-written data differs through a UC mapping");
	munmap((void *)uc, PAGE);
	wc = map_at(self, NULL, self->wc_off, 0, PAGE);
	ASSERT_NE(NULL, wc);
	EXPECT_TRUE(line_matches(wc + LINE_OFF, 0x2000))
		TH_LOG("UC-written data differs through a WC mapping");
	munmap((void *)wc, PAGE);

	/* No WC mapping left: pread sees both lines. */
	ASSERT_EQ(sizeof(buf), pread(self->v.device, buf, sizeof(buf),
				     ((uint64_t)WC_TESTDEV_BAR_PREF << 40) + PAGE + LINE_OFF));
	for (i = 0; i < 8; i++)
		EXPECT_EQ(0x1000u + i, buf[i]);
	ASSERT_EQ(sizeof(buf), pread(self->v.device, buf, sizeof(buf),
				     ((uint64_t)WC_TESTDEV_BAR_PREF << 40) + LINE_OFF));
	EXPECT_EQ(0x2000u, buf[0]);
}

/* A 2 MiB-aligned WC mapping faults in as a PMD and still combines. */
TEST_F(cookie, wc_pmd_mapping_arrives_as_full_bursts)
{
	volatile uint8_t *p;
	uintptr_t aligned;
	char line[256];
	void *resv;

	if (self->size < 2 * SZ_2M)
		SKIP(return, "BAR2 smaller than 4 MiB");
	resv = mmap(NULL, self->size + SZ_2M, PROT_NONE,
		    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	ASSERT_NE(MAP_FAILED, resv);
	aligned = ((uintptr_t)resv + SZ_2M - 1) & ~(SZ_2M - 1);
	p = map_at(self, (void *)aligned, self->wc_off, 0, self->size);
	ASSERT_NE(NULL, p);

	wctb_reset_counters(&self->regs);
	wctb_store_line(p + SZ_2M + LINE_OFF, 0x3000);
	ASSERT_EQ(0, wctb_ptdump_line(p + SZ_2M, line, sizeof(line)));
	TH_LOG("page table: %s", line);
	log_counters(_metadata, self, "2 MiB WC");
	EXPECT_NE(NULL, strstr(line, " pmd"));
	EXPECT_NE(NULL, strstr(line, "PWT")) TH_LOG("not a WC PAT index");
	EXPECT_EQ(8, cnt(self, WC_TESTDEV_CNT_WC_STORES));
	EXPECT_EQ(1, cnt(self, WC_TESTDEV_CNT_FULL_BURSTS));
	EXPECT_EQ(0, cnt(self, WC_TESTDEV_CNT_UC_WRITES));
	munmap(resv, self->size + SZ_2M);
}

/*
 * x86 rule for cookies: one memory type per page at a time, a second
 * cookie mapping of another type fails with EBUSY.  The fixed offset is
 * not a cookie: it keeps mapping, and takes the page's current type.
 */
TEST_F(cookie, overlapping_uc_and_wc_cookie_mappings_are_refused)
{
	volatile uint8_t *wc, *uc;

	wc = map_at(self, NULL, self->wc_off, PAGE, PAGE);
	ASSERT_NE(NULL, wc);
	EXPECT_EQ(EBUSY, map_errno(self, self->uc_off, PAGE, PAGE));
	EXPECT_EQ(EBUSY, map_errno(self, self->uc_off, 0, 2 * PAGE));
	EXPECT_EQ(0, map_errno(self, (uint64_t)WC_TESTDEV_BAR_PREF << 40,
			       0, self->size))
		TH_LOG("a fixed-offset mapping must work as on a stock kernel");
	EXPECT_EQ(0, map_errno(self, self->uc_off, 2 * PAGE, PAGE));
	EXPECT_EQ(0, map_errno(self, self->wc_off, PAGE, PAGE))
		TH_LOG("same type may overlap");
	munmap((void *)wc, PAGE);

	uc = map_at(self, NULL, self->uc_off, PAGE, PAGE);
	ASSERT_NE(NULL, uc);
	EXPECT_EQ(EBUSY, map_errno(self, self->wc_off, PAGE, PAGE));
	munmap((void *)uc, PAGE);
	EXPECT_EQ(0, map_errno(self, self->wc_off, PAGE, PAGE))
		TH_LOG("the page is free again after munmap");
}

/*
 * No sticky rule: pread/pwrite work while a WC cookie maps the page, on a
 * UC page next to it, and a WC mapping works after them.
 */
TEST_F(cookie, pread_and_pwrite_work_next_to_wc_mappings)
{
	uint64_t off = (uint64_t)WC_TESTDEV_BAR_PREF << 40, val = 0x77, back;
	volatile uint8_t *wc;

	EXPECT_EQ(sizeof(val), pread(self->v.device, &back, sizeof(back), off));
	wc = map_at(self, NULL, self->wc_off, 0, PAGE);
	ASSERT_NE(NULL, wc) TH_LOG("WC mmap after pread: %s", strerror(errno));
	EXPECT_EQ(sizeof(val), pwrite(self->v.device, &val, sizeof(val),
				      off + LINE_OFF)) TH_LOG("%s", strerror(errno));
	EXPECT_EQ(sizeof(back), pread(self->v.device, &back, sizeof(back),
				      off + LINE_OFF)) TH_LOG("%s", strerror(errno));
	EXPECT_EQ(val, back);
	EXPECT_EQ(val, *(volatile uint64_t *)(wc + LINE_OFF))
		TH_LOG("pwrite data not visible through the WC mapping");
	EXPECT_EQ(sizeof(val), pwrite(self->v.device, &val, sizeof(val),
				      off + PAGE + LINE_OFF));
	wctb_store_line(wc + LINE_OFF, 0x9000);
	EXPECT_EQ(sizeof(back), pread(self->v.device, &back, sizeof(back),
				      off + LINE_OFF));
	EXPECT_EQ(0x9000u, back) TH_LOG("WC data not visible to pread");
	munmap((void *)wc, PAGE);
}

/* Policy: REGION_INFO advertises WC on the prefetchable BAR only. */
TEST_F(cookie, region_info_reports_wc_on_prefetchable_bars_only)
{
	uint32_t flags;
	uint64_t size;

	ASSERT_EQ(0, wctb_mmap_cookie(self->v.device, WC_TESTDEV_BAR_PREF,
				      &flags, 1, NULL, &size));
	EXPECT_EQ(VFIO_MMAP_FLAG_WC, flags);
	EXPECT_EQ(self->size, size);
	ASSERT_EQ(0, wctb_mmap_cookie(self->v.device, WC_TESTDEV_BAR_NONPREF,
				      &flags, 1, NULL, NULL));
	EXPECT_EQ(0, flags);
	flags = VFIO_MMAP_FLAG_WC;
	EXPECT_EQ(-EOPNOTSUPP, wctb_mmap_cookie(self->v.device,
						WC_TESTDEV_BAR_NONPREF, &flags,
						0, NULL, NULL));
	EXPECT_EQ(-EINVAL, wctb_mmap_cookie(self->v.device,
					    VFIO_PCI_CONFIG_REGION_INDEX,
					    &flags, 1, NULL, NULL));
}

/* Bad requests fail with the documented errno and change nothing. */
TEST_F(cookie, bad_requests_fail_with_documented_errnos)
{
	struct vfio_device_mmap_cookie mc = {
		.argsz = sizeof(mc), .index = WC_TESTDEV_BAR_PREF,
	};
	uint32_t flags = 0x80;

	mc.flags = 0x2;		/* unknown flag */
	EXPECT_EQ(-1, ioctl(self->v.device, VFIO_DEVICE_GET_MMAP_COOKIE, &mc));
	EXPECT_EQ(EINVAL, errno);
	mc.flags = 0;
	mc.argsz = 8;		/* shorter than the known structure */
	EXPECT_EQ(-1, ioctl(self->v.device, VFIO_DEVICE_GET_MMAP_COOKIE, &mc));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(-EOPNOTSUPP, wctb_mmap_cookie(self->v.device,
						WC_TESTDEV_BAR_PREF, &flags, 0,
						NULL, NULL)) TH_LOG("unknown mmap flag");
	flags = 0;
	EXPECT_EQ(-EINVAL, wctb_mmap_cookie(self->v.device, 99, &flags, 0,
					    NULL, NULL)) TH_LOG("no such region");
	EXPECT_EQ(-EINVAL, wctb_mmap_cookie(self->v.device,
					    VFIO_PCI_ROM_REGION_INDEX, &flags,
					    0, NULL, NULL)) TH_LOG("ROM");
	mc.argsz = sizeof(mc);
	mc.flags = 1;		/* v1's probe flag: gone, REGION_INFO says */
	mc.mmap_flags = 0;
	EXPECT_EQ(-1, ioctl(self->v.device, VFIO_DEVICE_GET_MMAP_COOKIE, &mc));
	EXPECT_EQ(EINVAL, errno);
	/* An offset in the cookie range that no cookie covers. */
	EXPECT_EQ(EINVAL, map_errno(self, self->wc_off, self->size, PAGE));
	EXPECT_EQ(EINVAL, map_errno(self, self->wc_off, 0, self->size + PAGE));
}

TEST_F(cookie, same_request_returns_the_same_cookie)
{
	uint32_t flags = VFIO_MMAP_FLAG_WC;
	uint64_t again;

	ASSERT_EQ(0, wctb_mmap_cookie(self->v.device, WC_TESTDEV_BAR_PREF,
				      &flags, 0, &again, NULL));
	EXPECT_EQ(self->wc_off, again);
	EXPECT_NE(self->uc_off, self->wc_off);
	EXPECT_EQ(0, self->uc_off % PAGE);
}

/*
 * Clearing memory enable zaps cookie mappings like fixed ones: accesses
 * fault with SIGBUS, and after re-enabling they refault with their type.
 */
TEST_F(cookie, memory_disable_zaps_and_refaults_cookie_mappings)
{
	volatile uint8_t *uc, *wc;

	uc = map_at(self, NULL, self->uc_off, 0, PAGE);
	ASSERT_NE(NULL, uc);
	wc = map_at(self, NULL, self->wc_off, PAGE, PAGE);
	ASSERT_NE(NULL, wc);
	wctb_store_line(wc + LINE_OFF, 0x4000);
	wctb_store_line(uc + LINE_OFF, 0x5000);

	wctb_regs_unmap(&self->regs);	/* BAR0 is zapped as well */
	ASSERT_EQ(0, wctb_set_memory_enable(self->v.device, 0));
	EXPECT_EQ(SIGBUS, wctb_access_signal((volatile uint64_t *)(uc + LINE_OFF), 1));
	EXPECT_EQ(SIGBUS, wctb_access_signal((volatile uint64_t *)(wc + LINE_OFF), 1));
	ASSERT_EQ(0, wctb_set_memory_enable(self->v.device, 1));
	ASSERT_EQ(0, wctb_regs_map(&self->regs, self->v.device));

	EXPECT_TRUE(line_matches(wc + LINE_OFF, 0x4000));
	EXPECT_TRUE(line_matches(uc + LINE_OFF, 0x5000));
	wctb_reset_counters(&self->regs);
	wctb_store_line(wc + LINE_OFF, 0x6000);
	EXPECT_EQ(1, cnt(self, WC_TESTDEV_CNT_FULL_BURSTS))
		TH_LOG("the refaulted WC mapping must still combine");
	wctb_reset_counters(&self->regs);
	wctb_store_line(uc + LINE_OFF, 0x7000);
	EXPECT_EQ(8, cnt(self, WC_TESTDEV_CNT_UC_WRITES));
	munmap((void *)wc, PAGE);
	munmap((void *)uc, PAGE);
}

/* fork(): the child's copy of a WC mapping is still write-combining. */
TEST_F(cookie, forked_child_keeps_the_memory_type)
{
	volatile uint8_t *wc;
	int status;
	pid_t pid;

	wc = map_at(self, NULL, self->wc_off, 0, PAGE);
	ASSERT_NE(NULL, wc);
	wctb_reset_counters(&self->regs);
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		wctb_store_line(wc + LINE_OFF, 0x8000);
		_exit(0);
	}
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	EXPECT_EQ(8, cnt(self, WC_TESTDEV_CNT_WC_STORES));
	EXPECT_EQ(1, cnt(self, WC_TESTDEV_CNT_FULL_BURSTS));
	munmap((void *)wc, PAGE);
}

TEST_HARNESS_MAIN
