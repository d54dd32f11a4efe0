"""VNN-LIB: a small S-expression parser, the input box of a VNN-LIB 1.0 property, and 1.0
properties with disjunctive output constraints.

:func:`parse_sexprs` turns text into nested :class:`SList` / :class:`Atom` values that remember
their line, so later readers (full VNN-LIB queries) can report errors by line.  Nothing is ever
evaluated.

:func:`read_vnnlib_property` reads the classic VNN-COMP form: a box on ``X_i`` and output
constraints on ``Y_j`` (comparisons of linear terms, combined with ``and`` / ``or``), kept as a
disjunction of conjunctions of :class:`LinearConstraint` (exact rationals).  VNN-LIB's reading:
the assertions describe the counterexamples sought; ``sat`` means one exists.

Constants are taken as the float64 nearest to their decimal value (the convention of
:class:`relucert.Box`); arithmetic on them after that is exact.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from fractions import Fraction
from typing import Callable, Hashable

import numpy as np

from ..box import Box
from ..errors import BoxError, SpecError
from ._common import read_bytes

__all__ = ["Atom", "SList", "parse_sexprs", "render", "parse_number", "read_vnnlib_box",
           "LinearConstraint", "VnnlibProperty", "read_vnnlib_property", "linear_form", "to_dnf",
           "MAX_DISJUNCTS"]


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


def _read_text(path_or_text, label: str | None = None) -> tuple[str, str]:
    """(text, where): a path-like or a string without '(' is a file name; other strings are text
    (named ``label`` in messages, default ``<text>``)."""
    if isinstance(path_or_text, os.PathLike) or (isinstance(path_or_text, str) and "(" not in path_or_text):
        where = os.fspath(path_or_text)
        data = read_bytes(where)
        try:
            return data.decode("utf-8"), where
        except UnicodeDecodeError:
            raise SpecError(f"{where}: not a UTF-8 text file") from None
    if isinstance(path_or_text, str):
        return path_or_text, label or "<text>"
    raise SpecError(f"expected a path or VNN-LIB text, got {type(path_or_text).__name__}")


_VAR = re.compile(r"([XY])_(0|[1-9][0-9]*)")
_IGNORED_COMMANDS = {"set-logic", "set-info", "set-option", "check-sat", "get-model", "exit"}


def read_vnnlib_box(path_or_text, n_inputs: int | None = None, *, where: str | None = None) -> Box:
    """The input box of a VNN-LIB 1.0 property.

    Inputs are declared ``(declare-const X_i Real)``; bounds are ``(assert (<= X_i c))``,
    ``(assert (>= X_i c))``, the mirrored forms ``(<= c X_i)`` / ``(>= c X_i)`` and
    ``(assert (and ...))`` of these.  Several bounds on one input intersect.  Assertions that
    mention only outputs ``Y_j`` are skipped (they are the output property, not the box).  A
    constant is taken as the float64 nearest to its decimal value.

    Raises :class:`SpecError` for unsupported constructs and :class:`BoxError` for an input
    without both bounds or an empty box, naming the line.  ``where`` names text in messages
    (default ``<text>``, or the file name).
    """
    text, where = _read_text(path_or_text, where)
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


# -- linear constraints and disjunctive normal form (shared with the 2.0 reader) -----------------

#: Largest number of disjuncts a property may expand to (``and`` of ``or`` multiplies them out).
MAX_DISJUNCTS = 200_000


@dataclass(frozen=True)
class LinearConstraint:
    """``sum_k coef_k * v_k + const <= 0`` (``< 0`` when ``strict``); exact rationals.

    ``terms`` pairs a variable key (``("Y", j)`` in 1.0 properties, ``(network, index)`` in 2.0
    queries) with its coefficient; ``line`` is the line of the comparison in the file.
    """

    terms: tuple
    const: Fraction
    strict: bool
    line: int = 0

    def value(self, values) -> Fraction:
        """``sum coef * values[key] + const`` (exact)."""
        return sum((c * Fraction(values[k]) for k, c in self.terms), Fraction(0)) + self.const

    def holds(self, values) -> bool:
        v = self.value(values)
        return v < 0 if self.strict else v <= 0

    @property
    def keys(self) -> tuple:
        return tuple(k for k, _ in self.terms)


def _const(expr, fail) -> Fraction:
    v = parse_number(expr)
    if v is None:
        return None
    if not np.isfinite(v):
        raise fail(expr, "constant is not finite")
    return Fraction(v)


def linear_form(expr, resolve: Callable[[str], Hashable], fail) -> tuple[dict, Fraction]:
    """``expr`` as ``(coefficients, constant)`` (exact).  ``resolve(atom)`` maps a variable
    atom to its key (and raises for unknown names); ``+``, ``-`` (unary and n-ary, left
    associative) and ``*`` with at most one non-constant factor are accepted."""
    c = _const(expr, fail)
    if c is not None:
        return {}, c
    if not isinstance(expr, SList):
        return {resolve(expr): Fraction(1)}, Fraction(0)
    if not expr or not isinstance(expr[0], str):
        raise fail(expr, "expected an arithmetic expression")
    head, args = expr[0], list(expr[1:])
    if head not in ("+", "-", "*"):
        raise fail(expr, f"unsupported arithmetic operator {head!r} (only +, - and *)")
    if not args:
        raise fail(expr, f"operator {head!r} needs arguments")
    parts = [linear_form(a, resolve, fail) for a in args]
    if head == "*":
        coefs, const = {}, Fraction(1)
        for t, k in parts:
            if t:
                if coefs:
                    raise fail(expr, "product of two variables: only linear constraints are supported")
                coefs = {key: v * const for key, v in t.items()}
                const = k * const
            else:
                coefs = {key: v * k for key, v in coefs.items()}
                const = const * k
        return {key: v for key, v in coefs.items() if v != 0}, const
    if head == "-" and len(parts) == 1:
        t, k = parts[0]
        return {key: -v for key, v in t.items()}, -k
    coefs = dict(parts[0][0])
    const = parts[0][1]
    sign = -1 if head == "-" else 1
    for t, k in parts[1:]:
        for key, v in t.items():
            coefs[key] = coefs.get(key, Fraction(0)) + sign * v
        const += sign * k
    return {key: v for key, v in coefs.items() if v != 0}, const


_COMPARISONS = ("<=", ">=", "<", ">", "==", "=")


def comparison(expr, resolve, fail) -> list[LinearConstraint]:
    """The constraints (one, or two for ``==``) of a comparison ``(op a b)``."""
    op = expr[0]
    if op == "!=":
        raise fail(expr, "'!=' is not supported (it is not a closed constraint)")
    if op not in _COMPARISONS or len(expr) != 3:
        raise fail(expr, f"expected a comparison ({', '.join(_COMPARISONS)}) of two terms")
    ta, ka = linear_form(expr[1], resolve, fail)
    tb, kb = linear_form(expr[2], resolve, fail)
    diff = dict(ta)
    for key, v in tb.items():
        diff[key] = diff.get(key, Fraction(0)) - v
    diff = {key: v for key, v in diff.items() if v != 0}
    k = ka - kb
    if not diff:
        raise fail(expr, "comparison of constants only")

    def mk(sign: int, strict: bool) -> LinearConstraint:
        return LinearConstraint(tuple(sorted(((key, sign * v) for key, v in diff.items()), key=lambda kv: repr(kv[0]))),
                                sign * k, strict, expr.line)

    if op == "<=":
        return [mk(1, False)]
    if op == "<":
        return [mk(1, True)]
    if op == ">=":
        return [mk(-1, False)]
    if op == ">":
        return [mk(-1, True)]
    return [mk(1, False), mk(-1, False)]


def to_dnf(expr, atom: Callable, fail, *, limit: int = MAX_DISJUNCTS) -> list[tuple]:
    """A boolean expression (``and`` / ``or`` of comparisons) as a list of conjunctions (tuples of
    constraints); ``atom(expr)`` turns a comparison into a list of constraints."""
    if not isinstance(expr, SList) or not expr or not isinstance(expr[0], str):
        raise fail(expr, "expected a boolean expression (and, or, or a comparison)")
    head = expr[0]
    if head in ("and", "or"):
        if len(expr) < 2:
            raise fail(expr, f"'{head}' needs at least one argument")
        subs = [to_dnf(e, atom, fail, limit=limit) for e in expr[1:]]
        if head == "or":
            out = [c for s in subs for c in s]
        else:
            out = [()]
            for s in subs:
                if len(out) * len(s) > limit:
                    raise fail(expr, f"expands to more than {limit} disjuncts")
                out = [a + b for a in out for b in s]
        if len(out) > limit:
            raise fail(expr, f"expands to more than {limit} disjuncts")
        return out
    if head == "not":
        raise fail(expr, "'not' is not supported (write the negated comparison)")
    return [tuple(atom(expr))]


def and_dnf(a: list[tuple], b: list[tuple], fail, expr, *, limit: int = MAX_DISJUNCTS) -> list[tuple]:
    """The conjunction of two DNFs."""
    if len(a) * len(b) > limit:
        raise fail(expr, f"the assertions expand to more than {limit} disjuncts")
    return [x + y for x in a for y in b]


@dataclass(frozen=True)
class VnnlibProperty:
    """A VNN-LIB 1.0 property of one network: the input ``box`` and the output constraint as a
    disjunction of conjunctions (``disjuncts``) of :class:`LinearConstraint` over keys
    ``("Y", j)``.  ``disjuncts == [()]`` means no output constraint (every input is a
    counterexample)."""

    box: Box
    n_inputs: int
    n_outputs: int
    disjuncts: tuple
    where: str

    def holds(self, y) -> bool:
        """Whether outputs ``y`` (exact or float values) satisfy the output constraint (exactly)."""
        vals = {("Y", j): Fraction(v) if not isinstance(v, Fraction) else v for j, v in enumerate(y)}
        return any(all(c.holds(vals) for c in conj) for conj in self.disjuncts)


def read_vnnlib_property(path_or_text, n_inputs: int | None = None, n_outputs: int | None = None, *,
                         where: str | None = None) -> VnnlibProperty:
    """A VNN-LIB 1.0 property: the box (as :func:`read_vnnlib_box` reads it) and the output
    constraint over ``Y_j``: assertions that mention only outputs, each an ``and`` / ``or`` of
    comparisons (``<=``, ``>=``, ``<``, ``>``, ``=``) of linear terms, all asserted together.

    Raises :class:`SpecError` naming the line for anything else (``not``, ``!=``, products of
    variables, an output used before it is declared, outputs not numbered ``Y_0 .. Y_{m-1}``).
    """
    text, where = _read_text(path_or_text, where)
    box = read_vnnlib_box(text, n_inputs, where=where)
    exprs = parse_sexprs(text, where=where)
    ys: dict[str, tuple[int, int]] = {}
    xs: set[str] = set()

    def fail(expr, msg: str) -> SpecError:
        return SpecError(f"{where}:{expr.line}: {msg}: {render(expr)}")

    def resolve(name):
        if name in ys:
            return ("Y", ys[name][0])
        if name in xs:
            raise SpecError(f"{where}:{name.line}: {name} is an input; output constraints mention only Y_j")
        raise SpecError(f"{where}:{name.line}: unknown variable {name!r}")

    dnf: list[tuple] = [()]
    for expr in exprs:
        if not isinstance(expr, SList) or not expr:
            continue
        if expr[0] == "declare-const":
            m = _VAR.fullmatch(expr[1])
            if m.group(1) == "Y":
                ys[expr[1]] = (int(m.group(2)), expr.line)
            else:
                xs.add(expr[1])
        elif expr[0] == "assert":
            def mentions_x(e) -> bool:
                return any(mentions_x(t) for t in e) if isinstance(e, SList) else e in xs
            if mentions_x(expr[1]):
                continue  # input box (read above)
            part = to_dnf(expr[1], lambda e: comparison(e, resolve, fail), fail)
            dnf = and_dnf(dnf, part, fail, expr)
    idx = sorted(ys.values())
    for k, (j, line) in enumerate(idx):
        if j != k:
            raise SpecError(f"{where}:{line}: outputs must be Y_0 .. Y_{len(idx) - 1}; Y_{k} is missing")
    m = len(idx)
    if n_outputs is not None and m and m != n_outputs:
        raise SpecError(f"{where}: declares {m} outputs but the network has {n_outputs}")
    return VnnlibProperty(box=box, n_inputs=box.dim, n_outputs=m if m else (n_outputs or 0),
                          disjuncts=tuple(dnf), where=where)
