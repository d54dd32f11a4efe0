"""VNN-LIB 2.0 equivalence queries: one or two declared networks, an input box, and output
constraints of the forms relucert decides.

A VNN-LIB query is a satisfiability question: its assertions describe the counterexamples
sought, and ``sat`` means one exists.  relucert reads the query as a pair ``f``, ``g`` (or one
product network), an input :class:`~relucert.Box` and one of these output forms:

``eps``
    per-output eps bands violated: ``(or (> (- Yf[k] Yg[k]) eps) (< (- Yf[k] Yg[k]) (- eps)) ...)``
    over some or all outputs (sup-norm), written with any arrangement of the terms
    (``(> Yg[k] (+ Yf[k] eps))``, ``(< Yg[k] (- Yf[k] eps))``, ...), strict or not; outputs
    may have different eps (each group is decided on its own); on one difference network ``D``
    the bands are ``(> D[k] eps)`` / ``(< D[k] (- eps))``; on one stacked network ``[f, g]``
    they compare ``Y[k]`` with ``Y[m + k]``.  ``sat`` means ``|f_k - g_k| > eps`` somewhere
    (``>=`` for non-strict comparisons): NOT_EQUIVALENT.
``top1``
    f's top class (leading by ``margin``; ties to the lowest index) is not g's:
    ``(or (and <f_i - f_l >= margin for every l != i> (or <g_j >= g_i for every j != i>)) ...)``
    for every class ``i``.  With margin 0, ``f_i > f_l`` must be strict for ``l < i``.
``decision``
    single-output classifiers ``[h > tau]`` disagree with margin gamma:
    ``(or (and (>= Yf a) (<= Yg t)) (and (<= Yf b) (> Yg t)))`` with ``a = tau_f + gamma``,
    ``b = tau_f - gamma``, ``t = tau_g``.
``band``
    the *safe* band asserted instead (``(and (<= Yg[k] (+ Yf[k] eps)) (>= Yg[k] (- Yf[k] eps)))``):
    under the standard reading ``sat`` then means that a point where f and g agree exists.  The
    reader warns that the query looks inverted; relucert can only answer ``sat`` (with a
    witness) or ``unknown`` for it.

Inputs: every network has one input tensor and one output tensor (any shape, flattened in
row-major order).  The first network's input is the shared input ``x``; the second network's
input elements must be tied to it by equalities ``(== Xg[i] Xf[j])`` (any bijection), or fixed to
the same value by zero-width intervals.  Bounds ``(<= X[i] c)``, ``(>= X[i] c)``, ``(== X[i] c)``
(a zero-width interval) and their mirrored and ``and`` forms make the box.

Constants are the float64 nearest to their decimal (the convention of :class:`relucert.Box`);
arithmetic on them is exact.  Element types ``Real`` / ``real`` and the ONNX float types are
accepted; relucert decides the query over the reals (exact arithmetic on the stored weights).

Anything else raises :class:`SpecError` naming the construct and the line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Mapping

import numpy as np

from ..box import Box
from ..errors import BoxError, ShapeError, SpecError
from .vnnlib import (
    LinearConstraint,
    SList,
    _read_text,
    and_dnf,
    comparison,
    parse_sexprs,
    read_vnnlib_property,
    render,
    to_dnf,
)

__all__ = [
    "TensorDecl",
    "NetworkDecl",
    "SpecPart",
    "Query",
    "BoundQuery",
    "read_query",
    "read_vnnlib2",
    "query_from_property",
    "is_vnnlib2",
    "FORMS",
]

#: the output forms relucert decides (``band`` only with a witness, see the module docstring)
FORMS = ("eps", "top1", "decision", "band")

_FLOAT_TYPES = {"real", "float16", "float32", "float64", "bfloat16", "float8e4m3fn", "float8e5m2",
                "float8e4m3fnuz", "float8e5m2fnuz", "float4e2m1"}
_OTHER_TYPES = {"int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64", "complex64",
                "complex128", "bool", "string"}
_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*")
_REF = re.compile(r"([A-Za-z][A-Za-z0-9_]*)\[\s*([0-9]+(?:\s*,\s*[0-9]+)*)?\s*\]")


@dataclass(frozen=True)
class TensorDecl:
    """A declared input or output tensor of a network."""

    name: str
    kind: str            # "input" or "output"
    elem_type: str
    shape: tuple[int, ...]
    line: int

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64)) if self.shape else 1

    def element(self, flat: int) -> str:
        """The VNN-LIB name of element ``flat`` (row-major): ``X[0,3]``, or ``X`` for a scalar."""
        if not self.shape:
            return self.name
        idx = np.unravel_index(flat, self.shape)
        return f"{self.name}[{','.join(str(int(i)) for i in idx)}]"


@dataclass(frozen=True)
class NetworkDecl:
    """``(declare-network NAME [(equal-to N) | (isomorphic-to N)] (declare-input ..) (declare-output ..))``."""

    name: str
    input: TensorDecl
    output: TensorDecl
    equiv: tuple[str, str] | None
    line: int

    @property
    def n_inputs(self) -> int:
        return self.input.size

    @property
    def n_outputs(self) -> int:
        return self.output.size


@dataclass(frozen=True)
class SpecPart:
    """One relucert spec to decide: ``spec`` on ``F = f_net.slice_outputs(f_outputs)`` and
    ``G = g_net.slice_outputs(g_outputs)`` (``g_net is None``: the zero network).  The query is
    ``sat`` iff some part has a counterexample (parts come from one disjunction)."""

    spec: object
    f_net: int
    f_outputs: tuple[int, ...]
    g_net: int | None
    g_outputs: tuple[int, ...]
    description: str


@dataclass
class Query:
    """A parsed equivalence query (see the module docstring).

    ``box`` is over the shared input (the first network's input elements); ``input_maps[j][t]``
    is the shared index that network ``j``'s input element ``t`` is tied to.  ``input_constraints``
    and ``disjuncts`` (the output constraint in disjunctive normal form, keys ``(network, index)``)
    are kept exactly so that a counterexample can be re-checked on the query itself.
    """

    networks: tuple[NetworkDecl, ...]
    box: Box
    input_maps: tuple[tuple[int, ...], ...]
    input_constraints: tuple[LinearConstraint, ...]
    disjuncts: tuple[tuple[LinearConstraint, ...], ...]
    form: str
    parts: tuple[SpecPart, ...]
    warnings: list[str] = field(default_factory=list)
    where: str = "<text>"
    version: str | None = None
    dialect: str = "vnnlib2"          # or "vnnlib1" for a 1.0 property of one network

    @property
    def names(self) -> list[str]:
        return [n.name for n in self.networks]

    @property
    def inverted(self) -> bool:
        return self.form == "band"

    def describe(self) -> str:
        lines = [f"query {self.where}: {len(self.networks)} network(s) "
                 f"({', '.join(f'{n.name} {n.n_inputs}->{n.n_outputs}' for n in self.networks)}), "
                 f"form {self.form}"]
        lines.append(f"box: {self.box.to_string()}")
        for p in self.parts:
            lines.append(f"decide: {p.description}")
        if self.form == "band":
            lines.append("decide: only a witness of the asserted band can be found (sat), never unsat")
        for w in self.warnings:
            lines.append(f"warning: {w}")
        return "\n".join(lines)

    def bind(self, models: Mapping[str, object]) -> "BoundQuery":
        """Attach networks to the declared names (``equal-to`` declarations may be left out)."""
        from ..network import Network

        nets = []
        for d in self.networks:
            net = models.get(d.name)
            if net is None and d.equiv is not None and d.equiv[0] == "equal-to":
                net = models.get(d.equiv[1])
            if net is None:
                raise SpecError(f"{self.where}: no model given for network {d.name!r} "
                                f"(declared on line {d.line}); give --network {d.name}=FILE.onnx")
            if not isinstance(net, Network):
                raise SpecError(f"the model for {d.name!r} must be a relucert Network, got {type(net).__name__}")
            if net.n_inputs != d.n_inputs:
                raise ShapeError(f"{self.where}:{d.input.line}: network {d.name!r} declares {d.n_inputs} inputs "
                                 f"(shape {list(d.input.shape)}) but its model has {net.n_inputs}")
            if net.n_outputs != d.n_outputs:
                raise ShapeError(f"{self.where}:{d.output.line}: network {d.name!r} declares {d.n_outputs} outputs "
                                 f"(shape {list(d.output.shape)}) but its model has {net.n_outputs}")
            nets.append(net)
        unknown = sorted(set(models) - set(self.names))
        if unknown:
            raise SpecError(f"{self.where}: the query declares no network named {', '.join(map(repr, unknown))} "
                            f"(declared: {', '.join(self.names)})")
        warnings = list(self.warnings)
        for j, d in enumerate(self.networks):
            if d.equiv is not None:
                k = self.names.index(d.equiv[1])
                if d.equiv[0] == "equal-to" and nets[j].digest != nets[k].digest:
                    warnings.append(f"network {d.name!r} is declared equal-to {d.equiv[1]!r} but its model has "
                                    f"other weights")
                if d.equiv[0] == "isomorphic-to" and nets[j].sizes != nets[k].sizes:
                    warnings.append(f"network {d.name!r} is declared isomorphic-to {d.equiv[1]!r} but the layer "
                                    f"sizes differ ({nets[j].sizes} vs {nets[k].sizes})")
        return BoundQuery(self, tuple(nets), warnings)


class BoundQuery:
    """A query with its networks: the networks of each part on the shared input, and the exact
    check of a candidate counterexample on the query itself."""

    def __init__(self, query: Query, nets: tuple, warnings: list[str]):
        from ..network import Network

        self.query = query
        self.nets = nets
        self.warnings = warnings
        n = query.box.dim
        shared = []
        for j, net in enumerate(nets):
            m = query.input_maps[j]
            if list(m) == list(range(n)):
                shared.append(net)
            else:  # x_j[t] = x[m[t]]: a permutation, folded exactly into the first layer
                P = np.zeros((len(m), n))
                P[np.arange(len(m)), np.asarray(m)] = 1.0
                shared.append(net.pre_affine(P))
        self.shared = tuple(shared)
        self.pairs = []

        def part_net(j: int, idx) -> "Network":
            net = self.shared[j]
            if list(idx) == list(range(net.n_outputs)):
                return net
            # a slice of a product network: drop the hidden units the slice does not use (exact)
            return net.slice_outputs(idx).canonical()

        for p in query.parts:
            F = part_net(p.f_net, p.f_outputs)
            if p.g_net is None:
                G = Network.affine(np.zeros((len(p.f_outputs), n)), name="zero")
            else:
                G = part_net(p.g_net, p.g_outputs)
            self.pairs.append((F, G, p))

    def outputs_exact(self, x) -> list[list[Fraction]]:
        xs = [v if isinstance(v, Fraction) else Fraction(float(v)) for v in x]
        return [net.eval_exact([xs[i] for i in self.query.input_maps[j]]) for j, net in enumerate(self.nets)]

    def check(self, x) -> tuple[bool, list[list[Fraction]]]:
        """Whether ``x`` (shared input) satisfies every assertion of the query, exactly; and the
        exact outputs of each network there."""
        xs = [v if isinstance(v, Fraction) else Fraction(float(v)) for v in x]
        if len(xs) != self.query.box.dim or not self.query.box.contains(xs):
            return False, []
        vals = {}
        for j, m in enumerate(self.query.input_maps):
            for t, i in enumerate(m):
                vals[("in", j, t)] = xs[i]
        if not all(c.holds(vals) for c in self.query.input_constraints):
            return False, []
        ys = self.outputs_exact(xs)
        outv = {(j, k): v for j, y in enumerate(ys) for k, v in enumerate(y)}
        ok = any(all(c.holds(outv) for c in conj) for conj in self.query.disjuncts)
        return ok, ys

    def dnf_float(self, X: np.ndarray, *, self_compare: bool = False) -> np.ndarray:
        """Float screening of the output constraint on a batch of shared inputs: the largest
        (over disjuncts) of the smallest (over conjuncts) slack ``-(a.y + c)``; > 0 suggests the
        constraint holds.  ``self_compare``: every network replaced by the first one (a
        counterexample query of an equivalence is unsatisfiable then)."""
        X = np.atleast_2d(np.asarray(X, dtype=np.float64))
        if self_compare:
            y0 = self.shared[0].eval(X)
            ys = [y0 for _ in self.nets]
        else:
            ys = [net.eval(X[:, list(self.query.input_maps[j])]) for j, net in enumerate(self.nets)]
        best = np.full(X.shape[0], -np.inf)
        for conj in self.query.disjuncts:
            worst = np.full(X.shape[0], np.inf)
            for c in conj:
                v = np.full(X.shape[0], float(c.const))
                for (j, k), coef in c.terms:
                    v = v + float(coef) * ys[j][:, k]
                worst = np.minimum(worst, -v)
            best = np.maximum(best, worst)
        return best

    def assignment(self, x, ys=None) -> list[tuple[str, Fraction]]:
        """``(element name, value)`` in declaration order: each network's inputs, then outputs."""
        xs = [v if isinstance(v, Fraction) else Fraction(float(v)) for v in x]
        if ys is None:
            ys = self.outputs_exact(xs)
        out = []
        for j, d in enumerate(self.query.networks):
            for t, i in enumerate(self.query.input_maps[j]):
                out.append((self._name(d.input, t), xs[i]))
            for k, v in enumerate(ys[j]):
                out.append((self._name(d.output, k), v))
        return out

    def _name(self, decl: TensorDecl, flat: int) -> str:
        if self.query.dialect == "vnnlib1":
            return f"{decl.name}_{flat}"
        return decl.element(flat)


# -- reading ----------------------------------------------------------------------------------

def is_vnnlib2(text: str) -> bool:
    """Whether ``text`` looks like a 2.0 query (it declares networks)."""
    return re.search(r"\(\s*declare-network\b", text) is not None


def _read_any(path_or_text) -> tuple[str, str]:
    """Like ``_read_text``, and a ``.gz`` file is decompressed (VNN-COMP ships gzipped queries)."""
    import os

    if isinstance(path_or_text, (str, os.PathLike)) and os.fspath(path_or_text).endswith(".gz") \
            and "(" not in os.fspath(path_or_text):
        import gzip

        from ._common import read_bytes

        where = os.fspath(path_or_text)
        try:
            data = gzip.decompress(read_bytes(where))
        except (OSError, EOFError) as exc:
            raise SpecError(f"{where}: not a readable gzip file ({exc})") from None
        try:
            return data.decode("utf-8"), where
        except UnicodeDecodeError:
            raise SpecError(f"{where}: not a UTF-8 text file") from None
    return _read_text(path_or_text)


def read_query(path_or_text, *, name: str | None = None) -> Query:
    """A 2.0 query, or a 1.0 property of one network (read as a one-network query whose network
    is named ``name``, default ``N``).  ``.gz`` files are decompressed."""
    text, where = _read_any(path_or_text)
    if is_vnnlib2(text):
        return _read2(text, where)
    prop = read_vnnlib_property(text, where=where)
    return query_from_property(prop, name=name or "N")


def read_vnnlib2(path_or_text) -> Query:
    """A VNN-LIB 2.0 query (see the module docstring)."""
    text, where = _read_text(path_or_text)
    return _read2(text, where)


class _Ctx:
    def __init__(self, where: str):
        self.where = where

    def fail(self, expr, msg: str) -> SpecError:
        line = getattr(expr, "line", 0)
        return SpecError(f"{self.where}:{line}: {msg}: {render(expr)}")


def _merge_refs(expr):
    """Join ``X [0, 2]`` (split by spaces) into one atom ``X[0,2]`` inside assertion bodies."""
    if not isinstance(expr, SList):
        return expr
    out = SList(line=expr.line)
    i = 0
    items = list(expr)
    while i < len(items):
        e = items[i]
        if isinstance(e, str) and not isinstance(e, SList) and _NAME.fullmatch(e) and i + 1 < len(items) \
                and isinstance(items[i + 1], str) and items[i + 1].startswith("["):
            text = str(e)
            j = i + 1
            while j < len(items) and isinstance(items[j], str):
                text += str(items[j])
                j += 1
                if text.endswith("]"):
                    break
            from .vnnlib import Atom

            out.append(Atom(text.replace(" ", ""), e.line))
            i = j
            continue
        out.append(_merge_refs(e))
        i += 1
    return out


def _shape(items: list, ctx: _Ctx, expr) -> tuple[tuple[int, ...], list]:
    """Parse ``[d0,d1,...]`` from the start of ``items`` (possibly split into several atoms)."""
    if not items or not isinstance(items[0], str) or not items[0].startswith("["):
        raise ctx.fail(expr, "expected a shape like [1,5] after the element type")
    text, k = "", 0
    while k < len(items) and isinstance(items[k], str):
        text += " " + str(items[k])
        k += 1
        if text.rstrip().endswith("]"):
            break
    inner = text.strip()
    if not inner.endswith("]"):
        raise ctx.fail(expr, "unterminated shape (missing ']')")
    body = inner[1:-1].replace(",", " ").split()
    try:
        dims = tuple(int(d) for d in body)
    except ValueError:
        raise ctx.fail(expr, f"shape must hold non-negative integers, got {inner}") from None
    if any(d <= 0 for d in dims):
        raise ctx.fail(expr, f"shape dimensions must be >= 1, got {inner}")
    return dims, items[k:]


def _tensor(expr, kind: str, ctx: _Ctx) -> TensorDecl:
    if len(expr) < 4 or not isinstance(expr[1], str) or not _NAME.fullmatch(expr[1]):
        raise ctx.fail(expr, f"expected (declare-{kind} NAME TYPE [SHAPE])")
    etype = expr[2]
    if not isinstance(etype, str):
        raise ctx.fail(expr, "expected an element type (Real, float32, ...)")
    if etype.lower() not in _FLOAT_TYPES:
        if etype in _OTHER_TYPES:
            raise ctx.fail(expr, f"element type {etype} is not supported (relucert reads Real and float types)")
        raise ctx.fail(expr, f"unknown element type {etype!r}")
    dims, rest = _shape(list(expr[3:]), ctx, expr)
    rest = [r for r in rest if not (isinstance(r, str) and r.startswith('"'))]
    if rest:
        raise ctx.fail(expr, f"unexpected {render(rest[0])!r} after the shape")
    return TensorDecl(str(expr[1]), kind, str(etype), dims, expr.line)


def _network(expr, ctx: _Ctx, declared: dict) -> NetworkDecl:
    if len(expr) < 2 or not isinstance(expr[1], str):
        raise ctx.fail(expr, "expected (declare-network NAME ...)")
    name = str(expr[1])
    if not _NAME.fullmatch(name):
        raise ctx.fail(expr, f"network name {name!r} must start with a letter and hold only letters, digits and _")
    equiv = None
    inputs, outputs = [], []
    for item in expr[2:]:
        if not isinstance(item, SList) or not item or not isinstance(item[0], str):
            raise ctx.fail(item if isinstance(item, SList) else expr, "expected a declaration inside declare-network")
        head = item[0]
        if head in ("equal-to", "isomorphic-to"):
            if equiv is not None:
                raise ctx.fail(item, "a network may hold at most one equal-to or isomorphic-to")
            if inputs or outputs:
                raise ctx.fail(item, f"{head} must come before the input and output declarations")
            if len(item) != 2 or not isinstance(item[1], str):
                raise ctx.fail(item, f"expected ({head} NETWORK)")
            target = str(item[1])
            if target not in declared:
                raise ctx.fail(item, f"{head} names {target!r}, which is not declared before it")
            if declared[target].equiv is not None:
                raise ctx.fail(item, f"{head} names {target!r}, which itself holds {declared[target].equiv[0]}")
            equiv = (str(head), target)
        elif head == "declare-input":
            if outputs:
                raise ctx.fail(item, "inputs must be declared before outputs")
            inputs.append(_tensor(item, "input", ctx))
        elif head == "declare-output":
            outputs.append(_tensor(item, "output", ctx))
        elif head == "declare-hidden":
            raise ctx.fail(item, "declare-hidden is not supported (relucert compares network outputs)")
        else:
            raise ctx.fail(item, f"unsupported declaration {head!r} in declare-network")
    if len(inputs) != 1:
        raise ctx.fail(expr, f"network {name!r} must declare exactly one input tensor, got {len(inputs)}")
    if len(outputs) != 1:
        raise ctx.fail(expr, f"network {name!r} must declare exactly one output tensor, got {len(outputs)}")
    d = NetworkDecl(name, inputs[0], outputs[0], equiv, expr.line)
    if equiv is not None:
        t = declared[equiv[1]]
        if (t.input.shape, t.output.shape) != (d.input.shape, d.output.shape):
            raise ctx.fail(expr, f"{equiv[0]} {equiv[1]!r}: shapes differ ({list(d.input.shape)} -> "
                                 f"{list(d.output.shape)} vs {list(t.input.shape)} -> {list(t.output.shape)})")
    return d


def _read2(text: str, where: str) -> Query:
    ctx = _Ctx(where)
    exprs = parse_sexprs(text, where=where)
    nets: dict[str, NetworkDecl] = {}
    order: list[str] = []
    variables: dict[str, tuple[int, TensorDecl]] = {}
    version = None
    asserts = []
    for expr in exprs:
        if not isinstance(expr, SList) or not expr or not isinstance(expr[0], str):
            raise ctx.fail(expr, "expected a command like (declare-network ...) or (assert ...)")
        head = expr[0]
        if head == "vnnlib-version":
            if len(expr) != 2 or not isinstance(expr[1], str):
                raise ctx.fail(expr, "expected (vnnlib-version 2.0)")
            v = str(expr[1]).strip("<>")
            if not re.fullmatch(r"[0-9]+\.[0-9]+", v):
                raise ctx.fail(expr, f"malformed version {expr[1]!r}")
            if v.split(".")[0] != "2":
                raise ctx.fail(expr, f"this reader reads VNN-LIB 2.x queries, not version {v}")
            version = v
        elif head == "declare-network":
            if asserts:
                raise ctx.fail(expr, "network declarations must come before the assertions")
            d = _network(expr, ctx, nets)
            if d.name in nets:
                raise ctx.fail(expr, f"network {d.name!r} is declared twice")
            for t in (d.input, d.output):
                if t.name in variables or t.name in nets or t.name == d.name:
                    raise ctx.fail(expr, f"variable name {t.name!r} is used twice (names must be unique)")
                variables[t.name] = (len(order), t)
            nets[d.name] = d
            order.append(d.name)
        elif head == "assert":
            if len(expr) != 2:
                raise ctx.fail(expr, "expected (assert EXPR)")
            asserts.append(expr)
        elif head in ("declare-const", "declare-fun"):
            raise ctx.fail(expr, f"{head} is VNN-LIB 1.0; a 2.0 query declares networks only")
        elif head in ("set-logic", "set-info", "set-option", "check-sat", "get-model", "exit"):
            continue
        else:
            raise ctx.fail(expr, f"unsupported command {head!r}")
    if not order:
        raise SpecError(f"{where}: declares no network")
    if len(order) > 2:
        raise SpecError(f"{where}:{nets[order[2]].line}: relucert decides queries over one or two networks, "
                        f"got {len(order)} ({', '.join(order)})")
    decls = tuple(nets[n] for n in order)
    warnings = []
    odd = sorted({d.input.elem_type for d in decls} | {d.output.elem_type for d in decls})
    odd = [t for t in odd if t.lower() != "real"]
    if odd:
        warnings.append(f"element type {', '.join(odd)}: relucert decides the query over the reals (exact "
                        f"arithmetic on the stored weights), not in {odd[0]} arithmetic")

    def resolve(atom):
        s = str(atom)
        m = _REF.fullmatch(s)
        if m:
            name, idx_text = m.group(1), m.group(2)
            idx = tuple(int(i) for i in idx_text.replace(" ", "").split(",")) if idx_text else ()
        elif _NAME.fullmatch(s):
            name, idx = s, None
        else:
            raise SpecError(f"{where}:{atom.line}: unknown term {s!r} (expected a number or NAME[i,...])")
        if name not in variables:
            if name in nets:
                raise SpecError(f"{where}:{atom.line}: {name!r} is a network; use its input or output variables")
            raise SpecError(f"{where}:{atom.line}: unknown variable {name!r} (declared: "
                            f"{', '.join(variables) or 'none'})")
        j, t = variables[name]
        if idx is None:
            if t.shape:
                raise SpecError(f"{where}:{atom.line}: {name} has shape {list(t.shape)}: write {name}[i,...] "
                                f"with {len(t.shape)} index(es)")
            flat = 0
        else:
            if len(idx) != len(t.shape):
                raise SpecError(f"{where}:{atom.line}: {s} has {len(idx)} index(es) but {name} has shape "
                                f"{list(t.shape)}")
            if any(i >= d for i, d in zip(idx, t.shape)):
                raise SpecError(f"{where}:{atom.line}: {s} is out of range for shape {list(t.shape)}")
            flat = int(np.ravel_multi_index(idx, t.shape)) if t.shape else 0
        return ("in", j, flat) if t.kind == "input" else (j, flat)

    in_atoms: list[LinearConstraint] = []
    dnf: list[tuple] = [()]
    n_out_asserts = 0
    for expr in asserts:
        body = _merge_refs(expr[1])
        dnf_part = to_dnf(body, lambda e: comparison(e, resolve, ctx.fail), ctx.fail)
        keys = {k for conj in dnf_part for c in conj for k in c.keys}
        has_in = any(k[0] == "in" for k in keys)
        has_out = any(k[0] != "in" for k in keys)
        if has_in and has_out:
            raise ctx.fail(expr, "constraints mixing inputs and outputs are not supported")
        if has_in:
            if len(dnf_part) != 1:
                raise ctx.fail(expr, "disjunctive input constraints (or) are not a box")
            in_atoms.extend(dnf_part[0])
        else:
            n_out_asserts += 1
            dnf = and_dnf(dnf, dnf_part, ctx.fail, expr)
    box, maps = _input_box(decls, in_atoms, where)
    q = Query(networks=decls, box=box, input_maps=maps, input_constraints=tuple(in_atoms),
              disjuncts=tuple(dnf), form="", parts=(), warnings=warnings, where=where, version=version)
    if not n_out_asserts:
        raise SpecError(f"{where}: no output constraint: every input in the box would be a counterexample")
    _classify(q)
    return q


def query_from_property(prop, *, name: str = "N") -> Query:
    """A 1.0 property of one network as a one-network query (product forms: ``f - g`` or
    ``[f, g]``)."""
    n, m = prop.n_inputs, prop.n_outputs
    decl = NetworkDecl(name, TensorDecl("X", "input", "Real", (n,), 0), TensorDecl("Y", "output", "Real", (m,), 0),
                       None, 0)
    disj = tuple(tuple(LinearConstraint(tuple(((0, k[1]), c) for k, c in con.terms), con.const, con.strict, con.line)
                       for con in conj) for conj in prop.disjuncts)
    if disj == ((),):
        raise SpecError(f"{prop.where}: no output constraint: every input in the box would be a counterexample")
    q = Query(networks=(decl,), box=prop.box, input_maps=(tuple(range(n)),), input_constraints=(),
              disjuncts=disj, form="", parts=(), warnings=[], where=prop.where, dialect="vnnlib1")
    _classify(q)
    return q


# -- the input box ----------------------------------------------------------------------------

def _round_down(v: Fraction) -> float:
    f = float(v)
    return f if Fraction(f) <= v else float(np.nextafter(f, -np.inf))


def _round_up(v: Fraction) -> float:
    f = float(v)
    return f if Fraction(f) >= v else float(np.nextafter(f, np.inf))


def _input_box(decls, atoms: list[LinearConstraint], where: str):
    n_nets = len(decls)
    lo: dict = {}
    hi: dict = {}
    parent: dict = {}

    def find(a):
        while parent.get(a, a) != a:
            a = parent[a]
        return a

    def union(a, b):
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[ra] = rb

    tie_line = {}
    for c in atoms:
        if len(c.terms) == 1:
            (key, coef), = c.terms
            bound = -c.const / coef
            if coef > 0:   # coef * x + const <= 0  ->  x <= -const/coef
                v = _round_up(bound)
                hi[key] = min(hi.get(key, v), v)
            else:
                v = _round_down(bound)
                lo[key] = max(lo.get(key, v), v)
        elif len(c.terms) == 2 and c.const == 0 and sorted(v for _, v in c.terms) == [-1, 1] and not c.strict:
            (a, _), (b, _) = c.terms
            union(a, b)
            tie_line[find(a)] = c.line
        else:
            raise SpecError(f"{where}:{c.line}: unsupported constraint on inputs (expected bounds X[i] <= c, "
                            f"X[i] >= c, X[i] == c, or ties Xg[i] == Xf[j])")
    # a tie is two opposite <= constraints: union() above is applied for each; a single one-sided
    # comparison of two inputs (X[0] <= X2[0]) is not a tie -- detect it
    pairs = {}
    for c in atoms:
        if len(c.terms) == 2:
            pairs.setdefault(frozenset(k for k, _ in c.terms), set()).add(tuple(sorted(c.terms)))
    for keys, forms in pairs.items():
        if len(forms) < 2:
            line = next(c.line for c in atoms if len(c.terms) == 2 and frozenset(k for k, _ in c.terms) == keys)
            raise SpecError(f"{where}:{line}: a one-sided comparison of two inputs is not a box "
                            f"(write (== A[i] B[j]) to tie them)")
    d0 = decls[0]
    n = d0.n_inputs
    classes: dict = {}
    for j in range(n_nets):
        for t in range(decls[j].n_inputs):
            classes.setdefault(find(("in", j, t)), []).append(("in", j, t))
    maps = [list(range(n))]
    slo, shi = [None] * n, [None] * n
    for root, members in classes.items():
        refs = [k for k in members if k[1] == 0]
        if len(refs) > 1:
            raise SpecError(f"{where}:{tie_line.get(root, 0)}: inputs {', '.join(d0.input.element(k[2]) for k in refs)} "
                            f"of {d0.name!r} are tied to each other (not a box)")
    for j in range(1, n_nets):
        d = decls[j]
        if d.n_inputs != n:
            raise SpecError(f"{where}:{d.input.line}: network {d.name!r} has {d.n_inputs} inputs but {d0.name!r} "
                            f"has {n}: an equivalence query compares both on one input")
        m = [None] * d.n_inputs
        for t in range(d.n_inputs):
            refs = [k for k in classes[find(("in", j, t))] if k[1] == 0]
            if refs:
                m[t] = refs[0][2]
        # untied elements fixed to the same value as the same-index element of the first network
        used = {i for i in m if i is not None}
        for t in range(d.n_inputs):
            if m[t] is None:
                a, b = ("in", j, t), ("in", 0, t)
                fixed = (a in lo and a in hi and lo[a] == hi[a] and b in lo and b in hi and lo[b] == hi[b]
                         and lo[a] == lo[b])
                if fixed and t not in used and find(b) == b and len(classes[find(b)]) == 1:
                    m[t] = t
                    used.add(t)
                else:
                    raise SpecError(
                        f"{where}:{d.input.line}: input {d.input.element(t)} of {d.name!r} is not tied to "
                        f"an input of {d0.name!r}: relucert decides equivalence on one shared input; add "
                        f"(assert (== {d.input.element(t)} {d0.input.element(t)}))")
        if sorted(m) != list(range(n)):
            raise SpecError(f"{where}:{d.input.line}: the inputs of {d.name!r} are not tied one-to-one to those of "
                            f"{d0.name!r}")
        maps.append(m)
    for j, m in enumerate(maps):
        for t, i in enumerate(m):
            key = ("in", j, t)
            if key in lo:
                slo[i] = lo[key] if slo[i] is None else max(slo[i], lo[key])
            if key in hi:
                shi[i] = hi[key] if shi[i] is None else min(shi[i], hi[key])
    for i in range(n):
        for side, have in (("lower", slo), ("upper", shi)):
            if have[i] is None:
                raise BoxError(f"{where}:{d0.input.line}: input {d0.input.element(i)} of {d0.name!r} has no {side} "
                               f"bound (unbounded inputs are not supported)")
        if slo[i] > shi[i]:
            raise BoxError(f"{where}:{d0.input.line}: input {d0.input.element(i)} has an empty range "
                           f"[{slo[i]!r}, {shi[i]!r}]")
    return Box(slo, shi), tuple(tuple(m) for m in maps)


# -- classifying the output constraint --------------------------------------------------------

def _float_below(v: Fraction, *, strict: bool) -> float:
    """The largest float64 <= v (< v when ``strict``)."""
    f = _round_down(v)
    if strict and Fraction(f) == v:
        f = float(np.nextafter(f, -np.inf))
    return f


def _pair_atom(c: LinearConstraint):
    """``c`` as ``t (op) bound`` with ``t = y_a - y_b`` (``b`` None: ``t = y_a``): returns
    ``(a, b, kind, bound, strict)``, kind ``"upper"`` (t <= bound) or ``"lower"`` (t >= bound)."""
    if len(c.terms) == 1:
        (a, coef), = c.terms
        b = None
    elif len(c.terms) == 2:
        (k1, c1), (k2, c2) = c.terms
        if c1 != -c2:
            return None
        a, b, coef = (k1, k2, c1) if _order(k1) < _order(k2) else (k2, k1, c2)
    else:
        return None
    # coef * t + const <= 0
    bound = -c.const / coef
    return a, b, ("upper" if coef > 0 else "lower"), bound, c.strict


def _order(key):
    return (key[0], key[1])


def _classify(q: Query) -> None:
    disj = q.disjuncts
    where = q.where
    errors = []
    for fn in (_as_eps, _as_band, _as_top1, _as_decision):
        try:
            res = fn(q)
        except SpecError as exc:
            errors.append(str(exc))
            continue
        if res is not None:
            return
    if errors:  # a near miss of one form: its own message says what is wrong
        raise SpecError(errors[0])
    line = min((c.line for conj in disj for c in conj if c.line), default=0)
    raise SpecError(f"{where}:{line}: the output constraint is not one of the forms relucert decides "
                    f"(eps bands and their violation, sup-norm, top-1 agreement, decision thresholds)")


def _as_eps(q: Query):
    disj = q.disjuncts
    if len(disj) < 2 or any(len(c) != 1 for c in disj):
        return None
    bands: dict = {}
    for (c,) in disj:
        pa = _pair_atom(c)
        if pa is None:
            return None
        a, b, kind, bound, strict = pa
        if b is not None and a[0] == b[0] and len(q.networks) == 2:
            return None  # comparisons inside one of two networks: not an eps band
        # violation: t > e (lower, bound e) or t < -e (upper, bound -e)
        e = bound if kind == "lower" else -bound
        bands.setdefault((a, b), {}).setdefault(kind, []).append((e, strict, c.line))
    parts_by_group: dict = {}
    for (a, b), sides in bands.items():
        if set(sides) != {"upper", "lower"} or any(len(v) != 1 for v in sides.values()):
            miss = "lower" if "lower" not in sides else "upper"
            line = next(iter(sides.values()))[0][2]
            raise SpecError(f"{q.where}:{line}: one-sided band on {_term(q, a, b)}: relucert decides two-sided "
                            f"bands |f_k - g_k| <= eps (the {miss} side is missing)")
        (eu, su, lu), = sides["upper"]
        (el, sl, ll), = sides["lower"]
        if eu != el or su != sl:
            raise SpecError(f"{q.where}:{lu}: the two sides of the band on {_term(q, a, b)} differ "
                            f"(eps {float(el):g}{'' if sl else ' non-strict'} vs {float(eu):g}"
                            f"{'' if su else ' non-strict'}): relucert decides symmetric bands")
        if eu < 0:
            raise SpecError(f"{q.where}:{lu}: band with negative eps {float(eu):g} on {_term(q, a, b)}: every "
                            f"input satisfies it (the query looks inverted)")
        parts_by_group.setdefault((eu, su), []).append((a, b))
    from ..verify.spec import EpsEquivalence

    parts = []
    for (e, strict), pairs in sorted(parts_by_group.items(), key=lambda kv: (kv[0][0], kv[0][1])):
        fnets = {a[0] for a, _ in pairs}
        gnets = {None if b is None else b[0] for _, b in pairs}
        if len(fnets) != 1 or len(gnets) != 1:
            raise SpecError(f"{q.where}: eps bands compare outputs of different network pairs")
        pairs = sorted(pairs, key=lambda p: p[0][1])
        fo = tuple(a[1] for a, _ in pairs)
        go = tuple(b[1] for _, b in pairs) if pairs[0][1] is not None else fo
        if len(set(fo)) != len(fo) or (pairs[0][1] is not None and len(set(go)) != len(go)):
            raise SpecError(f"{q.where}: an output appears in two eps bands")
        # counterexample |d| > e (strict) or |d| >= e: prove |d| <= eps_f with eps_f <= e (< e)
        eps_f = _float_below(e, strict=not strict)
        if eps_f < 0:
            raise SpecError(f"{q.where}: band |d| >= 0 holds everywhere (the query looks inverted)")
        spec = EpsEquivalence(eps_f)
        fnet = fnets.pop()
        gnet = gnets.pop()
        gname = "0" if gnet is None else q.networks[gnet].name
        op = ">" if strict else ">="
        gterm = f"{gname}[{_ks(go)}]" if gnet is not None else "0"
        desc = (f"|{q.networks[fnet].name}[{_ks(fo)}] - {gterm}| {op} "
                f"{float(e):g} somewhere? (eps-equivalence with eps = {eps_f!r})")
        parts.append(SpecPart(spec, fnet, fo, gnet, go if gnet is not None else (), desc))
    q.form = "eps"
    q.parts = tuple(parts)
    return q


def _ks(ks) -> str:
    ks = list(ks)
    if len(ks) > 1 and ks == list(range(ks[0], ks[0] + len(ks))):
        return f"{ks[0]}..{ks[-1]}"
    return ",".join(map(str, ks))


def _term(q: Query, a, b) -> str:
    ta = q.networks[a[0]].output.element(a[1]) if q.dialect == "vnnlib2" else f"Y_{a[1]}"
    if b is None:
        return ta
    tb = q.networks[b[0]].output.element(b[1]) if q.dialect == "vnnlib2" else f"Y_{b[1]}"
    return f"{ta} - {tb}"


def _as_band(q: Query):
    disj = q.disjuncts
    if len(disj) != 1 or len(disj[0]) < 2:
        return None
    bands: dict = {}
    for c in disj[0]:
        pa = _pair_atom(c)
        if pa is None:
            return None
        a, b, kind, bound, strict = pa
        if b is not None and a[0] == b[0] and len(q.networks) == 2:
            return None
        bands.setdefault((a, b), {}).setdefault(kind, []).append(bound)
    for (a, b), sides in bands.items():
        if set(sides) != {"upper", "lower"}:
            return None
        if max(sides["lower"]) > min(sides["upper"]):
            return None
    q.form = "band"
    q.parts = ()
    terms = ", ".join(_term(q, a, b) for a, b in list(bands)[:3]) + (", ..." if len(bands) > 3 else "")
    q.warnings.append(
        f"the query looks inverted: its assertions describe the safe band ({terms} within eps), which holds at "
        f"almost every input; under the standard reading sat means 'a point where the networks agree exists', "
        f"not 'distance > eps' (to ask for a counterexample, assert the violation: "
        f"(or (> (- Yf[k] Yg[k]) eps) (< (- Yf[k] Yg[k]) (- eps)) ...))")
    return q


def _role_splits(q: Query):
    """Candidate (F side, G side): lists of output keys, index-aligned."""
    if len(q.networks) == 2:
        f = [(0, k) for k in range(q.networks[0].n_outputs)]
        g = [(1, k) for k in range(q.networks[1].n_outputs)]
        return [(f, g), (g, f)]
    m2 = q.networks[0].n_outputs
    if m2 % 2:
        return []
    m = m2 // 2
    f = [(0, k) for k in range(m)]
    g = [(0, m + k) for k in range(m)]
    return [(f, g), (g, f)]


def _first_reading(read, q: Query, roles):
    """The first non-None ``read(q, *role)`` over the candidate role assignments; if none reads
    and some raised, the last SpecError (it names what did not fit)."""
    last = None
    for role in roles:
        try:
            r = read(q, *role)
        except SpecError as exc:
            last = exc
            continue
        if r is not None:
            return r
    if last is not None:
        raise last
    return None


def _as_top1(q: Query):
    disj = q.disjuncts
    if not disj or any(len(c) < 2 for c in disj):
        return None
    return _first_reading(_top1_with, q, [(F, G) for F, G in _role_splits(q) if len(F) == len(G) >= 2])


def _top1_with(q: Query, F, G):
    m = len(F)
    fi = {k: i for i, k in enumerate(F)}
    gi = {k: i for i, k in enumerate(G)}
    cover: dict = {}
    margins = set()
    for conj in q.disjuncts:
        f_atoms, g_atoms = [], []
        for c in conj:
            if len(c.terms) != 2:
                return None
            (k1, c1), (k2, c2) = c.terms
            if c1 != -c2:
                return None
            if k1 in fi and k2 in fi:
                f_atoms.append(c)
            elif k1 in gi and k2 in gi:
                g_atoms.append(c)
            else:
                return None
        if len(g_atoms) != 1 or len(f_atoms) != m - 1:
            return None
        # f atoms: f_i - f_l >= margin  <=>  -(f_i - f_l) + margin <= 0: the positive-sign key is f_l
        winners = set()
        region = {}
        for c in f_atoms:
            pos = [k for k, v in c.terms if v > 0]
            neg = [k for k, v in c.terms if v < 0]
            coef = [v for _, v in c.terms if v > 0][0]
            i, l = fi[neg[0]], fi[pos[0]]
            winners.add(i)
            region[l] = (c.const / coef, c.strict, c.line)  # the margin of f_i over f_l
        if len(winners) != 1:
            return None
        i = winners.pop()
        if set(region) != set(range(m)) - {i}:
            return None
        for l, (mg, strict, line) in region.items():
            margins.add(mg)
        c = g_atoms[0]
        pos = [k for k, v in c.terms if v > 0]
        neg = [k for k, v in c.terms if v < 0]
        # g_j - g_i >= 0  <=>  g_i - g_j <= 0: positive key is g_i
        if c.const != 0 or gi[pos[0]] != i:
            return None
        j = gi[neg[0]]
        cover.setdefault(i, {}).setdefault(j, region)
    if set(cover) != set(range(m)) or any(set(js) != set(range(m)) - {i} for i, js in cover.items()):
        return None
    if len(margins) != 1:
        raise SpecError(f"{q.where}: the top-1 query uses different margins {sorted(float(v) for v in margins)}")
    margin = margins.pop()
    if margin < 0:
        raise SpecError(f"{q.where}: the top-1 query has a negative margin {float(margin):g}")
    margin_f = _round_down(margin)
    if margin_f == 0:
        for i, js in cover.items():
            for region in js.values():
                for l, (mg, strict, line) in region.items():
                    if l < i and not strict:
                        raise SpecError(
                            f"{q.where}:{line}: top-1 with margin 0 and f_{i} >= f_{l}: at a tie two classes win; "
                            f"write (> f_{i} f_{l}) for l < i (ties go to the lowest index, as relucert decides) "
                            f"or use a margin > 0")
    from ..verify.spec import Top1Equivalence

    fnet, gnet = F[0][0], G[0][0]
    spec = Top1Equivalence(margin=margin_f)
    desc = (f"argmax {q.networks[fnet].name}[{_ks(k for _, k in F)}] != argmax {q.networks[gnet].name}"
            f"[{_ks(k for _, k in G)}] somewhere (f leading by >= {margin_f:g})? (top-1 equivalence)")
    q.form = "top1"
    q.parts = (SpecPart(spec, fnet, tuple(k for _, k in F), gnet, tuple(k for _, k in G), desc),)
    return q


def _as_decision(q: Query):
    disj = q.disjuncts
    if len(disj) != 2 or any(len(c) != 2 for c in disj):
        return None
    if any(len(c.terms) != 1 for conj in disj for c in conj):
        return None
    keys = sorted({c.terms[0][0] for conj in disj for c in conj})
    if len(keys) != 2:
        return None
    return _first_reading(_decision_with, q, [(keys[0], keys[1]), (keys[1], keys[0])])


def _decision_with(q: Query, fk, gk):
    # each constraint: coef * y + const <= 0  ->  y <= -const/coef (coef > 0) or y >= -const/coef
    def split(conj):
        fa = [c for c in conj if c.terms[0][0] == fk]
        ga = [c for c in conj if c.terms[0][0] == gk]
        if len(fa) != 1 or len(ga) != 1:
            return None
        cf, cg = fa[0], ga[0]
        return ((cf.terms[0][1] > 0, -cf.const / cf.terms[0][1], cf.strict, cf.line),
                (cg.terms[0][1] > 0, -cg.const / cg.terms[0][1], cg.strict, cg.line))

    s = [split(c) for c in q.disjuncts]
    if any(x is None for x in s):
        return None
    # branch A: f >= a and g <= t ; branch B: f <= b and g > t
    A = [x for x in s if not x[0][0] and x[1][0]]
    B = [x for x in s if x[0][0] and not x[1][0]]
    if len(A) != 1 or len(B) != 1:
        return None
    (fa, ga), (fb, gb) = A[0], B[0]
    a, t1 = fa[1], ga[1]
    b, t2 = fb[1], gb[1]
    if t1 != t2:
        return None
    if not gb[2]:
        raise SpecError(f"{q.where}:{gb[3]}: decision query with g >= tau_g in the branch f <= tau_f - gamma: "
                        f"relucert decides classifiers [h > tau], write (> g tau_g)")
    if a < b:
        raise SpecError(f"{q.where}:{fa[3]}: decision thresholds overlap (f >= {float(a):g} and f <= {float(b):g})")
    t = t1
    if Fraction(float(t)) != t:
        raise SpecError(f"{q.where}:{ga[3]}: the threshold {float(t)!r} is not a float64 number")
    tau = (a + b) / 2
    gamma = (a - b) / 2
    tau_f = float(tau)
    gamma_f = _round_down(gamma)
    # the spec's regions must contain the query's: tau_f + gamma_f <= a and tau_f - gamma_f >= b
    for _ in range(64):
        if Fraction(tau_f) + Fraction(gamma_f) <= a and Fraction(tau_f) - Fraction(gamma_f) >= b:
            break
        gamma_f = float(np.nextafter(gamma_f, -np.inf)) if gamma_f > 0 else 0.0
        if gamma_f == 0.0 and not (Fraction(tau_f) <= a and Fraction(tau_f) >= b):
            raise SpecError(f"{q.where}:{fa[3]}: cannot represent the decision thresholds {float(a)!r} and "
                            f"{float(b)!r} as tau_f +- gamma in float64")
    from ..verify.spec import DecisionEquivalence

    spec = DecisionEquivalence(tau_f=tau_f, tau_g=float(t), gamma=gamma_f)
    fname = q.networks[fk[0]].name
    gname = q.networks[gk[0]].name
    desc = (f"{fname}[{fk[1]}] >= {float(a):g} with {gname}[{gk[1]}] <= {float(t):g}, or {fname}[{fk[1]}] <= "
            f"{float(b):g} with {gname}[{gk[1]}] > {float(t):g}? (decision equivalence)")
    q.form = "decision"
    q.parts = (SpecPart(spec, fk[0], (fk[1],), gk[0], (gk[1],), desc),)
    return q
