// SPDX-License-Identifier: GPL-2.0
/*
 * A seeded, bounded fuzzer of the VFIO mmap cookie API.  Random cookie
 * requests (valid and not), mmap() of cookies, fixed and bogus offsets,
 * whole and partial munmap(), mremap(), fork(), stores through live
 * mappings, closing and reopening device files and VFIO_DEVICE_RESET run
 * against a model of the contract: device files and their cookies, live
 * mappings and the memory type each cookie mapping holds on its BAR pages
 * (x86: one type per page at a time, held until all of a mapping is
 * unmapped, by its fork children too), while fixed-offset mappings never
 * conflict and take the type their page has at the time of the store.  Every return value, errno and counter delta is checked
 * against the model; the first mismatch fails with the seed and the
 * operation.  At the end all of BAR2 must map UC and WC again.
 *
 * WCTB_FUZZ_SEED (default 1: CI is reproducible), WCTB_FUZZ_ITERATIONS
 * (default 1000, 3000 at full depth: WCTB_DEPTH=full) and
 * WCTB_FUZZ_SECONDS (default 20, at the reference pace: a slower machine
 * gets wctb_paced_seconds() of them) bound a run; it stops at whichever
 * comes first.  The kernel hands VAR=VALUE words of its
 * command line to init as environment, and init to the tests, so a long
 * run is, e.g.:
 *
 *   ./run-vm.sh --filter 'vfio-fuzz*' --test-timeout 900 \
 *     --append WCTB_FUZZ_SECONDS=600 --append WCTB_FUZZ_ITERATIONS=9999999 \
 *     --append WCTB_FUZZ_SEED=$RANDOM
 *
 * A failure replays with the seed it printed on the same VFIO path: the
 * sequence depends on nothing else.
 */
#include <errno.h>
#include <stdarg.h>
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

#define BAR0		WC_TESTDEV_BAR_REGS
#define BAR1		WC_TESTDEV_BAR_MSIX
#define MAX_FILES	4
/*
 * One per (region, attributes) the device offers: BAR0, BAR1 (MSI-X),
 * BAR2 and BAR4 uncached, BAR2 write-combining.
 */
#define MAX_COOKIES	5
#define MAX_SEEN	32
#define MAX_MAPS	32
#define MAX_PAGES	8		/* longest mmap() the fuzzer asks for */
#define SKIPPED		1		/* the operation had nothing to act on */

struct cookie {
	uint32_t bar;
	int wc;
	uint64_t off;
};

struct dfile {
	int fd;				/* -1: a free slot */
	unsigned int id;		/* which device file this is */
	int ncookies;
	struct cookie cookies[MAX_COOKIES];
};

/* One mmap() and the hold it has on pages [pg, pg + npages) of its BAR. */
struct mapping {
	int used;			/* the hold exists */
	uint8_t *addr;			/* its first page, after any mremap() */
	unsigned int npages, live;	/* live: bit i = page i still mapped */
	int child;			/* a fork child's copy holds it too */
	uint32_t bar;
	uint64_t pg;
	int wc, prot;
	int fixed;			/* a fixed offset: holds no type */
	unsigned int file;		/* id of the file it was made through */
};

struct fuzz {
	struct wctb_session *s;
	unsigned long long seed;
	uint64_t rng;
	unsigned long done;		/* operations completed */
	const char *op;			/* the kind of operation under way */
	uint64_t pages[VFIO_PCI_NUM_REGIONS];	/* 0: cannot be mmapped */
	int can_reset, wc_model;
	unsigned int next_id;
	struct dfile files[MAX_FILES];	/* [0] is the fixture's s->v.device */
	struct cookie seen[MAX_SEEN];	/* of every file, closed ones too */
	int nseen;
	struct mapping maps[MAX_MAPS];
	char what[256];			/* the operation under way */
	char why[512];			/* the first mismatch */
};

/* A cookie request, with room for a tail that the kernel does not know. */
struct req {
	struct vfio_device_mmap_cookie mc;
	uint64_t tail[2];
};

WCTB_SESSION_FIXTURE(vfio_fuzz, 1)

/* xorshift64*: tiny, and the same sequence everywhere. */
static uint64_t rnd(struct fuzz *fz)
{
	fz->rng ^= fz->rng >> 12;
	fz->rng ^= fz->rng << 25;
	fz->rng ^= fz->rng >> 27;
	return fz->rng * 0x2545f4914f6cdd1dull;
}

static unsigned int below(struct fuzz *fz, unsigned int n)
{
	return rnd(fz) % n;
}

static int chance(struct fuzz *fz, unsigned int percent)
{
	return below(fz, 100) < percent;
}

