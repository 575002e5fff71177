/*
 * Unit tests for the write-combining model (qemu-hw/hw/misc/wc-model.c).
 *
 * A small simulated device sits behind the model: lines that leave the
 * buffers are written to its memory, and it follows the device's rules
 * (reads and non-WC writes drain the buffers first).  The property test
 * runs random access sequences against it and against a reference memory
 * that applies every access in program order.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include <glib.h>
#include <string.h>

#include "wc-model.h"

#define MEM_SIZE 4096
#define MAX_EVENTS 4096

typedef struct Burst {
    uint64_t line;
    uint64_t mask;
    bool full;
    WCModelCause cause;
} Burst;

typedef struct Device {
    WCModel wc;
    uint8_t mem[MEM_SIZE];
    Burst bursts[MAX_EVENTS];
    unsigned nbursts;
    uint64_t line_bytes;    /* valid bytes that left the buffers */
} Device;

static void sink(void *opaque, uint64_t line, const uint8_t *data,
                 uint64_t mask, WCModelCause cause)
{
    Device *d = opaque;
    bool full = mask == UINT64_MAX;

    g_assert_cmpuint(line % WC_MODEL_LINE, ==, 0);
    g_assert_cmpuint(line + WC_MODEL_LINE, <=, MEM_SIZE);
    g_assert_true(mask != 0);
    g_assert_true(cause != WC_MODEL_FULL || full);
    for (unsigned i = 0; i < WC_MODEL_LINE; i++) {
        if (mask & (1ULL << i)) {
            d->mem[line + i] = data[i];
        }
    }
    if (d->nbursts < MAX_EVENTS) {
        d->bursts[d->nbursts++] = (Burst){ line, mask, full, cause };
    }
    d->line_bytes += __builtin_popcountll(mask);
}

static void device_init(Device *d, unsigned nlines)
{
    memset(d, 0, sizeof(*d));
    g_assert_true(wc_model_init(&d->wc, nlines, sink, d));
}

static void put(uint8_t *mem, uint64_t addr, unsigned size, uint64_t val)
{
    for (unsigned i = 0; i < size; i++) {
        mem[addr + i] = val >> (8 * i);
    }
}

static uint64_t get(const uint8_t *mem, uint64_t addr, unsigned size)
{
    uint64_t val = 0;

    for (unsigned i = 0; i < size; i++) {
        val |= (uint64_t)mem[addr + i] << (8 * i);
    }
    return val;
}

/* The device's rules for accesses that do not combine. */
static void device_uc_write(Device *d, uint64_t addr, unsigned size,
                            uint64_t val)
{
    wc_model_flush(&d->wc);
    put(d->mem, addr, size, val);
}

static uint64_t device_read(Device *d, uint64_t addr, unsigned size)
{
    wc_model_flush(&d->wc);
    return get(d->mem, addr, size);
}

static void test_init_rejects_bad_sizes(void)
{
    WCModel m;

    g_assert_false(wc_model_init(&m, 0, sink, NULL));
    g_assert_false(wc_model_init(&m, WC_MODEL_MAX_LINES + 1, sink, NULL));
    g_assert_false(wc_model_init(&m, 4, NULL, NULL));
    g_assert_true(wc_model_init(&m, WC_MODEL_MAX_LINES, sink, NULL));
}

static void test_full_line_is_one_burst(void)
{
    Device d;

    device_init(&d, 4);
    for (unsigned i = 0; i < 8; i++) {
        wc_model_store(&d.wc, 0x40 + 8 * i, 8, 0x1111111111111111ULL * i);
        g_assert_cmpuint(d.nbursts, ==, i == 7 ? 1 : 0);
    }
    g_assert_cmpuint(d.bursts[0].line, ==, 0x40);
    g_assert_true(d.bursts[0].full);
    g_assert_cmpuint(wc_model_pending(&d.wc), ==, 0);
    for (unsigned i = 0; i < 8; i++) {
        g_assert_cmphex(get(d.mem, 0x40 + 8 * i, 8), ==,
                        0x1111111111111111ULL * i);
    }
}

