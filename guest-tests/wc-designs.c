// SPDX-License-Identifier: GPL-2.0
/*
 * Every proposed write-combining uAPI, judged by what arrives at the
 * device: the same cases run through each mapping provider the running
 * kernel offers (lib/provider.h; one fixture variant per design, SKIP
 * with the reason where the kernel lacks its uAPI).  Each case prints
 * one cell of the verdict matrix on the results port,
 *
 *   wctb-design: design=NAME case=CASE cell="WORD" detail="..."
 *
 * where WORD is what the device saw against what was asked:
 *   exact            the memory type asked for (UC: UC or UC-)
 *   coerced to T     the mapping worked, with memory type T instead
 *   refused ERRNO    mmap() (or the uAPI call before it) failed
 *   refused SIGBUS   the mapping was made but a store faulted
 *   not revoked      with memory disabled a store did not fault, or a
 *                    reset left the mapping's PTEs in place
 *   lost             the stores went through, fewer bytes arrived
 *   mixed            types mixed, or more bytes arrived than stored
 *   n/a              the design has no such mapping
 *   untested         this boot cannot set the case up (BAR2 too small
 *                    for a 1 GiB mapping): the case SKIPs
 * and run-vm.sh --report turns them into the matrix (host/make-report.py).
 *
 * The cells of our own series (the cookie design) are facts its
 * documentation states (Documentation/driver-api/vfio.rst, patch 0005):
 * for that design every case is asserted (cookie_expect[]); on the naive
 * control kernel those assertions fail.  The other designs are measured,
 * not judged: their cases fail only when the harness itself breaks.
 */
#include <errno.h>
#include <immintrin.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "wctb-harness.h"
#include "provider.h"

/* BAR2's layout in these cases. */
#define DOORBELL_OFF	0			/* page 0: UC doorbell */
#define WINDOW_OFF	PAGE			/* pages 1-4: WC window */
#define WINDOW_LEN	(4 * PAGE)
#define OTHER_OFF	(8 * PAGE)		/* a page of its own */
#define HUGE_OFF	SZ_2M
#define SZ_1G		(1ul << 30)

#define CELL_LEN	48
#define DETAIL_LEN	320

/* What the cookie design must give in each case (patch 0005's rules). */
static const struct {
	const char *test;
	const char *cell;
} cookie_expect[] = {
	{ "uc_page", "exact" },
	{ "wc_page", "exact" },
	{ "doorbell_and_window", "exact" },
	{ "wc_2m", "exact" },
	{ "wc_1g", "exact" },
	{ "uc_then_wc_same_page", "refused EBUSY" },
	{ "wc_then_uc_same_page", "refused EBUSY" },
	{ "fixed_offset_while_wc", "exact" },
	{ "pwrite_while_wc", "exact" },
	{ "memory_disable_refault", "exact" },
	{ "reset_refault", "exact" },
	{ "fork", "exact" },
	{ "close_while_mapped", "exact" },
};

FIXTURE(design) {
	struct wctb_provider p;
	struct wctb_regs regs;
	int kmsg;
	/* The mappings of the case, unmapped in the teardown. */
	void *map[4];
	size_t len[4];
	unsigned int nmap;
	int memory_off;		/* memory_disable_refault left it off */
	char cell[CELL_LEN];
	char detail[DETAIL_LEN];
};

FIXTURE_VARIANT(design) {
	const char *provider;
};

FIXTURE_VARIANT_ADD(design, sysfs) { .provider = "sysfs" };
FIXTURE_VARIANT_ADD(design, fixed_offset) { .provider = "fixed-offset" };
FIXTURE_VARIANT_ADD(design, cookie) { .provider = "cookie" };
FIXTURE_VARIANT_ADD(design, dmabuf_memattr) { .provider = "dmabuf-memattr" };
FIXTURE_VARIANT_ADD(design, bar_wc_flag) { .provider = "bar-wc-flag" };

/* A value of a wctb-design line: its '"' become "'". */
static void unquote(char *text)
{
	for (; *text; text++)
		if (*text == '"')
			*text = '\'';
}

