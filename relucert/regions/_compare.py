"""Exact checks of two networks on a box through their common linear regions.

This is relucert's *exact* prover for low input dimension: every verdict is backed by rational
arithmetic.  In 1D the common breakpoints are computed exactly and ``|f - g|`` is affine between
them, so the sup over the box (minus excluded intervals) is a maximum over finitely many exact
points.  In nD the common refinement of both nets' regions is enumerated (``_enum``) and on each
cell the affine difference is bounded by an LP whose bound is certified by exact duals.
"""

from __future__ import annotations

import math
import time
from fractions import Fraction
from typing import Sequence

import numpy as np

from ..box import Box
from ..errors import SpecError
from ..network import Network
from ..verify.result import Counterexample, StopReason, Verdict, VerificationResult, float_down, float_up
from ..verify.spec import DecisionEquivalence, EpsEquivalence, Polytope
from ._enum import _err_bound, _plane_ints, _plane_num, _vints, cell_radius, enumerate_cells
from ._exactlp import certified_min, dot_exact
from ._oned import activation_intervals_1d

__all__ = ["compare_exact", "allowed_intervals_1d"]


def _float_candidates(x: Fraction) -> list[float]:
    f = float(x)
    return [f, float(np.nextafter(f, -np.inf)), float(np.nextafter(f, np.inf))]


def allowed_intervals_1d(lo: Fraction, hi: Fraction, excluded: Sequence[Polytope] | None) -> list[tuple[Fraction, Fraction]]:
    """``[lo, hi]`` minus the interiors of the 1D polytopes ``excluded``, as closed intervals."""
    cuts = []
    for p in excluded or ():
        l, u = Fraction(-10**400), Fraction(10**400)
        empty = False
        for row, b in zip(p.A, p.b):
            a = Fraction(float(row[0]))
            bb = Fraction(float(b))
            if a > 0:
                u = min(u, bb / a)
            elif a < 0:
                l = max(l, bb / a)
            elif bb < 0:
                empty = True
        if not empty and l < u:
            cuts.append((l, u))
    cuts.sort()
    out = []
    cur = lo
    for l, u in cuts:
        if u <= cur:
            continue
        if l > cur:
            out.append((cur, min(l, hi)))
        cur = max(cur, u)
        if cur >= hi:
            break
    if cur <= hi:
        out.append((cur, hi))
    return [(a, b) for a, b in out if a <= b and a <= hi and b >= lo]


def _result(verdict, spec, lower, upper, stop, t0, f, g, box, *, reason="", ce=None, stats=None, soundness=None):
    st = {"time_s": time.perf_counter() - t0}
    st.update(stats or {})
    # the bracket rounded outwards (lower, upper are exact Fractions or floats)
    return VerificationResult(verdict=verdict, spec=spec, lower=float_down(lower), upper=float_up(upper),
                              method="regions-exact", stop_reason=stop, reason=reason, soundness=soundness,
                              counterexample=ce, witness_x=None if ce is None else ce.x, stats=st,
                              f_digest=f.digest, g_digest=g.digest, box=box)


def _eps_1d(f: Network, g: Network, box: Box, spec: EpsEquivalence, outputs, t0):
    lo, hi = Fraction(float(box.lo[0])), Fraction(float(box.hi[0]))
    pts = {lo, hi}
    for net in (f, g):
        for a, b, _, _ in activation_intervals_1d(net, lo, hi):
            pts.add(a)
            pts.add(b)
    allowed = allowed_intervals_1d(lo, hi, spec.excluded)
    for a, b in allowed:
        pts.add(a)
        pts.add(b)
    pts = sorted(p for p in pts if any(a <= p <= b for a, b in allowed))
    eps = Fraction(spec.eps)
    worst, wx = Fraction(-1), None
    dist = []
    for p in pts:
        fy, gy = f.eval_exact([p]), g.eval_exact([p])
        d = max(abs(fy[k] - gy[k]) for k in outputs)
        dist.append(d)
        if d > worst:
            worst, wx = d, p
    stats = {"points": len(pts)}
    if worst <= eps:
        return _result(Verdict.EQUIVALENT, spec, worst, worst, StopReason.PROVED, t0, f, g, box, stats=stats,
                       soundness="exact")
    # the sup is attained at a rational point; report a float64 point that violates exactly
    best = None
    cands = [wx] + [p for _, p in sorted(zip(dist, pts), key=lambda t: -t[0])[:8]]
    for c in cands:
        for xf in _float_candidates(c):
            xq = Fraction(xf)
            if not (lo <= xq <= hi) or not any(a <= xq <= b for a, b in allowed):
                continue
            if spec.excluded and any(p.interior_contains_exact([xq]) for p in spec.excluded):
                continue
            fy, gy = f.eval_exact([xq]), g.eval_exact([xq])
            d = max(abs(fy[k] - gy[k]) for k in outputs)
            if d > eps and (best is None or d > best.value):
                best = Counterexample(x=[xq], f=fy, g=gy, value=d, detail=f"|f - g| = {float(d):.6g} > eps = {float(eps):g}")
        if best is not None:
            break
    if best is not None:
        return _result(Verdict.NOT_EQUIVALENT, spec, best.value, worst, StopReason.REFUTED, t0, f, g, box,
                       ce=best, stats=stats)
    return _result(Verdict.UNKNOWN, spec, 0.0, worst, StopReason.NUMERICAL, t0, f, g, box, stats=stats,
                   reason=f"sup |f - g| = {float(worst):.6g} > eps is attained at a rational point with no violating float64 neighbour")


