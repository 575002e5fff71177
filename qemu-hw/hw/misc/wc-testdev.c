/*
 * wc-testdev: a PCI device that counts what arrives at its memory apertures,
 * by memory type, and models the CPU's write-combining buffers in front of
 * them, so that guest tests can tell how a CPU mapping reached the device.
 *
 * BAR0 holds registers and counters, BAR2 is a 64-bit prefetchable aperture,
 * BAR4 a 64-bit non-prefetchable one.  Both apertures are I/O regions backed
 * by device memory: every access reaches the model and is counted.  The
 * memory type of an access comes from MemTxAttrs (x86 TCG computes it from
 * the guest's PAT and MTRRs); KVM and qtest leave it unknown.  Each vCPU
 * has write-combining buffers of its own, drained by the events that drain
 * a real CPU's (exec/cpu-wc.h) and by its accesses to the device.
 * The register map is in include/hw/misc/wc-testdev.h; the specification is
 * docs/specs/wc-testdev.rst.
 *
 * Copyright (c) 2026 wc-testbed developers
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qemu/log.h"
#include "qemu/units.h"
#include "qemu/module.h"
#include "qemu/bswap.h"
#include "qemu/madvise.h"
#include "exec/cpu-wc.h"
#include "hw/boards.h"
#include "hw/core/cpu.h"
#include "qapi/error.h"
#include "hw/pci/msi.h"
#include "hw/pci/msix.h"
#include "hw/pci/pci_device.h"
#include "hw/pci/pcie.h"
#include "hw/qdev-properties.h"
#include "hw/resettable.h"
#include "migration/vmstate.h"
#include "qom/object.h"
#include "system/arch_init.h"
#include "system/qtest.h"
#include "system/tcg.h"
#include "hw/misc/wc-testdev.h"
#include "wc-model.h"
#include "trace.h"

#define TYPE_WC_TESTDEV "wc-testdev"
OBJECT_DECLARE_SIMPLE_TYPE(WCTestDevState, WC_TESTDEV)

#define WC_TESTDEV_MIN_APERTURE (4 * KiB)
#define WC_TESTDEV_MAX_APERTURE (1 * GiB)

/* WC model line addresses: aperture index above the aperture offset. */
#define WC_TESTDEV_LINE_AP_SHIFT 48

/* The line size the register map promises is the model's. */
QEMU_BUILD_BUG_ON(WC_TESTDEV_LINE_SIZE != WC_MODEL_LINE);

typedef struct WCTestDevAperture {
    WCTestDevState *dev;
    unsigned index;             /* WC_TESTDEV_APERTURE_* */
    MemoryRegion mr;
    uint64_t size;
    uint8_t *mem;
    bool dirty;                 /* written since the last reset */
    bool cached_logged;
    uint64_t counters[WC_TESTDEV_NUM_COUNTERS];
} WCTestDevAperture;

struct WCTestDevState {
    PCIDevice parent_obj;

    MemoryRegion regs;
    uint64_t scratch;
    uint32_t wc_lines;          /* property; 0 turns the WC model off */
    uint8_t msix_bar;           /* property: BAR of the MSI-X table */
    bool weak_prop;             /* property x-weak-order: WEAK at reset */
    uint64_t weak_seed_prop;    /* property x-weak-seed: WEAK_SEED at reset */
    uint8_t qtest_memtype;      /* property x-qtest-memtype */
    uint32_t weak;              /* REG_WEAK */
    uint64_t weak_seed;         /* REG_WEAK_SEED */
    /*
     * WC buffers, one set per vCPU (by cpu_index) and a last one for
     * accesses that no vCPU makes (qtest); nwc sets in all.
     */
    WCModel *wc;
    unsigned nwc;
    unsigned drain_counter;     /* WC_TESTDEV_CNT_DRAIN_* of a flush */
    CPUWCSink cpu_sink;
    WCTestDevAperture ap[WC_TESTDEV_NUM_APERTURES];
};

/* Where the capabilities live in configuration space. */
#define WC_TESTDEV_PM_CAP_OFFSET   0x40
#define WC_TESTDEV_PCIE_CAP_OFFSET 0x80

/*
 * MSI and MSI-X, for drivers and tests that set up interrupts; the device
 * itself never raises one.  The MSI-X table and PBA take BAR1 of their
 * own, or with msix-bar=2 the last two pages of the prefetchable aperture,
 * so that tests can see what a kernel offers for a BAR that holds them.
 */
#define WC_TESTDEV_MSIX_VECTORS    4
#define WC_TESTDEV_MSIX_PAGE       0x1000

static const char *const wc_testdev_counter_names[WC_TESTDEV_NUM_COUNTERS] =
    WC_TESTDEV_COUNTER_NAMES;

static const char *const wc_testdev_aperture_names[WC_TESTDEV_NUM_APERTURES] =
    WC_TESTDEV_APERTURE_NAMES;

