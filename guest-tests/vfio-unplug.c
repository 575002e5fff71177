// SPDX-License-Identifier: GPL-2.0
/*
 * Revocation under load: a thread keeps storing through a UC mapping (the
 * legacy offset, which every kernel has) and another through a WC cookie
 * mapping of BAR2 (when the kernel has cookies) while the device is reset
 * through VFIO, reset with an FLR through sysfs, or hot-unplugged by the
 * host and added back.
 *
 * The hot-unplug contract of vfio-pci: removal asks the user to let go
 * (the request eventfd) and waits for it; the mappings stay valid until
 * then.  The user here lets go like a VMM whose guest released the device:
 * it clears memory enable, so both writers take SIGBUS (not a hang, not an
 * oops), unmaps and closes.  The removal then finishes, the host adds the
 * device back and it works again.  The host acts on "wctb-host:" requests
 * (host/vm.py); in run-vm.sh's --shell mode nobody answers
 * and the hot-unplug case fails.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "wctb-harness.h"
#include "wctb.h"
#include "wctb-fixture.h"

/*
 * acpiphp acts within milliseconds (pciehp would wait 5 s); the waits stay
 * generous for debug kernels.  Seconds at the reference pace (a slower
 * machine waits longer, wctb_paced_seconds()): the hot-plug case's worst
 * case, every wait timing out, is about 90 s (teardown included), inside
 * its harness limit below (init's 120 s per program cuts a run where
 * every case times out).
 */
#define REQUEST_S	10
#define WAIT_S		10
#define REQUEST_MS	(wctb_paced_seconds(REQUEST_S) * 1000)
#define WAIT_MS		(wctb_paced_seconds(WAIT_S) * 1000)

/* A thread storing 64-byte lines round-robin through one mapping. */
struct writer {
	pthread_t thread;
	volatile uint8_t *base;
	size_t len;
	uint64_t seed;
	atomic_ulong lines;
	atomic_int faulted;	/* took SIGBUS and stopped */
	atomic_int stop;
	int running;
};

static __thread sigjmp_buf writer_jmp;
static __thread int in_writer;

static void on_sigbus(int sig)
{
	if (in_writer)
		siglongjmp(writer_jmp, 1);
	signal(SIGBUS, SIG_DFL);	/* anywhere else: die of it */
}

static void *writer_main(void *arg)
{
	struct writer *w = arg;
	unsigned long i = 0;

	in_writer = 1;
	if (sigsetjmp(writer_jmp, 1)) {
		atomic_store(&w->faulted, 1);
		return NULL;
	}
	while (!atomic_load(&w->stop)) {
		wctb_store_line(w->base + (i % (w->len / LINE)) * LINE,
				w->seed + i);
		atomic_store(&w->lines, ++i);
	}
	return NULL;
}

static int writer_start(struct writer *w, volatile uint8_t *base,
			size_t len, uint64_t seed)
{
	struct sigaction sa = { .sa_handler = on_sigbus };

	sigaction(SIGBUS, &sa, NULL);
	memset(w, 0, sizeof(*w));
	w->base = base;
	w->len = len;
	w->seed = seed;
	if (pthread_create(&w->thread, NULL, writer_main, w))
		return -1;
	w->running = 1;
	return 0;
}

static void writer_stop(struct writer *w)
{
	if (!w->running)
		return;
	atomic_store(&w->stop, 1);
	pthread_join(w->thread, NULL);
	w->running = 0;
}

/*
 * Wait up to @ms (at the reference pace) until each running writer of
 * @w[0..n) stored @more lines beyond what it had on entry (1), or one
 * faulted or time ran out (0).
 */
static int writers_progress(struct writer *w, int n, unsigned long more,
			    long ms)
{
	unsigned long from[2];
	long end = wctb_now_ms() + (long)(ms * wctb_pace());
	int i, done;

	for (i = 0; i < n; i++)
		from[i] = atomic_load(&w[i].lines);
	do {
		done = 1;
		for (i = 0; i < n; i++) {
			if (!w[i].running)
				continue;
			if (atomic_load(&w[i].faulted))
				return 0;
			if (atomic_load(&w[i].lines) < from[i] + more)
				done = 0;
		}
		if (done)
			return 1;
		usleep(2000);
	} while (wctb_now_ms() < end);
	return 0;
}

/*
 * Wait up to @ms (at the reference pace) until every running writer of
 * @w[0..n) took SIGBUS.
 */
