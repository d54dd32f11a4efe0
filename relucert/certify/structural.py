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


def _try(F: Network, g: Network, dead=None):
    dead = dead or {}
    prev = [(j, Fraction(1)) for j in range(F.n_inputs)]
    f_layer = -1
    maps = []
    for ell in range(g.depth):
        Lg = g.layers[ell]
        n_cols = F.n_inputs if f_layer < 0 else F.layers[f_layer].n_out
        gone = sorted(dead.get(f_layer, ()))
        P = np.zeros((len(prev), n_cols))
        for r, (j, s) in enumerate(prev):
            if j >= 0:
                P[r, j] = float(s)
        P[:, gone] = 0.0                 # f units that are 0 on the box contribute nothing
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
            Wf = Lf.weight.copy()
            Wf[:, gone] = 0.0
            m = _match_rows(R, np.hstack([Wf, Lf.bias[:, None]]))
            if m is not None:
                choice = (False, m)
        if choice is None:
            return None
        inserted, m = choice
        exact = _exact_rows(Lg.weight, [(-1, s) if j in gone else (j, s) for j, s in prev], n_cols)
        units = []
        for i, j in enumerate(m):
            if j < 0:
                units.append((-1, Fraction(1)))
                continue
            q = np.eye(n_cols)[j] if inserted else Wf[j]
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


def _dead_on_box(F: Network, box) -> dict:
    """Hidden units of F whose pre-activation is <= 0 on the box, by exact interval arithmetic
    (the checker's own routine, so it confirms exactly these)."""
    from ..check.checker import _dead_units, _frac_layers

    layers = _frac_layers(F)
    lo, hi = [Fraction(float(v)) for v in box.lo], [Fraction(float(v)) for v in box.hi]
    dead, hl, hh = {}, lo, hi
    for k, (W, b) in enumerate(layers[:-1]):
        zh = [bi + sum(w * (c if w > 0 else a) for w, a, c in zip(row, hl, hh) if w) for row, bi in zip(W, b)]
        zl = [bi + sum(w * (a if w > 0 else c) for w, a, c in zip(row, hl, hh) if w) for row, bi in zip(W, b)]
        dead[k] = {j for j, v in enumerate(zh) if v <= 0}
        hl, hh = [max(v, 0) for v in zl], [max(v, 0) for v in zh]
    _dead_units(layers, lo, hi, [[k, j] for k, js in dead.items() for j in sorted(js)])   # self-check
    return {k: js for k, js in dead.items() if js}


def find_structural_proof(f: Network, g: Network, box=None) -> dict | None:
    """A ``structural`` proof, confirmed with the checker's exact routine, or None.  With
    ``box``, units of f that are dead on the box may be dropped (``f_dead``): the proof then
    holds on the box only."""
    from ..check.checker import _check_structural, _Invalid

    if f.n_inputs != g.n_inputs or f.n_outputs != g.n_outputs:
        return None
    claim = None if box is None else {"lo": [Fraction(float(v)) for v in box.lo],
                                      "hi": [Fraction(float(v)) for v in box.hi]}

    def confirmed(proof):
        try:
            _check_structural(proof, {"f": f, "g": g}, claim)
        except _Invalid:
            return None
        return proof

    for extra in sorted({0, max(g.depth - f.depth, 0)}):
        F = f.deepen(extra)
        maps = _try(F, g)
        if maps is not None and confirmed(proof := {"kind": "structural", "f_deepen": extra, "layers": maps}):
            return proof
        if box is not None and F.n_params <= 200_000:
            dead = _dead_on_box(F, box)
            if dead:
                maps = _try(F, g, dead)
                proof = {"kind": "structural", "f_deepen": extra, "layers": maps,
                         "f_dead": [[k, j] for k, js in sorted(dead.items()) for j in sorted(js)]}
                if maps is not None and confirmed(proof):
                    return proof
    return None
