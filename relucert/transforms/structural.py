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
                          formula={"hidden_layers": net.depth + extra}, info={"extra": extra})

    def invert(self, new, claim):
        """Drop the ``extra`` carry layers: the last original layer is the top half of the layer
        that feeds ``[relu(y), relu(-y)]``."""
        extra = claim.info["extra"]
        if extra == 0:
            return new
        D = new.depth - extra
        m = new.n_outputs
        if D < 0 or new.layers[D].weight.shape[0] != 2 * m:
            raise TransformError(f"deepen: the network does not have the deepened shape (extra={extra})")
        top = new.layers[D]
        return Network(list(new.layers[:D]) + [Layer(top.weight[:m], top.bias[:m])])


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
                      formula={"width": max([w + (parts - 1) * (i == layer) for i, w in enumerate(net.widths)])},
                      info={"layer": layer, "unit": unit, "parts": parts, "width": net.widths[layer]})
        if not exact:
            from .base import exactness

            exactness(claim, net, box, False)
        return new, claim

    def invert(self, new, claim):
        """Merge the copies back: the outgoing weights of the copies are added into the unit."""
        i, unit, parts, w = (claim.info[k] for k in ("layer", "unit", "parts", "width"))
        Ls = list(new.layers)
        if Ls[i].weight.shape[0] != w + parts - 1:
            raise TransformError(f"widen: hidden layer {i} should have {w + parts - 1} units")
        Ln = Ls[i + 1]
        Wn = Ln.weight[:, :w].copy()
        copies = Ln.weight[:, [unit] + list(range(w, w + parts - 1))]
        if np.all(copies == copies[:, :1]) and (parts & (parts - 1)) == 0:
            Wn[:, unit] = copies[:, 0] * parts      # equal copies, power of two: exact
        else:
            Wn[:, unit] = copies.sum(axis=1)
        Ls[i] = Layer(Ls[i].weight[:w], Ls[i].bias[:w])
        Ls[i + 1] = Layer(Wn, Ln.bias)
        return Network(Ls)


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
        record = []          # per hidden layer: (original width, kept units, removed units)
        for i in range(net.depth):
            W, b = Ls[i]
            Wn, bn = Ls[i + 1]
            W0, b0, Wn0 = W.copy(), b.copy(), Wn.copy()
            keep = []
            seen = {}
            removed = []
            for j in range(W.shape[0]):
                if j in dead_sets[i] or (not np.any(W[j]) and b[j] <= 0):
                    removed_dead += 1
                    removed.append((j, None))
                    continue
                key = (W[j].tobytes(), float(b[j]))
                if key in seen:
                    k = seen[key]
                    removed.append((j, k))
                    s = Wn[:, k] + Wn[:, j]
                    if not all(Fraction(float(x)) == Fraction(float(y)) + Fraction(float(z))
                               for x, y, z in zip(s, Wn[:, k], Wn[:, j])):
                        exact = False
                    Wn[:, k] = s
                    removed_dup += 1
                    continue
                seen[key] = j
                keep.append(j)
            zeroed = not keep
            if zeroed:  # keep one (zero) unit so the layer stays
                keep = [0]
                W = W.copy(); W[0] = 0; b = b.copy(); b[0] = 0
                Wn = Wn.copy(); Wn[:, 0] = 0
                removed = [(j, k) for j, k in removed if j != 0]
            record.append({"width": int(W0.shape[0]), "keep": list(keep), "zeroed": zeroed,
                           "rows": {j: (W0[j].copy(), float(b0[j])) for j in range(W0.shape[0])},
                           "cols": {j: Wn0[:, j].copy() for j in range(W0.shape[0])},
                           "merged": {int(k): Wn[:, k].copy() for _, k in removed if k is not None},
                           "removed": removed})
            Ls[i] = (W[keep], b[keep])
            Ls[i + 1] = (Wn[:, keep], bn)
        new = Network(Ls)
        kind = "exact-on-box" if box is not None else "exact"
        claim = Claim(self.name, self.paper, kind, box=box, info={"dead": removed_dead, "duplicates": removed_dup,
                                                                   "record": record})
        claim.notes.append(f"removed {removed_dead} dead and {removed_dup} duplicate neuron(s)")
        if not exact:
            from .base import exactness

            exactness(claim, net, box, False)
        return new, claim

    def invert(self, new, claim):
        """Put the removed units back at their places: dead units with their original weights,
        duplicates with their own outgoing weights (taken out of the unit they were merged into;
        the original column when that unit's weights are unchanged)."""
        rec = claim.info["record"]
        if len(rec) != new.depth:
            raise TransformError(f"prune: expected {len(rec)} hidden layers, got {new.depth}")
        Ls = [(L.weight.copy(), L.bias.copy()) for L in new.layers]
        for i in reversed(range(len(rec))):   # layer i+1's rows are restored before layer i's columns
            r = rec[i]
            W, b = Ls[i]
            Wn, bn = Ls[i + 1]
            w = r["width"]
            if W.shape[0] != len(r["keep"]):
                raise TransformError(f"prune: hidden layer {i} should have {len(r['keep'])} units, got {W.shape[0]}")
            W2 = np.zeros((w, W.shape[1])); b2 = np.zeros(w); Wn2 = np.zeros((Wn.shape[0], w))
            for pos, j in enumerate(r["keep"]):
                if r["zeroed"]:
                    W2[j], b2[j] = r["rows"][j]
                    Wn2[:, j] = r["cols"][j]
                else:
                    W2[j], b2[j] = W[pos], b[pos]
                    col = Wn[:, pos]
                    if j in r["merged"] and np.array_equal(col, r["merged"][j]):
                        col = r["cols"][j]                     # unchanged: the original column
                    elif j in r["merged"]:
                        col = col - sum(r["cols"][jj] for jj, k in r["removed"] if k == j)
                    Wn2[:, j] = col
            for j, k in r["removed"]:
                W2[j], b2[j] = r["rows"][j] if k is None else (W2[k], b2[k])
                Wn2[:, j] = r["cols"][j]
            Ls[i] = (W2, b2)
            Ls[i + 1] = (Wn2, bn)
        return Network(Ls)