FIXTURE_SETUP(design)
{
	const struct wctb_provider_ops *ops = wctb_provider_find(variant->provider);
	const char *bdf = wctb_device();
	char why[192];
	const char *no;
	int ret;

	ASSERT_NE(NULL, ops) TH_LOG("no provider %s", variant->provider);
	ASSERT_NE(NULL, bdf) TH_LOG("wc-testdev not found");
	ASSERT_EQ(0, wctb_regs_map_sysfs(&self->regs, bdf));
	if (!wctb_device_sees_memtypes(&self->regs))
		SKIP(return, "the accelerator reports no memory types (KVM)");
	no = ops->probe(bdf, why, sizeof(why));
	if (no) {
		/* For the report: which designs this kernel lacks, and why. */
		unquote(why);
		printf(WCTB_PORT_DESIGN ": design=%s status=unsupported reason=\"%s\"\n",
		       ops->name, no);
		fflush(stdout);
		SKIP(return, "%s: %s", ops->name, no);
	}
	self->kmsg = wctb_kmsg_open(0);
	ASSERT_LE(0, self->kmsg);
	ret = wctb_provider_open(&self->p, ops, bdf);
	ASSERT_EQ(0, ret) TH_LOG("%s: %s", ops->name, self->p.why);
}

FIXTURE_TEARDOWN(design)
{
	if (self->memory_off)
		self->p.ops->memory_enable(&self->p, 1);
	while (self->nmap) {
		self->nmap--;
		munmap(self->map[self->nmap], self->len[self->nmap]);
	}
	if (self->p.ops)
		wctb_provider_close_files(&self->p);
	if (self->regs.base)
		wctb_regs_unmap(&self->regs);
	if (self->kmsg > 0)
		close(self->kmsg);
}

/* Map through the case's provider and remember it for the teardown. */
static volatile uint8_t *map(struct _test_data_design *self,
			     enum wctb_want want, uint64_t bar_off, size_t len,
			     size_t align)
{
	void *va = wctb_provider_map(&self->p, want, bar_off, len, align);

	if (va != MAP_FAILED && self->nmap < 4) {
		self->map[self->nmap] = va;
		self->len[self->nmap++] = len;
	}
	return va;
}

/* --- what arrived --- */

struct arrival {
	uint64_t uc, wc, cached, unknown;	/* bytes of each kind */
	uint64_t full, partial;			/* WC bursts */
	uint64_t type;				/* WC_TESTDEV_MEMTYPE_* */
};

static void arrival_read(const struct wctb_regs *r, struct arrival *a)
{
	uint64_t c[WC_TESTDEV_NUM_COUNTERS];

	wctb_counters_read(r, AP, c);
	a->uc = c[WC_TESTDEV_CNT_UC_BYTES];
	a->wc = c[WC_TESTDEV_CNT_WC_BYTES];
	a->unknown = c[WC_TESTDEV_CNT_UNKNOWN_WRITES] * 8;
	a->cached = c[WC_TESTDEV_CNT_WRITE_BYTES] - a->uc - a->wc;
	a->full = c[WC_TESTDEV_CNT_FULL_BURSTS];
	a->partial = c[WC_TESTDEV_CNT_PARTIAL_BURSTS];
	a->type = c[WC_TESTDEV_CNT_LAST_WRITE_TYPE];
}

static const char *memtype_word(uint64_t type)
{
	switch (type) {
	case WC_TESTDEV_MEMTYPE_UC: return "UC";
	case WC_TESTDEV_MEMTYPE_UC_MINUS: return "UC-";
	case WC_TESTDEV_MEMTYPE_WC: return "WC";
	case WC_TESTDEV_MEMTYPE_WT: return "WT";
	case WC_TESTDEV_MEMTYPE_WP: return "WP";
	case WC_TESTDEV_MEMTYPE_WB: return "WB";
	default: return "unknown";
	}
}

