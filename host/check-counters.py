#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""The host checks the guest: compare wc-testdev's counters, read over QMP,
with what the guest reported on its results port.

run-vm.sh starts this next to QEMU.  It waits for the guest's result line
(the guest then holds, wctb.hold=1), reads every counter of the device as a
QOM property over QMP, and compares:
  - "wctb-counters:" (every counter as the guest read it through BAR0) must
    equal the device's counters: a guest that lies fails the run;
  - "wctb-ledger:" (what the guest's final audit wrote) must equal the
    device's write counters: a lost or invented write fails the run.
Then it ends QEMU with the QMP "quit" command.

While it waits, it runs the guest's requests to the host, "wctb-host:"
lines on the results port, in order, over QMP:
  - "device_del ID": unplug device ID (the guest's hot-unplug test);
  - "device_add ID": add wc-testdev ID back in --hotplug-bus.
Anything else, or a request QMP refuses, is a mismatch (the run fails
after the guest's own verdict).  WCTB_HOST_IGNORE_REQUESTS=1 in the environment
makes it ignore them (a negative control: the guest must notice).

It also owns the boot's deadline, which follows the guest's progress
(see Watchdog): when the guest stops making progress it kills QEMU.

Exit status: 0 all agree; 1 a mismatch (each printed); 2 nothing to check
(no result, no counters line, QMP failed), with the reason; 3 the guest
hung (no progress within its budget), QEMU killed, with where it hung.
"""
import argparse
import json
import os
import select
import signal
import socket
import sys
import threading
import time

PROG = "check-counters"
BOOT_BUDGET = 120               # seconds, reference pace
HOST_CALIBRATION_LOOPS = 100_000
HOST_CALIBRATION_REF_S = 0.040  # what those loops take on the reference host


class CheckError(Exception):
    """Nothing could be checked; the message says why."""


def parse_args(argv):
    p = argparse.ArgumentParser(
        prog=PROG, description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__.split("\n\n", 1)[1])
    p.add_argument("--qmp", required=True, help="QEMU's QMP unix socket")
    p.add_argument("--results", required=True,
                   help="the results port's file (results.tap)")
    p.add_argument("--pid", type=int, required=True,
                   help="the QEMU process: stop waiting when it is gone, "
                   "kill it when the guest stops making progress")
    p.add_argument("--device", default="/machine/peripheral/wctd",
                   help="QOM path of wc-testdev (default: %(default)s)")
    p.add_argument("--hotplug-bus", default="wctb-rp",
                   help="the slot (bus id) device_add plugs wc-testdev "
                   "into (default: %(default)s)")
    p.add_argument("--boot-budget", type=float, default=BOOT_BUDGET,
                   help="seconds at the reference pace from QEMU's start "
                   "to the guest's first line, scaled by this host's pace "
                   "and --slow-down (default: %(default)s)")
    p.add_argument("--timeout", type=float, default=0,
                   help="a hard limit in seconds for the whole boot on top "
                   "of the progress watchdog (default: none)")
    p.add_argument("--slow-down", type=float, default=1,
                   help="run QEMU this many times slower than it could "
                   "(SIGSTOP/SIGCONT duty cycle), to prove that the "
                   "watchdog follows the guest's pace (default: 1, off)")
    args = p.parse_args(argv)
    if args.slow_down < 1:
        p.error("--slow-down must be at least 1")
    return args


def alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


class Port:
    """The results port's file, read as the guest writes it: complete
    lines only (the serial port may be mid-line), each once."""

    def __init__(self, path):
        self.path = path
        self.offset = 0
        self.partial = b""
        self.lines = []

    def read_new(self):
        """The lines completed since the last call."""
        try:
            with open(self.path, "rb") as f:
                f.seek(self.offset)
                data = f.read()
        except FileNotFoundError:
            return []
        self.offset += len(data)
        *complete, self.partial = (self.partial + data).split(b"\n")
        new = [raw.decode("utf-8", "replace").strip("\r") for raw in complete]
        self.lines.extend(new)
        return new

    def wctb(self):
        """The "wctb-..." lines so far, as (key, rest)."""
        out = []
        for line in self.lines:
            if line.startswith("wctb-"):
                key, _, rest = line.partition(": ")
                out.append((key, rest.strip()))
        return out

    def report(self):
        """The "wctb-..." lines by key (the last of each)."""
        return dict(self.wctb())

    def host_requests(self):
        """The payloads of the "wctb-host:" lines, in order."""
        return [rest for key, rest in self.wctb() if key == "wctb-host"]


def fields(text):
    """The NAME=VALUE words of @text, by name."""
    return dict(w.partition("=")[::2] for w in text.split() if "=" in w)


def host_pace():
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


class Hung(Exception):
    """The guest stopped making progress; the message says where."""


class Watchdog:
    """The deadline of one boot, moved by what the guest reports.

    Until the guest's first line: the boot budget.  "wctb-pace: ...
    idle=S" gives the idle allowance S (the guest's pace included).
    "wctb-start: NAME budget=B": NAME may run B seconds, plus S for init
    to report it.  Its "wctb-end:" and any line outside a step: S more
    from that line.  --timeout, if given, caps it all.
    """

    def __init__(self, boot_budget, cap):
        self.t0 = time.monotonic()
        self.idle = None
        self.step = None
        self.deadline = self.t0 + boot_budget
        self.why = (f"no 'wctb-pace:' line (init's first) on the results "
                    f"port within the boot budget of {boot_budget:.0f}s")
        self.cap = self.t0 + cap if cap else None

    def saw(self, line, now):
        key, _, rest = line.partition(": ")
        f = fields(rest)
        if key in ("wctb-pace", "wctb-result"):
            print(f"{PROG}: {key} after {now - self.t0:.2f}s", flush=True)
        if key == "wctb-pace" and f.get("idle", "").isdigit():
            self.idle = int(f["idle"])
        if self.idle is None:
            return      # still booting: the boot budget holds
        if key == "wctb-start" and f.get("budget", "").isdigit():
            name, budget = rest.split()[0], int(f["budget"])
            self.step = name
            self.deadline = now + budget + self.idle
            self.why = (f"'{name}' ran past its budget of {budget}s "
                        f"(+{self.idle}s for init to report it)")
        elif key == "wctb-end" or self.step is None:
            self.step = None
            self.deadline = now + self.idle
            self.why = (f"nothing on the results port for {self.idle}s "
                        f"after '{line[:100]}'")

    def check(self, now):
        if self.cap is not None and now > self.cap:
            raise Hung(f"the hard limit of --timeout "
                       f"{self.cap - self.t0:.0f}s passed")
        if now > self.deadline:
            raise Hung(self.why)


class Qemu:
    """The QEMU process, through a pidfd where the host has them: signals
    never reach a process that took over its pid after it ended, and an
    exited (even unreaped) QEMU counts as gone."""

    def __init__(self, pid):
        self.pid = pid
        self.gone = False
        try:
            self.fd = os.pidfd_open(pid)
        except ProcessLookupError:
            self.fd, self.gone = None, True
        except OSError:             # no pidfds (old kernel, seccomp)
            self.fd = None

    def signal(self, sig):
        try:
            if self.fd is not None:
                signal.pidfd_send_signal(self.fd, sig)
            elif not self.gone:
                os.kill(self.pid, sig)
        except ProcessLookupError:
            self.gone = True

    def alive(self):
        if self.gone:
            return False
        if self.fd is not None:
            return not select.select([self.fd], [], [], 0)[0]
        return alive(self.pid)

    def close(self):
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


class Throttle(threading.Thread):
    """Stops and continues QEMU so that it runs 1/FACTOR of the time;
    QEMU is always left running."""

    PERIOD = 0.1

    def __init__(self, qemu, factor):
        super().__init__(daemon=True)
        self.qemu = qemu
        self.run_for = self.PERIOD / factor
        self.stopped = threading.Event()

    def run(self):
        try:
            while not self.stopped.is_set():
                self.qemu.signal(signal.SIGSTOP)
                self.stopped.wait(self.PERIOD - self.run_for)
                self.qemu.signal(signal.SIGCONT)
                self.stopped.wait(self.run_for)
        finally:
            self.qemu.signal(signal.SIGCONT)

    def stop(self):
        # A second TERM must not cut this short: QEMU would stay stopped.
        old = signal.pthread_sigmask(signal.SIG_BLOCK,
                                     {signal.SIGTERM, signal.SIGHUP})
        try:
            self.stopped.set()
            if self.is_alive():
                self.join()
            self.qemu.signal(signal.SIGCONT)
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, old)


class Host:
    """Runs the guest's requests over one QMP connection, opened on need."""

    def __init__(self, args, port):
        self.args = args
        self.port = port
        self.qmp = None
        self.wait_budget = self.WAIT_BUDGET
        self.done = 0
        self.failed = []                # requests QMP refused
        self.unplugging = set()         # device_del sent, not yet re-added
        self.ignore = os.environ.get("WCTB_HOST_IGNORE_REQUESTS") == "1"

    def connection(self):
        if self.qmp is None:
            self.qmp = Qmp(self.args.qmp)
        return self.qmp

    def close(self):
        if self.qmp is not None:
            self.qmp.sock.close()
            self.qmp = None

    def run(self, request):
        verb, _, dev = request.partition(" ")
        if verb == "device_del" and dev:
            self.connection().command("device_del", id=dev)
            self.unplugging.add(dev)
        elif verb == "device_add" and dev:
            if dev in self.unplugging:
                self.wait_deleted(dev)
                self.unplugging.discard(dev)
            self.connection().command("device_add", driver="wc-testdev",
                                      id=dev, bus=self.args.hotplug_bus)
        else:
            raise CheckError(f"the guest asked for '{request}': the host "
                             "knows only device_del ID and device_add ID")

    WAIT_BUDGET = 10        # seconds, until the guest's pace is known

    def wait_deleted(self, dev):
        """The guest may see its device go before QEMU has finished the
        unplug (the slot is powered off after the removal): wait for it,
        at most the guest's idle allowance (paced like its own waits)."""
        seconds = self.wait_budget
        deadline = time.monotonic() + seconds
        while any(p["name"] == dev for p in self.connection().command(
                "qom-list", path="/machine/peripheral")):
            if time.monotonic() > deadline:
                raise CheckError(f"device {dev} still exists {seconds}s "
                                 "after the guest saw it leave")
            time.sleep(0.05)

    def poll(self):
        for request in self.port.host_requests()[self.done:]:
            self.done += 1
            if self.ignore:
                print(f"{PROG}: ignoring the guest's request '{request}' "
                      "(WCTB_HOST_IGNORE_REQUESTS=1)", flush=True)
                continue
            try:
                self.run(request)
            except (CheckError, OSError, ValueError) as e:
                # The guest case waiting for it fails with its own message.
                self.close()
                self.failed.append(f"the guest's request '{request}' "
                                   f"failed: {e}")
                print(f"{PROG}: {self.failed[-1]}", flush=True)
                continue
            print(f"{PROG}: ran the guest's request '{request}'", flush=True)


def wait_for_result(args, host, watchdog, qemu):
    """The guest's report, once its "wctb-result:" line is in."""
    while True:
        now = time.monotonic()
        for line in host.port.read_new():
            watchdog.saw(line, now)
        host.wait_budget = watchdog.idle or Host.WAIT_BUDGET
        host.poll()
        lines = host.port.report()
        if "wctb-result" in lines:
            return lines
        if not qemu.alive():
            raise CheckError("QEMU ended before the guest reported a result")
        try:
            watchdog.check(now)
        except Hung:
            qemu.signal(signal.SIGKILL)
            raise
        time.sleep(0.02)


def parse_values(text, what):
    values = {}
    for field in text.split():
        name, sep, value = field.partition("=")
        if not sep or not value.isdigit():
            raise CheckError(f"malformed {what} field '{field}'")
        values[name] = int(value)
    return values


class Qmp:
    """A minimal QMP client: one command at a time, events skipped."""

    def __init__(self, path):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(30)
        try:
            self.sock.connect(path)
        except OSError as e:
            raise CheckError(f"cannot connect to QMP at {path}: {e}") from e
        self.buf = b""
        self.reply()                      # the greeting
        self.command("qmp_capabilities")

    def reply(self):
        while True:
            while b"\n" not in self.buf:
                chunk = self.sock.recv(65536)
                if not chunk:
                    raise CheckError("QMP connection closed")
                self.buf += chunk
            line, self.buf = self.buf.split(b"\n", 1)
            msg = json.loads(line)
            if "event" not in msg:
                return msg

    def command(self, name, **arguments):
        cmd = {"execute": name}
        if arguments:
            cmd["arguments"] = arguments
        self.sock.sendall(json.dumps(cmd).encode() + b"\n")
        msg = self.reply()
        if "error" in msg:
            raise CheckError(f"QMP {name}: {msg['error'].get('desc')}")
        return msg.get("return")


def compare(device, reported, what):
    """Lines describing every counter where @reported differs."""
    bad = []
    for name, value in sorted(reported.items()):
        if name not in device:
            bad.append(f"{what}: unknown counter '{name}'")
        elif device[name] != value:
            bad.append(f"{what}: guest says {name}={value}, "
                       f"the device counted {device[name]}")
    return bad


def read_device(qmp, path):
    """Every uint64 counter property of the device, by name."""
    names = [p["name"] for p in qmp.command("qom-list", path=path)
             if p["name"].startswith(("bar2-", "bar4-"))
             and p["type"] == "uint64"]
    return {name: qmp.command("qom-get", path=path, property=name)
            for name in names}


def quit_qemu(host):
    """The guest holds after its result: end QEMU, whatever happened."""
    try:
        host.connection().command("quit")
    except (CheckError, OSError, ValueError):
        host.close()
        try:
            Qmp(host.args.qmp).command("quit")
        except (CheckError, OSError, ValueError):
            pass


def check(args, host, watchdog, qemu):
    lines = wait_for_result(args, host, watchdog, qemu)
    qmp = host.connection()
    try:
        device = read_device(qmp, args.device)
    finally:
        try:
            qmp.command("quit")
        except (CheckError, OSError):
            pass
    if "wctb-counters" not in lines or "wctb-ledger" not in lines:
        raise CheckError("the guest reported no counters or ledger "
                         "(its audit failed? see results.tap)")
    counters = parse_values(lines["wctb-counters"], "wctb-counters")
    ledger = parse_values(lines["wctb-ledger"], "wctb-ledger")
    bad = [f"counters: the guest did not report {name}"
           for name in sorted(device) if name not in counters]
    bad += compare(device, counters, "counters")
    bad += compare(device, ledger, "ledger")
    return len(device), host.failed + bad


def main(argv=None):
    args = parse_args(argv)
    host = Host(args, Port(args.results))
    pace = host_pace()
    boot = args.boot_budget * pace * args.slow_down
    print(f"{PROG}: host pace {pace:.2f}, boot budget {boot:.0f}s"
          + (f", QEMU slowed down {args.slow_down:g}x"
             if args.slow_down > 1 else ""), flush=True)
    watchdog = Watchdog(boot, args.timeout)
    qemu = Qemu(args.pid)
    throttle = Throttle(qemu, args.slow_down)
    # Ended from outside (run-vm.sh interrupted): leave QEMU running, not
    # stopped, so that its owner can end it.
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, lambda *_: sys.exit(2))
    try:
        if args.slow_down > 1:
            throttle.start()
        count, bad = check(args, host, watchdog, qemu)
    except Hung as e:
        print(f"{PROG}: the guest hung: {e}; QEMU killed")
        return 3
    except (CheckError, OSError, ValueError) as e:
        print(f"{PROG}: cannot check: {e}")
        quit_qemu(host)
        return 2
    except Exception as e:      # a bug here must not read as a mismatch
        print(f"{PROG}: cannot check: internal error: {e!r}")
        quit_qemu(host)
        return 2
    finally:
        throttle.stop()
        qemu.close()
    for line in bad:
        print(f"{PROG}: MISMATCH {line}")
    if bad:
        return 1
    print(f"{PROG}: the device agrees with the guest "
          f"({count} counters and the audit ledger)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
