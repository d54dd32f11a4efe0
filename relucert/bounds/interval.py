"""Interval bound propagation with outward rounding (sound for the exact real semantics)."""

from __future__ import annotations

import numpy as np

from ..box import Box
from ..network import Network
from ._fp import add_down, add_up, center_radius, matmul_err

__all__ = ["interval_bounds", "interval_bounds_batch", "affine_interval"]


def affine_interval(W: np.ndarray, b: np.ndarray, lo: np.ndarray, hi: np.ndarray):
    """Sound enclosure of ``{W h + b : lo <= h <= hi}`` for batched ``lo, hi`` of shape (B, n)."""
    c, r = center_radius(lo, hi)
    zc, e1 = matmul_err(c, W.T)
    zr, e2 = matmul_err(r, np.abs(W).T)
    err = e1 + e2
    zlo = add_down(zc, b, -zr, -err)
    zhi = add_up(zc, b, zr, err)
    return zlo, zhi


def interval_bounds_batch(net: Network, lo: np.ndarray, hi: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    """Pre-activation bounds of every layer (hidden layers, then the output) for a batch of boxes.

    ``lo, hi`` have shape (B, n_inputs); each returned pair has shape (B, width).
    """
    lo = np.atleast_2d(np.asarray(lo, dtype=np.float64))
    hi = np.atleast_2d(np.asarray(hi, dtype=np.float64))
    out = []
    hl, hh = lo, hi
    for i, L in enumerate(net.layers):
        zl, zh = affine_interval(L.weight, L.bias, hl, hh)
        out.append((zl, zh))
        hl, hh = np.maximum(zl, 0.0), np.maximum(zh, 0.0)
    return out


def interval_bounds(net: Network, box: Box) -> list[tuple[np.ndarray, np.ndarray]]:
    """Pre-activation bounds of every layer for one box (arrays of shape (width,))."""
    box.check_dim(net.n_inputs)
    return [(a[0], b[0]) for a, b in interval_bounds_batch(net, box.lo[None], box.hi[None])]
