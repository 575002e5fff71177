#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Seeded, bounded fuzzer for wc-testdev, driven over QEMU's qtest protocol.

Meant for a QEMU built with AddressSanitizer and UBSan.  There is no guest:
QEMU runs under QEMU's own qtest machine (python/qemu/machine of the QEMU
tree, -accel qtest), every access is a qtest command and counters are read
with QMP qom-get.  One seeded random.Random decides every
operation: aperture reads and writes of 1/2/4/8 bytes (inside, across and
past the end), 64-byte lines of 8-byte writes, BAR0 register reads and
writes (CONTROL with random bits, identity, scratch, counters), PM state
changes (D0 <-> D3hot, BARs off in D3hot, no reset on the way back),
Function Level Resets, memory-decode toggles and QMP qom-get of counters.

A model predicts every value read and every counter: aperture contents
(zero after reset, all ones for an access crossing the end), registers,
and every counter of both apertures (under qtest the memory type is
unknown, so writes never reach the WC model and counters need no drain).
It splits accesses as QEMU's memory core does: BAR0 and unassigned space
take naturally aligned pieces, BAR0 rejects pieces under 4 bytes (reads 0),
the apertures take any access of up to 8 bytes whole.  The register map
comes from include/hw/misc/wc-testdev.h, as the device and the guest take
it, and PCI's from the QEMU tree's pci_regs.h (read with host/cheader.py).

