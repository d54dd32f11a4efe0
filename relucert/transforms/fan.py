"""Fan, Lai, Wang (arXiv 2002.02515), regression: wide and deep rewrites of any ReLU net.

* ``fan-wide`` (A-R-wide-exact, option 2): ``f = g - h`` (DC) as two tournament max-trees in
  parallel; exact on all of R^d, ``ceil(log2 max(p_g, p_h))`` hidden layers;
* ``fan-deep`` (A-R-deep-exact): running max of the pieces of g and h, width d+2 on a box
  (inputs carried as ``x - lo >= 0``), ``max(p_g, p_h)`` hidden layers; exact on the box;
* ``fan-simplex`` (A-R-simplex): soft simplex indicators with an inner collar ``delta``; equal to f
  off the collars (claimed with the collars as an explicit excluded set);
* ``fan-simplex-sup`` (known bad): the same network claimed within eps on the whole box.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np

from ..network import Layer, Network
from ..regions import dc_decomposition, linear_regions, pieces_1d
from ..verify.spec import Polytope
from ._circuits import max_tree_widths, sum_of_maxes
from .base import Claim, Transform, TransformError, ceil_log2, exactness, float_tolerance, network_from_fractions, register

F = Fraction
PAPER = "Fan, Lai, Wang, arXiv 2002.02515"

__all__ = ["FanWide", "FanDeep", "FanSimplex", "FanSimplexSup", "running_max_layers"]


def _compose(f: Network, g: Network) -> Network:
    """``g o f`` with g's first layer folded into f's last layer (float products)."""
    Lf, Lg = f.layers[-1], g.layers[0]
    mid = Layer(Lg.weight @ Lf.weight, Lg.weight @ Lf.bias + Lg.bias)
    return Network(f.layers[:-1] + (mid,) + g.layers[1:])


def _single_output(net, box):
    if net.n_outputs != 1:
        return f"needs a single-output network, got {net.n_outputs} outputs"
    return None


@register
class FanWide(Transform):
    name = "fan-wide"
    paper = PAPER + ", A-R-wide-exact"
    summary = "deep -> wide: DC f = g - h as two parallel max-trees, exact on R^d"

    def why_not(self, net, box):
        return _single_output(net, box)

    def _apply(self, net, box):
        g, h = dc_decomposition(net)
        layers = sum_of_maxes(net.n_inputs, [(1, g.pieces), (-1, h.pieces)])
        new, exact = network_from_fractions(layers)
        wg, wh = max_tree_widths(len(g)), max_tree_widths(len(h))
        claim = Claim(self.name, self.paper, "exact", box=box,
                      formula={"hidden_layers": ceil_log2(max(len(g), len(h)))},
                      info={"pieces_g": len(g), "pieces_h": len(h), "tree_widths_g": wg, "tree_widths_h": wh})
        claim.notes.append(f"DC pieces p_g = {len(g)}, p_h = {len(h)}")
        return new, exactness(claim, net, box, exact)


def running_max_layers(n: int, lo, g_pieces, h_pieces):
    """A-R-deep-exact: slots ``x~ = x - lo`` (n), ``u_g``, ``u_h``; ``u <- relu(u + l_{k-1} - l_k)``.

    A max-affine with a single piece needs no slot (it is affine and goes to the output)."""
    lo = [F(v) for v in lo]
    pg, ph = list(g_pieces), list(h_pieces)
    p = max(len(pg), len(ph))

    def pad(ps):
        return ps + [ps[-1]] * (p - len(ps))

    slots = [(1, pad(pg))] if len(pg) > 1 else []
    if len(ph) > 1:
        slots.append((-1, pad(ph)))

    def lin(piece):  # l(x) = a.(x~ + lo) + b  ->  coefficients on x~, constant
        a, b = piece
        return list(a), sum((ai * l for ai, l in zip(a, lo)), F(0)) + b

    layers = []
    # first layer: x~ = relu(x - lo)
    W = [[F(int(i == j)) for j in range(n)] for i in range(n)]
    layers.append((np.array(W, dtype=object), np.array([-l for l in lo], dtype=object)))
    width_prev = n
    for k in range(1, p):
        rows, bias = [], []
        for i in range(n):  # carry x~
            rows.append([F(int(i == j)) for j in range(width_prev)])
            bias.append(F(0))
        for s_idx, (_, ps) in enumerate(slots):
            a0, c0 = lin(ps[k - 1])
            a1, c1 = lin(ps[k])
            row = [x - y for x, y in zip(a0, a1)] + [F(0)] * (width_prev - n)
            if k > 1:
                row[n + s_idx] += 1
            rows.append(row)
            bias.append(c0 - c1)
        layers.append((np.array(rows, dtype=object).reshape(len(rows), width_prev), np.array(bias, dtype=object)))
        width_prev = len(rows)
    # output: sum_s sign_s (u_s + l_last) for the slots, plus the single-piece functions
    out = [F(0)] * width_prev
    ob = F(0)
    for s_idx, (sign, ps) in enumerate(slots):
        a, c = lin(ps[-1])
        for j in range(n):
            out[j] += sign * a[j]
        ob += sign * c
        if p > 1:
            out[n + s_idx] += sign
    for sign, ps in ((1, pg), (-1, ph)):
        if len(ps) == 1:
            a, c = lin(ps[0])
            for j in range(n):
                out[j] += sign * a[j]
            ob += sign * c
    layers.append((np.array([out], dtype=object), np.array([ob], dtype=object)))
    return layers


@register
class FanDeep(Transform):
    name = "fan-deep"
    paper = PAPER + ", A-R-deep-exact"
    summary = "wide -> deep: running max of the DC pieces, width d+2 on --box, exact on the box"
    needs_box = True

    def why_not(self, net, box):
        return _single_output(net, box)

    def _apply(self, net, box, offset=None):
        g, h = dc_decomposition(net)
        lo = [F(float(v)) for v in box.lo] if offset is None else [F(float(v)) - F(offset) for v in box.lo]
        new, exact = network_from_fractions(running_max_layers(net.n_inputs, lo, g.pieces, h.pieces))
        d = net.n_inputs
        claim = Claim(self.name, self.paper, "exact-on-box", box=box,
                      formula={"width": d + 2, "hidden_layers": max(len(g), len(h)),
                               "params": (d + 2) ** 2 * max(len(g), len(h))},
                      info={"pieces_g": len(g), "pieces_h": len(h)})
        claim.notes.append(f"DC pieces p_g = {len(g)}, p_h = {len(h)}; inputs carried as x - lo >= 0")
        return new, exactness(claim, net, box, exact)


# -- the simplex / indicator version --------------------------------------------------------
def _simplices_1d(net, box, splits):
    out = []
    for pc in pieces_1d(net, box.lo[0], box.hi[0]):
        a, b = pc.lo, pc.hi
        for i in range(splits):
            p = a + (b - a) * i / splits
            q = a + (b - a) * (i + 1) / splits
            # facets t0 = x - p >= 0, t1 = q - x >= 0
            normals = np.array([[1.0], [-1.0]])
            offs = np.array([-float(p), float(q)])
            out.append((normals, offs, [pc.slope[0]], pc.intercept[0]))
    return out


def _simplices_2d(net, box):
    from scipy.spatial import HalfspaceIntersection

    out = []
    for r in linear_regions(net, box):
        H = np.array([[float(v) for v in row] for row in r.H])
        h = np.array([float(v) for v in r.h])
        hs = HalfspaceIntersection(np.hstack([H, -h[:, None]]), np.array([float(v) for v in r.point]))
        V = hs.intersections
        c = V.mean(axis=0)
        ang = np.arctan2(V[:, 1] - c[1], V[:, 0] - c[0])
        V = V[np.argsort(ang)]
        keep = [0]
        for i in range(1, len(V)):  # drop repeated vertices
            if np.linalg.norm(V[i] - V[keep[-1]]) > 1e-12:
                keep.append(i)
        V = V[keep]
        if len(V) > 2 and np.linalg.norm(V[-1] - V[0]) <= 1e-12:
            V = V[:-1]
        for i in range(1, len(V) - 1):
            tri = np.array([V[0], V[i], V[i + 1]])
            normals, offs = [], []
            for j in range(3):
                p, q = tri[(j + 1) % 3], tri[(j + 2) % 3]
                nrm = np.array([-(q - p)[1], (q - p)[0]])
                nrm /= np.linalg.norm(nrm)
                off = -nrm @ p
                if nrm @ tri[j] + off < 0:
                    nrm, off = -nrm, -off
                normals.append(nrm)
                offs.append(off)
            out.append((np.array(normals), np.array(offs), list(r.A[0]), r.c[0]))
    return out


def _simplex_net(simplices, d, delta, box):
    """Wide 3-hidden-layer simplex-indicator net; returns the net and the collar polytopes."""
    collars = []
    n1 = sum(2 * (d + 1) + 2 for _ in simplices)
    n2 = 3 * len(simplices)
    n3 = 2 * len(simplices)
    W1 = np.zeros((n1, d)); b1 = np.zeros(n1)
    W2 = np.zeros((n2, n1)); b2 = np.zeros(n2)
    W3 = np.zeros((n3, n2)); b3 = np.zeros(n3)
    W4 = np.zeros((1, n3))
    corners = np.array(np.meshgrid(*[[box.lo[i], box.hi[i]] for i in range(d)])).reshape(d, -1).T
    u = 0
    for k, (normals, offs, a, c) in enumerate(simplices):
        af = np.array([float(v) for v in a]); cf = float(c)
        M = float(np.max(np.abs(corners @ af + cf))) * (1 + 1e-6) + 1e-9
        base = u
        for j in range(d + 1):
            W1[u] = normals[j] / delta; b1[u] = offs[j] / delta          # relu(t/delta)
            W1[u + 1] = normals[j] / delta; b1[u + 1] = offs[j] / delta - 1  # relu(t/delta - 1)
            u += 2
        W1[u] = af; b1[u] = cf
        W1[u + 1] = -af; b1[u + 1] = -cf
        lp, ln = u, u + 1
        u += 2
        # layer 2: g_k = relu(sum rho - d), carry l as (relu(p - q), relu(q - p))
        r2 = 3 * k
        for j in range(d + 1):
            W2[r2, base + 2 * j] = 1.0
            W2[r2, base + 2 * j + 1] = -1.0
        b2[r2] = -float(d)
        W2[r2 + 1, lp] = 1.0; W2[r2 + 1, ln] = -1.0
        W2[r2 + 2, lp] = -1.0; W2[r2 + 2, ln] = 1.0
        # layer 3: T+- = relu(+-l - M (1 - g))
        r3 = 2 * k
        W3[r3, r2] = M; W3[r3, r2 + 1] = 1.0; W3[r3, r2 + 2] = -1.0; b3[r3] = -M
        W3[r3 + 1, r2] = M; W3[r3 + 1, r2 + 1] = -1.0; W3[r3 + 1, r2 + 2] = 1.0; b3[r3 + 1] = -M
        W4[0, r3] = 1.0; W4[0, r3 + 1] = -1.0
        # collars: the delta-neighbourhood of facet j: -delta <= t_j <= delta, t_i >= -delta
        for j in range(d + 1):
            rows, rhs = [], []
            for i in range(d + 1):
                zi = base + 2 * i  # z = t_i / delta  (as in the network)
                if i == j:
                    rows.append(W1[zi]); rhs.append(1.0 - b1[zi])      # z <= 1
                rows.append(-W1[zi]); rhs.append(1.0 + b1[zi])          # z >= -1
            collars.append(Polytope(np.array(rows), np.array(rhs)))
    net = Network([(W1, b1), (W2, b2), (W3, b3), (W4, np.zeros(1))])
    return net, collars


@register
class FanSimplex(Transform):
    name = "fan-simplex"
    paper = PAPER + ", A-R-simplex (reconstructed)"
    summary = "soft simplex indicators (collar delta): equal to f off the collars, claimed with them excluded"
    needs_box = True
    params = {"delta": (float, 1e-3, "inner collar width"),
              "splits": (int, 1, "1D only: split every piece into this many simplices")}

    def why_not(self, net, box):
        if net.n_outputs != 1:
            return f"needs a single-output network, got {net.n_outputs} outputs"
        if net.n_inputs > 2:
            return f"the triangulation is implemented for d <= 2, got d = {net.n_inputs}"
        return None

    def _build(self, net, box, delta, splits):
        if not delta > 0:
            raise TransformError(f"delta must be > 0, got delta={delta}")
        if splits < 1:
            raise TransformError(f"splits must be >= 1, got splits={splits}")
        d = net.n_inputs
        simp = _simplices_1d(net, box, splits) if d == 1 else _simplices_2d(net, box)
        new, collars = _simplex_net(simp, d, delta, box)
        return new, collars, len(simp)

    def _apply(self, net, box, delta, splits):
        new, collars, K = self._build(net, box, delta, splits)
        d = net.n_inputs
        claim = Claim(self.name, self.paper, "eps-off-excluded", box=box, excluded=tuple(collars),
                      eps=4 * float_tolerance(net, box),
                      formula={"width": K * (2 * d + 4), "hidden_layers": 3}, info={"simplices": K, "delta": delta})
        claim.weights_exact = False
        claim.notes.append(f"{K} simplices; error only on the {len(collars)} collars (small in measure, not in sup-norm)")
        return new, claim


@register
class FanSimplexSup(FanSimplex):
    name = "fan-simplex-sup"
    summary = "KNOWN-BAD: the simplex net claimed within eps on the whole box (false on the collars)"
    known_bad = True
    params = {**FanSimplex.params, "eps": (float, 0.1, "the (false) sup-norm claim")}

    def _apply(self, net, box, delta, splits, eps):
        new, collars, K = self._build(net, box, delta, splits)
        claim = Claim(self.name, self.paper, "eps-on-box", box=box, eps=eps,
                      formula={"hidden_layers": 3}, info={"simplices": K, "delta": delta})
        claim.weights_exact = False
        claim.notes.append("the simplex construction is small in measure only; a sup-norm claim is false")
        return new, claim
