/*
 * Unit tests for the PAT lookup that qemu-hw/patches/0002 adds to QEMU
 * (target/i386/pat.h): all 8 PAT indices at both leaf sizes, CR0.CD and
 * reserved encodings.  Built against the patched QEMU source tree.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

/* exec/memattrs.h expects QEMU's osdep.h to provide this. */
#define QEMU_BUILD_BUG_ON(x) _Static_assert(!(x), #x)
#include "exec/memattrs.h"
#include "pat.h"

/* PAT as Linux programs it: WB WC UC- UC WB WP UC- WT. */
#define LINUX_PAT 0x0407050600070106ULL
/* Architectural reset value: WB WT UC- UC WB WT UC- UC. */
#define RESET_PAT 0x0007040600070406ULL

static const MemTxMemType linux_types[8] = {
    MEMTX_MEMTYPE_WB, MEMTX_MEMTYPE_WC, MEMTX_MEMTYPE_UC_MINUS,
    MEMTX_MEMTYPE_UC, MEMTX_MEMTYPE_WB, MEMTX_MEMTYPE_WP,
    MEMTX_MEMTYPE_UC_MINUS, MEMTX_MEMTYPE_WT,
};

static const MemTxMemType reset_types[8] = {
    MEMTX_MEMTYPE_WB, MEMTX_MEMTYPE_WT, MEMTX_MEMTYPE_UC_MINUS,
    MEMTX_MEMTYPE_UC, MEMTX_MEMTYPE_WB, MEMTX_MEMTYPE_WT,
    MEMTX_MEMTYPE_UC_MINUS, MEMTX_MEMTYPE_UC,
};

/* A leaf entry that selects PAT index @index, with unrelated bits set. */
static uint64_t leaf(unsigned index, bool large)
{
    uint64_t pte = 0x1 | 0x2 | 0x4 | 0x20 | 0x40;   /* P RW US A D */

    if (index & 1) {
        pte |= X86_PAT_PTE_PWT;
    }
    if (index & 2) {
        pte |= X86_PAT_PTE_PCD;
    }
    if (index & 4) {
        pte |= large ? X86_PAT_PTE_PAT_LARGE : X86_PAT_PTE_PAT_4K;
    }
    /* The other size's PAT position means something else here. */
    pte |= large ? X86_PAT_PTE_PAT_4K /* PS */ : 0;
    return pte | 0x123456000ULL;
}

static void check_table(uint64_t pat, const MemTxMemType *types, bool large)
{
    for (unsigned i = 0; i < 8; i++) {
        uint64_t pte = leaf(i, large);

        g_assert_cmpuint(x86_pat_index(pte, large), ==, i);
        g_assert_cmpint(x86_leaf_memtype(pat, pte, large, false), ==,
                        types[i]);
    }
}

static void test_linux_pat_4k(void)
{
    check_table(LINUX_PAT, linux_types, false);
}

static void test_linux_pat_large(void)
{
    check_table(LINUX_PAT, linux_types, true);
}

static void test_reset_pat_4k(void)
{
    check_table(RESET_PAT, reset_types, false);
}

static void test_reset_pat_large(void)
{
    check_table(RESET_PAT, reset_types, true);
}

static void test_4k_ignores_bit_12(void)
{
    /* Bit 12 of a 4 KiB entry is an address bit. */
    uint64_t pte = leaf(0, false) | X86_PAT_PTE_PAT_LARGE;

    g_assert_cmpuint(x86_pat_index(pte, false), ==, 0);
}

static void test_every_encoding(void)
{
    static const MemTxMemType enc[8] = {
        MEMTX_MEMTYPE_UC, MEMTX_MEMTYPE_WC, MEMTX_MEMTYPE_UNKNOWN,
        MEMTX_MEMTYPE_UNKNOWN, MEMTX_MEMTYPE_WT, MEMTX_MEMTYPE_WP,
        MEMTX_MEMTYPE_WB, MEMTX_MEMTYPE_UC_MINUS,
    };

    for (unsigned e = 0; e < 8; e++) {
        for (unsigned i = 0; i < 8; i++) {
            uint64_t pat = (uint64_t)e << (8 * i);

            g_assert_cmpint(x86_pat_entry_memtype(pat, i), ==, enc[e]);
        }
    }
}

static void test_reserved_bytes_are_unknown(void)
{
    /* QEMU's WRMSR does not reject them; bits 3-7 must not be ignored. */
    for (unsigned v = 8; v < 256; v += 6) {
        g_assert_cmpint(x86_pat_entry_memtype((uint64_t)v << 16, 2), ==,
                        MEMTX_MEMTYPE_UNKNOWN);
    }
}

static void test_cr0_cd_is_uncacheable(void)
{
    for (unsigned i = 0; i < 8; i++) {
        g_assert_cmpint(x86_leaf_memtype(LINUX_PAT, leaf(i, false), false,
                                         true), ==, MEMTX_MEMTYPE_UC);
    }
}

static void test_unknown_is_zero(void)
{
    /* Bus masters that set no attributes must read as unknown. */
    MemTxAttrs attrs = MEMTXATTRS_UNSPECIFIED;

    g_assert_cmpint(attrs.memtype, ==, MEMTX_MEMTYPE_UNKNOWN);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/x86-pat/linux-pat/4k", test_linux_pat_4k);
    g_test_add_func("/x86-pat/linux-pat/large", test_linux_pat_large);
    g_test_add_func("/x86-pat/reset-pat/4k", test_reset_pat_4k);
    g_test_add_func("/x86-pat/reset-pat/large", test_reset_pat_large);
    g_test_add_func("/x86-pat/4k-ignores-bit-12", test_4k_ignores_bit_12);
    g_test_add_func("/x86-pat/every-encoding", test_every_encoding);
    g_test_add_func("/x86-pat/reserved-bytes-are-unknown",
                    test_reserved_bytes_are_unknown);
    g_test_add_func("/x86-pat/cr0-cd-is-uncacheable",
                    test_cr0_cd_is_uncacheable);
    g_test_add_func("/x86-pat/unknown-is-zero", test_unknown_is_zero);
    return g_test_run();
}