def _cell_points(cell, n):
    """Exact candidate points inside a cell: the centre and small moves along the axes."""
    if cell.center is None:
        return []
    c = np.asarray(cell.center, dtype=np.float64)
    out = [c]
    r = max(cell_radius(cell), 0.0) / 2
    for k in range(n):
        for s in (1, -1):
            e = c.copy()
            e[k] += s * r
            out.append(e)
    return out


def _eps_nd(f, g, box, spec, outputs, t0, *, max_cells):
    cells, st = enumerate_cells([f, g], box, max_cells=max_cells, absorb_slivers=True)
    xabs = [max(abs(Fraction(float(l))), abs(Fraction(float(h)))) for l, h in zip(box.lo, box.hi)]
    n = f.n_inputs
    eps = Fraction(spec.eps)
    upper = Fraction(0)
    best = None
    uncertain = 0
    for cell in cells:
        (Af, cf), (Ag, cg) = cell.maps
        Ef, Eg = cell.errors
        for k in outputs:
            da = [a - b for a, b in zip(Af[k], Ag[k])]
            dc = cf[k] - cg[k]
            slack = Ef[k] + Eg[k]   # certified |net - map| from absorbed slivers (0 when exact)
            if cell.vertices is not None:
                # exact polygon: the affine difference peaks at a vertex
                vals = [abs(sum((x * y for x, y in zip(da, v)), Fraction(0)) + dc) for v in cell.vertices]
                bound = max(vals) + slack
                upper = max(upper, bound)
                cand = []
                if bound > eps:
                    cand = [np.clip(np.array([float(t) for t in v]), box.lo, box.hi) for v, val in
                            sorted(zip(cell.vertices, vals), key=lambda p: -p[1])[:3]]
                    cand += _cell_points(cell, n)
            elif all(v == 0 for v in da):
                bound = abs(dc) + slack
                if bound > eps and cell.certified:
                    cand = _cell_points(cell, n)
                else:
                    cand = []
                upper = max(upper, bound)
            else:
                cand = []
                bound = None
                for sgn in (1, -1):
                    # max sgn*d = -min(-sgn*d)
                    m, xlp = certified_min([-sgn * v for v in da], cell.rows, cell.rhs, cell.G, cell.g, xabs)
                    if xlp is not None:
                        cand.append(np.clip(xlp, box.lo, box.hi))
                    if m is None:
                        uncertain += 1
                        bound = math.inf     # this side is not bounded: the cell's sup is open
                        continue
                    val = -m + sgn * dc + slack
                    bound = val if bound is None else max(bound, val)
                upper = max(upper, bound)
                cand += _cell_points(cell, n)
            if bound is not None and bound > eps:
                for x in cand:
                    xs = [Fraction(float(v)) for v in x]
                    if not box.contains(xs):
                        continue
                    fy, gy = f.eval_exact(xs), g.eval_exact(xs)
                    d = max(abs(fy[j] - gy[j]) for j in outputs)
                    if d > eps and (best is None or d > best.value):
                        best = Counterexample(x=xs, f=fy, g=gy, value=d,
                                              detail=f"|f - g| = {float(d):.6g} > eps = {float(eps):g}")
        if best is not None:
            break
    stats = dict(st)
    if best is not None:
        # stopped at the first refuted cell: the sup over the rest is not known
        return _result(Verdict.NOT_EQUIVALENT, spec, best.value, math.inf, StopReason.REFUTED, t0,
                       f, g, box, ce=best, stats=stats)
    if upper <= eps and not uncertain:
        return _result(Verdict.EQUIVALENT, spec, 0.0, upper, StopReason.PROVED, t0, f, g, box, stats=stats,
                       soundness="exact")
    return _result(Verdict.UNKNOWN, spec, 0.0, upper, StopReason.NUMERICAL, t0, f, g, box, stats=stats,
                   reason=f"{uncertain} cell bound(s) not certified" if uncertain else
                   "bound above eps but no exact counterexample found")