A run fails if a read or counter disagrees with the model, QEMU dies or
stops answering for 30 s, or its output holds a sanitizer report (the
sanitizers halt QEMU at the first one).  Output
is TAP, one line per run (seed); exit status 0 all passed, 1 a run failed,
2 usage error.
"""
import argparse
import collections
import os
import random
import shlex
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Dict, Iterator, List, Optional, Tuple

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


class Defines:
    """A header's defines (read_defines()), by name less a prefix:
    Defines(read_defines(path), "PCI_").COMMAND is PCI_COMMAND."""

    def __init__(self, values: Dict[str, Value], prefix: str) -> None:
        self._values, self._prefix = values, prefix

    def __getattr__(self, name: str) -> int:
        value = self._values.get(self._prefix + name)
        if not isinstance(value, int):
            raise AttributeError(f"no integer define {self._prefix}{name}")
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


def load_headers(qemu_src: str) -> None:
    global WC, PCI, COUNTER_NAMES, APERTURES
    WC = Defines(read_defines(REGISTER_MAP), "WC_TESTDEV_")
    PCI = Defines(read_defines(Path(qemu_src) / PCI_REGS), "PCI_")
    COUNTER_NAMES = WC.strings("COUNTER_NAMES")
    names = WC.strings("APERTURE_NAMES")
    APERTURES = {bar: (index, names[index]) for bar, index in
                 ((WC.BAR_PREF, WC.APERTURE_PREF),
                  (WC.BAR_NONPREF, WC.APERTURE_NONPREF))}


def counters_at(bar: int) -> int:
    """BAR0 offset of the counter block of aperture BAR @bar."""
    return WC.REG_COUNTERS_BASE + \
        WC.REG_COUNTERS_STRIDE * APERTURES[bar][0]


Bars = Dict[int, Tuple[int, int]]       # BAR -> (base, size)


class Failure(Exception):
    """The run failed; the message says how."""


def mask(nbytes: int) -> int:
    return (1 << 8 * nbytes) - 1


class Model:
    """What wc-testdev must hold and answer after the accesses so far."""

    def __init__(self, bars: Bars, wc_lines: int) -> None:
        self.bars = bars                # BAR number -> (base, size)
        self.wc_lines = wc_lines
        self.mem_enabled = False
        self.d3 = False
        self.reset()

    def reset(self) -> None:
        """Device reset (FLR): apertures, scratch and counters cleared."""
        self.clear_counters()
        self.mem = {bar: bytearray(self.bars[bar][1]) for bar in APERTURES}
        self.scratch = 0

    def region_at(self, addr: int) -> Tuple[Optional[int], int]:
        if not self.mem_enabled or self.d3:
            return None, addr
        for bar, (base, size) in self.bars.items():
            if base <= addr < base + size:
                return bar, addr - base
        return None, addr

    def pieces(self, addr: int,
               size: int) -> Iterator[Tuple[Optional[int], int, int]]:
        """(bar or None, offset, length) as QEMU's memory core splits it."""
        while size:
            bar, off = self.region_at(addr)
            n = min(size, 4 if bar is None else 8)
            if bar not in APERTURES and off & -off:     # aligned pieces only
                n = min(n, off & -off)
            n = 1 << (n.bit_length() - 1)
            yield bar, off, n
            addr, size = addr + n, size - n

    def reg_slot(self, off: int) -> int:
        # FEATURES: no MEMTYPE, qtest computes no memory types.
        fixed = {WC.REG_ID: WC.ID_VALUE | WC.VERSION_VALUE << 32,
                 WC.REG_FEATURES: WC.FEAT_WC_MODEL if self.wc_lines else 0,
                 WC.REG_PREF_SIZE: self.bars[WC.BAR_PREF][1],
                 WC.REG_NONPREF_SIZE: self.bars[WC.BAR_NONPREF][1],
                 WC.REG_SCRATCH: self.scratch,
                 WC.REG_WC_LINES: self.wc_lines}
        if off in fixed:
            return fixed[off]
        for bar in APERTURES:
            index = (off - counters_at(bar)) // 8
            if 0 <= index < WC.NUM_COUNTERS:
                return self.counters[bar][index]
        return 0

    def count(self, bar: int, write: bool, n: int) -> None:
        """One access of @n bytes, of unknown memory type under qtest."""
        c = self.counters[bar]
        if write:
            c[WC.CNT_WRITES] += 1
            c[WC.CNT_WRITE_BYTES] += n
            c[WC.CNT_LAST_WRITE_TYPE] = WC.MEMTYPE_UNKNOWN
            c[WC.CNT_UNKNOWN_WRITES] += 1
        else:
            c[WC.CNT_READS] += 1
            c[WC.CNT_READ_BYTES] += n
            c[WC.CNT_LAST_READ_TYPE] = WC.MEMTYPE_UNKNOWN
        c[WC.CNT_BUS_TXNS] += 1
        c[WC.CNT_BUS_BYTES] += n + WC.BUS_OVERHEAD

    def read(self, addr: int, size: int) -> int:
        value = shift = 0
        for bar, off, n in self.pieces(addr, size):
            if bar is None or (bar == WC.BAR_REGS and n < 4):
                piece = 0                               # unassigned/invalid
            elif bar == WC.BAR_REGS:
                piece = self.reg_slot(off & ~7) >> 8 * (off & 7) & mask(n)
            elif off + n > self.bars[bar][1]:
                piece = mask(n)                         # crosses the end
            else:
                piece = int.from_bytes(self.mem[bar][off:off + n], "little")
                self.count(bar, False, n)
            value |= piece << shift
            shift += 8 * n
        return value

    def write(self, addr: int, size: int, value: int) -> None:
        for bar, off, n in self.pieces(addr, size):
            piece, value = value & mask(n), value >> 8 * n
            if bar == WC.BAR_REGS and n >= 4:
                self.reg_write(off, n, piece)
            elif bar in APERTURES and off + n <= self.bars[bar][1]:
                self.mem[bar][off:off + n] = piece.to_bytes(n, "little")
                self.count(bar, True, n)

    def reg_write(self, off: int, n: int, value: int) -> None:
        control = None
        if off == WC.REG_CONTROL and n == 4:
            control = value
        elif off == WC.REG_FEATURES and n == 8:             # CONTROL above
            control = value >> 32
        elif off & ~7 == WC.REG_SCRATCH:
            shift = 8 * (off & 7)
            self.scratch &= ~(mask(n) << shift)
            self.scratch |= value << shift
        if control is not None and control & WC.CTRL_RESET_COUNTERS:
            self.clear_counters()

    def clear_counters(self) -> None:
        self.counters: Dict[int, List[int]] = \
            {bar: [0] * WC.NUM_COUNTERS for bar in APERTURES}


class QTest:
    """qtest commands through QEMU's qtest machine: one command, one
    answer, "OK [value]" or a failure."""

    def __init__(self, vm: "QEMUQtestMachine") -> None:
        self.vm = vm

    def cmd(self, line: str) -> Optional[int]:
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
        return int(answer.split()[1], 16) if " " in answer else None

    def read(self, addr: int, size: int) -> int:
        value = self.cmd("read%s 0x%x" % ("bwlq"[size.bit_length() - 1],
                                          addr))
        assert value is not None
        return value

    def write(self, addr: int, size: int, value: int) -> None:
        self.cmd("write%s 0x%x 0x%x" % ("bwlq"[size.bit_length() - 1], addr,
                                        value))


