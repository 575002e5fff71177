// SPDX-License-Identifier: GPL-2.0
/*
 * Runtime power management through VFIO's low-power features
 * (VFIO_DEVICE_FEATURE_LOW_POWER_ENTRY, _ENTRY_WITH_WAKEUP, _EXIT), the
 * way a VMM parks an idle device:
 *
 *  - entering low power revokes every user mapping of the BARs, fixed
 *    offsets and mmap cookies alike, and the device really goes to D3hot
 *    (the PCI core's power_state and runtime_status say so);
 *  - a store through any of them then takes SIGBUS, and nothing reaches
 *    the device;
 *  - leaving low power (LOW_POWER_EXIT, or any ioctl after
 *    ENTRY_WITH_WAKEUP, which also signals the wakeup eventfd) brings the
 *    device back to D0, and the mappings refault with their own memory
 *    types: the WC cookie combines again, the UC ones do not;
 *  - LOW_POWER_ENTRY twice is refused (EINVAL; after ENTRY_WITH_WAKEUP
 *    the second ioctl would wake the device first, and succeed).
 *
 * init keeps wc-testdev awake for the rest of the suite (power/control
 * "on", before every program); each case here allows runtime suspend
 * ("auto") and restores "on".  The device-side check that nothing arrived
 * in low power means something only with the SIGBUS check: a device in
 * D3hot decodes no BAR anyway.
 * A kernel without CONFIG_PM has no power/control: SKIP.  Kernels without
 * the cookie series run the fixed-offset half.  WCTB_PM_STAY_AWAKE=1 (a
 * negative control) keeps "on": the device stays in D0 and the cases fail;
 * WCTB_PM_SKIP_ENTRY=1 (another) skips LOW_POWER_ENTRY itself: the
 * revocation checks fail.
 */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "wctb-harness.h"
#include "wctb-fixture.h"
#include "wctb.h"

#define LINE_OFF	0x80

/* The three mappings, one page of BAR2 each. */
enum { MAP_FIXED_UC, MAP_COOKIE_UC, MAP_COOKIE_WC, NR_MAPS };
static const char *const map_name[NR_MAPS] = {
	"fixed offset (UC-)", "UC cookie", "WC cookie",
};

/* VFIO_DEVICE_FEATURE_SET of @feature with @len bytes of @data: 0 or -errno. */
static int feature_set(int device, uint32_t feature, const void *data,
		       size_t len)
{
	uint64_t buf[4] = { 0 };
	struct vfio_device_feature *f = (void *)buf;

	/* Negative control: low power never entered, revocation must fail. */
	if (feature == VFIO_DEVICE_FEATURE_LOW_POWER_ENTRY && getenv("WCTB_PM_SKIP_ENTRY"))
		return 0;
	f->argsz = sizeof(*f) + len;
	f->flags = VFIO_DEVICE_FEATURE_SET | feature;
	if (len)
		memcpy(f->data, data, len);
	return ioctl(device, VFIO_DEVICE_FEATURE, f) ? -errno : 0;
}

FIXTURE(vfio_runtime_pm) {
	struct wctb_session s;
	char control[128];
	volatile uint8_t *map[NR_MAPS];
};

WCTB_VFIO_PATH_VARIANTS(vfio_runtime_pm);

/* The negative control: WCTB_PM_STAY_AWAKE=1. */
static int stay_awake(void)
{
	const char *v = getenv("WCTB_PM_STAY_AWAKE");

	return v && !strcmp(v, "1");
}

FIXTURE_SETUP(vfio_runtime_pm)
{
	char path[128];
	int ret;

	memset(self->map, 0, sizeof(self->map));
	WCTB_VFIO_PATH_OR_SKIP(wctb_device(), variant->vfio_path);
	ret = wctb_session_open(&self->s, variant->vfio_path);
	ASSERT_EQ(0, ret) TH_LOG("session: %s", strerror(-ret));
	self->control[0] = '\0';
	snprintf(path, sizeof(path), WCTB_PCI_DEVICES "/%s/power/control", self->s.bdf);
	if (access(path, W_OK))
		SKIP(return, "%s: %s: kernel without runtime PM (CONFIG_PM)",
		     path, strerror(errno));
	snprintf(self->control, sizeof(self->control), "%s", path);
	/* Negative control: the device never leaves D0, the checks must fail. */
	ret = wctb_write_attr(self->control, stay_awake() ? "on" : "auto");
	ASSERT_EQ(0, ret) TH_LOG("allowing runtime suspend: %s", strerror(-ret));
}

