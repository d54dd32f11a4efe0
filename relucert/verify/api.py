"""The verification entry points: :func:`verify` and :func:`distance`."""

from __future__ import annotations

import contextlib

import time
from fractions import Fraction

import numpy as np

from ..box import Box
from ..errors import ShapeError, SpecError
from ..network import Network
from ._helpers import check_workers
from .result import Counterexample, StopReason, VerificationResult, Verdict, float_down, short_number
from .spec import DecisionEquivalence, Distance, EpsEquivalence, Spec, Top1Equivalence

__all__ = ["verify", "distance", "METHODS", "exact_eps_counterexample"]

METHODS = ("auto", "bab", "milp", "smt", "regions", "bounds")


def _check_pair(f: Network, g: Network, box: Box) -> None:
    if not isinstance(f, Network) or not isinstance(g, Network):
        raise SpecError(f"f and g must be Network objects, got {type(f).__name__} and {type(g).__name__}")
    if f.n_inputs != g.n_inputs:
        raise ShapeError(f"f has {f.n_inputs} inputs but g has {g.n_inputs}")
    if f.n_outputs != g.n_outputs:
        raise ShapeError(f"f has {f.n_outputs} outputs but g has {g.n_outputs}")
    if not isinstance(box, Box):
        raise SpecError(f"box must be a relucert.Box, got {type(box).__name__}")
    box.check_dim(f.n_inputs, what="networks")


def _check_options(method, time_limit, node_limit):
    if method not in METHODS:
        raise SpecError(f"method must be one of {', '.join(METHODS)}, got method={method!r}")
    if time_limit is not None and not (float(time_limit) > 0):
        raise SpecError(f"time_limit must be > 0 seconds, got time_limit={time_limit!r}")
    if node_limit is not None and not (int(node_limit) >= 1):
        raise SpecError(f"node_limit must be >= 1, got node_limit={node_limit!r}")


def exact_eps_counterexample(f: Network, g: Network, x, outputs, eps: float, box: Box,
                             excluded=None) -> Counterexample | None:
    """Exact re-evaluation of a candidate: the Counterexample if ``max_k |f_k - g_k| > eps`` at
    ``x`` exactly (and ``x`` lies in the box and outside the excluded interiors), else None."""
    xs = [v if isinstance(v, Fraction) else Fraction(float(v)) for v in list(x)]
    if not box.contains(xs):
        return None
    if excluded and any(p.interior_contains_exact(xs) for p in excluded):
        return None
    fy = f.eval_exact(xs)
    gy = g.eval_exact(xs)
    worst, wk = Fraction(-1), -1
    for k in outputs:
        d = abs(fy[k] - gy[k])
        if d > worst:
            worst, wk = d, k
    e = Fraction(float(eps))
    if worst > e:
        return Counterexample(x=xs, f=fy, g=gy, value=worst,
                              detail=f"output {wk}: |f - g| = {short_number(worst)} > eps = {float(eps):g}")
    return None


def _exact_value(f, g, x, outputs) -> Fraction:
    xs = [Fraction(float(v)) for v in np.asarray(x, dtype=np.float64)]
    fy, gy = f.eval_exact(xs), g.eval_exact(xs)
    return max(abs(fy[k] - gy[k]) for k in outputs)


def _equal_nets_prove(spec: Spec) -> bool:
    """Whether ``f == g`` (as functions) implies ``spec``.  Not always for decision claims:
    ``f >= tau_f + gamma => g > tau_g`` needs ``tau_g < tau_f + gamma`` (at ``f = tau_f + gamma``)
    and ``f <= tau_f - gamma => g <= tau_g`` needs ``tau_f - gamma <= tau_g``."""
    if isinstance(spec, DecisionEquivalence):
        tf, tg, gm = Fraction(spec.tau_f), Fraction(spec.tau_g), Fraction(spec.gamma)
        return tf - gm <= tg < tf + gm
    return True


def _identical(f: Network, g: Network, spec: Spec, box: Box, t0: float) -> VerificationResult | None:
    if f.digest != g.digest or not _equal_nets_prove(spec):
        return None
    return VerificationResult(
        verdict=Verdict.EQUIVALENT, spec=spec, lower=0.0, upper=0.0, method="identical",
        stop_reason=StopReason.PROVED, soundness="exact", reason="f and g have identical weights",
        stats={"time_s": time.perf_counter() - t0, "nodes": 0}, f_digest=f.digest, g_digest=g.digest, box=box)


