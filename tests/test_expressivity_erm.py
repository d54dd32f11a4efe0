"""Globally optimal ERM for one hidden layer against gradient descent (reference B.7, B-erm)."""

from __future__ import annotations

import numpy as np
import pytest

from relucert.errors import ShapeError, SpecError
from relucert.expressivity import erm


def test_b_erm_global_optimum_beats_every_gd_restart():
    # B-erm: D = 6, w = 2; the optimum must be <= the loss of every gradient-descent restart
    x, y = erm.tiny_dataset(6, seed=1, kind="random")
    best = erm.global_erm(x, y, 2)
    assert best.programs == 276                      # C(23 + 1, 2): dead or (sign, dichotomy) per unit
    assert abs(best.loss - erm.mse(best.network, x, y)) < 1e-15
    gd = erm.fit_gd(x, y, 2, restarts=100, steps=2000, seed=0)
    assert np.all(gd.losses >= best.loss - 1e-12)
    assert gd.best_loss >= best.loss - 1e-12
    # gradient descent does get stuck: most restarts end clearly above the optimum
    assert np.mean(gd.losses > best.loss + 1e-3) > 0.5


def test_global_optimum_not_beaten_by_independent_local_search():
    from scipy.optimize import minimize

    x, y = erm.tiny_dataset(6, seed=4, kind="random")
    best = erm.global_erm(x, y, 2)
    rng = np.random.default_rng(7)

    def loss(p):
        w, b, v, c = p[:2], p[2:4], p[4:6], p[6]
        return np.mean((np.maximum(np.outer(x, w) + b, 0) @ v + c - y) ** 2)

    found = [minimize(loss, rng.normal(size=7) * 2, method="Nelder-Mead",
                      options={"maxiter": 4000, "xatol": 1e-10, "fatol": 1e-14}).fun for _ in range(20)]
    assert min(found) >= best.loss - 1e-10
    # and local search from the optimum cannot improve it
    p0 = np.concatenate([best.network.weights[0][:, 0], best.network.biases[0], best.network.weights[1][0],
                         best.network.biases[1]])
    assert minimize(loss, p0, method="Nelder-Mead").fun >= best.loss - 1e-12


def test_planted_network_is_recovered_exactly():
    x, y = erm.tiny_dataset(8, seed=2, kind="planted")
    best = erm.global_erm(x, y, 2)
    assert best.loss < 1e-18
    assert np.allclose(best.network(x.reshape(-1, 1))[:, 0], y, atol=1e-9)


@pytest.mark.parametrize("D,w", [(5, 1), (7, 2), (6, 3)])
def test_optimum_is_monotone_in_width_and_matches_structure(D, w):
    x, y = erm.tiny_dataset(D, seed=3, kind="zigzag")
    a = erm.global_erm(x, y, w)
    assert a.network.widths == [w]
    if w > 1:
        assert a.loss <= erm.global_erm(x, y, w - 1).loss + 1e-12
    # D points can always be fitted exactly with D - 1 units plus a bias; fewer units leave error here
    assert a.loss > 1e-6


def test_without_output_bias_and_duplicate_inputs():
    x = np.array([0.0, 0.0, 1.0, 2.0, 2.0])
    y = np.array([1.0, 3.0, 0.0, 2.0, 2.0])
    r = erm.global_erm(x, y, 2, output_bias=False)
    assert r.network.biases[1][0] == 0.0
    # the two points at x = 0 force an error of at least ((3 - 1) / 2)**2 * 2 / 5 = 0.4
    assert r.loss >= 0.4 - 1e-12
    assert abs(erm.global_erm(x, y, 2).loss - 0.4) < 1e-9       # with a bias the rest fits exactly


def test_errors():
    with pytest.raises(SpecError, match="implemented for one input"):
        erm.global_erm(np.zeros((3, 2)), np.zeros(3), 1)
    with pytest.raises(ShapeError, match="x has 3 points but y has 2"):
        erm.global_erm([0, 1, 2], [0, 1], 1)
    with pytest.raises(SpecError, match="width must be an integer >= 1, got width=0"):
        erm.global_erm([0, 1], [0, 1], 0)
    with pytest.raises(SpecError, match="lr must be > 0"):
        erm.fit_gd([0, 1], [0, 1], 1, lr=-1)


from hypothesis import given, settings
from hypothesis import strategies as st


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 12), st.integers(1, 8), st.integers(0, 2**32 - 1))
def test_nnls_matches_scipy(m, n, seed):
    from scipy.optimize import nnls as scipy_nnls

    rng = np.random.default_rng(seed)
    A = rng.normal(size=(m, n))
    b = rng.normal(size=m)
    z = erm.nnls(A, b)
    ref, _ = scipy_nnls(A, b)
    assert np.all(z >= 0)
    # same optimal value (the minimiser need not be unique when A is rank deficient)
    assert np.linalg.norm(A @ z - b) <= np.linalg.norm(A @ ref - b) + 1e-9
    # KKT: the gradient is <= 0 on the zero coordinates and ~0 on the positive ones
    g = A.T @ (b - A @ z)
    assert np.all(g[z == 0] <= 1e-8) and np.allclose(g[z > 0], 0, atol=1e-8)


def test_one_unit_optimum_against_a_dense_direction_scan():
    # w = 1: f = v relu(cos(t) x + sin(t)) + c; for each direction t the best (v, c) is least squares
    x, y = erm.tiny_dataset(7, seed=5, kind="random")
    best = erm.global_erm(x, y, 1)
    t = np.linspace(0, 2 * np.pi, 200001)
    H = np.maximum(np.cos(t)[:, None] * x[None, :] + np.sin(t)[:, None], 0.0)      # (T, D)
    hm, ym = H.mean(axis=1), y.mean()
    var = ((H - hm[:, None]) ** 2).sum(axis=1)
    cov = ((H - hm[:, None]) * (y - ym)[None, :]).sum(axis=1)
    sse = ((y - ym) ** 2).sum() - np.where(var > 1e-300, cov ** 2 / np.where(var > 1e-300, var, 1.0), 0.0)
    scan = sse / x.size
    assert scan.min() >= best.loss - 1e-12
    assert scan.min() <= best.loss + 1e-6          # the scan approaches the optimum
