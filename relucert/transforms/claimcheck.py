"""Check a transform's claim with the verifier.

``auto``: margin claims (and excluded sets in d >= 2) go to the MILP (``relucert.verify(...,
method="milp")``), falling back to the exact region prover when the MILP is undecided in low
dimension; eps claims (mostly eps = 0, or the float tolerance) use the exact region prover
(:func:`relucert.regions.compare_exact`) for d <= 2 (d = 3 for small nets), where MILP and branch
and bound stop at solver tolerances, and :func:`relucert.verify` otherwise.
"""

from __future__ import annotations

from ..box import Box
from ..errors import SpecError
from .base import Claim, TransformError, float_tolerance

__all__ = ["check_claim"]

METHODS = ("auto", "regions", "bab", "milp", "smt")


def check_claim(new, claim: Claim, *, box: Box | None = None, method: str = "auto", time_limit: float | None = 60.0):
    if method not in METHODS:
        raise SpecError(f"method must be one of {', '.join(METHODS)}, got method={method!r}")
    box = claim.box if box is None else box
    if box is None:
        raise TransformError(f"{claim.construction}: the claim holds on all inputs; give a box to check it on")
    ref = claim.reference
    spec = claim.spec()
    if not claim.weights_exact and claim.box is None and claim.kind == "exact":
        from ..verify.spec import EpsEquivalence

        spec = EpsEquivalence(4 * float_tolerance(ref, box))
    if method == "auto":
        import time

        from ..verify.api import _structural

        res = _structural(ref, new, spec, box, time.perf_counter())  # exact rewrites need no solver
        if res is not None:
            return res
        small = new.n_relus + ref.n_relus
        low = box.dim <= 2 or (box.dim == 3 and small <= 60)
        if claim.kind == "margin" or (getattr(spec, "excluded", None) and box.dim > 2):
            # the MILP decides margin claims and excluded sets fast (sound: dual bound with margin,
            # counterexamples re-evaluated exactly); in low dimension fall back to exact regions
            from ..verify.api import verify
            from ..verify.result import Verdict

            res = verify(ref, new, box, spec, method="milp", time_limit=time_limit)
            if res.verdict is not Verdict.UNKNOWN or not low:
                return res
            method = "regions"
        else:
            method = "regions" if low else "verify"
    if method == "regions":
        from ..regions import compare_exact

        return compare_exact(ref, new, box, spec)
    from ..verify.api import verify

    m = "auto" if method == "verify" else method
    return verify(ref, new, box, spec, method=m, time_limit=time_limit)
