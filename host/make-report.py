#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Turn wc-testdev BAR2 measurements into report.md and report.svg.

A guest program writes one 4 KiB page of wc-testdev's prefetchable BAR2 with
512 8-byte stores through each of six mappings, and twice more as 64
one-line descriptors, each followed by a UC doorbell write, in the device's
weak order (with and without an SFENCE before each doorbell); it reads the
device counters back (the drain reasons and doorbell-early too) and prints
one line per mapping:

  wctb-measure: series=patched mapping=wc-cookie status=ok uc-writes=0 ...

"series" is the kernel the guest ran: "patched" (the mmap cookie series),
"naive" (a control patch that only sets pgprot_writecombine) or "none"
(unpatched).  Lines may carry the "# " prefixes of the TAP log they were
copied from; every other line is ignored, so a whole results.tap or
console.log is a valid input.
"""

import argparse
import math
import os
import re
import shlex
import sys
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from typing import Dict, List, Optional

PROG = "make-report.py"
DEFAULT_TITLE = "wc-testdev BAR2: what each mapping does at the device"

MAPPINGS = {
    "resource2": "sysfs resource2",
    "resource2_wc": "sysfs resource2_wc",
    "vfio-legacy": "VFIO legacy offset",
    "uc-cookie": "UC cookie",
    "wc-cookie": "WC cookie",
    "wc-cookie-2m": "WC cookie, 2 MiB",
    "doorbell-sfence": "weak order: descriptor, sfence, doorbell",
    "doorbell-no-fence": "weak order: descriptor, doorbell (no fence)",
}
SERIES = {
    "patched": ("mmap cookie series", "#1b9e77"),
    "naive": ("naive pgprot_writecombine patch", "#d95f02"),
    "none": ("unpatched kernel", "#7570b3"),
}
# Why WC data left the CPU's buffers, one count per burst (the device's
# drain-* counters), and the doorbells that overtook WC data (weak order).
DRAINS = {
    "drain-fence": "Drain: fence",
    "drain-serialize": "Drain: serialize",
    "drain-lock": "Drain: lock",
    "drain-interrupt": "Drain: interrupt",
    "drain-uc-other": "Drain: UC other",
    "drain-device": "Drain: device",
    "drain-evict": "Drain: evict",
    "drain-full": "Drain: full",
    "doorbell-early": "Doorbell early",
}
NUMBERS = ("uc-writes", "wc-stores", "full-bursts", "partial-bursts",
           "bus-txns", "bus-bytes") + tuple(DRAINS)
COUNTERS = NUMBERS + ("partial-bytes",)
LEAVES = {"pte": "pte (4 KiB)", "pmd": "pmd (2 MiB)", "pud": "pud (1 GiB)"}
COLUMNS = ("Series", "Mapping", "UC writes", "WC stores", "Full bursts",
           "Partial bursts", "Bus txns", "Bus bytes") + \
    tuple(DRAINS.values()) + ("PAT type", "Leaf")
DOORBELLS = 64                  # descriptors (and doorbells) per doorbell row
STORE_BYTES = 8
MEASURE_RE = re.compile(r"^(?:#\s*)*wctb-measure:(.*)$")


class UserError(Exception):
    """Bad input: reported as one line on stderr, exit status 2."""


@dataclass
class Measure:
    """One wctb-measure line."""
    where: str                  # "file:line"
    series: str
    mapping: str
    status: str
    reason: str = ""
    counts: dict = field(default_factory=dict)
    fields: dict = field(default_factory=dict)

    @property
    def ok(self):
        return self.status == "ok"

    def sort_key(self):
        return (list(SERIES).index(self.series),
                list(MAPPINGS).index(self.mapping))


# ---------------------------------------------------------------- parsing

def split_fields(text, where):
    """Parse 'key=value key="a b"' into a dict."""
    try:
        words = shlex.split(text)
    except ValueError as e:
        raise UserError(f"{where}: cannot parse the fields: {e}") from None
    fields = {}
    for word in words:
        key, sep, value = word.partition("=")
        if not sep or not key:
            raise UserError(f"{where}: {word!r} is not key=value")
        fields[key] = value
    return fields


def parse_counts(fields, where):
    """The integer counters among @fields."""
    counts = {}
    for key in COUNTERS:
        if key not in fields:
            continue
        if not re.fullmatch(r"\d+", fields[key]):
            raise UserError(f"{where}: {key}={fields[key]!r} is not a "
                            f"non-negative integer")
        counts[key] = int(fields[key])
    return counts


def check_name(fields, key, known, where):
    """The value of @key, which must be one of @known."""
    value = fields.get(key)
    if not value:
        raise UserError(f"{where}: wctb-measure line without {key}=")
    if value not in known:
        raise UserError(f"{where}: unknown {key} {value!r} (known: "
                        f"{', '.join(known)})")
    return value


def parse_measure(text, where):
    """Build a Measure from the text after "wctb-measure:"."""
    fields = split_fields(text, where)
    series = check_name(fields, "series", SERIES, where)
    mapping = check_name(fields, "mapping", MAPPINGS, where)
    status = fields.get("status", "ok")
    return Measure(where, series, mapping, status,
                   reason=fields.get("reason", status),
                   counts=parse_counts(fields, where), fields=fields)


def read_measures(path):
    """All measurements in file @path."""
    try:
        with open(path, "rb") as f:
            text = f.read().decode("utf-8", errors="replace")
    except OSError as e:
        raise UserError(f"cannot read {path}: {e.strerror}") from None
    measures = []
    for number, line in enumerate(text.splitlines(), 1):
        m = MEASURE_RE.match(line.replace("\r", "").strip())
        if m:
            measures.append(parse_measure(m.group(1), f"{path}:{number}"))
    return measures


def read_all(paths):
    """The measurements of all files, in report order."""
    measures = [m for path in paths for m in read_measures(path)]
    if not measures:
        raise UserError(f"no 'wctb-measure:' line in {', '.join(paths)}")
    return sorted(measures, key=Measure.sort_key)


def latest_per_cell(measures):
    """{(series, mapping): Measure}; a later line wins over an earlier one."""
    cells = {}
    for m in measures:
        key = (m.series, m.mapping)
        if key in cells:
            print(f"{PROG}: warning: {m.where}: a second {m.series}/"
                  f"{m.mapping} line; the chart shows this one",
                  file=sys.stderr)
        cells[key] = m
    return cells


# --------------------------------------------------------------- markdown

def md_cell(text):
    """Text that cannot break a markdown table row."""
    return str(text).replace("\\", "\\\\").replace("|", "\\|")


def table_row(m):
    """The cells of one measurement's row."""
    head = [m.series, MAPPINGS[m.mapping]]
    if not m.ok:
        return head + [f"n/a ({m.reason})"] + [""] * (len(COLUMNS) - 3)
    numbers = [m.counts.get(k, "") for k in NUMBERS]
    leaf = m.fields.get("leaf", "")
    return head + numbers + [m.fields.get("pat", ""), LEAVES.get(leaf, leaf)]