def _excluded_vertices(V, excluded):
    """Vertices of the arrangement of ``excluded``'s facet lines inside the polygon ``V`` that lie
    in no excluded interior: an affine function's sup over ``conv V`` minus the interiors is the
    max over them."""
    from ._enum import clip_vertices

    pieces = [V]
    for P in excluded:
        rows = [[Fraction(float(a)) for a in row] for row in P.A]
        rhs = [Fraction(float(b)) for b in P.b]
        touched, rest = [], []
        for W in pieces:  # a piece on the far side of one of P's lines misses int P: leave it
            if any(all(sum((a * x for a, x in zip(row, v)), Fraction(0)) >= b for v in W) for row, b in zip(rows, rhs)):
                rest.append(W)
            else:
                touched.append(W)
        pieces = touched
        for row, b in zip(rows, rhs):
            nxt = []
            for W in pieces:
                vals = [sum((a * x for a, x in zip(row, v)), Fraction(0)) - b for v in W]
                if all(v >= 0 for v in vals) or all(v <= 0 for v in vals):
                    nxt.append(W)
                    continue
                for sgn in (1, -1):
                    C = clip_vertices(W, vals, sgn)
                    if len(C) >= 3:
                        nxt.append(C)
            pieces = nxt
        pieces = pieces + rest
    out = set()
    for W in pieces:
        for v in W:
            if not any(P.interior_contains_exact(list(v)) for P in excluded):
                out.add(v)
    return sorted(out)


def _eps_2d_excluded(f, g, box, spec, outputs, t0, *, max_cells):
    cells, st = enumerate_cells([f, g], box, max_cells=max_cells)
    eps = Fraction(spec.eps)
    upper = Fraction(0)
    best = None
    npts = 0
    for cell in cells:
        (Af, cf), (Ag, cg) = cell.maps
        pts = _excluded_vertices(cell.vertices, spec.excluded)
        npts += len(pts)
        for k in outputs:
            da = [a - b for a, b in zip(Af[k], Ag[k])]
            dc = cf[k] - cg[k]
            for v in pts:
                d = abs(sum((x * y for x, y in zip(da, v)), Fraction(0)) + dc)
                upper = max(upper, d)
                if d > eps and best is None:
                    # look for a float64 point near v outside every excluded interior
                    for cand in [v] + [tuple((a + b) / 2 for a, b in zip(v, w)) for w in cell.vertices]:
                        xs = [Fraction(float(t)) for t in cand]
                        if not box.contains(xs) or any(P.interior_contains_exact(xs) for P in spec.excluded):
                            continue
                        fy, gy = f.eval_exact(xs), g.eval_exact(xs)
                        dd = max(abs(fy[j] - gy[j]) for j in outputs)
                        if dd > eps:
                            best = Counterexample(x=xs, f=fy, g=gy, value=dd,
                                                  detail=f"|f - g| = {float(dd):.6g} > eps = {float(eps):g}")
                            break
    stats = dict(st)
    stats["points"] = npts
    if best is not None:
        return _result(Verdict.NOT_EQUIVALENT, spec, best.value, max(upper, best.value), StopReason.REFUTED, t0,
                       f, g, box, ce=best, stats=stats)
    if upper <= eps:
        return _result(Verdict.EQUIVALENT, spec, 0.0, upper, StopReason.PROVED, t0, f, g, box, stats=stats,
                       soundness="exact")
    return _result(Verdict.UNKNOWN, spec, 0.0, upper, StopReason.NUMERICAL, t0, f, g, box, stats=stats,
                   reason="sup above eps at a rational point with no violating float64 neighbour")


