# SPDX-License-Identifier: GPL-2.0
"""The results port as the host reads it.

The protocol (line types, who writes and who reads each, the format) is
specified once, in guest-tests/lib/port.h, next to the guest code that
writes it; its line keys are #defines there.  This module takes the keys
from that header (host/cheader.py) and gives the host tools one parser:
vm.py (the boot's owner), tap-to-junit.py and make-report.py.
"""
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Iterable, List, Optional

import cheader

PORT_H = Path(__file__).resolve().parent.parent / "guest-tests/lib/port.h"
_DEFINES = cheader.read_defines(PORT_H)


def _key(name: str) -> str:
    value = _DEFINES.get(name)
    if not isinstance(value, str):
        raise cheader.HeaderError(f"{PORT_H}: no string #define {name}")
    return value


PACE = _key("WCTB_PORT_PACE")
START = _key("WCTB_PORT_START")
END = _key("WCTB_PORT_END")
RESULT = _key("WCTB_PORT_RESULT")
COUNTERS = _key("WCTB_PORT_COUNTERS")
LEDGER = _key("WCTB_PORT_LEDGER")
HOST = _key("WCTB_PORT_HOST")
MEASURE = _key("WCTB_PORT_MEASURE")
TOLERATED = _key("WCTB_PORT_TOLERATED")
DIAGNOSTIC = _key("WCTB_PORT_DIAGNOSTIC")
DEVICE_ID = _key("WCTB_PORT_DEVICE_ID")
KEYS = (PACE, START, END, RESULT, COUNTERS, LEDGER, HOST, MEASURE)


@dataclass
class Line:
    """One "KEY: REST" line of the port; key is None for TAP and logs."""
    key: Optional[str]
    rest: str

    def words(self) -> List[str]:
        return self.rest.split()

    def fields(self) -> Dict[str, str]:
        """The NAME=VALUE words of the line, by name."""
        return dict(w.partition("=")[::2] for w in self.words() if "=" in w)


def parse(text: str) -> Line:
    """@text (one line, no newline) as a Line."""
    key, sep, rest = text.partition(": ")
    if sep and key in KEYS:
        return Line(key, rest.strip())
    return Line(None, text)


def counters(rest: str, what: str) -> Dict[str, int]:
    """The NAME=N words of a counters or ledger line; ValueError names a
    malformed one."""
    values = {}
    for word in rest.split():
        name, sep, value = word.partition("=")
        if not sep or not value.isdigit():
            raise ValueError(f"malformed {what} field '{word}'")
        values[name] = int(value)
    return values


def last_by_key(lines: Iterable[str]) -> Dict[str, str]:
    """The rest of the last line of each key."""
    out: Dict[str, str] = {}
    for text in lines:
        line = parse(text)
        if line.key:
            out[line.key] = line.rest
    return out
