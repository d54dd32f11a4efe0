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
        """The inverse rewrite applied to ``new`` (a network of the rewritten architecture): for
        the rewritten network itself it gives back the original weights.  Only structural
        rewrites have one."""
        raise TransformError(f"{self.name} has no network inverse (it maps counterexamples back: invert_result)")

    # -- mapping results of the rewritten problem back (CVXPY-style invert of a solution) --------
    def invert_point(self, x, claim: Claim) -> list[Fraction]:
        """The input of the original problem for an input ``x`` of the rewritten network.

        Every transform here keeps the input space (box constructions shift inputs inside the
        network only), so this is the identity, as exact rationals."""
        return [v if isinstance(v, Fraction) else Fraction(float(v)) for v in x]

    def invert_result(self, result, claim: Claim, other: Network, *, claim_check=None):
        """Map ``result = verify(new, other, box, spec)`` back to ``(claim.reference, other)``.

        * NOT_EQUIVALENT: the counterexample is mapped back (:meth:`invert_point`) and re-evaluated
          exactly on the original weights; it is kept only if it violates the spec for the
          original too (EpsEquivalence, DecisionEquivalence), else the answer is UNKNOWN.
        * EQUIVALENT transfers only with ``claim_check``, a proof of the claim (``check``'s
          EQUIVALENT result, an EpsEquivalence on all outputs with no excluded set) on a box
          containing the result's box: ``|ref - other| <= eps + e`` with ``e`` the eps that
          ``claim_check`` proved (``>= claim.eps``); for ``e > 0`` the answer is for that larger
          eps, and a DecisionEquivalence transfers only with ``e = 0``.
        * anything else is UNKNOWN, with the reason.  Brackets move by ``e`` (``[lower - e, upper +
          e]``); without a proof of the claim only the exact counterexample value carries over.
        """
        from ..verify.result import StopReason, Verdict, VerificationResult, float_down, float_up
        from ..verify.spec import DecisionEquivalence, EpsEquivalence

        ref = claim.reference
        spec, box = result.spec, result.box
        base = dict(method=f"inverted:{self.name}:{result.method}", f_digest=ref.digest,
                    g_digest=other.digest, box=box, stats=dict(result.stats))
        if result.g_digest is not None and result.g_digest != other.digest:
            raise TransformError(f"{self.name}: the result is not about the network `other` (digests differ)")

        # |ref - new| <= e on the result's box, when claim_check proves it (the eps it proved,
        # which may be larger than claim.eps: check_claim widens a rounded exact claim)
        e, why = None, None
        if claim_check is None or claim_check.verdict is not Verdict.EQUIVALENT:
            why = "pass claim_check=transforms.check(new, claim), an EQUIVALENT proof of the claim"
        elif claim.kind not in ("exact", "exact-on-box", "eps-on-box"):
            why = f"a {claim.kind} claim does not bound |ref - new| on the whole box"
        elif claim_check.f_digest != ref.digest or claim_check.g_digest != result.f_digest:
            why = "claim_check is not a check of this claim (network digests differ)"
        elif (not isinstance(claim_check.spec, EpsEquivalence) or claim_check.spec.excluded
              or claim_check.spec.outputs is not None):
            why = "claim_check does not bound |ref - new| on every output of the whole box"
        else:
            dom = claim_check.box
            if dom is None or box is None or not (np.all(dom.lo <= box.lo) and np.all(box.hi <= dom.hi)):
                why = "the claim was proved on a box that does not contain the result's box"
            else:
                e = Fraction(float(claim_check.spec.eps))

        def shifted(lower, upper):
            """The bracket of the original problem from the rewritten one's (needs ``e``)."""
            if isinstance(spec, DecisionEquivalence):
                return (lower, upper) if e == 0 else (-math.inf, math.inf)
            if not isinstance(spec, EpsEquivalence) or not (math.isfinite(lower) and math.isfinite(upper)):
                return 0.0, math.inf
            return max(0.0, float_down(Fraction(lower) - e)), float_up(Fraction(upper) + e)

        def unknown(reason, lower=None, upper=math.inf):
            if lower is None:
                lower = -math.inf if isinstance(spec, DecisionEquivalence) else 0.0
            return VerificationResult(verdict=Verdict.UNKNOWN, spec=spec, lower=lower, upper=upper,
                                      stop_reason=StopReason.NUMERICAL, reason=reason, **base)

        if result.verdict is Verdict.NOT_EQUIVALENT and result.counterexample is not None:
            if not (isinstance(spec, EpsEquivalence) or (isinstance(spec, DecisionEquivalence) and ref.n_outputs == 1)):
                return unknown(f"a {type(spec).__name__} counterexample is not re-checked on the original network")
            x = self.invert_point(result.counterexample.x, claim)
            ce = _exact_violation(ref, other, x, spec, box)
            if ce is None:
                return unknown(f"the counterexample of the rewritten problem at x = {[float(v) for v in x]} "
                               "does not violate the spec for the original network")
            # the value at the counterexample is exact for the original; the upper end of the
            # rewritten problem's bracket moves by e (unbounded without a proof of the claim)
            upper = math.inf if e is None else shifted(result.lower, result.upper)[1]
            lower = float_down(ce.value)
            return VerificationResult(verdict=Verdict.NOT_EQUIVALENT, spec=spec, lower=lower,
                                      upper=max(upper, lower), stop_reason=StopReason.REFUTED,
                                      reason="counterexample of the rewritten network, re-evaluated exactly "
                                             "on the original weights", counterexample=ce, witness_x=ce.x, **base)
        if result.verdict is Verdict.EQUIVALENT:
            if e is None:
                return unknown(f"EQUIVALENT for the rewritten network transfers only through a proof of the claim: {why}")
            if not isinstance(spec, EpsEquivalence) and not (isinstance(spec, DecisionEquivalence) and e == 0):
                return unknown(f"{type(spec).__name__} transfers only through an exact claim (proved eps = 0)")
            out_spec = spec
            if isinstance(spec, EpsEquivalence) and e > 0:
                out_spec = EpsEquivalence(float_up(Fraction(float(spec.eps)) + e),
                                          outputs=spec.outputs, excluded=spec.excluded)
            lower, upper = shifted(result.lower, result.upper)
            rank = {"exact": 0, "float-sound": 1, "dual-bound-with-margin": 2}
            snd = max((result.soundness, claim_check.soundness), key=lambda v: rank.get(v, 3))
            return VerificationResult(verdict=Verdict.EQUIVALENT, spec=out_spec, lower=lower,
                                      upper=upper, stop_reason=StopReason.PROVED,
                                      soundness=snd, margin=result.margin,
                                      reason=f"proved for the rewritten network; |ref - new| <= {float(e):g} "
                                             f"by the proved claim of {self.name}", **base)
        if e is None:
            return unknown(f"the rewritten problem was not decided ({result.reason}); its bracket does not "
                           f"transfer without a proof of the claim")
        return unknown(f"the rewritten problem was not decided: {result.reason}", *shifted(result.lower, result.upper))

    def __call__(self, net, box=None, **params):
        return self.apply(net, box, **params)

    def __repr__(self) -> str:
        return f"<Transform {self.name}: {self.summary}>"


