"""Exact rational evaluation of ReLU networks.

Every float64 weight is a dyadic rational ``m * 2**e``.  Per layer we scale the weights and bias
to integers with one common power of two, so a forward pass on a rational input is pure integer
arithmetic (Python ints, no gcd work) and the result is converted to :class:`fractions.Fraction`
once at the end.  This is exact and much faster than evaluating with ``Fraction`` objects.
"""

from __future__ import annotations

from fractions import Fraction
from math import lcm
from typing import Sequence

import numpy as np

__all__ = ["to_fraction", "fractions_of", "IntegerLayer", "integer_layers", "eval_exact"]


def to_fraction(v) -> Fraction:
    """Exact rational value of a float, int, Fraction or rational string like ``"-3/8"``."""
    if isinstance(v, Fraction):
        return v
    if isinstance(v, (int, np.integer)):
        return Fraction(int(v))
    if isinstance(v, str):
        return Fraction(v.strip())
    f = float(v)
    if f != f or f in (float("inf"), float("-inf")):
        raise ValueError(f"cannot convert non-finite value {v!r} to a rational")
    return Fraction(f)


def fractions_of(values) -> list[Fraction]:
    return [to_fraction(v) for v in np.asarray(values, dtype=object).reshape(-1)]


class IntegerLayer:
    """``W = Wi / 2**k`` and ``b = bi / 2**k`` with integer (object) arrays ``Wi`` and ``bi``."""

    __slots__ = ("Wi", "bi", "k")

    def __init__(self, W: np.ndarray, b: np.ndarray):
        ratios_w = [float(v).as_integer_ratio() for v in W.reshape(-1)]
        ratios_b = [float(v).as_integer_ratio() for v in b.reshape(-1)]
        k = 0
        for _, d in ratios_w + ratios_b:
            k = max(k, d.bit_length() - 1)
        scale = 1 << k
        self.Wi = np.array([n * (scale // d) for n, d in ratios_w], dtype=object).reshape(W.shape)
        self.bi = np.array([n * (scale // d) for n, d in ratios_b], dtype=object)
        self.k = k


def integer_layers(weights: Sequence[np.ndarray], biases: Sequence[np.ndarray]) -> list[IntegerLayer]:
    return [IntegerLayer(W, b) for W, b in zip(weights, biases)]


def _relu_int(v: np.ndarray) -> np.ndarray:
    return np.array([a if a > 0 else 0 for a in v], dtype=object)


def eval_exact(layers: Sequence[IntegerLayer], x) -> list[Fraction]:
    """Exact output of the network for one input ``x`` (floats, ints, Fractions or strings)."""
    xs = fractions_of(x)
    den = 1
    for v in xs:
        den = lcm(den, v.denominator)
    vec = np.array([v.numerator * (den // v.denominator) for v in xs], dtype=object)
    scale = den  # value = vec / scale
    last = len(layers) - 1
    for i, L in enumerate(layers):
        vec = L.Wi.dot(vec) + L.bi * scale
        scale = scale << L.k
        if i != last:
            vec = _relu_int(vec)
    return [Fraction(int(v), scale) for v in vec]
