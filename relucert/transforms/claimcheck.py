"""Check a transform's claim with the verifier.

``auto``: excluded sets in d = 3, 4 (small nets) go to the exact region prover (cells with exact
vertices; more than ``REGION_CELLS`` cells: as in larger d); margin claims (and excluded sets in larger d) go to the MILP (``relucert.verify(...,
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
REGION_CELLS = 20000    # auto, excluded sets in 3D/4D: at most this many exact cells, else the MILP


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
        if getattr(spec, "excluded", None) and box.dim in (3, 4) and small <= 800:
            # excluded sets in 3D/4D: cells with exact vertices decide the claim exactly (the MILP
            # cannot prove a float-tolerance eps: its optimum is only known to ~1e-6); too many
            # cells: the MILP below
            from ..regions import RegionLimitError, compare_exact

            try:
                return compare_exact(ref, new, box, spec, max_cells=REGION_CELLS)
            except RegionLimitError:
                pass
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
