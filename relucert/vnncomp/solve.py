"""Deciding a parsed query: a quick exact falsification pass, then relucert's verifier on each
spec part; every ``sat`` is re-checked in exact arithmetic on the query's own assertions."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np

from ..errors import SpecError

__all__ = ["QueryOutcome", "solve_query", "STATUSES", "INVERTED_FRACTION"]

STATUSES = ("sat", "unsat", "timeout", "unknown", "error")

#: a query whose output constraint holds at this fraction of sampled inputs (or more) looks inverted
INVERTED_FRACTION = 0.9


@dataclass
class QueryOutcome:
    """What :func:`solve_query` found.

    ``status``: ``sat`` (``x`` is an exact counterexample of the query: its assertions hold
    there, re-checked exactly), ``unsat`` (every part proved), ``timeout``, ``unknown``.
    ``assignment`` lists ``(element, value)`` in declaration order for the result file;
    ``results`` holds the :class:`~relucert.verify.result.VerificationResult` of each part run.
    """

    status: str
    reason: str = ""
    x: list | None = None
    assignment: list | None = None
    results: list = field(default_factory=list)
    warnings: list = field(default_factory=list)
    time_s: float = 0.0
    form: str = ""

    @property
    def verdict(self) -> str:
        """The equivalence verdict this answers (VNN-LIB's reading: sat = counterexample)."""
        if self.form == "band":
            return "UNKNOWN"
        return {"sat": "NOT_EQUIVALENT", "unsat": "EQUIVALENT"}.get(self.status, "UNKNOWN")

    def to_dict(self) -> dict:
        from ..verify.result import fmt_number

        return {
            "status": self.status, "verdict": self.verdict, "form": self.form, "reason": self.reason,
            "x": None if self.x is None else [fmt_number(v) for v in self.x],
            "x_decimal": None if self.x is None else [repr(float(v)) for v in self.x],
            "assignment": None if self.assignment is None else [[k, fmt_number(v)] for k, v in self.assignment],
            "warnings": list(self.warnings), "time_s": round(self.time_s, 6),
            "parts": [r.to_dict() for r in self.results],
        }


def _search(bound, rng, n: int, deadline: float | None):
    """Float screen of the output constraint at the box centre, corners of a few kinds and random
    points; exact confirmation of the most promising.  Returns (x, ys, fraction satisfied)."""
    box = bound.query.box
    pts = [box.center, box.lo, box.hi]
    X = np.vstack([np.array(pts), box.sample(n, rng)])
    slack = bound.dnf_float(X)
    q = bound.query
    frac = 0.0
    if n and len(q.networks) == 2 and q.form in ("eps", "top1") and \
            q.networks[0].n_outputs == q.networks[1].n_outputs:
        # compared with itself, f has no counterexample: assertions that still hold look inverted
        frac = float(np.mean(bound.dnf_float(X[3:], self_compare=True) > 0))
    order = np.argsort(-slack)
    for idx in order[:8]:
        if deadline is not None and time.perf_counter() > deadline:
            break
        if slack[idx] < -1e-6:
            break  # clearly violated in float64: the exact value cannot satisfy it
        ok, ys = bound.check(X[idx])
        if ok:
            return [Fraction(float(v)) for v in X[idx]], ys, frac
    return None, None, frac


def solve_query(query, models, *, time_limit: float | None = None, method: str = "auto", solver: str = "highs",
                seed: int = 0, samples: int = 256, progress=None) -> QueryOutcome:
    """Decide ``query`` (a :class:`~relucert.io.vnnlib2.Query`) for ``models`` (name -> Network).

    The standard reading: ``sat`` means a counterexample exists (NOT_EQUIVALENT for the eps,
    top-1 and decision forms).  Errors in the query or the models raise; everything the engines
    could not settle comes back as ``unknown`` or ``timeout`` with the reason.
    """
    if time_limit is not None and not (float(time_limit) > 0):
        raise SpecError(f"time_limit must be > 0 seconds, got time_limit={time_limit!r}")
    if not isinstance(samples, int) or samples < 0:
        raise SpecError(f"samples must be an integer >= 0, got samples={samples!r}")
    t0 = time.perf_counter()
    deadline = None if time_limit is None else t0 + float(time_limit)
    bound = query.bind(models)
    out = QueryOutcome(status="unknown", warnings=list(bound.warnings), form=query.form)

    def finish(status: str, reason: str = "", x=None, ys=None) -> QueryOutcome:
        out.status, out.reason = status, reason
        if x is not None:
            out.x = list(x)
            out.assignment = bound.assignment(x, ys)
        out.time_s = time.perf_counter() - t0
        return out

    rng = np.random.default_rng(seed)
    x, ys, frac = _search(bound, rng, samples, deadline)
    q = query
    if query.form != "band" and samples >= 64 and frac >= INVERTED_FRACTION:
        out.warnings.append(
            f"the query looks inverted: its assertions hold at {100 * frac:.0f}% of {samples} sampled inputs even "
            f"when both networks are {q.networks[0].name!r}; under the standard reading sat means a counterexample "
            f"exists, so an equivalence query must be unsat for a network and itself")
    if x is not None:
        return finish("sat", "the assertions hold at x (checked exactly)", x, ys)
    if query.form == "band":
        return finish("unknown", "no point satisfying the asserted band was found, and relucert cannot prove "
                                 "that none exists (the query looks inverted)")
    from ..verify import Verdict, verify
    from ..verify.result import StopReason

    timed_out = False
    reasons = []
    for F, G, part in bound.pairs:
        remaining = None
        if deadline is not None:
            remaining = deadline - time.perf_counter()
            if remaining <= 0:
                timed_out = True
                reasons.append(f"{part.description}: not started (time limit)")
                continue
        try:
            res = verify(F, G, query.box, part.spec, method=method, time_limit=remaining, solver=solver,
                         seed=seed, progress=progress)
        except ImportError as exc:  # an engine not installed or not built
            reasons.append(f"{part.description}: engine unavailable ({exc})")
            continue
        out.results.append(res)
        if res.verdict is Verdict.NOT_EQUIVALENT and res.counterexample is not None:
            ok, ys = bound.check(res.counterexample.x)
            if ok:
                return finish("sat", f"{part.description}: counterexample ({res.counterexample.detail})",
                              res.counterexample.x, ys)
            reasons.append(f"{part.description}: the verifier's counterexample does not satisfy the query exactly "
                           f"(a boundary case of a non-strict comparison)")
        elif res.verdict is Verdict.EQUIVALENT:
            continue
        else:
            if res.stop_reason is StopReason.TIME_LIMIT:
                timed_out = True
            reasons.append(f"{part.description}: {res.reason or res.stop_reason}")
    if not reasons:
        return finish("unsat", "; ".join(f"{r.spec.describe()}: proved ({r.soundness})" for r in out.results))
    return finish("timeout" if timed_out else "unknown", "; ".join(reasons))
