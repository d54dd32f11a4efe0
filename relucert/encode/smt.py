"""Exact SMT encoding of ReLU networks for z3 (linear real arithmetic, rational constants).

Every weight is taken at its exact float64 value: per layer the weights and bias are scaled to
integers with one power of two (:mod:`relucert.exact`), and each pre-activation is a real
variable ``z`` with ``2**k z = Wi h + bi`` (integer coefficients), so no rounding happens anywhere
and an ``unsat`` answer is a proof about the real function of the stored weights.

ReLU (``relu="phase"``, the default): one Boolean phase atom ``p`` per unstable neuron with
``p -> (h = z and z >= 0)`` and ``not p -> (h = 0 and z <= 0)``, plus the always-valid lemmas
``h >= 0`` and ``h >= z``.  ``relu="ite"`` uses ``h = If(z >= 0, z, 0)`` instead.

Bounds (optional): ``bounds[l] = (lo, hi)`` for the pre-activations of hidden layer ``l``.
**They must be sound real bounds over the box** (e.g. :func:`relucert.bounds.interval_bounds`,
which rounds outward); they are used to fix stable neurons (``hi <= 0``: ``h = 0``; ``lo >= 0``:
``h = z``) and are asserted as lemmas ``lo <= z <= hi`` together with the triangle upper bound
``(hi - lo) h <= hi (z - lo)``.  Unsound bounds (float LP bounds) can make ``unsat`` wrong.
Without bounds every neuron gets a phase atom and the encoding needs no assumption at all.

Query: ``exists x in box (and outside excluded polytopes): atom_1 and ... and atom_k`` with
linear atoms over *handles* (inputs are handles ``0..n-1``, then each network's outputs), each
with ``>``, ``>=``, ``<``, ``<=`` or ``==`` and exact rational coefficients.  Solve it with
:meth:`relucert.solvers.z3_backend.Z3Solver.check`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from typing import Mapping

import numpy as np

from ..box import Box
from ..errors import SpecError
from ..exact import to_fraction
from ..network import Network
from ._common import ACTIVE, INACTIVE, UNSTABLE, check_bounds, check_box, check_network, check_tag, polytope_arrays, relu_phases

__all__ = ["SmtBuilder", "SmtProblem", "SmtNetVars", "OPS", "RELU_MODES"]

OPS = (">", ">=", "<", "<=", "==")
RELU_MODES = ("phase", "ite")


def _z3():
    import z3

    return z3


@dataclass(frozen=True, eq=False)
class SmtNetVars:
    """One encoded network: ``outputs[k]`` is the handle of output ``k``; ``phases[l]`` as in the
    MILP (all 0 when no bounds were given); ``n_phase_atoms`` the number of case splits."""

    tag: str
    net: Network
    outputs: tuple[int, ...]
    phases: tuple[np.ndarray, ...]
    n_phase_atoms: int


@dataclass(frozen=True, eq=False)
class SmtProblem:
    """The assertions of a query in their own z3 context, plus handle expressions."""

    ctx: object
    assertions: tuple
    inputs: tuple
    exprs: tuple
    box: Box
    nets: Mapping[str, SmtNetVars]
    n_atoms: int = 0
    description: tuple[str, ...] = field(default=())

    def expr(self, handle: int):
        return self.exprs[handle]

    def to_smtlib(self) -> str:
        """The query as an SMT-LIB 2 script (``check-sat`` at the end)."""
        z3 = _z3()
        s = z3.Solver(ctx=self.ctx)
        s.add(*self.assertions)
        return s.to_smt2()


def _q(v, ctx):
    """Exact z3 rational of a float/int/Fraction."""
    z3 = _z3()
    f = to_fraction(v)
    if f.denominator == 1:
        return z3.RealVal(f.numerator, ctx)
    return z3.Q(f.numerator, f.denominator, ctx)


class SmtBuilder:
    """Build an exact z3 query over one box.  Handles ``0..box.dim-1`` are the inputs."""

    def __init__(self, box: Box, *, relu: str = "phase"):
        z3 = _z3()
        self.box = check_box(box)
        if relu not in RELU_MODES:
            raise SpecError(f"relu must be one of {', '.join(RELU_MODES)}, got relu={relu!r}")
        self.relu = relu
        self.ctx = z3.Context()
        self._assert: list = []
        self._desc: list[str] = []
        self.inputs = tuple(z3.Real(f"x_{i}", self.ctx) for i in range(box.dim))
        for x, lo, hi in zip(self.inputs, box.lo, box.hi):
            if lo == hi:
                self._assert.append(x == _q(lo, self.ctx))
            else:
                self._assert += [x >= _q(lo, self.ctx), x <= _q(hi, self.ctx)]
        self._exprs: list = list(self.inputs)
        self.nets: dict[str, SmtNetVars] = {}
        self._n_atoms = 0

    @property
    def input_handles(self) -> tuple[int, ...]:
        return tuple(range(self.box.dim))

    def add_network(self, net: Network, bounds=None, *, tag: str) -> SmtNetVars:
        """Encode ``net`` on the shared inputs; ``bounds`` (optional) must be *sound* (see module)."""
        z3 = _z3()
        check_network(net, self.box, what=repr(tag))
        check_tag(tag, self.nets)
        hidden_b, out_b = check_bounds(net, bounds, allow_none=True)
        ctx = self.ctx
        A = self._assert
        zero = z3.RealVal(0, ctx)
        h: list = list(self.inputs)          # z3 expr per unit of the previous layer; None = 0
        phases, n_atoms = [], 0
        layers = net._integer_layers  # cached per network (exact integer scaling of the weights)
        depth = net.depth
        for l, IL in enumerate(layers):
            last = l == depth
            m = IL.Wi.shape[0]
            scale = z3.RealVal(1 << IL.k, ctx)
            live = [i for i, e in enumerate(h) if e is not None]
            if last:
                ph = np.full(m, ACTIVE, dtype=np.int8)
            elif hidden_b is not None:
                lo, hi = hidden_b[l]
                ph = relu_phases(lo, hi)
            else:
                ph = np.zeros(m, dtype=np.int8)
            nxt: list = [None] * m
            for j in range(m):
                if ph[j] == INACTIVE:
                    continue
                row = IL.Wi[j]
                terms = [z3.RealVal(int(row[i]), ctx) * h[i] for i in live if row[i] != 0]
                rhs = z3.Sum(*terms, z3.RealVal(int(IL.bi[j]), ctx)) if terms else z3.RealVal(int(IL.bi[j]), ctx)
                name = f"{tag}_y_{j}" if last else f"{tag}_z{l + 1}_{j}"
                z = z3.Real(name, ctx)
                A.append(scale * z == rhs)
                if last:
                    nxt[j] = z
                    if out_b is not None:
                        A += [z >= _q(out_b[0][j], ctx), z <= _q(out_b[1][j], ctx)]
                    continue
                if hidden_b is not None:
                    lo_j, hi_j = _q(hidden_b[l][0][j], ctx), _q(hidden_b[l][1][j], ctx)
                    A += [z >= lo_j, z <= hi_j]
                if ph[j] == ACTIVE:
                    nxt[j] = z
                    continue
                hv = z3.Real(f"{tag}_h{l + 1}_{j}", ctx)
                if self.relu == "ite":
                    A.append(hv == z3.If(z >= zero, z, zero))
                else:
                    p = z3.Bool(f"{tag}_p{l + 1}_{j}", ctx)
                    A += [z3.Implies(p, z3.And(hv == z, z >= zero)), z3.Implies(z3.Not(p), z3.And(hv == zero, z <= zero))]
                    n_atoms += 1
                A += [hv >= zero, hv >= z]
                if hidden_b is not None:
                    # triangle: (hi - lo) h <= hi (z - lo)
                    A.append((hi_j - lo_j) * hv <= hi_j * (z - lo_j))
                nxt[j] = hv
            if not last:
                phases.append(ph)
            h = nxt
        start = len(self._exprs)
        zero_out = [z3.RealVal(0, ctx) if e is None else e for e in h]
        self._exprs += zero_out
        nv = SmtNetVars(tag=tag, net=net, outputs=tuple(range(start, start + net.n_outputs)),
                        phases=tuple(phases), n_phase_atoms=n_atoms)
        self.nets[tag] = nv
        return nv

    def _linear(self, terms, what: str):
        z3 = _z3()
        if not isinstance(terms, Mapping):
            raise SpecError(f"{what} must be a {{handle: coefficient}} mapping")
        parts = []
        for hnd, coef in terms.items():
            if not isinstance(hnd, (int, np.integer)) or not 0 <= int(hnd) < len(self._exprs):
                raise SpecError(f"{what} refers to handle {hnd!r}, but there are {len(self._exprs)} handles")
            try:
                c = to_fraction(coef)
            except (TypeError, ValueError) as exc:
                raise SpecError(f"{what} coefficient for handle {hnd} is not a finite number: {exc}") from None
            if c != 0:
                parts.append(_q(c, self.ctx) * self._exprs[int(hnd)])
        return z3.Sum(*parts) if parts else z3.RealVal(0, self.ctx)

    def add_atom(self, terms: Mapping, op: str, rhs=0) -> None:
        """Assert ``sum coef * handle  op  rhs`` (exact; ``op`` in :data:`OPS`)."""
        if op not in OPS:
            raise SpecError(f"op must be one of {', '.join(OPS)}, got op={op!r}")
        try:
            r = _q(rhs, self.ctx)
        except (TypeError, ValueError) as exc:
            raise SpecError(f"rhs must be a finite number: {exc}") from None
        e = self._linear(terms, "atom")
        self._assert.append({">": e > r, ">=": e >= r, "<": e < r, "<=": e <= r, "==": e == r}[op])
        self._desc.append(f"{dict(terms)} {op} {rhs}")
        self._n_atoms += 1

    def add_any(self, atoms) -> None:
        """Assert the disjunction of ``atoms``, each ``(terms, op, rhs)`` (e.g. ``|f - g| > eps``)."""
        z3 = _z3()
        parts = []
        for terms, op, rhs in atoms:
            if op not in OPS:
                raise SpecError(f"op must be one of {', '.join(OPS)}, got op={op!r}")
            e, r = self._linear(terms, "atom"), _q(rhs, self.ctx)
            parts.append({">": e > r, ">=": e >= r, "<": e < r, "<=": e <= r, "==": e == r}[op])
        if not parts:
            raise SpecError("add_any needs at least one atom")
        self._assert.append(z3.Or(*parts))
        self._n_atoms += 1

    def add_expr(self, expr) -> None:
        """Assert a z3 Boolean expression built on this builder's context (e.g. from
        ``build().exprs``); for queries the atom helpers do not cover."""
        z3 = _z3()
        if not z3.is_bool(expr) or expr.ctx != self.ctx:
            raise SpecError("add_expr needs a z3 Boolean expression in this builder's context")
        self._assert.append(expr)
        self._n_atoms += 1

    def add_excluded_polytopes(self, polytopes, *, margin=0.0, strict: bool = False) -> None:
        """Require ``x`` outside each ``{x : A x <= b}``: some row with ``a_i x >= b_i + margin``
        (closed, as in the MILP encoding), or ``> b_i + margin`` with ``strict=True`` (the exact
        complement of the closed polytope when ``margin = 0``)."""
        z3 = _z3()
        m = to_fraction(margin)
        if m < 0:
            raise SpecError(f"margin must be >= 0, got margin={margin}")
        for i, (Amat, b) in enumerate(polytope_arrays(polytopes)):
            if Amat.shape[1] != self.box.dim:
                raise SpecError(f"polytope {i} has {Amat.shape[1]} columns but the box has {self.box.dim} inputs")
            rows = []
            for a, bi in zip(Amat, b):
                e = self._linear({k: float(a[k]) for k in np.flatnonzero(a)}, f"polytope {i}")
                r = _q(to_fraction(float(bi)) + m, self.ctx)
                rows.append(e > r if strict else e >= r)
            self._assert.append(z3.Or(*rows) if rows else z3.BoolVal(False, self.ctx))

    def build(self) -> SmtProblem:
        return SmtProblem(ctx=self.ctx, assertions=tuple(self._assert), inputs=self.inputs,
                          exprs=tuple(self._exprs), box=self.box, nets=dict(self.nets), n_atoms=self._n_atoms,
                          description=tuple(self._desc))
