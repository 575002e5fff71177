/*
 * Unit tests for the memory-type functions that qemu-hw/patches/0002
 * adds to QEMU (target/i386/pat.h): the PAT index of leaf entries, the
 * IA32_PAT values WRMSR accepts, the MTRR type of a physical address,
 * and the effective type (every cell of Intel SDM Vol. 3 Table 12-7,
 * with and without CR0.CD, and with paging off).  Built against the
 * patched QEMU source tree.
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

#define UNK     MEMTX_MEMTYPE_UNKNOWN
#define UC      MEMTX_MEMTYPE_UC
#define UCM     MEMTX_MEMTYPE_UC_MINUS
#define WC      MEMTX_MEMTYPE_WC
#define WT      MEMTX_MEMTYPE_WT
#define WP      MEMTX_MEMTYPE_WP
#define WB      MEMTX_MEMTYPE_WB

/* PAT as Linux programs it: WB WC UC- UC WB WP UC- WT. */
#define LINUX_PAT 0x0407050600070106ULL
/* Architectural reset value: WB WT UC- UC WB WT UC- UC. */
#define RESET_PAT 0x0007040600070406ULL

/* MTRR type encodings, as firmware writes them. */
enum { MT_UC = 0, MT_WC = 1, MT_WT = 4, MT_WP = 5, MT_WB = 6 };

#define PHYS_BITS 40
#define MASK_V  (1ULL << 11)

static const MemTxMemType linux_types[8] = {
    WB, WC, UCM, UC, WB, WP, UCM, WT,
};

static const MemTxMemType reset_types[8] = {
    WB, WT, UCM, UC, WB, WT, UCM, UC,
};

/* ------------------------------------------------------------------ */
/* PAT index and entries */

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
        unsigned index = x86_pat_index(pte, large);

        g_assert_cmpuint(index, ==, i);
        g_assert_cmpint(x86_pat_entry_memtype(pat, index), ==, types[i]);
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
    static const MemTxMemType enc[8] = { UC, WC, UNK, UNK, WT, WP, WB, UCM };

    for (unsigned e = 0; e < 8; e++) {
        for (unsigned i = 0; i < 8; i++) {
            uint64_t pat = (uint64_t)e << (8 * i);

            g_assert_cmpint(x86_pat_entry_memtype(pat, i), ==, enc[e]);
        }
    }
}

static void test_reserved_entry_is_unknown(void)
{
    /*
     * WRMSR rejects these; a value that bypassed it (migration) must
     * not be guessed, and bits 3-7 of an entry must not be ignored.
     */
    for (unsigned v = 8; v < 256; v++) {
        g_assert_cmpint(x86_pat_entry_memtype((uint64_t)v << 16, 2), ==,
                        UNK);
    }
    g_assert_cmpint(x86_effective_memtype(UNK, WB, false), ==, UNK);
}

/* ------------------------------------------------------------------ */
/* IA32_PAT validity */

static void test_pat_valid_values(void)
{
    static const uint8_t valid[] = { 0, 1, 4, 5, 6, 7 };

    g_assert_true(x86_pat_valid(LINUX_PAT));
    g_assert_true(x86_pat_valid(RESET_PAT));
    g_assert_true(x86_pat_valid(0));
    g_assert_true(x86_pat_valid(0x0707070707070707ULL));
    /* Every valid encoding in every entry, the others WB. */
    for (unsigned i = 0; i < 8; i++) {
        for (unsigned k = 0; k < G_N_ELEMENTS(valid); k++) {
            uint64_t pat = 0x0606060606060606ULL;

            pat &= ~(0xffULL << (8 * i));
            pat |= (uint64_t)valid[k] << (8 * i);
            g_assert_true(x86_pat_valid(pat));
        }
    }
}

static void test_pat_reserved_values(void)
{
    /* 2, 3 and 8-255 in any one entry, every other entry valid. */
    for (unsigned i = 0; i < 8; i++) {
        for (unsigned v = 0; v < 256; v++) {
            uint64_t pat = LINUX_PAT;
            bool reserved = v == 2 || v == 3 || v >= 8;

            pat &= ~(0xffULL << (8 * i));
            pat |= (uint64_t)v << (8 * i);
            g_assert_cmpint(x86_pat_valid(pat), ==, !reserved);
        }
    }
    /* A reserved bit above the type in one entry. */
    g_assert_false(x86_pat_valid(LINUX_PAT | (1ULL << 63)));
    g_assert_false(x86_pat_valid(LINUX_PAT | (1ULL << 3)));
}

