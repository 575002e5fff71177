// SPDX-License-Identifier: GPL-2.0
/*
 * Lifetime of cookies and of the mappings made through them: partial
 * munmap, mremap, fork, closing the device file while mapped, thousands
 * of cookies and mappings without kernel memory growth, threads racing,
 * and VFIO_DEVICE_RESET under live WC and UC mappings.  Like the contract
 * cases, each ends with an empty kernel log and a usable device.
 *
 * Environment: WCTB_LIFETIME_LOOPS (default 1,000 rounds, 10,000 at full
 * depth: WCTB_DEPTH=full) sets the loop count of the growth test; WCTB_INJECT_LEAK=1 makes that loop keep every mapping,
 * the negative control that the growth check must catch.
 *
 * cdev/iommufd binds one file per device at a time: there, the growth
 * loop reopens the fixture's file and racing threads share it (dup()).
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "wctb-harness.h"
#include "wctb.h"
#include "wctb-fixture.h"

#define LEAK_LIMIT_BYTES 12	/* slab growth allowed per round, on average */
/*
 * ... but never less than this per CPU: a cache may take a new slab page
 * whatever the round count, and each CPU keeps slabs of its own (growth
 * seen: up to 48 KiB over 10,000 rounds on one vCPU, 68 KiB over 1,000 on
 * two), and the quick depth runs only 1,000 rounds.  The injected leak
 * grows it by some 1,300 KiB.
 */
#define LEAK_FLOOR_KIB	64

WCTB_SESSION_FIXTURE(vfio_lifetime, 1)

static uint64_t cnt(struct _test_data_vfio_lifetime *self, unsigned int c)
{
	return wctb_counter(&self->s.regs, AP, c);
}

/*
 * A line stored at @p arrived as one WC burst (1; or its pieces, where an
 * interrupt cut it: wctb_check_bursts()) or 8 UC writes (0).
 */
static int line_type(struct _test_data_vfio_lifetime *self, volatile uint8_t *p)
{
	char why[512];

	wctb_reset_counters(&self->s.regs);
	wctb_store_line(p, 0x11);
	if (cnt(self, WC_TESTDEV_CNT_UC_WRITES) == 0 &&
	    !wctb_check_bursts(&self->s.regs, AP, 1, 0, LINE, why, sizeof(why)))
		return 1;
	if (cnt(self, WC_TESTDEV_CNT_UC_WRITES) == 8 &&
	    cnt(self, WC_TESTDEV_CNT_WC_STORES) == 0)
		return 0;
	return -1;
}

/*
 * munmap() of the middle page: the rest keeps combining, the hole
 * faults, the hole can be mapped WC again but not UC while the rest of
 * the mapping holds the range (documented), and all is free afterwards.
 */
TEST_F(vfio_lifetime, partial_munmap_keeps_the_rest_and_the_hold)
{
	volatile uint8_t *wc, *again;

	wc = wctb_map(self->s.v.device, self->s.wc_off, 4 * PAGE);
	ASSERT_NE(MAP_FAILED, wc);
	ASSERT_EQ(0, munmap((void *)(wc + PAGE), PAGE));
	EXPECT_EQ(1, line_type(self, wc));
	EXPECT_EQ(1, line_type(self, wc + 2 * PAGE));
	/* mm behaviour, for completeness: the hole is unmapped. */
	EXPECT_EQ(SIGSEGV, wctb_access_signal((volatile uint64_t *)(wc + PAGE), 0));
	EXPECT_EQ(-EBUSY, wctb_map_rw_errno(self->s.v.device, self->s.uc_off + PAGE, PAGE))
		TH_LOG("a partial munmap releases nothing");
	again = wctb_map(self->s.v.device, self->s.wc_off + PAGE, PAGE);
	ASSERT_NE(MAP_FAILED, again);
	EXPECT_EQ(1, line_type(self, again));
	munmap((void *)again, PAGE);
	munmap((void *)wc, PAGE);
	munmap((void *)(wc + 2 * PAGE), 2 * PAGE);
	EXPECT_EQ(0, wctb_map_rw_errno(self->s.v.device, self->s.uc_off, 4 * PAGE))
		TH_LOG("everything unmapped: the range is free for UC");
}