static void __attribute__((format(printf, 2, 3)))
describe(struct fuzz *fz, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(fz->what, sizeof(fz->what), fmt, ap);
	va_end(ap);
}

/* Keep the first mismatch, with the operation, and return -1. */
static int __attribute__((format(printf, 2, 3)))
fail(struct fuzz *fz, const char *fmt, ...)
{
	char msg[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (!fz->why[0])
		snprintf(fz->why, sizeof(fz->why), "%s: %s", fz->what, msg);
	return -1;
}

static const char *errname(int err)
{
	const char *name = err ? strerrorname_np(err) : "success";

	return name ? name : "an unknown errno";
}

/* @expected and @got are 0 or an errno. */
static int check(struct fuzz *fz, int expected, int got)
{
	if (expected == got)
		return 0;
	return fail(fz, "expected %s, got %s", errname(expected), errname(got));
}

#define MAP_FMT		"BAR%u pages %llu+%u %s"
#define MAP_ARGS(m)	(m)->bar, (unsigned long long)(m)->pg, (m)->npages, \
			(m)->wc ? "WC" : "UC"

/* ---- the model ---- */

static uint32_t supported(uint32_t bar)
{
	return bar == BAR2 ? VFIO_MMAP_FLAG_WC : 0;
}

static int mappable(const struct fuzz *fz, uint64_t index)
{
	return index < VFIO_PCI_NUM_REGIONS && fz->pages[index];
}

static unsigned int all_pages(unsigned int npages)
{
	return (1u << npages) - 1;
}

static struct cookie *find_cookie(struct dfile *f, uint32_t bar, int wc)
{
	int i;

	for (i = 0; i < f->ncookies; i++)
		if (f->cookies[i].bar == bar && f->cookies[i].wc == wc)
			return &f->cookies[i];
	return NULL;
}

/* The cookie of @f whose mappable range contains @off. */
static struct cookie *cookie_at(struct fuzz *fz, struct dfile *f, uint64_t off)
{
	struct cookie *c;
	int i;

	for (i = 0; i < f->ncookies; i++) {
		c = &f->cookies[i];
		if (off >= c->off && (off - c->off) / PAGE < fz->pages[c->bar])
			return c;
	}
	return NULL;
}

/* Some cookie mapping holds part of @t's range with the other type. */
static int conflicts(struct fuzz *fz, const struct mapping *t)
{
	const struct mapping *m;
	int i;

	if (t->fixed)
		return 0;
	for (i = 0; i < MAX_MAPS; i++) {
		m = &fz->maps[i];
		if (m->used && !m->fixed && m->bar == t->bar && m->wc != t->wc &&
		    m->pg < t->pg + t->npages && t->pg < m->pg + m->npages)
			return 1;
	}
	return 0;
}

/* Page @pg of @bar is write-combining now: a WC cookie mapping holds it. */
static int page_wc(struct fuzz *fz, uint32_t bar, uint64_t pg)
{
	const struct mapping *m;
	int i;

	for (i = 0; i < MAX_MAPS; i++) {
		m = &fz->maps[i];
		if (m->used && !m->fixed && m->wc && m->bar == bar &&
		    m->pg <= pg && pg < m->pg + m->npages)
			return 1;
	}
	return 0;
}

/* The type a store to page @page of @m arrives with. */
static int store_wc(struct fuzz *fz, const struct mapping *m, unsigned int page)
{
	return m->fixed ? page_wc(fz, m->bar, m->pg + page) : m->wc;
}

/*
 * What mmap() of @t->npages at @off of @f returns, PROT_EXEC aside (it is
 * checked after all of these); fills in @t's BAR, page and type.
 */
static int predict_mmap(struct fuzz *fz, struct dfile *f, uint64_t off,
			int flags, struct mapping *t)
{
	struct cookie *c;

	if (off % PAGE)
		return EINVAL;
	if (off >= WCTB_COOKIE_MIN) {
		c = cookie_at(fz, f, off);
		if (!c)
			return EINVAL;
		t->bar = c->bar;
		t->wc = c->wc;
		t->pg = (off - c->off) / PAGE;
	} else {
		if (!mappable(fz, off >> WCTB_FIXED_OFFSET_SHIFT))
			return EINVAL;
		t->fixed = 1;
		t->bar = off >> WCTB_FIXED_OFFSET_SHIFT;
		t->pg = (off & ((1ull << WCTB_FIXED_OFFSET_SHIFT) - 1)) / PAGE;
	}
	if (t->pg + t->npages > fz->pages[t->bar] || !(flags & MAP_SHARED))
		return EINVAL;
	return conflicts(fz, t) ? EBUSY : 0;
}

static struct mapping *free_mapping(struct fuzz *fz)
{
	int i;

	for (i = 0; i < MAX_MAPS; i++)
		if (!fz->maps[i].used)
			return &fz->maps[i];
	return NULL;
}

/* The hold ends with the last page of the mapping and of its fork copy. */
static void settle(struct mapping *m)
{
	if (!m->live && !m->child)
		m->used = 0;
}

static struct dfile *pick_file(struct fuzz *fz)
{
	struct dfile *f;

	do {		/* [0] is always open */
		f = &fz->files[below(fz, MAX_FILES)];
	} while (f->fd < 0);
	return f;
}

enum want { LIVE, INTACT, STORABLE };

static struct mapping *pick_mapping(struct fuzz *fz, enum want want)
{
	struct mapping *m, *c[MAX_MAPS];
	int i, n = 0;

	for (i = 0; i < MAX_MAPS; i++) {
		m = &fz->maps[i];
		if (!m->used || !m->live ||
		    (want == INTACT && m->live != all_pages(m->npages)) ||
		    (want == STORABLE && (!(m->prot & PROT_WRITE) || m->bar == BAR0 ||
					      m->bar == BAR1)))
			continue;	/* the registers, the MSI-X table */
		c[n++] = m;
	}
	return n ? c[below(fz, n)] : NULL;
}

static unsigned int pick_live_page(struct fuzz *fz, const struct mapping *m)
{
	unsigned int i;

	do {
		i = below(fz, m->npages);
	} while (!(m->live & (1u << i)));
	return i;
}

/* ---- cookie requests ---- */

static int predict_cookie(struct fuzz *fz, const struct req *r)
{
	const struct vfio_device_mmap_cookie *mc = &r->mc;

	if (mc->argsz < sizeof(*mc))
		return EINVAL;
	if (mc->argsz > sizeof(*mc) && (r->tail[0] || r->tail[1]))
		return E2BIG;
	if (mc->flags || !mappable(fz, mc->index))
		return EINVAL;
	if (mc->mmap_flags & ~supported(mc->index))
		return EOPNOTSUPP;
	return 0;
}

static void remember_seen(struct fuzz *fz, const struct cookie *c)
{
	fz->seen[fz->nseen < MAX_SEEN ? fz->nseen++ : below(fz, MAX_SEEN)] = *c;
}

/* A cookie the kernel returned: the same as before, or new and disjoint. */
static int learn_cookie(struct fuzz *fz, struct dfile *f,
			const struct vfio_device_mmap_cookie *mc)
{
	struct cookie c = { mc->index, !!mc->mmap_flags, mc->offset }, *o;
	int i;

	if (mc->size != fz->pages[c.bar] * PAGE || c.off < WCTB_COOKIE_MIN ||
	    c.off % PAGE)
		return fail(fz, "offset %#llx size %#llx", (unsigned long long)c.off,
			    (unsigned long long)mc->size);
	o = find_cookie(f, c.bar, c.wc);
	if (o)
		return o->off == c.off ? 0 :
		       fail(fz, "offset %#llx, the first time %#llx",
			    (unsigned long long)c.off, (unsigned long long)o->off);
	for (i = 0; i < f->ncookies; i++) {
		o = &f->cookies[i];
		if (c.off < o->off + fz->pages[o->bar] * PAGE &&
		    o->off < c.off + mc->size)
			return fail(fz, "offset %#llx overlaps cookie %#llx",
				    (unsigned long long)c.off,
				    (unsigned long long)o->off);
	}
	if (f->ncookies == MAX_COOKIES)
		return fail(fz, "more cookies than the device has regions and "
			    "attribute sets (%d)", MAX_COOKIES);
	f->cookies[f->ncookies++] = c;
	remember_seen(fz, &c);
	return 0;
}

static int request_cookie(struct fuzz *fz, struct dfile *f, struct req *r)
{
	struct vfio_device_mmap_cookie *mc = &r->mc;
	int expected = predict_cookie(fz, r), got;

	describe(fz, "file %u: GET_MMAP_COOKIE argsz %u (tail %#llx %#llx) "
		 "flags %#x index %u mmap_flags %#x", f->id, mc->argsz,
		 (unsigned long long)r->tail[0], (unsigned long long)r->tail[1],
		 mc->flags, mc->index, mc->mmap_flags);
	got = ioctl(f->fd, VFIO_DEVICE_GET_MMAP_COOKIE, r) ? errno : 0;
	if (check(fz, expected, got) || got)
		return expected == got ? 0 : -1;
	return learn_cookie(fz, f, mc);
}

/* The cookie of @f for (@bar, @wc), asked for (again: it must not move). */
static int cookie_of(struct fuzz *fz, struct dfile *f, uint32_t bar, int wc,
		     uint64_t *off)
{
	struct req r = { .mc = { .argsz = sizeof(r.mc), .index = bar,
				 .mmap_flags = wc ? VFIO_MMAP_FLAG_WC : 0 } };

	if (request_cookie(fz, f, &r))
		return -1;
	*off = find_cookie(f, bar, wc)->off;
	return 0;
}

static uint32_t random_bit(struct fuzz *fz)
{
	return 1u << (1 + below(fz, 31));
}

static int op_cookie(struct fuzz *fz)
{
	static const uint32_t common[] = { BAR0, BAR2, BAR2, BAR2, BAR4 };
	static const uint32_t bad[] = { 9, 99, 0xffffffff };
	struct req r = { .mc = { .argsz = sizeof(r.mc) } };
	unsigned int i, pick = below(fz, 100);

	if (pick < 8) {
		r.mc.argsz = below(fz, sizeof(r.mc));
	} else if (pick < 16) {
		r.mc.argsz = sizeof(r);
		i = below(fz, 2);
		if (chance(fz, 50))
			r.tail[i] = 1 + below(fz, 255);
	}
	if (chance(fz, 15))	/* bit 0 too: v1's probe flag is gone */
		r.mc.flags = chance(fz, 30) ? 1 : random_bit(fz);
	pick = below(fz, 100);
	r.mc.index = pick < 70 ? common[below(fz, 5)] :
		     pick < 90 ? below(fz, VFIO_PCI_NUM_REGIONS) : bad[below(fz, 3)];
	pick = below(fz, 100);
	r.mc.mmap_flags = pick < 45 ? 0 : pick < 90 ? VFIO_MMAP_FLAG_WC :
			  random_bit(fz);
	return request_cookie(fz, pick_file(fz), &r);
}

/* ---- mmap(), munmap() and mremap() ---- */

/* mmap() as the model predicts; a new mapping joins the model. */
static int map_checked(struct fuzz *fz, struct dfile *f, uint64_t off,
		       unsigned int n, int prot, int flags, int exec)
{
	struct mapping t = { .used = 1, .npages = n, .live = all_pages(n),
			     .prot = prot, .file = f->id };
	int expected = predict_mmap(fz, f, off, flags, &t), got;
	void *p;

	/* EPERM only where nothing fails before it, whatever the mount. */
	if (exec && off >= WCTB_COOKIE_MIN && (!expected || expected == EBUSY)) {
		t.prot |= PROT_EXEC;
		expected = EPERM;
	}
	describe(fz, "file %u: mmap(%u pages, prot %#x, %s, offset %#llx)",
		 f->id, n, t.prot, flags & MAP_SHARED ? "shared" : "private",
		 (unsigned long long)off);
	p = mmap(NULL, n * PAGE, t.prot, flags, f->fd, off);
	got = p == MAP_FAILED ? errno : 0;

	if (!got && expected)
		munmap(p, n * PAGE);
	if (check(fz, expected, got) || got)
		return expected == got ? 0 : -1;
	t.addr = p;
	*free_mapping(fz) = t;
	return 0;
}

/* A page of a region of @pages: mostly the first few, so types collide. */
static uint64_t pick_page(struct fuzz *fz, uint64_t pages)
{
	if (chance(fz, 75))
		return below(fz, pages < 16 ? pages : 16);
	return pages - 1 - below(fz, pages < 8 ? pages : 8);	/* the end */
}

/* Offsets that map nothing: unaligned, no cookie, past one, no BAR. */
static uint64_t bogus_offset(struct fuzz *fz, const struct cookie *c)
{
	static const uint64_t bad_index[] = { 3, 5, 6, 7, 8, 9, 12 };

	switch (below(fz, 4)) {
	case 0:
		return c->off + 1 + below(fz, PAGE - 1);
	case 1:
		return WCTB_COOKIE_MIN + (1 + (uint64_t)below(fz, 4096)) * (1ull << 30);
	case 2:
		return c->off + (fz->pages[c->bar] + below(fz, 8)) * PAGE;
	default:
		return WCTB_FIXED_OFFSET(bad_index[below(fz, 7)]);
	}
}

static uint64_t pick_offset(struct fuzz *fz, struct dfile *f)
{
	static const uint32_t bars[] = { BAR0, BAR2, BAR2, BAR4 };
	unsigned int pick = below(fz, 100);
	const struct cookie *c;
	uint32_t bar;

	if (pick < 55 && f->ncookies)
		c = &f->cookies[below(fz, f->ncookies)];
	else
		c = &fz->seen[below(fz, fz->nseen)];	/* maybe not this file's */
	if (pick < 70)
		return c->off + pick_page(fz, fz->pages[c->bar]) * PAGE;
	if (pick < 85) {
		bar = bars[below(fz, 4)];
		return WCTB_FIXED_OFFSET(bar) +
		       pick_page(fz, fz->pages[bar]) * PAGE;
	}
	return bogus_offset(fz, c);
}

static int op_mmap(struct fuzz *fz)
{
	static const int prots[] = { RW, RW, RW, RW, PROT_READ, PROT_NONE };
	int prot, flags, exec;
	struct dfile *f;
	unsigned int n;
	uint64_t off;

	if (!free_mapping(fz))
		return SKIPPED;
	/* One draw per statement: the order must not depend on the compiler. */
	f = pick_file(fz);
	off = pick_offset(fz, f);
	n = 1 + below(fz, MAX_PAGES);
	prot = prots[below(fz, 6)];
	flags = chance(fz, 10) ? MAP_PRIVATE : MAP_SHARED;
	exec = chance(fz, 8);
	return map_checked(fz, f, off, n, prot, flags, exec);
}

/* munmap() pages [@first, @first + @n) of @m, all of them live. */
static int unmap_pages(struct fuzz *fz, struct mapping *m, unsigned int first,
		       unsigned int n)
{
	describe(fz, "munmap(pages %u+%u of a mapping of " MAP_FMT ")",
		 first, n, MAP_ARGS(m));
	if (check(fz, 0, munmap(m->addr + first * PAGE, n * PAGE) ? errno : 0))
		return -1;
	m->live &= ~(all_pages(n) << first);
	settle(m);
	return 0;
}

/* Page by page: never the holes, which other mappings may fill by now. */
static int unmap_all(struct fuzz *fz, struct mapping *m)
{
	unsigned int i;

	for (i = 0; i < m->npages; i++)
		if ((m->live & (1u << i)) && unmap_pages(fz, m, i, 1))
			return -1;
	return 0;
}

static int op_munmap(struct fuzz *fz)
{
	struct mapping *m = pick_mapping(fz, LIVE);
	unsigned int first, n = 1;

	if (!m)
		return SKIPPED;
	if (chance(fz, 40))
		return unmap_all(fz, m);
	first = pick_live_page(fz, m);
	while (first + n < m->npages && (m->live & (1u << (first + n))) &&
	       chance(fz, 50))
		n++;
	return unmap_pages(fz, m, first, n);	/* releases nothing */
}

/* mremap(): a move keeps the mapping and its hold; growing is EFAULT. */
static int op_mremap(struct fuzz *fz)
{
	struct mapping *m = pick_mapping(fz, INTACT);
	size_t len, grow;
	void *to, *p;

	if (!m)
		return SKIPPED;
	len = m->npages * PAGE;
	if (chance(fz, 50)) {
		grow = len + (1 + below(fz, 4)) * PAGE;
		describe(fz, "mremap(grow a mapping of " MAP_FMT " to %zu bytes)",
			 MAP_ARGS(m), grow);
		p = mremap(m->addr, len, grow, MREMAP_MAYMOVE);
		if (p != MAP_FAILED) {
			munmap(p, grow);
			m->live = 0;
			settle(m);
		}
		return check(fz, EFAULT, p == MAP_FAILED ? errno : 0);
	}
	describe(fz, "mremap(move a mapping of " MAP_FMT ")", MAP_ARGS(m));
	to = mmap(NULL, len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (to == MAP_FAILED)
		return fail(fz, "no room to move to: %s", strerror(errno));
	p = mremap(m->addr, len, len, MREMAP_MAYMOVE | MREMAP_FIXED, to);
	if (p == MAP_FAILED) {
		munmap(to, len);
		return check(fz, 0, errno);
	}
	m->addr = p;
	return 0;
}

/* ---- stores ---- */

/*
 * One line since the counters were reset: 1 WC burst (or its pieces, where
 * an interrupt cut it: wctb_check_bursts()), or 8 UC writes.
 */
static int check_counters(struct fuzz *fz, uint32_t bar, int wc)
{
	unsigned int ap = bar == BAR2 ? WC_TESTDEV_APERTURE_PREF :
					WC_TESTDEV_APERTURE_NONPREF;
	const struct wctb_regs *r = &fz->s->regs;
	uint64_t uc = wctb_counter(r, ap, WC_TESTDEV_CNT_UC_WRITES);
	uint64_t wcs = wctb_counter(r, ap, WC_TESTDEV_CNT_WC_STORES);
	char bursts[512] = "";

	if (wc ? !uc && wcs == 8 &&
		 (!fz->wc_model || !wctb_check_bursts(r, ap, 1, 0, LINE, bursts,
						      sizeof(bursts))) :
		 uc == 8 && !wcs)
		return 0;
	return fail(fz, "a %s line arrived as %llu UC writes, %llu WC stores%s%s",
		    wc ? "WC" : "UC", (unsigned long long)uc,
		    (unsigned long long)wcs, bursts[0] ? "; " : "", bursts);
}

static int check_line(struct fuzz *fz, const volatile uint8_t *p,
		      uint64_t val, const char *through)
{
	const volatile uint64_t *q = (const volatile uint64_t *)p;
	int i;

	for (i = 0; i < 8; i++)
		if (q[i] != val + i)
			return fail(fz, "word %d read back through %s is %#llx, "
				    "not %#llx", i, through,
				    (unsigned long long)q[i],
				    (unsigned long long)(val + i));
	return 0;
}

/* Read the line back through another live mapping of the same page. */
static int check_elsewhere(struct fuzz *fz, const struct mapping *m,
			   unsigned int page, unsigned int line, uint64_t val)
{
	uint64_t pg = m->pg + page, i;
	const struct mapping *o;
	int k;

	for (k = 0; k < MAX_MAPS; k++) {
		o = &fz->maps[k];
		if (o == m || !o->used || o->bar != m->bar || pg < o->pg ||
		    pg >= o->pg + o->npages || !(o->prot & PROT_READ))
			continue;
		i = pg - o->pg;
		if (o->live & (1u << i))
			return check_line(fz, o->addr + i * PAGE + line * 64,
					  val, "another mapping");
	}
	return 0;
}

static int op_store(struct fuzz *fz)
{
	struct mapping *m = pick_mapping(fz, STORABLE);
	unsigned int page, line;
	volatile uint8_t *p;
	uint64_t val;

	if (!m)
		return SKIPPED;
	page = pick_live_page(fz, m);
	line = below(fz, PAGE / 64);
	val = rnd(fz);
	p = m->addr + page * PAGE + line * 64;
	describe(fz, "store line %u of page %u of a mapping of " MAP_FMT,
		 line, page, MAP_ARGS(m));
	wctb_reset_counters(&fz->s->regs);
	wctb_store_line(p, val);
	if (check_counters(fz, m->bar, store_wc(fz, m, page)) ||
	    check_line(fz, p, val, "the same mapping"))
		return -1;
	return check_elsewhere(fz, m, page, line, val);
}

/* ---- fork() ---- */

/* Store, tell the parent, and hold the mappings until it closes go[1]. */
static void __attribute__((noreturn))
child_store(volatile uint8_t *p, uint64_t val, int done[2], int go[2])
{
	char c = 's';

	close(done[0]);
	close(go[1]);		/* else read() never sees EOF */
	wctb_store_line(p, val);
	if (write(done[1], &c, 1) != 1 || read(go[0], &c, 1) < 0)
		_exit(1);
	_exit(0);
}

/* The parent's copy goes; the child's keeps the range from the other type. */
static int drop_while_child_holds(struct fuzz *fz, struct mapping *m)
{
	struct dfile *f = &fz->files[0];
	uint64_t off;

	m->child = 1;
	if (unmap_all(fz, m))
		return -1;
	if (m->bar != BAR2 || !free_mapping(fz))
		return 0;		/* BAR4 has no other type to try */
	if (m->wc)
		off = WCTB_FIXED_OFFSET(BAR2);
	else if (cookie_of(fz, f, BAR2, 1, &off))
		return -1;
	return map_checked(fz, f, off + m->pg * PAGE, 1, RW, MAP_SHARED, 0);
}

static int op_fork(struct fuzz *fz)
{
	struct mapping *m = pick_mapping(fz, STORABLE);
	int done[2], go[2], hold, status, ret;
	volatile uint8_t *p;
	unsigned int page;
	uint64_t val;
	pid_t pid;
	char c;

	if (!m)
		return SKIPPED;
	page = pick_live_page(fz, m);
	p = m->addr + page * PAGE + below(fz, PAGE / 64) * 64;
	val = rnd(fz);
	hold = chance(fz, 50);
	describe(fz, "fork: the child stores through a mapping of " MAP_FMT "%s",
		 MAP_ARGS(m), hold ? ", the parent unmaps it" : "");
	if (pipe(done) || pipe(go))
		return fail(fz, "pipe: %s", strerror(errno));
	wctb_reset_counters(&fz->s->regs);
	pid = fork();
	if (pid == 0)
		child_store(p, val, done, go);
	close(done[1]);
	close(go[0]);
	ret = pid < 0 ? fail(fz, "fork: %s", strerror(errno)) : 0;
	if (!ret && read(done[0], &c, 1) != 1)
		ret = fail(fz, "the child died before its store");
	if (!ret)
		ret = check_counters(fz, m->bar, store_wc(fz, m, page));
	if (!ret && hold)
		ret = drop_while_child_holds(fz, m);
	close(go[1]);			/* the child exits */
	close(done[0]);
	if (pid > 0 && waitpid(pid, &status, 0) == pid && !ret && status)
		ret = fail(fz, "child status %#x", status);
	m->child = 0;
	settle(m);
	return ret;
}

/* ---- device files and reset ---- */

static void new_file(struct fuzz *fz, struct dfile *f, int fd)
{
	memset(f, 0, sizeof(*f));
	f->fd = fd;
	f->id = ++fz->next_id;
}

/* Close the fixture's file and open a new one in its place. */
static int reopen_main(struct fuzz *fz)
{
	int ret;

	describe(fz, "close file %u and open a new one", fz->files[0].id);
	ret = wctb_vfio_reopen_device(&fz->s->v);
	if (ret)
		fz->s->v.device = -1;
	new_file(fz, &fz->files[0], fz->s->v.device);
	return check(fz, 0, -ret);
}

static int file_is_mapped(struct fuzz *fz, unsigned int id)
{
	int i;

	for (i = 0; i < MAX_MAPS; i++)
		if (fz->maps[i].used && fz->maps[i].file == id)
			return 1;
	return 0;
}

/*
 * cdev binds one file at a time and a mapping keeps its file bound: there,
 * reopen only an unmapped file.  Legacy opens and closes files at will.
 */
static int op_file(struct fuzz *fz)
{
	struct dfile *f;
	int i, fd;

	if (fz->s->v.cdev)
		return file_is_mapped(fz, fz->files[0].id) ? SKIPPED :
		       reopen_main(fz);
	for (i = 1; i < MAX_FILES && fz->files[i].fd >= 0; i++)
		;
	if (i < MAX_FILES && chance(fz, 50)) {
		describe(fz, "open another device file");
		fd = wctb_vfio_open_device_file(&fz->s->v);
		if (check(fz, 0, fd < 0 ? -fd : 0))
			return -1;
		new_file(fz, &fz->files[i], fd);
		return 0;
	}
	f = pick_file(fz);
	if (f == &fz->files[0])
		return reopen_main(fz);
	describe(fz, "close file %u", f->id);	/* its mappings stay */
	fd = f->fd;
	f->fd = -1;
	return check(fz, 0, close(fd) ? errno : 0);
}

/* An FLR: zaps every mapping, which refaults with its type (op_store). */
static int op_reset(struct fuzz *fz)
{
	struct dfile *f = pick_file(fz);

	if (!fz->can_reset)
		return SKIPPED;
	describe(fz, "file %u: VFIO_DEVICE_RESET", f->id);
	return check(fz, 0, ioctl(f->fd, VFIO_DEVICE_RESET) ? errno : 0);
}

/* ---- the run ---- */

static const struct {
	const char *name;
	unsigned int weight;		/* percent */
	int (*run)(struct fuzz *fz);
} ops[] = {
	{ "cookie", 15, op_cookie }, { "mmap", 30, op_mmap },
	{ "munmap", 18, op_munmap }, { "mremap", 8, op_mremap },
	{ "store", 18, op_store }, { "fork", 3, op_fork },
	{ "file", 5, op_file }, { "reset", 3, op_reset },
};
#define NR_OPS (sizeof(ops) / sizeof(ops[0]))

/* One operation: 0 when done, SKIPPED, or -1 on a mismatch. */
static int fuzz_step(struct fuzz *fz, unsigned long *count)
{
	unsigned int i, pick = below(fz, 100);
	int ret;

	for (i = 0; pick >= ops[i].weight; i++)
		pick -= ops[i].weight;
	fz->op = ops[i].name;
	ret = ops[i].run(fz);
	if (!ret) {
		count[i]++;
		fz->done++;
	}
	return ret;
}

static int fuzz_init(struct fuzz *fz, struct wctb_session *s)
{
	static const uint32_t bars[] = { BAR0, BAR1, BAR2, BAR4 };
	struct vfio_device_info info = { .argsz = sizeof(info) };
	const char *seed = getenv("WCTB_FUZZ_SEED");
	struct vfio_region_info region;
	struct dfile *f = &fz->files[0];
	int i;

	memset(fz, 0, sizeof(*fz));
	fz->s = s;
	fz->seed = seed && *seed ? strtoull(seed, NULL, 0) : 1;
	fz->rng = (fz->seed + 1) * 0x9e3779b97f4a7c15ull ?: 1;
	for (i = 0; i < 4; i++) {
		if (wctb_region_info(s->v.device, bars[i], &region))
			return -1;
		if (region.flags & VFIO_REGION_INFO_FLAG_MMAP)
			fz->pages[bars[i]] = (region.size + PAGE - 1) / PAGE;
	}
	fz->can_reset = !ioctl(s->v.device, VFIO_DEVICE_GET_INFO, &info) &&
			(info.flags & VFIO_DEVICE_FLAGS_RESET);
	fz->wc_model = wctb_reg32(&s->regs, WC_TESTDEV_REG_WC_LINES) != 0;
	for (i = 1; i < MAX_FILES; i++)
		fz->files[i].fd = -1;
	new_file(fz, f, s->v.device);
	/* The session asked for these two. */
	f->cookies[f->ncookies++] = (struct cookie){ BAR2, 0, s->uc_off };
	f->cookies[f->ncookies++] = (struct cookie){ BAR2, 1, s->wc_off };
	for (i = 0; i < f->ncookies; i++)
		remember_seen(fz, &f->cookies[i]);
	return 0;
}

/* Unmap everything and close every file but the fixture's. */
static int fuzz_cleanup(struct fuzz *fz)
{
	int i, ret = 0;

	for (i = 0; i < MAX_MAPS; i++)
		if (fz->maps[i].used && unmap_all(fz, &fz->maps[i]))
			ret = -1;
	for (i = 1; i < MAX_FILES; i++) {
		if (fz->files[i].fd < 0)
			continue;
		describe(fz, "close file %u", fz->files[i].id);
		if (check(fz, 0, close(fz->files[i].fd) ? errno : 0))
			ret = -1;
	}
	return ret;
}

/*
 * Nothing leaked a hold: all of BAR2 maps through a UC cookie, then a WC
 * one (the fixed offset would map either way).
 */
static int check_no_holds(struct fuzz *fz)
{
	struct dfile *f = &fz->files[0];
	size_t len = fz->pages[BAR2] * PAGE;
	uint64_t off[2];
	void *p;
	int i;

	if (cookie_of(fz, f, BAR2, 0, &off[0]) || cookie_of(fz, f, BAR2, 1, &off[1]))
		return -1;
	for (i = 0; i < 2; i++) {
		describe(fz, "after the run: mmap all of BAR2 %s", i ? "WC" : "UC");
		p = mmap(NULL, len, RW, MAP_SHARED, f->fd, off[i]);
		if (check(fz, 0, p == MAP_FAILED ? errno : 0))
			return -1;
		munmap(p, len);
	}
	return 0;
}

static long env_long(const char *name, long def)
{
	const char *env = getenv(name);
	long val = env ? strtol(env, NULL, 0) : 0;

	return val > 0 ? val : def;
}

/*
 * The harness's limit (evaluated at registration, then paced by
 * TEST_F_TIMEOUT): the run plus margin.
 */
static int harness_timeout(void)
{
	return env_long("WCTB_FUZZ_SECONDS", 20) + 120;
}

TEST_F_TIMEOUT(vfio_fuzz, random_sequences_match_the_model, harness_timeout())
{
	unsigned long iterations = env_long("WCTB_FUZZ_ITERATIONS",
					    wctb_depth_rounds(1000, 3000));
	double seconds = wctb_paced_seconds(env_long("WCTB_FUZZ_SECONDS", 20));
	double start, elapsed;
	unsigned long count[NR_OPS] = { 0 };
	char summary[256];
	struct fuzz fz;
	size_t used = 0;
	unsigned int i;
	int ret = 0;

	ASSERT_EQ(0, fuzz_init(&fz, &self->s)) TH_LOG("REGION_INFO failed");
	start = (wctb_now_ms() / 1e3);
	while (!ret && fz.done < iterations && (wctb_now_ms() / 1e3) - start < seconds)
		ret = fuzz_step(&fz, count) < 0 ? -1 : 0;
	elapsed = (wctb_now_ms() / 1e3) - start;
	if (!ret)
		fz.op = "cleanup";
	if (fuzz_cleanup(&fz))
		ret = -1;
	ASSERT_EQ(0, ret)
		TH_LOG("seed %llu, %s, operation %lu (%s): %s", fz.seed,
		       wctb_vfio_path_name(&self->s.v), fz.done + 1, fz.op,
		       fz.why);
	for (i = 0; i < NR_OPS; i++)
		used += snprintf(summary + used, sizeof(summary) - used,
				 "%s%s %lu", i ? ", " : "", ops[i].name, count[i]);
	TH_LOG("seed %llu: %lu operations in %.1f s (%s)", fz.seed, fz.done,
	       elapsed, summary);
	ASSERT_EQ(0, check_no_holds(&fz)) TH_LOG("%s", fz.why);
}

TEST_HARNESS_MAIN