/*
 * The cell for @bytes stored through a @want mapping, from what arrived;
 * a short account of it is appended to @detail.
 */
static void judge(enum wctb_want want, const struct arrival *a,
		  uint64_t bytes, char *cell, char *detail)
{
	size_t n = strlen(detail);
	uint64_t total = a->uc + a->wc + a->cached;

	snprintf(detail + n, DETAIL_LEN - n,
		 "%s%s: %llu of %llu bytes arrived, uc %llu wc %llu (%llu full, %llu partial bursts), type %s",
		 n ? "; " : "", wctb_want_name(want),
		 (unsigned long long)total, (unsigned long long)bytes,
		 (unsigned long long)a->uc, (unsigned long long)a->wc,
		 (unsigned long long)a->full, (unsigned long long)a->partial,
		 memtype_word(a->type));
	if (!total)
		snprintf(cell, CELL_LEN, "lost");
	else if (a->wc == total)
		snprintf(cell, CELL_LEN, want == WCTB_WANT_WC ? "exact" :
			 "coerced to WC");
	else if (a->uc == total)
		snprintf(cell, CELL_LEN, want == WCTB_WANT_UC ? "exact" :
			 "coerced to %s", memtype_word(a->type));
	else if (a->cached == total)
		snprintf(cell, CELL_LEN, "coerced to %s", memtype_word(a->type));
	else
		snprintf(cell, CELL_LEN, "mixed");
	/* Fewer bytes than stored: lost; more: older data mixed in. */
	if (total && total < bytes)
		snprintf(cell, CELL_LEN, "lost");
	else if (total > bytes)
		snprintf(cell, CELL_LEN, "mixed");
}

/* "EBUSY" and the like: the errno's name, for a cell. */
static const char *errno_word(int err)
{
	const char *name = strerrorname_np(err);

	return name ? name : "errno";
}

/* The cell for a mapping that could not be made (errno @err). */
static void refused(struct _test_data_design *self, int err)
{
	size_t n = strlen(self->detail);

	if (err == EOPNOTSUPP && self->p.na)
		snprintf(self->cell, CELL_LEN, "n/a");
	else
		snprintf(self->cell, CELL_LEN, "refused %s", errno_word(err));
	snprintf(self->detail + n, DETAIL_LEN - n, "%s%s", n ? "; " : "",
		 self->p.why);
}

/* --- stores that may fault --- */

struct lines {
	volatile uint8_t *p;
	unsigned int n;
	size_t stride;
};

static void store_lines_once(void *arg)
{
	const struct lines *l = arg;
	unsigned int i;

	for (i = 0; i < l->n; i++)
		wctb_store_line(l->p + i * l->stride, i);
	_mm_sfence();
}

/*
 * wctb_store_line() on @lines lines from @p, @stride bytes apart, then an
 * SFENCE.  0, or the signal a store raised.
 */
static int store_lines(volatile uint8_t *p, unsigned int lines, size_t stride)
{
	struct lines l = { .p = p, .n = lines, .stride = stride };

	return wctb_guarded(store_lines_once, &l);
}

/*
 * Reset the counters, store @lines lines @stride apart through the @want
 * mapping @p and judge what arrived into the case's cell.
 */
static void store_and_judge(struct _test_data_design *self, enum wctb_want want,
			    volatile uint8_t *p, unsigned int lines, size_t stride)
{
	struct arrival a;
	size_t n;
	int sig;

	wctb_reset_counters(&self->regs);
	sig = store_lines(p, lines, stride);
	if (sig) {
		n = strlen(self->detail);
		snprintf(self->cell, CELL_LEN, "refused SIG%s", sigabbrev_np(sig));
		snprintf(self->detail + n, DETAIL_LEN - n, "%s%s store: %s",
			 n ? "; " : "", wctb_want_name(want), strsignal(sig));
		return;
	}
	arrival_read(&self->regs, &a);
	judge(want, &a, (uint64_t)lines * LINE, self->cell, self->detail);
}

