"""Helpers shared by the MILP and SMT encodings: bound checks, ReLU phases, tags, polytopes.

Both encodings take pre-activation bounds as plain arrays: ``bounds[l] = (lo, hi)`` for hidden
layer ``l`` (``len(bounds) == net.depth``), optionally followed by one more pair for the output
layer (the shape :func:`relucert.bounds.interval_bounds` returns).
"""

from __future__ import annotations

import re
from typing import Mapping, Sequence

import numpy as np

from ..box import Box
from ..errors import BoxError, ShapeError, SpecError
from ..network import Network

__all__ = [
    "ACTIVE",
    "INACTIVE",
    "UNSTABLE",
    "relu_phases",
    "check_box",
    "check_network",
    "check_bounds",
    "check_tag",
    "polytope_arrays",
]

ACTIVE = 1
INACTIVE = -1
UNSTABLE = 0

_TAG = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,31}")


def relu_phases(lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Phase of each neuron from its pre-activation bounds (int8 array).

    ``INACTIVE`` (-1) when ``hi <= 0`` (checked first, so ``lo = hi = 0`` is inactive),
    ``ACTIVE`` (+1) when ``lo >= 0``, else ``UNSTABLE`` (0).
    """
    ph = np.zeros(lo.shape, dtype=np.int8)
    ph[lo >= 0] = ACTIVE
    ph[hi <= 0] = INACTIVE
    return ph


def check_box(box) -> Box:
    if not isinstance(box, Box):
        raise BoxError(f"box must be a relucert.Box, got {type(box).__name__}")
    return box


def check_network(net, box: Box, what: str = "net") -> Network:
    if not isinstance(net, Network):
        raise SpecError(f"{what} must be a relucert.Network, got {type(net).__name__}")
    box.check_dim(net.n_inputs, what=f"network {what}")
    return net


def check_tag(tag, used: Mapping | set) -> str:
    if not isinstance(tag, str) or not _TAG.fullmatch(tag):
        raise SpecError(f"tag must be a letter followed by up to 31 letters, digits or '_', got tag={tag!r}")
    if tag in used:
        raise SpecError(f"tag {tag!r} is already used by another network in this model")
    return tag


def _pair(p, name: str, n: int) -> tuple[np.ndarray, np.ndarray]:
    try:
        lo, hi = p
    except (TypeError, ValueError):
        raise ShapeError(f"{name} must be a (lo, hi) pair of arrays") from None
    try:
        lo = np.asarray(lo, dtype=np.float64).reshape(-1)
        hi = np.asarray(hi, dtype=np.float64).reshape(-1)
    except (TypeError, ValueError):
        raise SpecError(f"{name} must hold numbers") from None
    if lo.shape != (n,) or hi.shape != (n,):
        raise ShapeError(f"{name} must have {n} entries each, got lo {lo.shape} and hi {hi.shape}")
    bad = np.flatnonzero(~(np.isfinite(lo) & np.isfinite(hi)))
    if bad.size:
        j = int(bad[0])
        raise SpecError(f"{name} must be finite, got [{lo[j]}, {hi[j]}] for neuron {j}")
    inv = np.flatnonzero(lo > hi)
    if inv.size:
        j = int(inv[0])
        raise SpecError(f"{name} needs lo <= hi, got lo={lo[j]!r} > hi={hi[j]!r} for neuron {j}")
    return lo + 0.0, hi + 0.0


def check_bounds(net: Network, bounds, *, allow_none: bool = False):
    """Validate ``bounds``; returns ``(hidden, output)`` with ``output`` ``None`` if not given.

    ``hidden`` is a list of ``net.depth`` float64 ``(lo, hi)`` pairs.
    """
    if bounds is None:
        if allow_none:
            return None, None
        raise SpecError("bounds are required: one (lo, hi) pair per hidden layer")
    if isinstance(bounds, (str, bytes)) or not isinstance(bounds, Sequence):
        try:
            bounds = list(bounds)
        except TypeError:
            raise ShapeError(f"bounds must be a list of (lo, hi) pairs, got {type(bounds).__name__}") from None
    d = net.depth
    if len(bounds) not in (d, d + 1):
        raise ShapeError(f"bounds must hold {d} (hidden layers) or {d + 1} (plus output) (lo, hi) pairs, "
                         f"got {len(bounds)}")
    widths = net.widths + [net.n_outputs]
    pairs = [_pair(bounds[l], f"bounds[{l}]", widths[l]) for l in range(len(bounds))]
    return pairs[:d], (pairs[d] if len(pairs) > d else None)


def polytope_arrays(polytopes) -> list[tuple[np.ndarray, np.ndarray]]:
    """``[(A, b), ...]`` from objects with ``.A``/``.b`` (e.g. ``relucert.verify.Polytope``) or pairs."""
    if polytopes is None:
        return []
    out = []
    for i, p in enumerate(polytopes):
        if hasattr(p, "A") and hasattr(p, "b"):
            A, b = p.A, p.b
        else:
            try:
                A, b = p
            except (TypeError, ValueError):
                raise SpecError(f"polytope {i} must have .A and .b or be an (A, b) pair") from None
        try:
            A = np.atleast_2d(np.asarray(A, dtype=np.float64))
            b = np.asarray(b, dtype=np.float64).reshape(-1)
        except (TypeError, ValueError):
            raise SpecError(f"polytope {i} must hold numbers") from None
        if A.ndim != 2 or A.shape[0] != b.shape[0]:
            raise ShapeError(f"polytope {i} has A of shape {A.shape} but b of {b.shape[0]} entries")
        if not (np.all(np.isfinite(A)) and np.all(np.isfinite(b))):
            raise SpecError(f"polytope {i} coefficients must be finite")
        out.append((A, b))
    return out
