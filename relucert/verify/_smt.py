"""z3 engine for :func:`relucert.verify.solve.verify_with_solver` (``method="smt"``).

Every query is ``exists x in B: violation`` over the exact real function of the stored float64
weights, so ``unsat`` proves the claim on ``B`` exactly.  Rigorous (outward-rounded) CROWN and
differential bounds on ``B`` fix the stable neurons and are asserted as lemmas; they are
mathematical enclosures, so they do not weaken the proof.

z3 alone often struggles as soon as a pair has a few dozen unstable ReLUs (it enumerates phase
combinations; structured rewrites can still be easy), so the engine is a small portfolio: z3 on
the whole box first (for rewrites with different layer sizes and for ``eps = 0``, where
splitting is weakest) for ``SMT_ROOT_SHARE`` of the remaining time (``SMT_ROOT_BUDGET`` seconds
without a limit), then the box is split and a sub-box goes to z3 once its bounds leave at most
``SMT_LEAF_UNSTABLE`` unstable neurons (or it cannot be split further).  Only the sub-problems
the leaf's bounds leave open are asked.  With ``prune=True`` (the default) a leaf whose rigorous
float bounds already prove the claim is closed without z3; ``result.soundness`` is then
``"float-sound"`` when any leaf was closed that way, and ``"exact"`` only when z3 closed every
leaf (always the case for claims at a threshold the bounds cannot reach, e.g. ``eps = 0``).

A ``sat`` model is re-evaluated exactly; it is reported rounded to float64 when the rounded
point still violates, else as exact rationals.
"""

from __future__ import annotations

import copy
from fractions import Fraction

import numpy as np

from ..box import Box
from .result import StopReason, Verdict, float_down, float_up
from .spec import DecisionEquivalence, Distance, EpsEquivalence, Top1Equivalence
from .solve import (SOUND_EXACT, SOUND_FLOAT, _decision_subs, _eps_subs, _pair_bounds, _search,
                    _sound_upper_any, _top1_subs)

SMT_LEAF_UNSTABLE = 8
SMT_ROOT_SHARE = 0.4        # share of the remaining time z3 gets on the whole box first
SMT_ROOT_BUDGET = 10.0      # seconds for that first try when there is no time limit


def _solve(ctx, problem, budget=None):
    from ..solvers.z3_backend import Z3Solver

    left = ctx.clock.left()
    if budget is not None:
        left = budget if left is None else min(left, budget)
    try:
        out = Z3Solver(seed=0).check(problem, time_limit=None if left is None else max(left, 0.05))
    except Exception as exc:  # noqa: BLE001 - a crashed backend is an UNKNOWN, never a verdict
        from ..solvers.z3_backend import SmtOutcome

        out = SmtOutcome("unknown", None, None, None, f"solver z3 failed: {type(exc).__name__}: {exc}", 0.0)
    ctx.stats["smt_queries"] = ctx.stats.get("smt_queries", 0) + 1
    return out


def _confirm(ctx, x_exact):
    """Exact check of a z3 model: prefer the float64-rounded point, else the exact rationals."""
    ce, _ = ctx.check([Fraction(float(v)) for v in x_exact])
    if ce is not None:
        return ce
    ce, _ = ctx.check(x_exact)
    return ce


def _subs(ctx, pb, threshold):
    spec = ctx.spec
    if isinstance(spec, (EpsEquivalence, Distance)):
        return _eps_subs(ctx, pb, threshold)
    if isinstance(spec, Top1Equivalence):
        return _top1_subs(ctx, pb)
    return _decision_subs(ctx, pb)