def _aux_network(excluded, n):
    """A 1-hidden-layer net whose units are the distinct facet rows ``b - a.x`` of ``excluded``
    (zero output): refining by it puts every cell on one side of every facet.  Returns the net and,
    per polytope, its rows as ``(unit, flipped)``."""
    units, index, where = [], {}, []
    for P in excluded:
        rows = []
        for a, b in zip(P.A, P.b):
            a = np.asarray(a, dtype=np.float64) + 0.0
            key = (a.tobytes(), float(b) + 0.0)
            nkey = ((-a + 0.0).tobytes(), -float(b) + 0.0)
            if key in index:
                rows.append((index[key], False))
            elif nkey in index:
                rows.append((index[nkey], True))
            else:
                index[key] = len(units)
                units.append((a, float(b)))
                rows.append((index[key], False))
        where.append(rows)
    W = np.array([-a for a, _ in units]).reshape(len(units), n)
    b = np.array([bb for _, bb in units])
    return Network([(W, b), (np.zeros((1, len(units))), np.zeros(1))]), where


def _outside_interiors(cell, polys_f, polys_q) -> list[bool]:
    """Per vertex of ``cell``: True when it lies in none of the polytopes' interiors (exact; a
    float evaluation with a rigorous error bound decides the clear rows, rationals the rest)."""
    keep = [True] * len(cell.vertices)
    if not polys_f:
        return keep
    if cell.vf is None:
        cell.vf = np.array([[float(t) for t in v] for v in cell.vertices])
    for (A, b), rows in zip(polys_f, polys_q):
        vals = cell.vf @ A.T - b[None, :]
        err = _err_bound(cell, np.abs(A), np.abs(b))
        below = vals < -err              # row strictly satisfied, surely
        out = (vals > err).any(axis=1)   # some row violated, surely: not in the interior
        inside = below.all(axis=1)       # every row strictly satisfied, surely
        for i in np.flatnonzero(inside):
            keep[i] = False
        for i in np.flatnonzero(~out & ~inside):
            if keep[i] and all(below[i, r] or dot_exact(a, cell.vertices[i]) < bb for r, (a, bb) in enumerate(rows)):
                keep[i] = False          # strictly inside this polytope (exact)
    return keep