static void test_partial_line_waits_for_flush(void)
{
    Device d;

    device_init(&d, 4);
    for (unsigned i = 0; i < 6; i++) {
        wc_model_store(&d.wc, 0x80 + 8 * i, 8, ~0ULL);
    }
    g_assert_cmpuint(d.nbursts, ==, 0);
    g_assert_cmphex(get(d.mem, 0x80, 8), ==, 0);   /* not sent yet */
    g_assert_cmpuint(wc_model_pending(&d.wc), ==, 1);
    wc_model_flush(&d.wc);
    g_assert_cmpuint(d.nbursts, ==, 1);
    g_assert_false(d.bursts[0].full);
    g_assert_cmphex(d.bursts[0].mask, ==, 0x0000ffffffffffffULL);
    g_assert_cmpuint(d.line_bytes, ==, 48);
    g_assert_cmpuint(wc_model_mask_runs(d.bursts[0].mask), ==, 1);
}

static void test_eviction_is_oldest_first(void)
{
    Device d;

    device_init(&d, 4);
    for (unsigned i = 0; i < 4; i++) {
        wc_model_store(&d.wc, i * WC_MODEL_LINE, 4, i + 1);
    }
    g_assert_cmpuint(d.nbursts, ==, 0);
    /* Refresh line 0: age is allocation order, not last use. */
    wc_model_store(&d.wc, 4, 4, 0xaa);
    wc_model_store(&d.wc, 4 * WC_MODEL_LINE, 4, 5);
    g_assert_cmpuint(d.nbursts, ==, 1);
    g_assert_cmpuint(d.bursts[0].line, ==, 0);
    g_assert_cmphex(d.bursts[0].mask, ==, 0xff);
    wc_model_store(&d.wc, 5 * WC_MODEL_LINE, 4, 6);
    g_assert_cmpuint(d.nbursts, ==, 2);
    g_assert_cmpuint(d.bursts[1].line, ==, WC_MODEL_LINE);
    wc_model_flush(&d.wc);
    g_assert_cmpuint(d.nbursts, ==, 6);
    for (unsigned i = 2; i < 6; i++) {
        g_assert_cmpuint(d.bursts[i].line, ==, i * WC_MODEL_LINE);
    }
}

static void test_interleaved_lines_combine(void)
{
    Device d;

    device_init(&d, 2);
    for (unsigned i = 0; i < 8; i++) {
        wc_model_store(&d.wc, 0x000 + 8 * i, 8, i);
        wc_model_store(&d.wc, 0x100 + 8 * i, 8, 100 + i);
    }
    g_assert_cmpuint(d.nbursts, ==, 2);
    g_assert_cmpuint(d.bursts[0].line, ==, 0x000);
    g_assert_cmpuint(d.bursts[1].line, ==, 0x100);
    g_assert_true(d.bursts[0].full && d.bursts[1].full);
    g_assert_cmphex(get(d.mem, 0x138, 8), ==, 107);
}

static void test_store_crossing_a_line(void)
{
    Device d;

    device_init(&d, 4);
    wc_model_store(&d.wc, 0x3c, 8, 0x8877665544332211ULL);
    g_assert_cmpuint(wc_model_pending(&d.wc), ==, 2);
    wc_model_flush(&d.wc);
    g_assert_cmpuint(d.nbursts, ==, 2);
    g_assert_cmphex(d.bursts[0].mask, ==, 0xfULL << 60);
    g_assert_cmphex(d.bursts[1].mask, ==, 0xf);
    g_assert_cmphex(get(d.mem, 0x3c, 8), ==, 0x8877665544332211ULL);
}

static void test_later_store_wins_in_buffer(void)
{
    Device d;

    device_init(&d, 4);
    wc_model_store(&d.wc, 0x10, 4, 0x11111111);
    wc_model_store(&d.wc, 0x12, 1, 0x22);
    wc_model_flush(&d.wc);
    g_assert_cmpuint(d.nbursts, ==, 1);
    g_assert_cmphex(get(d.mem, 0x10, 4), ==, 0x11221111);
}

static void test_uc_write_and_read_drain_first(void)
{
    Device d;

    device_init(&d, 4);
    wc_model_store(&d.wc, 0x200, 8, 0xdeadbeef);
    device_uc_write(&d, 0x200, 4, 0x12345678);  /* after the WC store */
    g_assert_cmpuint(d.nbursts, ==, 1);
    g_assert_cmphex(get(d.mem, 0x200, 8), ==, 0x12345678);
    wc_model_store(&d.wc, 0x300, 2, 0xbeef);
    g_assert_cmphex(device_read(&d, 0x300, 2), ==, 0xbeef);
    g_assert_cmpuint(wc_model_pending(&d.wc), ==, 0);
}