def _exact_violation(f: Network, g: Network, x, spec, box):
    """A Counterexample when ``x`` violates ``spec`` for ``(f, g)`` exactly, else None."""
    from ..verify.api import exact_eps_counterexample
    from ..verify.result import Counterexample
    from ..verify.spec import DecisionEquivalence, EpsEquivalence

    if isinstance(spec, EpsEquivalence):
        return exact_eps_counterexample(f, g, x, spec.outputs_for(f.n_outputs), spec.eps, box, spec.excluded)
    if isinstance(spec, DecisionEquivalence) and f.n_outputs == 1:
        if box is not None and not box.contains(x):
            return None
        fy, gy = f.eval_exact(x)[0], g.eval_exact(x)[0]
        hi = Fraction(spec.tau_f) + Fraction(spec.gamma)
        lo = Fraction(spec.tau_f) - Fraction(spec.gamma)
        tg = Fraction(spec.tau_g)
        if fy >= hi and not gy > tg:
            return Counterexample(x=list(x), f=[fy], g=[gy], value=tg - gy,
                                  detail=f"f = {float(fy):.6g} >= {float(hi):g} but g = {float(gy):.6g} <= {float(tg):g}")
        if fy <= lo and gy > tg:
            return Counterexample(x=list(x), f=[fy], g=[gy], value=gy - tg,
                                  detail=f"f = {float(fy):.6g} <= {float(lo):g} but g = {float(gy):.6g} > {float(tg):g}")
    return None


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
