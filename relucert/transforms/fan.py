"""Fan, Lai, Wang (arXiv 2002.02515), regression: wide and deep rewrites of any ReLU net.

* ``fan-wide`` (A-R-wide-exact, option 2): ``f = g - h`` (DC) as two tournament max-trees in
  parallel; exact on all of R^d, ``ceil(log2 max(p_g, p_h))`` hidden layers;
* ``fan-deep`` (A-R-deep-exact): running max of the pieces of g and h, width d+2 on a box
  (inputs carried as ``x - lo >= 0``), ``max(p_g, p_h)`` hidden layers; exact on the box;
* ``fan-simplex``, ``fan-simplex-deep`` (A-R-simplex, wide and deep; see :mod:`.fan_simplex`): soft
  simplex indicators with an inner collar ``delta``; equal to f off the collars (claimed with the
  collars as an explicit excluded set); ``fan-simplex-sup``, ``fan-simplex-deep-sup`` (known bad):
  the same networks claimed within eps on the whole box.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np

from ..network import Layer, Network
from ..regions import dc_decomposition
from ._circuits import max_tree_widths, sum_of_maxes
from .base import Claim, Transform, ceil_log2, exactness, network_from_fractions, register

F = Fraction
PAPER = "Fan, Lai, Wang, arXiv 2002.02515"

__all__ = ["FanWide", "FanDeep", "FanSimplex", "FanSimplexSup", "FanSimplexDeep", "FanSimplexDeepSup", "running_max_layers"]


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


# -- the simplex / indicator version lives in fan_simplex.py ---------------------------------
from .fan_simplex import FanSimplex, FanSimplexDeep, FanSimplexDeepSup, FanSimplexSup  # noqa: E402,F401  (register)
