"""Small exact-rational helpers shared by the region machinery and the transforms."""

from __future__ import annotations

from fractions import Fraction
from typing import Sequence

import numpy as np

__all__ = ["frac_array", "float_exact", "to_float_array", "solve_exact", "frac_layers"]


def frac_array(a) -> np.ndarray:
    """Object array of :class:`Fraction` holding the exact values of ``a`` (floats taken exactly)."""
    arr = np.asarray(a, dtype=object)
    out = np.empty(arr.shape, dtype=object)
    flat_in = arr.reshape(-1)
    flat_out = out.reshape(-1)
    for i, v in enumerate(flat_in):
        flat_out[i] = v if isinstance(v, Fraction) else Fraction(float(v)) if not isinstance(v, int) else Fraction(v)
    return out


def float_exact(v: Fraction) -> bool:
    """Whether the rational ``v`` is exactly a float64."""
    try:
        return Fraction(float(v)) == v
    except OverflowError:
        return False


def to_float_array(a) -> tuple[np.ndarray, bool]:
    """Round an object array of Fractions to float64; also say whether every entry was exact."""
    arr = np.asarray(a, dtype=object)
    out = np.empty(arr.shape, dtype=np.float64)
    exact = True
    fo = out.reshape(-1)
    for i, v in enumerate(arr.reshape(-1)):
        f = float(v)
        fo[i] = f
        if exact and Fraction(f) != Fraction(v):
            exact = False
    return out, exact


def frac_layers(net) -> list[tuple[np.ndarray, np.ndarray]]:
    """The layers of ``net`` as exact Fraction object arrays (cached on the network)."""
    cache = net.__dict__.get("_relucert_frac_layers")
    if cache is None:
        cache = [(frac_array(L.weight), frac_array(L.bias)) for L in net.layers]
        net.__dict__["_relucert_frac_layers"] = cache
    return cache


def solve_exact(M: Sequence[Sequence[Fraction]], rhs: Sequence[Fraction]) -> list[Fraction] | None:
    """One exact solution of ``M y = rhs`` (Gaussian elimination over Q), or None if inconsistent.

    Free variables are set to 0.
    """
    rows = [[Fraction(v) for v in r] + [Fraction(c)] for r, c in zip(M, rhs)]
    if not rows:
        return []
    ncol = len(rows[0]) - 1
    piv_cols = []
    r = 0
    for c in range(ncol):
        p = next((i for i in range(r, len(rows)) if rows[i][c] != 0), None)
        if p is None:
            continue
        rows[r], rows[p] = rows[p], rows[r]
        pv = rows[r][c]
        rows[r] = [v / pv for v in rows[r]]
        for i in range(len(rows)):
            if i != r and rows[i][c] != 0:
                f = rows[i][c]
                rows[i] = [a - f * b for a, b in zip(rows[i], rows[r])]
        piv_cols.append(c)
        r += 1
        if r == len(rows):
            break
    for i in range(r, len(rows)):
        if rows[i][-1] != 0 and all(v == 0 for v in rows[i][:-1]):
            return None
    y = [Fraction(0)] * ncol
    for i, c in enumerate(piv_cols):
        y[c] = rows[i][-1]
    return y
