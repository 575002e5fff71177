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

Exit status: 0 all agree; 1 a mismatch (each printed); 2 nothing to check
(no result, no counters line, QMP failed), with the reason.
"""
import argparse
import json
import os
import socket
import sys
import time

PROG = "check-counters"


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
                   help="the QEMU process (or its wrapper): stop waiting "
                   "when it is gone")
    p.add_argument("--device", default="/machine/peripheral/wctd",
                   help="QOM path of wc-testdev (default: %(default)s)")
    p.add_argument("--hotplug-bus", default="wctb-rp",
                   help="the slot (bus id) device_add plugs wc-testdev "
                   "into (default: %(default)s)")
    p.add_argument("--timeout", type=float, default=600,
                   help="seconds to wait for the result (default: %(default)s)")
    return p.parse_args(argv)


def alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def port_lines(path):
    """The results port's complete "wctb-..." lines, as (key, rest)."""
    lines = []
    try:
        with open(path, "rb") as f:
            for raw in f:
                if not raw.endswith(b"\n"):
                    break               # the serial port is mid-line
                line = raw.decode("utf-8", "replace").strip("\r\n")
                if line.startswith("wctb-"):
                    key, _, rest = line.partition(": ")
                    lines.append((key, rest.strip()))
    except FileNotFoundError:
        pass
    return lines


def report_lines(path):
    """The results port's "wctb-..." lines, by key (the last of each)."""
    return dict(port_lines(path))


def host_requests(path):
    """The payloads of the results port's "wctb-host:" lines, in order."""
    return [rest for key, rest in port_lines(path) if key == "wctb-host"]


class Host:
    """Runs the guest's requests over one QMP connection, opened on need."""

    def __init__(self, args):
        self.args = args
        self.qmp = None
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

    def wait_deleted(self, dev, seconds=60):
        """The guest may see its device go before QEMU has finished the
        unplug (the slot is powered off after the removal): wait for it."""
        deadline = time.monotonic() + seconds
        while any(p["name"] == dev for p in self.connection().command(
                "qom-list", path="/machine/peripheral")):
            if time.monotonic() > deadline:
                raise CheckError(f"device {dev} still exists {seconds}s "
                                 "after the guest saw it leave")
            time.sleep(0.05)

    def poll(self):
        for request in host_requests(self.args.results)[self.done:]:
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


def wait_for_result(args, host):
    deadline = time.monotonic() + args.timeout
    while time.monotonic() < deadline:
        host.poll()
        lines = report_lines(args.results)
        if "wctb-result" in lines:
            return lines
        if not alive(args.pid):
            raise CheckError("QEMU ended before the guest reported a result")
        time.sleep(0.02)
    raise CheckError(f"no result after {args.timeout:.0f}s")


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


def check(args, host):
    lines = wait_for_result(args, host)
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
    host = Host(args)
    try:
        count, bad = check(args, host)
    except (CheckError, OSError, ValueError) as e:
        print(f"{PROG}: cannot check: {e}")
        quit_qemu(host)
        return 2
    for line in bad:
        print(f"{PROG}: MISMATCH {line}")
    if bad:
        return 1
    print(f"{PROG}: the device agrees with the guest "
          f"({count} counters and the audit ledger)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
