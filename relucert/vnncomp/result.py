"""The competition's result file: one status line (``sat``, ``unsat``, ``timeout``, ``unknown``,
``error``); after ``sat`` the counterexample as ``((X_0 v) (X_1 v) ... (Y_0 v) ...)``, one
element a line, in declaration order (a 2.0 query's elements by their declared names, e.g.
``(X[0,1] v)``).  Values are decimal: inputs exactly as the float64 numbers relucert checked,
outputs as the float64 nearest to their exact values."""

from __future__ import annotations

import re
from fractions import Fraction

from ..errors import SpecError
from ..io._common import atomic_write
from .solve import STATUSES

__all__ = ["format_result", "write_result", "parse_result"]


def _value(v) -> str:
    return repr(float(v))


def format_result(status: str, assignment=None) -> str:
    if status not in STATUSES:
        raise SpecError(f"status must be one of {', '.join(STATUSES)}, got status={status!r}")
    if status != "sat":
        return status + "\n"
    if not assignment:
        raise SpecError("a sat result needs the counterexample assignment")
    rows = [f"({name} {_value(v)})" for name, v in assignment]
    return "sat\n(" + "\n ".join(rows) + ")\n"


def write_result(path, status: str, assignment=None) -> None:
    """Write the result file atomically."""
    text = format_result(status, assignment)
    with atomic_write(path) as fh:
        fh.write(text.encode("utf-8"))


_ROW = re.compile(r"\(\s*([^\s()]+)\s+([^\s()]+)\s*\)")


def parse_result(text: str) -> tuple[str, list[tuple[str, Fraction]]]:
    """``(status, [(element, value)])`` of a result file's text (values as exact rationals of
    their decimals)."""
    lines = text.strip().splitlines()
    if not lines:
        raise SpecError("empty result file")
    status = lines[0].strip()
    if status not in STATUSES and status not in ("violated", "holds"):
        raise SpecError(f"unknown result status {status!r}")
    rows = [(m.group(1), Fraction(m.group(2))) for m in _ROW.finditer("\n".join(lines[1:]))]
    return status, rows
