#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Show a long build's progress while its output goes to a log file.

Reads the build's output on stdin and writes every line to --log.  Progress
comes from ninja's "[N/M]" prefixes, or for kbuild (no counts) from the
number of "  CC ..." style lines against the most a build of the same
tree printed (--count-file; the first build shows counts only).
On a terminal it is one line, updated in place; otherwise (CI) a plain
line every 10 percent or every minute.  Run it at the end of a pipe under
`set -o pipefail`, so the build's own status decides.
"""
import argparse
import re
import sys
import time
from pathlib import Path
from typing import Optional, TextIO

NINJA = re.compile(r"^\[(\d+)/(\d+)\] ")
KBUILD = re.compile(r"^  [A-Z][A-Z0-9_]{1,10} +\S")


class Meter:
    """What has been done, and how to say it."""

    def __init__(self, label: str, expected: Optional[int], out: TextIO) -> None:
        self.label = label
        self.expected = expected
        self.out = out
        self.tty = out.isatty()
        self.t0 = time.monotonic()
        self.done = 0
        self.total: Optional[int] = None
        self.last_shown = 0.0
        self.last_step = -1
        self.last_text = ""

    def line(self, text: str) -> None:
        m = NINJA.match(text)
        if m:
            self.done, self.total = int(m.group(1)), int(m.group(2))
        elif KBUILD.match(text):
            self.done += 1
            self.total = max(self.expected, self.done) if self.expected else None
        else:
            return
        self.show()

    def text(self) -> str:
        elapsed = int(time.monotonic() - self.t0)
        took = f"{elapsed // 60}m{elapsed % 60:02d}s"
        if self.total:
            pct = 100 * self.done // self.total
            return f"{self.label}: {pct:3d}% ({self.done}/{self.total}) {took}"
        return f"{self.label}: {self.done} steps {took}"

    def show(self, final: bool = False) -> None:
        now = time.monotonic()
        if self.tty:
            if final or now - self.last_shown >= 0.25:
                self.out.write("\r\033[K" + self.text() + ("\n" if final else ""))
                self.out.flush()
                self.last_shown = now
            return
        step = 10 * self.done // self.total if self.total else -1
        if final or step > self.last_step or now - self.last_shown >= 60:
            text = self.text()
            if final and text == self.last_text:
                return
            self.out.write(text + "\n")
            self.out.flush()
            self.last_shown, self.last_step, self.last_text = now, step, text


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                epilog=__doc__.split("\n\n", 1)[1])
    p.add_argument("--label", required=True, help="what is built, e.g. "
                   "'build-qemu: compiling'")
    p.add_argument("--log", required=True, type=Path, help="the full log")
    p.add_argument("--count-file", type=Path, help="kbuild: where the step "
                   "count of the last complete build is kept")
    args = p.parse_args()
    expected = None
    if args.count_file and args.count_file.exists():
        text = args.count_file.read_text().strip()
        expected = int(text) if text.isdigit() else None
    meter = Meter(args.label, expected, sys.stderr)
    # Compilers may print bytes that are not UTF-8: keep the line anyway.
    sys.stdin.reconfigure(errors="replace")
    with open(args.log, "w") as log:
        for raw in sys.stdin:
            log.write(raw)
            meter.line(raw)
    if meter.done:
        meter.show(final=True)
        # The largest count seen is a build from scratch's.
        if args.count_file and meter.done > (expected or 0):
            args.count_file.write_text(f"{meter.done}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