/* mremap: moving and shrinking keep the type; growing is refused. */
TEST_F(vfio_lifetime, mremap_moves_and_shrinks_but_does_not_grow)
{
	volatile uint8_t *wc, *moved;
	void *target, *grown;

	wc = wctb_map(self->s.v.device, self->s.wc_off, 2 * PAGE);
	ASSERT_NE(MAP_FAILED, wc);
	EXPECT_EQ(1, line_type(self, wc));
	target = mmap(NULL, 2 * PAGE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS,
		      -1, 0);
	ASSERT_NE(MAP_FAILED, target);
	moved = mremap((void *)wc, 2 * PAGE, 2 * PAGE,
		       MREMAP_MAYMOVE | MREMAP_FIXED, target);
	ASSERT_EQ(target, (void *)moved) TH_LOG("mremap: %s", strerror(errno));
	EXPECT_EQ(1, line_type(self, moved + PAGE));
	grown = mremap((void *)moved, 2 * PAGE, 4 * PAGE, MREMAP_MAYMOVE);
	EXPECT_EQ(MAP_FAILED, grown);
	EXPECT_EQ(EFAULT, errno) TH_LOG("mm refuses to grow a PFN mapping");
	ASSERT_EQ((void *)moved, mremap((void *)moved, 2 * PAGE, PAGE, 0));
	EXPECT_EQ(1, line_type(self, moved));
	munmap((void *)moved, PAGE);
}

/*
 * fork(): the child's copies of a UC and a WC mapping (with PTEs present:
 * the parent stored first) keep their types, and the hold on the pages
 * ends when both processes have unmapped them.
 */
TEST_F(vfio_lifetime, forked_child_sees_the_same_types)
{
	volatile uint8_t *uc, *wc;
	int status;
	pid_t pid;

	uc = wctb_map(self->s.v.device, self->s.uc_off, PAGE);
	wc = wctb_map(self->s.v.device, self->s.wc_off + PAGE, PAGE);
	ASSERT_NE(MAP_FAILED, uc);
	ASSERT_NE(MAP_FAILED, wc);
	wctb_store_line(wc, 0x20);
	wctb_store_line(uc, 0x20);
	wctb_reset_counters(&self->s.regs);
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		wctb_store_line(wc, 0x21);
		wctb_store_line(uc, 0x22);
		_exit(0);
	}
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
		TH_LOG("child status 0x%x", status);
	EXPECT_EQ(8, cnt(self, WC_TESTDEV_CNT_WC_STORES));
	EXPECT_BURSTS(&self->s.regs, AP, 1, 0, LINE);
	EXPECT_EQ(8, cnt(self, WC_TESTDEV_CNT_UC_WRITES));
	munmap((void *)uc, PAGE);
	munmap((void *)wc, PAGE);
	EXPECT_EQ(0, wctb_map_rw_errno(self->s.v.device, self->s.uc_off + PAGE, PAGE))
		TH_LOG("the WC hold outlived both mappings");
}

/* Mappings outlive the device file; a new file gets fresh cookies. */
TEST_F(vfio_lifetime, closing_the_device_file_keeps_live_mappings)
{
	volatile uint8_t *uc, *wc;
	uint32_t flags = VFIO_MMAP_FLAG_WC;
	uint64_t wc_off;

	uc = wctb_map(self->s.v.device, self->s.uc_off, PAGE);
	wc = wctb_map(self->s.v.device, self->s.wc_off + PAGE, PAGE);
	ASSERT_NE(MAP_FAILED, uc);
	ASSERT_NE(MAP_FAILED, wc);
	close(self->s.v.device);
	self->s.v.device = -1;
	EXPECT_EQ(1, line_type(self, wc));
	EXPECT_EQ(0, line_type(self, uc));
	munmap((void *)uc, PAGE);
	munmap((void *)wc, PAGE);

	ASSERT_EQ(0, wctb_vfio_reopen_device(&self->s.v));
	ASSERT_EQ(0, wctb_mmap_cookie(self->s.v.device, BAR2, &flags, 0, &wc_off,
				      NULL));
	wc = wctb_map(self->s.v.device, wc_off, PAGE);
	ASSERT_NE(MAP_FAILED, wc);
	EXPECT_EQ(1, line_type(self, wc));
	munmap((void *)wc, PAGE);
}

/*
 * One round of the growth loop: two cookies and two mappings, on a new
 * device file when @fresh (the fixture's stays open, so the device does
 * not close and reset), else on the fixture's own file.
 */