static unsigned wc_testdev_memtype_of(uint8_t memtype)
{
    switch (memtype) {
    case MEMTX_MEMTYPE_UC:
        return WC_TESTDEV_MEMTYPE_UC;
    case MEMTX_MEMTYPE_UC_MINUS:
        return WC_TESTDEV_MEMTYPE_UC_MINUS;
    case MEMTX_MEMTYPE_WC:
        return WC_TESTDEV_MEMTYPE_WC;
    case MEMTX_MEMTYPE_WT:
        return WC_TESTDEV_MEMTYPE_WT;
    case MEMTX_MEMTYPE_WP:
        return WC_TESTDEV_MEMTYPE_WP;
    case MEMTX_MEMTYPE_WB:
        return WC_TESTDEV_MEMTYPE_WB;
    default:
        return WC_TESTDEV_MEMTYPE_UNKNOWN;
    }
}

/*
 * The type that acts on a write to @ap: the effective type, or under
 * qtest for BAR2 the one x-qtest-memtype names, so that qtests and the
 * fuzzer reach the WC model (BAR4 stays unknown: a write there is their
 * doorbell).  Reads are not overridden.
 */
static unsigned wc_testdev_memtype(WCTestDevAperture *ap, MemTxAttrs attrs,
                                   bool write)
{
    unsigned type = wc_testdev_memtype_of(attrs.memtype);

    if (type == WC_TESTDEV_MEMTYPE_UNKNOWN && write &&
        ap->dev->qtest_memtype && ap->index == WC_TESTDEV_APERTURE_PREF &&
        qtest_enabled()) {
        return ap->dev->qtest_memtype;
    }
    return type;
}

/* The type LAST_*_TYPE shows: the page tables' choice where known. */
static unsigned wc_testdev_page_memtype(WCTestDevAperture *ap,
                                        MemTxAttrs attrs, bool write)
{
    unsigned type = wc_testdev_memtype_of(attrs.page_memtype);

    return type != WC_TESTDEV_MEMTYPE_UNKNOWN ? type :
           wc_testdev_memtype(ap, attrs, write);
}

/*
 * Does the accelerator compute the memory type of CPU accesses?  Only x86
 * TCG does (target/i386 fills MemTxAttrs.memtype from the guest's PAT);
 * under KVM, qtest and on other targets every access is of unknown type.
 */
static bool wc_testdev_memtypes_known(void)
{
    return tcg_enabled() && qemu_arch_available(QEMU_ARCH_I386);
}

static void wc_testdev_count(WCTestDevAperture *ap, unsigned counter,
                             unsigned bytes_counter, unsigned size)
{
    ap->counters[counter]++;
    ap->counters[bytes_counter] += size;
}

static void wc_testdev_bus(WCTestDevAperture *ap, unsigned txns,
                           uint64_t payload)
{
    ap->counters[WC_TESTDEV_CNT_BUS_TXNS] += txns;
    ap->counters[WC_TESTDEV_CNT_BUS_BYTES] +=
        payload + (uint64_t)txns * WC_TESTDEV_BUS_OVERHEAD;
}

/* A line (or a chunk of one) leaves the WC buffers: store it, count it. */
static void wc_testdev_wc_sink(void *opaque, uint64_t line,
                               const uint8_t *data, uint64_t mask,
                               WCModelCause cause)
{
    WCTestDevState *s = opaque;
    WCTestDevAperture *ap = &s->ap[line >> WC_TESTDEV_LINE_AP_SHIFT];
    uint64_t off = line & MAKE_64BIT_MASK(0, WC_TESTDEV_LINE_AP_SHIFT);
    unsigned valid = ctpop64(mask);
    bool full = mask == UINT64_MAX;

    switch (cause) {
    case WC_MODEL_FULL:
        ap->counters[WC_TESTDEV_CNT_DRAIN_FULL]++;
        break;
    case WC_MODEL_EVICT:
        ap->counters[WC_TESTDEV_CNT_DRAIN_EVICT]++;
        break;
    default:
        ap->counters[s->drain_counter]++;
        break;
    }

    if (full) {
        memcpy(ap->mem + off, data, WC_MODEL_LINE);
        ap->counters[WC_TESTDEV_CNT_FULL_BURSTS]++;
        wc_testdev_bus(ap, 1, WC_MODEL_LINE);
    } else {
        for (unsigned i = 0; i < WC_MODEL_LINE; i++) {
            if (mask & (1ULL << i)) {
                ap->mem[off + i] = data[i];
            }
        }
        wc_testdev_count(ap, WC_TESTDEV_CNT_PARTIAL_BURSTS,
                         WC_TESTDEV_CNT_PARTIAL_BYTES, valid);
        wc_testdev_bus(ap, wc_model_mask_runs(mask), valid);
    }
    trace_wc_testdev_burst(ap->index, off, mask, full);
}

/* The WC buffers of the initiator of the access being handled. */
static WCModel *wc_testdev_model_of(WCTestDevState *s, CPUState *cs)
{
    if (!s->wc_lines) {
        return NULL;
    }
    if (cs && cs->cpu_index >= 0 && cs->cpu_index < s->nwc - 1) {
        return &s->wc[cs->cpu_index];
    }
    return &s->wc[s->nwc - 1];
}