def _eps_nd_excluded(f, g, box, spec, outputs, t0, *, max_cells):
    """``sup |f - g|`` over the box minus the interiors of the excluded polytopes, exactly (any d).

    The common refinement of f, g and the excluded polytopes' facets puts every cell inside or
    outside each polytope (exact side constraints).  A cell inside none is bounded by certified
    LPs; in a cell inside some ``P`` only its faces on the facets of ``P`` can be outside every
    interior, and those faces are bounded the same way (recursively for the other polytopes that
    contain the cell).  Every bound is a certified dual bound; counterexamples are re-evaluated
    exactly and checked to lie outside every excluded interior."""
    n = f.n_inputs
    excl = list(spec.excluded)
    aux, where = _aux_network(excl, n)
    cells, st = enumerate_cells([f, g, aux], box, max_cells=max_cells, absorb_slivers=False, maps_for=(0, 1))
    xabs = [max(abs(Fraction(float(l))), abs(Fraction(float(h)))) for l, h in zip(box.lo, box.hi)]
    eps = Fraction(spec.eps)
    rowsq = [[([Fraction(float(v)) for v in a], Fraction(float(b))) for a, b in zip(P.A, P.b)] for P in excl]
    rowsf = [(np.asarray(P.A, dtype=np.float64).reshape(-1, n), np.asarray(P.b, dtype=np.float64).reshape(-1))
             for P in excl]
    upper = Fraction(0)
    best = None
    uncertain = 0
    faces = 0

    def lp_sup(da, dc, rows, rhs, G, gg):
        """Certified max |da.x + dc| over the set, and LP points (None if not certified)."""
        bound, pts = None, []
        for sgn in (1, -1):
            m, xlp = certified_min([-sgn * v for v in da], rows, rhs, G, gg, xabs)
            if xlp is not None:
                pts.append(np.clip(xlp, box.lo, box.hi))
            if m is None:
                return None, pts
            val = -m + sgn * dc
            bound = val if bound is None else max(bound, val)
        return bound, pts

    def with_row(rows, rhs, G, gg, row, r):
        fr = np.array([float(v) for v in row])
        return rows + [row], rhs + [r], np.vstack([G, fr[None, :]]), np.concatenate([gg, [float(r)]])

    def face_sup(da, dc, rows, rhs, G, gg, containing, cand):
        """Bound on |d| over the set minus the interiors of the polytopes in ``containing`` (each
        contains the set)."""
        nonlocal faces
        bound, pts = lp_sup(da, dc, rows, rhs, G, gg)
        if not containing:
            cand.extend(pts)
            return bound
        if bound is not None and bound <= eps:
            return bound
        pi = containing[0]
        out = Fraction(0)
        for a, b in rowsq[pi]:
            # the face {a.x >= b} of the set (the set lies in {a.x <= b}); empty if max a.x < b
            m, _ = certified_min([-v for v in a], rows, rhs, G, gg, xabs)
            if m is not None and -m < b:
                continue
            faces += 1
            fr = with_row(rows, rhs, G, gg, [-v for v in a], -b)
            fb = face_sup(da, dc, *fr, containing[1:], cand)
            if fb is None:
                return None
            out = max(out, fb)
        return out if bound is None else min(bound, out)

    for cell in cells:
        (Af, cf), (Ag, cg) = cell.maps[0], cell.maps[1]
        bits = cell.patterns[2][0]
        containing = []
        for pi, rows in enumerate(where):
            inside = all(bits[u] == (0 if flip else 1) for u, flip in rows)
            if inside:
                containing.append(pi)
        if cell.vertices is not None:
            # exact: the part of the cell outside every interior is a union of its faces, so the
            # sup of the affine difference there is attained at a vertex outside every interior
            # (a polytope not containing the cell has a facet the whole cell lies beyond)
            keep = _outside_interiors(cell, [rowsf[pi] for pi in containing], [rowsq[pi] for pi in containing])
            pts = [v for v, ok in zip(cell.vertices, keep) if ok]
            VI = [vi for vi, ok in zip(_vints(cell), keep) if ok]
            for k in outputs:
                da = [a - b for a, b in zip(Af[k], Ag[k])]
                dc = cf[k] - cg[k]
                A, B, L = _plane_ints(da, dc)
                vals = [Fraction(abs(_plane_num((A, B, L), vi)), L * vi[1]) for vi in VI]
                if not vals:
                    continue
                upper = max(upper, max(vals))
                if max(vals) > eps and best is None:
                    for v, val in sorted(zip(pts, vals), key=lambda p: -p[1])[:4]:
                        for cand in [v] + [tuple((a + b) / 2 for a, b in zip(v, w)) for w in pts]:
                            xs = [Fraction(float(t)) for t in cand]
                            if not box.contains(xs) or any(P.interior_contains_exact(xs) for P in excl):
                                continue
                            fy, gy = f.eval_exact(xs), g.eval_exact(xs)
                            dd = max(abs(fy[j] - gy[j]) for j in outputs)
                            if dd > eps:
                                best = Counterexample(x=xs, f=fy, g=gy, value=dd,
                                                      detail=f"|f - g| = {float(dd):.6g} > eps = {float(eps):g}")
                                break
                        if best is not None:
                            break
            if best is not None:
                break
            continue
        for k in outputs:
            da = [a - b for a, b in zip(Af[k], Ag[k])]
            dc = cf[k] - cg[k]
            cand = []
            if all(v == 0 for v in da):
                bound = abs(dc)
                if bound > eps:
                    bound = face_sup(da, dc, cell.rows, cell.rhs, cell.G, cell.g, containing, cand)
                    cand += _cell_points(cell, n)
            else:
                bound = face_sup(da, dc, cell.rows, cell.rhs, cell.G, cell.g, containing, cand)
                if not containing:
                    cand += _cell_points(cell, n)
            if bound is None:
                uncertain += 1
                upper = math.inf     # not bounded on this cell
                continue
            upper = max(upper, bound)
            if bound > eps:
                for x in cand:
                    xs = [Fraction(float(v)) for v in x]
                    if not box.contains(xs) or any(P.interior_contains_exact(xs) for P in excl):
                        continue
                    fy, gy = f.eval_exact(xs), g.eval_exact(xs)
                    dd = max(abs(fy[j] - gy[j]) for j in outputs)
                    if dd > eps and (best is None or dd > best.value):
                        best = Counterexample(x=xs, f=fy, g=gy, value=dd,
                                              detail=f"|f - g| = {float(dd):.6g} > eps = {float(eps):g}")
        if best is not None:
            break
    stats = dict(st)
    stats["faces"] = faces
    if best is not None:
        # stopped at the first refuted cell: the sup over the rest is not known
        return _result(Verdict.NOT_EQUIVALENT, spec, best.value, math.inf, StopReason.REFUTED, t0,
                       f, g, box, ce=best, stats=stats)
    if upper <= eps and not uncertain:
        return _result(Verdict.EQUIVALENT, spec, 0.0, upper, StopReason.PROVED, t0, f, g, box, stats=stats,
                       soundness="exact")
    return _result(Verdict.UNKNOWN, spec, 0.0, upper, StopReason.NUMERICAL, t0, f, g, box, stats=stats,
                   reason=f"{uncertain} cell bound(s) not certified" if uncertain else
                   "bound above eps but no exact counterexample found")


