/*
 * wc-testdev register map, shared by the QEMU device model and the guest
 * tests.  Plain preprocessor constants only, so that it builds in QEMU and
 * in freestanding guest programs alike.
 *
 * Copyright (c) 2026 wc-testbed developers
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef HW_MISC_WC_TESTDEV_H
#define HW_MISC_WC_TESTDEV_H

#define WC_TESTDEV_VENDOR_ID        0x1234
#define WC_TESTDEV_DEVICE_ID        0x5743
#define WC_TESTDEV_REVISION         0x01
#define WC_TESTDEV_CLASS            0xff00  /* base class 0xff: "other" */

/* BAR numbers */
#define WC_TESTDEV_BAR_REGS         0   /* 32-bit MMIO, registers */
#define WC_TESTDEV_BAR_MSIX         1   /* 32-bit MMIO, MSI-X table and PBA */
#define WC_TESTDEV_BAR_PREF         2   /* 64-bit prefetchable aperture */
#define WC_TESTDEV_BAR_NONPREF      4   /* 64-bit non-prefetchable aperture */

#define WC_TESTDEV_REGS_SIZE        0x1000

/* BAR0 registers; 32-bit unless said otherwise, little endian */
#define WC_TESTDEV_REG_ID           0x00    /* RO: WC_TESTDEV_ID_VALUE */
#define WC_TESTDEV_REG_VERSION      0x04    /* RO: major << 16 | minor */
#define WC_TESTDEV_REG_FEATURES     0x08    /* RO: WC_TESTDEV_FEAT_* */
#define WC_TESTDEV_REG_CONTROL      0x0c    /* WO: WC_TESTDEV_CTRL_* */
#define WC_TESTDEV_REG_PREF_SIZE    0x10    /* RO, 64-bit: BAR2 size */
#define WC_TESTDEV_REG_NONPREF_SIZE 0x18    /* RO, 64-bit: BAR4 size */
#define WC_TESTDEV_REG_SCRATCH      0x20    /* RW scratch */
#define WC_TESTDEV_REG_WC_LINES     0x28    /* RO: WC line buffers per vCPU */
#define WC_TESTDEV_REG_WEAK         0x30    /* RW: WC_TESTDEV_WEAK_* */
#define WC_TESTDEV_REG_WEAK_SEED    0x38    /* RW, 64-bit: weak-mode seed */

#define WC_TESTDEV_ID_VALUE         0x44544357  /* "WCTD" in memory */
#define WC_TESTDEV_VERSION_VALUE    0x00010002  /* 1.2 */

/* FEATURES bits */
/*
 * MEMTYPE: the accelerator computes the memory type of CPU accesses (x86
 * TCG), so writes are counted by type; clear under KVM and qtest, where
 * every write counts as UNKNOWN_WRITES (under qtest, BAR2's writes take
 * the type the x-qtest-memtype property names).
 */
#define WC_TESTDEV_FEAT_MEMTYPE     (1u << 0)
#define WC_TESTDEV_FEAT_WC_MODEL    (1u << 1)   /* WC buffers modelled */
/*
 * DRAIN_EVENTS: the vCPUs report the events that drain their WC buffers
 * (fences, serializing and locked instructions, interrupts, UC accesses
 * elsewhere), counted as DRAIN_*; x86 TCG only.  Without it only accesses
 * to the device itself drain.
 */
#define WC_TESTDEV_FEAT_DRAIN_EVENTS (1u << 2)
#define WC_TESTDEV_FEAT_WEAK        (1u << 3)   /* REG_WEAK works */

/*
 * WEAK bits.  ORDER: a UC write to an aperture no longer drains the
 * writing vCPU's WC buffers first: it takes effect, and the vCPU's pending
 * WC data arrives after it (counted as DOORBELL_EARLY), partial lines as
 * 8-byte chunks and lines in an order drawn from WEAK_SEED.  Full lines
 * wait in the buffers too.  Only a drain event (a fence, ...) delivers
 * them in time.  Off at reset unless the device's x-weak-order property
 * says otherwise; writing WEAK_SEED restarts the order's sequence.
 */
#define WC_TESTDEV_WEAK_ORDER       (1u << 0)

/* CONTROL bits (write 1 to act) */
#define WC_TESTDEV_CTRL_RESET_COUNTERS  (1u << 0)
#define WC_TESTDEV_CTRL_FLUSH           (1u << 1)   /* drain WC buffers */

/*
 * Memory types as the device reports them (LAST_WRITE_TYPE counter): the
 * type the guest's page tables selected (x86: the PAT entry, so UC- shows).
 * The device acts on the effective type (PAT combined with the MTRRs), in
 * which UC- is UC, or WC under a WC MTRR.
 * UNKNOWN: the accelerator did not say (KVM, qtest, DMA).
 */
#define WC_TESTDEV_MEMTYPE_UNKNOWN  0
#define WC_TESTDEV_MEMTYPE_UC       1
#define WC_TESTDEV_MEMTYPE_UC_MINUS 2
#define WC_TESTDEV_MEMTYPE_WC       3
#define WC_TESTDEV_MEMTYPE_WT       4
#define WC_TESTDEV_MEMTYPE_WP       5
#define WC_TESTDEV_MEMTYPE_WB       6

