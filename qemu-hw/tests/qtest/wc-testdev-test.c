/*
 * QTest testcase for wc-testdev
 *
 * Registers, aperture data at every access size and alignment, accesses
 * past the end of each BAR, and the counters, which must report the
 * memory type as unknown: qtest accesses carry no CPU memory type, and
 * FEATURES.MEMTYPE must say so.  With x-qtest-memtype=3, BAR2 takes
 * qtest writes as WC: the WC model, its drains and the weak order.
 *
 * Copyright (c) 2026 wc-testbed developers
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "libqtest.h"
#include "qobject/qdict.h"
#include "libqos/pci.h"
#include "libqos/pci-pc.h"
#include "hw/pci/pci_regs.h"
#include "hw/misc/wc-testdev.h"

typedef struct WCTest {
    QTestState *qts;
    QPCIBus *bus;
    QPCIDevice *dev;
    QPCIBar regs;
    QPCIBar ap[WC_TESTDEV_NUM_APERTURES];
    uint64_t ap_size[WC_TESTDEV_NUM_APERTURES];
} WCTest;

static const int ap_bar[WC_TESTDEV_NUM_APERTURES] = {
    WC_TESTDEV_BAR_PREF, WC_TESTDEV_BAR_NONPREF,
};

static void save_device(QPCIDevice *dev, int devfn, void *data)
{
    *(QPCIDevice **)data = dev;
}

/* Enable the device and give its BARs addresses (again after a reset). */
static void wc_map_bars(WCTest *t)
{
    qpci_device_enable(t->dev);
    t->regs = qpci_iomap(t->dev, WC_TESTDEV_BAR_REGS, NULL);
    for (int i = 0; i < WC_TESTDEV_NUM_APERTURES; i++) {
        t->ap[i] = qpci_iomap(t->dev, ap_bar[i], &t->ap_size[i]);
    }
}

static void wc_start(WCTest *t, const char *extra)
{
    t->qts = qtest_initf("-machine q35 -nodefaults "
                         "-device wc-testdev,id=wctd%s", extra);
    t->bus = qpci_new_pc(t->qts, NULL);
    t->dev = NULL;
    qpci_device_foreach(t->bus, WC_TESTDEV_VENDOR_ID, WC_TESTDEV_DEVICE_ID,
                        save_device, &t->dev);
    g_assert_nonnull(t->dev);
    wc_map_bars(t);
}

static void wc_stop(WCTest *t)
{
    g_free(t->dev);
    qpci_free_pc(t->bus);
    qtest_quit(t->qts);
}

static uint64_t counter(WCTest *t, int ap, int idx)
{
    return qpci_io_readq(t->dev, t->regs,
                         WC_TESTDEV_REG_COUNTERS(ap) + 8 * idx);
}

static uint64_t qom_counter(WCTest *t, const char *name)
{
    QDict *r = qtest_qmp(t->qts, "{ 'execute': 'qom-get', 'arguments': "
                         "{ 'path': '/machine/peripheral/wctd', "
                         "'property': %s } }", name);
    uint64_t v;

    g_assert(qdict_haskey(r, "return"));
    v = qdict_get_int(r, "return");
    qobject_unref(r);
    return v;
}

