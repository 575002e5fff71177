#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Turn wc-testdev BAR2 measurements into report.md and report.svg, and the
verdict matrix of the write-combining designs into report.md, designs.svg
and designs.json.

Measurements.  A guest program writes one 4 KiB page of wc-testdev's
prefetchable BAR2 with 512 8-byte stores through each of six mappings, and
twice more as 64 one-line descriptors, each followed by a UC doorbell write,
in the device's weak order (with and without an SFENCE before each
doorbell); it reads the device counters back (the drain reasons and
doorbell-early too) and prints one line per mapping:

  wctb-measure: series=patched mapping=wc-cookie status=ok uc-writes=0 ...

"series" is the kernel the guest ran: "patched" (the mmap cookie series),
"naive" (a control patch that only sets pgprot_writecombine) or "none"
(unpatched).

Designs (--designs).  guest-tests/wc-designs.c runs the same cases through
each design (a uAPI for write-combining mappings of a PCI BAR) that the
running kernel offers and prints one cell per case; for a design the kernel
lacks there is one line with the reason (repeats are merged):

  wctb-design: kernel=patched design=cookie case=wc-page cell="exact" detail="..."
  wctb-design: kernel=none design=cookie status=unsupported reason="..."

Without kernel= the kernel comes from a file name designs-KERNEL.txt.
Values are a word or "quoted" (no '"' inside).  The report shows one row
per design and kernel, rows of one design with the same cells merged, a
generated paragraph per row, the details, and the designs each kernel
lacks; a case without a line is shown as "missing" (with a warning).
--expect-cells FILE checks cells against lines "DESIGN KERNEL CASE WORD".

Lines of both kinds may carry the "# " prefixes of the TAP log they were
copied from and a trailing CR; every other line is ignored, so a whole
results.tap or console.log is a valid input.
"""

import argparse
import html
import json
import math
import os
import re
import shlex
import sys
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple

PROG = "make-report.py"
DEFAULT_TITLE = "wc-testdev BAR2: what each mapping does at the device"
DESIGNS_TITLE = "wc-testdev BAR2: every write-combining design, case by case"

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

# The verdict matrix (--designs): designs (rows, with their uAPI), kernels
# (in report order) and cases (columns); unknown names follow these.
DESIGNS: Dict[str, str] = {
    "sysfs": "PCI core: /sys/bus/pci/devices/BDF/resource2 (UC-) and "
             "resource2_wc",
    "fixed-offset": "vfio-pci: mmap() at VFIO_PCI_INDEX_TO_OFFSET(2), UC only",
    "cookie": "VFIO_DEVICE_GET_MMAP_COOKIE(index, VFIO_MMAP_FLAG_WC) -> "
              "mmap offset",
    "dmabuf-memattr": "a vfio DMABUF of the range with "
                      "VFIO_DEVICE_FEATURE_DMA_BUF_MEMATTR WC, mmapped",
    "bar-wc-flag": "VFIO_DEVICE_SET_REGION_FLAGS(BAR2, "
                   "VFIO_REGION_FLAG_WRITE_COMBINE), then the fixed offset",
}
KERNELS: Dict[str, str] = {
    "patched": "mmap cookie series (ours)",
    "naive": "naive control: pgprot_writecombine only",
    "none": "stock Linux 7.3",
    "dmabuf-memattr": "DMABUF MEMATTR (Matt Evans v4, 2026), ported to 7.3",
    "bar-wc-flag": "per-BAR WC flag (Keith Busch RFC, 2024), ported to 7.3",
    "linux-src": "your --linux-src tree",
}


@dataclass(frozen=True)
class Case:
    """One column of the verdict matrix."""
    header: str                 # short column header
    want: str                   # the type asked of the mapping the cell judges
    description: str


CASES: Dict[str, Case] = {
    "uc-page": Case("UC page", "UC", "one page of stores through a UC "
                    "mapping alone"),
    "wc-page": Case("WC page", "WC", "one page of stores through a WC "
                    "mapping alone (64 full bursts?)"),
    "doorbell-and-window": Case(
        "DB + window", "WC", "a UC doorbell page and a 4-page WC window of "
        "one BAR, both live; the window's cell unless the doorbell failed"),
    "wc-2m": Case("WC 2M", "WC", "a 2 MiB-aligned WC mapping of 2 MiB, one "
                  "line in each of its 512 pages (the detail names the leaf)"),
    "wc-1g": Case("WC 1G", "WC", "the same with 1 GiB: all of a 1 GiB BAR2 "
                  "(the --report boots); untested, and SKIPped, where BAR2 "
                  "is smaller"),
    "uc-then-wc-same-page": Case(
        "UC→WC alias", "WC", "one page mapped UC and faulted in, then WC "
        "while the UC mapping lives: the WC mapping's cell"),
    "wc-then-uc-same-page": Case(
        "WC→UC alias", "UC", "one page mapped WC and faulted in, then UC "
        "while the WC mapping lives: the UC mapping's cell"),
    "fixed-offset-while-wc": Case(
        "fixed + WC", "UC", "a UC mapping of another page at vfio-pci's "
        "fixed offset while a WC window is live"),
    "pwrite-while-wc": Case(
        "pwrite + WC", "UC", "pwrite() of one line of another page through "
        "the VFIO device file while a WC window is live"),
    "memory-disable-refault": Case(
        "mem off/on", "WC", "memory disabled under a live WC window: a "
        "store must fault; enabled again, the window must refault as WC"),
    "reset-refault": Case("reset", "WC", "VFIO_DEVICE_RESET under a live "
                          "WC window, then stores through the same window"),
    "fork": Case("fork", "WC", "a forked child stores a page through the WC "
                 "window it inherited"),
    "close-while-mapped": Case(
        "close", "WC", "every file of the design closed, then stores "
        "through the still-mapped WC window"),
}
DESIGN_RE = re.compile(r"^(?:#\s*)*wctb-design:(.*)$")
DESIGN_FIELD_RE = re.compile(r'\s*([A-Za-z][\w-]*)=(?:"([^"]*)"|([^\s"]*))'
                             r'(?=\s|$)')
DESIGNS_FILE_RE = re.compile(r"^designs-(.+)\.txt$")
CELL_RE = re.compile(r"exact|coerced to (?:UC-|UC|WC|WB|WT|WP|unknown)|"
                     r"refused (?:[A-Z][A-Z0-9]*|errno)|not revoked|lost|"
                     r"mixed|n/a|untested")
CELL_WORDS = ("exact, coerced to UC-|UC|WC|WB|WT|WP, refused ERRNO|SIGBUS|"
              "SIGSEGV, not revoked, lost, mixed, n/a, untested")
MISSING = "missing"
SIGNALS = ("SIGBUS", "SIGSEGV")
# Cell colour and legend per category (cell_category()).
CATEGORIES: Dict[str, Tuple[str, str]] = {
    "exact": ("#66bd63", "exact: the memory type asked for"),
    "coerced": ("#fdae61", "coerced to T: it works, with type T (silent)"),
    "refused": ("#74add1", "refused: an errno or a signal userspace sees"),
    "n/a": ("#d9d9d9", "n/a: the design has no such mapping; untested: "
                       "the boot could not set the case up"),
    "failed": ("#f46d43", "lost, not revoked, mixed (silent); missing"),
}


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


def markdown_report(title, paths, measures, cells, designs_md=""):
    """The whole report.md: the verdict matrix sections (@designs_md)
    first, then the measurements, if any."""
    head = f"# {title}\n\n"
    if not measures:
        return head + designs_md
    sources = ", ".join(f"`{md_cell(p)}`" for p in paths)
    noun = "measurement" if len(measures) == 1 else "measurements"
    body = (f"Data: {len(measures)} {noun} from "
            f"{sources}.\n\n{markdown_table(measures)}\n"
            f"{how_to_read(measures, cells)}")
    if designs_md:
        return (head + designs_md + "## Measurements: one page through "
                "each mapping\n\n" + body)
    return head + body


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


# ------------------------------------------------------- designs: parsing

@dataclass
class DesignCell:
    """One case's cell of one design on one kernel."""
    where: str                  # "file:line", "" for a missing cell
    word: str
    detail: str