FIXTURE_TEARDOWN(vfio_runtime_pm)
{
	int i;

	for (i = 0; i < NR_MAPS; i++)
		if (self->map[i] && self->map[i] != MAP_FAILED)
			munmap((void *)self->map[i], PAGE);
	/*
	 * Out of low power (harmless when already out: a case that stopped
	 * early may have left it engaged) and awake again, before the
	 * usability check and for the next program.
	 */
	EXPECT_EQ(0, feature_set(self->s.v.device,
				 VFIO_DEVICE_FEATURE_LOW_POWER_EXIT, NULL, 0));
	if (self->control[0])
		EXPECT_EQ(0, wctb_write_attr(self->control, "on"));
	EXPECT_EQ(0, wctb_session_close(&self->s));
}



/*
 * Wait (paced) until runtime_status reads @status: pm_runtime_put() at
 * the end of the ioctl suspends the device asynchronously.  1 if it did.
 */
static int wait_runtime_status(const char *bdf, const char *status)
{
	struct timespec nap = { 0, 10 * 1000 * 1000 };
	int tries = wctb_paced_seconds(5) * 100;
	char buf[64];

	while (tries-- > 0) {
		if (!strcmp(wctb_sysfs_word(bdf, "power/runtime_status", buf,
					sizeof(buf)), status))
			return 1;
		nanosleep(&nap, NULL);
	}
	return 0;
}

/* Map one page of BAR2 through each path (cookies only when offered). */
static void map_all(struct _test_data_vfio_runtime_pm *self,
		    struct __test_metadata *_metadata)
{
	int dev = self->s.v.device;

	self->map[MAP_FIXED_UC] =
		wctb_map(dev, WCTB_FIXED_OFFSET(WC_TESTDEV_BAR_PREF), PAGE);
	ASSERT_NE(MAP_FAILED, self->map[MAP_FIXED_UC]) TH_LOG("%s", strerror(errno));
	if (!self->s.cookies)
		return;
	self->map[MAP_COOKIE_UC] = wctb_map(dev, self->s.uc_off + PAGE, PAGE);
	ASSERT_NE(MAP_FAILED, self->map[MAP_COOKIE_UC]) TH_LOG("%s", strerror(errno));
	self->map[MAP_COOKIE_WC] = wctb_map(dev, self->s.wc_off + 2 * PAGE, PAGE);
	ASSERT_NE(MAP_FAILED, self->map[MAP_COOKIE_WC]) TH_LOG("%s", strerror(errno));
}

/* What one line stored through map @i must look like at the device. */
static void expect_line_arrives(struct _test_data_vfio_runtime_pm *self,
				struct __test_metadata *_metadata, int i,
				uint64_t seed)
{
	const struct wctb_regs *r = &self->s.regs;
	char sum[512];

	/* A load first: a mapping still revoked fails here, not by SIGBUS. */
	ASSERT_EQ(0, wctb_access_signal((volatile uint64_t *)(self->map[i] +
							     LINE_OFF), 0))
		TH_LOG("%s does not map the device", map_name[i]);
	wctb_reset_counters(r);
	wctb_store_line(self->map[i] + LINE_OFF, seed);
	if (i == MAP_COOKIE_WC)
		EXPECT_BURSTS(r, AP, 1, 0, LINE);	/* logs the counters */
	else
		EXPECT_EQ(8, wctb_counter(r, AP, WC_TESTDEV_CNT_UC_WRITES))
			TH_LOG("%s: %s", map_name[i],
			       wctb_counters_summary(r, AP, sum, sizeof(sum)));
}

/* Every mapping made takes SIGBUS; nothing arrives at the device. */
static void expect_all_revoked(struct _test_data_vfio_runtime_pm *self,
			       struct __test_metadata *_metadata)
{
	volatile uint64_t *p;
	int i;

	for (i = 0; i < NR_MAPS; i++) {
		if (!self->map[i])
			continue;
		p = (volatile uint64_t *)(self->map[i] + LINE_OFF);
		EXPECT_EQ(SIGBUS, wctb_access_signal(p, 1))
			TH_LOG("%s still maps the device in low power",
			       map_name[i]);
	}
}

/* The device is suspended and in D3hot, as the PCI core sees it. */
static void expect_suspended(struct _test_data_vfio_runtime_pm *self,
			     struct __test_metadata *_metadata)
{
	char buf[64];

	EXPECT_TRUE(wait_runtime_status(self->s.bdf, "suspended"))
		TH_LOG("runtime_status stays '%s'",
		       wctb_sysfs_word(self->s.bdf, "power/runtime_status", buf,
				  sizeof(buf)));
	EXPECT_STREQ("D3hot", wctb_sysfs_word(self->s.bdf, "power_state", buf,
					 sizeof(buf)));
}