def markdown_table(measures):
    """The markdown table, one row per measurement."""
    lines = ["| " + " | ".join(COLUMNS) + " |",
             "|" + "|".join(" --- " for _ in COLUMNS) + "|"]
    for m in measures:
        lines.append("| " + " | ".join(md_cell(c) for c in table_row(m)) + " |")
    return "\n".join(lines) + "\n"


def payload(m):
    """Bytes the program stored through the mapping of @m."""
    return STORE_BYTES * (m.counts.get("uc-writes", 0) +
                          m.counts.get("wc-stores", 0))


def overhead_sentence(measures):
    """Explain the bus bytes from the data, if the cost per txn is constant."""
    rows = [m for m in measures if m.ok and m.counts.get("bus-txns")
            and "bus-bytes" in m.counts]
    costs = {(m.counts["bus-bytes"] - payload(m)) / m.counts["bus-txns"]
             for m in rows}
    if len(costs) != 1:
        return ""
    cost = costs.pop()
    cost = int(cost) if cost.is_integer() else round(cost, 1)
    examples = []
    for kind in ("uc-writes", "wc-stores"):
        m = next((m for m in rows if m.counts.get(kind)), None)
        if m:
            c = m.counts
            examples.append(f"{m.series} / {MAPPINGS[m.mapping]}: "
                            f"{payload(m)} + {c['bus-txns']} × {cost} = "
                            f"{c['bus-bytes']}")
    return (f"  In this data each transaction costs {cost} bytes on top of "
            f"its payload ({STORE_BYTES} bytes per store)"
            + (f" ({'; '.join(examples)})" if examples else "") + ".")