/* A page of stores through a new @want mapping of BAR2 at @bar_off. */
static void page_case(struct _test_data_design *self, enum wctb_want want,
		      uint64_t bar_off)
{
	volatile uint8_t *p = map(self, want, bar_off, PAGE, 0);

	if (p == MAP_FAILED)
		refused(self, errno);
	else
		store_and_judge(self, want, p, PAGE / LINE, LINE);
}

/* --- recording --- */

static const char *case_name(const char *test, char *buf, size_t len)
{
	size_t i;

	snprintf(buf, len, "%s", test);
	for (i = 0; buf[i]; i++)
		if (buf[i] == '_')
			buf[i] = '-';
	return buf;
}

/*
 * Print the case's cell on the results port; for the cookie design,
 * check it against cookie_expect[] and check that the kernel logged
 * nothing that fails a test (rule 1 and 2 of the series: never silent,
 * never noisy).  Other designs: what the kernel logged goes to the
 * detail.
 */
static void record(struct __test_metadata *_metadata,
		   struct _test_data_design *self, const char *provider)
{
	const char *test = _metadata->name;
	char name[64], klog[512] = "";
	unsigned int i;
	int nlog = 0;

	case_name(test, name, sizeof(name));
	if (self->kmsg > 0)
		nlog = wctb_kmsg_read(self->kmsg, 0, klog, sizeof(klog), NULL, NULL);
	if (nlog > 0) {
		size_t n = strlen(self->detail);

		klog[strcspn(klog, "\n")] = 0;
		snprintf(self->detail + n, DETAIL_LEN - n,
			 "%skernel log: %d record(s), first: %s", n ? "; " : "",
			 nlog, klog);
	}
	unquote(self->detail);
	printf(WCTB_PORT_DESIGN ": design=%s case=%s cell=\"%s\" detail=\"%s\"\n",
	       provider, name, self->cell, self->detail);
	fflush(stdout);
	if (!strcmp(self->cell, "untested"))
		SKIP(return, "%s", self->detail);
	if (strcmp(provider, "cookie"))
		return;
	for (i = 0; i < sizeof(cookie_expect) / sizeof(cookie_expect[0]); i++)
		if (!strcmp(cookie_expect[i].test, test))
			break;
	ASSERT_LT(i, sizeof(cookie_expect) / sizeof(cookie_expect[0]))
		TH_LOG("no expected cell for case %s", test);

	EXPECT_STREQ(cookie_expect[i].cell, self->cell)
		TH_LOG("%s", self->detail);
	/* The documented refusals are mmap()'s, not the cookie ioctl's. */
	if (!strncmp(cookie_expect[i].cell, "refused E", 9))
		EXPECT_NE(NULL, strstr(self->detail, "mmap("))
			TH_LOG("refused, but not by mmap(): %s", self->detail);
	EXPECT_EQ(0, nlog) TH_LOG("kernel log: %s", klog);
}

#define RECORD() record(_metadata, self, variant->provider)

/* --- the cases --- */

/* One page of stores through a UC mapping alone. */
TEST_F(design, uc_page)
{
	page_case(self, WCTB_WANT_UC, OTHER_OFF);
	RECORD();
}

/* One page of stores through a WC mapping alone: 64 full bursts? */
TEST_F(design, wc_page)
{
	char pat[64];

	page_case(self, WCTB_WANT_WC, OTHER_OFF);
	if (self->nmap) {
		uint64_t start, end, flags;
		size_t n = strlen(self->detail);

		if (!wctb_sysfs_resource(self->p.bdf, BAR2, &start, &end, &flags) &&
		    !wctb_pat_memtype(start + OTHER_OFF, start + OTHER_OFF + PAGE,
				      pat, sizeof(pat)))
			snprintf(self->detail + n, DETAIL_LEN - n, "; PAT: %s", pat);
	}
	RECORD();
}

/*
 * The mission: a UC doorbell page and a WC window of one BAR at the same
 * time (UC mapped first).  The cell is the window's unless the doorbell
 * is the one that went wrong.
 */