/* ------------------------------------------------------------------ */
/* Table 12-7 and CR0.CD */

static const MemTxMemType pat_rows[6] = { UC, UCM, WC, WT, WB, WP };
static const MemTxMemType mtrr_cols[5] = { UC, WC, WT, WB, WP };

/* SDM Vol. 3 Table 12-7, rows PAT type, columns MTRR type. */
static const MemTxMemType table_12_7[6][5] = {
    /*        UC  WC  WT  WB  WP */
    /* UC  */ { UC, UC, UC, UC, UC },
    /* UC- */ { UC, WC, UC, UC, WC },
    /* WC  */ { WC, WC, WC, WC, WC },
    /* WT  */ { UC, UC, WT, WT, WT },
    /* WB  */ { UC, WC, WT, WB, WP },
    /* WP  */ { UC, UC, WP, WP, WP },
};

/* The same with CR0.CD = 1: only WC is not UC. */
static const MemTxMemType table_12_7_cd[6][5] = {
    /*        UC  WC  WT  WB  WP */
    /* UC  */ { UC, UC, UC, UC, UC },
    /* UC- */ { UC, WC, UC, UC, WC },
    /* WC  */ { WC, WC, WC, WC, WC },
    /* WT  */ { UC, UC, UC, UC, UC },
    /* WB  */ { UC, WC, UC, UC, UC },
    /* WP  */ { UC, UC, UC, UC, UC },
};

static void test_table_12_7(void)
{
    for (unsigned r = 0; r < 6; r++) {
        for (unsigned c = 0; c < 5; c++) {
            g_assert_cmpint(x86_effective_memtype(pat_rows[r], mtrr_cols[c],
                                                  false), ==,
                            table_12_7[r][c]);
        }
    }
}

static void test_table_12_7_cr0_cd(void)
{
    for (unsigned r = 0; r < 6; r++) {
        for (unsigned c = 0; c < 5; c++) {
            g_assert_cmpint(x86_effective_memtype(pat_rows[r], mtrr_cols[c],
                                                  true), ==,
                            table_12_7_cd[r][c]);
        }
    }
}

static void test_cr0_cd_keeps_wc(void)
{
    /* The cases of section 12.5.1, one by one. */
    g_assert_cmpint(x86_effective_memtype(WB, WB, true), ==, UC);
    g_assert_cmpint(x86_effective_memtype(WT, WB, true), ==, UC);
    g_assert_cmpint(x86_effective_memtype(WP, WB, true), ==, UC);
    g_assert_cmpint(x86_effective_memtype(WC, WB, true), ==, WC);
    g_assert_cmpint(x86_effective_memtype(WC, UC, true), ==, WC);
    g_assert_cmpint(x86_effective_memtype(UC, WB, true), ==, UC);
    g_assert_cmpint(x86_effective_memtype(UCM, WC, true), ==, WC);
    g_assert_cmpint(x86_effective_memtype(UCM, UC, true), ==, UC);
}

static void test_never_uc_minus(void)
{
    static const MemTxMemType all[] = { UNK, UC, UCM, WC, WT, WP, WB };

    for (unsigned p = 0; p < G_N_ELEMENTS(all); p++) {
        for (unsigned m = 0; m < G_N_ELEMENTS(all); m++) {
            for (unsigned cd = 0; cd < 2; cd++) {
                MemTxMemType t = x86_effective_memtype(all[p], all[m], cd);

                g_assert_cmpint(t, !=, UCM);
                /* Inputs outside the table give unknown. */
                if (all[p] == UNK || all[m] == UNK || all[m] == UCM) {
                    g_assert_cmpint(t, ==, UNK);
                } else {
                    g_assert_cmpint(t, !=, UNK);
                }
            }
        }
    }
}

static void test_paging_off(void)
{
    /* The PAT is not used: the MTRR type, then CR0.CD. */
    static const MemTxMemType cd[5] = { UC, WC, UC, UC, UC };

    for (unsigned c = 0; c < 5; c++) {
        g_assert_cmpint(x86_unpaged_memtype(mtrr_cols[c], false), ==,
                        mtrr_cols[c]);
        g_assert_cmpint(x86_unpaged_memtype(mtrr_cols[c], true), ==, cd[c]);
    }
}

/* ------------------------------------------------------------------ */
/* MTRRs */