def naive_sentence(cells):
    """Point at the naive WC cookie row when there is one."""
    m = cells.get(("naive", "wc-cookie"))
    if not m:
        return ""
    if not m.ok:
        return f"  In this data that row is n/a ({m.reason})."
    c = m.counts
    return (f"  In this data it shows {c.get('uc-writes', '?')} UC writes, "
            f"{c.get('wc-stores', '?')} WC stores and PAT type "
            f"{m.fields.get('pat', '?')}.")


def doorbell_sentence(cells: Dict[tuple, Measure]) -> str:
    """What the doorbell rows of the patched series show, when they do."""
    parts: List[str] = []
    for mapping, what in (("doorbell-no-fence", "without a fence"),
                          ("doorbell-sfence", "with an SFENCE before each")):
        m: Optional[Measure] = cells.get(("patched", mapping))
        if m and m.ok and "doorbell-early" in m.counts:
            parts.append(f"{what}, {m.counts['doorbell-early']} of "
                         f"{DOORBELLS} doorbells arrived before their "
                         f"descriptor")
    if not parts:
        return ""
    return "  In this data (patched): " + "; ".join(parts) + "."


def how_to_read(measures, cells):
    """The "How to read it" section."""
    return f"""## How to read it

Every row is one mapping of BAR2 through which the guest wrote one 4 KiB
page as 512 stores of 8 bytes; the numbers are what wc-testdev counted.

* **UC mapping** (sysfs `resource2`, the VFIO legacy offset, the UC
  cookie): each store reaches the device on its own, so expect 512 UC
  writes, 0 WC stores and 512 bus transactions.
* **Working WC mapping** (sysfs `resource2_wc`, the WC cookies): the CPU
  merges the stores, so expect 512 WC stores arriving as 64 full 64-byte
  bursts, i.e. 64 bus transactions and no partial bursts.
* **Bus bytes** are payload plus a fixed cost per transaction, which is why
  the UC page costs far more bus bytes than the WC page for the same 4096
  bytes of data.{overhead_sentence(measures)}
* **PAT type** is the memory type the guest kernel recorded for the mapping
  in `/sys/kernel/debug/x86/pat_memtype_list`; it should agree with the
  counters (uncached-minus with UC writes, write-combining with WC stores).
* **Leaf** is the page-table level that maps the page: `pte` is a 4 KiB
  page, `pmd` a 2 MiB page (the "WC cookie, 2 MiB" row).
* **Drain** columns say why each burst left the CPU's write-combining
  buffers (each vCPU has its own): a line completed by stores leaves at
  once (*full*); *fence* is SFENCE/MFENCE, *lock* a locked instruction,
  *serialize* CPUID, IRET and the like, *interrupt* an interrupt or fault
  on that vCPU, *UC other* an uncached access to another device or port
  I/O, *device* any other access to wc-testdev (a doorbell in the default
  order, the counter read), *evict* a store that needed a buffer.  They
  add up to full plus partial bursts.  A timer tick in the middle of a
  line splits it: one more partial burst, under *interrupt*.
* **Weak order rows** (a UC cookie page as doorbell, the WC cookie as
  descriptor window): in the device's weak order a UC write no longer
  waits for the writer's WC data, as x86 allows.  **Doorbell early**
  counts the doorbells that reached the device before their descriptor:
  without a fence nearly all {DOORBELLS}, with an SFENCE (a driver's
  `wmb()`) none, the fence sending each descriptor (*fence*).  This is why
  a driver must fence between WC descriptor stores and the doorbell.{doorbell_sentence(cells)}

Series: **patched** is the mmap cookie series, **naive** a control patch
that only sets `pgprot_writecombine`, **none** an unpatched kernel.  The
row to look at is **naive / WC cookie**: the kernel silently coerces the
mapping to UC-, so the stores arrive as UC writes although userspace asked
for WC.{naive_sentence(cells)}  Without the series (**none**) the cookie
rows are n/a, because the kernel has no `VFIO_DEVICE_GET_MMAP_COOKIE`.
"""