def _structural(f: Network, g: Network, spec: Spec, box: Box, t0: float) -> VerificationResult | None:
    """EQUIVALENT when g is an exact rewrite of f (unit permutation, duplication, positive scaling,
    dead units, identity layers, ``deepen``), found in floats and confirmed by exact identities of
    the weights; None otherwise."""
    if isinstance(spec, Distance) or (isinstance(spec, EpsEquivalence) and spec.excluded):
        return None
    if not _equal_nets_prove(spec):
        return None
    if f.canonical().digest == g.canonical().digest:
        how = "f and g are equal up to the order of hidden units and units that never matter"
    else:
        from ..certify.structural import find_structural_proof

        if f.n_params + g.n_params > 2_000_000 or find_structural_proof(f, g, box) is None:
            return None
        how = "g is an exact rewrite of f (unit maps confirmed by exact weight identities)"
    return VerificationResult(
        verdict=Verdict.EQUIVALENT, spec=spec, lower=0.0, upper=0.0, method="structural",
        stop_reason=StopReason.PROVED, soundness="exact", reason=how,
        stats={"time_s": time.perf_counter() - t0, "nodes": 0}, f_digest=f.digest, g_digest=g.digest, box=box)


#: BLAS threads during a verification call (``None``: leave BLAS as it is).  The bound engines do
#: many small matrix products, for which BLAS threads add nothing but spinning: on 2 cores, ACAS
#: instances 011 and 036 took the same wall time (55 s against 57 s) and twice the CPU with 2
#: threads (103.6 s user against 45.9 s).
BLAS_THREADS: int | None = 1


def _blas_limit():
    if BLAS_THREADS is None:
        return contextlib.nullcontext()
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=int(BLAS_THREADS), user_api="blas")


def verify(f: Network, g: Network, box: Box, spec: Spec, *, method: str = "auto",
           time_limit: float | None = None, node_limit: int | None = None, progress=None,
           seed: int = 0, solver: str = "highs", batch: int = 64, tighten: bool = False,
           workers: int = 1) -> VerificationResult:
    """Prove or refute ``spec`` for networks ``f`` and ``g`` on ``box``.

    Returns a :class:`~relucert.verify.result.VerificationResult`:

    * EQUIVALENT only with a sound proof (``soundness`` says which kind);
    * NOT_EQUIVALENT only with a counterexample re-evaluated exactly on the original weights;
    * UNKNOWN otherwise, with the reason and the best bracket known.

    ``method``: ``"auto"`` (identical nets, and nets that are exact structural rewrites of each
    other, are settled at once without a solver; eps = 0 is decided exactly, by linear regions in
    one or two dimensions and by z3 otherwise; low input dimension goes to input-splitting branch
    and bound, which for a pair of different shapes is a portfolio: BaB for a quarter of the time
    limit, then MILP, then in 1D/2D the exact region comparison -- MILP first for small pairs,
    see ``_eps_portfolio``; otherwise MILP), ``"bab"``, ``"milp"``, ``"smt"`` (z3, exact), ``"regions"``
    (exact comparison region by region, input dimension <= 2 or so) or ``"bounds"`` (one bound
    pass, no search).  Top-1, decision and excluded-set specs
    always go to a solver (``"milp"`` unless ``"smt"`` is asked for).

    ``solver`` (MILP backend: ``"highs"``, ``"pulp"`` = CBC, or ``"pulp:<SOLVER>"``) and
    ``tighten`` (LP bound tightening before the MILP) apply to ``method="milp"``; see
    :mod:`relucert.verify.solve` for what each ``result.soundness`` value guarantees.

    ``workers`` (default 1): processes that share each step of the input-splitting branch and
    bound (``workers - 1`` helpers are forked for the call; the search is the same, the wall time
    shorter; see :class:`~relucert.verify.bab.DistanceBaB`).  ``time_limit`` is wall time.

    BLAS runs on :data:`BLAS_THREADS` threads (default 1) during the call and is restored after.

    Overflow to infinity inside the bound engines (huge weights or boxes) is part of their sound
    arithmetic (an infinite bound proves nothing and is reported as such), so numpy's overflow
    and invalid-value warnings are silenced for the call.
    """
    bab_opts = {"batch": batch, "workers": check_workers(workers)}
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"), _blas_limit():
        return _verify(f, g, box, spec, method=method, time_limit=time_limit, node_limit=node_limit,
                       progress=progress, seed=seed, solver=solver, bab_opts=bab_opts, tighten=tighten)