def qom_get(vm: "QEMUQtestMachine", prop: str) -> object:
    """A property of the device, over QMP."""
    from qemu.qmp import QMPError
    try:
        return vm.cmd("qom-get", path=QOM_PATH, property=prop)
    except QMPError as e:
        raise Failure(f"QMP qom-get {prop}: {e}") from None
    except (TimeoutError, OSError, EOFError) as e:
        raise Failure(f"QMP qom-get {prop}: no answer "
                      f"({type(e).__name__} {e})") from None


class Device:
    """wc-testdev's configuration space, through mechanism #1 on bus 0."""

    def __init__(self, qt: QTest) -> None:
        self.qt = qt
        for slot in range(32):
            self.devfn = slot << 3
            if self.cfg_read(PCI.VENDOR_ID, 4) == \
                    WC.DEVICE_ID << 16 | WC.VENDOR_ID:
                break
        else:
            raise Failure("no wc-testdev on bus 0")
        self.pm = self.find_cap(PCI.CAP_ID_PM)
        self.pcie = self.find_cap(PCI.CAP_ID_EXP)

    def select(self, off: int, size: int) -> Tuple[int, str]:
        """Point CONFIG_ADDRESS at @off: the data port and qtest suffix."""
        self.qt.cmd("outl 0x%x 0x%x" % (CONFIG_ADDRESS, 0x80000000 |
                                         self.devfn << 8 | off & 0xfc))
        return CONFIG_DATA + (off & 3), {1: "b", 2: "w", 4: "l"}[size]

    def cfg_read(self, off: int, size: int) -> int:
        port, suffix = self.select(off, size)
        return self.qt.cmd(f"in{suffix} 0x{port:x}")

    def cfg_write(self, off: int, size: int, value: int) -> None:
        port, suffix = self.select(off, size)
        self.qt.cmd(f"out{suffix} 0x{port:x} 0x{value:x}")

    def find_cap(self, cap_id: int) -> int:
        ptr = self.cfg_read(PCI.CAPABILITY_LIST, 1)
        while ptr:
            if self.cfg_read(ptr, 1) == cap_id:
                return ptr
            ptr = self.cfg_read(ptr + PCI.CAP_LIST_NEXT, 1)
        raise Failure(f"capability 0x{cap_id:02x} missing")

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


def layout(dev: Device) -> Bars:
    """Probe the BARs and place them in the 32-bit hole, a gap after each."""
    dev.cfg_write(PCI.COMMAND, 2, 0)
    bars, addr = {}, MMIO_BASE
    wide = PCI.BASE_ADDRESS_MEM_TYPE_64
    for bar, want in ((WC.BAR_REGS, 0),
                      (WC.BAR_PREF, wide | PCI.BASE_ADDRESS_MEM_PREFETCH),
                      (WC.BAR_NONPREF, wide)):
        flags, size = dev.probe_bar(bar)
        if flags != want:
            raise Failure(f"BAR{bar} flags 0x{flags:x}, expected 0x{want:x}")
        base = (addr + size - 1) & ~(size - 1)
        bars[bar], addr = (base, size), base + 2 * size
    if addr > MMIO_END:
        raise Failure("the BARs do not fit in the 32-bit PCI hole")
    return bars