/* MTRRs enabled, default type @def_type, no range set. */
static X86MTRRState mtrrs(uint64_t def_type_bits)
{
    X86MTRRState s = {
        .supported = true,
        .phys_bits = PHYS_BITS,
        .nr_var = 8,
        .def_type = def_type_bits,
    };
    return s;
}

/* Variable range @i: @size bytes (a power of 2) of @type from @base. */
static void set_var(X86MTRRState *s, unsigned i, uint64_t base,
                    uint64_t size, unsigned type)
{
    s->var[i].base = base | type;
    s->var[i].mask = (~(size - 1) & ((1ULL << PHYS_BITS) - 1)) | MASK_V;
}

static const unsigned types5[5] = { MT_UC, MT_WC, MT_WT, MT_WP, MT_WB };
static const MemTxMemType memtypes5[5] = { UC, WC, WT, WP, WB };

/*
 * The fixed ranges: MSR i covers 8 ranges of size[i] from start[i].
 * Range n (0-87) gets type types5[n % 5], so neighbours differ.
 */
static const uint64_t fixed_start[11] = {
    0x00000, 0x80000, 0xa0000, 0xc0000, 0xc8000, 0xd0000, 0xd8000,
    0xe0000, 0xe8000, 0xf0000, 0xf8000,
};
static const uint64_t fixed_size[11] = {
    0x10000, 0x4000, 0x4000, 0x1000, 0x1000, 0x1000, 0x1000,
    0x1000, 0x1000, 0x1000, 0x1000,
};

static X86MTRRState fixed_pattern(void)
{
    X86MTRRState s = mtrrs(X86_MTRR_DEF_E | X86_MTRR_DEF_FE | MT_WB);

    for (unsigned i = 0; i < 11; i++) {
        for (unsigned b = 0; b < 8; b++) {
            s.fixed[i] |= (uint64_t)types5[(i * 8 + b) % 5] << (8 * b);
        }
    }
    /* A variable range over the first MiB, which the fixed ones beat. */
    set_var(&s, 0, 0, 0x100000, MT_UC);
    return s;
}

static MemTxMemType fixed_expected(uint64_t paddr)
{
    for (unsigned i = 0; i < 11; i++) {
        if (paddr >= fixed_start[i] && paddr < fixed_start[i] +
            8 * fixed_size[i]) {
            unsigned b = (paddr - fixed_start[i]) / fixed_size[i];

            return memtypes5[(i * 8 + b) % 5];
        }
    }
    g_assert_not_reached();
}

static void test_fixed_every_range(void)
{
    X86MTRRState s = fixed_pattern();

    for (unsigned i = 0; i < 11; i++) {
        for (unsigned b = 0; b < 8; b++) {
            uint64_t start = fixed_start[i] + b * fixed_size[i];
            uint64_t last = start + fixed_size[i] - 1;
            MemTxMemType want = memtypes5[(i * 8 + b) % 5];

            g_assert_cmpint(x86_mtrr_memtype(&s, start), ==, want);
            g_assert_cmpint(x86_mtrr_memtype(&s, last), ==, want);
            g_assert_cmpint(x86_mtrr_memtype(&s, start + 0x800), ==, want);
        }
    }
}

static void test_fixed_boundaries(void)
{
    static const uint64_t edges[] = {
        0x0, 0x7ffff, 0x80000, 0x9ffff, 0xa0000, 0xbffff, 0xc0000, 0xfffff,
    };
    X86MTRRState s = fixed_pattern();

    for (unsigned k = 0; k < G_N_ELEMENTS(edges); k++) {
        g_assert_cmpint(x86_mtrr_memtype(&s, edges[k]), ==,
                        fixed_expected(edges[k]));
    }
    /* Spot checks against the pattern, written out. */
    g_assert_cmpint(x86_mtrr_memtype(&s, 0x0), ==, UC);          /* n 0 */
    g_assert_cmpint(x86_mtrr_memtype(&s, 0x7ffff), ==, WT);      /* n 7 */
    g_assert_cmpint(x86_mtrr_memtype(&s, 0x80000), ==, WP);      /* n 8 */
    g_assert_cmpint(x86_mtrr_memtype(&s, 0x9ffff), ==, UC);      /* n 15 */
    g_assert_cmpint(x86_mtrr_memtype(&s, 0xa0000), ==, WC);      /* n 16 */
    g_assert_cmpint(x86_mtrr_memtype(&s, 0xbffff), ==, WP);      /* n 23 */
    g_assert_cmpint(x86_mtrr_memtype(&s, 0xc0000), ==, WB);      /* n 24 */
    g_assert_cmpint(x86_mtrr_memtype(&s, 0xfffff), ==, WT);      /* n 87 */
    /* 1 MiB and up: no fixed range; the variable one ends there too. */
    g_assert_cmpint(x86_mtrr_memtype(&s, 0x100000), ==, WB);
}

