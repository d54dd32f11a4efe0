"""Exact enumeration of the linear regions of ReLU networks on a box (never by sampling).

The box is refined layer by layer: on a cell every pre-activation of the next layer is an exact
rational affine function of ``x``, so each unit's hyperplane splits the cell into (at most) two
sides.  A side is kept when a Chebyshev LP finds a ball inside it (and the centre is checked to lie
*strictly* inside every constraint in rational arithmetic: a certificate of full dimension); a side
is dropped only when an exact dual certificate proves its interior empty.  A side that is neither
certified full-dimensional nor certified empty is kept and flagged ``certified=False``; anything
built on the enumeration (equivalence proofs) treats such cells conservatively.

With ``exact_vertices`` (the default) cells also carry their exact vertices (d >= 3: with the
complete set of rows tight at each) and a split is decided at the vertices in rational arithmetic
(a float evaluation with a rigorous error bound settles the clear cases first): no LP and no
tolerance.  The vertices of both sides are the old ones plus the points where the hyperplane
crosses an edge (adjacency by the combinatorial test on the tight sets).  A cell with more than
``MAX_VERTICES`` vertices (or a box with more corners) goes on with the LP-checked splits.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from math import gcd
from typing import Sequence

import numpy as np

from ..box import Box
from ..errors import BoxError, ShapeError
from ..network import Network
from ._exactlp import certified_min, dot_exact, strictly_inside
from ._fracs import frac_array, frac_layers
from ._lp import chebyshev

__all__ = ["Region", "Cell", "enumerate_cells", "linear_regions", "RegionLimitError", "cell_radius"]


class RegionLimitError(RuntimeError):
    pass


@dataclass(frozen=True, eq=False)
class Region:
    """One linear region of a network on a box.

    * ``pattern``: per hidden layer a tuple of 0/1 (1 = the unit is active, pre-activation >= 0);
    * ``A, c``: the exact affine map (``Fraction`` object arrays) with ``net(x) = A x + c`` on it;
    * ``H, h``: the region's exact constraints ``H x <= h`` (pattern constraints, then the box);
    * ``point``: an interior point (exact ``Fraction`` values; the exact centroid of the vertices
      when the cell has them);
    * ``radius``: the Chebyshev radius found by the LP (float, informative);
    * ``certified``: True when the region is proved full-dimensional: ``point`` satisfies every
      constraint strictly in exact arithmetic (d <= 2: exact polygon/interval of positive size);
    * ``vertices``: the exact vertices when the enumeration kept them (else None).
    """

    pattern: tuple
    A: np.ndarray
    c: np.ndarray
    H: np.ndarray
    h: np.ndarray
    point: tuple
    radius: float
    certified: bool
    vertices: tuple | None = None

    @property
    def weight(self) -> np.ndarray:
        """Float64 copy of ``A`` (rounded)."""
        return np.array([[float(v) for v in row] for row in self.A], dtype=np.float64)

    @property
    def bias(self) -> np.ndarray:
        return np.array([float(v) for v in self.c], dtype=np.float64)

    def value_exact(self, x) -> list[Fraction]:
        xs = [v if isinstance(v, Fraction) else Fraction(float(v)) for v in x]
        return [dot_exact(row, xs) + ci for row, ci in zip(self.A, self.c)]

    def contains_exact(self, x) -> bool:
        xs = [v if isinstance(v, Fraction) else Fraction(float(v)) for v in x]
        return all(dot_exact(r, xs) <= hv for r, hv in zip(self.H, self.h))


@dataclass
class Cell:
    """Internal: a polytope ``rows x <= rhs`` of the input space, with per-network affine maps."""

    rows: list                    # exact Fraction rows (lists)
    rhs: list                     # exact Fractions
    G: np.ndarray                 # float copies
    g: np.ndarray
    center: np.ndarray | None
    radius: float
    certified: bool
    patterns: list = field(default_factory=list)   # per network: list of per-layer tuples
    maps: list = field(default_factory=list)       # per network: (A, c) exact output map
    errors: list = field(default_factory=list)     # per network: bound on |net - map| (0 unless absorbing)
    bbox: list | None = None                       # certified bounding box [(lo, hi)] (exact), if computed
    vertices: list | None = None                   # exact vertices (d <= 2: CCW polygon / interval ends)
    tight: list | None = None                      # d >= 3: per vertex, the (complete) set of tight rows
    vf: np.ndarray | None = None                   # float copy of the vertices (cached)
    vi: list | None = None                         # d >= 3: per vertex (ints, D) with vertex = ints / D
    sides: tuple | None = None                     # (float rows, their sign matrix at the vertices), cached


def _box_rows(box: Box):
    n = box.dim
    rows, rhs = [], []
    for k in range(n):
        e = [Fraction(0)] * n
        e[k] = Fraction(1)
        rows.append(e)
        rhs.append(Fraction(float(box.hi[k])))
        e2 = [Fraction(0)] * n
        e2[k] = Fraction(-1)
        rows.append(e2)
        rhs.append(-Fraction(float(box.lo[k])))
    return rows, rhs


class _Ctx:
    def __init__(self, box: Box, tol: float, max_cells: int | None, absorb: bool = False):
        self.absorb = absorb
        self.box = box
        self.lo = [Fraction(float(v)) for v in box.lo]
        self.hi = [Fraction(float(v)) for v in box.hi]
        self.xabs = [max(abs(l), abs(h)) for l, h in zip(self.lo, self.hi)]
        scale = float(np.max(box.width))
        self.cap = max(scale, 1e-300)
        self.tol = tol * max(1.0, scale)
        self.max_cells = max_cells
        self.lps = 0

    def tighten(self, cell: Cell) -> None:
        """A certified bounding box of the cell (2n LPs, exact bounds)."""
        n = len(self.lo)
        bb = []
        for k in range(n):
            e = [Fraction(0)] * n
            e[k] = Fraction(1)
            lo_k, _ = certified_min(e, cell.rows, cell.rhs, cell.G, cell.g, self.xabs)
            e[k] = Fraction(-1)
            hi_k, _ = certified_min(e, cell.rows, cell.rhs, cell.G, cell.g, self.xabs)
            self.lps += 2
            lo_k = self.lo[k] if lo_k is None else max(self.lo[k], lo_k)
            hi_k = self.hi[k] if hi_k is None else min(self.hi[k], -hi_k)
            bb.append((lo_k, hi_k))
        cell.bbox = bb

    def interval(self, a, beta, bbox=None) -> tuple[Fraction, Fraction]:
        lo_v = beta
        hi_v = beta
        bounds = bbox if bbox is not None else list(zip(self.lo, self.hi))
        for ak, (l, h) in zip(a, bounds):
            if ak > 0:
                lo_v += ak * l
                hi_v += ak * h
            elif ak < 0:
                lo_v += ak * h
                hi_v += ak * l
        return lo_v, hi_v

    def side(self, cell: Cell, row, rhs) -> Cell | None:
        """``cell`` intersected with ``row . x <= rhs``; None when its interior is provably empty.

        A side that is neither (a sliver thinner than the tolerance, e.g. between two hyperplanes
        that float rounding made almost parallel) comes back with ``certified=False, radius <= tol``.
        """
        rows = cell.rows + [row]
        rhss = cell.rhs + [rhs]
        fr = np.array([float(v) for v in row])
        G = np.vstack([cell.G, fr[None, :]])
        g = np.concatenate([cell.g, [float(rhs)]])
        self.lps += 1
        r, ctr = chebyshev(G, g, cap=self.cap)
        if r > self.tol and ctr is not None:
            cx = [Fraction(float(v)) for v in ctr]
            ok = strictly_inside(rows, rhss, cx)
            return Cell(rows, rhss, G, g, ctr, r, ok, list(cell.patterns), list(cell.maps), list(cell.errors))
        # try to prove the interior empty: min_{cell} row.x >= rhs
        self.lps += 1
        bound, _ = certified_min(row, cell.rows, cell.rhs, cell.G, cell.g, self.xabs)
        if bound is not None and bound >= rhs:
            return None
        return Cell(rows, rhss, G, g, ctr if ctr is not None else cell.center, max(r, 0.0), False,
                    list(cell.patterns), list(cell.maps), list(cell.errors))


def clip_vertices(V: list, vals: list, sign: int) -> list:
    """Exact ``{x in conv V : sign * z(x) >= 0}`` for a convex polygon (CCW) or an interval, where
    ``vals`` are the exact values of the affine ``z`` at the vertices ``V``."""
    m = len(V)
    if m == 1:
        return list(V) if sign * vals[0] >= 0 else []
    out = []
    edges = [(0, 1)] if m == 2 else [(i, (i + 1) % m) for i in range(m)]
    if m == 2:
        P, Q = V
        vp, vq = sign * vals[0], sign * vals[1]
        if vp >= 0:
            out.append(P)
        if (vp > 0 > vq) or (vp < 0 < vq):
            t = vp / (vp - vq)
            out.append(tuple(p + t * (q - p) for p, q in zip(P, Q)))
        if vq >= 0:
            out.append(Q)
    else:
        for i, j in edges:
            P, Q = V[i], V[j]
            vp, vq = sign * vals[i], sign * vals[j]
            if vp >= 0:
                out.append(P)
            if (vp > 0 > vq) or (vp < 0 < vq):
                t = vp / (vp - vq)
                out.append(tuple(p + t * (q - p) for p, q in zip(P, Q)))
    uniq = []
    for v in out:
        if not uniq or uniq[-1] != v:
            uniq.append(v)
    if len(uniq) > 1 and uniq[0] == uniq[-1]:
        uniq.pop()
    return uniq


def _vertex_cell(parent: Cell, V: list, row, rhs) -> Cell:
    n = len(V[0])
    cx = [sum((v[k] for v in V), Fraction(0)) / len(V) for k in range(n)]
    ctr = np.array([float(c) for c in cx])
    Vf = np.array([[float(c) for c in v] for v in V])
    if len(V) == 2:
        r = float(np.max(np.abs(Vf[1] - Vf[0]))) / 2
    else:
        ds = []
        for i in range(len(V)):
            p, q = Vf[i], Vf[(i + 1) % len(V)]
            e = q - p
            ne = float(np.hypot(e[0], e[1])) or 1.0
            ds.append(abs(e[0] * (ctr[1] - p[1]) - e[1] * (ctr[0] - p[0])) / ne)
        r = float(min(ds))
    fr = np.array([float(t) for t in row])
    c = Cell(parent.rows + [row], parent.rhs + [rhs], np.vstack([parent.G, fr[None, :]]),
             np.concatenate([parent.g, [float(rhs)]]), ctr, r, True, list(parent.patterns), list(parent.maps),
             list(parent.errors))
    c.vertices = V
    return c


def _split_vertices(cell: Cell, a, beta, fl=None, pre=None, pint=None):
    sg = (pre if pre is not None else _float_side(cell, a, beta, fl)).tolist()
    if min(sg) > 0:
        return [(cell, 1, Fraction(0))]
    if max(sg) < 0:
        return [(cell, 0, Fraction(0))]
    # undecided vertices in integers (sign of the numerator over positive denominators)
    VI = _vints(cell)
    P = pint if pint is not None else _plane_ints(a, beta)
    for i, x in enumerate(sg):
        if x == 0:
            x = _plane_num(P, VI[i])
            sg[i] = 1 if x > 0 else -1 if x < 0 else 0
    if min(sg) >= 0:
        return [(cell, 1, Fraction(0))]
    if max(sg) <= 0:
        return [(cell, 0, Fraction(0))]
    vals = [Fraction(_plane_num(P, vi), P[2] * vi[1]) for vi in VI]
    pos = clip_vertices(cell.vertices, vals, 1)
    neg = clip_vertices(cell.vertices, vals, -1)
    return [(_vertex_cell(cell, pos, [-v for v in a], beta), 1, Fraction(0)),
            (_vertex_cell(cell, neg, list(a), -beta), 0, Fraction(0))]


MAX_VERTICES = 400   # d >= 3: a cell with more vertices continues with LP-checked splits


def _nd_cell(parent: Cell, V: list, T: list, row, rhs, VI: list | None = None) -> Cell:
    """A side of ``parent`` cut by ``row . x <= rhs`` with exact vertices ``V`` (tight sets ``T``,
    integer forms ``VI``)."""
    vf = np.array([[float(t) for t in v] for v in V])
    ctr = vf.mean(axis=0)             # float, informative (the exact centroid is strictly inside)
    rows, rhss = parent.rows + [row], parent.rhs + [rhs]
    fr = np.array([float(t) for t in row])
    G = np.vstack([parent.G, fr[None, :]])
    g = np.concatenate([parent.g, [float(rhs)]])
    c = Cell(rows, rhss, G, g, ctr, -1.0, True, list(parent.patterns), list(parent.maps), list(parent.errors))
    if len(V) <= MAX_VERTICES:
        c.vertices, c.tight, c.vf, c.vi = V, T, vf, VI      # radius computed on demand (cell_radius)
    else:
        # continues with LP-checked splits: those use ``certified`` as "the float centre is
        # strictly inside", so check the rounded centroid exactly (the exact centroid is)
        c.radius = cell_radius(c)
        c.certified = strictly_inside(rows, rhss, [Fraction(float(t)) for t in ctr])
    return c


def _as_ints(vals) -> tuple[list, int]:
    """``(ints, D)`` with ``vals = ints / D`` exactly, ``D > 0`` the lcm of the denominators."""
    D = 1
    for v in vals:
        d = v.denominator
        if D % d:
            D = D // gcd(D, d) * d
    return [v.numerator * (D // v.denominator) for v in vals], D


def _vints(cell: Cell) -> list:
    if cell.vi is None:
        cell.vi = [_as_ints(v) for v in cell.vertices]
    return cell.vi


def _plane_ints(a, beta) -> tuple[list, int, int]:
    """``(A, B, L)`` with ``a = A / L, beta = B / L`` (integers, ``L > 0``): the sign of
    ``a.v + beta`` at ``v = V / D`` is the sign of ``A.V + B D`` and its value ``(A.V + B D) / (L D)``."""
    ints, L = _as_ints(list(a) + [beta])
    return ints[:-1], ints[-1], L


def _plane_num(P, vint) -> int:
    A, B, _ = P
    V, D = vint
    return sum(x * y for x, y in zip(A, V) if x) + B * D


def cell_radius(cell: Cell) -> float:
    """The cell's (float, informative) inscribed radius around its centre, computed on demand."""
    if cell.radius < 0:
        norms = np.linalg.norm(cell.G, axis=1)
        ok = norms > 0
        d = (cell.g[ok] - cell.G[ok] @ cell.center) / norms[ok]
        cell.radius = float(max(np.min(d), 0.0)) if d.size else 0.0
    return cell.radius