def markdown_report(title, paths, measures, cells):
    """The whole report.md."""
    sources = ", ".join(f"`{md_cell(p)}`" for p in paths)
    noun = "measurement" if len(measures) == 1 else "measurements"
    return (f"# {title}\n\nData: {len(measures)} {noun} from "
            f"{sources}.\n\n{markdown_table(measures)}\n"
            f"{how_to_read(measures, cells)}")


# -------------------------------------------------------------------- SVG

SVG_NS = "http://www.w3.org/2000/svg"
WIDTH, LEFT, RIGHT = 900, 70, 20
PLOT_H, PANEL_GAP = 190, 95
FONT = "font-family:sans-serif"


def nice_max(value):
    """A round axis maximum >= @value and its tick step."""
    step = 1
    while step * 5 < value:
        for factor in (2, 2.5, 2):
            step *= factor
            if step * 5 >= value:
                break
    step = int(step) if step >= 1 else 1
    top = max(step, math.ceil(value / step) * step)
    return top, step


def svg_el(parent, tag, text=None, **attrs):
    """Append an SVG element; attribute names use '_' for '-'."""
    el = ET.SubElement(parent, tag, {k.replace("_", "-"): str(v)
                                     for k, v in attrs.items()})
    if text is not None:
        el.text = text
    return el


def svg_text(parent, x, y, text, size=11, anchor="middle", **attrs):
    """Append a <text> element."""
    return svg_el(parent, "text", text, x=round(x, 1), y=round(y, 1),
                  font_size=size, text_anchor=anchor, style=FONT, **attrs)


def add_defs(svg):
    """A hatch pattern per series, for UC writes in the second panel."""
    defs = svg_el(svg, "defs")
    for name, (_, colour) in SERIES.items():
        pat = svg_el(defs, "pattern", id=f"hatch-{name}", width=6, height=6,
                     patternUnits="userSpaceOnUse",
                     patternTransform="rotate(45)")
        svg_el(pat, "rect", width=6, height=6, fill="white")
        svg_el(pat, "rect", width=3, height=6, fill=colour)


def add_axis(svg, top, vmax, step, label):
    """Y axis with grid lines and the panel's label."""
    bottom = top + PLOT_H
    for v in range(0, vmax + 1, step):
        y = bottom - PLOT_H * v / vmax
        svg_el(svg, "line", x1=LEFT, x2=WIDTH - RIGHT, y1=y, y2=y,
               stroke="#ddd" if v else "#333")
        svg_text(svg, LEFT - 6, y + 4, str(v), size=10, anchor="end")
    svg_text(svg, LEFT, top - 14, label, size=13, anchor="start",
             font_weight="bold")


def slot_x(gi, si, groups, nseries):
    """Left edge and width of the bar of series @si in group @gi."""
    group_w = (WIDTH - LEFT - RIGHT) / groups
    bar_w = min(34, (group_w - 16) / nseries)
    start = LEFT + gi * group_w + (group_w - bar_w * nseries) / 2
    return start + si * bar_w, bar_w


def add_na(svg, x, w, bottom, m):
    """The "n/a" marker of a slot without data."""
    t = svg_text(svg, x + w / 2, bottom - 6, "n/a", size=10, fill="#666")
    why = f"no data: {m.reason}" if m else "no measurement"
    svg_el(t, "title", why)


def add_bar(svg, x, w, y, h, fill, tip):
    """One bar (or bar segment) with a tooltip."""
    rect = svg_el(svg, "rect", x=round(x + 1, 1), y=round(y, 1),
                  width=round(w - 2, 1), height=round(h, 1), fill=fill,
                  stroke="#333", stroke_width="0.5")
    svg_el(rect, "title", tip)


