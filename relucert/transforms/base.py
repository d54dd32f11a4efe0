"""Transforms as small reductions (CVXPY style): ``accepts``, ``apply`` and, where meaningful,
``invert``; each ``apply`` returns the new network and the :class:`Claim` it promises."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Sequence

import numpy as np

from ..box import Box
from ..errors import RelucertError, SpecError
from ..network import Layer, Network
from ..verify.spec import DecisionEquivalence, EpsEquivalence

__all__ = [
    "Claim",
    "Transform",
    "TransformError",
    "REGISTRY",
    "register",
    "get",
    "names",
    "float_tolerance",
    "network_from_fractions",
    "F",
]

F = Fraction


class TransformError(RelucertError, ValueError):
    """A transform cannot be applied to this network/box, or a parameter is invalid."""


CLAIM_KINDS = ("exact", "exact-on-box", "eps-on-box", "margin", "eps-off-excluded")


@dataclass
class Claim:
    """What a rewrite promises about ``new(x)`` against ``reference(x)``.

    * ``kind``: ``exact`` (all inputs), ``exact-on-box``, ``eps-on-box``, ``margin`` (decision
      equivalence of classifiers ``[f > tau_f]`` and ``[g > tau_g]`` with margin ``gamma``) or
      ``eps-off-excluded`` (within ``eps`` on the box minus the interiors of ``excluded``);
    * ``eps``: 0 for an exact construction whose float64 weights are exact; otherwise the float
      tolerance of the reference (``1e-9 (1 + max |f|)``) when the rational weights were rounded;
    * ``sizes`` (measured: width, hidden layers, params) next to ``formula`` (the paper's);
    * ``reference``: the network the claim compares against (the input network, unless the
      transform computes a different function, e.g. ``max-tree``);
    * ``known_bad``: the transform is a known-bad one; its claim is what it (wrongly) asserts.
    """

    construction: str
    paper: str
    kind: str
    eps: float = 0.0
    box: Box | None = None
    excluded: tuple = ()
    tau_f: float = 0.0
    tau_g: float = 0.0
    gamma: float = 0.0
    sizes: dict = field(default_factory=dict)
    formula: dict = field(default_factory=dict)
    weights_exact: bool = True
    known_bad: bool = False
    reference: Network | None = None
    notes: list = field(default_factory=list)
    info: dict = field(default_factory=dict)

    def __post_init__(self):
        if self.kind not in CLAIM_KINDS:
            raise SpecError(f"claim kind must be one of {', '.join(CLAIM_KINDS)}, got kind={self.kind!r}")

    def spec(self):
        """The verifier spec that states this claim."""
        if self.kind == "margin":
            return DecisionEquivalence(tau_f=self.tau_f, tau_g=self.tau_g, gamma=self.gamma)
        if self.kind == "eps-off-excluded":
            return EpsEquivalence(self.eps, excluded=list(self.excluded))
        return EpsEquivalence(self.eps)

    def describe(self) -> str:
        dom = {"exact": "on all of R^d", "exact-on-box": "on the box", "eps-on-box": "on the box",
               "margin": "on the box", "eps-off-excluded": f"on the box minus {len(self.excluded)} excluded polytope(s)"}[self.kind]
        if self.kind == "margin":
            what = (f"[f > {self.tau_f:g}] and [g > {self.tau_g:g}] agree wherever |f - {self.tau_f:g}| >= "
                    f"{self.gamma:g}")
        elif self.eps == 0:
            what = "g = f exactly"
        else:
            what = f"|g - f| <= {self.eps:g}"
        return f"{what} {dom}"

    def to_dict(self) -> dict:
        return {
            "construction": self.construction, "paper": self.paper, "kind": self.kind, "eps": self.eps,
            "box": None if self.box is None else self.box.to_dict(),
            "excluded": [{"A": p.A.tolist(), "b": p.b.tolist()} for p in self.excluded],
            "tau_f": self.tau_f, "tau_g": self.tau_g, "gamma": self.gamma,
            "sizes": self.sizes, "formula": self.formula, "weights_exact": self.weights_exact,
            "known_bad": self.known_bad, "notes": list(self.notes), "claim": self.describe(),
        }

    def summary(self) -> str:
        lines = [f"construction: {self.construction} ({self.paper})",
                 f"claim: {self.describe()}" + ("   [KNOWN-BAD: the verifier should refute this]" if self.known_bad else "")]
        keys = ("width", "hidden_layers", "params")
        meas = ", ".join(f"{k} {self.sizes[k]}" for k in keys if k in self.sizes)
        form = ", ".join(f"{k} {self.formula[k]}" for k in keys if k in self.formula)
        lines.append(f"sizes: {meas}")
        if form:
            lines.append(f"paper: {form}")
        if not self.weights_exact:
            lines.append("note: rational weights were rounded to float64; eps is the float tolerance")
        for n in self.notes:
            lines.append(f"note: {n}")
        return "\n".join(lines)


def sizes_of(net: Network) -> dict:
    return {"width": net.width, "hidden_layers": net.depth, "params": net.n_params, "widths": net.widths}


def float_tolerance(net: Network, box: Box | None) -> float:
    """The reference's float tolerance ``1e-9 (1 + max |f|)`` (max from sound interval bounds)."""
    if box is None:
        return 1e-9
    from ..bounds.interval import interval_bounds_batch

    lo, hi = interval_bounds_batch(net, box.lo[None, :], box.hi[None, :])[-1]
    M = float(max(np.max(np.abs(lo)), np.max(np.abs(hi))))
    return 1e-9 * (1.0 + M)


def network_from_fractions(layers: Sequence[tuple], *, name: str | None = None) -> tuple[Network, bool]:
    """Build a Network from exact layers ``(W, b)`` (nested lists/arrays of Fractions or numbers).

    Returns the network and whether every weight was exactly representable in float64.
    """
    built, exact = [], True
    for W, b in layers:
        Wa = np.asarray(W, dtype=object)
        ba = np.asarray(b, dtype=object).reshape(-1)
        if Wa.ndim == 1:
            Wa = Wa.reshape(len(ba), -1)
        Wf = np.empty(Wa.shape, dtype=np.float64)
        for idx, v in np.ndenumerate(Wa):
            f = float(v)
            Wf[idx] = f
            if exact and not (isinstance(v, float) or F(f) == F(v)):
                exact = False
        bf = np.empty(ba.shape, dtype=np.float64)
        for i, v in enumerate(ba):
            f = float(v)
            bf[i] = f
            if exact and not (isinstance(v, float) or F(f) == F(v)):
                exact = False
        built.append(Layer(Wf, bf))
    return Network(built, name=name), exact


class Transform:
    """Base class: subclasses set ``name``, ``paper``, ``summary`` and implement ``_apply``."""

    name: str = ""
    paper: str = ""
    summary: str = ""
    needs_box: bool = False
    known_bad: bool = False
    params: dict = {}          # parameter name -> (type, default, help)

    def why_not(self, net: Network, box: Box | None) -> str | None:
        """None when the transform applies, else the reason it does not."""
        return None

    def accepts(self, net: Network, box: Box | None = None) -> bool:
        if not isinstance(net, Network):
            return False
        if self.needs_box and box is None:
            return False
        return self.why_not(net, box) is None

    def _check(self, net, box):
        if not isinstance(net, Network):
            raise TransformError(f"{self.name}: net must be a relucert.Network, got {type(net).__name__}")
        if box is not None:
            if not isinstance(box, Box):
                raise TransformError(f"{self.name}: box must be a relucert.Box, got {type(box).__name__}")
            box.check_dim(net.n_inputs)
        if self.needs_box and box is None:
            raise TransformError(f"{self.name} needs a box (--box): the construction is exact on a box only")
        why = self.why_not(net, box)
        if why is not None:
            raise TransformError(f"{self.name} does not apply: {why}")

    def _params(self, kw: dict) -> dict:
        out = {}
        for k, v in kw.items():
            if k not in self.params:
                known = ", ".join(sorted(self.params)) or "none"
                raise TransformError(f"{self.name}: unknown parameter {k!r} (known: {known})")
        for k, (typ, default, _help) in self.params.items():
            v = kw.get(k, default)
            if v is not None and typ is not None:
                try:
                    v = typ(v)
                except (TypeError, ValueError):
                    raise TransformError(f"{self.name}: parameter {k} must be {typ.__name__}, got {k}={v!r}") from None
            out[k] = v
        return out

    def apply(self, net: Network, box: Box | None = None, **params) -> tuple[Network, Claim]:
        self._check(net, box)
        p = self._params(params)
        new, claim = self._apply(net, box, **p)
        claim.known_bad = self.known_bad
        if claim.reference is None:
            claim.reference = net
        if claim.box is None:
            claim.box = box
        claim.sizes = {**sizes_of(new), **claim.sizes}
        new = new.with_name(f"{self.name}({net.name or 'net'})")
        return new, claim

    def _apply(self, net, box, **params):  # pragma: no cover - abstract
        raise NotImplementedError

    def invert(self, new: Network, claim: Claim) -> Network:
        raise TransformError(f"{self.name} has no inverse")

    def __call__(self, net, box=None, **params):
        return self.apply(net, box, **params)

    def __repr__(self) -> str:
        return f"<Transform {self.name}: {self.summary}>"


REGISTRY: dict[str, Transform] = {}


def register(cls):
    inst = cls()
    if inst.name in REGISTRY:
        raise ValueError(f"transform {inst.name!r} registered twice")
    REGISTRY[inst.name] = inst
    return cls


def get(name: str) -> Transform:
    try:
        return REGISTRY[name]
    except KeyError:
        raise TransformError(f"unknown transform {name!r}; known: {', '.join(sorted(REGISTRY))}") from None


def names() -> list[str]:
    return sorted(REGISTRY)


def exactness(claim: Claim, new: Network, box: Box | None, exact: bool, kind_exact: str = "exact") -> Claim:
    """Set ``eps`` from the float64 realisation: 0 when exact, else the float tolerance."""
    claim.weights_exact = exact
    if not exact:
        claim.eps = float_tolerance(new, box) * 4
        if claim.kind in ("exact", "exact-on-box"):
            claim.kind = "eps-on-box" if box is not None else claim.kind
    return claim


def ceil_log2(m: int) -> int:
    return 0 if m <= 1 else math.ceil(math.log2(m))
