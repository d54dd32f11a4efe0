"""Fan, Lai, Wang, classification: the data-driven De Morgan law (A-C-wide / A-C-deep).

From the classifier ``[f(x) > 0]`` on a box: enumerate f's linear regions exactly, keep the
positive polytopes ``P_r = R_r ∩ {l_r >= 0}`` (irredundant half-spaces ``t_rj >= 0``, normalised)
and build

* ``demorgan-wide``: OR of ANDs, ``W = 1 - relu(1 - sum_r AND_r)``, ``AND_r = relu(sum_j ramp_rj - (m_r - 1))``,
  3 hidden layers of widths ``(2 sum m_r, R, 1)``;
* ``demorgan-deep``: ``1 - F`` with ``F = AND_r OR_j not H_rj`` evaluated sequentially, width d+4,
  ``2 sum m_r + R + 1`` hidden layers;
* ``demorgan-sampled`` (known bad): the wide net from regions found by *sampling* points.

``ramp = relu(t/delta + 1) - relu(t/delta)`` is 1 on ``t >= 0`` and 0 for ``t <= -delta``, so
``f > 0 => W = 1`` and ``W = 0`` off the relaxed polytopes.  The claim is decision equivalence
``[f > 0]`` vs ``[W > 1/2]`` with margin ``gamma`` > ``-min f`` over the relaxed polytopes,
computed per region by LP (and proved afterwards by the checker).
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np

from ..network import Network
from ..regions import linear_regions
from ..regions._exactlp import certified_min
from ..regions._fracs import frac_layers
from ..regions._lp import linprog_min
from .base import Claim, Transform, TransformError, register

F = Fraction
PAPER = "Fan, Lai, Wang, arXiv 2002.02515, De Morgan (reconstructed)"

__all__ = ["positive_polytopes", "DeMorganWide", "DeMorganDeep", "DeMorganSampled"]


def _box_rows(box):
    n = box.dim
    rows, rhs = [], []
    for k in range(n):
        e = [F(0)] * n
        e[k] = F(1)
        rows.append(e)
        rhs.append(F(float(box.hi[k])))
        rows.append([-v for v in e])
        rhs.append(-F(float(box.lo[k])))
    return rows, rhs


def _irredundant(ts, box):
    """Drop half-spaces ``t(x) = a.x + c >= 0`` implied (on the box) by the others (certified)."""
    brows, brhs = _box_rows(box)
    xabs = [max(abs(F(float(l))), abs(F(float(h)))) for l, h in zip(box.lo, box.hi)]
    keep = list(range(len(ts)))
    for j in range(len(ts)):
        others = [ts[i] for i in keep if i != j]
        rows = brows + [[-v for v in a] for a, _ in others]   # a.x + c >= 0  <=>  -a.x <= c
        rhs = brhs + [c for _, c in others]
        G = np.array([[float(v) for v in r] for r in rows])
        g = np.array([float(v) for v in rhs])
        a, c = ts[j]
        m, _ = certified_min(a, rows, rhs, G, g, xabs)
        if m is not None and m + c >= 0:
            keep.remove(j)
    return [ts[i] for i in keep]


def _polytopes_from(regions_rows, box):
    """``regions_rows``: [(pattern rows [(row, rhs)] meaning row.x <= rhs, A, c)] -> half-space lists."""
    out = []
    brows, brhs = _box_rows(box)
    xabs = [max(abs(F(float(l))), abs(F(float(h)))) for l, h in zip(box.lo, box.hi)]
    for prow, A, c in regions_rows:
        ts = [([-v for v in r], h) for r, h in prow]  # row.x <= h  <=>  -row.x + h >= 0
        if all(v == 0 for v in A):
            if not c > 0:
                continue
        else:
            rows = brows + [r for r, _ in prow]
            rhs = brhs + [h for _, h in prow]
            G = np.array([[float(v) for v in r] for r in rows])
            g = np.array([float(v) for v in rhs])
            m, _ = certified_min([-v for v in A], rows, rhs, G, g, xabs)
            if m is not None and -m + c <= 0:
                continue  # l_r <= 0 on the whole region: no positive part
            ts.append((list(A), c))
        clean = []
        empty = False
        for a, cc in ts:
            if all(v == 0 for v in a):
                if cc < 0:
                    empty = True
                continue
            clean.append((a, cc))
        if empty:
            continue
        out.append(_irredundant(clean, box))
    return out


def positive_polytopes(net: Network, box) -> list[list[tuple]]:
    """Irredundant exact half-spaces ``[(a, c), ...]`` (``a.x + c >= 0``) of every positive polytope."""
    n = box.dim
    items = []
    for r in linear_regions(net, box):
        prow = list(zip([list(row) for row in r.H[2 * n:]], list(r.h[2 * n:])))
        items.append((prow, list(r.A[0]), r.c[0]))
    return _polytopes_from(items, box)


def sampled_polytopes(net: Network, box, samples: int, seed: int) -> list[list[tuple]]:
    """The same, from the activation patterns of ``samples`` random points (incomplete!)."""
    rng = np.random.default_rng(seed)
    X = box.sample(samples, rng)
    zs = net.pre_activations(X)[:-1]
    pats = sorted({tuple(tuple(int(v > 0) for v in z[i]) for z in zs) for i in range(len(X))})
    layers = frac_layers(net)
    n = net.n_inputs
    items = []
    for pat in pats:
        M = [[F(int(i == j)) for j in range(n)] for i in range(n)]
        m = [F(0)] * n
        prow = []
        for (W, b), bits in zip(layers[:-1], pat):
            Z = [[sum((W[i][k] * M[k][j] for k in range(len(M))), F(0)) for j in range(n)] for i in range(W.shape[0])]
            z0 = [sum((W[i][k] * m[k] for k in range(len(m))), F(0)) + b[i] for i in range(W.shape[0])]
            for i, s in enumerate(bits):
                if s:   # z >= 0  <=>  -z_row.x <= z0
                    prow.append(([-v for v in Z[i]], z0[i]))
                else:
                    prow.append((list(Z[i]), -z0[i]))
            M = [Z[i] if s else [F(0)] * n for i, s in enumerate(bits)]
            m = [z0[i] if s else F(0) for i, s in enumerate(bits)]
        W, b = layers[-1]
        A = [sum((W[0][k] * M[k][j] for k in range(len(M))), F(0)) for j in range(n)]
        c = sum((W[0][k] * m[k] for k in range(len(m))), F(0)) + b[0]
        items.append((prow, A, c))
    return _polytopes_from(items, box)


def _normalised(polys):
    out = []
    for P in polys:
        q = []
        for a, c in P:
            af = np.array([float(v) for v in a])
            nrm = float(np.linalg.norm(af))
            q.append((af / nrm, float(c) / nrm))
        out.append(q)
    return out


def _wide_net(polys, d, delta):
    R = len(polys)
    if R == 0:
        return Network([(np.zeros((1, d)), np.zeros(1)), (np.zeros((1, 1)), np.zeros(1))])
    m_tot = sum(len(P) for P in polys)
    W1 = np.zeros((2 * m_tot, d)); b1 = np.zeros(2 * m_tot)
    W2 = np.zeros((R, 2 * m_tot)); b2 = np.zeros(R)
    u = 0
    for r, P in enumerate(polys):
        for a, c in P:
            W1[u] = a / delta; b1[u] = c / delta + 1.0       # relu(t/delta + 1)
            W1[u + 1] = a / delta; b1[u + 1] = c / delta     # relu(t/delta)
            W2[r, u] = 1.0; W2[r, u + 1] = -1.0
            u += 2
        b2[r] = -(len(P) - 1.0)
    W3 = -np.ones((1, R)); b3 = np.ones(1)                  # relu(1 - sum AND)
    return Network([(W1, b1), (W2, b2), (W3, b3), (-np.ones((1, 1)), np.ones(1))])


def _deep_net(polys, d, delta, lo):
    """Slots [x~ (d), r+, r-, A, F]; width d + 4."""
    w = d + 4
    RP, RM, A, Fs = d, d + 1, d + 2, d + 3
    layers = []
    W = np.zeros((w, d)); b = np.zeros(w)
    W[:d, :d] = np.eye(d); b[:d] = -lo
    b[A] = 1.0; b[Fs] = 1.0
    layers.append((W, b))

    def carry():
        M = np.zeros((w, w))
        M[:d, :d] = np.eye(d)
        return M, np.zeros(w)

    for P in polys:
        for a, c in P:
            M, bb = carry()
            # t(x) = a.(x~ + lo) + c
            M[RP, :d] = a / delta; bb[RP] = (a @ lo + c) / delta + 1.0
            M[RM, :d] = a / delta; bb[RM] = (a @ lo + c) / delta
            M[A, A] = 1.0; M[Fs, Fs] = 1.0
            layers.append((M, bb))
            M, bb = carry()
            M[A, A] = 1.0; M[A, RP] = 1.0; M[A, RM] = -1.0; bb[A] = -1.0   # A <- relu(A + ramp - 1)
            M[Fs, Fs] = 1.0
            layers.append((M, bb))
        M, bb = carry()
        M[Fs, Fs] = 1.0; M[Fs, A] = -1.0                                    # F <- relu(F - A)
        bb[A] = 1.0                                                          # reset A <- 1
        layers.append((M, bb))
    out = np.zeros((1, w)); out[0, Fs] = -1.0
    layers.append((out, np.ones(1)))
    return Network(layers)


def margin_for(net: Network, box, polys, delta: float) -> float:
    """``gamma`` just above ``-min f`` over the relaxed polytopes ``{t_rj >= -delta}`` on the box
    (region by region, LP; the resulting claim is proved afterwards by the checker)."""
    worst = 0.0
    regs = linear_regions(net, box)
    for P in polys:
        Arel = np.array([-a for a, _ in P])
        brel = np.array([c + delta for _, c in P])
        for r in regs:
            H = np.array([[float(v) for v in row] for row in r.H])
            h = np.array([float(v) for v in r.h])
            cobj = np.array([float(v) for v in r.A[0]])
            val, _ = linprog_min(cobj, A_ub=np.vstack([H, Arel]), b_ub=np.concatenate([h, brel]),
                                 bounds=[(None, None)] * box.dim)
            if val is not None:
                worst = max(worst, -(val + float(r.c[0])))
    return worst * (1 + 1e-3) + 1e-9


class _DeMorgan(Transform):
    paper = PAPER
    needs_box = True
    params = {"delta": (float, 0.01, "ramp width of the relaxed half-spaces"),
              "gamma": (float, None, "decision margin (default: computed from the relaxed polytopes)")}

    def why_not(self, net, box):
        if net.n_outputs != 1:
            return f"needs a single-output classifier net [f(x) > 0], got {net.n_outputs} outputs"
        return None

    def _polys(self, net, box, **kw):
        return positive_polytopes(net, box)

    def _apply(self, net, box, delta, gamma, **kw):
        if not delta > 0:
            raise TransformError(f"delta must be > 0, got delta={delta}")
        polys = self._polys(net, box, **kw)
        normed = _normalised(polys)
        d = net.n_inputs
        new = self._build(normed, d, delta, np.asarray(box.lo, dtype=np.float64))
        g = margin_for(net, box, normed, delta) if gamma is None else float(gamma)
        msum = sum(len(P) for P in polys)
        claim = Claim(self.name, self.paper, "margin", box=box, tau_f=0.0, tau_g=0.5, gamma=g,
                      formula=self._formula(d, len(polys), msum), info={"polytopes": len(polys),
                                                                         "half_spaces": msum, "delta": delta})
        claim.weights_exact = False
        claim.notes.append(f"{len(polys)} positive polytopes, {msum} half-spaces; margin gamma = {g:.6g}"
                           + (" (computed)" if gamma is None else " (given)"))
        return new, claim


@register
class DeMorganWide(_DeMorgan):
    name = "demorgan-wide"
    summary = "classifier [f>0] -> OR of ANDs of half-spaces (3 hidden layers), decision-equivalent with margin"

    def _build(self, polys, d, delta, lo):
        return _wide_net(polys, d, delta)

    def _formula(self, d, R, msum):
        return {"hidden_layers": 3, "widths": [2 * msum, R, 1], "width": max(2 * msum, 1)}


@register
class DeMorganDeep(_DeMorgan):
    name = "demorgan-deep"
    summary = "classifier [f>0] -> 1 - AND of ORs of complemented half-spaces, width d+4, on --box"

    def _build(self, polys, d, delta, lo):
        return _deep_net(polys, d, delta, lo)

    def _formula(self, d, R, msum):
        return {"width": d + 4, "hidden_layers": 2 * msum + R + 1}


@register
class DeMorganSampled(DeMorganWide):
    name = "demorgan-sampled"
    summary = "KNOWN-BAD: the wide De Morgan net from regions found by sampling (misses thin regions)"
    known_bad = True
    params = {**_DeMorgan.params, "samples": (int, 64, "number of random points"), "seed": (int, 0, "sampling seed")}

    def _polys(self, net, box, samples, seed):
        if samples < 1:
            raise TransformError(f"samples must be >= 1, got samples={samples}")
        return sampled_polytopes(net, box, samples, seed)
