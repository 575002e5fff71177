/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The kselftest fixture that the VFIO tests share; include it after
 * wctb-harness.h.  WCTB_SESSION_FIXTURE(name, need_cookies) defines
 * FIXTURE(name) holding a struct wctb_session (see session.h), opened in
 * setup (SKIP without the cookie ioctl when @need_cookies) and closed in
 * teardown, which fails the case if the device is no longer usable or the
 * kernel log holds a record that fails a test (kmsg.h).
 */
#ifndef WCTB_FIXTURE_H
#define WCTB_FIXTURE_H

#include <string.h>

#include "wctb-harness.h"

#define WCTB_SESSION_FIXTURE(name, need_cookies)			\
FIXTURE(name) {								\
	struct wctb_session s;						\
};									\
									\
FIXTURE_SETUP(name)							\
{									\
	int ret = wctb_session_open(&self->s);				\
									\
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