TEST_F(design, doorbell_and_window)
{
	volatile uint8_t *db, *win;
	char wcell[CELL_LEN];

	db = map(self, WCTB_WANT_UC, DOORBELL_OFF, PAGE, 0);
	if (db == MAP_FAILED) {
		refused(self, errno);
		RECORD();
		return;
	}
	win = map(self, WCTB_WANT_WC, WINDOW_OFF, WINDOW_LEN, 0);
	if (win == MAP_FAILED) {
		refused(self, errno);
		RECORD();
		return;
	}
	store_and_judge(self, WCTB_WANT_WC, win, WINDOW_LEN / LINE, LINE);
	snprintf(wcell, sizeof(wcell), "%s", self->cell);
	store_and_judge(self, WCTB_WANT_UC, db, 1, LINE);
	if (!strcmp(self->cell, "exact"))
		snprintf(self->cell, CELL_LEN, "%s", wcell);
	RECORD();
}

/*
 * An aligned WC mapping of @size (2 MiB, 1 GiB): one line in each 512th
 * of it, and the page-table level that maps it.
 */
static void huge_case(struct __test_metadata *_metadata,
		      struct _test_data_design *self, size_t size)
{
	volatile uint8_t *p;
	char line[256] = "";
	uint64_t off;
	size_t n;

	/* A design without WC mappings has none this size either. */
	if (self->p.ops->no_wc) {
		snprintf(self->cell, CELL_LEN, "n/a");
		snprintf(self->detail, DETAIL_LEN, "%s", self->p.ops->no_wc);
		return;
	}
	/* BARs are naturally aligned: offset @size, or all of a BAR of @size. */
	off = self->p.bar_size >= 2 * size ? size : 0;
	if (self->p.bar_size < size) {
		/* A limit of this boot, not of the design: no cell. */
		snprintf(self->cell, CELL_LEN, "untested");
		snprintf(self->detail, DETAIL_LEN,
			 "BAR2 is %llu MiB, smaller than the %zu MiB mapping (wc-testdev.bar2-size)",
			 (unsigned long long)(self->p.bar_size >> 20), size >> 20);
		return;
	}
	p = map(self, WCTB_WANT_WC, off, size, size);
	if (p == MAP_FAILED) {
		refused(self, errno);
		return;
	}
	store_and_judge(self, WCTB_WANT_WC, p, 512, size / 512);
	wctb_ptdump_line(p, line, sizeof(line));
	n = strlen(self->detail);
	snprintf(self->detail + n, DETAIL_LEN - n, "; leaf %s",
		 strstr(line, " pud") ? "pud" : strstr(line, " pmd") ? "pmd" : "pte");
}

TEST_F(design, wc_2m)
{
	huge_case(_metadata, self, SZ_2M);
	RECORD();
}

TEST_F(design, wc_1g)
{
	huge_case(_metadata, self, SZ_1G);
	RECORD();
}

/*
 * Two mappings of one page, @first then the other type, both live: the
 * cell is what a page of stores through the second one gives; the
 * detail says what the first gives afterwards.
 */
static void alias_case(struct _test_data_design *self, enum wctb_want first)
{
	enum wctb_want second = first == WCTB_WANT_UC ? WCTB_WANT_WC : WCTB_WANT_UC;
	volatile uint8_t *a, *b;
	char cell[CELL_LEN];
	int sig;

	a = map(self, first, OTHER_OFF, PAGE, 0);
	if (a == MAP_FAILED) {
		refused(self, errno);
		return;
	}
	/* Fault it in: a type is reserved at mmap() or at the first fault. */
	sig = store_lines(a, 1, LINE);
	if (sig) {
		snprintf(self->cell, CELL_LEN, "refused SIG%s", sigabbrev_np(sig));
		snprintf(self->detail, DETAIL_LEN, "the first (%s) mapping faulted in: %s",
			 wctb_want_name(first), strsignal(sig));
		return;
	}
	b = map(self, second, OTHER_OFF, PAGE, 0);
	if (b == MAP_FAILED) {
		refused(self, errno);
		return;
	}
	store_and_judge(self, second, b, PAGE / LINE, LINE);
	snprintf(cell, sizeof(cell), "%s", self->cell);
	store_and_judge(self, first, a, 1, LINE);
	snprintf(self->cell, CELL_LEN, "%s", cell);
}

