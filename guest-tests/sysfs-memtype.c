// SPDX-License-Identifier: GPL-2.0
/*
 * The testbed checked against code nobody here wrote: the kernel's PCI
 * sysfs files.  resource2 is mapped uncached (UC-), resource2_wc
 * write-combining; wc-testdev must see exactly that, and must also see the
 * stock kernel's x86 PAT aliasing, in agreement with pat_memtype_list.
 *
 * Negative control: WCTB_SYSFS_WC_FILE=resource2 (kernel command line)
 * points the WC checks at the UC file, and every WC check must then fail.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "wctb-harness.h"
#include "wctb.h"

#define LINE_OFF	0x2000	/* a 64-byte line inside BAR2 */

FIXTURE(sysfs_memtype) {
	const char *bdf;
	const char *wc_file;
	struct wctb_regs regs;
	uint64_t bar_start, bar_end;
};

FIXTURE_SETUP(sysfs_memtype)
{
	uint64_t flags;

	self->regs.base = NULL;
	self->bdf = wctb_device();
	ASSERT_NE(NULL, self->bdf) TH_LOG("wc-testdev not found");
	self->wc_file = getenv("WCTB_SYSFS_WC_FILE") ?: "resource2_wc";
	ASSERT_EQ(0, wctb_sysfs_resource(self->bdf, WC_TESTDEV_BAR_PREF,
					 &self->bar_start, &self->bar_end, &flags));
	ASSERT_EQ(0, wctb_regs_map_sysfs(&self->regs, self->bdf));
	if (!wctb_device_sees_memtypes(&self->regs))
		SKIP(return, "device does not report memory types (KVM: only TCG computes them)");
	wctb_reset_counters(&self->regs);
}

FIXTURE_TEARDOWN(sysfs_memtype)
{
	wctb_regs_unmap(&self->regs);
}

static uint64_t cnt(struct _test_data_sysfs_memtype *self, unsigned int c)
{
	return wctb_counter(&self->regs, WC_TESTDEV_APERTURE_PREF, c);
}

static volatile uint8_t *map(struct _test_data_sysfs_memtype *self, const char *file,
			     size_t *size)
{
	void *p = wctb_map_sysfs_resource(self->bdf, file, size);

	return p == MAP_FAILED ? NULL : p;
}

/* Log the device's view of the last write, for reviewers. */
static void show(struct __test_metadata *_metadata,
		 struct _test_data_sysfs_memtype *self, const char *what)
{
	char buf[512];

	TH_LOG("%s: %s", what, wctb_counters_summary(&self->regs,
						      WC_TESTDEV_APERTURE_PREF,
						      buf, sizeof(buf)));
}

/*
 * Each burst is one bus transaction of its payload plus the overhead, and
 * only bursts went on the bus: @bytes in all.  64 bytes are one
 * transaction unless an interrupt cut the line (wctb_check_bursts()).
 */
static void expect_one_txn_per_burst(struct __test_metadata *_metadata,
				     struct _test_data_sysfs_memtype *self,
				     uint64_t bytes)
{
	uint64_t txns = cnt(self, WC_TESTDEV_CNT_FULL_BURSTS) +
			cnt(self, WC_TESTDEV_CNT_PARTIAL_BURSTS);

	EXPECT_EQ(txns, cnt(self, WC_TESTDEV_CNT_BUS_TXNS));
	EXPECT_EQ(bytes + txns * WC_TESTDEV_BUS_OVERHEAD,
		  cnt(self, WC_TESTDEV_CNT_BUS_BYTES));
}