def bar_slots(svg, layout, cells, bottom, needed=None):
    """(x, width, series, mapping, measure) of every bar with data; the
    slots without (no line, status not ok, no @needed counter) get "n/a"."""
    mappings, series = layout
    for gi, mapping in enumerate(mappings):
        for si, name in enumerate(series):
            x, w = slot_x(gi, si, len(mappings), len(series))
            m = cells.get((name, mapping))
            if not m or not m.ok or (needed and needed not in m.counts):
                add_na(svg, x, w, bottom, m)
                continue
            yield x, w, name, mapping, m


def txn_panel(svg, top, layout, cells):
    """Panel 1: bus transactions per page."""
    values = [m.counts.get("bus-txns", 0) for m in cells.values() if m.ok]
    vmax, step = nice_max(max(values + [1]) * 1.08)
    add_axis(svg, top, vmax, step, "Bus transactions per 4 KiB page "
             "(UC: one per store; WC: one per 64-byte burst)")
    bottom = top + PLOT_H
    for x, w, name, mapping, m in bar_slots(svg, layout, cells, bottom,
                                            "bus-txns"):
        v = m.counts["bus-txns"]
        h = PLOT_H * v / vmax
        add_bar(svg, x, w, bottom - h, h, SERIES[name][1],
                f"{name}, {MAPPINGS[mapping]}: {v} bus transactions")
        svg_text(svg, x + w / 2, bottom - h - 4, str(v), size=10)


def store_panel(svg, top, layout, cells):
    """Panel 2: WC stores (solid) stacked on UC writes (hatched)."""
    totals = [m.counts.get("uc-writes", 0) + m.counts.get("wc-stores", 0)
              for m in cells.values() if m.ok]
    vmax, step = nice_max(max(totals + [1]) * 1.15)
    add_axis(svg, top, vmax, step, "WC stores (solid) vs UC writes "
             "(hatched) reaching the device")
    bottom = top + PLOT_H
    for x, w, name, mapping, m in bar_slots(svg, layout, cells, bottom):
        uc = m.counts.get("uc-writes", 0)
        wc = m.counts.get("wc-stores", 0)
        colour = SERIES[name][1]
        where = f"{name}, {MAPPINGS[mapping]}"
        h_uc, h_wc = PLOT_H * uc / vmax, PLOT_H * wc / vmax
        add_bar(svg, x, w, bottom - h_uc, h_uc, f"url(#hatch-{name})",
                f"{where}: {uc} UC writes")
        add_bar(svg, x, w, bottom - h_uc - h_wc, h_wc, colour,
                f"{where}: {wc} WC stores")
        kind = "UC" if not wc else "WC" if not uc else "UC+WC"
        number = str(uc or wc) if not (uc and wc) else f"{uc}+{wc}"
        y = bottom - h_uc - h_wc - 4
        svg_text(svg, x + w / 2, y, number, size=10)
        svg_text(svg, x + w / 2, y - 12, kind, size=10, font_weight="bold")


def mapping_labels(svg, y, mappings, nseries):
    """Mapping names under a panel."""
    for gi, mapping in enumerate(mappings):
        x, w = slot_x(gi, 0, len(mappings), nseries)
        svg_text(svg, x + w * nseries / 2, y, MAPPINGS[mapping], size=11)


def legend(svg, y, series):
    """One swatch per series, plus the meaning of the hatching."""
    x = LEFT
    for name in series:
        svg_el(svg, "rect", x=x, y=y - 10, width=12, height=12,
               fill=SERIES[name][1])
        text = f"{name}: {SERIES[name][0]}"
        svg_text(svg, x + 17, y, text, size=11, anchor="start")
        x += 25 + 6.2 * len(text)
    svg_text(svg, LEFT, y + 18, "n/a: the series has no data for that "
             "mapping (no cookie ioctl, or the mmap failed; hover for the "
             "reason)", size=10, anchor="start", fill="#666")


