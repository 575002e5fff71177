/* SPDX-License-Identifier: GPL-2.0 */
/*
 * What the VFIO tests start from and end with (wctb-fixture.h makes it a
 * kselftest fixture, one variant per VFIO access path): the device open
 * on that path, its
 * counters through sysfs (so that device files can come and go), the
 * kernel log watched from the start, and a UC and a WC cookie of BAR2
 * (unless the kernel lacks the cookie ioctl).  $WCTB_INJECT_KMSG writes a
 * warning to the kernel log right after the watch starts: the negative
 * control of the kernel log check.
 */
#ifndef WCTB_SESSION_H
#define WCTB_SESSION_H

#include <stdint.h>

#include "device.h"
#include "vfio.h"

struct wctb_session {
	const char *bdf;
	struct wctb_vfio v;
	struct wctb_regs regs;
	int kmsg;
	int cookies;		/* 0: the kernel has no cookie ioctl */
	uint64_t uc_off, wc_off, size;
};

/*
 * Open the session through VFIO access path @path (vfio.h).  0 or -errno,
 * with what failed on stderr; then nothing is left open.
 */
int wctb_session_open(struct wctb_session *s, const char *path);

/*
 * The end of every case: the device still usable (all of BAR2 maps
 * through a UC cookie: no memory type hold leaked; a UC line arrives as
 * 8 UC writes and reads back), everything closed, and then no record in
 * the kernel log that fails a test (kmsg.h), so release paths count too.
 * 0 or a negative errno (-EIO for a kernel log record), with what went
 * wrong on stderr.
 */
int wctb_session_close(struct wctb_session *s);

#endif /* WCTB_SESSION_H */
