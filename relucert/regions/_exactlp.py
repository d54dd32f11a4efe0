"""Exact certificates for LP facts the region machinery relies on.

A float LP (HiGHS through scipy) suggests an answer; the answer is only *used* when an exact
rational certificate checks it:

* a bound ``min_{G x <= g} c.x >= L`` is certified by dual multipliers ``y >= 0`` with
  ``G^T y = -c`` solved exactly on the LP's dual support; then ``c.x >= -y.g`` for every feasible x;
* full-dimensionality of ``{G x <= g}`` is certified by a point that satisfies every row strictly.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Sequence

import numpy as np

from ._fracs import solve_exact
from ._lp import _linprog

__all__ = ["certified_min", "strictly_inside", "dot_exact"]


def dot_exact(row: Sequence[Fraction], x: Sequence[Fraction]) -> Fraction:
    s = Fraction(0)
    for a, v in zip(row, x):
        if a:
            s += a * v
    return s


def strictly_inside(rows: Sequence[Sequence[Fraction]], rhs: Sequence[Fraction], x: Sequence[Fraction]) -> bool:
    """Whether ``row . x < rhs`` holds exactly for every row."""
    return all(dot_exact(r, x) < c for r, c in zip(rows, rhs))


def certified_min(c_exact: Sequence[Fraction], rows: Sequence[Sequence[Fraction]], rhs: Sequence[Fraction],
                  G: np.ndarray, g: np.ndarray, xabs: Sequence[Fraction] | None = None) -> tuple[Fraction | None, np.ndarray | None]:
    """A certified lower bound on ``min c.x`` over ``{x : rows x <= rhs}`` (or None), and the LP point.

    ``G, g`` are the float copies of ``rows, rhs``.  The bound is exact: it is ``-y.rhs`` for dual
    multipliers ``y >= 0`` with ``rows^T y = -c`` checked in rational arithmetic.  When no exact
    dual solves on the LP's support and ``xabs`` (``|x_k| <= xabs_k`` on the feasible set) is
    given, the rounded duals ``y >= 0`` give the safe bound ``-y.rhs - sum_k |r_k| xabs_k`` with the
    exact residual ``r = -c - rows^T y``.
    """
    c = np.array([float(v) for v in c_exact])
    res = _linprog()(c, A_ub=G, b_ub=g, bounds=[(None, None)] * G.shape[1], method="highs")
    if res.status != 0 or res.x is None:
        return None, None
    y = -np.asarray(res.ineqlin.marginals, dtype=np.float64)
    n = G.shape[1]
    order = np.argsort(-y)
    support = [int(i) for i in order if y[i] > 1e-13]
    tries = [support]
    if len(support) > n:
        tries.append(support[:n])
    for S in tries:
        if not S:
            # c == 0 exactly: min is 0
            if all(v == 0 for v in c_exact):
                return Fraction(0), np.asarray(res.x)
            continue
        # solve sum_{i in S} y_i rows_i = -c   (n equations, |S| unknowns)
        M = [[rows[i][k] for i in S] for k in range(n)]
        sol = solve_exact(M, [-v for v in c_exact])
        if sol is None or any(v < 0 for v in sol):
            continue
        bound = -sum((yi * rhs[i] for yi, i in zip(sol, S)), Fraction(0))
        return bound, np.asarray(res.x)
    if xabs is not None:
        ys = [(i, Fraction(float(y[i]))) for i in range(len(y)) if y[i] > 0]
        resid = [-c_exact[k] - sum((yi * rows[i][k] for i, yi in ys), Fraction(0)) for k in range(n)]
        bound = -sum((yi * rhs[i] for i, yi in ys), Fraction(0)) - sum((abs(r) * xa for r, xa in zip(resid, xabs)), Fraction(0))
        return bound, np.asarray(res.x)
    return None, np.asarray(res.x)
