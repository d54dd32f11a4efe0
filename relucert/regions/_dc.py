"""DC (tropical) decomposition: ``f = g - h`` with ``g, h`` convex max-affine, exact in rationals.

Propagated neuron by neuron (Arora et al. B.4 step 1): an input ``x_k`` is ``max(x_k) - max(0)``;
an affine combination takes Minkowski sums of the piece sets (negative weights swap ``g`` and
``h``); a ReLU gives ``relu(G - H) = max(G, H) - H``.  After every operation the piece set is
pruned to the vertices of its upper hull: a piece is dropped only with an exact certificate that
it is a convex combination of the others with no larger height (so it is never the unique max).
"""

from __future__ import annotations

from fractions import Fraction
from typing import Iterable, Sequence

import numpy as np

from ..errors import ShapeError
from ..network import Network
from ._fracs import frac_layers, solve_exact
from ._lp import _linprog

__all__ = ["MaxAffine", "dc_decomposition"]

Piece = tuple  # (tuple of Fractions a, Fraction b)


class MaxAffine:
    """``x -> max_i (a_i . x + b_i)`` with exact rational pieces (kept in a canonical order:
    lexicographically descending in ``(a, b)``)."""

    __slots__ = ("n", "pieces")

    def __init__(self, n: int, pieces: Iterable[Piece], *, prune: bool = True):
        self.n = int(n)
        ps = [(tuple(Fraction(v) for v in a), Fraction(b)) for a, b in pieces]
        if not ps:
            raise ShapeError("a max-affine function needs at least one piece")
        for a, _ in ps:
            if len(a) != self.n:
                raise ShapeError(f"piece has {len(a)} coefficients, expected {self.n}")
        self.pieces = _prune(self.n, ps) if prune else sorted(set(ps), reverse=True)

    def __len__(self) -> int:
        return len(self.pieces)

    def __repr__(self) -> str:
        return f"MaxAffine(n={self.n}, pieces={len(self.pieces)})"

    @property
    def slopes(self) -> np.ndarray:
        """Float64 copy of the coefficient rows (rounded)."""
        return np.array([[float(v) for v in a] for a, _ in self.pieces], dtype=np.float64).reshape(len(self), self.n)

    @property
    def intercepts(self) -> np.ndarray:
        return np.array([float(b) for _, b in self.pieces], dtype=np.float64)

    def eval(self, X) -> np.ndarray:
        X = np.atleast_2d(np.asarray(X, dtype=np.float64))
        return np.max(X @ self.slopes.T + self.intercepts, axis=1)

    def eval_exact(self, x) -> Fraction:
        xs = [v if isinstance(v, Fraction) else Fraction(float(v)) for v in x]
        return max(sum((ai * xi for ai, xi in zip(a, xs)), Fraction(0)) + b for a, b in self.pieces)

    # -- algebra (all exact) --------------------------------------------------------------
    @classmethod
    def constant(cls, n: int, c=0) -> "MaxAffine":
        return cls(n, [((Fraction(0),) * n, Fraction(c))], prune=False)

    def scale(self, w: Fraction) -> "MaxAffine":
        w = Fraction(w)
        if w < 0:
            raise ValueError(f"scale must be >= 0, got {w}")
        if w == 0:
            return MaxAffine.constant(self.n)
        return MaxAffine(self.n, [(tuple(w * v for v in a), w * b) for a, b in self.pieces], prune=False)

    def shift(self, c: Fraction) -> "MaxAffine":
        c = Fraction(c)
        return MaxAffine(self.n, [(a, b + c) for a, b in self.pieces], prune=False)

    def __add__(self, other: "MaxAffine") -> "MaxAffine":
        out = [(tuple(x + y for x, y in zip(a1, a2)), b1 + b2) for a1, b1 in self.pieces for a2, b2 in other.pieces]
        return MaxAffine(self.n, out)

    def maximum(self, other: "MaxAffine") -> "MaxAffine":
        return MaxAffine(self.n, list(self.pieces) + list(other.pieces))


# -- pruning --------------------------------------------------------------------------------
def _dedupe(ps: list) -> list:
    best: dict = {}
    for a, b in ps:
        if a not in best or b > best[a]:
            best[a] = b
    return [(a, b) for a, b in best.items()]


def _cross(o, p, q) -> Fraction:
    return (p[0] - o[0]) * (q[1] - o[1]) - (p[1] - o[1]) * (q[0] - o[0])