static void test_fixed_disabled(void)
{
    /* FE = 0: below 1 MiB the variable ranges and the default apply. */
    X86MTRRState s = fixed_pattern();

    s.def_type &= ~X86_MTRR_DEF_FE;
    g_assert_cmpint(x86_mtrr_memtype(&s, 0x0), ==, UC);
    g_assert_cmpint(x86_mtrr_memtype(&s, 0xa0000), ==, UC);
    g_assert_cmpint(x86_mtrr_memtype(&s, 0xfffff), ==, UC);
    s.var[0].mask &= ~MASK_V;
    g_assert_cmpint(x86_mtrr_memtype(&s, 0x0), ==, WB);
    g_assert_cmpint(x86_mtrr_memtype(&s, 0xc0000), ==, WB);
}

static void test_mtrr_disabled(void)
{
    /* E = 0: UC everywhere, whatever FE, the ranges and the default. */
    X86MTRRState s = fixed_pattern();
    static const uint64_t addrs[] = {
        0x0, 0x80000, 0xa0000, 0xc0000, 0xfffff, 0x100000, 0xfe000000,
        0x800000000ULL,
    };

    s.def_type &= ~X86_MTRR_DEF_E;
    set_var(&s, 1, 0xfe000000, 0x1000000, MT_WC);
    for (unsigned k = 0; k < G_N_ELEMENTS(addrs); k++) {
        g_assert_cmpint(x86_mtrr_memtype(&s, addrs[k]), ==, UC);
    }
}

static void test_mtrr_unsupported(void)
{
    /* No MTRRs in the CPU: they cannot restrict the page type. */
    X86MTRRState s = fixed_pattern();

    s.supported = false;
    s.def_type = 0;
    g_assert_cmpint(x86_mtrr_memtype(&s, 0xa0000), ==, WB);
    g_assert_cmpint(x86_mtrr_memtype(&s, 0xfe000000), ==, WB);
    g_assert_cmpint(x86_effective_memtype(WC, WB, false), ==, WC);
    g_assert_cmpint(x86_effective_memtype(UCM, WB, false), ==, UC);
}

static void test_default_type(void)
{
    for (unsigned k = 0; k < 5; k++) {
        X86MTRRState s = mtrrs(X86_MTRR_DEF_E | types5[k]);

        g_assert_cmpint(x86_mtrr_memtype(&s, 0x12345000), ==, memtypes5[k]);
        /* FE = 0 and nothing set: the default below 1 MiB too. */
        g_assert_cmpint(x86_mtrr_memtype(&s, 0xa0000), ==, memtypes5[k]);
    }
}

static void test_variable_match(void)
{
    /* Firmware's usual map: default WB, UC from 3 GiB to 4 GiB. */
    X86MTRRState s = mtrrs(X86_MTRR_DEF_E | X86_MTRR_DEF_FE | MT_WB);

    set_var(&s, 0, 0xc0000000, 0x40000000, MT_UC);
    g_assert_cmpint(x86_mtrr_memtype(&s, 0xbffff000), ==, WB);
    g_assert_cmpint(x86_mtrr_memtype(&s, 0xbfffffff), ==, WB);
    g_assert_cmpint(x86_mtrr_memtype(&s, 0xc0000000), ==, UC);
    g_assert_cmpint(x86_mtrr_memtype(&s, 0xfebc0000), ==, UC);
    g_assert_cmpint(x86_mtrr_memtype(&s, 0xffffffff), ==, UC);
    g_assert_cmpint(x86_mtrr_memtype(&s, 0x100000000ULL), ==, WB);
    /* Aliases of the range above 4 GiB do not match. */
    g_assert_cmpint(x86_mtrr_memtype(&s, 0x1c0000000ULL), ==, WB);
    /* A 4 KiB range. */
    set_var(&s, 1, 0x200000000ULL, 0x1000, MT_WC);
    g_assert_cmpint(x86_mtrr_memtype(&s, 0x1fffff000ULL), ==, WB);
    g_assert_cmpint(x86_mtrr_memtype(&s, 0x200000000ULL), ==, WC);
    g_assert_cmpint(x86_mtrr_memtype(&s, 0x200000fffULL), ==, WC);
    g_assert_cmpint(x86_mtrr_memtype(&s, 0x200001000ULL), ==, WB);
}

