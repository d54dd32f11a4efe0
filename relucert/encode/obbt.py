"""Optimization-based bound tightening (OBBT) with LPs of the big-M relaxation.

For hidden layer ``l``, the network truncated after layer ``l`` is encoded with
:class:`~relucert.encode.milp.MilpBuilder` (the current bounds of layers ``< l``), integrality is
dropped (the LP relaxation of one big-M neuron is the triangle relaxation), and each unstable
neuron's pre-activation is maximized and minimized.  One HiGHS instance per layer is reused:
only two objective coefficients change between LPs, so every LP warm-starts from the previous
basis.

Soundness: by default (``safe=True``) the LP optimum is not used as such; the bound is
recomputed from the LP's row duals by :func:`safe_lp_upper` (a Neumaier-Shcherbina bound with
a-priori rounding-error terms) on an encoding whose coefficients are the stored weights, so the
tightened bounds are rigorous whenever the input bounds are.  With ``safe=False`` the float LP
optima padded by ``pad * (1 + |v|)`` are returned: they make MILPs smaller but are **not**
rigorous (a neuron whose true range crosses 0 by less than the LP error could be declared
stable); do not feed those to the SMT encoding.
"""

from __future__ import annotations

import time

import numpy as np

from ..box import Box
from ..errors import SpecError
from ..network import Network
from ._common import UNSTABLE, check_bounds, check_box, check_network, relu_phases
from .milp import MilpBuilder

__all__ = ["tighten_bounds_lp", "safe_lp_upper", "neuron_groups", "grouped_interval_bounds", "polytope_bounds"]


def safe_lp_upper(problem, c: np.ndarray, row_dual: np.ndarray) -> float:
    """A rigorous upper bound of ``max c.v`` over the LP ``problem`` (integrality ignored) from
    *any* row multipliers ``row_dual`` (Neumaier-Shcherbina): with ``r = c - A^T y``,
    ``c.v = y.(A v) + r.v <= sum_i max(y_i lo_i, y_i hi_i) + sum_j max(r_j l_j, r_j u_j)``.
    Multipliers whose sign would need an infinite row bound are set to 0; every product and sum
    is bounded for rounding with the a-priori error bounds of :mod:`relucert.bounds._fp`, so the
    result holds for the exact real LP of the stored coefficients.  ``inf`` if some column with
    a non-zero reduced cost is unbounded."""
    from ..bounds._fp import add_up, gamma, up

    y = np.asarray(row_dual, dtype=np.float64).copy()
    rlo, rhi = problem.row_lo, problem.row_hi
    y[(y > 0) & ~np.isfinite(rhi)] = 0.0
    y[(y < 0) & ~np.isfinite(rlo)] = 0.0
    A = problem.A
    Aty = A.T @ y
    k = max(int(np.diff(A.tocsc().indptr).max(initial=0)), 1)
    err_r = up(gamma(k + 1) * (abs(A).T @ np.abs(y) + np.abs(c)))   # |fl(c - A^T y) - (c - A^T y)|
    r = c - Aty
    lo, hi = problem.col_lo, problem.col_hi
    mag = np.maximum(np.abs(lo), np.abs(hi))
    need = (np.abs(r) + err_r) > 0
    if not np.all(np.isfinite(mag[need])):
        return float("inf")
    with np.errstate(invalid="ignore"):
        row_terms = np.where(y > 0, y * np.where(np.isfinite(rhi), rhi, 0.0), y * np.where(np.isfinite(rlo), rlo, 0.0))
        col_terms = np.where(r > 0, r * np.where(np.isfinite(hi), hi, 0.0), r * np.where(np.isfinite(lo), lo, 0.0))
    col_terms = np.where(need, col_terms, 0.0)
    terms = np.concatenate([row_terms, col_terms, np.where(need, err_r * np.where(np.isfinite(mag), mag, 0.0), 0.0)])
    n = terms.size
    total = float(terms.sum())
    bound = up(total + up(gamma(n + 1) * float(np.abs(terms).sum()) * (1 + 1e-15)))
    return float(add_up(np.array([bound]), np.array([float(problem.offset)]))[0])