static int cookie_round(struct wctb_vfio *v, int fresh, int leak)
{
	uint32_t flags = VFIO_MMAP_FLAG_WC;
	volatile uint64_t *uc, *wc;
	uint64_t uc_off, wc_off;
	int fd = v->device, ret;

	if (fresh) {
		fd = wctb_vfio_open_device_file(v);
		if (fd < 0)
			return fd;
	}
	ret = wctb_mmap_cookie(fd, BAR2, &flags, 0, &wc_off, NULL);
	flags = 0;
	if (!ret)
		ret = wctb_mmap_cookie(fd, BAR2, &flags, 0, &uc_off, NULL);
	uc = wc = MAP_FAILED;
	if (!ret) {
		uc = mmap(NULL, PAGE, RW, MAP_SHARED, fd, uc_off);
		wc = mmap(NULL, PAGE, RW, MAP_SHARED, fd, wc_off + PAGE);
		ret = uc == MAP_FAILED || wc == MAP_FAILED ? -errno : 0;
	}
	if (!ret) {
		*uc = 1;
		*wc = 2;
	}
	if (!leak) {
		if (uc != MAP_FAILED)
			munmap((void *)uc, PAGE);
		if (wc != MAP_FAILED)
			munmap((void *)wc, PAGE);
	}
	if (fresh)
		close(fd);
	return ret;
}

/*
 * A round on a new file: legacy opens a second file of the open device.
 * cdev binds one file at a time, so it reopens the fixture's, and the
 * device closes, resets and reattaches to the IOMMU each time (~2.5 ms
 * under TCG): every 10th round, so 1,000 files.  The cookie code is the
 * same on both paths; the legacy paths measure per-file leaks over 10,000.
 */
static int growth_round(struct wctb_vfio *v, int i, int leak)
{
	int ret;

	if (!v->cdev)
		return cookie_round(v, 1, leak);
	if (i % 10 == 0) {
		ret = wctb_vfio_reopen_device(v);
		if (ret)
			return ret;
	}
	return cookie_round(v, 0, leak);
}

/*
 * 10,000 rounds (1,000 at quick depth) of two cookie requests and two
 * mappings (a new device file per round on the legacy path) leave no kernel memory behind: unreclaimable slab and available memory measured
 * before and after (after a warm-up that fills the caches).
 */
TEST_F(vfio_lifetime, thousands_of_cookies_and_mappings_do_not_grow_memory)
{
	const char *env = getenv("WCTB_LIFETIME_LOOPS");
	/*
	 * A debug kernel cannot measure slab growth (KASAN's quarantine) and
	 * has kmemleak check the rounds instead: a hundred are enough for it.
	 */
	int debug = wctb_debug_kernel();
	int loops = env ? atoi(env) : debug ? 100 : wctb_depth_rounds(1000, 10000);
	int i, ret = 0;
	int leak = getenv("WCTB_INJECT_LEAK") != NULL;
	long slab0, slab1, avail0, avail1, limit;

	ASSERT_LT(0, loops);
	for (i = 0; i < (debug ? 0 : 200) && !ret; i++)
		ret = growth_round(&self->s.v, i, 0);
	ASSERT_EQ(0, ret) TH_LOG("warm-up round %d: %s", i, strerror(-ret));
	slab0 = wctb_meminfo_kib("SUnreclaim");
	avail0 = wctb_meminfo_kib("MemAvailable");
	for (i = 0; i < loops && !ret; i++)
		ret = growth_round(&self->s.v, i, leak);
	ASSERT_EQ(0, ret) TH_LOG("round %d: %s", i, strerror(-ret));
	slab1 = wctb_meminfo_kib("SUnreclaim");
	avail1 = wctb_meminfo_kib("MemAvailable");
	TH_LOG("%d rounds%s: SUnreclaim %ld -> %ld KiB, MemAvailable %ld -> %ld KiB",
	       loops, leak ? " (leak injected)" : "", slab0, slab1, avail0,
	       avail1);
	if (debug)
		SKIP(return, "debug kernel: KASAN's quarantine keeps freed "
		     "objects in slab; kmemleak checks the %d rounds instead", loops);
	/*
	 * Over 10,000 rounds even 16 bytes a round (one kmalloc-16 object)
	 * would exceed this; the injected leak exceeds it at any depth.
	 */
	limit = loops * LEAK_LIMIT_BYTES / 1024;
	if (limit < LEAK_FLOOR_KIB * sysconf(_SC_NPROCESSORS_ONLN))
		limit = LEAK_FLOOR_KIB * sysconf(_SC_NPROCESSORS_ONLN);
	EXPECT_GT(limit, slab1 - slab0);
	EXPECT_GT(4 * limit, avail0 - avail1);
}

