"""VNN-LIB: a small S-expression parser and the input box of a VNN-LIB 1.0 property.

:func:`parse_sexprs` turns text into nested :class:`SList` / :class:`Atom` values that remember
their line, so later readers (full VNN-LIB queries) can report errors by line.  Nothing is ever
evaluated.
"""

from __future__ import annotations

import os
import re

import numpy as np

from ..box import Box
from ..errors import BoxError, SpecError
from ._common import read_bytes

__all__ = ["Atom", "SList", "parse_sexprs", "render", "parse_number", "read_vnnlib_box"]


class Atom(str):
    """A symbol or literal; ``line`` is the 1-based line it starts on."""

    line: int

    def __new__(cls, text: str, line: int) -> "Atom":
        obj = super().__new__(cls, text)
        obj.line = line
        return obj


class SList(list):
    """A parenthesised list; ``line`` is the line of its opening parenthesis."""

    def __init__(self, items=(), line: int = 0):
        super().__init__(items)
        self.line = line


_TOKEN = re.compile(
    r"""(?P<nl>\n)|(?P<ws>[ \t\r\f\v]+)|(?P<comment>;[^\n]*)|(?P<open>\()|(?P<close>\))
       |(?P<string>"(?:[^"]|"")*")|(?P<quoted>\|[^|\\]*\|)|(?P<atom>[^\s();"|]+)""",
    re.X,
)


def parse_sexprs(text: str, *, where: str = "<text>") -> list:
    """All top-level S-expressions of ``text`` (``;`` starts a comment to the end of the line).

    Quoted symbols ``|x y|`` become the atom ``x y``; string literals keep their quotes.
    Unbalanced parentheses and unterminated literals raise :class:`SpecError` naming the line.
    """
    out: list = []
    stack: list[SList] = []
    line, pos, n = 1, 0, len(text)
    while pos < n:
        m = _TOKEN.match(text, pos)
        if m is None:
            what = {'"': "string literal", "|": "quoted symbol"}.get(text[pos], f"character {text[pos]!r}")
            raise SpecError(f"{where}:{line}: unterminated {what}")
        kind, tok = m.lastgroup, m.group()
        if kind == "open":
            stack.append(SList(line=line))
        elif kind == "close":
            if not stack:
                raise SpecError(f"{where}:{line}: unexpected ')'")
            done = stack.pop()
            (stack[-1] if stack else out).append(done)
        elif kind in ("atom", "string", "quoted"):
            atom = Atom(tok[1:-1] if kind == "quoted" else tok, line)
            (stack[-1] if stack else out).append(atom)
        if kind in ("nl", "string", "quoted"):
            line += tok.count("\n")
        pos = m.end()
    if stack:
        raise SpecError(f"{where}:{stack[-1].line}: '(' is never closed")
    return out


def render(expr, limit: int = 80) -> str:
    """The text of an S-expression (shortened to ``limit`` characters), for messages."""
    s = expr if isinstance(expr, str) else "(" + " ".join(render(e, 10**9) for e in expr) + ")"
    return s if len(s) <= limit else s[: limit - 3] + "..."


_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")


def parse_number(expr) -> float | None:
    """The float64 nearest to a numeric literal (``0.5``, ``-1e-3``, ``(- 0.5)``), else ``None``."""
    if isinstance(expr, SList):
        if len(expr) == 2 and expr[0] == "-":
            v = parse_number(expr[1])
            return None if v is None else -v
        return None
    if _NUMBER.fullmatch(expr):
        return float(expr)
    return None


def _read_text(path_or_text) -> tuple[str, str]:
    """(text, where): a path-like or a string without '(' is a file name; other strings are text."""
    if isinstance(path_or_text, os.PathLike) or (isinstance(path_or_text, str) and "(" not in path_or_text):
        where = os.fspath(path_or_text)
        data = read_bytes(where)
        try:
            return data.decode("utf-8"), where
        except UnicodeDecodeError:
            raise SpecError(f"{where}: not a UTF-8 text file") from None
    if isinstance(path_or_text, str):
        return path_or_text, "<text>"
    raise SpecError(f"expected a path or VNN-LIB text, got {type(path_or_text).__name__}")


_VAR = re.compile(r"([XY])_(0|[1-9][0-9]*)")
_IGNORED_COMMANDS = {"set-logic", "set-info", "set-option", "check-sat", "get-model", "exit"}


