// SPDX-License-Identifier: GPL-2.0
/*
 * Userspace that never asks for a cookie sees exactly the stock kernel:
 * fixed-offset mmap(), pread(), pwrite(), VFIO_DEVICE_IOEVENTFD and
 * REGION_INFO give the stock result (success) in the scenarios where a
 * write-combining mapping of the same BAR exists, made by root through
 * sysfs resource2_wc, by a cookie in another process or in this one.  The
 * fixture's teardown fails a case that left a kernel log line.
 *
 * Each case prints one "# wctb-scenario: NAME op=errno-name ..." line,
 * with the memory type a store through the fixed offset arrived with (the
 * type the page had at the time; that one may differ from stock, which
 * cannot make a page write-combining).  The same program passes on the
 * stock kernel, where cookies do not exist and the WC mappings are those
 * that stock can make: comparing the lines of both runs is the table of
 * README "Legacy behaviour, stock and patched".
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "wctb-harness.h"
#include "wctb.h"
#include "wctb-fixture.h"

#define FIXED2		WCTB_FIXED_OFFSET(BAR2)
#define LINE_OFF	0x80

WCTB_SESSION_FIXTURE(vfio_stock_behaviour, 0)

/* What the legacy operations returned: 0 or an errno, per operation. */
struct legacy {
	int mmap, pread, pwrite, ioeventfd;
	uint64_t type;		/* of a store through the fixed offset */
};

static const char *err_name(int e)
{
	return e ? strerrorname_np(e) ?: "?" : "0";
}

/* 0 for a whole transfer, else its errno (EIO for a short one). */
static int io_result(ssize_t n, size_t want)
{
	return n == (ssize_t)want ? 0 : n < 0 ? errno : EIO;
}

/* Set up an ioeventfd, fire it once, remove it: 0 or an errno. */
static int ioeventfd_round_trip(struct wctb_session *s,
				struct vfio_device_ioeventfd *ie)
{
	uint64_t one = 1;
	int efd, ret;

	efd = eventfd(0, EFD_CLOEXEC);
	if (efd < 0)
		return errno;
	ie->fd = efd;
	ret = ioctl(s->v.device, VFIO_DEVICE_IOEVENTFD, ie) ? errno : 0;
	if (!ret) {
		if (write(efd, &one, sizeof(one)) != sizeof(one))
			ret = errno;
		ie->fd = -1;	/* remove it again */
		if (ioctl(s->v.device, VFIO_DEVICE_IOEVENTFD, ie) && !ret)
			ret = errno;
	}
	close(efd);
	return ret;
}

/*
 * The legacy user: a whole-BAR fixed-offset mmap (as QEMU and DPDK map
 * BARs) and a store through it at @page, then pread(), pwrite() and an
 * ioeventfd at @page.
 */
static struct legacy legacy_ops(struct wctb_session *s, unsigned int page)
{
	struct vfio_device_ioeventfd ie = {
		.argsz = sizeof(ie), .flags = VFIO_DEVICE_IOEVENTFD_32,
		.offset = FIXED2 + page * PAGE + LINE_OFF, .data = 0x1234,
	};
	uint64_t off = FIXED2 + page * PAGE + LINE_OFF, val = 0x5a;
	struct vfio_region_info info;
	struct legacy r = { 0 };
	volatile uint8_t *p;

	if (wctb_region_info(s->v.device, BAR2, &info)) {
		r.mmap = errno;
		return r;
	}
	p = mmap(NULL, info.size, PROT_READ | PROT_WRITE, MAP_SHARED,
		 s->v.device, FIXED2);
	if (p == MAP_FAILED) {
		r.mmap = errno;
	} else {
		wctb_reset_counters(&s->regs);
		wctb_store_line(p + page * PAGE + LINE_OFF, 0x100);
		r.type = wctb_counter(&s->regs, AP, WC_TESTDEV_CNT_LAST_WRITE_TYPE);
		munmap((void *)p, info.size);
	}
	r.pread = io_result(pread(s->v.device, &val, sizeof(val), off), sizeof(val));
	r.pwrite = io_result(pwrite(s->v.device, &val, sizeof(val), off), sizeof(val));
	r.ioeventfd = ioeventfd_round_trip(s, &ie);
	/* One that crosses into the next page, which stock accepts too. */
	ie.offset = FIXED2 + (page + 1) * PAGE - 2;
	if (!r.ioeventfd)
		r.ioeventfd = ioeventfd_round_trip(s, &ie);
	return r;
}

