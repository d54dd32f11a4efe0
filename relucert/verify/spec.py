"""Specifications: what relucert proves about a pair of networks ``f`` and ``g`` on a box.

Every spec names the *measured quantity* whose bracket ``[lower, upper]`` a result reports, and
the threshold that decides it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from typing import Sequence

import numpy as np

from ..errors import SpecError

__all__ = [
    "Spec",
    "Polytope",
    "EpsEquivalence",
    "Distance",
    "Top1Equivalence",
    "DecisionEquivalence",
]


def _nonneg(name: str, v) -> float:
    try:
        f = float(v)
    except (TypeError, ValueError):
        raise SpecError(f"{name} must be a number, got {name}={v!r}") from None
    if not np.isfinite(f) or f < 0:
        raise SpecError(f"{name} must be a finite number >= 0, got {name}={v!r}")
    return f


def _finite(name: str, v) -> float:
    try:
        f = float(v)
    except (TypeError, ValueError):
        raise SpecError(f"{name} must be a number, got {name}={v!r}") from None
    if not np.isfinite(f):
        raise SpecError(f"{name} must be finite, got {name}={v!r}")
    return f


@dataclass(frozen=True, eq=False)
class Polytope:
    """The closed polytope ``{x : A x <= b}`` (used for excluded sets)."""

    A: np.ndarray
    b: np.ndarray

    def __post_init__(self):
        A = np.atleast_2d(np.asarray(self.A, dtype=np.float64))
        b = np.asarray(self.b, dtype=np.float64).reshape(-1)
        if A.shape[0] != b.shape[0]:
            raise SpecError(f"polytope has {A.shape[0]} rows in A but {b.shape[0]} in b")
        if not (np.all(np.isfinite(A)) and np.all(np.isfinite(b))):
            raise SpecError("polytope coefficients must be finite")
        object.__setattr__(self, "A", A)
        object.__setattr__(self, "b", b)

    def contains_exact(self, x) -> bool:
        xs = [Fraction(v) if not isinstance(v, Fraction) else v for v in x]
        for row, bi in zip(self.A, self.b):
            s = sum((Fraction(float(a)) * xv for a, xv in zip(row, xs)), Fraction(0))
            if s > Fraction(float(bi)):
                return False
        return True

    def interior_contains_exact(self, x) -> bool:
        xs = [Fraction(v) if not isinstance(v, Fraction) else v for v in x]
        for row, bi in zip(self.A, self.b):
            s = sum((Fraction(float(a)) * xv for a, xv in zip(row, xs)), Fraction(0))
            if s >= Fraction(float(bi)):
                return False
        return True


class Spec:
    """Base class. ``kind`` is a stable string used in JSON and certificates."""

    kind: str = "spec"

    def outputs_for(self, n_outputs: int) -> list[int]:
        outs = getattr(self, "outputs", None)
        if outs is None:
            return list(range(n_outputs))
        for k in outs:
            if not 0 <= k < n_outputs:
                raise SpecError(f"output index {k} out of range for networks with {n_outputs} outputs")
        return list(outs)

    def describe(self) -> str:  # pragma: no cover - overridden
        return self.kind

    def to_dict(self) -> dict:  # pragma: no cover - overridden
        return {"kind": self.kind}


def _outputs(outputs) -> tuple[int, ...] | None:
    if outputs is None:
        return None
    try:
        outs = tuple(int(k) for k in outputs)
    except (TypeError, ValueError):
        raise SpecError(f"outputs must be a list of output indices, got outputs={outputs!r}") from None
    if not outs:
        raise SpecError("outputs must not be empty")
    if any(k < 0 for k in outs):
        raise SpecError(f"outputs must be >= 0, got outputs={list(outs)}")
    if len(set(outs)) != len(outs):
        raise SpecError(f"outputs has duplicates: {list(outs)}")
    return outs


@dataclass(frozen=True)
class EpsEquivalence(Spec):
    """``max_{x in X} max_{k in outputs} |f_k(x) - g_k(x)| <= eps``.

    The measured quantity is the sup distance.  ``eps = 0`` asks for exact equality.  With
    ``excluded``, the sup runs over the closure of ``X`` minus the union of the polytopes.
    A counterexample is an ``x`` with ``|f_k(x) - g_k(x)| > eps`` in exact arithmetic.
    """

    eps: float
    outputs: tuple[int, ...] | None = None
    excluded: tuple[Polytope, ...] | None = None
    kind = "eps"

    def __init__(self, eps, *, outputs: Sequence[int] | None = None, excluded: Sequence[Polytope] | None = None):
        object.__setattr__(self, "eps", _nonneg("eps", eps))
        object.__setattr__(self, "outputs", _outputs(outputs))
        if excluded is not None:
            excluded = tuple(excluded)
            for p in excluded:
                if not isinstance(p, Polytope):
                    raise SpecError(f"excluded must hold Polytope objects, got {type(p).__name__}")
        object.__setattr__(self, "excluded", excluded or None)

    def describe(self) -> str:
        outs = "all outputs" if self.outputs is None else f"outputs {list(self.outputs)}"
        ex = f", outside {len(self.excluded)} excluded polytope(s)" if self.excluded else ""
        return f"sup |f - g| <= {self.eps:g} over {outs}{ex}"

    def to_dict(self) -> dict:
        return {"kind": self.kind, "eps": self.eps, "outputs": None if self.outputs is None else list(self.outputs),
                "excluded": None if not self.excluded else [{"A": p.A.tolist(), "b": p.b.tolist()} for p in self.excluded]}


@dataclass(frozen=True)
class Distance(Spec):
    """Compute ``sup_{x in X} ||f(x) - g(x)||_inf`` (over ``outputs``) to a tolerance.

    Stops when ``upper - lower <= max(atol, rtol * upper)``.
    """

    atol: float = 1e-4
    rtol: float = 1e-3
    outputs: tuple[int, ...] | None = None
    kind = "distance"

    def __init__(self, *, atol: float = 1e-4, rtol: float = 1e-3, outputs: Sequence[int] | None = None):
        object.__setattr__(self, "atol", _nonneg("atol", atol))
        object.__setattr__(self, "rtol", _nonneg("rtol", rtol))
        if self.atol == 0 and self.rtol == 0:
            raise SpecError("atol and rtol cannot both be 0")
        object.__setattr__(self, "outputs", _outputs(outputs))

    def describe(self) -> str:
        return f"sup |f - g| to atol={self.atol:g}, rtol={self.rtol:g}"

    def to_dict(self) -> dict:
        return {"kind": self.kind, "atol": self.atol, "rtol": self.rtol,
                "outputs": None if self.outputs is None else list(self.outputs)}


@dataclass(frozen=True)
class Top1Equivalence(Spec):
    """f and g pick the same class (argmax, ties to the lowest index) at every ``x`` in the box
    where f's top class leads every other class by at least ``margin``.

    The measured quantity is ``sup_x max_{j != i(x)} (g_j(x) - g_i(x))`` over those ``x``, with
    ``i(x)`` f's class: the claim holds when it is < 0 (a tie ``g_j = g_i`` with ``j > i`` is
    also fine, so EQUIVALENT is proved by showing the quantity is < 0, which is sound).
    """

    margin: float = 0.0
    kind = "top1"

    def __init__(self, *, margin: float = 0.0):
        object.__setattr__(self, "margin", _nonneg("margin", margin))

    def describe(self) -> str:
        m = f" where f leads by >= {self.margin:g}" if self.margin else ""
        return f"argmax f = argmax g (ties to the lowest index){m}"

    def to_dict(self) -> dict:
        return {"kind": self.kind, "margin": self.margin, "tie_break": "lowest_index"}


@dataclass(frozen=True)
class DecisionEquivalence(Spec):
    """Single-output classifiers ``C(x) = [h(x) > tau]`` agree with margin ``gamma``:

    ``f(x) >= tau_f + gamma  =>  g(x) > tau_g``   and   ``f(x) <= tau_f - gamma  =>  g(x) <= tau_g``.

    The measured quantity is ``max(tau_g - inf{g : f >= tau_f+gamma}, sup{g : f <= tau_f-gamma} - tau_g)``;
    the claim holds when the first part is < 0 and the second <= 0.
    """

    tau_f: float = 0.0
    tau_g: float = 0.0
    gamma: float = 0.0
    kind = "decision"

    def __init__(self, *, tau_f: float = 0.0, tau_g: float = 0.0, gamma: float = 0.0):
        object.__setattr__(self, "tau_f", _finite("tau_f", tau_f))
        object.__setattr__(self, "tau_g", _finite("tau_g", tau_g))
        object.__setattr__(self, "gamma", _nonneg("gamma", gamma))

    def describe(self) -> str:
        return (f"f >= {self.tau_f:g}+{self.gamma:g} => g > {self.tau_g:g} and "
                f"f <= {self.tau_f:g}-{self.gamma:g} => g <= {self.tau_g:g}")

    def to_dict(self) -> dict:
        return {"kind": self.kind, "tau_f": self.tau_f, "tau_g": self.tau_g, "gamma": self.gamma}