static void test_mask_runs(void)
{
    g_assert_cmpuint(wc_model_mask_runs(0), ==, 0);
    g_assert_cmpuint(wc_model_mask_runs(UINT64_MAX), ==, 1);
    g_assert_cmpuint(wc_model_mask_runs(0x0f0f), ==, 2);
    g_assert_cmpuint(wc_model_mask_runs(0x8000000000000001ULL), ==, 2);
    g_assert_cmpuint(wc_model_mask_runs(0x5555555555555555ULL), ==, 32);
}

static void check_no_duplicate_lines(const WCModel *m)
{
    for (unsigned i = 0; i < m->nlines; i++) {
        for (unsigned j = i + 1; j < m->nlines; j++) {
            g_assert_false(m->lines[i].busy && m->lines[j].busy &&
                           m->lines[i].line == m->lines[j].line);
        }
    }
}

/* Random WC stores, UC writes and reads; device == reference after flush. */
static void run_random_sequence(guint32 seed, unsigned nlines, unsigned ops,
                                bool weak)
{
    static const unsigned sizes[] = { 1, 2, 4, 8 };
    GRand *rng = g_rand_new_with_seed(seed);
    static Device d;
    uint8_t ref[MEM_SIZE] = { 0 };
    uint64_t wc_bytes = 0;

    device_init(&d, nlines);
    wc_model_set_weak(&d.wc, weak, seed);
    for (unsigned n = 0; n < ops; n++) {
        unsigned size = sizes[g_rand_int_range(rng, 0, 4)];
        /* A small window so that lines collide and evict often. */
        uint64_t addr = g_rand_int_range(rng, 0, 1024 - 8);
        uint64_t val = ((uint64_t)g_rand_int(rng) << 32) | g_rand_int(rng);
        int kind = g_rand_int_range(rng, 0, 10);

        if (kind < 7) {
            wc_model_store(&d.wc, addr, size, val);
            put(ref, addr, size, val);
            wc_bytes += size;
        } else if (kind < 9) {
            device_uc_write(&d, addr, size, val);
            put(ref, addr, size, val);
        } else if (device_read(&d, addr, size) != get(ref, addr, size)) {
            g_test_message("seed %u: read at 0x%" G_GINT64_MODIFIER "x "
                           "differs after %u operations", seed, addr, n);
            g_test_fail();
            break;
        }
        check_no_duplicate_lines(&d.wc);
        g_assert_cmpuint(wc_model_pending(&d.wc), <=, nlines);
    }
    wc_model_flush(&d.wc);
    if (memcmp(d.mem, ref, sizeof(ref))) {
        g_test_message("seed %u: device memory differs from reference", seed);
        g_test_fail();
    }
    /* Combining may merge overwritten bytes, never invent bytes. */
    g_assert_cmpuint(d.line_bytes, <=, wc_bytes);
    g_rand_free(rng);
}

static void test_random_sequences_match_reference(void)
{
    unsigned seeds = g_test_slow() ? 5000 : 500;

    for (guint32 seed = 1; seed <= seeds; seed++) {
        run_random_sequence(seed, 1 + seed % WC_MODEL_MAX_LINES, 2000, false);
    }
}

/* Weak order changes when bytes arrive, never which bytes or how many. */
static void test_weak_random_sequences_match_reference(void)
{
    unsigned seeds = g_test_slow() ? 5000 : 500;

    for (guint32 seed = 1; seed <= seeds; seed++) {
        run_random_sequence(seed, 1 + seed % WC_MODEL_MAX_LINES, 2000, true);
    }
}

static void test_causes(void)
{
    Device d;

    device_init(&d, 1);
    for (unsigned i = 0; i < WC_MODEL_LINE; i += 8) {
        wc_model_store(&d.wc, i, 8, i);
    }
    wc_model_store(&d.wc, 64, 4, 1);        /* partial line 64 */
    wc_model_store(&d.wc, 128, 4, 2);       /* evicts line 64 */
    wc_model_flush(&d.wc);                  /* sends line 128 */
    g_assert_cmpuint(d.nbursts, ==, 3);
    g_assert_cmpint(d.bursts[0].cause, ==, WC_MODEL_FULL);
    g_assert_cmpint(d.bursts[1].cause, ==, WC_MODEL_EVICT);
    g_assert_cmpuint(d.bursts[1].line, ==, 64);
    g_assert_cmpint(d.bursts[2].cause, ==, WC_MODEL_FLUSH);
    g_assert_cmpuint(d.bursts[2].line, ==, 128);
}