TEST_F(design, uc_then_wc_same_page)
{
	alias_case(self, WCTB_WANT_UC);
	RECORD();
}

TEST_F(design, wc_then_uc_same_page)
{
	alias_case(self, WCTB_WANT_WC);
	RECORD();
}

/*
 * A WC window faulted in: n/a for designs without one, else the cell
 * stays empty and the window is returned.
 */
static volatile uint8_t *live_window(struct _test_data_design *self)
{
	volatile uint8_t *win = map(self, WCTB_WANT_WC, WINDOW_OFF, WINDOW_LEN, 0);
	int sig;

	if (win == MAP_FAILED) {
		refused(self, errno);
		return NULL;
	}
	sig = store_lines(win, 1, LINE);
	if (sig) {
		snprintf(self->cell, CELL_LEN, "refused SIG%s", sigabbrev_np(sig));
		snprintf(self->detail, DETAIL_LEN, "the WC window faulted in: %s",
			 strsignal(sig));
		return NULL;
	}
	return win;
}

/*
 * The case's VFIO device file, or -1 with the cell n/a (sysfs has
 * none).
 */
static int vfio_device_or_na(struct _test_data_design *self)
{
	int dev = wctb_provider_device(&self->p);

	if (dev < 0) {
		snprintf(self->cell, CELL_LEN, "n/a");
		snprintf(self->detail, DETAIL_LEN, "no VFIO device file");
	}
	return dev;
}

/* Legacy users next to WC: a fixed-offset UC mapping of another page. */
TEST_F(design, fixed_offset_while_wc)
{
	int dev = vfio_device_or_na(self);
	volatile uint8_t *p;

	if (dev >= 0 && live_window(self)) {
		p = wctb_map(dev, WCTB_FIXED_OFFSET(BAR2) + OTHER_OFF, PAGE);
		if (p == MAP_FAILED) {
			snprintf(self->p.why, sizeof(self->p.why),
				 "fixed-offset mmap: %s", strerror(errno));
			refused(self, errno);
		} else {
			store_and_judge(self, WCTB_WANT_UC, p, PAGE / LINE, LINE);
			munmap((void *)p, PAGE);
		}
	}
	RECORD();
}

/* pwrite() of one line of another page while a WC window is live. */
TEST_F(design, pwrite_while_wc)
{
	int dev = vfio_device_or_na(self);
	uint64_t buf[WCTB_LINE_WORDS] = { 1, 2, 3, 4, 5, 6, 7, 8 };
	struct arrival a;
	ssize_t n;

	if (dev >= 0 && live_window(self)) {
		wctb_reset_counters(&self->regs);
		n = pwrite(dev, buf, sizeof(buf),
			   WCTB_FIXED_OFFSET(BAR2) + OTHER_OFF);
		if (n != sizeof(buf)) {
			snprintf(self->p.why, sizeof(self->p.why), "pwrite: %s",
				 n < 0 ? strerror(errno) : "short");
			refused(self, n < 0 ? errno : EIO);
		} else {
			arrival_read(&self->regs, &a);
			judge(WCTB_WANT_UC, &a, sizeof(buf), self->cell,
			      self->detail);
		}
	}
	RECORD();
}

/*
 * Revocation: with memory disabled a store must fault (not reach the
 * device); after memory is enabled again the same mapping faults back in
 * with its type.
 */
