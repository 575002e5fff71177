/* SPDX-License-Identifier: GPL-2.0 */
/* The kernel's own views of what the tests did: PAT, page tables, memory. */
#ifndef WCTB_INTROSPECT_H
#define WCTB_INTROSPECT_H

#include <stddef.h>
#include <stdint.h>

/*
 * The memory type the kernel's PAT bookkeeping records for physical range
 * [@start, @end), from /sys/kernel/debug/x86/pat_memtype_list: e.g.
 * "write-combining" or "uncached-minus".  Returns 0, -ENOENT if no entry
 * covers the range, or another -errno.
 */
int wctb_pat_memtype(uint64_t start, uint64_t end, char *type, size_t len);

/*
 * The line of /sys/kernel/debug/page_tables/current_kernel that describes
 * virtual address @va of the calling process, e.g.
 * "0x...-0x...  4M USR RW  PCD PSE  NX pmd".  Returns 0 or -errno.
 */
int wctb_ptdump_line(const volatile void *va, char *line, size_t len);

/*
 * 1 if the user page at @va is mapped in this process's page tables (the
 * debugfs page table dump; /proc/self/pagemap does not walk PFN
 * mappings), else 0.
 */
int wctb_page_present(const volatile void *va);

/* One number from /proc/meminfo in KiB ("Slab", "MemAvailable"), or -errno. */
long wctb_meminfo_kib(const char *field);

/*
 * 1 on the debug kernel (build-kernel.sh --debug: kmemleak's debugfs file
 * exists).  Its checkers see a path the first time it runs, and each
 * round costs some 34 times more there (the calibration pace): stress
 * loops run fewer rounds.
 */
int wctb_debug_kernel(void);

#endif /* WCTB_INTROSPECT_H */
