"""Symbolic linear bounds by back-substitution (CROWN / DeepPoly style), rigorous in float64.

Every back-substitution step keeps a statement ``objective <= Lam . v + c`` valid for the exact
reals: coefficient matrices are whatever float64 numbers were computed, and every rounding error
of a product is bounded a priori (see :mod:`relucert.bounds._fp`) and added to ``c`` using bounds
on ``|v|``.  Relaxations use float slopes whose validity is enforced by directed rounding of the
intercepts, so the final bounds are sound.  Batched over many boxes: arrays carry a leading
batch axis ``B``.
"""

from __future__ import annotations

import numpy as np

from ..box import Box
from ..network import Network
from ._fp import U, add_up, box_max, center_radius, down, matmul_err, mm_up, up
from .interval import affine_interval

__all__ = ["relu_upper", "relu_lower_slope", "crown_bounds_batch", "crown_bounds", "objective_bounds"]


def relu_upper(l: np.ndarray, u: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Slope ``s`` and intercept ``t`` with ``relu(z) <= s z + t`` for all ``z`` in ``[l, u]``.

    Stable neurons get the exact line; unstable ones the chord, its intercept rounded so that the
    line lies above relu at both endpoints (enough, by convexity)."""
    active = l >= 0
    unstable = (l < 0) & (u > 0)
    s = np.where(active, 1.0, 0.0)
    t = np.zeros_like(l)
    if unstable.any():
        lu, uu = l[unstable], u[unstable]
        su = np.clip(uu / (uu - lu), 0.0, 1.0)
        tu = np.maximum(up(-su * lu), up(uu - down(su * uu)))
        s[unstable] = su
        t[unstable] = np.maximum(tu, 0.0)
    return s, t


def relu_lower_slope(l: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Slope ``a`` in {0, 1} with ``relu(z) >= a z`` everywhere (adaptive CROWN choice)."""
    return np.where(l >= 0, 1.0, np.where((u > 0) & (u > -l), 1.0, 0.0))


def _relax_step(Lam, c, s, t, a, zmax):
    """Through ``h = relu(z)``: objective <= Lam h + c  ->  <= Lam' z + c'."""
    Lp = np.maximum(Lam, 0.0)
    Ln = np.minimum(Lam, 0.0)
    new = Lp * s[:, None, :] + Ln * a[:, None, :]
    ct, et = matmul_err(Lp, t[..., None])
    # |fl(Lp s) - Lp s| <= u |new| (the two parts have disjoint supports, so the sum is exact);
    # mm_up rounds the error product itself upward (a plain matmul could come out low by gamma(k))
    prod_err = mm_up(U * np.abs(new), zmax[..., None])
    c = add_up(c, ct[..., 0], et[..., 0], up(prod_err[..., 0] * (1 + 4 * U)))
    return new, c


def _affine_step(Lam, c, W, b, vmax):
    """Through ``z = W v + b``: objective <= Lam z + c  ->  <= (Lam W) v + c'."""
    new, E = matmul_err(Lam, W)
    cb, eb = matmul_err(Lam, b[:, None] if b.ndim == 1 else b)
    err = mm_up(E, vmax[..., None])
    c = add_up(c, cb[..., 0], eb[..., 0], up(err[..., 0] * (1 + 4 * U)))
    return new, c


def _backsub(net: Network, k: int, Lam: np.ndarray, c: np.ndarray, pre, relax, xc, xr, xmax) -> np.ndarray:
    """Upper bound of ``Lam z_k + c`` over the box, back-substituting to the input."""
    layers = net.layers
    for j in range(k, 0, -1):
        L = layers[j]
        hmax = np.maximum(pre[j - 1][1], 0.0)
        Lam, c = _affine_step(Lam, c, L.weight, L.bias, hmax)
        s, t, a = relax[j - 1]
        zl, zu = pre[j - 1]
        Lam, c = _relax_step(Lam, c, s, t, a, np.maximum(np.abs(zl), np.abs(zu)))
    L0 = layers[0]
    Lam, c = _affine_step(Lam, c, L0.weight, L0.bias, xmax)
    return add_up(box_max(Lam, xc, xr), c)


def crown_bounds_batch(net: Network, lo: np.ndarray, hi: np.ndarray, *, C: np.ndarray | None = None,
                       d: np.ndarray | None = None):
    """Sound CROWN bounds for a batch of boxes.

    Returns ``(pre, (obj_lo, obj_hi))``: ``pre`` is the list of pre-activation bound pairs of
    every layer (B, width) (the output layer included), and the bounds of ``C z_L + d`` when
    ``C`` is given (``C`` of shape (m, n_out)), else ``None``.
    """
    lo = np.atleast_2d(np.asarray(lo, dtype=np.float64))
    hi = np.atleast_2d(np.asarray(hi, dtype=np.float64))
    B = lo.shape[0]
    xc, xr = center_radius(lo, hi)
    xmax = np.maximum(np.abs(lo), np.abs(hi))
    layers = net.layers
    pre: list = []
    relax: list = []
    hl, hh = lo, hi
    for k, L in enumerate(layers):
        il, ih = affine_interval(L.weight, L.bias, hl, hh)
        if k > 0:
            n = L.n_out
            eye = np.eye(n)
            Lam = np.broadcast_to(np.vstack([eye, -eye]), (B, 2 * n, n)).copy()
            ub = _backsub(net, k, Lam, np.zeros((B, 2 * n)), pre, relax, xc, xr, xmax)
            il = np.maximum(il, -ub[:, n:])
            ih = np.minimum(ih, ub[:, :n])
        pre.append((il, ih))
        if k < len(layers) - 1:
            s, t = relu_upper(il, ih)
            relax.append((s, t, relu_lower_slope(il, ih)))
            hl, hh = np.maximum(il, 0.0), np.maximum(ih, 0.0)
    if C is None:
        return pre, None
    C = np.atleast_2d(np.asarray(C, dtype=np.float64))
    m = C.shape[0]
    d = np.zeros(m) if d is None else np.asarray(d, dtype=np.float64)
    Lam = np.broadcast_to(np.vstack([C, -C]), (B, 2 * m, C.shape[1])).copy()
    c0 = np.broadcast_to(np.concatenate([d, -d]), (B, 2 * m)).copy()
    k = len(layers) - 1
    # the output layer is affine: substitute it and go on from the last hidden layer
    ub = _backsub(net, k, Lam, c0, pre, relax, xc, xr, xmax)
    # also intersect with the interval of C z_L + d
    zl, zh = pre[-1]
    icl, ich = affine_interval(C, d, zl, zh)
    return pre, (np.maximum(-ub[:, m:], icl), np.minimum(ub[:, :m], ich))


def crown_bounds(net: Network, box: Box):
    """Pre-activation bounds of every layer for one box (CROWN, sound)."""
    box.check_dim(net.n_inputs)
    pre, _ = crown_bounds_batch(net, box.lo[None], box.hi[None])
    return [(a[0], b[0]) for a, b in pre]


def objective_bounds(net: Network, box: Box, C, d=None) -> tuple[np.ndarray, np.ndarray]:
    """Sound bounds of ``C net(x) + d`` over the box."""
    box.check_dim(net.n_inputs)
    _, (ol, oh) = crown_bounds_batch(net, box.lo[None], box.hi[None], C=C, d=d)
    return ol[0], oh[0]
