"""Exact enumeration of the linear regions of ReLU networks on a box (never by sampling).

The box is refined layer by layer: on a cell every pre-activation of the next layer is an exact
rational affine function of ``x``, so each unit's hyperplane splits the cell into (at most) two
sides.  A side is kept when a Chebyshev LP finds a ball inside it (and the centre is checked to lie
*strictly* inside every constraint in rational arithmetic: a certificate of full dimension); a side
is dropped only when an exact dual certificate proves its interior empty.  A side that is neither
certified full-dimensional nor certified empty is kept and flagged ``certified=False``; anything
built on the enumeration (equivalence proofs) treats such cells conservatively.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from typing import Sequence

import numpy as np

from ..box import Box
from ..errors import BoxError, ShapeError
from ..network import Network
from ._exactlp import certified_min, dot_exact, strictly_inside
from ._fracs import frac_array, frac_layers
from ._lp import chebyshev

__all__ = ["Region", "Cell", "enumerate_cells", "linear_regions", "RegionLimitError"]


class RegionLimitError(RuntimeError):
    pass


@dataclass(frozen=True, eq=False)
class Region:
    """One linear region of a network on a box.

    * ``pattern``: per hidden layer a tuple of 0/1 (1 = the unit is active, pre-activation >= 0);
    * ``A, c``: the exact affine map (``Fraction`` object arrays) with ``net(x) = A x + c`` on it;
    * ``H, h``: the region's exact constraints ``H x <= h`` (pattern constraints, then the box);
    * ``point``: an interior point (exact ``Fraction`` values; for d <= 2 the exact centroid);
    * ``radius``: the Chebyshev radius found by the LP (float, informative);
    * ``certified``: True when the region is proved full-dimensional: ``point`` satisfies every
      constraint strictly in exact arithmetic (d <= 2: exact polygon/interval of positive size).
    """

    pattern: tuple
    A: np.ndarray
    c: np.ndarray
    H: np.ndarray
    h: np.ndarray
    point: tuple
    radius: float
    certified: bool

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
    vertices: list | None = None                   # d <= 2: exact vertices (CCW polygon / interval ends)


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


def _split_vertices(cell: Cell, a, beta):
    vals = [dot_exact(a, v) + beta for v in cell.vertices]
    if all(v >= 0 for v in vals):
        return [(cell, 1, Fraction(0))]
    if all(v <= 0 for v in vals):
        return [(cell, 0, Fraction(0))]
    pos = clip_vertices(cell.vertices, vals, 1)
    neg = clip_vertices(cell.vertices, vals, -1)
    return [(_vertex_cell(cell, pos, [-v for v in a], beta), 1, Fraction(0)),
            (_vertex_cell(cell, neg, list(a), -beta), 0, Fraction(0))]


def _split(ctx: _Ctx, cell: Cell, a, beta) -> list[tuple[Cell, int, Fraction]]:
    """Split ``cell`` by the unit with pre-activation ``a.x + beta``: [(subcell, active, extra)].

    With ``ctx.absorb`` a sliver side is not kept as a cell: the unit takes the fat side's phase
    on the whole cell and ``extra`` is a certified bound on the error that makes (``|relu(z) -
    phase(z)| <= extra`` on the cell)."""
    if all(v == 0 for v in a):
        return [(cell, 1 if beta > 0 else 0, Fraction(0))]
    if cell.vertices is not None:
        return _split_vertices(cell, a, beta)
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


def _refine_network(ctx: _Ctx, cells: list[Cell], net: Network, n: int) -> list[Cell]:
    layers = frac_layers(net)
    # state per cell: (M, m, err, pats): hidden vector = M x + m + e with |e| <= err (exact)
    eye = np.empty((n, n), dtype=object)
    for i in range(n):
        for j in range(n):
            eye[i, j] = Fraction(1 if i == j else 0)
    zero = np.array([Fraction(0)] * n, dtype=object)
    work = [(c, eye, zero, zero, []) for c in cells]
    last = len(layers) - 1
    for li, (W, b) in enumerate(layers):
        absW = np.abs(W)
        nxt = []
        for cell, M, m, err, pats in work:
            Z = W.dot(M) if M.size else np.zeros((W.shape[0], n), dtype=object)
            z0 = W.dot(m) + b
            zerr = absW.dot(err)
            if li == last:
                cell.patterns.append(tuple(pats))
                cell.maps.append((Z, z0))
                cell.errors.append(zerr)
                nxt.append(cell)
                continue
            branch = [(cell, [], [])]
            for j in range(W.shape[0]):
                a = list(Z[j])
                beta = z0[j]
                nb = []
                for sub, bits, extra in branch:
                    for piece, act, ex in _split(ctx, sub, a, beta):
                        nb.append((piece, bits + [act], extra + [ex]))
                branch = nb
                if ctx.max_cells is not None and len(branch) + len(nxt) > ctx.max_cells:
                    raise RegionLimitError(f"more than max_regions={ctx.max_cells} regions")
            for sub, bits, extra in branch:
                D = np.array([Fraction(v) for v in bits], dtype=object)
                e2 = zerr + np.array(extra, dtype=object)
                nxt.append((sub, Z * D[:, None], z0 * D, e2, pats + [tuple(bits)]))
        work = nxt
    return work


def enumerate_cells(nets: Sequence[Network], box: Box, *, tol: float = 1e-9,
                    max_cells: int | None = None, absorb_slivers: bool = False,
                    exact_vertices: bool = True) -> tuple[list[Cell], dict]:
    """Common refinement of the linear regions of several networks (same inputs) on ``box``.

    ``absorb_slivers``: do not keep sub-tolerance slivers as cells; instead carry a certified
    bound ``cell.errors[k]`` on ``|net_k(x) - map_k(x)|`` over the cell (used for eps checks).
    ``exact_vertices`` (d <= 2): cells are exact polygons/intervals split at their vertices.
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
    cells = [root]
    for net in nets:
        cells = _refine_network(ctx, cells, net, n)
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
                          h=np.array(c.rhs, dtype=object), point=point, radius=float(c.radius),
                          certified=bool(c.certified)))
    return out