static WCModel *wc_testdev_model(WCTestDevState *s)
{
    return wc_testdev_model_of(s, current_cpu);
}

/*
 * The buffers of an aperture access: a CPU's carry its attributes; one
 * with unspecified attributes is a DMA (another device model's, maybe on a
 * vCPU's thread), which uses the set of accesses no vCPU makes.
 */
static WCModel *wc_testdev_model_attrs(WCTestDevState *s, MemTxAttrs attrs)
{
    return wc_testdev_model_of(s, attrs.unspecified ? NULL : current_cpu);
}

/* Send what @m holds, counted under @counter (a WC_TESTDEV_CNT_DRAIN_*). */
static void wc_testdev_flush(WCTestDevState *s, WCModel *m, unsigned counter)
{
    if (m && wc_model_pending(m)) {
        trace_wc_testdev_flush(m - s->wc, wc_model_pending(m), counter);
        s->drain_counter = counter;
        wc_model_flush(m);
    }
}

/*
 * An access to the device drains the accessing vCPU's buffers first; x86
 * drains them on UC accesses, and PCIe reads do not pass posted writes.
 */
static void wc_testdev_drain(WCTestDevState *s)
{
    wc_testdev_flush(s, wc_testdev_model(s), WC_TESTDEV_CNT_DRAIN_DEVICE);
}

/* Every vCPU's buffers: before a reset or power state change acts. */
static void wc_testdev_drain_all(WCTestDevState *s)
{
    for (unsigned i = 0; s->wc_lines && i < s->nwc; i++) {
        wc_testdev_flush(s, &s->wc[i], WC_TESTDEV_CNT_DRAIN_DEVICE);
    }
}

static const unsigned wc_testdev_drain_counters[] = {
    [CPU_WC_DRAIN_FENCE] = WC_TESTDEV_CNT_DRAIN_FENCE,
    [CPU_WC_DRAIN_SERIALIZE] = WC_TESTDEV_CNT_DRAIN_SERIALIZE,
    [CPU_WC_DRAIN_LOCK] = WC_TESTDEV_CNT_DRAIN_LOCK,
    [CPU_WC_DRAIN_INTERRUPT] = WC_TESTDEV_CNT_DRAIN_INTERRUPT,
    [CPU_WC_DRAIN_UC_ACCESS] = WC_TESTDEV_CNT_DRAIN_UC_OTHER,
};

/* Regions whose own handlers order their accesses against WC data. */
static bool wc_testdev_orders_itself(WCTestDevState *s, MemoryRegion *mr)
{
    return mr == &s->regs ||
           mr == &s->ap[WC_TESTDEV_APERTURE_PREF].mr ||
           mr == &s->ap[WC_TESTDEV_APERTURE_NONPREF].mr;
}

/* A drain event of vCPU @cs (exec/cpu-wc.h). */
static void wc_testdev_cpu_drain(CPUWCSink *sink, CPUState *cs,
                                 CPUWCDrainReason reason, MemoryRegion *mr)
{
    WCTestDevState *s = container_of(sink, WCTestDevState, cpu_sink);
    WCModel *m = wc_testdev_model_of(s, cs);
    unsigned counter = WC_TESTDEV_CNT_DRAIN_UC_OTHER;

    if (!m || !wc_model_pending(m)) {
        return;
    }
    if (mr && wc_testdev_orders_itself(s, mr)) {
        cpu_wc_mark_pending(cs);
        return;
    }
    if (mr && memory_region_owner(mr) == OBJECT(s)) {
        counter = WC_TESTDEV_CNT_DRAIN_DEVICE;      /* MSI-X table, PBA */
    } else if (reason < ARRAY_SIZE(wc_testdev_drain_counters)) {
        counter = wc_testdev_drain_counters[reason];
    }
    wc_testdev_flush(s, m, counter);
}

/* WEAK and WEAK_SEED apply to every vCPU's buffers, each its own order. */
static void wc_testdev_set_weak(WCTestDevState *s)
{
    bool on = s->weak & WC_TESTDEV_WEAK_ORDER;

    for (unsigned i = 0; s->wc_lines && i < s->nwc; i++) {
        wc_model_set_weak(&s->wc[i], on,
                          s->weak_seed ^ (0x9e3779b97f4a7c15ULL * (i + 1)));
    }
    trace_wc_testdev_weak(s->weak, s->weak_seed);
}

static void wc_testdev_reset_counters(WCTestDevState *s)
{
    for (unsigned i = 0; i < WC_TESTDEV_NUM_APERTURES; i++) {
        memset(s->ap[i].counters, 0, sizeof(s->ap[i].counters));
    }
    trace_wc_testdev_reset_counters();
}