def _query(ctx, box: Box, pb, subs, threshold):
    """The z3 problem ``exists x in box: some open sub-problem is violated``."""
    from ..encode.smt import SmtBuilder

    spec = ctx.spec
    b = SmtBuilder(box)
    F = b.add_network(ctx.f, pb.bf, tag="f")
    G = b.add_network(ctx.g, pb.bg, tag="g")
    if isinstance(spec, (EpsEquivalence, Distance)):
        b.add_any([({F.outputs[k]: sign, G.outputs[k]: -sign}, ">", threshold) for (_, k, sign) in
                   (s.key for s in subs)])
        if ctx.excluded:
            b.add_excluded_polytopes(ctx.excluded)
        return b.build()
    if isinstance(spec, Top1Equivalence):
        # one disjunct per open class i: f picks i with the margin and g does not pick i
        import z3

        K = ctx.f.n_outputs
        d = Fraction(spec.margin)
        ex = b.build().exprs
        parts = []
        for (_, i) in (s.key for s in subs):
            lead = []
            for j in range(K):
                if j == i:
                    continue
                diff = ex[F.outputs[i]] - ex[F.outputs[j]]
                lead.append(diff >= _q(d, b.ctx))
                if j < i:
                    lead.append(diff > 0)
            gv = [ex[G.outputs[j]] - ex[G.outputs[i]] >= 0 if j < i else ex[G.outputs[j]] - ex[G.outputs[i]] > 0
                  for j in range(K) if j != i]
            parts.append(z3.And(*lead, z3.Or(*gv)))
        b.add_expr(z3.Or(*parts))
        return b.build()
    import z3

    ex = b.build().exprs
    parts = []
    for key in (s.key for s in subs):
        if key == ("pos",):
            parts.append(z3.And(ex[F.outputs[0]] >= _q(Fraction(spec.tau_f) + Fraction(spec.gamma), b.ctx),
                                ex[G.outputs[0]] <= _q(spec.tau_g, b.ctx)))
        else:
            parts.append(z3.And(ex[F.outputs[0]] <= _q(Fraction(spec.tau_f) - Fraction(spec.gamma), b.ctx),
                                ex[G.outputs[0]] > _q(spec.tau_g, b.ctx)))
    b.add_expr(z3.Or(*parts))
    return b.build()


def _q(v, ctx):
    from ..encode.smt import _q as q

    return q(v, ctx)


def _n_unstable(pb) -> int:
    n = 0
    for lo, hi in list(pb.bf[:-1]) + list(pb.bg[:-1]):
        n += int(np.count_nonzero((lo < 0) & (hi > 0)))
    return n


def _decide(ctx, threshold, *, prune: bool = True, root_try: bool = False):
    """Split the box until z3 (or, with ``prune``, the bounds) closes every leaf.

    Returns ``(status, payload)``: ``("proved", {"z3": n, "bounds": n})``, ``("refuted", ce)`` or
    ``("unknown", (stop, reason))``."""
    root = ctx.box
    width0 = np.where(root.width > 0, root.width, 1.0)
    stack = [(root.lo.copy(), root.hi.copy())]
    counts = {"z3": 0, "bounds": 0, "leaves": 0, "root_tried": False}
    while stack:
        if ctx.clock.out():
            return "unknown", (StopReason.TIME_LIMIT, "time limit reached"), counts
        lo, hi = stack.pop()
        leaf = Box(lo, hi)
        lctx = copy.copy(ctx)
        lctx.box = leaf
        pb = _pair_bounds(ctx.f, ctx.g, leaf, tighten=False, clock=ctx.clock)
        subs = _subs(lctx, pb, threshold)
        open_subs = [s for s in subs if not s.closed]
        if not open_subs and prune:
            counts["bounds"] += 1
            counts["leaves"] += 1
            continue
        if not open_subs:
            open_subs = subs
        if not open_subs:  # nothing to ask (e.g. no class can win here): the claim holds on the leaf
            counts["z3"] += 1
            counts["leaves"] += 1
            continue
        w = (hi - lo) / width0
        axis = int(np.argmax(w))
        mid = 0.5 * lo[axis] + 0.5 * hi[axis]
        splittable = lo[axis] < mid < hi[axis]
        if _n_unstable(pb) > SMT_LEAF_UNSTABLE and splittable and root_try and counts["leaves"] == 0 \
                and not counts["root_tried"]:
            # portfolio: z3 on the whole box first (structured pairs, e.g. rewrites, are often
            # easy for it), for a share of the time; splitting takes over if it does not finish
            counts["root_tried"] = True
            left = ctx.clock.left()
            budget = SMT_ROOT_BUDGET if left is None else SMT_ROOT_SHARE * left
            out = _solve(ctx, _query(lctx, leaf, pb, open_subs, threshold), budget=budget)
            if out.status == "unsat":
                counts["z3"] += 1
                counts["leaves"] += 1
                continue
            if out.status == "sat":
                ce = _confirm(ctx, out.x)
                if ce is not None:
                    return "refuted", ce, counts
        if _n_unstable(pb) > SMT_LEAF_UNSTABLE and splittable:
            lo2, hi1 = lo.copy(), hi.copy()
            hi1[axis] = mid
            lo2[axis] = mid
            stack.append((lo2, hi.copy()))
            stack.append((lo.copy(), hi1))
            continue
        out = _solve(ctx, _query(lctx, leaf, pb, open_subs, threshold))
        counts["leaves"] += 1
        if out.status == "unsat":
            counts["z3"] += 1
            continue
        if out.status == "sat":
            ce = _confirm(ctx, out.x)
            if ce is None:  # pragma: no cover - would be an encoding bug
                return "unknown", (StopReason.NUMERICAL, "z3 model fails the exact re-evaluation"), counts
            return "refuted", ce, counts
        timed = ctx.clock.out() or "timeout" in out.reason or "canceled" in out.reason
        return "unknown", (StopReason.TIME_LIMIT if timed else StopReason.SOLVER_ERROR,
                           "time limit reached" if timed else out.reason), counts
    return "proved", None, counts