def _verify(f, g, box, spec, *, method, time_limit, node_limit, progress, seed, solver, bab_opts, tighten):
    t0 = time.perf_counter()
    _check_pair(f, g, box)
    _check_options(method, time_limit, node_limit)
    if not isinstance(spec, Spec):
        raise SpecError(f"spec must be a relucert spec (EpsEquivalence, Distance, ...), got {type(spec).__name__}")
    outputs = spec.outputs_for(f.n_outputs) if isinstance(spec, (EpsEquivalence, Distance)) else None
    if method in ("auto", "bab", "bounds") and not (isinstance(spec, EpsEquivalence) and spec.excluded):
        res = _identical(f, g, spec, box, t0)
        if res is not None:
            return res
    if method == "auto":
        res = _structural(f, g, spec, box, t0)
        if res is not None:
            return res
        if isinstance(spec, EpsEquivalence) and spec.eps == 0:
            # float-sound bounds can never close a zero threshold: decide it exactly
            # region cells need a full-dimensional box
            method = "regions" if _regions_feasible(f, g, box) else "smt"
    if method == "regions":
        from ..regions import compare_exact

        res = compare_exact(f, g, box, spec)
        res.stats.setdefault("time_s", time.perf_counter() - t0)
        return res
    if isinstance(spec, (Top1Equivalence, DecisionEquivalence)) or (isinstance(spec, EpsEquivalence) and spec.excluded):
        if method in ("auto", "bab", "bounds"):
            method = "milp"
    if method == "auto" and isinstance(spec, EpsEquivalence) and f.n_inputs <= 8 and f.sizes != g.sizes:
        return _eps_portfolio(f, g, box, spec, outputs, time_limit, node_limit, progress, seed, bab_opts, t0,
                              solver=solver, tighten=tighten)
    if method == "auto":
        method = "bab" if f.n_inputs <= 8 else "milp"
    if method in ("milp", "smt"):
        from .solve import verify_with_solver

        return verify_with_solver(f, g, box, spec, method=method, time_limit=time_limit, solver=solver,
                                  progress=progress, t0=t0, tighten=bool(tighten), seed=seed)
    if isinstance(spec, Distance):
        return _distance_bab(f, g, box, spec, outputs, time_limit, node_limit, progress, seed, bab_opts, t0,
                             bounds_only=(method == "bounds"))
    return _eps_bab(f, g, box, spec, outputs, time_limit, node_limit, progress, seed, bab_opts, t0,
                    bounds_only=(method == "bounds"))


#: share of the time limit the portfolio gives input-splitting BaB before the MILP (and the BaB
#: budget in seconds when there is no time limit)
PORTFOLIO_BAB_SHARE = 0.25
PORTFOLIO_BAB_S = 10.0
#: pairs with at most this many ReLUs in all go to the MILP first (it is cheap for them), with this
#: share of the time limit (or this many seconds when there is none), then to the exact region
#: comparison in 1D/2D, then to BaB with what is left (no limit when there is none)
PORTFOLIO_MILP_FIRST_RELUS = 128
PORTFOLIO_MILP_SHARE = 0.5
PORTFOLIO_MILP_S = 10.0


def _regions_feasible(f, g, box) -> bool:
    return (f.n_inputs == 1 or (f.n_inputs == 2 and f.n_relus + g.n_relus <= 400)) and bool(np.all(box.hi > box.lo))


