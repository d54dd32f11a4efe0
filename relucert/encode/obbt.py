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

__all__ = ["tighten_bounds_lp", "safe_lp_upper"]


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