static void test_registers(void)
{
    WCTest t;
    uint32_t feat;

    wc_start(&t, "");
    g_assert_cmphex(qpci_io_readl(t.dev, t.regs, WC_TESTDEV_REG_ID), ==,
                    WC_TESTDEV_ID_VALUE);
    g_assert_cmphex(qpci_io_readl(t.dev, t.regs, WC_TESTDEV_REG_VERSION), ==,
                    WC_TESTDEV_VERSION_VALUE);
    /* qtest accesses carry no memory type, and the device says so. */
    feat = qpci_io_readl(t.dev, t.regs, WC_TESTDEV_REG_FEATURES);
    g_assert_cmphex(feat, ==, WC_TESTDEV_FEAT_WC_MODEL | WC_TESTDEV_FEAT_WEAK);
    g_assert_cmpuint(qpci_io_readq(t.dev, t.regs, WC_TESTDEV_REG_PREF_SIZE),
                     ==, t.ap_size[WC_TESTDEV_APERTURE_PREF]);
    g_assert_cmpuint(qpci_io_readq(t.dev, t.regs,
                                   WC_TESTDEV_REG_NONPREF_SIZE),
                     ==, t.ap_size[WC_TESTDEV_APERTURE_NONPREF]);
    g_assert_cmpuint(qpci_io_readl(t.dev, t.regs, WC_TESTDEV_REG_WC_LINES),
                     ==, 4);
    qpci_io_writeq(t.dev, t.regs, WC_TESTDEV_REG_SCRATCH,
                   0x0123456789abcdefULL);
    qpci_io_writel(t.dev, t.regs, WC_TESTDEV_REG_SCRATCH + 4, 0x55aa55aa);
    g_assert_cmphex(qpci_io_readq(t.dev, t.regs, WC_TESTDEV_REG_SCRATCH),
                    ==, 0x55aa55aa89abcdefULL);
    /* Read-only registers ignore writes. */
    qpci_io_writel(t.dev, t.regs, WC_TESTDEV_REG_ID, 0);
    g_assert_cmphex(qpci_io_readl(t.dev, t.regs, WC_TESTDEV_REG_ID), ==,
                    WC_TESTDEV_ID_VALUE);
    /* Bytes and words of a register read as its bytes. */
    g_assert_cmphex(qpci_io_readb(t.dev, t.regs, WC_TESTDEV_REG_ID + 1), ==,
                    (WC_TESTDEV_ID_VALUE >> 8) & 0xff);
    g_assert_cmphex(qpci_io_readw(t.dev, t.regs, WC_TESTDEV_REG_ID + 2), ==,
                    WC_TESTDEV_ID_VALUE >> 16);
    qpci_io_writeb(t.dev, t.regs, WC_TESTDEV_REG_SCRATCH + 7, 0x11);
    g_assert_cmphex(qpci_io_readq(t.dev, t.regs, WC_TESTDEV_REG_SCRATCH),
                    ==, 0x11aa55aa89abcdefULL);
    /* An 8-byte write at FEATURES does not reach CONTROL. */
    qpci_io_writel(t.dev, t.ap[0], 0, 1);
    qpci_io_writeq(t.dev, t.regs, WC_TESTDEV_REG_FEATURES,
                   (uint64_t)WC_TESTDEV_CTRL_RESET_COUNTERS << 32);
    g_assert_cmpuint(counter(&t, 0, WC_TESTDEV_CNT_WRITES), ==, 1);
    /* WEAK and WEAK_SEED: the reset values, and what a write leaves. */
    g_assert_cmphex(qpci_io_readl(t.dev, t.regs, WC_TESTDEV_REG_WEAK), ==, 0);
    g_assert_cmphex(qpci_io_readq(t.dev, t.regs, WC_TESTDEV_REG_WEAK_SEED),
                    ==, 1);
    qpci_io_writel(t.dev, t.regs, WC_TESTDEV_REG_WEAK, 0xffffffff);
    g_assert_cmphex(qpci_io_readl(t.dev, t.regs, WC_TESTDEV_REG_WEAK), ==,
                    WC_TESTDEV_WEAK_ORDER);
    wc_stop(&t);
}

/* One whole line of 8-byte writes at @off; word i holds @scale * i. */
static void write_line(WCTest *t, QPCIBar bar, uint64_t off, uint64_t scale)
{
    for (int i = 0; i < WC_TESTDEV_LINE_SIZE; i += 8) {
        qpci_io_writeq(t->dev, bar, off + i, scale * i);
    }
}

/* The WC path, reached through x-qtest-memtype=3 (WC) for BAR2. */
static void test_qtest_wc_line_and_drains(void)
{
    WCTest t;
    QPCIBar wc;

    wc_start(&t, ",x-qtest-memtype=3");
    wc = t.ap[WC_TESTDEV_APERTURE_PREF];
    write_line(&t, wc, 0x40, 0x0101010101010101ULL);
    qpci_io_writel(t.dev, wc, 0x100, 0xdeadbeef);
    /* The full line left at once; the partial one waits for a drain. */
    g_assert_cmpuint(qom_counter(&t, "bar2-full-bursts"), ==, 1);
    g_assert_cmpuint(qom_counter(&t, "bar2-drain-full"), ==, 1);
    g_assert_cmpuint(qom_counter(&t, "bar2-partial-bursts"), ==, 0);
    /* A BAR0 read drains it, as an access to the device. */
    g_assert_cmpuint(counter(&t, 0, WC_TESTDEV_CNT_PARTIAL_BURSTS), ==, 1);
    g_assert_cmpuint(counter(&t, 0, WC_TESTDEV_CNT_PARTIAL_BYTES), ==, 4);
    g_assert_cmpuint(counter(&t, 0, WC_TESTDEV_CNT_DRAIN_DEVICE), ==, 1);
    g_assert_cmpuint(counter(&t, 0, WC_TESTDEV_CNT_WC_STORES), ==, 9);
    g_assert_cmphex(qpci_io_readl(t.dev, wc, 0x100), ==, 0xdeadbeef);
    g_assert_cmphex(qpci_io_readq(t.dev, wc, 0x48), ==, 0x0808080808080808);
    /* Five lines through four buffers: the oldest is evicted. */
    for (int i = 0; i < 5; i++) {
        qpci_io_writeb(t.dev, wc, 0x1000 + i * WC_TESTDEV_LINE_SIZE, i);
    }
    g_assert_cmpuint(qom_counter(&t, "bar2-drain-evict"), ==, 1);
    wc_stop(&t);
}

