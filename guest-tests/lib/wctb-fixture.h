/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The kselftest fixtures that the VFIO tests share; include it after
 * wctb-harness.h.
 *
 * WCTB_VFIO_PATH_OR_SKIP(bdf, path): in a fixture setup, SKIP with the
 * reason when this boot cannot reach @bdf through VFIO access path @path.
 *
 * WCTB_VFIO_PATH_VARIANTS(name): FIXTURE_VARIANT(name) with one member,
 * vfio_path, and one variant per VFIO access path (legacy_type1,
 * legacy_noiommu, cdev_iommufd: vfio.h).  Fixtures with variants of their
 * own use FIXTURE_VARIANT_ADD_ALL_VFIO_PATHS() instead.
 *
 * WCTB_SESSION_FIXTURE(name, need_cookies) defines FIXTURE(name) holding
 * a struct wctb_session (see session.h), its WCTB_VFIO_PATH_VARIANTS,
 * opened in setup
 * (SKIP where the boot lacks the path, or without the cookie ioctl when
 * @need_cookies) and closed in teardown, which fails the case if the
 * device is no longer usable or the kernel log holds a record that fails
 * a test (kmsg.h).
 */
#ifndef WCTB_FIXTURE_H
#define WCTB_FIXTURE_H

#include <string.h>

#include "wctb-harness.h"

#define WCTB_VFIO_PATH_OR_SKIP(bdf, path) do {				\
	const char *__missing = wctb_vfio_path_missing(bdf, path);	\
									\
	if (__missing)							\
		SKIP(return, "%s", __missing);				\
} while (0)

#define WCTB_VFIO_PATH_VARIANTS(name)					\
FIXTURE_VARIANT(name) {							\
	const char *vfio_path;						\
};									\
									\
FIXTURE_VARIANT_ADD(name, legacy_type1) {				\
	.vfio_path = "legacy_type1",					\
};									\
									\
FIXTURE_VARIANT_ADD(name, legacy_noiommu) {				\
	.vfio_path = "legacy_noiommu",					\
};									\
									\
FIXTURE_VARIANT_ADD(name, cdev_iommufd) {				\
	.vfio_path = "cdev_iommufd",					\
}

#define WCTB_SESSION_FIXTURE(name, need_cookies)			\
FIXTURE(name) {								\
	struct wctb_session s;						\
};									\
									\
WCTB_VFIO_PATH_VARIANTS(name);						\
									\
FIXTURE_SETUP(name)							\
{									\
	const char *bdf = wctb_device();				\
	int ret;							\
									\
	ASSERT_NE(NULL, bdf) TH_LOG("wc-testdev not found");		\
	WCTB_VFIO_PATH_OR_SKIP(bdf, variant->vfio_path);		\
	ret = wctb_session_open(&self->s, variant->vfio_path);		\
	ASSERT_EQ(0, ret) TH_LOG("session: %s", strerror(-ret));	\
	if ((need_cookies) && !self->s.cookies)				\
		SKIP(return, WCTB_NO_COOKIES);				\
}									\
									\
FIXTURE_TEARDOWN(name)							\
{									\
	EXPECT_EQ(0, wctb_session_close(&self->s));			\
}

#endif /* WCTB_FIXTURE_H */
