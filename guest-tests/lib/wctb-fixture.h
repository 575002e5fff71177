/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The kselftest fixture that the cookie tests share; include it after
 * wctb-harness.h.  WCTB_SESSION_FIXTURE(name, need_cookies) defines
 * FIXTURE(name) holding a struct wctb_session (see wctb.h), opened in
 * setup (SKIP without the cookie ioctl when @need_cookies) and closed in
 * teardown, which fails the case if the device is no longer usable or the
 * kernel logged a warning or bug report during it.
 */
#ifndef WCTB_FIXTURE_H
#define WCTB_FIXTURE_H

#include "wctb-harness.h"

#define WCTB_SESSION_FIXTURE(name, need_cookies)			\
FIXTURE(name) {								\
	struct wctb_session s;						\
};									\
									\
FIXTURE_SETUP(name)							\
{									\
	char why[256];							\
									\
	ASSERT_EQ(0, wctb_session_open(&self->s, why, sizeof(why)))	\
		TH_LOG("%s", why);					\
	if ((need_cookies) && !self->s.cookies)				\
		SKIP(return, WCTB_NO_COOKIES);				\
}									\
									\
FIXTURE_TEARDOWN(name)							\
{									\
	char why[2048];							\
									\
	EXPECT_EQ(0, wctb_session_close(&self->s, why, sizeof(why)))	\
		TH_LOG("%s", why);					\
}

#endif /* WCTB_FIXTURE_H */