static void test_variable_invalid(void)
{
    /* V = 0: the range is ignored. */
    X86MTRRState s = mtrrs(X86_MTRR_DEF_E | MT_WB);

    set_var(&s, 3, 0xc0000000, 0x40000000, MT_UC);
    s.var[3].mask &= ~MASK_V;
    g_assert_cmpint(x86_mtrr_memtype(&s, 0xc0000000), ==, WB);
}

static void test_variable_beyond_count(void)
{
    /* Only the ranges that MTRRcap counts are looked at. */
    X86MTRRState s = mtrrs(X86_MTRR_DEF_E | MT_WB);

    set_var(&s, 7, 0xc0000000, 0x40000000, MT_UC);
    g_assert_cmpint(x86_mtrr_memtype(&s, 0xc0000000), ==, UC);
    s.nr_var = 7;
    g_assert_cmpint(x86_mtrr_memtype(&s, 0xc0000000), ==, WB);
}

static void test_variable_mask_width(void)
{
    /*
     * PHYSMASK covers bits 12 to phys_bits - 1; bits above are reserved
     * and must not change the match, whether clear or set.
     */
    X86MTRRState s = mtrrs(X86_MTRR_DEF_E | MT_WB);

    set_var(&s, 0, 0xc0000000, 0x40000000, MT_UC);
    s.var[0].mask |= ~((1ULL << PHYS_BITS) - 1);
    g_assert_cmpint(x86_mtrr_memtype(&s, 0xc0000000), ==, UC);
    g_assert_cmpint(x86_mtrr_memtype(&s, 0x100000000ULL), ==, WB);
    /* Nor do PHYSBASE bits at and above phys_bits (WRMSR would fault). */
    s.var[0].base |= 1ULL << PHYS_BITS;
    g_assert_cmpint(x86_mtrr_memtype(&s, 0xc0000000), ==, UC);
    s.var[0].base &= ~(1ULL << PHYS_BITS);
    /* A narrower CPU: the same MSR values mean the same ranges. */
    s.phys_bits = 36;
    g_assert_cmpint(x86_mtrr_memtype(&s, 0xc0000000), ==, UC);
    g_assert_cmpint(x86_mtrr_memtype(&s, 0x100000000ULL), ==, WB);
    /* The low 12 bits of PHYSBASE (the type) are not address bits. */
    s.phys_bits = PHYS_BITS;
    set_var(&s, 1, 0x10000000, 0x1000, MT_WC);
    g_assert_cmpint(x86_mtrr_memtype(&s, 0x10000000), ==, WC);
    g_assert_cmpint(x86_mtrr_memtype(&s, 0x10000001), ==, WC);
}

static MemTxMemType overlap(unsigned a, unsigned b)
{
    X86MTRRState s = mtrrs(X86_MTRR_DEF_E | MT_WB);

    /* A 1 GiB range and a 2 MiB range inside it. */
    set_var(&s, 2, 0x40000000, 0x40000000, a);
    set_var(&s, 5, 0x40200000, 0x200000, b);
    g_assert_cmpint(x86_mtrr_memtype(&s, 0x40000000), ==,
                    x86_mtrr_field_memtype(a));
    return x86_mtrr_memtype(&s, 0x40200000);
}

static void test_variable_overlaps(void)
{
    /* Same type: that type. */
    for (unsigned k = 0; k < 5; k++) {
        g_assert_cmpint(overlap(types5[k], types5[k]), ==, memtypes5[k]);
    }
    /* UC wins against everything, in either order. */
    for (unsigned k = 0; k < 5; k++) {
        g_assert_cmpint(overlap(MT_UC, types5[k]), ==, UC);
        g_assert_cmpint(overlap(types5[k], MT_UC), ==, UC);
    }
    /* WT and WB: WT. */
    g_assert_cmpint(overlap(MT_WT, MT_WB), ==, WT);
    g_assert_cmpint(overlap(MT_WB, MT_WT), ==, WT);
    /* Every other pair is undefined: UC. */
    g_assert_cmpint(overlap(MT_WC, MT_WB), ==, UC);
    g_assert_cmpint(overlap(MT_WB, MT_WC), ==, UC);
    g_assert_cmpint(overlap(MT_WC, MT_WT), ==, UC);
    g_assert_cmpint(overlap(MT_WC, MT_WP), ==, UC);
    g_assert_cmpint(overlap(MT_WP, MT_WB), ==, UC);
    g_assert_cmpint(overlap(MT_WT, MT_WP), ==, UC);
}

