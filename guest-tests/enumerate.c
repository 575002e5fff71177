// SPDX-License-Identifier: GPL-2.0
/*
 * wc-testdev enumerates as the spec says: ids, and BARs with the right
 * type, prefetchability and size, as the guest kernel's PCI core saw them.
 */
#include "wctb-harness.h"
#include "wctb.h"

struct bar_expect {
	int bar;
	unsigned long flags_set;
	unsigned long flags_clear;
	uint64_t min_size;
};

FIXTURE(enumerate) {
	const char *bdf;
};

FIXTURE_SETUP(enumerate)
{
	self->bdf = wctb_device();
	ASSERT_NE(NULL, self->bdf) TH_LOG("wc-testdev not found on the PCI bus");
}

FIXTURE_TEARDOWN(enumerate)
{
}

TEST(ids)
{
	const char *bdf = wctb_device();
	uint64_t v;

	ASSERT_NE(NULL, bdf) TH_LOG("wc-testdev not found on the PCI bus");

	ASSERT_EQ(0, wctb_sysfs_u64(bdf, "vendor", &v));
	EXPECT_EQ(WC_TESTDEV_VENDOR_ID, v);
	ASSERT_EQ(0, wctb_sysfs_u64(bdf, "device", &v));
	EXPECT_EQ(WC_TESTDEV_DEVICE_ID, v);
	ASSERT_EQ(0, wctb_sysfs_u64(bdf, "revision", &v));
	EXPECT_EQ(WC_TESTDEV_REVISION, v);
	/* sysfs shows class, subclass and programming interface */
	ASSERT_EQ(0, wctb_sysfs_u64(bdf, "class", &v));
	EXPECT_EQ(WC_TESTDEV_CLASS << 8, v);
}

FIXTURE_VARIANT(enumerate) {
	struct bar_expect bar;
};

FIXTURE_VARIANT_ADD(enumerate, bar0_registers) {
	.bar = { WC_TESTDEV_BAR_REGS, IORESOURCE_MEM,
		 IORESOURCE_PREFETCH | IORESOURCE_MEM_64, WC_TESTDEV_REGS_SIZE },
};

FIXTURE_VARIANT_ADD(enumerate, bar1_msix_table) {
	.bar = { WC_TESTDEV_BAR_MSIX, IORESOURCE_MEM,
		 IORESOURCE_PREFETCH | IORESOURCE_MEM_64, 4096 },
};

FIXTURE_VARIANT_ADD(enumerate, bar2_prefetchable) {
	.bar = { WC_TESTDEV_BAR_PREF,
		 IORESOURCE_MEM | IORESOURCE_PREFETCH | IORESOURCE_MEM_64, 0,
		 4 << 20 },
};

FIXTURE_VARIANT_ADD(enumerate, bar4_non_prefetchable) {
	.bar = { WC_TESTDEV_BAR_NONPREF, IORESOURCE_MEM | IORESOURCE_MEM_64,
		 IORESOURCE_PREFETCH, 4 << 20 },
};

TEST_F(enumerate, bar_type_and_size)
{
	const struct bar_expect *e = &variant->bar;
	uint64_t start, end, flags, size;

	ASSERT_EQ(0, wctb_sysfs_resource(self->bdf, e->bar, &start, &end, &flags));
	ASSERT_NE(0, start) TH_LOG("BAR%d is not assigned", e->bar);
	size = end - start + 1;
	EXPECT_EQ(e->flags_set, flags & e->flags_set)
		TH_LOG("BAR%d flags 0x%lx", e->bar, (unsigned long)flags);
	EXPECT_EQ(0, flags & e->flags_clear)
		TH_LOG("BAR%d flags 0x%lx", e->bar, (unsigned long)flags);
	EXPECT_EQ(0, size & (size - 1)) TH_LOG("size 0x%lx", (unsigned long)size);
	EXPECT_GE(size, e->min_size);
	EXPECT_EQ(0, start & (size - 1)) TH_LOG("BAR%d not naturally aligned", e->bar);
}

TEST_HARNESS_MAIN