/*
 * Awake again, or the case ends here: a store through a mapping that is
 * still revoked would kill the program (SIGBUS) before its teardown.
 */
static void assert_active(struct _test_data_vfio_runtime_pm *self,
			  struct __test_metadata *_metadata)
{
	char buf[64];

	ASSERT_STREQ("active", wctb_sysfs_word(self->s.bdf, "power/runtime_status",
					  buf, sizeof(buf)));
	ASSERT_STREQ("D0", wctb_sysfs_word(self->s.bdf, "power_state", buf,
				      sizeof(buf)));
}

TEST_F(vfio_runtime_pm, low_power_entry_revokes_and_exit_refaults_with_types)
{
	uint64_t before;
	int i;

	map_all(self, _metadata);
	for (i = 0; i < NR_MAPS; i++)
		if (self->map[i])
			expect_line_arrives(self, _metadata, i, 0x1000 * (i + 1));
	before = wctb_counter(&self->s.regs, AP, WC_TESTDEV_CNT_BUS_TXNS);

	ASSERT_EQ(0, feature_set(self->s.v.device,
				 VFIO_DEVICE_FEATURE_LOW_POWER_ENTRY, NULL, 0));
	expect_suspended(self, _metadata);
	expect_all_revoked(self, _metadata);
	ASSERT_EQ(0, feature_set(self->s.v.device,
				 VFIO_DEVICE_FEATURE_LOW_POWER_EXIT, NULL, 0));
	assert_active(self, _metadata);

	EXPECT_EQ(before, wctb_counter(&self->s.regs, AP,
				       WC_TESTDEV_CNT_BUS_TXNS))
		TH_LOG("stores in low power reached the device");
	for (i = 0; i < NR_MAPS; i++)
		if (self->map[i])
			expect_line_arrives(self, _metadata, i, 0x9000 * (i + 1));
	if (!self->s.cookies)
		TH_LOG("fixed offset only: " WCTB_NO_COOKIES);
}

TEST_F(vfio_runtime_pm, wakeup_eventfd_fires_when_the_device_is_used)
{
	struct vfio_device_low_power_entry_with_wakeup entry = { 0 };
	struct vfio_device_info info = { .argsz = sizeof(info) };
	uint64_t count = 0;
	int efd, i;

	map_all(self, _metadata);
	efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	ASSERT_LE(0, efd);
	entry.wakeup_eventfd = efd;
	ASSERT_EQ(0, feature_set(self->s.v.device,
				 VFIO_DEVICE_FEATURE_LOW_POWER_ENTRY_WITH_WAKEUP,
				 &entry, sizeof(entry)));
	expect_suspended(self, _metadata);
	expect_all_revoked(self, _metadata);
	EXPECT_EQ(-1, read(efd, &count, sizeof(count)))
		TH_LOG("the wakeup eventfd fired before any use");
	EXPECT_EQ(EAGAIN, errno);

	/* Any ioctl resumes the device, which leaves low power at once. */
	ASSERT_EQ(0, ioctl(self->s.v.device, VFIO_DEVICE_GET_INFO, &info));
	ASSERT_EQ(sizeof(count), read(efd, &count, sizeof(count)))
		TH_LOG("no wakeup signalled: %s", strerror(errno));
	EXPECT_EQ(1, count);
	assert_active(self, _metadata);
	for (i = 0; i < NR_MAPS; i++)
		if (self->map[i])
			expect_line_arrives(self, _metadata, i, 0x5000 * (i + 1));
	/* Already out of low power: exiting again is harmless. */
	EXPECT_EQ(0, feature_set(self->s.v.device,
				 VFIO_DEVICE_FEATURE_LOW_POWER_EXIT, NULL, 0));
	close(efd);
}

TEST_F(vfio_runtime_pm, low_power_entry_twice_is_refused)
{
	ASSERT_EQ(0, feature_set(self->s.v.device,
				 VFIO_DEVICE_FEATURE_LOW_POWER_ENTRY, NULL, 0));
	expect_suspended(self, _metadata);
	EXPECT_EQ(-EINVAL, feature_set(self->s.v.device,
				       VFIO_DEVICE_FEATURE_LOW_POWER_ENTRY,
				       NULL, 0));
	EXPECT_EQ(0, feature_set(self->s.v.device,
				 VFIO_DEVICE_FEATURE_LOW_POWER_EXIT, NULL, 0));
	assert_active(self, _metadata);
}

TEST_HARNESS_MAIN
