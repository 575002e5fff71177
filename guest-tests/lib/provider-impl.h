/* SPDX-License-Identifier: GPL-2.0 */
/* What the provider files share (not for the tests: see provider.h). */
#ifndef WCTB_PROVIDER_IMPL_H
#define WCTB_PROVIDER_IMPL_H

#include "provider.h"

/* Record why in p->why; returns @err. */
int wctb_provider_fail(struct wctb_provider *p, int err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Keep @fd for wctb_provider_close_files(); returns it or -EMFILE. */
int wctb_provider_keep_fd(struct wctb_provider *p, int fd);

/* open: the device through VFIO (first path the boot offers). */
int wctb_provider_open_vfio(struct wctb_provider *p);

/* memory_enable: through the VFIO config region. */
int wctb_provider_vfio_memory_enable(struct wctb_provider *p, int on);

/*
 * A probe: open @bdf through VFIO, call @check (NULL: none) on the device
 * file, close it.  NULL, or why not in @why ("@what: error" when @check
 * returned -errno; @check may point *@what at a better name of the step
 * that failed).
 */
const char *wctb_provider_probe_vfio(const char *bdf, char *why, size_t len,
				     int (*check)(int device, const char **what),
				     const char *what);

extern const struct wctb_provider_ops wctb_dmabuf_memattr_ops;
extern const struct wctb_provider_ops wctb_bar_wc_flag_ops;

#endif /* WCTB_PROVIDER_IMPL_H */
