"""Counterexample search: sampling and projected gradient steps on the box.

Everything here is float64 and only *proposes* inputs; a counterexample is reported only after
exact re-evaluation (:func:`relucert.verify.exact_check`).
"""

from __future__ import annotations

import numpy as np

from ..network import Network

__all__ = ["forward_grad", "pgd_maximize"]


def forward_grad(net: Network, X: np.ndarray, C: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Outputs ``net(X)`` (N, m) and the gradients of ``sum_k C[n,k] net_k(X[n])`` (N, n_in)."""
    hs = [X]
    masks = []
    h = X
    last = len(net.layers) - 1
    for i, L in enumerate(net.layers):
        z = h @ L.weight.T + L.bias
        if i != last:
            m = z > 0
            masks.append(m)
            h = np.where(m, z, 0.0)
        else:
            h = z
    out = h
    gz = C
    for i in range(last, -1, -1):
        L = net.layers[i]
        gh = gz @ L.weight
        if i > 0:
            gz = gh * masks[i - 1]
        else:
            return out, gh
    raise AssertionError


def pgd_maximize(objective, lo: np.ndarray, hi: np.ndarray, X0: np.ndarray, *, steps: int = 20,
                 rng: np.random.Generator | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Projected sign-gradient ascent of ``objective(X) -> (values (N,), grads (N, n))`` in the
    boxes ``[lo, hi]`` (broadcastable to X0).  Returns the best points and their values."""
    X = np.clip(X0, lo, hi)
    best_v, g = objective(X)
    best_X = X.copy()
    step = 0.25 * (hi - lo)
    for _ in range(steps):
        X = np.clip(X + step * np.sign(g), lo, hi)
        v, g = objective(X)
        better = v > best_v
        best_v = np.where(better, v, best_v)
        best_X[better] = X[better]
        step = step * 0.7
    return best_X, best_v