def read_vnnlib_box(path_or_text, n_inputs: int | None = None) -> Box:
    """The input box of a VNN-LIB 1.0 property.

    Inputs are declared ``(declare-const X_i Real)``; bounds are ``(assert (<= X_i c))``,
    ``(assert (>= X_i c))``, the mirrored forms ``(<= c X_i)`` / ``(>= c X_i)`` and
    ``(assert (and ...))`` of these.  Several bounds on one input intersect.  Assertions that
    mention only outputs ``Y_j`` are skipped (they are the output property, not the box).  A
    constant is taken as the float64 nearest to its decimal value.

    Raises :class:`SpecError` for unsupported constructs and :class:`BoxError` for an input
    without both bounds or an empty box, naming the line.
    """
    text, where = _read_text(path_or_text)
    exprs = parse_sexprs(text, where=where)
    declared: dict[str, tuple[str, int, int]] = {}  # name -> (kind, index, line)
    lo: dict[int, float] = {}
    hi: dict[int, float] = {}

    def fail(expr, msg: str) -> SpecError:
        return SpecError(f"{where}:{expr.line}: {msg}: {render(expr)}")

    def variables(expr) -> set[str]:
        if isinstance(expr, SList):
            return set().union(*(variables(e) for e in expr)) if expr else set()
        if expr in declared:
            return {expr}
        if _VAR.fullmatch(expr):
            raise SpecError(f"{where}:{expr.line}: {expr} is used before it is declared")
        return set()

    def bound(expr) -> None:
        if not isinstance(expr, SList) or not expr:
            raise fail(expr, "unsupported constraint on inputs")
        head = expr[0]
        if head == "and":
            for e in expr[1:]:
                bound(e)
            return
        if head not in ("<=", ">=") or len(expr) != 3:
            raise fail(expr, "unsupported constraint on inputs (only <=, >= and 'and' of bounds)")
        a, b = expr[1], expr[2]
        if isinstance(a, str) and declared.get(a, ("",))[0] == "X" and parse_number(b) is not None:
            var, c, upper = a, parse_number(b), head == "<="
        elif isinstance(b, str) and declared.get(b, ("",))[0] == "X" and parse_number(a) is not None:
            var, c, upper = b, parse_number(a), head == ">="
        else:
            raise fail(expr, "unsupported constraint on inputs (expected a bound 'X_i <= c' or 'X_i >= c')")
        if not np.isfinite(c):
            raise fail(expr, "bound is not finite")
        i = declared[var][1]
        if upper:
            hi[i] = min(hi.get(i, c), c)
        else:
            lo[i] = max(lo.get(i, c), c)

    for expr in exprs:
        if not isinstance(expr, SList) or not expr or not isinstance(expr[0], str):
            raise fail(expr, "expected a command like (declare-const ...) or (assert ...)")
        head = expr[0]
        if head == "declare-const":
            if len(expr) != 3 or not isinstance(expr[1], str) or expr[2] != "Real":
                raise fail(expr, "expected (declare-const NAME Real)")
            m = _VAR.fullmatch(expr[1])
            if m is None:
                raise fail(expr, f"unsupported constant name {expr[1]!r} (expected X_i or Y_j)")
            if expr[1] in declared:
                raise fail(expr, f"{expr[1]} is declared twice")
            declared[expr[1]] = (m.group(1), int(m.group(2)), expr.line)
        elif head == "assert":
            if len(expr) != 2:
                raise fail(expr, "expected (assert EXPR)")
            used = variables(expr[1])
            kinds = {declared[v][0] for v in used}
            if "X" not in kinds:
                continue  # output property: not part of the input box
            if "Y" in kinds:
                raise fail(expr, "constraints mixing inputs and outputs are not supported")
            bound(expr[1])
        elif head in _IGNORED_COMMANDS:
            continue
        else:
            raise fail(expr, f"unsupported command {head!r}")

    xs = sorted((idx, line) for kind, idx, line in declared.values() if kind == "X")
    if not xs:
        raise SpecError(f"{where}: declares no inputs X_0, X_1, ...")
    n = len(xs)
    for k, (idx, line) in enumerate(xs):
        if idx != k:
            raise SpecError(f"{where}:{line}: inputs must be X_0 .. X_{n - 1}; X_{k} is missing")
    if n_inputs is not None and n != n_inputs:
        raise BoxError(f"{where}: declares {n} inputs but the network has {n_inputs}")
    for idx, line in xs:
        for side, have in (("lower", lo), ("upper", hi)):
            if idx not in have:
                raise BoxError(f"{where}:{line}: input X_{idx} has no {side} bound (unbounded inputs are not supported)")
        if lo[idx] > hi[idx]:
            raise BoxError(f"{where}:{line}: input X_{idx} has an empty range [{lo[idx]!r}, {hi[idx]!r}]")
    return Box([lo[i] for i in range(n)], [hi[i] for i in range(n)])
