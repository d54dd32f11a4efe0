"""Fan, Lai, Wang (arXiv 2002.02515), regression, the simplex/indicator version (A-R-simplex).

The linear regions of ``f`` on the box are triangulated into simplices ``S_1..S_K`` (exact
rational vertices: every region's vertices are solved exactly from its constraints, then
triangulated; in 1D the pieces, optionally split).  With ``l_k = f|S_k`` and ``M_k >= max_box |l_k|``:

    rho_j = relu(z_j) - relu(z_j - 1),   z_j = t_j / delta   (t_j: distance to facet j, >= 0 inside)
    g_k   = relu(sum_j rho_j - d)          (= 1 on S_k^{-delta}, = 0 outside S_k)
    T_k   = relu(l_k - M_k (1 - g_k)) - relu(-l_k - M_k (1 - g_k)),   W = sum_k T_k

* ``fan-simplex``: the wide net, 3 hidden layers (reference widths: ``K(2d+4)``, ``3K``, ``2K``);
* ``fan-simplex-deep``: the same terms one after another in a narrow deep net: slots ``x - s``
  (``s = floor(lo)``, so the inputs pass the ReLUs unchanged on the box), an accumulator pair
  ``S+, S-`` and, per simplex, three layers (ramps, ``g_k``, ``T_k``): width ``3d + 4``, ``3K``
  hidden layers;
* ``fan-simplex-sup`` / ``fan-simplex-deep-sup`` (known bad): the same nets claimed within eps on
  the whole box; on the collars ``W = theta f`` with ``theta`` in [0, 1], so that claim is false.

The claim of the good versions is ``eps-off-excluded``: within the float tolerance of ``f`` on the
box minus the collars ``{|z_j| <= 1, z_i >= -1 for all i}`` (one per simplex facet), an explicit
set of small measure (``info["collar_measure"]``, about ``2 delta`` times the total facet area).

Facet planes are computed once per exact plane in a canonical scale and rounded to a common dyadic
grid, so two simplices sharing a facet use exactly opposite rows, the collar polytopes use exactly
the network's own hyperplanes, and the deep net's shifted biases ``b + W s`` are exact in float64.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from itertools import product

import numpy as np

from ..network import Network
from ..regions import linear_regions, pieces_1d
from ..regions._exactlp import dot_exact
from ..regions._vertices import det_exact, hyperplane_through, polytope_vertices, triangulate_exact
from ..verify.spec import Polytope
from .base import Claim, Transform, TransformError, float_tolerance, register

F = Fraction
PAPER = "Fan, Lai, Wang, arXiv 2002.02515"

__all__ = ["FanSimplex", "FanSimplexSup", "FanSimplexDeep", "FanSimplexDeepSup", "triangulate_regions"]


@dataclass
class _Simplex:
    vertices: list          # d+1 exact points
    a: list                 # exact slope of f on the simplex
    c: Fraction             # exact intercept
    facets: list            # per facet j (opposite vertex j): (canonical plane key, orientation +-1)


def triangulate_regions(net: Network, box, *, splits: int = 1) -> tuple[list[_Simplex], dict]:
    """Triangulate the linear regions of ``net`` (single output) on ``box`` into simplices."""
    d = net.n_inputs
    out: list[_Simplex] = []
    info = {"regions": 0, "skipped_regions": 0}
    if d == 1:
        for pc in pieces_1d(net, box.lo[0], box.hi[0]):
            info["regions"] += 1
            for i in range(splits):
                p = pc.lo + (pc.hi - pc.lo) * i / splits
                q = pc.lo + (pc.hi - pc.lo) * (i + 1) / splits
                out.append(_make_simplex([(p,), (q,)], [pc.slope[0]], pc.intercept[0]))
        return out, info
    for r in linear_regions(net, box):
        info["regions"] += 1
        if not r.certified:
            info["skipped_regions"] += 1   # a sliver thinner than the LP tolerance: inside the collars
            continue
        try:
            V = polytope_vertices(r.H, r.h, r.point)
        except Exception:  # noqa: BLE001 - qhull on a degenerate sliver
            info["skipped_regions"] += 1
            continue
        if len(V) < d + 1:
            info["skipped_regions"] += 1
            continue
        for s in triangulate_exact(V):
            out.append(_make_simplex([V[i] for i in s], list(r.A[0]), r.c[0]))
    return out, info


def _make_simplex(verts, a, c) -> _Simplex:
    facets = []
    for j in range(len(verts)):
        pts = [v for i, v in enumerate(verts) if i != j]
        hp = hyperplane_through(pts)
        if hp is None:
            raise TransformError("degenerate simplex in the triangulation")
        an, beta = hp
        val = dot_exact(an, verts[j]) + beta
        facets.append(((tuple(an), beta), 1 if val > 0 else -1))
    return _Simplex([tuple(F(t) for t in v) for v in verts], [F(t) for t in a], F(c), facets)


def _ldexp_round(v: float, e: int) -> float:
    return math.ldexp(round(math.ldexp(v, e)), -e)


class _Geometry:
    """The float rows ``z = W x + b`` (``z = t / delta``) of every facet, on a common dyadic grid."""

    def __init__(self, simplices: list[_Simplex], delta: float, shift):
        self.delta = delta
        self.shift = [int(v) for v in shift]
        raw = {}
        for S in simplices:
            for key, _ in S.facets:
                if key in raw:
                    continue
                a, beta = key
                af = np.array([float(v) for v in a])
                nrm = float(np.linalg.norm(af))
                raw[key] = (af / (nrm * delta), float(beta) / (nrm * delta), nrm)
        smax = max([1] + [abs(v) for v in self.shift])
        bmax = max(float(np.sum(np.abs(w))) * smax + abs(b) + 2.0 for w, b, _ in raw.values())
        self.e = 50 - math.ceil(math.log2(bmax))
        self.rows = {}
        for key, (w, b, nrm) in raw.items():
            wr = np.array([_ldexp_round(float(v), self.e) for v in w])
            br = _ldexp_round(b, self.e)
            self.rows[key] = (wr, br, nrm)
        self.exact = True
        for wr, br, _ in self.rows.values():   # the shifted bias b + W s must be a float
            q = F(br) + sum((F(float(w)) * s for w, s in zip(wr, self.shift)), F(0))
            if F(float(q)) != q or F(br - 1.0) != F(br) - 1 or F(1.0 + br) != 1 + F(br):
                self.exact = False

    def row(self, key, sign):
        w, b, _ = self.rows[key]
        return sign * w, sign * b


def _ell(S: _Simplex):
    af = np.array([float(v) for v in S.a])
    return af, float(S.c)


def _bound(S: _Simplex, box) -> float:
    af, cf = _ell(S)
    d = len(af)
    best = F(0)
    for corner in product(*[(F(float(box.lo[i])), F(float(box.hi[i]))) for i in range(d)]):
        v = abs(sum((F(float(a)) * x for a, x in zip(af, corner)), F(0)) + F(cf))
        best = max(best, v)
    return float(best) * (1 + 1e-6) + 1e-9


def _collars(simplices, geo: _Geometry) -> list[Polytope]:
    out = []
    for S in simplices:
        rows = [geo.row(key, s) for key, s in S.facets]
        for j in range(len(rows)):
            A, b = [], []
            for i, (w, bb) in enumerate(rows):
                if i == j:
                    A.append(w)
                    b.append(1.0 - bb)        # z_j <= 1
                A.append(-w)
                b.append(1.0 + bb)            # z_i >= -1
            out.append(Polytope(np.array(A), np.array(b)))
    return out


def _collar_measure(simplices, delta: float) -> float:
    """About ``2 delta`` times the total facet area: the measure of the collars (float)."""
    tot = 0.0
    for S in simplices:
        d = len(S.vertices) - 1
        vol = abs(float(det_exact([[v[k] - S.vertices[0][k] for k in range(d)] for v in S.vertices[1:]]))) / math.factorial(d)
        for j, (key, _) in enumerate(S.facets):
            a, beta = key
            h = abs(float(dot_exact(list(a), S.vertices[j]) + beta)) / float(np.linalg.norm([float(v) for v in a]))
            tot += 2 * delta * (d * vol / h if d > 1 else 1.0)
    return tot


def _wide(simplices, geo: _Geometry, box, d: int) -> Network:
    K = len(simplices)
    n1, n2, n3 = K * (2 * (d + 1) + 2), 3 * K, 2 * K
    W1 = np.zeros((n1, d)); b1 = np.zeros(n1)
    W2 = np.zeros((n2, n1)); b2 = np.zeros(n2)
    W3 = np.zeros((n3, n2)); b3 = np.zeros(n3)
    W4 = np.zeros((1, n3))
    u = 0
    for k, S in enumerate(simplices):
        af, cf = _ell(S)
        M = _bound(S, box)
        base = u
        for key, s in S.facets:
            w, b = geo.row(key, s)
            W1[u], b1[u] = w, b                # relu(z)
            W1[u + 1], b1[u + 1] = w, b - 1.0  # relu(z - 1)
            u += 2
        W1[u], b1[u] = af, cf
        W1[u + 1], b1[u + 1] = -af, -cf
        lp, ln = u, u + 1
        u += 2
        r2 = 3 * k
        for j in range(d + 1):
            W2[r2, base + 2 * j] = 1.0
            W2[r2, base + 2 * j + 1] = -1.0
        b2[r2] = -float(d)
        W2[r2 + 1, lp], W2[r2 + 1, ln] = 1.0, -1.0
        W2[r2 + 2, lp], W2[r2 + 2, ln] = -1.0, 1.0
        r3 = 2 * k
        W3[r3, r2], W3[r3, r2 + 1], W3[r3, r2 + 2], b3[r3] = M, 1.0, -1.0, -M
        W3[r3 + 1, r2], W3[r3 + 1, r2 + 1], W3[r3 + 1, r2 + 2], b3[r3 + 1] = M, -1.0, 1.0, -M
        W4[0, r3], W4[0, r3 + 1] = 1.0, -1.0
    return Network([(W1, b1), (W2, b2), (W3, b3), (W4, np.zeros(1))])


def _deep(simplices, geo: _Geometry, box, d: int) -> Network:
    """Slots ``[x~ (d), S+, S-, work...]``; per simplex: ramps, g, T; S+- accumulate T+-."""
    s = np.array(geo.shift, dtype=np.float64)
    XS, SP, SN, WK = 0, d, d + 1, d + 2
    layers = []
    prev = None              # width of the previous layer (None: reads x)
    prev_T = False           # previous layer holds T+- of the last simplex in WK, WK+1
    for k, S in enumerate(simplices):
        af, cf = _ell(S)
        M = _bound(S, box)
        # layer A: carry x~, accumulate T into S+-, ramps of simplex k
        wA = d + 2 + 2 * (d + 1)
        W = np.zeros((wA, d if prev is None else prev)); b = np.zeros(wA)
        if prev is None:
            W[XS:XS + d, :] = np.eye(d)
            b[XS:XS + d] = -s
        else:
            W[XS:XS + d, XS:XS + d] = np.eye(d)
            W[SP, SP] = W[SN, SN] = 1.0
            if prev_T:
                W[SP, WK] = 1.0
                W[SN, WK + 1] = 1.0
        for j, (key, sg) in enumerate(S.facets):
            w, bb = geo.row(key, sg)
            r = WK + 2 * j
            if prev is None:
                W[r, :], b[r] = w, bb
                W[r + 1, :], b[r + 1] = w, bb - 1.0
            else:
                sb = float(F(bb) + sum((F(float(x)) * F(int(y)) for x, y in zip(w, geo.shift)), F(0)))
                W[r, XS:XS + d], b[r] = w, sb
                W[r + 1, XS:XS + d], b[r + 1] = w, sb - 1.0
        layers.append((W, b))
        # layer B: g_k = relu(sum_j rho_j - d)
        W = np.zeros((d + 3, wA)); b = np.zeros(d + 3)
        W[XS:XS + d, XS:XS + d] = np.eye(d)
        W[SP, SP] = W[SN, SN] = 1.0
        for j in range(d + 1):
            W[WK, WK + 2 * j] = 1.0
            W[WK, WK + 2 * j + 1] = -1.0
        b[WK] = -float(d)
        layers.append((W, b))
        # layer C: T+- = relu(+-l_k(x~ + s) - M + M g)
        W = np.zeros((d + 4, d + 3)); b = np.zeros(d + 4)
        W[XS:XS + d, XS:XS + d] = np.eye(d)
        W[SP, SP] = W[SN, SN] = 1.0
        cs = float(F(cf) + sum((F(float(x)) * F(int(y)) for x, y in zip(af, geo.shift)), F(0)))
        W[WK, XS:XS + d], W[WK, WK], b[WK] = af, M, cs - M
        W[WK + 1, XS:XS + d], W[WK + 1, WK], b[WK + 1] = -af, M, -cs - M
        layers.append((W, b))
        prev, prev_T = d + 4, True
    out = np.zeros((1, prev))
    out[0, SP], out[0, SN], out[0, WK], out[0, WK + 1] = 1.0, -1.0, 1.0, -1.0
    layers.append((out, np.zeros(1)))
    return Network(layers)


class _SimplexBase(Transform):
    paper = PAPER + ", A-R-simplex (reconstructed)"
    needs_box = True
    deep = False
    params = {"delta": (float, 1e-3, "inner collar width (distance to the facets)"),
              "splits": (int, 1, "1D only: split every piece into this many simplices")}

    def why_not(self, net, box):
        if net.n_outputs != 1:
            return f"needs a single-output network, got {net.n_outputs} outputs"
        return None

    def _build(self, net, box, delta, splits):
        if not (delta > 0 and math.isfinite(delta)):
            raise TransformError(f"delta must be > 0, got delta={delta}")
        if splits < 1:
            raise TransformError(f"splits must be >= 1, got splits={splits}")
        if splits != 1 and net.n_inputs != 1:
            raise TransformError(f"splits applies to 1-input networks only, got splits={splits} with d={net.n_inputs}")
        if np.any(box.width <= 0):
            raise TransformError(f"{self.name} needs a full-dimensional box (every hi > lo)")
        d = net.n_inputs
        simp, tinfo = triangulate_regions(net, box, splits=splits)
        if not simp:
            raise TransformError(f"{self.name}: the triangulation of the box is empty")
        shift = [math.floor(float(v)) for v in box.lo]
        geo = _Geometry(simp, delta, shift)
        new = _deep(simp, geo, box, d) if self.deep else _wide(simp, geo, box, d)
        collars = _collars(simp, geo)
        K = len(simp)
        if self.deep:
            formula = {"width": 3 * d + 4, "hidden_layers": 3 * K}
        else:
            formula = {"width": K * (2 * d + 4), "hidden_layers": 3}
        info = {"simplices": K, "delta": delta, "regions": tinfo["regions"],
                "skipped_regions": tinfo["skipped_regions"], "collar_measure": _collar_measure(simp, delta),
                "grid_exponent": geo.e, "shift_exact": geo.exact}
        return new, collars, formula, info

    def _notes(self, claim, info):
        claim.notes.append(f"{info['regions']} linear region(s) -> {info['simplices']} simplices"
                           + (f" ({info['skipped_regions']} sliver region(s) left to the collars)"
                              if info["skipped_regions"] else ""))
        claim.notes.append(f"collars: about {info['collar_measure']:.3g} in measure (2 delta x facet area); "
                           "the error there is up to max |f| (small in measure, not in sup-norm)")


class _Good(_SimplexBase):
    def _apply(self, net, box, delta, splits):
        new, collars, formula, info = self._build(net, box, delta, splits)
        claim = Claim(self.name, self.paper, "eps-off-excluded", box=box, excluded=tuple(collars),
                      eps=4 * float_tolerance(net, box), formula=formula, info=info)
        claim.weights_exact = False
        self._notes(claim, info)
        return new, claim


class _Sup(_SimplexBase):
    known_bad = True
    params = {**_SimplexBase.params, "eps": (float, 0.1, "the (false) sup-norm claim")}

    def _apply(self, net, box, delta, splits, eps):
        if not (eps >= 0 and math.isfinite(eps)):
            raise TransformError(f"eps must be >= 0, got eps={eps}")
        new, collars, formula, info = self._build(net, box, delta, splits)
        claim = Claim(self.name, self.paper, "eps-on-box", box=box, eps=eps, formula=formula, info=info)
        claim.weights_exact = False
        claim.notes.append("the simplex construction is small in measure only; a sup-norm claim is false")
        self._notes(claim, info)
        return new, claim


@register
class FanSimplex(_Good):
    name = "fan-simplex"
    summary = "soft simplex indicators (collar delta), 3 hidden layers: equal to f off the collars (claimed with them excluded)"


@register
class FanSimplexSup(_Sup):
    name = "fan-simplex-sup"
    summary = "KNOWN-BAD: the simplex net claimed within eps on the whole box (false on the collars)"


@register
class FanSimplexDeep(_Good):
    name = "fan-simplex-deep"
    deep = True
    summary = "the simplex indicator sum as a deep narrow net (width 3d+4, 3 layers per simplex), equal to f off the collars"


@register
class FanSimplexDeepSup(_Sup):
    name = "fan-simplex-deep-sup"
    deep = True
    summary = "KNOWN-BAD: the deep simplex net claimed within eps on the whole box (false on the collars)"