static int writers_faulted(struct writer *w, int n, long ms)
{
	long end = wctb_now_ms() + (long)(ms * wctb_pace());
	int i, all;

	do {
		all = 1;
		for (i = 0; i < n; i++)
			if (w[i].running && !atomic_load(&w[i].faulted))
				all = 0;
		if (all)
			return 1;
		usleep(2000);
	} while (wctb_now_ms() < end);
	return 0;
}

/*
 * The UC legacy mapping of BAR2's first @len bytes, and (kernel with
 * cookies) the WC cookie mapping of the @len bytes after them.
 */
struct mappings {
	volatile uint8_t *uc, *wc;
	size_t len;
};

static int map_both(struct mappings *m, struct wctb_vfio *v, size_t len)
{
	uint32_t flags = VFIO_MMAP_FLAG_WC;
	uint64_t wc_off;
	int ret;

	m->len = len;
	m->wc = NULL;
	m->uc = wctb_map(v->device, WCTB_FIXED_OFFSET(BAR2), len);
	if (m->uc == MAP_FAILED) {
		m->uc = NULL;
		return -errno;
	}
	ret = wctb_mmap_cookie(v->device, BAR2, &flags, 0, &wc_off, NULL);
	if (ret == -ENOTTY)
		return 0;	/* no cookies: the UC writer alone */
	if (ret)
		return ret;
	m->wc = wctb_map(v->device, wc_off + len, len);
	if (m->wc == MAP_FAILED) {
		m->wc = NULL;
		return -errno;
	}
	return 0;
}

static void unmap_both(struct mappings *m)
{
	if (m->uc)
		munmap((void *)m->uc, m->len);
	if (m->wc)
		munmap((void *)m->wc, m->len);
	m->uc = m->wc = NULL;
}

static int start_writers(struct writer *w, struct mappings *m)
{
	if (writer_start(&w[0], m->uc, m->len, 0x1000000))
		return -1;
	if (m->wc && writer_start(&w[1], m->wc, m->len, 0x2000000)) {
		writer_stop(&w[0]);
		return -1;
	}
	return 0;
}

/*
 * After the writers stopped: one line through each mapping arrives as
 * what its type promises (8 UC writes; 1 full WC burst).
 */
static void expect_types_hold(struct __test_metadata *_metadata,
			      const struct wctb_regs *r, struct mappings *m)
{
	char buf[512];

	wctb_reset_counters(r);
	wctb_store_line(m->uc, 0x77);
	EXPECT_EQ(8, wctb_counter(r, AP, WC_TESTDEV_CNT_UC_WRITES))
		TH_LOG("UC: %s", wctb_counters_summary(r, AP, buf, sizeof(buf)));
	if (!m->wc)
		return;
	wctb_reset_counters(r);
	wctb_store_line(m->wc, 0x78);
	EXPECT_BURSTS(r, AP, 1, 0, LINE);
}

WCTB_SESSION_FIXTURE(vfio_unplug, 0)

typedef int (*reset_fn)(struct _test_data_vfio_unplug *self);

static int vfio_reset(struct _test_data_vfio_unplug *self)
{
	return ioctl(self->s.v.device, VFIO_DEVICE_RESET) ? -errno : 0;
}

static int sysfs_flr(struct _test_data_vfio_unplug *self)
{
	return wctb_write_dev_attr(self->s.bdf, "reset", "1");
}

/*
 * An FLR as a guest driver starts it (pcie_flr()): Initiate Function
 * Level Reset written to the Device Control register of the PCIe
 * capability, through the config region.  vfio-pci resets the device from
 * inside that config write, with its memory lock held, and does not
 * report the outcome: the device's scratch register, which a reset
 * clears, tells whether one happened (-EIO if not).
 */
static int config_space_flr(struct _test_data_vfio_unplug *self)
{
	uint64_t cfg = WCTB_FIXED_OFFSET(VFIO_PCI_CONFIG_REGION_INDEX);
	volatile uint64_t *scratch = (volatile uint64_t *)
		(self->s.regs.base + WC_TESTDEV_REG_SCRATCH);
	int fd = self->s.v.device, cap = wctb_config_cap(fd, 0x10);	/* PCI_CAP_ID_EXP */
	uint32_t devcap;
	uint16_t ctl;

	if (cap < 0)
		return cap;
	if (pread(fd, &devcap, 4, cfg + cap + 4) != 4)
		return -errno;
	if (!(devcap & (1u << 28)))	/* PCI_EXP_DEVCAP_FLR */
		return -EOPNOTSUPP;
	if (pread(fd, &ctl, 2, cfg + cap + 8) != 2)
		return -errno;
	*scratch = 0x5a5a;
	ctl |= 0x8000;			/* PCI_EXP_DEVCTL_BCR_FLR */
	if (pwrite(fd, &ctl, 2, cfg + cap + 8) != 2)
		return -errno;
	return *scratch == 0 ? 0 : -EIO;
}

