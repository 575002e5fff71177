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

#define WC_TESTDEV_ID_VALUE         0x44544357  /* "WCTD" in memory */
#define WC_TESTDEV_VERSION_VALUE    0x00010000  /* 1.0 */

/* No feature bits are defined yet. */
#define WC_TESTDEV_FEAT_NONE        0x0

#define WC_TESTDEV_CTRL_RESET_COUNTERS  (1u << 0)

/*
 * Per-aperture counter blocks: 64-bit counters at
 * WC_TESTDEV_REG_COUNTERS(aperture) + 8 * WC_TESTDEV_CNT_*.
 * Read them with one 8-byte access, or low half then high half.
 */
#define WC_TESTDEV_APERTURE_PREF    0   /* BAR2 */
#define WC_TESTDEV_APERTURE_NONPREF 1   /* BAR4 */
#define WC_TESTDEV_NUM_APERTURES    2

#define WC_TESTDEV_REG_COUNTERS(ap) (0x100 + 0x100 * (ap))

#define WC_TESTDEV_CNT_READS        0   /* read accesses */
#define WC_TESTDEV_CNT_READ_BYTES   1   /* bytes read */
#define WC_TESTDEV_CNT_WRITES       2   /* write accesses */
#define WC_TESTDEV_CNT_WRITE_BYTES  3   /* bytes written */
#define WC_TESTDEV_NUM_COUNTERS     4

#endif /* HW_MISC_WC_TESTDEV_H */