/*
 * Print the scenario line and check it: every legacy operation succeeds,
 * and the store arrived with @type, the type its page has (WC under a WC
 * cookie mapping, else UC-), unless the device cannot tell (KVM).
 */
static void report(struct __test_metadata *_metadata, const char *name,
		   const char *wc_by, const struct legacy *r, uint64_t type)
{
	printf("# wctb-scenario: %s wc-mapping=%s mmap=%s pread=%s pwrite=%s "
	       "ioeventfd=%s store-type=%s\n", name, wc_by, err_name(r->mmap),
	       err_name(r->pread), err_name(r->pwrite), err_name(r->ioeventfd),
	       r->mmap ? "-" : wctb_memtype_name(r->type));
	fflush(stdout);
	EXPECT_EQ(0, r->mmap) TH_LOG("fixed-offset mmap: %s", strerror(r->mmap));
	EXPECT_EQ(0, r->pread) TH_LOG("pread: %s", strerror(r->pread));
	EXPECT_EQ(0, r->pwrite) TH_LOG("pwrite: %s", strerror(r->pwrite));
	EXPECT_EQ(0, r->ioeventfd) TH_LOG("ioeventfd: %s", strerror(r->ioeventfd));
	if (!r->mmap && r->type != WC_TESTDEV_MEMTYPE_UNKNOWN)
		EXPECT_EQ(type, r->type) TH_LOG("the store arrived as %s, not %s",
						wctb_memtype_name(r->type),
						wctb_memtype_name(type));
}

#define UCM	WC_TESTDEV_MEMTYPE_UC_MINUS
#define WC	WC_TESTDEV_MEMTYPE_WC

/*
 * A WC cookie mapping of BAR2's first two pages through @device, asked
 * for now; NULL on a kernel without cookies.  On one with cookies a
 * failure is an error: *@err is set (the scenario would not be one).
 */
static volatile uint8_t *wc_cookie_map(struct wctb_session *s, int device,
				       const char **by, int *err)
{
	uint32_t flags = VFIO_MMAP_FLAG_WC;
	volatile uint8_t *p;
	uint64_t off;
	int ret;

	*by = "none(no-cookies)";
	*err = 0;
	if (!s->cookies)
		return NULL;
	ret = wctb_mmap_cookie(device, BAR2, &flags, 0, &off, NULL);
	if (ret) {
		*err = -ret;
		return NULL;
	}
	p = wctb_map(device, off, 2 * PAGE);
	*err = p ? 0 : errno;
	*by = "cookie";
	return p;
}

/*
 * The session asked for cookies when it opened the device; a user that
 * never asks for one starts from a device file opened afresh (the last
 * close of the device ends everything a cookie request started).
 */
static void fresh_device_file(struct __test_metadata *_metadata,
			      struct wctb_session *s)
{
	ASSERT_EQ(0, wctb_vfio_reopen_device(&s->v));
}

TEST_F(vfio_stock_behaviour, no_wc_mapping)
{
	struct legacy r;

	fresh_device_file(_metadata, &self->s);
	r = legacy_ops(&self->s, 0);
	report(_metadata, "no-wc-mapping", "none", &r, UCM);
}

/* Root maps resource2_wc first (stock may coerce it to UC- or not). */
TEST_F(vfio_stock_behaviour, root_maps_resource2_wc)
{
	volatile uint8_t *wc;
	uint64_t root_type;
	struct legacy r;
	size_t size;

	fresh_device_file(_metadata, &self->s);
	wc = wctb_map_sysfs_resource(self->s.bdf, "resource2_wc", &size);
	ASSERT_NE(MAP_FAILED, wc) TH_LOG("resource2_wc: %s", strerror(errno));
	wctb_reset_counters(&self->s.regs);
	wctb_store_line(wc + LINE_OFF, 0x200);
	root_type = wctb_counter(&self->s.regs, AP, WC_TESTDEV_CNT_LAST_WRITE_TYPE);
	r = legacy_ops(&self->s, 0);
	/*
	 * One type per page: the legacy store arrives as root's did.  That
	 * is UC- on 7.3, stock or not (vfio-pci's mapping from open wins),
	 * and WC on 6.12, which maps the BAR only at the first pread.
	 */
	report(_metadata, "root-resource2_wc", "sysfs", &r, root_type);
	munmap((void *)wc, size);
	/* 6.12's kernel mapping keeps the type it took until the device closes. */
	fresh_device_file(_metadata, &self->s);
}

/*
 * Another process holds a WC cookie mapping of the pages used, through a
 * device file of its own (cdev binds one file per device at a time: there
 * it shares the inherited one).
 */
