#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Seeded, bounded fuzzer for wc-testdev, driven over QEMU's qtest protocol.

Meant for a QEMU built with AddressSanitizer and UBSan.  There is no guest:
QEMU runs under QEMU's own qtest machine (python/qemu/machine of the QEMU
tree, -accel qtest), every access is a qtest command and counters are read
with QMP qom-get.  The seed picks the run's device (wc-lines 0-16, -smp
1-4, the aperture sizes, x-weak-order and x-weak-seed, always
x-qtest-memtype=3 so that qtest writes to BAR2 are WC stores and BAR4's
stay of unknown type) and one seeded random.Random decides every operation:
aperture reads and writes of 1/2/4/8 bytes (inside, across and past the
end), WC bursts (whole 64-byte lines of 8-byte stores, lines in any order
of their stores, partial lines, unaligned lines crossing into the next,
lines of mixed store sizes, bulk qtest writes of up to 200 bytes), stores
to more lines than there are buffers (evictions), doorbells (a BAR4 write
while BAR2 data is pending), BAR0 reads and writes of every size at any
offset (CONTROL, SCRATCH, WEAK, WEAK_SEED, counters), MSI-X table and PBA
accesses, configuration space reads, PM state changes (D0 <-> D3hot, BARs
off in D3hot, no reset on the way back), Function Level Resets, system
resets and memory-decode toggles, often with WC data pending, and QMP
qom-get of counters.

