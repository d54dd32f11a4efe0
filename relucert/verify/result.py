"""Result objects: what was proved (the verdict and the bracket) kept apart from why the run
stopped (the stop reason and statistics)."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

__all__ = ["Verdict", "StopReason", "Counterexample", "VerificationResult", "fmt_number", "float_down", "float_up",
           "short_number"]


class Verdict(str, enum.Enum):
    EQUIVALENT = "EQUIVALENT"
    NOT_EQUIVALENT = "NOT_EQUIVALENT"
    UNKNOWN = "UNKNOWN"

    def __str__(self) -> str:
        return self.value


class StopReason(str, enum.Enum):
    PROVED = "proved"                  # the claim was established
    REFUTED = "refuted"                # an exact counterexample was found
    TOLERANCE = "tolerance"            # distance bracket reached the requested tolerance
    TIME_LIMIT = "time_limit"
    NODE_LIMIT = "node_limit"
    NUMERICAL = "numerical_trouble"    # e.g. a float candidate failed exact re-evaluation
    SOLVER_ERROR = "solver_error"
    UNSUPPORTED = "unsupported"

    def __str__(self) -> str:
        return self.value


_MAXF = 1.7976931348623157e308


def float_down(q) -> float:
    """The largest float64 ``<= q`` (``q`` a Fraction, int or float); ``-inf`` below the float
    range, the largest finite float above it."""
    if isinstance(q, float):
        return q
    q = Fraction(q)
    if q > Fraction(_MAXF):
        return _MAXF
    if q < -Fraction(_MAXF):
        return float("-inf")
    v = float(q)
    if Fraction(v) > q:
        v = float(_nextafter(v, float("-inf")))
    return v


def float_up(q) -> float:
    """The smallest float64 ``>= q``; ``+inf`` above the float range."""
    if isinstance(q, float):
        return q
    return -float_down(-Fraction(q))


def short_number(q) -> str:
    """``%.6g`` of a number that may lie outside the float64 range (then ``> 1.8e308``)."""
    try:
        return f"{float(q):.6g}"
    except OverflowError:
        return "> 1.8e308" if q > 0 else "< -1.8e308"


def _nextafter(a, b):
    import math

    return math.nextafter(a, b)


def fmt_number(v) -> str:
    """Decimal string for floats; exact ``p/q`` string for Fractions."""
    if isinstance(v, Fraction):
        return str(v.numerator) if v.denominator == 1 else f"{v.numerator}/{v.denominator}"
    return repr(float(v))


@dataclass
class Counterexample:
    """An input ``x`` (exact rationals; float64 values) with the exact outputs of f and g there."""

    x: list[Fraction]
    f: list[Fraction]
    g: list[Fraction]
    value: Fraction              # the violated quantity at x (e.g. max_k |f_k - g_k|)
    detail: str = ""             # e.g. "output 2: f - g = 0.31 > eps = 0.05"

    @property
    def x_float(self) -> list[float]:
        return [float(v) for v in self.x]

    def to_dict(self, *, exact: bool = True) -> dict:
        conv = fmt_number if exact else (lambda v: float(v))
        return {
            "x": [conv(v) for v in self.x],
            "f": [conv(v) for v in self.f],
            "g": [conv(v) for v in self.g],
            "value": conv(self.value),
            "x_decimal": [repr(float(v)) for v in self.x],
            "detail": self.detail,
        }


@dataclass
class VerificationResult:
    """The outcome of :func:`relucert.verify`.

    * ``verdict``: EQUIVALENT, NOT_EQUIVALENT or UNKNOWN.
    * ``lower``/``upper``: the best bracket known for the spec's measured quantity (see the spec
      class).  ``lower`` is attained exactly by ``witness_x`` when that is set.
    * ``soundness``: how EQUIVALENT was established: ``"exact"`` (rational arithmetic, z3 or
      structure), ``"float-sound"`` (float64 with rigorous rounding-error bounds), or
      ``"dual-bound-with-margin"`` (a MILP solver's dual bound below the threshold by at least
      the stated ``margin``, which covers the solver's LP tolerances; not exact, see
      :mod:`relucert.verify.solve`).
    * ``stop_reason`` says why the run stopped; ``stats`` has time, nodes, LPs, method.
    """

    verdict: Verdict
    spec: Any
    lower: float
    upper: float
    method: str
    stop_reason: StopReason
    reason: str = ""
    soundness: str | None = None
    margin: float | None = None
    counterexample: Counterexample | None = None
    witness_x: list | None = None
    stats: dict = field(default_factory=dict)
    tree: Any = None                 # branch-and-bound split tree, for certificates
    f_digest: str | None = None
    g_digest: str | None = None
    box: Any = None

    @property
    def equivalent(self) -> bool:
        return self.verdict is Verdict.EQUIVALENT

    @property
    def time_s(self) -> float:
        return float(self.stats.get("time_s", 0.0))

    def to_dict(self) -> dict:
        d = {
            "verdict": str(self.verdict),
            "spec": self.spec.to_dict() if hasattr(self.spec, "to_dict") else str(self.spec),
            "lower": _jsonable(self.lower),
            "upper": _jsonable(self.upper),
            "time_s": round(self.time_s, 6),
            "method": self.method,
            "stop_reason": str(self.stop_reason),
            "reason": self.reason,
            "soundness": self.soundness,
            "margin": self.margin,
            "counterexample": None if self.counterexample is None else self.counterexample.to_dict(),
            "witness_x": None if self.witness_x is None else [fmt_number(v) for v in self.witness_x],
            "stats": {k: _jsonable(v) for k, v in self.stats.items()},
            "f_digest": self.f_digest,
            "g_digest": self.g_digest,
            "box": None if self.box is None else self.box.to_dict(),
        }
        return d

    def summary(self) -> str:
        lines = [f"verdict: {self.verdict}"]
        lines.append(f"spec: {self.spec.describe() if hasattr(self.spec, 'describe') else self.spec}")
        lines.append(f"bracket: [{_short(self.lower)}, {_short(self.upper)}]")
        if self.verdict is Verdict.EQUIVALENT and self.soundness:
            extra = f" (margin {self.margin:g})" if self.margin else ""
            lines.append(f"proof: {self.soundness}{extra}")
        if self.reason:
            lines.append(f"reason: {self.reason}")
        if self.counterexample is not None:
            ce = self.counterexample
            lines.append("counterexample (exact, re-evaluated on the original weights):")
            lines.append(f"  x = [{', '.join(short_number(v) for v in ce.x)}]")
            lines.append(f"  f(x) = [{', '.join(short_number(v) for v in ce.f)}]")
            lines.append(f"  g(x) = [{', '.join(short_number(v) for v in ce.g)}]")
            if ce.detail:
                lines.append(f"  {ce.detail}")
        st = self.stats
        lines.append(
            f"method: {self.method}; stopped: {self.stop_reason}; time {self.time_s:.3f}s"
            + (f"; nodes {st['nodes']}" if "nodes" in st else "")
            + (f"; LPs {st['lps']}" if st.get("lps") else "")
            + (f"; MILPs {st['milps']}" if st.get("milps") else "")
        )
        return "\n".join(lines)

    def __repr__(self) -> str:
        return (f"VerificationResult(verdict={self.verdict.value}, lower={_short(self.lower)}, "
                f"upper={_short(self.upper)}, method={self.method!r}, stop_reason={self.stop_reason.value})")


def _short(v) -> str:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return str(v)
    return f"{f:.6g}"


def _jsonable(v):
    if isinstance(v, Fraction):
        return fmt_number(v)
    if isinstance(v, float):
        if v != v:
            return None
        if v in (float("inf"), float("-inf")):
            return str(v)
        return v
    if hasattr(v, "item"):
        return v.item()
    return v
