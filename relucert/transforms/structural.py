"""Structural rewrites used everywhere: deepen by identity layers, widen by splitting a neuron into
positive multiples, permute neurons, remove dead or duplicate neurons on a box.  All exact."""

from __future__ import annotations

from fractions import Fraction

import numpy as np

from ..network import Layer, Network
from .base import Claim, Transform, TransformError, register

__all__ = ["Deepen", "Widen", "Permute", "Prune"]

PAPER = "structural (positive homogeneity of ReLU)"


@register
class Deepen(Transform):
    name = "deepen"
    paper = PAPER
    summary = "add identity layers (outputs carried as relu(y), relu(-y)); exact on R^d"
    params = {"extra": (int, 1, "number of hidden layers to add")}

    def _apply(self, net, box, extra):
        if extra < 0:
            raise TransformError(f"extra must be >= 0, got extra={extra}")
        new = net.deepen(extra)
        return new, Claim(self.name, self.paper, "exact", box=box,
                          formula={"hidden_layers": net.depth + extra})


@register
class Widen(Transform):
    name = "widen"
    paper = PAPER
    summary = "split a hidden neuron into k copies with outgoing weights / k (k a power of two: exact)"
    params = {"layer": (int, 0, "hidden layer index"), "unit": (int, 0, "unit index"),
              "parts": (int, 2, "number of copies (a power of two keeps it exact)")}

    def why_not(self, net, box):
        if net.depth < 1:
            return "needs at least one hidden layer"
        return None

    def _apply(self, net, box, layer, unit, parts):
        if not 0 <= layer < net.depth:
            raise TransformError(f"layer must be in [0, {net.depth - 1}], got layer={layer}")
        if not 0 <= unit < net.widths[layer]:
            raise TransformError(f"unit must be in [0, {net.widths[layer] - 1}], got unit={unit}")
        if parts < 1:
            raise TransformError(f"parts must be >= 1, got parts={parts}")
        Ls = list(net.layers)
        L, Ln = Ls[layer], Ls[layer + 1]
        W = np.vstack([L.weight] + [L.weight[unit:unit + 1]] * (parts - 1))
        b = np.concatenate([L.bias] + [L.bias[unit:unit + 1]] * (parts - 1))
        col = Ln.weight[:, unit:unit + 1] / parts
        Wn = Ln.weight.copy()
        Wn[:, unit:unit + 1] = col
        Wn = np.hstack([Wn] + [col] * (parts - 1))
        Ls[layer] = Layer(W, b)
        Ls[layer + 1] = Layer(Wn, Ln.bias)
        new = Network(Ls)
        exact = bool(np.array_equal(col * parts, Ln.weight[:, unit:unit + 1])) and (parts & (parts - 1)) == 0
        claim = Claim(self.name, self.paper, "exact", box=box,
                      formula={"width": max([w + (parts - 1) * (i == layer) for i, w in enumerate(net.widths)])})
        if not exact:
            from .base import exactness

            exactness(claim, net, box, False)
        return new, claim


@register
class Permute(Transform):
    name = "permute"
    paper = PAPER
    summary = "permute the neurons of every hidden layer (seeded); exact, with an inverse"
    params = {"seed": (int, 0, "permutation seed")}

    def _apply(self, net, box, seed):
        rng = np.random.default_rng(seed)
        perms = [rng.permutation(w) for w in net.widths]
        new = _permuted(net, perms)
        claim = Claim(self.name, self.paper, "exact", box=box, info={"permutations": [p.tolist() for p in perms]})
        return new, claim

    def invert(self, new, claim):
        perms = [np.argsort(np.array(p)) for p in claim.info["permutations"]]
        return _permuted(new, perms)


def _permuted(net, perms):
    Ls = list(net.layers)
    out = []
    prev = None
    for i, L in enumerate(Ls):
        W, b = L.weight, L.bias
        if prev is not None:
            W = W[:, prev]
        if i < len(perms):
            p = np.asarray(perms[i])
            W, b = W[p], b[p]
            prev = p
        out.append(Layer(W, b))
    return Network(out)


@register
class Prune(Transform):
    name = "prune"
    paper = PAPER
    summary = "remove neurons dead on --box (sound interval bounds) and merge exact duplicates"

    def _apply(self, net, box):
        from ..bounds.interval import interval_bounds_batch

        dead_sets = [set() for _ in net.widths]
        if box is not None:
            pre = interval_bounds_batch(net, box.lo[None, :], box.hi[None, :])
            for i in range(net.depth):
                hi = pre[i][1][0]
                dead_sets[i] = {int(j) for j in np.flatnonzero(hi <= 0)}
        Ls = [(L.weight.copy(), L.bias.copy()) for L in net.layers]
        removed_dead = removed_dup = 0
        exact = True
        for i in range(net.depth):
            W, b = Ls[i]
            Wn, bn = Ls[i + 1]
            keep = []
            seen = {}
            for j in range(W.shape[0]):
                if j in dead_sets[i] or (not np.any(W[j]) and b[j] <= 0):
                    removed_dead += 1
                    continue
                key = (W[j].tobytes(), float(b[j]))
                if key in seen:
                    k = seen[key]
                    s = Wn[:, k] + Wn[:, j]
                    if not all(Fraction(float(x)) == Fraction(float(y)) + Fraction(float(z))
                               for x, y, z in zip(s, Wn[:, k], Wn[:, j])):
                        exact = False
                    Wn[:, k] = s
                    removed_dup += 1
                    continue
                seen[key] = j
                keep.append(j)
            if not keep:  # keep one (zero) unit so the layer stays
                keep = [0]
                W = W.copy(); W[0] = 0; b = b.copy(); b[0] = 0
                Wn = Wn.copy(); Wn[:, 0] = 0
            Ls[i] = (W[keep], b[keep])
            Ls[i + 1] = (Wn[:, keep], bn)
        new = Network(Ls)
        kind = "exact-on-box" if box is not None else "exact"
        claim = Claim(self.name, self.paper, kind, box=box, info={"dead": removed_dead, "duplicates": removed_dup})
        claim.notes.append(f"removed {removed_dead} dead and {removed_dup} duplicate neuron(s)")
        if not exact:
            from .base import exactness

            exactness(claim, net, box, False)
        return new, claim