TEST_F(design, memory_disable_refault)
{
	volatile uint8_t *win = live_window(self);
	int sig, ret;

	if (win) {
		/* BAR0 goes with memory enable: reset while it is on. */
		wctb_reset_counters(&self->regs);
		ret = self->p.ops->memory_enable(&self->p, 0);
		ASSERT_EQ(0, ret) TH_LOG("%s", self->p.why);
		self->memory_off = 1;
		sig = store_lines(win, 1, LINE);
		ret = self->p.ops->memory_enable(&self->p, 1);
		ASSERT_EQ(0, ret) TH_LOG("%s", self->p.why);
		self->memory_off = 0;
		if (!sig) {
			struct arrival a;

			arrival_read(&self->regs, &a);
			snprintf(self->cell, CELL_LEN, "not revoked");
			snprintf(self->detail, DETAIL_LEN,
				 "a store with memory disabled did not fault (%llu bytes of it reached the device)",
				 (unsigned long long)(a.uc + a.wc + a.cached));
		} else {
			snprintf(self->detail, DETAIL_LEN,
				 "revoked (%s while disabled), then refault",
				 strsignal(sig));
			store_and_judge(self, WCTB_WANT_WC, win, WINDOW_LEN / LINE, LINE);
		}
	}
	RECORD();
}

/*
 * VFIO_DEVICE_RESET under a live WC mapping: its PTEs must go (the zap
 * that revokes it), then the same mapping faults back in with its type.
 */
TEST_F(design, reset_refault)
{
	int dev = vfio_device_or_na(self);
	volatile uint8_t *win;

	if (dev >= 0 && (win = live_window(self))) {
		if (!wctb_page_present(win)) {
			/* Without a page-table view nothing below could fail. */
			snprintf(self->cell, CELL_LEN, "untested");
			snprintf(self->detail, DETAIL_LEN,
				 "the faulted-in window is not in the page-table dump");
		} else if (ioctl(dev, VFIO_DEVICE_RESET)) {
			snprintf(self->p.why, sizeof(self->p.why),
				 "VFIO_DEVICE_RESET: %s", strerror(errno));
			refused(self, errno);
		} else if (wctb_page_present(win)) {
			/* The BAR is back where it was: only a zap shows. */
			snprintf(self->cell, CELL_LEN, "not revoked");
			snprintf(self->detail, DETAIL_LEN,
				 "the window's PTE survived VFIO_DEVICE_RESET (not zapped)");
		} else {
			snprintf(self->detail, DETAIL_LEN, "zapped, then refault");
			store_and_judge(self, WCTB_WANT_WC, win, WINDOW_LEN / LINE, LINE);
		}
	}
	RECORD();
}

/* A child writes a page through the WC mapping it inherited. */
TEST_F(design, fork)
{
	volatile uint8_t *win = live_window(self);
	struct arrival a;
	int status;
	pid_t pid;

	if (win) {
		wctb_reset_counters(&self->regs);
		pid = fork();
		ASSERT_LE(0, pid);
		if (!pid)
			_exit(store_lines(win, PAGE / LINE, LINE));
		ASSERT_EQ(pid, waitpid(pid, &status, 0));
		if (!WIFEXITED(status) || WEXITSTATUS(status)) {
			/* store_lines()'s signal, or what killed the child */
			int sig = WIFEXITED(status) ? WEXITSTATUS(status) :
				  WTERMSIG(status);

			snprintf(self->cell, CELL_LEN, "refused SIG%s",
				 sigabbrev_np(sig) ?: "?");
			snprintf(self->detail, DETAIL_LEN, "the child %s: %s",
				 WIFEXITED(status) ? "caught a store fault" :
				 "was killed", strsignal(sig));
		} else {
			arrival_read(&self->regs, &a);
			judge(WCTB_WANT_WC, &a, PAGE, self->cell, self->detail);
		}
	}
	RECORD();
}

/* Every file of the design closed, the WC mapping still in use. */
TEST_F(design, close_while_mapped)
{
	volatile uint8_t *win = live_window(self);

	if (win) {
		wctb_provider_close_files(&self->p);
		snprintf(self->detail, DETAIL_LEN, "files closed");
		store_and_judge(self, WCTB_WANT_WC, win, WINDOW_LEN / LINE, LINE);
	}
	RECORD();
}

TEST_HARNESS_MAIN
