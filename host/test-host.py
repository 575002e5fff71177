#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Self-test of the host tools: tap-to-junit.py and make-report.py (its
measurement report and its verdict matrix of the designs; run as
subprocesses on small inline fixtures in a temporary directory), and the
C header reader (cheader.py) on the real headers and on bad input.
Exit status 0 when every test passes.

  python3 host/test-host.py [-v]
"""

import json
import os
import subprocess
import sys
import tempfile
import unittest
import xml.etree.ElementTree as ET

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import cheader  # noqa: E402
import results_port  # noqa: E402

TAP_TO_JUNIT = os.path.join(HERE, "tap-to-junit.py")
MAKE_REPORT = os.path.join(HERE, "make-report.py")
SVG = "{http://www.w3.org/2000/svg}"

EXPECTED_LINE = ("../../guest-tests/sysfs-memtype.c:164:page_through_wc_is_64_"
                 "full_bursts:Expected 512 (512) == cnt(self, "
                 "WC_TESTDEV_CNT_WC_STORES) (0)")
SKIP_REASON = ("VFIO_DEVICE_GET_MMAP_COOKIE not supported (Inappropriate "
               "ioctl for device): kernel without the mmap cookie series")

# A full run: 4 programs; one failing, one skipped and one timed-out program.
FULL_TAP = f"""\
wctb-pace: pace=1.00 idle=10 calibration-ms=38.2 runs=5 depth=quick
# wc-testdev at 0000:00:01.0 bound to vfio-pci
TAP version 13
1..4
wctb-start: enumerate budget=120
# TAP version 13
# 1..2
# ok 1 global.ids
# ok 2 device.bar0_registers.bar_type_and_size
wctb-end: enumerate seconds=0.42
ok 1 enumerate
wctb-start: sysfs-memtype budget=120
wctb-host: device_del wctd
# TAP version 13
# 1..3
# # Starting 3 tests from 1 test cases.
# #  RUN           sysfs.page_through_wc_is_64_full_bursts ...
# # {EXPECTED_LINE}
# # page_through_wc_is_64_full_bursts: Test failed
# #          FAIL  sysfs.page_through_wc_is_64_full_bursts
# not ok 1 sysfs.page_through_wc_is_64_full_bursts
# #  RUN           sysfs.uc_line ...
# #            OK  sysfs.uc_line
# ok 2 sysfs.uc_line
# #  RUN           cookie.mission ...
# #      SKIP      {SKIP_REASON}
# #            OK  cookie.mission
# ok 3 cookie.mission # SKIP {SKIP_REASON}
# # FAILED: 2 / 3 tests passed.
not ok 2 sysfs-memtype # exit code 1
ok 3 vfio-cookie@cdev-iommufd # SKIP
not ok 4 vfio-legacy # TIMEOUT after 300 s
wctb-result: FAIL passed=1 failed=2 skipped=1
"""

# The guest died in the second program: no result line.  CRLF line ends and
# a control character the XML cannot hold.
TRUNCATED_TAP = ("TAP version 13\r\n1..2\r\n"
                 "# TAP version 13\r\n# 1..1\r\n"
                 "# #  RUN           a.b ...\r\n# #            OK  a.b\r\n"
                 "# ok 1 a.b\r\nnot ok 1 prog # exit code 2\r\n"
                 "wctb-start: second budget=120\r\n"
                 "# half a line\x01\r\n")

MEASURES = """\
boot noise that is ignored
# wctb-measure: series=naive mapping=wc-cookie status=ok uc-writes=512 wc-stores=0 full-bursts=0 partial-bursts=0 partial-bytes=0 bus-txns=512 bus-bytes=16384 last-write-type=UC- pat=uncached-minus leaf=pte
wctb-measure: series=patched mapping=wc-cookie-2m status=ok uc-writes=0 wc-stores=512 full-bursts=64 partial-bursts=0 partial-bytes=0 bus-txns=64 bus-bytes=5632 last-write-type=WC pat=write-combining leaf=pmd
wctb-measure: series=none mapping=uc-cookie status=unavailable reason="VFIO_DEVICE_GET_MMAP_COOKIE: Inappropriate ioctl for device"
wctb-measure: series=patched mapping=resource2 status=ok uc-writes=512 wc-stores=0 full-bursts=0 partial-bursts=0 partial-bytes=0 bus-txns=512 bus-bytes=16384 last-write-type=UC- pat=uncached-minus leaf=pte
"""
MEASURES_2 = """\
wctb-measure: series=naive mapping=wc-cookie-2m status=error reason="mmap: Device or resource busy"
"""
# The weak-order doorbell rows, with the drain reasons (register map 1.2);
# the no-fence row's line was split by a timer tick.
DRAIN_ZEROS = ("drain-serialize=0 drain-lock=0 drain-uc-other=0 "
               "drain-evict=0 drain-full=0")
MEASURES_DOORBELL = f"""\
wctb-measure: series=patched mapping=doorbell-no-fence status=ok uc-writes=64 wc-stores=512 full-bursts=63 partial-bursts=2 partial-bytes=64 bus-txns=129 bus-bytes=7704 drain-fence=0 drain-interrupt=1 drain-device=64 {DRAIN_ZEROS} doorbell-early=63 last-write-type=UC- pat=write-combining leaf=pte
wctb-measure: series=patched mapping=doorbell-sfence status=ok uc-writes=64 wc-stores=512 full-bursts=64 partial-bursts=0 partial-bytes=0 bus-txns=128 bus-bytes=7680 drain-fence=64 drain-interrupt=0 drain-device=0 {DRAIN_ZEROS} doorbell-early=0 last-write-type=UC- pat=write-combining leaf=pte
wctb-measure: series=none mapping=doorbell-sfence status=unavailable reason="VFIO_DEVICE_GET_MMAP_COOKIE: Inappropriate ioctl for device"
"""


# The verdict matrix (make-report.py --designs): the 13 cases of
# wc-designs.c, and the cells of a few synthetic designs.
CASES = ("uc-page", "wc-page", "doorbell-and-window", "wc-2m", "wc-1g",
         "uc-then-wc-same-page", "wc-then-uc-same-page",
         "fixed-offset-while-wc", "pwrite-while-wc", "memory-disable-refault",
         "reset-refault", "fork", "close-while-mapped")
ALL_EXACT = dict.fromkeys(CASES, "exact")
COOKIE = dict(ALL_EXACT, **{"wc-1g": "n/a",
                            "uc-then-wc-same-page": "refused EBUSY",
                            "wc-then-uc-same-page": "refused EBUSY"})
NAIVE = dict(COOKIE, **{c: "coerced to UC-" for c in (
    "wc-page", "doorbell-and-window", "wc-2m")})
SYSFS = dict(ALL_EXACT, **{"memory-disable-refault": "not revoked",
                           "fixed-offset-while-wc": "n/a",
                           "pwrite-while-wc": "n/a", "reset-refault": "n/a"})
NO_COOKIE = ("VFIO_DEVICE_GET_MMAP_COOKIE not supported (ENOTTY): kernel "
             "without the mmap cookie series")


def design_lines(design, cells, kernel=None, prefix="", end="\n"):
    """wctb-design lines of @design, one per case of @cells."""
    who = f"kernel={kernel} " if kernel else ""
    return "".join(f'{prefix}wctb-design: {who}design={design} case={case} '
                   f'cell="{word}" detail="{design} {case}: it\'s {word}"'
                   f'{end}' for case, word in cells.items())


def unsupported_line(kernel, design, reason=NO_COOKIE):
    return (f"# wctb-design: kernel={kernel} design={design} "
            f'status=unsupported reason="{reason}"\n')


def run(script, *args):
    """Run @script with @args; return the CompletedProcess."""
    return subprocess.run([sys.executable, script, *args], capture_output=True,
                          text=True, check=False)


class TempDirTest(unittest.TestCase):
    """A test case with a scratch directory."""

    def setUp(self):
        self._tmp = tempfile.TemporaryDirectory()
        self.dir = self._tmp.name

    def tearDown(self):
        self._tmp.cleanup()

    def write(self, name, text):
        path = os.path.join(self.dir, name)
        with open(path, "w", newline="", encoding="utf-8") as f:
            f.write(text)
        return path

    def assert_user_error(self, proc, where):
        """Exit status 2, @where on stderr, no traceback."""
        self.assertEqual(proc.returncode, 2, proc.stderr)
        self.assertIn(where, proc.stderr)
        self.assertNotIn("Traceback", proc.stderr)


class TapToJunitTest(TempDirTest):

    def convert(self, *specs):
        out = os.path.join(self.dir, "junit.xml")
        proc = run(TAP_TO_JUNIT, "--output", out, *specs)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        with open(out, "rb") as f:
            self.assertTrue(f.read(5) == b"<?xml", "no XML declaration")
        return ET.parse(out).getroot()

    def full(self):
        return self.convert("patched=" + self.write("full.tap", FULL_TAP))

    @staticmethod
    def case(root, suite, name):
        for ts in root.iter("testsuite"):
            if ts.get("name") == suite:
                for tc in ts.iter("testcase"):
                    if tc.get("name") == name:
                        return tc
        raise AssertionError(f"no testcase {suite} {name}")

    def test_failing_subtest_has_expected_line_as_message(self):
        tc = self.case(self.full(), "patched/sysfs-memtype",
                       "sysfs.page_through_wc_is_64_full_bursts")
        self.assertEqual(tc.get("classname"), "patched.sysfs-memtype")
        failure = tc.find("failure")
        self.assertIsNotNone(failure)
        self.assertEqual(failure.get("message"), EXPECTED_LINE)
        self.assertIn("Test failed", failure.text)
        self.assertNotIn("Starting 3 tests", failure.text)

    def test_skipped_subtest_has_reason(self):
        tc = self.case(self.full(), "patched/sysfs-memtype", "cookie.mission")
        self.assertIsNone(tc.find("failure"))
        self.assertEqual(tc.find("skipped").get("message"), SKIP_REASON)

    def test_passing_subtest_has_its_output(self):
        tc = self.case(self.full(), "patched/sysfs-memtype", "sysfs.uc_line")
        self.assertIsNone(tc.find("failure"))
        self.assertIsNone(tc.find("skipped"))
        self.assertIn("OK  sysfs.uc_line", tc.find("system-out").text)

    def test_host_request_is_kept_in_its_programs_log(self):
        root = self.full()
        suite = [s for s in root.iter("testsuite")
                 if s.get("name") == "patched/sysfs-memtype"][0]
        self.assertIn("wctb-host: device_del wctd",
                      suite.find("system-out").text)

    def test_timeout_without_subtests_is_one_failing_case(self):
        root = self.full()
        suites = [s for s in root.iter("testsuite")
                  if s.get("name") == "patched/vfio-legacy"]
        self.assertEqual(len(suites), 1)
        cases = suites[0].findall("testcase")
        self.assertEqual([c.get("name") for c in cases], ["vfio-legacy"])
        self.assertEqual(cases[0].find("failure").get("message"),
                         "TIMEOUT after 300 s")

    def test_program_time_from_its_end_line(self):
        root = self.full()
        times = {s.get("name"): s.get("time") for s in root.iter("testsuite")}
        self.assertEqual(times["patched/enumerate"], "0.42")
        self.assertEqual(times["patched/vfio-legacy"], "0.00")

    def test_subtest_time_from_the_arrival_times(self):
        lines = FULL_TAP.splitlines()
        # line i arrived at i seconds, but "ok 2 sysfs.uc_line" 2.5 s
        # after its RUN line
        arrival = [float(i) for i in range(len(lines))]
        uc = lines.index("# ok 2 sysfs.uc_line")
        arrival[uc] = arrival[uc - 2] + 2.5
        tap = self.write("t.tap", FULL_TAP)
        self.write("t.times", "".join(f"{t}\n" for t in arrival))
        root = self.convert("t=" + tap)
        self.assertEqual(self.case(root, "t/sysfs-memtype",
                                   "sysfs.uc_line").get("time"), "2.50")
        self.assertEqual(self.case(root, "t/enumerate",
                                   "global.ids").get("time"), "2.00")
        # a program without subtests takes its program's time
        self.assertEqual(self.case(root, "t/vfio-legacy",
                                   "vfio-legacy").get("time"), "0.00")
        # without a times file every subtest is 0
        root = self.full()
        self.assertEqual(self.case(root, "patched/sysfs-memtype",
                                   "sysfs.uc_line").get("time"), "0.00")

    def test_skipped_program_without_subtests(self):
        tc = self.case(self.full(), "patched/vfio-cookie@cdev-iommufd",
                       "vfio-cookie@cdev-iommufd")
        self.assertIsNotNone(tc.find("skipped"))

    def test_counts(self):
        root = self.full()
        # 2 enumerate + 3 sysfs-memtype + 1 vfio-cookie + 1 vfio-legacy
        self.assertEqual(root.get("name"), "wc-testbed")
        self.assertEqual(root.get("tests"), "7")
        self.assertEqual(root.get("failures"), "2")
        self.assertEqual(root.get("skipped"), "2")
        self.assertEqual(root.get("errors"), "0")
        suite = [s for s in root.iter("testsuite")
                 if s.get("name") == "patched/sysfs-memtype"][0]
        self.assertEqual((suite.get("tests"), suite.get("failures"),
                          suite.get("skipped")), ("3", "1", "1"))
        names = [s.get("name") for s in root.iter("testsuite")]
        self.assertNotIn("patched/harness", names)

    def test_truncated_file_gets_harness_failure(self):
        root = self.convert("full=" + self.write("full.tap", FULL_TAP),
                            "crash=" + self.write("crash.tap", TRUNCATED_TAP))
        tc = self.case(root, "crash/harness", "result")
        self.assertIn("never reported a result", tc.find("failure").get("message"))
        self.assertIn("it was running 'second'", tc.find("failure").get("message"))
        self.assertIn("half a line", tc.find("failure").text)
        self.assertNotIn("\x01", tc.find("failure").text)
        # prog's only subtest passed, so its exit status fails on its own
        tc = self.case(root, "crash/prog", "prog (exit status)")
        self.assertEqual(tc.find("failure").get("message"), "exit code 2")
        self.assertEqual(root.get("tests"), str(7 + 3))
        self.assertEqual(root.get("failures"), str(2 + 2))

    def test_host_check_and_audit_lines(self):
        tap = FULL_TAP.replace("wctb-result:",
                               "wctb-ledger: bar2-writes=1024\n"
                               "wctb-counters: bar2-reads=0\nwctb-result:")
        good = self.write("good.txt", "vm: the device agrees "
                          "with the guest (34 counters and the audit ledger)\n")
        bad = self.write("bad.txt", "vm: MISMATCH ledger: guest "
                         "says bar2-writes=1024, the device counted 1023\n")
        # as run-vm.sh passes them: options between the positional files
        root = self.convert("a=" + self.write("a.tap", tap), "--host-check",
                            "a=" + good, "b=" + self.write("b.tap", tap),
                            "--host-check", "b=" + bad)
        self.assertIsNone(self.case(root, "a/host-check",
                                    "counters").find("failure"))
        failure = self.case(root, "b/host-check", "counters").find("failure")
        self.assertIn("MISMATCH ledger", failure.get("message"))
        self.assertEqual(root.get("tests"), str(2 * 7 + 2))
        self.assertEqual(root.get("failures"), str(2 * 2 + 1))
        hung = self.write("hung.txt", "vm: host pace 1.00\n"
                          "vm: the guest hung: 'vfio-cookie' ran "
                          "past its budget of 120s; QEMU killed\n")
        root = self.convert("c=" + self.write("c.tap", tap), "--host-check",
                            "c=" + hung)
        failure = self.case(root, "c/host-check", "counters").find("failure")
        self.assertIn("ran past its budget", failure.get("message"))

    def test_bad_argument_and_missing_file(self):
        self.assert_user_error(run(TAP_TO_JUNIT, "-o", "x.xml", "nolabel"),
                               "LABEL=TAPFILE")
        missing = os.path.join(self.dir, "missing.tap")
        self.assert_user_error(run(TAP_TO_JUNIT, "-o", "x.xml", "a=" + missing),
                               missing)

    def test_malformed_line_names_file_and_line(self):
        path = self.write("bad.tap", "TAP version 13\n1..1\ngarbage here\n"
                          "ok 1 x\nwctb-result: PASS\n")
        self.assert_user_error(run(TAP_TO_JUNIT, "-o",
                                   os.path.join(self.dir, "x.xml"), "a=" + path),
                               f"{path}:3:")


class MakeReportTest(TempDirTest):

    def report(self):
        files = [self.write("a.log", MEASURES), self.write("b.log", MEASURES_2)]
        out = os.path.join(self.dir, "out")
        proc = run(MAKE_REPORT, "--output-dir", out, "--title", "T <&>", *files)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        with open(os.path.join(out, "report.md"), encoding="utf-8") as f:
            md = f.read()
        return md, os.path.join(out, "report.svg")

    @staticmethod
    def table_rows(md):
        rows = [line for line in md.splitlines()
                if line.startswith("|") and not line.startswith("| ---")]
        return [[c.strip() for c in r.strip("|").split("|")] for r in rows[1:]]

    def test_table_rows_in_order_with_numbers(self):
        md, _ = self.report()
        self.assertTrue(md.startswith("# T <&>\n"))
        self.assertIn("a.log", md)
        self.assertIn("## How to read it", md)
        rows = self.table_rows(md)
        self.assertEqual([r[:2] for r in rows], [
            ["patched", "sysfs resource2"],
            ["patched", "WC cookie, 2 MiB"],
            ["naive", "WC cookie"],
            ["naive", "WC cookie, 2 MiB"],
            ["none", "UC cookie"],
        ])
        # No drain-* fields (an older device): those cells stay empty.
        self.assertEqual(rows[0][2:], ["512", "0", "0", "0", "512", "16384"]
                         + [""] * 9 + ["uncached-minus", "pte (4 KiB)"])
        self.assertEqual(rows[1][2:8], ["0", "512", "64", "0", "64", "5632"])
        self.assertTrue(rows[1][-1].startswith("pmd"))

    def test_unavailable_rows_are_na(self):
        rows = self.table_rows(self.report()[0])
        self.assertEqual(rows[3][2], "n/a (mmap: Device or resource busy)")
        self.assertEqual(rows[4][2], "n/a (VFIO_DEVICE_GET_MMAP_COOKIE: "
                                     "Inappropriate ioctl for device)")
        self.assertEqual(set(rows[4][3:]), {""})

    def test_overhead_is_derived_from_the_data(self):
        md, _ = self.report()
        self.assertIn("4096 + 512 × 24 = 16384", md)
        self.assertIn("4096 + 64 × 24 = 5632", md)

    def test_svg_parses_and_names_the_series(self):
        _, svg = self.report()
        root = ET.parse(svg).getroot()
        self.assertEqual(root.tag, SVG + "svg")
        texts = " ".join(t.text or "" for t in root.iter(SVG + "text"))
        for series in ("patched", "naive", "none"):
            self.assertIn(series, texts)
        self.assertIn("T <&>", texts)
        self.assertIn("n/a", texts)
        self.assertIn("WC cookie, 2 MiB", texts)
        self.assertNotIn("VFIO legacy offset", texts)   # no data, no group
        self.assertEqual(list(root.iter(SVG + "script")), [])

    def doorbell_report(self):
        path = self.write("d.log", MEASURES + MEASURES_DOORBELL)
        out = os.path.join(self.dir, "out")
        proc = run(MAKE_REPORT, "-o", out, path)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        with open(os.path.join(out, "report.md"), encoding="utf-8") as f:
            md = f.read()
        header = [c.strip() for c in md.split("\n| Series |", 1)[1]
                  .split("\n", 1)[0].strip("|").split("|")]
        return md, ["Series"] + header, self.table_rows(md)

    def test_drain_columns_and_doorbell_rows(self):
        md, header, rows = self.doorbell_report()
        for name in ("Drain: fence", "Drain: serialize", "Drain: lock",
                     "Drain: interrupt", "Drain: UC other", "Drain: device",
                     "Drain: evict", "Drain: full", "Doorbell early"):
            self.assertIn(name, header)
        self.assertLess(header.index("Bus bytes"), header.index("Drain: fence"))
        self.assertLess(header.index("Doorbell early"), header.index("PAT type"))
        by = {(r[0], r[1]): dict(zip(header, r)) for r in rows}
        # After the six mappings, no fence before sfence; unavailable is n/a.
        self.assertEqual([r[1] for r in rows if r[0] == "patched"][-2:], [
            "weak order: descriptor, sfence, doorbell",
            "weak order: descriptor, doorbell (no fence)"])
        fenced = by[("patched", "weak order: descriptor, sfence, doorbell")]
        unfenced = by[("patched", "weak order: descriptor, doorbell (no fence)")]
        self.assertEqual((fenced["Doorbell early"], fenced["Drain: fence"],
                          fenced["Drain: device"]), ("0", "64", "0"))
        self.assertEqual((unfenced["Doorbell early"], unfenced["Drain: fence"],
                          unfenced["Drain: interrupt"],
                          unfenced["Partial bursts"]), ("63", "0", "1", "2"))
        self.assertEqual(by[("patched", "sysfs resource2")]["Drain: fence"], "")
        self.assertTrue(by[("none", "weak order: descriptor, sfence, doorbell")]
                        ["UC writes"].startswith("n/a (VFIO_DEVICE_GET_MMAP"))

    def test_how_to_read_explains_the_fence_from_the_data(self):
        md, _, _ = self.doorbell_report()
        self.assertIn("Doorbell early", md.split("## How to read it")[1])
        self.assertIn("In this data (patched): without a fence, 63 of 64 "
                      "doorbells arrived before their descriptor; with an "
                      "SFENCE before each, 0 of 64", md)
        self.assertIn("4096 + 64 × 24 = 5632", md)   # the doorbells' too
        # No doorbell data, no such sentence.
        self.assertNotIn("In this data (patched): without", self.report()[0])

    def test_table_only(self):
        path = self.write("a.log", MEASURES)
        proc = run(MAKE_REPORT, "--table-only", path)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertTrue(proc.stdout.startswith("| Series | Mapping |"))
        self.assertEqual(len(proc.stdout.splitlines()), 2 + 4)

    def test_malformed_lines_name_file_and_line(self):
        cases = {
            "wctb-measure: mapping=uc-cookie status=ok\n": "without series",
            "wctb-measure: series=patched status=ok\n": "without mapping",
            "wctb-measure: series=patched mapping=bar2\n": "unknown mapping",
            "wctb-measure: series=patched mapping=uc-cookie bus-txns=6x\n":
                "not a non-negative integer",
        }
        out = os.path.join(self.dir, "out")
        for line, what in cases.items():
            with self.subTest(what=what):
                path = self.write("bad.log", "noise\n" + line)
                proc = run(MAKE_REPORT, "-o", out, path)
                self.assert_user_error(proc, f"{path}:2:")
                self.assertIn(what, proc.stderr)

    def test_no_measurements(self):
        path = self.write("empty.log", "nothing here\n")
        self.assert_user_error(run(MAKE_REPORT, "-o", self.dir, path),
                               "no 'wctb-measure:' line")
        proc = run(MAKE_REPORT, "-o", self.dir)
        self.assertEqual(proc.returncode, 2)


class DesignsTest(TempDirTest):

    def files(self):
        """designs-KERNEL.txt files for patched, naive and none: sysfs the
        same on all three, cookie exact on patched, coerced on naive and
        unsupported on none (a line per case, as run-vm.sh collects it)."""
        return [
            self.write("designs-patched.txt", design_lines(
                "sysfs", SYSFS, "patched") + design_lines(
                "cookie", COOKIE, "patched")),
            self.write("designs-naive.txt", design_lines(
                "cookie", NAIVE, "naive") + design_lines("sysfs", SYSFS)),
            self.write("designs-none.txt", design_lines(
                "sysfs", SYSFS, "none") +
                unsupported_line("none", "cookie") * len(CASES)),
        ]

    def report(self, *args, files=None, status=0):
        """Run make-report.py --designs; (report.md, designs.json as a
        dict, the output dir, the process)."""
        out = os.path.join(self.dir, "out")
        proc = run(MAKE_REPORT, "-o", out, *args, "--designs",
                   *(self.files() if files is None else files))
        self.assertEqual(proc.returncode, status, proc.stderr)
        self.assertNotIn("Traceback", proc.stderr)
        with open(os.path.join(out, "report.md"), encoding="utf-8") as f:
            md = f.read()
        with open(os.path.join(out, "designs.json"), encoding="utf-8") as f:
            data = json.load(f)
        return md, data, out, proc

    @staticmethod
    def rows(data):
        return {(r["design"], tuple(r["kernels"])): r for r in data["rows"]}

    def test_suites_listed_with_their_kernels(self):
        suite = self.write("suite-naive.txt",
                           "naive exit=1 FAIL: passed=3 failed=2 skipped=0\n")
        md, data, _, _ = self.report("--suites", suite)
        self.assertEqual(data["suites"],
                         {"naive": "exit=1 FAIL: passed=3 failed=2 skipped=0"})
        self.assertRegex(md, r"\*\*naive\*\*: [^\n]* — exit=1 FAIL: passed=3")
        bad = self.write("suite-bad.txt", "naive PASS\n")
        out = os.path.join(self.dir, "out2")
        proc = run(MAKE_REPORT, "-o", out, "--suites", bad, "--designs",
                   *self.files())
        self.assertEqual(proc.returncode, 2)
        self.assertIn("suite-bad.txt:1: not 'KERNEL exit=N VERDICT'", proc.stderr)

    def test_parsing_prefixes_cr_and_unsupported_dedupe(self):
        path = self.write("designs-naive.txt",
                          "TAP version 13\r\nboot noise\r\n"
                          + design_lines("cookie", NAIVE, prefix="# # ",
                                         end="\r\n")
                          + unsupported_line("naive", "bar-wc-flag") * 3
                          + unsupported_line("naive", "bar-wc-flag", "other")
                          + "# ok 1 design.cookie.uc_page\r\n")
        _, data, _, proc = self.report(files=[path])
        self.assertEqual(proc.stderr, "")
        self.assertEqual(list(data["kernels"]), ["naive"])
        [row] = data["rows"]
        self.assertEqual((row["design"], row["kernels"]), ("cookie", ["naive"]))
        self.assertEqual(row["cells"], NAIVE)
        self.assertEqual(row["details"]["wc-page"],
                         "cookie wc-page: it's coerced to UC-")
        self.assertEqual(data["unsupported"], [
            {"design": "bar-wc-flag", "kernels": ["naive"],
             "reason": f"{NO_COOKIE}; other"}])

    def test_identical_rows_merge_in_report_order(self):
        md, data, _, _ = self.report()
        self.assertEqual(list(self.rows(data)), [
            ("sysfs", ("patched", "naive", "none")),
            ("cookie", ("patched",)), ("cookie", ("naive",))])
        self.assertEqual(list(data["kernels"]), ["patched", "naive", "none"])
        self.assertEqual(data["kernels"]["naive"],
                         "naive control: pgprot_writecombine only")
        self.assertEqual(data["unsupported"], [
            {"design": "cookie", "kernels": ["none"], "reason": NO_COOKIE}])
        # the matrix is the first section, one word per cell
        self.assertTrue(md.split("\n## ")[1].startswith(
            "Verdict matrix: design x case"))
        self.assertIn("![Verdict matrix: design x case](designs.svg)", md)
        row = [line for line in md.split("<details>")[0].splitlines()
               if line.startswith("| sysfs — patched, naive, none |")]
        self.assertEqual(len(row), 1)
        self.assertEqual([c.strip() for c in row[0].strip("|").split("|")][1:],
                         [SYSFS[c] for c in CASES])
        self.assertIn("* **cookie** — not on none: " + NO_COOKIE, md)
        # one row per matrix row in the SVG's labels, one paragraph each
        self.assertIn("**cookie — naive.**", md.split("## What this means")[1])
        # per-cell details, collapsed; equal details across merged kernels
        # are shown once
        details = md.split("<details>")[1]
        self.assertIn("| cookie — naive | wc-page | coerced to UC- | "
                      "cookie wc-page: it's coerced to UC- |", details)
        self.assertIn("| sysfs — patched, naive, none | fork | exact | "
                      "sysfs fork: it's exact |", details)

    def test_different_details_do_not_split_a_row(self):
        other = design_lines("sysfs", SYSFS, "none").replace(
            "sysfs fork: it's exact", "sysfs fork: 4096 bytes")
        files = [self.write("designs-patched.txt",
                            design_lines("sysfs", SYSFS, "patched")),
                 self.write("designs-none.txt", other)]
        md, data, _, _ = self.report(files=files)
        [row] = data["rows"]
        self.assertEqual(row["kernels"], ["patched", "none"])
        self.assertEqual(row["details"]["fork"], "patched: sysfs fork: it's "
                         "exact | none: sysfs fork: 4096 bytes")
        self.assertEqual(row["details_by_kernel"]["none"]["fork"],
                         "sysfs fork: 4096 bytes")
        self.assertIn("patched: sysfs fork: it's exact<br>none: sysfs fork: "
                      "4096 bytes", md)

    def meaning(self, cells):
        path = self.write("designs-patched.txt", design_lines("cookie", cells))
        _, data, _, _ = self.report(files=[path])
        return data["rows"][0]["meaning"]

    def test_meaning_of_an_untested_case(self):
        text = self.meaning(dict(ALL_EXACT, **{"wc-1g": "untested"}))
        self.assertTrue(text.startswith("12 of 13 cases are exact; wc-1g is "
                                        "untested (this boot could not set "
                                        "it up)"), text)
        self.assertNotIn("Silent", text)

    def test_meaning_of_an_all_exact_row(self):
        text = self.meaning(ALL_EXACT)
        self.assertTrue(text.startswith("All 13 cases are exact"), text)
        self.assertIn("coexist (doorbell-and-window exact)", text)
        self.assertIn("is allowed", text)
        self.assertIn("revoked, and it refaults as WC", text)
        self.assertNotIn("Silent", text)
        self.assertNotIn("Refused", text)
        self.assertLessEqual(text.count(". "), 4)   # at most 5 sentences

    def test_meaning_of_a_coerced_row(self):
        text = self.meaning(NAIVE)
        self.assertTrue(text.startswith("7 of 13 cases are exact; wc-1g is "
                                        "n/a"), text)
        self.assertIn("Silent failures", text)
        self.assertIn("the write-combining request is coerced to UC- in "
                      "wc-page, doorbell-and-window and wc-2m, so the device "
                      "sees UC- writes", text)
        self.assertIn("do not coexist as asked (doorbell-and-window: coerced "
                      "to UC-)", text)
        # A WC mapping coerced alone: the cases built on one show only
        # that, and are not read as aliasing or revocation results.
        text = self.meaning(dict(NAIVE, **{
            "uc-then-wc-same-page": "coerced to UC-",
            "wc-then-uc-same-page": "exact",
            "reset-refault": "coerced to UC-", "fork": "coerced to UC-"}))
        self.assertIn("whether one page can be mapped UC and WC at once "
                      "cannot be judged: a WC mapping is UC- even alone "
                      "(wc-page)", text)
        self.assertIn("reset-refault and fork only show the same UC- as a WC "
                      "mapping alone", text)
        self.assertNotIn("WC then UC is allowed", text)
        self.assertNotIn("refaults as UC-", text)

    def test_meaning_of_a_refused_alias_row(self):
        text = self.meaning(COOKIE)
        self.assertIn("Refused, visibly to userspace: uc-then-wc-same-page and "
                      "wc-then-uc-same-page with EBUSY", text)
        self.assertIn("mapping one page UC and WC at once is refused with "
                      "EBUSY", text)
        self.assertIn("Nothing fails silently", text)
        # one alias refused, the other coerced: named one by one
        text = self.meaning(dict(COOKIE, **{
            "wc-then-uc-same-page": "coerced to WC", "fork": "refused SIGBUS"}))
        self.assertIn("UC then WC is refused with EBUSY (uc-then-wc-same-page)"
                      ", WC then UC is silently coerced: the second mapping's "
                      "stores arrive as WC (wc-then-uc-same-page)", text)
        self.assertIn("the uncached request is coerced to WC in "
                      "wc-then-uc-same-page", text)
        self.assertIn("fork with SIGBUS on a store", text)
        self.assertIn("a forked child's stores through the inherited window "
                      "fault with SIGBUS", text)

    def test_meaning_of_a_not_revoked_row(self):
        text = self.meaning(SYSFS)
        self.assertIn("9 of 13 cases are exact; fixed-offset-while-wc, "
                      "pwrite-while-wc and reset-refault are n/a", text)
        self.assertIn("Silent failures (no error reaches userspace): "
                      "memory-disable-refault is not revoked", text)
        self.assertIn("the mapping is not revoked", text)
        self.assertNotIn("VFIO_DEVICE_RESET", text)     # n/a: not repeated

    def test_svg_has_one_rect_per_cell(self):
        _, data, out, _ = self.report()
        root = ET.parse(os.path.join(out, "designs.svg")).getroot()
        self.assertEqual(root.tag, SVG + "svg")
        cells = [r for r in root.iter(SVG + "rect")
                 if r.get("class", "").split()[:1] == ["cell"]]
        self.assertEqual(len(cells), 3 * len(CASES))
        colours = {r.get("class").split()[1]: r.get("fill") for r in cells}
        self.assertEqual(set(colours), {"cell-exact", "cell-coerced",
                                        "cell-refused", "cell-na",
                                        "cell-failed"})
        self.assertEqual(len(set(colours.values())), 5)
        texts = [t.text for t in root.iter(SVG + "text")]
        self.assertIn("sysfs — patched, naive, none", texts)
        self.assertIn("memory-disable-refault", texts)
        for word in ("exact", "coerced", "to UC-", "refused", "EBUSY", "n/a",
                     "not", "revoked"):
            self.assertIn(word, texts)
        self.assertFalse(os.path.exists(os.path.join(out, "report.svg")))

    def test_expect_cells_pass_and_fail(self):
        good = self.write("good.expect", "# the cookie column on patched\n"
                          + "".join(f"cookie patched {c}  {w}  # ok\n"
                                    for c, w in COOKIE.items()))
        _, _, _, proc = self.report("--expect-cells", good)
        self.assertIn("all 13 expected cells match", proc.stderr)
        bad = self.write("bad.expect", "\n".join([
            "cookie patched wc-page exact",
            "cookie naive wc-page exact",
            "cookie none fork exact",
            "bar-wc-flag patched fork exact", ""]))
        md, _, _, proc = self.report("--expect-cells", bad, status=1)
        self.assertIn("## What this means", md)      # written all the same
        self.assertNotIn(":1:", proc.stderr)
        self.assertIn(f"{bad}:2: cookie on naive, wc-page: expected 'exact', "
                      f"measured 'coerced to UC-' (cookie wc-page: it's "
                      f"coerced to UC-)", proc.stderr)
        self.assertIn(f"{bad}:3: cookie on none, fork: expected 'exact', "
                      f"measured unsupported ({NO_COOKIE})", proc.stderr)
        self.assertIn(f"{bad}:4: bar-wc-flag on patched, fork: expected "
                      f"'exact', measured no line", proc.stderr)
        self.assertIn("3 of 4 expected cells differ", proc.stderr)
        for line, what in (("cookie patched wc-page\n", "DESIGN KERNEL CASE"),
                           ("cookie patched wc-page fine\n", "unknown cell")):
            path = self.write("malformed.expect", "# x\n" + line)
            proc = run(MAKE_REPORT, "-o", self.dir, "--expect-cells", path,
                       "--designs", *self.files())
            self.assert_user_error(proc, f"{path}:2:")
            self.assertIn(what, proc.stderr)

    def test_missing_cells_are_shown_and_warned_about(self):
        cells = dict(COOKIE)
        del cells["fork"], cells["close-while-mapped"]
        path = self.write("designs-patched.txt", design_lines("cookie", cells))
        expect = self.write("e.expect", "cookie patched fork exact\n")
        md, data, _, proc = self.report("--expect-cells", expect, files=[path],
                                        status=1)
        self.assertIn("warning: design cookie on kernel patched: no line for "
                      "case fork, close-while-mapped; shown as 'missing'",
                      proc.stderr)
        self.assertIn("expected 'exact', measured 'missing'", proc.stderr)
        row = data["rows"][0]
        self.assertEqual((row["cells"]["fork"], row["cells"]["uc-page"]),
                         ("missing", "exact"))
        self.assertIn("fork and close-while-mapped are missing", row["meaning"])
        self.assertIn("| exact | missing | missing |", md)
        # without --expect-cells a missing cell is only a warning
        self.report(files=[path])

    def test_unknown_names_follow_the_known_ones(self):
        path = self.write("d.txt", design_lines("zz-new", {"extra": "lost"},
                                                "custom")
                          + design_lines("cookie", COOKIE, "custom")
                          + design_lines("cookie", NAIVE, "patched"))
        _, data, _, proc = self.report(files=[path])
        self.assertEqual(list(self.rows(data)), [
            ("cookie", ("patched",)), ("cookie", ("custom",)),
            ("zz-new", ("custom",))])
        self.assertEqual(list(data["cases"])[-2:], ["close-while-mapped",
                                                    "extra"])
        self.assertEqual(data["rows"][2]["cells"]["extra"], "lost")
        self.assertEqual(data["rows"][2]["cells"]["uc-page"], "missing")
        self.assertEqual(data["rows"][0]["cells"]["extra"], "missing")
        self.assertIn("design zz-new on kernel custom: no line for case "
                      "uc-page, wc-page,", proc.stderr)

    def test_together_with_measurements(self):
        measures = self.write("m.log", MEASURES)
        out = os.path.join(self.dir, "out")
        proc = run(MAKE_REPORT, "-o", out, "--title", "T", "--designs",
                   *self.files(), "--", measures)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        with open(os.path.join(out, "report.md"), encoding="utf-8") as f:
            md = f.read()
        self.assertTrue(md.startswith("# T\n\n## Verdict matrix"))
        self.assertLess(md.index("## What this means"),
                        md.index("| Series | Mapping |"))
        self.assertIn("## How to read it", md)
        for name in ("report.svg", "designs.svg", "designs.json"):
            self.assertTrue(os.path.exists(os.path.join(out, name)), name)
        proc = run(MAKE_REPORT, "--table-only", measures, "--designs",
                   *self.files())
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertTrue(proc.stdout.startswith("| Design — kernels | UC page |"))
        self.assertIn("\n| Series | Mapping |", proc.stdout)

    def test_designs_alone_has_its_own_title(self):
        md, _, out, _ = self.report()
        self.assertTrue(md.startswith("# wc-testdev BAR2: every "
                                      "write-combining design"))
        self.assertNotIn("## How to read it", md)

    def test_malformed_design_lines(self):
        cases = {
            'wctb-design: design=cookie case=fork cell="exact"\n':
                "without kernel=",
            'wctb-design: kernel=patched case=fork cell="exact"\n':
                "without design=",
            'wctb-design: kernel=patched design=cookie cell="exact"\n':
                "without case=",
            'wctb-design: kernel=patched design=cookie case=fork cell="fine"\n':
                "unknown cell 'fine'",
            'wctb-design: kernel=patched design=cookie case=fork cell="exact\n':
                "is not key=value",
            'wctb-design: kernel=patched design=cookie status=odd\n':
                "unknown status",
        }
        for line, what in cases.items():
            with self.subTest(what=what):
                path = self.write("bad.log", "noise\n" + line)
                proc = run(MAKE_REPORT, "-o", self.dir, "--designs", path)
                self.assert_user_error(proc, f"{path}:2:")
                self.assertIn(what, proc.stderr)
        # A bad line among good ones costs that line only: the report is
        # written, and the exit status still says something was wrong.
        files = self.files()
        with open(files[0], "a", encoding="utf-8") as f:
            f.write('wctb-design: design=cookie case=fork cell="fine"\n')
        md, data, _, proc = self.report(files=files, status=2)
        self.assertIn("line skipped", proc.stderr)
        self.assertIn("could not be read", proc.stderr)
        self.assertIn("cookie", {r["design"] for r in data["rows"]})
        path = self.write("empty.log", "nothing\n")
        self.assert_user_error(run(MAKE_REPORT, "-o", self.dir, "--designs",
                                   path), "no 'wctb-design:' line")
        proc = run(MAKE_REPORT, "-o", self.dir, "--expect-cells", path,
                   self.write("m.log", MEASURES))
        self.assertEqual(proc.returncode, 2)
        self.assertIn("--expect-cells needs --designs", proc.stderr)


class CHeaderTest(TempDirTest):

    def test_the_register_map_and_the_port_keys(self):
        regs = cheader.read_defines(os.path.join(
            HERE, "..", "qemu-hw", "include", "hw", "misc", "wc-testdev.h"))
        self.assertEqual(regs["WC_TESTDEV_ID_VALUE"], 0x44544357)
        self.assertEqual(regs["WC_TESTDEV_FEAT_WC_MODEL"], 2)
        self.assertEqual(len(regs["WC_TESTDEV_COUNTER_NAMES"]),
                         regs["WC_TESTDEV_NUM_COUNTERS"])
        self.assertEqual(results_port.RESULT, "wctb-result")
        port = cheader.read_defines(results_port.PORT_H)
        self.assertEqual(port["WCTB_PORT_HOST_DEVICE_DEL"],
                         "device_del " + results_port.DEVICE_ID)
        self.assertEqual(results_port.parse("wctb-start: x budget=3").fields(),
                         {"budget": "3"})

    def test_values(self):
        path = self.write("h.h", '#define A 0x10u /* c */\n'
                          '#define B (A << 2 | 1)\n#define S "ab" "c"\n'
                          '#define L { "x", "y" }\n#define F(x) ((x) + 1)\n'
                          '#define GUARD\n#define LONG 1 + \\\n  2\n'
                          '#define T "<" S ">"\n')
        self.assertEqual(cheader.read_defines(path),
                         {"A": 16, "B": 65, "S": "abc", "L": ["x", "y"],
                          "LONG": 3, "T": "<abc>"})

    def test_a_define_that_is_not_a_constant_is_an_error(self):
        for body in ("foo()", "UNKNOWN + 1", '"open', '"a" NOPE'):
            path = self.write("bad.h", f"#define X {body}\n")
            with self.assertRaises(cheader.HeaderError) as e:
                cheader.read_defines(path)
            self.assertIn("X", str(e.exception))


if __name__ == "__main__":
    unittest.main()
