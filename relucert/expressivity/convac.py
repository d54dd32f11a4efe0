"""Convolutional arithmetic circuits (ConvACs) and the matricization rank of their grid tensors.

Sharir & Shashua (ICLR 2018) measure the expressive power of a convolutional network by the rank
of its *grid tensor* matricized along a partition ``(I, J)`` of the input positions.  A ConvAC
here is a stack of *generalized convolution* (GC) layers on a 1D or 2D grid::

    y[l, p, c] = prod_{t in window} < W[l, p, t, :, c], y[l-1, p*S + t, :] >

with kernel (receptive field) ``K``, stride ``S`` and ``r_l`` output channels; the weights are
location dependent (*unshared*) or shared across output positions.  A layer is *overlapping*
when ``S < K``.  The input layer holds ``M`` channels: with one-hot templates and the identity
representation, position ``i`` carries the unit vector ``e_{d_i}``, so the grid tensor
``A[d_1..d_N] = h(e_{d_1}, ..., e_{d_N})`` is the coefficient tensor of the circuit.  When the
last layer leaves more than one position, a global product-pooling layer with one channel is
appended; the score is ``h = <a, y[L, 0, :]>``.

The rank is computed exactly modulo a large prime with random integer weights (a certified lower
bound on the rational rank, and by the non-vanishing-minor argument a lower bound for almost all
weights), cross-checked with a float SVD, and compared with a structural upper bound
(:func:`rank_upper_bound`) that holds for *every* choice of weights.  Where the two meet, the
generic rank is established exactly.

To show that a non-overlapping architecture cannot replicate an overlapping circuit (reference
row D-replicate-neg) the rank gap settles it for *every* weight choice (:func:`cannot_replicate`);
:func:`fit_convac` still fits the best candidate it can (alternating least squares over the grid
tensor, with the Eckart-Young floor that no candidate of that rank bound can beat) and
:func:`refute_replication` refutes the fitted candidate at a grid point re-evaluated exactly.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from math import prod
from typing import Sequence

import numpy as np

from ..errors import ShapeError, SpecError
from . import modrank

__all__ = [
    "GCLayer",
    "ConvAC",
    "PARTITIONS",
    "partition",
    "matricize",
    "RankReport",
    "rank_report",
    "rank_upper_bound",
    "one_layer_overlap_bound",
    "grid_counterexample",
    "cannot_replicate",
    "ReplicationFit",
    "fit_convac",
    "refute_replication",
]

_MAX_GRID = 1 << 22        # entries of a grid tensor we agree to materialise
_CHUNK = 1 << 13           # grid points evaluated per batch


def _exact_array(a) -> np.ndarray:
    """Python integers (integer weights) or exact Fractions (float weights: every float64 is a
    dyadic rational) in an object array, so ``arithmetic="exact"`` scores are exact for both."""
    arr = np.asarray(a)
    if not arr.size:
        return np.asarray(arr, object)
    if np.issubdtype(arr.dtype, np.floating):
        if not np.all(np.isfinite(arr)):
            raise SpecError("exact arithmetic needs finite weights")
        return np.vectorize(Fraction, otypes=[object])(arr.astype(np.float64))
    if arr.dtype == object:
        return np.vectorize(lambda v: v if isinstance(v, Fraction) else int(v), otypes=[object])(arr)
    return np.vectorize(int, otypes=[object])(arr)


def _pos_int(name: str, v) -> int:
    try:
        iv = int(v)
    except (TypeError, ValueError):
        raise SpecError(f"{name} must be a positive integer, got {name}={v!r}") from None
    if iv != v or iv < 1:
        raise SpecError(f"{name} must be a positive integer, got {name}={v!r}")
    return iv


@dataclass(frozen=True)
class GCLayer:
    """Geometry of one generalized-convolution layer: kernel and stride per axis, channels out."""

    kernel: tuple[int, ...]
    stride: tuple[int, ...]
    channels: int

    @property
    def overlapping(self) -> bool:
        return any(s < k for k, s in zip(self.kernel, self.stride))

    @property
    def window(self) -> int:
        return prod(self.kernel)

    def describe(self) -> str:
        k = "x".join(map(str, self.kernel))
        s = "x".join(map(str, self.stride))
        return f"{k}/{s}:{self.channels}"


def _as_axes(name: str, v, dim: int) -> tuple[int, ...]:
    if isinstance(v, (int, np.integer)):
        return (_pos_int(name, v),) * dim
    t = tuple(_pos_int(name, x) for x in v)
    if len(t) != dim:
        raise SpecError(f"{name} needs {dim} entries for a {dim}-D grid, got {name}={v!r}")
    return t


def _window_index(grid: tuple[int, ...], kernel: tuple[int, ...], stride: tuple[int, ...]):
    """Flat input index ``idx[p, t]`` for output position ``p`` and window offset ``t``; output grid."""
    out = []
    for n, k, s in zip(grid, kernel, stride):
        if k > n:
            raise ShapeError(f"kernel {k} is larger than the grid ({n} positions)")
        if s > k and k < n:
            raise ShapeError(f"stride {s} > kernel {k} leaves input positions unused")
        if (n - k) % s:
            raise ShapeError(f"kernel {k} with stride {s} does not tile {n} positions: ({n}-{k}) % {s} != 0")
        out.append((n - k) // s + 1)
    out_grid = tuple(out)
    # coordinates of each output position and each offset, per axis
    p_coords = np.indices(out_grid).reshape(len(grid), -1)          # (dim, P)
    t_coords = np.indices(kernel).reshape(len(grid), -1)            # (dim, T)
    coords = p_coords[:, :, None] * np.array(stride)[:, None, None] + t_coords[:, None, :]
    idx = np.ravel_multi_index(tuple(coords), grid)                 # (P, T)
    return idx, out_grid


class ConvAC:
    """A convolutional arithmetic circuit with integer (or float) weights.

    Build one with :meth:`random` (random integers, the usual way to compute ranks) or
    :meth:`from_weights`.  ``layers`` are ``(kernel, stride, channels)`` triples; kernel and
    stride are an int (square) or one int per axis.
    """

    def __init__(self, input_shape: Sequence[int], templates: int, layers: Sequence[GCLayer],
                 weights: Sequence[np.ndarray], output: np.ndarray, *, shared: bool, name: str | None = None):
        self.input_shape = tuple(int(v) for v in input_shape)
        self.templates = int(templates)
        self.layers = tuple(layers)
        self.shared = bool(shared)
        self.weights = tuple(weights)
        self.output = np.asarray(output)
        self.name = name
        self._index = []
        grid = self.input_shape
        r_in = self.templates
        for li, (L, W) in enumerate(zip(self.layers, self.weights)):
            idx, grid = _window_index(grid, L.kernel, L.stride)
            want = (L.window, r_in, L.channels) if self.shared else (idx.shape[0], L.window, r_in, L.channels)
            if W.shape != want:
                raise ShapeError(f"layer {li} ({L.describe()}): weights have shape {W.shape}, expected {want}")
            self._index.append(idx)
            r_in = L.channels
        if prod(grid) != 1:
            raise ShapeError(f"the last layer leaves {grid} positions; the circuit must end at one position")
        if self.output.shape != (r_in,):
            raise ShapeError(f"output weights have shape {self.output.shape}, expected ({r_in},)")

    # -- construction -----------------------------------------------------------------------
    @staticmethod
    def plan(input_shape: Sequence[int], layers: Sequence, *, global_pool: bool = True) -> list[GCLayer]:
        """The layer geometry for ``input_shape``; appends a global pooling layer (1 channel) when
        the given layers leave more than one position and ``global_pool`` is set."""
        shape = tuple(_pos_int("input size", v) for v in np.atleast_1d(np.asarray(input_shape)).tolist())
        if len(shape) not in (1, 2):
            raise SpecError(f"input_shape must be 1-D (N,) or 2-D (H, W), got {shape}")
        dim = len(shape)
        plan: list[GCLayer] = []
        grid = shape
        for i, spec in enumerate(layers):
            if isinstance(spec, GCLayer):
                L = spec
            else:
                try:
                    k, s, r = spec
                except (TypeError, ValueError):
                    raise SpecError(f"layer {i} must be (kernel, stride, channels), got {spec!r}") from None
                L = GCLayer(_as_axes("kernel", k, dim), _as_axes("stride", s, dim), _pos_int("channels", r))
            # a window spanning a whole axis is the only one along it: its stride is irrelevant
            L = GCLayer(L.kernel, tuple(k if k == n else s for k, s, n in zip(L.kernel, L.stride, grid)),
                        L.channels)
            _, grid = _window_index(grid, L.kernel, L.stride)
            plan.append(L)
        if prod(grid) > 1:
            if not global_pool:
                raise ShapeError(f"the layers leave {grid} positions and global_pool is off")
            plan.append(GCLayer(grid, grid, 1))
        if not plan:
            raise SpecError("a ConvAC needs at least one layer (the grid has more than one position)"
                            if prod(shape) > 1 else "a ConvAC needs at least one layer")
        return plan

    @classmethod
    def random(cls, input_shape, templates: int, layers: Sequence, *, shared: bool = False, seed: int = 0,
               bound: int = 1000, global_pool: bool = True, name: str | None = None) -> "ConvAC":
        """Random non-zero integer weights in ``[-bound, bound]`` (int64)."""
        M = _pos_int("templates", templates)
        bound = _pos_int("bound", bound)
        if bound >= 2**30:
            raise SpecError(f"bound must be < 2**30, got bound={bound}")
        plan = cls.plan(input_shape, layers, global_pool=global_pool)
        rng = np.random.default_rng(seed)
        shape = tuple(np.atleast_1d(np.asarray(input_shape)).tolist())

        def draw(sz):
            mag = rng.integers(1, bound + 1, size=sz, dtype=np.int64)
            return np.where(rng.random(sz) < 0.5, -mag, mag)

        weights, grid, r_in = [], shape, M
        for L in plan:
            idx, grid = _window_index(grid, L.kernel, L.stride)
            sz = (L.window, r_in, L.channels) if shared else (idx.shape[0], L.window, r_in, L.channels)
            weights.append(draw(sz))
            r_in = L.channels
        out = draw((r_in,))
        return cls(shape, M, plan, weights, out, shared=shared, name=name)

    @classmethod
    def from_weights(cls, input_shape, templates: int, layers: Sequence, weights: Sequence, output, *,
                     shared: bool = False, name: str | None = None) -> "ConvAC":
        """Explicit weights: per layer ``(P, T, r_in, r_out)`` (unshared) or ``(T, r_in, r_out)``."""
        plan = cls.plan(input_shape, layers, global_pool=False)
        ws = [np.asarray(w) for w in weights]
        if len(ws) != len(plan):
            raise ShapeError(f"{len(plan)} layers but {len(ws)} weight arrays")
        return cls(tuple(np.atleast_1d(np.asarray(input_shape)).tolist()), _pos_int("templates", templates),
                   plan, ws, np.asarray(output), shared=shared, name=name)

    # -- structure --------------------------------------------------------------------------
    @property
    def n_positions(self) -> int:
        return prod(self.input_shape)

    @property
    def overlapping(self) -> bool:
        return any(L.overlapping for L in self.layers)

    @property
    def integer(self) -> bool:
        return all(np.issubdtype(w.dtype, np.integer) for w in self.weights) and \
            np.issubdtype(self.output.dtype, np.integer)

    def receptive_fields(self) -> list[list[frozenset]]:
        """Input positions seen by every node: ``rf[l][p]`` (``l = 0`` is the input)."""
        rf = [[frozenset([i]) for i in range(self.n_positions)]]
        for idx in self._index:
            prev = rf[-1]
            rf.append([frozenset().union(*(prev[q] for q in row)) for row in idx.tolist()])
        return rf

    def describe(self) -> str:
        shape = "x".join(map(str, self.input_shape))
        arch = " -> ".join(L.describe() for L in self.layers)
        return f"ConvAC {shape}, M={self.templates}, {'shared' if self.shared else 'unshared'}: {arch}"

    def __repr__(self) -> str:
        return f"<{self.describe()}>"

    # -- evaluation on one-hot templates ----------------------------------------------------
    def _layer_weights(self, li: int, arith: str, prime: int):
        W = self.weights[li]
        if self.shared:
            W = np.broadcast_to(W, (self._index[li].shape[0],) + W.shape)
        return self._convert(W, arith, prime)

    def _convert(self, a, arith, prime):
        if arith == "mod":
            if not np.issubdtype(np.asarray(a).dtype, np.integer) and np.asarray(a).dtype != object:
                raise SpecError("modular arithmetic needs integer weights (use ConvAC.random or integer arrays)")
            return modrank.to_residues(np.asarray(a), prime)
        if arith == "float":
            return np.asarray(a, dtype=np.float64)
        return _exact_array(a)

    def evaluate(self, digits: np.ndarray, *, arithmetic: str = "mod", prime: int = modrank.DEFAULT_PRIME,
                 scale: float | None = None) -> np.ndarray:
        """The score ``h`` on the one-hot inputs ``digits`` (shape (B, N), entries in [0, M)).

        ``arithmetic``: ``"mod"`` (residues mod ``prime``, exact), ``"exact"`` (Python integers)
        or ``"float"`` (float64, weights divided by ``scale``, default: the largest magnitude).
        """
        if arithmetic not in ("mod", "exact", "float"):
            raise SpecError(f"arithmetic must be mod, exact or float, got arithmetic={arithmetic!r}")
        D = np.asarray(digits)
        if D.ndim != 2 or D.shape[1] != self.n_positions:
            raise ShapeError(f"digits must have shape (B, {self.n_positions}), got {D.shape}")
        if D.size and (D.min() < 0 or D.max() >= self.templates):
            raise ShapeError(f"digits must lie in [0, {self.templates}), got range [{D.min()}, {D.max()}]")
        if arithmetic == "mod":
            prime = modrank._check_prime(prime)
        Ws = [self._layer_weights(i, arithmetic, prime) for i in range(len(self.layers))]
        out_w = self._convert(self.output, arithmetic, prime)
        if arithmetic == "float":
            s = scale if scale is not None else max(
                [float(np.max(np.abs(w))) for w in Ws] + [float(np.max(np.abs(out_w)))] + [1.0])
            Ws = [w / s for w in Ws]
            out_w = out_w / s
        results = []
        for start in range(0, D.shape[0], _CHUNK):
            d = D[start:start + _CHUNK]
            results.append(self._forward(d, Ws, out_w, arithmetic, prime))
        if not results:
            return np.zeros(0, dtype=np.int64 if arithmetic == "mod" else object if arithmetic == "exact" else float)
        return np.concatenate(results)

    def _forward(self, d, Ws, out_w, arith, prime):
        y = None
        for li, (idx, W) in enumerate(zip(self._index, Ws)):
            if li == 0:
                # one-hot input: <W[p, t, :, c], e_d> = W[p, t, d, c]
                P, T = idx.shape
                dd = d[:, idx]                                          # (B, P, T)
                z = W[np.arange(P)[None, :, None], np.arange(T)[None, None, :], dd]   # (B, P, T, r)
            else:
                g = y[:, idx, :]                                        # (B, P, T, r_in)
                if arith == "mod":
                    z = modrank.mod_einsum("bptr,ptrc->bptc", g, W, prime)
                else:
                    z = np.einsum("bptr,ptrc->bptc", g, W)
            # product pooling over the window
            y = z[:, :, 0, :]
            for t in range(1, z.shape[2]):
                y = y * z[:, :, t, :]
                if arith == "mod":
                    y %= prime
        # one position left
        yl = y[:, 0, :]
        if arith == "mod":
            return modrank.mod_matmul(yl, out_w.reshape(-1, 1), prime)[:, 0]
        return yl.dot(out_w) if arith == "exact" else yl @ out_w

    def grid_tensor(self, *, arithmetic: str = "mod", prime: int = modrank.DEFAULT_PRIME,
                    scale: float | None = None) -> np.ndarray:
        """``A[d_1, ..., d_N] = h(e_{d_1}, ..., e_{d_N})``, an order-N tensor of dimension M.

        Each node's channels are kept as a table over the digits of its receptive field only
        (an array with extent M on those axes and 1 elsewhere), so the work is about
        ``sum over nodes of window * M**|RF| * channels``, not ``M**N`` per node.
        """
        if arithmetic not in ("mod", "exact", "float"):
            raise SpecError(f"arithmetic must be mod, exact or float, got arithmetic={arithmetic!r}")
        M, N = self.templates, self.n_positions
        total = M ** N
        if total > _MAX_GRID:
            raise SpecError(f"grid tensor has M**N = {M}**{N} = {total} entries, above the limit {_MAX_GRID}")
        if arithmetic == "mod":
            prime = modrank._check_prime(prime)
        Ws = [self._layer_weights(i, arithmetic, prime) for i in range(len(self.layers))]
        out_w = self._convert(self.output, arithmetic, prime)
        if arithmetic == "float":
            s = scale if scale is not None else max(
                [float(np.max(np.abs(w))) for w in Ws] + [float(np.max(np.abs(out_w)))] + [1.0])
            Ws = [w / s for w in Ws]
            out_w = out_w / s
        dtype = {"mod": np.int64, "float": np.float64, "exact": object}[arithmetic]
        # input nodes: the identity representation of one-hot templates on axis i
        eye = np.eye(M, dtype=np.int64).astype(dtype)
        nodes = []
        for i in range(N):
            shape = [1] * N + [M]
            shape[i] = M
            nodes.append(eye.reshape(shape))
        for idx, W in zip(self._index, Ws):
            new = []
            for p, row in enumerate(idx.tolist()):
                y = None
                for t, q in enumerate(row):
                    if arithmetic == "mod":
                        z = modrank.mod_matmul(nodes[q], W[p, t], prime)
                    else:
                        z = np.matmul(nodes[q], W[p, t])
                    if y is None:
                        y = z
                    else:
                        y = y * z
                        if arithmetic == "mod":
                            y %= prime
                new.append(y)
            nodes = new
        last = nodes[0]
        if arithmetic == "mod":
            h = modrank.mod_matmul(last, out_w.reshape(-1, 1), prime)[..., 0]
        else:
            h = np.matmul(last, out_w.reshape(-1, 1))[..., 0]
        return np.ascontiguousarray(np.broadcast_to(h, (M,) * N))


# -- partitions and matricization --------------------------------------------------------------
PARTITIONS = ("left-right", "top-bottom", "odd-even", "checkerboard")


def partition(input_shape: Sequence[int], kind) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """``(I, J)``: flat (row-major) input positions on the row side and on the column side.

    ``left-right``: 1D first half | second half; 2D left columns | right columns.
    ``top-bottom``: 2D top rows | bottom rows.  ``odd-even``: Cohen et al.'s ``[A]``: odd modes
    (1-based, i.e. flat indices 0, 2, 4, ...) | even modes.  ``checkerboard``: 2D ``(i + j)``
    even | odd.  ``kind`` may also be an explicit collection of flat indices forming ``I``.
    """
    shape = tuple(int(v) for v in input_shape)
    N = prod(shape)
    if not isinstance(kind, str):
        try:
            I = sorted({int(v) for v in kind})
        except (TypeError, ValueError):
            raise SpecError(f"partition must be one of {', '.join(PARTITIONS)} or position indices, got {kind!r}") from None
        if not I or len(I) == N or I[0] < 0 or I[-1] >= N:
            raise SpecError(f"partition I must be a proper non-empty subset of 0..{N - 1}, got {kind!r}")
        J = [i for i in range(N) if i not in set(I)]
        return tuple(I), tuple(J)
    coords = np.indices(shape).reshape(len(shape), -1)
    if kind == "left-right":
        col = coords[-1]
        mask = col < shape[-1] // 2
        if shape[-1] < 2:
            raise SpecError(f"left-right needs at least 2 columns, got shape {shape}")
    elif kind == "top-bottom":
        if len(shape) != 2 or shape[0] < 2:
            raise SpecError(f"top-bottom needs a 2-D grid with at least 2 rows, got shape {shape}")
        mask = coords[0] < shape[0] // 2
    elif kind == "odd-even":
        mask = np.arange(N) % 2 == 0
    elif kind == "checkerboard":
        if len(shape) != 2:
            raise SpecError(f"checkerboard needs a 2-D grid, got shape {shape}")
        mask = (coords[0] + coords[1]) % 2 == 0
    else:
        raise SpecError(f"partition must be one of {', '.join(PARTITIONS)}, got partition={kind!r}")
    I = tuple(int(i) for i in np.flatnonzero(mask))
    J = tuple(int(i) for i in np.flatnonzero(~mask))
    return I, J


def matricize(A: np.ndarray, I: Sequence[int], J: Sequence[int]) -> np.ndarray:
    """``[A]_{I,J}``: modes ``I`` index the rows, modes ``J`` the columns (row-major in each)."""
    I, J = list(I), list(J)
    if sorted(I + J) != list(range(A.ndim)):
        raise SpecError(f"partition ({I}, {J}) does not split the {A.ndim} modes")
    M = A.shape[0] if A.ndim else 1
    return A.transpose(I + J).reshape(M ** len(I), M ** len(J))


# -- bounds ------------------------------------------------------------------------------------
def rank_upper_bound(net: ConvAC, I: Sequence[int], J: Sequence[int]) -> int:
    """A bound on ``rank [A]_{I,J}`` valid for every choice of the weights of ``net``'s architecture.

    Recursively, for each node: the separation rank of one channel is at most the product of the
    ranks of its factors that straddle the cut (factors on one side are rank 1), and at most
    ``M**|dI|`` and ``M**|dJ|`` where ``dI``/``dJ`` are the positions of the straddling factors on
    each side (the diag(alpha) Psi diag(beta) argument); a combination of ``r`` channels has rank
    at most ``r`` times that, and never more than ``M**|RF & I|`` or ``M**|RF & J|``.  For one
    overlapping layer followed by global pooling this is ``min(r**K, M**|dI|, M**|dJ|)``; for CP
    it is the channel count; for non-overlapping trees cut along a subtree it is the channel
    count at the crossing.
    """
    Iset, Jset = set(I), set(J)
    M = net.templates
    rf = net.receptive_fields()
    rho = [1] * net.n_positions
    for li, (L, idx) in enumerate(zip(net.layers, net._index)):
        prev_rf = rf[li]
        new = []
        for p, row in enumerate(idx.tolist()):
            straddle = [q for q in row if (prev_rf[q] & Iset) and (prev_rf[q] & Jset)]
            dI = set().union(*(prev_rf[q] & Iset for q in straddle)) if straddle else set()
            dJ = set().union(*(prev_rf[q] & Jset for q in straddle)) if straddle else set()
            per_channel = min(prod(rho[q] for q in straddle), M ** len(dI), M ** len(dJ))
            node_rf = rf[li + 1][p]
            new.append(min(L.channels * per_channel, M ** len(node_rf & Iset), M ** len(node_rf & Jset)))
        rho = new
    # the score is one combination of the last node's channels, covered by rho
    return int(rho[0])


def one_layer_overlap_bound(size: int, kernel: int, channels: int, templates: int, *, dim: int = 2) -> int:
    """The reference's closed form for one stride-1 GC layer (kernel R, r channels) followed by
    global pooling, left|right cut of a ``size``-wide grid (1D: ``size`` positions; 2D: size x size):
    ``min(r**K, M**|dI|)`` with ``K`` windows straddling the cut and ``|dI|`` the positions they
    cover on one side (1D: ``K = |dI| = R - 1``; 2D: ``K = (H - R + 1)(R - 1)``, ``|dI| = H (R - 1)``),
    valid when ``R - 1 <= size / 2``."""
    H, R, r, M = (_pos_int(n, v) for n, v in (("size", size), ("kernel", kernel), ("channels", channels),
                                               ("templates", templates)))
    if R - 1 > H // 2:
        raise SpecError(f"closed form needs kernel - 1 <= size / 2, got kernel={R}, size={H}")
    if dim == 1:
        K, dI = R - 1, R - 1
    elif dim == 2:
        K, dI = (H - R + 1) * (R - 1), H * (R - 1)
    else:
        raise SpecError(f"dim must be 1 or 2, got dim={dim}")
    return min(r ** K, M ** dI, M ** (H * H // 2 if dim == 2 else H // 2))


@dataclass
class RankReport:
    """The matricization rank of one ConvAC for one partition."""

    rank: int                    # rank mod p of the integer grid tensor (a lower bound over Q)
    prime: int
    upper_bound: int             # structural bound, valid for all weights
    maximum: int                 # min(M**|I|, M**|J|)
    float_rank: int | None = None
    singular_values: np.ndarray | None = None
    exact_rank: int | None = None
    I: tuple = ()
    J: tuple = ()

    @property
    def tight(self) -> bool:
        """Whether the certified lower bound meets the structural upper bound (rank established)."""
        return self.rank == self.upper_bound

    def to_dict(self) -> dict:
        d = {"rank": self.rank, "prime": self.prime, "upper_bound": self.upper_bound, "maximum": self.maximum,
             "tight": self.tight, "I": list(self.I), "J": list(self.J)}
        if self.float_rank is not None:
            d["float_rank"] = self.float_rank
        if self.exact_rank is not None:
            d["exact_rank"] = self.exact_rank
        return d


def rank_report(net: ConvAC, kind="left-right", *, prime: int = modrank.DEFAULT_PRIME,
                float_check: bool = False, exact_check: bool = False) -> RankReport:
    """Rank of ``net``'s grid tensor for the partition ``kind`` (see :func:`partition`).

    ``float_check`` adds the SVD rank of the float grid tensor (same weights, scaled);
    ``exact_check`` adds the exact rational rank (Bareiss; small tensors only).
    """
    if not net.integer:
        raise SpecError("rank_report needs integer weights (ConvAC.random draws them)")
    I, J = partition(net.input_shape, kind)
    A = net.grid_tensor(arithmetic="mod", prime=prime)
    rank = modrank.rank_mod_p(matricize(A, I, J), prime)
    rep = RankReport(rank=rank, prime=prime, upper_bound=rank_upper_bound(net, I, J),
                     maximum=min(net.templates ** len(I), net.templates ** len(J)), I=I, J=J)
    if float_check:
        Af = net.grid_tensor(arithmetic="float")
        rep.float_rank, rep.singular_values = modrank.rank_float(matricize(Af, I, J))
    if exact_check:
        Ae = net.grid_tensor(arithmetic="exact")
        rep.exact_rank = modrank.rank_exact(matricize(Ae, I, J))
    if rep.rank > rep.upper_bound:  # would mean a bug in the bound or the evaluation
        raise AssertionError(f"modular rank {rep.rank} exceeds the structural bound {rep.upper_bound}")
    return rep


def grid_counterexample(a: ConvAC, b: ConvAC, *, prime: int = modrank.DEFAULT_PRIME):
    """A template grid point where two integer ConvACs differ, with both exact scores, or None.

    Scores are compared modulo ``prime`` first (different residues imply different integers)
    and the first differing point is re-evaluated in exact integer arithmetic.
    """
    if a.input_shape != b.input_shape or a.templates != b.templates:
        raise ShapeError(f"ConvACs differ in shape or templates: {a.input_shape}/{a.templates} vs "
                         f"{b.input_shape}/{b.templates}")
    A = a.grid_tensor(arithmetic="mod", prime=prime).reshape(-1)
    B = b.grid_tensor(arithmetic="mod", prime=prime).reshape(-1)
    diff = np.flatnonzero(A != B)
    if diff.size == 0:
        return None
    flat = int(diff[0])
    d = np.array(np.unravel_index(flat, (a.templates,) * a.n_positions)).reshape(1, -1)
    fa = int(a.evaluate(d, arithmetic="exact")[0])
    fb = int(b.evaluate(d, arithmetic="exact")[0])
    if fa == fb:  # impossible: residues differ
        raise AssertionError("modular scores differ but exact scores agree")
    return {"digits": [int(v) for v in d[0]], "a": fa, "b": fb}


def cannot_replicate(target: ConvAC, candidate: ConvAC, kind="left-right", *,
                     prime: int = modrank.DEFAULT_PRIME) -> tuple[bool, int, int]:
    """Whether *no* choice of weights for ``candidate``'s architecture reproduces ``target``:
    true when ``rank_mod_p(target) > rank_upper_bound(candidate)``.  Returns the flag, the
    target's certified rank and the candidate's bound."""
    I, J = partition(target.input_shape, kind)
    r = modrank.rank_mod_p(matricize(target.grid_tensor(prime=prime), I, J), prime)
    ub = rank_upper_bound(candidate, I, J)
    return r > ub, r, ub


# -- fitting a candidate of another architecture ----------------------------------------------
@dataclass
class ReplicationFit:
    """A candidate of a (e.g. non-overlapping) architecture fitted to a target's grid tensor.

    * ``candidate``: the fitted ConvAC (unshared float64 weights; each float is an exact dyadic
      rational, so its scores can be re-evaluated exactly);
    * ``residual``: ``||A_target - A_candidate||_F / ||A_target||_F`` after the fit (float);
    * ``initial_residual``: the same for the starting point (the fit lowers it);
    * ``floor``: the Eckart-Young floor ``sqrt(sum_{i > b} s_i**2) / ||A||_F`` for the partition,
      where ``s_i`` are the singular values of the target's matricization and ``b`` the
      candidate architecture's rank bound: *no* weights of that architecture do better (float,
      informative; the exact statement is the rank gap ``rank(target) > b``);
    * ``rank_bound``: ``b`` = :func:`rank_upper_bound` of the candidate for the partition.
    """

    candidate: ConvAC
    residual: float
    initial_residual: float
    floor: float
    rank_bound: int
    sweeps: int
    I: tuple = ()
    J: tuple = ()

    def to_dict(self) -> dict:
        return {"candidate": self.candidate.describe(), "residual": self.residual,
                "initial_residual": self.initial_residual, "floor": self.floor, "rank_bound": self.rank_bound,
                "sweeps": self.sweeps}


def _grid_float(shape, M, plan, weights, out) -> np.ndarray:
    net = ConvAC(shape, M, plan, weights, out, shared=False)
    return net.grid_tensor(arithmetic="float", scale=1.0).reshape(-1)


def fit_convac(target: ConvAC, layers: Sequence, *, kind="left-right", sweeps: int = 4, seed: int = 0) -> ReplicationFit:
    """Fit an unshared ConvAC with ``layers`` to ``target``'s grid tensor by alternating least squares.

    For a non-overlapping architecture (every node feeds one window of one parent) with unshared
    weights the score is linear in each weight block ``W[l][p, t]`` and in the output weights
    (overlapping candidates are refused: there a node feeds several parent factors and the score
    is not linear in its block), so every block in turn gets its exact least-squares optimum over all
    ``M**N`` template points with the others fixed (its design matrix has one column per entry,
    the grid tensor with that entry set to 1 and the rest of the block to 0).  The target is
    scaled by a power of two first and the scale is put back into the output weights, so the
    candidate approximates the target itself.  This is the strongest candidate of the
    architecture we can find cheaply; :func:`refute_replication` then refutes it exactly.
    """
    sweeps = _pos_int("sweeps", sweeps)
    shape, M = target.input_shape, target.templates
    plan = ConvAC.plan(shape, layers)
    over = [L.describe() for L in plan if L.overlapping]
    if over:
        raise SpecError(f"fit_convac fits non-overlapping architectures only, got overlapping layer(s) {', '.join(over)}")
    I, J = partition(shape, kind)
    T = target.grid_tensor(arithmetic="exact").reshape(-1)
    big = max(abs(int(v)) for v in T) or 1
    e = int(big).bit_length()
    y = np.array([float(Fraction(int(v), 1 << e)) for v in T])      # |y| <= 1, scale 2**e exact
    norm = float(np.linalg.norm(y)) or 1.0
    rng = np.random.default_rng(seed)
    Ws, grid, r_in = [], shape, M
    for L in plan:
        idx, grid = _window_index(grid, L.kernel, L.stride)
        Ws.append(rng.standard_normal((idx.shape[0], L.window, r_in, L.channels)))
        r_in = L.channels
    a = rng.standard_normal(r_in)

    def resid(Ws, a):
        return float(np.linalg.norm(_grid_float(shape, M, plan, Ws, a) - y)) / norm

    # start from the best output weights for the random inner weights
    def solve_output(Ws):
        cols = [_grid_float(shape, M, plan, Ws, np.eye(r_in)[c]) for c in range(r_in)]
        sol, *_ = np.linalg.lstsq(np.stack(cols, axis=1), y, rcond=None)
        return sol

    a = solve_output(Ws)
    initial = resid(Ws, a)
    for _ in range(sweeps):
        for li in range(len(plan)):
            P, Tn, ri, ro = Ws[li].shape
            for p in range(P):
                for t in range(Tn):
                    cols = []
                    for i in range(ri):
                        for c in range(ro):
                            trial = [w.copy() if k == li else w for k, w in enumerate(Ws)]
                            trial[li][p, t] = 0.0
                            trial[li][p, t, i, c] = 1.0
                            cols.append(_grid_float(shape, M, plan, trial, a))
                    sol, *_ = np.linalg.lstsq(np.stack(cols, axis=1), y, rcond=None)
                    blk = sol.reshape(ri, ro)
                    n = float(np.linalg.norm(blk))
                    if n > 0:   # keep blocks at unit norm; the scale goes to the output weights
                        blk = blk / n
                        a = a * n
                    Ws[li][p, t] = blk
        a = solve_output(Ws)
    res = resid(Ws, a)
    s = np.linalg.svd(matricize(y.reshape((M,) * target.n_positions), I, J), compute_uv=False)
    scaled = [w.copy() for w in Ws]
    cand = ConvAC(shape, M, plan, scaled, a * float(1 << e), shared=False, name="fitted")
    b = rank_upper_bound(cand, I, J)
    floor = float(np.sqrt(np.sum(s[b:] ** 2))) / norm
    return ReplicationFit(candidate=cand, residual=res, initial_residual=initial, floor=floor, rank_bound=b,
                          sweeps=sweeps, I=I, J=J)


def refute_replication(target: ConvAC, candidate: ConvAC, *, tries: int = 64):
    """An exact counterexample to ``candidate == target`` on the template grid, or None.

    Grid points are tried in decreasing order of the float difference and each is re-evaluated
    exactly (integers for the target, exact rationals for a float candidate), so a returned point
    always differs exactly.  ``None`` means no difference was found among the ``tries`` points
    with the largest float difference (not a proof of equality).
    """
    if target.input_shape != candidate.input_shape or target.templates != candidate.templates:
        raise ShapeError(f"ConvACs differ in shape or templates: {target.input_shape}/{target.templates} vs "
                         f"{candidate.input_shape}/{candidate.templates}")
    if target.integer and candidate.integer:
        return grid_counterexample(target, candidate)
    A = target.grid_tensor(arithmetic="float", scale=1.0).reshape(-1)
    B = candidate.grid_tensor(arithmetic="float", scale=1.0).reshape(-1)
    order = np.argsort(-np.abs(A - B), kind="stable")[:_pos_int("tries", tries)]
    shape = (target.templates,) * target.n_positions
    for flat in order.tolist():
        d = np.array(np.unravel_index(int(flat), shape)).reshape(1, -1)
        fa = target.evaluate(d, arithmetic="exact")[0]
        fb = candidate.evaluate(d, arithmetic="exact")[0]
        if Fraction(fa) != Fraction(fb):
            return {"digits": [int(v) for v in d[0]], "a": Fraction(fa), "b": Fraction(fb)}
    return None