/* The 64-bit value of the aligned register slot that contains @addr. */
static uint64_t wc_testdev_reg_slot(WCTestDevState *s, hwaddr addr)
{
    hwaddr block;

    switch (addr) {
    case WC_TESTDEV_REG_ID:
        return WC_TESTDEV_ID_VALUE |
               ((uint64_t)WC_TESTDEV_VERSION_VALUE << 32);
    case WC_TESTDEV_REG_FEATURES:       /* CONTROL reads as zero */
        return (wc_testdev_memtypes_known() ?
                WC_TESTDEV_FEAT_MEMTYPE | WC_TESTDEV_FEAT_DRAIN_EVENTS : 0) |
               (s->wc_lines ?
                WC_TESTDEV_FEAT_WC_MODEL | WC_TESTDEV_FEAT_WEAK : 0);
    case WC_TESTDEV_REG_PREF_SIZE:
        return s->ap[WC_TESTDEV_APERTURE_PREF].size;
    case WC_TESTDEV_REG_NONPREF_SIZE:
        return s->ap[WC_TESTDEV_APERTURE_NONPREF].size;
    case WC_TESTDEV_REG_SCRATCH:
        return s->scratch;
    case WC_TESTDEV_REG_WC_LINES:
        return s->wc_lines;
    case WC_TESTDEV_REG_WEAK:
        return s->weak;
    case WC_TESTDEV_REG_WEAK_SEED:
        return s->weak_seed;
    }
    for (unsigned i = 0; i < WC_TESTDEV_NUM_APERTURES; i++) {
        block = WC_TESTDEV_REG_COUNTERS(i);
        if (addr >= block && addr < block + 8 * WC_TESTDEV_NUM_COUNTERS) {
            return s->ap[i].counters[(addr - block) / 8];
        }
    }
    return 0;
}

static uint64_t wc_testdev_reg_read(void *opaque, hwaddr addr, unsigned size)
{
    WCTestDevState *s = opaque;
    unsigned shift = (addr & 7) * 8;
    uint64_t val;

    wc_testdev_drain(s);
    val = wc_testdev_reg_slot(s, addr & ~7ULL) >> shift;
    if (size < 8) {
        val &= MAKE_64BIT_MASK(0, size * 8);
    }
    trace_wc_testdev_reg_read(addr, size, val);
    return val;
}

static void wc_testdev_control(WCTestDevState *s, uint32_t val)
{
    const uint32_t known = WC_TESTDEV_CTRL_RESET_COUNTERS |
                           WC_TESTDEV_CTRL_FLUSH;

    /* Every BAR0 access has drained the buffers already: FLUSH is free. */
    if (val & WC_TESTDEV_CTRL_RESET_COUNTERS) {
        wc_testdev_reset_counters(s);
    }
    if (val & ~known) {
        qemu_log_mask(LOG_GUEST_ERROR,
                      "wc-testdev: undefined control bits 0x%x ignored\n",
                      val & ~known);
    }
}

static void wc_testdev_reg_write(void *opaque, hwaddr addr, uint64_t val,
                                 unsigned size)
{
    WCTestDevState *s = opaque;

    trace_wc_testdev_reg_write(addr, size, val);
    wc_testdev_drain(s);
    if (addr == WC_TESTDEV_REG_CONTROL && size == 4) {
        wc_testdev_control(s, val);
    } else if ((addr & ~7ULL) == WC_TESTDEV_REG_SCRATCH) {
        s->scratch = deposit64(s->scratch, (addr & 7) * 8, size * 8, val);
    } else if (addr == WC_TESTDEV_REG_WEAK && size == 4) {
        s->weak = val & WC_TESTDEV_WEAK_ORDER;
        wc_testdev_set_weak(s);
    } else if ((addr & ~7ULL) == WC_TESTDEV_REG_WEAK_SEED) {
        s->weak_seed = deposit64(s->weak_seed, (addr & 7) * 8, size * 8, val);
        wc_testdev_set_weak(s);
    } else {
        qemu_log_mask(LOG_GUEST_ERROR,
                      "wc-testdev: write of %u bytes at 0x%" HWADDR_PRIx
                      " ignored (read-only, or not a whole register)\n",
                      size, addr);
    }
}

/*
 * Any size from 1 to 8 bytes: every access drains, reads return the bytes
 * of the register slot, and writes act only as the spec says.
 */
static const MemoryRegionOps wc_testdev_reg_ops = {
    .read = wc_testdev_reg_read,
    .write = wc_testdev_reg_write,
    .endianness = DEVICE_LITTLE_ENDIAN,
    .valid = {
        .min_access_size = 1,
        .max_access_size = 8,
    },
    .impl = {
        .min_access_size = 1,
        .max_access_size = 8,
    },
};

/* Is an access inside the aperture?  Logs a guest error if not. */
static bool wc_testdev_access_ok(WCTestDevAperture *ap, hwaddr addr,
                                 unsigned size, const char *what)
{
    if (addr + size <= ap->size) {
        return true;
    }
    qemu_log_mask(LOG_GUEST_ERROR,
                  "wc-testdev: %s of %u bytes at 0x%" HWADDR_PRIx
                  " beyond the end of %s (0x%" PRIx64 " bytes)\n",
                  what, size, addr, wc_testdev_aperture_names[ap->index],
                  ap->size);
    return false;
}

