"""Random mutations (known bad): each claims ``exact`` and should be refuted by the verifier.

* ``mutate-drop``: drop one neuron that is alive on the box;
* ``mutate-perturb``: scale one incoming weight of an alive neuron by ``1 + scale``;
* ``mutate-bias``: shift the bias of an alive neuron by ``scale (1 + |b|)``;
* ``mutate-offset``: carry the inputs through ReLUs with too small an offset,
  ``x -> net(relu(x - lo - s) + lo + s)`` with ``s = scale * width`` (wrong for ``x < lo + s``).
"""

from __future__ import annotations

import numpy as np

from ..network import Layer, Network
from .base import Claim, Transform, TransformError, register

__all__ = ["MUTATIONS", "mutate"]

PAPER = "mutation (known bad)"


def _alive(net, box):
    """(layer, unit) pairs active at some point of the box with a nonzero outgoing weight.

    Points are sampled only to *choose* what to mutate; the verdict comes from the verifier."""
    if box is None:
        return [(i, j) for i in range(net.depth) for j in range(net.widths[i])]
    rng = np.random.default_rng(1234)
    X = np.vstack([box.sample(256, rng), box.center[None, :]])
    zs = net.pre_activations(X)
    out = []
    for i in range(net.depth):
        nxt = net.layers[i + 1].weight
        act = np.any(zs[i] > 0, axis=0)
        for j in np.flatnonzero(act):
            if np.any(nxt[:, j] != 0):
                out.append((i, int(j)))
    return out


class _Mutation(Transform):
    paper = PAPER
    known_bad = True
    needs_box = True
    params = {"seed": (int, 0, "which neuron/weight"), "scale": (float, 0.25, "size of the change")}

    def why_not(self, net, box):
        if net.depth < 1:
            return "needs at least one hidden layer"
        return None

    def _pick(self, net, box, seed):
        alive = _alive(net, box)
        if not alive:
            raise TransformError(f"{self.name}: no neuron is alive on the box")
        rng = np.random.default_rng(seed)
        return alive[int(rng.integers(len(alive)))], rng

    def _claim(self, box, what):
        c = Claim(self.name, self.paper, "exact-on-box", box=box)
        c.notes.append(what)
        return c


@register
class MutateDrop(_Mutation):
    name = "mutate-drop"
    summary = "KNOWN-BAD: drop one neuron alive on the box"

    def _apply(self, net, box, seed, scale):
        (i, j), _ = self._pick(net, box, seed)
        Ls = list(net.layers)
        W, b = Ls[i].weight.copy(), Ls[i].bias.copy()
        W[j] = 0
        b[j] = 0
        Ls[i] = Layer(W, b)
        return Network(Ls), self._claim(box, f"dropped neuron {j} of hidden layer {i}")


@register
class MutatePerturb(_Mutation):
    name = "mutate-perturb"
    summary = "KNOWN-BAD: scale one incoming weight of an alive neuron by 1 + scale"

    def _apply(self, net, box, seed, scale):
        (i, j), rng = self._pick(net, box, seed)
        Ls = list(net.layers)
        W = Ls[i].weight.copy()
        nz = np.flatnonzero(W[j])
        if nz.size == 0:
            raise TransformError(f"{self.name}: neuron {j} of layer {i} has no nonzero weight")
        k = int(nz[int(rng.integers(nz.size))])
        W[j, k] *= 1 + scale
        Ls[i] = Layer(W, Ls[i].bias)
        return Network(Ls), self._claim(box, f"weight [{j},{k}] of layer {i} scaled by {1 + scale:g}")


@register
class MutateBias(_Mutation):
    name = "mutate-bias"
    summary = "KNOWN-BAD: shift the bias of an alive neuron"

    def _apply(self, net, box, seed, scale):
        (i, j), _ = self._pick(net, box, seed)
        Ls = list(net.layers)
        b = Ls[i].bias.copy()
        b[j] += scale * (1 + abs(b[j]))
        Ls[i] = Layer(Ls[i].weight, b)
        return Network(Ls), self._claim(box, f"bias {j} of layer {i} shifted to {b[j]:g}")


@register
class MutateOffset(_Mutation):
    name = "mutate-offset"
    summary = "KNOWN-BAD: carry inputs through ReLUs with too small an offset (x - lo - s)"

    def why_not(self, net, box):
        return None

    def _apply(self, net, box, seed, scale):
        s = scale * np.asarray(box.width, dtype=np.float64)
        shift = np.asarray(box.lo, dtype=np.float64) + s
        d = net.n_inputs
        first = Layer(np.eye(d), -shift)
        L0 = net.layers[0]
        nxt = Layer(L0.weight, L0.weight @ shift + L0.bias)
        new = Network((first, nxt) + net.layers[1:])
        return new, self._claim(box, f"inputs carried as relu(x - lo - {float(np.max(s)):g}): clipped near lo")


MUTATIONS = ("drop", "perturb", "bias", "offset")


def mutate(net, box, kind: str, *, seed: int = 0, scale: float = 0.25):
    """Apply the mutation ``kind`` (one of ``MUTATIONS``); returns ``(new_net, claim)``."""
    from .base import get

    if kind not in MUTATIONS:
        raise TransformError(f"kind must be one of {', '.join(MUTATIONS)}, got kind={kind!r}")
    return get(f"mutate-{kind}").apply(net, box, seed=seed, scale=scale)