class Fuzzer:
    """The random operations of one run, each checked against the model."""

    def __init__(self, vm: "QEMUQtestMachine", seed: int,
                 wc_lines: int) -> None:
        self.vm, self.rng = vm, random.Random(seed)
        self.qt = QTest(vm)
        self.dev = Device(self.qt)
        self.model = Model(layout(self.dev), wc_lines)
        self.history = collections.deque(maxlen=10)
        self.index = 0
        self.reprogram()

    def step(self) -> None:
        """One operation; PM and COMMAND weigh more while BARs are off."""
        m = self.model
        ops = [(self.op_aperture, 56), (self.op_burst, 8),
               (self.op_reg_read, 14), (self.op_reg_write, 6),
               (self.op_control, 1), (self.op_pm, 20 if m.d3 else 1),
               (self.op_devctl, 1), (self.op_qom_get, 3),
               (self.op_command, 0.5 if m.mem_enabled else 20)]
        funcs, weights = zip(*ops)
        self.rng.choices(funcs, weights)[0]()
        self.index += 1

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

    def reprogram(self) -> None:
        self.dev.program(self.model.bars)
        self.model.mem_enabled = True

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

    def op_burst(self) -> None:
        """8-byte stores to one WC line (a whole line mostly)."""
        bar = self.rng.choice(list(APERTURES))
        base, apsize = self.model.bars[bar]
        size, per_line = WC.LINE_SIZE, WC.LINE_SIZE // 8
        line = base + size * self.rng.choice(
            (self.rng.randrange(8), self.rng.randrange(apsize // size)))
        stores = self.rng.choice((per_line, per_line, per_line,
                                  self.rng.randrange(1, per_line + 1)))
        self.note(f"burst bar{bar} 0x{line:x}, {stores} writeq")
        for i in range(stores):
            self.write(line + 8 * i, 8, self.value(8))
        self.read(line + 8 * self.rng.randrange(per_line), 8, "after burst")

    def reg_offset(self) -> int:
        r = self.rng.random()
        if r < 0.4:                                     # identity .. wc-lines
            return self.rng.randrange(0, WC.REG_WC_LINES + 8, 4)
        if r < 0.75:                                    # counters
            return counters_at(self.rng.choice(list(APERTURES))) + \
                self.rng.randrange(0, 8 * WC.NUM_COUNTERS + 8, 4)
        if r < 0.85:
            return WC.REGS_SIZE - self.rng.randrange(1, 9)
        return self.rng.randrange(WC.REGS_SIZE)

    def op_reg_read(self) -> None:
        size, off = self.rng.choice((1, 2, 4, 4, 8, 8)), self.reg_offset()
        self.note(f"read{size} BAR0+0x{off:x}")
        self.read(self.model.bars[0][0] + off, size, "BAR0")

    def op_reg_write(self) -> None:
        size = self.rng.choice((1, 2, 4, 4, 8, 8))
        off = self.rng.choice((WC.REG_SCRATCH, WC.REG_SCRATCH + 4,
                               self.reg_offset()))
        value = self.value(size)
        self.note(f"write{size} BAR0+0x{off:x} = 0x{value:x}")
        self.write(self.model.bars[0][0] + off, size, value)

    def op_control(self) -> None:
        reset, flush = WC.CTRL_RESET_COUNTERS, WC.CTRL_FLUSH
        value = self.rng.choice((reset, flush, flush, flush, reset | flush,
                                 0, self.rng.getrandbits(32) & ~reset))
        self.note(f"CONTROL = 0x{value:x}")
        self.write(self.model.bars[0][0] + WC.REG_CONTROL, 4, value)

    def op_pm(self) -> None:
        """D0 <-> D3hot (D1, D2 unsupported: ignored); no reset on D0."""
        states = PCI.PM_CTRL_STATE_MASK
        state = self.rng.choice((0, 0, 1, 2, 3) if self.model.d3 else
                                (0, 1, 2, 3, 3))
        value = state | (self.rng.getrandbits(16) & ~states) * \
            (self.rng.random() < 0.3)
        self.note(f"PMCSR = 0x{value:x}")
        was_d3 = self.model.d3
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
        """Random Device Control bits, sometimes Initiate FLR."""
        devctl, flr = self.dev.pcie + PCI.EXP_DEVCTL, self.rng.random() < 0.3
        value = self.rng.getrandbits(16) & ~PCI.EXP_DEVCTL_BCR_FLR | \
            PCI.EXP_DEVCTL_BCR_FLR * flr
        self.note(f"DEVCTL = 0x{value:x}" + (" (FLR)" if flr else ""))
        self.dev.cfg_write(devctl, 2, value)
        if flr:
            self.model.reset()
            self.model.mem_enabled = self.model.d3 = False
            self.check_after_flr(devctl)
            self.reprogram()

    def check_after_flr(self, devctl: int) -> None:
        got = [self.dev.cfg_read(off, size) for off, size in
               ((PCI.COMMAND, 2), (PCI.STATUS, 2), (PCI.BASE_ADDRESS_0, 4),
                (devctl, 2), (self.dev.pm + PCI.PM_CTRL, 2))]
        if got[0] & PCI.COMMAND_MEMORY or \
                not got[1] & PCI.STATUS_IMM_READY or got[2] or \
                got[3] & PCI.EXP_DEVCTL_BCR_FLR or \
                got[4] & PCI.PM_CTRL_STATE_MASK:
            raise Failure("after FLR: COMMAND, STATUS, BAR0, DEVCTL, PMCSR "
                          f"read {', '.join(map(hex, got))}: expected memory "
                          "off, Immediate Readiness, 0, FLR clear, D0")

    def op_command(self) -> None:
        enable = not self.model.mem_enabled or self.rng.random() < 0.3
        value = PCI.COMMAND_MEMORY * enable | \
            self.rng.choice((0, PCI.COMMAND_MASTER, PCI.COMMAND_INTX_DISABLE))
        self.note(f"COMMAND = 0x{value:x}")
        self.dev.cfg_write(PCI.COMMAND, 2, value)
        self.model.mem_enabled = enable

    def op_qom_get(self) -> None:
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

    def checkpoint(self) -> None:
        """Every counter of both apertures over QMP.  Under qtest writes
        never enter the WC model (memory type unknown): no drain needed."""
        for bar in APERTURES:
            for counter in COUNTER_NAMES:
                self.check_counter(bar, counter)


def sanitizer_lines(path: str) -> List[str]:
    with open(path, errors="replace") as f:
        return [line.rstrip() for line in f
                if any(mark in line for mark in SANITIZER_MARKS)]


def qemu_args(args: argparse.Namespace) -> List[str]:
    """QEMU's arguments beyond the qtest machine's own (-accel qtest, the
    qtest and QMP sockets).  No -L: a QEMU that build-qemu.sh built finds
    Debian's firmware in its build tree (qemu-bundle/)."""
    return ["-nodefaults",
            "-device", f"wc-testdev,id=wctd,wc-lines={args.wc_lines}"]


def new_machine(args: argparse.Namespace, name: str,
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

    vm = Machine(args.qemu, qemu_args(args), name=name, base_temp_dir=tmp,
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


def run_once(args: argparse.Namespace, seed: int,
             log_path: str) -> Tuple[int, Optional[List[str]]]:
    """One seed, one QEMU: (operations done, None or the failure's lines).
    QEMU's output is kept in @log_path."""
    fuzzer: Optional[Fuzzer] = None
    failure: Optional[Failure] = None
    deadline = time.monotonic() + (args.seconds or float("inf"))
    with tempfile.TemporaryDirectory(prefix="fuzz-wctd-") as tmp:
        vm = new_machine(args, f"qemu-seed-{seed}", tmp)
        try:
            launch(vm)
            fuzzer = Fuzzer(vm, seed, args.wc_lines)
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
    if not failure and stopped:
        failure = Failure(stopped)
    if not failure and sanitizer_lines(log_path):
        failure = Failure("sanitizer report on QEMU's stderr")
    index = fuzzer.index if fuzzer else 0
    if failure:
        return index, describe(args, seed, failure, index, fuzzer, stopped,
                               log_path)
    return index, None


def describe(args: argparse.Namespace, seed: int, error: Failure,
             index: int, fuzzer: Optional[Fuzzer], stopped: Optional[str],
             log_path: str) -> List[str]:
    """Failure lines: what, where, the last operations, how to replay."""
    lines = [f"operation {index}: {error}"]
    if stopped and stopped != str(error):
        lines.append(stopped)
    lines += ["stderr: " + line for line in sanitizer_lines(log_path)[:20]]
    if fuzzer:
        lines += ["last operations:"] + ["  " + h for h in fuzzer.history]
    replay = [sys.argv[0], "--qemu", args.qemu, "--qemu-src", args.qemu_src,
              "--seed", str(seed),
              "--runs", "1", "--iterations", str(index + 1),
              "--seconds", "0", "--wc-lines", str(args.wc_lines)]
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
    p.add_argument("--wc-lines", type=int, default=4, metavar="N",
                   help="the device's wc-lines property, 0-16 (4)")
    p.add_argument("--log", metavar="DIR",
                   help="keep QEMU's stderr of each run here")
    args = p.parse_args(argv)
    if not (os.path.isfile(args.qemu) and os.access(args.qemu, os.X_OK)):
        p.error(f"--qemu {args.qemu}: no such executable")
    if args.iterations < 1 or args.runs < 1 or args.seconds < 0:
        p.error("--iterations and --runs must be positive, --seconds >= 0")
    if not 0 <= args.wc_lines <= 16:
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
        start = time.monotonic()
        ops, failure = run_once(args, seed, log_path)
        took = time.monotonic() - start
        if failure:
            failed += 1
            print(f"not ok {n} seed {seed}: {failure[0]}")
            print("\n".join("# " + line for line in failure[1:]), flush=True)
            continue
        print(f"ok {n} seed {seed}: {ops} operations in {took:.1f} s, "
              f"0 sanitizer reports", flush=True)
        if not args.log:
            os.unlink(log_path)
    if not args.log and not failed:
        os.rmdir(log_dir)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