static MemTxResult wc_testdev_aperture_read(void *opaque, hwaddr addr,
                                            uint64_t *data, unsigned size,
                                            MemTxAttrs attrs)
{
    WCTestDevAperture *ap = opaque;
    unsigned type = wc_testdev_page_memtype(ap, attrs, false);

    if (!wc_testdev_access_ok(ap, addr, size, "read")) {
        *data = UINT64_MAX;
        return MEMTX_OK;
    }
    wc_testdev_flush(ap->dev, wc_testdev_model_attrs(ap->dev, attrs),
                     WC_TESTDEV_CNT_DRAIN_DEVICE);
    *data = ldn_le_p(ap->mem + addr, size);
    wc_testdev_count(ap, WC_TESTDEV_CNT_READS, WC_TESTDEV_CNT_READ_BYTES,
                     size);
    ap->counters[WC_TESTDEV_CNT_LAST_READ_TYPE] = type;
    wc_testdev_bus(ap, 1, size);
    trace_wc_testdev_aperture_read(ap->index, addr, size, *data, type);
    return MEMTX_OK;
}

/* A write that does not combine: UC, UC-, unknown or a cacheable type. */
static void wc_testdev_write_through(WCTestDevAperture *ap, hwaddr addr,
                                     uint64_t val, unsigned size,
                                     unsigned type)
{
    switch (type) {
    case WC_TESTDEV_MEMTYPE_UC:
    case WC_TESTDEV_MEMTYPE_UC_MINUS:
        wc_testdev_count(ap, WC_TESTDEV_CNT_UC_WRITES,
                         WC_TESTDEV_CNT_UC_BYTES, size);
        break;
    case WC_TESTDEV_MEMTYPE_UNKNOWN:
        ap->counters[WC_TESTDEV_CNT_UNKNOWN_WRITES]++;
        break;
    case WC_TESTDEV_MEMTYPE_WC:
        break;      /* WC model off: counted as WC, sent one by one */
    default:
        ap->counters[WC_TESTDEV_CNT_CACHED_WRITES]++;
        if (!ap->cached_logged) {
            ap->cached_logged = true;
            qemu_log_mask(LOG_GUEST_ERROR,
                          "wc-testdev: %s written through a cacheable "
                          "mapping (memory type %u)\n",
                          wc_testdev_aperture_names[ap->index], type);
        }
        break;
    }
    stn_le_p(ap->mem + addr, size, val);
    ap->dirty = true;
    wc_testdev_bus(ap, 1, size);
}

static MemTxResult wc_testdev_aperture_write(void *opaque, hwaddr addr,
                                             uint64_t val, unsigned size,
                                             MemTxAttrs attrs)
{
    WCTestDevAperture *ap = opaque;
    WCTestDevState *s = ap->dev;
    unsigned type = wc_testdev_memtype(ap, attrs, true);
    WCModel *m = wc_testdev_model_attrs(s, attrs);

    if (!wc_testdev_access_ok(ap, addr, size, "write")) {
        return MEMTX_OK;
    }
    trace_wc_testdev_aperture_write(ap->index, addr, size, val, type);
    wc_testdev_count(ap, WC_TESTDEV_CNT_WRITES, WC_TESTDEV_CNT_WRITE_BYTES,
                     size);
    ap->counters[WC_TESTDEV_CNT_LAST_WRITE_TYPE] =
        wc_testdev_page_memtype(ap, attrs, true);
    if (type == WC_TESTDEV_MEMTYPE_WC && m) {
        wc_testdev_count(ap, WC_TESTDEV_CNT_WC_STORES,
                         WC_TESTDEV_CNT_WC_BYTES, size);
        ap->dirty = true;
        wc_model_store(m, (uint64_t)ap->index << WC_TESTDEV_LINE_AP_SHIFT |
                       addr, size, val);
        if (current_cpu && !attrs.unspecified && wc_model_pending(m)) {
            cpu_wc_mark_pending(current_cpu);
        }
        return MEMTX_OK;
    }
    if (type == WC_TESTDEV_MEMTYPE_WC) {
        wc_testdev_count(ap, WC_TESTDEV_CNT_WC_STORES,
                         WC_TESTDEV_CNT_WC_BYTES, size);
    }
    if (!(s->weak & WC_TESTDEV_WEAK_ORDER) || !m || !wc_model_pending(m)) {
        wc_testdev_flush(s, m, WC_TESTDEV_CNT_DRAIN_DEVICE);
        wc_testdev_write_through(ap, addr, val, size, type);
        return MEMTX_OK;
    }
    /*
     * Weak order: this write overtakes the pending WC data, which then
     * arrives, even over the bytes this write stored if they overlap.
     */
    ap->counters[WC_TESTDEV_CNT_DOORBELL_EARLY]++;
    trace_wc_testdev_doorbell_early(ap->index, addr, wc_model_pending(m));
    wc_testdev_write_through(ap, addr, val, size, type);
    wc_testdev_flush(s, m, WC_TESTDEV_CNT_DRAIN_DEVICE);
    return MEMTX_OK;
}