def naive_caption(svg, y, cells):
    """Spell out what the naive patch gets wrong, when the data shows it."""
    m = cells.get(("naive", "wc-cookie"))
    if not m or not m.ok or not m.counts.get("uc-writes"):
        return
    svg_text(svg, LEFT, y, f"naive / WC cookie: userspace asked for WC, "
             f"the device saw {m.counts['uc-writes']} UC writes (PAT "
             f"{m.fields.get('pat', '?')})", size=11, anchor="start", fill=SERIES["naive"][1],
             font_weight="bold")


def svg_report(title, cells):
    """The whole report.svg as an ElementTree element."""
    mappings = [k for k in MAPPINGS if any(k == m for _, m in cells)]
    series = [k for k in SERIES if any(k == s for s, _ in cells)]
    panel1 = 110
    panel2 = panel1 + PLOT_H + PANEL_GAP
    height = panel2 + PLOT_H + 60
    svg = ET.Element("svg", xmlns=SVG_NS, width=str(WIDTH),
                     height=str(height), viewBox=f"0 0 {WIDTH} {height}")
    svg_el(svg, "title", title)
    svg_el(svg, "rect", width=WIDTH, height=height, fill="white")
    add_defs(svg)
    svg_text(svg, WIDTH / 2, 26, title, size=16, font_weight="bold")
    legend(svg, 52, series)
    layout = (mappings, series)
    txn_panel(svg, panel1, layout, cells)
    mapping_labels(svg, panel1 + PLOT_H + 18, mappings, len(series))
    store_panel(svg, panel2, layout, cells)
    mapping_labels(svg, panel2 + PLOT_H + 18, mappings, len(series))
    naive_caption(svg, panel2 + PLOT_H + 44, cells)
    return svg


# ------------------------------------------------------------------- main

def write_file(path, data):
    """Write @data (str or bytes) to @path."""
    mode = "wb" if isinstance(data, bytes) else "w"
    try:
        with open(path, mode) as f:
            f.write(data)
    except OSError as e:
        raise UserError(f"cannot write {path}: {e.strerror}") from None


def write_reports(out_dir, title, paths, measures):
    """Write DIR/report.md and DIR/report.svg."""
    try:
        os.makedirs(out_dir, exist_ok=True)
    except OSError as e:
        raise UserError(f"cannot create {out_dir}: {e.strerror}") from None
    cells = latest_per_cell(measures)
    write_file(os.path.join(out_dir, "report.md"),
               markdown_report(title, paths, measures, cells))
    svg = svg_report(title, cells)
    ET.indent(svg)
    write_file(os.path.join(out_dir, "report.svg"),
               ET.tostring(svg, encoding="UTF-8", xml_declaration=True) + b"\n")


def parse_args(argv):
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Write report.md (a table and how to read it) and "
                    "report.svg (bus transactions and WC-vs-UC stores per "
                    "mapping and kernel series) from the 'wctb-measure:' "
                    "lines of the guest's BAR2 measurement program.",
        epilog="Inputs may be whole results.tap or console.log files; lines "
               "other than 'wctb-measure:' lines are ignored.  Exit status: "
               "0 written, 2 bad input (the message names file:line).")
    parser.add_argument("--output-dir", "-o", metavar="DIR",
                        help="where to write report.md and report.svg "
                             "(created if missing; required unless "
                             "--table-only)")
    parser.add_argument("--title", default=DEFAULT_TITLE, metavar="TEXT",
                        help="heading of both reports (default: %(default)r)")
    parser.add_argument("--table-only", action="store_true",
                        help="print only the markdown table to stdout, for "
                             "pasting into a README; write no files")
    parser.add_argument("files", nargs="+", metavar="MEASUREFILE",
                        help="a file with 'wctb-measure:' lines")
    args = parser.parse_args(argv)
    if not args.table_only and not args.output_dir:
        parser.error("--output-dir is required (or use --table-only)")
    return args


def main(argv=None):
    args = parse_args(argv)
    try:
        measures = read_all(args.files)
        if args.table_only:
            sys.stdout.write(markdown_table(measures))
        else:
            write_reports(args.output_dir, args.title, args.files, measures)
    except UserError as e:
        print(f"{PROG}: error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