def _eps_portfolio(f, g, box, spec, outputs, time_limit, node_limit, progress, seed, bab_opts, t0, *, solver, tighten):
    """``method="auto"`` for an eps claim on a pair of *different* shapes (a rewrite: deeper,
    narrower, wider).  The differential bounds need matching shapes, and bounding f and g
    separately cannot see their differences cancel, so input-splitting BaB often stalls on exact
    rewrites that a MILP settles at once.  Run BaB for a share of the time, then the MILP with
    what is left, then, in one or two dimensions, the exact region comparison (which settles an
    eps below the MILP's safety margin).  Small pairs (few ReLUs) start with the MILP instead,
    then the region comparison, then BaB; pairs with one input start with the exact breakpoint
    comparison.  The reported bracket is the tightest of all phases; the
    verdict is that of the first phase that decides."""
    from .solve import verify_with_solver

    phases: list[dict] = []
    lower, upper, best, witness = 0.0, float("inf"), None, None

    def left():
        return None if time_limit is None else time_limit - (time.perf_counter() - t0)

    def record(res, name):
        nonlocal lower, upper, best, witness
        res.lower, res.upper = res.lower + 0.0, res.upper + 0.0      # no signed zeros in reports
        phases.append({"method": res.method, "verdict": res.verdict.value, "lower": res.lower, "upper": res.upper,
                       "stop": str(res.stop_reason), "time_s": round(time.perf_counter() - t0, 3)})
        if res.lower > lower or witness is None:
            lower, witness = max(lower, res.lower), (res.witness_x if res.lower >= lower else witness)
        if res.upper < upper:
            upper, best = res.upper, res
        if res.verdict is not Verdict.UNKNOWN:
            res.stats["portfolio"] = phases
            res.method = f"auto:{name}"
            return res
        return None

    def run_bab(budget):
        return _eps_bab(f, g, box, spec, outputs, budget, node_limit, progress, seed, bab_opts, t0, bounds_only=False)

    def run_milp(budget):
        return verify_with_solver(f, g, box, spec, method="milp", time_limit=budget, solver=solver,
                                  progress=progress, t0=t0, tighten=bool(tighten), seed=seed)

    def run_regions(budget):
        from ..regions import compare_exact

        return compare_exact(f, g, box, spec)

    def share(frac, default):
        rest = left()
        return default if rest is None else max(0.0, min(rest, frac * time_limit))

    def has_time():
        rest = left()
        return rest is None or rest > 0.05

    regions = _regions_feasible(f, g, box)
    if regions and f.n_inputs == 1:
        # one input: the exact breakpoint comparison is cheap and decides any eps exactly
        plan = [("regions", run_regions, left), ("milp", run_milp, left)]
    elif f.n_relus + g.n_relus <= PORTFOLIO_MILP_FIRST_RELUS:
        # small pair: its MILP is cheap and sees the two nets' differences cancel
        plan = [("milp", run_milp, lambda: share(PORTFOLIO_MILP_SHARE, PORTFOLIO_MILP_S))]
        plan += [("regions", run_regions, left)] if regions else []
        plan += [("bab", run_bab, left)]
    else:
        plan = [("bab", run_bab, lambda: share(PORTFOLIO_BAB_SHARE, PORTFOLIO_BAB_S)), ("milp", run_milp, left)]
        plan += [("regions", run_regions, left)] if regions else []
    last = None
    for name, run, budget in plan:
        if last is not None and not has_time():
            break
        res = last = run(budget())
        done = record(res, "regions" if name == "regions" else res.method)
        if done is not None:
            return done
    out = best if best is not None else last
    out.lower, out.upper, out.witness_x = lower, max(upper, lower), witness
    out.method = "auto:" + "+".join(p["method"] for p in phases)
    out.reason = "; ".join(f"{p['method']}: {p['stop'].replace('_', ' ')}" for p in phases) + \
        (f" ({out.reason})" if out.reason else "")
    out.stats["portfolio"] = phases
    out.stats["time_s"] = time.perf_counter() - t0
    if time_limit is not None and left() <= 0:
        out.stop_reason = StopReason.TIME_LIMIT
    return out