@dataclass
class DesignData:
    """Every wctb-design line of the --designs files."""
    files: List[str]
    # (kernel, design) -> case -> cell
    cells: Dict[Tuple[str, str], Dict[str, DesignCell]] = \
        field(default_factory=dict)
    # (kernel, design) -> the distinct reasons, in input order
    unsupported: Dict[Tuple[str, str], List[str]] = field(default_factory=dict)
    # Lines that could not be read: "FILE:LINE: why" (the rest still counts)
    bad: List[str] = field(default_factory=list)

    def kernels(self) -> List[str]:
        keys = list(self.cells) + list(self.unsupported)
        return ordered({k for k, _ in keys}, KERNELS)


def ordered(names, known) -> List[str]:
    """@names in the order of @known, unknown ones after them (sorted)."""
    return sorted(names, key=lambda n: (0, list(known).index(n)) if n in known
                  else (1, n))


def split_design_fields(text: str, where: str) -> Dict[str, str]:
    """Parse 'key=word key="a b"' (no '"' inside a value) into a dict."""
    fields: Dict[str, str] = {}
    pos = 0
    text = text.rstrip()
    while pos < len(text):
        m = DESIGN_FIELD_RE.match(text, pos)
        if not m:
            raise UserError(f"{where}: {text[pos:].strip()[:40]!r} is not "
                            f"key=value or key=\"value\"")
        fields[m.group(1)] = m.group(2) if m.group(2) is not None \
            else m.group(3)
        pos = m.end()
    return fields


def check_cell(word: str, where: str) -> str:
    """@word, if it is a cell word."""
    if not CELL_RE.fullmatch(word):
        raise UserError(f"{where}: unknown cell {word!r} (known: "
                        f"{CELL_WORDS})")
    return word


def add_design_line(data: DesignData, fields: Dict[str, str], where: str,
                    file_kernel: Optional[str]) -> None:
    """Record one wctb-design line's @fields in @data."""
    kernel = fields.get("kernel") or file_kernel
    if not kernel:
        raise UserError(f"{where}: wctb-design line without kernel= (and "
                        f"the file is not named designs-KERNEL.txt)")
    design = fields.get("design")
    if not design:
        raise UserError(f"{where}: wctb-design line without design=")
    status = fields.get("status", "ok")
    key = (kernel, design)
    if status == "unsupported":
        reasons = data.unsupported.setdefault(key, [])
        reason = fields.get("reason") or "no reason given"
        if reason not in reasons:
            reasons.append(reason)
        return
    if status != "ok":
        raise UserError(f"{where}: unknown status {status!r} (known: ok, "
                        f"unsupported)")
    case = fields.get("case")
    if not case:
        raise UserError(f"{where}: wctb-design line without case=")
    if "cell" not in fields:
        raise UserError(f"{where}: wctb-design line without cell=")
    cell = DesignCell(where, check_cell(fields["cell"], where),
                      fields.get("detail", ""))
    cases = data.cells.setdefault(key, {})
    old = cases.get(case)
    if old and (old.word, old.detail) != (cell.word, cell.detail):
        print(f"{PROG}: warning: {where}: a second {design}/{kernel}/{case} "
              f"line (first: {old.where}); the report shows this one",
              file=sys.stderr)
    if not old or (old.word, old.detail) != (cell.word, cell.detail):
        cases[case] = cell