/*
 * Three resets while both writers store: no writer faults or stalls, and
 * the mappings keep their types afterwards.  VFIO_DEVICE_RESET zaps the
 * mappings and holds faults off until the reset is done; a sysfs FLR
 * bypasses vfio-pci (it has no reset_prepare handler), so the PTEs stay
 * and a writer on the other vCPU may store while decode is off (wc-testdev
 * sets Immediate Readiness, so the window is short): such stores go
 * nowhere, and nothing here counts them.
 */
static void resets_under_writers(struct __test_metadata *_metadata,
				 struct _test_data_vfio_unplug *self, reset_fn reset,
				 const char *what)
{
	struct writer w[2] = {};
	struct mappings m = {};
	int i, ret;

	ASSERT_EQ(0, map_both(&m, &self->s.v, 4 * PAGE))
		TH_LOG("mapping BAR2: %s", strerror(errno));
	ASSERT_EQ(0, start_writers(w, &m));
	EXPECT_EQ(1, writers_progress(w, 2, 100, 10000))
		TH_LOG("the writers never got going");
	for (i = 0; i < 3; i++) {
		ret = reset(self);
		EXPECT_EQ(0, ret) TH_LOG("%s %d: %s", what, i, strerror(-ret));
		EXPECT_EQ(1, writers_progress(w, 2, 100, 10000))
			TH_LOG("after %s %d: a writer faulted or stalled "
			       "(UC faulted %d, WC faulted %d)", what, i,
			       atomic_load(&w[0].faulted),
			       atomic_load(&w[1].faulted));
	}
	writer_stop(&w[0]);
	writer_stop(&w[1]);
	EXPECT_EQ(0, atomic_load(&w[0].faulted)) TH_LOG("UC writer: SIGBUS");
	EXPECT_EQ(0, atomic_load(&w[1].faulted)) TH_LOG("WC writer: SIGBUS");
	TH_LOG("%s x3 under writers: UC %lu lines, WC %lu lines%s", what,
	       atomic_load(&w[0].lines), atomic_load(&w[1].lines),
	       m.wc ? "" : " (no cookies: no WC writer)");
	expect_types_hold(_metadata, &self->s.regs, &m);
	unmap_both(&m);
}

TEST_F(vfio_unplug, vfio_device_reset_under_writers)
{
	struct vfio_device_info info = { .argsz = sizeof(info) };

	ASSERT_EQ(0, ioctl(self->s.v.device, VFIO_DEVICE_GET_INFO, &info));
	if (!(info.flags & VFIO_DEVICE_FLAGS_RESET))
		SKIP(return, "the device offers no reset method to vfio-pci");
	resets_under_writers(_metadata, self, vfio_reset, "VFIO_DEVICE_RESET");
}

TEST_F(vfio_unplug, config_space_flr_under_writers)
{
	resets_under_writers(_metadata, self, config_space_flr,
			     "config space FLR");
}

/*
 * For the log, not a check: whether a sysfs FLR zaps a live mapping.
 * Stock vfio-pci (6.12, 7.3) has no reset_prepare handler, so the PTE
 * stays and stores during the reset would reach a device with memory
 * decode off (see resets_under_writers() for why we cannot observe that
 * here).
 */
static void log_zap_by_sysfs_flr(struct __test_metadata *_metadata,
				 struct _test_data_vfio_unplug *self)
{
	volatile uint8_t *p = wctb_map(self->s.v.device, WCTB_FIXED_OFFSET(BAR2), PAGE);
	char line[256];
	int ret;

	if (!p)
		return;
	wctb_store_line(p, 0x55);
	ret = sysfs_flr(self);
	TH_LOG("sysfs FLR (%s): the UC mapping's PTE is %s", strerror(-ret),
	       wctb_ptdump_line(p, line, sizeof(line)) ? "unknown" :
	       strstr(line, "USR") ? "still present" : "zapped");
	munmap((void *)p, PAGE);
}

