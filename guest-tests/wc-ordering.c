// SPDX-License-Identifier: GPL-2.0
/*
 * Write-combining stores against everything else, as x86 drains WC
 * buffers (Intel SDM vol. 3, 12.3.1): wc-testdev keeps WC line buffers
 * per vCPU and drains them on the events the hardware drains them on
 * (FEAT_DRAIN_EVENTS, x86 TCG), counting each delivery by its reason
 * (DRAIN_*).  In weak mode (FEAT_WEAK) a UC write to the aperture does
 * not wait for the writer's WC data: what is still buffered arrives after
 * it, as on hardware, where WC stores are weakly ordered.
 *
 * BAR2 is mapped twice through the kernel's PCI sysfs files, one page of
 * each: a WC window (resource2_wc) and, on another page of the same BAR, a
 * UC doorbell (resource2: UC-, UC in effect without a WC MTRR).  Each PAT
 * range keeps its own type, as pat_memtype_list confirms in setup.
 *
 * doorbell.*: a descriptor (half a line, or a whole one) through the
 * window, then a doorbell write, ROUNDS times in weak mode.  A fence in
 * between delivers the descriptor first (DOORBELL_EARLY 0); without one
 * the doorbell overtakes it (the control: DOORBELL_EARLY must count
 * nearly every round).  Findings, from the variants:
 *   - _mm_sfence() and the kernel's wmb() are SFENCE (DRAIN_FENCE);
 *   - C11 atomic_thread_fence(memory_order_seq_cst) is no fence
 *     instruction with Debian 12's GCC 12: it emits "lock orq $0,(%rsp)"
 *     (objdump -d), a locked instruction, which drains as well
 *     (DRAIN_LOCK);
 *   - atomic_thread_fence(memory_order_release) emits nothing on x86: it
 *     orders the compiler, not the WC buffers, and behaves exactly like
 *     no barrier at all (DOORBELL_EARLY nearly every round).  C11 release
 *     semantics do not cover WC memory; a driver needs wmb() (SFENCE).
 *   - with weak mode off (the device's default) the doorbell write itself
 *     drains half a line first (DRAIN_DEVICE; a whole line has left
 *     already, DRAIN_FULL), which is what hides a missing barrier on a
 *     strongly ordered model.
 * ROOM rounds are left for timer ticks, which drain a descriptor before
 * its doorbell (DRAIN_INTERRUPT) with or without a barrier.
 *
 * drain.*: 16 bytes stored through the window in one SSE store, then one
 * event, in one asm statement.  Each event must send the partial line
 * with its own reason; the control, the same store followed by a read of
 * BAR0 instead of the event, must count it as DRAIN_DEVICE and not as the
 * event's reason.  Even inside one asm statement a timer tick can come
 * between the two: TCG ends a translation block after every MMIO access
 * and takes pending interrupts there.  Then the interrupt sent the line
 * (DRAIN_INTERRUPT) and the event found nothing: the check accepts
 * exactly that, and says so in the log (a few cases in a hundred here).
 * The interrupt case busy-waits without system calls until a signal,
 * which another thread sends every millisecond, was handled after the
 * store: a signal reaches a thread running in user mode only through an
 * interrupt on its vCPU (the IPI that kicks it, or the tick that lets the
 * sender run).
 *
 * vcpus.*: two threads pinned to vCPU 0 and 1 write one half of the same
 * line each while the other's half is still buffered: two partial bursts,
 * never a full one; the control writes both halves from one thread: one
 * full burst.
 *
 * wide_store.*: what 16- and 32-byte SSE/AVX stores become at the device,
 * through WC and through UC (the figures go to the log).
 */
#include <dirent.h>
#include <errno.h>
#include <immintrin.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/io.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "wctb-harness.h"
#include "wctb.h"

#define WINDOW_OFF	(8 * PAGE)	/* BAR2 page of the WC window */
#define DOORBELL_OFF	(9 * PAGE)	/* BAR2 page of the UC doorbell */
#define ROUNDS		200	/* descriptor + doorbell, per case */
/*
 * Rounds a timer tick may drain before their doorbell, fence or not (a
 * tick comes every 4 ms; ticks touched at most 3 rounds of 200 in some 100
 * cases measured).
 */
#define ROOM		50
#define WEAK_SEED	0x5eed0001ull
#define SERIAL_LSR	0x3fd	/* the 16550's line status register */

/* The kernel's wmb() on x86-64 (arch/x86/include/asm/barrier.h). */
static inline void wmb(void)
{
	asm volatile("sfence" ::: "memory");
}