def read_design_file(path: str, data: DesignData) -> int:
    """Add the wctb-design lines of file @path to @data; how many."""
    try:
        with open(path, "rb") as f:
            text = f.read().decode("utf-8", errors="replace")
    except OSError as e:
        raise UserError(f"cannot read {path}: {e.strerror}") from None
    m = DESIGNS_FILE_RE.match(os.path.basename(path))
    file_kernel = m.group(1) if m else None
    count = 0
    for number, line in enumerate(text.splitlines(), 1):
        m = DESIGN_RE.match(line.replace("\r", "").strip())
        if m:
            where = f"{path}:{number}"
            try:
                add_design_line(data, split_design_fields(m.group(1), where),
                                where, file_kernel)
            except UserError as e:
                # One bad line costs that cell, not the whole report.
                print(f"{PROG}: error: {e} (line skipped)", file=sys.stderr)
                data.bad.append(str(e))
                continue
            count += 1
    return count


def read_designs(paths: List[str]) -> DesignData:
    """The wctb-design lines of all files."""
    data = DesignData(list(paths))
    total = 0
    for path in paths:
        count = read_design_file(path, data)
        if not count:
            print(f"{PROG}: warning: {path}: no 'wctb-design:' line (a "
                  f"measurement file?  Put MEASUREFILEs before --designs, "
                  f"or end the --designs list with --)", file=sys.stderr)
        total += count
    if not total:
        raise UserError(f"no 'wctb-design:' line in {', '.join(paths)}")
    for key in [k for k in data.unsupported if k in data.cells]:
        print(f"{PROG}: warning: design {key[1]} on kernel {key[0]} has "
              f"cells and an 'unsupported' line; the report shows the cells",
              file=sys.stderr)
        del data.unsupported[key]
    return data


# -------------------------------------------------------- designs: matrix

@dataclass
class MatrixRow:
    """One row of the verdict matrix: a design on one or more kernels."""
    design: str
    kernels: List[str]
    cells: Dict[str, str]                   # case -> word
    details: Dict[str, Dict[str, str]]      # case -> kernel -> detail
    meaning: str = ""

    @property
    def label(self) -> str:
        return f"{self.design} — {', '.join(self.kernels)}"

    def detail_parts(self, case: str) -> List[str]:
        """The detail of @case: one, or "kernel: detail" per kernel if the
        kernels' details differ."""
        per = self.details[case]
        if len(set(per.values())) == 1:
            return [next(iter(per.values()))]
        return [f"{k}: {d}" for k, d in per.items()]

    def detail(self, case: str, sep: str = " | ") -> str:
        return sep.join(self.detail_parts(case))


def matrix_columns(data: DesignData) -> List[str]:
    """Every known case, then the unknown ones the data has."""
    seen = {c for cases in data.cells.values() for c in cases}
    return ordered(seen | set(CASES), CASES)


def complete_cells(data: DesignData, columns: List[str]) -> None:
    """Give every supported design a cell per column: "missing" where the
    data has no line (with a warning)."""
    for (kernel, design), cases in data.cells.items():
        missing = [c for c in columns if c not in cases]
        if missing:
            print(f"{PROG}: warning: design {design} on kernel {kernel}: no "
                  f"line for case {', '.join(missing)}; shown as "
                  f"'{MISSING}'", file=sys.stderr)
        for case in missing:
            cases[case] = DesignCell("", MISSING, "no line for this case")


def matrix_rows(data: DesignData, columns: List[str]) -> List[MatrixRow]:
    """One row per supported (design, kernel), in report order; rows of one
    design with the same cells merged."""
    rows: List[MatrixRow] = []
    by_cells: Dict[Tuple[str, Tuple[str, ...]], MatrixRow] = {}
    designs = ordered({d for _, d in data.cells}, DESIGNS)
    for design in designs:
        for kernel in data.kernels():
            cases = data.cells.get((kernel, design))
            if cases is None:
                continue
            words = tuple(cases[c].word for c in columns)
            row = by_cells.get((design, words))
            if not row:
                row = MatrixRow(design, [], dict(zip(columns, words)),
                                {c: {} for c in columns})
                by_cells[(design, words)] = row
                rows.append(row)
            row.kernels.append(kernel)
            for c in columns:
                row.details[c][kernel] = cases[c].detail
    for row in rows:
        row.meaning = meaning(row.cells, columns)
    return rows


def unsupported_lines(data: DesignData) -> List[Tuple[str, List[Tuple[
        List[str], str]]]]:
    """[(design, [(kernels, reason)])]: the designs some kernels lack."""
    out = []
    for design in ordered({d for _, d in data.unsupported}, DESIGNS):
        reasons: Dict[str, List[str]] = {}
        for kernel in data.kernels():
            why = data.unsupported.get((kernel, design))
            if why:
                reasons.setdefault("; ".join(why), []).append(kernel)
        out.append((design, [(k, r) for r, k in reasons.items()]))
    return out