TEST_F(vfio_stock_behaviour, wc_cookie_mapping_in_another_process)
{
	int ready[2], done[2];
	struct legacy r;
	char c = 0;
	pid_t pid;

	fresh_device_file(_metadata, &self->s);
	ASSERT_EQ(0, pipe(ready));
	ASSERT_EQ(0, pipe(done));
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		int fd = self->s.v.cdev ? self->s.v.device :
			 wctb_vfio_open_device_file(&self->s.v);
		volatile uint8_t *p = NULL;
		const char *by;
		int err = -fd;

		close(ready[0]);
		close(done[1]);	/* else read() never sees EOF */
		if (fd >= 0)
			p = wc_cookie_map(&self->s, fd, &by, &err);
		if (p)
			wctb_store_line(p + LINE_OFF, 0x300);
		c = p ? 'c' : err ? 'f' : 'n';
		if (write(ready[1], &c, 1) != 1 || read(done[0], &c, 1) < 0)
			_exit(1);
		_exit(0);
	}
	close(ready[1]);
	close(done[0]);
	ASSERT_EQ(1, read(ready[0], &c, 1));
	EXPECT_NE('f', c) TH_LOG("the other process could not map a WC cookie");
	r = legacy_ops(&self->s, 0);
	report(_metadata, "wc-cookie-other-process",
	       c == 'c' ? "cookie" : "none(no-cookies)", &r, c == 'c' ? WC : UCM);
	close(done[1]);		/* the child exits */
	ASSERT_EQ(pid, waitpid(pid, NULL, 0));
	close(ready[0]);
}

/*
 * A fresh device file and a WC cookie mapping of it in this process
 * (NULL on a kernel without cookies; a failure fails the case).
 */
static volatile uint8_t *fresh_file_with_wc(struct __test_metadata *_metadata,
					    struct wctb_session *s, const char **by)
{
	volatile uint8_t *wc;
	int err;

	fresh_device_file(_metadata, s);
	wc = wc_cookie_map(s, s->v.device, by, &err);
	ASSERT_EQ(0, err) TH_LOG("WC cookie mapping: %s", strerror(err));
	return wc;
}

/* This process holds a WC cookie mapping; the legacy user works next to it. */
TEST_F(vfio_stock_behaviour, wc_cookie_mapping_in_this_process)
{
	volatile uint8_t *wc;
	const char *by;
	struct legacy r;

	wc = fresh_file_with_wc(_metadata, &self->s, &by);
	r = legacy_ops(&self->s, 0);
	report(_metadata, "wc-cookie-same-page", by, &r, wc ? WC : UCM);
	r = legacy_ops(&self->s, 3);
	report(_metadata, "wc-cookie-other-page", by, &r, UCM);
	if (wc)
		munmap((void *)wc, 2 * PAGE);
}

/* After a WC mapping went away: pread first, then the rest. */
TEST_F(vfio_stock_behaviour, after_a_wc_mapping_is_gone)
{
	volatile uint8_t *wc;
	const char *by;
	struct legacy r;

	wc = fresh_file_with_wc(_metadata, &self->s, &by);
	if (wc)
		munmap((void *)wc, 2 * PAGE);
	r = legacy_ops(&self->s, 0);
	report(_metadata, "after-wc-cookie-unmapped", by, &r, UCM);
}

/* REGION_INFO of BAR2 says what it said on the stock kernel. */
TEST_F(vfio_stock_behaviour, region_info_is_unchanged)
{
	struct vfio_region_info info;

	fresh_device_file(_metadata, &self->s);
	ASSERT_EQ(0, wctb_region_info(self->s.v.device, BAR2, &info));
	printf("# wctb-scenario: region-info offset=%#llx size=%#llx flags=%#x "
	       "(caps %s)\n", (unsigned long long)info.offset,
	       (unsigned long long)info.size,
	       info.flags & ~VFIO_REGION_INFO_FLAG_CAPS,
	       info.flags & VFIO_REGION_INFO_FLAG_CAPS ? "yes" : "no");
	EXPECT_EQ(FIXED2, info.offset);
	EXPECT_LE(4 * PAGE, info.size);
	EXPECT_EQ(VFIO_REGION_INFO_FLAG_READ | VFIO_REGION_INFO_FLAG_WRITE |
		  VFIO_REGION_INFO_FLAG_MMAP,
		  info.flags & ~VFIO_REGION_INFO_FLAG_CAPS)
		TH_LOG("only the capability flag may be new");
}

TEST_HARNESS_MAIN