TEST_F(vfio_unplug, sysfs_flr_under_writers)
{
	char path[128], methods[128] = "";
	FILE *f;

	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/reset_method",
		 self->s.bdf);
	f = fopen(path, "r");
	if (f) {
		if (!fgets(methods, sizeof(methods), f))
			methods[0] = '\0';
		fclose(f);
	}
	if (!strstr(methods, "flr"))
		SKIP(return, "the device has no FLR (reset_method: %s)",
		     methods[0] ? methods : "none");
	log_zap_by_sysfs_flr(_metadata, self);
	resets_under_writers(_metadata, self, sysfs_flr, "sysfs FLR");
}

/* The hot-unplug case manages the device itself: it goes away. */
FIXTURE(vfio_unplug_hotplug) {
	char bdf[32];
	struct wctb_vfio v;
	int open;
	int req;		/* the request eventfd */
	int unplugged;		/* device_del asked; teardown re-adds */
	struct writer w[2];	/* here, not on the stack: an ASSERT */
	struct mappings m;	/* unwinds into teardown while they run */
	const char *vfio_path;
};

WCTB_VFIO_PATH_VARIANTS(vfio_unplug_hotplug);

static int device_present(const char *bdf)
{
	char path[128];

	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/vendor", bdf);
	return access(path, F_OK) == 0;
}

/* Wait up to @ms until the device is present (@want 1) or gone (0). */
static int wait_presence(const char *bdf, int want, long ms)
{
	long end = wctb_now_ms() + ms;

	do {
		if (device_present(bdf) == want)
			return 1;
		usleep(20000);
	} while (wctb_now_ms() < end);
	return 0;
}

/* The host adds the device back; bind it to vfio-pci again. */
static int readd_device(const char *bdf)
{
	long end;
	int ret;

	ret = wctb_host_request(WCTB_PORT_HOST_DEVICE_ADD);
	if (ret) {
		fprintf(stderr, "asking the host for device_add: %s\n",
			strerror(-ret));
		return ret;
	}
	if (!wait_presence(bdf, 1, WAIT_MS)) {
		fprintf(stderr, "%s did not come back within %d s of device_add\n",
			bdf, WAIT_MS / 1000);
		return -ETIMEDOUT;
	}
	/* pciehp adds the device before the bus is done with it: retry. */
	end = wctb_now_ms() + (long)(10000 * wctb_pace());
	while ((ret = wctb_bind_vfio_pci(bdf))) {
		if (wctb_now_ms() > end) {
			fprintf(stderr, "binding the re-added %s to vfio-pci: %s\n",
				bdf, strerror(-ret));
			return ret;
		}
		usleep(50000);
	}
	return 0;
}

/*
 * Open the re-added device.  The hot-plug thread may be probing vfio-pci
 * for it at the same time as our drivers_probe (driver_override applies
 * to both), and the driver link appears before probe() has registered the
 * VFIO device and its group: retry until it has (paced).
 */
static int open_readded(struct wctb_vfio *v, const char *bdf,
			const char *path)
{
	long end = wctb_now_ms() + WAIT_MS;
	int ret;

	while ((ret = wctb_vfio_open(v, bdf, path))) {
		if (wctb_now_ms() > end)
			return ret;
		usleep(50000);
	}
	return 0;
}

FIXTURE_SETUP(vfio_unplug_hotplug)
{
	const char *bdf = wctb_device();

	ASSERT_NE(NULL, bdf) TH_LOG("wc-testdev not found");
	WCTB_VFIO_PATH_OR_SKIP(bdf, variant->vfio_path);
	snprintf(self->bdf, sizeof(self->bdf), "%s", bdf);
	self->vfio_path = variant->vfio_path;
	self->req = -1;
}

FIXTURE_TEARDOWN(vfio_unplug_hotplug)
{
	writer_stop(&self->w[0]);
	writer_stop(&self->w[1]);
	unmap_both(&self->m);
	if (self->open)
		wctb_vfio_close(&self->v);
	if (self->req >= 0)
		close(self->req);
	/*
	 * Leave the device as the next program expects it: once nothing
	 * holds the file, a pending removal finishes; then add it back.
	 */
	if (self->unplugged && wait_presence(self->bdf, 0, WAIT_MS) &&
	    readd_device(self->bdf))
		TH_LOG("restoring the device failed");
}