def _decision_nd(f, g, box, spec: DecisionEquivalence, t0, *, max_cells):
    """``f >= tau_f + gamma => g > tau_g`` and ``f <= tau_f - gamma => g <= tau_g``, per cell, exactly."""
    cells, st = enumerate_cells([f, g], box, max_cells=max_cells, absorb_slivers=True)
    xabs = [max(abs(Fraction(float(l))), abs(Fraction(float(h)))) for l, h in zip(box.lo, box.hi)]
    hi_t0 = Fraction(spec.tau_f) + Fraction(spec.gamma)
    lo_t0 = Fraction(spec.tau_f) - Fraction(spec.gamma)
    tg0 = Fraction(spec.tau_g)
    unsure = 0
    for cell in cells:
        (Af, cf), (Ag, cg) = cell.maps
        af, bf = list(Af[0]), cf[0]
        ag, bg = list(Ag[0]), cg[0]
        Ef, Eg = cell.errors[0][0], cell.errors[1][0]
        # with absorbed slivers the nets are within Ef, Eg of the maps: widen the conditions
        hi_t, lo_t = hi_t0 - Ef, lo_t0 + Ef
        if cell.vertices is not None:
            from ._enum import side_vertices

            for side in ("pos", "neg"):
                if side == "pos":
                    V = side_vertices(cell, af, bf - hi_t0, 1)
                else:
                    V = side_vertices(cell, af, bf - lo_t0, -1)
                if not V:
                    continue
                gv = [sum((x * y for x, y in zip(ag, v)), Fraction(0)) + bg for v in V]
                ok = min(gv) > tg0 if side == "pos" else max(gv) <= tg0
                if ok:
                    continue
                # a vertex violates: look for a float64 point nearby that violates exactly
                j = min(range(len(V)), key=lambda i: gv[i]) if side == "pos" else max(range(len(V)), key=lambda i: gv[i])
                cands = [V[j]] + [tuple((a + b) / 2 for a, b in zip(V[j], w)) for w in V]
                cands.append(tuple(sum((v[k] for v in V), Fraction(0)) / len(V) for k in range(len(V[0]))))
                found = None
                for c in cands:
                    xs = [Fraction(float(t)) for t in c]
                    if not box.contains(xs):
                        continue
                    fy, gy = f.eval_exact(xs)[0], g.eval_exact(xs)[0]
                    if (side == "pos" and fy >= hi_t0 and not gy > tg0) or (side == "neg" and fy <= lo_t0 and gy > tg0):
                        found = (xs, fy, gy)
                        break
                if found is None:
                    unsure += 1
                    continue
                xs, fy, gy = found
                ce = Counterexample(x=xs, f=[fy], g=[gy], value=(tg0 - gy) if side == "pos" else (gy - tg0),
                                    detail=(f"f = {float(fy):.6g} >= {float(hi_t0):g} but g = {float(gy):.6g} <= {float(tg0):g}"
                                            if side == "pos" else
                                            f"f = {float(fy):.6g} <= {float(lo_t0):g} but g = {float(gy):.6g} > {float(tg0):g}"))
                return _result(Verdict.NOT_EQUIVALENT, spec, ce.value, math.inf, StopReason.REFUTED, t0, f, g, box,
                               ce=ce, stats=st)
            continue
        for side in ("pos", "neg"):
            tg = tg0 + Eg if side == "pos" else tg0 - Eg
            # pos: on cell with f >= hi_t need g > tg ; neg: on cell with f <= lo_t need g <= tg
            if side == "pos":
                row, rhs = [-v for v in af], bf - hi_t          # -af.x <= bf - hi_t  <=>  f >= hi_t
                obj = ag                                      # min g > tg
            else:
                row, rhs = list(af), lo_t - bf                 # f <= lo_t
                obj = [-v for v in ag]                        # min -g >= -tg
            rows, rhss = cell.rows + [row], cell.rhs + [rhs]
            G = np.vstack([cell.G, np.array([float(v) for v in row])[None, :]])
            gg = np.concatenate([cell.g, [float(rhs)]])
            m, xlp = certified_min(obj, rows, rhss, G, gg, xabs)
            const = bg if side == "pos" else -bg
            if m is not None:
                val = m + const
                ok = val > tg if side == "pos" else val >= -tg
                if ok:
                    continue
            # either the set is empty (prove it) or there is a violation (find it)
            if side == "pos":
                e2, _ = certified_min([-v for v in af], cell.rows, cell.rhs, cell.G, cell.g, xabs)
                if e2 is not None and -e2 + bf < hi_t:
                    continue
            else:
                e2, _ = certified_min(list(af), cell.rows, cell.rhs, cell.G, cell.g, xabs)
                if e2 is not None and e2 + bf > lo_t:
                    continue
            if xlp is not None:
                xs = [Fraction(float(v)) for v in np.clip(xlp, box.lo, box.hi)]
                fy, gy = f.eval_exact(xs)[0], g.eval_exact(xs)[0]
                bad = (fy >= hi_t0 and not gy > tg0) if side == "pos" else (fy <= lo_t0 and gy > tg0)
                if bad:
                    ce = Counterexample(x=xs, f=[fy], g=[gy], value=(tg0 - gy) if side == "pos" else (gy - tg0),
                                        detail=(f"f = {float(fy):.6g} >= {float(hi_t0):g} but g = {float(gy):.6g} <= {float(tg0):g}"
                                                if side == "pos" else
                                                f"f = {float(fy):.6g} <= {float(lo_t0):g} but g = {float(gy):.6g} > {float(tg0):g}"))
                    return _result(Verdict.NOT_EQUIVALENT, spec, ce.value, math.inf, StopReason.REFUTED, t0, f, g, box,
                                   ce=ce, stats=st)
            unsure += 1
    if unsure == 0:
        return _result(Verdict.EQUIVALENT, spec, -math.inf, 0.0, StopReason.PROVED, t0, f, g, box, stats=st,
                       soundness="exact")
    return _result(Verdict.UNKNOWN, spec, -math.inf, math.inf, StopReason.NUMERICAL, t0, f, g, box, stats=st,
                   reason=f"{unsure} cell condition(s) neither certified nor refuted")


