#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Boot the wc-testbed guest once and judge it: one process owns the VM.

It builds QEMU's command line and the guest's kernel command line, starts
QEMU through QEMU's own python/qemu (qemu.machine, QMP by qemu.qmp), reads
the guest's results port from a socket chardev as the guest writes it,
keeps the boot's deadline (Watchdog), runs the guest's requests to the
host over QMP, and once the guest reported its result reads every counter
of wc-testdev over QMP and compares them with what the guest reported:
  - "wctb-counters:" (every counter as the guest read it through BAR0) must
    equal the device's: a guest that lies fails the run;
  - "wctb-ledger:" (what the guest's audit wrote) must equal the device's
    write counters: a lost or invented write fails the run.
The results port's protocol is specified in guest-tests/lib/port.h.

Files in --log-dir: console.log (the guest's console), results.tap (the
port as received) and results.times (each line's arrival, seconds after
QEMU started), vm.log (this runner's own lines), qemu.log (QEMU's output),
qemu-cmdline.txt, qemu.pid while QEMU runs.

Exit status: 0 every test passed and the device agrees; 1 a test failed or
the device disagrees (each mismatch printed); 2 the guest panicked, hung
(no progress within its paced budget), never reported, QEMU died, or the
counters could not be checked; 3 a usage error.  The verdict comes from
the results port; console.log only says why a guest that never reported
stopped (a panic).
"""
import argparse
import logging
import os
import re
import shlex
import signal
import socket
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import results_port as port

PROG = "vm"
DEFAULT_SMP = 2                 # vCPUs: per-vCPU WC buffers need two
BOOT_BUDGET = 120               # seconds, reference pace
DEBUG_BOOT_BUDGET = 480         # KASAN and friends boot slower
HOST_CALIBRATION_LOOPS = 100_000
HOST_CALIBRATION_REF_S = 0.040  # what those loops take on the reference host
HOTPLUG_BUS = "wctb-rp"
DEVICE_ID = port.DEVICE_ID      # the id the guest's requests name
QBOOT = "/usr/share/qemu/qboot.rom"
HOST_WAIT_BUDGET = 10           # seconds, until the guest's pace is known
QMP_TIMEOUT = 30                # seconds for one QMP reply
ENDING_SIGNALS = {signal.SIGTERM, signal.SIGHUP, signal.SIGINT}


class CheckError(Exception):
    """Nothing could be checked; the message says why."""


class Hung(Exception):
    """The guest stopped making progress; the message says where."""


def parse_args(argv: Optional[Sequence[str]]) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog=PROG, description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__.split("\n\n", 1)[1])
    p.add_argument("--qemu", required=True, help="qemu-system-x86_64 with wc-testdev")
    p.add_argument("--qemu-python", required=True,
                   help="QEMU's python/ directory (qemu.machine, qemu.qmp)")
    p.add_argument("--kernel", required=True, help="the guest's bzImage")
    p.add_argument("--initrd", required=True, help="the guest's initramfs")
    p.add_argument("--log-dir", required=True, type=Path,
                   help="this boot's log directory (created)")
    p.add_argument("--boot", choices=("iommu", "noiommu"), required=True,
                   help="iommu: q35's intel-iommu with interrupt remapping; "
                   "noiommu: none, VFIO's unsafe noiommu mode")
    p.add_argument("--label", help="prefix of the lines printed (default: "
                   "[BOOT])")
    p.add_argument("--kvm", action="store_true", help="KVM instead of TCG")
    p.add_argument("--smp", type=int, default=DEFAULT_SMP, metavar="N",
                   help="the guest's vCPUs (default: %(default)s; the guest "
                   "kernel's CONFIG_NR_CPUS is 4)")
    p.add_argument("--debug-kernel", action="store_true",
                   help="the kernel is the debug build: 4-level paging, a "
                   "longer boot budget")
    p.add_argument("--stock", action="store_true",
                   help="the kernel is stock: its known warnings are "
                   "tolerated (wctb.kernel=stock)")
    p.add_argument("--depth", choices=("quick", "full"), default="quick")
    p.add_argument("--filter", help="run only the guest tests matching it")
    p.add_argument("--test-timeout", type=int,
                   help="each guest program's budget at the reference pace")
    p.add_argument("--iommu-paths", choices=("both", "legacy", "cdev"),
                   default="both", help="VFIO paths of the iommu boot")
    p.add_argument("--selftests", action="store_true",
                   help="the initramfs has upstream VFIO selftests to run")
    p.add_argument("--append", default="", help="more kernel command line")
    p.add_argument("--qemu-arg", action="append", default=[],
                   help="one more QEMU argument (repeatable)")
    p.add_argument("--timeout", type=float, default=0,
                   help="a hard limit in seconds for the whole boot on top "
                   "of the progress watchdog (default: none)")
    p.add_argument("--slow-down", type=float, default=1,
                   help="run QEMU this many times slower (SIGSTOP/SIGCONT "
                   "duty cycle), to prove that the watchdog follows the "
                   "guest's pace (default: 1, off)")
    p.add_argument("--shell", action="store_true",
                   help="an interactive guest shell on this terminal: no "
                   "tests, no watchdog, no check")
    p.add_argument("--known-warnings", default="known-stock-warnings.txt",
                   help="the known-warnings file's name, for the report")
    try:
        args = p.parse_args(argv)
    except SystemExit as e:
        sys.exit(0 if e.code == 0 else 3)
    if args.slow_down < 1:
        usage_error(p, "--slow-down must be at least 1")
    if args.smp < 1:
        usage_error(p, "--smp must be at least 1")
    if args.shell and (args.slow_down > 1 or args.timeout):
        usage_error(p, "--slow-down and --timeout act through the watchdog, "
                    "which --shell does not run")
    if args.filter and any(c.isspace() for c in args.filter):
        usage_error(p, "--filter must not contain white space")
    return args


def usage_error(p: argparse.ArgumentParser, msg: str) -> None:
    p.print_usage(sys.stderr)
    print(f"{PROG}: error: {msg}", file=sys.stderr)
    sys.exit(3)


# ---- the command lines -------------------------------------------------

def kernel_cmdline(args: argparse.Namespace) -> str:
    words = ["console=ttyS0", "panic=-1", "oops=panic", "loglevel=4"]
    # An emulated CPU on a busy host makes the clocksource watchdog
    # complain (warnings, not bugs of the code under test): trust the TSC.
    words.append("tsc=reliable")
    # ... and do not test the timer IRQ through the IO-APIC: on a slow or
    # throttled host the test misses its window and, with interrupt
    # remapping on, panics ("timer doesn't work through Interrupt-remapped
    # IO-APIC"), seen under --slow-down 4.
    words.append("no_timer_check")
    if args.boot == "iommu":
        words += ["intel_iommu=on", f"wctb.vfio-paths={args.iommu_paths}"]
        if args.selftests:
            words.append("wctb.vfio-selftests=1")
    else:
        words.append("vfio.enable_unsafe_noiommu_mode=1")
    # The debug kernel pages with 4 levels: under -cpu max it would use 5
    # (LA57), and Linux 7.3 with KASAN then reports a wild access when an
    # interrupt lands while identify_cpu() has the boot CPU's feature bits
    # cleared (pgtable_l5_enabled() reads false for that window, so KASAN
    # judges a 5-level direct-map address by the 4-level layout).  Seen
    # once in 17 debug boots, at 2 s, in __common_interrupt; upstream's,
    # not the series'.  With 4 levels the debug suite also runs about 3
    # times faster under TCG.  The normal kernels keep 5 levels.
    if args.debug_kernel:
        words.append("no5lvl")
    if args.test_timeout:
        words.append(f"wctb.timeout={args.test_timeout}")
    words.append(f"wctb.depth={args.depth}")
    if args.filter:
        words.append(f"wctb.filter={args.filter}")
    if args.stock:
        words.append("wctb.kernel=stock")
    words.append("wctb.shell=1" if args.shell else "wctb.hold=1")
    cmdline = " ".join(words)
    return f"{cmdline} {args.append.strip()}".strip()


def qemu_args(args: argparse.Namespace, results_fd: Optional[int]) -> List[str]:
    """QEMU's arguments after what qemu.machine adds (-display none, the
    QMP monitor)."""
    # 1 GiB: below 512 MiB of RAM the kernel turns THP (and PMD faults) off.
    # Two vCPUs by default: each has WC buffers of its own in wc-testdev,
    # and wc-ordering races stores of two of them into one line.
    a = ["-M", "q35", "-m", "1G", "-smp", str(args.smp), "-nodefaults",
         "-no-reboot", "-display", "none"]
    # qboot loads the kernel straight from fw_cfg: a few tenths of a
    # second less than SeaBIOS per boot under TCG.  Nothing else needs
    # firmware files (a QEMU of build-qemu.sh finds Debian's in its
    # qemu-bundle/, any other its own).
    a += ["-bios", QBOOT]
    # One TCG thread for all vCPUs: with a thread per vCPU, QEMU 10.0 dies
    # now and then in its memory core (address_space_translate_for_iotlb,
    # subpage_write) when intel-iommu is present, with or without our
    # patches (an upstream MTTCG race: one thread flushes another vCPU's
    # TLB while that vCPU uses it).  The vCPUs still interleave: the guest
    # schedules its threads on both, and each has its own WC buffers.
    a += ["-accel", "kvm", "-cpu", "host"] if args.kvm else \
        ["-accel", "tcg,thread=single", "-cpu", "max"]
    a += ["-kernel", args.kernel, "-initrd", args.initrd,
          "-append", kernel_cmdline(args)]
    # The IOMMU must come before the devices it translates for.  Interrupt
    # remapping, or type1 and iommufd refuse the device (MSI isolation).
    if args.boot == "iommu":
        if args.kvm:
            a += ["-M", "q35,kernel-irqchip=split"]
        a += ["-device", "intel-iommu,intremap=on"]
    # wc-testdev sits in a hot-plug slot of its own, so that device_del and
    # device_add reach the guest's vfio-pci.
    a += ["-device", f"pcie-root-port,id={HOTPLUG_BUS},chassis=1,slot=1",
          "-device", f"wc-testdev,id={DEVICE_ID},bus={HOTPLUG_BUS}"]
    a += ["-pidfile", str(args.log_dir / "qemu.pid")]
    a += args.qemu_arg
    if args.shell:
        a += ["-serial", "mon:stdio"]
    else:
        a += ["-serial", f"file:{args.log_dir / 'console.log'}"]
    if results_fd is None:
        a += ["-serial", f"file:{args.log_dir / 'results.tap'}"]
    else:
        a += ["-chardev", f"socket,id=results,fd={results_fd}",
              "-serial", "chardev:results"]
    return a


# ---- pace and deadline -------------------------------------------------

def host_pace() -> float:
    """How many times slower than the reference machine this host runs a
    fixed piece of Python (>= 1; the median of 3 short runs)."""
    times = []
    for _ in range(3):
        t0 = time.perf_counter()
        total = 0
        for i in range(HOST_CALIBRATION_LOOPS):
            total += i * i % 7
        times.append(time.perf_counter() - t0)
    return max(1.0, sorted(times)[1] / HOST_CALIBRATION_REF_S)


class Watchdog:
    """The deadline of one boot, moved by what the guest reports.

    Until the guest's first line: the boot budget.  The pace line gives the
    idle allowance S (the guest's pace included).  "wctb-start: NAME
    budget=B": NAME may run B seconds, plus S for init to report it.  Its
    "wctb-end:" and any line outside a step: S more from that line.
    --timeout, if given, caps it all.
    """

    def __init__(self, boot_budget: float, cap: float, log) -> None:
        self.t0 = time.monotonic()
        self.log = log
        self.idle: Optional[int] = None
        self.step: Optional[str] = None
        self.deadline = self.t0 + boot_budget
        self.why = (f"no '{port.PACE}:' line (init's first) on the results "
                    f"port within the boot budget of {boot_budget:.0f}s")
        self.cap = self.t0 + cap if cap else None

    def saw(self, text: str, now: float) -> None:
        line = port.parse(text)
        f = line.fields()
        if line.key in (port.PACE, port.RESULT):
            self.log(f"{line.key} after {now - self.t0:.2f}s")
        if line.key == port.PACE and f.get("idle", "").isdigit():
            self.idle = int(f["idle"])
        if self.idle is None:
            return      # still booting: the boot budget holds
        if line.key == port.START and f.get("budget", "").isdigit():
            name, budget = line.words()[0], int(f["budget"])
            self.step = name
            self.deadline = now + budget + self.idle
            self.why = (f"'{name}' ran past its budget of {budget}s "
                        f"(+{self.idle}s for init to report it)")
        elif line.key == port.END or self.step is None:
            self.step = None
            self.deadline = now + self.idle
            self.why = (f"nothing on the results port for {self.idle}s "
                        f"after '{text[:100]}'")

    def check(self, now: float) -> None:
        if self.cap is not None and now > self.cap:
            raise Hung(f"the hard limit of --timeout "
                       f"{self.cap - self.t0:.0f}s passed")
        if now > self.deadline:
            raise Hung(self.why)


class Throttle(threading.Thread):
    """Stops and continues QEMU so that it runs 1/FACTOR of the time,
    through a pidfd (no signal reaches another process that took QEMU's
    pid after it ended); QEMU is always left running."""

    PERIOD = 0.1

    def __init__(self, pid: int, factor: float) -> None:
        super().__init__(daemon=True)
        self.fd: Optional[int] = os.pidfd_open(pid)
        self.run_for = self.PERIOD / factor
        self.stopped = threading.Event()

    def signal(self, sig: int) -> None:
        try:
            if self.fd is not None:
                signal.pidfd_send_signal(self.fd, sig)
        except ProcessLookupError:
            pass

    def run(self) -> None:
        try:
            while not self.stopped.is_set():
                self.signal(signal.SIGSTOP)
                self.stopped.wait(self.PERIOD - self.run_for)
                self.signal(signal.SIGCONT)
                self.stopped.wait(self.run_for)
        finally:
            self.signal(signal.SIGCONT)

    def stop(self) -> None:
        """QEMU continued for good; a signal meanwhile cannot cut it short."""
        old = signal.pthread_sigmask(signal.SIG_BLOCK, ENDING_SIGNALS)
        try:
            self.stopped.set()
            if self.is_alive():
                self.join()
            self.signal(signal.SIGCONT)
            if self.fd is not None:
                os.close(self.fd)
                self.fd = None
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, old)


# ---- the results port --------------------------------------------------

class Port:
    """The results port: the socket QEMU's second UART writes to.  Every
    byte goes to results.tap as it comes, every line's arrival time to
    results.times; complete lines are handed out once each."""

    def __init__(self, sock: socket.socket, log_dir: Path, t0: float) -> None:
        self.sock = sock
        self.t0 = t0
        self.tap = open(log_dir / "results.tap", "wb")
        self.times = open(log_dir / "results.times", "w")
        self.partial = b""
        self.lines: List[str] = []
        self.closed = False

    def read(self) -> List[str]:
        """The lines completed since the last call (none if the socket
        has nothing now)."""
        try:
            data = self.sock.recv(65536)
        except BlockingIOError:
            return []
        if not data:
            self.closed = True
            return []
        self.tap.write(data)
        self.tap.flush()
        *complete, self.partial = (self.partial + data).split(b"\n")
        new = [raw.decode("utf-8", "replace").strip("\r") for raw in complete]
        now = time.monotonic() - self.t0
        self.times.write("".join(f"{now:.3f}\n" for _ in new))
        self.times.flush()
        self.lines.extend(new)
        return new

    def close(self) -> None:
        self.tap.close()
        self.times.close()
        self.sock.close()


# ---- QMP: requests and the counter check -------------------------------

class Host:
    """Runs the guest's requests over QMP, in order."""

    def __init__(self, vm, log) -> None:
        self.vm = vm
        self.log = log
        self.wait_budget: float = HOST_WAIT_BUDGET
        self.failed: List[str] = []     # requests QMP refused
        self.unplugging: set = set()    # device_del sent, not yet re-added
        self.ignore = os.environ.get("WCTB_HOST_IGNORE_REQUESTS") == "1"

    def run(self, request: str) -> None:
        verb, _, dev = request.partition(" ")
        if verb == "device_del" and dev:
            self.vm.cmd("device_del", id=dev)
            self.unplugging.add(dev)
        elif verb == "device_add" and dev:
            if dev in self.unplugging:
                self.wait_deleted(dev)
                self.unplugging.discard(dev)
            self.vm.cmd("device_add", driver="wc-testdev", id=dev,
                        bus=HOTPLUG_BUS)
        else:
            raise CheckError(f"the guest asked for '{request}': the host "
                             "knows only device_del ID and device_add ID")

    def wait_deleted(self, dev: str) -> None:
        """The guest may see its device go before QEMU has finished the
        unplug (the slot is powered off after the removal): wait for it,
        at most the guest's idle allowance (paced like its own waits)."""
        seconds = self.wait_budget
        deadline = time.monotonic() + seconds
        while any(p["name"] == dev for p in
                  self.vm.cmd("qom-list", path="/machine/peripheral")):
            if time.monotonic() > deadline:
                raise CheckError(f"device {dev} still exists {seconds:.0f}s "
                                 "after the guest saw it leave")
            time.sleep(0.05)

    def serve(self, request: str) -> None:
        if self.ignore:
            self.log(f"ignoring the guest's request '{request}' "
                     "(WCTB_HOST_IGNORE_REQUESTS=1)")
            return
        try:
            self.run(request)
        except Exception as e:      # noqa: BLE001 - QMP errors of any kind
            # The guest case waiting for it fails with its own message.
            self.failed.append(f"the guest's request '{request}' failed: {e}")
            self.log(self.failed[-1])
            return
        self.log(f"ran the guest's request '{request}'")


def read_device(vm) -> Dict[str, int]:
    """Every uint64 counter property of wc-testdev, by name."""
    path = f"/machine/peripheral/{DEVICE_ID}"
    names = [p["name"] for p in vm.cmd("qom-list", path=path)
             if p["type"] == "uint64" and re.match(r"bar\d+-", p["name"])]
    return {name: vm.cmd("qom-get", path=path, property=name) for name in names}


def compare(device: Dict[str, int], reported: Dict[str, int], what: str) -> List[str]:
    """Lines describing every counter where @reported differs."""
    bad = []
    for name, value in sorted(reported.items()):
        if name not in device:
            bad.append(f"{what}: unknown counter '{name}'")
        elif device[name] != value:
            bad.append(f"{what}: guest says {name}={value}, "
                       f"the device counted {device[name]}")
    return bad


def check_counters(device: Dict[str, int], lines: Dict[str, str]) -> List[str]:
    if port.COUNTERS not in lines or port.LEDGER not in lines:
        raise CheckError("the guest reported no counters or ledger "
                         "(its audit failed? see results.tap)")
    try:
        counters = port.counters(lines[port.COUNTERS], port.COUNTERS)
        ledger = port.counters(lines[port.LEDGER], port.LEDGER)
    except ValueError as e:
        raise CheckError(str(e)) from e
    bad = [f"counters: the guest did not report {name}"
           for name in sorted(device) if name not in counters]
    return bad + compare(device, counters, "counters") + compare(device, ledger, "ledger")


# ---- one boot ----------------------------------------------------------

@dataclass
class Outcome:
    """What one boot came to, before the verdict."""
    lines: List[str] = field(default_factory=list)
    result: Optional[str] = None        # the result line's rest
    hung: Optional[str] = None
    qemu_exit: Optional[int] = None     # negative: killed by that signal
    check_error: Optional[str] = None
    mismatches: List[str] = field(default_factory=list)
    counters_checked: int = 0


class Boot:
    """One guest boot, from QEMU's start to its end."""

    def __init__(self, args: argparse.Namespace, log) -> None:
        self.args = args
        self.log = log
        from qemu.machine import QEMUMachine    # from --qemu-python
        self.pair = socket.socketpair()
        os.set_inheritable(self.pair[0].fileno(), True)
        self.qemu_args = qemu_args(args, self.pair[0].fileno())
        self.vm = QEMUMachine(args.qemu, args=self.qemu_args, name="qemu",
                              log_dir=str(args.log_dir))
        (args.log_dir / "qemu-cmdline.txt").write_text(
            "# QMP and the results port are file descriptors of vm.py; "
            "qemu.machine adds the monitor\n"
            + shlex.join([args.qemu, *self.qemu_args]) + "\n")

    def run(self) -> Outcome:
        out = Outcome()
        pace = host_pace()
        budget = DEBUG_BOOT_BUDGET if self.args.debug_kernel else BOOT_BUDGET
        budget *= pace * self.args.slow_down
        self.log(f"host pace {pace:.2f}, boot budget {budget:.0f}s"
                 + (f", QEMU slowed down {self.args.slow_down:g}x"
                    if self.args.slow_down > 1 else ""))
        watchdog = Watchdog(budget, self.args.timeout, self.log)
        t0 = time.monotonic()
        results = Port(self.pair[1], self.args.log_dir, t0)
        self.throttle: Optional[Throttle] = None
        host = Host(self.vm, self.log)
        try:
            self.vm.launch()
            self.pair[0].close()
            self.pair[1].setblocking(False)
            # qemu.machine sets no limit on QMP replies: a wedged QEMU
            # must not hang the boot past its watchdog.
            self.vm._qmp.settimeout(QMP_TIMEOUT)   # pylint: disable=W0212
            if self.args.slow_down > 1:
                self.throttle = Throttle(self.vm.get_pid(), self.args.slow_down)
                self.throttle.start()
            self.watch(out, results, watchdog, host)
            if out.result is not None:
                self.check(out, results, host)
        finally:
            self.unthrottle()
            self.end(out)
            results.close()
        return out

    def unthrottle(self) -> None:
        if self.throttle is not None:
            self.throttle.stop()
            self.throttle = None

    def watch(self, out: Outcome, results: Port, watchdog: Watchdog,
              host: Host) -> None:
        """Until the guest's result, QEMU's end or the deadline."""
        import select
        while True:
            now = time.monotonic()
            select.select([results.sock], [], [], 0.1)
            for text in results.read():
                watchdog.saw(text, now)
                host.wait_budget = watchdog.idle or HOST_WAIT_BUDGET
                line = port.parse(text)
                if line.key == port.HOST:
                    host.serve(line.rest)
                elif line.key == port.RESULT:
                    out.result = line.rest
            out.lines = results.lines
            if out.result is not None:
                return
            if results.closed or not self.vm.is_running():
                self.drain(results)
                return
            try:
                watchdog.check(time.monotonic())
            except Hung as e:
                out.hung = str(e)
                self.unthrottle()
                self.vm.kill()
                return

    @staticmethod
    def drain(results: Port) -> None:
        """QEMU is gone: what it wrote before it went, and a last line
        without its newline."""
        results.sock.setblocking(True)
        results.sock.settimeout(1)
        try:
            while not results.closed:
                results.read()
        except OSError:
            pass
        if results.partial:
            results.lines.append(results.partial.decode("utf-8", "replace"))
            results.partial = b""

    def check(self, out: Outcome, results: Port, host: Host) -> None:
        """The guest holds after its result: read the device, compare."""
        try:
            device = read_device(self.vm)
            lines = port.last_by_key(results.lines)
            out.mismatches = host.failed + check_counters(device, lines)
            out.counters_checked = len(device)
        except CheckError as e:
            out.check_error = str(e)
        except Exception as e:      # noqa: BLE001 - a QMP failure of any kind
            out.check_error = f"QMP failed: {e!r}"

    def end(self, out: Outcome) -> None:
        try:
            self.vm.shutdown(timeout=10)
        except Exception as e:      # noqa: BLE001 - it was killed at least
            self.log(f"QEMU did not quit cleanly: {e}")
        out.qemu_exit = self.vm.exitcode()
        (self.args.log_dir / "qemu.pid").unlink(missing_ok=True)


# ---- the verdict -------------------------------------------------------

def listing(out: Outcome) -> List[str]:
    """The programs' top-level TAP results, with the seconds each took."""
    seconds: Dict[str, str] = {}
    for text in out.lines:
        line = port.parse(text)
        if line.key == port.END and len(line.words()) > 0:
            seconds[line.words()[0]] = line.fields().get("seconds", "")
    shown = []
    for text in out.lines:
        m = re.match(r"^(?:not )?ok \d+ (\S+)", text)
        if m:
            took = seconds.get(m.group(1))
            shown.append(text + (f"  ({took} s)" if took else ""))
    return shown


def tolerated(out: Outcome, known: str) -> List[str]:
    found: Dict[str, int] = {}
    for text in out.lines:
        # a diagnostic of a test or of init ("# kernel: ..."), at any depth
        at = text.find(port.TOLERATED)
        if text.startswith(port.DIAGNOSTIC) and at >= 0:
            found[text[at:]] = found.get(text[at:], 0) + 1
    field = port.Line(port.RESULT, out.result or "").fields().get("tolerated", "")
    n = int(field) if field.isdigit() else 0
    if not n:
        return []
    return [f"{n} known stock-kernel warning(s) tolerated ({known}):"] + \
        [f"  {count:6d} {text}" for text, count in sorted(found.items())]


def console_panic(log_dir: Path) -> Optional[str]:
    try:
        text = (log_dir / "console.log").read_text(errors="replace")
    except FileNotFoundError:
        return None
    m = re.search(r"Kernel panic[^\r\n]*", text)
    return m.group(0) if m else None


def verdict(out: Outcome, args: argparse.Namespace, say) -> int:
    """Print the boot's outcome; return its exit status."""
    for text in listing(out):
        say(text)
    for text in tolerated(out, args.known_warnings):
        say(text)
    console = args.log_dir / "console.log"
    results = args.log_dir / "results.tap"
    if out.result is not None:
        status = 0
        if out.check_error:
            say(f"FAIL: the host could not check the device's counters: {out.check_error}")
            status = 2
        elif out.mismatches:
            for m in out.mismatches:
                say(f"MISMATCH {m}")
            say("FAIL: the device's counters (QMP) disagree with the guest's report")
            status = 1
        else:
            say(f"the device agrees with the guest ({out.counters_checked} "
                "counters and the audit ledger)")
        word, _, rest = out.result.partition(" ")
        if word == "PASS":
            if status == 0:
                say(f"PASS: {rest}")
            return status
        say(f"FAIL: {rest}; the failing tests' output is in {results}")
        return 1
    panic = console_panic(args.log_dir)
    if panic:
        say(f"FAIL: the guest kernel panicked: {panic}")
    elif out.hung:
        say(f"FAIL: the guest hung: {out.hung}; QEMU killed")
    elif out.qemu_exit is not None and out.qemu_exit < 0:
        sig = -out.qemu_exit
        say(f"FAIL: QEMU died from signal {sig} ({signal.Signals(sig).name[3:]}) "
            "before the guest reported a result")
    else:
        say(f"FAIL: the guest never reported a result (QEMU exit status {out.qemu_exit})")
    qlog = args.log_dir / "qemu.log"
    if qlog.exists():
        tail = qlog.read_text(errors="replace").strip().splitlines()[-3:]
        say(f"QEMU output: {' | '.join(tail)}")
    say(f"console log: {console}")
    return 2


def shell(args: argparse.Namespace) -> int:
    """QEMU in the foreground with the guest's shell on this terminal."""
    import subprocess
    argv = [args.qemu, *qemu_args(args, None)]
    (args.log_dir / "qemu-cmdline.txt").write_text(shlex.join(argv) + "\n")
    return subprocess.run(argv, check=False).returncode


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parse_args(argv)
    sys.path.insert(0, args.qemu_python)
    label = args.label or f"[{args.boot}]"
    try:
        args.log_dir.mkdir(parents=True, exist_ok=True)
        vmlog = open(args.log_dir / "vm.log", "w")
    except OSError as e:
        print(f"{PROG}: error: cannot write the log directory: {e}", file=sys.stderr)
        return 3
    for path, what in ((args.qemu, "--qemu"), (args.kernel, "--kernel"),
                       (args.initrd, "--initrd"), (QBOOT, "qboot (qemu-system-data)")):
        if not os.path.exists(path):
            print(f"{PROG}: error: {what} {path}: no such file", file=sys.stderr)
            return 3
    if args.shell:
        return shell(args)

    def log(text: str) -> None:
        print(f"{PROG}: {text}", file=vmlog, flush=True)

    def say(text: str) -> None:
        print(f"{label} {text}", file=sys.stderr, flush=True)
        log(text)

    logging.basicConfig(stream=vmlog, level=logging.WARNING,
                        format=f"{PROG}: %(name)s: %(message)s")
    # Ended from outside (run-vm.sh interrupted): unwind, which ends QEMU.
    def ending(signum: int, _frame) -> None:
        for sig in ENDING_SIGNALS:      # one unwind; a second signal waits
            signal.signal(sig, signal.SIG_IGN)
        sys.exit(128 + signum)

    for sig in ENDING_SIGNALS:
        signal.signal(sig, ending)
    log(f"booting the guest (console: {args.log_dir / 'console.log'})")
    from qemu.machine.machine import VMLaunchFailure   # from --qemu-python
    try:
        boot = Boot(args, log)
        out = boot.run()
    except SystemExit:
        log("interrupted; QEMU ended")
        return 2
    except VMLaunchFailure as e:
        tail = " | ".join((e.output or "").strip().splitlines()[-3:])
        say(f"FAIL: QEMU did not start (exit status {e.exitcode}): {tail}")
        return 2
    except Exception as e:      # noqa: BLE001 - a harness fault, never a pass
        say(f"FAIL: the boot failed: {e!r}")
        return 2
    return verdict(out, args, say)


if __name__ == "__main__":
    sys.exit(main())