/* Have vfio-pci signal device requests (removal) on an eventfd. */
static int request_eventfd(int device)
{
	uint8_t buf[sizeof(struct vfio_irq_set) + sizeof(int32_t)]
		__attribute__((aligned(8)));
	struct vfio_irq_set *set = (struct vfio_irq_set *)buf;
	int32_t fd = eventfd(0, EFD_CLOEXEC);

	if (fd < 0)
		return -errno;
	set->argsz = sizeof(buf);
	set->flags = VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER;
	set->index = VFIO_PCI_REQ_IRQ_INDEX;
	set->start = 0;
	set->count = 1;
	memcpy(set->data, &fd, sizeof(fd));
	if (ioctl(device, VFIO_DEVICE_SET_IRQS, set)) {
		int err = errno;

		close(fd);
		return -err;
	}
	return fd;
}

/*
 * device_del with WC and UC mappings live and a writer on each: the
 * request arrives, the mappings keep working until the user lets go,
 * clearing memory enable turns the writers' stores into SIGBUS, and once
 * the file is closed the device leaves the bus.  device_add brings it
 * back, and it maps and combines again.
 */
TEST_F_TIMEOUT(vfio_unplug_hotplug, unplug_with_live_mappings_then_readd, 110)
{
	struct pollfd pfd = { .events = POLLIN };
	struct writer *w = self->w;
	struct mappings *m = &self->m;
	struct wctb_regs r = {};
	uint64_t requests;
	double t0;
	int ret;

	ASSERT_EQ(0, wctb_vfio_open(&self->v, self->bdf, self->vfio_path));
	self->open = 1;
	self->req = request_eventfd(self->v.device);
	ASSERT_LE(0, self->req) TH_LOG("VFIO_DEVICE_SET_IRQS (request): %s",
				       strerror(-self->req));
	ASSERT_EQ(0, map_both(m, &self->v, 4 * PAGE))
		TH_LOG("mapping BAR2: %s", strerror(errno));
	ASSERT_EQ(0, start_writers(w, m));
	ASSERT_EQ(1, writers_progress(w, 2, 100, 10000));

	ret = wctb_host_request(WCTB_PORT_HOST_DEVICE_DEL);
	ASSERT_EQ(0, ret) TH_LOG("asking the host for device_del: %s",
				 strerror(-ret));
	self->unplugged = 1;
	t0 = wctb_now_ms();
	pfd.fd = self->req;
	ASSERT_EQ(1, poll(&pfd, 1, REQUEST_MS))
		TH_LOG("no device request within %d s of device_del",
		       REQUEST_MS / 1000);
	ASSERT_EQ(sizeof(requests), read(self->req, &requests, sizeof(requests)));
	TH_LOG("device request after %.0f ms", wctb_now_ms() - t0);
	EXPECT_EQ(1, writers_progress(w, 2, 100, 10000))
		TH_LOG("mappings must stay valid until the user lets go");
	EXPECT_EQ(1, device_present(self->bdf))
		TH_LOG("the device left while its file was open");

	ASSERT_EQ(0, wctb_set_memory_enable(self->v.device, 0));
	EXPECT_EQ(1, writers_faulted(w, 2, 10000))
		TH_LOG("with memory disabled a store must raise SIGBUS "
		       "(UC faulted %d, WC faulted %d)",
		       atomic_load(&w[0].faulted), atomic_load(&w[1].faulted));
	writer_stop(&w[0]);
	writer_stop(&w[1]);
	TH_LOG("writers stored UC %lu, WC %lu lines before SIGBUS",
	       atomic_load(&w[0].lines), atomic_load(&w[1].lines));
	unmap_both(m);
	wctb_vfio_close(&self->v);
	self->open = 0;
	close(self->req);
	self->req = -1;
	t0 = wctb_now_ms();
	ASSERT_EQ(1, wait_presence(self->bdf, 0, WAIT_MS))
		TH_LOG("%s still present %d s after its file was closed",
		       self->bdf, WAIT_MS / 1000);
	TH_LOG("removed %.0f ms after close", wctb_now_ms() - t0);

	ASSERT_EQ(0, readd_device(self->bdf));
	self->unplugged = 0;
	ASSERT_EQ(0, open_readded(&self->v, self->bdf, self->vfio_path));
	self->open = 1;
	ASSERT_EQ(0, map_both(m, &self->v, 4 * PAGE))
		TH_LOG("mapping the re-added BAR2: %s", strerror(errno));
	ASSERT_EQ(0, wctb_regs_map(&r, self->v.device));
	expect_types_hold(_metadata, &r, m);
	wctb_regs_unmap(&r);
	unmap_both(m);
}

TEST_HARNESS_MAIN
