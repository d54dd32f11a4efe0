"""Grid tensors of ReLU networks: the bridge from ConvACs to relucert's networks (reference 4.5).

A :class:`~relucert.network.Network` whose input is ``N`` positions with ``M`` channels each is
evaluated on every assignment of one-hot templates to the positions.  With float64 weights the
outputs on 0/1 inputs are dyadic rationals, so after one common power-of-two scaling the grid
tensor is an *integer* tensor, computed exactly (batched integer arithmetic on the original
weights), and its matricization rank is exact (Bareiss) or certified from below (mod p).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import ShapeError, SpecError
from ..exact import integer_layers
from ..network import Network
from . import modrank
from .convac import matricize, partition

__all__ = ["relu_grid_tensor", "ReluGridRank", "relu_grid_rank"]

_MAX_POINTS = 1 << 16


def _one_hot_inputs(N: int, M: int, layout: str) -> tuple[np.ndarray, np.ndarray]:
    digits = np.indices((M,) * N, dtype=np.int64).reshape(N, -1).T          # (M**N, N)
    pos = np.arange(N)[None, :]
    if layout == "channel-major":        # NCHW flattened: index c * N + position
        cols = digits * N + pos
    elif layout == "position-major":     # index position * M + c
        cols = pos * M + digits
    else:
        raise SpecError(f"layout must be channel-major or position-major, got layout={layout!r}")
    X = np.zeros((digits.shape[0], N * M), dtype=np.int64)
    np.put_along_axis(X, cols, 1, axis=1)
    return digits, X


def relu_grid_tensor(net: Network, positions: int, templates: int, *, output: int = 0,
                     layout: str = "channel-major", exact: bool = True):
    """The grid tensor ``A[d_1..d_N] = net(one-hot images)[output]``.

    ``exact=True`` returns ``(T, e)`` with an integer (object) tensor ``T`` and ``A = T / 2**e``
    exactly; ``exact=False`` returns the float64 tensor.
    """
    if not isinstance(net, Network):
        raise SpecError(f"net must be a relucert.Network, got {type(net).__name__}")
    N, M = int(positions), int(templates)
    if N < 1 or M < 1:
        raise SpecError(f"positions and templates must be >= 1, got positions={positions}, templates={templates}")
    if net.n_inputs != N * M:
        raise ShapeError(f"the network has {net.n_inputs} inputs, expected positions * templates = {N * M}")
    if not 0 <= output < net.n_outputs:
        raise ShapeError(f"output {output} out of range for {net.n_outputs} outputs")
    if M ** N > _MAX_POINTS:
        raise SpecError(f"M**N = {M}**{N} = {M ** N} grid points, above the limit {_MAX_POINTS}")
    _, X = _one_hot_inputs(N, M, layout)
    if not exact:
        return net(X.astype(np.float64))[:, output].reshape((M,) * N)
    layers = integer_layers(net.weights, net.biases)
    vec = X.astype(object)
    scale_exp = 0
    last = len(layers) - 1
    for i, L in enumerate(layers):
        # value = vec / 2**scale_exp; next = W value + b  ->  (Wi vec + bi 2**scale_exp) / 2**(scale_exp + k)
        vec = vec.dot(L.Wi.T) + (L.bi * (1 << scale_exp))[None, :]
        scale_exp += L.k
        if i != last:
            vec = np.where(vec > 0, vec, 0).astype(object)
    return vec[:, output].reshape((M,) * N), scale_exp


@dataclass
class ReluGridRank:
    rank: int            # exact rational rank (Bareiss), or the modular lower bound when too large
    exact: bool          # True when ``rank`` is the exact rational rank
    maximum: int
    float_rank: int | None = None
    I: tuple = ()
    J: tuple = ()


def relu_grid_rank(net: Network, input_shape, templates: int, kind="left-right", *, output: int = 0,
                   layout: str = "channel-major", exact_limit: int = 64, float_check: bool = False) -> ReluGridRank:
    """Matricization rank of a ReLU network's grid tensor for the partition ``kind`` of the
    positions of ``input_shape`` (1D ``(N,)`` or 2D ``(H, W)``).  Exact (Bareiss) when the
    matrix has at most ``exact_limit`` rows or columns, else rank mod 2**31 - 1 (a lower bound)."""
    shape = tuple(int(v) for v in np.atleast_1d(np.asarray(input_shape)).tolist())
    N = int(np.prod(shape))
    I, J = partition(shape, kind)
    T, _ = relu_grid_tensor(net, N, templates, output=output, layout=layout, exact=True)
    Mx = matricize(T, I, J)
    if min(Mx.shape) <= exact_limit:
        rank, is_exact = modrank.rank_exact(Mx), True
    else:
        rank, is_exact = modrank.rank_mod_p(Mx), False
    rep = ReluGridRank(rank=rank, exact=is_exact, maximum=min(templates ** len(I), templates ** len(J)), I=I, J=J)
    if float_check:
        Af = relu_grid_tensor(net, N, templates, output=output, layout=layout, exact=False)
        rep.float_rank = modrank.rank_float(matricize(Af, I, J))[0]
    return rep