/* What every case maps: BAR0, the window and the doorbell. */
struct bar2 {
	struct wctb_regs regs;
	volatile uint8_t *wc;	/* one page of resource2_wc */
	volatile uint8_t *uc;	/* another page of resource2 */
};

static const char *const counter_names[] = WC_TESTDEV_COUNTER_NAMES;

/* The PAT type of BAR2 page @off must be @want. */
static void expect_pat(struct __test_metadata *_metadata, uint64_t bar,
		       uint64_t off, const char *want, const char *file)
{
	char type[64] = "";

	ASSERT_EQ(0, wctb_pat_memtype(bar + off, bar + off + PAGE, type,
				      sizeof(type)));
	ASSERT_STREQ(want, type)
		TH_LOG("%s at BAR2 + %#llx is %s, not %s: something else holds "
		       "the range", file, (unsigned long long)off, type, want);
}

/*
 * Map it all and reset the counters; SKIP (returning -1) without the
 * device features @need (WC_TESTDEV_FEAT_*) or without the mappings.
 */
static int bar2_open(struct __test_metadata *_metadata, struct bar2 *b,
		     uint32_t need)
{
	uint64_t start, end, flags;
	const char *bdf = wctb_device();

	b->regs.base = NULL;
	b->wc = b->uc = NULL;
	ASSERT_NE(NULL, bdf) TH_LOG("wc-testdev not found");
	ASSERT_EQ(0, wctb_sysfs_resource(bdf, BAR2, &start, &end, &flags));
	ASSERT_EQ(0, wctb_regs_map_sysfs(&b->regs, bdf));
	if (!wctb_device_sees_memtypes(&b->regs))
		SKIP(return -1, "device does not report memory types (KVM: only TCG computes them)");
	if ((need & WC_TESTDEV_FEAT_DRAIN_EVENTS) &&
	    !wctb_device_has(&b->regs, WC_TESTDEV_FEAT_DRAIN_EVENTS))
		SKIP(return -1, "device without FEAT_DRAIN_EVENTS: its WC buffers drain only on its own accesses (KVM, or a QEMU before register map 1.2)");
	if ((need & WC_TESTDEV_FEAT_WEAK) &&
	    !wctb_device_has(&b->regs, WC_TESTDEV_FEAT_WEAK))
		SKIP(return -1, "device without FEAT_WEAK: no weak ordering to observe");
	b->wc = wctb_map_sysfs_range(bdf, "resource2_wc", WINDOW_OFF, PAGE);
	if (b->wc == MAP_FAILED) {
		b->wc = NULL;
		SKIP(return -1, "mmap of resource2_wc: %s", strerror(errno));
	}
	b->uc = wctb_map_sysfs_range(bdf, "resource2", DOORBELL_OFF, PAGE);
	if (b->uc == MAP_FAILED) {
		b->uc = NULL;
		SKIP(return -1, "mmap of resource2: %s", strerror(errno));
	}
	expect_pat(_metadata, start, WINDOW_OFF, "write-combining", "resource2_wc");
	expect_pat(_metadata, start, DOORBELL_OFF, "uncached-minus", "resource2");
	wctb_reset_counters(&b->regs);
	return 0;
}

/* Weak ordering off again, whatever the case did; unmap. */
static void bar2_close(struct bar2 *b)
{
	if (b->regs.base)
		wctb_set_weak_order(&b->regs, 0, 0);
	if (b->uc)
		munmap((void *)b->uc, PAGE);
	if (b->wc)
		munmap((void *)b->wc, PAGE);
	wctb_regs_unmap(&b->regs);
}

/* BAR2's counters (drains this vCPU first) and their log line. */
static void read_counters(struct __test_metadata *_metadata,
			  const struct bar2 *b, uint64_t *c, const char *what)
{
	char buf[1024];

	wctb_counters_read(&b->regs, AP, c);
	TH_LOG("%s: %s", what, wctb_counters_summary(&b->regs, AP, buf,
						      sizeof(buf)));
}

/* Every byte stored arrived once, every delivery with one reason. */
static void expect_every_byte_once(struct __test_metadata *_metadata,
				   const uint64_t *c, uint64_t bytes)
{
	EXPECT_EQ(bytes, c[WC_TESTDEV_CNT_FULL_BURSTS] * LINE +
			 c[WC_TESTDEV_CNT_PARTIAL_BYTES]);
	EXPECT_EQ(c[WC_TESTDEV_CNT_FULL_BURSTS] +
		  c[WC_TESTDEV_CNT_PARTIAL_BURSTS], wctb_drains(c));
}

/* ---- descriptor, barrier, doorbell ---------------------------------- */

enum barrier { MM_SFENCE, WMB, C11_SEQ_CST, C11_RELEASE, NO_BARRIER };