def split_nd_vertices(V: list, T: list, vals: list, r: int):
    """Exact vertices (and complete tight sets) of both sides of a hyperplane cutting a polytope.

    ``V`` are the vertices, ``T`` their complete sets of tight rows, ``vals`` the exact values of the
    cutting affine function at them (some > 0, some < 0) and ``r`` the index the new row gets.  New
    vertices lie on the edges ``[u, v]`` crossing the plane; ``u, v`` are adjacent iff no other
    vertex is tight on all rows tight at both (combinatorial test, exact with complete tight sets).
    A constraint tight at a point inside an edge is tight on the whole edge, so the new tight sets
    ``T(u) & T(v) | {r}`` are complete again."""
    n = len(V[0])
    pos, neg = [], []
    for v, t, x in zip(V, T, vals):
        if x >= 0:
            pos.append((v, t | {r} if x == 0 else t))
        if x <= 0:
            neg.append((v, t | {r} if x == 0 else t))
    P = [i for i, x in enumerate(vals) if x > 0]
    N = [i for i, x in enumerate(vals) if x < 0]
    new = []
    for i in P:
        Ti = T[i]
        for j in N:
            common = Ti & T[j]
            if len(common) < n - 1:
                continue
            if any(k != i and k != j and common <= T[k] for k in range(len(V))):
                continue
            t = vals[i] / (vals[i] - vals[j])
            w = tuple(p + t * (q - p) for p, q in zip(V[i], V[j]))
            new.append((w, common | {r}))
    return pos + new, neg + new