/* Bytes on the modelled bus per transaction, on top of the payload. */
#define WC_TESTDEV_BUS_OVERHEAD     24
/* Bytes per write-combining line: a full burst is one whole line. */
#define WC_TESTDEV_LINE_SIZE        64

/*
 * Per-aperture counter blocks: 64-bit counters at
 * WC_TESTDEV_REG_COUNTERS(aperture) + 8 * WC_TESTDEV_CNT_*.
 * Read them with one 8-byte access, or low half then high half.
 * Any BAR0 access first drains the accessing vCPU's WC buffers, so
 * counters it reads include every store it issued before the read.
 */
#define WC_TESTDEV_APERTURE_PREF    0   /* BAR2 */
#define WC_TESTDEV_APERTURE_NONPREF 1   /* BAR4 */
#define WC_TESTDEV_NUM_APERTURES    2

#define WC_TESTDEV_REG_COUNTERS_BASE    0x100
#define WC_TESTDEV_REG_COUNTERS_STRIDE  0x100
#define WC_TESTDEV_REG_COUNTERS(ap) \
    (WC_TESTDEV_REG_COUNTERS_BASE + WC_TESTDEV_REG_COUNTERS_STRIDE * (ap))

#define WC_TESTDEV_CNT_READS            0   /* read accesses */
#define WC_TESTDEV_CNT_READ_BYTES       1   /* bytes read */
#define WC_TESTDEV_CNT_WRITES           2   /* write accesses, any type */
#define WC_TESTDEV_CNT_WRITE_BYTES      3   /* bytes written, any type */
#define WC_TESTDEV_CNT_UC_WRITES        4   /* writes of effective type UC */
#define WC_TESTDEV_CNT_UC_BYTES         5
#define WC_TESTDEV_CNT_WC_STORES        6   /* writes of type WC */
#define WC_TESTDEV_CNT_WC_BYTES         7
#define WC_TESTDEV_CNT_FULL_BURSTS      8   /* 64-byte lines sent at once */
#define WC_TESTDEV_CNT_PARTIAL_BURSTS   9   /* partial lines sent */
#define WC_TESTDEV_CNT_PARTIAL_BYTES    10  /* valid bytes in those */
#define WC_TESTDEV_CNT_CACHED_WRITES    11  /* WB/WT/WP: a bug for MMIO */
#define WC_TESTDEV_CNT_UNKNOWN_WRITES   12  /* type not known */
#define WC_TESTDEV_CNT_BUS_TXNS         13  /* modelled bus transactions */
#define WC_TESTDEV_CNT_BUS_BYTES        14  /* payload + overhead */
#define WC_TESTDEV_CNT_LAST_WRITE_TYPE  15  /* WC_TESTDEV_MEMTYPE_* */
#define WC_TESTDEV_CNT_LAST_READ_TYPE   16  /* WC_TESTDEV_MEMTYPE_* */
/*
 * Why WC data left the buffers: one count per delivery (a full or partial
 * burst), by the event that sent it, so that the DRAIN_* counters add up
 * to FULL_BURSTS + PARTIAL_BURSTS.
 */
#define WC_TESTDEV_CNT_DRAIN_FENCE      17  /* SFENCE, MFENCE */
#define WC_TESTDEV_CNT_DRAIN_SERIALIZE  18  /* CPUID, IRET, WRMSR, MOV CR.. */
#define WC_TESTDEV_CNT_DRAIN_LOCK       19  /* LOCK prefix, XCHG with memory */
#define WC_TESTDEV_CNT_DRAIN_INTERRUPT  20  /* interrupt, exception delivery */
#define WC_TESTDEV_CNT_DRAIN_UC_OTHER   21  /* UC access elsewhere, IN/OUT */
#define WC_TESTDEV_CNT_DRAIN_DEVICE     22  /* any other access to the device */
#define WC_TESTDEV_CNT_DRAIN_EVICT      23  /* evicted for a new line */
#define WC_TESTDEV_CNT_DRAIN_FULL       24  /* line complete, sent at once */
/*
 * Writes other than WC stores that arrived while the same vCPU's earlier
 * WC data still waited (weak order only).
 */
#define WC_TESTDEV_CNT_DOORBELL_EARLY   25
#define WC_TESTDEV_NUM_COUNTERS         26

/*
 * Their names, in WC_TESTDEV_CNT_* order: the host reads counter C of BAR2
 * as QOM property "bar2-" C (qom-get), e.g. "bar2-wc-stores".
 */
#define WC_TESTDEV_COUNTER_NAMES { \
    "reads", "read-bytes", "writes", "write-bytes", "uc-writes", \
    "uc-bytes", "wc-stores", "wc-bytes", "full-bursts", "partial-bursts", \
    "partial-bytes", "cached-writes", "unknown-writes", "bus-txns", \
    "bus-bytes", "last-write-type", "last-read-type", "drain-fence", \
    "drain-serialize", "drain-lock", "drain-interrupt", "drain-uc-other", \
    "drain-device", "drain-evict", "drain-full", "doorbell-early" }
#define WC_TESTDEV_APERTURE_NAMES { "bar2", "bar4" }

#endif /* HW_MISC_WC_TESTDEV_H */