/* What the doorbell finds. */
enum outcome {
	ON_TIME,	/* the descriptor arrived first, sent by .reason */
	EARLY,		/* weak mode: the doorbell overtook it */
};

/* The barrier under test, between a descriptor and its doorbell. */
static void barrier(enum barrier which)
{
	switch (which) {
	case MM_SFENCE:
		_mm_sfence();
		break;
	case WMB:
		wmb();
		break;
	case C11_SEQ_CST:
		atomic_thread_fence(memory_order_seq_cst);
		break;
	case C11_RELEASE:
		atomic_thread_fence(memory_order_release);
		break;
	case NO_BARRIER:
		break;
	}
}

FIXTURE(doorbell) {
	struct bar2 b;
};

FIXTURE_VARIANT(doorbell) {
	enum barrier barrier;
	unsigned int bytes;	/* of the descriptor: half a line or a line */
	int weak;
	enum outcome outcome;
	unsigned int reason;	/* ON_TIME: the DRAIN_* counter that sent it */
};

FIXTURE_VARIANT_ADD(doorbell, mm_sfence_32) {
	.barrier = MM_SFENCE,
	.bytes = 32,
	.weak = 1,
	.outcome = ON_TIME,
	.reason = WC_TESTDEV_CNT_DRAIN_FENCE,
};

FIXTURE_VARIANT_ADD(doorbell, mm_sfence_64) {
	.barrier = MM_SFENCE,
	.bytes = 64,
	.weak = 1,
	.outcome = ON_TIME,
	.reason = WC_TESTDEV_CNT_DRAIN_FENCE,
};

FIXTURE_VARIANT_ADD(doorbell, wmb_32) {
	.barrier = WMB,
	.bytes = 32,
	.weak = 1,
	.outcome = ON_TIME,
	.reason = WC_TESTDEV_CNT_DRAIN_FENCE,
};

FIXTURE_VARIANT_ADD(doorbell, wmb_64) {
	.barrier = WMB,
	.bytes = 64,
	.weak = 1,
	.outcome = ON_TIME,
	.reason = WC_TESTDEV_CNT_DRAIN_FENCE,
};

/* GCC 12: "lock orq $0x0,(%rsp)", not MFENCE (see the top). */
FIXTURE_VARIANT_ADD(doorbell, c11_seq_cst_32) {
	.barrier = C11_SEQ_CST,
	.bytes = 32,
	.weak = 1,
	.outcome = ON_TIME,
	.reason = WC_TESTDEV_CNT_DRAIN_LOCK,
};

FIXTURE_VARIANT_ADD(doorbell, c11_seq_cst_64) {
	.barrier = C11_SEQ_CST,
	.bytes = 64,
	.weak = 1,
	.outcome = ON_TIME,
	.reason = WC_TESTDEV_CNT_DRAIN_LOCK,
};

FIXTURE_VARIANT_ADD(doorbell, c11_release_32) {
	.barrier = C11_RELEASE,
	.bytes = 32,
	.weak = 1,
	.outcome = EARLY,
};

FIXTURE_VARIANT_ADD(doorbell, c11_release_64) {
	.barrier = C11_RELEASE,
	.bytes = 64,
	.weak = 1,
	.outcome = EARLY,
};

FIXTURE_VARIANT_ADD(doorbell, no_barrier_32) {
	.barrier = NO_BARRIER,
	.bytes = 32,
	.weak = 1,
	.outcome = EARLY,
};

FIXTURE_VARIANT_ADD(doorbell, no_barrier_64) {
	.barrier = NO_BARRIER,
	.bytes = 64,
	.weak = 1,
	.outcome = EARLY,
};

/* Weak mode off: the doorbell drains half a line; a whole one left at once. */
FIXTURE_VARIANT_ADD(doorbell, no_barrier_strong_32) {
	.barrier = NO_BARRIER,
	.bytes = 32,
	.outcome = ON_TIME,
	.reason = WC_TESTDEV_CNT_DRAIN_DEVICE,
};

FIXTURE_VARIANT_ADD(doorbell, no_barrier_strong_64) {
	.barrier = NO_BARRIER,
	.bytes = 64,
	.outcome = ON_TIME,
	.reason = WC_TESTDEV_CNT_DRAIN_FULL,
};

FIXTURE_SETUP(doorbell)
{
	if (bar2_open(_metadata, &self->b, WC_TESTDEV_FEAT_DRAIN_EVENTS |
			    (variant->weak ? WC_TESTDEV_FEAT_WEAK : 0)))
		return;
	wctb_set_weak_order(&self->b.regs, variant->weak, WEAK_SEED);
	if (variant->weak)
		TH_LOG("weak ordering on, seed %#llx", WEAK_SEED);
}

