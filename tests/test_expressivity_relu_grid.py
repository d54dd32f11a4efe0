"""Grid tensors of ReLU networks on one-hot templates (reference 4.5, step 5)."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

import relucert
from relucert.errors import ShapeError
from relucert.expressivity.relu_grid import relu_grid_rank, relu_grid_tensor

N, M = 8, 2


def _additive(rng):
    # one unit per position: f = sum_i g_i(x_i), so every cut has rank <= 2
    W1 = np.zeros((N, N * M))
    for i in range(N):
        for c in range(M):
            W1[i, c * N + i] = rng.integers(-8, 9) / 4
    return relucert.Network([(W1, rng.integers(-4, 5, N) / 4), (rng.integers(-4, 5, (1, N)) / 2, np.zeros(1))])


def _local(rng, channels=3):
    # a kernel-2 ReLU convolution summed: only the window straddling the cut couples the halves
    units, bias = [], []
    for p in range(N - 1):
        for _ in range(channels):
            row = np.zeros(N * M)
            for t in range(2):
                for c in range(M):
                    row[c * N + p + t] = rng.normal()
            units.append(row)
            bias.append(rng.normal())
    return relucert.Network([(np.array(units), np.array(bias)), (rng.normal(size=(1, len(units))), np.zeros(1))])


def test_additive_relu_net_has_rank_two():
    net = _additive(np.random.default_rng(0))
    for kind in ("left-right", "odd-even"):
        rep = relu_grid_rank(net, (N,), M, kind)
        assert rep.exact and rep.rank == 2


def test_local_relu_conv_is_bounded_and_dense_net_reaches_maximum():
    local = _local(np.random.default_rng(1))
    rep = relu_grid_rank(local, (N,), M, "left-right", float_check=True)
    # alpha(x_I) + beta(x_J) + g(x_3, x_4): rank <= 1 + 1 + M
    assert rep.exact and 2 <= rep.rank <= 2 + M and rep.float_rank == rep.rank
    dense = relucert.Network.random([N * M, 16, 16, 1], seed=1)
    assert relu_grid_rank(dense, (N,), M, "left-right").rank == 16 == rep.maximum


def test_grid_tensor_is_exact():
    net = relucert.Network.random([N * M, 6, 1], seed=3)
    T, e = relu_grid_tensor(net, N, M)
    F = relu_grid_tensor(net, N, M, exact=False)
    rng = np.random.default_rng(2)
    for _ in range(10):
        d = rng.integers(0, M, size=N)
        x = np.zeros(N * M)
        x[d * N + np.arange(N)] = 1.0                # channel-major layout
        assert Fraction(T[tuple(d)], 2 ** e) == net.eval_exact(x)[0]
        assert F[tuple(d)] == pytest.approx(float(net.eval_exact(x)[0]), rel=1e-12, abs=1e-12)
    # position-major layout reads input p * M + c
    Tp, _ = relu_grid_tensor(net, N, M, layout="position-major")
    d = (1, 0, 0, 1, 1, 0, 1, 0)
    x = np.zeros(N * M)
    x[np.arange(N) * M + np.array(d)] = 1.0
    assert Fraction(Tp[d], 2 ** e) == net.eval_exact(x)[0]


def test_errors():
    net = relucert.Network.random([5, 3, 1], seed=0)
    with pytest.raises(ShapeError, match="expected positions \\* templates = 16"):
        relu_grid_tensor(net, 8, 2)
