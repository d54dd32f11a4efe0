"""Convex max-affine -> signed sum of maxima of at most k+1 pieces (Arora et al. B.4 step 2).

``g = max_i (a_i.x + b_i)``; triangulate ``Q = conv{a_i}`` refining the regular subdivision that
the upper hull of ``{(a_i, b_i)}`` induces (heights perturbed by a tiny random amount so qhull's
upper facets are simplices; the formula uses the original heights); then
``g = sum_{tau interior face} (-1)^(k - dim tau) max_{i in tau} l_i`` with ``k = dim aff{a_i}``.
"""

from __future__ import annotations

from itertools import combinations

import numpy as np

__all__ = ["wang_sun_terms"]


def _affine_coords(P: np.ndarray) -> np.ndarray:
    """Coordinates of the points in their affine hull (float; only combinatorics depend on it)."""
    c = P.mean(axis=0)
    Q = P - c
    if not np.any(Q):
        return np.zeros((len(P), 0))
    U, s, Vt = np.linalg.svd(Q, full_matrices=False)
    k = int(np.sum(s > 1e-10 * s[0]))
    return Q @ Vt[:k].T


def wang_sun_terms(slopes: np.ndarray, heights: np.ndarray, *, seed: int = 0) -> tuple[list, int]:
    """``([(sign, [piece indices]), ...], k)`` for the max-affine with these (pruned) pieces."""
    N = len(slopes)
    if N == 1:
        return [(1, [0])], 0
    Y = _affine_coords(np.asarray(slopes, dtype=np.float64))
    k = Y.shape[1]
    if k == 1:
        order = list(np.argsort(Y[:, 0]))
        terms = [(1, [int(order[i]), int(order[i + 1])]) for i in range(N - 1)]
        terms += [(-1, [int(order[i])]) for i in range(1, N - 1)]
        return terms, 1
    from scipy.spatial import ConvexHull

    h = np.asarray(heights, dtype=np.float64)
    span = float(np.ptp(Y, axis=0).max()) or 1.0
    hscale = float(np.ptp(h)) or 1.0
    rng = np.random.default_rng(seed)
    simplices = None
    for attempt in range(4):
        eta = 1e-7 * hscale * (10 ** attempt) + 1e-9 * span
        lifted = np.hstack([Y, (h + eta * rng.random(N))[:, None]])
        # a point far below the centroid makes the lifted set full-dimensional (e.g. k+1 points)
        below = np.concatenate([Y.mean(axis=0), [float(h.min()) - 10.0 * (hscale + 1.0)]])
        try:
            hull = ConvexHull(np.vstack([lifted, below[None, :]]), qhull_options="Qt")
        except Exception:  # qhull failure: try a larger perturbation
            continue
        up = hull.equations[:, -2] > 1e-12
        simp = [tuple(sorted(int(v) for v in s)) for s, u in zip(hull.simplices, up) if u and N not in s]
        if simp and all(len(s) == k + 1 for s in simp):
            simplices = simp
            break
    if simplices is None:
        raise RuntimeError("could not triangulate the Newton polytope")
    # boundary (k-1)-faces lie in exactly one k-simplex; a face is on the boundary of Q iff it is a
    # subset of a boundary (k-1)-face
    count: dict = {}
    for s in simplices:
        for f in combinations(s, k):
            count[f] = count.get(f, 0) + 1
    bfacets = [set(f) for f, c in count.items() if c == 1]
    faces = set()
    for s in simplices:
        for r in range(1, k + 2):
            faces.update(combinations(s, r))
    terms = []
    chi = 0
    for f in sorted(faces, key=lambda t: (len(t), t)):
        fs = set(f)
        if any(fs <= b for b in bfacets):
            continue
        sign = (-1) ** (k - (len(f) - 1))
        chi += sign
        terms.append((sign, list(f)))
    if chi != 1:
        raise RuntimeError(f"triangulation check failed: Euler sum {chi} != 1")
    return terms, k