static const MemoryRegionOps wc_testdev_aperture_ops = {
    .read_with_attrs = wc_testdev_aperture_read,
    .write_with_attrs = wc_testdev_aperture_write,
    .endianness = DEVICE_LITTLE_ENDIAN,
    .valid = {
        .min_access_size = 1,
        .max_access_size = 8,
        .unaligned = true,
    },
    .impl = {
        .min_access_size = 1,
        .max_access_size = 8,
        .unaligned = true,
    },
};

/* Is the size property of aperture @index one the device supports? */
static bool wc_testdev_validate_size(WCTestDevState *s, unsigned index,
                                     Error **errp)
{
    uint64_t size = s->ap[index].size;

    if (!is_power_of_2(size) || size < WC_TESTDEV_MIN_APERTURE ||
        size > WC_TESTDEV_MAX_APERTURE) {
        error_setg(errp, "%s-size must be a power of two between 4 KiB and "
                   "1 GiB, got 0x%" PRIx64, wc_testdev_aperture_names[index],
                   size);
        return false;
    }
    return true;
}

static bool wc_testdev_init_aperture(WCTestDevState *s, unsigned index,
                                     Error **errp)
{
    WCTestDevAperture *ap = &s->ap[index];
    g_autofree char *mr_name =
        g_strdup_printf("wc-testdev-%s", wc_testdev_aperture_names[index]);

    ap->dev = s;
    ap->index = index;
    /* Anonymous memory, so that a reset can give it back (see reset). */
    ap->mem = qemu_anon_ram_alloc(ap->size, NULL, false, false);
    if (!ap->mem) {
        error_setg(errp, "cannot allocate 0x%" PRIx64 " bytes for %s",
                   ap->size, wc_testdev_aperture_names[index]);
        return false;
    }
    memory_region_init_io(&ap->mr, OBJECT(s), &wc_testdev_aperture_ops, ap,
                          mr_name, ap->size);
    return true;
}

/*
 * Power management with D0 and D3hot, no reset on D3hot->D0, and Immediate
 * Readiness: an FLR or a power state change completes at once, so guests
 * need not wait 100 ms after each (Linux reads the bit only from devices
 * with a PM capability; vfio-pci resets the device at every open/close).
 */
static bool wc_testdev_init_pm(PCIDevice *pdev, Error **errp)
{
    uint8_t pm = WC_TESTDEV_PM_CAP_OFFSET;

    if (pci_pm_init(pdev, pm, errp) < 0) {
        return false;
    }
    pci_set_word(pdev->config + pm + PCI_PM_PMC, 3);    /* PM version 1.2 */
    pci_set_word(pdev->config + pm + PCI_PM_CTRL, PCI_PM_CTRL_NO_SOFT_RESET);
    pci_set_word(pdev->wmask + pm + PCI_PM_CTRL, PCI_PM_CTRL_STATE_MASK);
    pci_set_word(pdev->config + PCI_STATUS,
                 pci_get_word(pdev->config + PCI_STATUS) |
                 PCI_STATUS_IMM_READY);
    return true;
}

static int wc_testdev_init_msix(WCTestDevState *s, Error **errp)
{
    PCIDevice *pdev = PCI_DEVICE(s);
    WCTestDevAperture *ap = &s->ap[WC_TESTDEV_APERTURE_PREF];

    switch (s->msix_bar) {
    case WC_TESTDEV_BAR_MSIX:
        return msix_init_exclusive_bar(pdev, WC_TESTDEV_MSIX_VECTORS,
                                       WC_TESTDEV_BAR_MSIX, errp);
    case WC_TESTDEV_BAR_PREF:
        if (ap->size < 4 * WC_TESTDEV_MSIX_PAGE) {
            error_setg(errp, "msix-bar=2 needs bar2-size of 16 KiB or more");
            return -EINVAL;
        }
        return msix_init(pdev, WC_TESTDEV_MSIX_VECTORS,
                         &ap->mr, WC_TESTDEV_BAR_PREF,
                         ap->size - 2 * WC_TESTDEV_MSIX_PAGE,
                         &ap->mr, WC_TESTDEV_BAR_PREF,
                         ap->size - WC_TESTDEV_MSIX_PAGE, 0, errp);
    default:
        error_setg(errp, "msix-bar must be 1 (a BAR of its own) or 2 (the "
                   "end of the prefetchable aperture), got %u", s->msix_bar);
        return -EINVAL;
    }
}

static bool wc_testdev_init_irqs(WCTestDevState *s, Error **errp)
{
    PCIDevice *pdev = PCI_DEVICE(s);

    if (msi_init(pdev, 0, 1, true, false, errp) < 0) {
        return false;
    }
    if (wc_testdev_init_msix(s, errp) < 0) {
        msi_uninit(pdev);
        return false;
    }
    return true;
}