A model predicts every value read and every counter, following
docs/specs/wc-testdev.rst: aperture contents (zero after reset, all ones
for an access crossing the end, which is ignored), registers, the MSI-X
table, all 26 counters of both apertures, and the write-combining buffers
of the one buffer set that accesses by no vCPU (qtest's) use: a port of
hw/misc/wc-model.c (slot allocation, eviction of the oldest line, full
lines leaving at once, and in weak order the seeded splitmix64 and
Fisher-Yates shuffle that order lines and the 8-byte chunks of partial
lines, seeded with WEAK_SEED ^ 0x9e3779b97f4a7c15 * (index + 1), qtest's
set's index being the number of vCPUs, on every WEAK or WEAK_SEED write
and at reset).  What drains the buffers is
the spec's: any BAR0 access, an aperture read, a non-WC aperture write
(in weak order after it takes effect, counted as doorbell-early), any
configuration space access; resets discard them (an FLR's configuration
write drains first); QMP reads and the MSI-X table do not.  The order of
deliveries, which no counter shows, is checked in QEMU's trace of
wc_testdev_burst, _flush, _weak and _doorbell_early (-trace ...,file=).
The model splits accesses as QEMU's memory core does: BAR0, the MSI-X
table and PBA take naturally aligned pieces of up to 8 bytes (the MSI-X
regions reject pieces under 4 bytes: they read 0), unassigned space
aligned pieces of up to 4, the apertures any access of up to 8 bytes
whole.  The register map comes from include/hw/misc/wc-testdev.h, as the
device and the guest take it, and PCI's from the QEMU tree's pci_regs.h
(read with host/cheader.py).

A run fails if a read, a counter or the trace disagrees with the model,
QEMU dies or stops answering for 30 s, or its output holds a sanitizer
report (the sanitizers halt QEMU at the first one; a report is named
first, before the failure it may have caused).  Output is TAP, one line
per run (seed) and a comment with what the run reached; exit status 0
all passed, 1 a run failed, 2 usage error.
"""
import argparse
import collections
import os
import random
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import (TYPE_CHECKING, Callable, Dict, Iterator, List, NamedTuple,
                    Optional, Tuple)

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "host"))
from cheader import Value, read_defines  # noqa: E402

if TYPE_CHECKING:   # importable once main() has put QEMU's python/ on the path
    from qemu.machine.qtest import QEMUQtestMachine

TIMEOUT = 30
CHECK_EVERY = 1000
# Where the register map and the PCI configuration space are defined.
REGISTER_MAP = Path(__file__).resolve().parent.parent / \
    "include/hw/misc/wc-testdev.h"
PCI_REGS = "include/standard-headers/linux/pci_regs.h"   # in QEMU's tree
# PC configuration mechanism #1, and q35's 32-bit PCI hole.
CONFIG_ADDRESS, CONFIG_DATA = 0xcf8, 0xcfc
MMIO_BASE, MMIO_END = 0xc0000000, 0xfec00000
SANITIZER_MARKS = ("AddressSanitizer", "LeakSanitizer", "runtime error:",
                   "SUMMARY:")
QOM_PATH = "/machine/peripheral/wctd"
# The device's trace events that show what the counters cannot: the order
# of deliveries, the buffer set drained, reseeds and early doorbells.
TRACE_EVENTS = ("wc_testdev_burst", "wc_testdev_flush", "wc_testdev_weak",
                "wc_testdev_doorbell_early")
TRACE_LINE = re.compile(r"^(?:\d+@[\d.]+:)?(wc_testdev_\w+)\s*(.*)$")
TRACE_NUMBER = re.compile(r"0x[0-9a-fA-F]+|\d+")
# Aperture sizes a run picks from (bar2-size, bar4-size).
APERTURE_SIZES = (4 << 10, 8 << 10, 64 << 10, 1 << 20, 4 << 20)
M64 = (1 << 64) - 1
GOLDEN = 0x9e3779b97f4a7c15     # splitmix64's increment; the set's seed mix


class Defines:
    """A header's defines (read_defines()), by name less a prefix:
    Defines(read_defines(path), "PCI_").COMMAND is PCI_COMMAND."""

    def __init__(self, values: Dict[str, Value], prefix: str) -> None:
        self._values, self._prefix = values, prefix

    def __getattr__(self, name: str) -> int:
        value = self._values.get(self._prefix + name)
        if not isinstance(value, int):
            raise AttributeError(f"no integer define {self._prefix}{name}")
        setattr(self, name, value)      # the next lookup does not come here
        return value

    def strings(self, name: str) -> List[str]:
        value = self._values.get(self._prefix + name)
        if not isinstance(value, list):
            raise AttributeError(f"no string list {self._prefix}{name}")
        return value


# Set by load_headers(): the device's register map and PCI's.
WC: Defines
PCI: Defines
COUNTER_NAMES: List[str]
APERTURES: Dict[int, Tuple[int, str]]   # BAR -> (aperture index, QOM name)
APERTURE_BAR: Dict[int, int]            # aperture index -> BAR


def load_headers(qemu_src: str) -> None:
    global WC, PCI, COUNTER_NAMES, APERTURES, APERTURE_BAR
    WC = Defines(read_defines(REGISTER_MAP), "WC_TESTDEV_")
    PCI = Defines(read_defines(Path(qemu_src) / PCI_REGS), "PCI_")
    COUNTER_NAMES = WC.strings("COUNTER_NAMES")
    names = WC.strings("APERTURE_NAMES")
    APERTURES = {bar: (index, names[index]) for bar, index in
                 ((WC.BAR_PREF, WC.APERTURE_PREF),
                  (WC.BAR_NONPREF, WC.APERTURE_NONPREF))}
    APERTURE_BAR = {index: bar for bar, (index, _name) in APERTURES.items()}


def counters_at(bar: int) -> int:
    """BAR0 offset of the counter block of aperture BAR @bar."""
    return WC.REG_COUNTERS_BASE + \
        WC.REG_COUNTERS_STRIDE * APERTURES[bar][0]


Bars = Dict[int, Tuple[int, int]]       # BAR -> (base, size)
TraceEvent = Tuple[str, Tuple[int, ...]]


class Failure(Exception):
    """The run failed; the message says how."""


def mask(nbytes: int) -> int:
    return (1 << 8 * nbytes) - 1


class RunConfig(NamedTuple):
    """The device a run fuzzes, drawn from its seed (run_config())."""
    wc_lines: int
    smp: int                    # vCPUs: qtest's buffer set is the last
    weak_order: bool            # x-weak-order: WEAK.ORDER at reset
    weak_seed: int              # x-weak-seed: WEAK_SEED at reset
    bar2_size: int
    bar4_size: int

    def describe(self) -> str:
        return (f"wc-lines {self.wc_lines}, smp {self.smp}, weak order "
                f"{'on' if self.weak_order else 'off'} at reset, seed "
                f"0x{self.weak_seed:x}, BAR2 {self.bar2_size >> 10} KiB, "
                f"BAR4 {self.bar4_size >> 10} KiB")


def run_config(seed: int, wc_lines: Optional[int]) -> RunConfig:
    """The run's device, from a generator of its own so that the choice
    does not shift the operations; --wc-lines overrides wc-lines."""
    rng = random.Random(f"wc-testdev-config-{seed}")
    lines = 0 if rng.random() < 0.06 else rng.randint(1, 16)
    return RunConfig(
        wc_lines=lines if wc_lines is None else wc_lines,
        smp=rng.randint(1, 4), weak_order=rng.random() < 0.3,
        weak_seed=rng.choice((1, rng.getrandbits(64))),
        bar2_size=rng.choice(APERTURE_SIZES),
        bar4_size=rng.choice(APERTURE_SIZES))


# Why data leaves the WC buffers (wc-model.h's WCModelCause).
FULL, EVICT, FLUSH = "full", "evict", "flush"
# A delivery: aperture index, line offset, the line's bytes, the mask of
# the bytes delivered, the cause.
Sink = Callable[[int, int, bytearray, int, str], None]


class WCLine:
    """One line buffer of hw/misc/wc-model.c."""
    __slots__ = ("busy", "key", "mask", "seq", "data")

    def __init__(self, size: int) -> None:
        self.busy, self.key, self.mask, self.seq = False, (0, 0), 0, 0
        self.data = bytearray(size)


class WCBuffers:
    """One buffer set of hw/misc/wc-model.c, step for step: the slots are
    taken lowest free first, a new line when all are busy evicts the one
    allocated first, and the weak order's splitmix64 and Fisher-Yates
    shuffle draw exactly the numbers the C does, so that a seed gives
    the device's order.  Lines are (aperture index, line offset)."""

    def __init__(self, nlines: int, line_size: int, sink: Sink) -> None:
        self.line_size, self.full = line_size, (1 << line_size) - 1
        self.lines = [WCLine(line_size) for _ in range(nlines)]
        self.busy = self.next_seq = self.rng = 0
        self.weak = False
        self.sink = sink

    def set_weak(self, weak: bool, seed: int) -> None:
        self.weak, self.rng = weak, seed & M64

    def random(self) -> int:
        """splitmix64: wc_model_random()."""
        self.rng = z = (self.rng + GOLDEN) & M64
        z = ((z ^ (z >> 30)) * 0xbf58476d1ce4e5b9) & M64
        z = ((z ^ (z >> 27)) * 0x94d049bb133111eb) & M64
        return z ^ (z >> 31)

    def shuffle(self, n: int) -> List[int]:
        """wc_model_shuffle(): a random order of 0 .. @n - 1."""
        order = list(range(n))
        for i in range(n, 1, -1):
            j = self.random() % i
            order[i - 1], order[j] = order[j], order[i - 1]
        return order

    def send(self, line: WCLine, cause: str) -> None:
        line.busy = False
        self.busy -= 1
        self.sink(line.key[0], line.key[1], line.data, line.mask, cause)

    def send_chunks(self, line: WCLine) -> None:
        """A partial line flushed in weak order: its 8-byte chunks in a
        shuffled order, the empty ones skipped."""
        line.busy = False
        self.busy -= 1
        for chunk in self.shuffle(self.line_size // 8):
            bits = line.mask & (0xff << 8 * chunk)
            if bits:
                self.sink(line.key[0], line.key[1], line.data, bits, FLUSH)

    def find(self, key: Tuple[int, int]) -> Optional[WCLine]:
        for line in self.lines:
            if line.busy and line.key == key:
                return line
        return None

    def oldest(self) -> WCLine:
        busy = [line for line in self.lines if line.busy]
        return min(busy, key=lambda line: line.seq)

    def alloc(self, key: Tuple[int, int]) -> WCLine:
        free = [line for line in self.lines if not line.busy]
        if free:
            line = free[0]
        else:
            line = self.oldest()
            self.send(line, EVICT)
        line.busy, line.key, line.mask = True, key, 0
        line.seq = self.next_seq
        self.next_seq += 1
        self.busy += 1
        return line

    def store_line(self, ap: int, addr: int, data: bytes) -> None:
        """Bytes that all fall into one line."""
        off = addr % self.line_size
        key = (ap, addr - off)
        line = self.find(key) or self.alloc(key)
        line.data[off:off + len(data)] = data
        line.mask |= ((1 << len(data)) - 1) << off
        if line.mask == self.full and not self.weak:
            self.send(line, FULL)

    def store(self, ap: int, addr: int, size: int, value: int) -> None:
        """One WC store of @size bytes (1 to 8) at aperture offset @addr,
        split where it crosses into the next line."""
        data = value.to_bytes(size, "little")
        first = self.line_size - addr % self.line_size
        if first >= size:
            self.store_line(ap, addr, data)
            return
        self.store_line(ap, addr, data[:first])
        self.store_line(ap, addr + first, data[first:])

    def flush(self) -> None:
        """Every buffered line: oldest first, or in weak order the slots
        in a shuffled order, partial lines as shuffled chunks."""
        if not self.weak:
            while self.busy:
                self.send(self.oldest(), FLUSH)
            return
        for index in self.shuffle(len(self.lines)):
            line = self.lines[index]
            if not line.busy:
                continue
            if line.mask == self.full:
                self.send(line, FLUSH)
            else:
                self.send_chunks(line)

    def discard(self) -> None:
        for line in self.lines:
            line.busy = False
        self.busy = 0


class MsixLayout(NamedTuple):
    """Where BAR1 holds the MSI-X table and PBA (the MSI-X capability)."""
    vectors: int
    table: int                  # offsets in BAR1
    pba: int

    def pba_size(self) -> int:
        """QEMU's PBA region: a bit a vector, in whole 64-bit words."""
        return (self.vectors + 63) // 64 * 8


# What the regions of the device's BARs are, for the model's pieces.
REGS, APERTURE, MSIX_TABLE, MSIX_PBA_REGION = "regs", "aperture", \
    "msix-table", "msix-pba"
Piece = Tuple[Optional[str], int, int, int]     # kind, BAR, offset, length


class Model:
    """What wc-testdev must hold and answer after the accesses so far, as
    docs/specs/wc-testdev.rst says, for accesses made by no vCPU (qtest):
    one buffer set, the last, and no CPU drain events."""

    def __init__(self, bars: Bars, msix: MsixLayout,
                 cfg: RunConfig) -> None:
        self.bars = bars                # BAR number -> (base, size)
        self.msix_layout = msix
        self.cfg = cfg
        self.set_index = cfg.smp        # qtest's buffers: after the vCPUs'
        self.mem_enabled = False
        self.d3 = False
        self.op = 0                     # the operation being modelled
        self.trace: List[Tuple[int, str, Tuple[int, ...]]] = []
        self.stats: Dict[str, int] = collections.Counter()
        self.wc = WCBuffers(cfg.wc_lines, WC.LINE_SIZE, self.deliver) \
            if cfg.wc_lines else None
        self.reset()
        self.trace.clear()              # QEMU traced its first reset already

    def expect(self, event: str, *args: int) -> None:
        """A trace event the device must emit next."""
        self.trace.append((self.op, event, args))

    def reset(self) -> None:
        """Device reset (FLR, system reset): WC buffers discarded, not
        delivered; apertures, scratch, the MSI-X table and counters
        cleared; WEAK and WEAK_SEED back to the properties' values."""
        if self.wc:
            self.wc.discard()
        self.clear_counters()
        self.mem = {bar: bytearray(self.bars[bar][1]) for bar in APERTURES}
        self.scratch = 0
        # MSI-X reset: every vector masked, nothing else set.
        self.msix = bytearray(self.msix_layout.vectors * PCI.MSIX_ENTRY_SIZE)
        for vector in range(self.msix_layout.vectors):
            self.msix[vector * PCI.MSIX_ENTRY_SIZE +
                      PCI.MSIX_ENTRY_VECTOR_CTRL] = \
                PCI.MSIX_ENTRY_CTRL_MASKBIT
        self.weak = WC.WEAK_ORDER if self.cfg.weak_order else 0
        self.weak_seed = self.cfg.weak_seed
        self.set_weak()

    def set_weak(self) -> None:
        """WEAK or WEAK_SEED written, or reset: the order restarts."""
        self.expect("wc_testdev_weak", self.weak, self.weak_seed)
        if self.wc:
            self.wc.set_weak(bool(self.weak & WC.WEAK_ORDER), self.weak_seed ^
                             GOLDEN * (self.set_index + 1))

    def drain(self) -> None:
        """An access to the device that drains qtest's buffers."""
        if self.wc and self.wc.busy:
            self.expect("wc_testdev_flush", self.set_index, self.wc.busy,
                        WC.CNT_DRAIN_DEVICE)
            self.stats["weak drains" if self.wc.weak else "drains"] += 1
            self.wc.flush()

    def deliver(self, ap: int, off: int, data: bytearray, bits: int,
                cause: str) -> None:
        """A line, or a chunk of one, leaves the buffers for aperture @ap."""
        bar = APERTURE_BAR[ap]
        c, mem = self.counters[bar], self.mem[bar]
        c[{FULL: WC.CNT_DRAIN_FULL, EVICT: WC.CNT_DRAIN_EVICT,
           FLUSH: WC.CNT_DRAIN_DEVICE}[cause]] += 1
        full = bits == (1 << WC.LINE_SIZE) - 1
        if full:
            mem[off:off + WC.LINE_SIZE] = data
            c[WC.CNT_FULL_BURSTS] += 1
            self.bus(c, 1, WC.LINE_SIZE)
        else:
            rest = bits
            while rest:
                i = (rest & -rest).bit_length() - 1
                mem[off + i] = data[i]
                rest &= rest - 1
            valid, runs = bits.bit_count(), (bits & ~(bits << 1)).bit_count()
            c[WC.CNT_PARTIAL_BURSTS] += 1
            c[WC.CNT_PARTIAL_BYTES] += valid
            self.bus(c, runs, valid)
        self.stats[f"{'full' if full else 'partial'} {cause}"] += 1
        self.expect("wc_testdev_burst", ap, off, bits, int(full))

    def region_at(self, addr: int) -> Tuple[Optional[str], int, int]:
        """(kind or None for unassigned, BAR, offset in the region)."""
        if not self.mem_enabled or self.d3:
            return None, -1, addr
        for bar, (base, size) in self.bars.items():
            if base <= addr < base + size:
                off = addr - base
                if bar == WC.BAR_REGS:
                    return REGS, bar, off
                if bar in APERTURES:
                    return APERTURE, bar, off
                table, pba = self.msix_layout.table, self.msix_layout.pba
                if table <= off < table + len(self.msix):
                    return MSIX_TABLE, bar, off - table
                if pba <= off < pba + self.msix_layout.pba_size():
                    return MSIX_PBA_REGION, bar, off - pba
                break                           # a hole in BAR1
        return None, -1, addr

    def pieces(self, addr: int, size: int) -> Iterator[Piece]:
        """(kind, BAR, offset, length) as QEMU's memory core splits it."""
        while size:
            kind, bar, off = self.region_at(addr)
            n = min(size, 4 if kind is None else 8)
            if kind != APERTURE and off & -off:     # aligned pieces only
                n = min(n, off & -off)
            n = 1 << (n.bit_length() - 1)
            yield kind, bar, off, n
            addr, size = addr + n, size - n

    def reg_slot(self, off: int) -> int:
        # FEATURES: no MEMTYPE nor DRAIN_EVENTS, qtest is not x86 TCG.
        fixed = {WC.REG_ID: WC.ID_VALUE | WC.VERSION_VALUE << 32,
                 WC.REG_FEATURES: WC.FEAT_WC_MODEL | WC.FEAT_WEAK
                 if self.cfg.wc_lines else 0,
                 WC.REG_PREF_SIZE: self.bars[WC.BAR_PREF][1],
                 WC.REG_NONPREF_SIZE: self.bars[WC.BAR_NONPREF][1],
                 WC.REG_SCRATCH: self.scratch,
                 WC.REG_WC_LINES: self.cfg.wc_lines,
                 WC.REG_WEAK: self.weak,
                 WC.REG_WEAK_SEED: self.weak_seed}
        if off in fixed:
            return fixed[off]
        for bar in APERTURES:
            index = (off - counters_at(bar)) // 8
            if 0 <= index < WC.NUM_COUNTERS:
                return self.counters[bar][index]
        return 0

    @staticmethod
    def bus(c: List[int], txns: int, payload: int) -> None:
        c[WC.CNT_BUS_TXNS] += txns
        c[WC.CNT_BUS_BYTES] += payload + txns * WC.BUS_OVERHEAD

    def read(self, addr: int, size: int) -> int:
        value = shift = 0
        for kind, bar, off, n in self.pieces(addr, size):
            value |= self.read_piece(kind, bar, off, n) << shift
            shift += 8 * n
        return value

    def read_piece(self, kind: Optional[str], bar: int, off: int,
                   n: int) -> int:
        if kind == REGS:
            self.drain()
            return self.reg_slot(off & ~7) >> 8 * (off & 7) & mask(n)
        if kind == APERTURE:
            if off + n > self.bars[bar][1]:
                return mask(n)                  # crosses the end: ignored
            self.drain()
            c = self.counters[bar]
            c[WC.CNT_READS] += 1
            c[WC.CNT_READ_BYTES] += n
            # x-qtest-memtype acts on qtest's writes to BAR2; reads stay of
            # unknown type, as every qtest access.
            c[WC.CNT_LAST_READ_TYPE] = WC.MEMTYPE_UNKNOWN
            self.bus(c, 1, n)
            return int.from_bytes(self.mem[bar][off:off + n], "little")
        if kind == MSIX_TABLE and n >= 4:       # no drain: not a vCPU's
            return int.from_bytes(self.msix[off:off + n], "little")
        return 0            # unassigned, the PBA, MSI-X pieces under 4 bytes

    def write(self, addr: int, size: int, value: int) -> None:
        for kind, bar, off, n in self.pieces(addr, size):
            piece, value = value & mask(n), value >> 8 * n
            if kind == REGS:
                self.drain()
                self.reg_write(off, n, piece)
            elif kind == APERTURE and off + n <= self.bars[bar][1]:
                self.aperture_write(bar, off, n, piece)
            elif kind == MSIX_TABLE and n >= 4:
                self.msix[off:off + n] = piece.to_bytes(n, "little")

    def aperture_write(self, bar: int, off: int, n: int, value: int) -> None:
        c = self.counters[bar]
        c[WC.CNT_WRITES] += 1
        c[WC.CNT_WRITE_BYTES] += n
        if bar == WC.BAR_PREF:                  # x-qtest-memtype=3: WC
            c[WC.CNT_LAST_WRITE_TYPE] = WC.MEMTYPE_WC
            c[WC.CNT_WC_STORES] += 1
            c[WC.CNT_WC_BYTES] += n
            if self.wc:
                self.wc.store(APERTURES[bar][0], off, n, value)
                return
            self.store(bar, off, n, value)      # no model: sent one by one
            return
        c[WC.CNT_LAST_WRITE_TYPE] = WC.MEMTYPE_UNKNOWN
        c[WC.CNT_UNKNOWN_WRITES] += 1
        if self.weak & WC.WEAK_ORDER and self.wc and self.wc.busy:
            # Weak order: this write overtakes the pending WC data.
            c[WC.CNT_DOORBELL_EARLY] += 1
            self.stats["early doorbells"] += 1
            self.expect("wc_testdev_doorbell_early", APERTURES[bar][0], off,
                        self.wc.busy)
            self.store(bar, off, n, value)
            self.drain()
            return
        self.drain()
        self.store(bar, off, n, value)

    def store(self, bar: int, off: int, n: int, value: int) -> None:
        """A write that does not combine: one bus transaction."""
        self.mem[bar][off:off + n] = value.to_bytes(n, "little")
        self.bus(self.counters[bar], 1, n)

    def reg_write(self, off: int, n: int, value: int) -> None:
        if off == WC.REG_CONTROL and n == 4:
            if value & WC.CTRL_RESET_COUNTERS:
                self.clear_counters()
        elif off & ~7 == WC.REG_SCRATCH:
            self.scratch = deposit(self.scratch, off & 7, n, value)
        elif off == WC.REG_WEAK and n == 4:
            self.weak = value & WC.WEAK_ORDER
            self.set_weak()
        elif off & ~7 == WC.REG_WEAK_SEED:
            self.weak_seed = deposit(self.weak_seed, off & 7, n, value)
            self.set_weak()

    def clear_counters(self) -> None:
        self.counters: Dict[int, List[int]] = \
            {bar: [0] * WC.NUM_COUNTERS for bar in APERTURES}

    def pending(self) -> int:
        return self.wc.busy if self.wc else 0


def deposit(old: int, byte: int, n: int, value: int) -> int:
    """@old with its bytes @byte .. @byte + @n - 1 replaced by @value."""
    shift = 8 * byte
    return old & ~(mask(n) << shift) | value << shift


class QTest:
    """qtest commands through QEMU's qtest machine: one command, one
    answer, "OK [value]" or a failure."""

    def __init__(self, vm: "QEMUQtestMachine") -> None:
        self.vm = vm

    def answer(self, line: str) -> str:
        try:
            answer = self.vm.qtest(line).strip()
        except TimeoutError:
            raise Failure(f"QEMU did not answer '{line}' in {TIMEOUT} s") \
                from None
        except OSError as e:
            raise Failure(f"qtest connection: {e}") from None
        if not answer:
            raise Failure(f"QEMU closed the qtest connection at '{line}'")
        if not answer.startswith("OK"):
            raise Failure(f"qtest '{line}' answered '{answer}'")
        return answer

    def cmd(self, line: str) -> Optional[int]:
        answer = self.answer(line)
        return int(answer.split()[1], 16) if " " in answer else None

    def read(self, addr: int, size: int) -> int:
        value = self.cmd("read%s 0x%x" % ("bwlq"[size.bit_length() - 1],
                                          addr))
        assert value is not None
        return value

    def write(self, addr: int, size: int, value: int) -> None:
        self.cmd("write%s 0x%x 0x%x" % ("bwlq"[size.bit_length() - 1], addr,
                                        value))

    def read_bytes(self, addr: int, size: int) -> bytes:
        """One qtest read of @size bytes: the memory core splits it."""
        answer = self.answer(f"read 0x{addr:x} {size}").split()
        if len(answer) != 2 or not answer[1].startswith("0x"):
            raise Failure(f"qtest read answered '{' '.join(answer)}'")
        return bytes.fromhex(answer[1][2:])

    def write_bytes(self, addr: int, data: bytes) -> None:
        self.answer(f"write 0x{addr:x} {len(data)} 0x{data.hex()}")


def qmp(vm: "QEMUQtestMachine", command: str, **args: object) -> object:
    """A QMP command's answer, or the run's failure."""
    from qemu.qmp import QMPError
    try:
        return vm.cmd(command, args)
    except QMPError as e:
        raise Failure(f"QMP {command} {args}: {e}") from None
    except (TimeoutError, OSError, EOFError) as e:
        raise Failure(f"QMP {command} {args}: no answer "
                      f"({type(e).__name__} {e})") from None


def qom_get(vm: "QEMUQtestMachine", prop: str) -> object:
    """A property of the device, over QMP."""
    return qmp(vm, "qom-get", path=QOM_PATH, property=prop)


class Device:
    """wc-testdev's configuration space, through mechanism #1 on bus 0.
    Every access to the device's own configuration space calls
    @on_access first (the model's drain)."""

    def __init__(self, qt: QTest) -> None:
        self.qt = qt
        self.on_access: Callable[[], None] = lambda: None
        for slot in range(32):
            self.devfn = slot << 3
            if self.cfg_read(PCI.VENDOR_ID, 4) == \
                    WC.DEVICE_ID << 16 | WC.VENDOR_ID:
                break
        else:
            raise Failure("no wc-testdev on bus 0")
        self.pm = self.find_cap(PCI.CAP_ID_PM)
        self.pcie = self.find_cap(PCI.CAP_ID_EXP)
        self.msix = self.msix_layout(self.find_cap(PCI.CAP_ID_MSIX))

    def select(self, off: int, size: int) -> Tuple[int, str]:
        """Point CONFIG_ADDRESS at @off: the data port and qtest suffix."""
        self.qt.cmd("outl 0x%x 0x%x" % (CONFIG_ADDRESS, 0x80000000 |
                                         self.devfn << 8 | off & 0xfc))
        return CONFIG_DATA + (off & 3), {1: "b", 2: "w", 4: "l"}[size]

    def cfg_read(self, off: int, size: int) -> int:
        port, suffix = self.select(off, size)
        self.on_access()
        value = self.qt.cmd(f"in{suffix} 0x{port:x}")
        assert value is not None
        return value

    def cfg_write(self, off: int, size: int, value: int) -> None:
        port, suffix = self.select(off, size)
        self.on_access()
        self.qt.cmd(f"out{suffix} 0x{port:x} 0x{value:x}")

    def find_cap(self, cap_id: int) -> int:
        ptr = self.cfg_read(PCI.CAPABILITY_LIST, 1)
        while ptr:
            if self.cfg_read(ptr, 1) == cap_id:
                return ptr
            ptr = self.cfg_read(ptr + PCI.CAP_LIST_NEXT, 1)
        raise Failure(f"capability 0x{cap_id:02x} missing")

    def msix_layout(self, cap: int) -> MsixLayout:
        """The table and PBA: in BAR1, 4 vectors, as the spec says."""
        vectors = (self.cfg_read(cap + PCI.MSIX_FLAGS, 2) &
                   PCI.MSIX_FLAGS_QSIZE) + 1
        table = self.cfg_read(cap + PCI.MSIX_TABLE, 4)
        pba = self.cfg_read(cap + PCI.MSIX_PBA, 4)
        if vectors != 4 or table & PCI.MSIX_TABLE_BIR != WC.BAR_MSIX or \
                pba & PCI.MSIX_PBA_BIR != WC.BAR_MSIX:
            raise Failure(f"MSI-X: {vectors} vectors, table 0x{table:x}, "
                          f"PBA 0x{pba:x}: expected 4 vectors in BAR"
                          f"{WC.BAR_MSIX}")
        return MsixLayout(vectors, table & PCI.MSIX_TABLE_OFFSET,
                          pba & PCI.MSIX_PBA_OFFSET)

    def probe_bar(self, bar: int) -> Tuple[int, int]:
        """(flags, size) by the write-all-ones probe, 64-bit BARs whole."""
        off = PCI.BASE_ADDRESS_0 + 4 * bar
        self.cfg_write(off, 4, 0xffffffff)
        low = self.cfg_read(off, 4)
        high = 0
        wide = low & PCI.BASE_ADDRESS_MEM_TYPE_64
        if wide:
            self.cfg_write(off + 4, 4, 0xffffffff)
            high = self.cfg_read(off + 4, 4)
        bits = high << 32 | low & PCI.BASE_ADDRESS_MEM_MASK
        return low & ~PCI.BASE_ADDRESS_MEM_MASK, \
            (~bits & (mask(8) if wide else mask(4))) + 1

    def program(self, bars: Bars) -> None:
        """What a driver does after reset: place the BARs, enable memory."""
        self.cfg_write(PCI.COMMAND, 2, 0)
        for bar, (base, _size) in bars.items():
            self.cfg_write(PCI.BASE_ADDRESS_0 + 4 * bar, 4, base & mask(4))
            if bar in APERTURES:                        # 64-bit BARs
                self.cfg_write(PCI.BASE_ADDRESS_0 + 4 * bar + 4, 4,
                               base >> 32)
        self.cfg_write(PCI.COMMAND, 2, PCI.COMMAND_MEMORY)


def layout(dev: Device, cfg: RunConfig) -> Bars:
    """Probe the BARs and place them in the 32-bit hole, a gap after each."""
    dev.cfg_write(PCI.COMMAND, 2, 0)
    bars, addr = {}, MMIO_BASE
    wide = PCI.BASE_ADDRESS_MEM_TYPE_64
    for bar, want, want_size in (
            (WC.BAR_REGS, 0, WC.REGS_SIZE), (WC.BAR_MSIX, 0, None),
            (WC.BAR_PREF, wide | PCI.BASE_ADDRESS_MEM_PREFETCH,
             cfg.bar2_size),
            (WC.BAR_NONPREF, wide, cfg.bar4_size)):
        flags, size = dev.probe_bar(bar)
        if flags != want or size != (want_size or size):
            raise Failure(f"BAR{bar}: flags 0x{flags:x}, size 0x{size:x}; "
                          f"expected 0x{want:x}, 0x{want_size or size:x}")
        base = (addr + size - 1) & ~(size - 1)
        bars[bar], addr = (base, size), base + 2 * size
    if addr > MMIO_END:
        raise Failure("the BARs do not fit in the 32-bit PCI hole")
    return bars


class Trace:
    """QEMU's trace of TRACE_EVENTS (its log backend writes a line an
    event, flushed at once), read as far as it has come."""

    def __init__(self, path: str) -> None:
        self.path, self.pos, self.rest = path, 0, ""

    def skip(self) -> None:
        """Start after what is in the file now."""
        self.new_events()

    def new_events(self) -> List[TraceEvent]:
        try:
            with open(self.path, "rb") as f:
                f.seek(self.pos)
                data = f.read()
        except FileNotFoundError:
            raise Failure(f"no trace in {self.path}: QEMU without the log "
                          "trace backend?") from None
        self.pos += len(data)
        lines = (self.rest + data.decode(errors="replace")).split("\n")
        self.rest = lines.pop()                 # not yet a whole line
        events = []
        for line in lines:
            m = TRACE_LINE.match(line)
            if m:
                events.append((m.group(1), tuple(
                    int(n, 0) for n in TRACE_NUMBER.findall(m.group(2)))))
        return events


TRACE_EVERY = 50
BURSTS = ("line", "shuffled", "partial", "unaligned", "mixed", "bulk")
BURST_WEIGHTS = (30, 10, 15, 15, 10, 20)


def trace_text(event: TraceEvent) -> str:
    return f"{event[0]}({', '.join(hex(n) for n in event[1])})"


class Fuzzer:
    """The random operations of one run, each checked against the model."""

    def __init__(self, vm: "QEMUQtestMachine", seed: int, cfg: RunConfig,
                 trace: Trace) -> None:
        self.vm, self.rng, self.cfg = vm, random.Random(seed), cfg
        self.qt = QTest(vm)
        self.dev = Device(self.qt)
        self.model = Model(layout(self.dev, cfg), self.dev.msix, cfg)
        self.dev.on_access = self.model.drain
        self.trace, self.traced = trace, 0
        trace.skip()                    # the reset at QEMU's start
        self.history: "collections.deque[str]" = collections.deque(maxlen=12)
        self.index = 0
        self.reprogram()

    def step(self) -> None:
        """One operation; PM and COMMAND weigh more while BARs are off."""
        m = self.model
        ops = [(self.op_aperture, 34), (self.op_burst, 14),
               (self.op_interleave, 3), (self.op_doorbell, 6),
               (self.op_bulk_read, 2), (self.op_reg_read, 10),
               (self.op_reg_write, 4), (self.op_weak, 3),
               (self.op_weak_seed, 1.5), (self.op_control, 1),
               (self.op_msix, 2), (self.op_cfg_read, 1.5),
               (self.op_pm, 20 if m.d3 else 1), (self.op_devctl, 1),
               (self.op_system_reset, 0.1), (self.op_qom_get, 3),
               (self.op_command, 0.5 if m.mem_enabled else 20)]
        funcs, weights = zip(*ops)
        m.op = self.index
        self.rng.choices(funcs, weights)[0]()
        self.index += 1
        if self.index % TRACE_EVERY == 0:
            self.check_trace()

    def note(self, text: str) -> None:
        self.history.append(f"{self.index}: {text}")

    def value(self, size: int) -> int:
        """Random data; one time in ten all zeros, one in ten all ones."""
        kind = self.rng.randrange(10)
        return (0, mask(size))[kind] if kind < 2 else \
            self.rng.getrandbits(8 * size)

    def read(self, addr: int, size: int, what: str) -> None:
        got = self.qt.read(addr, size)
        want = self.model.read(addr, size)
        if got != want:
            raise Failure(f"{what}: read{size} at 0x{addr:x} gave 0x{got:x},"
                          f" expected 0x{want:x}")

    def write(self, addr: int, size: int, value: int) -> None:
        self.qt.write(addr, size, value)
        self.model.write(addr, size, value)

    def read_bytes(self, addr: int, size: int, what: str) -> None:
        got = self.qt.read_bytes(addr, size)
        want = self.model.read(addr, size).to_bytes(size, "little")
        if got != want:
            at = next(i for i in range(size) if got[i:i + 1] != want[i:i + 1])
            raise Failure(f"{what}: read of {size} bytes at 0x{addr:x}: byte "
                          f"{at} is 0x{got[at:at + 1].hex() or 'missing'}, "
                          f"expected 0x{want[at]:02x}")

    def write_bytes(self, addr: int, data: bytes) -> None:
        self.qt.write_bytes(addr, data)
        self.model.write(addr, len(data), int.from_bytes(data, "little"))

    def reprogram(self) -> None:
        self.dev.program(self.model.bars)
        self.model.mem_enabled = True

    def pending_stores(self, chance: float) -> None:
        """Sometimes WC stores first, so that what follows meets them."""
        if self.rng.random() >= chance:
            return
        base, apsize = self.model.bars[WC.BAR_PREF]
        stores = self.rng.randint(1, 6)
        self.note(f"{stores} WC stores to bar2")
        for _ in range(stores):
            size = self.rng.choice((1, 2, 4, 8, 8))
            off = self.rng.choice((self.rng.randrange(512 - size),
                                   self.rng.randrange(apsize - size)))
            self.write(base + off, size, self.value(size))

    def aperture_offset(self, apsize: int, size: int) -> int:
        r = self.rng.random()
        if r < 0.45:
            return self.rng.randrange(512)              # reads meet writes
        if r < 0.65:
            return self.rng.randrange(apsize - size + 1)
        if r < 0.75:
            return apsize - size - self.rng.randrange(64)
        if r < 0.88 and size > 1:
            return apsize - self.rng.randrange(1, size)     # crosses the end
        if r < 0.95:
            return apsize + self.rng.randrange(64)      # past the end
        return -self.rng.randrange(1, 9)                # starts before it

    def op_aperture(self) -> None:
        size = self.rng.choice((1, 2, 4, 8))
        bar = self.rng.choice(list(APERTURES))
        base, apsize = self.model.bars[bar]
        addr = base + self.aperture_offset(apsize, size)
        if self.rng.random() < 0.5:
            self.note(f"read{size} bar{bar} 0x{addr:x}")
            self.read(addr, size, f"bar{bar}")
        else:
            value = self.value(size)
            self.note(f"write{size} bar{bar} 0x{addr:x} = 0x{value:x}")
            self.write(addr, size, value)

    def line_offset(self, apsize: int) -> int:
        r, line = self.rng.random(), WC.LINE_SIZE
        if r < 0.5:
            return line * self.rng.randrange(8)
        if r < 0.9:
            return line * self.rng.randrange(apsize // line)
        return apsize - line                            # the last line

    def burst_stores(self, kind: str, line: int) -> List[Tuple[int, int]]:
        """(address, size) of the stores of a burst of @kind at @line."""
        qwords = [(line + 8 * i, 8) for i in range(WC.LINE_SIZE // 8)]
        if kind == "line":
            return qwords
        if kind == "shuffled":
            self.rng.shuffle(qwords)
            return qwords
        if kind == "partial":
            return self.rng.sample(qwords, self.rng.randrange(1, len(qwords)))
        if kind == "unaligned":                 # crosses into the next line
            start = line + self.rng.randrange(1, WC.LINE_SIZE)
            return [(start + 8 * i, 8) for i in range(self.rng.randint(1, 9))]
        stores, pos = [], 0                     # mixed: aligned, any size
        while pos < WC.LINE_SIZE:
            size = self.rng.choice([s for s in (1, 2, 4, 8) if pos % s == 0])
            if self.rng.random() < 0.95:
                stores.append((line + pos, size))
            pos += size
        if self.rng.random() < 0.3:
            self.rng.shuffle(stores)
        return stores

    def op_burst(self) -> None:
        """Stores that fill (or nearly) a line, mostly through WC."""
        bar = WC.BAR_PREF if self.rng.random() < 0.9 else WC.BAR_NONPREF
        base, apsize = self.model.bars[bar]
        line = base + self.line_offset(apsize)
        kind = self.rng.choices(BURSTS, BURST_WEIGHTS)[0]
        if kind == "bulk":                      # one qtest write, split
            start = line + self.rng.choice((0, 0, self.rng.randrange(64)))
            size = self.rng.choice((64, 64, 128, self.rng.randint(1, 200)))
            data = self.rng.getrandbits(8 * size).to_bytes(size, "little")
            self.note(f"burst: write of {size} bytes at 0x{start:x}")
            self.write_bytes(start, data)
        else:
            stores = self.burst_stores(kind, line)
            self.note(f"burst {kind} bar{bar} 0x{line:x}: {len(stores)} "
                      "stores")
            for addr, size in stores:
                self.write(addr, size, self.value(size))
        if self.rng.random() < 0.3:
            self.read(line + 8 * self.rng.randrange(8), 8, "after burst")

    def op_interleave(self) -> None:
        """8-byte stores round-robin over more lines than buffers (or
        about as many): evictions, and full lines among them."""
        base, apsize = self.model.bars[WC.BAR_PREF]
        nlines = apsize // WC.LINE_SIZE
        count = min(nlines, max(1, self.cfg.wc_lines +
                                self.rng.randint(-1, 3)))
        span = min(nlines, 4 * count)
        first = self.rng.choice((0, self.rng.randrange(nlines - span + 1)))
        lines = self.rng.sample(range(first, first + span), count)
        rounds = self.rng.choice((1, 1, 2, 3, WC.LINE_SIZE // 8))
        self.note(f"interleave: {count} lines from 0x{base:x} + line "
                  f"{first}, {rounds} rounds of writeq")
        for r in range(rounds):
            for line in lines:
                self.write(base + WC.LINE_SIZE * line + 8 * r, 8,
                           self.value(8))

    def op_doorbell(self) -> None:
        """WC stores to BAR2, then a BAR4 write: in weak order it arrives
        before them (doorbell-early); else it drains them first."""
        base2 = self.model.bars[WC.BAR_PREF][0]
        base4, size4 = self.model.bars[WC.BAR_NONPREF]
        stores = []
        for _ in range(self.rng.randint(1, 4)):
            size = self.rng.choice((8, 8, 4, 2, 1))
            stores.append((base2 + self.rng.randrange(512 - size), size))
        size = self.rng.choice((1, 2, 4, 8))
        bell = base4 + self.rng.choice((0, self.rng.randrange(size4 - size)))
        self.note(f"doorbell: {len(stores)} WC stores, write{size} at "
                  f"0x{bell:x}")
        for addr, n in stores:
            self.write(addr, n, self.value(n))
        self.write(bell, size, self.value(size))
        if self.rng.random() < 0.5:
            addr, n = stores[-1]
            self.read(addr, n, "after doorbell")

    def op_bulk_read(self) -> None:
        """One qtest read of up to 128 bytes, split by the memory core."""
        bar = self.rng.choice((WC.BAR_REGS, WC.BAR_PREF, WC.BAR_PREF,
                               WC.BAR_NONPREF))
        base, size = self.model.bars[bar]
        n = self.rng.choice((8, 16, 64, self.rng.randint(1, 128)))
        if bar == WC.BAR_REGS:
            off = self.rng.choice((0, counters_at(WC.BAR_PREF),
                                   counters_at(WC.BAR_NONPREF),
                                   self.rng.randrange(size)))
        else:
            off = self.rng.choice((0, self.rng.randrange(512),
                                   self.rng.randrange(size)))
        self.note(f"read of {n} bytes at bar{bar} + 0x{off:x}")
        self.read_bytes(base + off, n, f"bar{bar}")

    def reg_offset(self) -> int:
        """Any byte: the memory core splits unaligned accesses."""
        r = self.rng.random()
        if r < 0.4:                                     # identity .. seed
            return self.rng.randrange(WC.REG_WEAK_SEED + 8)
        if r < 0.75:                                    # counters
            return counters_at(self.rng.choice(list(APERTURES))) + \
                self.rng.randrange(8 * WC.NUM_COUNTERS + 8)
        if r < 0.85:
            return WC.REGS_SIZE - self.rng.randrange(1, 9)
        return self.rng.randrange(WC.REGS_SIZE)

    def op_reg_read(self) -> None:
        size, off = self.rng.choice((1, 2, 4, 4, 8, 8)), self.reg_offset()
        self.note(f"read{size} BAR0+0x{off:x}")
        self.read(self.model.bars[WC.BAR_REGS][0] + off, size, "BAR0")

    def op_reg_write(self) -> None:
        size = self.rng.choice((1, 2, 4, 4, 8, 8))
        off = self.rng.choice((WC.REG_SCRATCH, WC.REG_SCRATCH + 4,
                               WC.REG_FEATURES, self.reg_offset(),
                               self.reg_offset()))
        value = self.value(size)
        self.note(f"write{size} BAR0+0x{off:x} = 0x{value:x}")
        self.write(self.model.bars[WC.BAR_REGS][0] + off, size, value)

    def op_weak(self) -> None:
        """WEAK: mostly a 4-byte write that toggles ORDER."""
        size = 4 if self.rng.random() < 0.85 else self.rng.choice((1, 2, 8))
        order = self.model.weak ^ WC.WEAK_ORDER if self.rng.random() < 0.7 \
            else self.rng.getrandbits(1) * WC.WEAK_ORDER
        value = order | (self.rng.getrandbits(8 * size) & ~WC.WEAK_ORDER
                         if self.rng.random() < 0.2 else 0)
        self.note(f"WEAK: write{size} 0x{value:x}")
        self.write(self.model.bars[WC.BAR_REGS][0] + WC.REG_WEAK, size,
                   value)

    def op_weak_seed(self) -> None:
        """WEAK_SEED whole, or some of its bytes (deposit)."""
        size = self.rng.choice((8, 8, 1, 2, 4))
        off = WC.REG_WEAK_SEED + (0 if size == 8 else
                                  self.rng.randrange(0, 8, size))
        value = self.rng.choice((0, 1, self.rng.getrandbits(8 * size)))
        self.note(f"WEAK_SEED: write{size} at 0x{off:x} = 0x{value:x}")
        self.write(self.model.bars[WC.BAR_REGS][0] + off, size, value)

    def op_control(self) -> None:
        reset, flush = WC.CTRL_RESET_COUNTERS, WC.CTRL_FLUSH
        value = self.rng.choice((reset, flush, flush, flush, reset | flush,
                                 0, self.rng.getrandbits(32) & ~reset))
        self.pending_stores(0.5)
        self.note(f"CONTROL = 0x{value:x}")
        self.write(self.model.bars[WC.BAR_REGS][0] + WC.REG_CONTROL, 4, value)

    def op_msix(self) -> None:
        """The MSI-X table and PBA: not counted, and (no vCPU's) no drain."""
        layout = self.model.msix_layout
        base, barsize = self.model.bars[WC.BAR_MSIX]
        off = self.rng.choice((
            layout.table + self.rng.randrange(len(self.model.msix)),
            layout.pba + self.rng.randrange(layout.pba_size()),
            self.rng.randrange(barsize)))
        size = self.rng.choice((1, 2, 4, 4, 8))
        self.pending_stores(0.5)
        if self.rng.random() < 0.5:
            self.note(f"read{size} BAR1+0x{off:x}")
            self.read(base + off, size, "BAR1")
        else:
            value = self.value(size)
            self.note(f"write{size} BAR1+0x{off:x} = 0x{value:x}")
            self.write(base + off, size, value)

    def op_cfg_read(self) -> None:
        """A configuration space read, which drains."""
        self.pending_stores(0.5)
        if self.rng.random() < 0.5:
            self.note("config read of the IDs")
            ids = self.dev.cfg_read(PCI.VENDOR_ID, 4)
            if ids != WC.DEVICE_ID << 16 | WC.VENDOR_ID:
                raise Failure(f"config space: IDs read 0x{ids:08x}")
            return
        size = self.rng.choice((1, 2, 4))
        off = self.rng.randrange(0, 256, size)
        self.note(f"config read{size} at 0x{off:x}")
        self.dev.cfg_read(off, size)

    def op_pm(self) -> None:
        """D0 <-> D3hot (D1, D2 unsupported: ignored); no reset on D0."""
        states = PCI.PM_CTRL_STATE_MASK
        state = self.rng.choice((0, 0, 1, 2, 3) if self.model.d3 else
                                (0, 1, 2, 3, 3))
        value = state | (self.rng.getrandbits(16) & ~states) * \
            (self.rng.random() < 0.3)
        self.pending_stores(0.5)
        self.note(f"PMCSR = 0x{value:x}")
        was_d3 = self.model.d3
        if self.model.pending():
            self.model.stats["pending at PM"] += 1
        self.dev.cfg_write(self.dev.pm + PCI.PM_CTRL, 2, value)
        if state in (0, 3):
            self.model.d3 = state == 3
        pmcsr = self.dev.cfg_read(self.dev.pm + PCI.PM_CTRL, 2)
        if pmcsr & states != 3 * self.model.d3 or \
                not pmcsr & PCI.PM_CTRL_NO_SOFT_RESET:
            raise Failure(f"PMCSR reads 0x{pmcsr:x}, expected D"
                          f"{3 * self.model.d3} and No_Soft_Reset")
        if was_d3 and not self.model.d3:
            self.reprogram()            # as a driver does; the model stays

    def op_devctl(self) -> None:
        """Random Device Control bits, sometimes Initiate FLR: the write
        delivers pending WC data, then the reset clears it all."""
        devctl, flr = self.dev.pcie + PCI.EXP_DEVCTL, self.rng.random() < 0.3
        value = self.rng.getrandbits(16) & ~PCI.EXP_DEVCTL_BCR_FLR | \
            PCI.EXP_DEVCTL_BCR_FLR * flr
        self.pending_stores(0.5)
        self.note(f"DEVCTL = 0x{value:x}" + (" (FLR)" if flr else ""))
        if flr and self.model.pending():
            self.model.stats["pending at FLR"] += 1
        self.dev.cfg_write(devctl, 2, value)
        if flr:
            self.model.reset()
            self.model.mem_enabled = self.model.d3 = False
            self.check_after_reset(devctl, "FLR")
            self.reprogram()

    def op_system_reset(self) -> None:
        """QMP system_reset: buffered WC data is discarded, not sent."""
        self.pending_stores(0.7)
        self.note("system_reset")
        if self.model.pending():
            self.model.stats["pending at reset"] += 1
        qmp(self.vm, "system_reset")
        try:
            self.vm.event_wait("RESET", timeout=TIMEOUT)
        except Exception as e:          # the QMP library's timeout, EOF, ...
            raise Failure(f"no RESET event after system_reset "
                          f"({type(e).__name__} {e})") from None
        self.model.reset()
        self.model.mem_enabled = self.model.d3 = False
        self.check_after_reset(self.dev.pcie + PCI.EXP_DEVCTL, "reset")
        self.reprogram()

    def check_after_reset(self, devctl: int, what: str) -> None:
        got = [self.dev.cfg_read(off, size) for off, size in
               ((PCI.COMMAND, 2), (PCI.STATUS, 2), (PCI.BASE_ADDRESS_0, 4),
                (devctl, 2), (self.dev.pm + PCI.PM_CTRL, 2))]
        if got[0] & PCI.COMMAND_MEMORY or \
                not got[1] & PCI.STATUS_IMM_READY or got[2] or \
                got[3] & PCI.EXP_DEVCTL_BCR_FLR or \
                got[4] & PCI.PM_CTRL_STATE_MASK:
            raise Failure(f"after {what}: COMMAND, STATUS, BAR0, DEVCTL, "
                          f"PMCSR read {', '.join(map(hex, got))}: expected "
                          "memory off, Immediate Readiness, 0, FLR clear, D0")

    def op_command(self) -> None:
        enable = not self.model.mem_enabled or self.rng.random() < 0.3
        value = PCI.COMMAND_MEMORY * enable | \
            self.rng.choice((0, PCI.COMMAND_MASTER, PCI.COMMAND_INTX_DISABLE))
        self.pending_stores(0.3)
        self.note(f"COMMAND = 0x{value:x}")
        self.dev.cfg_write(PCI.COMMAND, 2, value)
        self.model.mem_enabled = enable

    def op_qom_get(self) -> None:
        """A counter over QMP, which does not drain."""
        self.pending_stores(0.3)
        bar = self.rng.choice(list(APERTURES))
        counter = self.rng.choice(COUNTER_NAMES)
        self.note(f"qom-get {APERTURES[bar][1]}-{counter}")
        self.check_counter(bar, counter)

    def check_counter(self, bar: int, counter: str) -> None:
        name = f"{APERTURES[bar][1]}-{counter}"
        got = qom_get(self.vm, name)
        want = self.model.counters[bar][COUNTER_NAMES.index(counter)]
        if got != want:
            raise Failure(f"QMP {name} = {got}, expected {want}")

    def check_trace(self) -> None:
        """The trace so far against the model's: deliveries in order."""
        got, want = self.trace.new_events(), self.model.trace
        for k, event in enumerate(got):
            if k == len(want):
                raise Failure(f"trace event {self.traced + k + 1}: QEMU "
                              f"traced {trace_text(event)}, the model "
                              "expected nothing more")
            if event != want[k][1:]:
                raise Failure(f"trace event {self.traced + k + 1}: QEMU "
                              f"traced {trace_text(event)}, the model "
                              f"expected {trace_text(want[k][1:])} (from "
                              f"operation {want[k][0]})")
        if len(want) > len(got):
            op, name, args = want[len(got)]
            raise Failure(f"trace event {self.traced + len(got) + 1}: the "
                          f"model expected {trace_text((name, args))} (from "
                          f"operation {op}), QEMU traced nothing more")
        self.traced += len(got)
        want.clear()

    def checkpoint(self) -> None:
        """Every counter of both apertures over QMP, which does not drain,
        then the start of BAR2 (where most lines go), then the trace."""
        for bar in APERTURES:
            for counter in COUNTER_NAMES:
                self.check_counter(bar, counter)
        if self.model.mem_enabled and not self.model.d3:
            base, size = self.model.bars[WC.BAR_PREF]
            self.read_bytes(base, min(size, 512), "checkpoint, bar2")
        self.check_trace()

    def summary(self) -> str:
        """What the run reached, for a TAP comment."""
        s = self.model.stats
        return (f"bursts {s['full full']} full at once, {s['full flush']} "
                f"full and {s['partial flush']} partial drained, "
                f"{s['full evict']} full and {s['partial evict']} partial "
                f"evicted; drains {s['drains']} in order, {s['weak drains']} "
                f"weak; {s['early doorbells']} early doorbells; WC data "
                f"pending at {s['pending at FLR']} FLRs, {s['pending at PM']} "
                f"PM writes, {s['pending at reset']} system resets")


def sanitizer_lines(path: str) -> List[str]:
    with open(path, errors="replace") as f:
        return [line.rstrip() for line in f
                if any(mark in line for mark in SANITIZER_MARKS)]


def qemu_args(cfg: RunConfig, tmp: str) -> Tuple[List[str], str]:
    """QEMU's arguments beyond the qtest machine's own (-accel qtest, the
    qtest and QMP sockets), and where its trace goes.  No -L: a QEMU that
    build-qemu.sh built finds Debian's firmware in its build tree
    (qemu-bundle/)."""
    events, trace = os.path.join(tmp, "trace-events"), \
        os.path.join(tmp, "trace")
    with open(events, "w") as f:
        f.write("\n".join(TRACE_EVENTS) + "\n")
    device = (f"wc-testdev,id=wctd,wc-lines={cfg.wc_lines},"
              f"bar2-size={cfg.bar2_size},bar4-size={cfg.bar4_size},"
              f"x-qtest-memtype={WC.MEMTYPE_WC},"
              f"x-weak-order={'on' if cfg.weak_order else 'off'},"
              f"x-weak-seed={cfg.weak_seed}")
    return ["-nodefaults", "-smp", str(cfg.smp), "-device", device,
            "-trace", f"events={events},file={trace}"], trace


def new_machine(args: argparse.Namespace, qemu: List[str], name: str,
                tmp: str) -> "QEMUQtestMachine":
    """QEMU's qtest machine, with a deadline on every qtest and QMP
    answer; its output goes to a log in @tmp while it runs."""
    from qemu.machine.qtest import QEMUQtestMachine

    class Machine(QEMUQtestMachine):
        def _post_launch(self) -> None:
            super()._post_launch()
            assert self._qtest is not None
            self._qtest.settimeout(TIMEOUT)
            self._qmp.settimeout(TIMEOUT)

    vm = Machine(args.qemu, qemu, name=name, base_temp_dir=tmp,
                 qmp_timer=TIMEOUT)
    vm.set_machine("q35")
    return vm


def launch(vm: "QEMUQtestMachine") -> None:
    from qemu.machine.machine import VMLaunchFailure
    try:
        vm.launch()
    except VMLaunchFailure as e:
        raise Failure(f"QEMU did not start ({exit_status(e.exitcode)})") \
            from None


def exit_status(code: Optional[int]) -> str:
    if code is None:
        return "no exit status"
    if code < 0:
        try:
            return "killed by " + signal.Signals(-code).name
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit status {code}"


def stop_qemu(vm: "QEMUQtestMachine") -> Optional[str]:
    """Quit over QMP, or kill a QEMU that will not.  What went wrong: a
    QEMU that had died, would not quit or exited with an error."""
    from qemu.machine.machine import AbnormalShutdown
    try:
        vm.shutdown(timeout=TIMEOUT)
    except AbnormalShutdown as e:
        if isinstance(e.__cause__, subprocess.TimeoutExpired):
            return f"QEMU did not quit in {TIMEOUT} s"
    code = vm.exitcode()
    return f"QEMU {exit_status(code)}" if code else None


class Outcome(NamedTuple):
    """A run's end: operations done, what it reached, None or the
    failure's lines."""
    ops: int
    summary: str
    failure: Optional[List[str]]


def run_once(args: argparse.Namespace, seed: int, cfg: RunConfig,
             log_path: str) -> Outcome:
    """One seed, one QEMU.  QEMU's output is kept in @log_path, and on a
    failure its trace next to it."""
    fuzzer: Optional[Fuzzer] = None
    failure: Optional[Failure] = None
    deadline = time.monotonic() + (args.seconds or float("inf"))
    with tempfile.TemporaryDirectory(prefix="fuzz-wctd-") as tmp:
        qemu, trace = qemu_args(cfg, tmp)
        vm = new_machine(args, qemu, f"qemu-seed-{seed}", tmp)
        try:
            launch(vm)
            fuzzer = Fuzzer(vm, seed, cfg, Trace(trace))
            while fuzzer.index < args.iterations and \
                    time.monotonic() < deadline:
                fuzzer.step()
                if fuzzer.index % CHECK_EVERY == 0:
                    fuzzer.checkpoint()
            fuzzer.checkpoint()
        except Failure as e:
            failure = e
        stopped = stop_qemu(vm)
        with open(log_path, "w") as log:
            log.write(vm.get_log() or "")
        errors = [str(failure)] if failure else []
        if stopped and stopped not in errors:
            errors.append(stopped)
        if sanitizer_lines(log_path):
            errors.insert(0, "sanitizer report on QEMU's stderr")
        if errors and os.path.exists(trace):
            shutil.copyfile(trace, log_path[:-len(".log")] + ".trace")
    index = fuzzer.index if fuzzer else 0
    summary = fuzzer.summary() if fuzzer else ""
    if errors:
        return Outcome(index, summary, describe(args, seed, errors, index,
                                                fuzzer, log_path))
    return Outcome(index, summary, None)


def describe(args: argparse.Namespace, seed: int, errors: List[str],
             index: int, fuzzer: Optional[Fuzzer],
             log_path: str) -> List[str]:
    """Failure lines: what, where, the last operations, how to replay."""
    lines = [f"operation {index}: {errors[0]}"] + errors[1:]
    lines += ["stderr: " + line for line in sanitizer_lines(log_path)[:20]]
    if fuzzer:
        lines += ["last operations:"] + ["  " + h for h in fuzzer.history]
    replay = [sys.argv[0], "--qemu", args.qemu, "--qemu-src", args.qemu_src,
              "--seed", str(seed),
              "--runs", "1", "--iterations", str(index + 1),
              "--seconds", "0"]
    if args.wc_lines is not None:
        replay += ["--wc-lines", str(args.wc_lines)]
    lines.append("replay: " + shlex.join(replay))
    lines.append(f"QEMU stderr: {log_path}")
    return lines


def parse_args(argv: Optional[List[str]]) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__.split("\n\n", 1)[1])
    p.add_argument("--qemu", required=True, metavar="BIN",
                   help="qemu-system-x86_64 with wc-testdev")
    p.add_argument("--qemu-src", required=True, metavar="DIR",
                   help="the prepared QEMU source tree (build-qemu.sh "
                   "--print-src): its python/ (QEMU's qtest machine and QMP "
                   "client) and PCI register definitions")
    p.add_argument("--seed", type=int, default=1, help="first seed (1)")
    p.add_argument("--iterations", type=int, default=20000, metavar="N",
                   help="operations per run (20000)")
    p.add_argument("--seconds", type=float, default=60, metavar="S",
                   help="time limit per run, 0 for none (60)")
    p.add_argument("--runs", type=int, default=3, metavar="N",
                   help="runs with seeds SEED..SEED+N-1, a QEMU each (3)")
    p.add_argument("--wc-lines", type=int, metavar="N",
                   help="the device's wc-lines property, 0-16, in every run "
                   "(default: each run's seed picks it)")
    p.add_argument("--log", metavar="DIR",
                   help="keep QEMU's stderr of each run here")
    args = p.parse_args(argv)
    if not (os.path.isfile(args.qemu) and os.access(args.qemu, os.X_OK)):
        p.error(f"--qemu {args.qemu}: no such executable")
    if args.iterations < 1 or args.runs < 1 or args.seconds < 0:
        p.error("--iterations and --runs must be positive, --seconds >= 0")
    if args.wc_lines is not None and not 0 <= args.wc_lines <= 16:
        p.error("--wc-lines must be between 0 and 16")
    if not (Path(args.qemu_src) / PCI_REGS).is_file():
        p.error(f"--qemu-src {args.qemu_src}: no {PCI_REGS} there")
    return args


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    load_headers(args.qemu_src)
    sys.path.insert(0, str(Path(args.qemu_src) / "python"))
    os.environ.setdefault("ASAN_OPTIONS",
                          "detect_leaks=0:abort_on_error=1:halt_on_error=1")
    os.environ.setdefault("UBSAN_OPTIONS",
                          "print_stacktrace=1:halt_on_error=1")
    log_dir = args.log or tempfile.mkdtemp(prefix="fuzz-wctd-log-")
    os.makedirs(log_dir, exist_ok=True)
    print(f"1..{args.runs}", flush=True)
    failed = 0
    for n, seed in enumerate(range(args.seed, args.seed + args.runs), 1):
        log_path = os.path.join(log_dir, f"qemu-seed-{seed}.log")
        cfg = run_config(seed, args.wc_lines)
        start = time.monotonic()
        outcome = run_once(args, seed, cfg, log_path)
        took = time.monotonic() - start
        if outcome.failure:
            failed += 1
            print(f"not ok {n} seed {seed}: {outcome.failure[0]}")
            print("\n".join("# " + line for line in
                            [cfg.describe()] + outcome.failure[1:]),
                  flush=True)
            continue
        print(f"ok {n} seed {seed}: {outcome.ops} operations in {took:.1f} s,"
              f" 0 sanitizer reports", flush=True)
        print(f"# {cfg.describe()}: {outcome.summary}", flush=True)
        if not args.log:
            os.unlink(log_path)
    if not args.log and not failed:
        os.rmdir(log_dir)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