/* Weak order: a full line waits for the flush, partial lines are chunked. */
static void test_weak_full_line_waits_and_chunks(void)
{
    Device d;
    uint64_t seen = 0;

    device_init(&d, 4);
    wc_model_set_weak(&d.wc, true, 42);
    for (unsigned i = 0; i < WC_MODEL_LINE; i += 8) {
        wc_model_store(&d.wc, i, 8, i);
    }
    g_assert_cmpuint(d.nbursts, ==, 0);
    g_assert_cmpuint(wc_model_pending(&d.wc), ==, 1);
    wc_model_store(&d.wc, 64 + 4, 8, 0x1122334455667788ULL);
    wc_model_store(&d.wc, 64 + 40, 2, 0xabcd);
    wc_model_flush(&d.wc);
    /* The full line as one burst; bytes 4-11 in chunks 0 and 1; 40-41. */
    g_assert_cmpuint(d.nbursts, ==, 4);
    for (unsigned i = 0; i < d.nbursts; i++) {
        g_assert_cmpint(d.bursts[i].cause, ==, WC_MODEL_FLUSH);
        if (d.bursts[i].line == 0) {
            g_assert_true(d.bursts[i].full);
            continue;
        }
        g_assert_cmpuint(d.bursts[i].line, ==, 64);
        /* A chunk never leaves its 8 bytes, and no byte comes twice. */
        g_assert_cmpuint(__builtin_popcountll(d.bursts[i].mask), <=, 8);
        g_assert_true((d.bursts[i].mask & seen) == 0);
        seen |= d.bursts[i].mask;
    }
    g_assert_cmphex(seen, ==, (0xffULL << 4) | (3ULL << 40));
    g_assert_cmpuint(get(d.mem, 64 + 4, 8), ==, 0x1122334455667788ULL);
}

/* The order of a flush in weak mode: one seed, one order; seeds differ. */
static void weak_order(uint64_t seed, uint64_t *lines, unsigned n)
{
    static Device d;

    device_init(&d, WC_MODEL_MAX_LINES);
    wc_model_set_weak(&d.wc, true, seed);
    for (unsigned i = 0; i < n; i++) {
        wc_model_store(&d.wc, i * WC_MODEL_LINE, 1, i);
    }
    wc_model_flush(&d.wc);
    g_assert_cmpuint(d.nbursts, ==, n);
    for (unsigned i = 0; i < n; i++) {
        lines[i] = d.bursts[i].line;
    }
}

static void test_weak_order_follows_the_seed(void)
{
    uint64_t a[8], b[8], c[8];
    bool differs = false, reordered = false;

    weak_order(7, a, 8);
    weak_order(7, b, 8);
    g_assert_cmpmem(a, sizeof(a), b, sizeof(b));
    for (uint64_t seed = 8; seed < 16 && !differs; seed++) {
        weak_order(seed, c, 8);
        differs = memcmp(a, c, sizeof(a)) != 0;
    }
    g_assert_true(differs);
    for (unsigned i = 0; i < 8; i++) {
        reordered |= a[i] != i * WC_MODEL_LINE;
    }
    g_assert_true(reordered);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/wc-model/init-rejects-bad-sizes",
                    test_init_rejects_bad_sizes);
    g_test_add_func("/wc-model/full-line-is-one-burst",
                    test_full_line_is_one_burst);
    g_test_add_func("/wc-model/partial-line-waits-for-flush",
                    test_partial_line_waits_for_flush);
    g_test_add_func("/wc-model/eviction-is-oldest-first",
                    test_eviction_is_oldest_first);
    g_test_add_func("/wc-model/interleaved-lines-combine",
                    test_interleaved_lines_combine);
    g_test_add_func("/wc-model/store-crossing-a-line",
                    test_store_crossing_a_line);
    g_test_add_func("/wc-model/later-store-wins-in-buffer",
                    test_later_store_wins_in_buffer);
    g_test_add_func("/wc-model/uc-write-and-read-drain-first",
                    test_uc_write_and_read_drain_first);
    g_test_add_func("/wc-model/mask-runs", test_mask_runs);
    g_test_add_func("/wc-model/causes", test_causes);
    g_test_add_func("/wc-model/weak-full-line-waits-and-chunks",
                    test_weak_full_line_waits_and_chunks);
    g_test_add_func("/wc-model/weak-order-follows-the-seed",
                    test_weak_order_follows_the_seed);
    g_test_add_func("/wc-model/weak-random-sequences-match-reference",
                    test_weak_random_sequences_match_reference);
    g_test_add_func("/wc-model/random-sequences-match-reference",
                    test_random_sequences_match_reference);
    return g_test_run();
}
