"""The network model: an immutable feed-forward ReLU network as plain data.

``N(x) = W_L relu(W_{L-1} ... relu(W_1 x + b_1) ... + b_{L-1}) + b_L``

A :class:`Network` is a tuple of affine :class:`Layer` objects with ReLU after every layer but
the last.  Weights are read-only float64 arrays; the function a network denotes is the *exact
real* function of those stored float64 numbers (see ``docs`` in the README).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from fractions import Fraction
from functools import cached_property
from typing import Iterable, Sequence

import numpy as np

from . import exact as _exact
from .errors import ModelFormatError, ShapeError

__all__ = ["Layer", "Network", "two_sum"]

_DIGEST_TAG = b"relucert.network.v1\n"


def _frozen(a, name: str, ndim: int) -> np.ndarray:
    try:
        arr = np.array(a, dtype=np.float64, copy=True)
    except (TypeError, ValueError) as exc:
        raise ModelFormatError(f"{name} must be numeric: {exc}") from None
    if arr.ndim != ndim:
        raise ShapeError(f"{name} must have {ndim} dimension(s), got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        idx = tuple(int(i) for i in np.argwhere(~np.isfinite(arr))[0])
        raise ModelFormatError(f"{name} holds a non-finite value {float(arr[idx])!r} at index {idx}")
    arr += 0.0  # -0.0 -> 0.0, so equal networks hash equally
    arr.setflags(write=False)
    return arr


@dataclass(frozen=True, eq=False)
class Layer:
    """One affine map ``x -> weight @ x + bias`` with ``weight`` of shape (out, in)."""

    weight: np.ndarray
    bias: np.ndarray

    def __post_init__(self):
        W = _frozen(self.weight, "weight", 2)
        b = _frozen(self.bias, "bias", 1)
        if W.shape[0] != b.shape[0]:
            raise ShapeError(f"weight has {W.shape[0]} rows but bias has {b.shape[0]} entries")
        object.__setattr__(self, "weight", W)
        object.__setattr__(self, "bias", b)

    @property
    def n_in(self) -> int:
        return int(self.weight.shape[1])

    @property
    def n_out(self) -> int:
        return int(self.weight.shape[0])


def two_sum(a: float, b: float) -> tuple[float, float]:
    """Error-free transformation: ``a + b == s + e`` exactly, with ``s = fl(a + b)``."""
    s = a + b
    bp = s - a
    e = (a - (s - bp)) + (b - bp)
    return s, e


class Network:
    """An immutable feed-forward ReLU network.

    Build it from layers or from weight/bias lists::

        net = Network.from_weights([W1, W2], [b1, b2])
        net(x)              # float64, batched over the first axis
        net.eval_exact(x)   # list of Fractions, exact
    """

    __slots__ = ("_layers", "name", "__dict__")

    def __init__(self, layers: Iterable[Layer | tuple], *, name: str | None = None):
        built: list[Layer] = []
        for i, L in enumerate(layers):
            if not isinstance(L, Layer):
                try:
                    W, b = L
                except (TypeError, ValueError):
                    raise ShapeError(f"layer {i} must be a Layer or a (weight, bias) pair") from None
                try:
                    L = Layer(W, b)
                except (ShapeError, ModelFormatError) as exc:
                    raise type(exc)(f"layer {i}: {exc}") from None
            built.append(L)
        if not built:
            raise ShapeError("a network needs at least one affine layer")
        for i in range(1, len(built)):
            if built[i].n_in != built[i - 1].n_out:
                raise ShapeError(
                    f"layer {i} expects {built[i].n_in} inputs but layer {i - 1} has {built[i - 1].n_out} outputs"
                )
        self._layers = tuple(built)
        self.name = name

    # -- constructors ---------------------------------------------------------------------
    @classmethod
    def from_weights(cls, weights: Sequence, biases: Sequence | None = None, *, name: str | None = None) -> "Network":
        if biases is None:
            biases = [np.zeros(np.asarray(W).shape[0]) for W in weights]
        if len(weights) != len(biases):
            raise ShapeError(f"{len(weights)} weight matrices but {len(biases)} bias vectors")
        return cls(list(zip(weights, biases)), name=name)

    @classmethod
    def affine(cls, W, b=None, *, name: str | None = None) -> "Network":
        W = np.atleast_2d(np.asarray(W, dtype=np.float64))
        return cls([(W, np.zeros(W.shape[0]) if b is None else b)], name=name)

    @classmethod
    def identity(cls, n: int) -> "Network":
        return cls.affine(np.eye(n))

    @classmethod
    def random(cls, sizes: Sequence[int], *, seed: int | None = None, scale: float | None = None,
               name: str | None = None) -> "Network":
        """Gaussian weights (He scaling unless ``scale`` is given); ``sizes = [in, h1, ..., out]``."""
        rng = np.random.default_rng(seed)
        layers = []
        for a, b in zip(sizes[:-1], sizes[1:]):
            s = np.sqrt(2.0 / a) if scale is None else scale
            layers.append((rng.normal(0.0, s, (b, a)), rng.normal(0.0, 0.1 if scale is None else scale, b)))
        return cls(layers, name=name or f"random-{'-'.join(map(str, sizes))}-seed{seed}")

    # -- structure ------------------------------------------------------------------------
    @property
    def layers(self) -> tuple[Layer, ...]:
        return self._layers

    @property
    def weights(self) -> list[np.ndarray]:
        return [L.weight for L in self._layers]

    @property
    def biases(self) -> list[np.ndarray]:
        return [L.bias for L in self._layers]

    @property
    def n_inputs(self) -> int:
        return self._layers[0].n_in

    @property
    def n_outputs(self) -> int:
        return self._layers[-1].n_out

    @property
    def widths(self) -> list[int]:
        """Widths of the hidden layers."""
        return [L.n_out for L in self._layers[:-1]]

    @property
    def sizes(self) -> list[int]:
        return [self.n_inputs] + [L.n_out for L in self._layers]

    @property
    def depth(self) -> int:
        """Number of hidden (ReLU) layers."""
        return len(self._layers) - 1

    @property
    def width(self) -> int:
        return max(self.widths, default=0)

    @property
    def n_params(self) -> int:
        return int(sum(L.weight.size + L.bias.size for L in self._layers))

    @property
    def n_relus(self) -> int:
        return int(sum(self.widths))

    @cached_property
    def digest(self) -> str:
        """SHA-256 of the weights: stable across formats, platforms and runs.

        Hashed bytes: the tag ``relucert.network.v1\\n``, then per layer the shape as two
        little-endian int64 numbers, the weights as little-endian float64 in row-major order, and
        the bias as little-endian float64.
        """
        h = hashlib.sha256(_DIGEST_TAG)
        for L in self._layers:
            h.update(np.array(L.weight.shape, dtype="<i8").tobytes())
            h.update(np.ascontiguousarray(L.weight, dtype="<f8").tobytes())
            h.update(np.ascontiguousarray(L.bias, dtype="<f8").tobytes())
        return h.hexdigest()

    def summary(self) -> dict:
        return {
            "name": self.name,
            "inputs": self.n_inputs,
            "outputs": self.n_outputs,
            "sizes": self.sizes,
            "hidden_layers": self.depth,
            "widths": self.widths,
            "parameters": self.n_params,
            "relus": self.n_relus,
            "digest": self.digest,
        }

    def __repr__(self) -> str:
        arch = "-".join(map(str, self.sizes))
        nm = f" {self.name!r}" if self.name else ""
        return f"<Network{nm} {arch} digest={self.digest[:12]}>"

    def same_weights(self, other: "Network") -> bool:
        return isinstance(other, Network) and self.digest == other.digest

    # -- evaluation -----------------------------------------------------------------------
    def _check_input(self, x) -> tuple[np.ndarray, bool]:
        X = np.asarray(x, dtype=np.float64)
        single = X.ndim == 1
        X = np.atleast_2d(X)
        if X.ndim != 2 or X.shape[1] != self.n_inputs:
            raise ShapeError(f"input must have {self.n_inputs} entries per row, got shape {np.shape(x)}")
        return X, single

    def eval(self, x) -> np.ndarray:
        """Float64 forward pass; ``x`` of shape (n,) or (batch, n)."""
        X, single = self._check_input(x)
        h = X
        last = len(self._layers) - 1
        for i, L in enumerate(self._layers):
            h = h @ L.weight.T + L.bias
            if i != last:
                np.maximum(h, 0.0, out=h)
        return h[0] if single else h

    __call__ = eval

    def pre_activations(self, x) -> list[np.ndarray]:
        """All pre-activation values ``z_1 .. z_L`` (batched), for gradients and phases."""
        X, _ = self._check_input(x)
        zs = []
        h = X
        for i, L in enumerate(self._layers):
            z = h @ L.weight.T + L.bias
            zs.append(z)
            h = np.maximum(z, 0.0)
        return zs

    @cached_property
    def _integer_layers(self):
        return _exact.integer_layers(self.weights, self.biases)

    def eval_exact(self, x) -> list[Fraction]:
        """Exact rational output for one input (floats are taken at their exact binary value)."""
        xs = list(np.asarray(x, dtype=object).reshape(-1))
        if len(xs) != self.n_inputs:
            raise ShapeError(f"input must have {self.n_inputs} entries, got {len(xs)}")
        return _exact.eval_exact(self._integer_layers, xs)

    # -- composition ----------------------------------------------------------------------
    def slice_outputs(self, idx: Sequence[int]) -> "Network":
        """The network restricted to the outputs ``idx`` (exact)."""
        idx = [int(i) for i in idx]
        for i in idx:
            if not 0 <= i < self.n_outputs:
                raise ShapeError(f"output index {i} out of range for {self.n_outputs} outputs")
        last = self._layers[-1]
        return Network(self._layers[:-1] + (Layer(last.weight[idx], last.bias[idx]),), name=self.name)

    def deepen(self, extra: int = 1) -> "Network":
        """The same function with ``extra`` more hidden layers (exact, on all of R^n).

        The output ``y`` is carried through ReLUs as ``[relu(y), relu(-y)]``, so each added layer
        has ``2 * n_outputs`` units.
        """
        if extra < 0:
            raise ValueError(f"extra must be >= 0, got extra={extra}")
        if extra == 0:
            return self
        m = self.n_outputs
        last = self._layers[-1]
        layers = list(self._layers[:-1])
        layers.append(Layer(np.vstack([last.weight, -last.weight]), np.concatenate([last.bias, -last.bias])))
        I = np.eye(m)
        carry = np.block([[I, -I], [-I, I]])
        for _ in range(extra - 1):
            layers.append(Layer(carry, np.zeros(2 * m)))
        layers.append(Layer(np.hstack([I, -I]), np.zeros(m)))
        return Network(layers, name=self.name)

    @staticmethod
    def stack(f: "Network", g: "Network") -> "Network":
        """One network computing ``[f(x), g(x)]`` (exact; the shallower net is deepened)."""
        if f.n_inputs != g.n_inputs:
            raise ShapeError(f"networks have {f.n_inputs} and {g.n_inputs} inputs")
        depth = max(f.depth, g.depth)
        f2, g2 = f.deepen(depth - f.depth), g.deepen(depth - g.depth)
        layers = []
        for i, (Lf, Lg) in enumerate(zip(f2.layers, g2.layers)):
            if i == 0:
                W = np.vstack([Lf.weight, Lg.weight])
            else:
                W = np.block([
                    [Lf.weight, np.zeros((Lf.n_out, Lg.n_in))],
                    [np.zeros((Lg.n_out, Lf.n_in)), Lg.weight],
                ])
            layers.append(Layer(W, np.concatenate([Lf.bias, Lg.bias])))
        return Network(layers, name=f"[{f.name},{g.name}]")

    @staticmethod
    def difference(f: "Network", g: "Network") -> "Network":
        """One network computing ``f(x) - g(x)`` exactly.

        The output bias ``b_f - b_g`` is split exactly as ``s + e`` (two floats); a non-zero
        ``e`` is carried by one constant hidden unit so no rounding happens.
        """
        if f.n_outputs != g.n_outputs:
            raise ShapeError(f"networks have {f.n_outputs} and {g.n_outputs} outputs")
        S = Network.stack(f, g)
        if S.depth == 0:
            # purely affine: bias difference may round; carry the residual through one hidden unit
            S = S.deepen(1)
        last = S.layers[-1]
        m = f.n_outputs
        bf, bg = last.bias[:m], last.bias[m:]
        sums = [two_sum(float(a), -float(b)) for a, b in zip(bf, bg)]
        s = np.array([p[0] for p in sums])
        e = np.array([p[1] for p in sums])
        # rows of f and g touch disjoint columns of the stacked layer, so this subtraction is exact
        W_out = last.weight[:m, :] - last.weight[m:, :]
        layers = list(S.layers[:-1])
        if np.any(e != 0):
            prev = layers[-1]
            layers[-1] = Layer(
                np.vstack([prev.weight, np.zeros((m, prev.n_in))]),
                np.concatenate([prev.bias, np.abs(e)]),
            )
            W_out = np.hstack([W_out, np.diag(np.sign(e))])
        layers.append(Layer(W_out, s))
        return Network(layers, name=f"({f.name})-({g.name})")

    def pre_affine(self, A, c=None) -> "Network":
        """``x -> self(A x + c)``, folded into the first layer (float products; see ``is_exact``)."""
        A = np.atleast_2d(np.asarray(A, dtype=np.float64))
        c = np.zeros(A.shape[0]) if c is None else np.asarray(c, dtype=np.float64)
        if A.shape[0] != self.n_inputs:
            raise ShapeError(f"pre-map has {A.shape[0]} outputs but the network has {self.n_inputs} inputs")
        L0 = self._layers[0]
        first = Layer(L0.weight @ A, L0.weight @ c + L0.bias)
        return Network((first,) + self._layers[1:], name=self.name)

    def post_affine(self, P, q=None) -> "Network":
        """``x -> P self(x) + q``, folded into the last layer (float products)."""
        P = np.atleast_2d(np.asarray(P, dtype=np.float64))
        q = np.zeros(P.shape[0]) if q is None else np.asarray(q, dtype=np.float64)
        if P.shape[1] != self.n_outputs:
            raise ShapeError(f"post-map takes {P.shape[1]} inputs but the network has {self.n_outputs} outputs")
        Ll = self._layers[-1]
        last = Layer(P @ Ll.weight, P @ Ll.bias + q)
        return Network(self._layers[:-1] + (last,), name=self.name)

    def canonical(self) -> "Network":
        """The same function (exactly, on all of R^n) in a canonical form.

        Hidden units that never matter are removed: units whose outgoing weights are all zero, and
        units that are always inactive (zero incoming weights, bias <= 0).  The remaining units of
        each hidden layer are sorted by their incoming weights and bias.  No arithmetic is done, so
        ``f.canonical().digest == g.canonical().digest`` proves ``f == g`` exactly; it catches
        hidden-unit permutations and dead units (a sufficient check, not a complete one).
        """
        Ws = [np.array(L.weight) for L in self._layers]
        bs = [np.array(L.bias) for L in self._layers]
        changed = True
        while changed:  # removing a unit can make units of the layer before irrelevant
            changed = False
            for i in range(len(Ws) - 1):
                dead = ~np.any(Ws[i] != 0, axis=1) & (bs[i] <= 0)
                unused = ~np.any(Ws[i + 1] != 0, axis=0)
                keep = ~(dead | unused)
                if not keep.any():
                    # the layer contributes nothing: one inert unit (zero in, zero out) stands for it
                    keep[0] = True
                    Ws[i][0], bs[i][0], Ws[i + 1][:, 0] = 0.0, 0.0, 0.0
                if not keep.all():
                    Ws[i], bs[i] = Ws[i][keep], bs[i][keep]
                    Ws[i + 1] = Ws[i + 1][:, keep]
                    changed = True
        for i in range(len(Ws) - 1):
            order = np.lexsort(np.column_stack([Ws[i], bs[i]]).T[::-1])
            Ws[i], bs[i] = Ws[i][order], bs[i][order]
            Ws[i + 1] = Ws[i + 1][:, order]
        return Network(list(zip(Ws, bs)), name=self.name)

    def with_name(self, name: str | None) -> "Network":
        return Network(self._layers, name=name)