static void test_variable_three_way(void)
{
    X86MTRRState s = mtrrs(X86_MTRR_DEF_E | MT_UC);

    set_var(&s, 0, 0x0, 0x80000000, MT_WB);
    set_var(&s, 1, 0x0, 0x40000000, MT_WT);
    set_var(&s, 2, 0x0, 0x20000000, MT_WB);
    g_assert_cmpint(x86_mtrr_memtype(&s, 0x10000000), ==, WT);
    g_assert_cmpint(x86_mtrr_memtype(&s, 0x30000000), ==, WT);
    g_assert_cmpint(x86_mtrr_memtype(&s, 0x50000000), ==, WB);
    g_assert_cmpint(x86_mtrr_memtype(&s, 0x90000000), ==, UC);
    /* A WC range on top of WT and WB: undefined, UC. */
    set_var(&s, 3, 0x0, 0x10000000, MT_WC);
    g_assert_cmpint(x86_mtrr_memtype(&s, 0x08000000), ==, UC);
}

static void test_reserved_mtrr_types(void)
{
    /* Reserved encodings (a real CPU's WRMSR faults) are taken as UC. */
    static const unsigned reserved[] = { 2, 3, 7, 8, 0x40, 0xff };

    for (unsigned k = 0; k < G_N_ELEMENTS(reserved); k++) {
        X86MTRRState s = mtrrs(X86_MTRR_DEF_E | X86_MTRR_DEF_FE |
                               reserved[k]);

        g_assert_cmpint(x86_mtrr_memtype(&s, 0x12345000), ==, UC);
        s.fixed[2] = 0x0606060606060606ULL & ~(0xffULL << 8);
        s.fixed[2] |= (uint64_t)reserved[k] << 8;
        g_assert_cmpint(x86_mtrr_memtype(&s, 0xa0000), ==, WB);
        g_assert_cmpint(x86_mtrr_memtype(&s, 0xa4000), ==, UC);
        s.def_type = X86_MTRR_DEF_E | MT_WB;
        set_var(&s, 0, 0xc0000000, 0x40000000, reserved[k]);
        g_assert_cmpint(x86_mtrr_memtype(&s, 0xc0000000), ==, UC);
    }
}

/* ------------------------------------------------------------------ */
/* End to end: PAT entry, MTRRs, effective type */

static void test_bar_below_4g(void)
{
    /* A BAR in firmware's UC hole, mapped three ways by Linux. */
    X86MTRRState s = mtrrs(X86_MTRR_DEF_E | X86_MTRR_DEF_FE | MT_WB);
    uint64_t bar = 0xfe000000;
    MemTxMemType mtrr;

    set_var(&s, 0, 0xc0000000, 0x40000000, MT_UC);
    mtrr = x86_mtrr_memtype(&s, bar);
    /* ioremap(): PAT index 2 (PCD), UC-; effectively UC. */
    g_assert_cmpint(x86_pat_entry_memtype(LINUX_PAT, 2), ==, UCM);
    g_assert_cmpint(x86_effective_memtype(UCM, mtrr, false), ==, UC);
    /* ioremap_wc(): PAT index 1 (PWT), WC. */
    g_assert_cmpint(x86_effective_memtype(x86_pat_entry_memtype(LINUX_PAT, 1),
                                          mtrr, false), ==, WC);
    /* With paging off: the MTRR type. */
    g_assert_cmpint(x86_unpaged_memtype(mtrr, false), ==, UC);
}

static void test_bar_above_4g(void)
{
    /* Above the UC hole the default WB applies: only the PAT protects. */
    X86MTRRState s = mtrrs(X86_MTRR_DEF_E | X86_MTRR_DEF_FE | MT_WB);
    MemTxMemType mtrr;

    set_var(&s, 0, 0xc0000000, 0x40000000, MT_UC);
    mtrr = x86_mtrr_memtype(&s, 0x800000000ULL);
    g_assert_cmpint(mtrr, ==, WB);
    g_assert_cmpint(x86_effective_memtype(UCM, mtrr, false), ==, UC);
    g_assert_cmpint(x86_effective_memtype(WC, mtrr, false), ==, WC);
    g_assert_cmpint(x86_unpaged_memtype(mtrr, false), ==, WB);
}