FIXTURE_TEARDOWN(doorbell)
{
	bar2_close(&self->b);
}

TEST_F(doorbell, descriptor_then_doorbell)
{
	unsigned int words = variant->bytes / 8, i, w;
	/*
	 * Deliveries of one descriptor: in weak mode a partial line leaves
	 * as 8-byte chunks, each a partial burst; a whole line as one burst.
	 */
	unsigned int per_round = variant->weak && variant->bytes < LINE ?
				 words : 1;
	volatile uint64_t *desc;
	uint64_t c[WC_TESTDEV_NUM_COUNTERS];

	for (i = 0; i < ROUNDS; i++) {
		desc = (volatile uint64_t *)(self->b.wc + LINE * (i % (PAGE / LINE)));
		for (w = 0; w < words; w++)
			desc[w] = (uint64_t)i << 8 | w;
		barrier(variant->barrier);
		*(volatile uint64_t *)self->b.uc = i;	/* the doorbell */
	}
	read_counters(_metadata, &self->b, c, "after the rounds");
	EXPECT_EQ(ROUNDS, c[WC_TESTDEV_CNT_UC_WRITES]);
	EXPECT_EQ(ROUNDS * words, c[WC_TESTDEV_CNT_WC_STORES]);
	expect_every_byte_once(_metadata, c, ROUNDS * variant->bytes);
	switch (variant->outcome) {
	case ON_TIME:
		EXPECT_EQ(0, c[WC_TESTDEV_CNT_DOORBELL_EARLY]);
		/* In weak mode the doorbell drains nothing: the barrier did. */
		if (variant->weak)
			EXPECT_EQ(0, c[WC_TESTDEV_CNT_DRAIN_DEVICE]);
		/* Each round's went by .reason, but where a tick came first. */
		EXPECT_GE(c[variant->reason], (ROUNDS - ROOM) * per_round)
			TH_LOG("%s sent %llu deliveries for %d descriptors",
			       counter_names[variant->reason],
			       (unsigned long long)c[variant->reason], ROUNDS);
		break;
	case EARLY:
		EXPECT_LE(c[WC_TESTDEV_CNT_DOORBELL_EARLY], ROUNDS);
		EXPECT_GE(c[WC_TESTDEV_CNT_DOORBELL_EARLY], ROUNDS - ROOM)
			TH_LOG("without a fence the doorbell must overtake the "
			       "descriptor in weak mode");
		EXPECT_EQ(0, c[WC_TESTDEV_CNT_DRAIN_FENCE]);
		EXPECT_EQ(0, c[WC_TESTDEV_CNT_DRAIN_LOCK]);
		break;
	}
}

/* ---- one drain event, one reason ------------------------------------ */

enum event { SFENCE, MFENCE, LOCK_ADD, XCHG, CPUID, INTERRUPT, PORT_IO,
	     UC_MMIO, BAR0_READ };

FIXTURE(drain) {
	struct bar2 b;
	volatile const uint32_t *other;	/* another device's MMIO (UC_MMIO) */
	size_t other_len;
	char other_name[300];
};

FIXTURE_VARIANT(drain) {
	enum event event;
	unsigned int reason;	/* the DRAIN_* counter it must count */
};

FIXTURE_VARIANT_ADD(drain, sfence) {
	.event = SFENCE,
	.reason = WC_TESTDEV_CNT_DRAIN_FENCE,
};

FIXTURE_VARIANT_ADD(drain, mfence) {
	.event = MFENCE,
	.reason = WC_TESTDEV_CNT_DRAIN_FENCE,
};

FIXTURE_VARIANT_ADD(drain, lock_add) {
	.event = LOCK_ADD,
	.reason = WC_TESTDEV_CNT_DRAIN_LOCK,
};

FIXTURE_VARIANT_ADD(drain, xchg) {
	.event = XCHG,
	.reason = WC_TESTDEV_CNT_DRAIN_LOCK,
};

FIXTURE_VARIANT_ADD(drain, cpuid) {
	.event = CPUID,
	.reason = WC_TESTDEV_CNT_DRAIN_SERIALIZE,
};

FIXTURE_VARIANT_ADD(drain, interrupt) {
	.event = INTERRUPT,
	.reason = WC_TESTDEV_CNT_DRAIN_INTERRUPT,
};

FIXTURE_VARIANT_ADD(drain, port_io) {
	.event = PORT_IO,
	.reason = WC_TESTDEV_CNT_DRAIN_UC_OTHER,
};

FIXTURE_VARIANT_ADD(drain, uc_mmio_elsewhere) {
	.event = UC_MMIO,
	.reason = WC_TESTDEV_CNT_DRAIN_UC_OTHER,
};

