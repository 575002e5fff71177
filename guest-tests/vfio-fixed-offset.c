// SPDX-License-Identifier: GPL-2.0
/*
 * wc-testdev at vfio-pci's fixed offsets (index << 40, what QEMU and DPDK
 * use), on every VFIO access path: region info, mmap of the apertures at
 * the offsets REGION_INFO reports, and data and counters checked against
 * what the test wrote.
 */
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "wctb-harness.h"
#include "wctb-fixture.h"

#define PATTERN_OFF	0x1000
#define PATTERN_WORDS	512	/* 4 KiB of 8-byte stores */

static uint64_t pattern(unsigned int bar, unsigned int i)
{
	return 0x5743000000000000ull | WCTB_FIXED_OFFSET(bar) | (i * 0x9e3779b1u);
}

FIXTURE(vfio_fixed_offset) {
	struct wctb_vfio v;
	struct wctb_regs regs;
};

FIXTURE_VARIANT(vfio_fixed_offset) {
	const char *vfio_path;
	unsigned int bar;
	unsigned int aperture;
	unsigned int other;
	unsigned int size_reg;
};

/* One variant per VFIO access path and aperture: legacy_type1_bar2... */
#define FIXTURE_VARIANT_ADD_VFIO_PATH(path, name, ...)			\
FIXTURE_VARIANT_ADD(vfio_fixed_offset, path##_##name) {			\
	.vfio_path = #path,						\
	__VA_ARGS__							\
}

FIXTURE_VARIANT_ADD_ALL_VFIO_PATHS(bar2,
				   .bar = WC_TESTDEV_BAR_PREF,
				   .aperture = WC_TESTDEV_APERTURE_PREF,
				   .other = WC_TESTDEV_APERTURE_NONPREF,
				   .size_reg = WC_TESTDEV_REG_PREF_SIZE);

FIXTURE_VARIANT_ADD_ALL_VFIO_PATHS(bar4,
				   .bar = WC_TESTDEV_BAR_NONPREF,
				   .aperture = WC_TESTDEV_APERTURE_NONPREF,
				   .other = WC_TESTDEV_APERTURE_PREF,
				   .size_reg = WC_TESTDEV_REG_NONPREF_SIZE);

FIXTURE_SETUP(vfio_fixed_offset)
{
	const char *bdf = wctb_device();

	self->regs.base = NULL;
	ASSERT_NE(NULL, bdf) TH_LOG("wc-testdev not found");
	WCTB_VFIO_PATH_OR_SKIP(bdf, variant->vfio_path);
	ASSERT_EQ(0, wctb_vfio_open(&self->v, bdf, variant->vfio_path));
	ASSERT_EQ(0, wctb_regs_map(&self->regs, self->v.device));
}

FIXTURE_TEARDOWN(vfio_fixed_offset)
{
	wctb_regs_unmap(&self->regs);
	wctb_vfio_close(&self->v);
}

TEST_F(vfio_fixed_offset, identity_registers)
{
	EXPECT_EQ(WC_TESTDEV_ID_VALUE, wctb_reg32(&self->regs, WC_TESTDEV_REG_ID));
	EXPECT_EQ(WC_TESTDEV_VERSION_VALUE,
		  wctb_reg32(&self->regs, WC_TESTDEV_REG_VERSION));
}

TEST_F(vfio_fixed_offset, region_info)
{
	struct vfio_region_info regs, ap;
	const __u32 rwm = VFIO_REGION_INFO_FLAG_READ |
			  VFIO_REGION_INFO_FLAG_WRITE | VFIO_REGION_INFO_FLAG_MMAP;

	ASSERT_EQ(0, wctb_region_info(self->v.device, VFIO_PCI_BAR0_REGION_INDEX, &regs));
	EXPECT_EQ(WC_TESTDEV_REGS_SIZE, regs.size);
	EXPECT_EQ(rwm, regs.flags & rwm);
	/* Existing userspace computes region offsets as index << 40. */
	EXPECT_EQ(0, regs.offset);

	ASSERT_EQ(0, wctb_region_info(self->v.device, variant->bar, &ap));
	EXPECT_EQ(wctb_reg64(&self->regs, variant->size_reg), ap.size);
	EXPECT_EQ(rwm, ap.flags & rwm);
	EXPECT_EQ(WCTB_FIXED_OFFSET(variant->bar), ap.offset);
}