def _split_nd_ints(V, VI, T, snum, r):
    """:func:`split_nd_vertices` in integer arithmetic: ``snum[i]`` is the numerator ``A.V_i + B
    D_i`` of the cutting function at vertex ``i`` (same sign as its value, which is ``snum[i] / (L
    D_i)``).  The crossing point of edge ``[u, v]`` (``s_u > 0 > s_v``) is ``(s_u V_v - s_v V_u) /
    (s_u D_v - s_v D_u)``, exactly.  Returns both sides as ``(vertices, ints, tight sets)``."""
    n = len(V[0])
    pos, neg = ([], [], []), ([], [], [])
    for v, vi, t, x in zip(V, VI, T, snum):
        if x >= 0:
            pos[0].append(v); pos[1].append(vi); pos[2].append(t | {r} if x == 0 else t)
        if x <= 0:
            neg[0].append(v); neg[1].append(vi); neg[2].append(t | {r} if x == 0 else t)
    P = [i for i, x in enumerate(snum) if x > 0]
    N = [i for i, x in enumerate(snum) if x < 0]
    m = len(V)
    for i in P:
        Ti = T[i]
        Vi, Di = VI[i]
        si = snum[i]
        for j in N:
            common = Ti & T[j]
            if len(common) < n - 1:
                continue
            if any(k != i and k != j and common <= T[k] for k in range(m)):
                continue
            Vj, Dj = VI[j]
            sj = snum[j]
            num = [si * q - sj * p for p, q in zip(Vi, Vj)]
            den = si * Dj - sj * Di            # > 0
            g = den
            for x in num:
                if g == 1:
                    break
                g = gcd(g, x)
            if g > 1:
                num = [x // g for x in num]
                den //= g
            w = tuple(Fraction(x, den) for x in num)
            wi = (num, den)
            tw = common | {r}
            for side in (pos, neg):
                side[0].append(w); side[1].append(wi); side[2].append(tw)
    return pos, neg


def _float_side(cell: Cell, a, beta, fl=None):
    """Signs of ``a.x + beta`` at the vertices: +1 / -1 where a float evaluation with a rigorous
    error bound decides, 0 where it does not (decided exactly by the caller).  ``fl``: float
    ``(a, beta)``."""
    if cell.vf is None:
        cell.vf = np.array([[float(t) for t in v] for v in cell.vertices])
    if fl is None:
        af, bf = np.array([float(t) for t in a]), float(beta)
    else:
        af, bf = fl
    vals = cell.vf @ af + bf
    err = _err_bound(cell, np.abs(af)[None, :], np.array([abs(bf)]))[:, 0]
    return np.where(vals > err, 1, np.where(vals < -err, -1, 0))


def _err_bound(cell: Cell, absA, absb) -> np.ndarray:
    """Per vertex and row: a bound on ``|fl(A v + b) - (A v + b)|`` for float copies of exact
    ``A, b, v`` (``absA``: rows of ``|fl(A)|``).  Relative part: ``(n + 4) u (sum |a_i v_i| + |b|)``
    with ``u = 2^-53`` (conversions, products, any summation order) is below ``2^-40`` of it up to
    ``n ~ 8000``; absolute part: conversions to subnormals or 0 lose up to ``2^-1074`` per number,
    times the other factor (``|a_i| + |v_i| + 1`` covers it), and products may underflow."""
    av = np.abs(cell.vf)
    rel = (av @ absA.T + absb[None, :]) * 2.0 ** -40
    absolute = (absA.sum(axis=1)[None, :] + av.sum(axis=1)[:, None] + 1.0) * 2.0 ** -1000
    return rel + absolute


def _bulk_sides(cell: Cell, Zf) -> tuple[np.ndarray, np.ndarray]:
    """Per unit of a layer (float rows ``Zf = (A, b)``): +1 / -1 when the pre-activation is provably
    > 0 / < 0 at every vertex of the cell (the error bound of :func:`_float_side`), else 0; and the
    per-vertex signs (vertices x units, 0 where the float test does not decide)."""
    if cell.vf is None:
        cell.vf = np.array([[float(t) for t in v] for v in cell.vertices])
    A, b = Zf
    vals = cell.vf @ A.T + b[None, :]
    err = _err_bound(cell, np.abs(A), np.abs(b))
    S = np.where(vals > err, 1, np.where(vals < -err, -1, 0))
    pos = np.all(S > 0, axis=0)
    neg = np.all(S < 0, axis=0)
    return np.where(pos, 1, np.where(neg, -1, 0)), S


def _split_nd(cell: Cell, a, beta, fl=None, pre=None, pint=None):
    """Split a cell with vertices and tight sets (d >= 3).  ``pre``: per-vertex float signs
    already computed for this cell (0 = undecided); ``pint``: :func:`_plane_ints` of ``(a, beta)``."""
    sg = (pre if pre is not None else _float_side(cell, a, beta, fl)).tolist()
    if min(sg) > 0:
        return [(cell, 1, Fraction(0))]
    if max(sg) < 0:
        return [(cell, 0, Fraction(0))]
    VI = _vints(cell)
    P = pint if pint is not None else _plane_ints(a, beta)
    snum = [None] * len(sg)
    for i, x in enumerate(sg):
        if x == 0:
            x = _plane_num(P, VI[i])
            snum[i] = x
            sg[i] = 1 if x > 0 else -1 if x < 0 else 0
    if min(sg) >= 0:
        return [(cell, 1, Fraction(0))]
    if max(sg) <= 0:
        return [(cell, 0, Fraction(0))]
    snum = [x if x is not None else _plane_num(P, vi) for x, vi in zip(snum, VI)]
    r = len(cell.rows)
    pos, neg = _split_nd_ints(cell.vertices, VI, cell.tight, snum, r)
    return [(_nd_cell(cell, pos[0], pos[2], [-v for v in a], beta, pos[1]), 1, Fraction(0)),
            (_nd_cell(cell, neg[0], neg[2], list(a), -beta, neg[1]), 0, Fraction(0))]


def side_vertices(cell: Cell, a, beta, sign: int) -> list:
    """Exact vertices of ``{x in cell : sign (a.x + beta) >= 0}`` for a cell with vertices."""
    vals = [sign * (dot_exact(a, v) + beta) for v in cell.vertices]
    if cell.tight is None:
        return clip_vertices(cell.vertices, vals, 1)
    if all(v >= 0 for v in vals):
        return list(cell.vertices)
    if all(v < 0 for v in vals):
        return []
    if all(v <= 0 for v in vals):
        return [v for v, x in zip(cell.vertices, vals) if x == 0]
    pos, _ = split_nd_vertices(cell.vertices, cell.tight, vals, len(cell.rows))
    return [v for v, _ in pos]


def _split(ctx: _Ctx, cell: Cell, a, beta, fl=None, pre=None, pint=None) -> list[tuple[Cell, int, Fraction]]:
    """Split ``cell`` by the unit with pre-activation ``a.x + beta``: [(subcell, active, extra)].

    With ``ctx.absorb`` a sliver side is not kept as a cell: the unit takes the fat side's phase
    on the whole cell and ``extra`` is a certified bound on the error that makes (``|relu(z) -
    phase(z)| <= extra`` on the cell)."""
    if all(v == 0 for v in a):
        return [(cell, 1 if beta > 0 else 0, Fraction(0))]
    if cell.vertices is not None:
        if cell.tight is not None:
            return _split_nd(cell, a, beta, fl, pre, pint)
        return _split_vertices(cell, a, beta, fl, pre, pint)
    lo_v, hi_v = ctx.interval(a, beta, cell.bbox)
    if lo_v < 0 < hi_v and cell.bbox is None:
        ctx.tighten(cell)
        lo_v, hi_v = ctx.interval(a, beta, cell.bbox)
    if lo_v >= 0:
        return [(cell, 1, Fraction(0))]
    if hi_v <= 0:
        return [(cell, 0, Fraction(0))]
    out = []
    neg = [-v for v in a]
    # active side: a.x + beta >= 0  <=>  -a.x <= beta
    plus = minus = None
    done = False
    if cell.certified and cell.center is not None and cell.radius > 0:
        # when the cell's inscribed ball lies on one side, that side needs no LP: the centre is
        # strictly inside the cell (exactly) and strictly on that side (exactly)
        af = np.array([float(v) for v in a])
        v = float(af @ cell.center) + float(beta)
        na = float(np.linalg.norm(af))
        if abs(v) > 2 * cell.radius * na and abs(v) > 4 * ctx.tol * na:
            cx = [Fraction(float(t)) for t in cell.center]
            ve = dot_exact(a, cx) + beta
            if ve != 0 and (ve > 0) == (v > 0):
                fr = np.array([float(t) for t in (neg if ve > 0 else a)])
                keep = Cell(cell.rows + [neg if ve > 0 else list(a)], cell.rhs + [beta if ve > 0 else -beta],
                            np.vstack([cell.G, fr[None, :]]),
                            np.concatenate([cell.g, [float(beta if ve > 0 else -beta)]]),
                            cell.center, cell.radius, True, list(cell.patterns), list(cell.maps), list(cell.errors))
                if ve > 0:
                    plus, minus = keep, ctx.side(cell, list(a), -beta)
                else:
                    plus, minus = ctx.side(cell, neg, beta), keep
                done = True
    if not done:
        plus = ctx.side(cell, neg, beta)
        minus = ctx.side(cell, list(a), -beta)
    def sliver(c):
        return c is not None and not c.certified and c.radius <= ctx.tol

    if ctx.absorb and plus is not None and minus is not None and sliver(plus) != sliver(minus):
        if sliver(plus):
            # unit taken inactive on the whole cell; on the sliver 0 <= z <= max_cell z
            m, _ = certified_min([-v for v in a], cell.rows, cell.rhs, cell.G, cell.g, ctx.xabs)
            if m is not None:
                return [(_with_row(minus, cell), 0, max(Fraction(0), -m + beta))]
        else:
            # unit taken active on the whole cell; on the sliver |relu(z) - z| = -z <= -min_cell z
            m, _ = certified_min(list(a), cell.rows, cell.rhs, cell.G, cell.g, ctx.xabs)
            if m is not None:
                return [(_with_row(plus, cell), 1, max(Fraction(0), -(m + beta)))]
    if plus is not None:
        out.append((plus, 1, Fraction(0)))
    if minus is not None:
        out.append((minus, 0, Fraction(0)))
    if not out:  # cannot happen for a cell with interior; keep the cell conservatively
        out.append((Cell(cell.rows, cell.rhs, cell.G, cell.g, cell.center, cell.radius, False,
                         list(cell.patterns), list(cell.maps), list(cell.errors)), 0, Fraction(0)))
    return out


def _with_row(side_cell: Cell, parent: Cell) -> Cell:
    """The parent cell (the whole of it) carrying the fat side's centre: the sliver is absorbed."""
    return Cell(parent.rows, parent.rhs, parent.G, parent.g, side_cell.center, side_cell.radius,
                side_cell.certified, list(parent.patterns), list(parent.maps), list(parent.errors))


def _int_rows(W, b) -> list:
    """Per row of an exact layer: ``(nonzeros [(column, int)], B, D)`` with ``W_i = ints / D``,
    ``b_i = B / D`` (common denominator ``D > 0``)."""
    out = []
    for row, bi in zip(W, b):
        nz = [(j, v) for j, v in enumerate(row) if v != 0]
        ints, D = _as_ints([v for _, v in nz] + [bi])
        out.append(([(j, w) for (j, _), w in zip(nz, ints)], ints[-1], D))
    return out


def _layer_map(Wi, M, bits, n):
    """Exact pre-activation map of a layer, ``Z = W D M``, ``z0 = W D m + b`` with ``D =
    diag(bits)`` (None: identity), in integers: maps are ``(Zn, z0n, den)`` with ``Z_i = Zn_i /
    den_i``, ``z0_i = z0n_i / den_i`` (``den_i > 0``, each row reduced by its gcd).  Skips the
    zero weights and the inactive units."""
    Zp, zp, dp = M
    live = [j for j in range(len(dp)) if bits is None or bits[j]]
    Dm = 1
    for j in live:
        d = dp[j]
        if Dm % d:
            Dm = Dm // gcd(Dm, d) * d
    scale = {j: Dm // dp[j] for j in live}
    Zn, z0n, den = [], [], []
    for nz, B, Dw in Wi:
        acc = [0] * n
        c = B * Dm
        for j, w in nz:
            sj = scale.get(j)
            if sj is None:
                continue
            ws = w * sj
            for k, v in enumerate(Zp[j]):
                if v:
                    acc[k] += ws * v
            v = zp[j]
            if v:
                c += ws * v
        d = Dw * Dm
        g = gcd(d, c, *acc)
        if g > 1:
            acc = [x // g for x in acc]
            c //= g
            d //= g
        Zn.append(acc)
        z0n.append(c)
        den.append(d)
    return Zn, z0n, den


def _frac_map(zm):
    """The exact map as ``Fraction`` object arrays ``(Z, z0)``."""
    Zn, z0n, den = zm
    Z = np.empty((len(den), len(Zn[0]) if Zn else 0), dtype=object)
    z0 = np.empty(len(den), dtype=object)
    for i, (r, c, d) in enumerate(zip(Zn, z0n, den)):
        Z[i] = [Fraction(x, d) for x in r]
        z0[i] = Fraction(c, d)
    return Z, z0


def _refine_network(ctx: _Ctx, cells: list[Cell], net: Network, n: int, *, want_map: bool = True) -> list[Cell]:
    layers = frac_layers(net)
    # state per cell: (pats, err): hidden vector = D (M x + m) + e with |e| <= err (exact), where
    # (M, m, D) depend on the activation pattern so far only: computed once per distinct pattern
    work = [(c, (), None) for c in cells]
    maps = {(): ([[1 if i == j else 0 for j in range(n)] for i in range(n)], [0] * n, [1] * n)}
    last = len(layers) - 1
    for li, (W, b) in enumerate(layers):
        absW = np.abs(W)
        Wi = _int_rows(W, b)
        nxt = []
        zmaps = {}
        fmaps = {}
        for cell, pats, err in work:
            zerr = absW.dot(err) if err is not None else None
            zm = zmaps.get(pats)
            if zm is None:
                zm = zmaps[pats] = _layer_map(Wi, maps[pats], pats[-1] if pats else None, n)
            if li == last:
                cell.patterns.append(tuple(pats))
                if want_map:
                    fm = fmaps.get(pats)
                    if fm is None:
                        fm = fmaps[pats] = _frac_map(zm)
                    cell.maps.append(fm)
                else:
                    cell.maps.append(None)
                cell.errors.append(zerr if zerr is not None else np.array([Fraction(0)] * W.shape[0], dtype=object))
                nxt.append(cell)
                continue
            Zn, z0n, den = zm
            fkey = ("f",) + pats
            Zf = zmaps.get(fkey)
            if Zf is None:
                Zf = zmaps[fkey] = (np.array([[x / d for x in r] for r, d in zip(Zn, den)]).reshape(len(den), n),
                                    np.array([c / d for c, d in zip(z0n, den)]))
            rkey = ("r",) + pats
            rows = zmaps.get(rkey)             # per unit, the exact Fraction row (a, beta), on demand
            if rows is None:
                rows = zmaps[rkey] = [None] * W.shape[0]
            branch = [(cell, [], [])]
            decided, S = _bulk_sides(cell, Zf) if cell.vertices is not None else (None, None)
            if S is not None:
                cell.sides = (Zf, S)
            for j in range(W.shape[0]):
                if decided is not None and decided[j]:
                    # the unit's plane misses the whole cell (float test with an error bound):
                    # no split in any part of it
                    act = 1 if decided[j] > 0 else 0
                    branch = [(sub, bits + [act], extra + [Fraction(0)]) for sub, bits, extra in branch]
                    continue
                fl = (Zf[0][j], float(Zf[1][j]))
                pint = (Zn[j], z0n[j], den[j])         # a = Zn_j / den_j, beta = z0n_j / den_j
                nb = []
                for sub, bits, extra in branch:
                    pre = None
                    if sub.vertices is not None:
                        # the float signs of all this layer's units at the sub-cell's vertices,
                        # once per sub-cell; a unit they decide needs no split
                        if sub.sides is None or sub.sides[0] is not Zf:
                            sub.sides = (Zf, _bulk_sides(sub, Zf)[1])
                        pre = sub.sides[1][:, j]
                        if (pre > 0).all() or (pre < 0).all():
                            nb.append((sub, bits + [1 if pre[0] > 0 else 0], extra + [Fraction(0)]))
                            continue
                    if rows[j] is None:
                        rows[j] = ([Fraction(x, den[j]) for x in Zn[j]], Fraction(z0n[j], den[j]))
                    a, beta = rows[j]
                    for piece, act, ex in _split(ctx, sub, a, beta, fl, pre, pint):
                        nb.append((piece, bits + [act], extra + [ex]))
                branch = nb
                if ctx.max_cells is not None and len(branch) + len(nxt) > ctx.max_cells:
                    raise RegionLimitError(f"more than max_regions={ctx.max_cells} regions")
            for sub, bits, extra in branch:
                key = pats + (tuple(bits),)
                if zerr is None and not any(extra):
                    e2 = None
                else:
                    base = zerr if zerr is not None else np.array([Fraction(0)] * W.shape[0], dtype=object)
                    e2 = base + np.array(extra, dtype=object)
                nxt.append((sub, key, e2))
        work = nxt
        maps = {}
        for _, key, _ in work if li < last else []:
            if key not in maps:
                maps[key] = zmaps[key[:-1]]
    return work


def enumerate_cells(nets: Sequence[Network], box: Box, *, tol: float = 1e-9,
                    max_cells: int | None = None, absorb_slivers: bool = False,
                    exact_vertices: bool = True, maps_for: Sequence[int] | None = None) -> tuple[list[Cell], dict]:
    """Common refinement of the linear regions of several networks (same inputs) on ``box``.

    ``absorb_slivers``: do not keep sub-tolerance slivers as cells; instead carry a certified
    bound ``cell.errors[k]`` on ``|net_k(x) - map_k(x)|`` over the cell (used for eps checks).
    ``exact_vertices``: cells carry their exact vertices and every split is decided at them in
    rational arithmetic (d <= 2: polygons/intervals; d >= 3: vertices with their tight rows, split
    along the crossing edges), with no LP and no tolerance; in d >= 3 a cell with more than
    ``MAX_VERTICES`` vertices continues with LP-checked splits.
    ``maps_for``: indices of the networks whose output maps are needed (default all; the others
    only split the cells and get ``None`` in ``cell.maps``).
    """
    if not nets:
        raise ShapeError("need at least one network")
    n = nets[0].n_inputs
    for net in nets:
        if net.n_inputs != n:
            raise ShapeError(f"networks have {nets[0].n_inputs} and {net.n_inputs} inputs")
    box.check_dim(n)
    if np.any(box.width <= 0):
        i = int(np.flatnonzero(box.width <= 0)[0])
        raise BoxError(f"region enumeration needs a box with lo < hi, got [{box.lo[i]}, {box.hi[i]}] for input {i}")
    ctx = _Ctx(box, tol, max_cells, absorb_slivers)
    rows, rhs = _box_rows(box)
    G = np.array([[float(v) for v in r] for r in rows])
    g = np.array([float(v) for v in rhs])
    ctr = np.asarray(box.center, dtype=np.float64)
    root = Cell(rows, rhs, G, g, ctr, float(np.min(box.width)) / 2,
                strictly_inside(rows, rhs, [Fraction(float(v)) for v in ctr]))
    if n <= 2 and exact_vertices:
        # exact polygons (intervals): every split is decided at the vertices in rational
        # arithmetic, no LP and no tolerance
        lo = [Fraction(float(v)) for v in box.lo]
        hi = [Fraction(float(v)) for v in box.hi]
        root.vertices = ([(lo[0],), (hi[0],)] if n == 1 else
                         [(lo[0], lo[1]), (hi[0], lo[1]), (hi[0], hi[1]), (lo[0], hi[1])])
        root.certified = True
    elif exact_vertices and 2 ** n <= MAX_VERTICES:
        from itertools import product

        lo = [Fraction(float(v)) for v in box.lo]
        hi = [Fraction(float(v)) for v in box.hi]
        V, T = [], []
        for bits in product((0, 1), repeat=n):
            V.append(tuple(hi[k] if b else lo[k] for k, b in enumerate(bits)))
            T.append(frozenset(2 * k if b else 2 * k + 1 for k, b in enumerate(bits)))   # rows: x_k <= hi, -x_k <= -lo
        root.vertices, root.tight = V, T
        root.certified = True
    cells = [root]
    for i, net in enumerate(nets):
        cells = _refine_network(ctx, cells, net, n, want_map=maps_for is None or i in maps_for)
    return cells, {"lps": ctx.lps, "cells": len(cells), "uncertified": sum(not c.certified for c in cells)}


def linear_regions(net: Network, box: Box, *, tol: float = 1e-9, max_regions: int | None = None) -> list[Region]:
    """All full-dimensional linear regions (activation patterns) of ``net`` on ``box``."""
    if not isinstance(net, Network):
        raise ShapeError(f"net must be a relucert.Network, got {type(net).__name__}")
    if not isinstance(box, Box):
        raise BoxError(f"box must be a relucert.Box, got {type(box).__name__}")
    if max_regions is not None and int(max_regions) < 1:
        raise ValueError(f"max_regions must be >= 1, got max_regions={max_regions!r}")
    cells, _ = enumerate_cells([net], box, tol=tol, max_cells=max_regions)
    out = []
    for c in cells:
        A, cc = c.maps[0]
        if c.vertices is not None:  # exact centroid: strictly inside a polygon of positive area
            point = tuple(sum((v[k] for v in c.vertices), Fraction(0)) / len(c.vertices) for k in range(box.dim))
        else:
            point = tuple(Fraction(float(v)) for v in c.center) if c.center is not None else ()
        out.append(Region(pattern=c.patterns[0], A=A, c=cc, H=np.array(c.rows, dtype=object),
                          h=np.array(c.rhs, dtype=object), point=point, radius=float(cell_radius(c)),
                          certified=bool(c.certified),
                          vertices=None if c.vertices is None else tuple(tuple(v) for v in c.vertices)))
    return out