/*
 * A non-prefetchable memory BAR of another PCI function, mapped through
 * sysfs (UC-): on q35 the AHCI controller's (00:1f.2) or the root port's
 * MSI-X table.  0 or -errno.
 */
static int map_other_device(struct _test_data_drain *self)
{
	const char *ours = wctb_device();
	uint64_t start, end, flags;
	struct dirent *e;
	char file[32];
	int bar, ret = -ENODEV;
	void *p;
	DIR *d;

	d = opendir(WCTB_PCI_DEVICES);
	if (!d)
		return -errno;
	while (ret && (e = readdir(d))) {
		if (e->d_name[0] == '.' || !strcmp(e->d_name, ours))
			continue;
		for (bar = 0; bar < 6 && ret; bar++) {
			if (wctb_sysfs_resource(e->d_name, bar, &start, &end,
						&flags) ||
			    !(flags & IORESOURCE_MEM) ||
			    (flags & IORESOURCE_PREFETCH) || !start)
				continue;
			snprintf(file, sizeof(file), "resource%d", bar);
			p = wctb_map_sysfs_range(e->d_name, file, 0, PAGE);
			if (p == MAP_FAILED)
				continue;
			self->other = p;
			self->other_len = PAGE;
			snprintf(self->other_name, sizeof(self->other_name),
				 "%s %s", e->d_name, file);
			ret = 0;
		}
	}
	closedir(d);
	return ret;
}

static volatile sig_atomic_t kicks;	/* SIGUSR1s handled */

static void on_kick(int sig)
{
	kicks++;
}

struct kicker {
	pthread_t target;
	atomic_int stop;
};

/*
 * SIGUSR1 to the target every millisecond until told to stop (the guest
 * kernel has no POSIX timers: no setitimer(), no alarm()).
 */
static void *kick(void *arg)
{
	struct timespec ms = { .tv_nsec = 1000000 };
	struct kicker *k = arg;

	while (!atomic_load(&k->stop)) {
		nanosleep(&ms, NULL);
		pthread_kill(k->target, SIGUSR1);
	}
	return NULL;
}

FIXTURE_SETUP(drain)
{
	self->other = NULL;
	if (bar2_open(_metadata, &self->b, WC_TESTDEV_FEAT_DRAIN_EVENTS))
		return;
	switch (variant->event) {
	case PORT_IO:
		if (ioperm(SERIAL_LSR, 1, 1))
			SKIP(return, "ioperm(%#x): %s%s", SERIAL_LSR, strerror(errno),
			     errno == ENOSYS ? " (the guest kernel lacks CONFIG_X86_IOPL_IOPERM)" : "");
		break;
	case UC_MMIO:
		if (map_other_device(self))
			SKIP(return, "no other PCI function with a memory BAR to read");
		TH_LOG("the other MMIO region: %s", self->other_name);
		break;
	case INTERRUPT:
		ASSERT_NE(SIG_ERR, signal(SIGUSR1, on_kick));
		break;
	default:
		break;
	}
}

FIXTURE_TEARDOWN(drain)
{
	if (self->other)
		munmap((void *)self->other, self->other_len);
	bar2_close(&self->b);
}

/* 16 bytes at %[p] in one SSE store, from %[v]; then the event. */
#define STORE16	"movdqu %[v], %%xmm0\n\tmovdqu %%xmm0, (%[p])\n\t"