def compare_exact(f: Network, g: Network, box: Box, spec, *, max_cells: int | None = 200000) -> VerificationResult:
    """Decide ``spec`` for ``f, g`` on ``box`` exactly through linear regions (low dimension only).

    Supports :class:`EpsEquivalence` (any eps; ``excluded`` polytopes in any dimension) and single-output
    :class:`DecisionEquivalence`.  Verdicts are exact: EQUIVALENT from rational arithmetic,
    NOT_EQUIVALENT with a float64 counterexample re-evaluated exactly on the original weights.
    """
    t0 = time.perf_counter()
    if f.n_inputs != g.n_inputs or f.n_outputs != g.n_outputs:
        raise SpecError(f"networks differ in shape: {f.sizes} vs {g.sizes}")
    box.check_dim(f.n_inputs, what="networks")
    if isinstance(spec, EpsEquivalence):
        outputs = spec.outputs_for(f.n_outputs)
        if f.n_inputs == 1:
            return _eps_1d(f, g, box, spec, outputs, t0)
        if spec.excluded:
            # cells refined by the excluded facets, exact at the cells' vertices (2D: also
            # _eps_2d_excluded, the arrangement of the facet lines inside each cell; slower, kept
            # as a cross-check, tests/test_regions_excluded.py)
            return _eps_nd_excluded(f, g, box, spec, outputs, t0, max_cells=max_cells)
        return _eps_nd(f, g, box, spec, outputs, t0, max_cells=max_cells)
    if isinstance(spec, DecisionEquivalence):
        if f.n_outputs != 1:
            raise SpecError(f"decision equivalence needs single-output networks, got {f.n_outputs} outputs")
        return _decision_nd(f, g, box, spec, t0, max_cells=max_cells)
    raise SpecError(f"exact region comparison supports EpsEquivalence and DecisionEquivalence, got {type(spec).__name__}")