def tighten_bounds_lp(net: Network, box: Box, bounds, *, layers=None, only_unstable: bool = True,
                      pad: float = 1e-7, safe: bool = True, time_limit: float | None = None,
                      threads: int | None = 1, stats: dict | None = None) -> list[tuple[np.ndarray, np.ndarray]]:
    """Tighten pre-activation ``bounds`` of ``net`` over ``box`` by solving LPs.

    With ``safe=True`` (default) each LP optimum is replaced by the rigorous bound
    :func:`safe_lp_upper` computed from HiGHS's row duals on an ``explicit``-mode encoding (every
    coefficient a stored weight or an outward-rounded bound), so, given sound input ``bounds``,
    the result is sound for the exact real network.  With ``safe=False`` the float LP optima
    padded by ``pad * (1 + |v|)`` are used (see the module note).

    ``bounds``: ``net.depth`` hidden-layer ``(lo, hi)`` pairs, optionally plus the output pair
    (returned in the same shape).  ``layers``: which layers to tighten (0-based; ``net.depth``
    means the outputs, allowed only if an output pair was given); default all hidden layers but
    the first (over a box, the first layer's interval bounds are already the exact range).
    ``threads`` is accepted for compatibility and ignored (HiGHS fixes its thread pool per process).
    ``only_unstable``: skip neurons already stable (their bounds do not enter the MILP).
    ``time_limit``: overall seconds; layers not reached keep their bounds.  Bounds never get
    looser than the input.  ``stats``, if a dict, receives ``lps`` and ``time_s``.
    """
    check_box(box)
    check_network(net, box)
    hidden, out = check_bounds(net, bounds)
    if not (isinstance(pad, (int, float)) and np.isfinite(pad) and pad >= 0):
        raise SpecError(f"pad must be a finite number >= 0, got pad={pad!r}")
    if time_limit is not None and not (float(time_limit) > 0):
        raise SpecError(f"time_limit must be > 0 seconds, got time_limit={time_limit!r}")
    d = net.depth
    top = d if out is not None else d - 1
    if layers is None:
        layers = range(1, d)
    layers = sorted({int(l) for l in layers})
    for l in layers:
        if not 0 <= l <= top:
            raise SpecError(f"layers must be in 0..{top}, got {l}")

    from ..solvers.highs import _hs, load_problem

    highspy = _hs()
    t0 = time.perf_counter()
    cur = [(lo.copy(), hi.copy()) for lo, hi in hidden] + ([(out[0].copy(), out[1].copy())] if out else [])
    n_lp = 0
    for l in layers:
        if time_limit is not None and time.perf_counter() - t0 >= time_limit:
            break
        lo, hi = cur[l]
        if only_unstable and l < d:
            todo = np.flatnonzero(relu_phases(lo, hi) == UNSTABLE)
        else:
            todo = np.arange(lo.size)
        if todo.size == 0:
            continue
        trunc = Network(net.layers[: l + 1])
        b = MilpBuilder(box, z_mode="explicit" if safe else "implicit")
        # the current (sound) bounds of layer l bound the objective columns, so every column of
        # the LP is bounded and the safe bound is finite
        nv = b.add_network(trunc, cur[:l] + [cur[l]], tag="n")
        prob = b.build().relaxed()
        h = highspy.Highs()
        h.setOptionValue("output_flag", False)
        load_problem(h, prob)
        ycols = nv.outputs
        for j in todo:
            col = int(ycols[j])
            for sign in (1.0, -1.0):
                if time_limit is not None:
                    left = time_limit - (time.perf_counter() - t0)
                    if left <= 0:
                        break
                    h.setOptionValue("time_limit", float(left))
                h.changeColCost(col, sign)
                h.run()
                n_lp += 1
                if h.getModelStatus() == highspy.HighsModelStatus.kOptimal:
                    if safe:
                        cvec = np.zeros(prob.n_cols)
                        cvec[col] = sign
                        duals = np.array(h.getSolution().row_dual, dtype=np.float64)
                        ub = min(safe_lp_upper(prob, cvec, duals), safe_lp_upper(prob, cvec, -duals))
                        v = sign * ub                   # sign=+1: z <= ub; sign=-1: z >= -ub
                    else:
                        v = sign * float(h.getInfo().objective_function_value)
                        v = v + sign * pad * (1.0 + abs(v))
                    if sign > 0:
                        hi[j] = min(hi[j], v)
                    else:
                        lo[j] = max(lo[j], v)
                if lo[j] > hi[j]:
                    if safe:  # pragma: no cover - two rigorous bounds cannot cross
                        raise AssertionError(f"crossed rigorous bounds for layer {l} neuron {j}")
                    lo[j] = hi[j] = 0.5 * (lo[j] + hi[j])   # LP noise on a (near) fixed value
            h.changeColCost(col, 0.0)
    if stats is not None:
        stats.update({"lps": n_lp, "time_s": time.perf_counter() - t0})
    return cur