static void wc_testdev_realize(PCIDevice *pdev, Error **errp)
{
    WCTestDevState *s = WC_TESTDEV(pdev);

    if (s->wc_lines > WC_MODEL_MAX_LINES) {
        error_setg(errp, "wc-lines must be between 0 (no WC model) and %u, "
                   "got %u", WC_MODEL_MAX_LINES, s->wc_lines);
        return;
    }
    if (!wc_testdev_validate_size(s, WC_TESTDEV_APERTURE_PREF, errp) ||
        !wc_testdev_validate_size(s, WC_TESTDEV_APERTURE_NONPREF, errp)) {
        return;
    }
    if (s->qtest_memtype > WC_TESTDEV_MEMTYPE_WB) {
        error_setg(errp, "x-qtest-memtype must be a WC_TESTDEV_MEMTYPE_* "
                   "value (0 for none, 1 UC, 3 WC, ...), got %u",
                   s->qtest_memtype);
        return;
    }
    if (s->wc_lines) {
        s->nwc = current_machine->smp.max_cpus + 1;
        s->wc = g_new0(WCModel, s->nwc);
        for (unsigned i = 0; i < s->nwc; i++) {
            /* Cannot fail: wc_lines was checked above. */
            wc_model_init(&s->wc[i], s->wc_lines, wc_testdev_wc_sink, s);
        }
    }
    if (!wc_testdev_init_aperture(s, WC_TESTDEV_APERTURE_PREF, errp) ||
        !wc_testdev_init_aperture(s, WC_TESTDEV_APERTURE_NONPREF, errp)) {
        return;     /* instance_finalize frees what was allocated */
    }
    memory_region_init_io(&s->regs, OBJECT(s), &wc_testdev_reg_ops, s,
                          "wc-testdev-regs", WC_TESTDEV_REGS_SIZE);
    /* A PCIe endpoint with FLR, so that VFIO_DEVICE_RESET can reset it. */
    if (pcie_endpoint_cap_init(pdev, WC_TESTDEV_PCIE_CAP_OFFSET) < 0) {
        error_setg(errp, "cannot add the PCI Express capability");
        return;
    }
    pcie_cap_flr_init(pdev);
    if (!wc_testdev_init_pm(pdev, errp)) {
        return;
    }
    pci_register_bar(pdev, WC_TESTDEV_BAR_REGS,
                     PCI_BASE_ADDRESS_SPACE_MEMORY, &s->regs);
    pci_register_bar(pdev, WC_TESTDEV_BAR_PREF,
                     PCI_BASE_ADDRESS_SPACE_MEMORY |
                     PCI_BASE_ADDRESS_MEM_TYPE_64 |
                     PCI_BASE_ADDRESS_MEM_PREFETCH,
                     &s->ap[WC_TESTDEV_APERTURE_PREF].mr);
    pci_register_bar(pdev, WC_TESTDEV_BAR_NONPREF,
                     PCI_BASE_ADDRESS_SPACE_MEMORY |
                     PCI_BASE_ADDRESS_MEM_TYPE_64,
                     &s->ap[WC_TESTDEV_APERTURE_NONPREF].mr);
    if (!wc_testdev_init_irqs(s, errp)) {
        pcie_cap_exit(pdev);
        return;
    }
    /* Last: exit() is called only for a device that realized. */
    if (s->wc_lines) {
        s->cpu_sink.drain = wc_testdev_cpu_drain;
        cpu_wc_sink_add(&s->cpu_sink);
    }
}

static void wc_testdev_exit(PCIDevice *pdev)
{
    WCTestDevState *s = WC_TESTDEV(pdev);

    if (s->msix_bar == WC_TESTDEV_BAR_MSIX) {
        msix_uninit_exclusive_bar(pdev);
    } else {
        msix_uninit(pdev, &s->ap[WC_TESTDEV_APERTURE_PREF].mr,
                    &s->ap[WC_TESTDEV_APERTURE_PREF].mr);
    }
    msi_uninit(pdev);
    pcie_cap_exit(pdev);
    if (s->wc_lines) {
        cpu_wc_sink_del(&s->cpu_sink);
    }
}

/*
 * Configuration space.  A write may change the power state, reset the
 * function (FLR) or move a BAR: WC data every vCPU wrote arrives first.
 */
static uint32_t wc_testdev_read_config(PCIDevice *pdev, uint32_t addr,
                                       int len)
{
    wc_testdev_drain(WC_TESTDEV(pdev));
    return pci_default_read_config(pdev, addr, len);
}

static void wc_testdev_write_config(PCIDevice *pdev, uint32_t addr,
                                    uint32_t val, int len)
{
    wc_testdev_drain_all(WC_TESTDEV(pdev));
    pci_default_write_config(pdev, addr, val, len);
    pcie_cap_flr_write_config(pdev, addr, val, len);
}

/*
 * Aperture memory goes with the object, not at unrealize: a vCPU may still
 * be dispatching to the regions until the RCU-deferred flatview is gone.
 */
static void wc_testdev_instance_finalize(Object *obj)
{
    WCTestDevState *s = WC_TESTDEV(obj);

    for (unsigned i = 0; i < WC_TESTDEV_NUM_APERTURES; i++) {
        if (s->ap[i].mem) {
            qemu_anon_ram_free(s->ap[i].mem, s->ap[i].size);
            s->ap[i].mem = NULL;
        }
    }
    g_clear_pointer(&s->wc, g_free);
}