def _eps_bab(f, g, box, spec, outputs, time_limit, node_limit, progress, seed, bab_opts, t0, *, bounds_only):
    from .bab import DistanceBaB

    bab = DistanceBaB(f, g, outputs, seed=seed, **bab_opts)
    found: dict = {}

    def confirm(x):
        ce = exact_eps_counterexample(f, g, x, outputs, spec.eps, box)
        if ce is not None:
            found["ce"] = ce
            return True
        return False

    out = bab.run(box.lo, box.hi, threshold=spec.eps, time_limit=time_limit,
                  node_limit=1 if bounds_only else node_limit, progress=progress, stop_value=spec.eps,
                  confirm=confirm)
    method = f"bab-{bab.engine}" if not bounds_only else f"bounds-{bab.engine}"
    stats = {**out.stats, "time_s": time.perf_counter() - t0, "nodes": out.nodes, "bound_batches": out.bound_calls,
             "engine": bab.engine}
    common = dict(spec=spec, method=method, stats=stats, f_digest=f.digest, g_digest=g.digest, box=box,
                  tree=out.tree)
    lower = float_down(_exact_value(f, g, out.best_x, outputs)) if out.best_x is not None else 0.0
    if out.status == "found":
        ce = found["ce"]
        return VerificationResult(verdict=Verdict.NOT_EQUIVALENT, lower=float_down(ce.value), upper=max(out.upper, float_down(ce.value)),
                                  stop_reason=StopReason.REFUTED, counterexample=ce, witness_x=ce.x, **common)
    if out.status == "below":
        return VerificationResult(verdict=Verdict.EQUIVALENT, lower=lower, upper=min(out.upper, spec.eps),
                                  stop_reason=StopReason.PROVED, soundness="float-sound",
                                  witness_x=[Fraction(float(v)) for v in out.best_x], **common)
    reason = {"time_limit": "time limit reached", "node_limit": "node limit reached"}.get(out.status, out.status)
    stop = StopReason.TIME_LIMIT if out.status == "time_limit" else StopReason.NODE_LIMIT
    if lower > spec.eps:
        # the best point is a counterexample after all (found at the last step)
        ce = exact_eps_counterexample(f, g, out.best_x, outputs, spec.eps, box)
        if ce is not None:
            return VerificationResult(verdict=Verdict.NOT_EQUIVALENT, lower=float_down(ce.value), upper=max(out.upper, float_down(ce.value)),
                                      stop_reason=StopReason.REFUTED, counterexample=ce, witness_x=ce.x, **common)
    return VerificationResult(verdict=Verdict.UNKNOWN, lower=lower, upper=out.upper, stop_reason=stop,
                              reason=reason, witness_x=None if out.best_x is None else
                              [Fraction(float(v)) for v in out.best_x], **common)


def _distance_bab(f, g, box, spec, outputs, time_limit, node_limit, progress, seed, bab_opts, t0, *, bounds_only):
    from .bab import DistanceBaB

    bab = DistanceBaB(f, g, outputs, seed=seed, **bab_opts)
    out = bab.run(box.lo, box.hi, atol=spec.atol, rtol=spec.rtol, time_limit=time_limit,
                  node_limit=1 if bounds_only else node_limit, progress=progress)
    lower_exact = _exact_value(f, g, out.best_x, outputs)
    lower = float_down(lower_exact)  # the reported lower end is rounded down
    upper = max(out.upper, lower)
    done = out.status == "tolerance"
    stats = {**out.stats, "time_s": time.perf_counter() - t0, "nodes": out.nodes, "bound_batches": out.bound_calls,
             "engine": bab.engine}
    stop = {"tolerance": StopReason.TOLERANCE, "time_limit": StopReason.TIME_LIMIT}.get(out.status, StopReason.NODE_LIMIT)
    return VerificationResult(
        verdict=Verdict.UNKNOWN, spec=spec, lower=lower, upper=upper, method=f"bab-{bab.engine}",
        stop_reason=stop, soundness="float-sound",
        reason="" if done else f"stopped before the tolerance: {out.status.replace('_', ' ')}",
        witness_x=[Fraction(float(v)) for v in out.best_x], stats=stats, f_digest=f.digest,
        g_digest=g.digest, box=box, tree=out.tree)


def distance(f: Network, g: Network, box: Box, *, atol: float = 1e-4, rtol: float = 1e-3,
             outputs=None, method: str = "auto", time_limit: float | None = None,
             node_limit: int | None = None, progress=None, seed: int = 0, workers: int = 1) -> VerificationResult:
    """Bracket ``sup_{x in box} ||f(x) - g(x)||_inf``: ``result.lower`` is attained exactly at
    ``result.witness_x`` and ``result.upper`` is a sound upper bound.  The verdict is UNKNOWN
    (a distance is a number, not a claim); ``stop_reason`` is ``tolerance`` when the bracket
    reached ``max(atol, rtol * upper)``."""
    spec = Distance(atol=atol, rtol=rtol, outputs=outputs)
    return verify(f, g, box, spec, method=method, time_limit=time_limit, node_limit=node_limit,
                  progress=progress, seed=seed, workers=workers)