# ------------------------------------------------------- designs: meaning

def cell_category(word: str) -> str:
    """The colour category of a cell word (a key of CATEGORIES)."""
    if word == "exact":
        return "exact"
    if word.startswith("coerced to "):
        return "coerced"
    if word.startswith("refused "):
        return "refused"
    if word in ("n/a", "untested"):
        return "n/a"
    return "failed"             # lost, not revoked, mixed, missing


def cell_key(word: str) -> str:
    """The template key of a cell word."""
    if word.startswith("coerced to "):
        return "coerced"
    if word.startswith("refused "):
        return "refused-signal" if word[8:] in SIGNALS else "refused-errno"
    return word


def join_names(names: List[str]) -> str:
    """"a", "a and b", "a, b and c"."""
    if len(names) <= 1:
        return "".join(names)
    return ", ".join(names[:-1]) + " and " + names[-1]


def verb(names: List[str], one: str, many: str) -> str:
    return one if len(names) == 1 else many


def capital(text: str) -> str:
    return text[:1].upper() + text[1:]


def fill(template: str, case: str, word: str) -> str:
    """@template with {case}, {word}, {type} (of a coerced cell) and {why}
    (of a refused one)."""
    return template.format(case=case, word=word,
                           type=word[len("coerced to "):],
                           why=word[len("refused "):])


# Clauses about one case, keyed on cell_key(); "default" for the rest.
MISSION = "a UC doorbell and a WC window of one BAR"
CLAUSES: Dict[str, Dict[str, str]] = {
    "doorbell-and-window": {
        "exact": f"{MISSION} coexist ({{case}} exact)",
        "coerced": f"{MISSION} do not coexist as asked ({{case}}: {{word}})",
        "refused-errno": f"{MISSION} cannot be mapped together ({{case}}: "
                         f"{{word}})",
        "refused-signal": f"{MISSION} are mapped but a store faults "
                          f"({{case}}: {{word}})",
        "n/a": f"the design cannot map {MISSION} ({{case}} n/a)",
        "default": f"{MISSION}: {{case}} {{word}}",
    },
    "memory-disable-refault": {
        "exact": "with memory disabled the WC window is revoked, and it "
                 "refaults as WC once memory is enabled again",
        "not revoked": "with memory disabled a store through the WC window "
                       "silently does not fault: the mapping is not revoked "
                       "(the detail says how many bytes still arrived)",
        "refused-signal": "the WC window is revoked, but a store faults "
                          "with {why} after memory is enabled again",
        "refused-errno": "the memory-disable case cannot map its window "
                         "({why})",
        "coerced": "with memory disabled the WC window is revoked, but it "
                   "refaults as {type} (silently)",
        "lost": "after memory is enabled again the window's stores are "
                "silently lost",
    },
    "reset-refault": {
        "exact": "VFIO_DEVICE_RESET zaps the window and it refaults as WC",
        "not revoked": "VFIO_DEVICE_RESET leaves the window's PTEs in place "
                       "(silently not revoked)",
        "refused-signal": "after VFIO_DEVICE_RESET a store through the "
                          "window faults with {why}",
        "refused-errno": "the reset case is refused ({why})",
        "coerced": "after VFIO_DEVICE_RESET the window's stores arrive as "
                   "{type} (silently)",
        "lost": "after VFIO_DEVICE_RESET the window's stores are silently "
                "lost",
    },
    "fork": {
        "exact": "a forked child's stores through the inherited window "
                 "arrive as WC",
        "refused-signal": "a forked child's stores through the inherited "
                          "window fault with {why}",
        "coerced": "a forked child's stores arrive as {type} (silently)",
        "lost": "a forked child's stores are silently lost",
    },
    "close-while-mapped": {
        "exact": "the window keeps working as WC after every file of the "
                 "design is closed",
        "refused-signal": "the window faults with {why} once the design's "
                          "files are closed",
        "coerced": "once the design's files are closed the window's stores "
                   "arrive as {type} (silently)",
        "lost": "once the design's files are closed the window's stores "
                "are silently lost",
    },
}
ALIAS_PHRASES: Dict[str, str] = {
    "exact": "allowed, the second mapping getting the type it asked for "
             "while the first lives",
    "coerced": "silently coerced: the second mapping's stores arrive as "
               "{type}",
    "refused-errno": "refused with {why}",
    "refused-signal": "mapped, but a store faults with {why}",
    "n/a": "not possible with this design",
    "missing": "not measured",
    "lost": "allowed, but the second mapping's stores are silently lost",
    "mixed": "allowed, the second mapping's stores arriving as a mix of "
             "types",
    "default": "{word}",
}
ALIASES = (("uc-then-wc-same-page", "UC then WC"),
           ("wc-then-uc-same-page", "WC then UC"))
REVOCATION = ("memory-disable-refault", "reset-refault", "fork",
              "close-while-mapped")
ALIASES_AND_LATER = tuple(c for c, _ in ALIASES) + REVOCATION
WANT_WORDS = {"WC": "write-combining", "UC": "uncached"}


def clause(case: str, word: str) -> str:
    """What the cell @word of @case means, as a clause."""
    templates = CLAUSES.get(case, {})
    template = templates.get(cell_key(word)) or templates.get("default") \
        or "{case}: {word}"
    return fill(template, case, word)