TEST_F(sysfs_memtype, uc_line_arrives_as_eight_uc_writes)
{
	volatile uint8_t *p;
	size_t size;

	p = map(self, "resource2", &size);
	ASSERT_NE(NULL, p);
	wctb_store_line(p + LINE_OFF, 0x100);
	show(_metadata, self, "resource2");
	EXPECT_EQ(8, cnt(self, WC_TESTDEV_CNT_UC_WRITES));
	EXPECT_EQ(64, cnt(self, WC_TESTDEV_CNT_UC_BYTES));
	EXPECT_EQ(0, cnt(self, WC_TESTDEV_CNT_WC_STORES));
	EXPECT_EQ(0, cnt(self, WC_TESTDEV_CNT_FULL_BURSTS));
	EXPECT_EQ(0, cnt(self, WC_TESTDEV_CNT_PARTIAL_BURSTS));
	EXPECT_EQ(8, cnt(self, WC_TESTDEV_CNT_BUS_TXNS));
	EXPECT_EQ(WC_TESTDEV_MEMTYPE_UC_MINUS,
		  cnt(self, WC_TESTDEV_CNT_LAST_WRITE_TYPE));
	munmap((void *)p, size);
}

TEST_F(sysfs_memtype, wc_line_arrives_as_one_full_burst)
{
	volatile uint8_t *p;
	size_t size;

	p = map(self, self->wc_file, &size);
	ASSERT_NE(NULL, p);
	wctb_store_line(p + LINE_OFF, 0x200);
	show(_metadata, self, self->wc_file);
	EXPECT_EQ(8, cnt(self, WC_TESTDEV_CNT_WC_STORES));
	EXPECT_BURSTS(&self->regs, AP, 1, 0, LINE);
	EXPECT_EQ(0, cnt(self, WC_TESTDEV_CNT_UC_WRITES));
	expect_one_txn_per_burst(_metadata, self, LINE);
	EXPECT_EQ(WC_TESTDEV_MEMTYPE_WC, cnt(self, WC_TESTDEV_CNT_LAST_WRITE_TYPE));
	munmap((void *)p, size);
}

TEST_F(sysfs_memtype, wc_partial_line_is_flushed_by_a_counter_read)
{
	volatile uint64_t *q;
	volatile uint8_t *p;
	size_t size;
	int i;

	p = map(self, self->wc_file, &size);
	ASSERT_NE(NULL, p);
	q = (volatile uint64_t *)(p + LINE_OFF);
	for (i = 0; i < 6; i++)
		q[i] = 0x300 + i;
	/* This BAR0 read drains the WC buffers before it is answered. */
	EXPECT_BURSTS(&self->regs, AP, 0, 1, 48);
	EXPECT_EQ(6, cnt(self, WC_TESTDEV_CNT_WC_STORES));
	show(_metadata, self, "48 bytes");
	munmap((void *)p, size);
}

/* 4 KiB as 512 8-byte stores, line by line, through @file. */
static void write_page(struct __test_metadata *_metadata,
		       struct _test_data_sysfs_memtype *self, const char *file)
{
	volatile uint8_t *p;
	size_t size;
	int line;

	p = map(self, file, &size);
	ASSERT_NE(NULL, p);
	wctb_reset_counters(&self->regs);
	for (line = 0; line < 64; line++)
		wctb_store_line(p + 0x3000 + 64 * line, 0x800 + 8 * line);
	show(_metadata, self, file);
	munmap((void *)p, size);
}

TEST_F(sysfs_memtype, page_through_uc_is_512_transactions)
{
	write_page(_metadata, self, "resource2");
	EXPECT_EQ(512, cnt(self, WC_TESTDEV_CNT_UC_WRITES));
	EXPECT_EQ(0, cnt(self, WC_TESTDEV_CNT_FULL_BURSTS));
	EXPECT_EQ(512, cnt(self, WC_TESTDEV_CNT_BUS_TXNS));
	EXPECT_EQ(512 * (8 + WC_TESTDEV_BUS_OVERHEAD),
		  cnt(self, WC_TESTDEV_CNT_BUS_BYTES));
}

TEST_F(sysfs_memtype, page_through_wc_is_64_full_bursts)
{
	write_page(_metadata, self, self->wc_file);
	EXPECT_EQ(512, cnt(self, WC_TESTDEV_CNT_WC_STORES));
	EXPECT_BURSTS(&self->regs, AP, 64, 0, PAGE);
	expect_one_txn_per_burst(_metadata, self, PAGE);
}