static void test_wc_through_mtrr(void)
{
    /* nopat or mtrr_add(): PAT UC-, MTRR WC, effectively WC. */
    X86MTRRState s = mtrrs(X86_MTRR_DEF_E | X86_MTRR_DEF_FE | MT_WB);
    MemTxMemType mtrr;

    set_var(&s, 0, 0xc0000000, 0x40000000, MT_UC);
    set_var(&s, 1, 0xfd000000, 0x1000000, MT_WC);
    /* UC and WC overlap: UC wins, so firmware's UC range must go. */
    g_assert_cmpint(x86_mtrr_memtype(&s, 0xfd000000), ==, UC);
    s.var[0].mask &= ~MASK_V;
    mtrr = x86_mtrr_memtype(&s, 0xfd000000);
    g_assert_cmpint(mtrr, ==, WC);
    g_assert_cmpint(x86_effective_memtype(UCM, mtrr, false), ==, WC);
    g_assert_cmpint(x86_effective_memtype(UC, mtrr, false), ==, UC);
}

/* ------------------------------------------------------------------ */
/* MemTxAttrs */

static void test_unknown_is_zero(void)
{
    /* Bus masters that set no attributes must read as unknown. */
    MemTxAttrs attrs = MEMTXATTRS_UNSPECIFIED;

    g_assert_cmpint(MEMTX_MEMTYPE_UNKNOWN, ==, 0);
    g_assert_cmpint(attrs.memtype, ==, UNK);
    g_assert_cmpint(attrs.page_memtype, ==, UNK);
    g_assert_cmpuint(sizeof(MemTxAttrs), ==, 8);
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
    g_test_add_func("/x86-pat/reserved-entry-is-unknown",
                    test_reserved_entry_is_unknown);
    g_test_add_func("/x86-pat/valid/values", test_pat_valid_values);
    g_test_add_func("/x86-pat/valid/reserved", test_pat_reserved_values);
    g_test_add_func("/x86-pat/effective/table-12-7", test_table_12_7);
    g_test_add_func("/x86-pat/effective/table-12-7-cr0-cd",
                    test_table_12_7_cr0_cd);
    g_test_add_func("/x86-pat/effective/cr0-cd-keeps-wc",
                    test_cr0_cd_keeps_wc);
    g_test_add_func("/x86-pat/effective/never-uc-minus", test_never_uc_minus);
    g_test_add_func("/x86-pat/effective/paging-off", test_paging_off);
    g_test_add_func("/x86-pat/mtrr/fixed/every-range",
                    test_fixed_every_range);
    g_test_add_func("/x86-pat/mtrr/fixed/boundaries", test_fixed_boundaries);
    g_test_add_func("/x86-pat/mtrr/fixed/fe-0", test_fixed_disabled);
    g_test_add_func("/x86-pat/mtrr/e-0", test_mtrr_disabled);
    g_test_add_func("/x86-pat/mtrr/unsupported", test_mtrr_unsupported);
    g_test_add_func("/x86-pat/mtrr/default-type", test_default_type);
    g_test_add_func("/x86-pat/mtrr/var/match", test_variable_match);
    g_test_add_func("/x86-pat/mtrr/var/invalid", test_variable_invalid);
    g_test_add_func("/x86-pat/mtrr/var/beyond-count",
                    test_variable_beyond_count);
    g_test_add_func("/x86-pat/mtrr/var/mask-width", test_variable_mask_width);
    g_test_add_func("/x86-pat/mtrr/var/overlaps", test_variable_overlaps);
    g_test_add_func("/x86-pat/mtrr/var/three-way", test_variable_three_way);
    g_test_add_func("/x86-pat/mtrr/reserved-types", test_reserved_mtrr_types);
    g_test_add_func("/x86-pat/e2e/bar-below-4g", test_bar_below_4g);
    g_test_add_func("/x86-pat/e2e/bar-above-4g", test_bar_above_4g);
    g_test_add_func("/x86-pat/e2e/wc-through-mtrr", test_wc_through_mtrr);
    g_test_add_func("/x86-pat/unknown-is-zero", test_unknown_is_zero);
    return g_test_run();
}