def summary_sentence(cells: Dict[str, str], columns: List[str]) -> str:
    """How many cells are exact; which are n/a or missing."""
    exact = [c for c in columns if cells[c] == "exact"]
    n = len(columns)
    if len(exact) == n:
        return (f"All {n} cases are exact: every mapping arrives with the "
                f"memory type it asked for.") if n > 1 else \
            "The one case is exact."
    text = (f"{len(exact)} of {n} {'case' if n == 1 else 'cases'} "
            f"{verb(exact, 'is', 'are')} exact")
    for word, why in (("n/a", "the design has no such mapping"),
                      ("untested", "this boot could not set it up"),
                      (MISSING, "no line in the data")):
        those = [c for c in columns if cells[c] == word]
        if those:
            text += (f"; {join_names(those)} {verb(those, 'is', 'are')} "
                     f"{word} ({why})")
    return text + "."


def silent_sentence(cells: Dict[str, str], columns: List[str]) -> str:
    """The silent failures: coerced, lost, not revoked, mixed cells."""
    coerced: Dict[Tuple[str, str], List[str]] = {}
    plain: Dict[str, List[str]] = {}
    for c in columns:
        word = cells[c]
        if word.startswith("coerced to "):
            want = CASES[c].want if c in CASES else ""
            coerced.setdefault((want, word[len("coerced to "):]), []).append(c)
        elif word in ("lost", "not revoked", "mixed"):
            plain.setdefault(word, []).append(c)
    parts = []
    for (want, kind), those in coerced.items():
        what = f"the {WANT_WORDS[want]} request" if want else "the request"
        parts.append(f"{what} is coerced to {kind} in {join_names(those)}, "
                     f"so the device sees {kind} writes")
    for word, those in plain.items():
        names = join_names(those)
        parts.append({
            "lost": f"the stores of {names} are lost (they went through but "
                    f"never arrived)",
            "not revoked": f"{names} {verb(those, 'is', 'are')} not revoked "
                           f"(a store did not fault when it must)",
            "mixed": f"{names} {verb(those, 'arrives', 'arrive')} as a mix "
                     f"of memory types, or with more bytes than were stored",
        }[word])
    if parts:
        return ("Silent failures (no error reaches userspace): "
                + "; ".join(parts) + ".")
    if any(cell_category(cells[c]) == "refused" for c in columns):
        return ("Nothing fails silently: every case that is not exact is "
                "refused, n/a or missing.")
    return ""


def refused_sentence(cells: Dict[str, str], columns: List[str]) -> str:
    """The refusals, grouped by errno or signal."""
    by_why: Dict[str, List[str]] = {}
    for c in columns:
        if cells[c].startswith("refused "):
            by_why.setdefault(cells[c][len("refused "):], []).append(c)
    if not by_why:
        return ""
    parts = [f"{join_names(those)} with {why}"
             + (" on a store" if why in SIGNALS else "")
             for why, those in by_why.items()]
    return "Refused, visibly to userspace: " + "; ".join(parts) + "."


def alias_clause(cells: Dict[str, str], columns: List[str]) -> str:
    """What mapping one page UC and WC at once gives."""
    present = [(c, order) for c, order in ALIASES if c in columns]
    if not present:
        return ""

    def phrase(case: str) -> str:
        word = cells[case]
        return fill(ALIAS_PHRASES.get(cell_key(word),
                                      ALIAS_PHRASES["default"]), case, word)

    words = {cells[c] for c, _ in present}
    if len(present) == 2 and len(words) == 1:
        names = join_names([c for c, _ in present])
        return (f"mapping one page UC and WC at once is "
                f"{phrase(present[0][0])} ({names})")
    return "mapping one page " + ", ".join(
        f"{order} is {phrase(c)} ({c})" for c, order in present)


def meaning(cells: Dict[str, str], columns: List[str]) -> str:
    """A few sentences, built from the cells alone, on what a row means."""
    sentences = [summary_sentence(cells, columns),
                 silent_sentence(cells, columns),
                 refused_sentence(cells, columns)]
    # A WC mapping alone already coerced: the cases built on WC mappings
    # that give the same word show only that, and are not read further.
    base = cells.get("wc-page", "")
    base = base if base.startswith("coerced to ") else ""
    same = [c for c in ALIASES_AND_LATER if c in columns and base and
            cells[c] in (base, "exact" if c == "wc-then-uc-same-page" else base)]
    mission = []
    if "doorbell-and-window" in columns:
        mission.append(clause("doorbell-and-window",
                              cells["doorbell-and-window"]))
    if base and any(c in same for c, _ in ALIASES):
        mission.append("whether one page can be mapped UC and WC at once "
                       "cannot be judged: a WC mapping is "
                       f"{base[len('coerced to '):]} even alone (wc-page)")
    else:
        mission.append(alias_clause(cells, columns))
    mission = [m for m in mission if m]
    if mission:
        sentences.append(capital("; ".join(mission)) + ".")
    later = [clause(c, cells[c]) for c in REVOCATION
             if c in columns and c not in same and
             cells[c] not in ("n/a", "untested", MISSING)]
    shown = [c for c in REVOCATION if c in same]
    if shown:
        later.append(f"{join_names(shown)} only show the same "
                     f"{base[len('coerced to '):]} as a WC mapping alone")
    if later:
        sentences.append(capital("; ".join(later)) + ".")
    return " ".join(s for s in sentences if s)


# ------------------------------------------------------ designs: markdown

