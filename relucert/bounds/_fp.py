"""Rigorous float64 helpers: outward rounding and a-priori error bounds for matrix products.

All bound engines compute in float64 (round-to-nearest) and keep every claimed bound rigorous
for the *exact* real values of their float inputs:

* a single operation ``fl(a op b)`` is within half an ulp of the exact result, so
  ``up(fl(a op b)) >= a op b >= down(fl(a op b))``;
* a dot product of length ``k`` in any summation order (BLAS, FMA or not) satisfies
  ``|fl(a.b) - a.b| <= gamma(k) |a|.|b| + k*eta`` with ``gamma(k) = k u / (1 - k u)``,
  ``u = 2**-53`` and ``eta`` covering underflow.

``matmul_err`` returns the product and such an error bound, itself rounded up.
"""

from __future__ import annotations

import numpy as np

U = 2.0 ** -53
ETA = 2.0 ** -1020          # generous underflow allowance per product term
_INF = np.inf


_C52 = 2.0 ** -52
_TINY = 2.0 ** -1074        # the smallest subnormal
_MAXF = np.finfo(np.float64).max


_SMALL = 512                # below this many entries np.nextafter's single call is cheaper


def up(x):
    """A float ``>=`` every real within half an ulp of ``x`` (so ``up(fl(a op b)) >= a op b``).

    Scalars and small arrays: ``np.nextafter(x, inf)``.  Large arrays: ``x + (|x| 2**-52 +
    2**-1074)``, about 10 times faster.  For finite ``x`` the added amount is at least ``ulp(x)``
    (``|x| 2**-52 >= ulp(x)`` for normal ``x``, the subnormal ulp is ``2**-1074``; rounding is
    monotone), so the result is at least ``nextafter(x, inf)``; ``up(inf) = inf``,
    ``up(-inf) = -inf`` (``|x|`` is capped at the largest float), nan stays nan."""
    if not isinstance(x, np.ndarray) or x.size < _SMALL:
        return np.nextafter(x, _INF)
    r = np.abs(x)
    np.minimum(r, _MAXF, out=r)
    r *= _C52
    r += _TINY
    r += x
    return r


def down(x):
    """A float ``<=`` every real within half an ulp of ``x``: ``-up(-x)`` (negation is exact)."""
    return -up(-x)


def gamma(k: int) -> float:
    """Rounded-up ``k u / (1 - k u)`` plus slack for the error-bound computation itself."""
    k = max(int(k), 1)
    g = _GAMMA.get(k)
    if g is None:
        kk = k + 2
        g = _GAMMA[k] = float(np.nextafter(1.01 * kk * U / (1.0 - kk * U), _INF))
    return g


_GAMMA: dict = {}


def matmul_err(A: np.ndarray, B: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``C = A @ B`` and ``E >= |A B - C|`` entrywise (batched matmul semantics)."""
    C = A @ B
    k = A.shape[-1]
    E = up(gamma(k) * (np.abs(A) @ np.abs(B)) + k * ETA)
    return C, E


def mm_up(A: np.ndarray, B: np.ndarray) -> np.ndarray:
    """An upper bound of the exact ``A @ B`` for non-negative ``A, B`` (any shapes matmul accepts)."""
    return dot_up(A @ B, A.shape[-1])


def dot_up(v, k: int):
    """An upper bound of exact dot products ``a . b >= 0`` of length ``k`` whose float values (any
    summation order) are ``v``: ``|v - a.b| <= gamma(k) a.b + k eta`` gives ``a.b <= (v + k eta) /
    (1 - gamma(k))``, which ``v (1 + gamma(k)) + k eta``, rounded up, covers.  ``v`` may also be the
    negated float product of an ``a <= 0`` (the same bound holds for ``|a| . b``)."""
    return up(v * (1.0 + gamma(k)) + k * ETA)


def err_vec(Aabs: np.ndarray, Babs_v: np.ndarray, k: int) -> np.ndarray:
    """Upper bound of ``gamma(k) |A| |B| v`` given ``|A|`` and the (rounded-up) vector ``|B| v``.

    This is the rounding error of ``fl(A @ B) @ v`` relative to ``(A @ B) @ v`` for ``|x| <= v``,
    computed as a matrix-vector product instead of a matrix-matrix one."""
    return up(gamma(k) * mm_up(Aabs, Babs_v[..., None])[..., 0] * (1.0 + gamma(Aabs.shape[-1])))


def center_radius(lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``c, r`` with ``[lo, hi]`` contained in ``[c - r, c + r]`` exactly."""
    c = 0.5 * lo + 0.5 * hi
    r = up(np.maximum(up(hi - c), up(c - lo)))
    return c, np.maximum(r, 0.0)


def add_up(*terms):
    """An upper bound of the exact sum of float terms."""
    s = terms[0]
    mag = np.abs(terms[0])
    for t in terms[1:]:
        s = s + t
        mag = mag + np.abs(t)
    n = len(terms)
    return up(s + up(gamma(n) * mag))


def add_down(*terms):
    s = terms[0]
    mag = np.abs(terms[0])
    for t in terms[1:]:
        s = s + t
        mag = mag + np.abs(t)
    n = len(terms)
    return down(s - up(gamma(n) * mag))


def box_max(L: np.ndarray, c: np.ndarray, r: np.ndarray) -> np.ndarray:
    """Rigorous upper bound of ``max_{|x - c| <= r} L x`` for batched ``L`` (B, m, n), ``c, r`` (B, n)."""
    lin, e1 = matmul_err(L, c[..., None])
    rad, e2 = matmul_err(np.abs(L), r[..., None])
    return add_up(lin[..., 0], rad[..., 0], e1[..., 0], e2[..., 0])
