# SPDX-License-Identifier: GPL-2.0
"""Read the object-like #defines of a C header that keeps to plain
constants: integers (any C base, u/l suffixes, parentheses, shifts and
ORs of earlier names), strings (adjacent literals and earlier string
defines, joined) and brace lists of string literals (a Python list).

The register map (include/hw/misc/wc-testdev.h) and the results-port
protocol (guest-tests/lib/port.h) are written once, in C, for the device
and the guest; the host tools take them from there with this instead of
copying them.  A define this cannot read is an error, not a silent gap.
"""
import ast
import re
from pathlib import Path
from typing import Dict, List, Union

Value = Union[int, str, List[str]]

_DEFINE = re.compile(r"^\s*#\s*define\s+([A-Za-z_]\w*)(\(?)\s*(.*)$")
_INT_SUFFIX = re.compile(r"\b(0[xX][0-9a-fA-F]+|\d+)[uUlL]+\b")
_NAME = re.compile(r"\b[A-Za-z_]\w*\b")
_SAFE = re.compile(r"^[\s0-9a-fA-FxX()|<>+\-*~&]*$")


class HeaderError(Exception):
    """The header has a define that is not a plain constant."""


def _logical_lines(text: str):
    """The header's lines with comments removed and continuations joined."""
    text = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)
    text = re.sub(r"//[^\n]*", "", text)
    return text.replace("\\\n", " ").splitlines()


_STRING = r'"((?:[^"\\]|\\.)*)"'


def _string(name: str, body: str, known: Dict[str, Value]) -> str:
    """Adjacent string literals and names of earlier string defines."""
    out = []
    for m in re.finditer(rf'\s*(?:{_STRING}|([A-Za-z_]\w*))\s*', body):
        if m.group(1) is not None:
            out.append(ast.literal_eval(f'"{m.group(1)}"'))
        elif isinstance(known.get(m.group(2)), str):
            out.append(known[m.group(2)])
        else:
            raise HeaderError(f"{name}: '{m.group(2)}' is not an earlier "
                              "string define")
    if not out or re.sub(rf'\s*(?:{_STRING}|[A-Za-z_]\w*)\s*', "", body):
        raise HeaderError(f"{name}: not a plain string: {body}")
    return "".join(out)


def _value(name: str, body: str, known: Dict[str, Value]) -> Value:
    if body.startswith('"') or (re.match(r"[A-Za-z_]\w*\s+\"", body)):
        return _string(name, body, known)
    if body.startswith("{"):
        if not body.endswith("}"):
            raise HeaderError(f"{name}: unterminated list: {body}")
        items = [i.strip() for i in body[1:-1].split(",")]
        return [_string(name, i, known) for i in items if i]
    expr = _INT_SUFFIX.sub(r"\1", body)

    def subst(m: re.Match) -> str:
        word = m.group(0)
        if re.fullmatch(r"0[xX][0-9a-fA-F]+", word):
            return word
        if not isinstance(known.get(word), int):
            raise HeaderError(f"{name}: '{word}' is not an earlier "
                              "integer define")
        return str(known[word])

    expr = _NAME.sub(subst, expr)
    if not expr.strip() or not _SAFE.match(expr):
        raise HeaderError(f"{name}: not a constant expression: {body}")
    expr = re.sub(r"\b0+(\d)", r"\1", expr)     # no C octal here
    try:
        return int(eval(expr, {"__builtins__": {}}, {}))  # noqa: S307
    except (SyntaxError, ValueError, TypeError) as e:
        raise HeaderError(f"{name}: cannot evaluate '{body}': {e}") from e


def read_defines(path: Union[str, Path]) -> Dict[str, Value]:
    """Every object-like define of @path, by name, in order.  Include
    guards (defines without a value) and function-like macros are skipped."""
    known: Dict[str, Value] = {}
    for line in _logical_lines(Path(path).read_text()):
        m = _DEFINE.match(line)
        if not m or m.group(2) == "(" or not m.group(3).strip():
            continue
        name, body = m.group(1), m.group(3).strip()
        try:
            known[name] = _value(name, body, known)
        except HeaderError as e:
            raise HeaderError(f"{path}: {e}") from e
    return known