/* Store 16 bytes at @p, then @event, with nothing in between: 0 or -errno. */
static int store_then(struct _test_data_drain *self, enum event event,
		      volatile uint8_t *p)
{
	const volatile uint32_t *id = (const volatile uint32_t *)
		(self->b.regs.base + WC_TESTDEV_REG_ID);
	uint64_t v[2] = { 0x1616161616161616ull, 0x6161616161616161ull };
	uint64_t mem = 0, reg = 1;
	struct kicker k = { .target = pthread_self() };
	uint32_t a = 0, bx, cx = 0, d;
	pthread_t kicker;
	sig_atomic_t seen;
	uint8_t lsr;
	int ret;

	switch (event) {
	case SFENCE:
		asm volatile(STORE16 "sfence" : : [p] "r" (p), [v] "m" (v)
			     : "xmm0", "memory");
		break;
	case MFENCE:
		asm volatile(STORE16 "mfence" : : [p] "r" (p), [v] "m" (v)
			     : "xmm0", "memory");
		break;
	case LOCK_ADD:
		asm volatile(STORE16 "lock addl $0, (%%rsp)"
			     : : [p] "r" (p), [v] "m" (v) : "xmm0", "memory");
		break;
	case XCHG:
		asm volatile(STORE16 "xchg %[r], %[m]"
			     : [r] "+r" (reg), [m] "+m" (mem)
			     : [p] "r" (p), [v] "m" (v) : "xmm0", "memory");
		break;
	case CPUID:
		asm volatile(STORE16 "cpuid"
			     : "+a" (a), "=b" (bx), "+c" (cx), "=d" (d)
			     : [p] "r" (p), [v] "m" (v) : "xmm0", "memory");
		break;
	case INTERRUPT:
		ret = pthread_create(&kicker, NULL, kick, &k);
		if (ret)
			return -ret;
		/*
		 * Wait for a signal handled after the store (one handled
		 * before the load of @seen came after it too): no system
		 * call in here, so only an interrupt lets it in.
		 */
		asm volatile(STORE16 : : [p] "r" (p), [v] "m" (v)
			     : "xmm0", "memory");
		seen = kicks;
		while (kicks == seen)
			_mm_pause();
		atomic_store(&k.stop, 1);
		pthread_join(kicker, NULL);
		break;
	case PORT_IO:
		asm volatile(STORE16 "inb %w[port], %[lsr]"
			     : [lsr] "=a" (lsr)
			     : [port] "Nd" ((uint16_t)SERIAL_LSR), [p] "r" (p),
			       [v] "m" (v) : "xmm0", "memory");
		break;
	case UC_MMIO:
		asm volatile(STORE16 "movl (%[q]), %[x]"
			     : [x] "=r" (a)
			     : [q] "r" (self->other), [p] "r" (p), [v] "m" (v)
			     : "xmm0", "memory");
		break;
	case BAR0_READ:
		asm volatile(STORE16 "movl (%[q]), %[x]"
			     : [x] "=r" (a)
			     : [q] "r" (id), [p] "r" (p), [v] "m" (v)
			     : "xmm0", "memory");
		break;
	}
	return 0;
}

/*
 * The 16 bytes arrived as one partial burst, sent for @reason alone, or
 * by an interrupt that came first (see the top).
 */
static void expect_one_delivery(struct __test_metadata *_metadata,
				const uint64_t *c, unsigned int reason)
{
	uint64_t tick = reason == WC_TESTDEV_CNT_DRAIN_INTERRUPT ? 0 :
			c[WC_TESTDEV_CNT_DRAIN_INTERRUPT];

	EXPECT_EQ(0, c[WC_TESTDEV_CNT_FULL_BURSTS]);
	EXPECT_EQ(1, c[WC_TESTDEV_CNT_PARTIAL_BURSTS]);
	EXPECT_EQ(16, c[WC_TESTDEV_CNT_PARTIAL_BYTES]);
	EXPECT_EQ(2, c[WC_TESTDEV_CNT_WC_STORES]);
	EXPECT_EQ(1, wctb_drains(c));
	EXPECT_EQ(1, c[reason] + tick)
		TH_LOG("sent neither by %s nor by an interrupt before it",
		       counter_names[reason]);
	if (tick)
		TH_LOG("an interrupt came between the store and the %s event: "
		       "it sent the line, so this run does not show the event's "
		       "reason", counter_names[reason]);
}

TEST_F(drain, partial_line_leaves_with_the_reason_of_the_event)
{
	uint64_t c[WC_TESTDEV_NUM_COUNTERS];

	/* The control: the store, then a read of BAR0 instead. */
	ASSERT_EQ(0, store_then(self, BAR0_READ, self->b.wc + LINE));
	read_counters(_metadata, &self->b, c, "store, then a BAR0 read");
	expect_one_delivery(_metadata, c, WC_TESTDEV_CNT_DRAIN_DEVICE);
	if (variant->reason != WC_TESTDEV_CNT_DRAIN_INTERRUPT)
		EXPECT_EQ(0, c[variant->reason]);

	wctb_reset_counters(&self->b.regs);
	ASSERT_EQ(0, store_then(self, variant->event, self->b.wc + 2 * LINE));
	read_counters(_metadata, &self->b, c, "store, then the event");
	expect_one_delivery(_metadata, c, variant->reason);
	EXPECT_EQ(0, c[WC_TESTDEV_CNT_DRAIN_DEVICE]);
}

/* ---- two vCPUs, one line ------------------------------------------- */

FIXTURE(vcpus) {
	struct bar2 b;
};

FIXTURE_SETUP(vcpus)
{
	if (sysconf(_SC_NPROCESSORS_ONLN) < 2)
		SKIP(return, "%ld CPU online: two vCPUs needed (run-vm.sh --smp 2)",
		     sysconf(_SC_NPROCESSORS_ONLN));
	bar2_open(_metadata, &self->b, WC_TESTDEV_FEAT_DRAIN_EVENTS);
}

