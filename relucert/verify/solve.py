"""The solver engines behind ``verify(..., method="milp" | "smt")``.

MILP (``method="milp"``, ``solver="highs"`` or ``"pulp"``)
----------------------------------------------------------
Both networks are encoded on shared input columns by :class:`~relucert.encode.milp.MilpBuilder`
with big-M constants from *sound* per-neuron bounds (CROWN intersected with interval bounds,
outward-rounded); neurons those bounds show stable get no binary and no row.  When ``f`` and
``g`` have equal layer sizes and at most 16 inputs, sound differential bounds on
``z^g_l - z^f_l`` are added as rows (they cut no point of the true graph and tighten the
relaxation of ``f - g``; with wide inputs they are dense rows that cost more than they help).  With
``tighten=True`` the unstable neurons' bounds are first tightened by LPs
(:func:`~relucert.encode.obbt.tighten_bounds_lp`); each LP bound is recomputed rigorously from
the LP's duals (Neumaier-Shcherbina), so the tightened bounds stay sound.

A claim ``max Q <= t`` (or ``< t``) is split into sub-problems (per output and sign for
``|f_k - g_k|``, per class for top-1, per side for decisions), each ``max obj`` over the box.
A decision claim with a small f (at most ``SPLIT_MAX_INPUTS`` inputs, ``SPLIT_MAX_RELUS`` ReLUs,
``SPLIT_MAX_REGIONS`` linear regions) is split by f's exact linear regions instead: on each
region f is affine, so each side is a MILP over g alone on a polytope, with g's bounds computed
over that polytope (``_decision_split``).  Sub-problems that the sound bounds already settle are skipped (``float-sound``).  Each MILP stops
as soon as

* the dual bound proves the claim with the **safety margin**
  ``m = 4 * tol * (1 + sum_j max(|lo_j|, |hi_j|))`` (``tol`` the solver's primal plus dual
  feasibility tolerance, ``lo_j, hi_j`` the column bounds: a bound on what LP residuals within
  tolerance can change the objective), i.e. ``dual + m <= t``; or
* an incumbent exceeds ``t``; its input is then re-evaluated in exact rational arithmetic on the
  original weights.  A candidate that fails the exact check is *not* a counterexample: relucert
  tries to repair it by a local search around it (exact checks again); failing that, the
  sub-problem is solved on without the incumbent stop, and if its optimum still fails the check
  the answer is UNKNOWN with reason ``numerical trouble``.

EQUIVALENT from a MILP therefore has ``soundness="dual-bound-with-margin"`` and
``result.margin = m``: it is as trustworthy as the solver's LP accuracy (HiGHS is run with
feasibility tolerances 1e-9).  It is *not* exact: claims within ``m`` of the threshold are
UNKNOWN (reason ``within the solver tolerance margin``) - use ``method="smt"`` for those.  A
claim settled by the bound pass alone has ``soundness="float-sound"``.

SMT (``method="smt"``)
----------------------
z3 over the reals with every weight taken at its exact float64 value
(:class:`~relucert.encode.smt.SmtBuilder`); the sound bounds fix stable neurons and are asserted
as lemmas.  ``unsat`` is a proof about the exact real function of the stored weights:
``soundness="exact"``.  A ``sat`` model is re-evaluated exactly (rounded to float64 when that
still violates, else kept as exact rationals).  This is the way to settle ``eps = 0``.  Distance
is bracketed by exact bisection.  Practical for small networks only.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Callable

import numpy as np

from ..box import Box
from ..errors import SolverError, SpecError
from ..network import Network
from .result import Counterexample, StopReason, VerificationResult, Verdict, float_down, float_up, short_number
from .spec import DecisionEquivalence, Distance, EpsEquivalence, Spec, Top1Equivalence

__all__ = ["verify_with_solver", "tolerance_margin", "SOUND_EXACT", "SOUND_MARGIN", "SOUND_FLOAT",
           "MARGIN_SAFETY", "HIGHS_TOLERANCE"]

SOUND_EXACT = "exact"
SOUND_MARGIN = "dual-bound-with-margin"
SOUND_FLOAT = "float-sound"
MARGIN_SAFETY = 4.0
HIGHS_TOLERANCE = 1e-9          # HiGHS primal and dual feasibility tolerance used for proofs
PULP_TOLERANCE = 2e-7           # CBC's default primal (1e-7) plus dual (1e-7) tolerance


# ---------------------------------------------------------------------------------------------
# small helpers
# ---------------------------------------------------------------------------------------------
class _Clock:
    def __init__(self, t0: float, limit: float | None):
        self.t0 = t0
        self.limit = None if limit is None else float(limit)

    def left(self) -> float | None:
        if self.limit is None:
            return None
        return self.limit - (time.perf_counter() - self.t0)

    def out(self) -> bool:
        left = self.left()
        return left is not None and left <= 0.01


def _fracs(x) -> list[Fraction]:
    return [v if isinstance(v, Fraction) else Fraction(float(v)) for v in list(x)]


def _down_float(q) -> float:
    """The largest float <= q (q a Fraction or float; saturates outside the float range)."""
    return float_down(q)


def _up_float(q) -> float:
    return float_up(q)


def tolerance_margin(problem, tol: float) -> float:
    """The safety margin ``MARGIN_SAFETY * tol * (1 + sum_j max(|lo_j|, |hi_j|))`` for a MILP
    dual bound (columns with an infinite bound count as 1e6)."""
    mag = np.maximum(np.abs(problem.col_lo), np.abs(problem.col_hi))
    mag = np.where(np.isfinite(mag), mag, 1e6)
    return float(MARGIN_SAFETY * tol * (1.0 + float(mag.sum())))


# ---------------------------------------------------------------------------------------------
# exact checks, one per spec kind: (Counterexample or None, exact measured value or None)
# ---------------------------------------------------------------------------------------------
def _check_eps(f, g, box, outputs, eps, excluded, x):
    xs = _fracs(x)
    if not box.contains(xs) or (excluded and any(p.interior_contains_exact(xs) for p in excluded)):
        return None, None
    fy, gy = f.eval_exact(xs), g.eval_exact(xs)
    worst, wk = Fraction(-1), -1
    for k in outputs:
        d = abs(fy[k] - gy[k])
        if d > worst:
            worst, wk = d, k
    if eps is not None and worst > Fraction(eps):
        return Counterexample(x=xs, f=fy, g=gy, value=worst,
                              detail=f"output {wk}: |f - g| = {short_number(worst)} > eps = {eps:g}"), worst
    return None, worst


def _argmax_low(v) -> int:
    best = 0
    for j in range(1, len(v)):
        if v[j] > v[best]:
            best = j
    return best


def _check_top1(f, g, box, margin, x):
    xs = _fracs(x)
    if not box.contains(xs):
        return None, None
    fy, gy = f.eval_exact(xs), g.eval_exact(xs)
    i = _argmax_low(fy)
    d = Fraction(margin)
    K = len(fy)
    if any(fy[i] - fy[j] < d for j in range(K) if j != i):
        return None, None                       # f does not lead by the margin here
    value = max(gy[j] - gy[i] for j in range(K) if j != i)
    ig = _argmax_low(gy)
    if ig != i:
        lead = min(fy[i] - fy[j] for j in range(K) if j != i)
        return Counterexample(x=xs, f=fy, g=gy, value=value,
                              detail=f"f picks class {i} (lead {short_number(lead)}) but g picks class {ig} "
                                     f"(ties to the lowest index)"), value
    return None, value


def _check_decision(f, g, box, spec, x):
    xs = _fracs(x)
    if not box.contains(xs):
        return None, None
    fy, gy = f.eval_exact(xs), g.eval_exact(xs)
    tf, tg, ga = Fraction(spec.tau_f), Fraction(spec.tau_g), Fraction(spec.gamma)
    value = None
    if fy[0] >= tf + ga:
        value = tg - gy[0]
        if gy[0] <= tg:
            return Counterexample(x=xs, f=fy, g=gy, value=value,
                                  detail=f"f = {short_number(fy[0])} >= tau_f + gamma but g = {short_number(gy[0])} "
                                         f"<= tau_g = {spec.tau_g:g}"), value
    if fy[0] <= tf - ga:
        v = gy[0] - tg
        value = v if value is None else max(value, v)
        if gy[0] > tg:
            return Counterexample(x=xs, f=fy, g=gy, value=v,
                                  detail=f"f = {short_number(fy[0])} <= tau_f - gamma but g = {short_number(gy[0])} "
                                         f"> tau_g = {spec.tau_g:g}"), value
    return None, value


# ---------------------------------------------------------------------------------------------
# float scores (> 0 means "looks like a violation") for the counterexample search and repair
# ---------------------------------------------------------------------------------------------
def _score_eps(f, g, outputs, eps, excluded):
    def score(X):
        s = np.abs(f(X)[:, outputs] - g(X)[:, outputs]).max(axis=1) - eps
        if excluded:
            for p in excluded:
                inside = np.all(X @ p.A.T < p.b, axis=1)
                s = np.where(inside, -np.inf, s)
        return s
    return score


def _score_top1(f, g, margin):
    def score(X):
        fy, gy = f(X), g(X)
        K = fy.shape[1]
        i = np.argmax(fy, axis=1)
        r = np.arange(len(X))
        fi = fy[r, i][:, None]
        other = np.arange(K)[None, :] != i[:, None]
        lead = np.where(other, fi - fy, np.inf).min(axis=1) - margin
        gi = gy[r, i][:, None]
        viol = np.where(other, gy - gi, -np.inf).max(axis=1)
        return np.minimum(lead + 1e-12, viol + 1e-12)
    return score


def _score_decision(f, g, spec):
    def score(X):
        fy, gy = f(X)[:, 0], g(X)[:, 0]
        a = np.minimum(fy - (spec.tau_f + spec.gamma), spec.tau_g - gy) + 1e-12
        b = np.minimum((spec.tau_f - spec.gamma) - fy, gy - spec.tau_g)
        return np.maximum(a, b)
    return score


def _search(box: Box, score, check, rng, *, center=None, n: int = 256, radii=(None,), top: int = 4):
    """Sample points (the box corners' neighbourhood, uniform, or around ``center``), rank them by
    the float ``score`` and exact-check the best ``top`` of each round.  Returns
    ``(ce, best_value, best_x)``: a confirmed counterexample or None, and the best exact value seen."""
    with np.errstate(over="ignore", invalid="ignore"):
        return _search_(box, score, check, rng, center=center, n=n, radii=radii, top=top)


def _search_(box: Box, score, check, rng, *, center, n, radii, top):
    lo, hi = box.lo, box.hi
    width = hi - lo
    best_v, best_x = None, None
    for r in radii:
        if center is None or r is None:
            X = box.sample(n, rng)
            X = np.vstack([X, box.center[None], np.where(rng.random((8, box.dim)) < 0.5, lo, hi)])
        else:
            rad = r * (1.0 + width)
            c = np.asarray(center, dtype=np.float64)
            X = np.clip(c + rad * (2 * rng.random((n, box.dim)) - 1), lo, hi)
            X = np.vstack([np.clip(c, lo, hi)[None], X])
        s = score(X)
        order = np.argsort(-s)[:top]
        for j in order:
            ce, v = check(X[j])
            if v is not None and (best_v is None or v > best_v):
                best_v, best_x = v, X[j].copy()
            if ce is not None:
                return ce, best_v, best_x
    return None, best_v, best_x


REPAIR_RADII = (0.0, 1e-12, 1e-9, 1e-6, 1e-4, 1e-2)


# ---------------------------------------------------------------------------------------------
# bounds for the pair
# ---------------------------------------------------------------------------------------------
@dataclass
class _PairBounds:
    bf: list
    bg: list
    dd: list | None                 # hidden-layer (lo, hi) of z^g - z^f, plus the output pair
    stack: Network
    lps: int = 0
    tightened: bool = False


def _pair_bounds(f: Network, g: Network, box: Box, *, tighten: bool, clock: _Clock) -> _PairBounds:
    from ..bounds.linear import crown_bounds

    bf = crown_bounds(f, box)
    bg = crown_bounds(g, box)
    dd = None
    if f.sizes == g.sizes and f.depth > 0:
        from ..bounds.differential import DiffPair, diff_bounds_batch

        st, (ol, oh) = diff_bounds_batch(DiffPair(f, g), box.lo[None], box.hi[None])
        dd = [(a[0], b[0]) for a, b in st.dd] + [(ol[0], oh[0])]
        # the differential pass also tightens the separate bounds
        bf = [(np.maximum(a, c[0]), np.minimum(b, d[0])) for (a, b), (c, d) in zip(bf, st.zf + [st.out_f])]
        bg = [(np.maximum(a, c[0]), np.minimum(b, d[0])) for (a, b), (c, d) in zip(bg, st.zg + [st.out_g])]
    bf, bg = _grouped(f, box, bf), _grouped(g, box, bg)
    pb = _PairBounds(bf=bf, bg=bg, dd=dd, stack=Network.stack(f, g))
    if tighten and max(f.depth, g.depth) > 1:
        from ..encode.obbt import tighten_bounds_lp

        for which in ("f", "g"):
            net = f if which == "f" else g
            left = clock.left()
            if left is not None and left <= 0.05:
                break
            st_: dict = {}
            out = tighten_bounds_lp(net, box, getattr(pb, "b" + which),
                                    time_limit=None if left is None else 0.5 * left, stats=st_)
            setattr(pb, "b" + which, out)
            pb.lps += int(st_.get("lps", 0))
        pb.tightened = True
    return pb


def _grouped(net: Network, box: Box, bounds):
    """``bounds`` intersected with the grouped interval bounds
    (:func:`~relucert.encode.obbt.grouped_interval_bounds`) when ``net`` has neurons with equal
    weight rows (ramps ``relu(s + 1) - relu(s)``, say)."""
    from ..encode.obbt import grouped_interval_bounds, neuron_groups

    if not any(neuron_groups(L.weight) for L in net.layers[:-1]):
        return bounds
    return grouped_interval_bounds(net, box, bounds)


def _stack_objective_bounds(pb: _PairBounds, box: Box, C: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sound bounds of ``C [f; g]`` over the box (CROWN on the stacked pair)."""
    from ..bounds.linear import objective_bounds

    return objective_bounds(pb.stack, box, C)


# ---------------------------------------------------------------------------------------------
# sub-problems
# ---------------------------------------------------------------------------------------------
@dataclass
class _Sub:
    name: str
    build: Callable                 # () -> MilpProblem (built lazily)
    threshold: float                # the claim is  max obj <= threshold  (< threshold if strict)
    strict: bool
    sound_upper: float              # a sound upper bound of max obj (bound propagation)
    key: tuple = ()                 # ("eps", k, sign) | ("top1", i) | ("pos",) | ("neg",)
    can_be_empty: bool = True       # False when every input of the box is feasible (plain eps)
    result: dict = field(default_factory=dict)

    @property
    def closed(self) -> bool:
        """Whether the sound bound alone settles this sub-problem."""
        return self.sound_upper < self.threshold or (not self.strict and self.sound_upper <= self.threshold)


def _engine(solver: str, *, atol: float = 1e-9, rtol: float = 0.0):
    from ..solvers import get_solver

    low = solver.lower()
    if low == "highs":
        s = get_solver("highs", primal_feasibility_tolerance=HIGHS_TOLERANCE,
                       dual_feasibility_tolerance=HIGHS_TOLERANCE, mip_abs_gap=atol, mip_rel_gap=rtol)
        return s, s.feasibility_tolerance
    if low in ("pulp", "pulp-cbc", "cbc") or low.startswith("pulp:"):
        s = get_solver(solver, mip_abs_gap=atol)
        return s, PULP_TOLERANCE
    raise SpecError(f"solver must be 'highs', 'pulp' or 'pulp:<SOLVER>' for method='milp', got solver={solver!r}")


class _MilpRun:
    """Runs sub-problems with early stop, exact checks and repair; collects statistics."""

    def __init__(self, solver_name: str, check, score, box: Box, clock: _Clock, rng, *, atol=1e-9, rtol=0.0):
        self.solver, self.tol = _engine(solver_name, atol=atol, rtol=rtol)
        self.check, self.score, self.box, self.clock, self.rng = check, score, box, clock, rng
        self.stats = {"milps": 0, "nodes": 0, "n_binaries": 0, "max_rows": 0, "max_cols": 0}
        self.margin = 0.0
        self.best_value = None          # best exact value of the measured quantity seen
        self.best_x = None

    def _note(self, v, x):
        if v is not None and (self.best_value is None or v > self.best_value):
            self.best_value, self.best_x = v, np.asarray(x, dtype=np.float64).copy()

    def _candidate(self, x):
        """Exact check of a solver point, then repair around it; returns a Counterexample or None."""
        ce, v = self.check(x)
        self._note(v, x)
        if ce is not None:
            return ce
        ce, v, bx = _search(self.box, self.score, self.check, self.rng, center=x, n=64, radii=REPAIR_RADII)
        if bx is not None:
            self._note(v, bx)
        return ce

    def _solve(self, problem, presolve: bool = True, **kw):
        left = self.clock.left()
        if left is not None:
            kw["time_limit"] = max(left, 0.05)
        solver = self.solver
        if not presolve and getattr(solver, "name", "") == "highs":
            from ..solvers.highs import HighsSolver

            opts = dict(solver.options)
            solver = HighsSolver(mip_abs_gap=opts["mip_abs_gap"], mip_rel_gap=opts["mip_rel_gap"],
                                 mip_feasibility_tolerance=opts["mip_feasibility_tolerance"],
                                 primal_feasibility_tolerance=opts["primal_feasibility_tolerance"],
                                 dual_feasibility_tolerance=opts["dual_feasibility_tolerance"], presolve=False)
        try:
            out = solver.solve(problem, **kw)
        except Exception as exc:   # noqa: BLE001 - e.g. HiGHS refuses coefficients above 1e15, or
            # the backend crashed: never a verdict, an UNKNOWN with the reason
            from ..solvers.base import MilpOutcome

            why = str(exc) if isinstance(exc, SolverError) else \
                f"solver {self.solver.name} failed: {type(exc).__name__}: {exc}"
            out = MilpOutcome(status="error", stop_reason=why, primal_value=None, primal_x=None, input_x=None,
                              dual_bound=None, gap=None, nodes=0, time_s=0.0, solver=self.solver.name)
        self.stats["milps"] += 1
        self.stats["nodes"] += int(out.nodes or 0)
        return out

    def run(self, sub: _Sub) -> dict:
        """``{"status": proved|refuted|unknown, "upper": float, "ce": ..., "reason": str, "stop": StopReason}``"""
        problem = sub.build()
        m = tolerance_margin(problem, self.tol)
        self.margin = max(self.margin, m)
        self.stats["n_binaries"] = max(self.stats["n_binaries"], problem.n_integer)
        self.stats["max_rows"] = max(self.stats["max_rows"], problem.n_rows)
        self.stats["max_cols"] = max(self.stats["max_cols"], problem.n_cols)
        t = sub.threshold
        out = self._solve(problem, stop_if_dual_below=t - m, stop_if_primal_above=t)
        res = self._interpret(sub, problem, out, m)
        if res is not None:
            return res
        # an incumbent above t failed the exact check and could not be repaired: solve on
        # without the incumbent stop (the dual bound may still prove the claim)
        if not self.clock.out():
            out = self._solve(problem, stop_if_dual_below=t - m)
            res = self._interpret(sub, problem, out, m, second=True)
            if res is not None:
                return res
        up = sub.sound_upper if out.dual_bound is None else min(sub.sound_upper, out.dual_bound + m)
        if self.clock.out():
            return {"status": "unknown", "upper": up, "stop": StopReason.TIME_LIMIT, "reason": "time limit reached"}
        return {"status": "unknown", "upper": up, "stop": StopReason.NUMERICAL,
                "reason": "numerical trouble: the solver's incumbent fails exact re-evaluation and could not be repaired"}

    def _interpret(self, sub, problem, out, m, second=False):
        t = sub.threshold
        dual = out.dual_bound
        up = sub.sound_upper if dual is None else min(sub.sound_upper, dual + m)
        if out.status == "infeasible":
            if not sub.can_be_empty:
                return {"status": "unknown", "upper": sub.sound_upper, "stop": StopReason.NUMERICAL,
                        "reason": "numerical trouble: the solver calls the model infeasible, but every input of "
                                  "the box is feasible"}
            # an infeasibility claim is a float claim too: accept it only if a second solve without
            # presolve agrees
            again = self._solve(problem, stop_if_dual_below=t - m, stop_if_primal_above=t, presolve=False)
            if again.status != "infeasible":
                return self._interpret(sub, problem, again, m, second=True) if again.status != "error" else \
                    {"status": "unknown", "upper": sub.sound_upper, "stop": StopReason.NUMERICAL,
                     "reason": "numerical trouble: the solver's infeasibility claim is not reproducible"}
            return {"status": "proved", "upper": -np.inf, "stop": StopReason.PROVED, "reason": "region is empty"}
        if out.input_x is not None and out.primal_value is not None and out.primal_value > t - m:
            ce = self._candidate(out.input_x)
            if ce is not None:
                return {"status": "refuted", "upper": up, "ce": ce, "stop": StopReason.REFUTED, "reason": ""}
        if dual is not None and dual + m <= t and not (dual + m == t and sub.strict):
            return {"status": "proved", "upper": up, "stop": StopReason.PROVED, "reason": ""}
        if out.status in ("time_limit", "node_limit"):
            stop = StopReason.TIME_LIMIT if out.status == "time_limit" else StopReason.NODE_LIMIT
            return {"status": "unknown", "upper": up, "stop": stop, "reason": out.stop_reason}
        if out.status == "error":
            return {"status": "unknown", "upper": up, "stop": StopReason.SOLVER_ERROR, "reason": out.stop_reason}
        if out.status == "optimal" and dual is not None and dual <= t + m:
            return {"status": "unknown", "upper": up, "stop": StopReason.NUMERICAL,
                    "reason": f"within the solver tolerance margin: optimum {dual:.12g} is within {m:.3g} of "
                              f"the threshold {t:.12g} (use method='smt' for an exact answer)"}
        if second or out.status == "optimal":
            return {"status": "unknown", "upper": up, "stop": StopReason.NUMERICAL,
                    "reason": "numerical trouble: the solver's incumbent fails exact re-evaluation and could not be "
                              "repaired"}
        return None


def _builder(f, g, box, pb: _PairBounds, *, excluded=None, couple=True, z_mode=None):
    from ..encode.milp import MilpBuilder

    b = MilpBuilder(box, z_mode=z_mode or _z_mode(f, g))
    F = b.add_network(f, pb.bf, tag="f")
    G = b.add_network(g, pb.bg, tag="g")
    # difference rows tighten the relaxation of f - g a lot for low input dimension; with many
    # inputs they are dense (every row spans the input) and slow HiGHS down more than they help
    if couple and pb.dd is not None and f.n_inputs <= COUPLE_MAX_INPUTS:
        b.add_difference_bounds(F, G, pb.dd)
    if excluded:
        b.add_excluded_polytopes(excluded)
    return b, F, G


COUPLE_MAX_INPUTS = 16


def _z_mode(f, g) -> str:
    """Always ``"implicit"``: measured faster with HiGHS than explicit z columns, also on the
    784-input MNIST pair (explicit z columns stall HiGHS at the root there)."""
    return "implicit"


# ---------------------------------------------------------------------------------------------
# the entry point
# ---------------------------------------------------------------------------------------------
def verify_with_solver(f: Network, g: Network, box: Box, spec: Spec, *, method: str, time_limit=None,
                       solver: str = "highs", progress=None, t0: float | None = None, tighten: bool = False,
                       seed: int = 0) -> VerificationResult:
    """Decide ``spec`` with a MILP (``method="milp"``) or z3 (``method="smt"``); see the module doc."""
    t0 = time.perf_counter() if t0 is None else t0
    if method not in ("milp", "smt"):
        raise SpecError(f"method must be 'milp' or 'smt' here, got method={method!r}")
    if not isinstance(solver, str):
        raise SpecError(f"solver must be a string, got {type(solver).__name__}")
    if isinstance(spec, DecisionEquivalence) and (f.n_outputs != 1 or g.n_outputs != 1):
        raise SpecError(f"decision equivalence needs single-output networks, got {f.n_outputs} and {g.n_outputs} outputs")
    clock = _Clock(t0, time_limit)
    rng = np.random.default_rng(seed)
    ctx = _Ctx(f, g, box, spec, clock, rng, progress, t0, method, solver, tighten)
    if isinstance(spec, Top1Equivalence) and f.n_outputs == 1:
        return ctx.result(Verdict.EQUIVALENT, 0.0, 0.0, StopReason.PROVED, soundness=SOUND_EXACT,
                          reason="single-output networks pick the same (only) class", method="structure")
    if method == "smt":
        from . import _smt

        return _smt.run(ctx)
    return _milp(ctx)


class _Ctx:
    def __init__(self, f, g, box, spec, clock, rng, progress, t0, method, solver, tighten):
        self.f, self.g, self.box, self.spec = f, g, box, spec
        self.clock, self.rng, self.progress, self.t0 = clock, rng, progress, t0
        self.method, self.solver, self.tighten = method, solver, tighten
        self.stats: dict = {}
        if isinstance(spec, (EpsEquivalence, Distance)):
            self.outputs = spec.outputs_for(f.n_outputs)
        else:
            self.outputs = list(range(f.n_outputs))
        self.excluded = spec.excluded if isinstance(spec, EpsEquivalence) else None

    def check(self, x):
        s = self.spec
        if isinstance(s, EpsEquivalence):
            return _check_eps(self.f, self.g, self.box, self.outputs, s.eps, self.excluded, x)
        if isinstance(s, Distance):
            return _check_eps(self.f, self.g, self.box, self.outputs, None, None, x)
        if isinstance(s, Top1Equivalence):
            return _check_top1(self.f, self.g, self.box, s.margin, x)
        return _check_decision(self.f, self.g, self.box, s, x)

    def score(self):
        s = self.spec
        if isinstance(s, EpsEquivalence):
            return _score_eps(self.f, self.g, self.outputs, s.eps, self.excluded)
        if isinstance(s, Distance):
            return _score_eps(self.f, self.g, self.outputs, 0.0, None)
        if isinstance(s, Top1Equivalence):
            return _score_top1(self.f, self.g, s.margin)
        return _score_decision(self.f, self.g, s)

    def result(self, verdict, lower, upper, stop, *, soundness=None, reason="", ce=None, witness=None,
               margin=None, method=None, extra=None) -> VerificationResult:
        stats = {"time_s": time.perf_counter() - self.t0, "method": method or self.method_name}
        stats.update(self.stats)
        if extra:
            stats.update(extra)
        wx = None
        if ce is not None:
            wx = ce.x
        elif witness is not None:
            wx = _fracs(witness)
        return VerificationResult(verdict=verdict, spec=self.spec, lower=_down_float(lower) if lower is not None
                                  else -np.inf, upper=_up_float(upper), method=method or self.method_name,
                                  stop_reason=stop, reason=reason, soundness=soundness, margin=margin,
                                  counterexample=ce, witness_x=wx, stats=stats, f_digest=self.f.digest,
                                  g_digest=self.g.digest, box=self.box)

    @property
    def method_name(self) -> str:
        if self.method == "smt":
            return "smt-z3"
        low = self.solver.lower()
        return "milp-highs" if low == "highs" else ("milp-pulp-cbc" if low in ("pulp", "pulp-cbc", "cbc") else f"milp-{low}")

    def report(self, **kw):
        if self.progress is not None:
            self.progress(elapsed=time.perf_counter() - self.t0, **kw)


# ---------------------------------------------------------------------------------------------
# MILP per spec
# ---------------------------------------------------------------------------------------------
def _eps_subs(ctx: _Ctx, pb: _PairBounds, threshold: float) -> list[_Sub]:
    f, g, box = ctx.f, ctx.g, ctx.box
    K = len(ctx.outputs)
    n_out = f.n_outputs
    # sound bounds of f_k - g_k: differential when available, else CROWN on the stacked pair
    C = np.zeros((K, 2 * n_out))
    C[np.arange(K), ctx.outputs] = 1.0
    C[np.arange(K), n_out + np.asarray(ctx.outputs)] = -1.0
    lo, hi = _stack_objective_bounds(pb, box, C)
    if pb.dd is not None:
        dlo, dhi = pb.dd[-1]        # bounds of g - f
        sel = np.asarray(ctx.outputs)
        lo = np.maximum(lo, -dhi[sel])
        hi = np.minimum(hi, -dlo[sel])
    subs = []
    base: dict = {}

    def shared():
        # every (output, sign) sub-problem has the same rows: build them once
        if not base:
            b, F, G = _builder(f, g, box, pb, excluded=ctx.excluded)
            base.update(problem=b.build(), F=F, G=G)
        return base["problem"], base["F"], base["G"]

    for i, k in enumerate(ctx.outputs):
        for sign, ub in ((1.0, hi[i]), (-1.0, -lo[i])):
            def build(k=k, sign=sign):
                p, F, G = shared()
                c = np.zeros(p.n_cols)
                c[int(F.outputs[k])] = sign
                c[int(G.outputs[k])] = -sign
                return p.with_objective(c)
            subs.append(_Sub(name=f"{'f - g' if sign > 0 else 'g - f'} at output {k}", build=build,
                             threshold=threshold, strict=False, sound_upper=float(ub), key=("eps", k, sign),
                             can_be_empty=bool(ctx.excluded)))
    subs.sort(key=lambda s: -s.sound_upper)
    return subs


def _top1_subs(ctx: _Ctx, pb: _PairBounds) -> list[_Sub]:
    f, g, box = ctx.f, ctx.g, ctx.box
    K = f.n_outputs
    delta = ctx.spec.margin
    pairs = [(i, j) for i in range(K) for j in range(K) if i != j]
    C = np.zeros((2 * len(pairs), 2 * K))
    for r, (i, j) in enumerate(pairs):
        C[r, i], C[r, j] = 1.0, -1.0                        # f_i - f_j
        C[len(pairs) + r, K + j], C[len(pairs) + r, K + i] = 1.0, -1.0   # g_j - g_i
    lo, hi = _stack_objective_bounds(pb, box, C)
    P = len(pairs)
    subs = []
    for i in range(K):
        rows = [r for r, (a, _) in enumerate(pairs) if a == i]
        if any(hi[r] < delta for r in rows):
            continue                                         # f never leads with class i by delta
        J = [(pairs[r][1], lo[P + r], hi[P + r]) for r in rows]
        Jopen = [(j, l, h) for j, l, h in J if h >= 0]
        if not Jopen:
            continue                                         # g_i beats every g_j on the whole box

        def build(i=i, Jopen=Jopen):
            b, F, G = _builder(f, g, box, pb)
            for j in range(K):
                if j != i:
                    b.add_linear_constraint({int(F.outputs[i]): 1.0, int(F.outputs[j]): -1.0}, lo=delta,
                                            name=f"lead{i}_{j}")
            exprs = [{int(G.outputs[j]): 1.0, int(G.outputs[i]): -1.0} for j, _, _ in Jopen]
            if len(exprs) == 1:
                b.set_objective(exprs[0])
            else:
                b.set_max_objective(exprs, lower=[l for _, l, _ in Jopen], upper=[h for _, _, h in Jopen])
            return b.build()
        subs.append(_Sub(name=f"class {i}", build=build, threshold=0.0, strict=True,
                         sound_upper=float(max(h for _, _, h in J)), key=("top1", i)))
    subs.sort(key=lambda s: -s.sound_upper)
    return subs


def _decision_subs(ctx: _Ctx, pb: _PairBounds) -> list[_Sub]:
    f, g, box, s = ctx.f, ctx.g, ctx.box, ctx.spec
    (flo, fhi), (glo, ghi) = pb.bf[-1], pb.bg[-1]
    subs = []
    a_rhs, b_rhs = s.tau_f + s.gamma, s.tau_f - s.gamma
    if fhi[0] >= a_rhs and glo[0] <= s.tau_g:
        def build_a():
            b, F, G = _builder(f, g, box, pb)
            b.add_linear_constraint({int(F.outputs[0]): 1.0}, lo=a_rhs, name="pos")
            b.set_objective({int(G.outputs[0]): -1.0}, offset=s.tau_g)
            return b.build()
        subs.append(_Sub(name="f >= tau_f + gamma => g > tau_g", build=build_a, threshold=0.0, strict=True,
                         sound_upper=float(s.tau_g - glo[0]), key=("pos",)))
    if flo[0] <= b_rhs and ghi[0] > s.tau_g:
        def build_b():
            b, F, G = _builder(f, g, box, pb)
            b.add_linear_constraint({int(F.outputs[0]): 1.0}, hi=b_rhs, name="neg")
            b.set_objective({int(G.outputs[0]): 1.0}, offset=-s.tau_g)
            return b.build()
        subs.append(_Sub(name="f <= tau_f - gamma => g <= tau_g", build=build_b, threshold=0.0, strict=False,
                         sound_upper=float(ghi[0] - s.tau_g), key=("neg",)))
    return subs


def _solve_subs(ctx, run, open_subs, uppers: list, n_subs: int, *, floor: float = -np.inf):
    """Run the MILP on each open sub-problem in turn, appending each one's sound upper bound to
    ``uppers`` (its bound-propagation upper once time is out).  Returns ``(refuted, unknown)``: the
    NOT_EQUIVALENT result of the first refuted sub-problem (``floor`` also bounds its bracket), or
    None and the first reason a sub-problem was left undecided (None when all were decided)."""
    unknown = None
    for n_done, sub in enumerate(open_subs):
        if ctx.clock.out():
            unknown = unknown or {"stop": StopReason.TIME_LIMIT, "reason": "time limit reached"}
            uppers.append(sub.sound_upper)
            continue
        res = run.run(sub)
        ctx.stats.update(run.stats)
        uppers.append(res["upper"])
        ctx.report(nodes=run.stats["nodes"], lower=_flt(run.best_value), upper=max(uppers), open=len(open_subs) - n_done - 1)
        if res["status"] == "refuted":
            ce = res["ce"]
            return ctx.result(Verdict.NOT_EQUIVALENT, ce.value, max(max(uppers), floor, float_up(ce.value)),
                              StopReason.REFUTED, ce=ce, margin=run.margin,
                              extra={"sub_problems": n_subs, "found_by": sub.name}), None
        if res["status"] == "unknown" and unknown is None:
            unknown = {"stop": res["stop"], "reason": f"{sub.name}: {res['reason']}"}
    return None, unknown


def _milp(ctx: _Ctx) -> VerificationResult:
    spec = ctx.spec
    if isinstance(spec, DecisionEquivalence) and SPLIT_DECISIONS:
        res = _decision_split(ctx)
        if res is not None:
            return res
    pb = _pair_bounds(ctx.f, ctx.g, ctx.box, tighten=ctx.tighten, clock=ctx.clock)
    ctx.stats["lps"] = pb.lps
    ctx.stats["bounds"] = "crown+differential" if pb.dd is not None else "crown"
    if pb.tightened:
        ctx.stats["bounds"] += "+lp"
    score = ctx.score()
    # a cheap float search first: a confirmed counterexample needs no solver at all
    ce, v0, x0 = _search(ctx.box, score, ctx.check, ctx.rng, n=512, top=6)
    if isinstance(spec, Distance):
        return _milp_distance(ctx, pb, v0, x0)
    if ce is not None:
        return ctx.result(Verdict.NOT_EQUIVALENT, ce.value, _sound_upper_any(ctx, pb), StopReason.REFUTED, ce=ce,
                          extra={"found_by": "search"})
    if isinstance(spec, EpsEquivalence):
        subs = _eps_subs(ctx, pb, spec.eps)
    elif isinstance(spec, Top1Equivalence):
        subs = _top1_subs(ctx, pb)
    else:
        subs = _decision_subs(ctx, pb)
    run = _MilpRun(ctx.solver, ctx.check, score, ctx.box, ctx.clock, ctx.rng)
    run._note(v0, x0) if x0 is not None else None
    ctx.stats.update(run.stats)
    uppers: list[float] = []
    open_subs = [s for s in subs if not s.closed]
    closed_by_bounds = [s for s in subs if s not in open_subs]
    uppers += [s.sound_upper for s in closed_by_bounds]
    refuted, unknown = _solve_subs(ctx, run, open_subs, uppers, len(subs))
    if refuted is not None:
        return refuted
    lower = run.best_value
    upper = max(uppers) if uppers else -np.inf
    extra = {"sub_problems": len(subs), "closed_by_bounds": len(closed_by_bounds)}
    if unknown is not None:
        return ctx.result(Verdict.UNKNOWN, lower, upper, unknown["stop"], reason=unknown["reason"],
                          witness=run.best_x, margin=run.margin, extra=extra)
    soundness = SOUND_MARGIN if open_subs else SOUND_FLOAT
    if isinstance(spec, EpsEquivalence):
        upper = min(upper, spec.eps)
    return ctx.result(Verdict.EQUIVALENT, lower, upper, StopReason.PROVED, soundness=soundness,
                      witness=run.best_x, margin=run.margin if open_subs else None, extra=extra)


# ---------------------------------------------------------------------------------------------
# decision claims split by f's linear regions
# ---------------------------------------------------------------------------------------------
#: decision claims go region by region of f (see ``_decision_split``) when f has at most this
#: many inputs, ReLUs and linear regions on the box
SPLIT_DECISIONS = True
SPLIT_MAX_INPUTS = 8
SPLIT_MAX_RELUS = 64
SPLIT_MAX_REGIONS = 2000
#: per region, g's bounds are CROWN (intersected with the grouped intervals) up to this depth;
#: deeper nets with neuron groups get the grouped intervals alone (CROWN costs depth^2 there)
SPLIT_CROWN_MAX_DEPTH = 16


def _exact_row_to_float(a, h, xmax):
    """Float ``(af, hf)`` with ``a.x <= h  =>  af.x <= hf`` for every ``|x_k| <= xmax_k`` (exact
    rational ``a, h``; the rounding of ``a`` is paid for in ``hf``)."""
    af = np.array([float(v) for v in a])
    slack = sum((abs(Fraction(v) - Fraction(w)) * Fraction(float(m)) for v, w, m in zip(a, af, xmax)), Fraction(0))
    return af, float_up(Fraction(h) + slack)


def _cut_vertices(V, H, h, a, beta):
    """Points whose hull is ``conv(V) ∩ {a.x <= beta}`` (exact): the vertices on the kept side
    and the crossing point of every vertex pair on opposite sides that shares ``n - 1`` tight rows
    of ``H x <= h`` (every edge does; a pair that is no edge gives a point of the cut polytope,
    which changes no hull).  ``V``: the exact vertices of the polytope ``H x <= h``."""
    n = len(V[0])
    val = [sum((ai * x for ai, x in zip(a, v)), Fraction(0)) - beta for v in V]
    keep = [v for v, t in zip(V, val) if t <= 0]
    out_ = [i for i, t in enumerate(val) if t > 0]
    in_ = [i for i, t in enumerate(val) if t < 0]
    if not out_ or not in_:
        return keep
    rows = [(list(r), hh) for r, hh in zip(H, h) if any(x != 0 for x in r)]
    tight = [frozenset(j for j, (r, hh) in enumerate(rows) if sum((x * y for x, y in zip(r, v)), Fraction(0)) == hh)
             for v in V]
    pts = list(keep)
    for i in out_:
        for j in in_:
            if len(tight[i] & tight[j]) >= n - 1:
                lam = val[j] / (val[j] - val[i])          # in (0, 1): the point u + lam (w - u) with a.x = beta
                pts.append(tuple(V[j][k] + lam * (V[i][k] - V[j][k]) for k in range(n)))
    return pts


def _sub_bounds(net: Network, box: Box, vertices=None):
    """Sound pre-activation bounds of ``net`` over ``box`` (hidden layers and output), and over
    ``conv(vertices)`` (inside the box) when given."""
    from ..bounds.interval import interval_bounds
    from ..bounds.linear import crown_bounds
    from ..encode.obbt import grouped_interval_bounds, neuron_groups

    grouped = any(neuron_groups(L.weight) for L in net.layers[:-1])
    if grouped and net.depth > SPLIT_CROWN_MAX_DEPTH:
        b = interval_bounds(net, box)
    else:
        b = crown_bounds(net, box)
    b = grouped_interval_bounds(net, box, b) if grouped else b
    if vertices is not None:
        from ..encode.obbt import polytope_bounds

        b = polytope_bounds(net, vertices, b)
    return b


#: in a region sub-problem left open by its bounds, bound each unstable neuron of g's second
#: hidden layer by a small MILP over its own inputs (its cone: at most CONE_MAX first-layer units)
CONE_TIGHTEN = True
CONE_MAX = 64


def _cone_tighten(g: Network, sbox: Box, verts, gb, rows, ctx: _Ctx):
    """``gb`` with g's second-layer upper bounds replaced, neuron by neuron, by the dual bound plus
    the safety margin of a MILP ``max z_k`` over the polytope (``rows`` inside ``sbox``) that
    encodes only the first-layer units ``z_k`` reads (few binaries each: the sum over neurons of
    small trees instead of their product), then propagated again (:func:`polytope_bounds`).
    Sound as the MILP proofs are: dual bound with margin (a solver failure keeps the old bound)."""
    from ..encode.milp import MilpBuilder
    from ..encode.obbt import polytope_bounds

    if g.depth < 2:
        return gb
    L1, L2 = g.layers[0], g.layers[1]
    lo1, hi1 = gb[0]
    lo2, hi2 = gb[1]
    todo = np.flatnonzero((lo2 < 0) & (hi2 > 0))
    if todo.size == 0:
        return gb
    solver, tol = _engine(ctx.solver)
    hi2 = hi2.copy()
    changed = False
    for k in todo:
        if ctx.clock.out():
            break
        cone = np.flatnonzero(L2.weight[k])
        if cone.size == 0 or cone.size > CONE_MAX:
            continue
        sub = Network([(L1.weight[cone], L1.bias[cone]), (L2.weight[k:k + 1, cone], L2.bias[k:k + 1])])
        b = MilpBuilder(sbox)
        S = b.add_network(sub, [(lo1[cone], hi1[cone]), (lo2[k:k + 1], hi2[k:k + 1])], tag="c")
        x = b.input_cols
        for af, hf in rows:
            nz = np.flatnonzero(af)
            if nz.size:
                b.add_linear_constraint((x[nz], af[nz]), hi=hf, name="region")
        b.set_objective({int(S.outputs[0]): 1.0})
        prob = b.build()
        m = tolerance_margin(prob, tol)
        left = ctx.clock.left()
        try:
            out = solver.solve(prob, time_limit=None if left is None else max(left, 0.05),
                               stop_if_dual_below=-m)
        except Exception:   # noqa: BLE001 - a failed solve keeps the bound
            continue
        ctx.stats["cone_milps"] = ctx.stats.get("cone_milps", 0) + 1
        if out.dual_bound is not None and np.isfinite(out.dual_bound) and out.status != "infeasible":
            new = float_up(Fraction(out.dual_bound) + Fraction(m))
            if new < hi2[k]:
                hi2[k] = max(new, lo2[k])
                changed = True
                # bounds from a MILP: whatever they prove is a dual-bound-with-margin proof
                ctx.stats["cone_bounds"] = ctx.stats.get("cone_bounds", 0) + 1
                ctx.stats["cone_margin"] = max(ctx.stats.get("cone_margin", 0.0), m)
    if not changed:
        return gb
    gb = list(gb)
    gb[1] = (lo2, hi2)
    return polytope_bounds(g, verts, gb)


def _decision_split(ctx: _Ctx) -> VerificationResult | None:
    """A decision claim proved region by region of f.

    On each linear region ``R`` of f (exact, :func:`relucert.regions.linear_regions`; exact
    vertices) f is the affine ``A x + c``, so ``f >= tau_f + gamma`` on ``R`` is one linear row:
    each side of the claim becomes, per region, a MILP over g alone on the polytope
    ``R ∩ {A x + c >= tau_f + gamma}`` (resp. ``<= tau_f - gamma``), inside the bounding box of
    ``R``'s vertices, with g's bounds computed on that box (far fewer unstable neurons than on the
    whole box).  A side whose premise fails at every vertex of ``R`` (exactly) is empty there.
    The closed regions cover the box, so the claim holds when every sub-problem is proved (dual
    bound with the safety margin, as for the one-MILP encoding); a solver point is a
    counterexample only after the exact check on the original weights and the whole claim.
    Returns None (and the caller builds the one MILP) when f is too large for the split.
    """
    from ..regions import RegionLimitError, linear_regions

    f, g, box, spec = ctx.f, ctx.g, ctx.box, ctx.spec
    if not (f.n_inputs <= SPLIT_MAX_INPUTS and f.n_relus <= SPLIT_MAX_RELUS and bool(np.all(box.hi > box.lo))):
        return None
    try:
        regs = linear_regions(f, box, max_regions=SPLIT_MAX_REGIONS)
    except RegionLimitError:
        return None
    if not regs or any(r.vertices is None for r in regs):
        return None
    Q = Fraction
    t_pos = Q(spec.tau_f) + Q(spec.gamma)
    t_neg = Q(spec.tau_f) - Q(spec.gamma)
    tg = float(spec.tau_g)
    n = box.dim
    subs: list[_Sub] = []
    empty = 0
    for ri, r in enumerate(regs):
        A = [Q(v) for v in r.A[0]]
        c = Q(r.c[0])
        fv = [sum((a * x for a, x in zip(A, v)), Q(0)) + c for v in r.vertices]
        sides = []
        if max(fv) >= t_pos:
            sides.append(("pos", min(fv) < t_pos))
        else:
            empty += 1
        if min(fv) <= t_neg:
            sides.append(("neg", max(fv) > t_neg))
        else:
            empty += 1
        if not sides:
            continue
        for side, need_row in sides:
            if side == "pos":
                # A x + c >= t_pos  <=>  -A x <= c - t_pos
                cut = ([-a for a in A], c - t_pos)
            else:
                cut = (A, t_neg - c)
            verts = _cut_vertices(r.vertices, r.H, r.h, *cut) if need_row else list(r.vertices)
            lo = np.array([float_down(min(v[k] for v in verts)) for k in range(n)])
            hi = np.array([float_up(max(v[k] for v in verts)) for k in range(n)])
            lo, hi = np.maximum(lo, box.lo), np.minimum(hi, box.hi)
            sbox = Box(lo, hi)
            gb = _sub_bounds(g, sbox, verts)
            glo, ghi = float(gb[-1][0][0]), float(gb[-1][1][0])
            xmax = np.maximum(np.abs(lo), np.abs(hi))
            rows = [_exact_row_to_float(list(hr), hh, xmax) for hr, hh in zip(r.H, r.h) if any(v != 0 for v in hr)]
            prem = _exact_row_to_float(*cut, xmax) if need_row else None
            sound = tg - glo if side == "pos" else ghi - tg
            if not (sound < 0 or (side == "neg" and sound <= 0)) and CONE_TIGHTEN and not ctx.clock.out():
                gb = _cone_tighten(g, sbox, verts, gb, rows + ([prem] if prem is not None else []), ctx)
                glo, ghi = float(gb[-1][0][0]), float(gb[-1][1][0])
                sound = tg - glo if side == "pos" else ghi - tg

            def build(sbox=sbox, gb=gb, rows=rows, prem=prem, side=side):
                from ..encode.milp import MilpBuilder

                b = MilpBuilder(sbox)
                G = b.add_network(g, gb, tag="g")
                x = b.input_cols
                for af, hf in rows + ([prem] if prem is not None else []):
                    nz = np.flatnonzero(af)
                    if nz.size:
                        b.add_linear_constraint((x[nz], af[nz]), hi=hf, name="region")
                if side == "pos":
                    b.set_objective({int(G.outputs[0]): -1.0}, offset=tg)
                else:
                    b.set_objective({int(G.outputs[0]): 1.0}, offset=-tg)
                return b.build()
            name = ("f >= tau_f + gamma => g > tau_g" if side == "pos" else "f <= tau_f - gamma => g <= tau_g") + \
                f" on region {ri} of f"
            subs.append(_Sub(name=name, build=build, threshold=0.0, strict=(side == "pos"),
                             sound_upper=float(sound), key=(side, ri)))
    ctx.stats.update({"split": "f-regions", "f_regions": len(regs), "empty_sides": empty})
    score = ctx.score()
    ce, v0, x0 = _search(ctx.box, score, ctx.check, ctx.rng, n=512, top=6)
    all_upper = max((s_.sound_upper for s_ in subs), default=-np.inf)
    if ce is not None:
        return ctx.result(Verdict.NOT_EQUIVALENT, ce.value, max(all_upper, float_up(ce.value)), StopReason.REFUTED,
                          ce=ce, extra={"found_by": "search"})
    subs.sort(key=lambda s_: -s_.sound_upper)
    run = _MilpRun(ctx.solver, ctx.check, score, ctx.box, ctx.clock, ctx.rng)
    if x0 is not None:
        run._note(v0, x0)
    open_subs = [s_ for s_ in subs if not s_.closed]
    uppers = [s_.sound_upper for s_ in subs if s_.closed]
    refuted, unknown = _solve_subs(ctx, run, open_subs, uppers, len(subs), floor=all_upper)
    if refuted is not None:
        return refuted
    ctx.stats.update(run.stats)
    extra = {"sub_problems": len(subs), "closed_by_bounds": len(subs) - len(open_subs)}
    upper = max(uppers) if uppers else -np.inf
    if unknown is not None:
        return ctx.result(Verdict.UNKNOWN, run.best_value, upper, unknown["stop"], reason=unknown["reason"],
                          witness=run.best_x, margin=run.margin, extra=extra)
    cone = ctx.stats.get("cone_bounds", 0) > 0
    soundness = SOUND_MARGIN if (open_subs or cone) else (SOUND_FLOAT if subs else SOUND_EXACT)
    margin = max(run.margin, ctx.stats.get("cone_margin", 0.0)) if (open_subs or cone) else None
    return ctx.result(Verdict.EQUIVALENT, run.best_value, upper, StopReason.PROVED, soundness=soundness,
                      witness=run.best_x, margin=margin, extra=extra)


def _flt(v):
    return None if v is None else float_down(v)


def _sound_upper_any(ctx, pb):
    spec = ctx.spec
    if isinstance(spec, (EpsEquivalence, Distance)):
        subs = _eps_subs(ctx, pb, 0.0)
        return max(s.sound_upper for s in subs)
    if isinstance(spec, Top1Equivalence):
        subs = _top1_subs(ctx, pb)
        return max((s.sound_upper for s in subs), default=-np.inf)
    subs = _decision_subs(ctx, pb)
    return max((s.sound_upper for s in subs), default=-np.inf)


def _milp_distance(ctx: _Ctx, pb: _PairBounds, v0, x0) -> VerificationResult:
    spec = ctx.spec
    score = ctx.score()
    subs = _eps_subs(ctx, pb, 0.0)
    tol_abs = spec.atol
    run = _MilpRun(ctx.solver, ctx.check, score, ctx.box, ctx.clock, ctx.rng,
                   atol=max(0.25 * spec.atol, 1e-9), rtol=0.25 * spec.rtol)
    if x0 is not None:
        run._note(v0, x0)
    uppers = []
    stop, reason = StopReason.TOLERANCE, ""
    for n_done, sub in enumerate(subs):
        lower = float_down(run.best_value) if run.best_value is not None else 0.0
        if sub.sound_upper <= lower:
            uppers.append(sub.sound_upper)
            continue
        if ctx.clock.out():
            uppers.append(sub.sound_upper)
            stop, reason = StopReason.TIME_LIMIT, "time limit reached"
            continue
        problem = sub.build()
        m = tolerance_margin(problem, run.tol)
        run.margin = max(run.margin, m)
        run.stats["n_binaries"] = max(run.stats["n_binaries"], problem.n_integer)
        out = run._solve(problem, stop_if_dual_below=lower - m)
        if out.input_x is not None:
            ce, v = run.check(out.input_x)
            run._note(v, out.input_x)
        if out.status == "infeasible":   # cannot be: every input of the box is feasible
            uppers.append(sub.sound_upper)
            stop, reason = StopReason.NUMERICAL, (f"{sub.name}: numerical trouble: the solver calls the model "
                                                  "infeasible, but every input of the box is feasible")
            continue
        up = sub.sound_upper if out.dual_bound is None else min(sub.sound_upper, out.dual_bound + m)
        uppers.append(up)
        if out.status in ("time_limit", "node_limit", "error"):
            stop = {"time_limit": StopReason.TIME_LIMIT, "node_limit": StopReason.NODE_LIMIT}.get(
                out.status, StopReason.SOLVER_ERROR)
            reason = f"{sub.name}: {out.stop_reason}"
        ctx.report(nodes=run.stats["nodes"], lower=_flt(run.best_value), upper=max(uppers), open=len(subs) - n_done - 1)
    ctx.stats.update(run.stats)
    lower = run.best_value if run.best_value is not None else Fraction(0)
    upper = max(max(uppers), float_up(lower))
    done = upper - float_down(lower) <= max(tol_abs, spec.rtol * upper)
    if stop is StopReason.TOLERANCE and not done:
        stop, reason = StopReason.NUMERICAL, ("stopped before the tolerance: the solver margin "
                                              f"{run.margin:.3g} is wider than the requested tolerance")
    return ctx.result(Verdict.UNKNOWN, lower, upper, stop, reason=reason if not done else "",
                      soundness=SOUND_MARGIN, witness=run.best_x, margin=run.margin,
                      extra={"sub_problems": len(subs)})
