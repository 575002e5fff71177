#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Convert the guest suite's TAP result files into one JUnit XML file.

Each TAP file is the results port of one VM boot (build/logs/*/results.tap).
Its top-level results are the guest programs; the "# "-prefixed lines before
a program's result are that program's log, which holds the nested TAP of a
kselftest program.  Every nested subtest becomes one JUnit testcase; a
program without subtests (it crashed, timed out or does not speak TAP)
becomes one testcase of its own.  A file that ends without a "wctb-result:"
line (the guest panicked or hung) gets a failing "LABEL/harness" testsuite.
Durations: a program's from its "wctb-end:" line; a subtest's from the
arrival times host/vm.py saved next to the TAP file (results.times), from
the line before its "RUN" to its result.  The line types are those of
guest-tests/lib/port.h (host/results_port.py).

The exit status is 0 whenever the XML was written, whatever the tests did.
"""

import argparse
import re
import sys
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

import results_port as port

PROG = "tap-to-junit.py"
NO_RESULT = ("the guest never reported a result: crash, panic or hang; "
             "see the console log")

RESULT_RE = re.compile(r"^(not ok|ok)\s+(\d+)\b\s*(?:-\s+)?(.*)$")
PLAN_RE = re.compile(r"^(TAP version \d+|1\.\.\d+)\b")
RUN_RE = re.compile(r"^\s*RUN\s+(\S+)")
END_RE = re.compile(rf"^{port.END}: (\S+) seconds=([0-9.]+)")
MESSAGE_RE = re.compile(r"Expected|failed", re.IGNORECASE)
XML_INVALID_RE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


class UserError(Exception):
    """Bad input: reported as one line on stderr, exit status 2."""


@dataclass
class Result:
    """One TAP result line, top-level or nested."""
    ok: bool
    name: str
    directive: str = ""    # "SKIP", "TODO", ... or "" when there is none
    reason: str = ""       # the text after "#", without a SKIP/TODO keyword

    @property
    def skipped(self):
        return self.directive in ("SKIP", "TODO")


@dataclass
class Case:
    """One JUnit testcase."""
    name: str
    status: str            # "pass", "fail" or "skip"
    message: str = ""
    output: list = field(default_factory=list)
    seconds: float = 0.0


@dataclass
class Program:
    """One guest program: its top-level result and its subtests."""
    result: Result
    cases: list = field(default_factory=list)
    log: list = field(default_factory=list)     # all of its output
    log_times: list = field(default_factory=list)  # each line's arrival
    other: list = field(default_factory=list)   # output of no subtest
    seconds: float = 0.0                        # from its "wctb-end:" line


@dataclass
class Run:
    """One TAP file, i.e. one VM boot."""
    label: str
    programs: list = field(default_factory=list)
    result_line: str = ""
    bail_out: str = ""
    run_log: list = field(default_factory=list)
    running: str = ""      # a "wctb-start:" step with no "wctb-end:" yet


def parse_result(text):
    """Parse "ok 3 name # SKIP why"; None if @text is no result line."""
    m = RESULT_RE.match(text)
    if not m:
        return None
    name, _, comment = m.group(3).partition(" #")
    res = Result(ok=m.group(1) == "ok", name=name.strip() or f"test {m.group(2)}")
    comment = comment.strip()
    word = comment.split(None, 1)[0] if comment else ""
    if word.upper() in ("SKIP", "TODO", "XFAIL"):
        res.directive = word.upper()
        res.reason = comment[len(word):].strip()
    else:
        res.reason = comment
    return res


def strip_comment(line):
    """Return @line without one leading "# " (or a lone "#"); other lines
    (a "wctb-host:" request) as they are."""
    if line.startswith("# "):
        return line[2:]
    return line[1:] if line.startswith("#") else line


def failure_message(output, fallback):
    """The first line of @output that says what failed, else @fallback."""
    for line in output:
        if MESSAGE_RE.search(line):
            return line.strip()
    return fallback or "failed"


def subtest_case(res, output):
    """Build the testcase of one nested result and its output."""
    if res.skipped:
        return Case(res.name, "skip", res.reason or res.directive.lower(), output)
    if res.ok:
        return Case(res.name, "pass", "", output)
    return Case(res.name, "fail", failure_message(output, res.reason), output)


def parse_program_log(prog):
    """Split the program's log into subtests and the rest of its output."""
    pending, running = [], None
    times = prog.log_times or [0.0] * len(prog.log)
    since = times[0] if times else 0.0
    for line, t in zip(prog.log, times):
        inner = strip_comment(line)
        res = parse_result(inner)
        if res:
            prog.cases.append(subtest_case(res, pending))
            prog.cases[-1].seconds = max(0.0, t - since)
            pending, running, since = [], None, t
        elif PLAN_RE.match(inner):
            prog.other.extend(pending)
            pending, running = [], None
        else:
            text = strip_comment(inner) if inner.startswith("#") else inner
            m = RUN_RE.match(text)
            if m:
                prog.other.extend(pending)
                pending, running, since = [], m.group(1), t
            else:
                pending.append(text)
    if running:
        why = "did not finish"
        if prog.result.reason:
            why += f": {prog.result.reason}"
        prog.cases.append(Case(running, "fail", why, pending))
    else:
        prog.other.extend(pending)


def program_cases(prog):
    """Add the testcases that the program's own result calls for."""
    res = prog.result
    if not prog.cases:
        if res.skipped:
            status = "skip"
        else:
            status = "pass" if res.ok else "fail"
        message = res.reason or ("skipped" if status == "skip" else "failed")
        prog.cases.append(Case(res.name, status, message, prog.other,
                               prog.seconds))
        prog.other = []
    elif not res.ok and all(c.status != "fail" for c in prog.cases):
        prog.cases.append(Case(f"{res.name} (exit status)", "fail",
                               res.reason or "failed", prog.other))
        prog.other = []


def is_last_partial_line(lines, index, raw):
    """True for a last line cut off without its newline (guest crash)."""
    return index == len(lines) - 1 and not raw.endswith("\n")


def parse_tap(label, path, raw, times=()):
    """Parse the text @raw of TAP file @path into a Run; @times are the
    lines' arrival times, where known."""
    run = Run(label)
    started, chunk, chunk_t, seconds = False, [], [], {}
    lines = raw.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    times = list(times) + [0.0] * (len(lines) - len(times))
    for i, line in enumerate(lines):
        line = line.replace("\r", "")
        res = parse_result(line)
        if line.startswith("#"):
            if started:
                chunk.append(line)
                chunk_t.append(times[i])
            else:
                run.run_log.append(line)
        elif res:
            prog = Program(res, log=chunk, log_times=chunk_t,
                           seconds=seconds.pop(res.name, 0.0))
            parse_program_log(prog)
            program_cases(prog)
            run.programs.append(prog)
            started, chunk, chunk_t = True, [], []
        elif PLAN_RE.match(line):
            started = True
        elif line.startswith(f"{port.RESULT}:"):
            run.result_line = line
        elif line.startswith((f"{port.LEDGER}:", f"{port.COUNTERS}:",
                              f"{port.PACE}:")):
            run.run_log.append(line)    # for vm.py's counter check
        elif line.startswith(f"{port.START}:"):
            run.running = line.split()[1] if len(line.split()) > 1 else ""
        elif END_RE.match(line):
            m = END_RE.match(line)
            seconds[m.group(1)] = float(m.group(2))
            run.running = ""
        elif line.startswith(f"{port.HOST}:"):
            chunk.append(line)          # a program's request to the host
            chunk_t.append(times[i])
        elif line.startswith("Bail out!"):
            run.bail_out = line
        elif line.strip() == "" or is_last_partial_line(lines, i, raw):
            chunk.append(line)
            chunk_t.append(times[i])
        else:
            raise UserError(f"{path}:{i + 1}: not a TAP line (expected 'ok', "
                            f"'not ok', '#', a plan or 'wctb-...:'): "
                            f"{line[:80]!r}")
    run.run_log.extend(chunk)
    return run


def harness_case(run):
    """A failing testcase when the run itself went wrong, else None."""
    if not run.result_line:
        why = NO_RESULT
        if run.running:
            why += f" (it was running '{run.running}')"
        return Case("result", "fail", why, run.run_log)
    verdict = run.result_line.split()[1:2]
    any_failed = any(c.status == "fail" for p in run.programs for c in p.cases)
    if verdict != ["PASS"] and not any_failed:
        why = run.bail_out or f"the guest reported {run.result_line!r}"
        return Case("result", "fail", why, run.run_log)
    return None


def clean(text):
    """Drop the characters XML 1.0 cannot hold."""
    return XML_INVALID_RE.sub("", text)


def counts(cases):
    """(tests, failures, skipped) of a list of testcases."""
    return (len(cases), sum(c.status == "fail" for c in cases),
            sum(c.status == "skip" for c in cases))


def add_suite(parent, name, classname, cases, other=(), seconds=0.0):
    """Append one <testsuite> with its testcases; return its counts."""
    tests, failures, skipped = counts(cases)
    suite = ET.SubElement(parent, "testsuite", name=clean(name),
                          tests=str(tests), failures=str(failures),
                          errors="0", skipped=str(skipped),
                          time=f"{seconds:.2f}")
    for case in cases:
        tc = ET.SubElement(suite, "testcase", classname=clean(classname),
                           name=clean(case.name), time=f"{case.seconds:.2f}")
        output = clean("\n".join(case.output))
        if case.status == "fail":
            ET.SubElement(tc, "failure", message=clean(case.message)).text = output
            continue
        if case.status == "skip":
            ET.SubElement(tc, "skipped", message=clean(case.message))
        if output:
            ET.SubElement(tc, "system-out").text = output
    if other:
        ET.SubElement(suite, "system-out").text = clean("\n".join(other))
    return tests, failures, skipped


def host_check_case(label, path, text):
    """The host's QMP counter check of one boot (host/vm.py's vm.log)."""
    lines = text.splitlines()
    if any("agrees with the guest" in line for line in lines):
        return Case("counters", "pass", output=lines)
    why = next((line for line in lines if "MISMATCH" in line or
                "could not check" in line or "the guest hung" in line),
               f"no verdict in {path}")
    return Case("counters", "fail", why, lines)


def build_xml(runs, checks=()):
    """The <testsuites> element for all runs and host checks."""
    root = ET.Element("testsuites", name="wc-testbed")
    totals = [0, 0, 0]
    for label, case in checks:
        for j, n in enumerate(add_suite(root, f"{label}/host-check",
                                        f"{label}.host-check", [case])):
            totals[j] += n
    for run in runs:
        suites = [(f"{run.label}/{p.result.name}", f"{run.label}.{p.result.name}",
                   p.cases, p.other, p.seconds)
                  for p in run.programs]
        harness = harness_case(run)
        if harness:
            suites.append((f"{run.label}/harness", f"{run.label}.harness",
                           [harness], (), 0.0))
        for suite in suites:
            for j, n in enumerate(add_suite(root, *suite)):
                totals[j] += n
    root.set("tests", str(totals[0]))
    root.set("failures", str(totals[1]))
    root.set("errors", "0")
    root.set("skipped", str(totals[2]))
    return root


def parse_spec(spec, seen):
    """Split a LABEL=TAPFILE argument."""
    label, sep, path = spec.partition("=")
    if not sep or not label or not path:
        raise UserError(f"bad argument {spec!r}: expected LABEL=TAPFILE")
    if label in seen:
        raise UserError(f"label {label!r} is given twice")
    seen.add(label)
    return label, path


def read_text(path):
    """The text of @path; undecodable bytes become U+FFFD."""
    try:
        with open(path, "rb") as f:
            return f.read().decode("utf-8", errors="replace")
    except OSError as e:
        raise UserError(f"cannot read {path}: {e.strerror}") from None


def read_times(path):
    """The arrival times vm.py saved next to TAP file @path, if any."""
    tpath = Path(path).with_suffix(".times")
    try:
        return [float(t) for t in tpath.read_text().split()]
    except FileNotFoundError:
        return []
    except (OSError, ValueError) as e:
        raise UserError(f"cannot read {tpath}: {e}") from None


def write_xml(root, output):
    """Write @root to @output ("-" is stdout) with an XML declaration."""
    ET.indent(root)
    tree = ET.ElementTree(root)
    if output == "-":
        tree.write(sys.stdout.buffer, encoding="UTF-8", xml_declaration=True)
        sys.stdout.buffer.write(b"\n")
        return
    try:
        tree.write(output, encoding="UTF-8", xml_declaration=True)
    except OSError as e:
        raise UserError(f"cannot write {output}: {e.strerror}") from None


def parse_args(argv):
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Convert the wc-testbed guest suite's TAP result files "
                    "(one per VM boot) into one JUnit XML file for CI.",
        epilog="example:\n  %(prog)s --output junit.xml \\\n"
               "      iommu=build/logs/latest/results.tap \\\n"
               "      noiommu=build/logs/other/results.tap\n\n"
               "Each nested kselftest subtest becomes a testcase in the\n"
               "testsuite LABEL/PROGRAM; a file without a 'wctb-result:' line\n"
               "adds a failing LABEL/harness testsuite.\n\n"
               "exit status: 0 the XML was written (whatever the tests did),\n"
               "2 bad input.",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--output", "-o", required=True, metavar="FILE",
                        help="JUnit XML file to write ('-' for stdout)")
    parser.add_argument("--host-check", action="append", default=[],
                        metavar="LABEL=FILE",
                        help="the log of host/vm.py's QMP counter check "
                             "of boot LABEL (vm.log): one more "
                             "testcase, LABEL/host-check (repeatable)")
    parser.add_argument("runs", nargs="+", metavar="LABEL=TAPFILE",
                        help="a results.tap file of one VM boot and the "
                             "name to file its tests under (e.g. "
                             "iommu, noiommu, patched)")
    return parser.parse_intermixed_args(argv)


def main(argv=None):
    args = parse_args(argv)
    try:
        seen, runs = set(), []
        for spec in args.runs:
            label, path = parse_spec(spec, seen)
            runs.append(parse_tap(label, path, read_text(path),
                                  read_times(path)))
        checks = []
        for spec in args.host_check:
            label, path = parse_spec(spec, set())
            checks.append((label, host_check_case(label, path,
                                                  read_text(path))))
        write_xml(build_xml(runs, checks), args.output)
    except UserError as e:
        print(f"{PROG}: error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