def _prune_1d(ps: list) -> list:
    pts = sorted(((a[0], b) for a, b in ps))
    hull: list = []
    for p in pts:  # upper hull, left to right: keep strictly clockwise turns
        while len(hull) >= 2 and _cross(hull[-2], hull[-1], p) >= 0:
            hull.pop()
        hull.append(p)
    return [((a,), b) for a, b in hull]


def _dominated(n: int, target: Piece, others: list) -> bool:
    """Exact certificate that ``target`` lies on or below the upper hull of ``others``."""
    if not others:
        return False
    P = np.array([[float(v) for v in a] + [1.0] for a, _ in others]).T  # (n+1) x m
    hb = np.array([float(b) for _, b in others])
    rhs = np.array([float(v) for v in target[0]] + [1.0])
    res = _linprog()(-hb, A_eq=P, b_eq=rhs, bounds=[(0, None)] * len(others), method="highs")
    if res.status != 0 or res.x is None:
        return False
    if -res.fun < float(target[1]) - 1e-9 * (1 + abs(float(target[1]))):
        return False
    lam = np.asarray(res.x)
    order = [int(i) for i in np.argsort(-lam) if lam[i] > 1e-12]
    for S in (order, order[: n + 1]):
        if not S:
            continue
        M = [[others[j][0][k] for j in S] for k in range(n)] + [[Fraction(1)] * len(S)]
        sol = solve_exact(M, list(target[0]) + [Fraction(1)])
        if sol is None or any(v < 0 for v in sol):
            continue
        if sum((l * others[j][1] for l, j in zip(sol, S)), Fraction(0)) >= target[1]:
            return True
    return False


def _prune(n: int, ps: list) -> list:
    ps = _dedupe(ps)
    if len(ps) <= 1:
        return ps
    if n == 1:
        return sorted(_prune_1d(ps), reverse=True)
    # pieces that are the strict maximum somewhere are hull vertices: keep them without an LP
    A = np.array([[float(v) for v in a] for a, _ in ps])
    B = np.array([float(b) for _, b in ps])
    rng = np.random.default_rng(12345)
    amax = float(np.max(np.abs(A)))
    scale = 1.0 + (float(np.max(np.abs(B))) / amax if amax > 0 else 0.0)
    X = rng.normal(size=(256, n)) * scale
    V = X @ A.T + B
    top = np.argsort(-V, axis=1)[:, :2]
    gap = V[np.arange(len(X)), top[:, 0]] - V[np.arange(len(X)), top[:, 1]]
    sure = set(int(i) for i in top[gap > 1e-7 * (1 + np.abs(V).max(axis=1)), 0])
    keep = list(range(len(ps)))
    for i in range(len(ps)):
        if i in sure:
            continue
        others = [ps[j] for j in keep if j != i]
        if _dominated(n, ps[i], others):
            keep.remove(i)
    return sorted((ps[i] for i in keep), reverse=True)


# -- the decomposition ----------------------------------------------------------------------
def _combine(n: int, row, bias, G: list, H: list) -> tuple[MaxAffine, MaxAffine]:
    g = MaxAffine.constant(n, bias)
    h = MaxAffine.constant(n)
    for w, Gj, Hj in zip(row, G, H):
        if w > 0:
            g = g + Gj.scale(w)
            h = h + Hj.scale(w)
        elif w < 0:
            g = g + Hj.scale(-w)
            h = h + Gj.scale(-w)
    return g, h


def dc_decomposition(net: Network, *, output: int = 0) -> tuple[MaxAffine, MaxAffine]:
    """Convex max-affine ``g, h`` with ``net(x)[output] = g(x) - h(x)`` exactly on all of R^n."""
    if not isinstance(net, Network):
        raise ShapeError(f"net must be a relucert.Network, got {type(net).__name__}")
    if not 0 <= output < net.n_outputs:
        raise ShapeError(f"output {output} out of range for a network with {net.n_outputs} outputs")
    n = net.n_inputs
    G, H = [], []
    for k in range(n):
        e = [Fraction(0)] * n
        e[k] = Fraction(1)
        G.append(MaxAffine(n, [(tuple(e), Fraction(0))], prune=False))
        H.append(MaxAffine.constant(n))
    layers = frac_layers(net)
    last = len(layers) - 1
    for li, (W, b) in enumerate(layers):
        if li == last:
            return _combine(n, list(W[output]), b[output], G, H)
        G2, H2 = [], []
        for i in range(W.shape[0]):
            g, h = _combine(n, list(W[i]), b[i], G, H)
            G2.append(g.maximum(h))   # relu(g - h) = max(g, h) - h
            H2.append(h)
        G, H = G2, H2
    raise AssertionError("unreachable")
