"""Structural proofs: find the unit maps showing that ``g`` is an exact rewrite of ``f``.

Recognised rewrites (any composition, layer by layer): hidden-unit permutation, duplication and
splitting with positive scales (``relu(s z) = s relu(z)`` for ``s > 0``), constant-zero units,
identity layers inserted after a hidden layer (``relu(s a) = s a`` for ``a >= 0``), and
``Network.deepen`` (the output carried as ``relu(y), relu(-y)``).  The maps are found in floats;
the checker then confirms the identities ``W_g P_prev = P W_f`` and ``b_g = P b_f`` exactly.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np

from ..network import Network
from .format import rational

__all__ = ["find_structural_proof"]

_TOL = 1e-12


def _normalised(R: np.ndarray) -> np.ndarray:
    mx = np.abs(R).max(axis=1, keepdims=True)
    return R / np.where(mx > 0, mx, 1.0)


def _match_rows(R: np.ndarray, Q: np.ndarray):
    """For each row of ``R`` a row ``j`` of ``Q`` with ``R_i = s Q_j`` (``s > 0``) in floats, or
    ``-1`` for a zero row; None if some row has no match."""
    Rn, Qn = _normalised(R), _normalised(Q)
    zero_r = ~np.any(R != 0, axis=1)
    out = []
    for i in range(R.shape[0]):
        if zero_r[i]:
            out.append(-1)
            continue
        dist = np.abs(Qn - Rn[i]).max(axis=1)
        j = int(np.argmin(dist))
        if dist[j] > _TOL or not np.any(Q[j] != 0):
            return None
        out.append(j)
    return out


def _exact_scale(row_exact: list, q_row: np.ndarray) -> Fraction:
    k = int(np.argmax(np.abs(q_row)))
    return row_exact[k] / Fraction(float(q_row[k]))


def _exact_rows(Wg: np.ndarray, prev: list, n_cols: int) -> list[list[Fraction]]:
    """Exact rows of ``W_g P_prev`` (``prev[r] = (f_unit, scale)``)."""
    rows = []
    for wrow in Wg:
        acc = [Fraction(0)] * n_cols
        for r in np.flatnonzero(wrow):
            j, s = prev[r]
            if j >= 0:
                acc[j] += Fraction(float(wrow[r])) * s
        rows.append(acc)
    return rows


def _try(F: Network, g: Network):
    prev = [(j, Fraction(1)) for j in range(F.n_inputs)]
    f_layer = -1
    maps = []
    for ell in range(g.depth):
        Lg = g.layers[ell]
        n_cols = F.n_inputs if f_layer < 0 else F.layers[f_layer].n_out
        P = np.zeros((len(prev), n_cols))
        for r, (j, s) in enumerate(prev):
            if j >= 0:
                P[r, j] = float(s)
        M = Lg.weight @ P
        R = np.hstack([M, Lg.bias[:, None]])
        rem_g, rem_f = g.depth - ell, F.depth - (f_layer + 1)
        choice = None
        if f_layer >= 0 and rem_g > rem_f and not np.any(Lg.bias != 0):
            eye = np.hstack([np.eye(n_cols), np.zeros((n_cols, 1))])
            m = _match_rows(R, eye)
            if m is not None:
                choice = (True, m)
        if choice is None and f_layer + 1 < F.depth:
            Lf = F.layers[f_layer + 1]
            m = _match_rows(R, np.hstack([Lf.weight, Lf.bias[:, None]]))
            if m is not None:
                choice = (False, m)
        if choice is None:
            return None
        inserted, m = choice
        exact = _exact_rows(Lg.weight, prev, n_cols)
        units = []
        for i, j in enumerate(m):
            if j < 0:
                units.append((-1, Fraction(1)))
                continue
            q = np.eye(n_cols)[j] if inserted else F.layers[f_layer + 1].weight[j]
            if not np.any(q != 0):      # a bias-only unit: scale from the bias
                s = Fraction(float(Lg.bias[i])) / Fraction(float(F.layers[f_layer + 1].bias[j]))
            else:
                s = _exact_scale(exact[i], q)
            if s <= 0:
                return None
            units.append((j, s))
        maps.append({"inserted": True} if inserted else {})
        maps[-1]["units"] = [[j, rational(s)] for j, s in units]
        prev = units
        if not inserted:
            f_layer += 1
    if f_layer != F.depth - 1:
        return None
    return maps


def find_structural_proof(f: Network, g: Network) -> dict | None:
    """A ``structural`` proof (to be confirmed by the checker) or None when none is found."""
    if f.n_inputs != g.n_inputs or f.n_outputs != g.n_outputs:
        return None
    for extra in sorted({0, max(g.depth - f.depth, 0)}):
        maps = _try(f.deepen(extra), g)
        if maps is not None:
            return {"kind": "structural", "f_deepen": extra, "layers": maps}
    return None
