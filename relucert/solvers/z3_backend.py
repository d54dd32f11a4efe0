"""z3 backend: exact rational arithmetic, two entry points.

* :meth:`Z3Solver.check` decides an SMT query built by :class:`relucert.encode.smt.SmtBuilder`
  (``exists x in box: atoms``): ``sat`` with the inputs as exact :class:`~fractions.Fraction`
  values (and the network outputs re-evaluated exactly with :meth:`Network.eval_exact`),
  ``unsat``, or ``unknown`` (timeout or incompleteness, with z3's reason).
* :meth:`Z3Solver.solve` maximizes a :class:`~relucert.encode.milp.MilpProblem` with
  ``z3.Optimize``: every float coefficient and bound is taken as its exact rational value, 0/1
  columns become Booleans, other integer columns ``Int``.  The optimum is exact *for those
  arrays* (which in ``z_mode="explicit"`` hold only stored weights and bounds).  No early stop
  and no dual bound while running; practical only for small models.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np

from ..errors import SpecError
from .base import MilpOutcome, MilpSolver, check_solve_options, clip_input

__all__ = ["Z3Solver", "SmtOutcome", "SMT_STATUSES"]

SMT_STATUSES = ("sat", "unsat", "unknown")


def _z3():
    import z3

    return z3


def _frac(v) -> Fraction:
    """Exact Fraction of a z3 rational numeral."""
    return Fraction(int(v.numerator_as_long()), int(v.denominator_as_long()))


@dataclass(frozen=True, eq=False)
class SmtOutcome:
    """``status`` in ``sat``/``unsat``/``unknown``.  For ``sat``: ``x`` (exact inputs),
    ``outputs`` (tag -> exact outputs from :meth:`Network.eval_exact` at ``x``) and ``values``
    (the model's value of every handle)."""

    status: str
    x: list[Fraction] | None
    outputs: dict[str, list[Fraction]] | None
    values: list[Fraction] | None
    reason: str
    time_s: float
    details: dict = field(default_factory=dict)


class Z3Solver(MilpSolver):
    """z3 over the reals.  ``seed``: z3's random seed (``smt.random_seed``)."""

    name = "z3"
    supports_early_stop = False
    supports_dual_bound = False
    exact = True

    def __init__(self, *, seed: int = 0):
        if not isinstance(seed, (int, np.integer)) or seed < 0:
            raise SpecError(f"seed must be an integer >= 0, got seed={seed!r}")
        self.seed = int(seed)

    # -- SMT queries ---------------------------------------------------------------------------
    def check(self, problem, *, time_limit: float | None = None) -> SmtOutcome:
        """Decide ``problem`` (an :class:`~relucert.encode.smt.SmtProblem`)."""
        z3 = _z3()
        check_solve_options(time_limit, None, None, None, None)
        t0 = time.perf_counter()
        s = z3.Solver(ctx=problem.ctx)
        s.set("random_seed", self.seed)
        if time_limit is not None:
            s.set("timeout", max(1, int(float(time_limit) * 1000)))
        s.add(*problem.assertions)
        r = s.check()
        if r == z3.unsat:
            return SmtOutcome("unsat", None, None, None, "no input satisfies the query", time.perf_counter() - t0)
        if r != z3.sat:
            return SmtOutcome("unknown", None, None, None, f"z3: {s.reason_unknown()}", time.perf_counter() - t0)
        mdl = s.model()
        vals = [_frac(mdl.eval(e, model_completion=True)) for e in problem.exprs]
        n = len(problem.inputs)
        x = vals[:n]
        outs = {tag: nv.net.eval_exact(x) for tag, nv in problem.nets.items()}
        for tag, nv in problem.nets.items():
            got = [vals[hd] for hd in nv.outputs]
            if got != outs[tag]:  # pragma: no cover - would be an encoding bug
                return SmtOutcome("unknown", x, outs, vals,
                                  f"z3 model disagrees with exact evaluation of network {tag!r}",
                                  time.perf_counter() - t0)
        return SmtOutcome("sat", x, outs, vals, "found an input satisfying the query", time.perf_counter() - t0)

    # -- MILP via Optimize ----------------------------------------------------------------------
    def solve(self, problem, *, time_limit=None, node_limit=None, threads=None, stop_if_dual_below=None,
              stop_if_primal_above=None, verbose=False) -> MilpOutcome:
        z3 = _z3()
        check_solve_options(time_limit, node_limit, threads, stop_if_dual_below, stop_if_primal_above)
        t0 = time.perf_counter()
        ctx = z3.Context()
        n = problem.n_cols
        lo, hi, integer = problem.col_lo, problem.col_hi, problem.integer
        binary = integer & (lo >= 0) & (hi <= 1)
        opt = z3.Optimize(ctx=ctx)
        if time_limit is not None:
            opt.set("timeout", max(1, int(float(time_limit) * 1000)))
        one, zero = z3.RealVal(1, ctx), z3.RealVal(0, ctx)
        terms = []
        for j in range(n):
            if binary[j]:
                b = z3.Bool(f"c{j}", ctx)
                terms.append(z3.If(b, one, zero))
                if lo[j] > 0:
                    opt.add(b)
                if hi[j] < 1:
                    opt.add(z3.Not(b))
                continue
            v = z3.Int(f"c{j}", ctx) if integer[j] else z3.Real(f"c{j}", ctx)
            e = z3.ToReal(v) if integer[j] else v
            if lo[j] > -np.inf:
                opt.add(e >= _q(lo[j], ctx))
            if hi[j] < np.inf:
                opt.add(e <= _q(hi[j], ctx))
            terms.append(e)
        A = problem.A
        for i in range(problem.n_rows):
            s_, e_ = A.indptr[i], A.indptr[i + 1]
            row = z3.Sum(*[_q(float(c), ctx) * terms[j] for j, c in zip(A.indices[s_:e_].tolist(), A.data[s_:e_].tolist())]) \
                if e_ > s_ else zero
            a, b = problem.row_lo[i], problem.row_hi[i]
            if a == b:
                opt.add(row == _q(a, ctx))
                continue
            if a > -np.inf:
                opt.add(row >= _q(a, ctx))
            if b < np.inf:
                opt.add(row <= _q(b, ctx))
        nz = np.flatnonzero(problem.c)
        obj = z3.Sum(*[_q(float(problem.c[j]), ctx) * terms[j] for j in nz]) if nz.size else zero
        h = opt.maximize(obj)
        r = opt.check()
        elapsed = lambda: time.perf_counter() - t0  # noqa: E731
        off = Fraction(float(problem.offset))
        if r == z3.unsat:
            return MilpOutcome("infeasible", "the model is infeasible (exact)", None, None, None, -np.inf, None,
                               None, elapsed(), self.name)
        if r != z3.sat:
            return MilpOutcome("time_limit" if time_limit is not None else "error", f"z3: {opt.reason_unknown()}",
                               None, None, None, None, None, None, elapsed(), self.name)
        mdl = opt.model()
        xs = [_frac(mdl.eval(t, model_completion=True)) for t in terms]
        value = _frac(mdl.eval(obj, model_completion=True)) + off
        upper = h.upper()
        x = np.array([float(v) for v in xs])
        details = {"exact_value": value, "exact_x": [xs[j] for j in problem.input_cols]}
        if z3.is_rational_value(upper) and _frac(upper) + off == value:
            return MilpOutcome("optimal", "solved to optimality (exact)", float(value), x,
                               clip_input(problem, x), float(value), 0.0, None, elapsed(), self.name, details)
        return MilpOutcome("error", f"z3 optimum not confirmed (upper {upper})", float(value), x,
                           clip_input(problem, x), None, None, None, elapsed(), self.name, details)


def _q(v, ctx):
    from ..encode.smt import _q as q

    return q(v, ctx)
