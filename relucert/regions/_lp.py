"""LP helpers (HiGHS through ``scipy.optimize.linprog``): Chebyshev balls and facet tests."""

from __future__ import annotations

import numpy as np

__all__ = ["chebyshev", "linprog_min"]


def _linprog():
    from scipy.optimize import linprog  # lazy: keep `import relucert` light

    return linprog


def chebyshev(A: np.ndarray, b: np.ndarray, *, A_eq: np.ndarray | None = None, b_eq: np.ndarray | None = None,
              cap: float = 1.0) -> tuple[float, np.ndarray | None]:
    """Largest ball (radius ``r <= cap``) inside ``{x : A x <= b}`` (and ``A_eq x = b_eq``).

    Returns ``(r, centre)``; ``r = -1`` when the LP is infeasible.  With equality rows the ball
    is taken inside the affine subspace (the relative interior).
    """
    A = np.asarray(A, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    n = A.shape[1]
    norms = np.linalg.norm(A, axis=1)
    if A_eq is not None and len(A_eq):
        # project the row normals onto the subspace, so the ball is measured inside it
        Q, _ = np.linalg.qr(np.asarray(A_eq, dtype=np.float64).T)
        proj = A - (A @ Q) @ Q.T
        norms = np.linalg.norm(proj, axis=1)
    c = np.zeros(n + 1)
    c[-1] = -1.0
    A_ub = np.hstack([A, norms[:, None]])
    kw = {}
    if A_eq is not None and len(A_eq):
        kw = dict(A_eq=np.hstack([A_eq, np.zeros((A_eq.shape[0], 1))]), b_eq=np.asarray(b_eq, dtype=np.float64))
    bounds = [(None, None)] * n + [(0.0, cap)]
    res = _linprog()(c, A_ub=A_ub, b_ub=b, bounds=bounds, method="highs", **kw)
    if res.status != 0 or res.x is None:
        return -1.0, None
    return float(res.x[-1]), np.asarray(res.x[:n])


def linprog_min(c, A_ub=None, b_ub=None, A_eq=None, b_eq=None, bounds=None):
    """``min c.x`` with HiGHS; returns ``(value, x)`` or ``(None, None)`` if not solved."""
    res = _linprog()(c, A_ub=A_ub, b_ub=b_ub, A_eq=A_eq, b_eq=b_eq, bounds=bounds, method="highs")
    if res.status != 0 or res.x is None:
        return None, None
    return float(res.fun), np.asarray(res.x)
