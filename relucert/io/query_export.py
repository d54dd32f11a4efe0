"""Writing a relucert equivalence query for other verifiers.

Two shapes, both in VNN-LIB's reading (the assertions describe a counterexample; ``sat`` means
one exists, i.e. NOT_EQUIVALENT):

* **VNN-LIB 2.0** (:func:`vnnlib2_text`): two declared networks ``f`` and ``g`` (``g`` marked
  ``isomorphic-to f`` when the layer sizes agree), the box on ``f``'s input, ``g``'s input tied
  to it element by element, and the output constraint of the spec; written with the two ONNX
  files by :func:`export_query`.
* **the classic product form** (:func:`vnnlib1_text`): one ONNX network computing ``f - g``
  (:meth:`Network.difference <relucert.Network.difference>`, eps specs) or ``[f, g]``
  (:meth:`Network.stack <relucert.Network.stack>`, every spec), both exact, with a VNN-LIB 1.0
  property whose output constraint is a disjunction of conjunctions over ``Y_j``.

Numbers are written so that reading them back (float64 nearest) gives the very same float64
values, in the grammar's ``digits.digits[e-digits]`` form.  Comparisons keep relucert's
strictness (``|f - g| > eps`` is a counterexample), so some 1.0 tools that read ``>`` as ``>=``
see a query that differs on the boundary ``|f - g| = eps`` only.
"""

from __future__ import annotations

import os
from fractions import Fraction
from pathlib import Path

import numpy as np

from ..box import Box
from ..errors import SpecError
from ..network import Network
from ._common import atomic_write

__all__ = ["number", "vnnlib2_text", "vnnlib1_text", "export_query", "FORMS"]

#: export shapes: the 2.0 query with two ONNX files, and the two product forms
FORMS = ("vnnlib2", "difference", "stack")


def number(v: float) -> str:
    """``v`` as a decimal that reads back as the same float64, in VNN-LIB's number syntax."""
    v = float(v)
    if not np.isfinite(v):
        raise SpecError(f"cannot write the non-finite number {v!r}")
    s = repr(v + 0.0)
    mant, _, exp = s.partition("e")
    if "." not in mant:
        mant += ".0"
    if exp:
        exp = exp.lstrip("+")
        return f"{mant}e{exp}"
    return mant


_neg = number  # negative literals such as -0.5 are valid in both dialects


def _check(spec, box: Box, n_inputs: int, n_outputs: int):
    from ..verify.spec import DecisionEquivalence, EpsEquivalence, Top1Equivalence

    if not isinstance(box, Box):
        raise SpecError(f"box must be a relucert.Box, got {type(box).__name__}")
    box.check_dim(n_inputs, what="network")
    if isinstance(spec, EpsEquivalence):
        if spec.excluded:
            raise SpecError("eps specs with excluded polytopes cannot be written as VNN-LIB (not a box)")
        return "eps", spec.outputs_for(n_outputs)
    if isinstance(spec, Top1Equivalence):
        if n_outputs < 2:
            raise SpecError("top-1 equivalence needs at least two outputs")
        return "top1", list(range(n_outputs))
    if isinstance(spec, DecisionEquivalence):
        if n_outputs != 1:
            raise SpecError(f"decision equivalence needs single-output networks, got {n_outputs} outputs")
        return "decision", [0]
    raise SpecError(f"cannot write a {type(spec).__name__} spec as a VNN-LIB query "
                    f"(EpsEquivalence, Top1Equivalence and DecisionEquivalence can be written)")


def _decision_thresholds(spec) -> tuple[float, float]:
    """``a >= tau_f + gamma`` and ``b <= tau_f - gamma`` as float64: the written regions lie
    inside the spec's, so a counterexample of the file is one of the spec."""
    a_exact = Fraction(spec.tau_f) + Fraction(spec.gamma)
    b_exact = Fraction(spec.tau_f) - Fraction(spec.gamma)
    a = float(a_exact)
    if Fraction(a) < a_exact:
        a = float(np.nextafter(a, np.inf))
    b = float(b_exact)
    if Fraction(b) > b_exact:
        b = float(np.nextafter(b, -np.inf))
    return a, b