FIXTURE_TEARDOWN(vcpus)
{
	bar2_close(&self->b);
}

/* Four 8-byte stores: one half of the line at @line. */
static void store_half(volatile uint8_t *line, int half)
{
	volatile uint64_t *q = (volatile uint64_t *)(line + half * LINE / 2);
	int i;

	for (i = 0; i < 4; i++)
		q[i] = 0x4a4a000000000000ull | half << 8 | i;
}

/*
 * The steps of the race, in order; plain loads and stores (no LOCK
 * prefix), so that waiting drains nothing.
 */
enum { READY_0 = 1, READY_1, GO, FIRST_STORED, SECOND_STORED };

struct half_writer {
	volatile uint8_t *line;
	int cpu;		/* also the half it writes, and its turn */
	atomic_int *step;
};

static void wait_step(atomic_int *step, int at_least)
{
	while (atomic_load_explicit(step, memory_order_acquire) < at_least)
		_mm_pause();
}

/*
 * Half 0 on vCPU 0 first, then half 1 on vCPU 1 while half 0 is still
 * buffered (vCPU 0 fences only after vCPU 1 stored); then each fences.
 */
static void *write_half(void *arg)
{
	struct half_writer *w = arg;

	atomic_fetch_add(w->step, 1);	/* READY_0, READY_1: before any store */
	wait_step(w->step, GO + w->cpu);
	store_half(w->line, w->cpu);
	atomic_store_explicit(w->step, FIRST_STORED + w->cpu,
			      memory_order_release);
	wait_step(w->step, SECOND_STORED);
	_mm_sfence();
	return NULL;
}

TEST_F(vcpus, halves_from_two_vcpus_never_combine)
{
	struct half_writer w[2];
	atomic_int step = 0;
	pthread_attr_t attr;
	pthread_t t[2];
	cpu_set_t set;
	int i;

	for (i = 0; i < 2; i++) {
		w[i] = (struct half_writer){ .line = self->b.wc + 3 * LINE,
					     .cpu = i, .step = &step };
		CPU_ZERO(&set);
		CPU_SET(i, &set);
		ASSERT_EQ(0, pthread_attr_init(&attr));
		ASSERT_EQ(0, pthread_attr_setaffinity_np(&attr, sizeof(set), &set));
		ASSERT_EQ(0, pthread_create(&t[i], &attr, write_half, &w[i]))
			TH_LOG("a thread on vCPU %d", i);
		pthread_attr_destroy(&attr);
	}
	wait_step(&step, READY_1);
	atomic_store_explicit(&step, GO, memory_order_release);
	for (i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	EXPECT_EQ(0, wctb_counter(&self->b.regs, AP, WC_TESTDEV_CNT_FULL_BURSTS))
		TH_LOG("the halves of two vCPUs combined");
	EXPECT_BURSTS(&self->b.regs, AP, 0, 2, LINE);
	EXPECT_EQ(8, wctb_counter(&self->b.regs, AP, WC_TESTDEV_CNT_WC_STORES));
}

/* The control: one vCPU writes both halves, which make one full burst. */
TEST_F(vcpus, halves_from_one_vcpu_combine)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(0, &set);
	ASSERT_EQ(0, sched_setaffinity(0, sizeof(set), &set));
	store_half(self->b.wc + 3 * LINE, 0);
	store_half(self->b.wc + 3 * LINE, 1);
	_mm_sfence();
	EXPECT_BURSTS(&self->b.regs, AP, 1, 0, LINE);
	EXPECT_EQ(8, wctb_counter(&self->b.regs, AP, WC_TESTDEV_CNT_WC_STORES));
}

/* ---- 16- and 32-byte stores ---------------------------------------- */

enum wide { MOVDQA, MOVNTDQ, VMOVDQA };

FIXTURE(wide_store) {
	struct bar2 b;
};

FIXTURE_VARIANT(wide_store) {
	enum wide insn;
	const char *name;
	unsigned int bytes;
	int wc;			/* through the window, else the UC page */
};

FIXTURE_VARIANT_ADD(wide_store, movdqa_xmm_wc) {
	.insn = MOVDQA,
	.name = "MOVDQA",
	.bytes = 16,
	.wc = 1,
};

FIXTURE_VARIANT_ADD(wide_store, movdqa_xmm_uc) {
	.insn = MOVDQA,
	.name = "MOVDQA",
	.bytes = 16,
};

FIXTURE_VARIANT_ADD(wide_store, movntdq_xmm_wc) {
	.insn = MOVNTDQ,
	.name = "MOVNTDQ",
	.bytes = 16,
	.wc = 1,
};