/* One mapping at a time, so that PAT keeps each one's own type. */
static void write_then_check(struct __test_metadata *_metadata,
			     struct _test_data_sysfs_memtype *self, const char *wfile,
			     const char *rfile, uint64_t seed)
{
	volatile uint64_t *q;
	volatile uint8_t *p;
	size_t size;
	int i, bad = 0;

	p = map(self, wfile, &size);
	ASSERT_NE(NULL, p);
	wctb_store_line(p + LINE_OFF, seed);
	munmap((void *)p, size);
	p = map(self, rfile, &size);
	ASSERT_NE(NULL, p);
	q = (volatile uint64_t *)(p + LINE_OFF);
	for (i = 0; i < 8; i++)
		bad += q[i] != seed + i;
	munmap((void *)p, size);
	EXPECT_EQ(0, bad) TH_LOG("%d words written through %s differ through %s",
				 bad, wfile, rfile);
}

TEST_F(sysfs_memtype, data_reads_back_through_the_other_mapping_and_pread)
{
	struct vfio_region_info info;
	struct wctb_vfio v;
	uint64_t buf[8];
	int i, bad = 0;

	/* Open VFIO first: vfio-pci resets (FLR) the device when it opens. */
	ASSERT_EQ(0, wctb_vfio_open(&v, self->bdf, NULL));
	write_then_check(_metadata, self, self->wc_file, "resource2", 0x400);
	write_then_check(_metadata, self, "resource2", self->wc_file, 0x500);
	ASSERT_EQ(0, wctb_region_info(v.device, WC_TESTDEV_BAR_PREF, &info));
	ASSERT_EQ(sizeof(buf), pread(v.device, buf, sizeof(buf),
				     info.offset + LINE_OFF));
	for (i = 0; i < 8; i++)
		bad += buf[i] != 0x500u + i;
	EXPECT_EQ(0, bad);
	wctb_vfio_close(&v);
}

/*
 * Stock x86 PAT: the first mapping's type wins, and a later request of
 * another type is silently given the first one.  The device, the PTEs and
 * pat_memtype_list must all agree on it.
 */
static void check_alias(struct __test_metadata *_metadata,
			struct _test_data_sysfs_memtype *self, const char *first,
			const char *second, uint64_t want_type,
			const char *want_pat)
{
	volatile uint8_t *p1, *p2;
	size_t s1, s2;
	char pat[64] = "";

	p1 = map(self, first, &s1);
	ASSERT_NE(NULL, p1);
	p2 = map(self, second, &s2);
	ASSERT_NE(NULL, p2);
	wctb_reset_counters(&self->regs);
	wctb_store_line(p2 + LINE_OFF, 0x600);
	show(_metadata, self, second);
	ASSERT_EQ(0, wctb_pat_memtype(self->bar_start, self->bar_end + 1,
				      pat, sizeof(pat)));
	TH_LOG("pat_memtype_list: %s; %s mapped after %s arrives as %s "
	       "(known stock-kernel coercion)", pat, second, first,
	       wctb_memtype_name(cnt(self, WC_TESTDEV_CNT_LAST_WRITE_TYPE)));
	EXPECT_STREQ(want_pat, pat);
	EXPECT_EQ(want_type, cnt(self, WC_TESTDEV_CNT_LAST_WRITE_TYPE));
	munmap((void *)p2, s2);
	munmap((void *)p1, s1);
}

TEST_F(sysfs_memtype, pat_alias_wc_first_turns_the_uc_mapping_wc)
{
	check_alias(_metadata, self, self->wc_file, "resource2",
		    WC_TESTDEV_MEMTYPE_WC, "write-combining");
	EXPECT_EQ(8, cnt(self, WC_TESTDEV_CNT_WC_STORES));
	EXPECT_BURSTS(&self->regs, AP, 1, 0, LINE);
}

TEST_F(sysfs_memtype, pat_alias_uc_first_turns_the_wc_mapping_uc_minus)
{
	check_alias(_metadata, self, "resource2", self->wc_file,
		    WC_TESTDEV_MEMTYPE_UC_MINUS, "uncached-minus");
	EXPECT_EQ(8, cnt(self, WC_TESTDEV_CNT_UC_WRITES));
	EXPECT_EQ(0, cnt(self, WC_TESTDEV_CNT_FULL_BURSTS));
}

TEST_HARNESS_MAIN