def run(ctx):
    spec = ctx.spec
    pb = _pair_bounds(ctx.f, ctx.g, ctx.box, tighten=False, clock=ctx.clock)
    ctx.stats["bounds"] = "crown+differential" if pb.dd is not None else "crown"
    ce, v0, x0 = _search(ctx.box, ctx.score(), ctx.check, ctx.rng, n=256, top=4)
    upper0 = _sound_upper_any(ctx, pb)
    if isinstance(spec, Distance):
        return _distance(ctx, upper0, v0, x0)
    if ce is not None:
        return ctx.result(Verdict.NOT_EQUIVALENT, ce.value, max(float_up(ce.value), upper0), StopReason.REFUTED, ce=ce,
                          extra={"found_by": "search"})
    thr = spec.eps if isinstance(spec, EpsEquivalence) else 0.0
    # z3 on the whole box first only where splitting is weak: rewrites (different layer sizes)
    # and exact-equality claims, which no float bound can close
    status, payload, counts = _decide(ctx, thr, root_try=ctx.f.sizes != ctx.g.sizes or thr == 0)
    ctx.stats.update({"leaves": counts["leaves"], "leaves_z3": counts["z3"], "leaves_bounds": counts["bounds"]})
    if status == "refuted":
        return ctx.result(Verdict.NOT_EQUIVALENT, payload.value, max(float_up(payload.value), upper0), StopReason.REFUTED,
                          ce=payload, extra={"found_by": "z3"})
    if status == "unknown":
        stop, reason = payload
        return ctx.result(Verdict.UNKNOWN, v0, upper0, stop, reason=reason, witness=x0)
    upper = min(spec.eps, upper0) if isinstance(spec, EpsEquivalence) else min(0.0, upper0)
    sound = SOUND_EXACT if counts["bounds"] == 0 else SOUND_FLOAT
    why = ("z3: no input violates the claim (exact rational arithmetic)" if sound == SOUND_EXACT else
           f"z3 closed {counts['z3']} sub-boxes exactly, rigorous float bounds closed {counts['bounds']}")
    return ctx.result(Verdict.EQUIVALENT, v0, upper, StopReason.PROVED, soundness=sound, witness=x0, reason=why)


def _distance(ctx, upper0, v0, x0):
    """Exact bisection on the threshold: a proof at ``t`` lowers the upper end to ``t``; a
    counterexample raises the lower end to its exact value."""
    spec = ctx.spec
    lower = v0 if v0 is not None else Fraction(0)
    best_x = x0
    upper = Fraction(upper0)
    upper = max(upper, lower)
    stop, reason = StopReason.TOLERANCE, ""
    all_exact = True
    while upper - lower > max(Fraction(spec.atol), Fraction(spec.rtol) * upper):
        if ctx.clock.out():
            stop, reason = StopReason.TIME_LIMIT, "time limit reached"
            break
        t = float((lower + upper) / 2)
        if not (lower < Fraction(t) < upper):
            stop, reason = StopReason.NUMERICAL, "the bracket is narrower than float64 spacing"
            break
        ectx = copy.copy(ctx)
        ectx.spec = EpsEquivalence(t, outputs=spec.outputs)
        status, payload, counts = _decide(ectx, t)
        if status == "proved":
            upper = Fraction(t)
            all_exact = all_exact and counts["bounds"] == 0
        elif status == "refuted":
            lower, best_x = payload.value, payload.x
        else:
            stop, reason = payload
            break
        ctx.report(nodes=ctx.stats.get("smt_queries", 0), lower=float_down(lower), upper=float_up(upper), open=0)
    return ctx.result(Verdict.UNKNOWN, lower, upper, stop, reason=reason,
                      soundness=SOUND_EXACT if all_exact else SOUND_FLOAT, witness=best_x)