def matrix_table(rows: List[MatrixRow], columns: List[str]) -> str:
    """The verdict matrix as a markdown table."""
    heads = ["Design — kernels"] + [CASES[c].header if c in CASES else c
                                     for c in columns]
    lines = ["| " + " | ".join(md_cell(h) for h in heads) + " |",
             "|" + "|".join(" --- " for _ in heads) + "|"]
    for row in rows:
        lines.append("| " + " | ".join(md_cell(c) for c in
                                       [row.label] + [row.cells[c] for c in
                                                      columns]) + " |")
    return "\n".join(lines) + "\n"


def html_cell(text: str) -> str:
    """Text for a markdown table cell that may hold '<' or '|'."""
    return md_cell(html.escape(text, quote=False))


def designs_markdown(data: DesignData, rows: List[MatrixRow],
                     columns: List[str],
                     suites: Optional[Dict[str, str]] = None) -> str:
    """The verdict matrix sections of report.md."""
    sources = ", ".join(f"`{md_cell(p)}`" for p in data.files)
    ncells = sum(len(r.kernels) for r in rows) * len(columns)
    out = ["## Verdict matrix: design x case", "",
           f"Data: {ncells} cells of {len(rows)} rows from {sources}.  Each "
           f"cell is what the device saw against what the case asked for; "
           f"rows of one design with the same cells on several kernels are "
           f"merged.", "",
           "![Verdict matrix: design x case](designs.svg)", "",
           matrix_table(rows, columns).rstrip("\n"), ""]
    lacking = unsupported_lines(data)
    if lacking:
        out.append("Designs not offered:")
        out.append("")
        for design, groups in lacking:
            out.append(f"* **{md_cell(design)}** — " + "; ".join(
                f"not on {', '.join(kernels)}: {md_cell(reason)}"
                for kernels, reason in groups))
        out.append("")
    out += ["Cases (columns):", ""]
    for c in columns:
        case = CASES.get(c)
        out.append(f"* **{md_cell(case.header if case else c)}** (`{c}`): "
                   + (case.description if case else "a case this report "
                      "does not know"))
    out += ["", "Kernels (and how their measurement boot ended):", ""]
    for k in data.kernels():
        what = KERNELS.get(k, "a kernel this report does not know")
        suite = f" — {md_cell(suites[k])}" if k in (suites or {}) else ""
        out.append(f"* **{md_cell(k)}**: {md_cell(what)}{suite}")
    out += ["", "Designs:", ""]
    for d in ordered({d for _, d in list(data.cells) + list(data.unsupported)},
                     DESIGNS):
        what = DESIGNS.get(d, "a design this report does not know")
        out.append(f"* **{md_cell(d)}**: {md_cell(what)}")
    out += ["", "## What this means", ""]
    for row in rows:
        out += [f"**{md_cell(row.label)}.** {md_cell(row.meaning)}", ""]
    out += ["<details>", f"<summary>Every cell's detail ({ncells} cells)"
            f"</summary>", "", "| Row | Case | Cell | Detail |",
            "| --- | --- | --- | --- |"]
    for row in rows:
        for c in columns:
            detail = "<br>".join(html_cell(p) for p in row.detail_parts(c))
            out.append(f"| {md_cell(row.label)} | {md_cell(c)} | "
                       f"{md_cell(row.cells[c])} | {detail} |")
    out += ["", "</details>", ""]
    return "\n".join(out)


# ----------------------------------------------------------- designs: SVG

CELL_W, CELL_H, HEAD_H = 76, 36, 150


def designs_svg(rows: List[MatrixRow], columns: List[str]) -> ET.Element:
    """designs.svg: the matrix as a grid of coloured cells."""
    title = "Verdict matrix: design x case"
    label_w = 24 + 6.4 * max([len(r.label) for r in rows] + [10])
    top = 40 + HEAD_H
    grid_w = CELL_W * len(columns)
    width = round(label_w + grid_w + 110)
    legend_y = top + CELL_H * len(rows) + 30
    height = legend_y + 22 * len(CATEGORIES) + 10
    svg = ET.Element("svg", xmlns=SVG_NS, width=str(width),
                     height=str(height), viewBox=f"0 0 {width} {height}")
    svg_el(svg, "title", title)
    svg_el(svg, "rect", width=width, height=height, fill="white")
    svg_text(svg, 12, 26, title, size=16, anchor="start", font_weight="bold")
    for ci, c in enumerate(columns):
        x = label_w + ci * CELL_W + CELL_W / 2
        t = svg_text(svg, x, top - 8, c, size=11, anchor="start",
                     transform=f"rotate(-45 {round(x, 1)} {top - 8})")
        if c in CASES:
            svg_el(t, "title", f"{c}: {CASES[c].description}")
    for ri, row in enumerate(rows):
        y = top + ri * CELL_H
        svg_text(svg, label_w - 8, y + CELL_H / 2 + 4, row.label, size=11,
                 anchor="end")
        for ci, c in enumerate(columns):
            x = label_w + ci * CELL_W
            word = row.cells[c]
            category = cell_category(word)
            rect = svg_el(svg, "rect", x=round(x, 1), y=y, width=CELL_W,
                          height=CELL_H, fill=CATEGORIES[category][0],
                          stroke="white", stroke_width=2,
                          **{"class": f"cell cell-{category.replace('/', '')}"})
            svg_el(rect, "title", f"{row.label}, {c}: {word}\n"
                   + row.detail(c, "\n"))
            first, _, rest = word.partition(" ")
            if word.startswith(("coerced to ", "refused ", "not ")):
                lines = [first, rest]
            else:
                lines = [word]
            for li, text in enumerate(lines):
                svg_text(svg, x + CELL_W / 2, y + CELL_H / 2 + 4 +
                         (li - (len(lines) - 1) / 2) * 12, text, size=10)
    for i, (category, (colour, text)) in enumerate(CATEGORIES.items()):
        y = legend_y + 22 * i
        svg_el(svg, "rect", x=12, y=y - 11, width=14, height=14,
               fill=colour, **{"class": "legend"})
        svg_text(svg, 32, y, text, size=11, anchor="start")
    return svg


