"""Arora, Basu, Mianjy, Mukherjee (ICLR 2018): ReLU nets are exactly the CPWL functions.

* ``arora-1d`` (B.2): a 1D net with p pieces -> one hidden layer with p units (2 when p = 1);
* ``max-tree`` (B.3): ``max`` of the m outputs of a net in ``ceil(log2 m)`` more hidden layers;
* ``arora-maxaffine`` (B.4): any net on R^n -> an exact net with ``<= ceil(log2(n+1))`` hidden
  layers through the DC decomposition and the Wang-Sun signed sum of maxima of <= n+1 pieces;
* ``arora-1d-short`` (known bad): the 1D rewrite with p-2 units (one fewer than the p-1 bound).
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np

from ..network import Network
from ..regions import dc_decomposition, pieces_1d
from ._circuits import max_tree_widths, sum_of_maxes
from ._wangsun import wang_sun_terms
from .base import Claim, Transform, TransformError, ceil_log2, exactness, network_from_fractions, register

F = Fraction
PAPER = "Arora, Basu, Mianjy, Mukherjee, ICLR 2018"

__all__ = ["one_hidden_layer_1d", "max_affine_net", "Arora1D", "MaxTree", "AroraMaxAffine", "Arora1DShort"]


def one_hidden_layer_1d(breakpoints, slopes, value_at_t1, intercept=None):
    """Exact layers of B.2: ``f(t1) - s1 relu(t1 - x) + s2 relu(x - t1) + sum (s_{i+1} - s_i) relu(x - t_i)``.

    For one piece (no breakpoint) ``f = s x + c`` is ``s relu(x) - s relu(-x) + c`` (2 units).
    """
    t = [F(v) for v in breakpoints]
    s = [F(v) for v in slopes]
    if len(s) != len(t) + 1:
        raise TransformError(f"need p slopes for p-1 breakpoints, got {len(s)} and {len(t)}")
    if not t:
        c = F(intercept if intercept is not None else value_at_t1)
        return [(np.array([[F(1)], [F(-1)]], dtype=object), np.array([F(0), F(0)], dtype=object)),
                (np.array([[s[0], -s[0]]], dtype=object), np.array([c], dtype=object))]
    W1 = [[F(-1)], [F(1)]] + [[F(1)] for _ in t[1:]]
    b1 = [t[0], -t[0]] + [-ti for ti in t[1:]]
    W2 = [-s[0], s[1]] + [s[i + 1] - s[i] for i in range(1, len(t))]
    return [(np.array(W1, dtype=object), np.array(b1, dtype=object)),
            (np.array([W2], dtype=object), np.array([F(value_at_t1)], dtype=object))]


def _net_pieces(net, box):
    lo = None if box is None else box.lo[0]
    hi = None if box is None else box.hi[0]
    return pieces_1d(net, lo, hi)


@register
class Arora1D(Transform):
    name = "arora-1d"
    paper = PAPER + ", B.2"
    summary = "1D net with p pieces -> 1 hidden layer with p units (exact on R, or on --box)"

    def why_not(self, net, box):
        if net.n_inputs != 1 or net.n_outputs != 1:
            return f"needs a 1-input 1-output network, got {net.n_inputs} inputs and {net.n_outputs} outputs"
        return None

    def _layers(self, net, box):
        ps = _net_pieces(net, box)
        t = [p.lo for p in ps[1:]]
        s = [p.slope[0] for p in ps]
        v1 = ps[0].value(t[0])[0] if t else None
        return one_hidden_layer_1d(t, s, v1, intercept=ps[0].intercept[0]), len(ps)

    def _apply(self, net, box):
        layers, p = self._layers(net, box)
        new, exact = network_from_fractions(layers)
        kind = "exact-on-box" if box is not None else "exact"
        claim = Claim(self.name, self.paper, kind, box=box,
                      formula={"width": max(p, 2), "hidden_layers": 1, "params": 3 * max(p, 2) + 1},
                      info={"pieces": p})
        claim.notes.append(f"{p} affine piece(s) {'on the box' if box is not None else 'on R'}; lower bound p-1 = {p - 1} units")
        return new, exactness(claim, net, box, exact)


@register
class Arora1DShort(Arora1D):
    name = "arora-1d-short"
    summary = "KNOWN-BAD: the 1D rewrite with p-2 units (drops the smallest slope changes)"
    known_bad = True

    def why_not(self, net, box):
        why = super().why_not(net, box)
        if why:
            return why
        if len(_net_pieces(net, box)) < 2:
            return "needs at least 2 pieces"
        return None

    def _apply(self, net, box):
        layers, p = self._layers(net, box)
        (W1, b1), (W2, b2) = layers
        units = W1.shape[0]
        target = max(p - 2, 1)
        drop = units - target
        # drop the kink units with the smallest |slope change| (never unit 0/1 pair first)
        order = sorted(range(units), key=lambda j: (abs(W2[0, j]), j))
        gone = set(order[:drop])
        keep = [j for j in range(units) if j not in gone]
        layers = [(W1[keep], b1[keep]), (W2[:, keep], b2)]
        new, exact = network_from_fractions(layers)
        claim = Claim(self.name, self.paper, "exact-on-box" if box is not None else "exact", box=box,
                      formula={"width": p, "hidden_layers": 1}, info={"pieces": p})
        claim.notes.append(f"{len(keep)} units for {p} pieces: below the p-1 = {p - 1} lower bound, cannot be exact")
        return new, exactness(claim, net, box, exact)


def max_affine_net(A, b) -> tuple[Network, bool]:
    """The tournament max-tree for ``max_i (A_i x + b_i)`` (B.3): ``ceil(log2 m)`` hidden layers."""
    A = np.atleast_2d(np.asarray(A, dtype=object))
    pieces = [(list(row), bb) for row, bb in zip(A, np.asarray(b, dtype=object).reshape(-1))]
    return network_from_fractions(sum_of_maxes(A.shape[1], [(1, pieces)]))


def _max_reference(net: Network) -> Network:
    """``max_k net_k`` by a chain of the symmetric gadget ``(a+b)/2 + |a-b|/2`` (4 units): an
    independent realisation for checking ``max-tree``."""
    from .fan import _compose

    m = net.n_outputs
    cur = net
    k = m
    # chain: carry values, combine the first two each layer
    while k > 1:
        rows, bias = [], []
        # units: 4 for the pair (a+b, -a-b, a-b, b-a), then 2 per carried value
        e = np.eye(k)
        a, bb = e[0], e[1]
        rows += [a + bb, -a - bb, a - bb, bb - a]
        for j in range(2, k):
            rows += [e[j], -e[j]]
        W1 = np.array(rows)
        out = np.zeros((k - 1, W1.shape[0]))
        out[0, :4] = [0.5, -0.5, 0.5, 0.5]
        for j in range(2, k):
            out[j - 1, 4 + 2 * (j - 2)] = 1
            out[j - 1, 5 + 2 * (j - 2)] = -1
        step = Network([(W1, np.zeros(W1.shape[0])), (out, np.zeros(k - 1))])
        cur = _compose(cur, step)
        k -= 1
    return cur


@register
class MaxTree(Transform):
    name = "max-tree"
    paper = PAPER + ", B.3"
    summary = "max of the m outputs of a net (e.g. m affine pieces) in ceil(log2 m) more hidden layers"

    def why_not(self, net, box):
        if net.n_outputs < 1:
            return "needs at least one output"
        return None

    def _apply(self, net, box):
        from .fan import _compose

        m = net.n_outputs
        tree = sum_of_maxes(m, [(1, [([F(int(i == j)) for j in range(m)], F(0)) for i in range(m)])])
        tree_net, exact = network_from_fractions(tree)
        new = _compose(net, tree_net)
        exact = exact and _compose_exact(net, tree_net)
        claim = Claim(self.name, self.paper, "exact", box=box, reference=_max_reference(net),
                      formula={"hidden_layers": net.depth + ceil_log2(m), "widths": max_tree_widths(m)},
                      info={"m": m})
        claim.notes.append("reference: max of the outputs by a chain of symmetric 4-unit max gadgets")
        return new, exactness(claim, net, box, exact)


def _compose_exact(f: Network, g: Network) -> bool:
    """Whether folding g's first layer into f's last layer is exact in float64."""
    from ..regions._fracs import frac_array

    Wg = frac_array(g.layers[0].weight)
    Wf, bf = frac_array(f.layers[-1].weight), frac_array(f.layers[-1].bias)
    W = Wg.dot(Wf)
    b = Wg.dot(bf) + frac_array(g.layers[0].bias)
    return all(F(float(v)) == v for v in list(W.reshape(-1)) + list(b))


@register
class AroraMaxAffine(Transform):
    name = "arora-maxaffine"
    paper = PAPER + ", B.4 (Wang-Sun)"
    summary = "any net on R^n -> exact net with <= ceil(log2(n+1)) hidden layers (DC + Wang-Sun)"

    def why_not(self, net, box):
        if net.n_outputs != 1:
            return f"needs a single-output network, got {net.n_outputs} outputs"
        if net.n_inputs > 4:
            return f"the triangulation step is implemented for n <= 4 inputs, got n = {net.n_inputs}"
        return None

    def _apply(self, net, box):
        n = net.n_inputs
        g, h = dc_decomposition(net)
        terms = []
        affine = []
        arity = 1
        ks = []
        for sign, m in ((1, g), (-1, h)):
            tl, k = wang_sun_terms(m.slopes, m.intercepts)
            ks.append(k)
            for s, idx in tl:
                if len(m.pieces) == 1:  # an affine DC part (e.g. h = x1 + x2): fold it below
                    affine.append((sign * s, m.pieces[idx[0]]))
                    continue
                terms.append((sign * s, [m.pieces[i] for i in idx]))
                arity = max(arity, len(idx))
        # a DC part with one piece (e.g. h = x1 + x2 for ||x||_inf) is affine, s*l: fold it into a
        # term with >= 2 pieces, sign*max_i l_i + s*l = sign*max_i (l_i + sign*s*l), instead of
        # carrying it as its own term through every hidden layer with (relu(v), relu(-v)) units
        # (exact: the pieces stay rationals).  One-piece terms inside a part's Wang-Sun form (n = 1)
        # are kept, as in the reference's T = 2N - 3 count.
        multi = [t for t in terms if len(t[1]) > 1]
        if affine and multi:
            ta, tc = [F(0)] * n, F(0)
            for s, (a, c) in affine:
                ta = [x + s * F(v) for x, v in zip(ta, a)]
                tc += s * F(c)
            k0 = terms.index(multi[0])
            s0, p0 = terms[k0]
            shifted = [(tuple(F(v) + s0 * x for v, x in zip(a, ta)), F(c) + s0 * tc) for a, c in p0]
            terms[k0] = (s0, shifted)
        else:
            terms += [(s, [pc]) for s, pc in affine]
        layers = sum_of_maxes(n, terms)
        new, exact = network_from_fractions(layers)
        claim = Claim(self.name, self.paper, "exact", box=box,
                      formula={"hidden_layers": ceil_log2(n + 1), "max_arity": n + 1},
                      info={"pieces_g": len(g), "pieces_h": len(h), "terms": len(terms), "max_arity": arity})
        claim.notes.append(f"DC pieces: g {len(g)}, h {len(h)}; {len(terms)} max terms of arity <= {arity}")
        return new, exactness(claim, net, box, exact)
