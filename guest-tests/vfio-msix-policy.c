// SPDX-License-Identifier: GPL-2.0
/*
 * What the series offers for the BAR that holds the MSI-X table: no
 * write-combining cookies on it at all (the whole BAR; v2's policy, see
 * the cover letter), uncached cookies as on any mmappable BAR, and WC on
 * the prefetchable aperture only when the table is elsewhere.
 *
 * wc-testdev puts the table in BAR1 of its own by default; with
 * "-global wc-testdev.msix-bar=2" (meson test vm-msix-in-bar2) in the last
 * pages of BAR2, the prefetchable aperture.  The program reads where the
 * table is from the MSI-X capability and checks the policy for that BAR.
 *
 * Kernels without VFIO_DEVICE_GET_MMAP_COOKIE SKIP.
 */
#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "wctb-harness.h"
#include "wctb-fixture.h"

#define CFG_OFF		WCTB_FIXED_OFFSET(VFIO_PCI_CONFIG_REGION_INDEX)
#define PCI_CAP_MSIX	0x11

FIXTURE(vfio_msix_policy) {
	struct wctb_vfio v;
	int table_bar;		/* the BAR the MSI-X table is in */
};

WCTB_VFIO_PATH_VARIANTS(vfio_msix_policy);

/* The BIR of the MSI-X capability, or -1 without one. */
static int msix_table_bar(int device)
{
	int cap = wctb_config_cap(device, PCI_CAP_MSIX);
	uint32_t table;

	if (cap < 0 || pread(device, &table, 4, CFG_OFF + cap + 4) != 4)
		return -1;
	return table & 7;
}

FIXTURE_SETUP(vfio_msix_policy)
{
	uint32_t flags = 0;
	uint64_t off;
	int ret;

	self->v.device = -1;
	ASSERT_NE(NULL, wctb_device()) TH_LOG("wc-testdev not found");
	WCTB_VFIO_PATH_OR_SKIP(wctb_device(), variant->vfio_path);
	ASSERT_EQ(0, wctb_vfio_open(&self->v, wctb_device(), variant->vfio_path));
	self->table_bar = msix_table_bar(self->v.device);
	ASSERT_LE(0, self->table_bar) TH_LOG("wc-testdev has no MSI-X capability");
	ret = wctb_mmap_cookie(self->v.device, WC_TESTDEV_BAR_PREF, &flags, 0, &off, NULL);
	if (ret == -ENOTTY)
		SKIP(return, WCTB_NO_COOKIES);
	ASSERT_EQ(0, ret);
}

FIXTURE_TEARDOWN(vfio_msix_policy)
{
	wctb_vfio_close(&self->v);
}

/* The MSI-X BAR: REGION_INFO offers no WC, and a WC cookie is refused. */
TEST_F(vfio_msix_policy, no_wc_on_the_bar_with_the_msix_table)
{
	uint32_t supported = ~0u, flags = VFIO_MMAP_FLAG_WC;

	TH_LOG("MSI-X table in BAR%d", self->table_bar);
	ASSERT_EQ(0, wctb_mmap_cookie(self->v.device, self->table_bar, &supported,
				      1, NULL, NULL));
	EXPECT_EQ(0, supported & VFIO_MMAP_FLAG_WC);
	EXPECT_EQ(-EOPNOTSUPP, wctb_mmap_cookie(self->v.device, self->table_bar,
						&flags, 0, NULL, NULL));
}

/* ... but an uncached cookie of it maps, like the fixed offset. */
TEST_F(vfio_msix_policy, uc_cookie_of_the_msix_bar_maps)
{
	uint32_t flags = 0;
	uint64_t off;
	void *p;

	ASSERT_EQ(0, wctb_mmap_cookie(self->v.device, self->table_bar, &flags, 0,
				      &off, NULL));
	p = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, self->v.device, off);
	ASSERT_NE(MAP_FAILED, p) TH_LOG("%s", strerror(errno));
	munmap(p, PAGE);
}

/* BAR2 offers WC exactly when the table is not in it. */
TEST_F(vfio_msix_policy, wc_on_the_aperture_only_without_the_table)
{
	uint32_t supported = 0, flags = VFIO_MMAP_FLAG_WC;
	int table_here = self->table_bar == WC_TESTDEV_BAR_PREF;

	ASSERT_EQ(0, wctb_mmap_cookie(self->v.device, WC_TESTDEV_BAR_PREF,
				      &supported, 1, NULL, NULL));
	EXPECT_EQ(table_here ? 0 : VFIO_MMAP_FLAG_WC, supported);
	EXPECT_EQ(table_here ? -EOPNOTSUPP : 0,
		  wctb_mmap_cookie(self->v.device, WC_TESTDEV_BAR_PREF, &flags, 0,
				   NULL, NULL));
}

TEST_HARNESS_MAIN