/* Entries of the x86 PAT tree (debugfs), or -1. */
static long pat_entries(void)
{
	FILE *f = fopen("/sys/kernel/debug/x86/pat_memtype_list", "r");
	char line[256];
	long n = 0;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		n += !strncmp(line, "PAT:", 4);
	fclose(f);
	return n;
}

#define SAME_PAGE_MAPS	10000	/* at full depth; 2,000 at quick */
#define SAME_PAGE_BATCH	1000

/*
 * 10,000 live WC mappings of one page (2,000 at quick depth, one batch of
 * 1,000 on the debug kernel) share one
 * reservation: the PAT tree
 * grows by a constant (one entry), not by one entry per mapping, and is
 * back where it was once they are gone.  Prints the PAT entry counts and
 * the mmap+munmap time of each batch of 1,000 (a figure, not asserted: it
 * stays flat because no mapping walks the others).
 */
TEST_F(vfio_lifetime, ten_thousand_mappings_of_one_page_add_one_pat_entry)
{
	static volatile uint8_t *maps[SAME_PAGE_MAPS];
	int n = wctb_debug_kernel() ? SAME_PAGE_BATCH :
		wctb_depth_rounds(2000, SAME_PAGE_MAPS);
	double t0, first = 0, last = 0;
	long before, live, after;
	int i, j;

	before = pat_entries();
	if (before < 0)
		SKIP(return, "no /sys/kernel/debug/x86/pat_memtype_list");
	for (i = 0; i < n; i += SAME_PAGE_BATCH) {
		t0 = wctb_now_ms();
		for (j = i; j < i + SAME_PAGE_BATCH; j++) {
			maps[j] = wctb_map(self->s.v.device, self->s.wc_off, PAGE);
			ASSERT_NE(MAP_FAILED, maps[j]) TH_LOG("mapping %d: %s", j, strerror(errno));
		}
		/* One more mapping and its munmap, timed with the batch. */
		munmap((void *)wctb_map(self->s.v.device, self->s.wc_off, PAGE), PAGE);
		last = wctb_now_ms() - t0;
		if (!i)
			first = last;
	}
	live = pat_entries();
	EXPECT_EQ(1, line_type(self, maps[n - 1]));
	for (i = 0; i < n; i++)
		munmap((void *)maps[i], PAGE);
	after = pat_entries();
	printf("# wctb-pat: mappings=%d entries-before=%ld entries-live=%ld "
	       "entries-after=%ld batch-ms-first=%.1f batch-ms-last=%.1f "
	       "last/first=%.2f\n", n, before, live, after, first,
	       last, first > 0 ? last / first : 0);
	EXPECT_EQ(1, live - before) TH_LOG("%d mappings: %ld new PAT entries, not one",
					 n, live - before);
	EXPECT_EQ(before, after) TH_LOG("a reservation outlived its mappings");
}

struct racer {
	struct wctb_vfio *v;
	unsigned int seed;
	int rounds;
	int fd;
	char error[128];
};

/* A device file for a racer: its own, or on cdev a dup() of the one. */
static int racer_file(struct racer *r)
{
	int fd = r->v->cdev ? dup(r->v->device) : wctb_vfio_open_device_file(r->v);

	return fd < 0 && r->v->cdev ? -errno : fd;
}

