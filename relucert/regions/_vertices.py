"""Exact vertices of polytopes ``{x : H x <= h}`` and exact simplex geometry (any dimension).

Float qhull (``scipy.spatial.HalfspaceIntersection``) proposes the vertices; each is then solved
exactly from its active constraints in rational arithmetic and kept only when it satisfies every
constraint exactly.  Used to triangulate linear regions (``fan-simplex``); nothing here decides a
verdict.
"""

from __future__ import annotations

from fractions import Fraction
from itertools import combinations
from typing import Sequence

import numpy as np

from ._exactlp import dot_exact
from ._fracs import solve_exact

__all__ = ["polytope_vertices", "det_exact", "hyperplane_through", "triangulate_exact"]


def det_exact(M: Sequence[Sequence[Fraction]]) -> Fraction:
    """Determinant of a square matrix of Fractions (Gaussian elimination)."""
    A = [list(r) for r in M]
    n = len(A)
    det = Fraction(1)
    for c in range(n):
        p = next((i for i in range(c, n) if A[i][c] != 0), None)
        if p is None:
            return Fraction(0)
        if p != c:
            A[c], A[p] = A[p], A[c]
            det = -det
        pv = A[c][c]
        det *= pv
        for i in range(c + 1, n):
            if A[i][c] != 0:
                f = A[i][c] / pv
                A[i] = [a - f * b for a, b in zip(A[i], A[c])]
    return det


def hyperplane_through(points: Sequence[Sequence[Fraction]]) -> tuple[list[Fraction], Fraction] | None:
    """The exact hyperplane ``a.x + beta = 0`` through ``n`` affinely independent points of R^n,
    in a canonical scale (``max |a_k| = 1``, first nonzero ``a_k > 0``): the same plane gives the
    same ``(a, beta)`` whichever points on it are used.  None when the points are dependent."""
    n = len(points[0])
    p0 = [Fraction(v) for v in points[0]]
    if n == 1:
        a = [Fraction(1)]
    else:
        D = [[Fraction(v) - w for v, w in zip(p, p0)] for p in points[1:]]
        a = []
        for k in range(n):
            minor = [[row[j] for j in range(n) if j != k] for row in D]
            a.append(det_exact(minor) * (-1 if k % 2 else 1))
    m = max(abs(v) for v in a)
    if m == 0:
        return None
    first = next(v for v in a if v != 0)
    s = m if first > 0 else -m
    a = [v / s for v in a]
    beta = -dot_exact(a, p0)
    return a, beta


def polytope_vertices(H, h, point, *, tol: float = 1e-7) -> list[tuple[Fraction, ...]]:
    """Exact vertices of the bounded full-dimensional polytope ``{H x <= h}`` (Fraction rows),
    given a point strictly inside.  Raises ValueError when qhull fails."""
    from scipy.spatial import HalfspaceIntersection

    Hq = [[Fraction(v) for v in row] for row in H]
    hq = [Fraction(v) for v in h]
    Hf = np.array([[float(v) for v in row] for row in Hq])
    hf = np.array([float(v) for v in hq])
    n = Hf.shape[1]
    c = np.array([float(v) for v in point])
    if n == 1:
        L, U = None, None
        for row, b in zip(Hq, hq):
            if row[0] > 0:
                v = b / row[0]
                U = v if U is None else min(U, v)
            elif row[0] < 0:
                v = b / row[0]
                L = v if L is None else max(L, v)
        if L is None or U is None or not L < U:
            raise ValueError("interval is empty or unbounded")
        return [(L,), (U,)]
    hs = HalfspaceIntersection(np.hstack([Hf, -hf[:, None]]), c)
    scale = 1.0 + float(np.max(np.abs(hf)))
    norms = np.linalg.norm(Hf, axis=1)
    out: list[tuple[Fraction, ...]] = []
    seen = set()
    for v in hs.intersections:
        res = (hf - Hf @ v) / np.maximum(norms, 1e-300)
        order = np.argsort(res)
        active = [int(i) for i in order if res[i] <= tol * scale]
        if len(active) < n:
            active = [int(i) for i in order[: n + 2]]
        sol = None
        # greedy: a well-conditioned square subset first, then other combinations
        cands = []
        basis: list[int] = []
        Q = np.zeros((0, n))
        for i in active:
            r = Hf[i] / max(norms[i], 1e-300)
            rr = r - (Q.T @ (Q @ r)) if len(Q) else r
            if np.linalg.norm(rr) > 1e-6:
                basis.append(i)
                Q = np.vstack([Q, rr / np.linalg.norm(rr)])
            if len(basis) == n:
                break
        if len(basis) == n:
            cands.append(basis)
        for comb in combinations(active[: n + 4], n):
            if len(cands) > 40:
                break
            if list(comb) != basis:
                cands.append(list(comb))
        for S in cands:
            M = [Hq[i] for i in S]
            if det_exact(M) == 0:
                continue
            y = solve_exact(M, [hq[i] for i in S])
            if y is None:
                continue
            if all(dot_exact(row, y) <= b for row, b in zip(Hq, hq)):
                sol = tuple(y)
                break
        if sol is None:
            raise ValueError("could not solve a vertex exactly")
        if sol not in seen:
            seen.add(sol)
            out.append(sol)
    return out


def triangulate_exact(V: Sequence[Sequence[Fraction]]) -> list[list[int]]:
    """A triangulation of ``conv V`` (exact points, full-dimensional) into simplices of positive
    exact volume, as index lists (Delaunay on the float points; flat simplices dropped)."""
    n = len(V[0])
    if len(V) == n + 1:
        return [list(range(n + 1))]
    if n == 1:
        order = sorted(range(len(V)), key=lambda i: V[i][0])
        return [[order[0], order[-1]]]
    from scipy.spatial import Delaunay

    Vf = np.array([[float(t) for t in v] for v in V])
    tri = Delaunay(Vf)
    out = []
    for s in tri.simplices:
        s = [int(i) for i in s]
        M = [[V[i][k] - V[s[0]][k] for k in range(n)] for i in s[1:]]
        if det_exact(M) != 0:
            out.append(s)
    return out
