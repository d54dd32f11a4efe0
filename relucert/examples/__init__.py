"""Built-in example networks and pairs, generated from code (no data files).

Every example is deterministic: the same call gives the same weights (and digest) on every
machine.  Weights are dyadic rationals where the example is meant to be checked exactly.

>>> from relucert.examples import example_pairs
>>> [p.name for p in example_pairs()][:2]
['permuted-rewrite', 'deepened-rewrite']
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..box import Box
from ..network import Layer, Network

__all__ = ["ExamplePair", "TRANSFORM_EXAMPLES", "tent", "xor_classifier", "small_regressor", "permute_hidden", "prune_smallest",
           "round_weights", "example_networks", "example_pairs"]


def tent() -> Network:
    """The 1D hat ``x -> 2 relu(x) - 4 relu(x - 1/2) + 2 relu(x - 1)``: 0 at 0 and 1, 1 at 1/2."""
    W1 = np.array([[1.0], [1.0], [1.0]])
    b1 = np.array([0.0, -0.5, -1.0])
    W2 = np.array([[2.0, -4.0, 2.0]])
    return Network([(W1, b1), (W2, [0.0])], name="tent")


def xor_classifier() -> Network:
    """A 2-4-1 classifier, positive (output > 0) on the XOR quadrants of ``[-1, 1]^2``.

    ``h(x, y) = relu(x + y) + relu(-x - y) - relu(x - y) - relu(y - x)`` is ``|x+y| - |x-y|``,
    positive iff ``x y > 0``.
    """
    W1 = np.array([[1.0, 1.0], [-1.0, -1.0], [1.0, -1.0], [-1.0, 1.0]])
    W2 = np.array([[1.0, 1.0, -1.0, -1.0]])
    return Network([(W1, np.zeros(4)), (W2, [0.0])], name="xor")


def small_regressor(sizes=(2, 16, 16, 1), *, seed: int = 7) -> Network:
    """A seeded random regressor with weights rounded to multiples of 2**-10 (dyadic)."""
    net = Network.random(list(sizes), seed=seed)
    q = 2.0**10
    layers = [(np.round(L.weight * q) / q, np.round(L.bias * q) / q) for L in net.layers]
    return Network(layers, name=f"regressor-{'-'.join(map(str, sizes))}")


def permute_hidden(net: Network, *, seed: int = 0) -> Network:
    """The same function with every hidden layer's units permuted (an exact rewrite)."""
    rng = np.random.default_rng(seed)
    layers = [L for L in net.layers]
    out = []
    prev = None
    for i, L in enumerate(layers):
        W, b = L.weight, L.bias
        if prev is not None:
            W = W[:, prev]
        if i < len(layers) - 1:
            perm = rng.permutation(L.n_out)
            W, b = W[perm], b[perm]
            prev = perm
        out.append(Layer(W, b))
    return Network(out, name=f"{net.name}-permuted")


def prune_smallest(net: Network, layer: int = 0) -> Network:
    """Drop the hidden unit of ``layer`` with the smallest outgoing weight norm (a lossy rewrite)."""
    L, nxt = net.layers[layer], net.layers[layer + 1]
    k = int(np.argmin(np.abs(nxt.weight).sum(axis=0)))
    keep = [j for j in range(L.n_out) if j != k]
    layers = list(net.layers)
    layers[layer] = Layer(L.weight[keep], L.bias[keep])
    layers[layer + 1] = Layer(nxt.weight[:, keep], nxt.bias)
    return Network(layers, name=f"{net.name}-pruned")


def round_weights(net: Network, dtype=np.float16) -> Network:
    """Every weight and bias rounded to ``dtype`` (a quantized copy)."""
    return Network([(L.weight.astype(dtype).astype(np.float64), L.bias.astype(dtype).astype(np.float64))
                    for L in net.layers], name=f"{net.name}-{np.dtype(dtype).name}")


def example_networks() -> dict[str, Network]:
    """The named single networks used by ``relucert demo`` and the docs."""
    return {"tent": tent(), "xor": xor_classifier(), "regressor": small_regressor()}


@dataclass(frozen=True)
class ExamplePair:
    """A pair ``(f, g)`` with a box, a tolerance and the verdict relucert must reach."""

    name: str
    f: Network
    g: Network
    box: Box
    eps: float
    expected: str           # "EQUIVALENT" or "NOT_EQUIVALENT"
    story: str


def example_pairs() -> list[ExamplePair]:
    reg = small_regressor()
    box2 = Box.cube(2)
    return [
        ExamplePair("permuted-rewrite", reg, permute_hidden(reg), box2, 0.0, "EQUIVALENT",
                    "hidden units permuted: the same function, proved equal (eps = 0)"),
        ExamplePair("deepened-rewrite", xor_classifier(), xor_classifier().deepen(2), box2, 0.0, "EQUIVALENT",
                    "two identity-carrying ReLU layers added: the same function on all of R^2"),
        ExamplePair("quantized-copy", reg, round_weights(reg), box2, 0.05, "EQUIVALENT",
                    "weights rounded to float16: within eps = 0.05 on the box"),
        ExamplePair("broken-prune", reg, prune_smallest(reg), box2, 0.01, "NOT_EQUIVALENT",
                    "the weakest hidden unit dropped, claimed harmless: refuted with an exact counterexample"),
    ]


#: ``(transform name, network builder, box, expected verdict of its claim)`` for ``relucert demo``:
#: two of the papers' exact rewrites, a De Morgan classifier with its margin, and two known-bad
#: rewrites that the verifier must refute.
TRANSFORM_EXAMPLES = [
    ("arora-1d", lambda: Network.random([1, 8, 8, 1], seed=3, name="net-1d"), Box([-1.0], [1.0]), "EQUIVALENT"),
    ("vardi-narrow", lambda: small_regressor((2, 12, 1), seed=2), Box.cube(2), "EQUIVALENT"),
    ("demorgan-wide", xor_classifier, Box.cube(2), "EQUIVALENT"),
    ("arora-1d-short", lambda: Network.random([1, 8, 8, 1], seed=3, name="net-1d"), Box([-1.0], [1.0]),
     "NOT_EQUIVALENT"),
    ("vardi-lemma16-printed", lambda: small_regressor((2, 12, 1), seed=2), Box.cube(2), "NOT_EQUIVALENT"),
]