FIXTURE_VARIANT_ADD(wide_store, movntdq_xmm_uc) {
	.insn = MOVNTDQ,
	.name = "MOVNTDQ",
	.bytes = 16,
};

FIXTURE_VARIANT_ADD(wide_store, vmovdqa_ymm_wc) {
	.insn = VMOVDQA,
	.name = "VMOVDQA",
	.bytes = 32,
	.wc = 1,
};

FIXTURE_VARIANT_ADD(wide_store, vmovdqa_ymm_uc) {
	.insn = VMOVDQA,
	.name = "VMOVDQA",
	.bytes = 32,
};

FIXTURE_SETUP(wide_store)
{
	__builtin_cpu_init();
	if (variant->insn == VMOVDQA && !__builtin_cpu_supports("avx"))
		SKIP(return, "no AVX (CPUID.1:ECX.AVX, or the OS does not save YMM state)");
	bar2_open(_metadata, &self->b, 0);
}

FIXTURE_TEARDOWN(wide_store)
{
	bar2_close(&self->b);
}

static const uint64_t wide_data[4] __attribute__((aligned(32))) = {
	0x1111111111111111ull, 0x2222222222222222ull,
	0x3333333333333333ull, 0x4444444444444444ull,
};

static __attribute__((target("avx"))) void store32_avx(volatile uint8_t *p)
{
	asm volatile("vmovdqa %[v], %%ymm0\n\tvmovdqa %%ymm0, (%[p])\n\tvzeroupper"
		     : : [p] "r" (p), [v] "m" (wide_data) : "xmm0", "memory");
}

/* One store of variant->bytes at @p (aligned to them). */
static void store_wide(enum wide insn, volatile uint8_t *p)
{
	switch (insn) {
	case MOVDQA:
		asm volatile("movdqa %[v], %%xmm0\n\tmovdqa %%xmm0, (%[p])"
			     : : [p] "r" (p), [v] "m" (wide_data) : "xmm0", "memory");
		break;
	case MOVNTDQ:
		asm volatile("movdqa %[v], %%xmm0\n\tmovntdq %%xmm0, (%[p])"
			     : : [p] "r" (p), [v] "m" (wide_data) : "xmm0", "memory");
		break;
	case VMOVDQA:
		store32_avx(p);
		break;
	}
}

TEST_F(wide_store, arrives_as_8_byte_accesses)
{
	volatile uint8_t *line = (variant->wc ? self->b.wc : self->b.uc) + 4 * LINE;
	unsigned int pieces = variant->bytes / 8, i;
	uint64_t c[WC_TESTDEV_NUM_COUNTERS];
	char what[96];

	snprintf(what, sizeof(what), "one %u-byte %s through %s", variant->bytes,
		 variant->name, variant->wc ? "WC" : "UC");
	store_wide(variant->insn, line);
	read_counters(_metadata, &self->b, c, what);
	/* QEMU TCG splits an access into aligned pieces of 8 bytes at most. */
	EXPECT_EQ(pieces, c[WC_TESTDEV_CNT_WRITES]);
	EXPECT_EQ(variant->bytes, c[WC_TESTDEV_CNT_WRITE_BYTES]);
	EXPECT_EQ(variant->wc ? 0 : pieces, c[WC_TESTDEV_CNT_UC_WRITES]);
	EXPECT_EQ(variant->wc ? pieces : 0, c[WC_TESTDEV_CNT_WC_STORES]);
	EXPECT_EQ(0, c[WC_TESTDEV_CNT_FULL_BURSTS]);
	/* One instruction: nothing comes between its pieces. */
	EXPECT_EQ(variant->wc ? 1 : 0, c[WC_TESTDEV_CNT_PARTIAL_BURSTS]);
	EXPECT_EQ(variant->wc ? variant->bytes : 0,
		  c[WC_TESTDEV_CNT_PARTIAL_BYTES]);
	EXPECT_EQ(variant->wc ? 1 : pieces, c[WC_TESTDEV_CNT_BUS_TXNS]);
	if (!variant->wc)
		return;

	/* A line of them combines like a line of 8-byte stores. */
	wctb_reset_counters(&self->b.regs);
	for (i = 0; i < LINE / variant->bytes; i++)
		store_wide(variant->insn, line + i * variant->bytes);
	snprintf(what, sizeof(what), "a line of %u-byte %s through WC",
		 variant->bytes, variant->name);
	read_counters(_metadata, &self->b, c, what);
	EXPECT_EQ(WCTB_LINE_WORDS, c[WC_TESTDEV_CNT_WC_STORES]);
	EXPECT_BURSTS(&self->b.regs, AP, 1, 0, LINE);
}

TEST_HARNESS_MAIN