# ---------------------------------------------------------------------------------------------
# exact interval propagation with neuron groups
# ---------------------------------------------------------------------------------------------
def neuron_groups(W: np.ndarray) -> list[np.ndarray]:
    """Groups (index arrays, size >= 2) of the rows of ``W`` that are equal entry by entry.

    Neurons ``i, j`` of one group have ``z_i - z_j = b_i - b_j`` exactly (same weights, any
    biases): e.g. the two halves ``relu(s + 1)`` and ``relu(s)`` of a ramp ``clip(s, 0, 1)``."""
    W = np.asarray(W, dtype=np.float64)
    if W.shape[0] < 2:
        return []
    _, inv, cnt = np.unique(W + 0.0, axis=0, return_inverse=True, return_counts=True)
    inv = np.asarray(inv).reshape(-1)
    out = []
    for gi in np.flatnonzero(cnt >= 2):
        idx = np.flatnonzero(inv == gi)
        if all(np.array_equal(W[idx[0]], W[i]) for i in idx[1:]):     # equal values, so exact
            out.append(idx)
    return out


def grouped_interval_bounds(net: Network, box: Box, bounds=None, *, stats: dict | None = None,
                            max_cells: int = 5_000_000):
    """Pre-activation bounds by interval propagation that is exact per group of neurons with equal
    incoming weights, intersected with ``bounds`` (any sound bounds of the shape of
    :func:`relucert.bounds.interval_bounds`, output pair included or not; or None).

    Plain interval propagation treats every neuron of a layer as an independent variable.  For
    a group of neurons with equal weight rows (:func:`neuron_groups`), ``z_i = s + b_i`` for one
    scalar ``s``, so the group's contribution ``sum_i w_i relu(s + b_i)`` to a neuron of the next
    layer is a piecewise linear function of ``s`` whose range is read off at the ends of ``s``'s
    range and at the breakpoints ``s = -b_i``: a ramp ``relu(s + 1) - relu(s)`` is seen to lie in
    ``[0, 1]`` however wide ``s``'s range is (interval arithmetic and CROWN give it about that
    width).  Sound in float64: every evaluation carries an a-priori rounding-error bound
    (:mod:`relucert.bounds._fp`).  Returns bounds of the same shape as ``bounds`` (hidden layers
    plus outputs when ``bounds`` is None), never looser than ``bounds``.
    """
    from ..bounds._fp import add_down, add_up, down, gamma, mm_up, up
    from ..bounds.interval import affine_interval

    check_box(box)
    check_network(net, box)
    t0 = time.perf_counter()
    given = None
    if bounds is not None:
        hidden, out = check_bounds(net, bounds)
        given = hidden + ([out] if out is not None else [None])
    res: list[tuple[np.ndarray, np.ndarray]] = []
    n_groups = 0
    groups: list[np.ndarray] = []
    plo = phi = pb = None
    for l, L in enumerate(net.layers):
        W, b = L.weight, L.bias
        if l == 0:
            zlo, zhi = affine_interval(W, b, box.lo[None], box.hi[None])
            zlo, zhi = zlo[0], zhi[0]
        else:
            n = W.shape[1]
            single = np.ones(n, dtype=bool)
            parts_lo, parts_hi = [], []
            by_size: dict = {}
            for g in groups:
                by_size.setdefault(g.size, []).append(g)
            for gs, gl in by_size.items():
                G = np.array(gl)                                  # (nG, gs)
                if G.shape[0] * (gs + 2) * W.shape[0] * gs > max_cells:
                    continue                                      # too big: plain intervals
                single[G.ravel()] = False
                B = pb[G]                                         # biases of the members
                s_lo = np.max(down(plo[G] - B), axis=1)           # s = z_i - b_i for every member
                s_hi = np.min(up(phi[G] - B), axis=1)
                s_hi = np.maximum(s_hi, s_lo)                     # (cannot cross: two sound ranges)
                P = np.concatenate([s_lo[:, None], s_hi[:, None],
                                    np.clip(-B, s_lo[:, None], s_hi[:, None])], axis=1)   # (nG, c)
                V = np.maximum(P[:, :, None] + B[:, None, :], 0.0)                         # (nG, c, gs)
                Vmag = np.abs(P)[:, :, None] + np.abs(B)[:, None, :]
                Wg = W[:, G]                                      # (m, nG, gs)
                Phi = np.einsum("gcs,mgs->gcm", V, Wg)
                E = up(gamma(gs + 2) * mm_up(Vmag, np.transpose(np.abs(Wg), (1, 2, 0))))   # (nG, c, m)
                parts_lo.append(np.min(Phi - E, axis=1))          # (nG, m)
                parts_hi.append(np.max(Phi + E, axis=1))
            hl, hh = np.maximum(plo, 0.0), np.maximum(phi, 0.0)
            Ws = np.where(single[None, :], W, 0.0)
            slo, shi = affine_interval(Ws, np.zeros(W.shape[0]), hl[None], hh[None])
            terms_lo = [slo[0], b] + [p.T for p in parts_lo]
            terms_hi = [shi[0], b] + [p.T for p in parts_hi]
            tl = np.concatenate([t.reshape(W.shape[0], -1) for t in terms_lo], axis=1)
            th = np.concatenate([t.reshape(W.shape[0], -1) for t in terms_hi], axis=1)
            k = tl.shape[1]
            zlo = down(tl.sum(axis=1) - up(gamma(k) * np.abs(tl).sum(axis=1)))
            zhi = up(th.sum(axis=1) + up(gamma(k) * np.abs(th).sum(axis=1)))
        if given is not None and given[l] is not None:
            glo, ghi = given[l]
            zlo, zhi = np.maximum(zlo, glo), np.minimum(zhi, ghi)
        res.append((zlo, zhi))
        if l < len(net.layers) - 1:
            groups = neuron_groups(W)
            n_groups += len(groups)
            plo, phi, pb = zlo, zhi, b
    if stats is not None:
        stats.update({"groups": n_groups, "time_s": time.perf_counter() - t0})
    if given is not None and given[-1] is None:
        res = res[:-1]
    return res