def _output_dnf(kind: str, spec, outs, fy, gy) -> list[list[str]]:
    """The counterexample condition as a list of conjunctions of comparison strings; ``fy(k)`` and
    ``gy(k)`` name the outputs (``gy`` None: the difference network ``fy(k) = f_k - g_k``)."""
    if kind == "eps":
        e = number(spec.eps)
        me = _neg(-spec.eps)
        dnf = []
        for k in outs:
            d = fy(k) if gy is None else f"(- {fy(k)} {gy(k)})"
            dnf.append([f"(> {d} {e})"])
            dnf.append([f"(< {d} {me})"])
        return dnf
    if kind == "top1":
        m = len(outs)
        mg = spec.margin
        dnf = []
        for i in range(m):
            region = []
            for l in range(m):
                if l == i:
                    continue
                if mg > 0:
                    region.append(f"(>= (- {fy(i)} {fy(l)}) {number(mg)})")
                else:  # ties to the lowest index: f_i must beat lower indices strictly
                    region.append(f"({'>' if l < i else '>='} {fy(i)} {fy(l)})")
            for j in range(m):
                if j == i:
                    continue
                # g picks another class: g_j >= g_i for j < i (ties to the lowest index), g_j > g_i for j > i
                dnf.append(region + [f"({'>=' if j < i else '>'} {gy(j)} {gy(i)})"])
        return dnf
    a, b = _decision_thresholds(spec)
    t = _neg(spec.tau_g)
    return [[f"(>= {fy(0)} {_neg(a)})", f"(<= {gy(0)} {t})"],
            [f"(<= {fy(0)} {_neg(b)})", f"(> {gy(0)} {t})"]]


def _header(spec, box: Box, reading: str) -> list[str]:
    from .. import __version__

    return [
        f"; written by relucert {__version__}",
        f"; relucert spec: {spec.describe() if hasattr(spec, 'describe') else spec}",
        f"; VNN-LIB reading: the assertions describe a counterexample; sat = {reading}, unsat = equivalent",
    ]


def vnnlib2_text(spec, box: Box, *, n_outputs: int, names=("f", "g"), isomorphic: bool = True) -> str:
    """The VNN-LIB 2.0 query of ``spec`` on ``box`` for networks named ``names``."""
    kind, outs = _check(spec, box, box.dim, n_outputs)
    fn, gn = names
    for nm in names:
        if not isinstance(nm, str) or not nm[:1].isalpha() or not all(ch.isalnum() or ch == "_" for ch in nm):
            raise SpecError(f"network names must start with a letter and hold letters, digits and _, got {nm!r}")
    if fn == gn:
        raise SpecError(f"the two network names must differ, got {fn!r} twice")
    n = box.dim
    X, Y, X2, Y2 = "X", "Y", "X2", "Y2"
    lines = _header(spec, box, "f and g differ (a counterexample exists)")
    lines += ["(vnnlib-version <2.0>)", "",
              f"(declare-network {fn}",
              f"    (declare-input  {X} Real [{n}])",
              f"    (declare-output {Y} Real [{n_outputs}]))",
              f"(declare-network {gn}"]
    if isomorphic:
        lines.append(f"    (isomorphic-to {fn})")
    lines += [f"    (declare-input  {X2} Real [{n}])",
              f"    (declare-output {Y2} Real [{n_outputs}]))", "", "; the input box"]
    for i, (lo, hi) in enumerate(zip(box.lo, box.hi)):
        if lo == hi:
            lines.append(f"(assert (== {X}[{i}] {_neg(lo)}))")
        else:
            lines.append(f"(assert (and (>= {X}[{i}] {_neg(lo)}) (<= {X}[{i}] {_neg(hi)})))")
    lines.append(f"; {gn} reads the same input as {fn}")
    for i in range(n):
        lines.append(f"(assert (== {X2}[{i}] {X}[{i}]))")
    lines.append("; the counterexample sought")
    dnf = _output_dnf(kind, spec, outs, lambda k: f"{Y}[{k}]", lambda k: f"{Y2}[{k}]")
    lines.append(_or(dnf))
    return "\n".join(lines) + "\n"


def _or(dnf: list[list[str]]) -> str:
    conj = [c[0] if len(c) == 1 else "(and " + " ".join(c) + ")" for c in dnf]
    if len(conj) == 1:
        return f"(assert {conj[0]})"
    return "(assert (or\n    " + "\n    ".join(conj) + "))"


def vnnlib1_text(spec, box: Box, *, n_outputs: int, form: str = "difference") -> str:
    """The VNN-LIB 1.0 property of ``spec`` for the product network: ``form="difference"``
    (outputs ``Y_k = f_k - g_k``, eps specs only) or ``"stack"`` (``Y_k = f_k``,
    ``Y_{m+k} = g_k``).  The output constraint is one ``(or (and ...) ...)``."""
    kind, outs = _check(spec, box, box.dim, n_outputs)
    if form not in ("difference", "stack"):
        raise SpecError(f"form must be 'difference' or 'stack', got form={form!r}")
    if form == "difference" and kind != "eps":
        raise SpecError(f"the difference form f - g expresses eps specs only; write a {kind} spec with "
                        f"form='stack'")
    m = n_outputs
    n_y = m if form == "difference" else 2 * m
    lines = _header(spec, box, "f and g differ (a counterexample exists)")
    lines.append(f"; product network: {'Y_k = f_k - g_k' if form == 'difference' else f'Y_k = f_k, Y_{{{m}+k}} = g_k'}")
    lines += [f"(declare-const X_{i} Real)" for i in range(box.dim)]
    lines += [f"(declare-const Y_{j} Real)" for j in range(n_y)]
    lines.append("; the input box")
    for i, (lo, hi) in enumerate(zip(box.lo, box.hi)):
        lines.append(f"(assert (>= X_{i} {number(lo)}))")
        lines.append(f"(assert (<= X_{i} {number(hi)}))")
    lines.append("; the counterexample sought")
    if form == "difference":
        dnf = _output_dnf(kind, spec, outs, lambda k: f"Y_{k}", None)
    else:
        dnf = _output_dnf(kind, spec, outs, lambda k: f"Y_{k}", lambda k: f"Y_{m + k}")
    conj = ["(and " + " ".join(c) + ")" for c in dnf]
    lines.append("(assert (or\n    " + "\n    ".join(conj) + "))")
    return "\n".join(lines) + "\n"