/* Weak order: a write to BAR4 overtakes BAR2's pending WC data. */
static void test_qtest_weak_doorbell(void)
{
    WCTest t;
    QPCIBar wc;

    wc_start(&t, ",x-qtest-memtype=3");
    wc = t.ap[WC_TESTDEV_APERTURE_PREF];
    /* In order: the BAR4 write drains BAR2's data first. */
    qpci_io_writeq(t.dev, wc, 0, 1);
    qpci_io_writel(t.dev, t.ap[WC_TESTDEV_APERTURE_NONPREF], 0, 1);
    g_assert_cmpuint(qom_counter(&t, "bar4-doorbell-early"), ==, 0);
    g_assert_cmpuint(qom_counter(&t, "bar2-drain-device"), ==, 1);
    /* Weak: it arrives before the data, which follows in chunks. */
    qpci_io_writel(t.dev, t.regs, WC_TESTDEV_REG_WEAK, WC_TESTDEV_WEAK_ORDER);
    write_line(&t, wc, 0x40, 1);
    qpci_io_writeq(t.dev, wc, 0x80, 7);
    qpci_io_writeq(t.dev, wc, 0x98, 8);
    /* The full line waits in weak order. */
    g_assert_cmpuint(qom_counter(&t, "bar2-full-bursts"), ==, 0);
    qpci_io_writel(t.dev, t.ap[WC_TESTDEV_APERTURE_NONPREF], 0, 2);
    g_assert_cmpuint(qom_counter(&t, "bar4-doorbell-early"), ==, 1);
    g_assert_cmpuint(qom_counter(&t, "bar2-full-bursts"), ==, 1);
    /* 1 partial burst before, 2 chunks now. */
    g_assert_cmpuint(qom_counter(&t, "bar2-partial-bursts"), ==, 3);
    g_assert_cmpuint(qom_counter(&t, "bar2-drain-device"), ==, 4);
    g_assert_cmphex(qpci_io_readq(t.dev, wc, 0x98), ==, 8);
    wc_stop(&t);
}

/* An FLR clears the apertures, the counters and the WC buffers. */
static void test_qtest_flr_clears(void)
{
    WCTest t;

    wc_start(&t, ",x-qtest-memtype=3");
    qpci_io_writel(t.dev, t.ap[1], 0x10, 0x5678);
    qpci_io_writeq(t.dev, t.ap[0], 0x2000, 0x1234);
    g_assert_cmpuint(qom_counter(&t, "bar2-wc-stores"), ==, 1);
    g_assert_cmpuint(qom_counter(&t, "bar2-partial-bursts"), ==, 0);
    qpci_config_writew(t.dev, 0x80 + PCI_EXP_DEVCTL, PCI_EXP_DEVCTL_BCR_FLR);
    g_assert_cmpuint(qom_counter(&t, "bar2-writes"), ==, 0);
    wc_map_bars(&t);
    g_assert_cmphex(qpci_io_readl(t.dev, t.ap[1], 0x10), ==, 0);
    g_assert_cmphex(qpci_io_readq(t.dev, t.ap[0], 0x2000), ==, 0);
    wc_stop(&t);
}

static void test_wc_model_off(void)
{
    WCTest t;

    wc_start(&t, ",wc-lines=0");
    g_assert_cmphex(qpci_io_readl(t.dev, t.regs, WC_TESTDEV_REG_FEATURES),
                    ==, 0);
    wc_stop(&t);
}