def polytope_bounds(net: Network, vertices, bounds=None, *, near: float = 1e-12, stats: dict | None = None):
    """Sound pre-activation bounds of ``net`` over the polytope ``conv(vertices)`` (hidden layers and
    the output), by symbolic interval propagation with neuron groups, intersected with ``bounds``
    (sound bounds of the same shape over any superset, e.g. CROWN on the bounding box; or None).

    Every post-activation is carried as ``h = L x + e`` with an exact-in-structure linear part
    ``L`` and an interval ``e`` (stable active neurons pass their form on, inactive ones are 0,
    unstable ones become the interval ``[0, hi]``; a neuron unstable only by a hair
    ``-lo <= near * max(1, hi)`` keeps its form with ``e`` widened by ``-lo``).  Groups of
    neurons with equal weight rows that are not all stable contribute their exact range as in
    :func:`grouped_interval_bounds`.  Each pre-activation ``L x + e`` is bounded over the polytope
    by its values at the vertices (a linear function is extreme at a vertex).  ``vertices``: the
    polytope's vertices (or any points whose hull it is), exact ``Fraction`` or float
    coordinates.  All float arithmetic carries a-priori rounding-error bounds.
    """
    from fractions import Fraction

    from ..bounds._fp import add_down, add_up, center_radius, down, gamma, matmul_err, mm_up, up
    from ..bounds.interval import affine_interval
    from ..verify.result import float_down, float_up

    t0 = time.perf_counter()
    n = net.n_inputs
    V = list(vertices)
    if not V or any(len(v) != n for v in V):
        raise SpecError(f"vertices must be a non-empty list of points with {n} coordinates")
    Vlo = np.array([[float_down(Fraction(c)) if not isinstance(c, float) else c for c in v] for v in V])
    Vhi = np.array([[float_up(Fraction(c)) if not isinstance(c, float) else c for c in v] for v in V])
    Vc, Vr = center_radius(Vlo, Vhi)
    xmax = np.max(np.maximum(np.abs(Vlo), np.abs(Vhi)), axis=0)
    given = None
    if bounds is not None:
        hidden, out = check_bounds(net, bounds)
        given = hidden + ([out] if out is not None else [None])

    def concretize(Lam, clo, chi):
        P, E = matmul_err(Vc, Lam.T)                          # (nV, m)
        R = mm_up(Vr, np.abs(Lam).T)
        hi_v = add_up(P, E, R)
        lo_v = add_down(P, -E, -R)
        return add_down(lo_v.min(axis=0), clo), add_up(hi_v.max(axis=0), chi)

    Lh = np.eye(n)
    elo = np.zeros(n)
    ehi = np.zeros(n)
    res = []
    groups: list = []
    plo = phi = pb = None
    for l, L in enumerate(net.layers):
        W, b = L.weight, L.bias
        m = W.shape[0]
        single = np.ones(W.shape[1], dtype=bool)
        glo_t = np.zeros(m)
        ghi_t = np.zeros(m)
        gterms_lo, gterms_hi = [], []
        if l > 0:
            for g in groups:
                stable = (plo[g] >= 0) | (phi[g] <= 0)
                if stable.all():
                    continue                                   # exact through the forms
                single[g] = False
                B = pb[g]
                s_lo = np.max(down(plo[g] - B))
                s_hi = max(np.min(up(phi[g] - B)), s_lo)
                P = np.concatenate([[s_lo, s_hi], np.clip(-B, s_lo, s_hi)])        # (c,)
                Vg = np.maximum(P[:, None] + B[None, :], 0.0)                       # (c, gs)
                Vmag = np.abs(P)[:, None] + np.abs(B)[None, :]
                Wg = W[:, g]                                                        # (m, gs)
                Phi = Vg @ Wg.T                                                     # (c, m)
                Eg = up(gamma(g.size + 2) * mm_up(Vmag, np.abs(Wg).T))
                gterms_lo.append(np.min(Phi - Eg, axis=0))
                gterms_hi.append(np.max(Phi + Eg, axis=0))
        Ws = np.where(single[None, :], W, 0.0)
        Lz, EL = matmul_err(Ws, Lh)                           # z's linear part (m, n) and its error
        lerr = mm_up(EL, xmax[:, None])[:, 0]
        clo, chi = affine_interval(Ws, b, elo[None], ehi[None])
        clo, chi = clo[0], chi[0]
        if gterms_lo:
            glo_t = add_down(*gterms_lo) if len(gterms_lo) > 1 else gterms_lo[0]
            ghi_t = add_up(*gterms_hi) if len(gterms_hi) > 1 else gterms_hi[0]
        clo = add_down(clo, glo_t, -lerr)
        chi = add_up(chi, ghi_t, lerr)
        zlo, zhi = concretize(Lz, clo, chi)
        if given is not None and given[l] is not None:
            zlo, zhi = np.maximum(zlo, given[l][0]), np.minimum(zhi, given[l][1])
        res.append((zlo, zhi))
        if l == len(net.layers) - 1:
            break
        act = zlo >= 0
        dead = zhi <= 0
        hair = ~act & ~dead & (-zlo <= near * np.maximum(1.0, zhi))
        keep = act | hair
        Lh = np.where(keep[:, None], Lz, 0.0)
        elo = np.where(keep, clo, 0.0)
        ehi = np.where(act, chi, np.where(hair, add_up(chi, -zlo), np.where(dead, 0.0, zhi)))
        groups = neuron_groups(W)
        plo, phi, pb = zlo, zhi, b
    if stats is not None:
        stats.update({"time_s": time.perf_counter() - t0})
    if given is not None and given[-1] is None:
        res = res[:-1]
    return res