def _write_text(path: Path, text: str) -> None:
    with atomic_write(path) as fh:
        fh.write(text.encode("utf-8"))


def export_query(f: Network, g: Network, box: Box, spec, out_dir, *, name: str = "query",
                 forms=("vnnlib2",), names=("f", "g"), timeout: float | None = None) -> dict:
    """Write the query in the requested ``forms`` (any of :data:`FORMS`) to ``out_dir``.

    * ``vnnlib2``: ``NAME.vnnlib`` (2.0), ``NAME_f.onnx``, ``NAME_g.onnx`` and an
      ``instances.csv`` row ``f=NAME_f.onnx;g=NAME_g.onnx,NAME.vnnlib[,timeout]``;
    * ``difference``: ``NAME_diff.onnx`` (f - g) and ``NAME_diff.vnnlib`` (1.0);
    * ``stack``: ``NAME_stack.onnx`` ([f, g]) and ``NAME_stack.vnnlib`` (1.0).

    Returns ``{role: path}``.  Every file is written atomically; ONNX weights are float32 when
    that is exact, else float64 (never rounded).
    """
    from . import save

    if not isinstance(f, Network) or not isinstance(g, Network):
        raise SpecError(f"f and g must be Network objects, got {type(f).__name__} and {type(g).__name__}")
    if f.n_inputs != g.n_inputs or f.n_outputs != g.n_outputs:
        raise SpecError(f"f is {f.n_inputs}->{f.n_outputs} but g is {g.n_inputs}->{g.n_outputs}")
    if isinstance(forms, str):
        forms = (forms,)
    bad = [x for x in forms if x not in FORMS]
    if bad or not forms:
        raise SpecError(f"forms must be among {', '.join(FORMS)}, got forms={list(forms)!r}")
    if not isinstance(name, str) or not name or any(c in name for c in "/\\") or name.startswith("."):
        raise SpecError(f"name must be a plain file stem, got name={name!r}")
    if timeout is not None and not (float(timeout) > 0):
        raise SpecError(f"timeout must be > 0 seconds, got timeout={timeout!r}")
    out = Path(os.fspath(out_dir))
    if not out.is_dir():
        raise FileNotFoundError(2, "no such folder", str(out))
    _check(spec, box, f.n_inputs, f.n_outputs)
    # build every text first so that a spec error leaves nothing half-written
    texts = {}
    if "vnnlib2" in forms:
        texts["vnnlib2"] = vnnlib2_text(spec, box, n_outputs=f.n_outputs, names=names,
                                        isomorphic=f.sizes == g.sizes)
    if "difference" in forms:
        texts["difference"] = vnnlib1_text(spec, box, n_outputs=f.n_outputs, form="difference")
    if "stack" in forms:
        texts["stack"] = vnnlib1_text(spec, box, n_outputs=f.n_outputs, form="stack")
    paths = {}
    if "vnnlib2" in forms:
        pf, pg, pq = out / f"{name}_{names[0]}.onnx", out / f"{name}_{names[1]}.onnx", out / f"{name}.vnnlib"
        save(f, pf)
        save(g, pg)
        _write_text(pq, texts["vnnlib2"])
        row = f"{names[0]}={pf.name};{names[1]}={pg.name},{pq.name}" + ("" if timeout is None else f",{timeout:g}")
        pi = out / f"{name}_instances.csv"
        _write_text(pi, row + "\n")
        paths.update({"f_onnx": pf, "g_onnx": pg, "vnnlib2": pq, "instances": pi})
    if "difference" in forms:
        pn, pv = out / f"{name}_diff.onnx", out / f"{name}_diff.vnnlib"
        save(Network.difference(f, g), pn)
        _write_text(pv, texts["difference"])
        paths.update({"difference_onnx": pn, "difference_vnnlib": pv})
    if "stack" in forms:
        pn, pv = out / f"{name}_stack.onnx", out / f"{name}_stack.vnnlib"
        save(Network.stack(f, g), pn)
        _write_text(pv, texts["stack"])
        paths.update({"stack_onnx": pn, "stack_vnnlib": pv})
    return paths