/*
 * Zero an aperture written since the last reset.  vfio-pci resets the
 * device at every open and close, so a reset must not write up to 1 GiB:
 * the pages go back to the host and come back zeroed when touched.
 */
static void wc_testdev_clear_aperture(WCTestDevAperture *ap)
{
    if (!ap->mem || !ap->dirty) {
        return;
    }
#ifdef CONFIG_LINUX
    /* Linux gives private anonymous pages back zeroed. */
    if (qemu_madvise(ap->mem, ap->size, QEMU_MADV_DONTNEED) == 0) {
        ap->dirty = false;
        return;
    }
#endif
    memset(ap->mem, 0, ap->size);
    ap->dirty = false;
}

static void wc_testdev_reset_hold(Object *obj, ResetType type)
{
    WCTestDevState *s = WC_TESTDEV(obj);

    for (unsigned i = 0; s->wc_lines && i < s->nwc; i++) {
        wc_model_discard(&s->wc[i]);
    }
    s->scratch = 0;
    s->weak = s->weak_prop ? WC_TESTDEV_WEAK_ORDER : 0;
    s->weak_seed = s->weak_seed_prop;
    wc_testdev_set_weak(s);
    for (unsigned i = 0; i < WC_TESTDEV_NUM_APERTURES; i++) {
        s->ap[i].cached_logged = false;
        wc_testdev_clear_aperture(&s->ap[i]);
    }
    wc_testdev_reset_counters(s);
}

/* Counters are readable from the host: qom-get PATH bar2-wc-stores, ... */
static void wc_testdev_instance_init(Object *obj)
{
    WCTestDevState *s = WC_TESTDEV(obj);

    for (unsigned i = 0; i < WC_TESTDEV_NUM_APERTURES; i++) {
        for (unsigned c = 0; c < WC_TESTDEV_NUM_COUNTERS; c++) {
            g_autofree char *name = g_strdup_printf(
                "%s-%s", wc_testdev_aperture_names[i],
                wc_testdev_counter_names[c]);

            object_property_add_uint64_ptr(obj, name, &s->ap[i].counters[c],
                                           OBJ_PROP_FLAG_READ);
        }
    }
}

/*
 * Each aperture holds up to 1 GiB of device memory, and the counters
 * describe one guest run as seen by one host: migrating them has no use.
 */
static const VMStateDescription vmstate_wc_testdev = {
    .name = TYPE_WC_TESTDEV,
    .unmigratable = 1,
};

static const Property wc_testdev_properties[] = {
    DEFINE_PROP_SIZE("bar2-size", WCTestDevState,
                     ap[WC_TESTDEV_APERTURE_PREF].size, 4 * MiB),
    DEFINE_PROP_SIZE("bar4-size", WCTestDevState,
                     ap[WC_TESTDEV_APERTURE_NONPREF].size, 4 * MiB),
    DEFINE_PROP_UINT32("wc-lines", WCTestDevState, wc_lines, 4),
    DEFINE_PROP_UINT8("msix-bar", WCTestDevState, msix_bar,
                      WC_TESTDEV_BAR_MSIX),
    DEFINE_PROP_BOOL("x-weak-order", WCTestDevState, weak_prop, false),
    DEFINE_PROP_UINT64("x-weak-seed", WCTestDevState, weak_seed_prop, 1),
    DEFINE_PROP_UINT8("x-qtest-memtype", WCTestDevState, qtest_memtype, 0),
};

static void wc_testdev_class_init(ObjectClass *klass, void *data)
{
    DeviceClass *dc = DEVICE_CLASS(klass);
    PCIDeviceClass *k = PCI_DEVICE_CLASS(klass);
    ResettableClass *rc = RESETTABLE_CLASS(klass);

    k->realize = wc_testdev_realize;
    k->exit = wc_testdev_exit;
    k->config_read = wc_testdev_read_config;
    k->config_write = wc_testdev_write_config;
    k->vendor_id = WC_TESTDEV_VENDOR_ID;
    k->device_id = WC_TESTDEV_DEVICE_ID;
    k->revision = WC_TESTDEV_REVISION;
    k->class_id = WC_TESTDEV_CLASS;
    rc->phases.hold = wc_testdev_reset_hold;
    dc->desc = "Write-combining test device";
    dc->vmsd = &vmstate_wc_testdev;
    device_class_set_props(dc, wc_testdev_properties);
    set_bit(DEVICE_CATEGORY_MISC, dc->categories);
}

static const TypeInfo wc_testdev_info = {
    .name = TYPE_WC_TESTDEV,
    .parent = TYPE_PCI_DEVICE,
    .instance_size = sizeof(WCTestDevState),
    .instance_init = wc_testdev_instance_init,
    .instance_finalize = wc_testdev_instance_finalize,
    .class_init = wc_testdev_class_init,
    .interfaces = (InterfaceInfo[]) {
        { INTERFACE_PCIE_DEVICE },
        { },
    },
};

static void wc_testdev_register_types(void)
{
    type_register_static(&wc_testdev_info);
}

type_init(wc_testdev_register_types)