# ---------------------------------------------------------- designs: JSON

def designs_json(data: DesignData, rows: List[MatrixRow],
                 columns: List[str],
                 suites: Optional[Dict[str, str]] = None) -> dict:
    """designs.json, for CI and the README."""
    return {
        "kernels": {k: KERNELS.get(k, "") for k in data.kernels()},
        "suites": dict(suites or {}),
        "cases": {c: {"header": CASES[c].header if c in CASES else c,
                      "description": CASES[c].description if c in CASES
                      else ""} for c in columns},
        "rows": [{"design": r.design, "kernels": r.kernels,
                  "cells": r.cells,
                  "details": {c: r.detail(c) for c in columns},
                  "details_by_kernel": {k: {c: r.details[c][k]
                                            for c in columns}
                                        for k in r.kernels},
                  "meaning": r.meaning} for r in rows],
        "unsupported": [{"design": d, "kernels": kernels, "reason": reason}
                        for d, groups in unsupported_lines(data)
                        for kernels, reason in groups],
    }


@dataclass
class Matrix:
    """The verdict matrix of the --designs files."""
    data: DesignData
    columns: List[str]
    rows: List[MatrixRow]
    # kernel -> how its measurement boot ended (--suites)
    suites: Dict[str, str] = field(default_factory=dict)


def read_suites(paths: List[str]) -> Dict[str, str]:
    """--suites files: one line 'KERNEL exit=N VERDICT' each."""
    suites: Dict[str, str] = {}
    for path in paths:
        try:
            with open(path, encoding="utf-8", errors="replace") as f:
                lines = [ln.strip() for ln in f if ln.strip()]
        except OSError as e:
            raise UserError(f"cannot read {path}: {e.strerror}") from None
        for n, line in enumerate(lines, 1):
            kernel, _, rest = line.partition(" ")
            if not rest.startswith("exit="):
                raise UserError(f"{path}:{n}: not 'KERNEL exit=N VERDICT': "
                                f"{line!r}")
            suites[kernel] = rest
    return suites


def read_matrix(paths: List[str]) -> Matrix:
    """Read the --designs files and build the matrix (warning on stderr
    about missing cells)."""
    data = read_designs(paths)
    columns = matrix_columns(data)
    complete_cells(data, columns)
    return Matrix(data, columns, matrix_rows(data, columns))


# ----------------------------------------------------- designs: expected

@dataclass
class Expected:
    """One line of an --expect-cells file."""
    where: str
    design: str
    kernel: str
    case: str
    word: str


def read_expected(path: str) -> List[Expected]:
    """The lines 'DESIGN KERNEL CASE WORD...' of @path ('#' comments)."""
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            lines = f.read().splitlines()
    except OSError as e:
        raise UserError(f"cannot read {path}: {e.strerror}") from None
    out = []
    for number, line in enumerate(lines, 1):
        where = f"{path}:{number}"
        words = line.split("#", 1)[0].split()
        if not words:
            continue
        if len(words) < 4:
            raise UserError(f"{where}: expected 'DESIGN KERNEL CASE WORD', "
                            f"got {line.strip()!r}")
        word = " ".join(words[3:])
        if word != MISSING:
            check_cell(word, where)
        out.append(Expected(where, words[0], words[1], words[2], word))
    if not out:
        raise UserError(f"{path}: no expected cell")
    return out


def check_expected(expected: List[Expected], data: DesignData) -> List[str]:
    """One message per expected cell that the data does not have."""
    mismatches = []
    for e in expected:
        key = (e.kernel, e.design)
        cell = data.cells.get(key, {}).get(e.case)
        if cell:
            if cell.word == e.word:
                continue
            got = repr(cell.word) + (f" ({cell.detail})" if cell.detail
                                     else "")
        elif key in data.unsupported:
            got = f"unsupported ({'; '.join(data.unsupported[key])})"
        elif key in data.cells:
            got = f"no case {e.case!r}"
        else:
            got = "no line for this design on this kernel"
        mismatches.append(f"{e.where}: {e.design} on {e.kernel}, {e.case}: "
                          f"expected {e.word!r}, measured {got}")
    return mismatches


# ------------------------------------------------------------------- main

def write_file(path, data):
    """Write @data (str or bytes) to @path."""
    mode = "wb" if isinstance(data, bytes) else "w"
    try:
        with open(path, mode) as f:
            f.write(data)
    except OSError as e:
        raise UserError(f"cannot write {path}: {e.strerror}") from None


def svg_bytes(svg: ET.Element) -> bytes:
    ET.indent(svg)
    return ET.tostring(svg, encoding="UTF-8", xml_declaration=True) + b"\n"