/* One thread: its own device file, cookies, mappings and closes. */
static void *race(void *arg)
{
	struct racer *r = arg;
	volatile uint64_t *p = NULL;
	uint64_t off, page = 0;
	uint32_t flags;
	int i, ret;

	r->fd = racer_file(r);
	for (i = 0; i < r->rounds && r->fd >= 0; i++) {
		switch (rand_r(&r->seed) % 4) {
		case 0:		/* a cookie, then map one of 4 pages */
			if (p)
				break;
			flags = rand_r(&r->seed) % 2 ? VFIO_MMAP_FLAG_WC : 0;
			ret = wctb_mmap_cookie(r->fd, BAR2, &flags, 0, &off,
					       NULL);
			if (ret) {
				snprintf(r->error, sizeof(r->error),
					 "cookie: %s", strerror(-ret));
				return r;
			}
			page = rand_r(&r->seed) % 4;
			p = mmap(NULL, PAGE, RW, MAP_SHARED, r->fd,
				 off + page * PAGE);
			if (p == MAP_FAILED && errno != EBUSY) {
				snprintf(r->error, sizeof(r->error),
					 "mmap: %s", strerror(errno));
				return r;
			}
			if (p == MAP_FAILED)	/* another type holds it */
				p = NULL;
			break;
		case 1:		/* store */
			if (p)
				p[rand_r(&r->seed) % 512] = i;
			break;
		case 2:		/* munmap */
			if (p)
				munmap((void *)p, PAGE);
			p = NULL;
			break;
		case 3:		/* close the file (mappings stay) and reopen */
			close(r->fd);
			r->fd = racer_file(r);
			break;
		}
	}
	if (r->fd < 0)
		snprintf(r->error, sizeof(r->error), "device file: %s",
			 strerror(-r->fd));
	if (p)
		munmap((void *)p, PAGE);
	if (r->fd >= 0)
		close(r->fd);
	return r;
}

/* Four threads race requests, mmap, munmap and close on one device. */
TEST_F(vfio_lifetime, threads_racing_requests_mappings_and_closes)
{
	struct racer r[4];
	pthread_t t[4];
	int i;

	for (i = 0; i < 4; i++) {
		r[i] = (struct racer){ .v = &self->s.v, .seed = 1000 + i,
				       .rounds = wctb_debug_kernel() ? 100 :
						 wctb_depth_rounds(500, 2000) };
		ASSERT_EQ(0, pthread_create(&t[i], NULL, race, &r[i]));
	}
	for (i = 0; i < 4; i++) {
		pthread_join(t[i], NULL);
		EXPECT_STREQ("", r[i].error) TH_LOG("thread %d (seed %u)", i,
						    1000 + i);
	}
	EXPECT_EQ(0, wctb_map_rw_errno(self->s.v.device, self->s.uc_off, 4 * PAGE))
		TH_LOG("every thread unmapped: the pages are free for UC");
}

/*
 * VFIO_DEVICE_RESET zaps live cookie mappings (their PTEs go: without the
 * zap they would still point at the BAR after the reset) and they refault
 * with their types.
 */
TEST_F(vfio_lifetime, reset_zaps_and_refaults_wc_and_uc_mappings)
{
	struct vfio_device_info info = { .argsz = sizeof(info) };
	volatile uint8_t *uc, *wc;

	ASSERT_EQ(0, ioctl(self->s.v.device, VFIO_DEVICE_GET_INFO, &info));
	if (!(info.flags & VFIO_DEVICE_FLAGS_RESET))
		SKIP(return, "the device offers no reset method to vfio-pci");
	uc = wctb_map(self->s.v.device, self->s.uc_off, PAGE);
	wc = wctb_map(self->s.v.device, self->s.wc_off + PAGE, PAGE);
	ASSERT_NE(MAP_FAILED, uc);
	ASSERT_NE(MAP_FAILED, wc);
	wctb_store_line(uc, 0x31);
	wctb_store_line(wc, 0x32);
	EXPECT_EQ(1, wctb_page_present(uc));
	EXPECT_EQ(1, wctb_page_present(wc));
	ASSERT_EQ(0, ioctl(self->s.v.device, VFIO_DEVICE_RESET))
		TH_LOG("VFIO_DEVICE_RESET: %s", strerror(errno));
	EXPECT_EQ(0, wctb_page_present(uc)) TH_LOG("UC cookie mapping not zapped");
	EXPECT_EQ(0, wctb_page_present(wc)) TH_LOG("WC cookie mapping not zapped");
	EXPECT_EQ(1, line_type(self, wc)) TH_LOG("WC after reset");
	EXPECT_EQ(0, line_type(self, uc)) TH_LOG("UC after reset");
	munmap((void *)uc, PAGE);
	munmap((void *)wc, PAGE);
}

TEST_HARNESS_MAIN