/* Every size at aligned and unaligned offsets reads back what it wrote. */
static void test_aperture_access_sizes(void)
{
    static const unsigned sizes[] = { 1, 2, 4, 8 };
    static const uint64_t offsets[] = { 0x1000, 0x1001, 0x1003, 0x1005,
                                        0x103d };
    uint64_t writes = 0, bytes = 0;
    WCTest t;

    wc_start(&t, "");
    for (int a = 0; a < WC_TESTDEV_NUM_APERTURES; a++) {
        qpci_io_writel(t.dev, t.regs, WC_TESTDEV_REG_CONTROL,
                       WC_TESTDEV_CTRL_RESET_COUNTERS);
        writes = bytes = 0;
        for (int s = 0; s < ARRAY_SIZE(sizes); s++) {
            for (int o = 0; o < ARRAY_SIZE(offsets); o++) {
                uint64_t addr = t.ap[a].addr + offsets[o] + 0x100 * s;
                uint64_t val = 0x1122334455667788ULL >> (8 * (8 - sizes[s]));
                uint64_t got;

                switch (sizes[s]) {
                case 1:
                    qtest_writeb(t.qts, addr, val);
                    got = qtest_readb(t.qts, addr);
                    break;
                case 2:
                    qtest_writew(t.qts, addr, val);
                    got = qtest_readw(t.qts, addr);
                    break;
                case 4:
                    qtest_writel(t.qts, addr, val);
                    got = qtest_readl(t.qts, addr);
                    break;
                default:
                    qtest_writeq(t.qts, addr, val);
                    got = qtest_readq(t.qts, addr);
                    break;
                }
                g_assert_cmphex(got, ==, val);
                writes++;
                bytes += sizes[s];
            }
        }
        g_assert_cmpuint(counter(&t, a, WC_TESTDEV_CNT_WRITES), ==, writes);
        g_assert_cmpuint(counter(&t, a, WC_TESTDEV_CNT_WRITE_BYTES), ==,
                         bytes);
        g_assert_cmpuint(counter(&t, a, WC_TESTDEV_CNT_READ_BYTES), ==,
                         bytes);
        /* qtest accesses have no CPU memory type: never guessed. */
        g_assert_cmpuint(counter(&t, a, WC_TESTDEV_CNT_UNKNOWN_WRITES), ==,
                         writes);
        g_assert_cmpuint(counter(&t, a, WC_TESTDEV_CNT_UC_WRITES), ==, 0);
        g_assert_cmpuint(counter(&t, a, WC_TESTDEV_CNT_WC_STORES), ==, 0);
        g_assert_cmpuint(counter(&t, a, WC_TESTDEV_CNT_FULL_BURSTS), ==, 0);
        g_assert_cmpuint(counter(&t, a, WC_TESTDEV_CNT_LAST_WRITE_TYPE), ==,
                         WC_TESTDEV_MEMTYPE_UNKNOWN);
        g_assert_cmpuint(counter(&t, a, WC_TESTDEV_CNT_BUS_TXNS), ==,
                         2 * writes);
    }
    g_assert_cmpuint(qom_counter(&t, "bar2-unknown-writes"), ==,
                     counter(&t, WC_TESTDEV_APERTURE_PREF,
                             WC_TESTDEV_CNT_UNKNOWN_WRITES));
    g_assert_cmpuint(qom_counter(&t, "bar4-write-bytes"), ==, bytes);
    wc_stop(&t);
}

/* Accesses at and across the end of every BAR: no crash, sane results. */
static void test_past_the_end(void)
{
    static const unsigned sizes[] = { 1, 2, 4, 8 };
    QDict *r;
    WCTest t;

    wc_start(&t, "");
    for (int a = 0; a < WC_TESTDEV_NUM_APERTURES; a++) {
        uint64_t end = t.ap[a].addr + t.ap_size[a];

        for (int s = 0; s < ARRAY_SIZE(sizes); s++) {
            for (uint64_t back = 0; back < 8; back++) {
                qtest_memset(t.qts, end - back, 0xa5, sizes[s]);
                qtest_readq(t.qts, end - back);
            }
        }
        /* The last byte still works. */
        qtest_writeb(t.qts, end - 1, 0x5a);
        g_assert_cmphex(qtest_readb(t.qts, end - 1), ==, 0x5a);
    }
    for (uint64_t off = WC_TESTDEV_REGS_SIZE - 8; off < WC_TESTDEV_REGS_SIZE;
         off++) {
        qtest_readq(t.qts, t.regs.addr + off);
        qtest_writel(t.qts, t.regs.addr + off, 0xffffffff);
    }
    g_assert_cmphex(qpci_io_readl(t.dev, t.regs, WC_TESTDEV_REG_ID), ==,
                    WC_TESTDEV_ID_VALUE);
    r = qtest_qmp(t.qts, "{ 'execute': 'query-status' }");
    g_assert(qdict_haskey(r, "return"));
    qobject_unref(r);
    wc_stop(&t);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    qtest_add_func("wc-testdev/registers", test_registers);
    qtest_add_func("wc-testdev/wc-model-off", test_wc_model_off);
    qtest_add_func("wc-testdev/aperture-access-sizes",
                   test_aperture_access_sizes);
    qtest_add_func("wc-testdev/past-the-end", test_past_the_end);
    qtest_add_func("wc-testdev/qtest-wc-line-and-drains",
                   test_qtest_wc_line_and_drains);
    qtest_add_func("wc-testdev/qtest-weak-doorbell",
                   test_qtest_weak_doorbell);
    qtest_add_func("wc-testdev/qtest-flr-clears", test_qtest_flr_clears);
    return g_test_run();
}