def write_reports(out_dir: str, title: str, paths: List[str],
                  measures: List[Measure], matrix: Optional[Matrix]) -> None:
    """Write DIR/report.md; DIR/report.svg for @measures, DIR/designs.svg
    and DIR/designs.json for @matrix."""
    try:
        os.makedirs(out_dir, exist_ok=True)
    except OSError as e:
        raise UserError(f"cannot create {out_dir}: {e.strerror}") from None
    cells = latest_per_cell(measures)
    designs_md = ""
    if matrix:
        designs_md = designs_markdown(matrix.data, matrix.rows, matrix.columns,
                                      matrix.suites)
    write_file(os.path.join(out_dir, "report.md"),
               markdown_report(title, paths, measures, cells, designs_md))
    if measures:
        write_file(os.path.join(out_dir, "report.svg"),
                   svg_bytes(svg_report(title, cells)))
    if matrix:
        write_file(os.path.join(out_dir, "designs.svg"),
                   svg_bytes(designs_svg(matrix.rows, matrix.columns)))
        write_file(os.path.join(out_dir, "designs.json"), json.dumps(
            designs_json(matrix.data, matrix.rows, matrix.columns,
                         matrix.suites),
            indent=2, ensure_ascii=False) + "\n")


def parse_args(argv: Optional[List[str]]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Write report.md (a table and how to read it) and "
                    "report.svg (bus transactions and WC-vs-UC stores per "
                    "mapping and kernel series) from the 'wctb-measure:' "
                    "lines of the guest's BAR2 measurement program; with "
                    "--designs, the verdict matrix of the write-combining "
                    "designs (one word per design, kernel and case, from the "
                    "'wctb-design:' lines of wc-designs) first in report.md, "
                    "as designs.svg and as designs.json.",
        epilog="Inputs may be whole results.tap or console.log files; other "
               "lines are ignored.  --designs takes every following file "
               "name: put MEASUREFILEs first, or end the list with '--'.  A "
               "case without a line for a design a kernel offers is shown "
               "as 'missing', with a warning.  Exit status: 0 written, 1 a "
               "cell differs from --expect-cells (after writing), 2 bad "
               "input (the message names file:line).")
    parser.add_argument("--output-dir", "-o", metavar="DIR",
                        help="where to write report.md, report.svg (with "
                             "MEASUREFILEs), designs.svg and designs.json "
                             "(with --designs) (created if missing; required "
                             "unless --table-only)")
    parser.add_argument("--title", metavar="TEXT",
                        help=f"heading of report.md and report.svg (default: "
                             f"{DEFAULT_TITLE!r}; with --designs alone "
                             f"{DESIGNS_TITLE!r})")
    parser.add_argument("--table-only", action="store_true",
                        help="print only the markdown tables (the verdict "
                             "matrix, the measurements) to stdout, for "
                             "pasting into a README; write no files")
    parser.add_argument("--designs", nargs="+", action="extend", default=[],
                        metavar="FILE",
                        help="files with 'wctb-design:' lines (run-vm.sh "
                             "--report's designs-KERNEL.txt: a line without "
                             "kernel= takes KERNEL from the name)")
    parser.add_argument("--suites", nargs="+", action="extend", default=[],
                        metavar="FILE",
                        help="files with one line 'KERNEL exit=N VERDICT' "
                             "(run-vm.sh --report's suite-KERNEL.txt): how "
                             "each kernel's measurement boot ended, listed "
                             "with the kernels (needs --designs)")
    parser.add_argument("--expect-cells", metavar="FILE",
                        help="lines 'DESIGN KERNEL CASE WORD...' ('#' starts "
                             "a comment): exit 1, one message per cell, if a "
                             "measured cell differs or is missing (needs "
                             "--designs)")
    parser.add_argument("files", nargs="*", metavar="MEASUREFILE",
                        help="a file with 'wctb-measure:' lines")
    args = parser.parse_args(argv)
    if not args.files and not args.designs:
        parser.error("give MEASUREFILEs, --designs FILEs or both")
    if args.suites and not args.designs:
        parser.error("--suites needs --designs")
    if args.expect_cells and not args.designs:
        parser.error("--expect-cells needs --designs")
    if not args.table_only and not args.output_dir:
        parser.error("--output-dir is required (or use --table-only)")
    if args.title is None:
        args.title = DEFAULT_TITLE if args.files else DESIGNS_TITLE
    return args


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    try:
        expected = read_expected(args.expect_cells) if args.expect_cells \
            else []
        measures = read_all(args.files) if args.files else []
        matrix = read_matrix(args.designs) if args.designs else None
        if matrix:
            matrix.suites = read_suites(args.suites)
        if args.table_only:
            tables = []
            if matrix:
                tables.append(matrix_table(matrix.rows, matrix.columns))
            if measures:
                tables.append(markdown_table(measures))
            sys.stdout.write("\n".join(tables))
        else:
            write_reports(args.output_dir, args.title, args.files, measures,
                          matrix)
    except UserError as e:
        print(f"{PROG}: error: {e}", file=sys.stderr)
        return 2
    if matrix and matrix.data.bad:
        print(f"{PROG}: {len(matrix.data.bad)} wctb-design line(s) could not "
              f"be read (above); the report was written without them",
              file=sys.stderr)
        return 2
    if matrix and expected:
        mismatches = check_expected(expected, matrix.data)
        for m in mismatches:
            print(f"{PROG}: mismatch: {m}", file=sys.stderr)
        if mismatches:
            print(f"{PROG}: {len(mismatches)} of {len(expected)} expected "
                  f"cells differ", file=sys.stderr)
            return 1
        print(f"{PROG}: all {len(expected)} expected cells match",
              file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
