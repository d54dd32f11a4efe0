"""The f-only back-substitution of the differential bound (``_backsub_f``, used for the ``z^f``
rows of every hidden layer) against the lifted one it replaces, and its soundness against exact
rational pre-activations; plus the input-split BaB on a deep pair whose leaves stall."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

from relucert.bounds.differential import DiffPair, _backsub, _backsub_f, _State, diff_bounds_batch
from relucert.network import Network
from relucert.verify.bab import DistanceBaB


def _net(rng, sizes, scale):
    return Network.from_weights([scale * rng.normal(size=(m, n)) for n, m in zip(sizes[:-1], sizes[1:])],
                                [scale * rng.normal(size=m) for m in sizes[1:]])


def _pair(seed, sizes, scale=1.0, sigma=1e-3):
    rng = np.random.default_rng(seed)
    f = _net(rng, sizes, scale)
    g = Network.from_weights([L.weight + sigma * scale * rng.normal(size=L.weight.shape) for L in f.layers],
                             [L.bias + sigma * scale * rng.normal(size=L.bias.shape) for L in f.layers])
    return f, g


def _boxes(seed, n, B, width):
    rng = np.random.default_rng(seed + 1)
    c = rng.normal(size=(B, n))
    w = width * np.abs(rng.normal(size=(B, n)))
    w[0, 0] = 0.0                                   # a degenerate coordinate
    return c - w, c + w


def _exact_pre(net, x):
    """Exact rational pre-activations of every layer at the float point x."""
    h = [Fraction(float(v)) for v in x]
    out = []
    for i, L in enumerate(net.layers):
        W = [[Fraction(float(v)) for v in row] for row in L.weight]
        b = [Fraction(float(v)) for v in L.bias]
        z = [sum((wi * hi for wi, hi in zip(row, h)), Fraction(0)) + bi for row, bi in zip(W, b)]
        out.append(z)
        h = [max(v, Fraction(0)) for v in z]
    return out


@pytest.mark.parametrize("seed,scale", [(0, 1.0), (1, 1e3), (2, 1e-3), (3, 1.0)])
def test_f_rows_match_the_lifted_backsubstitution(seed, scale):
    """With ``Ld = 0`` the lifted back-substitution computes the same bound as the f-only one
    (the D half of every array stays zero): equal up to summation order."""
    sizes = [3, 8, 8, 8, 8, 2]
    f, g = _pair(seed, sizes, scale)
    pair = DiffPair(f, g)
    lo, hi = _boxes(seed, 3, 4, 0.5)
    st, _ = diff_bounds_batch(pair, lo, hi)
    rng = np.random.default_rng(seed + 7)
    B = lo.shape[0]
    for k in range(1, len(sizes) - 2):
        n = sizes[k + 1]
        Lz = rng.normal(size=(B, 5, n))
        c = rng.normal(size=(B, 5))
        a = _backsub_f(pair, st, k, Lz, c.copy())
        b = _backsub(pair, st, k, Lz, np.zeros_like(Lz), c.copy())
        assert np.all(np.isfinite(a))
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12 * scale)


@pytest.mark.parametrize("seed,scale,width", [(4, 1.0, 0.3), (5, 1e3, 0.3), (6, 1.0, 0.0)])
def test_f_rows_are_sound_at_exact_points(seed, scale, width):
    """Every hidden layer's ``z^f`` bounds (now from ``_backsub_f``) contain the exact rational
    pre-activations at sampled points, corners and the centre; zero-width boxes make the bound
    as tight as rounding allows, so a missing error term would show."""
    sizes = [2, 6, 6, 6, 1]
    f, g = _pair(seed, sizes, scale)
    lo, hi = _boxes(seed, 2, 2, width)
    st, _ = diff_bounds_batch(DiffPair(f, g), lo, hi)
    rng = np.random.default_rng(seed)
    for bi in range(lo.shape[0]):
        pts = [0.5 * (lo[bi] + hi[bi]), lo[bi], hi[bi]] + [lo[bi] + rng.uniform(size=2) * (hi[bi] - lo[bi])
                                                            for _ in range(6)]
        for x in pts:
            z = _exact_pre(f, x)
            for k, (fl, fh) in enumerate(st.zf):
                for j in range(sizes[k + 1]):
                    assert Fraction(float(fl[bi, j])) <= z[k][j] <= Fraction(float(fh[bi, j])), (k, j)


def test_changing_the_rows_never_loosens_bab_leaves():
    """The BaB's bounds on a deep pair are the same (to rounding) whichever way the z^f rows are
    computed: compare the whole pass with the lifted reference for those rows."""
    f, g = _pair(9, [3, 10, 10, 10, 10, 10, 1], 1.0, 1e-3)
    pair = DiffPair(f, g)
    lo, hi = _boxes(9, 3, 6, 0.4)
    _, (l1, h1) = diff_bounds_batch(pair, lo, hi)
    x = lo[:, None, :] + np.random.default_rng(0).uniform(size=(6, 400, 3)) * (hi - lo)[:, None, :]
    d = np.stack([g(xi) - f(xi) for xi in x])          # (B, 400, 1)
    assert np.all(l1[:, None, :] <= d) and np.all(d <= h1[:, None, :])
    # tight enough to mean something: within a factor 50 of the sampled range on these boxes
    assert np.all(h1 - l1 <= 50 * (d.max(axis=1) - d.min(axis=1)) + 1e-9)


def test_bab_closes_a_deep_pair_and_its_bound_covers_the_sampled_sup():
    f, g = _pair(11, [2, 12, 12, 12, 12, 1], 1.0, 1e-3)
    lo, hi = -np.ones(2), np.ones(2)
    bab = DistanceBaB(f, g, [0])
    X = lo + np.random.default_rng(1).uniform(size=(4000, 2)) * (hi - lo)
    v = bab.values(X).max()
    out = bab.run(lo, hi, threshold=3 * v, time_limit=20)
    assert out.status == "below"
    assert out.upper >= v and out.upper <= 3 * v