TEST_F(vfio_fixed_offset, mmap_pattern_and_counters)
{
	const struct wctb_regs *r = &self->regs;
	unsigned int ap = variant->aperture, i, bad = 0;
	struct vfio_region_info info;
	volatile uint64_t *p;
	uint64_t buf[PATTERN_WORDS];
	void *map;

	ASSERT_EQ(0, wctb_region_info(self->v.device, variant->bar, &info));
	map = mmap(NULL, info.size, PROT_READ | PROT_WRITE, MAP_SHARED,
		   self->v.device, info.offset);
	ASSERT_NE(MAP_FAILED, map);
	p = (volatile uint64_t *)((char *)map + PATTERN_OFF);

	wctb_reset_counters(r);
	for (i = 0; i < PATTERN_WORDS; i++)
		p[i] = pattern(variant->bar, i);
	EXPECT_EQ(PATTERN_WORDS, wctb_counter(r, ap, WC_TESTDEV_CNT_WRITES));
	EXPECT_EQ(PATTERN_WORDS * 8, wctb_counter(r, ap, WC_TESTDEV_CNT_WRITE_BYTES));
	EXPECT_EQ(0, wctb_counter(r, ap, WC_TESTDEV_CNT_READS));
	EXPECT_EQ(0, wctb_counter(r, variant->other, WC_TESTDEV_CNT_WRITES));

	for (i = 0; i < PATTERN_WORDS; i++)
		bad += p[i] != pattern(variant->bar, i);
	EXPECT_EQ(0, bad) TH_LOG("%u words differ through mmap", bad);
	EXPECT_EQ(PATTERN_WORDS, wctb_counter(r, ap, WC_TESTDEV_CNT_READS));
	EXPECT_EQ(PATTERN_WORDS * 8, wctb_counter(r, ap, WC_TESTDEV_CNT_READ_BYTES));

	/* pread may split the transfer as it likes, but not the byte count. */
	ASSERT_EQ(sizeof(buf), pread(self->v.device, buf, sizeof(buf),
				     info.offset + PATTERN_OFF));
	for (i = 0, bad = 0; i < PATTERN_WORDS; i++)
		bad += buf[i] != pattern(variant->bar, i);
	EXPECT_EQ(0, bad) TH_LOG("%u words differ through pread", bad);
	EXPECT_EQ(2 * PATTERN_WORDS * 8,
		  wctb_counter(r, ap, WC_TESTDEV_CNT_READ_BYTES));
	EXPECT_EQ(PATTERN_WORDS, wctb_counter(r, ap, WC_TESTDEV_CNT_WRITES));
	munmap(map, info.size);
}

TEST_F(vfio_fixed_offset, pwrite_reads_back_through_mmap)
{
	struct vfio_region_info info;
	volatile uint8_t *p;
	uint8_t buf[256];
	unsigned int i, bad = 0;
	void *map;

	for (i = 0; i < sizeof(buf); i++)
		buf[i] = (uint8_t)(i * 7 + variant->bar);
	ASSERT_EQ(0, wctb_region_info(self->v.device, variant->bar, &info));
	map = mmap(NULL, info.size, PROT_READ | PROT_WRITE, MAP_SHARED,
		   self->v.device, info.offset);
	ASSERT_NE(MAP_FAILED, map);
	wctb_reset_counters(&self->regs);
	ASSERT_EQ(sizeof(buf), pwrite(self->v.device, buf, sizeof(buf),
				      info.offset + 2 * PATTERN_OFF));
	EXPECT_EQ(sizeof(buf), wctb_counter(&self->regs, variant->aperture,
					    WC_TESTDEV_CNT_WRITE_BYTES));
	p = (volatile uint8_t *)map + 2 * PATTERN_OFF;
	for (i = 0; i < sizeof(buf); i++)
		bad += p[i] != buf[i];
	EXPECT_EQ(0, bad) TH_LOG("%u bytes differ", bad);
	munmap(map, info.size);
}


/*
 * vfio-pci (6.12, 7.3) faults a 2 MiB-aligned BAR mapping in as PMDs.  The
 * large page path must carry the memory type too: stores still arrive as
 * UC-.
 */
TEST_F(vfio_fixed_offset, pmd_mapping_arrives_as_uc_minus)
{
	const struct wctb_regs *r = &self->regs;
	unsigned int ap = variant->aperture;
	struct vfio_region_info info;
	uintptr_t aligned;
	volatile uint8_t *p;
	char line[256];
	void *resv, *map;

	ASSERT_EQ(0, wctb_region_info(self->v.device, variant->bar, &info));
	if (info.size < 2 * SZ_2M)
		SKIP(return, "BAR%u is smaller than 4 MiB", variant->bar);
	resv = mmap(NULL, info.size + SZ_2M, PROT_NONE,
		    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	ASSERT_NE(MAP_FAILED, resv);
	aligned = ((uintptr_t)resv + SZ_2M - 1) & ~(SZ_2M - 1);
	map = mmap((void *)aligned, info.size, PROT_READ | PROT_WRITE,
		   MAP_SHARED | MAP_FIXED, self->v.device, info.offset);
	ASSERT_EQ((void *)aligned, map);
	p = (volatile uint8_t *)map + SZ_2M + 0x40;

	wctb_reset_counters(r);
	wctb_store_line(p, 0x700);
	ASSERT_EQ(0, wctb_ptdump_line(p, line, sizeof(line)));
	TH_LOG("page table: %s", line);
	EXPECT_NE(NULL, strstr(line, " pmd")) TH_LOG("not mapped by a PMD");
	EXPECT_NE(NULL, strstr(line, "PSE"));
	EXPECT_EQ(8, wctb_counter(r, ap, WC_TESTDEV_CNT_UC_WRITES));
	EXPECT_EQ(0, wctb_counter(r, ap, WC_TESTDEV_CNT_WC_STORES));
	EXPECT_EQ(0, wctb_counter(r, ap, WC_TESTDEV_CNT_FULL_BURSTS));
	EXPECT_EQ(WC_TESTDEV_MEMTYPE_UC_MINUS,
		  wctb_counter(r, ap, WC_TESTDEV_CNT_LAST_WRITE_TYPE));
	munmap(resv, info.size + SZ_2M);
}

TEST_HARNESS_MAIN
